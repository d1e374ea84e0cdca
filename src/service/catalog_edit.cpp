// The planner's side of the Catalog: edit plans (checked, previewed, then
// applied in one transaction), split/merge/snap/restore, the version history
// and the grids as they were at a past moment.

#include <algorithm>
#include <cmath>
#include <tuple>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/core/text.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/editing.hpp"
#include "gridd/spatial/geodesic.hpp"

namespace gridd::service {

namespace {

TopologyGrid topology_of(const GridInput& in) {
  return {in.grid.id, in.grid.code, in.grid.name, in.grid.level, in.grid.parent_code, in.geometry.get()};
}

}  // namespace

void refuse_defects(const std::vector<Defect>& defects) {
  std::vector<const Defect*> refusing;
  for (const Defect& d : defects) {
    if (refuses_edit(d.type)) refusing.push_back(&d);
  }
  if (refusing.empty()) return;
  std::string message = "the edit would create " + std::to_string(refusing.size()) + " topology defect" +
                        (refusing.size() == 1 ? "" : "s") + ": " + refusing.front()->message;
  if (refusing.size() > 1) message += " (and " + std::to_string(refusing.size() - 1) + " more)";
  message += "; fix the geometry or save it as a draft";
  throw Error(ErrorKind::conflict, "topology_defects", message, "geometry")
      .with_details(defects_collection(defects).dump());
}

void Catalog::remember_change(const std::string& at) {
  std::lock_guard lock(m_past_mutex);
  m_change_times.insert(std::upper_bound(m_change_times.begin(), m_change_times.end(), at), at);
  m_past.clear();  // a change within the same millisecond as a cached moment
}

EditOutcome Catalog::check_plan(const Snapshot& snap, EditPlan& plan, const TopologyOptions& topology,
                                const std::string& now) const {
  EditOutcome out;
  std::unordered_set<std::int64_t> deleting;
  for (std::int64_t id : plan.deletes) {
    if (!snap.grid_by_id(id)) throw_not_found("grid_not_found", "no grid with id " + std::to_string(id), "id");
    if (!deleting.insert(id).second) throw_invalid("duplicate_id", "grid " + std::to_string(id) + " is deleted twice", "ids");
  }
  // The codes and levels after the plan, for uniqueness and parent checks.
  std::unordered_set<std::int64_t> replacing;
  for (const GridInput& u : plan.updates) replacing.insert(u.grid.id);
  std::unordered_map<std::string, const Grid*> planned;  // code -> planned grid
  auto final_grid = [&](const std::string& code) -> std::pair<bool, Level> {
    if (auto it = planned.find(code); it != planned.end()) return {true, it->second->level};
    const GridEntry* e = snap.grid_by_code(code);
    if (e && !deleting.count(e->grid.id) && !replacing.count(e->grid.id)) return {true, e->grid.level};
    return {false, Level::grid};
  };

  auto check_one = [&](GridInput& in, bool is_update) {
    Grid& g = in.grid;
    validate_grid_input(in);
    in.geometry = spatial::as_multi_polygon(std::move(in.geometry));
    if (!planned.emplace(g.code, &g).second) {
      throw_conflict("duplicate_code", "code '" + g.code + "' appears twice in the edit", property_field(in.where, "code"));
    }
    if (const GridEntry* other = snap.grid_by_code(g.code);
        other && other->grid.id != g.id && !deleting.count(other->grid.id) && !replacing.count(other->grid.id)) {
      throw_conflict("duplicate_code",
                     "a grid with code '" + g.code + "' already exists (id " + std::to_string(other->grid.id) + ")",
                     property_field(in.where, "code"));
    }
    if (is_update) {
      const GridEntry* existing = snap.grid_by_id(g.id);
      if (!existing) throw_not_found("grid_not_found", "no grid with id " + std::to_string(g.id), "id");
      if (deleting.count(g.id)) throw_invalid("invalid_plan", "grid " + std::to_string(g.id) + " is both updated and deleted", "id");
      g.version = existing->grid.version + 1;
      g.created_at = existing->grid.created_at;
    } else if (g.id != 0) {
      if (snap.grid_by_id(g.id)) {
        throw_conflict("grid_exists", "grid " + std::to_string(g.id) + " exists; restore it as an update", "id");
      }
      std::int64_t last = 0;
      for (const GridVersion& v : m_store->grid_history(g.id)) last = std::max(last, v.grid.version);
      g.version = last + 1;
      if (g.created_at.empty()) g.created_at = now;
    } else {
      g.version = 1;
      g.created_at = now;
    }
    g.updated_at = now;
    g.wkb = spatial::to_wkb(in.geometry.get());
  };
  for (GridInput& u : plan.updates) check_one(u, true);
  for (GridInput& c : plan.creates) check_one(c, false);

  // Parents exist after the plan and are coarser; children stay finer.
  auto check_parent = [&](const GridInput& in) {
    const Grid& g = in.grid;
    if (g.parent_code.empty()) return;
    if (g.parent_code == g.code) {
      throw_invalid("invalid_parent", "a grid cannot be its own parent", property_field(in.where, "parent"));
    }
    const auto [exists, level] = final_grid(g.parent_code);
    if (!exists) {
      throw_invalid("unknown_parent", "parent '" + g.parent_code + "' does not exist", property_field(in.where, "parent"));
    }
    if (level >= g.level) {
      throw_invalid("invalid_parent",
                    "parent '" + g.parent_code + "' is a " + std::string(to_string(level)) + ", not coarser than this " +
                        std::string(to_string(g.level)),
                    property_field(in.where, "parent"));
    }
  };
  for (const GridInput& u : plan.updates) check_parent(u);
  for (const GridInput& c : plan.creates) check_parent(c);
  auto check_children = [&](const std::string& old_code, const Level* new_level, const std::string& where) {
    for (std::size_t c : snap.children_of(old_code)) {
      const Grid& child = snap.grids()[c]->grid;
      if (deleting.count(child.id) || replacing.count(child.id)) continue;  // gone or re-sent in the plan
      if (!new_level) {
        throw_conflict("has_children", "grid " + old_code + " has " + std::to_string(snap.children_of(old_code).size()) +
                                           " children; delete or move them first",
                       "id");
      }
      if (!final_grid(old_code).first) {
        throw_conflict("has_children", "grid " + old_code + "'s child " + child.code + " would lose its parent", where);
      }
      if (child.level <= *new_level) {
        throw_conflict("invalid_level",
                       "grid '" + old_code + "' cannot become a " + std::string(to_string(*new_level)) + ": its child '" +
                           child.code + "' is a " + std::string(to_string(child.level)),
                       where);
      }
    }
  };
  for (std::int64_t id : plan.deletes) check_children(snap.grid_by_id(id)->grid.code, nullptr, "id");
  for (const GridInput& u : plan.updates) {
    const Grid& old = snap.grid_by_id(u.grid.id)->grid;
    check_children(old.code, &u.grid.level, property_field(u.where, "level"));
  }
  for (const GridInput& in : plan.updates) {
    for (const GridInput& other : plan.updates) {
      if (other.grid.parent_code == in.grid.code && other.grid.level <= in.grid.level) {
        throw_conflict("invalid_level", "grid '" + other.grid.code + "' is not finer than its parent", property_field(other.where, "level"));
      }
    }
  }

  std::vector<TopologyGrid> changed;
  for (const GridInput& u : plan.updates) changed.push_back(topology_of(u));
  for (const GridInput& c : plan.creates) {
    TopologyGrid t = topology_of(c);
    t.id = 0;  // a new grid (or a restored one): nothing to replace
    changed.push_back(t);
  }
  out.defects = edit_defects(snap, changed, plan.deletes, topology);
  for (const GridInput& u : plan.updates) out.grids.push_back(u.grid);
  for (const GridInput& c : plan.creates) out.grids.push_back(c.grid);
  out.deleted = plan.deletes;
  out.split = plan.split;
  out.merge = plan.merge;
  return out;
}

EditOutcome Catalog::preview(const EditPlan& plan, const TopologyOptions& topology) const {
  // Work on a copy: checking fills in versions and converts geometries.
  EditPlan copy;
  copy.operation = plan.operation;
  for (const GridInput& u : plan.updates) copy.updates.push_back({u.grid, spatial::clone(u.geometry.get()), u.where});
  for (const GridInput& c : plan.creates) copy.creates.push_back({c.grid, spatial::clone(c.geometry.get()), c.where});
  copy.deletes = plan.deletes;
  copy.split = plan.split;
  copy.merge = plan.merge;
  const auto snap = snapshot();
  return check_plan(*snap, copy, topology, now_iso8601());
}

EditOutcome Catalog::apply(EditPlan plan, const EditOptions& options) {
  std::lock_guard lock(m_write_mutex);
  const auto snap = snapshot();
  const std::string now = now_iso8601();
  EditOutcome out = check_plan(*snap, plan, options.topology, now);
  if (options.check_topology && !options.draft) refuse_defects(out.defects);

  storage::ChangeSet changes;
  for (const GridInput& u : plan.updates) changes.grid_updates.push_back(u.grid);
  for (const GridInput& c : plan.creates) changes.grid_inserts.push_back(c.grid);
  changes.grid_deletes = plan.deletes;
  changes.at = now;
  changes.editor = options.editor;
  changes.reason = options.reason;
  changes.operation = plan.operation;
  changes.draft = options.draft;
  const storage::ChangeResult result = m_store->apply(changes);
  remember_change(now);

  std::unordered_set<std::int64_t> removed(plan.deletes.begin(), plan.deletes.end());
  for (const GridInput& u : plan.updates) removed.insert(u.grid.id);
  std::vector<std::shared_ptr<const GridEntry>> grids;
  grids.reserve(snap->grids().size() + plan.creates.size());
  for (const auto& e : snap->grids()) {
    if (!removed.count(e->grid.id)) grids.push_back(e);
  }
  for (GridInput& u : plan.updates) grids.push_back(std::make_shared<const GridEntry>(u.grid, std::move(u.geometry)));
  for (std::size_t j = 0; j < plan.creates.size(); ++j) {
    GridInput& c = plan.creates[j];
    c.grid.id = result.grid_ids.at(j);
    out.grids[plan.updates.size() + j].id = c.grid.id;
    grids.push_back(std::make_shared<const GridEntry>(c.grid, std::move(c.geometry)));
  }
  std::sort(grids.begin(), grids.end(), [](const auto& a, const auto& b) { return a->grid.id < b->grid.id; });
  publish_grids(*snap, std::move(grids));
  out.committed = true;
  return out;
}

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

namespace {

/// A code for a new sibling: the national form continues the siblings'
/// numbering (the largest + 1, same width); other codes get a suffix.
std::string free_code(const Snapshot& snap, const Grid& grid, const std::set<std::string>& taken) {
  auto used = [&](const std::string& c) { return taken.count(c) || snap.grid_by_code(c); };
  if (all_digits(grid.code) && grid.code.size() <= 18) {
    unsigned long long best = std::stoull(grid.code);
    for (std::size_t c : snap.children_of(grid.parent_code)) {
      const std::string& sibling = snap.grids()[c]->grid.code;
      if (sibling.size() == grid.code.size() && all_digits(sibling)) best = std::max(best, std::stoull(sibling));
    }
    for (const auto& t : taken) {
      if (t.size() == grid.code.size() && all_digits(t)) best = std::max(best, std::stoull(t));
    }
    std::string next = std::to_string(best + 1);
    if (next.size() <= grid.code.size()) {
      next = std::string(grid.code.size() - next.size(), '0') + next;
      if (!used(next)) return next;
    }
  }
  for (int n = 2;; ++n) {
    std::string c = grid.code + "-" + std::to_string(n);
    if (!used(c)) return c;
  }
}

}  // namespace

std::vector<std::int64_t> divide_by_area(std::int64_t total, const std::vector<double>& areas) {
  std::vector<std::int64_t> out(areas.size(), 0);
  if (areas.empty()) return out;
  double sum = 0;
  for (double a : areas) sum += std::max(a, 0.0);
  if (!(sum > 0)) {
    out[0] = total;
    return out;
  }
  // Largest remainders: every part gets the floor of its share, then the
  // households left over go one each to the largest fractions (ties: the
  // larger part, then the earlier), so the parts sum exactly to the total.
  std::vector<double> fraction(areas.size());
  std::int64_t given = 0;
  for (std::size_t i = 0; i < areas.size(); ++i) {
    const double share = static_cast<double>(total) * std::max(areas[i], 0.0) / sum;
    out[i] = static_cast<std::int64_t>(std::floor(share + 1e-9));
    fraction[i] = share - static_cast<double>(out[i]);
    given += out[i];
  }
  std::vector<std::size_t> order(areas.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (std::abs(fraction[a] - fraction[b]) > 1e-9) return fraction[a] > fraction[b];
    return areas[a] > areas[b];
  });
  for (std::size_t k = 0; given < total; k = (k + 1) % order.size(), ++given) out[order[k]] += 1;
  for (std::size_t k = 0; given > total; k = (k + 1) % order.size()) {  // only from float noise
    if (out[order[order.size() - 1 - k]] > 0) {
      out[order[order.size() - 1 - k]] -= 1;
      --given;
    }
  }
  return out;
}

