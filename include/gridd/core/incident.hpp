#pragma once
/// @file incident.hpp
/// The pure domain core of incidents: the states and actions of the
/// closed-loop workflow (the standard seven-step loop with its side paths),
/// the deadline colours ("五类四色") and the category catalogue. No storage,
/// no transport, no hidden clock: every function that depends on the time
/// takes `now` as an argument.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gridd/core/model.hpp"

namespace gridd {

/// The instant type of the incident domain.
using TimePoint = std::chrono::system_clock::time_point;

/// States of an incident. The standard loop is reported → registered →
/// dispatched → accepted → resolved → verified → closed; the others are the
/// side paths (see next_status()).
enum class IncidentStatus : int {
  reported = 0,
  registered,
  dispatched,
  accepted,
  resolved,
  verified,
  closed,
  rejected,
  returned,
  escalated,
  reopened
};

/// What an actor does to an incident. The trailing underscore of
/// `register_` and `return_` only avoids C++ keywords; the wire names are
/// "register" and "return".
enum class IncidentAction : int {
  register_ = 0,
  reject,
  dispatch,
  accept,
  return_,
  escalate,
  resolve,
  send_back,
  verify,
  close,
  reopen,
  follow_up
};

/// Every status and every action, in enum order (for tables, tests, UIs).
const std::vector<IncidentStatus>& all_incident_statuses();
const std::vector<IncidentAction>& all_incident_actions();

/// "reported", "registered", ...; parse_incident_status throws
/// Error(invalid_input, "invalid_status") naming `field` for anything else.
std::string_view to_string(IncidentStatus status) noexcept;
std::optional<IncidentStatus> try_parse_incident_status(std::string_view text) noexcept;
IncidentStatus parse_incident_status(std::string_view text, std::string_view field = "status");

/// "register", "reject", "dispatch", ...; parse_incident_action throws
/// Error(invalid_input, "invalid_action") naming `field` for anything else.
std::string_view to_string(IncidentAction action) noexcept;
std::optional<IncidentAction> try_parse_incident_action(std::string_view text) noexcept;
IncidentAction parse_incident_action(std::string_view text, std::string_view field = "action");

/// One edge of the workflow graph.
struct Transition {
  IncidentStatus from;
  IncidentAction action;
  IncidentStatus to;
  bool operator==(const Transition&) const = default;
};

/// The whole transition table:
/// - the loop: reported -register-> registered -dispatch-> dispatched
///   -accept-> accepted -resolve-> resolved -verify-> verified -close-> closed;
/// - reject at registration: reported|registered -reject-> rejected (terminal);
/// - return by the handler: dispatched|accepted -return-> returned;
/// - (re-)dispatch: registered|returned|escalated|reopened -dispatch-> dispatched;
/// - escalate to the parent level: dispatched|accepted|returned -escalate-> escalated;
/// - failed verification: resolved -send_back-> accepted;
/// - unsatisfied follow-up: closed -reopen-> reopened;
/// - the follow-up visit itself: closed -follow_up-> closed (records the
///   resident's satisfaction; the state does not change).
const std::vector<Transition>& incident_transitions();

/// The state after `action` from `from`, or nullopt when the table has no
/// such edge.
std::optional<IncidentStatus> next_status(IncidentStatus from, IncidentAction action) noexcept;

/// Like next_status() but an illegal pair throws
/// Error(conflict, "illegal_transition", "cannot <action> an incident that is <status>", "action").
IncidentStatus apply_transition(IncidentStatus from, IncidentAction action);

/// The actions the table allows from `from`, in enum order (empty for rejected).
std::vector<IncidentAction> allowed_actions(IncidentStatus from);

/// Whether an incident in this state still needs work: everything except
/// closed and rejected. (A closed incident can be reopened, but until then
/// it counts as done.)
bool is_open(IncidentStatus status) noexcept;

/// Whether the deadline clock runs in this state: the handling phase
/// (dispatched, accepted, returned, escalated). It starts at dispatch and
/// stops when the handler reports the case resolved.
bool deadline_running(IncidentStatus status) noexcept;

/// Deadline colour levels of "五类四色". `none` means "not supervised":
/// closed or rejected, or not dispatched yet (the clock starts at dispatch).
enum class Colour : int { none = 0, on_track, near_due, due_today, overdue };

/// "none", "on_track", "near_due", "due_today", "overdue"; parse_colour
/// throws Error(invalid_input, "invalid_colour") naming `field`.
std::string_view to_string(Colour colour) noexcept;
std::optional<Colour> try_parse_colour(std::string_view text) noexcept;
Colour parse_colour(std::string_view text, std::string_view field = "colour");

/// The colour rule on an incident's stored instants, written once for every
/// place that evaluates it: colour_at() below, the in-memory index of open
/// incidents (instants in milliseconds) and, as SQL over ISO 8601 text, the
/// stores (storage/incident_rows.cpp, checked against this in the tests).
/// `near_due` is the instant 3/4 of the allowed time after dispatch;
/// `day_end` the end of the current local day; `none` marks an absent instant.
template <class Instant>
constexpr Colour deadline_colour(bool running, const Instant& dispatched, const Instant& due,
                                 const Instant& near_due, const Instant& now, const Instant& day_end,
                                 const Instant& none) noexcept {
  if (!running || dispatched == none) return Colour::none;
  if (due == none) return Colour::on_track;
  if (due < now) return Colour::overdue;
  if (due < day_end) return Colour::due_today;
  if (near_due != none && near_due <= now) return Colour::near_due;
  return Colour::on_track;
}

/// The colour of an incident at `now`, computed from the clock, never stored.
/// Pass deadline_running(status) as `open`: the clock runs only while the
/// case is being handled (gridd's service and store queries do so).
/// - none when !open or not dispatched (no dispatched_at);
/// - on_track when dispatched without a deadline (no due_at);
/// - overdue when now > due_at;
/// - due_today when due_at falls before the end of the current local day,
///   local meaning UTC + utc_offset_minutes (China Standard Time by default);
/// - near_due when at least 75% of the allowed time (due_at - dispatched_at)
///   has elapsed;
/// - on_track otherwise.
/// @throws Error(invalid_input, "invalid_utc_offset") when the offset is
/// outside ±18 hours.
Colour colour_at(std::optional<TimePoint> dispatched_at, std::optional<TimePoint> due_at, bool open,
                 TimePoint now, int utc_offset_minutes = 480);

/// A category of the catalogue: what kind of problem, who handles it and how
/// long they have from dispatch.
struct Category {
  std::string code;     ///< snake_case ASCII, unique in a catalogue
  std::string name;     ///< Chinese name
  std::string name_en;  ///< English name
  std::string group;    ///< the event class of the standard (市容环境, ...)
  int deadline_hours = 0;
  std::string handler;  ///< responsible department or role ("grid_worker", ...)
  bool operator==(const Category&) const = default;
};

/// {"code","name","name_en","group","deadline_hours","handler"}.
Json to_json(const Category& category);

/// The deadline of an incident of `category` dispatched at `dispatched_at`.
TimePoint due_at(const Category& category, TimePoint dispatched_at);

/// The category catalogue: shipped as geodata/categories.json, replaceable
/// by the operator. Immutable once built.
class CategoryCatalogue {
 public:
  /// Build from `{"categories": [ {code, name, name_en, group,
  /// deadline_hours, handler}, ... ]}`. @throws Error(invalid_input) with
  /// code "invalid_catalogue" (bad shape), "invalid_category" (a bad entry)
  /// or "duplicate_category", and the field naming the entry, e.g.
  /// "categories/3/deadline_hours".
  static CategoryCatalogue from_json(const Json& doc);

