#include "gridd/service/workload.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

#include "gridd/core/error.hpp"

namespace gridd::service {

namespace {

using namespace std::chrono;

/// The responsible person of a grid, as intake assigns incidents: its grid
/// worker, else its first person.
const Person* responsible(const Grid& g) {
  for (const auto& p : g.people) {
    if (p.role == "grid_worker") return &p;
  }
  return g.people.empty() ? nullptr : &g.people.front();
}

std::optional<double> key_value(const WorkloadNumbers& n, WorkloadKey key) {
  switch (key) {
    case WorkloadKey::open: return static_cast<double>(n.open);
    case WorkloadKey::overdue: return static_cast<double>(n.overdue);
    case WorkloadKey::received: return static_cast<double>(n.received);
    case WorkloadKey::overdue_share: return n.overdue_share;
    case WorkloadKey::per_1000_households: return n.per_1000_households;
  }
  return std::nullopt;
}

/// Fill the derived numbers from open, overdue, received and households.
void derive(WorkloadNumbers& n) {
  n.overdue_share = n.open > 0 ? std::optional<double>(static_cast<double>(n.overdue) / static_cast<double>(n.open))
                               : std::nullopt;
  n.per_1000_households = (n.households && *n.households > 0)
                              ? std::optional<double>(1000.0 * static_cast<double>(n.received) /
                                                      static_cast<double>(*n.households))
                              : std::nullopt;
}

/// Descending by the key, unknown values last, then by `name`.
template <class T, class Name>
void sort_by_key(std::vector<T>& items, WorkloadKey key, Name name) {
  std::stable_sort(items.begin(), items.end(), [&](const T& a, const T& b) {
    const auto va = key_value(a.numbers, key), vb = key_value(b.numbers, key);
    if (va.has_value() != vb.has_value()) return va.has_value();
    if (va && *va != *vb) return *va > *vb;
    return name(a) < name(b);
  });
}

std::string percent_name(double p) {
  const double r = std::round(p);
  std::string s = std::fabs(p - r) < 1e-9 ? std::to_string(static_cast<long long>(r)) : std::to_string(p);
  const long long n = static_cast<long long>(r);
  const char* suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th" : n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" : n % 10 == 3 ? "rd" : "th";
  return s + suffix;
}

}  // namespace

std::string_view to_string(WorkloadKey key) noexcept {
  switch (key) {
    case WorkloadKey::open: return "open";
    case WorkloadKey::overdue: return "overdue";
    case WorkloadKey::overdue_share: return "overdue_share";
    case WorkloadKey::received: return "received";
    case WorkloadKey::per_1000_households: return "per_1000_households";
  }
  return "open";
}

WorkloadKey parse_workload_key(std::string_view text, std::string_view field) {
  for (auto k : {WorkloadKey::open, WorkloadKey::overdue, WorkloadKey::overdue_share, WorkloadKey::received,
                 WorkloadKey::per_1000_households}) {
    if (text == to_string(k)) return k;
  }
  throw_invalid("invalid_sort",
                "sort must be open, overdue, overdue_share, received or per_1000_households, got '" +
                    std::string(text) + "'",
                std::string(field));
}

std::string_view to_string(WorkloadFlag flag) noexcept {
  switch (flag) {
    case WorkloadFlag::split: return "split";
    case WorkloadFlag::merge: return "merge";
    case WorkloadFlag::none: break;
  }
  return "none";
}

std::optional<double> percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return std::nullopt;
  const double h = (static_cast<double>(sorted.size()) - 1) * std::clamp(p, 0.0, 100.0) / 100.0;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

WorkloadResult workload(const IncidentService& svc, const WorkloadQuery& q) {
  if (!(q.merge_percentile >= 0 && q.merge_percentile < q.split_percentile && q.split_percentile <= 100)) {
    throw_invalid("invalid_percentile", "percentiles must satisfy 0 <= merge < split <= 100", "split_percentile");
  }
  WorkloadResult r;
  r.snapshot = svc.catalog().snapshot();
  const Snapshot& snap = *r.snapshot;
  r.selection = select_grids(snap, q.root, q.level);
  r.key = q.sort;
  r.at = svc.now();
  r.to = q.to.value_or(r.at);
  r.from = q.from.value_or(r.to - days(k_default_workload_days));
  if (r.from >= r.to) throw_invalid("invalid_period", "from must be before to", "from");

  // Open and overdue now (whenever received), and received in the period.
  storage::StatsQuery now_q;
  now_q.group = storage::StatsGroup::grid;
  now_q.level = r.selection.level;
  if (r.selection.root) now_q.filter.subtree = std::make_pair(r.selection.root->grid.level, r.selection.root->grid.id);
  storage::StatsQuery period_q = now_q;
  period_q.filter.created_from = format_iso8601(r.from);
  // An explicit end is exclusive; the default end (now) includes what was
  // reported in the current millisecond.
  if (q.to) period_q.filter.created_to = format_iso8601(r.to);

  std::unordered_map<std::string, storage::StatsRow> grid_now, grid_period;
  for (auto& e : svc.stats(now_q, r.at)) grid_now[e.row.key] = e.row;
  for (auto& e : svc.stats(period_q, r.at)) grid_period[e.row.key] = e.row;

  std::int64_t households_known = 0, received_known = 0;
  bool any_households = false;
  for (const GridEntry* g : r.selection.grids) {
    GridWorkload w;
    w.grid = g;
    const std::string key = std::to_string(g->grid.id);
    if (auto it = grid_now.find(key); it != grid_now.end()) {
      w.numbers.open = it->second.open;
      w.numbers.overdue = it->second.overdue;
    }
    if (auto it = grid_period.find(key); it != grid_period.end()) w.numbers.received = it->second.received;
    w.numbers.households = g->grid.households;
    w.numbers.area_km2 = g->area_m2 / 1e6;
    derive(w.numbers);
    for (const auto& p : g->grid.people) {
      if (p.role == "grid_worker") w.workers.push_back(p);
    }
    if (w.workers.empty()) {
      if (const Person* p = responsible(g->grid)) w.workers.push_back(*p);
    }
    r.totals.open += w.numbers.open;
    r.totals.overdue += w.numbers.overdue;
    r.totals.received += w.numbers.received;
    r.totals.area_km2 += w.numbers.area_km2;
    if (g->grid.households) {
      any_households = true;
      households_known += *g->grid.households;
      received_known += w.numbers.received;
    }
    r.grids.push_back(std::move(w));
  }
  if (any_households) r.totals.households = households_known;
  derive(r.totals);
  // Per 1,000 households over the grids that state them.
  if (any_households && households_known > 0) {
    r.totals.per_1000_households = 1000.0 * static_cast<double>(received_known) / static_cast<double>(households_known);
  }
  r.grid_count = r.grids.size();

  // Flags by the key's percentiles over the grids with a value.
  std::vector<double> values;
  for (const auto& g : r.grids) {
    if (auto v = key_value(g.numbers, q.sort)) values.push_back(*v);
  }
  std::sort(values.begin(), values.end());
  r.p_split = percentile(values, q.split_percentile);
  r.median = percentile(values, 50);
  r.p_merge = percentile(values, q.merge_percentile);
  r.rule = "split: " + std::string(to_string(q.sort)) + " at or above the " + percent_name(q.split_percentile) +
           " percentile of the compared grids and above their median; merge: at or below the " +
           percent_name(q.merge_percentile) +
           " percentile and below the median. Percentiles interpolate linearly between the grids that have a value; "
           "no flags with fewer than " +
           std::to_string(q.min_grids_for_flags) + " such grids.";
  if (values.size() >= q.min_grids_for_flags) {
    for (auto& g : r.grids) {
      const auto v = key_value(g.numbers, q.sort);
      if (!v) continue;
      if (*v >= *r.p_split && *v > *r.median) {
        g.flag = WorkloadFlag::split;
        ++r.split_candidates;
      } else if (*v <= *r.p_merge && *v < *r.median) {
        g.flag = WorkloadFlag::merge;
        ++r.merge_candidates;
      }
    }
  }
  sort_by_key(r.grids, q.sort, [](const GridWorkload& g) { return g.grid->grid.code; });
  if (q.limit > 0 && r.grids.size() > q.limit) r.grids.resize(q.limit);

  // Workers: their incidents under the root, and the finest grids (leaves)
  // under the root they are responsible for.
  storage::StatsQuery worker_now = now_q;
  worker_now.group = storage::StatsGroup::assignee;
  storage::StatsQuery worker_period = period_q;
  worker_period.group = storage::StatsGroup::assignee;
  std::map<std::string, WorkerWorkload> workers;
  for (auto& e : svc.stats(worker_now, r.at)) {
    WorkerWorkload& w = workers[e.row.key];  // "" gathers the incidents without an assignee
    w.numbers.open += e.row.open;
    w.numbers.overdue += e.row.overdue;
  }
  for (auto& e : svc.stats(worker_period, r.at)) workers[e.row.key].numbers.received += e.row.received;
  std::vector<const GridEntry*> leaves;
  if (r.selection.root) {
    // Every descendant that is a leaf.
    for (int level = static_cast<int>(r.selection.root->grid.level) + 1; level <= static_cast<int>(Level::micro_grid);
         ++level) {
      const GridSelection at = select_grids(snap, q.root, static_cast<Level>(level));
      for (const GridEntry* g : at.grids) {
        if (snap.is_leaf(snap.position_of(g))) leaves.push_back(g);
      }
    }
  } else {
    for (std::size_t i = 0; i < snap.grids().size(); ++i) {
      if (snap.is_leaf(i)) leaves.push_back(snap.grids()[i].get());
    }
  }
  for (const GridEntry* g : leaves) {
    const Person* p = responsible(g->grid);
    if (!p || p->name.empty()) continue;
    WorkerWorkload& w = workers[p->name];
    w.grids.push_back(g->grid.code);
    w.numbers.area_km2 += g->area_m2 / 1e6;
    if (g->grid.households) {
      w.numbers.households = w.numbers.households.value_or(0) + *g->grid.households;
    }
  }
  for (auto& [name, w] : workers) {
    derive(w.numbers);
    if (name.empty()) {
      r.unassigned = w.numbers;
      continue;
    }
    w.name = name;
    std::sort(w.grids.begin(), w.grids.end());
    r.workers.push_back(std::move(w));
  }
  r.worker_count = r.workers.size();
  sort_by_key(r.workers, q.sort, [](const WorkerWorkload& w) { return w.name; });
  if (q.limit > 0 && r.workers.size() > q.limit) r.workers.resize(q.limit);
  return r;
}

}  // namespace gridd::service
