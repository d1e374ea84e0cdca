#pragma once
/// @file incident.hpp
/// The pure domain core of incidents: the states and actions of the
/// closed-loop workflow (the standard seven-step loop with its side paths),
/// the deadline colours ("五类四色") and the category catalogue. No storage,
/// no transport, no hidden clock: every function that depends on the time
/// takes `now` as an argument.

#include <chrono>
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
  reopen
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
/// - unsatisfied follow-up: closed -reopen-> reopened.
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

/// Deadline colour levels of "五类四色". `none` means "not supervised":
/// closed or rejected, or not dispatched yet (the clock starts at dispatch).
enum class Colour : int { none = 0, on_track, near_due, due_today, overdue };

/// "none", "on_track", "near_due", "due_today", "overdue"; parse_colour
/// throws Error(invalid_input, "invalid_colour") naming `field`.
std::string_view to_string(Colour colour) noexcept;
std::optional<Colour> try_parse_colour(std::string_view text) noexcept;
Colour parse_colour(std::string_view text, std::string_view field = "colour");

/// The colour of an incident at `now`, computed from the clock, never stored:
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

}  // namespace gridd
