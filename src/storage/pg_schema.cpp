#include "gridd/storage/pg_schema.hpp"

#include "gridd/core/error.hpp"
#include "gridd/storage/pg.hpp"

namespace gridd::storage::pg {

namespace {

// Timestamps are ISO 8601 UTC text, exactly as the GeoPackage store keeps
// them, so both backends give the same answers; they compare and sort
// byte-wise (COLLATE "C", whatever the database's locale) as SQLite does.
constexpr const char* k_v1 = R"SQL(
CREATE TABLE grids (
  id bigserial PRIMARY KEY,
  code text NOT NULL UNIQUE,
  name text NOT NULL,
  level text NOT NULL,
  parent_code text,
  people jsonb NOT NULL DEFAULT '[]',
  households bigint,
  attributes jsonb NOT NULL DEFAULT '{}',
  created_at text COLLATE "C",
  updated_at text COLLATE "C",
  version bigint NOT NULL DEFAULT 1,
  geom geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX grids_geom_gist ON grids USING gist (geom);
CREATE INDEX grids_parent_idx ON grids (parent_code);

CREATE TABLE grid_versions (
  id bigserial PRIMARY KEY,
  grid_id bigint NOT NULL,
  version bigint NOT NULL,
  code text,
  name text,
  level text,
  parent_code text,
  people jsonb,
  households bigint,
  attributes jsonb,
  created_at text COLLATE "C",
  valid_from text COLLATE "C" NOT NULL,
  valid_to text COLLATE "C",
  operation text NOT NULL,
  editor text,
  reason text,
  draft boolean NOT NULL DEFAULT false,
  geom geometry(MultiPolygon, 4326)
);
CREATE INDEX grid_versions_grid_idx ON grid_versions (grid_id, version);
CREATE INDEX grid_versions_time_idx ON grid_versions (valid_from, valid_to);

CREATE TABLE stations (
  id bigserial PRIMARY KEY,
  code text UNIQUE,
  name text NOT NULL,
  kind text NOT NULL,
  address text,
  contact text,
  hours text,
  attributes jsonb NOT NULL DEFAULT '{}',
  created_at text COLLATE "C",
  updated_at text COLLATE "C",
  geom geometry(Point, 4326) NOT NULL
);
CREATE INDEX stations_geom_gist ON stations USING gist (geom);

CREATE TABLE incidents (
  id bigserial PRIMARY KEY,
  geom geometry(Point, 4326) NOT NULL,
  category text NOT NULL,
  description text,
  address text,
  channel text,
  priority text,
  status text NOT NULL,
  version bigint NOT NULL,
  reported_position jsonb,
  reporter_name text,
  reporter_phone text,
  grid_id bigint,
  grid_code text,
  grid_name text,
  chain_district bigint,
  chain_street bigint,
  chain_community bigint,
  chain_grid bigint,
  chain_micro_grid bigint,
  covered boolean NOT NULL DEFAULT false,
  distance_m double precision,
  assignee_name text,
  assignee_phone text,
  handler text,
  escalation_level integer NOT NULL DEFAULT 0,
  created_at text COLLATE "C" NOT NULL,
  updated_at text COLLATE "C",
  dispatched_at text COLLATE "C",
  due_at text COLLATE "C",
  near_due_at text COLLATE "C",
  resolved_at text COLLATE "C",
  closed_at text COLLATE "C",
  satisfaction integer,
  attributes jsonb NOT NULL DEFAULT '{}',
  grid_version bigint
);
CREATE INDEX incidents_geom_gist ON incidents USING gist (geom);
CREATE INDEX incidents_open_geom_gist ON incidents USING gist (geom) WHERE status NOT IN ('closed', 'rejected');
CREATE INDEX incidents_status_idx ON incidents (status);
CREATE INDEX incidents_category_idx ON incidents (category);
CREATE INDEX incidents_created_at_idx ON incidents (created_at);
CREATE INDEX incidents_due_at_idx ON incidents (due_at);
CREATE INDEX incidents_grid_id_idx ON incidents (grid_id);
CREATE INDEX incidents_chain_district_idx ON incidents (chain_district);
CREATE INDEX incidents_chain_street_idx ON incidents (chain_street);
CREATE INDEX incidents_chain_community_idx ON incidents (chain_community);
CREATE INDEX incidents_chain_grid_idx ON incidents (chain_grid);
CREATE INDEX incidents_chain_micro_grid_idx ON incidents (chain_micro_grid);
CREATE INDEX incidents_assignee_idx ON incidents (assignee_name);

CREATE TABLE incident_events (
  id bigserial PRIMARY KEY,
  incident_id bigint NOT NULL REFERENCES incidents (id),
  version bigint NOT NULL,
  action text NOT NULL,
  from_status text,
  to_status text NOT NULL,
  actor text,
  note text,
  at text COLLATE "C" NOT NULL,
  grid_id bigint,
  data jsonb NOT NULL DEFAULT '{}',
  attachments jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX incident_events_incident_idx ON incident_events (incident_id);

CREATE TABLE incident_attachments (
  id bigserial PRIMARY KEY,
  incident_id bigint NOT NULL REFERENCES incidents (id),
  filename text,
  media_type text NOT NULL,
  size bigint NOT NULL,
  width integer,
  height integer,
  created_at text COLLATE "C" NOT NULL,
  data bytea NOT NULL
);
CREATE INDEX incident_attachments_incident_idx ON incident_attachments (incident_id);

CREATE TABLE api_tokens (
  id bigserial PRIMARY KEY,
  name text,
  role text NOT NULL,
  scope_code text,
  token_hash text NOT NULL UNIQUE,
  created_at text COLLATE "C" NOT NULL,
  revoked_at text COLLATE "C"
);

CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at text COLLATE "C" NOT NULL,
  principal_id bigint NOT NULL DEFAULT 0,
  principal_name text,
  principal_role text,
  method text,
  path text,
  target_kind text,
  target_id text,
  status integer,
  before jsonb,
  after jsonb,
  request_id text
);
)SQL";

// Tokens name their person's phone too (the worker role: "assigned to me").
constexpr const char* k_v2 = R"SQL(
ALTER TABLE api_tokens ADD COLUMN phone text;
)SQL";

// Idempotency keys (a request sent twice runs once).
constexpr const char* k_v3 = R"SQL(
CREATE TABLE idempotency_keys (
  key text PRIMARY KEY,
  fingerprint text NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  status integer,
  content_type text,
  body bytea,
  headers text
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
)SQL";

// Door-to-door visits of grid workers.
constexpr const char* k_v4 = R"SQL(
CREATE TABLE visits (
  id bigserial PRIMARY KEY,
  geom geometry(Point, 4326) NOT NULL,
  kind text NOT NULL,
  subject text,
  note text,
  visited_at text COLLATE "C" NOT NULL,
  worker_name text NOT NULL,
  worker_phone text,
  token_id bigint,
  grid_id bigint,
  grid_code text,
  grid_name text,
  chain_district bigint,
  chain_street bigint,
  chain_community bigint,
  chain_grid bigint,
  chain_micro_grid bigint,
  created_at text COLLATE "C" NOT NULL
);
CREATE INDEX visits_geom_gist ON visits USING gist (geom);
CREATE INDEX visits_visited_at_idx ON visits (visited_at);
CREATE INDEX visits_worker_phone_idx ON visits (worker_phone);
CREATE INDEX visits_worker_name_idx ON visits (worker_name);
CREATE INDEX visits_chain_district_idx ON visits (chain_district);
CREATE INDEX visits_chain_street_idx ON visits (chain_street);
CREATE INDEX visits_chain_community_idx ON visits (chain_community);
CREATE INDEX visits_chain_grid_idx ON visits (chain_grid);
CREATE INDEX visits_chain_micro_grid_idx ON visits (chain_micro_grid);
)SQL";

