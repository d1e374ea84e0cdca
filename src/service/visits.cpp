#include "gridd/service/visits.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>

#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/core/time.hpp"
#include "gridd/service/images.hpp"

namespace gridd::service {

namespace {

constexpr std::size_t k_max_note = 4000;
/// A device's clock may run ahead a little; further is a mistake.
constexpr auto k_future_slack = std::chrono::minutes(10);

}  // namespace

VisitService::VisitService(const Catalog& catalog, storage::VisitStore& store, std::function<TimePoint()> clock,
                           int utc_offset_minutes)
    : m_catalog(catalog), m_store(store), m_clock(std::move(clock)), m_utc_offset_minutes(utc_offset_minutes) {}

Visit VisitService::require(std::int64_t id) const {
  auto v = m_store.get(id);
  if (!v) throw_not_found("visit_not_found", "no visit with id " + std::to_string(id), "id");
  return std::move(*v);
}

VisitPhoto VisitService::add_photo(std::int64_t visit_id, std::string bytes, std::string filename) {
  if (bytes.empty()) throw_invalid("empty_attachment", "the photo is empty", "body");
  if (bytes.size() > k_max_photo_bytes) {
    throw Error(ErrorKind::too_large, "attachment_too_large",
                "the photo is " + std::to_string(bytes.size()) + " bytes; at most " +
                    std::to_string(k_max_photo_bytes) + " are allowed",
                "body");
  }
  check_length(filename, 255, "filename");
  const Visit v = require(visit_id);
  if (static_cast<std::size_t>(v.photos) >= k_max_photos) {
    throw Error(ErrorKind::too_large, "too_many_photos",
                "a visit takes " + std::to_string(k_max_photos) + " photos at most", "body");
  }
  const ImageInfo image = inspect_image(bytes);
  VisitPhoto p;
  p.visit_id = visit_id;
  p.filename = std::move(filename);
  p.media_type = image.media_type;
  p.width = image.width;
  p.height = image.height;
  p.size = static_cast<std::int64_t>(bytes.size());
  p.created_at = format_iso8601(m_clock());
  p.data = std::move(bytes);
  m_store.add_photo(p);
  p.data.clear();
  return p;
}

Visit VisitService::record(VisitInput in, const Visitor& visitor, const Admission& admit) {
  if (!in.position) {
    throw_invalid("missing_position", "a visit needs a position (lon and lat, or x and y with crs)", "position");
  }
  if (visitor.name.empty() && visitor.phone.empty()) {
    throw_invalid("missing_worker", "a visit is recorded by a worker: a token that names its person", "worker");
  }
  Visit v;
  v.kind = in.kind.empty() ? "household" : in.kind;
  if (!is_token(v.kind, 32)) {
    throw_invalid("invalid_kind", "kind '" + v.kind + "' must be 1..32 characters of [a-z0-9_] (household, building, ...)",
                  "kind");
  }
  check_length(in.subject, 200, "subject");
  check_length(in.note, k_max_note, "note");
  const TimePoint now = m_clock();
  TimePoint at = now;
  if (!in.visited_at.empty()) {
    at = parse_time(in.visited_at, "visited_at", m_utc_offset_minutes);
    if (at > now + k_future_slack) {
      throw_invalid("invalid_time", "visited_at " + in.visited_at + " lies in the future", "visited_at");
    }
  }
  to_wgs84(*in.position, v.lon, v.lat);
  v.subject = std::move(in.subject);
  v.note = std::move(in.note);
  v.visited_at = format_iso8601(at);
  v.created_at = format_iso8601(now);
  v.worker_name = visitor.name;
  v.worker_phone = visitor.phone;
  v.token_id = visitor.token_id;
  const auto snapshot = m_catalog.snapshot();
  LocateOptions lo;
  lo.k = 0;
  const LocateResult located = locate_wgs84(*snapshot, v.lon, v.lat, lo);
  if (located.owner) {  // outside every grid: the nearest, as incidents are routed
    const Grid& g = located.owner->grid;
    v.grid_id = g.id;
    v.grid_code = g.code;
    v.grid_name = g.name;
    v.chain = snapshot->chain_of(*located.owner);
  }
  if (admit) admit(v);
  m_store.insert(v);
  return v;
}

std::vector<WorkerWeek> VisitService::weekly(const storage::VisitFilter& filter) const {
  using namespace std::chrono;
  std::map<std::tuple<std::string, std::string, std::string>, std::int64_t> counts;
  const minutes offset(m_utc_offset_minutes);
  m_store.for_each_time(filter, [&](const std::string& name, const std::string& phone, const std::string& at) {
    const auto t = try_parse_time(at, 0);
    if (!t) return;
    const sys_days day = floor<days>(*t + offset);
    const weekday wd{day};
    const sys_days monday = day - days((wd.c_encoding() + 6) % 7);
    ++counts[{name, phone, local_date(TimePoint(monday) - offset, m_utc_offset_minutes)}];
  });
  std::vector<WorkerWeek> out;
  for (const auto& [key, n] : counts) {
    out.push_back(WorkerWeek{std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
  }
  return out;
}

}  // namespace gridd::service
