#pragma once
/// @file visit_store.hpp
/// Visits in the store: the point layer `visits` (a GeoPackage layer, so it
/// opens in QGIS; a PostGIS table with a GiST index). One implementation
/// over both backends. Thread-safe.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gridd/core/model.hpp"
#include "gridd/core/visit.hpp"

namespace gridd::storage {

class SqlRunner;

struct VisitFilter {
  std::optional<std::pair<Level, std::int64_t>> subtree;  ///< visits in this grid's subtree
  std::string worker_name;
  std::string worker_phone;
  std::string from;  ///< visited_at >= (ISO 8601 UTC)
  std::string to;    ///< visited_at < (ISO 8601 UTC)
  std::optional<std::array<double, 4>> bbox;
};

class VisitStore {
 public:
  explicit VisitStore(std::unique_ptr<SqlRunner> runner);
  ~VisitStore();
  VisitStore(const VisitStore&) = delete;
  VisitStore& operator=(const VisitStore&) = delete;

  /// Store a visit (its id 0); fills in the id. Durable when it returns.
  void insert(Visit& visit);
  /// Visits matching `filter` with id < `before_id` (0: from the newest),
  /// newest first, at most `limit`.
  [[nodiscard]] std::vector<Visit> list(const VisitFilter& filter, std::int64_t before_id, std::size_t limit);
  [[nodiscard]] std::optional<Visit> get(std::int64_t id);
  /// Store a photo of visit `photo.visit_id`; fills in its id.
  void add_photo(VisitPhoto& photo);
  /// The photos of a visit (without their bytes), oldest first.
  [[nodiscard]] std::vector<VisitPhoto> photos_of(std::int64_t visit_id);
  /// One photo of a visit, with its bytes when asked.
  [[nodiscard]] std::optional<VisitPhoto> photo(std::int64_t visit_id, std::int64_t id, bool with_data);
  /// The worker and visited_at of every visit matching `filter` (for counts).
  void for_each_time(const VisitFilter& filter,
                     const std::function<void(const std::string& name, const std::string& phone,
                                              const std::string& visited_at)>& visit);

 private:
  std::unique_ptr<SqlRunner> m_runner;
};

}  // namespace gridd::storage