EditPlan Catalog::plan_split(std::int64_t id, const GEOSGeometry* line,
                             const std::vector<std::pair<std::string, std::string>>& codes_and_names,
                             const std::optional<std::vector<std::int64_t>>& households) const {
  const auto snap = snapshot();
  const GridEntry* e = snap->grid_by_id(id);
  if (!e) throw_not_found("grid_not_found", "no grid with id " + std::to_string(id), "id");
  std::vector<spatial::GeomPtr> parts = split_by_line(e->shape.geometry(), line);
  // The households: the planner's counts, else divided by area.
  std::vector<double> areas;
  for (const auto& part : parts) areas.push_back(spatial::geodesic_area_m2(part.get()));
  SplitSummary summary;
  summary.households = e->grid.households;
  std::vector<std::optional<std::int64_t>> counts(parts.size());
  if (households) {
    if (households->size() != parts.size()) {
      throw_invalid("invalid_households",
                    "households must give one count per part (" + std::to_string(parts.size()) + ": the part kept first, " +
                        "then the new parts), not " + std::to_string(households->size()),
                    "households");
    }
    std::int64_t sum = 0;
    for (std::size_t i = 0; i < households->size(); ++i) {
      if ((*households)[i] < 0) {
        throw_invalid("invalid_households", "a part's households cannot be negative", "households/" + std::to_string(i));
      }
      sum += (*households)[i];
      counts[i] = (*households)[i];
    }
    if (e->grid.households && sum != *e->grid.households) {
      throw_invalid("invalid_households",
                    "the parts' households add up to " + std::to_string(sum) + ", not the grid's " +
                        std::to_string(*e->grid.households),
                    "households");
    }
    summary.by = "given";
  } else if (e->grid.households) {
    const std::vector<std::int64_t> divided = divide_by_area(*e->grid.households, areas);
    for (std::size_t i = 0; i < divided.size(); ++i) counts[i] = divided[i];
    summary.by = "area";
  } else {
    summary.by = "unknown";
  }
  EditPlan plan;
  plan.operation = "split";
  std::set<std::string> taken;
  std::vector<std::string> part_codes;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    Grid g = e->grid;
    if (i > 0) {
      g.id = 0;
      const std::size_t k = i - 1;
      g.code = k < codes_and_names.size() && !codes_and_names[k].first.empty() ? codes_and_names[k].first
                                                                                : free_code(*snap, e->grid, taken);
      g.name = k < codes_and_names.size() && !codes_and_names[k].second.empty()
                   ? codes_and_names[k].second
                   : e->grid.name + "-" + std::to_string(i + 1);
      g.created_at.clear();
      taken.insert(g.code);
    }
    g.households = counts[i];
    part_codes.push_back(g.code);
    summary.parts.push_back({g.code, g.name, areas[i], counts[i], i == 0});
    GridInput in{g, std::move(parts[i]), i == 0 ? "grid" : "parts/" + std::to_string(i)};
    (i == 0 ? plan.updates : plan.creates).push_back(std::move(in));
  }
  // Children go to the part that holds their interior point.
  std::vector<spatial::PreparedPtr> prepared;
  prepared.emplace_back(GEOSPrepare_r(spatial::geos(), plan.updates[0].geometry.get()));
  for (const auto& c : plan.creates) prepared.emplace_back(GEOSPrepare_r(spatial::geos(), c.geometry.get()));
  for (std::size_t c : snap->children_of(e->grid.code)) {
    const GridEntry& child = *snap->grids()[c];
    spatial::GeomPtr p(GEOSPointOnSurface_r(spatial::geos(), child.shape.geometry()));
    std::size_t best = 0;
    for (std::size_t k = 0; k < prepared.size(); ++k) {
      if (p && GEOSPreparedContains_r(spatial::geos(), prepared[k].get(), p.get()) == 1) best = k;
    }
    if (best == 0) continue;
    GridInput ci{child.grid, spatial::clone(child.shape.geometry()), "children/" + child.grid.code};
    ci.grid.parent_code = part_codes[best];
    plan.updates.push_back(std::move(ci));
  }
  plan.split = std::move(summary);
  return plan;
}

