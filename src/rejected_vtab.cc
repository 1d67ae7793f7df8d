// prometheus_sink_rejected('name'): a table-valued function (an eponymous,
// read-only virtual table) listing the rows a spooled sink's receiver
// refused for good, or that could not be read back from the spool, one row
// per sample, decoded:
//
//   SELECT labels, value, timestamp, status, message, rejected_at, batch
//   FROM prometheus_sink_rejected('name');
//
// status is the receiver's HTTP status (NULL for a batch that could not be
// read: labels is then NULL too and message says why); message its answer,
// shortened; rejected_at when the batch was moved aside (wall clock, ms);
// batch its id in "<name>_rejected". The hidden columns histogram and
// exemplar are there as on a sink (their canonical JSON). DIRECTONLY, as
// the other functions that reach a sink's rows.
#include "glue.h"
SQLITE_EXTENSION_INIT3

#include <new>

#include "text.h"

namespace psink {
namespace {

struct RejectedTable : sqlite3_vtab {
  RejectedTable(sqlite3* d, Connection* c) : sqlite3_vtab{}, db(d), conn(c) {}
  sqlite3* db;
  Connection* conn;
};

struct RejectedCursor {
  sqlite3_vtab_cursor base;  // must be first
  std::vector<Spool::RejectedSample> rows;
  size_t pos = 0;
};

// (The function's argument is the first HIDDEN column: `sink`.)
enum Col { kLabels, kValue, kTimestamp, kStatus, kMessage, kRejectedAt, kBatch, kSink, kHistogram, kExemplar };

int Connect(sqlite3* db, void* aux, int, const char* const*, sqlite3_vtab** out, char**) noexcept {
  int rc = sqlite3_declare_vtab(db,
                                "CREATE TABLE x(labels TEXT, value REAL, timestamp INTEGER, status INTEGER, "
                                "message TEXT, rejected_at INTEGER, batch INTEGER, sink TEXT HIDDEN, "
                                "histogram TEXT HIDDEN, exemplar TEXT HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  auto* table = new (std::nothrow) RejectedTable(db, static_cast<Connection*>(aux));
  if (table == nullptr) return SQLITE_NOMEM;
  *out = table;
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* vtab) noexcept {
  sqlite3_free(vtab->zErrMsg);
  delete static_cast<RejectedTable*>(vtab);
  return SQLITE_OK;
}

int BestIndex(sqlite3_vtab*, sqlite3_index_info* info) noexcept {
  // The sink's name is the function's argument: an equality on `sink`.
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (c.iColumn != kSink || c.op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (!c.usable) return SQLITE_CONSTRAINT;
    info->aConstraintUsage[i].argvIndex = 1;
    info->aConstraintUsage[i].omit = 1;
    info->idxNum = 1;
    info->estimatedCost = 100;
    return SQLITE_OK;
  }
  info->idxNum = 0;
  info->estimatedCost = 1e12;
  return SQLITE_OK;
}

int Open(sqlite3_vtab*, sqlite3_vtab_cursor** out) noexcept {
  auto* c = new (std::nothrow) RejectedCursor();
  if (c == nullptr) return SQLITE_NOMEM;
  *out = &c->base;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* cur) noexcept {
  delete reinterpret_cast<RejectedCursor*>(cur);
  return SQLITE_OK;
}

int Fail(sqlite3_vtab* vtab, const std::string& msg) {
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = sqlite3_mprintf("prometheus_sink: prometheus_sink_rejected(): %s", msg.c_str());
  return SQLITE_ERROR;
}

int Filter(sqlite3_vtab_cursor* cur, int idx, const char*, int argc, sqlite3_value** argv) noexcept {
  auto* c = reinterpret_cast<RejectedCursor*>(cur);
  auto* table = static_cast<RejectedTable*>(cur->pVtab);
  try {
    c->rows.clear();
    c->pos = 0;
    if (idx != 1 || argc != 1) return Fail(cur->pVtab, "expects a sink name, e.g. prometheus_sink_rejected('s')");
    std::string err;
    std::vector<SinkTable*> sinks = FindSinks(table->db, table->conn, 1, argv, &err);
    if (!err.empty()) return Fail(cur->pVtab, err);
    for (SinkTable* t : sinks) {
      if (!t->spool) return Fail(cur->pVtab, "sink '" + t->sink->name() + "' has no spool (spool=on)");
      std::vector<Spool::RejectedSample> rows;
      std::vector<std::string> unreadable;
      Status st = t->spool->ListRejected(&rows, &unreadable);
      if (!st.ok()) return Fail(cur->pVtab, st.message());
      for (auto& r : rows) c->rows.push_back(std::move(r));
    }
    return SQLITE_OK;
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  } catch (...) {
    return Fail(cur->pVtab, "internal error");
  }
}

int Next(sqlite3_vtab_cursor* cur) noexcept {
  reinterpret_cast<RejectedCursor*>(cur)->pos++;
  return SQLITE_OK;
}

int Eof(sqlite3_vtab_cursor* cur) noexcept {
  auto* c = reinterpret_cast<RejectedCursor*>(cur);
  return c->pos >= c->rows.size();
}

void ResultText(sqlite3_context* ctx, const std::string& s) {
  sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

int Column(sqlite3_vtab_cursor* cur, sqlite3_context* ctx, int i) noexcept {
  auto* c = reinterpret_cast<RejectedCursor*>(cur);
  const Spool::RejectedSample& r = c->rows[c->pos];
  // An unreadable batch: one row, with its message only.
  const bool readable = !r.sample.labels_json.empty();
  switch (i) {
    case kLabels:
      if (readable) ResultText(ctx, r.sample.labels_json);
      break;
    case kValue:
      // (A histogram row has no value, as on a sink.)
      if (readable && r.sample.histogram.empty()) sqlite3_result_double(ctx, r.sample.value);
      break;
    case kTimestamp:
      if (readable) sqlite3_result_int64(ctx, r.sample.ts);
      break;
    case kStatus:
      if (r.status != 0) sqlite3_result_int64(ctx, r.status);
      break;
    case kMessage: ResultText(ctx, r.message); break;
    case kRejectedAt: sqlite3_result_int64(ctx, r.time_ms); break;
    case kBatch: sqlite3_result_int64(ctx, r.batch); break;
    case kHistogram:
      if (!r.sample.histogram.empty()) ResultText(ctx, r.sample.histogram);
      break;
    case kExemplar:
      if (!r.sample.exemplar.empty()) ResultText(ctx, r.sample.exemplar);
      break;
    default: break;  // sink
  }
  return SQLITE_OK;
}

int Rowid(sqlite3_vtab_cursor* cur, sqlite3_int64* rowid) noexcept {
  *rowid = static_cast<sqlite3_int64>(reinterpret_cast<RejectedCursor*>(cur)->pos) + 1;
  return SQLITE_OK;
}

sqlite3_module kRejectedModule = {
    /* iVersion    */ 0,
    /* xCreate     */ nullptr,  // eponymous-only
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
    /* xUpdate     */ nullptr,  // read-only
    /* xBegin      */ nullptr,
    /* xSync       */ nullptr,
    /* xCommit     */ nullptr,
    /* xRollback   */ nullptr,
    /* xFindFunction */ nullptr,
    /* xRename     */ nullptr,
    /* xSavepoint  */ nullptr,
    /* xRelease    */ nullptr,
    /* xRollbackTo */ nullptr,
    /* xShadowName */ nullptr,
};

}  // namespace

int RegisterRejectedTable(sqlite3* db, Connection* conn) {
  return sqlite3_create_module_v2(db, "prometheus_sink_rejected", &kRejectedModule, conn, nullptr);
}

}  // namespace psink