// The reporter's tracking code (a receipt that shows progress, no personal data).
constexpr const char* k_v5 = R"SQL(
ALTER TABLE incidents ADD COLUMN tracking_code text;
CREATE UNIQUE INDEX incidents_tracking_code_uq ON incidents (tracking_code);
)SQL";

// Photos of visits.
constexpr const char* k_v6 = R"SQL(
CREATE TABLE visit_photos (
  id bigserial PRIMARY KEY,
  visit_id bigint NOT NULL REFERENCES visits (id) ON DELETE CASCADE,
  filename text,
  media_type text NOT NULL,
  size bigint NOT NULL,
  width integer NOT NULL,
  height integer NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  data bytea NOT NULL
);
CREATE INDEX visit_photos_visit_idx ON visit_photos (visit_id);
)SQL";

/// Advisory lock key of schema changes ("gridd" in ASCII).
constexpr const char* k_lock_sql = "SELECT pg_advisory_xact_lock(6779042916)";

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = {
      {1, "grids, grid versions, stations, incidents with events and attachments, tokens, audit log", k_v1},
      {2, "the phone of a token's person", k_v2},
      {3, "idempotency keys", k_v3},
      {4, "door-to-door visits", k_v4},
      {5, "the reporter's tracking code", k_v5},
      {6, "photos of visits", k_v6},
  };
  return all;
}

int migrate(Connection& conn) {
  // PostGIS first, in its own transaction: it needs the privilege to create
  // an extension once per database (a superuser, or the DBA beforehand).
  {
    Result has = conn.query("SELECT 1 FROM pg_extension WHERE extname = 'postgis'");
    if (has.rows() == 0) {
      try {
        Transaction tx(conn);
        conn.exec(k_lock_sql);
        conn.exec("CREATE EXTENSION IF NOT EXISTS postgis");
        tx.commit();
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::unavailable) throw;
        throw_invalid("invalid_store",
                      std::string("PostGIS is not installed in this database and gridd cannot create it (") +
                          e.what() + "); run CREATE EXTENSION postgis as its owner",
                      "store");
      }
    }
  }
  int ran = 0;
  Transaction tx(conn);
  conn.exec(k_lock_sql);
  conn.exec(
      "CREATE TABLE IF NOT EXISTS gridd_schema_migrations (version integer PRIMARY KEY, description text NOT NULL, "
      "applied_at timestamptz NOT NULL DEFAULT now())");
  Result cur = conn.query("SELECT COALESCE(MAX(version), 0) FROM gridd_schema_migrations");
  const int current = static_cast<int>(cur.i64(0, 0));
  const int newest = migrations().back().version;
  if (current > newest) {
    throw_invalid("invalid_store",
                  "the database's gridd schema is version " + std::to_string(current) + ", newer than this gridd (" +
                      std::to_string(newest) + "); upgrade gridd",
                  "store");
  }
  for (const auto& m : migrations()) {
    if (m.version <= current) continue;
    conn.exec(m.sql);
    conn.query("INSERT INTO gridd_schema_migrations (version, description) VALUES ($1, $2)",
               Params().i64(m.version).text(m.description));
    ++ran;
  }
  tx.commit();
  return ran;
}

}  // namespace gridd::storage::pg
