#include "gridd/service/catalog.hpp"

#include <iostream>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/spatial/geos.hpp"

namespace gridd::service {

namespace {

std::shared_ptr<const GridEntry> make_entry(Grid g) {
  spatial::GeomPtr geom = spatial::from_wkb(g.wkb);
  return std::make_shared<const GridEntry>(std::move(g), std::move(geom));
}

/// The entries of `from` whose id is not in `removed`.
template <class Entry, class IdOf>
std::vector<std::shared_ptr<const Entry>> kept(const std::vector<std::shared_ptr<const Entry>>& from,
                                               const std::unordered_set<std::int64_t>& removed, IdOf id_of) {
  std::vector<std::shared_ptr<const Entry>> out;
  out.reserve(from.size() + 1);
  for (const auto& e : from) {
    if (!removed.count(id_of(*e))) out.push_back(e);
  }
  return out;
}

std::int64_t grid_id(const GridEntry& e) { return e.grid.id; }
std::int64_t station_id(const StationEntry& e) { return e.id; }

/// The checks of one grid on its own (code, name, geometry), for creates,
/// upserts and updates alike. Grids are stored as MultiPolygons (the
/// GeoPackage layer's type), so the live copy becomes one too.
void check_grid_input(GridInput& in) {
  validate_grid_input(in);
  in.geometry = spatial::as_multi_polygon(std::move(in.geometry));
}

}  // namespace

Catalog::Catalog(std::unique_ptr<storage::Store> store, CatalogOptions options)
    : m_store(std::move(store)), m_options(std::move(options)) {
  std::vector<std::shared_ptr<const GridEntry>> grids;
  for (auto& g : m_store->load_grids()) {
    if (g.wkb.empty()) continue;
    grids.push_back(make_entry(std::move(g)));
  }
  std::vector<std::shared_ptr<const StationEntry>> stations;
  for (auto& s : m_store->load_stations()) stations.push_back(std::make_shared<const StationEntry>(std::move(s)));
  m_snapshot.store(std::make_shared<const Snapshot>(1, std::move(grids), std::move(stations)));
  m_change_times = m_store->grid_change_times();
}

Catalog::~Catalog() = default;

std::shared_ptr<const Snapshot> Catalog::snapshot() const {
  // The thread's GEOS context first: thread-locals die in reverse order of
  // construction, so a snapshot the thread still holds at its exit is freed
  // while the context its geometries were made for is alive.
  (void)spatial::geos();
  return m_snapshot.load();
}

void Catalog::publish(std::shared_ptr<const Snapshot> next) { m_snapshot.store(std::move(next)); }

namespace {

/// Entries of two id-sorted lists that differ (added, removed or replaced):
/// calls f for each such entry of either list.
template <class T, class F>
void for_each_changed(const std::vector<std::shared_ptr<const T>>& a, const std::vector<std::shared_ptr<const T>>& b,
                      F f, std::int64_t (*id)(const T&)) {
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && id(*a[i]) < id(*b[j]))) {
      f(*a[i++]);
    } else if (i == a.size() || id(*b[j]) < id(*a[i])) {
      f(*b[j++]);
    } else {
      if (a[i] != b[j]) {
        f(*a[i]);
        f(*b[j]);
      }
      ++i;
      ++j;
    }
  }
}

}  // namespace

void Catalog::publish_grids(const Snapshot& previous, std::vector<std::shared_ptr<const GridEntry>> grids) {
  std::vector<spatial::Envelope> changed;
  for_each_changed<GridEntry>(previous.grids(), grids, [&](const GridEntry& e) { changed.push_back(e.shape.envelope()); },
                              &grid_id);
  publish(std::make_shared<const Snapshot>(previous.version() + 1, std::move(grids),
                                           std::vector<std::shared_ptr<const StationEntry>>(previous.stations())));
  if (!changed.empty()) m_listeners.notify(changed, {});
}

void Catalog::publish_stations(const Snapshot& previous, std::vector<std::shared_ptr<const StationEntry>> stations) {
  std::vector<spatial::Envelope> changed;
  for_each_changed<StationEntry>(previous.stations(), stations,
                                 [&](const StationEntry& e) { changed.push_back({e.lon, e.lat, e.lon, e.lat}); },
                                 &station_id);
  publish(std::make_shared<const Snapshot>(previous.version() + 1,
                                           std::vector<std::shared_ptr<const GridEntry>>(previous.grids()),
                                           std::move(stations)));
  if (!changed.empty()) m_listeners.notify({}, changed);
}

namespace {

bool same_station(const Station& a, const Station& b) {
  return a.id == b.id && a.code == b.code && a.name == b.name && a.kind == b.kind && a.lon == b.lon &&
         a.lat == b.lat && a.address == b.address && a.contact == b.contact && a.hours == b.hours &&
         a.attributes == b.attributes && a.created_at == b.created_at && a.updated_at == b.updated_at;
}

}  // namespace

