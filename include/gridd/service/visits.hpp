#pragma once
/// @file visits.hpp
/// Door-to-door visits (走访): recorded by a grid worker with a position, a
/// kind and a note, placed in the grid the position lies in, listed per grid
/// and per worker, and counted per worker and week (weeks start on Monday,
/// local time).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gridd/core/incident.hpp"
#include "gridd/core/visit.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/locate.hpp"
#include "gridd/storage/visit_store.hpp"

namespace gridd::service {

struct VisitInput {
  std::optional<Position> position;
  std::string kind;        ///< empty: household
  std::string subject;
  std::string note;
  std::string visited_at;  ///< ISO 8601; empty: now
};

/// Who records a visit.
struct Visitor {
  std::string name;
  std::string phone;
  std::int64_t token_id = 0;
};

/// Visits of one worker in one week.
struct WorkerWeek {
  std::string worker_name;
  std::string worker_phone;
  std::string week;  ///< the week's Monday, local date (YYYY-MM-DD)
  std::int64_t visits = 0;
};

class VisitService {
 public:
  /// Refuses a placed visit (the caller's scope) by throwing.
  using Admission = std::function<void(const Visit& placed)>;

  VisitService(const Catalog& catalog, storage::VisitStore& store, std::function<TimePoint()> clock,
               int utc_offset_minutes = 480);

  /// Validate, place in its grid, admit and store a visit.
  /// @throws Error(invalid_input | too_large) naming the field.
  Visit record(VisitInput input, const Visitor& visitor, const Admission& admit = {});

  [[nodiscard]] std::vector<Visit> list(const storage::VisitFilter& filter, std::int64_t before_id,
                                        std::size_t limit) const {
    return m_store.list(filter, before_id, limit);
  }
  /// @throws Error(not_found, "visit_not_found")
  [[nodiscard]] Visit require(std::int64_t id) const;
  /// A photo of visit `visit_id` (3 at most, 10 MiB each), checked to be an image.
  /// @throws Error(not_found | invalid_input: not_an_image | too_large: too_many_photos, attachment_too_large)
  VisitPhoto add_photo(std::int64_t visit_id, std::string bytes, std::string filename);
  [[nodiscard]] std::vector<VisitPhoto> photos_of(std::int64_t visit_id) const { return m_store.photos_of(visit_id); }
  [[nodiscard]] std::optional<VisitPhoto> photo(std::int64_t visit_id, std::int64_t id) const {
    return m_store.photo(visit_id, id, true);
  }
  static constexpr std::size_t k_max_photos = 3;
  static constexpr std::size_t k_max_photo_bytes = 10u << 20;

  /// Visits per worker and week, by worker then week.
  [[nodiscard]] std::vector<WorkerWeek> weekly(const storage::VisitFilter& filter) const;

  [[nodiscard]] int utc_offset_minutes() const noexcept { return m_utc_offset_minutes; }

 private:
  const Catalog& m_catalog;
  storage::VisitStore& m_store;
  std::function<TimePoint()> m_clock;
  int m_utc_offset_minutes;
};

}  // namespace gridd::service
