#pragma once
/// @file pg_test_db.hpp
/// Databases of the private PostgreSQL/PostGIS test cluster that
/// scripts/pg-cluster.sh starts (CTest starts it as a fixture and passes
/// GRIDD_TEST_PG_STATE, the cluster's directory; GRIDD_TEST_PG may name an
/// admin URI directly). Each PgDatabase is a fresh database made from the
/// template "gridd_template" (PostGIS installed) and dropped at the end.

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <fstream>
#include <optional>
#include <random>
#include <string>

#include "gridd/storage/pg.hpp"

namespace gridd::test {

/// The admin URI of the test cluster (database "postgres"), if there is one.
inline std::optional<std::string> pg_admin_uri() {
  if (const char* uri = std::getenv("GRIDD_TEST_PG"); uri && *uri) return std::string(uri);
  if (const char* state = std::getenv("GRIDD_TEST_PG_STATE"); state && *state) {
    std::ifstream in(std::string(state) + "/uri");
    std::string uri;
    if (in >> uri) return uri;
  }
  return std::nullopt;
}

/// The cluster's directory (for halting and resuming it), if known.
inline std::optional<std::string> pg_state_dir() {
  if (const char* state = std::getenv("GRIDD_TEST_PG_STATE"); state && *state) return std::string(state);
  return std::nullopt;
}

/// `admin` with its database name replaced by `db`.
inline std::string pg_uri_of(const std::string& admin, const std::string& db) {
  const auto slash = admin.rfind('/');
  const auto query = admin.find('?', slash);
  return admin.substr(0, slash + 1) + db + (query == std::string::npos ? "" : admin.substr(query));
}

class PgDatabase {
 public:
  /// A fresh database; throws when there is no test cluster.
  PgDatabase() {
    const auto admin = pg_admin_uri();
    if (!admin) throw std::runtime_error("no PostgreSQL test cluster (GRIDD_TEST_PG_STATE or GRIDD_TEST_PG unset)");
    static std::atomic<int> counter{0};
    std::random_device rd;
    m_admin = *admin;
    m_name = "gridd_t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
             std::to_string(rd() % 1000000);
    storage::pg::Connection conn(m_admin);
    conn.exec("CREATE DATABASE " + m_name + " TEMPLATE gridd_template");
    m_uri = pg_uri_of(m_admin, m_name);
  }
  ~PgDatabase() {
    try {
      storage::pg::Connection conn(m_admin);
      conn.exec("DROP DATABASE IF EXISTS " + m_name + " WITH (FORCE)");
    } catch (...) {
      // the cluster is removed at the end of the run anyway
    }
  }
  PgDatabase(const PgDatabase&) = delete;
  PgDatabase& operator=(const PgDatabase&) = delete;

  [[nodiscard]] const std::string& uri() const noexcept { return m_uri; }
  [[nodiscard]] const std::string& name() const noexcept { return m_name; }

 private:
  std::string m_admin;
  std::string m_name;
  std::string m_uri;
};

/// A private cluster of its own (scripts/pg-cluster.sh), for tests that stop
/// the database: the shared test cluster must stay up for the tests running
/// beside them. Removed by the destructor.
class PgCluster {
 public:
  PgCluster() {
    static std::atomic<int> counter{0};
    m_dir = (std::filesystem::temp_directory_path() /
             ("gridd-pg-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
                .string();
    run("start");
    std::ifstream in(m_dir + "/uri");
    in >> m_admin;
  }
  ~PgCluster() { run("stop"); }
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  /// Stop the server (fast shutdown: sessions are cut), keeping the data.
  void halt() { run("halt"); }
  /// Start it again on the same port.
  void resume() { run("resume"); }
  /// A new database with PostGIS; returns its URI.
  [[nodiscard]] std::string database(const std::string& name) {
    storage::pg::Connection c(m_admin);
    c.exec("CREATE DATABASE " + name + " TEMPLATE gridd_template");
    return pg_uri_of(m_admin, name);
  }

 private:
  void run(const std::string& what) {
    const std::string cmd = "bash '" + std::string(GRIDD_SOURCE_DIR) + "/scripts/pg-cluster.sh' " + what + " '" +
                            m_dir + "' > /dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0 && what != "stop") throw std::runtime_error("pg-cluster.sh " + what + " failed");
  }
  std::string m_dir;
  std::string m_admin;
};

}  // namespace gridd::test
