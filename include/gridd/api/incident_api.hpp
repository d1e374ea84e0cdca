#pragma once
/// @file incident_api.hpp
/// The incident endpoints: intake, listing, one incident, its history, the
/// workflow transitions, attachments, statistics, the category catalogue,
/// the live feed (as a transport-neutral stream the http layer drives as
/// Server-Sent Events) and Open311 GeoReport v2.

#include <cstdint>
#include <memory>
#include <string>

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"
#include "gridd/service/incidents.hpp"

namespace gridd::api {

/// Rendering options shared by the incident endpoints.
struct IncidentApiOptions {
  std::size_t max_page = 10000;
  std::size_t default_page = 100;
};

/// Add /categories, /incidents... and /attachments/{id} to `router` (none
/// without an incident service). Literal routes (/incidents/stats) are added
/// before /incidents/{id}.
void add_incident_routes(Router& router, const ApiContext& context, IncidentApiOptions options = {});

/// Add Open311 GeoReport v2 (/open311/v2/...; none without an incident service).
void add_open311_routes(Router& router, const ApiContext& context);

/// An incident as a GeoJSON Feature (the shape every endpoint returns).
/// `personal_data` false: the reporter's name and phone and the assignee's
/// phone are left out (anonymous readers once tokens are in use).
Json incident_feature(const service::IncidentService& incidents, const Incident& incident, TimePoint now,
                      bool personal_data = true);

/// A live feed: the events after a position, filtered, as Server-Sent Events
/// text. One per connection; not thread-safe.
class FeedStream {
 public:
  FeedStream(service::IncidentService& incidents, storage::FeedFilter filter, std::int64_t after);
  /// SSE frames ("id: ..\nevent: incident\ndata: {...}\n\n") for up to
  /// `max_items` new events; empty when none. Advances the position.
  std::string poll(std::size_t max_items = 200);
  [[nodiscard]] std::int64_t position() const noexcept { return m_after; }
  [[nodiscard]] service::IncidentService& service() noexcept { return m_incidents; }
  /// Leave personal data out of the frames (see incident_feature()).
  void set_personal_data(bool personal_data) noexcept { m_personal_data = personal_data; }

 private:
  service::IncidentService& m_incidents;
  storage::FeedFilter m_filter;
  std::int64_t m_after;
  bool m_personal_data = true;
};

/// True for the feed's path (GET /incidents/feed).
bool is_feed_request(const Request& request);

/// Validate a feed request (grid, category, after or the Last-Event-ID
/// header; without either the feed starts at the newest event). The
/// request's principal decides whether personal data is shown.
/// @throws Error(invalid_input | not_found)
std::unique_ptr<FeedStream> open_feed(service::IncidentService& incidents, const Request& request);

}  // namespace gridd::api
