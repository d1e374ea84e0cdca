#include "gridd/storage/pg_store.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <random>
#include <sstream>

#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "sql_runner.hpp"
#include "gridd/storage/pg_schema.hpp"

namespace gridd::storage {

namespace {

/// Connections per process: enough for the server's threads and the
/// listener, well under PostgreSQL's default max_connections for a few
/// instances.
constexpr std::size_t k_pool_size = 16;

std::string random_instance() {
  std::random_device rd;
  std::ostringstream out;
  out << std::hex << rd() << rd();
  return out.str();
}

// Columns of a grid row and of a grid-version row, in read order.
constexpr const char* k_grid_columns =
    "id, code, name, level, parent_code, people::text, households, attributes::text, created_at, updated_at, "
    "version, encode(ST_AsBinary(geom), 'hex')";

constexpr const char* k_version_columns =
    "grid_id, code, name, level, parent_code, people::text, households, attributes::text, created_at, valid_from, "
    "version, encode(ST_AsBinary(geom), 'hex'), valid_to, operation, editor, reason, draft";

/// The fields common to grids and grid versions, columns 1..11 of both lists.
Grid read_grid(const pg::Result& r, int row) {
  Grid g;
  g.id = r.i64(row, 0);
  g.code = r.text(row, 1);
  g.name = r.text(row, 2);
  g.level = try_parse_level(r.view(row, 3)).value_or(Level::grid);
  g.parent_code = r.text(row, 4);
  try {
    g.people = people_from_json(parse_json_or(r.text(row, 5), Json::array()));
  } catch (const Error&) {
    g.people.clear();  // a hand-edited row; keep the grid, drop the bad list
  }
  if (!r.null(row, 6)) g.households = r.i64(row, 6);
  g.attributes = parse_json_or(r.text(row, 7), Json::object());
  g.created_at = r.text(row, 8);
  g.updated_at = r.text(row, 9);
  g.version = r.null(row, 10) ? 1 : r.i64(row, 10);
  if (!r.null(row, 11)) g.wkb = pg::from_hex(r.view(row, 11));
  return g;
}

GridVersion read_version(const pg::Result& r, int row) {
  GridVersion v;
  v.grid = read_grid(r, row);  // updated_at = valid_from, as in the GeoPackage store
  v.valid_from = r.text(row, 9);
  v.valid_to = r.text(row, 12);
  v.operation = r.text(row, 13);
  v.editor = r.text(row, 14);
  v.reason = r.text(row, 15);
  v.draft = r.boolean(row, 16);
  return v;
}

/// The values of the grid columns after the id, as bound by the statements below.
pg::Params& grid_params(pg::Params& p, const Grid& g) {
  return p.text(g.code)
      .text(g.name)
      .text(std::string(to_string(g.level)))
      .opt_text(g.parent_code)
      .text(to_json(g.people).dump())
      .null_or(g.households)
      .text(g.attributes.dump())
      .text(g.created_at)
      .text(g.updated_at)
      .i64(g.version)
      .text(pg::to_hex(g.wkb));
}

constexpr const char* k_geom_param = "ST_Multi(ST_GeomFromWKB(decode($11, 'hex'), 4326))";

const std::string& insert_grid_sql() {
  static const std::string sql =
      std::string("INSERT INTO grids (code, name, level, parent_code, people, households, attributes, created_at, "
                  "updated_at, version, geom) VALUES ($1, $2, $3, $4, $5::jsonb, $6::bigint, $7::jsonb, $8, $9, "
                  "$10::bigint, ") +
      k_geom_param + ") RETURNING id";
  return sql;
}

const std::string& insert_grid_with_id_sql() {
  static const std::string sql =
      std::string("INSERT INTO grids (code, name, level, parent_code, people, households, attributes, created_at, "
                  "updated_at, version, geom, id) VALUES ($1, $2, $3, $4, $5::jsonb, $6::bigint, $7::jsonb, $8, $9, "
                  "$10::bigint, ") +
      k_geom_param + ", $12::bigint) RETURNING id";
  return sql;
}

const std::string& update_grid_sql() {
  static const std::string sql =
      std::string("UPDATE grids SET code = $1, name = $2, level = $3, parent_code = $4, people = $5::jsonb, "
                  "households = $6::bigint, attributes = $7::jsonb, created_at = $8, updated_at = $9, "
                  "version = $10::bigint, geom = ") +
      k_geom_param + " WHERE id = $12::bigint";
  return sql;
}

constexpr const char* k_insert_version_sql =
    "INSERT INTO grid_versions (grid_id, version, code, name, level, parent_code, people, households, attributes, "
    "created_at, valid_from, valid_to, operation, editor, reason, draft, geom) VALUES ($1::bigint, $2::bigint, $3, "
    "$4, $5, $6, $7::jsonb, $8::bigint, $9::jsonb, $10, $11, NULL, $12, $13, $14, $15::boolean, "
    "CASE WHEN $16::text IS NULL THEN NULL ELSE ST_Multi(ST_GeomFromWKB(decode($16, 'hex'), 4326)) END)";

void insert_version(pg::Connection& c, const GridVersion& v) {
  const Grid& g = v.grid;
  pg::Params p;
  p.i64(g.id)
      .i64(g.version)
      .text(g.code)
      .text(g.name)
      .text(std::string(to_string(g.level)))
      .opt_text(g.parent_code)
      .text(to_json(g.people).dump())
      .null_or(g.households)
      .text(g.attributes.dump())
      .opt_text(g.created_at)
      .text(v.valid_from)
      .text(v.operation)
      .opt_text(v.editor)
      .opt_text(v.reason)
      .boolean(v.draft);
  if (g.wkb.empty()) {
    p.null();
  } else {
    p.text(pg::to_hex(g.wkb));
  }
  c.query(k_insert_version_sql, p);
}

constexpr const char* k_station_columns =
    "id, code, name, kind, address, contact, hours, attributes::text, created_at, updated_at, ST_X(geom), ST_Y(geom)";

Station read_station(const pg::Result& r, int row) {
  Station s;
  s.id = r.i64(row, 0);
  s.code = r.text(row, 1);
  s.name = r.text(row, 2);
  s.kind = r.text(row, 3);
  s.address = r.text(row, 4);
  s.contact = r.text(row, 5);
  s.hours = r.text(row, 6);
  s.attributes = parse_json_or(r.text(row, 7), Json::object());
  s.created_at = r.text(row, 8);
  s.updated_at = r.text(row, 9);
  s.lon = r.dbl(row, 10);
  s.lat = r.dbl(row, 11);
  return s;
}

pg::Params station_params(const Station& s) {
  pg::Params p;
  p.opt_text(s.code)
      .text(s.name)
      .text(s.kind)
      .opt_text(s.address)
      .opt_text(s.contact)
      .opt_text(s.hours)
      .text(s.attributes.dump())
      .text(s.created_at)
      .text(s.updated_at)
      .dbl(s.lon)
      .dbl(s.lat);
  return p;
}

constexpr const char* k_station_point = "ST_SetSRID(ST_MakePoint($10::double precision, $11::double precision), 4326)";

}  // namespace

// ---------------------------------------------------------------------------

PgStore::PgStore(const std::string& uri)
    : m_uri(uri),
      m_instance(random_instance()),
      m_pool(std::make_unique<pg::Pool>(pg::conninfo_of(uri), k_pool_size)) {
  {
    auto conn = m_pool->lease();
    pg::migrate(*conn);
  }
  m_incidents = std::make_unique<PgIncidentStore>(*m_pool, m_instance);
  m_auth = std::make_unique<PgAuthStore>(*m_pool);
  m_idempotency = std::make_unique<IdempotencyStore>(pg_runner(*m_pool), std::chrono::hours(24));
  m_visits = std::make_unique<VisitStore>(pg_runner(*m_pool));
}

PgStore::~PgStore() {
  stop_watching();
  for (int fd : m_wake_pipe) {
    if (fd >= 0) ::close(fd);
  }
}

void PgStore::stop_watching() {
  m_stop = true;
  if (m_wake_pipe[1] >= 0) {
    const char b = 1;
    [[maybe_unused]] auto n = ::write(m_wake_pipe[1], &b, 1);
  }
  if (m_listener.joinable()) m_listener.join();
}

std::string PgStore::describe() const { return "PostgreSQL " + pg::redacted(m_uri); }

std::vector<Grid> PgStore::load_grids() {
  auto c = m_pool->lease();
  const pg::Result r = c->query(std::string("SELECT ") + k_grid_columns + " FROM grids ORDER BY id");
  std::vector<Grid> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_grid(r, i));
  return out;
}

