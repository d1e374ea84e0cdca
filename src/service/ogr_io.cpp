#include "gridd/service/ogr_io.hpp"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal_priv.h>
#include <iconv.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/core/json.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/spatial/geojson.hpp"
#include "gridd/storage/gdal_errors.hpp"
#include "gridd/storage/incident_store.hpp"

namespace gridd::service {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string lower_ext(const std::string& path) { return lower(std::filesystem::path(path).extension().string()); }

/// The level implied by a national 6/9/12/15-digit code.
std::optional<Level> level_from_code(const std::string& code) {
  if (!all_digits(code)) return std::nullopt;
  switch (code.size()) {
    case 6: return Level::district;
    case 9: return Level::street;
    case 12: return Level::community;
    case 15: return Level::grid;
    default: return std::nullopt;
  }
}

// ---------------------------------------------------------------------------
// Text encodings
// ---------------------------------------------------------------------------

/// "UTF-8", "utf8", "UTF_8" all name UTF-8.
bool is_utf8(const std::string& encoding) {
  std::string k;
  for (char c : encoding) {
    if (c != '-' && c != '_') k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return k == "utf8";
}

/// Reject an encoding iconv (which GDAL's CPLRecode uses) does not know.
void check_encoding(const std::string& encoding) {
  iconv_t cd = iconv_open("UTF-8", encoding.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    throw_invalid("unknown_encoding",
                  "unknown text encoding '" + encoding + "' (GBK, GB18030, CP936, UTF-8, ... as iconv names them)",
                  "encoding");
  }
  iconv_close(cd);
}

std::string recode(const std::string& text, const std::string& from, const std::string& to) {
  char* out = CPLRecode(text.c_str(), from.c_str(), to.c_str());
  std::string s = out ? out : "";
  CPLFree(out);
  return s;
}

[[noreturn]] void throw_not_utf8(const std::string& what, const std::string& field) {
  throw_invalid("invalid_encoding",
                what + " is not valid UTF-8: the source is in another encoding (a Shapefile without .cpg in "
                       "GBK or GB18030, say); name it with the encoding option (gridd import --encoding GBK)",
                field);
}

// ---------------------------------------------------------------------------
// Reading features
// ---------------------------------------------------------------------------

/// Reads gridd properties from OGR features with the caller's field mapping.
/// Text is checked to be UTF-8 (recoded from `recode_from` first when set).
class FieldReader {
 public:
  FieldReader(OGRFeatureDefn* defn, const std::map<std::string, std::string>& mapping, ObjectKind kind,
              std::string recode_from)
      : m_recode_from(std::move(recode_from)) {
    for (int i = 0; i < defn->GetFieldCount(); ++i) m_names.push_back(text(defn->GetFieldDefn(i)->GetNameRef()));
    static const std::vector<const char*> grid_props = {"code",   "name",   "level",  "parent",
                                                        "households", "people", "worker", "worker_phone"};
    static const std::vector<const char*> station_props = {"code", "name", "kind", "address", "contact", "hours"};
    for (const char* p : kind == ObjectKind::grids ? grid_props : station_props) {
      auto it = mapping.find(p);
      const std::string field = it == mapping.end() ? p : it->second;
      int idx = index_of(field);
      if (idx >= 0) {
        const int original = index_of(field + "_original");
        if (original >= 0) {
          m_used.insert(idx);
          idx = original;
        }
      }
      if (it != mapping.end() && idx < 0) {
        throw_invalid("unknown_field", "the source has no field '" + field + "' (mapped to " + p + ")", "fields");
      }
      m_index[p] = idx;
      if (idx >= 0) m_used.insert(idx);
    }
    for (const auto& [p, field] : mapping) {
      if (!m_index.count(p)) throw_invalid("unknown_property", "cannot map a field to unknown property '" + p + "'", "fields");
    }
    // CSV's untyped copies of every column are not attributes.
    for (int i = 0; i < static_cast<int>(m_names.size()); ++i) {
      const std::string& n = m_names[i];
      if (n.size() > 9 && n.compare(n.size() - 9, 9, "_original") == 0) m_used.insert(i);
    }
    // A file gridd exported: its `attributes` JSON object is merged back as
    // the attributes, and its `id` column is gridd's, not an attribute.
    const int attributes = index_of("attributes");
    if (attributes >= 0 && !m_used.count(attributes)) {
      m_attributes = attributes;
      m_used.insert(attributes);
      const int id = index_of("id");
      if (id >= 0) m_used.insert(id);
    }
  }

  /// A property's text (trailing blanks trimmed), "" when unset.
  /// @throws Error(invalid_input, "invalid_encoding") naming where/properties/<property>.
  [[nodiscard]] std::string get(const OGRFeature& f, const char* property, const std::string& where) const {
    const int idx = m_index.at(property);
    if (idx < 0 || !f.IsFieldSetAndNotNull(idx)) return {};
    std::string s = text(f.GetFieldAsString(idx));
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    if (!CPLIsUTF8(s.c_str(), -1)) {
      throw_not_utf8("the text of " + std::string(property), where + "/properties/" + property);
    }
    return s;
  }

  /// The code without checks (for naming a rejected feature).
  [[nodiscard]] std::string code_of(const OGRFeature& f) const {
    const int idx = m_index.at("code");
    if (idx < 0 || !f.IsFieldSetAndNotNull(idx)) return {};
    std::string s = text(f.GetFieldAsString(idx));
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return CPLIsUTF8(s.c_str(), -1) ? s : std::string();
  }

  [[nodiscard]] Json attributes(const OGRFeature& f, const std::string& where) const {
    Json out = Json::object();
    if (m_attributes >= 0 && f.IsFieldSetAndNotNull(m_attributes)) {
      const std::string s = text(f.GetFieldAsString(m_attributes));
      if (!CPLIsUTF8(s.c_str(), -1)) throw_not_utf8("the text of attributes", where + "/properties/attributes");
      Json j = Json::parse(s, nullptr, false);
      if (j.is_object()) out = std::move(j);
    }
    const int n = f.GetFieldCount();
    for (int i = 0; i < n; ++i) {
      if (m_used.count(i) || !f.IsFieldSetAndNotNull(i)) continue;
      const OGRFieldDefn* d = f.GetFieldDefnRef(i);
      const std::string& name = m_names[i];
      if (!CPLIsUTF8(name.c_str(), -1)) throw_not_utf8("a field name", where + "/properties");
      switch (d->GetType()) {
        case OFTInteger:
          if (d->GetSubType() == OFSTBoolean) {
            out[name] = f.GetFieldAsInteger(i) != 0;
          } else {
            out[name] = f.GetFieldAsInteger(i);
          }
          break;
        case OFTInteger64: out[name] = f.GetFieldAsInteger64(i); break;
        case OFTReal: out[name] = f.GetFieldAsDouble(i); break;
        default: {
          const std::string s = text(f.GetFieldAsString(i));
          if (!CPLIsUTF8(s.c_str(), -1)) throw_not_utf8("the text of " + name, where + "/properties/" + name);
          if (d->GetSubType() == OFSTJSON) {
            Json j = Json::parse(s, nullptr, false);
            out[name] = j.is_discarded() ? Json(s) : j;
          } else {
            out[name] = s;
          }
        }
      }
    }
    return out;
  }

 private:
  [[nodiscard]] std::string text(const char* raw) const {
    return m_recode_from.empty() ? std::string(raw) : recode(raw, m_recode_from, CPL_ENC_UTF8);
  }
  /// Like OGRFeatureDefn::GetFieldIndex (exact, then case-insensitive), on recoded names.
  [[nodiscard]] int index_of(const std::string& name) const {
    for (std::size_t i = 0; i < m_names.size(); ++i) {
      if (m_names[i] == name) return static_cast<int>(i);
    }
    for (std::size_t i = 0; i < m_names.size(); ++i) {
      if (EQUAL(m_names[i].c_str(), name.c_str())) return static_cast<int>(i);
    }
    return -1;
  }

  std::string m_recode_from;
  std::vector<std::string> m_names;
  std::map<std::string, int> m_index;
  std::set<int> m_used;
  int m_attributes = -1;
};

struct Source {
  GDALDatasetUniquePtr ds;
  OGRLayer* layer = nullptr;
  std::string crs;
  std::string encoding;     ///< what the text was read as (report)
  std::string recode_from;  ///< CSV: recode values from this encoding
};

GDALDatasetUniquePtr open_vector(const std::string& path, const std::vector<std::string>& opts) {
  std::vector<const char*> raw;
  for (const auto& o : opts) raw.push_back(o.c_str());
  raw.push_back(nullptr);
  return GDALDatasetUniquePtr(
      GDALDataset::Open(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, nullptr, raw.data(), nullptr));
}

Source open_source(const std::string& path, const ImportOptions& options) {
  if (!options.encoding.empty()) check_encoding(options.encoding);
  std::vector<std::string> opts;
  const std::string ext = lower_ext(path);
  if (ext == ".csv" || ext == ".tsv") {
    opts = {"X_POSSIBLE_NAMES=lon,lng,longitude,x,X,LON,LNG,Longitude",
            "Y_POSSIBLE_NAMES=lat,latitude,y,Y,LAT,Latitude",
            "GEOM_POSSIBLE_NAMES=wkt,WKT,geometry,geom",
            "KEEP_GEOM_COLUMNS=NO",
            // Typed attributes, but gridd's own properties are read from the
            // untyped *_original columns, so "007" stays "007".
            "AUTODETECT_TYPE=YES", "KEEP_SOURCE_COLUMNS=YES"};
  }
  Source src;
  src.ds = open_vector(path, opts);
  if (!src.ds) {
    throw_invalid("unreadable_source", "cannot open '" + path + "' as a vector source: " + CPLGetLastErrorMsg(), "file");
  }
  const std::string driver = src.ds->GetDriverName();
  if (driver == "ESRI Shapefile") {
    if (!options.encoding.empty()) {
      // GDAL recodes the DBF from this encoding, whatever the .cpg says.
      opts.push_back("ENCODING=" + options.encoding);
      src.ds = open_vector(path, opts);
      if (!src.ds) {
        throw_invalid("unreadable_source", "cannot open '" + path + "' as a vector source: " + CPLGetLastErrorMsg(),
                      "file");
      }
    }
  } else if (driver == "CSV") {
    if (!options.encoding.empty() && !is_utf8(options.encoding)) {
      src.recode_from = options.encoding;
      src.encoding = options.encoding;
    } else {
      src.encoding = "UTF-8";
    }
  } else if (!options.encoding.empty() && !is_utf8(options.encoding)) {
    throw_invalid("encoding_not_applicable",
                  "the " + driver + " format stores text as UTF-8; an encoding applies to Shapefiles and CSV only",
                  "encoding");
  }
  if (options.layer.empty()) {
    src.layer = src.ds->GetLayer(0);
  } else {
    src.layer = src.ds->GetLayerByName(options.layer.c_str());
  }
  if (!src.layer) {
    std::string names;
    for (auto* l : src.ds->GetLayers()) names += (names.empty() ? "" : ", ") + std::string(l->GetName());
    throw_invalid("unknown_layer", "no layer '" + options.layer + "' in '" + path + "' (layers: " + names + ")", "layer");
  }
  if (driver == "ESRI Shapefile") {
    const char* enc = src.layer->GetMetadataItem("SOURCE_ENCODING", "SHAPEFILE");
    const char* cpg = src.layer->GetMetadataItem("CPG_VALUE", "SHAPEFILE");
    src.encoding = enc ? enc : "";
    if (options.encoding.empty() && cpg) src.encoding += std::string(" (.cpg: ") + cpg + ")";
  }
  if (!options.crs.empty()) {
    (void)spatial::crs_transform(options.crs);  // reject an unknown CRS before reading
    src.crs = options.crs;
  } else if (const OGRSpatialReference* srs = src.layer->GetSpatialRef()) {
    const char* auth = srs->GetAuthorityName(nullptr);
    const char* code = srs->GetAuthorityCode(nullptr);
    if (auth && code) {
      src.crs = std::string(auth) + ":" + code;
    } else {
      char* wkt = nullptr;
      const char* wkt_opts[] = {"FORMAT=WKT2_2019", nullptr};
      srs->exportToWkt(&wkt, wkt_opts);
      src.crs = wkt ? wkt : "";
      CPLFree(wkt);
    }
  }
  return src;
}

spatial::GeomPtr feature_geometry(const OGRFeature& f, const std::string& crs, const std::string& where) {
  const OGRGeometry* g = f.GetGeometryRef();
  if (!g || g->IsEmpty()) throw_invalid("missing_geometry", "the feature has no geometry", where + "/geometry");
  std::unique_ptr<OGRGeometry> linear(g->hasCurveGeometry() ? g->getLinearGeometry() : g->clone());
  linear->flattenTo2D();
  std::string wkb(linear->WkbSize(), '\0');
  linear->exportToWkb(wkbNDR, reinterpret_cast<unsigned char*>(wkb.data()), wkbVariantIso);
  spatial::GeomPtr geom = spatial::from_wkb(wkb);
  try {
    return spatial::to_wgs84(geom.get(), crs);
  } catch (const Error& e) {
    throw Error(e.kind(), e.code(), e.what(), where + "/geometry");
  }
}

GridInput grid_from_feature(const OGRFeature& f, const FieldReader& r, const ImportOptions& o,
                            const std::string& crs, const std::string& where) {
  GridInput in;
  in.where = where;
  Grid& g = in.grid;
  g.code = r.get(f, "code", where);
  g.name = r.get(f, "name", where);
  const std::string level = r.get(f, "level", where);
  if (!level.empty()) {
    g.level = parse_level(level, where + "/properties/level");
  } else if (auto from_code = level_from_code(g.code)) {
    g.level = *from_code;
  } else {
    g.level = parse_level(o.default_level, "default_level");
  }
  g.parent_code = r.get(f, "parent", where);
  const std::string hh = r.get(f, "households", where);
  if (!hh.empty()) {
    try {
      std::size_t used = 0;
      g.households = std::stoll(hh, &used);
      if (used != hh.size() || *g.households < 0) throw std::invalid_argument(hh);
    } catch (const std::exception&) {
      throw_invalid("invalid_households", "households must be a non-negative integer, got '" + hh + "'",
                    where + "/properties/households");
    }
  }
  const std::string people = r.get(f, "people", where);
  if (!people.empty()) {
    Json j = Json::parse(people, nullptr, false);
    if (j.is_discarded()) throw_invalid("invalid_people", "people is not a JSON array", where + "/properties/people");
    g.people = people_from_json(j, where + "/properties/people");
  }
  const std::string worker = r.get(f, "worker", where);
  if (!worker.empty()) g.people.push_back({worker, "grid_worker", r.get(f, "worker_phone", where)});
  g.attributes = r.attributes(f, where);
  in.geometry = feature_geometry(f, crs, where);
  return in;
}

StationInput station_from_feature(const OGRFeature& f, const FieldReader& r, const ImportOptions& o,
                                  const std::string& crs, const std::string& where) {
  StationInput in;
  in.where = where;
  Station& s = in.station;
  s.code = r.get(f, "code", where);
  s.name = r.get(f, "name", where);
  s.kind = r.get(f, "kind", where);
  if (s.kind.empty()) s.kind = o.default_kind;
  s.address = r.get(f, "address", where);
  s.contact = r.get(f, "contact", where);
  s.hours = r.get(f, "hours", where);
  s.attributes = r.attributes(f, where);
  spatial::GeomPtr g = feature_geometry(f, crs, where);
  if (spatial::type_id(g.get()) != GEOS_POINT) {
    throw_invalid("invalid_geometry_type", "a station geometry must be a Point", where + "/geometry");
  }
  GEOSGeomGetX_r(spatial::geos(), g.get(), &s.lon);
  GEOSGeomGetY_r(spatial::geos(), g.get(), &s.lat);
  return in;
}

// ---------------------------------------------------------------------------
// Repair (make valid)
// ---------------------------------------------------------------------------

void collect_polygons(const GEOSGeometry* g, std::vector<GEOSGeometry*>& out, bool& dropped) {
  GEOSContextHandle_t ctx = spatial::geos();
  const int t = GEOSGeomTypeId_r(ctx, g);
  if (t == GEOS_POLYGON) {
    if (GEOSisEmpty_r(ctx, g) != 1) out.push_back(GEOSGeom_clone_r(ctx, g));
  } else if (t == GEOS_MULTIPOLYGON || t == GEOS_GEOMETRYCOLLECTION) {
    for (int i = 0; i < GEOSGetNumGeometries_r(ctx, g); ++i) collect_polygons(GEOSGetGeometryN_r(ctx, g, i), out, dropped);
  } else if (GEOSisEmpty_r(ctx, g) != 1) {
    dropped = true;
  }
}

std::string format_xy(double x, double y) {
  std::ostringstream s;
  s.precision(10);
  s << "(" << x << " " << y << ")";
  return s.str();
}

/// When `in.geometry` is an invalid polygon (with every coordinate in
/// range), replace it by GEOSMakeValid's polygonal parts and describe the
/// repair; "" when nothing was done.
std::string repair_geometry(GridInput& in) {
  GEOSContextHandle_t ctx = spatial::geos();
  const GEOSGeometry* g = in.geometry.get();
  if (!g) return {};
  const int t = spatial::type_id(g);
  if (t != GEOS_POLYGON && t != GEOS_MULTIPOLYGON) return {};
  bool in_range = true;
  spatial::for_each_xy(g, [&](double x, double y) {
    in_range = in_range && std::isfinite(x) && std::isfinite(y) && x >= -180 && x <= 180 && y >= -90 && y <= 90;
  });
  if (!in_range) return {};
  const spatial::Validity v = spatial::check_validity(g);
  if (v.valid) return {};
  spatial::GeomPtr fixed = spatial::checked(GEOSMakeValid_r(ctx, g), "GEOSMakeValid");
  std::vector<GEOSGeometry*> parts;
  bool dropped = false;
  collect_polygons(fixed.get(), parts, dropped);
  const std::size_t n = parts.size();
  spatial::GeomPtr multi = spatial::checked(
      GEOSGeom_createCollection_r(ctx, GEOS_MULTIPOLYGON, parts.data(), static_cast<unsigned>(parts.size())),
      "GEOSGeom_createCollection");
  if (n == 0) {
    throw_invalid("invalid_geometry",
                  "invalid polygon: " + v.reason + " at " + format_xy(v.x, v.y) + "; cannot be repaired: no area is left",
                  in.where + "/geometry");
  }
  if (!spatial::check_validity(multi.get()).valid) {
    multi = spatial::as_multi_polygon(spatial::checked(GEOSUnaryUnion_r(ctx, multi.get()), "GEOSUnaryUnion"));
  }
  in.geometry = std::move(multi);
  return v.reason + " at " + format_xy(v.x, v.y) + ": repaired into " + std::to_string(n) +
         (n == 1 ? " polygon" : " polygons") + (dropped ? " (lines and points of the repair dropped)" : "");
}

// ---------------------------------------------------------------------------
// Validation of the whole file
// ---------------------------------------------------------------------------

/// One feature on its way in.
template <class Input>
struct Item {
  std::string code;  ///< as read, for reports
  std::optional<Input> input;  ///< empty when rejected
};

/// "features/3/properties/parent" -> "properties/parent".
std::string relative_field(const std::string& field, std::size_t feature) {
  const std::string prefix = "features/" + std::to_string(feature) + "/";
  return field.compare(0, prefix.size(), prefix) == 0 ? field.substr(prefix.size()) : field;
}

std::string where_of(std::size_t i) { return "features/" + std::to_string(i); }

/// Reject item i (the first reason stays).
template <class Input>
void reject(std::vector<Item<Input>>& items, std::vector<std::optional<Rejection>>& rejected, std::size_t i,
            std::string field, std::string error, std::string message) {
  items[i].input.reset();
  if (!rejected[i]) rejected[i] = Rejection{i, items[i].code, std::move(field), std::move(error), std::move(message)};
}

/// Features sharing a code: each is rejected (the file does not say which is right).
template <class Input>
void reject_duplicate_codes(std::vector<Item<Input>>& items, std::vector<std::optional<Rejection>>& rejected) {
  std::unordered_map<std::string, std::vector<std::size_t>> by_code;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!items[i].code.empty()) by_code[items[i].code].push_back(i);
  }
  for (const auto& [code, at] : by_code) {
    if (at.size() < 2) continue;
    std::string list;
    for (std::size_t i : at) list += (list.empty() ? "" : ", ") + std::to_string(i);
    for (std::size_t i : at) {
      if (!items[i].input) continue;
      reject(items, rejected, i, where_of(i) + "/properties/code", "duplicate_code",
             "code '" + code + "' appears " + std::to_string(at.size()) + " times in the file (features " + list + ")");
    }
  }
}