Catalog::ReloadResult Catalog::reload() {
  std::lock_guard lock(m_write_mutex);
  std::vector<Grid> stored_grids = m_store->load_grids();
  std::vector<Station> stored_stations = m_store->load_stations();
  std::vector<std::string> change_times = m_store->grid_change_times();
  const auto snap = snapshot();
  ReloadResult result;

  // Grids: keep the entry (and its prepared geometry) of an unchanged version.
  std::unordered_map<std::int64_t, const std::shared_ptr<const GridEntry>*> current;
  for (const auto& e : snap->grids()) current.emplace(e->grid.id, &e);
  std::vector<std::shared_ptr<const GridEntry>> grids;
  grids.reserve(stored_grids.size());
  for (auto& g : stored_grids) {
    if (g.wkb.empty()) continue;
    const auto it = current.find(g.id);
    if (it != current.end() && (*it->second)->grid.version == g.version &&
        (*it->second)->grid.updated_at == g.updated_at) {
      grids.push_back(*it->second);
    } else {
      grids.push_back(make_entry(std::move(g)));
    }
  }
  std::sort(grids.begin(), grids.end(), [](const auto& a, const auto& b) { return a->grid.id < b->grid.id; });
  std::unordered_set<std::int64_t> changed;
  for_each_changed<GridEntry>(snap->grids(), grids, [&](const GridEntry& e) { changed.insert(e.grid.id); }, &grid_id);
  result.grids_changed = changed.size();

  std::unordered_map<std::int64_t, const std::shared_ptr<const StationEntry>*> stations_now;
  for (const auto& e : snap->stations()) stations_now.emplace(e->id, &e);
  std::vector<std::shared_ptr<const StationEntry>> stations;
  stations.reserve(stored_stations.size());
  for (auto& s : stored_stations) {
    const auto it = stations_now.find(s.id);
    if (it != stations_now.end() && same_station(**it->second, s)) {
      stations.push_back(*it->second);
    } else {
      stations.push_back(std::make_shared<const StationEntry>(std::move(s)));
    }
  }
  std::sort(stations.begin(), stations.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  changed.clear();
  for_each_changed<StationEntry>(snap->stations(), stations, [&](const StationEntry& e) { changed.insert(e.id); },
                                 &station_id);
  result.stations_changed = changed.size();

  if (result.grids_changed > 0) {
    {
      std::lock_guard past(m_past_mutex);
      m_change_times = std::move(change_times);
      m_past.clear();
    }
    publish_grids(*snap, std::move(grids));
  }
  if (result.stations_changed > 0) publish_stations(*snapshot(), std::move(stations));
  return result;
}

std::uint64_t Catalog::add_change_listener(ChangeListener listener) { return m_listeners.add(std::move(listener)); }

void Catalog::remove_change_listener(std::uint64_t token) { m_listeners.remove(token); }

// ---------------------------------------------------------------------------
// Grids
// ---------------------------------------------------------------------------

std::vector<std::int64_t> Catalog::write_grids(std::vector<GridInput> inputs, bool upsert,
                                               std::pair<std::size_t, std::size_t>* counts,
                                               const EditOptions& options) {
  std::lock_guard lock(m_write_mutex);
  const auto snap = snapshot();
  const std::string now = now_iso8601();

  // Validate each input on its own, then the batch against the snapshot.
  std::unordered_map<std::string, std::size_t> batch_codes;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    GridInput& in = inputs[i];
    Grid& g = in.grid;
    check_grid_input(in);
    if (!g.parent_code.empty() && g.parent_code == g.code) {
      throw_invalid("invalid_parent", "a grid cannot be its own parent", property_field(in.where, "parent"));
    }
    if (!batch_codes.emplace(g.code, i).second) {
      throw_conflict("duplicate_code", "code '" + g.code + "' appears twice in the request",
                     property_field(in.where, "code"));
    }
    if (!upsert) {
      if (const GridEntry* existing = snap->grid_by_code(g.code)) {
        throw_conflict("duplicate_code", "a grid with code '" + g.code + "' already exists (id " +
                                             std::to_string(existing->grid.id) + ")",
                       property_field(in.where, "code"));
      }
    }
  }

  storage::ChangeSet changes;
  std::vector<std::size_t> insert_positions;  // input index of each insert
  std::size_t updated = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    GridInput& in = inputs[i];
    Grid& g = in.grid;
    const GridEntry* existing = snap->grid_by_code(g.code);
    // The parent: in the store, or earlier or later in this batch, and coarser.
    if (!g.parent_code.empty()) {
      std::optional<Level> parent_level;
      if (auto it = batch_codes.find(g.parent_code); it != batch_codes.end()) {
        parent_level = inputs[it->second].grid.level;
      } else if (const GridEntry* p = snap->grid_by_code(g.parent_code)) {
        parent_level = p->grid.level;
      }
      if (!parent_level) {
        throw_invalid("unknown_parent", "parent '" + g.parent_code + "' does not exist", property_field(in.where, "parent"));
      }
      if (*parent_level >= g.level) {
        throw_invalid("invalid_parent",
                      "parent '" + g.parent_code + "' is a " + std::string(to_string(*parent_level)) +
                          ", not coarser than this " + std::string(to_string(g.level)),
                      property_field(in.where, "parent"));
      }
    }
    if (existing) {
      // Existing children (not re-sent in this batch) must stay finer.
      for (std::size_t c : snap->children_of(g.code)) {
        const Grid& child = snap->grids()[c]->grid;
        auto in_batch = batch_codes.find(child.code);
        const Level child_level = in_batch != batch_codes.end() ? inputs[in_batch->second].grid.level : child.level;
        const bool still_child =
            in_batch == batch_codes.end() || inputs[in_batch->second].grid.parent_code == g.code;
        if (still_child && child_level <= g.level) {
          throw_conflict("invalid_level",
                         "grid '" + g.code + "' cannot become a " + std::string(to_string(g.level)) +
                             ": its child '" + child.code + "' is a " + std::string(to_string(child_level)),
                         property_field(in.where, "level"));
        }
      }
    }
    g.wkb = spatial::to_wkb(in.geometry.get());
    g.updated_at = now;
    if (existing) {
      g.id = existing->grid.id;
      g.created_at = existing->grid.created_at;
      g.version = existing->grid.version + 1;
      changes.grid_updates.push_back(g);
      ++updated;
    } else {
      g.id = 0;
      g.created_at = now;
      g.version = 1;
      changes.grid_inserts.push_back(g);
      insert_positions.push_back(i);
    }
  }

  if (!upsert && options.check_topology) {
    std::vector<TopologyGrid> changed;
    for (const GridInput& in : inputs) {
      changed.push_back({0, in.grid.code, in.grid.name, in.grid.level, in.grid.parent_code, in.geometry.get()});
    }
    const auto defects = edit_defects(*snap, changed, {}, options.topology);
    if (!options.draft) refuse_defects(defects);
  }
  changes.at = now;
  changes.editor = options.editor;
  changes.reason = options.reason;
  changes.draft = options.draft;
  changes.operation = upsert ? "import" : "";
  const storage::ChangeResult result = m_store->apply(changes);
  remember_change(now);

  // Publish: the old entries minus the replaced ones, plus the new ones.
  std::unordered_set<std::int64_t> replaced;
  for (const auto& g : changes.grid_updates) replaced.insert(g.id);
  std::vector<std::shared_ptr<const GridEntry>> grids = kept(snap->grids(), replaced, grid_id);
  std::vector<std::int64_t> ids(inputs.size(), 0);
  for (auto& g : changes.grid_updates) {
    ids[batch_codes.at(g.code)] = g.id;
    grids.push_back(make_entry(std::move(g)));
  }
  for (std::size_t j = 0; j < changes.grid_inserts.size(); ++j) {
    Grid& g = changes.grid_inserts[j];
    g.id = result.grid_ids.at(j);
    ids[insert_positions[j]] = g.id;
    grids.push_back(make_entry(std::move(g)));
  }
  publish_grids(*snap, std::move(grids));
  if (counts) *counts = {changes.grid_inserts.size(), updated};
  return ids;
}