std::vector<Station> PgStore::load_stations() {
  auto c = m_pool->lease();
  const pg::Result r = c->query(std::string("SELECT ") + k_station_columns + " FROM stations ORDER BY id");
  std::vector<Station> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_station(r, i));
  return out;
}

std::vector<GridVersion> PgStore::grid_history(std::int64_t grid_id) {
  auto c = m_pool->lease();
  const pg::Result r = c->query(std::string("SELECT ") + k_version_columns +
                                    " FROM grid_versions WHERE grid_id = $1::bigint ORDER BY version, id",
                                pg::Params().i64(grid_id));
  std::vector<GridVersion> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_version(r, i));
  return out;
}

std::vector<Grid> PgStore::load_grids_at(const std::string& at) {
  auto c = m_pool->lease();
  const pg::Result r =
      c->query(std::string("SELECT ") + k_version_columns +
                   " FROM grid_versions WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to > $1) "
                   "AND operation <> 'delete' AND geom IS NOT NULL ORDER BY grid_id",
               pg::Params().text(at));
  std::vector<Grid> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_version(r, i).grid);
  return out;
}

std::vector<std::string> PgStore::grid_change_times() {
  auto c = m_pool->lease();
  const pg::Result r = c->query(
      "SELECT valid_from AS t FROM grid_versions UNION SELECT valid_to FROM grid_versions WHERE valid_to IS NOT NULL "
      "ORDER BY 1");
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
  return out;
}