EditPlan Catalog::plan_merge(const std::vector<std::int64_t>& ids, std::int64_t keep, bool allow_disjoint) const {
  const auto snap = snapshot();
  if (ids.size() < 2) throw_invalid("too_few_grids", "a merge needs at least two grids", "ids");
  if (keep == 0) keep = ids.front();
  if (std::find(ids.begin(), ids.end(), keep) == ids.end()) {
    throw_invalid("invalid_keep", "the grid kept must be one of the merged grids", "keep");
  }
  std::vector<const GridEntry*> entries;
  std::set<std::int64_t> seen;
  for (std::int64_t id : ids) {
    const GridEntry* e = snap->grid_by_id(id);
    if (!e) throw_not_found("grid_not_found", "no grid with id " + std::to_string(id), "ids");
    if (!seen.insert(id).second) throw_invalid("duplicate_id", "grid " + std::to_string(id) + " is listed twice", "ids");
    entries.push_back(e);
  }
  const GridEntry* kept = snap->grid_by_id(keep);
  std::vector<const GEOSGeometry*> geoms;
  MergeSummary summary;
  // Every person of every grid, the kept grid's first; the same name, phone
  // and role only once.
  std::set<std::tuple<std::string, std::string, std::string>> seen_people;
  auto take_people = [&](const GridEntry* e) {
    for (const Person& p : e->grid.people) {
      if (!seen_people.emplace(p.name, p.phone, p.role).second) {
        ++summary.duplicates;
        continue;
      }
      summary.people.push_back(p);
      if (e != kept) summary.people_added.push_back(p);
    }
  };
  take_people(kept);
  for (const GridEntry* e : entries) {
    if (e != kept) take_people(e);
  }
  for (const GridEntry* e : entries) {
    if (e->grid.parent_code != kept->grid.parent_code || e->grid.level != kept->grid.level) {
      throw_invalid("not_siblings",
                    "grid " + e->grid.code + " is not a sibling of " + kept->grid.code +
                        " (same parent and level are required)",
                    "ids");
    }
    geoms.push_back(e->shape.geometry());
    summary.grids.push_back({e->grid.id, e->grid.code, e->grid.name, e->grid.households, e->grid.people.size(), e == kept});
    if (e->grid.households) {
      summary.households = summary.households.value_or(0) + *e->grid.households;
    } else {
      summary.households_unknown.push_back(e->grid.code);
    }
    if (e != kept) summary.retired.push_back(e->grid.code);
  }
  spatial::GeomPtr merged = dissolve(geoms);
  if (polygon_count(merged.get()) > 1 && !allow_disjoint) {
    throw_invalid("not_adjacent",
                  "the grids do not share a boundary, so the merge would be " +
                      std::to_string(polygon_count(merged.get())) + " separate parts (set allow_disjoint to merge anyway)",
                  "ids");
  }
  EditPlan plan;
  plan.operation = "merge";
  Grid g = kept->grid;
  g.households = summary.households;
  g.people = summary.people;
  plan.updates.push_back({g, std::move(merged), "grid"});
  for (const GridEntry* e : entries) {
    if (e->grid.id == keep) continue;
    plan.deletes.push_back(e->grid.id);
    for (std::size_t c : snap->children_of(e->grid.code)) {
      const GridEntry& child = *snap->grids()[c];
      GridInput ci{child.grid, spatial::clone(child.shape.geometry()), "children/" + child.grid.code};
      ci.grid.parent_code = kept->grid.code;
      plan.updates.push_back(std::move(ci));
    }
  }
  plan.merge = std::move(summary);
  return plan;
}

