// Unit tests for gridd/core/incident.hpp: statuses, actions, the workflow
// table, deadline colours with an injected clock, the category catalogue.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <utility>

#include "gridd/core/error.hpp"
#include "gridd/core/incident.hpp"
#include "unit/test_util.hpp"

namespace gridd {
namespace {

using test::expect_error;
using namespace std::chrono;
using S = IncidentStatus;
using A = IncidentAction;

/// A UTC instant from calendar fields (no hidden clock anywhere).
TimePoint utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi) + seconds(s);
}

// The expected table, written out independently of the implementation.
const std::map<std::pair<S, A>, S>& expected_table() {
  static const std::map<std::pair<S, A>, S> table = {
      {{S::reported, A::register_}, S::registered},  {{S::registered, A::dispatch}, S::dispatched},
      {{S::dispatched, A::accept}, S::accepted},     {{S::accepted, A::resolve}, S::resolved},
      {{S::resolved, A::verify}, S::verified},       {{S::verified, A::close}, S::closed},
      {{S::reported, A::reject}, S::rejected},       {{S::registered, A::reject}, S::rejected},
      {{S::dispatched, A::return_}, S::returned},    {{S::accepted, A::return_}, S::returned},
      {{S::returned, A::dispatch}, S::dispatched},   {{S::escalated, A::dispatch}, S::dispatched},
      {{S::reopened, A::dispatch}, S::dispatched},   {{S::dispatched, A::escalate}, S::escalated},
      {{S::accepted, A::escalate}, S::escalated},    {{S::returned, A::escalate}, S::escalated},
      {{S::resolved, A::send_back}, S::accepted},    {{S::closed, A::reopen}, S::reopened},
      {{S::closed, A::follow_up}, S::closed},
  };
  return table;
}

