#include "gridd/service/visits.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <tuple>

#include "gridd/core/error.hpp"
#include "gridd/core/time.hpp"

namespace gridd::service {

namespace {

constexpr std::size_t k_max_note = 4000;
/// A device's clock may run ahead a little; further is a mistake.
constexpr auto k_future_slack = std::chrono::minutes(10);

bool is_kind(const std::string& s) {
  return !s.empty() && s.size() <= 32 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

void check_size(const std::string& value, std::size_t max, const char* field) {
  if (value.size() > max) {
    throw Error(ErrorKind::too_large, "text_too_long",
                std::string(field) + " is " + std::to_string(value.size()) + " bytes; at most " +
                    std::to_string(max) + " are allowed",
                field);
  }
}

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
  if (!is_kind(v.kind)) {
    throw_invalid("invalid_kind", "kind '" + v.kind + "' must be 1..32 characters of [a-z0-9_] (household, building, ...)",
                  "kind");
  }
  check_size(in.subject, 200, "subject");
  check_size(in.note, k_max_note, "note");
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
    const GridEntry* g = located.owner;
    v.grid_id = g->grid.id;
    v.grid_code = g->grid.code;
    v.grid_name = g->grid.name;
    for (int guard = 0; g && guard < 8; ++guard) {
      v.chain[static_cast<std::size_t>(g->grid.level)] = g->grid.id;
      g = g->grid.parent_code.empty() ? nullptr : snapshot->grid_by_code(g->grid.parent_code);
    }
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
    const year_month_day ymd{monday};
    char text[16];
    std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()));
    ++counts[{name, phone, text}];
  });
  std::vector<WorkerWeek> out;
  for (const auto& [key, n] : counts) {
    out.push_back(WorkerWeek{std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
  }
  return out;
}

}  // namespace gridd::service
