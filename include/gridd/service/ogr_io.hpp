#pragma once
/// @file ogr_io.hpp
/// Import grids and stations from any OGR source (GeoJSON, GeoPackage,
/// Shapefile, KML, CSV with coordinate columns, ...) and export grids,
/// stations and incidents to any OGR format, with CRS transformation
/// (anything PROJ knows, CGCS2000 Gauss-Krüger zones included, and
/// gcj02/bd09) and text encodings (GBK/GB18030 Shapefiles).
///
/// Imports validate every feature before anything is written and report
/// every rejected feature with the reason (ImportReport); by default a file
/// with a rejected feature writes nothing (ImportRejected).

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gridd/core/error.hpp"
#include "gridd/service/catalog.hpp"

namespace gridd::storage {
class IncidentStore;
}

namespace gridd::service {

/// What is imported or exported. Incidents are exported only.
enum class ObjectKind { grids, stations, incidents };

/// "grids", "stations", "incidents"; anything else throws Error(invalid_input, "unknown_layer").
ObjectKind parse_object_kind(std::string_view text);

struct ImportOptions {
  std::string layer;  ///< layer name; empty: the first layer
  std::string crs;    ///< source CRS; empty: the layer's own (WGS84 if none)
  /// Field name for each gridd property, when it differs from the property
  /// name: code, name, level, parent, households, people, worker,
  /// worker_phone (grids); code, name, kind, address, contact, hours
  /// (stations). Unmapped source fields go to `attributes`.
  std::map<std::string, std::string> fields;
  std::string default_level = "grid";     ///< when the source has no level field
  std::string default_kind;               ///< stations: when the source has no kind field
  /// Source text encoding (GBK, GB18030, CP936, UTF-8, any iconv name).
  /// Shapefiles: overrides the .cpg (the DBF is recoded by GDAL); CSV: the
  /// values and column names are recoded; other formats are UTF-8 by
  /// definition and refuse anything but UTF-8. Empty: the .cpg of a
  /// Shapefile, else UTF-8.
  std::string encoding;
  bool skip_invalid = false;  ///< commit the valid features, report the rejected ones
  bool make_valid = false;    ///< repair invalid grid polygons (GEOSMakeValid, polygonal parts kept)
  bool dry_run = false;       ///< validate and report, write nothing
};

/// A feature that was not imported, and why.
struct Rejection {
  std::size_t feature = 0;  ///< 0-based position in the source layer
  std::string code;         ///< the feature's code when it has one
  std::string field;        ///< "features/3/properties/parent", "features/3/geometry", ...
  std::string error;        ///< machine-readable code: unknown_parent, invalid_geometry, ...
  std::string message;      ///< what is wrong, with GEOS's reason and location for geometries
};

/// A feature whose geometry was repaired (ImportOptions::make_valid).
struct Repair {
  std::size_t feature = 0;
  std::string code;
  std::string message;  ///< the defect and what it became
};

struct ImportReport {
  std::string source;    ///< the file
  std::string layer;     ///< the layer read
  std::string crs;       ///< the source CRS used ("EPSG:4527", "gcj02", WKT, or "" for WGS84)
  std::string encoding;  ///< the source text encoding used (Shapefile/CSV), "" when not applicable
  std::size_t read = 0;
  std::size_t created = 0;
  std::size_t updated = 0;
  bool committed = false;          ///< true when the valid features were written
  std::vector<Rejection> rejected;  ///< in feature order
  std::vector<Repair> repaired;
};

/// The report as JSON: {source, layer, crs, encoding, read, valid, created,
/// updated, committed, rejected: [{feature, code, field, error, message}],
/// repaired: [{feature, code, message}]}.
Json to_json(const ImportReport& report);

/// Write to_json(report) to `path` (pretty-printed UTF-8).
/// @throws Error(invalid_input, "unwritable_report", "report").
void write_report(const ImportReport& report, const std::string& path);

/// The rejected (and repaired) features as a readable table, at most
/// `max_rows` rows of each, then "... and K more".
std::string format_report(const ImportReport& report, std::size_t max_rows = 20);

/// Thrown by import_file() when features were rejected and neither
/// skip_invalid nor dry_run was set: nothing was written. code(), field()
/// and the start of what() are those of the first rejection.
class ImportRejected : public Error {
 public:
  explicit ImportRejected(ImportReport report);
  [[nodiscard]] const ImportReport& report() const noexcept { return m_report; }

 private:
  ImportReport m_report;
};

/// Progress: (features done, features total or 0 when unknown).
using Progress = std::function<void(std::size_t, std::size_t)>;

/// Read every feature and validate all of them (each on its own with the
/// Catalog's rules, then codes, parents and levels across the file and the
/// store); then write the valid ones in one transaction (created or updated
/// by code). Parents are resolved inside the file too; a grid whose parent
/// was rejected is rejected as well.
/// @throws Error(invalid_input) for an unreadable source, an unknown layer,
/// field mapping, CRS or encoding (before reading);
/// ImportRejected when a feature is rejected and neither skip_invalid nor
/// dry_run is set (nothing is written).
ImportReport import_file(Catalog& catalog, ObjectKind kind, const std::string& path,
                         const ImportOptions& options, const Progress& progress = {});

struct ExportOptions {
  std::string format;  ///< OGR driver name (GPKG, GeoJSON, "ESRI Shapefile", KML, CSV, ...); empty: from the extension
  std::string crs;     ///< target CRS; empty: WGS84. EPSG codes, PROJ strings, WKT, gcj02, bd09
  /// Text encoding: Shapefile DBF (default UTF-8, always with a .cpg naming
  /// it) or CSV (values recoded). Other formats are UTF-8 only.
  std::string encoding;
  std::string root;              ///< subtree: this grid's code; empty: everything
  std::optional<Level> level;    ///< grids: only this level
  bool overwrite = false;        ///< replace an existing output (else Error(conflict, "output_exists"))
};

struct ExportReport {
  std::size_t written = 0;            ///< features written
  std::vector<std::string> warnings;  ///< data the format could not keep whole (Shapefile's 254-byte text)
};

/// Write the grids, stations or incidents of the snapshot (incidents: of
/// `incidents`) to `path`, filtered by root and level. With a root: that
/// grid and its descendants; the stations covered by the root's polygon;
/// the incidents whose chain holds the root. JSON-valued fields (people,
/// attributes) are JSON strings (JSON subtype where the format keeps one).
/// CSV holds the geometry as WKT, plus lon/lat (x/y when projected) for
/// points. Incidents are exported without the reporter's name and phone.
/// Text longer than a Shapefile field holds (254 bytes) is cut by GDAL and
/// listed in the warnings.
/// @throws Error(invalid_input) for an unknown format, CRS, encoding, root
/// or level; Error(conflict, "output_exists") when `path` exists and
/// !overwrite.
ExportReport export_file(const Snapshot& snapshot, ObjectKind kind, const std::string& path,
                         const ExportOptions& options, const Progress& progress = {},
                         storage::IncidentStore* incidents = nullptr);

/// Load the demo city described by a manifest (geodata/<city>/demo.json)
/// into an empty catalog. Returns false (and does nothing) when the catalog
/// already holds grids.
bool load_demo(Catalog& catalog, const std::string& manifest_path, const Progress& progress = {});

}  // namespace gridd::service