std::vector<std::int64_t> Catalog::create_grids(std::vector<GridInput> inputs, const EditOptions& options) {
  return write_grids(std::move(inputs), false, nullptr, options);
}

std::pair<std::size_t, std::size_t> Catalog::upsert_grids(std::vector<GridInput> inputs, const EditOptions& options) {
  std::pair<std::size_t, std::size_t> counts;
  write_grids(std::move(inputs), true, &counts, options);
  return counts;
}

void Catalog::update_grid(std::int64_t id, GridInput input, const EditOptions& options) {
  EditPlan plan;
  plan.operation = "update";
  {
    const auto snap = snapshot();
    const GridEntry* existing = snap->grid_by_id(id);
    if (!existing) throw_not_found("grid_not_found", "no grid with id " + std::to_string(id), "id");
    if (input.grid.code.empty()) input.grid.code = existing->grid.code;
    input.grid.id = id;
    const std::string new_code = input.grid.code;
    plan.updates.push_back(std::move(input));
    if (new_code != existing->grid.code) {  // children follow the new code
      for (std::size_t c : snap->children_of(existing->grid.code)) {
        const GridEntry& child = *snap->grids()[c];
        GridInput ci{child.grid, spatial::clone(child.shape.geometry()), ""};
        ci.grid.parent_code = new_code;
        plan.updates.push_back(std::move(ci));
      }
    }
  }
  apply(std::move(plan), options);
}

