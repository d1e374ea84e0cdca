#pragma once
/// @file ogr_io.hpp
/// Import grids and stations from any OGR source (GeoJSON, GeoPackage,
/// Shapefile, KML, CSV with coordinate columns, ...) and export them to any
/// OGR format, with CRS transformation (including gcj02/bd09).

#include <cstddef>
#include <functional>
#include <map>
#include <string>

#include "gridd/service/catalog.hpp"

namespace gridd::service {

enum class ObjectKind { grids, stations };

struct ImportOptions {
  std::string layer;  ///< layer name; empty: the first layer
  std::string crs;    ///< source CRS; empty: the layer's own (WGS84 if none)
  /// Field name for each gridd property, when it differs from the property
  /// name: code, name, level, parent, households, people, kind, address,
  /// contact, hours. Unmapped source fields go to `attributes`.
  std::map<std::string, std::string> fields;
  std::string default_level = "grid";     ///< when the source has no level field
  std::string default_kind;               ///< stations: when the source has no kind field
  std::string encoding;                   ///< source encoding override (e.g. GB18030 for Shapefiles)
};

struct ImportReport {
  std::size_t read = 0;
  std::size_t created = 0;
  std::size_t updated = 0;
};

/// Progress: (features done, features total or 0 when unknown).
using Progress = std::function<void(std::size_t, std::size_t)>;

/// Read every feature, validate all, then write all in one transaction
/// (created or updated by code). Parents are resolved inside the file too.
/// @throws Error(invalid_input) naming the feature ("features/12/properties/code").
ImportReport import_file(Catalog& catalog, ObjectKind kind, const std::string& path,
                         const ImportOptions& options, const Progress& progress = {});

struct ExportOptions {
  std::string format;  ///< OGR driver name; empty: guessed from the extension
  std::string crs;     ///< target CRS; empty: WGS84
};

/// Write every grid or station of the snapshot to `path`. Returns the count.
std::size_t export_file(const Snapshot& snapshot, ObjectKind kind, const std::string& path,
                        const ExportOptions& options);

/// Load the demo city described by a manifest (geodata/<city>/demo.json)
/// into an empty catalog. Returns false (and does nothing) when the catalog
/// already holds grids.
bool load_demo(Catalog& catalog, const std::string& manifest_path, const Progress& progress = {});

}  // namespace gridd::service
