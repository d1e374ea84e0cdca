#pragma once
/// @file features.hpp
/// GeoJSON in and out for grids and stations, shared by the endpoints that
/// read or answer them: rendering a grid or station as a Feature, parsing a
/// Feature into a GridInput/StationInput (in any CRS), and the common query
/// parameters of grid writes (editor, reason, draft) and reads (at).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gridd/api/router.hpp"
#include "gridd/service/catalog.hpp"

namespace gridd::service {
struct Position;  // service/locate.hpp
}  // namespace gridd::service

namespace gridd::api {

Response geojson_response(const Json& body, int status = 200);
/// 204 without a body (a delete).
Response no_content();
/// A page of a listing paged by id (cursor: the last id of the page before),
/// filled in ascending id order.
class FeaturePage {
 public:
  /// Reads limit (1..max_limit, default_limit when absent) and cursor.
  /// @throws Error(invalid_input, "invalid_integer")
  FeaturePage(const Request& r, std::size_t max_limit, std::size_t default_limit);
  /// Offer the feature `id`: rendered when it belongs to this page. False
  /// once the page is full (the listing can stop).
  bool offer(std::int64_t id, const std::function<Json()>& render);
  /// A FeatureCollection with numberReturned and next_cursor (null on the last page).
  [[nodiscard]] Response response();

 private:
  std::int64_t m_limit, m_cursor, m_last = 0;
  bool m_more = false;
  Json m_features = Json::array();
};
/// The answer to a create (201): the one Feature with its Location
/// (`path`/id), or a FeatureCollection of every created one.
Response created_response(const std::vector<std::int64_t>& ids, bool collection, const std::string& path,
                          const std::function<Json(std::int64_t)>& feature);

/// `personal_data` false: the people's phones are left out (anonymous readers).
Json grid_feature(const service::Snapshot& snap, const service::GridEntry& e, bool with_geometry,
                  bool personal_data = true);
/// A grid's people as JSON; without their phones unless `personal_data`.
Json people_json(const std::vector<Person>& people, bool personal_data);
/// `with_contact` false leaves out the station's contact (private_station_contacts).
Json station_feature(const service::StationEntry& s, bool with_contact = true);

/// The features of a Feature or a FeatureCollection body.
std::vector<const Json*> features_of(const Json& body);
/// A feature's geometry transformed from `crs` to WGS84.
spatial::GeomPtr feature_geometry(const Json& feature, const std::string& where, const std::string& crs);
service::GridInput grid_input(const Json& feature, const std::string& where, const std::string& crs);
service::StationInput station_input(const Json& feature, const std::string& where, const std::string& crs);

/// A position in a JSON object: a GeoJSON Point `geometry`, a `position`
/// object, or lon and lat (or x and y), with the object's own crs or else
/// `crs`; nullopt when the object holds none.
/// @throws Error(invalid_input) naming the member under `where`
std::optional<service::Position> json_position(const Json& object, const std::string& where, const std::string& crs);

std::string crs_param(const Request& r);
/// geometry=true|false (default true).
bool geometry_param(const Request& r);

/// editor, reason and draft of a grid write, from the query or from
/// top-level members of a JSON body (query wins); the topology options too.
service::EditOptions edit_options(const Request& r, const Json* body = nullptr);
/// tolerance_m2 and sliver_m2 of a topology check.
service::TopologyOptions topology_options(const Request& r);

/// at=<time> (ISO 8601; without an offset, China time) as ISO 8601 UTC.
std::optional<std::string> at_param(const Request& r);
/// The current snapshot, or the one as of at= when given.
std::shared_ptr<const service::Snapshot> snapshot_for(const service::Catalog& catalog, const Request& r);

}  // namespace gridd::api
