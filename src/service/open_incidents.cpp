#include "gridd/service/open_incidents.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>

namespace gridd::service {

namespace {

std::int64_t millis(TimePoint t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

OpenIncidentIndex::Point OpenIncidentIndex::point_of(const Incident& i) {
  auto instant = [](const std::string& text) {
    if (text.empty()) return k_none;
    const auto t = try_parse_time(text, 0);
    return t ? millis(*t) : k_none;
  };
  Point p;
  p.id = i.id;
  p.version = i.version;
  p.lon = i.lon;
  p.lat = i.lat;
  p.dispatched_ms = instant(i.dispatched_at);
  p.due_ms = instant(i.due_at);
  p.near_due_ms = instant(i.near_due_at);
  p.running = deadline_running(i.status);
  return p;
}

int OpenIncidentIndex::rank(const Point& p, std::int64_t now_ms, std::int64_t day_end_ms) noexcept {
  return static_cast<int>(deadline_colour(p.running, p.dispatched_ms, p.due_ms, p.near_due_ms, now_ms, day_end_ms,
                                          k_none));
}

void OpenIncidentIndex::apply(const Incident& incident) {
  std::unique_lock lock(m_mutex);
  const auto it = m_slot.find(incident.id);
  if (it != m_slot.end() && m_points[it->second].version > incident.version) return;
  if (is_open(incident.status)) {
    if (it != m_slot.end()) {
      m_points[it->second] = point_of(incident);
    } else {
      m_slot.emplace(incident.id, m_points.size());
      m_points.push_back(point_of(incident));
    }
    return;
  }
  if (it == m_slot.end()) return;
  const std::size_t slot = it->second;
  m_slot.erase(it);
  if (slot + 1 != m_points.size()) {
    m_points[slot] = m_points.back();
    m_slot[m_points[slot].id] = slot;
  }
  m_points.pop_back();
}

void OpenIncidentIndex::clear() {
  std::unique_lock lock(m_mutex);
  m_points.clear();
  m_slot.clear();
}

std::array<std::int64_t, 5> OpenIncidentIndex::colour_counts(TimePoint now, TimePoint day_end) const {
  std::array<std::int64_t, 5> out{};
  const std::int64_t now_ms = millis(now), day_end_ms = millis(day_end);
  std::shared_lock lock(m_mutex);
  for (const Point& p : m_points) ++out[static_cast<std::size_t>(rank(p, now_ms, day_end_ms))];
  return out;
}

std::size_t OpenIncidentIndex::size() const {
  std::shared_lock lock(m_mutex);
  return m_points.size();
}

std::size_t OpenIncidentIndex::bytes() const {
  std::shared_lock lock(m_mutex);
  return m_points.capacity() * sizeof(Point) +
         m_slot.size() * (sizeof(std::pair<const std::int64_t, std::size_t>) + 2 * sizeof(void*));
}

std::vector<storage::IncidentCluster> OpenIncidentIndex::clusters(const std::array<double, 4>& b, int cols, int rows,
                                                                  TimePoint now, TimePoint day_end) const {
  cols = std::max(cols, 1);
  rows = std::max(rows, 1);
  const double cw = (b[2] - b[0]) / cols, ch = (b[3] - b[1]) / rows;
  if (!(cw > 0) || !(ch > 0)) return {};
  struct Cell {
    std::int64_t count = 0;
    double sx = 0, sy = 0;
    std::array<std::int64_t, 5> colours{};
  };
  std::vector<Cell> cells(static_cast<std::size_t>(cols) * static_cast<std::size_t>(rows));
  const std::int64_t now_ms = millis(now), day_end_ms = millis(day_end);
  {
    std::shared_lock lock(m_mutex);
    for (const Point& p : m_points) {
      if (!(p.lon >= b[0] && p.lon <= b[2] && p.lat >= b[1] && p.lat <= b[3])) continue;
      const int cx = std::min(static_cast<int>((p.lon - b[0]) / cw), cols - 1);
      const int cy = std::min(static_cast<int>((p.lat - b[1]) / ch), rows - 1);
      Cell& c = cells[static_cast<std::size_t>(cx) * static_cast<std::size_t>(rows) + static_cast<std::size_t>(cy)];
      ++c.count;
      c.sx += p.lon;
      c.sy += p.lat;
      ++c.colours[static_cast<std::size_t>(rank(p, now_ms, day_end_ms))];
    }
  }
  std::vector<storage::IncidentCluster> out;
  for (const Cell& c : cells) {  // ordered by column, then row, as the store's GROUP BY
    if (c.count == 0) continue;
    storage::IncidentCluster k;
    k.count = c.count;
    k.lon = c.sx / static_cast<double>(c.count);
    k.lat = c.sy / static_cast<double>(c.count);
    k.colours = c.colours;
    out.push_back(k);
  }
  return out;
}

}  // namespace gridd::service
