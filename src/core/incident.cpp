#include "gridd/core/incident.hpp"

#include <array>
#include <cstddef>
#include <fstream>
#include <random>
#include <sstream>

#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "enum_names.hpp"

namespace gridd {

using detail::lookup;
using detail::parse_named;

namespace {

constexpr std::array<std::string_view, 11> k_status_names = {
    "reported", "registered", "dispatched", "accepted", "resolved", "verified",
    "closed",   "rejected",   "returned",   "escalated", "reopened"};

constexpr std::array<std::string_view, 12> k_action_names = {
    "register", "reject",    "dispatch", "accept", "return", "escalate",
    "resolve",  "send_back", "verify",   "close",  "reopen", "follow_up"};

constexpr std::array<std::string_view, 4> k_priority_names = {"low", "normal", "high", "urgent"};

constexpr std::array<std::string_view, 5> k_colour_names = {"none", "on_track", "near_due", "due_today",
                                                            "overdue"};

using S = IncidentStatus;
using A = IncidentAction;

}  // namespace

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

const std::vector<IncidentStatus>& all_incident_statuses() {
  static const auto all = detail::all_values<IncidentStatus>(k_status_names);
  return all;
}

const std::vector<IncidentAction>& all_incident_actions() {
  static const auto all = detail::all_values<IncidentAction>(k_action_names);
  return all;
}

std::string_view to_string(IncidentStatus status) noexcept {
  return k_status_names[static_cast<std::size_t>(status)];
}

std::optional<IncidentStatus> try_parse_incident_status(std::string_view text) noexcept {
  return lookup<IncidentStatus>(k_status_names, text);
}

IncidentStatus parse_incident_status(std::string_view text, std::string_view field) {
  return parse_named<IncidentStatus>(k_status_names, text, field, "invalid_status", "status");
}

std::string_view to_string(IncidentAction action) noexcept {
  return k_action_names[static_cast<std::size_t>(action)];
}

std::optional<IncidentAction> try_parse_incident_action(std::string_view text) noexcept {
  return lookup<IncidentAction>(k_action_names, text);
}

IncidentAction parse_incident_action(std::string_view text, std::string_view field) {
  return parse_named<IncidentAction>(k_action_names, text, field, "invalid_action", "action");
}

std::string_view to_string(Colour colour) noexcept {
  return k_colour_names[static_cast<std::size_t>(colour)];
}

std::optional<Colour> try_parse_colour(std::string_view text) noexcept {
  return lookup<Colour>(k_colour_names, text);
}

Colour parse_colour(std::string_view text, std::string_view field) {
  return parse_named<Colour>(k_colour_names, text, field, "invalid_colour", "colour");
}

// ---------------------------------------------------------------------------
// Workflow
// ---------------------------------------------------------------------------

const std::vector<Transition>& incident_transitions() {
  static const std::vector<Transition> table = {
      // The standard seven-step loop.
      {S::reported, A::register_, S::registered},
      {S::registered, A::dispatch, S::dispatched},
      {S::dispatched, A::accept, S::accepted},
      {S::accepted, A::resolve, S::resolved},
      {S::resolved, A::verify, S::verified},
      {S::verified, A::close, S::closed},
      // Rejected at registration (duplicate, not a case): terminal.
      {S::reported, A::reject, S::rejected},
      {S::registered, A::reject, S::rejected},
      // Returned by the handler (wrong grid or department).
      {S::dispatched, A::return_, S::returned},
      {S::accepted, A::return_, S::returned},
      // Re-dispatch, possibly to another grid or department.
      {S::returned, A::dispatch, S::dispatched},
      {S::escalated, A::dispatch, S::dispatched},
      {S::reopened, A::dispatch, S::dispatched},
      // Escalated to the parent level.
      {S::dispatched, A::escalate, S::escalated},
      {S::accepted, A::escalate, S::escalated},
      {S::returned, A::escalate, S::escalated},
      // Verification failed: back to the handler.
      {S::resolved, A::send_back, S::accepted},
      // Unsatisfied follow-up visit.
      {S::closed, A::reopen, S::reopened},
      {S::closed, A::follow_up, S::closed},
  };
  return table;
}

std::optional<IncidentStatus> next_status(IncidentStatus from, IncidentAction action) noexcept {
  for (const auto& t : incident_transitions()) {
    if (t.from == from && t.action == action) return t.to;
  }
  return std::nullopt;
}

IncidentStatus apply_transition(IncidentStatus from, IncidentAction action) {
  if (auto to = next_status(from, action)) return *to;
  throw_conflict("illegal_transition",
                 "cannot " + std::string(to_string(action)) + " an incident that is " + std::string(to_string(from)),
                 "action");
}

std::vector<IncidentAction> allowed_actions(IncidentStatus from) {
  std::vector<IncidentAction> out;
  for (auto action : all_incident_actions()) {
    if (next_status(from, action)) out.push_back(action);
  }
  return out;
}

bool is_open(IncidentStatus status) noexcept {
  return status != IncidentStatus::closed && status != IncidentStatus::rejected;
}

bool deadline_running(IncidentStatus status) noexcept {
  return status == IncidentStatus::dispatched || status == IncidentStatus::accepted ||
         status == IncidentStatus::returned || status == IncidentStatus::escalated;
}

std::string_view to_string(Priority priority) noexcept {
  return k_priority_names[static_cast<std::size_t>(priority)];
}

Priority parse_priority(std::string_view text, std::string_view field) {
  return parse_named<Priority>(k_priority_names, text, field, "invalid_priority", "priority");
}

// ---------------------------------------------------------------------------
// Deadline colours
// ---------------------------------------------------------------------------

Colour colour_at(std::optional<TimePoint> dispatched_at, std::optional<TimePoint> due_at, bool open,
                 TimePoint now, int utc_offset_minutes) {
  if (utc_offset_minutes < -18 * 60 || utc_offset_minutes > 18 * 60) {
    throw_invalid("invalid_utc_offset",
                  "utc offset " + std::to_string(utc_offset_minutes) + " min is outside ±18 h",
                  "utc_offset_minutes");
  }
  // End of the current local day, expressed back in UTC.
  const std::chrono::minutes offset(utc_offset_minutes);
  const auto local_day = std::chrono::floor<std::chrono::days>(now + offset);
  const TimePoint end_of_day = local_day + std::chrono::days(1) - offset;
  // near_due: elapsed >= 3/4 of the allowed time t, exactly and without
  // overflow: ceil(3t/4) == t - floor(t/4), so the instant is due - floor(t/4).
  const TimePoint none = TimePoint::min();
  TimePoint near_due = none;
  if (dispatched_at && due_at && *due_at > *dispatched_at) near_due = *due_at - (*due_at - *dispatched_at) / 4;
  return deadline_colour(open, dispatched_at.value_or(none), due_at.value_or(none), near_due, now, end_of_day, none);
}

// ---------------------------------------------------------------------------
// Category catalogue
// ---------------------------------------------------------------------------

Json to_json(const Category& c) {
  return Json{{"code", c.code},   {"name", c.name},
              {"name_en", c.name_en}, {"group", c.group},
              {"deadline_hours", c.deadline_hours}, {"handler", c.handler}};
}

TimePoint due_at(const Category& category, TimePoint dispatched_at) {
  return dispatched_at + std::chrono::hours(category.deadline_hours);
}

namespace {

bool is_category_code(std::string_view code) noexcept {
  if (code.empty() || code.size() > 64) return false;
  if (code.front() < 'a' || code.front() > 'z') return false;
  for (char ch : code) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    if (!ok) return false;
  }
  return true;
}

std::string required_string(const Json& entry, const char* key, const std::string& where) {
  auto it = entry.find(key);
  const std::string field = where + "/" + key;
  if (it == entry.end() || it->is_null()) {
    throw_invalid("invalid_category", "category lacks '" + std::string(key) + "'", field);
  }
  if (!it->is_string()) {
    throw_invalid("invalid_category", "category '" + std::string(key) + "' must be a string", field);
  }
  std::string value = it->get<std::string>();
  if (value.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw_invalid("invalid_category", "category '" + std::string(key) + "' is empty", field);
  }
  return value;
}

constexpr int k_max_deadline_hours = 24 * 366;

}  // namespace