void Catalog::delete_grid(std::int64_t id, const EditOptions& options) {
  EditPlan plan;
  plan.operation = "delete";
  plan.deletes.push_back(id);
  apply(std::move(plan), options);
}

// ---------------------------------------------------------------------------
// Stations
// ---------------------------------------------------------------------------

std::vector<std::int64_t> Catalog::write_stations(std::vector<StationInput> inputs, bool upsert,
                                                  std::pair<std::size_t, std::size_t>* counts) {
  std::lock_guard lock(m_write_mutex);
  const auto snap = snapshot();
  const std::string now = now_iso8601();
  std::unordered_map<std::string, std::size_t> batch_codes;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    validate_station(inputs[i]);
    const std::string& code = inputs[i].station.code;
    if (!code.empty() && !batch_codes.emplace(code, i).second) {
      throw_conflict("duplicate_code", "code '" + code + "' appears twice in the request",
                     property_field(inputs[i].where, "code"));
    }
  }
  storage::ChangeSet changes;
  std::vector<std::size_t> insert_positions, update_positions;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Station s = inputs[i].station;
    const StationEntry* existing = s.code.empty() ? nullptr : snap->station_by_code(s.code);
    if (existing && !upsert) {
      throw_conflict("duplicate_code", "a station with code '" + s.code + "' already exists (id " +
                                           std::to_string(existing->id) + ")",
                     property_field(inputs[i].where, "code"));
    }
    s.updated_at = now;
    if (existing) {
      s.id = existing->id;
      s.created_at = existing->created_at;
      changes.station_updates.push_back(std::move(s));
      update_positions.push_back(i);
    } else {
      s.id = 0;
      s.created_at = now;
      changes.station_inserts.push_back(std::move(s));
      insert_positions.push_back(i);
    }
  }
  const storage::ChangeResult result = m_store->apply(changes);
  std::unordered_set<std::int64_t> replaced;
  for (const auto& s : changes.station_updates) replaced.insert(s.id);
  std::vector<std::shared_ptr<const StationEntry>> stations = kept(snap->stations(), replaced, station_id);
  std::vector<std::int64_t> ids(inputs.size(), 0);
  for (std::size_t j = 0; j < changes.station_updates.size(); ++j) {
    ids[update_positions[j]] = changes.station_updates[j].id;
    stations.push_back(std::make_shared<const StationEntry>(std::move(changes.station_updates[j])));
  }
  for (std::size_t j = 0; j < changes.station_inserts.size(); ++j) {
    Station& s = changes.station_inserts[j];
    s.id = result.station_ids.at(j);
    ids[insert_positions[j]] = s.id;
    stations.push_back(std::make_shared<const StationEntry>(std::move(s)));
  }
  publish_stations(*snap, std::move(stations));
  if (counts) *counts = {changes.station_inserts.size(), changes.station_updates.size()};
  return ids;
}

std::vector<std::int64_t> Catalog::create_stations(std::vector<StationInput> inputs) {
  return write_stations(std::move(inputs), false, nullptr);
}

std::pair<std::size_t, std::size_t> Catalog::upsert_stations(std::vector<StationInput> inputs) {
  std::pair<std::size_t, std::size_t> counts;
  write_stations(std::move(inputs), true, &counts);
  return counts;
}

void Catalog::update_station(std::int64_t id, StationInput input) {
  std::lock_guard lock(m_write_mutex);
  const auto snap = snapshot();
  const StationEntry* existing = snap->station_by_id(id);
  if (!existing) throw_not_found("station_not_found", "no station with id " + std::to_string(id), "id");
  validate_station(input);
  Station s = std::move(input.station);
  if (!s.code.empty()) {
    if (const StationEntry* other = snap->station_by_code(s.code); other && other->id != id) {
      throw_conflict("duplicate_code", "a station with code '" + s.code + "' already exists", property_field(input.where, "code"));
    }
  }
  s.id = id;
  s.created_at = existing->created_at;
  s.updated_at = now_iso8601();
  storage::ChangeSet changes;
  changes.station_updates.push_back(s);
  m_store->apply(changes);
  auto stations = kept(snap->stations(), {id}, station_id);
  stations.push_back(std::make_shared<const StationEntry>(std::move(s)));
  publish_stations(*snap, std::move(stations));
}

void Catalog::delete_station(std::int64_t id) {
  std::lock_guard lock(m_write_mutex);
  const auto snap = snapshot();
  if (!snap->station_by_id(id)) throw_not_found("station_not_found", "no station with id " + std::to_string(id), "id");
  storage::ChangeSet changes;
  changes.station_deletes.push_back(id);
  m_store->apply(changes);
  publish_stations(*snap, kept(snap->stations(), {id}, station_id));
}

}  // namespace gridd::service