/// Codes, parents and levels across the file and the store: the rules of
/// Catalog::upsert_grids, applied to every feature, with a grid whose
/// parent was rejected rejected too. Repeats until nothing changes (a
/// rejection can orphan a child, or keep an old child in place).
void validate_grid_batch(std::vector<Item<GridInput>>& items, std::vector<std::optional<Rejection>>& rejected,
                         const Snapshot& snap) {
  reject_duplicate_codes(items, rejected);
  std::unordered_map<std::string, std::size_t> in_file;  // every feature's code -> its position
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!items[i].code.empty()) in_file.emplace(items[i].code, i);
  }
  // Infer a missing parent from the national code form when that parent exists.
  for (auto& item : items) {
    if (!item.input) continue;
    Grid& g = item.input->grid;
    const std::string& c = g.code;
    if (!g.parent_code.empty() || !all_digits(c) || (c.size() != 9 && c.size() != 12 && c.size() != 15)) continue;
    const std::string prefix = c.substr(0, c.size() - 3);
    if (in_file.count(prefix) || snap.grid_by_code(prefix)) g.parent_code = prefix;
  }
  for (bool changed = true; changed;) {
    changed = false;
    std::unordered_map<std::string, std::size_t> valid;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].input) valid.emplace(items[i].input->grid.code, i);
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!items[i].input) continue;
      const Grid& g = items[i].input->grid;
      const std::string parent_field = where_of(i) + "/properties/parent";
      if (!g.parent_code.empty()) {
        if (g.parent_code == g.code) {
          reject(items, rejected, i, parent_field, "invalid_parent", "a grid cannot be its own parent");
          changed = true;
          continue;
        }
        std::optional<Level> parent_level;
        if (auto it = valid.find(g.parent_code); it != valid.end()) {
          parent_level = items[it->second].input->grid.level;
        } else if (const GridEntry* p = snap.grid_by_code(g.parent_code)) {
          parent_level = p->grid.level;
        } else if (auto f = in_file.find(g.parent_code); f != in_file.end()) {
          const Rejection& why = *rejected[f->second];
          reject(items, rejected, i, parent_field, "parent_rejected",
                 "parent '" + g.parent_code + "' (feature " + std::to_string(f->second) + ") was rejected: " +
                     why.error);
          changed = true;
          continue;
        }
        if (!parent_level) {
          reject(items, rejected, i, parent_field, "unknown_parent",
                 "parent '" + g.parent_code + "' does not exist (neither in the file nor in the store)");
          changed = true;
          continue;
        }
        if (*parent_level >= g.level) {
          reject(items, rejected, i, parent_field, "invalid_parent",
                 "parent '" + g.parent_code + "' is a " + std::string(to_string(*parent_level)) +
                     ", not coarser than this " + std::string(to_string(g.level)));
          changed = true;
          continue;
        }
      }
      // Children in the store that the file does not move must stay finer.
      if (snap.grid_by_code(g.code)) {
        for (std::size_t c : snap.children_of(g.code)) {
          const Grid& child = snap.grids()[c]->grid;
          auto in_batch = valid.find(child.code);
          const Level child_level = in_batch != valid.end() ? items[in_batch->second].input->grid.level : child.level;
          const bool still_child =
              in_batch == valid.end() || items[in_batch->second].input->grid.parent_code == g.code;
          if (still_child && child_level <= g.level) {
            reject(items, rejected, i, where_of(i) + "/properties/level", "invalid_level",
                   "grid '" + g.code + "' cannot become a " + std::string(to_string(g.level)) + ": its child '" +
                       child.code + "' in the store is a " + std::string(to_string(child_level)));
            changed = true;
            break;
          }
        }
      }
    }
  }
}

