#pragma once
/// @file residents.hpp
/// The resident's side of intake (QR codes on notice boards, 随手拍 without
/// an account): the receipt a tracking code opens (progress without personal
/// data), the photos a resident adds to their own report shortly after
/// sending it, their rating once it is closed (回访), and the limits that
/// keep anonymous intake from being flooded: reports per client address in
/// a sliding window, and the same report sent again within minutes refused
/// as a duplicate.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gridd/core/incident.hpp"
#include "gridd/core/time.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/snapshot.hpp"

namespace gridd::service {

struct ResidentLimits {
  int reports_per_window = 20;  ///< anonymous reports from one address per window (0: no limit)
  std::chrono::seconds window{std::chrono::hours(1)};
  std::chrono::seconds duplicate_window{std::chrono::minutes(10)};  ///< the same report refused within (0: off)
  std::size_t photos_per_report = 3;                         ///< photos a resident adds by tracking code
  std::chrono::seconds photo_window{std::chrono::hours(1)};  ///< after reporting
  std::size_t max_clients = 100000;                          ///< addresses remembered at most
};

/// "20/1h", "5/10m", "100/30s" (reports per window) as limits; "0" turns the
/// rate limit off. @throws Error(invalid_input, "invalid_rate")
void parse_report_rate(std::string_view text, ResidentLimits& limits);
/// "10m", "30s", "0" (off). @throws Error(invalid_input, "invalid_duration")
std::chrono::seconds parse_duration(std::string_view text, std::string_view field);

/// Where a QR code stands: a grid or a station, with what a resident's
/// form and a poster show of it.
struct Place {
  std::string kind;  ///< "grid" or "station"
  std::int64_t id = 0;
  std::string code;
  std::string name;
  std::string context;  ///< the enclosing grids' names, coarsest first ("南门街道 · 南门社区")
  std::string detail;   ///< the grid's level or the station's kind
  std::string person;   ///< the responsible grid worker's name ("" when none)
  double lon = 0;       ///< a point inside the grid, or the station
  double lat = 0;
  std::array<double, 4> bbox{};  ///< minlon, minlat, maxlon, maxlat
};
/// The grid with `code`. @throws Error(not_found, "grid_not_found")
Place grid_place(const Snapshot& snapshot, const std::string& code);
/// The station with `code` (or, for digits without such a code, that id).
/// @throws Error(not_found, "station_not_found")
Place station_place(const Snapshot& snapshot, const std::string& code);

/// The resident's form for a place: BASE/report/?grid=CODE (or station=CODE).
std::string report_url(const std::string& base, const Place& place);
/// The printable QR poster of a place (qr_poster_svg) for `url`.
std::string place_poster(const Place& place, const std::string& url);

/// What a tracking code shows: the incident (the caller leaves out its
/// personal data), its steps, how many photos it has and whether the
/// resident may rate it now.
struct Receipt {
  Incident incident;
  std::vector<IncidentEvent> events;
  std::size_t photos = 0;
  bool can_rate = false;
};

class ResidentDesk {
 public:
  ResidentDesk(IncidentService& incidents, ResidentLimits limits);

  [[nodiscard]] const ResidentLimits& limits() const noexcept { return m_limits; }

  /// Admit one anonymous report from `client` (an address): counts it, and
  /// refuses it when the address sent too many in the window
  /// (Error(rate_limited, "rate_limited") with retry_after) or sent the same
  /// report (category, text, place) within the duplicate window
  /// (Error(conflict, "duplicate_report"), details naming the first one's
  /// tracking code).
  void admit(const std::string& client, const Incident& routed, TimePoint now);

  /// @throws Error(not_found, "tracking_code_not_found")
  [[nodiscard]] Receipt receipt(std::string_view code) const;
  /// A photo of the resident's own report: while it is open, within the
  /// photo window after reporting, up to photos_per_report.
  /// @throws Error(not_found | conflict: report_closed, photo_window_passed | too_large: too_many_photos)
  Attachment add_photo(std::string_view code, std::string bytes, std::string filename);
  /// The resident's satisfaction (1..5) once the incident is closed, once:
  /// recorded as a follow-up by "resident".
  /// @throws Error(not_found | invalid_input | conflict: not_closed, already_rated)
  Receipt rate(std::string_view code, int satisfaction, std::string note);

 private:
  struct Sent {
    TimePoint at;
    std::string fingerprint;  ///< category and folded text
    double lon = 0;
    double lat = 0;
    std::string tracking_code;
  };
  struct Client {
    std::deque<TimePoint> reports;  ///< within the window
    std::deque<Sent> recent;        ///< within the duplicate window
  };
  [[nodiscard]] Incident find(std::string_view code) const;
  void forget_expired(TimePoint now);

  IncidentService& m_incidents;
  ResidentLimits m_limits;
  std::mutex m_mutex;
  std::unordered_map<std::string, Client> m_clients;
};

}  // namespace gridd::service
