#pragma once
/// @file incidents.hpp
/// The incident facade: intake with automatic routing to the responsible
/// grid and worker (属地), the closed-loop workflow with its history,
/// deadline colours from an injected clock, listings, statistics,
/// attachments and the live feed. The API, the CLI, the tests and the
/// benchmarks call it; it knows nothing of HTTP.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gridd/core/incident.hpp"
#include "gridd/core/listeners.hpp"
#include "gridd/core/metrics.hpp"
#include "gridd/core/time.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/locate.hpp"
#include "gridd/service/open_incidents.hpp"
#include "gridd/storage/incident_store.hpp"

namespace gridd::service {

/// The time source of the incident domain (tests inject a fixed one).
using Clock = std::function<TimePoint()>;

struct IncidentOptions {
  int utc_offset_minutes = 480;                   ///< the local day of "due today" and daily statistics
  std::size_t max_batch = 1000;                   ///< incidents per intake request
  std::size_t max_attachment_bytes = 10u << 20;   ///< one photo
  std::size_t max_attachments_per_incident = 50;
  std::size_t max_text = 4000;                    ///< description and notes, in bytes
};

/// What a reporter sends.
struct IntakeInput {
  std::string category;
  std::string description;
  std::optional<Position> position;
  std::string address;
  std::string channel;   ///< empty: "api"
  std::string priority;  ///< empty: "normal"
  std::string reporter_name;
  std::string reporter_phone;
  std::string actor;     ///< who records it (a hotline operator, a grid worker)
  Json attributes = Json::object();
  std::string where;     ///< error-field prefix for batch items ("items/3")
};

/// What an actor does to an incident.
struct TransitionInput {
  IncidentAction action = IncidentAction::register_;
  std::string actor;
  std::string note;
  std::optional<IncidentStatus> expected_status;  ///< refuse (409 stale_state) unless the incident is in it
  std::optional<std::int64_t> expected_version;   ///< refuse (409 stale_version) unless at this version
  std::string grid;                               ///< dispatch: the grid to (re-)assign, id or code
  std::optional<int> satisfaction;                ///< close, follow_up: 1..5
  std::string reason;                             ///< reject (required), return
  std::vector<std::int64_t> attachments;          ///< ids of this incident's attachments
};

/// The numbers of one group with its label.
struct StatsEntry {
  storage::StatsRow row;
  Json label = Json::object();  ///< grid {id, code, name, level} or category {code, name, group}
};

/// Wakes live-feed subscribers when events are committed. Callbacks run on
/// the writer's thread and must only schedule work (post to an executor).
class FeedHub {
 public:
  using Listener = std::function<void(std::int64_t last_event_id)>;
  std::uint64_t subscribe(Listener listener) { return m_listeners.add(std::move(listener)); }
  void unsubscribe(std::uint64_t token) { m_listeners.remove(token); }
  void publish(std::int64_t last_event_id) { m_listeners.notify(last_event_id); }
  [[nodiscard]] std::size_t subscribers() const { return m_listeners.size(); }

 private:
  Listeners<std::int64_t> m_listeners{"feed"};
};

class IncidentService {
 public:
  IncidentService(Catalog& catalog, storage::IncidentStore& store, CategoryCatalogue categories,
                  Clock clock = {}, IncidentOptions options = {});

  [[nodiscard]] TimePoint now() const { return m_clock(); }
  [[nodiscard]] const CategoryCatalogue& categories() const noexcept { return m_categories; }
  [[nodiscard]] const IncidentOptions& options() const noexcept { return m_options; }
  [[nodiscard]] Catalog& catalog() const noexcept { return m_catalog; }

  /// Decides whether a routed incident may be recorded (the caller's scope):
  /// throws to refuse it, naming `where` (the input's field path).
  using Admission = std::function<void(const Incident& routed, const std::string& where)>;

  /// Record incidents (all or nothing), each routed to its grid and, when
  /// given, admitted by `admit`.
  /// @throws Error(invalid_input) naming the field; nothing is written then.
  std::vector<Incident> report(std::vector<IntakeInput> inputs, const Admission& admit = {});

  /// Apply one workflow step. @throws Error(not_found | invalid_input |
  /// conflict: illegal_transition, stale_state, stale_version, no_parent_grid).
  Incident transition(std::int64_t id, const TransitionInput& input);

  [[nodiscard]] std::optional<Incident> get(std::int64_t id) const { return m_store.get(id); }
  [[nodiscard]] std::optional<Incident> find_by_tracking_code(const std::string& code) const {
    return m_store.find_by_tracking_code(code);
  }
  /// @throws Error(not_found, "incident_not_found")
  [[nodiscard]] Incident require(std::int64_t id) const;
  [[nodiscard]] std::vector<IncidentEvent> history(std::int64_t id) const;

