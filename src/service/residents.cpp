#include "gridd/service/residents.hpp"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cmath>

#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/service/locate.hpp"
#include "gridd/service/qr_poster.hpp"
#include "gridd/spatial/geos.hpp"

namespace gridd::service {

namespace {

/// Reports this close (metres) with the same category and text are the same report.
constexpr double k_same_place_m = 100.0;

double distance_m(double lon1, double lat1, double lon2, double lat2) {
  constexpr double k_rad = 3.14159265358979323846 / 180.0;
  const double x = (lon2 - lon1) * k_rad * std::cos((lat1 + lat2) / 2 * k_rad);
  const double y = (lat2 - lat1) * k_rad;
  return std::sqrt(x * x + y * y) * 6371008.8;
}

/// The report's words with runs of white space folded, for comparison.
std::string folded(std::string_view text) {
  std::string out;
  bool space = false;
  for (const char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

int seconds_until(TimePoint from, TimePoint to) {
  const auto s = std::chrono::ceil<std::chrono::seconds>(to - from).count();
  return static_cast<int>(std::max<std::int64_t>(1, s));
}

}  // namespace

namespace {

std::string person_of(const Grid& g) {
  for (const auto& p : g.people) {
    if (p.role == "grid_worker") return p.name;
  }
  return g.people.empty() ? std::string() : g.people.front().name;
}

std::string context_of(const Snapshot& snap, const GridEntry& e) {
  std::string out;
  for (const std::int64_t id : snap.chain_of(e)) {
    const GridEntry* up = id && id != e.grid.id ? snap.grid_by_id(id) : nullptr;
    if (!up) continue;
    if (!out.empty()) out += " · ";
    out += up->grid.name;
  }
  return out;
}

}  // namespace

Place grid_place(const Snapshot& snap, const std::string& code) {
  const GridEntry* e = snap.grid_by_code(code);
  if (!e) throw_not_found("grid_not_found", "no grid with code '" + code + "'", "grid");
  Place p;
  p.kind = "grid";
  p.id = e->grid.id;
  p.code = e->grid.code;
  p.name = e->grid.name;
  p.context = context_of(snap, *e);
  p.detail = std::string(to_string(e->grid.level));
  p.person = person_of(e->grid);
  spatial::GeomPtr inside(GEOSPointOnSurface_r(spatial::geos(), e->shape.geometry()));
  if (inside) {
    GEOSGeomGetX_r(spatial::geos(), inside.get(), &p.lon);
    GEOSGeomGetY_r(spatial::geos(), inside.get(), &p.lat);
  }
  const auto& env = e->shape.envelope();
  p.bbox = {env.minx, env.miny, env.maxx, env.maxy};
  return p;
}

Place station_place(const Snapshot& snap, const std::string& code) {
  const StationEntry* s = snap.station_by_code(code);
  if (!s && !code.empty() && code.find_first_not_of("0123456789") == std::string::npos && code.size() < 18) {
    s = snap.station_by_id(std::stoll(code));
  }
  if (!s) throw_not_found("station_not_found", "no station with code '" + code + "'", "station");
  Place p;
  p.kind = "station";
  p.id = s->id;
  p.code = s->code.empty() ? std::to_string(s->id) : s->code;
  p.name = s->name;
  p.detail = s->kind;
  p.lon = s->lon;
  p.lat = s->lat;
  p.bbox = {s->lon, s->lat, s->lon, s->lat};
  LocateOptions lo;
  lo.k = 0;
  const LocateResult at = locate_wgs84(snap, s->lon, s->lat, lo);
  if (at.owner) {
    p.person = person_of(at.owner->grid);
    p.context = context_of(snap, *at.owner);
    if (!p.context.empty()) p.context += " · ";
    p.context += at.owner->grid.name;
  }
  return p;
}

std::string report_url(const std::string& base, const Place& place) {
  std::string url = base;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/report/?" + place.kind + "=";
  static constexpr char k_hex[] = "0123456789ABCDEF";
  for (const char c : place.code) {  // percent-encode all but RFC 3986's unreserved characters
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      url += c;
    } else {
      url += '%';
      url += k_hex[u >> 4];
      url += k_hex[u & 15];
    }
  }
  return url;
}

std::string place_poster(const Place& place, const std::string& url) {
  PosterText t;
  t.title = place.name;
  t.subtitle = place.context.empty() ? place.code : place.context + " · " + place.code;
  t.person = place.person;
  t.url = url;
  return qr_poster_svg(t);
}

std::chrono::seconds parse_duration(std::string_view text, std::string_view field) {
  auto bad = [&] {
    throw_invalid("invalid_duration", "'" + std::string(text) + "' is not a duration such as 30s, 10m or 1h",
                  std::string(field));
  };
  if (text == "0") return std::chrono::seconds(0);
  if (text.size() < 2) bad();
  std::int64_t n = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || p != text.data() + text.size() - 1 || n <= 0 || n > 1000000) bad();
  switch (text.back()) {
    case 's': return std::chrono::seconds(n);
    case 'm': return std::chrono::minutes(n);
    case 'h': return std::chrono::hours(n);
    case 'd': return std::chrono::hours(24 * n);
    default: bad();
  }
  return {};
}

void parse_report_rate(std::string_view text, ResidentLimits& limits) {
  if (text == "0") {
    limits.reports_per_window = 0;
    return;
  }
  const auto slash = text.find('/');
  int n = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + (slash == std::string_view::npos ? 0 : slash), n);
  if (slash == std::string_view::npos || ec != std::errc() || p != text.data() + slash || n <= 0) {
    throw_invalid("invalid_rate", "'" + std::string(text) + "' is not a rate such as 20/1h (reports per window) or 0",
                  "report-rate");
  }
  const auto window = parse_duration(text.substr(slash + 1), "report-rate");
  if (window.count() == 0) throw_invalid("invalid_rate", "the window of a rate must be longer than 0", "report-rate");
  limits.reports_per_window = n;
  limits.window = window;
}

