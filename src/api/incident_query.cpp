#include "gridd/api/incident_query.hpp"

#include "gridd/core/error.hpp"
#include "gridd/core/time.hpp"

namespace gridd::api {

const std::vector<std::string>& incident_filter_params() {
  static const std::vector<std::string> names = {"bbox",    "grid",     "status",  "category", "colour", "color",
                                                 "channel", "assignee", "covered", "from",     "to"};
  return names;
}

std::optional<GridRef> incident_subtree_of(const Request& r, const service::IncidentService& svc) {
  std::optional<GridRef> subtree;
  if (auto g = param(r, "grid")) subtree = svc.grid_ref(*g, "grid");
  restrict_to_scope(subtree, r, svc.catalog());
  return subtree;
}

std::vector<std::string> incident_categories_of(const Request& r, const service::IncidentService& svc) {
  std::vector<std::string> out = param_list(r, "category");
  for (const auto& c : out) {
    if (!svc.categories().find(c)) throw_invalid("unknown_category", "unknown category '" + c + "'", "category");
  }
  return out;
}

storage::IncidentFilter incident_filter_of(const Request& r, const service::IncidentService& svc,
                                           const BboxOptions& bbox) {
  storage::IncidentFilter f;
  if (auto b = param_bbox(r, bbox)) f.bbox = std::array<double, 4>{b->minx, b->miny, b->maxx, b->maxy};
  f.subtree = incident_subtree_of(r, svc);
  for (const auto& s : param_list(r, "status")) {
    if (s == "open") {
      for (auto st : all_incident_statuses()) {
        if (is_open(st)) f.statuses.push_back(st);
      }
    } else {
      f.statuses.push_back(parse_incident_status(s, "status"));
    }
  }
  f.categories = incident_categories_of(r, svc);
  for (const char* name : {"colour", "color"}) {
    for (const auto& c : param_list(r, name)) f.colours.push_back(parse_colour(c, name));
  }
  f.channels = param_list(r, "channel");
  if (auto a = param(r, "assignee")) {
    if (*a == "me") {
      const PersonFilter me = token_person(r, "assignee");
      f.assignee = me.name;
      f.assignee_phone = me.phone;
    } else {
      f.assignee = *a;
    }
  }
  f.covered = param_bool(r, "covered");
  const int offset = svc.options().utc_offset_minutes;
  if (auto t = param_time(r, "from", offset)) f.created_from = format_iso8601(*t);
  if (auto t = param_time(r, "to", offset)) f.created_to = format_iso8601(*t);
  if (!f.created_from.empty() && !f.created_to.empty() && f.created_to < f.created_from) {
    throw_invalid("invalid_time_range", "'to' lies before 'from'", "to");
  }
  return f;
}

}  // namespace gridd::api