  /// A listing; the query's clock is set from `at` (default now).
  [[nodiscard]] storage::IncidentPage list(storage::IncidentQuery query, std::optional<TimePoint> at = {}) const;
  [[nodiscard]] std::int64_t count(const storage::IncidentFilter& filter, std::optional<TimePoint> at = {}) const;
  [[nodiscard]] std::vector<StatsEntry> stats(storage::StatsQuery query, std::optional<TimePoint> at = {}) const;

  /// The colour of an incident at `at`: the same rule the store's queries
  /// apply (colour_at() on the stored instants).
  [[nodiscard]] Colour colour(const Incident& incident, TimePoint at) const;
  [[nodiscard]] storage::ColourClock clock_at(TimePoint at) const;

  /// Store a photo: validated by GDAL as a JPEG, PNG, WebP or GIF image.
  /// @throws Error(invalid_input: not_an_image | payload_too_large: attachment_too_large | not_found)
  Attachment add_attachment(std::int64_t incident_id, std::string bytes, std::string filename);
  [[nodiscard]] std::optional<Attachment> attachment(std::int64_t id, bool with_data) const {
    return m_store.attachment(id, with_data);
  }
  [[nodiscard]] std::vector<Attachment> attachments_of(std::int64_t incident_id) const {
    return m_store.attachments_of(incident_id);
  }

  /// Open incidents in a lon/lat box aggregated on cols x rows cells, with
  /// their colours at `at`; only inside `subtree` when given. From the
  /// in-memory index of open incidents (the store for a subtree).
  [[nodiscard]] std::vector<storage::IncidentCluster> clusters(
      const std::array<double, 4>& bbox, int cols, int rows, TimePoint at,
      const std::optional<std::pair<Level, std::int64_t>>& subtree = std::nullopt) const;
  /// The in-memory index of open incidents.
  [[nodiscard]] const OpenIncidentIndex& open_index() const noexcept { return m_open; }
  /// Open incidents per colour now (for /metrics).
  [[nodiscard]] std::array<std::int64_t, 5> open_by_colour() const {
    const TimePoint at = m_clock();
    return m_open.colour_counts(at, local_day_end(at, m_options.utc_offset_minutes));
  }
  /// How long the store takes to commit a write (reports and transitions).
  [[nodiscard]] const Histogram& store_write_latency() const noexcept { return m_store_writes; }

  /// The live feed: events after a position, and the hub that signals new ones.
  [[nodiscard]] std::vector<storage::FeedItem> events_after(std::int64_t after, const storage::FeedFilter& filter,
                                                            std::size_t limit) const {
    return m_store.events_after(after, filter, limit);
  }
  [[nodiscard]] std::int64_t last_event_id() const { return m_store.last_event_id(); }
  [[nodiscard]] FeedHub& feed() noexcept { return m_feed; }

  /// Called after each committed intake or step with the positions of the
  /// incidents it changed (as point envelopes), on the writer's thread.
  using ChangeListener = std::function<void(const std::vector<spatial::Envelope>& positions)>;
  std::uint64_t add_change_listener(ChangeListener listener) { return m_listeners.add(std::move(listener)); }
  void remove_change_listener(std::uint64_t token) { m_listeners.remove(token); }

  /// Bring the open-incident index, the live feed and the change listeners
  /// (tile caches) up to the store's events: for incidents another process
  /// committed to the same store (several gridd instances on one database).
  /// Reads the events after the last one seen here, in order; returns how
  /// many it applied. Safe beside this instance's own writes.
  std::size_t sync_from_store();

  /// Resolve a grid given by id or code in the current snapshot.
  /// @throws Error(not_found, "grid_not_found") naming `field`.
  [[nodiscard]] std::pair<Level, std::int64_t> grid_ref(const std::string& id_or_code, const std::string& field) const;

 private:
  void assign(Incident& incident, const Snapshot& snapshot, const GridEntry* grid) const;

  Catalog& m_catalog;
  storage::IncidentStore& m_store;
  OpenIncidentIndex m_open;
  Histogram m_store_writes;
  /// Held from a write's commit until the open-incident index has it, so the
  /// index sees the committed versions in order (the store writes one at a
  /// time anyway).
  std::mutex m_commit_mutex;
  /// The last store event sync_from_store() has applied (under m_commit_mutex).
  std::int64_t m_synced_event = 0;
  CategoryCatalogue m_categories;
  Clock m_clock;
  IncidentOptions m_options;
  std::mutex m_transition_mutex;  // read-modify-write of one incident at a time
  FeedHub m_feed;
  Listeners<const std::vector<spatial::Envelope>&> m_listeners{"incident change"};
};

}  // namespace gridd::service
