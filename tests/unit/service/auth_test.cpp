#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include <unistd.h>

#include "gridd/core/error.hpp"
#include "gridd/service/auth.hpp"
#include "gridd/storage/auth_store.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {

ErrorKind kind_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::internal;  // "no error" sentinel for the tests below
}

struct AuthFixture {
  test::TempDir dir;
  storage::AuthStore* auth_store = nullptr;
  std::unique_ptr<Catalog> catalog;
  std::int64_t district = 0, community_a = 0, grid_a = 0, community_b = 0, grid_b = 0;

  AuthFixture() {
    auto gpkg = test::open_test_store(dir.file("store.gpkg"));
    auth_store = &gpkg->auth();
    catalog = std::make_unique<Catalog>(std::move(gpkg));
    const auto ids = catalog->create_grids(test::grids(
        test::grid_in("D", Level::district, "", 116.0, 39.9, 116.4, 40.1),
        test::grid_in("S", Level::street, "D", 116.0, 39.9, 116.4, 40.1),
        test::grid_in("CA", Level::community, "S", 116.0, 39.9, 116.2, 40.1),
        test::grid_in("GA", Level::grid, "CA", 116.0, 39.9, 116.2, 40.1),
        test::grid_in("CB", Level::community, "S", 116.2, 39.9, 116.4, 40.1),
        test::grid_in("GB", Level::grid, "CB", 116.2, 39.9, 116.4, 40.1)));
    district = ids.at(0);
    community_a = ids.at(2);
    grid_a = ids.at(3);
    community_b = ids.at(4);
    grid_b = ids.at(5);
  }
};

TEST(Tokens, GeneratedTokensAreUniqueAndPrefixed) {
  const std::string a = storage::generate_token(), b = storage::generate_token();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("gridd_", 0), 0u);
  EXPECT_EQ(a.size(), 6u + 43u);  // 32 bytes in unpadded base64url
  EXPECT_EQ(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 6),
            std::string::npos);
}

TEST(Tokens, HashIsSha256Hex) {
  EXPECT_EQ(storage::hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Tokens, OnlyTheHashIsStoredAndRevocationSticks) {
  AuthFixture f;
  const auto t = f.auth_store->create_token(Role::planner, "", "alice");
  const auto all = f.auth_store->tokens();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].hash, storage::hash_token(t.secret));
  EXPECT_EQ(all[0].hash.size(), 64u);
  EXPECT_EQ(all[0].role, Role::planner);
  EXPECT_EQ(all[0].name, "alice");
  EXPECT_TRUE(all[0].live());
  EXPECT_TRUE(f.auth_store->revoke_token(t.record.id));
  EXPECT_FALSE(f.auth_store->revoke_token(t.record.id));
  EXPECT_FALSE(f.auth_store->tokens()[0].live());
}

TEST(AuthService, OpenUntilATokenExists) {
  AuthFixture f;
  AuthService auth(*f.auth_store, *f.catalog);
  EXPECT_FALSE(auth.enforcing());
  EXPECT_TRUE(auth.authorize(nullptr, Permission::edit_grids).is_open());
}

TEST(AuthService, LookupRolesAndRevocation) {
  AuthFixture f;
  AuthOptions o;
  o.reload_interval = std::chrono::milliseconds(50);
  AuthService auth(*f.auth_store, *f.catalog, o);
  const auto viewer = f.auth_store->create_token(Role::viewer, "", "v");
  const auto planner = f.auth_store->create_token(Role::planner, "", "p");
  const std::string hv = "Bearer " + viewer.secret, hp = "Bearer " + planner.secret;
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_TRUE(auth.enforcing());
  // anonymous: reads without personal data, writes 401
  const Principal anon = auth.authorize(nullptr, Permission::read);
  EXPECT_FALSE(anon.authenticated);
  EXPECT_FALSE(anon.personal_data);
  EXPECT_EQ(kind_of([&] { (void)auth.authorize(nullptr, Permission::edit_grids); }), ErrorKind::unauthorized);
  // a viewer reads with personal data, may not write
  const Principal v = auth.authorize(&hv, Permission::read);
  EXPECT_TRUE(v.authenticated);
  EXPECT_TRUE(v.personal_data);
  EXPECT_EQ(v.name, "v");
  EXPECT_EQ(kind_of([&] { (void)auth.authorize(&hv, Permission::edit_grids); }), ErrorKind::forbidden);
  EXPECT_EQ(auth.authorize(&hp, Permission::edit_grids).role, Role::planner);
  // a bad token is 401, even for a read
  const std::string bad = "Bearer gridd_nope", basic = "Basic dTpw";
  EXPECT_EQ(kind_of([&] { (void)auth.authorize(&bad, Permission::read); }), ErrorKind::unauthorized);
  EXPECT_EQ(kind_of([&] { (void)auth.authorize(&basic, Permission::read); }), ErrorKind::unauthorized);
  // revoked: seen after the reload interval
  ASSERT_TRUE(f.auth_store->revoke_token(viewer.record.id));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(kind_of([&] { (void)auth.authorize(&hv, Permission::read); }), ErrorKind::unauthorized);
  EXPECT_NO_THROW((void)auth.authorize(&hp, Permission::read));
}