CategoryCatalogue CategoryCatalogue::from_json(const Json& doc) {
  if (!doc.is_object()) {
    throw_invalid("invalid_catalogue", "a category catalogue must be an object {\"categories\": [...]}", "");
  }
  auto list = doc.find("categories");
  if (list == doc.end() || !list->is_array()) {
    throw_invalid("invalid_catalogue", "'categories' must be an array", "categories");
  }
  if (list->empty()) throw_invalid("invalid_catalogue", "the catalogue has no categories", "categories");

  CategoryCatalogue out;
  std::size_t i = 0;
  for (const auto& entry : *list) {
    const std::string where = "categories/" + std::to_string(i);
    if (!entry.is_object()) throw_invalid("invalid_category", "each category must be an object", where);
    Category c;
    c.code = required_string(entry, "code", where);
    if (!is_category_code(c.code)) {
      throw_invalid("invalid_category",
                    "category code '" + c.code + "' must be 1..64 characters of [a-z0-9_] starting with a letter",
                    where + "/code");
    }
    c.name = required_string(entry, "name", where);
    c.name_en = required_string(entry, "name_en", where);
    c.group = required_string(entry, "group", where);
    c.handler = required_string(entry, "handler", where);

    const std::string dl_field = where + "/deadline_hours";
    auto dl = entry.find("deadline_hours");
    if (dl == entry.end() || dl->is_null()) {
      throw_invalid("invalid_category", "category lacks 'deadline_hours'", dl_field);
    }
    if (!dl->is_number_integer() || dl->get<std::int64_t>() < 1 || dl->get<std::int64_t>() > k_max_deadline_hours) {
      throw_invalid("invalid_category",
                    "'deadline_hours' must be an integer from 1 to " + std::to_string(k_max_deadline_hours),
                    dl_field);
    }
    c.deadline_hours = static_cast<int>(dl->get<std::int64_t>());

    if (out.m_index.count(c.code) != 0) {
      throw_invalid("duplicate_category", "category code '" + c.code + "' appears twice", where + "/code");
    }
    out.m_index.emplace(c.code, out.m_categories.size());
    out.m_categories.push_back(std::move(c));
    ++i;
  }
  return out;
}

