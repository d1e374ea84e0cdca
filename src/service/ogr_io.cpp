#include "gridd/service/ogr_io.hpp"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <fstream>
#include <sstream>

#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/storage/gdal_errors.hpp"

namespace gridd::service {

namespace {

std::string lower_ext(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

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

/// Reads gridd properties from OGR features with the caller's field mapping.
class FieldReader {
 public:
  FieldReader(OGRFeatureDefn* defn, const std::map<std::string, std::string>& mapping, ObjectKind kind) {
    static const std::vector<const char*> grid_props = {"code",   "name",   "level",  "parent",
                                                        "households", "people", "worker", "worker_phone"};
    static const std::vector<const char*> station_props = {"code", "name", "kind", "address", "contact", "hours"};
    for (const char* p : kind == ObjectKind::grids ? grid_props : station_props) {
      auto it = mapping.find(p);
      const std::string field = it == mapping.end() ? p : it->second;
      int idx = defn->GetFieldIndex(field.c_str());
      if (idx >= 0) {
        const int original = defn->GetFieldIndex((field + "_original").c_str());
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
    for (int i = 0; i < defn->GetFieldCount(); ++i) {
      const std::string n = defn->GetFieldDefn(i)->GetNameRef();
      if (n.size() > 9 && n.compare(n.size() - 9, 9, "_original") == 0) m_used.insert(i);
    }
    // A file gridd exported: its `attributes` JSON object is merged back as
    // the attributes, and its `id` column is gridd's, not an attribute.
    const int attributes = defn->GetFieldIndex("attributes");
    if (attributes >= 0 && !m_used.count(attributes)) {
      m_attributes = attributes;
      m_used.insert(attributes);
      const int id = defn->GetFieldIndex("id");
      if (id >= 0) m_used.insert(id);
    }
  }

  [[nodiscard]] std::string get(const OGRFeature& f, const char* property) const {
    const int idx = m_index.at(property);
    if (idx < 0 || !f.IsFieldSetAndNotNull(idx)) return {};
    std::string s = f.GetFieldAsString(idx);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
  }

  [[nodiscard]] Json attributes(const OGRFeature& f) const {
    Json out = Json::object();
    if (m_attributes >= 0 && f.IsFieldSetAndNotNull(m_attributes)) {
      Json j = Json::parse(f.GetFieldAsString(m_attributes), nullptr, false);
      if (j.is_object()) out = std::move(j);
    }
    const int n = f.GetFieldCount();
    for (int i = 0; i < n; ++i) {
      if (m_used.count(i) || !f.IsFieldSetAndNotNull(i)) continue;
      const OGRFieldDefn* d = f.GetFieldDefnRef(i);
      const char* name = d->GetNameRef();
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
          const std::string s = f.GetFieldAsString(i);
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
  std::map<std::string, int> m_index;
  std::set<int> m_used;
  int m_attributes = -1;
};

struct Source {
  GDALDatasetUniquePtr ds;
  OGRLayer* layer = nullptr;
  std::string crs;
};

Source open_source(const std::string& path, const ImportOptions& options) {
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
  if (!options.encoding.empty() && (ext == ".shp" || ext == ".dbf" || ext == ".zip")) {
    opts.push_back("ENCODING=" + options.encoding);
  }
  std::vector<const char*> raw;
  for (const auto& o : opts) raw.push_back(o.c_str());
  raw.push_back(nullptr);
  Source src;
  src.ds.reset(GDALDataset::Open(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, nullptr, raw.data(), nullptr));
  if (!src.ds) {
    throw_invalid("unreadable_source", "cannot open '" + path + "' as a vector source: " + CPLGetLastErrorMsg(), "file");
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
  g.code = r.get(f, "code");
  g.name = r.get(f, "name");
  const std::string level = r.get(f, "level");
  if (!level.empty()) {
    g.level = parse_level(level, where + "/properties/level");
  } else if (auto from_code = level_from_code(g.code)) {
    g.level = *from_code;
  } else {
    g.level = parse_level(o.default_level, "default_level");
  }
  g.parent_code = r.get(f, "parent");
  const std::string hh = r.get(f, "households");
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
  const std::string people = r.get(f, "people");
  if (!people.empty()) {
    Json j = Json::parse(people, nullptr, false);
    if (j.is_discarded()) throw_invalid("invalid_people", "people is not a JSON array", where + "/properties/people");
    g.people = people_from_json(j, where + "/properties/people");
  }
  const std::string worker = r.get(f, "worker");
  if (!worker.empty()) g.people.push_back({worker, "grid_worker", r.get(f, "worker_phone")});
  g.attributes = r.attributes(f);
  in.geometry = feature_geometry(f, crs, where);
  return in;
}

StationInput station_from_feature(const OGRFeature& f, const FieldReader& r, const ImportOptions& o,
                                  const std::string& crs, const std::string& where) {
  StationInput in;
  in.where = where;
  Station& s = in.station;
  s.code = r.get(f, "code");
  s.name = r.get(f, "name");
  s.kind = r.get(f, "kind");
  if (s.kind.empty()) s.kind = o.default_kind;
  s.address = r.get(f, "address");
  s.contact = r.get(f, "contact");
  s.hours = r.get(f, "hours");
  s.attributes = r.attributes(f);
  spatial::GeomPtr g = feature_geometry(f, crs, where);
  if (spatial::type_id(g.get()) != GEOS_POINT) {
    throw_invalid("invalid_geometry_type", "a station geometry must be a Point", where + "/geometry");
  }
  GEOSGeomGetX_r(spatial::geos(), g.get(), &s.lon);
  GEOSGeomGetY_r(spatial::geos(), g.get(), &s.lat);
  return in;
}

}  // namespace

ImportReport import_file(Catalog& catalog, ObjectKind kind, const std::string& path,
                         const ImportOptions& options, const Progress& progress) {
  GDALAllRegister();
  storage::QuietGdalErrors quiet;
  Source src = open_source(path, options);
  const FieldReader reader(src.layer->GetLayerDefn(), options.fields, kind);
  const GIntBig count = src.layer->GetFeatureCount(TRUE);
  const std::size_t total = count > 0 ? static_cast<std::size_t>(count) : 0;

  ImportReport report;
  std::vector<GridInput> grids;
  std::vector<StationInput> stations;
  src.layer->ResetReading();
  for (auto& f : *src.layer) {
    const std::string where = "features/" + std::to_string(report.read);
    if (kind == ObjectKind::grids) {
      grids.push_back(grid_from_feature(*f, reader, options, src.crs, where));
    } else {
      stations.push_back(station_from_feature(*f, reader, options, src.crs, where));
    }
    ++report.read;
    if (progress && (report.read % 64 == 0 || report.read == total)) progress(report.read, total);
  }
  if (kind == ObjectKind::grids) {
    // Infer a missing parent from the national code form when that parent exists.
    std::set<std::string> codes;
    for (const auto& g : grids) codes.insert(g.grid.code);
    const auto snap = catalog.snapshot();
    for (auto& g : grids) {
      const std::string& c = g.grid.code;
      if (!g.grid.parent_code.empty() || !all_digits(c) || (c.size() != 9 && c.size() != 12 && c.size() != 15)) continue;
      const std::string prefix = c.substr(0, c.size() - 3);
      if (codes.count(prefix) || snap->grid_by_code(prefix)) g.grid.parent_code = prefix;
    }
    std::tie(report.created, report.updated) = catalog.upsert_grids(std::move(grids));
  } else {
    std::tie(report.created, report.updated) = catalog.upsert_stations(std::move(stations));
  }
  if (progress && report.read != total) progress(report.read, report.read);
  return report;
}

namespace {

std::string driver_for(const std::string& path, const std::string& format) {
  if (!format.empty()) return format;
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

void add_field(OGRLayer* layer, const char* name, OGRFieldType type) {
  OGRFieldDefn d(name, type);
  const std::string_view n(name);
  if (type == OFTString && (n == "attributes" || n == "people")) d.SetSubType(OFSTJSON);
  if (layer->CreateField(&d) != OGRERR_NONE) {
    throw Error(ErrorKind::internal, "export_failure", std::string("cannot create field ") + name + ": " + CPLGetLastErrorMsg());
  }
}

std::unique_ptr<OGRGeometry> to_ogr(const GEOSGeometry* g, const std::string& crs) {
  spatial::GeomPtr out = spatial::from_wgs84(g, crs);
  const std::string wkb = spatial::to_wkb(out.get());
  OGRGeometry* raw = nullptr;
  OGRGeometryFactory::createFromWkb(wkb.data(), nullptr, &raw, wkb.size());
  return std::unique_ptr<OGRGeometry>(raw);
}

}  // namespace

std::size_t export_file(const Snapshot& snapshot, ObjectKind kind, const std::string& path,
                        const ExportOptions& options) {
  GDALAllRegister();
  storage::QuietGdalErrors quiet;
  const std::string driver_name = driver_for(path, options.format);
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName(driver_name.c_str());
  if (!drv) throw_invalid("unknown_format", "GDAL has no vector driver '" + driver_name + "'", "format");
  (void)spatial::crs_transform(options.crs);  // validate
  if (std::filesystem::exists(path)) drv->Delete(path.c_str());
  GDALDatasetUniquePtr ds(drv->Create(path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  if (!ds) throw_invalid("unwritable_output", "cannot create '" + path + "': " + CPLGetLastErrorMsg(), "output");

  OGRSpatialReference srs;
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  const std::string crs_lower = [&] {
    std::string s = options.crs;
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  }();
  const bool chinese = crs_lower == "gcj02" || crs_lower == "bd09";
  const bool has_srs = !chinese && srs.SetFromUserInput(options.crs.empty() ? "EPSG:4326" : options.crs.c_str()) == OGRERR_NONE;
  std::vector<std::string> lco;
  if (driver_name == "CSV") lco.push_back("GEOMETRY=AS_WKT");
  if (driver_name == "ESRI Shapefile") lco.push_back("ENCODING=UTF-8");
  std::vector<const char*> lco_raw;
  for (const auto& o : lco) lco_raw.push_back(o.c_str());
  lco_raw.push_back(nullptr);

  const bool grids = kind == ObjectKind::grids;
  OGRLayer* layer = ds->CreateLayer(grids ? "grids" : "stations", has_srs ? &srs : nullptr,
                                    grids ? wkbMultiPolygon : wkbPoint, const_cast<char**>(lco_raw.data()));
  if (!layer) throw Error(ErrorKind::internal, "export_failure", std::string("cannot create layer: ") + CPLGetLastErrorMsg());
  std::size_t n = 0;
  if (ds->TestCapability(ODsCTransactions)) ds->StartTransaction();
  if (grids) {
    for (const char* f : {"id", "code", "name", "level", "parent", "households", "people", "attributes"}) {
      add_field(layer, f, std::string_view(f) == "id" || std::string_view(f) == "households" ? OFTInteger64 : OFTString);
    }
    for (const auto& e : snapshot.grids()) {
      const Grid& g = e->grid;
      OGRFeature feat(layer->GetLayerDefn());
      feat.SetField("id", static_cast<GIntBig>(g.id));
      feat.SetField("code", g.code.c_str());
      feat.SetField("name", g.name.c_str());
      feat.SetField("level", std::string(to_string(g.level)).c_str());
      if (!g.parent_code.empty()) feat.SetField("parent", g.parent_code.c_str());
      if (g.households) feat.SetField("households", static_cast<GIntBig>(*g.households));
      feat.SetField("people", to_json(g.people).dump().c_str());
      feat.SetField("attributes", g.attributes.dump().c_str());
      auto geom = to_ogr(e->shape.geometry(), options.crs);
      feat.SetGeometryDirectly(OGRGeometryFactory::forceToMultiPolygon(geom.release()));
      if (layer->CreateFeature(&feat) != OGRERR_NONE) {
        throw Error(ErrorKind::internal, "export_failure", std::string("cannot write feature: ") + CPLGetLastErrorMsg());
      }
      ++n;
    }
  } else {
    for (const char* f : {"id", "code", "name", "kind", "address", "contact", "hours", "attributes"}) {
      add_field(layer, f, std::string_view(f) == "id" ? OFTInteger64 : OFTString);
    }
    for (const auto& s : snapshot.stations()) {
      OGRFeature feat(layer->GetLayerDefn());
      feat.SetField("id", static_cast<GIntBig>(s->id));
      if (!s->code.empty()) feat.SetField("code", s->code.c_str());
      feat.SetField("name", s->name.c_str());
      feat.SetField("kind", s->kind.c_str());
      feat.SetField("address", s->address.c_str());
      feat.SetField("contact", s->contact.c_str());
      feat.SetField("hours", s->hours.c_str());
      feat.SetField("attributes", s->attributes.dump().c_str());
      const spatial::GeomPtr p = spatial::make_point(s->lon, s->lat);
      feat.SetGeometryDirectly(to_ogr(p.get(), options.crs).release());
      if (layer->CreateFeature(&feat) != OGRERR_NONE) {
        throw Error(ErrorKind::internal, "export_failure", std::string("cannot write feature: ") + CPLGetLastErrorMsg());
      }
      ++n;
    }
  }
  if (ds->TestCapability(ODsCTransactions)) ds->CommitTransaction();
  return n;
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