S run(S from, std::initializer_list<A> actions) {
  for (A a : actions) from = apply_transition(from, a);
  return from;
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

TEST(IncidentStatus, ToStringAndParseRoundTripEveryStatus) {
  const std::vector<std::pair<S, std::string>> all = {
      {S::reported, "reported"},   {S::registered, "registered"}, {S::dispatched, "dispatched"},
      {S::accepted, "accepted"},   {S::resolved, "resolved"},     {S::verified, "verified"},
      {S::closed, "closed"},       {S::rejected, "rejected"},     {S::returned, "returned"},
      {S::escalated, "escalated"}, {S::reopened, "reopened"}};
  ASSERT_EQ(all_incident_statuses().size(), all.size());
  for (const auto& [status, name] : all) {
    EXPECT_EQ(to_string(status), name);
    EXPECT_EQ(parse_incident_status(name), status) << name;
  }
}

TEST(IncidentStatus, ParseRejectsUnknownNamesAndNamesTheField) {
  for (const char* bad : {"", "Reported", "open", "done", "closed ", "7"}) {
    EXPECT_FALSE(try_parse_incident_status(bad).has_value()) << bad;
    expect_error([&] { (void)parse_incident_status(bad); }, ErrorKind::invalid_input, "invalid_status", "status");
  }
  expect_error([] { (void)parse_incident_status("nope", "filter/status"); }, ErrorKind::invalid_input,
               "invalid_status", "filter/status");
}

TEST(IncidentAction, ToStringAndParseRoundTripEveryAction) {
  const std::vector<std::pair<A, std::string>> all = {
      {A::register_, "register"}, {A::reject, "reject"},       {A::dispatch, "dispatch"},
      {A::accept, "accept"},      {A::return_, "return"},      {A::escalate, "escalate"},
      {A::resolve, "resolve"},    {A::send_back, "send_back"}, {A::verify, "verify"},
      {A::close, "close"},        {A::reopen, "reopen"},
      {A::follow_up, "follow_up"}};
  ASSERT_EQ(all_incident_actions().size(), all.size());
  for (const auto& [action, name] : all) {
    EXPECT_EQ(to_string(action), name);
    EXPECT_EQ(parse_incident_action(name), action) << name;
  }
}

TEST(IncidentAction, ParseRejectsUnknownNames) {
  for (const char* bad : {"", "register_", "return_", "Dispatch", "sendback", "finish"}) {
    EXPECT_FALSE(try_parse_incident_action(bad).has_value()) << bad;
    expect_error([&] { (void)parse_incident_action(bad); }, ErrorKind::invalid_input, "invalid_action", "action");
  }
}

// ---------------------------------------------------------------------------
// Workflow
// ---------------------------------------------------------------------------

TEST(IncidentWorkflow, EveryLegalTransitionOfTheTable) {
  const auto& expected = expected_table();
  EXPECT_EQ(incident_transitions().size(), expected.size());
  for (const auto& [key, to] : expected) {
    const auto [from, action] = key;
    auto got = next_status(from, action);
    ASSERT_TRUE(got.has_value()) << to_string(action) << " from " << to_string(from);
    EXPECT_EQ(*got, to) << to_string(action) << " from " << to_string(from);
    EXPECT_EQ(apply_transition(from, action), to);
  }
  for (const auto& t : incident_transitions()) {
    auto it = expected.find({t.from, t.action});
    ASSERT_NE(it, expected.end()) << "unexpected edge " << to_string(t.action) << " from " << to_string(t.from);
    EXPECT_EQ(it->second, t.to);
  }
}

TEST(IncidentWorkflow, EveryIllegalPairIsAConflictAndTheMessageNamesBoth) {
  const auto& expected = expected_table();
  int illegal = 0;
  for (S from : all_incident_statuses()) {
    for (A action : all_incident_actions()) {
      if (expected.count({from, action})) continue;
      ++illegal;
      EXPECT_FALSE(next_status(from, action).has_value()) << to_string(action) << " from " << to_string(from);
      const std::string msg = expect_error([&] { (void)apply_transition(from, action); }, ErrorKind::conflict,
                                           "illegal_transition", "action");
      EXPECT_EQ(msg, "cannot " + std::string(to_string(action)) + " an incident that is " +
                         std::string(to_string(from)));
    }
  }
  EXPECT_EQ(illegal, 11 * 12 - 19);
}

TEST(IncidentWorkflow, AllowedActionsFollowTheTable) {
  for (S from : all_incident_statuses()) {
    std::vector<A> want;
    for (A action : all_incident_actions()) {
      if (expected_table().count({from, action})) want.push_back(action);
    }
    EXPECT_EQ(allowed_actions(from), want) << to_string(from);
  }
  EXPECT_TRUE(allowed_actions(S::rejected).empty());
  EXPECT_EQ(allowed_actions(S::closed), (std::vector<A>{A::reopen, A::follow_up}));
}

TEST(IncidentWorkflow, HappyPathIsTheSevenStepLoop) {
  S s = S::reported;
  const std::vector<std::pair<A, S>> steps = {{A::register_, S::registered}, {A::dispatch, S::dispatched},
                                              {A::accept, S::accepted},      {A::resolve, S::resolved},
                                              {A::verify, S::verified},      {A::close, S::closed}};
  for (const auto& [action, want] : steps) {
    EXPECT_TRUE(is_open(s)) << to_string(s);
    s = apply_transition(s, action);
    EXPECT_EQ(s, want);
  }
  EXPECT_FALSE(is_open(s));
}

TEST(IncidentWorkflow, RejectAtRegistrationIsTerminal) {
  EXPECT_EQ(run(S::reported, {A::reject}), S::rejected);
  EXPECT_EQ(run(S::reported, {A::register_, A::reject}), S::rejected);
  EXPECT_FALSE(is_open(S::rejected));
  for (A action : all_incident_actions()) EXPECT_FALSE(next_status(S::rejected, action).has_value());
  // Once dispatched an incident can no longer be rejected.
  expect_error([] { (void)run(S::reported, {A::register_, A::dispatch, A::reject}); }, ErrorKind::conflict,
               "illegal_transition", "action");
}

TEST(IncidentWorkflow, ReturnedByTheHandlerIsDispatchedAgain) {
  EXPECT_EQ(run(S::registered, {A::dispatch, A::return_, A::dispatch, A::accept, A::return_, A::dispatch,
                                A::accept, A::resolve}),
            S::resolved);
  expect_error([] { (void)apply_transition(S::returned, A::accept); }, ErrorKind::conflict, "illegal_transition");
}

TEST(IncidentWorkflow, EscalatedToTheParentLevelAndDispatchedFromThere) {
  EXPECT_EQ(run(S::dispatched, {A::escalate, A::dispatch}), S::dispatched);
  EXPECT_EQ(run(S::accepted, {A::escalate, A::dispatch, A::accept}), S::accepted);
  EXPECT_EQ(run(S::dispatched, {A::return_, A::escalate, A::dispatch}), S::dispatched);
  expect_error([] { (void)apply_transition(S::resolved, A::escalate); }, ErrorKind::conflict, "illegal_transition");
}

TEST(IncidentWorkflow, FailedVerificationSendsBackToTheHandler) {
  EXPECT_EQ(run(S::accepted, {A::resolve, A::send_back, A::resolve, A::verify, A::close}), S::closed);
  expect_error([] { (void)apply_transition(S::verified, A::send_back); }, ErrorKind::conflict, "illegal_transition");
}

TEST(IncidentWorkflow, UnsatisfiedFollowUpReopensAndTheLoopRunsAgain) {
  EXPECT_EQ(run(S::closed, {A::reopen}), S::reopened);
  EXPECT_TRUE(is_open(S::reopened));
  EXPECT_EQ(run(S::closed, {A::reopen, A::dispatch, A::accept, A::resolve, A::verify, A::close}), S::closed);
  expect_error([] { (void)apply_transition(S::reopened, A::reopen); }, ErrorKind::conflict, "illegal_transition");
}

// ---------------------------------------------------------------------------
// Colours
// ---------------------------------------------------------------------------

TEST(Colour, NamesRoundTrip) {
  for (Colour c : {Colour::none, Colour::on_track, Colour::near_due, Colour::due_today, Colour::overdue}) {
    EXPECT_EQ(parse_colour(to_string(c)), c);
  }
  EXPECT_EQ(to_string(Colour::due_today), "due_today");
  expect_error([] { (void)parse_colour("red"); }, ErrorKind::invalid_input, "invalid_colour", "colour");
}

TEST(Colour, NoneWhenClosedOrNotDispatched) {
  const TimePoint d = utc(2026, 11, 1);
  const TimePoint due = d + hours(72);
  EXPECT_EQ(colour_at(d, due, false, d + hours(1)), Colour::none);
  EXPECT_EQ(colour_at(d, due, false, due + hours(100)), Colour::none);  // closed late: still none
  EXPECT_EQ(colour_at(std::nullopt, std::nullopt, true, d), Colour::none);
  EXPECT_EQ(colour_at(std::nullopt, due, true, due + hours(1)), Colour::none);
  EXPECT_EQ(colour_at(d, std::nullopt, true, d + hours(10000)), Colour::on_track);  // no deadline
}

TEST(Colour, NearDueAtExactlySeventyFivePercent) {
  const TimePoint d = utc(2026, 11, 1);  // 08:00 local
  const TimePoint due = d + hours(400);  // 2026-11-17T16:00Z
  const TimePoint at75 = d + hours(300);  // 2026-11-13T12:00Z, 20:00 local; due is days away
  EXPECT_EQ(colour_at(d, due, true, d), Colour::on_track);
  EXPECT_EQ(colour_at(d, due, true, at75 - TimePoint::duration(1)), Colour::on_track);
  EXPECT_EQ(colour_at(d, due, true, at75 - seconds(1)), Colour::on_track);
  EXPECT_EQ(colour_at(d, due, true, at75), Colour::near_due);
  EXPECT_EQ(colour_at(d, due, true, at75 + seconds(1)), Colour::near_due);
  // An allowed time that does not divide by four: 75% of 7 ticks is 5.25, so 6 ticks.
  const TimePoint d2 = utc(2026, 11, 1);
  const TimePoint due2 = d2 + TimePoint::duration(7) + days(5);
  const auto total = due2 - d2;
  const TimePoint at = d2 + (total * 3) / 4;  // floor
  EXPECT_EQ(colour_at(d2, due2, true, at), (total * 3) % 4 == TimePoint::duration(0) ? Colour::near_due
                                                                                     : Colour::on_track);
  EXPECT_EQ(colour_at(d2, due2, true, at + TimePoint::duration(1)), Colour::near_due);
}

TEST(Colour, DueTodayEndsAtLocalMidnightNotUtcMidnight) {
  // now = 2026-11-21T02:00Z = 10:00 in UTC+8; the local day ends at 2026-11-21T16:00Z.
  const TimePoint now = utc(2026, 11, 21, 2);
  const TimePoint d = utc(2026, 11, 20, 16);  // dispatched at local midnight
  EXPECT_EQ(colour_at(d, utc(2026, 11, 21, 16) - seconds(1), true, now), Colour::due_today);
  EXPECT_EQ(colour_at(d, utc(2026, 11, 21, 16) - TimePoint::duration(1), true, now), Colour::due_today);
  EXPECT_EQ(colour_at(d, utc(2026, 11, 21, 16), true, now), Colour::on_track);  // due at 00:00 tomorrow
}

TEST(Colour, LocalDayRollsOverBeforeUtcMidnight) {
  // Due 2026-11-21T17:00Z = 01:00 on 22 Nov local. Allowed time: 10 days.
  const TimePoint due = utc(2026, 11, 21, 17);
  const TimePoint d = due - days(10);
  // 2026-11-21T15:59:59Z is 23:59:59 on 21 Nov local: due is tomorrow, but
  // it is on the same UTC day, so a UTC clock would say due_today.
  const TimePoint before = utc(2026, 11, 21, 15, 59, 59);
  EXPECT_EQ(colour_at(d, due, true, before), Colour::near_due);
  EXPECT_EQ(colour_at(d, due, true, before, 0), Colour::due_today);
  // One second later it is 00:00 on 22 Nov local (still 21 Nov in UTC): due today.
  const TimePoint after = utc(2026, 11, 21, 16);
  EXPECT_EQ(colour_at(d, due, true, after), Colour::due_today);
  // A negative offset (UTC-5): 2026-11-21T16:00Z is 11:00 on 21 Nov local; the day ends at 2026-11-22T05:00Z.
  EXPECT_EQ(colour_at(d, due, true, after, -300), Colour::due_today);
  EXPECT_EQ(colour_at(d, utc(2026, 11, 22, 5), true, after, -300), Colour::near_due);
}

TEST(Colour, OverdueOneSecondAfterTheDeadline) {
  const TimePoint d = utc(2026, 11, 18, 1);
  const TimePoint due = d + hours(72);
  EXPECT_EQ(colour_at(d, due, true, due), Colour::due_today);
  EXPECT_EQ(colour_at(d, due, true, due + TimePoint::duration(1)), Colour::overdue);
  EXPECT_EQ(colour_at(d, due, true, due + seconds(1)), Colour::overdue);
  EXPECT_EQ(colour_at(d, due, true, due + days(30)), Colour::overdue);
  EXPECT_EQ(colour_at(d, due, false, due + seconds(1)), Colour::none);
}

TEST(Colour, RejectsAbsurdUtcOffsets) {
  const TimePoint d = utc(2026, 11, 18);
  expect_error([&] { (void)colour_at(d, d + hours(1), true, d, 24 * 60); }, ErrorKind::invalid_input,
               "invalid_utc_offset", "utc_offset_minutes");
  EXPECT_EQ(colour_at(d, d + days(10), true, d, 14 * 60), Colour::on_track);
  EXPECT_EQ(colour_at(d, d + days(10), true, d, -12 * 60), Colour::on_track);
}

TEST(Colour, DeadlineOfACategoryStartsAtDispatch) {
  Category c{"x", "x", "x", "g", 72, "grid_worker"};
  const TimePoint d = utc(2026, 11, 18, 3);
  EXPECT_EQ(due_at(c, d), utc(2026, 11, 21, 3));
}

// ---------------------------------------------------------------------------
// Category catalogue
// ---------------------------------------------------------------------------

std::string shipped_catalogue_path() { return std::string(GRIDD_GEODATA_DIR) + "/categories.json"; }

TEST(CategoryCatalogue, ShippedCatalogueLoadsWithTheSixStandardGroups) {
  const auto cat = CategoryCatalogue::load(shipped_catalogue_path());
  ASSERT_FALSE(cat.all().empty());
  const auto groups = cat.groups();
  const std::set<std::string> got(groups.begin(), groups.end());
  const std::set<std::string> want = {"市容环境", "宣传广告", "施工管理", "突发事件", "街面秩序", "其他事件"};
  EXPECT_EQ(got, want);
}

TEST(CategoryCatalogue, ShippedCatalogueHasTheSeedCases) {
  const auto cat = CategoryCatalogue::load(shipped_catalogue_path());
  const std::map<std::string, std::string> seed = {
      {"heating_failure", "heating_company"},   {"gas_supply_outage", "gas_company"},
      {"roof_leak", "housing_authority"},       {"property_dispute", "housing_authority"},
      {"parking_disorder", "urban_management"}, {"blocked_fire_lane", "fire_brigade"},
      {"ebike_indoor_charging", "grid_worker"}, {"corridor_clutter", "grid_worker"},
      {"illegal_small_ads", "urban_management"}, {"wage_arrears", "labour_bureau"},
      {"lost_person", "public_security"},       {"safety_hazard", "emergency_management"},
      {"muck_truck_spill", "urban_management"}, {"road_hazard", "road_authority"}};
  for (const auto& [code, handler] : seed) {
    const Category* c = cat.find(code);
    ASSERT_NE(c, nullptr) << code;
    EXPECT_EQ(c->code, code);
    EXPECT_EQ(c->handler, handler) << code;
  }
  EXPECT_EQ(cat.find("lost_person")->group, "突发事件");
  EXPECT_LE(cat.find("lost_person")->deadline_hours, 24);
  EXPECT_EQ(cat.find("no_such_category"), nullptr);
  EXPECT_EQ(cat.find(""), nullptr);
}

TEST(CategoryCatalogue, ShippedCatalogueEntriesAreUniqueAndPlausible) {
  const auto cat = CategoryCatalogue::load(shipped_catalogue_path());
  std::set<std::string> codes;
  for (const auto& c : cat.all()) {
    EXPECT_TRUE(codes.insert(c.code).second) << "duplicate " << c.code;
    EXPECT_EQ(cat.find(c.code), &c);
    EXPECT_FALSE(c.name.empty());
    EXPECT_FALSE(c.name_en.empty());
    EXPECT_GE(c.deadline_hours, 2) << c.code;
    EXPECT_LE(c.deadline_hours, 168) << c.code;
    EXPECT_FALSE(c.handler.empty());
    EXPECT_EQ(CategoryCatalogue::from_json(Json{{"categories", Json::array({to_json(c)})}}).all().front(), c);
  }
}

Json good_entry(const std::string& code) {
  return Json{{"code", code},   {"name", "名称"},          {"name_en", "Name"},
              {"group", "其他事件"}, {"deadline_hours", 72}, {"handler", "grid_worker"}};
}

Json catalogue_of(int n) {
  Json list = Json::array();
  for (int i = 0; i < n; ++i) list.push_back(good_entry("case_" + std::to_string(i)));
  return Json{{"categories", list}};
}

TEST(CategoryCatalogue, FromJsonKeepsFileOrder) {
  const auto cat = CategoryCatalogue::from_json(catalogue_of(5));
  ASSERT_EQ(cat.all().size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(cat.all()[i].code, "case_" + std::to_string(i));
  EXPECT_EQ(cat.find("case_3")->deadline_hours, 72);
}

TEST(CategoryCatalogue, BadShapesAreRejected) {
  expect_error([] { (void)CategoryCatalogue::from_json(Json::array()); }, ErrorKind::invalid_input,
               "invalid_catalogue");
  expect_error([] { (void)CategoryCatalogue::from_json(Json::object()); }, ErrorKind::invalid_input,
               "invalid_catalogue", "categories");
  expect_error([] { (void)CategoryCatalogue::from_json(Json{{"categories", "x"}}); }, ErrorKind::invalid_input,
               "invalid_catalogue", "categories");
  expect_error([] { (void)CategoryCatalogue::from_json(Json{{"categories", Json::array()}}); },
               ErrorKind::invalid_input, "invalid_catalogue", "categories");
  Json doc = catalogue_of(3);
  doc["categories"][1] = "heating";
  expect_error([&] { (void)CategoryCatalogue::from_json(doc); }, ErrorKind::invalid_input, "invalid_category",
               "categories/1");
}

TEST(CategoryCatalogue, BadEntriesAreRejectedWithTheEntryNamed) {
  struct Case {
    const char* key;
    Json value;  // null means: remove the key
    const char* code;
  };
  const std::vector<Case> cases = {
      {"deadline_hours", 0, "invalid_category"},
      {"deadline_hours", -5, "invalid_category"},
      {"deadline_hours", 7.5, "invalid_category"},
      {"deadline_hours", "72", "invalid_category"},
      {"deadline_hours", 100000, "invalid_category"},
      {"deadline_hours", nullptr, "invalid_category"},
      {"code", "Heating", "invalid_category"},
      {"code", "heating-failure", "invalid_category"},
      {"code", "1st", "invalid_category"},
      {"code", nullptr, "invalid_category"},
      {"name", nullptr, "invalid_category"},
      {"name", 5, "invalid_category"},
      {"name_en", "  ", "invalid_category"},
      {"group", "", "invalid_category"},
      {"handler", nullptr, "invalid_category"},
      {"code", "case_0", "duplicate_category"},
  };
  for (const auto& c : cases) {
    Json doc = catalogue_of(5);
    if (c.value.is_null()) {
      doc["categories"][3].erase(c.key);
    } else {
      doc["categories"][3][c.key] = c.value;
    }
    SCOPED_TRACE(std::string(c.key) + " = " + c.value.dump());
    const std::string field = std::string("categories/3/") + c.key;
    expect_error([&] { (void)CategoryCatalogue::from_json(doc); }, ErrorKind::invalid_input, c.code,
                 field.c_str());
  }
}

TEST(CategoryCatalogue, LoadReportsUnreadableAndMalformedFiles) {
  test::TempDir dir;
  const std::string missing = dir.file("missing.json");
  expect_error([&] { (void)CategoryCatalogue::load(missing); }, ErrorKind::invalid_input, "catalogue_unreadable",
               missing.c_str());
  const std::string broken = dir.file("broken.json");
  test::write_file(broken, "{\"categories\": [");
  const std::string msg = expect_error([&] { (void)CategoryCatalogue::load(broken); }, ErrorKind::invalid_input,
                                       "malformed_catalogue", broken.c_str());
  EXPECT_NE(msg.find(broken), std::string::npos) << msg;
  const std::string bad = dir.file("bad.json");
  Json doc = catalogue_of(4);
  doc["categories"][3]["deadline_hours"] = 0;
  test::write_file(bad, doc.dump());
  expect_error([&] { (void)CategoryCatalogue::load(bad); }, ErrorKind::invalid_input, "invalid_category",
               "categories/3/deadline_hours");
  const std::string good = dir.file("good.json");
  test::write_file(good, catalogue_of(2).dump());
  EXPECT_EQ(CategoryCatalogue::load(good).all().size(), 2u);
}

}  // namespace
}  // namespace gridd