CategoryCatalogue CategoryCatalogue::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_invalid("catalogue_unreadable", "cannot read category catalogue '" + path + "'", path);
  std::ostringstream text;
  text << in.rdbuf();
  Json doc;
  try {
    doc = parse_json(text.str());
  } catch (const Error& e) {
    throw_invalid("malformed_catalogue", "category catalogue '" + path + "': " + e.what(), path);
  }
  return from_json(doc);
}

const Category* CategoryCatalogue::find(std::string_view code) const {
  auto it = m_index.find(code);
  return it == m_index.end() ? nullptr : &m_categories[it->second];
}

std::vector<std::string> CategoryCatalogue::groups() const {
  std::vector<std::string> out;
  for (const auto& c : m_categories) {
    bool seen = false;
    for (const auto& g : out) seen = seen || g == c.group;
    if (!seen) out.push_back(c.group);
  }
  return out;
}

namespace {
constexpr std::string_view k_crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t k_tracking_code_length = 10;
}  // namespace

std::string new_tracking_code() {
  static thread_local std::random_device device;  // the kernel's generator (getrandom)
  std::uint64_t bits = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  std::string code(k_tracking_code_length, '0');
  for (auto& c : code) {
    c = k_crockford[bits & 31U];
    bits >>= 5;
  }
  return code;
}

std::optional<std::string> normalize_tracking_code(std::string_view text) {
  std::string out;
  for (const char raw : text) {
    if (raw == ' ' || raw == '-') continue;
    char c = (raw >= 'a' && raw <= 'z') ? static_cast<char>(raw - 'a' + 'A') : raw;
    if (c == 'O') c = '0';
    if (c == 'I' || c == 'L') c = '1';
    if (k_crockford.find(c) == std::string_view::npos) return std::nullopt;
    out += c;
    if (out.size() > k_tracking_code_length) return std::nullopt;
  }
  if (out.size() != k_tracking_code_length) return std::nullopt;
  return out;
}

}  // namespace gridd
