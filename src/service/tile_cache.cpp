#include "gridd/service/tile_cache.hpp"

namespace gridd::service {

namespace {

constexpr std::size_t k_kept_changes = 4096;

bool touches(const std::vector<spatial::Envelope>& areas, const spatial::Envelope& bounds) {
  for (const auto& a : areas) {
    if (a.intersects(bounds)) return true;
  }
  return false;
}

}  // namespace

TileCache::TileCache(std::size_t max_bytes) : m_max_bytes(max_bytes) { m_stats.max_bytes = max_bytes; }

std::optional<CachedTile> TileCache::get(const std::string& key) {
  std::lock_guard lock(m_mutex);
  auto it = m_slots.find(key);
  if (it == m_slots.end()) {
    ++m_stats.misses;
    return std::nullopt;
  }
  if (std::chrono::steady_clock::now() >= it->second.tile.expires) {
    erase(it);
    ++m_stats.misses;
    return std::nullopt;
  }
  m_lru.splice(m_lru.begin(), m_lru, it->second.lru);
  ++m_stats.hits;
  return it->second.tile;
}

std::uint64_t TileCache::generation() const {
  std::lock_guard lock(m_mutex);
  return m_generation;
}

bool TileCache::put(const std::string& key, CachedTile tile, std::uint64_t generation) {
  std::lock_guard lock(m_mutex);
  // Refuse a tile that a change after its rendering began may have outdated.
  if (!m_changes.empty() && generation < m_changes.front().generation) {
    ++m_stats.refused_stale;  // older than what we remember: cannot prove it fresh
    return false;
  }
  for (auto it = m_changes.rbegin(); it != m_changes.rend() && it->generation >= generation; ++it) {
    if ((it->kinds & tile.kinds) && touches(it->areas, tile.bounds)) {
      ++m_stats.refused_stale;
      return false;
    }
  }
  const std::size_t size = tile.body ? tile.body->size() + key.size() + 128 : key.size() + 128;
  if (size > m_max_bytes) return false;
  if (auto old = m_slots.find(key); old != m_slots.end()) erase(old);
  m_lru.push_front(key);
  m_slots.emplace(key, Slot{std::move(tile), m_lru.begin()});
  m_bytes += size;
  while (m_bytes > m_max_bytes && !m_lru.empty()) evict_one();
  return true;
}

std::size_t TileCache::invalidate(unsigned kinds, const std::vector<spatial::Envelope>& areas) {
  std::lock_guard lock(m_mutex);
  // A change is generation g: tiles whose rendering read generation <= g may
  // predate it.
  m_changes.push_back(Change{m_generation, kinds, areas});
  ++m_generation;
  while (m_changes.size() > k_kept_changes) m_changes.pop_front();
  std::size_t evicted = 0;
  for (auto it = m_slots.begin(); it != m_slots.end();) {
    const CachedTile& t = it->second.tile;
    if ((t.kinds & kinds) && touches(areas, t.bounds)) {
      auto next = std::next(it);
      erase(it);
      it = next;
      ++evicted;
    } else {
      ++it;
    }
  }
  m_stats.evicted_by_changes += evicted;
  return evicted;
}

void TileCache::clear() {
  std::lock_guard lock(m_mutex);
  m_slots.clear();
  m_lru.clear();
  m_bytes = 0;
}

TileCacheStats TileCache::stats() const {
  std::lock_guard lock(m_mutex);
  TileCacheStats s = m_stats;
  s.entries = m_slots.size();
  s.bytes = m_bytes;
  return s;
}

void TileCache::evict_one() {
  auto it = m_slots.find(m_lru.back());
  if (it != m_slots.end()) {
    erase(it);
    ++m_stats.evicted_by_size;
  } else {
    m_lru.pop_back();
  }
}

void TileCache::erase(std::unordered_map<std::string, Slot>::iterator it) {
  const std::size_t size = (it->second.tile.body ? it->second.tile.body->size() : 0) + it->first.size() + 128;
  m_bytes -= std::min(m_bytes, size);
  m_lru.erase(it->second.lru);
  m_slots.erase(it);
}

}  // namespace gridd::service
