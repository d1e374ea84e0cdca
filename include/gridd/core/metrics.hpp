#pragma once
/// @file metrics.hpp
/// Counters and latency histograms for /metrics (Prometheus text format),
/// lock-free on the hot path: a request costs a few relaxed atomic adds.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace gridd {

/// A latency histogram with fixed buckets, in seconds.
class Histogram {
 public:
  static constexpr std::array<double, 14> k_bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                   0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   5.0};
  struct Snapshot {
    std::array<std::uint64_t, k_bounds.size() + 1> buckets{};  ///< per bucket (not cumulative); last: +Inf
    std::uint64_t count = 0;
    double sum = 0;  ///< seconds
  };

  void observe(double seconds) noexcept;
  [[nodiscard]] Snapshot snapshot() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, k_bounds.size() + 1> m_buckets{};
  std::atomic<std::uint64_t> m_sum_ns{0};
};

/// Prometheus text exposition (version 0.0.4).
namespace prometheus {
/// "# HELP name help\n# TYPE name type\n".
void header(std::string& out, std::string_view name, std::string_view type, std::string_view help);
/// "name{labels} value\n" (labels: `a="x",b="y"` or empty).
void sample(std::string& out, std::string_view name, std::string_view labels, double value);
/// The _bucket (cumulative, le=...), _sum and _count samples of a histogram.
void histogram(std::string& out, std::string_view name, std::string_view labels, const Histogram::Snapshot& h);
/// A label value with \, " and newlines escaped.
std::string escape(std::string_view value);
}  // namespace prometheus

}  // namespace gridd
