#include <gtest/gtest.h>

#include "gridd/core/auth.hpp"
#include "gridd/core/error.hpp"

namespace gridd {
namespace {

TEST(Roles, Matrix) {
  using P = Permission;
  struct Row {
    Role role;
    bool read, report, handle, edit, admin;
  };
  const Row rows[] = {
      {Role::viewer, true, false, false, false, false},
      {Role::dispatcher, true, true, true, false, false},
      {Role::planner, true, false, false, true, false},
      {Role::admin, true, true, true, true, true},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(std::string(to_string(r.role)));
    EXPECT_EQ(allows(r.role, P::read), r.read);
    EXPECT_EQ(allows(r.role, P::report_incidents), r.report);
    EXPECT_EQ(allows(r.role, P::handle_incidents), r.handle);
    EXPECT_EQ(allows(r.role, P::edit_grids), r.edit);
    EXPECT_EQ(allows(r.role, P::admin), r.admin);
  }
}

TEST(Roles, ParseAndName) {
  for (auto r : {Role::viewer, Role::dispatcher, Role::planner, Role::admin}) EXPECT_EQ(parse_role(to_string(r)), r);
  EXPECT_FALSE(try_parse_role("root"));
  try {
    parse_role("root");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_EQ(e.field(), "role");
  }
  EXPECT_EQ(http_status(ErrorKind::unauthorized), 401);
  EXPECT_EQ(http_status(ErrorKind::forbidden), 403);
}

TEST(Roles, PrincipalMay) {
  EXPECT_TRUE(Principal::open().is_open());
  EXPECT_TRUE(Principal::open().may(Permission::admin));
  Principal anon;
  anon.role = Role::viewer;
  anon.personal_data = false;
  EXPECT_FALSE(anon.is_open());
  EXPECT_TRUE(anon.may(Permission::read));
  EXPECT_FALSE(anon.may(Permission::report_incidents));
  anon.anonymous_extra = Permission::report_incidents;
  EXPECT_TRUE(anon.may(Permission::report_incidents));
  EXPECT_FALSE(anon.may(Permission::handle_incidents));
}

}  // namespace
}  // namespace gridd