ChangeResult PgStore::apply(const ChangeSet& changes) {
  ChangeResult result;
  if (changes.empty()) return result;
  auto c = m_pool->lease();
  pg::Transaction tx(*c);
  const std::string at = changes.at.empty() ? now_iso8601() : changes.at;
  auto close_version = [&](std::int64_t id) {
    c->query("UPDATE grid_versions SET valid_to = $1 WHERE grid_id = $2::bigint AND valid_to IS NULL",
             pg::Params().text(at).i64(id));
  };
  auto add_version = [&](const Grid& g, const char* default_operation) {
    GridVersion v;
    v.grid = g;
    v.valid_from = at;
    v.operation = changes.operation.empty() ? default_operation : changes.operation;
    v.editor = changes.editor;
    v.reason = changes.reason;
    v.draft = changes.draft;
    insert_version(*c, v);
  };
  auto not_found = [](const char* what, std::int64_t id) {
    throw_not_found(std::string(what) + "_not_found", std::string("no ") + what + " with id " + std::to_string(id),
                    "id");
  };
  // Deletes first, so a batch may replace an object by its code.
  for (auto id : changes.grid_deletes) {
    const pg::Result old = c->query(std::string("DELETE FROM grids WHERE id = $1::bigint RETURNING ") + k_grid_columns,
                                    pg::Params().i64(id));
    if (old.rows() == 0) not_found("grid", id);
    close_version(id);
    Grid tombstone = read_grid(old, 0);
    tombstone.version += 1;
    tombstone.wkb.clear();
    add_version(tombstone, "delete");
    c->query("UPDATE grid_versions SET valid_to = valid_from WHERE grid_id = $1::bigint AND valid_to IS NULL",
             pg::Params().i64(id));
  }
  for (auto id : changes.station_deletes) {
    if (c->query("DELETE FROM stations WHERE id = $1::bigint", pg::Params().i64(id)).affected() == 0) {
      not_found("station", id);
    }
  }
  for (const auto& g : changes.grid_updates) {
    pg::Params p;
    grid_params(p, g).i64(g.id);
    if (c->query(update_grid_sql(), p).affected() == 0) not_found("grid", g.id);
    close_version(g.id);
    add_version(g, "update");
  }
  for (const auto& s : changes.station_updates) {
    pg::Params p = station_params(s);
    p.i64(s.id);
    const std::string sql = std::string(
                                "UPDATE stations SET code = $1, name = $2, kind = $3, address = $4, contact = $5, "
                                "hours = $6, attributes = $7::jsonb, created_at = $8, updated_at = $9, geom = ") +
                            k_station_point + " WHERE id = $12::bigint";
    if (c->query(sql, p).affected() == 0) not_found("station", s.id);
  }
  for (const auto& g : changes.grid_inserts) {
    pg::Params p;
    grid_params(p, g);
    if (g.id != 0) p.i64(g.id);
    const pg::Result r = c->query(g.id != 0 ? insert_grid_with_id_sql() : insert_grid_sql(), p);
    const std::int64_t id = r.i64(0, 0);
    result.grid_ids.push_back(id);
    Grid copy = g;
    copy.id = id;
    add_version(copy, g.id != 0 ? "restore" : "create");
  }
  for (const auto& s : changes.station_inserts) {
    const std::string sql = std::string(
                                "INSERT INTO stations (code, name, kind, address, contact, hours, attributes, "
                                "created_at, updated_at, geom) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, ") +
                            k_station_point + ") RETURNING id";
    result.station_ids.push_back(c->query(sql, station_params(s)).i64(0, 0));
  }
  const bool grids = !changes.grid_inserts.empty() || !changes.grid_updates.empty() || !changes.grid_deletes.empty();
  const bool stations =
      !changes.station_inserts.empty() || !changes.station_updates.empty() || !changes.station_deletes.empty();
  if (grids) pg_notify_change(*c, m_instance, "grids");
  if (stations) pg_notify_change(*c, m_instance, "stations");
  tx.commit();
  return result;
}

