// Unit tests for gridd/core/published.hpp: readers see every store at once,
// keep what they loaded, never see another instance's value, and let go of
// old values.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gridd/core/published.hpp"

namespace gridd {
namespace {

struct Value {
  int n = 0;
  int check = 0;  // always -n: a torn or freed value would break it
  explicit Value(int v) : n(v), check(-v) {}
};

TEST(Published, LoadSeesEachStoreAndKeepsWhatItLoaded) {
  Published<Value> p(std::make_shared<const Value>(1));
  const auto first = p.load();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->n, 1);
  EXPECT_EQ(p.load().get(), first.get());  // no reload without a store
  const std::weak_ptr<const Value> old = first;
  p.store(std::make_shared<const Value>(2));
  EXPECT_EQ(p.load()->n, 2);
  EXPECT_EQ(first->n, 1);  // the reference taken before the store still holds
  EXPECT_FALSE(old.expired());
}

TEST(Published, OldValuesAreFreedOnceNoReaderHoldsThem) {
  Published<Value> p(std::make_shared<const Value>(1));
  std::weak_ptr<const Value> old;
  {
    const auto v = p.load();
    old = v;
  }
  p.store(std::make_shared<const Value>(2));
  EXPECT_FALSE(old.expired());  // this thread's cache still has it...
  EXPECT_EQ(p.load()->n, 2);
  EXPECT_TRUE(old.expired());   // ...until its next load
}

TEST(Published, InstancesOnOneThreadNeverMixTheirValues) {
  for (int round = 0; round < 50; ++round) {
    // A new instance may reuse the address of the last one: it must not
    // inherit that one's cached value.
    auto a = std::make_unique<Published<Value>>(std::make_shared<const Value>(round * 10 + 1));
    EXPECT_EQ(a->load()->n, round * 10 + 1);
    Published<Value> b(std::make_shared<const Value>(round * 10 + 2));
    EXPECT_EQ(b.load()->n, round * 10 + 2);
    EXPECT_EQ(a->load()->n, round * 10 + 1);
    a->store(std::make_shared<const Value>(round * 10 + 3));
    EXPECT_EQ(b.load()->n, round * 10 + 2);
    EXPECT_EQ(a->load()->n, round * 10 + 3);
  }
  Published<Value> empty;
  EXPECT_EQ(empty.load(), nullptr);
}

TEST(Published, ReadersOnManyThreadsSeeOnlyPublishedValuesInOrder) {
  Published<Value> p(std::make_shared<const Value>(0));
  constexpr int k_stores = 2000;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      int last = 0;
      std::vector<std::shared_ptr<const Value>> kept;
      while (!stop.load()) {
        const auto v = p.load();
        if (!v || v->check != -v->n || v->n < last) ++bad;  // torn, freed, or going back in time
        last = v ? v->n : last;
        if (kept.size() < 64) kept.push_back(v);  // held across later stores
      }
      for (const auto& v : kept) {
        if (v->check != -v->n) ++bad;
      }
    });
  }
  for (int i = 1; i <= k_stores; ++i) p.store(std::make_shared<const Value>(i));
  // A store is visible to a load that starts after it.
  EXPECT_EQ(p.load()->n, k_stores);
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace gridd
