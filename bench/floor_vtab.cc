// floor_vtab: the floor of any INSERT-into-a-virtual-table design, for
// bench/run.sh. A virtual table of the same columns as a prometheus_sink
// table whose xUpdate reads every value of the row through SQLite's API —
// type, then the TEXT bytes, the REAL or the INTEGER, as the sink's
// shortcut does — and keeps nothing but a checksum. What an export costs
// over this is the sink's own work; what this costs over the bare source is
// SQLite's, and no extension can go below it.
//
//   .load build/bench/floor_vtab
//   CREATE VIRTUAL TABLE temp.f USING floor_vtab(host, region);  -- host, region, labels, value, timestamp
//   CREATE VIRTUAL TABLE temp.f USING floor_vtab;                -- labels, value, timestamp
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <cstdint>
#include <cstring>
#include <string>

namespace {

struct FloorTable {
  sqlite3_vtab base;  // must be first
  uint64_t checksum;
};

int Connect(sqlite3* db, void*, int argc, const char* const* argv, sqlite3_vtab** out, char** err) {
  // argv[3...] name the label columns, as for prometheus_sink.
  std::string sql = "CREATE TABLE x(";
  for (int i = 3; i < argc; ++i) sql += std::string("\"") + argv[i] + "\" TEXT, ";
  sql += "labels TEXT, value, timestamp)";
  if (int rc = sqlite3_declare_vtab(db, sql.c_str()); rc != SQLITE_OK) {
    *err = sqlite3_mprintf("floor_vtab: %s", sqlite3_errmsg(db));
    return rc;
  }
  auto* t = static_cast<FloorTable*>(sqlite3_malloc(sizeof(FloorTable)));
  if (t == nullptr) return SQLITE_NOMEM;
  std::memset(t, 0, sizeof *t);
  *out = &t->base;
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

int BestIndex(sqlite3_vtab*, sqlite3_index_info* info) {
  info->estimatedCost = 1;
  return SQLITE_OK;
}

int Open(sqlite3_vtab*, sqlite3_vtab_cursor** cur) {
  *cur = static_cast<sqlite3_vtab_cursor*>(sqlite3_malloc(sizeof(sqlite3_vtab_cursor)));
  if (*cur == nullptr) return SQLITE_NOMEM;
  std::memset(*cur, 0, sizeof **cur);
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* cur) {
  sqlite3_free(cur);
  return SQLITE_OK;
}

// An empty table: SELECT finds no rows.
int Filter(sqlite3_vtab_cursor*, int, const char*, int, sqlite3_value**) { return SQLITE_OK; }
int Next(sqlite3_vtab_cursor*) { return SQLITE_OK; }
int Eof(sqlite3_vtab_cursor*) { return 1; }
int Column(sqlite3_vtab_cursor*, sqlite3_context*, int) { return SQLITE_OK; }
int Rowid(sqlite3_vtab_cursor*, sqlite3_int64* rowid) {
  *rowid = 0;
  return SQLITE_OK;
}

int Update(sqlite3_vtab* vtab, int argc, sqlite3_value** argv, sqlite3_int64* rowid) {
  auto* t = reinterpret_cast<FloorTable*>(vtab);
  if (argc == 1 || sqlite3_value_type(argv[0]) != SQLITE_NULL) return SQLITE_READONLY;
  uint64_t sum = t->checksum;
  for (int i = 2; i < argc; ++i) {
    sqlite3_value* v = argv[i];
    switch (sqlite3_value_type(v)) {
      case SQLITE_TEXT: {
        const auto* p = static_cast<const unsigned char*>(sqlite3_value_blob(v));
        const int n = sqlite3_value_bytes(v);
        sum = sum * 31 + static_cast<uint64_t>(n) + (n > 0 ? p[0] : 0);
        break;
      }
      case SQLITE_INTEGER: sum = sum * 31 + static_cast<uint64_t>(sqlite3_value_int64(v)); break;
      case SQLITE_FLOAT: sum = sum * 31 + static_cast<uint64_t>(sqlite3_value_double(v)); break;
      default: sum = sum * 31 + 1;
    }
  }
  t->checksum = sum;
  *rowid = static_cast<sqlite3_int64>(sum & 0x7fffffff);
  return SQLITE_OK;
}

sqlite3_module kModule = {
    /* iVersion    */ 0,
    /* xCreate     */ Connect,
    /* xConnect    */ Connect,
    /* xBestIndex  */ BestIndex,
    /* xDisconnect */ Disconnect,
    /* xDestroy    */ Disconnect,
    /* xOpen       */ Open,
    /* xClose      */ Close,
    /* xFilter     */ Filter,
    /* xNext       */ Next,
    /* xEof        */ Eof,
    /* xColumn     */ Column,
    /* xRowid      */ Rowid,
    /* xUpdate     */ Update,
    /* xBegin      */ nullptr,
    /* xSync       */ nullptr,
    /* xCommit     */ nullptr,
    /* xRollback   */ nullptr,
    /* xFindMethod */ nullptr,
    /* xRename     */ nullptr,
    /* xSavepoint  */ nullptr,
    /* xRelease    */ nullptr,
    /* xRollbackTo */ nullptr,
    /* xShadowName */ nullptr,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) int sqlite3_floorvtab_init(sqlite3* db, char**,
                                                                             const sqlite3_api_routines* api) {
  SQLITE_EXTENSION_INIT2(api);
  return sqlite3_create_module(db, "floor_vtab", &kModule, nullptr);
}
