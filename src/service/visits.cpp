#include "gridd/service/visits.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>

#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/core/time.hpp"

namespace gridd::service {

namespace {

constexpr std::size_t k_max_note = 4000;
/// A device's clock may run ahead a little; further is a mistake.
constexpr auto k_future_slack = std::chrono::minutes(10);

}  // namespace

VisitService::VisitService(const Catalog& catalog, storage::VisitStore& store, std::function<TimePoint()> clock,
                           int utc_offset_minutes)
    : m_catalog(catalog), m_store(store), m_clock(std::move(clock)), m_utc_offset_minutes(utc_offset_minutes) {}

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
