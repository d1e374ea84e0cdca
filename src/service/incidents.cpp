#include "gridd/service/incidents.hpp"
#include "gridd/service/images.hpp"

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cmath>
#include <iostream>

#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/core/text.hpp"

namespace gridd::service {

namespace {

using namespace std::chrono;

/// The responsible person of a grid: its grid worker, else the first person.
const Person* responsible(const Grid& g) {
  for (const auto& p : g.people) {
    if (p.role == "grid_worker") return &p;
  }
  return g.people.empty() ? nullptr : &g.people.front();
}

TimePoint parse_stored(const std::string& iso) { return try_parse_time(iso, 0).value_or(TimePoint{}); }

}  // namespace

// ---------------------------------------------------------------------------
// IncidentService
// ---------------------------------------------------------------------------

IncidentService::IncidentService(Catalog& catalog, storage::IncidentStore& store, CategoryCatalogue categories,
                                 Clock clock, IncidentOptions options)
    : m_catalog(catalog),
      m_store(store),
      m_categories(std::move(categories)),
      m_clock(clock ? std::move(clock) : Clock([] { return system_clock::now(); })),
      m_options(options) {
  m_synced_event = m_store.last_event_id();
  m_store.for_each_open([this](const Incident& i) { m_open.apply(i); });
}

std::size_t IncidentService::sync_from_store() {
  constexpr std::size_t k_page = 1000;
  std::vector<spatial::Envelope> positions;
  std::int64_t last = 0;
  {
    // Under the commit lock: a local write cannot slip between reading an
    // incident here and applying it, so the index never goes back a version.
    std::lock_guard commit(m_commit_mutex);
    for (;;) {
      const auto items = m_store.events_after(m_synced_event, {}, k_page);
      for (const auto& item : items) {
        m_open.apply(item.incident);
        positions.push_back({item.incident.lon, item.incident.lat, item.incident.lon, item.incident.lat});
        m_synced_event = item.event.id;
      }
      if (items.size() < k_page) break;
    }
    last = m_synced_event;
  }
  if (!positions.empty()) {
    m_feed.publish(last);
    m_listeners.notify(positions);
  }
  return positions.size();
}

std::vector<storage::IncidentCluster> IncidentService::clusters(
    const std::array<double, 4>& bbox, int cols, int rows, TimePoint at,
    const std::optional<std::pair<Level, std::int64_t>>& subtree) const {
  if (subtree) return m_store.clusters(bbox, cols, rows, clock_at(at), subtree);
  return m_open.clusters(bbox, cols, rows, at, local_day_end(at, m_options.utc_offset_minutes));
}

void IncidentService::assign(Incident& incident, const Snapshot& snapshot, const GridEntry* grid) const {
  incident.chain.fill(0);
  if (!grid) {
    incident.grid_id = 0;
    incident.grid_version = 0;
    incident.grid_code.clear();
    incident.grid_name.clear();
    incident.assignee_name.clear();
    incident.assignee_phone.clear();
    return;
  }
  incident.grid_id = grid->grid.id;
  incident.grid_version = grid->grid.version;
  incident.grid_code = grid->grid.code;
  incident.grid_name = grid->grid.name;
  const Person* p = responsible(grid->grid);
  incident.assignee_name = p ? p->name : std::string();
  incident.assignee_phone = p ? p->phone : std::string();
  incident.chain = snapshot.chain_of(*grid);
}

std::vector<Incident> IncidentService::report(std::vector<IntakeInput> inputs, const Admission& admit) {
  if (inputs.empty()) throw_invalid("empty_batch", "no incident to record", "items");
  if (inputs.size() > m_options.max_batch) {
    throw Error(ErrorKind::too_large, "too_many_incidents",
                std::to_string(inputs.size()) + " incidents in one request; at most " +
                    std::to_string(m_options.max_batch) + " are allowed",
                "items");
  }
  const auto snapshot = m_catalog.snapshot();
  const TimePoint now = m_clock();
  const std::string now_text = format_iso8601(now);
  std::vector<Incident> incidents;
  std::vector<IncidentEvent> events;
  incidents.reserve(inputs.size());
  for (auto& in : inputs) {
    const std::string& w = in.where;
    if (in.category.empty()) throw_invalid("missing_category", "an incident needs a category", join_field(w, "category"));
    const Category* category = m_categories.find(in.category);
    if (!category) {
      throw_invalid("unknown_category",
                    "unknown category '" + in.category + "' (GET /categories lists them)", join_field(w, "category"));
    }
    if (!in.position) {
      throw_invalid("missing_position", "an incident needs a position (lon and lat, or x and y with crs)",
                    join_field(w, "position"));
    }
    check_length(in.description, m_options.max_text, join_field(w, "description"));
    check_length(in.address, 1000, join_field(w, "address"));
    check_line(in.reporter_name, 200, join_field(w, "reporter/name"));
    check_line(in.reporter_phone, 64, join_field(w, "reporter/phone"));
    check_length(in.actor, 200, join_field(w, "actor"));
    if (in.attributes.dump().size() > m_options.max_text * 4) {
      throw Error(ErrorKind::too_large, "text_too_long", "attributes are too large", join_field(w, "attributes"));
    }
    Incident inc;
    inc.category = category->code;
    inc.handler = category->handler;
    inc.description = std::move(in.description);
    inc.address = std::move(in.address);
    inc.channel = in.channel.empty() ? "api" : in.channel;
    if (!is_token(inc.channel, 32)) {
      throw_invalid("invalid_channel",
                    "channel '" + inc.channel + "' must be 1..32 characters of [a-z0-9_] (door_knock, hotline, ...)",
                    join_field(w, "channel"));
    }
    inc.priority = in.priority.empty() ? Priority::normal : parse_priority(in.priority, join_field(w, "priority"));
    inc.reporter_name = std::move(in.reporter_name);
    inc.reporter_phone = std::move(in.reporter_phone);
    inc.attributes = std::move(in.attributes);
    try {
      to_wgs84(*in.position, inc.lon, inc.lat);
    } catch (const Error& e) {
      throw Error(e.kind(), e.code(), e.what(), join_field(w, "position/" + e.field()));
    }
    inc.reported_position = Json{{"x", in.position->x}, {"y", in.position->y},
                                 {"crs", in.position->crs.empty() ? "EPSG:4326" : in.position->crs}};
    LocateOptions lo;
    lo.k = 0;
    const LocateResult located = locate_wgs84(*snapshot, inc.lon, inc.lat, lo);
    assign(inc, *snapshot, located.owner);
    inc.covered = located.covered;
    inc.distance_m = located.covered ? 0.0 : std::round(located.owner_distance_m * 100) / 100;
    inc.tracking_code = new_tracking_code();
    if (admit) admit(inc, w);
    inc.status = IncidentStatus::reported;
    inc.version = 1;
    inc.created_at = now_text;
    inc.updated_at = now_text;

    IncidentEvent ev;
    ev.version = 1;
    ev.action = "report";
    ev.to = IncidentStatus::reported;
    ev.actor = in.actor;
    ev.at = now_text;
    ev.grid_id = inc.grid_id;
    ev.data = Json{{"channel", inc.channel}, {"covered", inc.covered}};
    if (!inc.covered) ev.data["distance_m"] = inc.distance_m;
    incidents.push_back(std::move(inc));
    events.push_back(std::move(ev));
  }
  {
    std::lock_guard commit(m_commit_mutex);
    const auto t0 = std::chrono::steady_clock::now();
    m_store.insert(incidents, events);
    m_store_writes.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    for (const auto& i : incidents) m_open.apply(i);
  }
  m_feed.publish(events.back().id);
  std::vector<spatial::Envelope> positions;
  positions.reserve(incidents.size());
  for (const auto& i : incidents) positions.push_back({i.lon, i.lat, i.lon, i.lat});
  m_listeners.notify(positions);
  return incidents;
}

Incident IncidentService::require(std::int64_t id) const {
  auto inc = m_store.get(id);
  if (!inc) throw_not_found("incident_not_found", "no incident with id " + std::to_string(id), "id");
  return *inc;
}

std::vector<IncidentEvent> IncidentService::history(std::int64_t id) const {
  (void)require(id);
  return m_store.history(id);
}

std::pair<Level, std::int64_t> IncidentService::grid_ref(const std::string& id_or_code, const std::string& field) const {
  const auto snapshot = m_catalog.snapshot();
  const GridEntry* g = snapshot->grid_by_code(id_or_code);
  if (!g && !id_or_code.empty() && id_or_code.size() < 19 &&
      std::all_of(id_or_code.begin(), id_or_code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    g = snapshot->grid_by_id(std::stoll(id_or_code));
  }
  if (!g) throw_not_found("grid_not_found", "no grid with id or code '" + id_or_code + "'", field);
  return {g->grid.level, g->grid.id};
}

Incident IncidentService::transition(std::int64_t id, const TransitionInput& in) {
  check_length(in.note, m_options.max_text, "note");
  check_length(in.actor, 200, "actor");
  check_length(in.reason, 200, "reason");
  std::lock_guard lock(m_transition_mutex);
  Incident inc = require(id);
  if (in.expected_status && *in.expected_status != inc.status) {
    throw_conflict("stale_state",
                   "incident " + std::to_string(id) + " is " + std::string(to_string(inc.status)) + ", not " +
                       std::string(to_string(*in.expected_status)) + "; reload it",
                   "expected_status");
  }
  if (in.expected_version && *in.expected_version != inc.version) {
    throw_conflict("stale_version",
                   "incident " + std::to_string(id) + " is at version " + std::to_string(inc.version) + ", not " +
                       std::to_string(*in.expected_version) + "; reload it",
                   "version");
  }
  const IncidentStatus from = inc.status;
  const IncidentStatus to = apply_transition(from, in.action);
  if (in.satisfaction && (*in.satisfaction < 1 || *in.satisfaction > 5)) {
    throw_invalid("invalid_satisfaction", "satisfaction must be an integer from 1 (very unsatisfied) to 5", "satisfaction");
  }
  if (!in.grid.empty() && in.action != IncidentAction::dispatch) {
    throw_invalid("unexpected_grid", "only dispatch takes a grid", "grid");
  }
  // Attachments named by the step must belong to this incident.
  for (std::size_t k = 0; k < in.attachments.size(); ++k) {
    auto a = m_store.attachment(in.attachments[k], false);
    if (!a || a->incident_id != id) {
      throw_invalid("unknown_attachment",
                    "attachment " + std::to_string(in.attachments[k]) + " does not belong to incident " + std::to_string(id),
                    "attachments/" + std::to_string(k));
    }
  }

  const TimePoint now = m_clock();
  const std::string now_text = format_iso8601(now);
  IncidentEvent ev;
  ev.action = std::string(to_string(in.action));
  ev.from = from;
  ev.to = to;
  ev.actor = in.actor;
  ev.note = in.note;
  ev.at = now_text;
  ev.attachments = in.attachments;
  if (!in.reason.empty()) ev.data["reason"] = in.reason;

  const auto snapshot = m_catalog.snapshot();
  switch (in.action) {
    case IncidentAction::reject:
      if (in.reason.empty()) {
        throw_invalid("missing_reason", "a rejection needs a reason (duplicate, not_a_case, ...)", "reason");
      }
      break;
    case IncidentAction::dispatch: {
      if (!in.grid.empty()) {
        const auto [level, gid] = grid_ref(in.grid, "grid");
        (void)level;
        if (gid != inc.grid_id) ev.data["previous_grid_id"] = inc.grid_id;
        assign(inc, *snapshot, snapshot->grid_by_id(gid));
        inc.covered = true;  // a dispatcher's assignment settles the flag
      }
      const Category* category = m_categories.find(inc.category);
      const TimePoint due = category ? due_at(*category, now) : now;
      inc.dispatched_at = now_text;
      // The stored instants are milliseconds; compute from them so the
      // store's colour queries and colour() agree exactly.
      const TimePoint d = parse_stored(now_text);
      const TimePoint u = parse_stored(format_iso8601(due));
      const auto total = u - d;
      inc.due_at = format_iso8601(u);
      inc.near_due_at = format_iso8601(d + (total - total / 4));
      inc.resolved_at.clear();
      inc.closed_at.clear();
      ev.data["due_at"] = inc.due_at;
      break;
    }
    case IncidentAction::escalate: {
      const GridEntry* current = snapshot->grid_by_id(inc.grid_id);
      const GridEntry* parent = current && !current->grid.parent_code.empty()
                                    ? snapshot->grid_by_code(current->grid.parent_code)
                                    : nullptr;
      if (!parent) {
        throw_conflict("no_parent_grid", "the assigned grid has no parent level to escalate to", "action");
      }
      ev.data["previous_grid_id"] = inc.grid_id;
      assign(inc, *snapshot, parent);
      ++inc.escalation_level;
      break;
    }
    case IncidentAction::resolve:
      if (in.note.empty()) throw_invalid("missing_note", "resolving needs the handler's feedback in note", "note");
      inc.resolved_at = now_text;
      break;
    case IncidentAction::send_back:
      inc.resolved_at.clear();
      break;
    case IncidentAction::close:
      inc.closed_at = now_text;
      if (in.satisfaction) inc.satisfaction = *in.satisfaction;
      break;
    case IncidentAction::reopen:
      inc.closed_at.clear();
      break;
    case IncidentAction::follow_up:
      if (!in.satisfaction) {
        throw_invalid("missing_satisfaction", "a follow-up records the resident's satisfaction (1..5)", "satisfaction");
      }
      inc.satisfaction = *in.satisfaction;
      break;
    default:
      break;
  }
  if (in.satisfaction) ev.data["satisfaction"] = *in.satisfaction;
  const std::int64_t expected = inc.version;
  inc.status = to;
  inc.version = expected + 1;
  inc.updated_at = now_text;
  ev.version = inc.version;
  ev.grid_id = inc.grid_id;
  {
    std::lock_guard commit(m_commit_mutex);
    const auto t0 = std::chrono::steady_clock::now();
    m_store.update(inc, expected, ev);
    m_store_writes.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    m_open.apply(inc);
  }
  m_feed.publish(ev.id);
  m_listeners.notify({{inc.lon, inc.lat, inc.lon, inc.lat}});
  return inc;
}

storage::ColourClock IncidentService::clock_at(TimePoint at) const {
  return storage::ColourClock{format_iso8601(at), format_iso8601(local_day_end(at, m_options.utc_offset_minutes))};
}

Colour IncidentService::colour(const Incident& inc, TimePoint at) const {
  // Mirrors the store's SQL (k_colour_sql) on the stored text instants.
  if (!deadline_running(inc.status) || inc.dispatched_at.empty()) return Colour::none;
  if (inc.due_at.empty()) return Colour::on_track;
  const storage::ColourClock c = clock_at(at);
  if (inc.due_at < c.now) return Colour::overdue;
  if (inc.due_at < c.day_end) return Colour::due_today;
  if (!inc.near_due_at.empty() && inc.near_due_at <= c.now) return Colour::near_due;
  return Colour::on_track;
}

storage::IncidentPage IncidentService::list(storage::IncidentQuery query, std::optional<TimePoint> at) const {
  query.clock = clock_at(at.value_or(m_clock()));
  return m_store.list(query);
}

std::int64_t IncidentService::count(const storage::IncidentFilter& filter, std::optional<TimePoint> at) const {
  return m_store.count(filter, clock_at(at.value_or(m_clock())));
}

std::vector<StatsEntry> IncidentService::stats(storage::StatsQuery query, std::optional<TimePoint> at) const {
  query.clock = clock_at(at.value_or(m_clock()));
  query.utc_offset_minutes = m_options.utc_offset_minutes;
  const auto rows = m_store.stats(query);
  const auto snapshot = m_catalog.snapshot();
  std::vector<StatsEntry> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    StatsEntry e;
    e.row = row;
    if (query.group == storage::StatsGroup::grid) {
      const GridEntry* g = row.key.empty() ? nullptr : snapshot->grid_by_id(std::stoll(row.key));
      e.label = g ? Json{{"id", g->grid.id}, {"code", g->grid.code}, {"name", g->grid.name},
                         {"level", to_string(g->grid.level)}}
                  : Json{{"id", row.key.empty() ? Json(nullptr) : Json(std::stoll(row.key))}};
    } else if (query.group == storage::StatsGroup::category) {
      const Category* c = m_categories.find(row.key);
      e.label = c ? Json{{"code", c->code}, {"name", c->name}, {"name_en", c->name_en}, {"group", c->group}}
                  : Json{{"code", row.key}};
    }
    out.push_back(std::move(e));
  }
  return out;
}

Attachment IncidentService::add_attachment(std::int64_t incident_id, std::string bytes, std::string filename) {
  if (bytes.empty()) throw_invalid("empty_attachment", "the attachment is empty", "body");
  if (bytes.size() > m_options.max_attachment_bytes) {
    throw Error(ErrorKind::too_large, "attachment_too_large",
                "the attachment is " + std::to_string(bytes.size()) + " bytes; at most " +
                    std::to_string(m_options.max_attachment_bytes) + " are allowed",
                "body");
  }
  check_length(filename, 255, "filename");
  (void)require(incident_id);
  if (m_store.attachments_of(incident_id).size() >= m_options.max_attachments_per_incident) {
    throw Error(ErrorKind::too_large, "too_many_attachments",
                "incident " + std::to_string(incident_id) + " already has " +
                    std::to_string(m_options.max_attachments_per_incident) + " attachments",
                "body");
  }
  const ImageInfo image = inspect_image(bytes);
  Attachment a;
  a.media_type = image.media_type;
  a.width = image.width;
  a.height = image.height;
  a.incident_id = incident_id;
  a.filename = std::move(filename);
  a.size = static_cast<std::int64_t>(bytes.size());
  a.created_at = format_iso8601(m_clock());
  a.data = std::move(bytes);
  m_store.add_attachment(a);
  a.data.clear();
  return a;
}

}  // namespace gridd::service
