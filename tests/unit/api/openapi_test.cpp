// The OpenAPI document (src/api/openapi.json, served at /openapi.json)
// describes exactly the routes the server has, with their path parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "gridd/api/handlers.hpp"
#include "gridd/service/visits.hpp"
#include "gridd/core/json.hpp"
#include "unit/test_util.hpp"

namespace gridd::api {
namespace {

using RouteSet = std::set<std::pair<std::string, std::string>>;

struct FullApi {
  explicit FullApi(const std::string& path) {
    auto store = storage::open_store(path);
    storage::IncidentStore& incident_store = store->incidents();
    storage::VisitStore& visit_store = store->visits();
    catalog = std::make_unique<service::Catalog>(std::move(store));
    incidents = std::make_unique<service::IncidentService>(
        *catalog, incident_store, CategoryCatalogue::load(std::string(GRIDD_GEODATA_DIR) + "/categories.json"));
    tiles = std::make_unique<service::TileService>(*catalog, incidents.get(), std::vector<service::RasterSourceConfig>{});
    visits = std::make_unique<service::VisitService>(*catalog, visit_store, [] { return std::chrono::system_clock::now(); });
    residents = std::make_unique<service::ResidentDesk>(*incidents, service::ResidentLimits{});
    api = std::make_unique<Api>(*catalog, ApiOptions{},
                                ApiServices{.incidents = incidents.get(), .tiles = tiles.get(), .visits = visits.get(),
                                            .residents = residents.get()});
  }
  ~FullApi() {
    api.reset();
    residents.reset();
    visits.reset();
    tiles.reset();
    incidents.reset();
    catalog.reset();
  }
  std::unique_ptr<service::Catalog> catalog;
  std::unique_ptr<service::IncidentService> incidents;
  std::unique_ptr<service::TileService> tiles;
  std::unique_ptr<service::VisitService> visits;
  std::unique_ptr<service::ResidentDesk> residents;
  std::unique_ptr<Api> api;
};

const Json& document() {
  static const Json doc = parse_json(openapi_json());
  return doc;
}

TEST(OpenApi, DescribesEveryRouteAndNothingElse) {
  test::TempDir dir;
  FullApi full(dir.file("s.gpkg"));
  RouteSet routes;
  for (const auto& r : full.api->routes()) routes.insert(r);
  routes.insert({"GET", "/incidents/feed"});  // served by the http layer as Server-Sent Events
  RouteSet documented;
  for (const auto& [path, item] : document()["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      std::string m = method;
      std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::toupper(c); });
      documented.insert({m, path});
    }
  }
  for (const auto& r : routes) EXPECT_TRUE(documented.count(r)) << r.first << " " << r.second << " is not documented";
  for (const auto& d : documented) EXPECT_TRUE(routes.count(d)) << d.first << " " << d.second << " is documented but not served";
  EXPECT_GT(routes.size(), 40u);
}

TEST(OpenApi, EveryPathParameterIsDeclaredAndEveryReferenceResolves) {
  const Json& doc = document();
  EXPECT_EQ(doc.value("openapi", ""), "3.0.3");
  const Json& params = doc["components"]["parameters"];
  for (const auto& [path, item] : doc["paths"].items()) {
    std::set<std::string> in_path;
    for (std::size_t i = path.find('{'); i != std::string::npos; i = path.find('{', i + 1)) {
      in_path.insert(path.substr(i + 1, path.find('}', i) - i - 1));
    }
    for (const auto& [method, op] : item.items()) {
      std::set<std::string> declared;
      for (const auto& p : op.value("parameters", Json::array())) {
        const Json& resolved = p.contains("$ref") ? params[p["$ref"].get<std::string>().substr(24)] : p;
        ASSERT_TRUE(resolved.is_object()) << path << " " << method << ": " << p.dump();
        if (resolved.value("in", "") == "path") declared.insert(resolved.value("name", ""));
      }
      EXPECT_EQ(declared, in_path) << method << " " << path;
      EXPECT_TRUE(op.contains("responses")) << method << " " << path;
    }
  }
  // Every $ref points at something.
  std::function<void(const Json&)> walk = [&](const Json& j) {
    if (j.is_object()) {
      if (auto it = j.find("$ref"); it != j.end()) {
        const std::string ref = it->get<std::string>();
        ASSERT_EQ(ref.rfind("#/", 0), 0u) << ref;
        const Json::json_pointer ptr(ref.substr(1));
        EXPECT_TRUE(doc.contains(ptr)) << ref << " does not resolve";
      }
      for (const auto& [k, v] : j.items()) walk(v);
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v);
    }
  };
  walk(doc);
}

TEST(OpenApi, IsServedAtAStableUrl) {
  test::TempDir dir;
  FullApi full(dir.file("s.gpkg"));
  Request r;
  r.method = "GET";
  r.path = "/openapi.json";
  const Response res = full.api->handle(r);
  EXPECT_EQ(res.status, 200);
  EXPECT_NE(res.content_type.find("openapi"), std::string::npos);
  EXPECT_EQ(parse_json(res.body), document());
}

}  // namespace
}  // namespace gridd::api