bool recoverable(const Error& e) {
  return e.kind() == ErrorKind::invalid_input || e.kind() == ErrorKind::conflict || e.kind() == ErrorKind::not_found;
}

std::string first_rejection_message(const ImportReport& r) {
  const Rejection& first = r.rejected.front();
  std::string m = first.message + " (" + std::to_string(r.rejected.size()) + " of " + std::to_string(r.read) +
                  " features rejected; nothing imported)";
  return m;
}

}  // namespace

ObjectKind parse_object_kind(std::string_view text) {
  if (text == "grids") return ObjectKind::grids;
  if (text == "stations") return ObjectKind::stations;
  if (text == "incidents") return ObjectKind::incidents;
  throw_invalid("unknown_layer", "unknown layer '" + std::string(text) + "' (grids, stations, incidents)", "layer");
}

ImportRejected::ImportRejected(ImportReport report)
    : Error(ErrorKind::invalid_input, report.rejected.at(0).error, first_rejection_message(report),
            report.rejected.at(0).field),
      m_report(std::move(report)) {}

ImportReport import_file(Catalog& catalog, ObjectKind kind, const std::string& path,
                         const ImportOptions& options, const Progress& progress) {
  if (kind == ObjectKind::incidents) {
    throw_invalid("unsupported_import", "incidents are not imported from files; report them through the API", "what");
  }
  GDALAllRegister();
  storage::QuietGdalErrors quiet;
  (void)parse_level(options.default_level, "default_level");
  Source src = open_source(path, options);
  const FieldReader reader(src.layer->GetLayerDefn(), options.fields, kind, src.recode_from);
  const GIntBig count = src.layer->GetFeatureCount(TRUE);
  const std::size_t total = count > 0 ? static_cast<std::size_t>(count) : 0;

  ImportReport report;
  report.source = path;
  report.layer = src.layer->GetName();
  report.crs = src.crs;
  report.encoding = src.encoding;
  std::vector<Item<GridInput>> grids;
  std::vector<Item<StationInput>> stations;
  std::vector<std::optional<Rejection>> rejected;
  src.layer->ResetReading();
  for (auto& f : *src.layer) {
    const std::size_t i = report.read;
    const std::string where = where_of(i);
    rejected.emplace_back();
    try {
      if (kind == ObjectKind::grids) {
        grids.push_back({reader.code_of(*f), std::nullopt});
        GridInput in = grid_from_feature(*f, reader, options, src.crs, where);
        if (options.make_valid) {
          const std::string repaired = repair_geometry(in);
          if (!repaired.empty()) report.repaired.push_back({i, in.grid.code, repaired});
        }
        validate_grid_input(in);
        grids.back().input = std::move(in);
      } else {
        stations.push_back({reader.code_of(*f), std::nullopt});
        StationInput in = station_from_feature(*f, reader, options, src.crs, where);
        catalog.validate_station(in);
        stations.back().input = std::move(in);
      }
    } catch (const Error& e) {
      if (!recoverable(e)) throw;
      const std::string code = kind == ObjectKind::grids ? grids.back().code : stations.back().code;
      rejected[i] = Rejection{i, code, e.field(), e.code(), e.what()};
    }
    ++report.read;
    if (progress && (report.read % 64 == 0 || report.read == total)) progress(report.read, total);
  }
  if (progress && report.read != total) progress(report.read, report.read);

  const auto snap = catalog.snapshot();
  if (kind == ObjectKind::grids) {
    validate_grid_batch(grids, rejected, *snap);
  } else {
    reject_duplicate_codes(stations, rejected);
  }
  for (auto& r : rejected) {
    if (r) report.rejected.push_back(std::move(*r));
  }
  if (!report.rejected.empty() && !options.skip_invalid && !options.dry_run) throw ImportRejected(std::move(report));
  if (options.dry_run) return report;

  if (kind == ObjectKind::grids) {
    std::vector<GridInput> valid;
    for (auto& item : grids) {
      if (item.input) valid.push_back(std::move(*item.input));
    }
    if (!valid.empty()) std::tie(report.created, report.updated) = catalog.upsert_grids(std::move(valid));
  } else {
    std::vector<StationInput> valid;
    for (auto& item : stations) {
      if (item.input) valid.push_back(std::move(*item.input));
    }
    if (!valid.empty()) std::tie(report.created, report.updated) = catalog.upsert_stations(std::move(valid));
  }
  report.committed = true;
  return report;
}

