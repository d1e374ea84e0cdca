#pragma once
/// @file tile_cache.hpp
/// A memory cache of rendered tiles with a byte budget (least recently used
/// first out) and exact invalidation: a change evicts every cached tile
/// whose area (with its buffer) it touches, at every zoom, for the kinds of
/// data it changed; and a tile rendered from data older than a change that
/// touches it is never stored (no stale tile after a racing edit).

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gridd/spatial/geos.hpp"

namespace gridd::service {

/// Kinds of data a tile shows (a bit set).
enum TileKind : unsigned { tile_grids = 1u, tile_stations = 2u, tile_incidents = 4u, tile_raster = 8u };

struct CachedTile {
  std::shared_ptr<const std::string> body;
  std::string content_type;
  std::string etag;
  spatial::Envelope bounds;  ///< lon/lat area the tile's content depends on
  unsigned kinds = 0;
  std::chrono::steady_clock::time_point expires = std::chrono::steady_clock::time_point::max();
};

struct TileCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evicted_by_changes = 0;
  std::uint64_t evicted_by_size = 0;
  std::uint64_t refused_stale = 0;
  std::size_t entries = 0;
  std::size_t bytes = 0;
  std::size_t max_bytes = 0;
};

class TileCache {
 public:
  explicit TileCache(std::size_t max_bytes);

  [[nodiscard]] std::optional<CachedTile> get(const std::string& key);

  /// The change generation; read it before rendering and pass it to put().
  [[nodiscard]] std::uint64_t generation() const;

  /// Store a tile rendered from data as of `generation`, unless a change
  /// since then touches its bounds and kinds. @returns whether it was stored.
  bool put(const std::string& key, CachedTile tile, std::uint64_t generation);

  /// A change of `kinds` data in `areas` (lon/lat): evict what it touches.
  /// @returns the number of tiles evicted.
  std::size_t invalidate(unsigned kinds, const std::vector<spatial::Envelope>& areas);

  void clear();
  [[nodiscard]] TileCacheStats stats() const;

 private:
  struct Change {
    std::uint64_t generation;
    unsigned kinds;
    std::vector<spatial::Envelope> areas;
  };
  using Lru = std::list<std::string>;
  struct Slot {
    CachedTile tile;
    Lru::iterator lru;
  };
  void evict_one();
  void erase(std::unordered_map<std::string, Slot>::iterator it);

  mutable std::mutex m_mutex;
  std::size_t m_max_bytes;
  std::size_t m_bytes = 0;
  std::unordered_map<std::string, Slot> m_slots;
  Lru m_lru;  // front: most recently used
  std::uint64_t m_generation = 1;
  std::deque<Change> m_changes;  // recent changes, oldest first
  TileCacheStats m_stats;
};

}  // namespace gridd::service