// ---------------------------------------------------------------------------
// Change notifications from the other instances
// ---------------------------------------------------------------------------

bool PgStore::watch(std::function<void(const ExternalChange&)> on_change) {
  if (m_listener.joinable() || !on_change) return false;
  if (::pipe2(m_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  m_on_change = std::move(on_change);
  m_listener = std::thread([this] { listen_loop(); });
  return true;
}

void PgStore::listen_loop() {
  using namespace std::chrono_literals;
  bool first = true;
  bool reported = false;  // the interruption was logged (once, not at every retry)
  auto backoff = 100ms;
  while (!m_stop) {
    try {
      pg::Connection conn(m_pool->conninfo());
      conn.exec(std::string("LISTEN ") + pg::k_notify_channel);
      // Listening now. What was committed before (between loading the
      // indexes and this moment, or during an outage) was announced to no
      // one: bring everything in. After an outage the pooled connections
      // are likely dead too.
      if (!first) m_pool->drop_idle();
      if (reported) std::cerr << "gridd: change notifications from the database resumed" << std::endl;
      reported = false;
      ExternalChange all;
      all.resync = true;
      m_on_change(all);
      first = false;
      backoff = 100ms;
      const int sock = PQsocket(conn.raw());
      while (!m_stop) {
        pollfd fds[2] = {{sock, POLLIN, 0}, {m_wake_pipe[0], POLLIN, 0}};
        // No timeout needed for notifications; the keepalive-like check
        // every 10 s finds a server that vanished without closing the socket.
        const int n = ::poll(fds, 2, 10000);
        if (m_stop) return;
        if (n == 0) {
          conn.query("SELECT 1");  // throws when the server is gone
          continue;
        }
        if (n < 0) continue;
        if (PQconsumeInput(conn.raw()) == 0) throw Error(ErrorKind::unavailable, "store_unavailable", "lost");
        ExternalChange change;
        bool any = false;
        while (PGnotify* note = PQnotifies(conn.raw())) {
          const std::string payload = note->extra ? note->extra : "";
          PQfreemem(note);
          const auto space = payload.find(' ');
          if (space == std::string::npos || payload.compare(0, space, m_instance) == 0) continue;
          const std::string what = payload.substr(space + 1);
          change.grids |= what == "grids";
          change.stations |= what == "stations";
          change.incidents |= what == "incidents";
          any = true;
        }
        if (any) m_on_change(change);
        if (PQstatus(conn.raw()) != CONNECTION_OK) throw Error(ErrorKind::unavailable, "store_unavailable", "lost");
      }
    } catch (const std::exception& e) {
      if (m_stop) return;
      if (!reported) {
        std::cerr << "gridd: change notifications from the database interrupted (" << e.what()
                  << "); reconnecting" << std::endl;
        reported = true;
      }
      first = false;  // a later success must resync
      pollfd wake{m_wake_pipe[0], POLLIN, 0};
      ::poll(&wake, 1, static_cast<int>(backoff.count()));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }
}

}  // namespace gridd::storage