Json to_json(const ImportReport& report) {
  Json rejected = Json::array();
  for (const auto& r : report.rejected) {
    rejected.push_back({{"feature", r.feature},
                        {"code", r.code},
                        {"field", r.field},
                        {"error", r.error},
                        {"message", r.message}});
  }
  Json repaired = Json::array();
  for (const auto& r : report.repaired) {
    repaired.push_back({{"feature", r.feature}, {"code", r.code}, {"message", r.message}});
  }
  return Json{{"source", report.source},
              {"layer", report.layer},
              {"crs", report.crs},
              {"encoding", report.encoding},
              {"read", report.read},
              {"valid", report.read - report.rejected.size()},
              {"created", report.created},
              {"updated", report.updated},
              {"committed", report.committed},
              {"rejected", std::move(rejected)},
              {"repaired", std::move(repaired)}};
}

void write_report(const ImportReport& report, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << to_json(report).dump(2) << "\n";
  out.close();
  if (!out) throw_invalid("unwritable_report", "cannot write the report to '" + path + "'", "report");
}

namespace {

/// Columns a terminal gives the UTF-8 text (CJK and full-width forms: 2).
std::size_t display_width(const std::string& s) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = c;
    std::size_t len = 1;
    if (c >= 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else if (c >= 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xC0) {
      len = 2;
      cp = c & 0x1F;
    }
    for (std::size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += len;
    const bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                      (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                      (cp >= 0xFFE0 && cp <= 0xFFE6) || cp >= 0x20000;
    w += wide ? 2 : 1;
  }
  return w;
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& r : rows) {
    widths.resize(std::max(widths.size(), r.size()), 0);
    for (std::size_t c = 0; c + 1 < r.size(); ++c) widths[c] = std::max(widths[c], display_width(r[c]));
  }
  std::string out;
  for (const auto& r : rows) {
    out += "  ";
    for (std::size_t c = 0; c < r.size(); ++c) {
      out += r[c];
      if (c + 1 < r.size()) out += std::string(widths[c] - display_width(r[c]) + 2, ' ');
    }
    out += "\n";
  }
  return out;
}

}  // namespace