ResidentDesk::ResidentDesk(IncidentService& incidents, ResidentLimits limits)
    : m_incidents(incidents), m_limits(limits) {}

void ResidentDesk::forget_expired(TimePoint now) {
  for (auto it = m_clients.begin(); it != m_clients.end();) {
    Client& c = it->second;
    while (!c.reports.empty() && c.reports.front() + m_limits.window <= now) c.reports.pop_front();
    while (!c.recent.empty() && c.recent.front().at + m_limits.duplicate_window <= now) c.recent.pop_front();
    it = c.reports.empty() && c.recent.empty() ? m_clients.erase(it) : std::next(it);
  }
}

void ResidentDesk::admit(const std::string& client, const Incident& routed, TimePoint now) {
  std::lock_guard lock(m_mutex);
  if (m_clients.size() >= m_limits.max_clients && !m_clients.count(client)) {
    forget_expired(now);
    // Still full: a flood from many addresses; refuse new ones briefly rather
    // than forget the limits of the ones already counted.
    if (m_clients.size() >= m_limits.max_clients) {
      throw Error(ErrorKind::rate_limited, "rate_limited", "too many anonymous reports right now; try again shortly",
                  "")
          .with_retry_after(60);
    }
  }
  Client& c = m_clients[client];
  while (!c.reports.empty() && c.reports.front() + m_limits.window <= now) c.reports.pop_front();
  while (!c.recent.empty() && c.recent.front().at + m_limits.duplicate_window <= now) c.recent.pop_front();

  const std::string fingerprint = routed.category + '\n' + folded(routed.description);
  if (m_limits.duplicate_window.count() > 0) {
    for (const Sent& s : c.recent) {
      if (s.fingerprint != fingerprint || distance_m(s.lon, s.lat, routed.lon, routed.lat) > k_same_place_m) continue;
      throw Error(ErrorKind::conflict, "duplicate_report",
                  "the same report was sent from here " +
                      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - s.at).count()) +
                      " s ago; follow it with its tracking code",
                  "")
          .with_details(Json{{"tracking_code", s.tracking_code}}.dump());
    }
  }
  if (m_limits.reports_per_window > 0 && c.reports.size() >= static_cast<std::size_t>(m_limits.reports_per_window)) {
    throw Error(ErrorKind::rate_limited, "rate_limited",
                std::to_string(m_limits.reports_per_window) + " reports from one address within " +
                    std::to_string(m_limits.window.count()) + " s at most; try again later",
                "")
        .with_retry_after(seconds_until(now, c.reports.front() + m_limits.window));
  }
  c.reports.push_back(now);
  if (m_limits.duplicate_window.count() > 0) c.recent.push_back({now, fingerprint, routed.lon, routed.lat, routed.tracking_code});
}

Incident ResidentDesk::find(std::string_view code) const {
  const auto normal = normalize_tracking_code(code);
  std::optional<Incident> i;
  if (normal) i = m_incidents.find_by_tracking_code(*normal);
  if (!i) throw_not_found("tracking_code_not_found", "no report has the tracking code '" + std::string(code) + "'", "code");
  return std::move(*i);
}

Receipt ResidentDesk::receipt(std::string_view code) const {
  Receipt r;
  r.incident = find(code);
  r.events = m_incidents.history(r.incident.id);
  r.photos = m_incidents.attachments_of(r.incident.id).size();
  r.can_rate = r.incident.status == IncidentStatus::closed && !r.incident.satisfaction;
  return r;
}

Attachment ResidentDesk::add_photo(std::string_view code, std::string bytes, std::string filename) {
  const Incident i = find(code);
  if (!is_open(i.status)) {
    throw_conflict("report_closed", "the report is " + std::string(to_string(i.status)) + "; photos are added while it is open",
                   "code");
  }
  const auto reported = try_parse_time(i.created_at, 0);
  if (!reported || *reported + m_limits.photo_window < m_incidents.now()) {
    throw_conflict("photo_window_passed",
                   "photos are added within " + std::to_string(m_limits.photo_window.count() / 60) +
                       " minutes of reporting",
                   "code");
  }
  if (m_incidents.attachments_of(i.id).size() >= m_limits.photos_per_report) {
    throw Error(ErrorKind::too_large, "too_many_photos",
                "a report takes " + std::to_string(m_limits.photos_per_report) + " photos at most", "body");
  }
  return m_incidents.add_attachment(i.id, std::move(bytes), std::move(filename));
}

Receipt ResidentDesk::rate(std::string_view code, int satisfaction, std::string note) {
  const Incident i = find(code);
  if (i.status != IncidentStatus::closed) {
    throw_conflict("not_closed", "the report is " + std::string(to_string(i.status)) +
                                     "; it is rated once it is closed", "code");
  }
  if (i.satisfaction) throw_conflict("already_rated", "this report has been rated already", "code");
  TransitionInput in;
  in.action = IncidentAction::follow_up;
  in.actor = "resident";
  in.note = std::move(note);
  in.satisfaction = satisfaction;
  in.expected_version = i.version;  // two ratings at once: one wins
  (void)m_incidents.transition(i.id, in);
  return receipt(i.tracking_code);
}

}  // namespace gridd::service
