#include "gridd/service/topology.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/service/snapshot.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "gridd/spatial/geojson.hpp"

namespace gridd::service {

namespace {

using spatial::geos;
using spatial::GeomPtr;

GeomPtr intersection(const GEOSGeometry* a, const GEOSGeometry* b) {
  return spatial::polygonal_parts(spatial::checked(GEOSIntersection_r(geos(), a, b), "intersection").get());
}

GeomPtr difference(const GEOSGeometry* a, const GEOSGeometry* b) {
  return spatial::polygonal_parts(spatial::checked(GEOSDifference_r(geos(), a, b), "difference").get());
}

void locate(Defect& d) {
  if (!d.geometry) return;
  GeomPtr p(GEOSPointOnSurface_r(geos(), d.geometry.get()));
  if (!p) return;
  GEOSGeomGetX_r(geos(), p.get(), &d.x);
  GEOSGeomGetY_r(geos(), p.get(), &d.y);
}

std::string area_text(double a) {
  std::ostringstream out;
  out.precision(a < 10 ? 2 : 0);
  out << std::fixed << a << " m²";
  return out.str();
}

/// Each polygon of a MultiPolygon as its own geometry.
std::vector<GeomPtr> components(const GEOSGeometry* g) {
  std::vector<GeomPtr> out;
  const int n = GEOSGetNumGeometries_r(geos(), g);
  for (int i = 0; i < n; ++i) out.push_back(spatial::clone(GEOSGetGeometryN_r(geos(), g, i)));
  return out;
}

/// The national form: district(6) street(3) community(3) grid(3) [micro-grid(3)].
void check_code(const TopologyGrid& g, const TopologyGrid* parent, std::vector<Defect>& out) {
  auto add = [&](std::string message) {
    Defect d;
    d.type = DefectType::malformed_code;
    d.codes = {g.code};
    d.ids = {g.id};
    d.parent_code = g.parent_code;
    d.message = std::move(message);
    if (g.geometry) {
      d.geometry = GeomPtr(GEOSPointOnSurface_r(geos(), g.geometry));
      locate(d);
    }
    out.push_back(std::move(d));
  };
  if (!is_valid_code(g.code)) {
    add("code '" + g.code + "' is not 1..64 characters of [0-9A-Za-z_.-]");
    return;
  }
  if (!parent || !all_digits(g.code) || !all_digits(parent->code)) return;
  const std::size_t pl = parent->code.size();
  const bool national_parent = pl == 6 || pl == 9 || pl == 12 || pl == 15;
  if (!national_parent) return;
  if (g.code.size() != pl + 3 || g.code.compare(0, pl, parent->code) != 0) {
    add("code '" + g.code + "' does not extend its parent's national code '" + parent->code +
        "' by three digits (district 6 + street 3 + community 3 + grid 3)");
  }
}

}  // namespace

std::string_view to_string(DefectType type) noexcept {
  switch (type) {
    case DefectType::invalid_geometry: return "invalid_geometry";
    case DefectType::overlap: return "overlap";
    case DefectType::gap: return "gap";
    case DefectType::outside_parent: return "outside_parent";
    case DefectType::sliver: return "sliver";
    case DefectType::duplicate_code: return "duplicate_code";
    case DefectType::malformed_code: return "malformed_code";
  }
  return "unknown";
}

bool refuses_edit(DefectType type) noexcept {
  return type == DefectType::overlap || type == DefectType::gap || type == DefectType::outside_parent ||
         type == DefectType::invalid_geometry;
}

std::vector<Defect> check_topology(const std::vector<TopologyGrid>& grids, const TopologyOptions& options) {
  std::vector<Defect> out;
  const double tol = options.tolerance_m2;
  std::unordered_map<std::string, std::size_t> by_code;
  std::map<std::string, std::vector<std::size_t>> children;  // parent code -> positions
  std::vector<bool> valid(grids.size(), true);

  for (std::size_t i = 0; i < grids.size(); ++i) {
    const TopologyGrid& g = grids[i];
    if (!by_code.emplace(g.code, i).second) {
      Defect d;
      d.type = DefectType::duplicate_code;
      d.codes = {g.code};
      d.ids = {grids[by_code[g.code]].id, g.id};
      d.parent_code = g.parent_code;
      d.message = "code '" + g.code + "' is used by more than one grid";
      if (g.geometry) {
        d.geometry = GeomPtr(GEOSPointOnSurface_r(geos(), g.geometry));
        locate(d);
      }
      out.push_back(std::move(d));
    }
    children[g.parent_code].push_back(i);
    if (!g.geometry) {
      valid[i] = false;
      continue;
    }
    const spatial::Validity v = spatial::check_validity(g.geometry);
    if (!v.valid) {
      valid[i] = false;
      Defect d;
      d.type = DefectType::invalid_geometry;
      d.codes = {g.code};
      d.ids = {g.id};
      d.parent_code = g.parent_code;
      d.x = v.x;
      d.y = v.y;
      d.geometry = spatial::make_point(v.x, v.y);
      d.message = "grid " + g.code + " is invalid: " + v.reason;
      out.push_back(std::move(d));
      continue;
    }
    for (auto& part : components(g.geometry)) {
      const double a = spatial::geodesic_area_m2(part.get());
      if (a < options.sliver_m2) {
        Defect d;
        d.type = DefectType::sliver;
        d.codes = {g.code};
        d.ids = {g.id};
        d.parent_code = g.parent_code;
        d.area_m2 = a;
        d.geometry = std::move(part);
        locate(d);
        d.message = "grid " + g.code + " has a part of " + area_text(a) + ", below the sliver limit of " +
                    area_text(options.sliver_m2);
        out.push_back(std::move(d));
      }
    }
  }
  for (const TopologyGrid& g : grids) {
    auto p = by_code.find(g.parent_code);
    check_code(g, p == by_code.end() ? nullptr : &grids[p->second], out);
  }

  for (const auto& [parent_code, members] : children) {
    // Overlaps between siblings.
    std::vector<std::size_t> ok;
    for (std::size_t i : members) {
      if (valid[i]) ok.push_back(i);
    }
    std::vector<spatial::Envelope> env;
    for (std::size_t i : ok) env.push_back(spatial::envelope_of(grids[i].geometry));
    for (std::size_t a = 0; a < ok.size(); ++a) {
      for (std::size_t b = a + 1; b < ok.size(); ++b) {
        if (!env[a].intersects(env[b])) continue;
        const TopologyGrid& ga = grids[ok[a]];
        const TopologyGrid& gb = grids[ok[b]];
        if (GEOSIntersects_r(geos(), ga.geometry, gb.geometry) != 1) continue;
        GeomPtr x = intersection(ga.geometry, gb.geometry);
        if (!x) continue;
        const double area = spatial::geodesic_area_m2(x.get());
        if (area < tol) continue;
        Defect d;
        d.type = DefectType::overlap;
        const bool swap = gb.code < ga.code;
        d.codes = swap ? std::vector<std::string>{gb.code, ga.code} : std::vector<std::string>{ga.code, gb.code};
        d.ids = swap ? std::vector<std::int64_t>{gb.id, ga.id} : std::vector<std::int64_t>{ga.id, gb.id};
        d.parent_code = parent_code;
        d.area_m2 = area;
        d.geometry = std::move(x);
        locate(d);
        d.message = "grids " + d.codes[0] + " and " + d.codes[1] + " overlap by " + area_text(area);
        out.push_back(std::move(d));
      }
    }
    // Gaps and children outside the parent.
    auto pit = by_code.find(parent_code);
    if (parent_code.empty() || pit == by_code.end() || !valid[pit->second] || ok.empty()) continue;
    const TopologyGrid& parent = grids[pit->second];
    std::vector<const GEOSGeometry*> geoms;
    for (std::size_t i : ok) geoms.push_back(grids[i].geometry);
    for (std::size_t i : ok) {
      GeomPtr outside = difference(grids[i].geometry, parent.geometry);
      if (!outside) continue;
      const double area = spatial::geodesic_area_m2(outside.get());
      if (area < tol) continue;
      Defect d;
      d.type = DefectType::outside_parent;
      d.codes = {grids[i].code};
      d.ids = {grids[i].id};
      d.parent_code = parent_code;
      d.area_m2 = area;
      d.geometry = std::move(outside);
      locate(d);
      d.message = "grid " + grids[i].code + " extends " + area_text(area) + " outside its parent " + parent_code;
      out.push_back(std::move(d));
    }
    GeomPtr covered = spatial::union_all(geoms);
    GeomPtr gaps = difference(parent.geometry, covered.get());
    if (!gaps) continue;
    for (auto& part : components(gaps.get())) {
      const double area = spatial::geodesic_area_m2(part.get());
      if (area < tol) continue;
      Defect d;
      d.type = DefectType::gap;
      d.codes = {parent_code};
      d.ids = {parent.id};
      d.parent_code = parent_code;
      d.area_m2 = area;
      d.geometry = std::move(part);
      locate(d);
      d.message = "a gap of " + area_text(area) + " in " + parent_code + " that none of its children covers";
      out.push_back(std::move(d));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Defect& a, const Defect& b) {
    if (a.type != b.type) return a.type < b.type;
    return a.codes < b.codes;
  });
  return out;
}

std::vector<TopologyGrid> topology_grids(const Snapshot& snapshot, const std::string& root_code) {
  std::vector<TopologyGrid> out;
  auto add = [&](const GridEntry& e) {
    out.push_back({e.grid.id, e.grid.code, e.grid.name, e.grid.level, e.grid.parent_code, e.shape.geometry()});
  };
  if (root_code.empty()) {
    for (const auto& e : snapshot.grids()) add(*e);
    return out;
  }
  const GridEntry* root = snapshot.grid_by_code(root_code);
  if (!root) throw_not_found("grid_not_found", "no grid with code '" + root_code + "'", "root");
  std::vector<const GridEntry*> stack{root};
  while (!stack.empty()) {
    const GridEntry* e = stack.back();
    stack.pop_back();
    add(*e);
    for (std::size_t c : snapshot.children_of(e->grid.code)) stack.push_back(snapshot.grids()[c].get());
  }
  return out;
}

std::vector<Defect> new_defects(const std::vector<Defect>& before, const std::vector<Defect>& after,
                                const TopologyOptions& options) {
  using Key = std::pair<DefectType, std::vector<std::string>>;
  std::map<Key, std::vector<const Defect*>> old;
  for (const Defect& d : before) old[{d.type, d.codes}].push_back(&d);
  std::vector<Defect> out;
  std::set<Key> gap_keys_done;
  for (const Defect& d : after) {
    const Key key{d.type, d.codes};
    auto it = old.find(key);
    const bool areal = d.type == DefectType::overlap || d.type == DefectType::gap ||
                       d.type == DefectType::outside_parent || d.type == DefectType::sliver;
    if (it == old.end()) {
      Defect copy;
      copy.type = d.type;
      copy.codes = d.codes;
      copy.ids = d.ids;
      copy.parent_code = d.parent_code;
      copy.area_m2 = d.area_m2;
      copy.x = d.x;
      copy.y = d.y;
      copy.message = d.message;
      copy.geometry = d.geometry ? spatial::clone(d.geometry.get()) : nullptr;
      out.push_back(std::move(copy));
      continue;
    }
    if (!areal || !d.geometry) continue;
    // The part of this defect that none of the old ones of the same key had.
    GeomPtr rest = spatial::clone(d.geometry.get());
    for (const Defect* o : it->second) {
      if (!o->geometry || !rest) break;
      rest = difference(rest.get(), o->geometry.get());
    }
    if (!rest) continue;
    const double area = spatial::geodesic_area_m2(rest.get());
    if (area < options.tolerance_m2) continue;
    Defect copy;
    copy.type = d.type;
    copy.codes = d.codes;
    copy.ids = d.ids;
    copy.parent_code = d.parent_code;
    copy.area_m2 = area;
    copy.geometry = std::move(rest);
    locate(copy);
    copy.message = d.message + " (" + area_text(area) + " of it new)";
    out.push_back(std::move(copy));
  }
  return out;
}

std::vector<Defect> edit_defects(const Snapshot& snapshot, const std::vector<TopologyGrid>& changed,
                                 const std::vector<std::int64_t>& deleted, const TopologyOptions& options) {
  std::set<std::string> families;
  std::unordered_map<std::string, std::string> renamed;  // old code -> new code
  std::set<std::int64_t> replaced(deleted.begin(), deleted.end());
  for (std::int64_t id : deleted) {
    if (const GridEntry* e = snapshot.grid_by_id(id)) {
      families.insert(e->grid.parent_code);
      families.insert(e->grid.code);
    }
  }
  for (const TopologyGrid& g : changed) {
    families.insert(g.parent_code);
    families.insert(g.code);
    if (g.id == 0) continue;
    replaced.insert(g.id);
    if (const GridEntry* e = snapshot.grid_by_id(g.id)) {
      families.insert(e->grid.parent_code);
      families.insert(e->grid.code);
      if (e->grid.code != g.code) renamed[e->grid.code] = g.code;
    }
  }
  // Before: each family's parent and children as stored.
  std::vector<TopologyGrid> before;
  std::set<std::int64_t> seen;
  auto add = [&](const GridEntry& e) {
    if (!seen.insert(e.grid.id).second) return;
    before.push_back({e.grid.id, e.grid.code, e.grid.name, e.grid.level, e.grid.parent_code, e.shape.geometry()});
  };
  for (const std::string& f : families) {
    if (f.empty()) {
      for (const auto& e : snapshot.grids()) {
        if (e->grid.parent_code.empty()) add(*e);
      }
      continue;
    }
    if (const GridEntry* p = snapshot.grid_by_code(f)) add(*p);
    for (std::size_t c : snapshot.children_of(f)) add(*snapshot.grids()[c]);
  }
  // After: the same minus the replaced and deleted, plus the changed.
  std::vector<TopologyGrid> after;
  for (const TopologyGrid& g : before) {
    if (replaced.count(g.id)) continue;
    TopologyGrid copy = g;
    if (auto r = renamed.find(copy.parent_code); r != renamed.end()) copy.parent_code = r->second;
    after.push_back(copy);
  }
  for (const TopologyGrid& g : changed) after.push_back(g);

  // Parents that were not divided before, or are not after: no gap defects.
  std::set<std::string> had_children, has_children;
  for (const TopologyGrid& g : before) had_children.insert(g.parent_code);
  for (const TopologyGrid& g : after) has_children.insert(g.parent_code);
  // A renamed grid's old defects count as its new code's.
  std::vector<Defect> old_defects = check_topology(before, options);
  auto rename = [&](std::string& code) {
    if (auto r = renamed.find(code); r != renamed.end()) code = r->second;
  };
  for (Defect& d : old_defects) {
    for (auto& c : d.codes) rename(c);
    rename(d.parent_code);
  }
  std::set<std::string> had_children_renamed;
  for (std::string c : had_children) {
    rename(c);
    had_children_renamed.insert(c);
  }
  std::vector<Defect> found = new_defects(old_defects, check_topology(after, options), options);
  std::vector<Defect> out;
  for (Defect& d : found) {
    if (d.type == DefectType::gap) {
      const std::string& parent = d.codes.front();
      if (!had_children_renamed.count(parent) || !has_children.count(parent)) continue;
    }
    out.push_back(std::move(d));
  }
  return out;
}

Json defect_feature(const Defect& d) {
  Json props{{"type", std::string(to_string(d.type))},
             {"codes", d.codes},
             {"ids", d.ids},
             {"parent", d.parent_code.empty() ? Json(nullptr) : Json(d.parent_code)},
             {"location", Json::array({d.x, d.y})},
             {"message", d.message},
             {"refuses_edit", refuses_edit(d.type)}};
  props["area_m2"] = d.area_m2 > 0 ? Json(std::round(d.area_m2 * 100) / 100) : Json(nullptr);
  return Json{{"type", "Feature"},
              {"geometry", d.geometry ? spatial::geometry_to_geojson(d.geometry.get(), 8) : Json(nullptr)},
              {"properties", std::move(props)}};
}

Json defects_collection(const std::vector<Defect>& defects) {
  Json features = Json::array();
  Json summary = Json::object();
  for (const Defect& d : defects) {
    features.push_back(defect_feature(d));
    auto& n = summary[std::string(to_string(d.type))];
    n = n.is_null() ? 1 : n.get<int>() + 1;
  }
  return Json{{"type", "FeatureCollection"},
              {"numberMatched", defects.size()},
              {"summary", std::move(summary)},
              {"features", std::move(features)}};
}

}  // namespace gridd::service