EditPlan Catalog::plan_snap(std::int64_t id, double tolerance_m, bool to_parent, bool to_neighbours) const {
  const auto snap = snapshot();
  const GridEntry* e = snap->grid_by_id(id);
  if (!e) throw_not_found("grid_not_found", "no grid with id " + std::to_string(id), "id");
  if (!(tolerance_m > 0 && tolerance_m <= 100)) {
    throw_invalid("invalid_tolerance", "tolerance_m must be above 0 and at most 100", "tolerance_m");
  }
  if (!to_parent && !to_neighbours) throw_invalid("invalid_target", "snap to the parent, the neighbours or both", "to");
  const spatial::Envelope env = e->shape.envelope();
  const double tol = metres_to_degrees(tolerance_m, (env.miny + env.maxy) / 2);
  std::vector<GEOSGeometry*> refs;
  auto add_boundary = [&](const GEOSGeometry* g) {
    refs.push_back(spatial::checked(GEOSBoundary_r(spatial::geos(), g), "boundary").release());
  };
  if (to_parent && !e->grid.parent_code.empty()) {
    if (const GridEntry* p = snap->grid_by_code(e->grid.parent_code)) add_boundary(p->shape.geometry());
  }
  if (to_neighbours) {
    const spatial::Envelope grown{env.minx - tol, env.miny - tol, env.maxx + tol, env.maxy + tol};
    auto consider = [&](const GridEntry& s) {
      if (s.grid.id != id && s.grid.level == e->grid.level && grown.intersects(s.shape.envelope())) {
        add_boundary(s.shape.geometry());
      }
    };
    if (e->grid.parent_code.empty()) {
      for (const auto& s : snap->grids()) {
        if (s->grid.parent_code.empty()) consider(*s);
      }
    } else {
      for (std::size_t c : snap->children_of(e->grid.parent_code)) consider(*snap->grids()[c]);
    }
  }
  if (refs.empty()) throw_invalid("nothing_to_snap_to", "the grid has no parent or neighbour to snap to", "to");
  spatial::GeomPtr reference = spatial::checked(
      GEOSGeom_createCollection_r(spatial::geos(), GEOS_GEOMETRYCOLLECTION, refs.data(), static_cast<unsigned>(refs.size())),
      "collect");
  EditPlan plan;
  plan.operation = "snap";
  plan.updates.push_back({e->grid, snap_to(e->shape.geometry(), reference.get(), tol), "grid"});
  return plan;
}

