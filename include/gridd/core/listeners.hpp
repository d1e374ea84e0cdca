#pragma once
/// @file listeners.hpp
/// A thread-safe list of callbacks for change notifications. notify() calls
/// a copy of the list outside the lock, so a listener may add or remove
/// listeners, and a listener that throws is reported and skipped: the change
/// it is told about has already been committed.

#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace gridd {

template <class... Args>
class Listeners {
 public:
  using Listener = std::function<void(Args...)>;

  explicit Listeners(std::string what) : m_what(std::move(what)) {}

  std::uint64_t add(Listener listener) {
    std::lock_guard lock(m_mutex);
    m_listeners.emplace_back(m_next, std::move(listener));
    return m_next++;
  }

  void remove(std::uint64_t token) {
    std::lock_guard lock(m_mutex);
    std::erase_if(m_listeners, [&](const auto& l) { return l.first == token; });
  }

  void notify(const Args&... args) const {
    std::vector<Listener> copy;
    {
      std::lock_guard lock(m_mutex);
      copy.reserve(m_listeners.size());
      for (const auto& l : m_listeners) copy.push_back(l.second);
    }
    for (const auto& l : copy) {
      try {
        l(args...);
      } catch (const std::exception& e) {
        std::cerr << m_what << " listener failed: " << e.what() << std::endl;
      }
    }
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(m_mutex);
    return m_listeners.size();
  }

 private:
  std::string m_what;
  mutable std::mutex m_mutex;
  std::uint64_t m_next = 1;
  std::vector<std::pair<std::uint64_t, Listener>> m_listeners;
};

}  // namespace gridd
