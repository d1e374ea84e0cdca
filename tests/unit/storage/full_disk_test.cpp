// A full disk under every GeoPackage store: writes are refused with
// `store_full` (503, "unavailable"), nothing is half-written, and writes go
// through again once there is room. The disk is a SQLite VFS over the
// default one whose writes fail with SQLITE_FULL while the test says so,
// which is what SQLite sees when a real disk fills; the stores run unchanged
// on top of it.
#include <gtest/gtest.h>
#include <ogr_spatialref.h>
#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "gridd/core/error.hpp"
#include "gridd/storage/gpkg_store.hpp"
#include "unit/test_util.hpp"

namespace gridd::storage {
namespace {

using test::TempDir;

std::atomic<bool> g_disk_full{false};
sqlite3_vfs* g_real = nullptr;

/// A file of the full-disk VFS: our methods, then the real file.
struct ShimFile {
  sqlite3_file base;
  sqlite3_file* real;
};
sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }

int shim_close(sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); }
int shim_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}
int shim_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (g_disk_full) return SQLITE_FULL;
  return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}
int shim_truncate(sqlite3_file* f, sqlite3_int64 size) { return real_of(f)->pMethods->xTruncate(real_of(f), size); }
int shim_sync(sqlite3_file* f, int flags) { return real_of(f)->pMethods->xSync(real_of(f), flags); }
int shim_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int shim_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
int shim_unlock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
int shim_check_lock(sqlite3_file* f, int* out) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out); }
int shim_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int shim_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int shim_device(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
int shim_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, out);
}
int shim_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void shim_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int shim_shm_unmap(sqlite3_file* f, int del) { return real_of(f)->pMethods->xShmUnmap(real_of(f), del); }
int shim_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}
int shim_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

const sqlite3_io_methods k_shim_methods = {
    3,           shim_close,      shim_read,      shim_write,       shim_truncate,    shim_sync,
    shim_file_size, shim_lock,    shim_unlock,    shim_check_lock,  shim_file_control, shim_sector_size,
    shim_device, shim_shm_map,    shim_shm_lock,  shim_shm_barrier, shim_shm_unmap,   shim_fetch,
    shim_unfetch};

int shim_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
  shim->base.pMethods = nullptr;
  const int rc = g_real->xOpen(g_real, name, shim->real, flags, out_flags);
  if (rc == SQLITE_OK) shim->base.pMethods = &k_shim_methods;
  return rc;
}

/// The full-disk VFS as the default while it lives (the stores open their
/// connections through the default VFS).
class FullDiskVfs {
 public:
  FullDiskVfs() {
    // PROJ opens its own database (proj.db) through SQLite at first use and
    // keeps it to the end: open it through the real VFS first.
    OGRSpatialReference srs;
    srs.importFromEPSG(4326);
    static sqlite3_vfs* const shim = [] {
      g_real = sqlite3_vfs_find(nullptr);
      static sqlite3_vfs vfs;
      std::memcpy(&vfs, g_real, sizeof vfs);
      vfs.zName = "gridd-full-disk";
      vfs.szOsFile = static_cast<int>(sizeof(ShimFile)) + g_real->szOsFile;
      vfs.xOpen = shim_open;
      vfs.pNext = nullptr;
      return &vfs;
    }();
    sqlite3_vfs_register(shim, 1);
  }
  ~FullDiskVfs() {
    g_disk_full = false;
    sqlite3_vfs_register(g_real, 1);
  }
  FullDiskVfs(const FullDiskVfs&) = delete;
  FullDiskVfs& operator=(const FullDiskVfs&) = delete;
};

/// Runs `write` with the disk full and expects the store_full refusal.
template <class Write>
void expect_store_full(Write&& write) {
  g_disk_full = true;
  try {
    write();
    ADD_FAILURE() << "the write was acknowledged on a full disk";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable) << e.what();
    EXPECT_EQ(e.code(), "store_full") << e.what();
  }
  g_disk_full = false;
}

Incident an_incident() {
  Incident i;
  i.lon = 116.58;
  i.lat = 35.41;
  i.category = "road_damage";
  i.channel = "phone";
  i.version = 1;
  i.created_at = i.updated_at = "2026-12-07T08:00:00.000Z";
  return i;
}

IncidentEvent first_event() {
  IncidentEvent e;
  e.version = 1;
  e.action = "report";
  e.to = IncidentStatus::reported;
  e.at = "2026-12-07T08:00:00.000Z";
  return e;
}

TEST(FullDisk, TokenAndAuditWritesAreRefusedAsStoreFullAndResumeWithRoom) {
  FullDiskVfs vfs;
  TempDir dir;
  GpkgStore store(dir.file("city.gpkg"));
  AuthStore& auth = store.auth();
  const auto kept = auth.create_token(Role::admin, "", "kept");

  expect_store_full([&] { (void)auth.create_token(Role::dispatcher, "", "lost"); });
  AuditEntry entry;
  entry.method = "POST";
  entry.path = "/grids";
  entry.status = 201;
  expect_store_full([&] { (void)auth.append_audit(entry); });

  // Nothing half-written; with room again, writes go through.
  auto tokens = auth.tokens();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].id, kept.record.id);
  EXPECT_TRUE(auth.audit(0, 10).empty());
  const auto later = auth.create_token(Role::viewer, "", "later");
  EXPECT_GT(later.record.id, kept.record.id);
  EXPECT_GT(auth.append_audit(entry), 0);
  EXPECT_EQ(auth.tokens().size(), 2u);
  EXPECT_EQ(auth.audit(0, 10).size(), 1u);
}

TEST(FullDisk, IncidentWritesAreRefusedAsStoreFullAndResumeWithRoom) {
  FullDiskVfs vfs;
  TempDir dir;
  GpkgStore store(dir.file("city.gpkg"));
  IncidentStore& incidents = store.incidents();

  std::vector<Incident> batch{an_incident()};
  std::vector<IncidentEvent> events{first_event()};
  expect_store_full([&] { incidents.insert(batch, events); });
  EXPECT_EQ(incidents.last_event_id(), 0);
  EXPECT_EQ(incidents.count({}, {}), 0);

  incidents.insert(batch, events);
  EXPECT_GT(batch[0].id, 0);
  EXPECT_EQ(incidents.count({}, {}), 1);
}

}  // namespace
}  // namespace gridd::storage