EditPlan Catalog::plan_restore(std::int64_t id, std::int64_t version) const {
  const auto versions = history(id);
  const GridVersion* found = nullptr;
  for (const GridVersion& v : versions) {
    if (v.grid.version == version) found = &v;
  }
  if (!found) {
    throw_not_found("version_not_found", "grid " + std::to_string(id) + " has no version " + std::to_string(version),
                    "version");
  }
  if (found->grid.wkb.empty()) {
    throw_invalid("deleted_version", "version " + std::to_string(version) + " records the deletion; restore an earlier one",
                  "version");
  }
  EditPlan plan;
  plan.operation = "restore";
  GridInput in{found->grid, spatial::from_wkb(found->grid.wkb), "grid"};
  in.grid.id = id;
  const auto snap = snapshot();
  if (snap->grid_by_id(id)) {
    plan.updates.push_back(std::move(in));
  } else {
    plan.creates.push_back(std::move(in));
  }
  return plan;
}

// ---------------------------------------------------------------------------
// History and time travel
// ---------------------------------------------------------------------------

std::vector<GridVersion> Catalog::history(std::int64_t id) const {
  std::vector<GridVersion> versions = m_store->grid_history(id);
  if (versions.empty()) throw_not_found("grid_not_found", "no grid with id " + std::to_string(id) + ", now or ever", "id");
  return versions;
}