std::string format_report(const ImportReport& report, std::size_t max_rows) {
  std::string out;
  if (!report.rejected.empty()) {
    out += std::to_string(report.rejected.size()) + " of " + std::to_string(report.read) + " features rejected" +
           (report.committed ? " (the other features were imported)" : "; nothing imported") + ":\n";
    std::vector<std::vector<std::string>> rows = {{"feature", "code", "error", "field", "message"}};
    for (std::size_t i = 0; i < report.rejected.size() && i < max_rows; ++i) {
      const Rejection& r = report.rejected[i];
      rows.push_back({std::to_string(r.feature), r.code.empty() ? "-" : r.code, r.error,
                      relative_field(r.field, r.feature), r.message});
    }
    out += table(rows);
    if (report.rejected.size() > max_rows) {
      out += "  ... and " + std::to_string(report.rejected.size() - max_rows) + " more\n";
    }
  }
  if (!report.repaired.empty()) {
    out += std::to_string(report.repaired.size()) + " geometries repaired:\n";
    std::vector<std::vector<std::string>> rows = {{"feature", "code", "repair"}};
    for (std::size_t i = 0; i < report.repaired.size() && i < max_rows; ++i) {
      const Repair& r = report.repaired[i];
      rows.push_back({std::to_string(r.feature), r.code.empty() ? "-" : r.code, r.message});
    }
    out += table(rows);
    if (report.repaired.size() > max_rows) {
      out += "  ... and " + std::to_string(report.repaired.size() - max_rows) + " more\n";
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

namespace {

std::string driver_for(const std::string& path, const std::string& format) {
  if (!format.empty()) {
    const std::string f = lower(format);
    if (f == "gpkg" || f == "geopackage") return "GPKG";
    if (f == "geojson" || f == "json") return "GeoJSON";
    if (f == "shp" || f == "shapefile" || f == "esri shapefile") return "ESRI Shapefile";
    if (f == "kml") return "KML";
    if (f == "csv") return "CSV";
    if (f == "fgb" || f == "flatgeobuf") return "FlatGeobuf";
    return format;
  }
  const std::string ext = lower_ext(path);
  if (ext == ".gpkg") return "GPKG";
  if (ext == ".geojson" || ext == ".json") return "GeoJSON";
  if (ext == ".geojsonl" || ext == ".geojsons") return "GeoJSONSeq";
  if (ext == ".shp") return "ESRI Shapefile";
  if (ext == ".kml") return "KML";
  if (ext == ".csv") return "CSV";
  if (ext == ".fgb") return "FlatGeobuf";
  if (ext == ".gml") return "GML";
  throw_invalid("unknown_format", "cannot tell the format of '" + path + "'; pass --format", "format");
}

std::unique_ptr<OGRGeometry> to_ogr(const GEOSGeometry* g, const std::string& crs) {
  spatial::GeomPtr out = spatial::from_wgs84(g, crs);
  const std::string wkb = spatial::to_wkb(out.get());
  OGRGeometry* raw = nullptr;
  OGRGeometryFactory::createFromWkb(wkb.data(), nullptr, &raw, wkb.size());
  return std::unique_ptr<OGRGeometry>(raw);
}

/// One output layer: its fields and how text is written.
class Writer {
 public:
  /// `recode_to`: recode text from UTF-8 (CSV); `limit`: the bytes a text
  /// field holds in `limit_encoding` (Shapefile: 254), 0 for none.
  Writer(OGRLayer* layer, std::string recode_to, std::size_t limit, std::string limit_encoding)
      : m_layer(layer),
        m_recode_to(std::move(recode_to)),
        m_limit(limit),
        m_limit_encoding(std::move(limit_encoding)) {}

  void field(const char* name, OGRFieldType type, OGRFieldSubType sub = OFSTNone) {
    OGRFieldDefn d(name, type);
    d.SetSubType(sub);
    if (m_layer->CreateField(&d) != OGRERR_NONE) {
      throw Error(ErrorKind::internal, "export_failure", std::string("cannot create field ") + name + ": " + CPLGetLastErrorMsg());
    }
  }

  void set(OGRFeature& f, const char* name, const std::string& value) {
    const int i = f.GetFieldIndex(name);
    if (i < 0) return;
    if (m_limit > 0) {
      const std::size_t bytes =
          m_limit_encoding.empty() ? value.size() : recode(value, CPL_ENC_UTF8, m_limit_encoding).size();
      if (bytes > m_limit) {
        auto& [count, example] = m_cut[name];
        if (count++ == 0) example = m_current;
      }
    }
    f.SetField(i, m_recode_to.empty() ? value.c_str() : recode(value, CPL_ENC_UTF8, m_recode_to).c_str());
  }
  static void set(OGRFeature& f, const char* name, std::int64_t value) {
    const int i = f.GetFieldIndex(name);
    if (i >= 0) f.SetField(i, static_cast<GIntBig>(value));
  }
  static void set(OGRFeature& f, const char* name, double value) {
    const int i = f.GetFieldIndex(name);
    if (i >= 0) f.SetField(i, value);
  }

  /// Name the feature being written (for warnings).
  void begin(std::string what) { m_current = std::move(what); }

  void write(OGRFeature& f) const {
    if (m_layer->CreateFeature(&f) != OGRERR_NONE) {
      throw Error(ErrorKind::internal, "export_failure", std::string("cannot write feature: ") + CPLGetLastErrorMsg());
    }
  }
  [[nodiscard]] OGRFeatureDefn* defn() const { return m_layer->GetLayerDefn(); }

  [[nodiscard]] std::vector<std::string> warnings() const {
    std::vector<std::string> out;
    for (const auto& [field, cut] : m_cut) {
      out.push_back(std::to_string(cut.first) + " value(s) of field '" + field + "' longer than " +
                    std::to_string(m_limit) + " bytes were cut to fit a Shapefile (first: " + cut.second +
                    "); GeoPackage or GeoJSON keep them whole");
    }
    return out;
  }

 private:
  OGRLayer* m_layer;
  std::string m_recode_to;
  std::size_t m_limit;
  std::string m_limit_encoding;
  std::string m_current;
  std::map<std::string, std::pair<std::size_t, std::string>> m_cut;
};

/// The grids of the export: the subtree of `root` (all when null), of `level` when set.
std::vector<const GridEntry*> select_grids(const Snapshot& snap, const GridEntry* root, std::optional<Level> level) {
  std::vector<const GridEntry*> out;
  if (!root) {
    for (const auto& e : snap.grids()) out.push_back(e.get());
  } else {
    std::vector<const GridEntry*> stack = {root};
    while (!stack.empty()) {
      const GridEntry* e = stack.back();
      stack.pop_back();
      out.push_back(e);
      for (std::size_t c : snap.children_of(e->grid.code)) stack.push_back(snap.grids()[c].get());
    }
    std::sort(out.begin(), out.end(), [](const GridEntry* a, const GridEntry* b) { return a->grid.id < b->grid.id; });
  }
  if (level) {
    out.erase(std::remove_if(out.begin(), out.end(), [&](const GridEntry* e) { return e->grid.level != *level; }),
              out.end());
  }
  return out;
}

std::vector<Incident> select_incidents(storage::IncidentStore& store, const GridEntry* root) {
  std::vector<Incident> out;
  storage::IncidentQuery q;
  q.sort = storage::IncidentSort::oldest;
  q.limit = 1000;
  if (root) q.filter.subtree = std::make_pair(root->grid.level, root->grid.id);
  for (;;) {
    storage::IncidentPage page = store.list(q);
    for (auto& i : page.items) out.push_back(std::move(i));
    if (!page.next || page.items.empty()) break;
    q.after = page.next;
  }
  return out;
}

}  // namespace

ExportReport export_file(const Snapshot& snapshot, ObjectKind kind, const std::string& path,
                         const ExportOptions& options, const Progress& progress, storage::IncidentStore* incidents) {
  GDALAllRegister();
  storage::QuietGdalErrors quiet;
  const std::string driver_name = driver_for(path, options.format);
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName(driver_name.c_str());
  if (!drv || !drv->GetMetadataItem(GDAL_DCAP_VECTOR) || !drv->GetMetadataItem(GDAL_DCAP_CREATE)) {
    throw_invalid("unknown_format", "GDAL has no vector driver '" + driver_name + "' that writes files", "format");
  }
  const spatial::CrsTransform& target = spatial::crs_transform(options.crs);  // validates
  const bool shapefile = driver_name == "ESRI Shapefile";
  const bool csv = driver_name == "CSV";
  if (driver_name == "KML" && !target.is_wgs84()) {
    throw_invalid("crs_not_applicable", "KML is WGS84 longitude/latitude by definition; export KML without a CRS",
                  "crs");
  }
  std::string recode_to;
  if (!options.encoding.empty()) {
    check_encoding(options.encoding);
    if (csv && !is_utf8(options.encoding)) {
      recode_to = options.encoding;
    } else if (!shapefile && !is_utf8(options.encoding)) {
      throw_invalid("encoding_not_applicable",
                    "the " + driver_name + " format stores text as UTF-8; an encoding applies to Shapefiles and CSV only",
                    "encoding");
    }
  }
  if (options.level && kind != ObjectKind::grids) {
    throw_invalid("level_not_applicable", "a level filters grids only", "level");
  }
  if (kind == ObjectKind::incidents && !incidents) {
    throw_invalid("unsupported_export", "incidents are exported from a store's incident store", "what");
  }
  const GridEntry* root = nullptr;
  if (!options.root.empty()) {
    root = snapshot.grid_by_code(options.root);
    if (!root) throw_not_found("grid_not_found", "no grid with code '" + options.root + "'", "root");
  }
  if (std::filesystem::exists(path)) {
    if (!options.overwrite) {
      throw_conflict("output_exists", "'" + path + "' exists; pass --overwrite to replace it", "output");
    }
    if (drv->Delete(path.c_str()) != CE_None || std::filesystem::exists(path)) {
      std::error_code ec;
      std::filesystem::remove(path, ec);
      if (ec) throw_invalid("unwritable_output", "cannot replace '" + path + "': " + ec.message(), "output");
    }
  }

  // What goes out.
  std::vector<const GridEntry*> grid_rows;
  std::vector<const StationEntry*> station_rows;
  std::vector<Incident> incident_rows;
  if (kind == ObjectKind::grids) {
    grid_rows = select_grids(snapshot, root, options.level);
  } else if (kind == ObjectKind::stations) {
    spatial::GeomPtr point;
    for (const auto& s : snapshot.stations()) {
      if (root) {
        point = spatial::make_point(s->lon, s->lat);
        if (!root->shape.covers(point.get())) continue;
      }
      station_rows.push_back(s.get());
    }
  } else {
    incident_rows = select_incidents(*incidents, root);
  }
  const std::size_t total = grid_rows.size() + station_rows.size() + incident_rows.size();

  GDALDatasetUniquePtr ds(drv->Create(path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  if (!ds) throw_invalid("unwritable_output", "cannot create '" + path + "': " + CPLGetLastErrorMsg(), "output");

  OGRSpatialReference srs;
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  const std::string crs_lower = lower(options.crs);
  const bool chinese = crs_lower == "gcj02" || crs_lower == "gcj-02" || crs_lower == "bd09" || crs_lower == "bd-09" ||
                       crs_lower == "bd09ll";
  const bool has_srs =
      !chinese && srs.SetFromUserInput(options.crs.empty() ? "EPSG:4326" : options.crs.c_str()) == OGRERR_NONE;
  std::vector<std::string> lco;
  if (csv) lco.push_back("GEOMETRY=AS_WKT");
  if (shapefile) lco.push_back("ENCODING=" + (options.encoding.empty() ? std::string("UTF-8") : options.encoding));
  std::vector<const char*> lco_raw;
  for (const auto& o : lco) lco_raw.push_back(o.c_str());
  lco_raw.push_back(nullptr);

  const char* layer_name = kind == ObjectKind::grids ? "grids" : kind == ObjectKind::stations ? "stations" : "incidents";
  OGRLayer* layer = ds->CreateLayer(layer_name, has_srs ? &srs : nullptr,
                                    kind == ObjectKind::grids ? wkbMultiPolygon : wkbPoint,
                                    const_cast<char**>(lco_raw.data()));
  if (!layer) throw Error(ErrorKind::internal, "export_failure", std::string("cannot create layer: ") + CPLGetLastErrorMsg());
  const std::string dbf_encoding = options.encoding.empty() || is_utf8(options.encoding) ? "" : options.encoding;
  Writer w(layer, recode_to, shapefile ? 254 : 0, dbf_encoding);
  // Points in CSV: the coordinates as columns too (spreadsheets read them).
  const bool xy_columns = csv && kind != ObjectKind::grids;
  const char* x_name = target.is_geographic() ? "lon" : "x";
  const char* y_name = target.is_geographic() ? "lat" : "y";

  std::size_t n = 0;
  const auto tick = [&] {
    ++n;
    if (progress && (n % 64 == 0 || n == total)) progress(n, total);
  };
  const auto point_geometry = [&](OGRFeature& feat, double lon, double lat) {
    const spatial::GeomPtr p = spatial::make_point(lon, lat);
    auto g = to_ogr(p.get(), options.crs);
    if (xy_columns) {
      const auto* pt = static_cast<const OGRPoint*>(g.get());
      Writer::set(feat, x_name, pt->getX());
      Writer::set(feat, y_name, pt->getY());
    }
    feat.SetGeometryDirectly(g.release());
  };
  if (ds->TestCapability(ODsCTransactions)) ds->StartTransaction();
  if (kind == ObjectKind::grids) {
    w.field("id", OFTInteger64);
    for (const char* f : {"code", "name", "level", "parent"}) w.field(f, OFTString);
    w.field("households", OFTInteger64);
    w.field("people", OFTString, OFSTJSON);
    w.field("attributes", OFTString, OFSTJSON);
    for (const GridEntry* e : grid_rows) {
      const Grid& g = e->grid;
      OGRFeature feat(w.defn());
      w.begin("grid " + g.code);
      Writer::set(feat, "id", g.id);
      w.set(feat, "code", g.code);
      w.set(feat, "name", g.name);
      w.set(feat, "level", std::string(to_string(g.level)));
      if (!g.parent_code.empty()) w.set(feat, "parent", g.parent_code);
      if (g.households) Writer::set(feat, "households", *g.households);
      w.set(feat, "people", to_json(g.people).dump());
      w.set(feat, "attributes", g.attributes.dump());
      auto geom = to_ogr(e->shape.geometry(), options.crs);
      feat.SetGeometryDirectly(OGRGeometryFactory::forceToMultiPolygon(geom.release()));
      w.write(feat);
      tick();
    }
  } else if (kind == ObjectKind::stations) {
    w.field("id", OFTInteger64);
    for (const char* f : {"code", "name", "kind", "address", "contact", "hours"}) w.field(f, OFTString);
    w.field("attributes", OFTString, OFSTJSON);
    if (xy_columns) {
      w.field(x_name, OFTReal);
      w.field(y_name, OFTReal);
    }
    for (const StationEntry* s : station_rows) {
      OGRFeature feat(w.defn());
      w.begin("station " + (s->code.empty() ? "id " + std::to_string(s->id) : s->code));
      Writer::set(feat, "id", s->id);
      if (!s->code.empty()) w.set(feat, "code", s->code);
      w.set(feat, "name", s->name);
      w.set(feat, "kind", s->kind);
      w.set(feat, "address", s->address);
      w.set(feat, "contact", s->contact);
      w.set(feat, "hours", s->hours);
      w.set(feat, "attributes", s->attributes.dump());
      point_geometry(feat, s->lon, s->lat);
      w.write(feat);
      tick();
    }
  } else {
    w.field("id", OFTInteger64);
    for (const char* f : {"category", "status", "priority", "channel", "description", "address", "grid_code",
                          "grid_name", "assignee", "handler"}) {
      w.field(f, OFTString);
    }
    w.field("covered", OFTInteger, OFSTBoolean);
    w.field("escalation", OFTInteger);
    for (const char* f : {"created_at", "updated_at", "dispatched_at", "due_at", "resolved_at", "closed_at"}) {
      w.field(f, OFTString);
    }
    w.field("satisfaction", OFTInteger);
    w.field("attributes", OFTString, OFSTJSON);
    if (xy_columns) {
      w.field(x_name, OFTReal);
      w.field(y_name, OFTReal);
    }
    for (const Incident& i : incident_rows) {
      OGRFeature feat(w.defn());
      w.begin("incident " + std::to_string(i.id));
      Writer::set(feat, "id", i.id);
      w.set(feat, "category", i.category);
      w.set(feat, "status", std::string(to_string(i.status)));
      w.set(feat, "priority", std::string(to_string(i.priority)));
      w.set(feat, "channel", i.channel);
      w.set(feat, "description", i.description);
      w.set(feat, "address", i.address);
      w.set(feat, "grid_code", i.grid_code);
      w.set(feat, "grid_name", i.grid_name);
      w.set(feat, "assignee", i.assignee_name);
      w.set(feat, "handler", i.handler);
      Writer::set(feat, "covered", std::int64_t{i.covered ? 1 : 0});
      Writer::set(feat, "escalation", std::int64_t{i.escalation_level});
      const std::pair<const char*, const std::string*> times[] = {
          {"created_at", &i.created_at},   {"updated_at", &i.updated_at},   {"dispatched_at", &i.dispatched_at},
          {"due_at", &i.due_at},           {"resolved_at", &i.resolved_at}, {"closed_at", &i.closed_at}};
      for (const auto& [name, value] : times) {
        if (!value->empty()) w.set(feat, name, *value);
      }
      if (i.satisfaction) Writer::set(feat, "satisfaction", std::int64_t{*i.satisfaction});
      w.set(feat, "attributes", i.attributes.dump());
      point_geometry(feat, i.lon, i.lat);
      w.write(feat);
      tick();
    }
  }
  if (ds->TestCapability(ODsCTransactions)) ds->CommitTransaction();
  return ExportReport{n, w.warnings()};
}

bool load_demo(Catalog& catalog, const std::string& manifest_path, const Progress& progress) {
  if (!catalog.snapshot()->grids().empty()) return false;
  std::ifstream in(manifest_path);
  if (!in) throw_invalid("missing_demo", "cannot read the demo manifest '" + manifest_path + "'", "geodata");
  std::stringstream buf;
  buf << in.rdbuf();
  const Json manifest = parse_json(buf.str());
  const std::filesystem::path dir = std::filesystem::path(manifest_path).parent_path();
  ImportOptions options;
  options.crs = json_string(manifest, "crs", "manifest");
  import_file(catalog, ObjectKind::grids, (dir / json_string(manifest, "grids", "manifest")).string(), options, progress);
  if (manifest.contains("stations")) {
    import_file(catalog, ObjectKind::stations, (dir / json_string(manifest, "stations", "manifest")).string(), options,
                progress);
  }
  return true;
}

}  // namespace gridd::service
