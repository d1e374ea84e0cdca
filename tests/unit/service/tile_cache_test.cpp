// Unit tests for gridd/service/tile_cache.hpp: the memory tile cache with a
// byte budget (least recently used out first), exact invalidation by area
// and kind, and refusal of tiles rendered from data older than a change
// that touches them.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gridd/service/tile_cache.hpp"

namespace gridd::service {
namespace {

using spatial::Envelope;

/// A tile of `bytes` bytes over `bounds` showing `kinds`.
CachedTile tile(std::size_t bytes, Envelope bounds = {0, 0, 1, 1}, unsigned kinds = tile_grids, char fill = 'x') {
  CachedTile t;
  t.body = std::make_shared<const std::string>(bytes, fill);
  t.content_type = "application/vnd.mapbox-vector-tile";
  t.etag = "\"etag-" + std::to_string(bytes) + "\"";
  t.bounds = bounds;
  t.kinds = kinds;
  return t;
}

/// What an entry costs: its body, its key and a fixed overhead of 128 bytes.
std::size_t cost(const std::string& key, std::size_t body) { return body + key.size() + 128; }

TEST(TileCache, MissThenHitWithCounters) {
  TileCache cache(1 << 20);
  EXPECT_EQ(cache.stats().max_bytes, std::size_t{1} << 20);
  EXPECT_FALSE(cache.get("a").has_value());
  EXPECT_EQ(cache.stats().misses, 1u);
  EXPECT_EQ(cache.stats().hits, 0u);

  CachedTile t = tile(1000);
  const auto body = t.body;
  ASSERT_TRUE(cache.put("a", t, cache.generation()));
  auto s = cache.stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, cost("a", 1000));

  auto hit = cache.get("a");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->body, body);  // the same shared body, not a copy
  EXPECT_EQ(hit->content_type, "application/vnd.mapbox-vector-tile");
  EXPECT_EQ(hit->etag, "\"etag-1000\"");
  EXPECT_EQ(hit->kinds, static_cast<unsigned>(tile_grids));
  EXPECT_FALSE(cache.get("b").has_value());
  ASSERT_TRUE(cache.get("a").has_value());
  s = cache.stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.evicted_by_size, 0u);
  EXPECT_EQ(s.evicted_by_changes, 0u);
  EXPECT_EQ(s.refused_stale, 0u);
}

TEST(TileCache, PutReplacesTheSameKey) {
  TileCache cache(1 << 20);
  ASSERT_TRUE(cache.put("k", tile(1000), cache.generation()));
  ASSERT_TRUE(cache.put("k", tile(300, {0, 0, 1, 1}, tile_grids, 'y'), cache.generation()));
  const auto s = cache.stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, cost("k", 300));
  auto hit = cache.get("k");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit->body, std::string(300, 'y'));
}

TEST(TileCache, LeastRecentlyUsedGoesFirst) {
  // Room for exactly three 1000-byte tiles under one-letter keys.
  const std::size_t one = cost("a", 1000);
  TileCache cache(3 * one);
  ASSERT_TRUE(cache.put("a", tile(1000), cache.generation()));
  ASSERT_TRUE(cache.put("b", tile(1000), cache.generation()));
  ASSERT_TRUE(cache.put("c", tile(1000), cache.generation()));
  EXPECT_EQ(cache.stats().entries, 3u);
  EXPECT_EQ(cache.stats().bytes, 3 * one);

  // A get refreshes "a": "b" is now the least recently used.
  ASSERT_TRUE(cache.get("a").has_value());
  ASSERT_TRUE(cache.put("d", tile(1000), cache.generation()));
  auto s = cache.stats();
  EXPECT_EQ(s.entries, 3u);
  EXPECT_EQ(s.evicted_by_size, 1u);
  EXPECT_LE(s.bytes, s.max_bytes);
  EXPECT_FALSE(cache.get("b").has_value());
  EXPECT_TRUE(cache.get("c").has_value());
  EXPECT_TRUE(cache.get("a").has_value());
  EXPECT_TRUE(cache.get("d").has_value());

  // Recency now d < c < a < d... order of use: c, a, d: "c" goes next.
  ASSERT_TRUE(cache.put("e", tile(1000), cache.generation()));
  EXPECT_FALSE(cache.get("c").has_value());
  EXPECT_TRUE(cache.get("a").has_value());

  // A big tile pushes out as many as it needs, oldest first.
  ASSERT_TRUE(cache.put("f", tile(2 * one - cost("f", 0) + 1), cache.generation()));
  s = cache.stats();
  EXPECT_LE(s.bytes, s.max_bytes);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_TRUE(cache.get("f").has_value());
  EXPECT_EQ(s.evicted_by_size, 2u + 3u);  // "c" before, then "d", "e", "a"
}