  /// Read and parse a catalogue file. @throws Error(invalid_input) with code
  /// "catalogue_unreadable" or "malformed_catalogue" (field = the path), or
  /// any error of from_json().
  static CategoryCatalogue load(const std::string& path);

  /// The category with this code, or nullptr. The pointer stays valid as
  /// long as the catalogue lives.
  [[nodiscard]] const Category* find(std::string_view code) const;

  /// All categories in file order.
  [[nodiscard]] const std::vector<Category>& all() const noexcept { return m_categories; }

  /// The distinct groups in order of first appearance.
  [[nodiscard]] std::vector<std::string> groups() const;

 private:
  std::vector<Category> m_categories;
  std::map<std::string, std::size_t, std::less<>> m_index;
};

/// Priority of an incident, lowest first.
enum class Priority : int { low = 0, normal, high, urgent };
std::string_view to_string(Priority priority) noexcept;
Priority parse_priority(std::string_view text, std::string_view field = "priority");

/// An incident: a reported problem at a position, with its assignment and
/// its place in the workflow. Times are ISO 8601 UTC with milliseconds
/// (format_iso8601), empty when the step has not happened.
struct Incident {
  std::int64_t id = 0;
  std::string category;
  std::string description;
  double lon = 0;  ///< WGS84
  double lat = 0;
  Json reported_position = Json::object();  ///< {"x","y","crs"} as the reporter gave it
  std::string address;
  std::string channel;
  Priority priority = Priority::normal;
  std::string reporter_name;   ///< personal data
  std::string reporter_phone;  ///< personal data
  IncidentStatus status = IncidentStatus::reported;
  std::int64_t version = 1;  ///< +1 at every event; the ETag of the incident

