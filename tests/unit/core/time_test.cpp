// Unit tests for gridd/core/time.hpp: ISO 8601 formatting and parsing, the
// default local offset, and local days at positive and negative offsets.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "gridd/core/error.hpp"
#include "gridd/core/time.hpp"
#include "unit/test_util.hpp"

namespace gridd {
namespace {

using test::expect_error;
using namespace std::chrono;

/// A UTC instant from calendar fields.
TimePoint utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, int ms = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi) + seconds(s) + milliseconds(ms);
}

TEST(Time, FormatIsUtcWithMilliseconds) {
  EXPECT_EQ(format_iso8601(utc(2026, 11, 22, 2, 15, 0, 123)), "2026-11-22T02:15:00.123Z");
  EXPECT_EQ(format_iso8601(utc(2026, 1, 2, 3, 4, 5)), "2026-01-02T03:04:05.000Z");
  EXPECT_EQ(format_iso8601(utc(1970, 1, 1)), "1970-01-01T00:00:00.000Z");
  // Sub-millisecond parts are truncated, not rounded.
  EXPECT_EQ(format_iso8601(utc(2026, 11, 22, 23, 59, 59, 999) + microseconds(999)), "2026-11-22T23:59:59.999Z");
  // Before the epoch the fields still count forward within the day.
  EXPECT_EQ(format_iso8601(utc(1969, 12, 31, 23, 59, 59, 999)), "1969-12-31T23:59:59.999Z");
  // A leap day.
  EXPECT_EQ(format_iso8601(utc(2028, 2, 29, 12)), "2028-02-29T12:00:00.000Z");
}

TEST(Time, FormatSortsAsText) {
  const std::vector<TimePoint> ordered = {utc(2025, 12, 31, 23, 59, 59, 999), utc(2026, 1, 1), utc(2026, 1, 1, 0, 0, 0, 1),
                                          utc(2026, 2, 1), utc(2026, 11, 22, 9, 30), utc(2026, 11, 22, 10)};
  for (std::size_t i = 1; i < ordered.size(); ++i) {
    EXPECT_LT(format_iso8601(ordered[i - 1]), format_iso8601(ordered[i]));
  }
}

