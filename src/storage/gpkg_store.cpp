#include "gridd/storage/gpkg_store.hpp"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <gdal_priv.h>
#include <ogr_geometry.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <filesystem>
#include <span>

#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/storage/gdal_errors.hpp"
#include "gridd/storage/gpkg_incident_store.hpp"
#include "incident_rows.hpp"
#include "sql_runner.hpp"
#include "visit_rows.hpp"

namespace gridd::storage {

namespace {

constexpr int k_schema_version = 6;

[[noreturn]] void fail(const std::string& what) {
  const std::string msg = CPLGetLastErrorMsg();
  if (msg.find("UNIQUE constraint failed") != std::string::npos) {
    throw_conflict("duplicate_code", "the code is already in use (" + msg + ")", "code");
  }
  throw Error(ErrorKind::internal, "store_failure", what + (msg.empty() ? "" : ": " + msg));
}

struct FieldSpec {
  const char* name;
  OGRFieldType type;
  OGRFieldSubType subtype;
};

const FieldSpec k_grid_fields[] = {
    {"code", OFTString, OFSTNone},         {"name", OFTString, OFSTNone},
    {"level", OFTString, OFSTNone},        {"parent_code", OFTString, OFSTNone},
    {"people", OFTString, OFSTJSON},       {"households", OFTInteger64, OFSTNone},
    {"attributes", OFTString, OFSTJSON},   {"created_at", OFTString, OFSTNone},
    {"updated_at", OFTString, OFSTNone},   {"version", OFTInteger64, OFSTNone},
};

const FieldSpec k_grid_version_fields[] = {
    {"grid_id", OFTInteger64, OFSTNone},   {"version", OFTInteger64, OFSTNone},
    {"code", OFTString, OFSTNone},         {"name", OFTString, OFSTNone},
    {"level", OFTString, OFSTNone},        {"parent_code", OFTString, OFSTNone},
    {"people", OFTString, OFSTJSON},       {"households", OFTInteger64, OFSTNone},
    {"attributes", OFTString, OFSTJSON},   {"created_at", OFTString, OFSTNone},
    {"valid_from", OFTString, OFSTNone},   {"valid_to", OFTString, OFSTNone},
    {"operation", OFTString, OFSTNone},    {"editor", OFTString, OFSTNone},
    {"reason", OFTString, OFSTNone},       {"draft", OFTInteger, OFSTBoolean},
};

const FieldSpec k_station_fields[] = {
    {"code", OFTString, OFSTNone},       {"name", OFTString, OFSTNone},
    {"kind", OFTString, OFSTNone},       {"address", OFTString, OFSTNone},
    {"contact", OFTString, OFSTNone},    {"hours", OFTString, OFSTNone},
    {"attributes", OFTString, OFSTJSON}, {"created_at", OFTString, OFSTNone},
    {"updated_at", OFTString, OFSTNone},
};

/// The OGR fields of a table of incident_rows.
std::vector<FieldSpec> fields_of(std::span<const rows::Column> columns) {
  std::vector<FieldSpec> out;
  for (const auto& c : columns) {
    FieldSpec f{c.name.data(), OFTString, OFSTNone};
    switch (c.type) {
      case rows::SqlType::text: break;
      case rows::SqlType::instant: f.type = OFTDateTime; break;
      case rows::SqlType::bigint: f.type = OFTInteger64; break;
      case rows::SqlType::integer: f.type = OFTInteger; break;
      case rows::SqlType::real: f.type = OFTReal; break;
      case rows::SqlType::boolean: f = {f.name, OFTInteger, OFSTBoolean}; break;
      case rows::SqlType::json: f.subtype = OFSTJSON; break;
      case rows::SqlType::bytes: f.type = OFTBinary; break;
    }
    out.push_back(f);
  }
  return out;
}

const FieldSpec k_token_fields[] = {
    {"name", OFTString, OFSTNone},       {"role", OFTString, OFSTNone},
    {"scope_code", OFTString, OFSTNone}, {"token_hash", OFTString, OFSTNone},
    {"created_at", OFTString, OFSTNone}, {"revoked_at", OFTString, OFSTNone},
    {"phone", OFTString, OFSTNone},
};

const FieldSpec k_audit_fields[] = {
    {"at", OFTString, OFSTNone},             {"principal_id", OFTInteger64, OFSTNone},
    {"principal_name", OFTString, OFSTNone}, {"principal_role", OFTString, OFSTNone},
    {"method", OFTString, OFSTNone},         {"path", OFTString, OFSTNone},
    {"target_kind", OFTString, OFSTNone},    {"target_id", OFTString, OFSTNone},
    {"status", OFTInteger, OFSTNone},        {"before", OFTString, OFSTJSON},
    {"after", OFTString, OFSTJSON},          {"request_id", OFTString, OFSTNone},
};

void create_layer(GDALDataset& ds, const char* name, OGRwkbGeometryType type, std::span<const FieldSpec> fields,
                  bool spatial_index = true) {
  OGRSpatialReference srs;
  srs.importFromEPSG(4326);
  srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  const char* options[] = {"FID=id", "GEOMETRY_NAME=geom", spatial_index ? "SPATIAL_INDEX=YES" : "SPATIAL_INDEX=NO",
                           nullptr};
  const char* table_options[] = {"FID=id", nullptr};
  OGRLayer* layer = type == wkbNone ? ds.CreateLayer(name, nullptr, wkbNone, const_cast<char**>(table_options))
                                    : ds.CreateLayer(name, &srs, type, const_cast<char**>(options));
  if (!layer) fail(std::string("cannot create layer ") + name);
  for (const auto& f : fields) {
    OGRFieldDefn defn(f.name, f.type);
    defn.SetSubType(f.subtype);
    if (layer->CreateField(&defn) != OGRERR_NONE) fail(std::string("cannot create field ") + f.name);
  }
}

std::string get_string(const OGRFeature& f, const char* name) {
  const int i = f.GetFieldIndex(name);
  if (i < 0 || !f.IsFieldSetAndNotNull(i)) return {};
  return f.GetFieldAsString(i);
}

Json get_json(const OGRFeature& f, const char* name, Json fallback) {
  return parse_json_or(get_string(f, name), std::move(fallback));
}

std::string geometry_wkb(const OGRFeature& f) {
  const OGRGeometry* g = f.GetGeometryRef();
  if (!g) return {};
  std::string out(g->WkbSize(), '\0');
  g->exportToWkb(wkbNDR, reinterpret_cast<unsigned char*>(out.data()), wkbVariantIso);
  return out;
}

std::unique_ptr<OGRGeometry> geometry_from_wkb(const std::string& wkb, bool force_multi_polygon) {
  OGRGeometry* raw = nullptr;
  if (OGRGeometryFactory::createFromWkb(wkb.data(), nullptr, &raw, wkb.size()) != OGRERR_NONE || !raw) {
    throw_invalid("invalid_geometry", "unreadable geometry", "geometry");
  }
  if (force_multi_polygon) raw = OGRGeometryFactory::forceToMultiPolygon(raw);
  return std::unique_ptr<OGRGeometry>(raw);
}

void set_string(OGRFeature& f, const char* name, const std::string& value) {
  if (value.empty()) {
    f.SetFieldNull(f.GetFieldIndex(name));
  } else {
    f.SetField(name, value.c_str());
  }
}

void fill(OGRFeature& f, const Grid& g) {
  if (g.id != 0) f.SetFID(g.id);
  f.SetField("code", g.code.c_str());
  f.SetField("name", g.name.c_str());
  f.SetField("level", std::string(to_string(g.level)).c_str());
  set_string(f, "parent_code", g.parent_code);
  f.SetField("people", to_json(g.people).dump().c_str());
  if (g.households) {
    f.SetField("households", static_cast<GIntBig>(*g.households));
  } else {
    f.SetFieldNull(f.GetFieldIndex("households"));
  }
  f.SetField("attributes", g.attributes.dump().c_str());
  f.SetField("created_at", g.created_at.c_str());
  f.SetField("updated_at", g.updated_at.c_str());
  f.SetField("version", static_cast<GIntBig>(g.version));
  f.SetGeometryDirectly(geometry_from_wkb(g.wkb, true).release());
}

/// The common fields of a grid row and a grid-version row.
Grid read_grid_fields(const OGRFeature& f) {
  Grid g;
  g.code = get_string(f, "code");
  g.name = get_string(f, "name");
  g.level = try_parse_level(get_string(f, "level")).value_or(Level::grid);
  g.parent_code = get_string(f, "parent_code");
  try {
    g.people = people_from_json(get_json(f, "people", Json::array()));
  } catch (const Error&) {
    g.people.clear();  // a hand-edited file; keep the grid, drop the bad list
  }
  const int hi = f.GetFieldIndex("households");
  if (hi >= 0 && f.IsFieldSetAndNotNull(hi)) g.households = f.GetFieldAsInteger64(hi);
  g.attributes = get_json(f, "attributes", Json::object());
  g.created_at = get_string(f, "created_at");
  const int vi = f.GetFieldIndex("version");
  g.version = vi >= 0 && f.IsFieldSetAndNotNull(vi) ? f.GetFieldAsInteger64(vi) : 1;
  g.wkb = geometry_wkb(f);
  return g;
}

/// A row of grid_versions.
void fill_version(OGRFeature& f, const GridVersion& v) {
  const Grid& g = v.grid;
  f.SetField("grid_id", static_cast<GIntBig>(g.id));
  f.SetField("version", static_cast<GIntBig>(g.version));
  f.SetField("code", g.code.c_str());
  f.SetField("name", g.name.c_str());
  f.SetField("level", std::string(to_string(g.level)).c_str());
  set_string(f, "parent_code", g.parent_code);
  f.SetField("people", to_json(g.people).dump().c_str());
  if (g.households) f.SetField("households", static_cast<GIntBig>(*g.households));
  f.SetField("attributes", g.attributes.dump().c_str());
  set_string(f, "created_at", g.created_at);
  f.SetField("valid_from", v.valid_from.c_str());
  set_string(f, "valid_to", v.valid_to);
  f.SetField("operation", v.operation.c_str());
  set_string(f, "editor", v.editor);
  set_string(f, "reason", v.reason);
  f.SetField("draft", v.draft ? 1 : 0);
  if (!g.wkb.empty()) f.SetGeometryDirectly(geometry_from_wkb(g.wkb, true).release());
}

GridVersion read_version(const OGRFeature& f) {
  GridVersion v;
  v.grid = read_grid_fields(f);
  v.grid.id = std::stoll("0" + get_string(f, "grid_id"));
  v.valid_from = get_string(f, "valid_from");
  v.valid_to = get_string(f, "valid_to");
  v.grid.updated_at = v.valid_from;
  v.operation = get_string(f, "operation");
  v.editor = get_string(f, "editor");
  v.reason = get_string(f, "reason");
  v.draft = get_string(f, "draft") == "1";
  return v;
}

/// SQL string literal.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

void fill(OGRFeature& f, const Station& s) {
  if (s.id != 0) f.SetFID(s.id);
  set_string(f, "code", s.code);
  f.SetField("name", s.name.c_str());
  f.SetField("kind", s.kind.c_str());
  set_string(f, "address", s.address);
  set_string(f, "contact", s.contact);
  set_string(f, "hours", s.hours);
  f.SetField("attributes", s.attributes.dump().c_str());
  f.SetField("created_at", s.created_at.c_str());
  f.SetField("updated_at", s.updated_at.c_str());
  f.SetGeometryDirectly(new OGRPoint(s.lon, s.lat));
}

void sql(GDALDataset& ds, const std::string& statement) {
  CPLErrorReset();
  OGRLayer* result = ds.ExecuteSQL(statement.c_str(), nullptr, nullptr);
  if (result) ds.ReleaseResultSet(result);
  if (CPLGetLastErrorType() >= CE_Failure) fail("schema statement failed (" + statement + ")");
}

bool has_field(OGRLayer* layer, const char* name) { return layer->GetLayerDefn()->GetFieldIndex(name) >= 0; }

/// Schema version 6: the reporter's tracking code, unique. Added to older
/// stores (their incidents keep none).
void ensure_tracking_codes(GDALDataset& ds) {
  OGRLayer* incidents = ds.GetLayerByName("incidents");
  if (!incidents) return;
  if (!has_field(incidents, "tracking_code")) {
    OGRFieldDefn defn("tracking_code", OFTString);
    if (incidents->CreateField(&defn) != OGRERR_NONE) fail("cannot add incidents.tracking_code");
  }
  sql(ds, "CREATE UNIQUE INDEX IF NOT EXISTS incidents_tracking_code_uq ON incidents(tracking_code)");
  sql(ds, "INSERT OR REPLACE INTO gridd_meta VALUES ('schema_version', '" + std::to_string(k_schema_version) + "')");
}

/// Schema version 2: the incident layer, its history and its attachments,
/// with the indexes the listings and the feed use. Added to older stores.
void ensure_incident_schema(GDALDataset& ds) {
  if (!ds.GetLayerByName("incidents")) {
    create_layer(ds, "incidents", wkbPoint, fields_of(rows::incident_columns()));
    for (const char* column : {"status", "category", "created_at", "due_at", "grid_id", "chain_district",
                               "chain_street", "chain_community", "chain_grid", "chain_micro_grid",
                               "assignee_name"}) {
      sql(ds, std::string("CREATE INDEX incidents_") + column + "_idx ON incidents(" + column + ")");
    }
  }
  ensure_tracking_codes(ds);
  if (!ds.GetLayerByName("incident_events")) {
    create_layer(ds, "incident_events", wkbNone, fields_of(rows::event_columns()));
    sql(ds, "CREATE INDEX incident_events_incident_idx ON incident_events(incident_id)");
  }
  if (!ds.GetLayerByName("incident_attachments")) {
    create_layer(ds, "incident_attachments", wkbNone, fields_of(rows::attachment_columns()));
    sql(ds, "CREATE INDEX incident_attachments_incident_idx ON incident_attachments(incident_id)");
  }
  sql(ds, "INSERT OR REPLACE INTO gridd_meta VALUES ('schema_version', '" + std::to_string(k_schema_version) + "')");
}

/// Schema version 3: grid versions (history and time travel) and the grid
/// version an incident was assigned under. Added to older stores: every
/// existing grid gets version 1, valid from its creation.
void ensure_history_schema(GDALDataset& ds) {
  OGRLayer* grids = ds.GetLayerByName("grids");
  if (!grids) return;
  if (!has_field(grids, "version")) {
    OGRFieldDefn defn("version", OFTInteger64);
    if (grids->CreateField(&defn) != OGRERR_NONE) fail("cannot add grids.version");
    sql(ds, "UPDATE grids SET version = 1");
  }
  if (OGRLayer* incidents = ds.GetLayerByName("incidents"); incidents && !has_field(incidents, "grid_version")) {
    OGRFieldDefn defn("grid_version", OFTInteger64);
    if (incidents->CreateField(&defn) != OGRERR_NONE) fail("cannot add incidents.grid_version");
  }
  if (!ds.GetLayerByName("grid_versions")) {
    create_layer(ds, "grid_versions", wkbMultiPolygon, k_grid_version_fields, false);
    sql(ds, "CREATE INDEX grid_versions_grid_idx ON grid_versions(grid_id, version)");
    sql(ds, "CREATE INDEX grid_versions_time_idx ON grid_versions(valid_from, valid_to)");
    OGRLayer* versions = ds.GetLayerByName("grid_versions");
    if (ds.StartTransaction(TRUE) != OGRERR_NONE) fail("cannot start a transaction");
    grids->ResetReading();
    for (auto& f : *grids) {
      GridVersion v;
      v.grid = read_grid_fields(*f);
      v.grid.id = f->GetFID();
      v.valid_from = v.grid.created_at.empty() ? get_string(*f, "updated_at") : v.grid.created_at;
      v.operation = "create";
      v.editor = "gridd";
      v.reason = "history started";
      OGRFeature row(versions->GetLayerDefn());
      fill_version(row, v);
      if (versions->CreateFeature(&row) != OGRERR_NONE) fail("cannot write a grid version");
    }
    if (ds.CommitTransaction() != OGRERR_NONE) fail("commit failed");
  }
  sql(ds, "INSERT OR REPLACE INTO gridd_meta VALUES ('schema_version', '" + std::to_string(k_schema_version) + "')");
}

/// Schema version 4: API tokens (hashes only) and the append-only audit log.
/// Added to older stores.
void ensure_auth_schema(GDALDataset& ds) {
  if (!ds.GetLayerByName("api_tokens")) {
    create_layer(ds, "api_tokens", wkbNone, k_token_fields);
    sql(ds, "CREATE UNIQUE INDEX api_tokens_hash_uq ON api_tokens(token_hash)");
  }
  if (!ds.GetLayerByName("audit_log")) create_layer(ds, "audit_log", wkbNone, k_audit_fields);
  // Schema version 5: a token names its person's phone.
  if (OGRLayer* tokens = ds.GetLayerByName("api_tokens"); tokens && !has_field(tokens, "phone")) {
    OGRFieldDefn defn("phone", OFTString);
    if (tokens->CreateField(&defn) != OGRERR_NONE) fail("cannot add api_tokens.phone");
  }
  sql(ds, "INSERT OR REPLACE INTO gridd_meta VALUES ('schema_version', '" + std::to_string(k_schema_version) + "')");
}

/// Visits: a point layer (it opens in QGIS), added to any store.
void ensure_visit_schema(GDALDataset& ds) {
  if (!ds.GetLayerByName("visits")) {
    create_layer(ds, "visits", wkbPoint, fields_of(rows::visit_columns()));
    for (const char* column : {"visited_at", "worker_phone", "worker_name", "chain_district", "chain_street",
                               "chain_community", "chain_grid", "chain_micro_grid"}) {
      sql(ds, std::string("CREATE INDEX visits_") + column + "_idx ON visits(" + column + ")");
    }
  }
  // Their photos: a plain table (the bytes in the file, as incident photos).
  if (!ds.GetLayerByName("visit_photos")) {
    create_layer(ds, "visit_photos", wkbNone, fields_of(rows::visit_photo_columns()));
    sql(ds, "CREATE INDEX visit_photos_visit_idx ON visit_photos(visit_id)");
  }
}

/// Idempotency keys: a plain table (not a layer), added to any store.
void ensure_idempotency_schema(GDALDataset& ds) {
  sql(ds,
      "CREATE TABLE IF NOT EXISTS idempotency_keys (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
      "created_at TEXT NOT NULL, status INTEGER, content_type TEXT, body BLOB, headers TEXT)");
  sql(ds, "CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON idempotency_keys(created_at)");
}

}  // namespace

struct GpkgStore::Impl {
  GDALDatasetUniquePtr ds;
  OGRLayer* grids = nullptr;
  OGRLayer* stations = nullptr;
  OGRLayer* versions = nullptr;
};

GpkgStore::GpkgStore(std::string path) : m_path(std::move(path)), m_impl(std::make_unique<Impl>()) {
  GDALAllRegister();
  // Durability: write-ahead log with a full fsync at every commit; readers
  // (the incident queries) never wait on a writer.
  CPLSetConfigOption("OGR_SQLITE_SYNCHRONOUS", "FULL");
  CPLSetConfigOption("OGR_SQLITE_JOURNAL", "WAL");
  QuietGdalErrors quiet;
  const bool exists = std::filesystem::exists(m_path);
  if (!exists) {
    GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("GPKG");
    if (!drv) fail("the GDAL GeoPackage driver is missing");
    GDALDatasetUniquePtr created(drv->Create(m_path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
    if (!created) {
      throw_invalid("invalid_store", "cannot create GeoPackage '" + m_path + "': " + CPLGetLastErrorMsg(), "store");
    }
    create_layer(*created, "grids", wkbMultiPolygon, k_grid_fields);
    create_layer(*created, "stations", wkbPoint, k_station_fields);
    created->ExecuteSQL("CREATE UNIQUE INDEX grids_code_uq ON grids(code)", nullptr, nullptr);
    created->ExecuteSQL("CREATE INDEX grids_parent_idx ON grids(parent_code)", nullptr, nullptr);
    created->ExecuteSQL(
        "CREATE UNIQUE INDEX stations_code_uq ON stations(code) WHERE code IS NOT NULL", nullptr, nullptr);
    created->ExecuteSQL("CREATE TABLE gridd_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)", nullptr, nullptr);
    ensure_incident_schema(*created);
    ensure_history_schema(*created);
    ensure_auth_schema(*created);
    ensure_idempotency_schema(*created);
    ensure_visit_schema(*created);
    created.reset();  // close, so spatial indexes and metadata are complete on disk
  } else {
    GDALDatasetUniquePtr existing(
        GDALDataset::Open(m_path.c_str(), GDAL_OF_VECTOR | GDAL_OF_UPDATE, nullptr, nullptr, nullptr));
    if (existing && existing->GetLayerByName("grids") && !existing->GetLayerByName("incident_attachments")) {
      ensure_incident_schema(*existing);  // migrate a version-1 store
    }
    if (existing && existing->GetLayerByName("grids") && !existing->GetLayerByName("grid_versions")) {
      ensure_history_schema(*existing);  // migrate a version-2 store
    }
    if (existing && existing->GetLayerByName("grids") &&
        (!existing->GetLayerByName("api_tokens") || !existing->GetLayerByName("audit_log") ||
         !has_field(existing->GetLayerByName("api_tokens"), "phone"))) {
      ensure_auth_schema(*existing);  // migrate a version-3 or -4 store
    }
    if (existing && existing->GetLayerByName("grids")) {
      ensure_tracking_codes(*existing);
      ensure_idempotency_schema(*existing);
      ensure_visit_schema(*existing);
    }
  }
  m_impl->ds.reset(GDALDataset::Open(m_path.c_str(), GDAL_OF_VECTOR | GDAL_OF_UPDATE, nullptr, nullptr, nullptr));
  if (!m_impl->ds) {
    throw_invalid("invalid_store", "cannot open GeoPackage '" + m_path + "': " + CPLGetLastErrorMsg(), "store");
  }
  m_impl->grids = m_impl->ds->GetLayerByName("grids");
  m_impl->stations = m_impl->ds->GetLayerByName("stations");
  m_impl->versions = m_impl->ds->GetLayerByName("grid_versions");
  if (!m_impl->grids || !m_impl->stations || !m_impl->versions) {
    throw_invalid("invalid_store", "'" + m_path + "' is not a gridd store (layers grids/stations missing)", "store");
  }
  m_incidents = std::make_unique<GpkgIncidentStore>(m_path, m_mutex);
  m_auth = std::make_unique<GpkgAuthStore>(m_path);
  m_idempotency = std::make_unique<IdempotencyStore>(gpkg_runner(m_path, m_mutex), std::chrono::hours(24));
  m_visits = std::make_unique<VisitStore>(gpkg_runner(m_path, m_mutex));
}

VisitStore& GpkgStore::visits() { return *m_visits; }

AuthStore& GpkgStore::auth() { return *m_auth; }

IdempotencyStore& GpkgStore::idempotency() { return *m_idempotency; }

IncidentStore& GpkgStore::incidents() { return *m_incidents; }

GpkgStore::~GpkgStore() {
  m_visits.reset();
  m_idempotency.reset();
  m_auth.reset();
  m_incidents.reset();  // close its connections before GDAL's
}

std::string GpkgStore::describe() const { return "GeoPackage " + m_path; }

std::vector<Grid> GpkgStore::load_grids() {
  std::lock_guard lock(m_mutex);
  QuietGdalErrors quiet;
  std::vector<Grid> out;
  OGRLayer* layer = m_impl->grids;
  layer->ResetReading();
  for (auto& f : *layer) {
    Grid g = read_grid_fields(*f);
    g.id = f->GetFID();
    g.updated_at = get_string(*f, "updated_at");
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<GridVersion> GpkgStore::grid_history(std::int64_t grid_id) {
  std::lock_guard lock(m_mutex);
  QuietGdalErrors quiet;
  std::vector<GridVersion> out;
  OGRLayer* layer = m_impl->versions;
  layer->SetAttributeFilter(("grid_id = " + std::to_string(grid_id)).c_str());
  layer->ResetReading();
  for (auto& f : *layer) out.push_back(read_version(*f));
  layer->SetAttributeFilter(nullptr);
  std::sort(out.begin(), out.end(),
            [](const GridVersion& a, const GridVersion& b) { return a.grid.version < b.grid.version; });
  return out;
}

std::vector<Grid> GpkgStore::load_grids_at(const std::string& at) {
  std::lock_guard lock(m_mutex);
  QuietGdalErrors quiet;
  std::vector<Grid> out;
  OGRLayer* layer = m_impl->versions;
  const std::string t = quoted(at);
  layer->SetAttributeFilter(("valid_from <= " + t + " AND (valid_to IS NULL OR valid_to > " + t +
                             ") AND operation <> 'delete'")
                                .c_str());
  layer->ResetReading();
  for (auto& f : *layer) {
    GridVersion v = read_version(*f);
    if (v.grid.wkb.empty()) continue;
    out.push_back(std::move(v.grid));
  }
  layer->SetAttributeFilter(nullptr);
  std::sort(out.begin(), out.end(), [](const Grid& a, const Grid& b) { return a.id < b.id; });
  return out;
}

std::vector<std::string> GpkgStore::grid_change_times() {
  std::lock_guard lock(m_mutex);
  QuietGdalErrors quiet;
  std::vector<std::string> out;
  OGRLayer* result = m_impl->ds->ExecuteSQL(
      "SELECT valid_from AS t FROM grid_versions UNION SELECT valid_to FROM grid_versions WHERE valid_to IS NOT NULL "
      "ORDER BY 1",
      nullptr, nullptr);
  if (!result) fail("cannot read the grid history");
  for (auto& f : *result) out.push_back(f->GetFieldAsString(0));
  m_impl->ds->ReleaseResultSet(result);
  return out;
}

std::vector<Station> GpkgStore::load_stations() {
  std::lock_guard lock(m_mutex);
  QuietGdalErrors quiet;
  std::vector<Station> out;
  OGRLayer* layer = m_impl->stations;
  layer->ResetReading();
  for (auto& f : *layer) {
    Station s;
    s.id = f->GetFID();
    s.code = get_string(*f, "code");
    s.name = get_string(*f, "name");
    s.kind = get_string(*f, "kind");
    s.address = get_string(*f, "address");
    s.contact = get_string(*f, "contact");
    s.hours = get_string(*f, "hours");
    s.attributes = get_json(*f, "attributes", Json::object());
    s.created_at = get_string(*f, "created_at");
    s.updated_at = get_string(*f, "updated_at");
    if (const auto* p = dynamic_cast<const OGRPoint*>(f->GetGeometryRef())) {
      s.lon = p->getX();
      s.lat = p->getY();
    }
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

template <class T>
std::int64_t insert(OGRLayer* layer, const T& obj, bool keep_id = false) {
  OGRFeature feature(layer->GetLayerDefn());
  T copy = obj;
  if (!keep_id) copy.id = 0;
  fill(feature, copy);
  if (layer->CreateFeature(&feature) != OGRERR_NONE) fail("insert failed");
  return feature.GetFID();
}

template <class T>
void update(OGRLayer* layer, const T& obj, const char* what) {
  OGRFeature feature(layer->GetLayerDefn());
  fill(feature, obj);
  const OGRErr err = layer->SetFeature(&feature);
  if (err == OGRERR_NON_EXISTING_FEATURE) {
    throw_not_found(std::string(what) + "_not_found", std::string("no ") + what + " with id " + std::to_string(obj.id), "id");
  }
  if (err != OGRERR_NONE) fail("update failed");
}

void remove(OGRLayer* layer, std::int64_t id, const char* what) {
  const OGRErr err = layer->DeleteFeature(id);
  if (err == OGRERR_NON_EXISTING_FEATURE) {
    throw_not_found(std::string(what) + "_not_found", std::string("no ") + what + " with id " + std::to_string(id), "id");
  }
  if (err != OGRERR_NONE) fail("delete failed");
}

}  // namespace

ChangeResult GpkgStore::apply(const ChangeSet& changes) {
  std::lock_guard lock(m_mutex);
  QuietGdalErrors quiet;
  ChangeResult result;
  if (changes.empty()) return result;
  GDALDataset& ds = *m_impl->ds;
  if (ds.StartTransaction(TRUE) != OGRERR_NONE) fail("cannot start a transaction");
  try {
    const std::string at = changes.at.empty() ? now_iso8601() : changes.at;
    // Close the current version of every grid that changes or goes.
    auto close_version = [&](std::int64_t id) {
      sql(ds, "UPDATE grid_versions SET valid_to = " + quoted(at) + " WHERE grid_id = " + std::to_string(id) +
                  " AND valid_to IS NULL");
    };
    auto add_version = [&](const Grid& g, const char* default_operation) {
      GridVersion v;
      v.grid = g;
      v.valid_from = at;
      v.operation = changes.operation.empty() ? default_operation : changes.operation;
      v.editor = changes.editor;
      v.reason = changes.reason;
      v.draft = changes.draft;
      OGRFeature row(m_impl->versions->GetLayerDefn());
      fill_version(row, v);
      if (m_impl->versions->CreateFeature(&row) != OGRERR_NONE) fail("cannot write a grid version");
    };
    // Deletes first, so a batch may replace an object by its code.
    for (auto id : changes.grid_deletes) {
      std::unique_ptr<OGRFeature> old(m_impl->grids->GetFeature(id));
      if (!old) throw_not_found("grid_not_found", "no grid with id " + std::to_string(id), "id");
      remove(m_impl->grids, id, "grid");
      close_version(id);
      Grid tombstone = read_grid_fields(*old);
      tombstone.id = id;
      tombstone.version += 1;
      tombstone.wkb.clear();
      add_version(tombstone, "delete");
      sql(ds, "UPDATE grid_versions SET valid_to = valid_from WHERE grid_id = " + std::to_string(id) +
                  " AND valid_to IS NULL");
    }
    for (auto id : changes.station_deletes) remove(m_impl->stations, id, "station");
    for (const auto& g : changes.grid_updates) {
      update(m_impl->grids, g, "grid");
      close_version(g.id);
      add_version(g, "update");
    }
    for (const auto& s : changes.station_updates) update(m_impl->stations, s, "station");
    for (const auto& g : changes.grid_inserts) {
      const std::int64_t id = insert(m_impl->grids, g, g.id != 0);
      result.grid_ids.push_back(id);
      Grid copy = g;
      copy.id = id;
      add_version(copy, g.id != 0 ? "restore" : "create");
    }
    for (const auto& s : changes.station_inserts) result.station_ids.push_back(insert(m_impl->stations, s));
    if (ds.CommitTransaction() != OGRERR_NONE) fail("commit failed");
  } catch (...) {
    ds.RollbackTransaction();
    throw;
  }
  return result;
}

}  // namespace gridd::storage
