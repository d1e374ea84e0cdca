#include "gridd/core/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace gridd {

void Histogram::observe(double seconds) noexcept {
  const auto it = std::lower_bound(k_bounds.begin(), k_bounds.end(), seconds);
  m_buckets[static_cast<std::size_t>(it - k_bounds.begin())].fetch_add(1, std::memory_order_relaxed);
  const double ns = std::max(0.0, seconds) * 1e9;
  m_sum_ns.fetch_add(static_cast<std::uint64_t>(std::llround(ns)), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const noexcept {
  Snapshot s;
  for (std::size_t i = 0; i < m_buckets.size(); ++i) {
    s.buckets[i] = m_buckets[i].load(std::memory_order_relaxed);
    s.count += s.buckets[i];
  }
  s.sum = static_cast<double>(m_sum_ns.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

namespace prometheus {

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  char buf[64];
  if (std::isinf(value)) {
    out += value > 0 ? " +Inf\n" : " -Inf\n";
    return;
  }
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, " %.0f\n", value);
  } else {
    std::snprintf(buf, sizeof buf, " %.9g\n", value);
  }
  out += buf;
}

void histogram(std::string& out, std::string_view name, std::string_view labels, const Histogram::Snapshot& h) {
  const std::string bucket = std::string(name) + "_bucket";
  const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
  std::uint64_t cumulative = 0;
  char le[32];
  for (std::size_t i = 0; i < Histogram::k_bounds.size(); ++i) {
    cumulative += h.buckets[i];
    std::snprintf(le, sizeof le, "%g", Histogram::k_bounds[i]);
    sample(out, bucket, prefix + "le=\"" + le + "\"", static_cast<double>(cumulative));
  }
  sample(out, bucket, prefix + "le=\"+Inf\"", static_cast<double>(h.count));
  sample(out, std::string(name) + "_sum", labels, h.sum);
  sample(out, std::string(name) + "_count", labels, static_cast<double>(h.count));
}

std::string escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace prometheus
}  // namespace gridd