TEST(Time, FormatThenParseRoundTrips) {
  const std::vector<TimePoint> instants = {utc(2026, 11, 22, 2, 15, 0, 123), utc(1970, 1, 1), utc(2000, 2, 29, 23, 59, 59, 999),
                                           utc(2026, 12, 31, 16, 0), utc(2099, 7, 4, 4, 4, 4, 4),
                                           utc(1969, 12, 31, 23, 59, 59, 1)};
  for (const auto t : instants) {
    const std::string text = format_iso8601(t);
    const auto back = try_parse_time(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(*back, t) << text;
    // The Z wins over any default offset.
    EXPECT_EQ(try_parse_time(text, -300), t) << text;
    EXPECT_EQ(parse_time(text, "at"), t) << text;
    EXPECT_EQ(format_iso8601(*back), text);
  }
}

TEST(Time, ParsesEveryDocumentedForm) {
  const TimePoint base = utc(2026, 11, 22, 1, 30);  // 09:30 at +08:00
  // Zone-less forms are local time at +08:00 by default.
  EXPECT_EQ(try_parse_time("2026-11-22T09:30"), base);
  EXPECT_EQ(try_parse_time("2026-11-22 09:30"), base);
  EXPECT_EQ(try_parse_time("2026-11-22t09:30"), base);
  EXPECT_EQ(try_parse_time("2026-11-22T09:30:00"), base);
  EXPECT_EQ(try_parse_time("2026-11-22T09:30:07"), base + seconds(7));
  EXPECT_EQ(try_parse_time("2026-11-22T09:30:07.123"), base + seconds(7) + milliseconds(123));
  EXPECT_EQ(try_parse_time("2026-11-22T09:30:07.5"), base + seconds(7) + milliseconds(500));
  EXPECT_EQ(try_parse_time("2026-11-22T09:30:07.12"), base + seconds(7) + milliseconds(120));
  // A bare date is local midnight.
  EXPECT_EQ(try_parse_time("2026-11-22"), utc(2026, 11, 21, 16));
  EXPECT_EQ(try_parse_time("2026-11-22", 0), utc(2026, 11, 22));
  // Zones.
  EXPECT_EQ(try_parse_time("2026-11-22T01:30Z"), base);
  EXPECT_EQ(try_parse_time("2026-11-22T01:30:00.000Z"), base);
  EXPECT_EQ(try_parse_time("2026-11-22T01:30:00z"), base);
  EXPECT_EQ(try_parse_time("2026-11-22T09:30+08:00"), base);
  EXPECT_EQ(try_parse_time("2026-11-22 09:30:00.000+08:00"), base);
  EXPECT_EQ(try_parse_time("2026-11-21T20:30-05:00"), base);
  EXPECT_EQ(try_parse_time("2026-11-22T07:00+05:30"), base);
  EXPECT_EQ(try_parse_time("2026-11-22T01:30+00:00"), base);
  EXPECT_EQ(try_parse_time("2026-11-22Z"), utc(2026, 11, 22));
  EXPECT_EQ(try_parse_time("2026-11-22+08:00"), utc(2026, 11, 21, 16));
}

TEST(Time, ZonelessTimeIsLocalAtTheDefaultOffset) {
  EXPECT_EQ(try_parse_time("2026-11-22T08:00"), try_parse_time("2026-11-22T00:00:00Z"));
  EXPECT_EQ(parse_time("2026-11-22T08:00", "from"), utc(2026, 11, 22));
  // Another default offset moves the same wall-clock time.
  EXPECT_EQ(try_parse_time("2026-11-22T08:00", 0), utc(2026, 11, 22, 8));
  EXPECT_EQ(try_parse_time("2026-11-22T08:00", -300), utc(2026, 11, 22, 13));
  // ... but an explicit zone ignores it.
  EXPECT_EQ(try_parse_time("2026-11-22T08:00+08:00", -300), utc(2026, 11, 22));
  // Local midnight crossing the UTC date.
  EXPECT_EQ(try_parse_time("2026-01-01T00:00"), utc(2025, 12, 31, 16));
}

TEST(Time, RejectsGarbageWithInvalidTimeNamingTheField) {
  const std::vector<std::string> bad = {"",
                                        " ",
                                        "now",
                                        "2026",
                                        "2026-11",
                                        "2026-1-01",
                                        "26-11-22",
                                        "2026/11/22",
                                        "2026-13-01",
                                        "2026-00-10",
                                        "2026-11-00",
                                        "2026-11-31",
                                        "2026-02-30",
                                        "2027-02-29",
                                        "2026-11-22T25:00",
                                        "2026-11-22T24:00",
                                        "2026-11-22T09:60",
                                        "2026-11-22T09:30:61",
                                        "2026-11-22Tx",
                                        "2026-11-22T",
                                        "2026-11-22T9:30",
                                        "2026-11-22T09",
                                        "2026-11-22T09:3",
                                        "2026-11-22T09:30:",
                                        "2026-11-22T09:30:0",
                                        "2026-11-22T09:30:00.",
                                        "2026-11-22T09:30:00.x",
                                        "2026-11-22x",
                                        "2026-11-22 ",
                                        "2026-11-22T09:30 ",
                                        "2026-11-22T09:30Zjunk",
                                        "2026-11-22T09:30:00.123Z ",
                                        "2026-11-22T09:30junk",
                                        "2026-11-22T09:30+08",
                                        "2026-11-22T09:30+0800",
                                        "2026-11-22T09:30+08:00:00",
                                        "2026-11-22T09:30+19:00",
                                        "2026-11-22T09:30+08:60",
                                        "2026-11-22T09:30+ab:cd",
                                        "2026-11-22T09:30UTC"};
  for (const auto& text : bad) {
    EXPECT_FALSE(try_parse_time(text).has_value()) << "'" << text << "'";
    const std::string msg = expect_error([&] { (void)parse_time(text, "filter/created_from"); },
                                         ErrorKind::invalid_input, "invalid_time", "filter/created_from");
    EXPECT_NE(msg.find("'" + text + "'"), std::string::npos) << msg;
  }
  expect_error([] { (void)parse_time("2026-02-30", "due_before", 0); }, ErrorKind::invalid_input, "invalid_time",
               "due_before");
}

// Found by tests/fuzz/fuzz_query (GET /incidents?from=3572-01-01): a year
// beyond what TimePoint's 64-bit nanoseconds hold overflowed a signed
// integer (undefined behaviour; in practice a wrapped, wrong instant).
TEST(Time, RejectsTimesOutsideWhatATimePointHolds) {
  for (const char* far : {"3572-01-01", "9999-12-31T23:59:59Z", "2262-04-12T00:00:00Z", "1677-09-20", "0000-01-01T00:00:00Z"}) {
    EXPECT_FALSE(try_parse_time(far).has_value()) << far;
    expect_error([&] { (void)parse_time(far, "from"); }, ErrorKind::invalid_input, "invalid_time", "from");
  }
  // The last whole days on either side still parse, and round-trip.
  EXPECT_EQ(format_iso8601(parse_time("2262-04-10T00:00:00Z", "at")), "2262-04-10T00:00:00.000Z");
  EXPECT_EQ(format_iso8601(parse_time("1677-09-22T00:00:00Z", "at")), "1677-09-22T00:00:00.000Z");
}

TEST(Time, LocalDayEndAtChinaStandardTime) {
  // 2026-11-22 local runs from 2026-11-21T16:00Z to 2026-11-22T16:00Z.
  const TimePoint end22 = utc(2026, 11, 22, 16);
  EXPECT_EQ(local_day_end(utc(2026, 11, 21, 16)), end22);              // local 00:00:00.000
  EXPECT_EQ(local_day_end(utc(2026, 11, 22, 1, 30)), end22);           // local 09:30
  EXPECT_EQ(local_day_end(utc(2026, 11, 22, 15, 59, 59, 999)), end22);  // local 23:59:59.999
  EXPECT_EQ(local_day_end(utc(2026, 11, 22, 16)), utc(2026, 11, 23, 16));
  EXPECT_EQ(local_day_end(utc(2026, 11, 21, 15, 59, 59, 999)), utc(2026, 11, 21, 16));
  EXPECT_EQ(local_day_end(utc(2026, 11, 22, 1, 30), 480), end22);
  // The end of a day is always after `now` and at most one day later.
  for (int m = 0; m < 24 * 60; m += 37) {
    const TimePoint now = utc(2026, 11, 22) + minutes(m);
    const TimePoint end = local_day_end(now);
    EXPECT_GT(end, now);
    EXPECT_LE(end - now, hours(24));
    EXPECT_EQ(format_iso8601(end).substr(11), "16:00:00.000Z");
  }
}

TEST(Time, LocalDayEndAtNegativeAndZeroOffsets) {
  // -05:00: local 2026-11-22 runs from 2026-11-22T05:00Z to 2026-11-23T05:00Z.
  EXPECT_EQ(local_day_end(utc(2026, 11, 22, 4, 59), -300), utc(2026, 11, 22, 5));
  EXPECT_EQ(local_day_end(utc(2026, 11, 22, 5), -300), utc(2026, 11, 23, 5));
  EXPECT_EQ(local_day_end(utc(2026, 11, 23, 4, 59, 59, 999), -300), utc(2026, 11, 23, 5));
  EXPECT_EQ(local_day_end(utc(2026, 11, 22, 23), 0), utc(2026, 11, 23));
  EXPECT_EQ(local_day_end(utc(2026, 11, 22), 0), utc(2026, 11, 23));
  // A non-whole-hour offset (+05:30).
  EXPECT_EQ(local_day_end(utc(2026, 11, 22, 18, 29), 330), utc(2026, 11, 22, 18, 30));
  EXPECT_EQ(local_day_end(utc(2026, 11, 22, 18, 30), 330), utc(2026, 11, 23, 18, 30));
}

TEST(Time, LocalDateAtPositiveAndNegativeOffsets) {
  EXPECT_EQ(local_date(utc(2026, 11, 21, 15, 59, 59, 999)), "2026-11-21");
  EXPECT_EQ(local_date(utc(2026, 11, 21, 16)), "2026-11-22");
  EXPECT_EQ(local_date(utc(2026, 11, 22, 15, 59)), "2026-11-22");
  EXPECT_EQ(local_date(utc(2026, 12, 31, 16)), "2027-01-01");
  EXPECT_EQ(local_date(utc(2026, 11, 22, 4, 59), -300), "2026-11-21");
  EXPECT_EQ(local_date(utc(2026, 11, 22, 5), -300), "2026-11-22");
  EXPECT_EQ(local_date(utc(2026, 1, 1, 3), -300), "2025-12-31");
  EXPECT_EQ(local_date(utc(2026, 11, 22, 23, 59), 0), "2026-11-22");
  // local_date and local_day_end agree: the day end is the first instant of the next date.
  for (int offset : {480, 0, -300, 330, -720, 840}) {
    for (int m = 0; m < 48 * 60; m += 53) {
      const TimePoint now = utc(2026, 11, 22) + minutes(m);
      const TimePoint end = local_day_end(now, offset);
      EXPECT_EQ(local_date(end - milliseconds(1), offset), local_date(now, offset)) << offset << " " << m;
      EXPECT_NE(local_date(end, offset), local_date(now, offset)) << offset << " " << m;
    }
  }
}

}  // namespace
}  // namespace gridd