TEST(AuthService, AWorkerTokenNamesItsPersonAndMayHandleOnlyWhatIsAssignedToThem) {
  AuthFixture f;
  AuthService auth(*f.auth_store, *f.catalog);
  const auto by_phone = f.auth_store->create_token(Role::worker, "", "王芳", "13800000042");
  const auto by_name = f.auth_store->create_token(Role::worker, "", "李强");
  auth.reload();
  const std::string hp = "Bearer " + by_phone.secret, hn = "Bearer " + by_name.secret;
  const Principal p = auth.authorize(&hp, Permission::handle_incidents);
  EXPECT_TRUE(p.worker());
  EXPECT_EQ(p.name, "王芳");
  EXPECT_EQ(p.phone, "13800000042");
  EXPECT_NO_THROW((void)auth.authorize(&hp, Permission::report_incidents));
  EXPECT_EQ(kind_of([&] { (void)auth.authorize(&hp, Permission::edit_grids); }), ErrorKind::forbidden);
  EXPECT_EQ(kind_of([&] { (void)auth.authorize(&hp, Permission::admin); }), ErrorKind::forbidden);
  // The phone decides when the token names one (two people may share a name).
  EXPECT_TRUE(is_assignee(p, "王芳", "13800000042"));
  EXPECT_TRUE(is_assignee(p, "王 芳", "13800000042"));
  EXPECT_FALSE(is_assignee(p, "王芳", "13800000043"));
  const Principal n = auth.authorize(&hn, Permission::read);
  EXPECT_TRUE(is_assignee(n, "李强", "13900000001"));
  EXPECT_FALSE(is_assignee(n, "李强强", ""));
  EXPECT_FALSE(is_assignee(Principal::open(), "", ""));
  // The handler's steps only.
  EXPECT_TRUE(worker_may(IncidentAction::accept));
  EXPECT_TRUE(worker_may(IncidentAction::resolve));
  EXPECT_TRUE(worker_may(IncidentAction::return_));
  for (auto a : {IncidentAction::register_, IncidentAction::reject, IncidentAction::dispatch, IncidentAction::escalate,
                 IncidentAction::send_back, IncidentAction::verify, IncidentAction::close, IncidentAction::reopen,
                 IncidentAction::follow_up}) {
    EXPECT_FALSE(worker_may(a)) << to_string(a);
  }
  EXPECT_EQ(parse_role("worker"), Role::worker);
}

TEST(AuthService, AnonymousAccessModes) {
  AuthFixture f;
  f.auth_store->create_token(Role::admin, "", "root");
  AuthOptions none;
  none.anonymous = AnonymousAccess::none;
  AuthService closed(*f.auth_store, *f.catalog, none);
  EXPECT_EQ(kind_of([&] { (void)closed.authorize(nullptr, Permission::read); }), ErrorKind::unauthorized);
  AuthOptions report;
  report.anonymous = AnonymousAccess::report;
  AuthService citizens(*f.auth_store, *f.catalog, report);
  EXPECT_NO_THROW((void)citizens.authorize(nullptr, Permission::report_incidents));
  EXPECT_EQ(kind_of([&] { (void)citizens.authorize(nullptr, Permission::handle_incidents); }), ErrorKind::unauthorized);
  EXPECT_EQ(parse_anonymous_access("report"), AnonymousAccess::report);
  EXPECT_EQ(kind_of([] { (void)parse_anonymous_access("all"); }), ErrorKind::invalid_input);
}

TEST(AuthService, ScopeChecks) {
  AuthFixture f;
  AuthService auth(*f.auth_store, *f.catalog);
  Principal city;
  city.authenticated = true;
  city.role = Role::dispatcher;
  Principal a = city;
  a.scope_code = "CA";
  EXPECT_TRUE(auth.grid_in_scope(city, f.grid_b));
  EXPECT_TRUE(auth.grid_in_scope(a, f.community_a));
  EXPECT_TRUE(auth.grid_in_scope(a, f.grid_a));
  EXPECT_FALSE(auth.grid_in_scope(a, f.grid_b));
  EXPECT_FALSE(auth.grid_in_scope(a, f.district));
  EXPECT_TRUE(auth.grid_code_in_scope(a, "GA"));
  EXPECT_FALSE(auth.grid_code_in_scope(a, "CB"));
  EXPECT_EQ(auth.scope_grid_id(a), f.community_a);
  Incident in_a, in_b;
  in_a.chain = {f.district, 0, f.community_a, f.grid_a, 0};
  in_b.chain = {f.district, 0, f.community_b, f.grid_b, 0};
  EXPECT_TRUE(auth.incident_in_scope(a, in_a));
  EXPECT_FALSE(auth.incident_in_scope(a, in_b));
  EXPECT_TRUE(auth.incident_in_scope(city, in_b));
}

TEST(AuditLog, AppendsAndPagesAndMeasuresItsCost) {
  // On the system temp dir (a real file system), not tmpfs: the cost an
  // incident intake pays for its audit entry.
  const auto dir = std::filesystem::temp_directory_path() / ("gridd-audit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    storage::GpkgStore gpkg((dir / "store.gpkg").string());
    storage::AuthStore& log = gpkg.auth();
    storage::AuditEntry e;
    e.method = "POST";
    e.path = "/incidents";
    e.target_kind = "incident";
    e.status = 201;
    e.principal_name = "dispatcher-1";
    e.principal_role = "dispatcher";
    e.after = Json{{"type", "Feature"}, {"properties", {{"description", std::string(1200, 'x')}}}}.dump();
    constexpr int n = 2000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      e.target_id = std::to_string(i + 1);
      log.append_audit(e);
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
    std::cout << "audit append: " << us << " us per entry (" << n << " entries, ~1.3 KB each)" << std::endl;
    RecordProperty("audit_append_us", static_cast<int>(us));
    const auto first = log.audit(0, 10);
    ASSERT_EQ(first.size(), 10u);
    EXPECT_EQ(first[0].target_id, "1");
    EXPECT_EQ(first[0].after, e.after);
    const auto rest = log.audit(first.back().id, 5000);
    EXPECT_EQ(rest.size(), static_cast<std::size_t>(n - 10));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gridd::service