std::shared_ptr<const Snapshot> Catalog::snapshot_at(const std::string& at) const {
  std::string key;
  {
    std::lock_guard lock(m_past_mutex);
    auto it = std::upper_bound(m_change_times.begin(), m_change_times.end(), at);
    if (it == m_change_times.end()) return snapshot();
    if (it != m_change_times.begin()) key = *std::prev(it);
    for (auto p = m_past.begin(); p != m_past.end(); ++p) {
      if (p->first == key) {
        m_past.splice(m_past.begin(), m_past, p);
        return m_past.front().second;
      }
    }
  }
  std::vector<std::shared_ptr<const GridEntry>> grids;
  if (!key.empty()) {
    for (Grid& g : m_store->load_grids_at(key)) {
      spatial::GeomPtr geometry = spatial::from_wkb(g.wkb);
      g.wkb.clear();
      grids.push_back(std::make_shared<const GridEntry>(std::move(g), std::move(geometry)));
    }
  }
  const auto now = snapshot();
  auto past = std::make_shared<const Snapshot>(0, std::move(grids),
                                               std::vector<std::shared_ptr<const StationEntry>>(now->stations()));
  std::lock_guard lock(m_past_mutex);
  m_past.emplace_front(key, past);
  if (m_past.size() > 8) m_past.pop_back();
  return past;
}

}  // namespace gridd::service
