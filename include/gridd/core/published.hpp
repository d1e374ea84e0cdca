#pragma once
/// @file published.hpp
/// A value one writer publishes and many threads read on every request.

#include <atomic>
#include <cstdint>
#include <memory>

namespace gridd {

/// Holds a std::shared_ptr<const T> that writers replace and readers load
/// without locks. std::atomic_load on a shared_ptr takes a lock from a
/// process-wide pool and every copy bumps the one reference count all reader
/// threads share: on a hot path both move a cache line between cores on each
/// request. load() instead hands out references through a control block
/// private to the calling thread, refreshed only after a store(); a thread
/// keeps the last value it loaded alive until its next load() of any
/// Published<T>, or until it exits.
template <class T>
class Published {
 public:
  explicit Published(std::shared_ptr<const T> initial = nullptr) : m_value(std::move(initial)) {}
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  void store(std::shared_ptr<const T> next) {
    std::atomic_store(&m_value, std::move(next));
    m_generation.fetch_add(1, std::memory_order_acq_rel);
  }

  [[nodiscard]] std::shared_ptr<const T> load() const {
    struct Cache {
      std::uint64_t instance = 0;
      std::uint64_t generation = 0;
      std::shared_ptr<const std::shared_ptr<const T>> holder;
    };
    thread_local Cache cache;
    const std::uint64_t generation = m_generation.load(std::memory_order_acquire);
    if (!cache.holder || cache.instance != m_instance || cache.generation != generation) {
      cache.holder = std::make_shared<const std::shared_ptr<const T>>(std::atomic_load(&m_value));
      cache.instance = m_instance;
      cache.generation = generation;
    }
    // Aliasing: copies of this touch the thread's own control block only.
    return std::shared_ptr<const T>(cache.holder, cache.holder->get());
  }

 private:
  static std::uint64_t next_instance() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  const std::uint64_t m_instance = next_instance();  // never reused, unlike an address
  std::atomic<std::uint64_t> m_generation{0};
  std::shared_ptr<const T> m_value;
};

}  // namespace gridd
