#pragma once
/// @file pg_schema.hpp
/// The PostgreSQL/PostGIS schema of gridd, created and upgraded by numbered
/// migrations. Each migration runs once, in its own transaction, under a
/// transaction-level advisory lock (so instances starting together do not
/// race) and is recorded in `gridd_schema_migrations`.

#include <string>
#include <vector>

namespace gridd::storage::pg {

class Connection;

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

/// Every migration, oldest first.
const std::vector<Migration>& migrations();

/// Apply the migrations `conn`'s database lacks; returns how many ran.
/// @throws Error(invalid_input, "invalid_store") when PostGIS is missing and
///         cannot be created, or the database's schema is newer than this gridd.
int migrate(Connection& conn);

/// The channel gridd instances announce committed changes on.
inline constexpr const char* k_notify_channel = "gridd_changes";

}  // namespace gridd::storage::pg