TEST(TileCache, TileLargerThanTheBudgetIsNotStored) {
  TileCache cache(2000);
  ASSERT_TRUE(cache.put("small", tile(100), cache.generation()));
  EXPECT_FALSE(cache.put("huge", tile(5000), cache.generation()));
  const auto s = cache.stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.refused_stale, 0u);
  EXPECT_FALSE(cache.get("huge").has_value());
  EXPECT_TRUE(cache.get("small").has_value());
}

TEST(TileCache, InvalidateEvictsExactlyWhatTheChangeTouches) {
  TileCache cache(1 << 20);
  const auto g = cache.generation();
  ASSERT_TRUE(cache.put("grids-west", tile(10, {116.0, 39.0, 116.5, 39.5}, tile_grids), g));
  ASSERT_TRUE(cache.put("grids-east", tile(10, {117.0, 39.0, 117.5, 39.5}, tile_grids), g));
  ASSERT_TRUE(cache.put("stations-west", tile(10, {116.0, 39.0, 116.5, 39.5}, tile_stations), g));
  ASSERT_TRUE(cache.put("both-west", tile(10, {116.0, 39.0, 116.5, 39.5}, tile_grids | tile_stations), g));
  ASSERT_TRUE(cache.put("raster-west", tile(10, {116.0, 39.0, 116.5, 39.5}, tile_raster), g));
  ASSERT_TRUE(cache.put("grids-edge", tile(10, {116.5, 39.5, 117.0, 40.0}, tile_grids), g));

  // A grid changed inside the west box (its corner touches "grids-edge").
  EXPECT_EQ(cache.invalidate(tile_grids, {{116.2, 39.2, 116.5, 39.5}}), 3u);
  EXPECT_FALSE(cache.get("grids-west").has_value());
  EXPECT_FALSE(cache.get("both-west").has_value());
  EXPECT_FALSE(cache.get("grids-edge").has_value());
  EXPECT_TRUE(cache.get("grids-east").has_value());
  EXPECT_TRUE(cache.get("stations-west").has_value());
  EXPECT_TRUE(cache.get("raster-west").has_value());
  auto s = cache.stats();
  EXPECT_EQ(s.evicted_by_changes, 3u);
  EXPECT_EQ(s.entries, 3u);

  // Nothing there: nothing evicted.
  EXPECT_EQ(cache.invalidate(tile_stations | tile_grids, {{0, 0, 1, 1}}), 0u);
  EXPECT_EQ(cache.invalidate(tile_incidents, {{116.0, 39.0, 118.0, 40.0}}), 0u);
  // Several areas and kinds at once.
  EXPECT_EQ(cache.invalidate(tile_stations | tile_grids, {{0, 0, 1, 1}, {117.2, 39.2, 117.3, 39.3}, {116.1, 39.1, 116.1, 39.1}}),
            2u);
  EXPECT_FALSE(cache.get("grids-east").has_value());
  EXPECT_FALSE(cache.get("stations-west").has_value());
  EXPECT_TRUE(cache.get("raster-west").has_value());
  s = cache.stats();
  EXPECT_EQ(s.evicted_by_changes, 5u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, cost("raster-west", 10));
}

TEST(TileCache, EachChangeIsANewGeneration) {
  TileCache cache(1 << 20);
  const auto g0 = cache.generation();
  EXPECT_EQ(cache.generation(), g0);
  cache.invalidate(tile_grids, {{0, 0, 1, 1}});
  const auto g1 = cache.generation();
  EXPECT_GT(g1, g0);
  cache.invalidate(tile_grids, {});
  EXPECT_GT(cache.generation(), g1);
}