  // Assignment (属地): the responsible grid, its chain and its worker.
  std::int64_t grid_id = 0;
  std::string grid_code;
  std::string grid_name;
  std::int64_t grid_version = 0;  ///< the version of the grid it was assigned under (0: unknown)
  std::array<std::int64_t, 5> chain{};  ///< the assigned grid's chain: id per Level, 0 when none
  bool covered = true;     ///< false: outside every grid, given to the nearest (flagged)
  double distance_m = 0;   ///< distance to that nearest grid when !covered
  std::string assignee_name;
  std::string assignee_phone;  ///< personal data (a worker's phone)
  std::string handler;         ///< the category's department or role
  int escalation_level = 0;

  std::string created_at;
  std::string updated_at;
  std::string dispatched_at;
  std::string due_at;
  std::string near_due_at;  ///< when the colour turns near_due (3/4 of the allowed time)
  std::string resolved_at;
  std::string closed_at;
  std::optional<int> satisfaction;  ///< 1..5 from the last follow-up
  Json attributes = Json::object();
  /// The reporter's receipt: an unguessable code (new_tracking_code()) that
  /// shows the progress without personal data and takes the resident's
  /// rating. Empty for incidents reported before codes existed.
  std::string tracking_code;
};

/// A new tracking code: 10 characters of Crockford's base32 (50 random bits
/// from the system's generator), e.g. "K7Q2M9XH3D".
std::string new_tracking_code();
/// `text` as a stored tracking code: upper case, without spaces and dashes,
/// O read as 0 and I, L as 1 (as Crockford's base32 reads them); nullopt
/// when it cannot be one.
std::optional<std::string> normalize_tracking_code(std::string_view text);

/// One entry of an incident's history (append-only). Its id is also the
/// position in the live feed.
struct IncidentEvent {
  std::int64_t id = 0;
  std::int64_t incident_id = 0;
  std::int64_t version = 0;  ///< the incident's version after the event
  std::string action;        ///< "report" for intake, else an IncidentAction name
  std::optional<IncidentStatus> from;
  IncidentStatus to = IncidentStatus::reported;
  std::string actor;
  std::string note;
  std::string at;
  std::int64_t grid_id = 0;  ///< the assigned grid after the event
  Json data = Json::object();  ///< satisfaction, reason, previous grid, ...
  std::vector<std::int64_t> attachments;
};

/// A file attached to an incident (a photo).
struct Attachment {
  std::int64_t id = 0;
  std::int64_t incident_id = 0;
  std::string filename;
  std::string media_type;
  std::int64_t size = 0;
  int width = 0;
  int height = 0;
  std::string created_at;
  std::string data;  ///< the bytes (only when loaded)
};

}  // namespace gridd
