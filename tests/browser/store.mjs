// The store a browser test's server uses, on the backend under test:
// a GeoPackage in the test's temp dir, or (GRIDD_TEST_BACKEND=postgis) a
// fresh database of the PostgreSQL/PostGIS test cluster that CTest starts
// (GRIDD_TEST_PG_STATE names its directory), dropped when the test ends.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const created = [];
let admin = null;

function adminUri() {
  if (admin) return admin;
  if (process.env.GRIDD_TEST_PG) return (admin = process.env.GRIDD_TEST_PG);
  const state = process.env.GRIDD_TEST_PG_STATE;
  if (!state) throw new Error('GRIDD_TEST_BACKEND=postgis needs GRIDD_TEST_PG_STATE (the test cluster)');
  return (admin = readFileSync(path.join(state, 'uri'), 'utf8').trim());
}

function psql(sql) {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', adminUri(), '-c', sql], { stdio: 'pipe' });
}

export function onPostgis() {
  return process.env.GRIDD_TEST_BACKEND === 'postgis';
}

/** The --store argument for a server whose files live in `dir`. */
export function testStore(dir, name = 'city.gpkg') {
  if (!onPostgis()) return path.join(dir, name);
  const db = `gridd_b_${process.pid}_${created.length}_${Math.floor(Math.random() * 1e6)}`;
  psql(`CREATE DATABASE ${db} TEMPLATE gridd_template`);
  created.push(db);
  const uri = adminUri();
  return uri.slice(0, uri.lastIndexOf('/') + 1) + db;
}

process.on('exit', () => {
  for (const db of created) {
    try {
      psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    } catch {
      // the cluster is removed at the end of the run anyway
    }
  }
});