TEST(TileCache, TileRenderedBeforeATouchingChangeIsRefused) {
  TileCache cache(1 << 20);
  const Envelope where{116.0, 39.0, 116.5, 39.5};
  // Rendering starts (generation read), then a grid in the tile changes.
  const auto before = cache.generation();
  cache.invalidate(tile_grids, {{116.1, 39.1, 116.2, 39.2}});
  EXPECT_FALSE(cache.put("stale", tile(10, where, tile_grids), before));
  EXPECT_EQ(cache.stats().refused_stale, 1u);
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_FALSE(cache.get("stale").has_value());
  // A composite tile of grids and stations is refused too.
  EXPECT_FALSE(cache.put("stale2", tile(10, where, tile_grids | tile_stations), before));
  EXPECT_EQ(cache.stats().refused_stale, 2u);

  // The same change does not concern a tile elsewhere, nor one of other kinds.
  EXPECT_TRUE(cache.put("elsewhere", tile(10, {117.0, 39.0, 117.5, 39.5}, tile_grids), before));
  EXPECT_TRUE(cache.put("stations", tile(10, where, tile_stations), before));
  // A tile whose rendering began after the change is fresh.
  EXPECT_TRUE(cache.put("fresh", tile(10, where, tile_grids), cache.generation()));
  EXPECT_EQ(cache.stats().refused_stale, 2u);
  EXPECT_EQ(cache.stats().entries, 3u);

  // Several changes since: any touching one refuses, however old.
  const auto older = cache.generation();
  cache.invalidate(tile_grids, {{116.1, 39.1, 116.2, 39.2}});
  for (int i = 0; i < 10; ++i) cache.invalidate(tile_grids, {{0, 0, 1, 1}});
  EXPECT_FALSE(cache.put("stale3", tile(10, where, tile_grids), older));
  EXPECT_TRUE(cache.put("ok3", tile(10, {117.0, 39.0, 117.5, 39.5}, tile_grids), older));
}

TEST(TileCache, TileOlderThanTheRememberedChangesIsRefused) {
  TileCache cache(1 << 20);
  const Envelope where{116.0, 39.0, 116.5, 39.5};
  const auto ancient = cache.generation();
  // 4096 changes far away are all remembered: none touches the tile.
  for (int i = 0; i < 4096; ++i) cache.invalidate(tile_grids, {{0, 0, 1, 1}});
  const auto recent = cache.generation();
  EXPECT_TRUE(cache.put("a", tile(10, where, tile_grids), ancient));
  // One more and the oldest is forgotten: a tile as old as it cannot be
  // proven fresh.
  cache.invalidate(tile_grids, {{0, 0, 1, 1}});
  EXPECT_FALSE(cache.put("b", tile(10, where, tile_grids), ancient));
  EXPECT_EQ(cache.stats().refused_stale, 1u);
  // Generations inside the window are still judged by area.
  EXPECT_TRUE(cache.put("c", tile(10, where, tile_grids), recent));
  EXPECT_TRUE(cache.put("d", tile(10, where, tile_grids), cache.generation()));
}

TEST(TileCache, ExpiredEntriesMiss) {
  TileCache cache(1 << 20);
  CachedTile old = tile(10, {0, 0, 1, 1}, tile_incidents);
  old.expires = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  CachedTile young = tile(10, {0, 0, 1, 1}, tile_incidents);
  young.expires = std::chrono::steady_clock::now() + std::chrono::hours(1);
  ASSERT_TRUE(cache.put("old", old, cache.generation()));
  ASSERT_TRUE(cache.put("young", young, cache.generation()));
  EXPECT_FALSE(cache.get("old").has_value());
  EXPECT_TRUE(cache.get("young").has_value());
  const auto s = cache.stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.entries, 1u);  // the expired one is gone
  EXPECT_EQ(s.bytes, cost("young", 10));
}

TEST(TileCache, ClearEmptiesTheCache) {
  TileCache cache(1 << 20);
  ASSERT_TRUE(cache.put("a", tile(100), cache.generation()));
  ASSERT_TRUE(cache.put("b", tile(100), cache.generation()));
  cache.clear();
  auto s = cache.stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_FALSE(cache.get("a").has_value());
  EXPECT_FALSE(cache.get("b").has_value());
  // And it works on afterwards, the budget intact.
  ASSERT_TRUE(cache.put("c", tile(100), cache.generation()));
  EXPECT_TRUE(cache.get("c").has_value());
  EXPECT_EQ(cache.stats().bytes, cost("c", 100));
  EXPECT_EQ(cache.stats().max_bytes, std::size_t{1} << 20);
}

}  // namespace
}  // namespace gridd::service
