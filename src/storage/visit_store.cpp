#include "gridd/storage/visit_store.hpp"

#include "sql_runner.hpp"
#include "visit_rows.hpp"

namespace gridd::storage {

namespace rows {

namespace {
constexpr Column k_visit_columns[] = {
    {"kind", SqlType::text},          {"subject", SqlType::text},          {"note", SqlType::text},
    {"visited_at", SqlType::instant}, {"worker_name", SqlType::text},      {"worker_phone", SqlType::text},
    {"token_id", SqlType::bigint},    {"grid_id", SqlType::bigint},        {"grid_code", SqlType::text},
    {"grid_name", SqlType::text},     {"chain_district", SqlType::bigint}, {"chain_street", SqlType::bigint},
    {"chain_community", SqlType::bigint}, {"chain_grid", SqlType::bigint}, {"chain_micro_grid", SqlType::bigint},
    {"created_at", SqlType::instant},
};
constexpr Column k_photo_columns[] = {
    {"visit_id", SqlType::bigint}, {"filename", SqlType::text},    {"media_type", SqlType::text},
    {"size", SqlType::bigint},     {"width", SqlType::integer},    {"height", SqlType::integer},
    {"created_at", SqlType::instant}, {"data", SqlType::bytes},
};
}  // namespace

std::span<const Column> visit_columns() { return k_visit_columns; }
std::span<const Column> visit_photo_columns() { return k_photo_columns; }

}  // namespace rows

namespace {

std::vector<SqlValue> visit_values(const Visit& v) {
  std::vector<SqlValue> out{v.kind,        opt_text(v.subject), opt_text(v.note),   v.visited_at,
                            v.worker_name, opt_text(v.worker_phone), opt_id(v.token_id), opt_id(v.grid_id),
                            opt_text(v.grid_code), opt_text(v.grid_name)};
  for (auto id : v.chain) out.emplace_back(opt_id(id));
  out.emplace_back(v.created_at);
  return out;
}

Visit read_visit(const SqlRow& r) {
  Visit v;
  int c = 0;
  v.id = r.i64(c++);
  v.lon = r.dbl(c++);
  v.lat = r.dbl(c++);
  v.kind = r.text(c++);
  v.subject = r.text(c++);
  v.note = r.text(c++);
  v.visited_at = r.text(c++);
  v.worker_name = r.text(c++);
  v.worker_phone = r.text(c++);
  v.token_id = r.i64(c++);
  v.grid_id = r.i64(c++);
  v.grid_code = r.text(c++);
  v.grid_name = r.text(c++);
  for (auto& id : v.chain) id = r.i64(c++);
  v.created_at = r.text(c++);
  v.photos = r.i64(c++);
  return v;
}

/// The select list read_visit() reads.
std::string visit_select(SqlBuilder& b) {
  std::string columns = "id, " + b.x() + ", " + b.y();
  for (const auto& c : rows::visit_columns()) columns.append(", ").append(c.name);
  return columns + ", (SELECT COUNT(*) FROM visit_photos p WHERE p.visit_id = visits.id)";
}

VisitPhoto read_photo(const SqlRow& r, bool with_data) {
  VisitPhoto p;
  int c = 0;
  p.id = r.i64(c++);
  p.visit_id = r.i64(c++);
  p.filename = r.text(c++);
  p.media_type = r.text(c++);
  p.size = r.i64(c++);
  p.width = static_cast<int>(r.i64(c++));
  p.height = static_cast<int>(r.i64(c++));
  p.created_at = r.text(c++);
  if (with_data) p.data = r.blob(c++);
  return p;
}

std::string photo_select(bool with_data) {
  std::string out = "id";
  for (const auto& c : rows::visit_photo_columns()) {
    if (!with_data && std::string_view(c.name) == "data") continue;
    out.append(", ").append(c.name);
  }
  return out;
}

const char* const k_chain_columns[5] = {"chain_district", "chain_street", "chain_community", "chain_grid",
                                        "chain_micro_grid"};

/// " WHERE ..." of `f` (and id < before_id when set).
std::string where_of(SqlBuilder& b, const VisitFilter& f, std::int64_t before_id = 0) {
  std::string w = " WHERE 1 = 1";
  const char* collate = b.collate();
  if (f.subtree) {
    w += std::string(" AND ") + k_chain_columns[static_cast<int>(f.subtree->first)] + " = " + b.i64(f.subtree->second);
  }
  if (!f.worker_phone.empty()) w += " AND worker_phone = " + b.text(f.worker_phone);
  if (!f.worker_name.empty()) w += " AND worker_name = " + b.text(f.worker_name);
  if (!f.from.empty()) w += " AND visited_at >= " + b.text(f.from) + collate;
  if (!f.to.empty()) w += " AND visited_at < " + b.text(f.to) + collate;
  if (f.bbox) w += " AND " + b.in_box("visits", *f.bbox);
  if (before_id > 0) w += " AND id < " + b.i64(before_id);
  return w;
}

}  // namespace

VisitStore::VisitStore(std::unique_ptr<SqlRunner> runner) : m_runner(std::move(runner)) {}

VisitStore::~VisitStore() = default;

void VisitStore::insert(Visit& v) {
  m_runner->write([&](SqlTx& tx) {
    SqlBuilder b(m_runner->dialect());
    std::string names = "geom", values = b.point(v.lon, v.lat);
    auto data = visit_values(v);
    const auto columns = rows::visit_columns();
    for (std::size_t k = 0; k < data.size(); ++k) {
      names.append(", ").append(columns[k].name);
      values += ", " + b.param(std::move(data[k]), columns[k].type);
    }
    // RETURNING: PostgreSQL, and SQLite since 3.35.
    tx.read(b.done("INSERT INTO visits (" + names + ") VALUES (" + values + ") RETURNING id"),
            [&](const SqlRow& r) { v.id = r.i64(0); });
  });
}

std::optional<Visit> VisitStore::get(std::int64_t id) {
  SqlBuilder b(m_runner->dialect());
  const std::string select = visit_select(b);
  std::optional<Visit> out;
  m_runner->read(b.done("SELECT " + select + " FROM visits WHERE id = " + b.i64(id)),
                 [&](const SqlRow& r) { out = read_visit(r); });
  return out;
}

void VisitStore::add_photo(VisitPhoto& p) {
  m_runner->write([&](SqlTx& tx) {
    SqlBuilder b(m_runner->dialect());
    const std::vector<SqlValue> data{p.visit_id,     opt_text(p.filename), p.media_type,
                                     p.size,         std::int64_t{p.width}, std::int64_t{p.height},
                                     p.created_at,   Blob{p.data}};
    std::string names, values;
    const auto columns = rows::visit_photo_columns();
    for (std::size_t k = 0; k < data.size(); ++k) {
      names.append(k ? ", " : "").append(columns[k].name);
      values += (k ? ", " : "") + b.param(data[k], columns[k].type);
    }
    tx.read(b.done("INSERT INTO visit_photos (" + names + ") VALUES (" + values + ") RETURNING id"),
            [&](const SqlRow& r) { p.id = r.i64(0); });
  });
}

std::vector<VisitPhoto> VisitStore::photos_of(std::int64_t visit_id) {
  SqlBuilder b(m_runner->dialect());
  std::vector<VisitPhoto> out;
  m_runner->read(b.done("SELECT " + photo_select(false) + " FROM visit_photos WHERE visit_id = " + b.i64(visit_id) +
                        " ORDER BY id"),
                 [&](const SqlRow& r) { out.push_back(read_photo(r, false)); });
  return out;
}

std::optional<VisitPhoto> VisitStore::photo(std::int64_t visit_id, std::int64_t id, bool with_data) {
  SqlBuilder b(m_runner->dialect());
  const std::string v = b.i64(visit_id);
  std::optional<VisitPhoto> out;
  m_runner->read(b.done("SELECT " + photo_select(with_data) + " FROM visit_photos WHERE visit_id = " + v +
                        " AND id = " + b.i64(id)),
                 [&](const SqlRow& r) { out = read_photo(r, with_data); });
  return out;
}

std::vector<Visit> VisitStore::list(const VisitFilter& filter, std::int64_t before_id, std::size_t limit) {
  SqlBuilder b(m_runner->dialect());
  const std::string select = visit_select(b);
  const std::string w = where_of(b, filter, before_id);
  const std::string sql = "SELECT " + select + " FROM visits" + w + " ORDER BY id DESC LIMIT " +
                          b.i64(static_cast<std::int64_t>(limit));
  std::vector<Visit> out;
  m_runner->read(b.done(sql), [&](const SqlRow& r) { out.push_back(read_visit(r)); });
  return out;
}

void VisitStore::for_each_time(const VisitFilter& filter,
                               const std::function<void(const std::string&, const std::string&,
                                                        const std::string&)>& visit) {
  SqlBuilder b(m_runner->dialect());
  const std::string w = where_of(b, filter);
  m_runner->read(b.done("SELECT worker_name, worker_phone, visited_at FROM visits" + w + " ORDER BY id"),
                 [&](const SqlRow& r) { visit(r.text(0), r.text(1), r.text(2)); });
}

}  // namespace gridd::storage
