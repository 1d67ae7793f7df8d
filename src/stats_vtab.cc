// prometheus_sink_stats: an eponymous, read-only virtual table with one row
// per sink open on the connection.
//
//   SELECT name, url, rows_buffered, samples_sent, requests, bytes_sent,
//          retries, failures, last_status, last_error, protocol,
//          samples_not_written, spool_rows, spool_oldest_timestamp,
//          histograms_sent, exemplars_sent, exemplars_not_written, spool_next_retry,
//          rejected_rows, rate_limit_wait_ms
//   FROM prometheus_sink_stats;
//
// rate_limit_wait_ms: time requests waited for max_samples_per_second (the
// shards' and the drain's together, summed over concurrent waits).
//
// For a spooled sink the counters add up the requests of flushes and of the
// background drain; last_error is the drain's while its last attempt failed,
// and spool_next_retry (wall clock, ms) says when it tries again;
// rejected_rows counts the samples its receiver refused for good (see
// prometheus_sink_rejected).
//
// The url is masked (no user:password); last_error never holds a
// credential because no message does.
#include "glue.h"
SQLITE_EXTENSION_INIT3

#include <new>

#include "options.h"
#include "rate_limit.h"

namespace psink {
namespace {

// The table: SQLite's part first (SQLite hands back the sqlite3_vtab*),
// then the connection's sinks.
struct StatsTable : sqlite3_vtab {
  explicit StatsTable(Connection* c) : sqlite3_vtab{}, conn(c) {}
  Connection* conn;
};

struct StatsCursor {
  sqlite3_vtab_cursor base;  // must be first
  Connection* conn;
  size_t pos = 0;
};

enum Col {
  kName, kUrl, kRowsBuffered, kSamplesSent, kRequests, kBytesSent, kRetries, kFailures, kLastStatus, kLastError,
  kProtocol, kSamplesNotWritten, kSpoolRows, kSpoolOldestTimestamp, kHistogramsSent, kExemplarsSent,
  kExemplarsNotWritten, kSpoolNextRetry, kRejectedRows, kRateLimitWaitMs
};

int Connect(sqlite3* db, void* aux, int, const char* const*, sqlite3_vtab** out, char**) noexcept {
  int rc = sqlite3_declare_vtab(db,
                                "CREATE TABLE x(name TEXT, url TEXT, rows_buffered INTEGER, samples_sent INTEGER, "
                                "requests INTEGER, bytes_sent INTEGER, retries INTEGER, failures INTEGER, "
                                "last_status INTEGER, last_error TEXT, protocol TEXT, samples_not_written INTEGER, "
                                "spool_rows INTEGER, spool_oldest_timestamp INTEGER, histograms_sent INTEGER, "
                                "exemplars_sent INTEGER, exemplars_not_written INTEGER, spool_next_retry INTEGER, "
                                "rejected_rows INTEGER, rate_limit_wait_ms INTEGER)");
  if (rc != SQLITE_OK) return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  auto* table = new (std::nothrow) StatsTable(static_cast<Connection*>(aux));
  if (table == nullptr) return SQLITE_NOMEM;
  *out = table;
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* vtab) noexcept {
  sqlite3_free(vtab->zErrMsg);
  delete static_cast<StatsTable*>(vtab);
  return SQLITE_OK;
}

int BestIndex(sqlite3_vtab*, sqlite3_index_info* info) noexcept {
  info->estimatedCost = 10;
  info->estimatedRows = 10;
  return SQLITE_OK;
}

int Open(sqlite3_vtab* vtab, sqlite3_vtab_cursor** out) noexcept {
  auto* c = new (std::nothrow) StatsCursor();
  if (c == nullptr) return SQLITE_NOMEM;
  c->conn = static_cast<StatsTable*>(vtab)->conn;
  *out = &c->base;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* cur) noexcept {
  delete reinterpret_cast<StatsCursor*>(cur);
  return SQLITE_OK;
}

int Filter(sqlite3_vtab_cursor* cur, int, const char*, int, sqlite3_value**) noexcept {
  reinterpret_cast<StatsCursor*>(cur)->pos = 0;
  return SQLITE_OK;
}

int Next(sqlite3_vtab_cursor* cur) noexcept {
  reinterpret_cast<StatsCursor*>(cur)->pos++;
  return SQLITE_OK;
}

int Eof(sqlite3_vtab_cursor* cur) noexcept {
  auto* c = reinterpret_cast<StatsCursor*>(cur);
  return c->pos >= c->conn->tables.size();
}

void ResultText(sqlite3_context* ctx, const std::string& s) {
  sqlite3_result_text(ctx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

int Column(sqlite3_vtab_cursor* cur, sqlite3_context* ctx, int i) noexcept {
  try {
    auto* c = reinterpret_cast<StatsCursor*>(cur);
    const Sink& sink = *c->conn->tables[c->pos]->sink;
    Spool* spool = c->conn->tables[c->pos]->spool.get();
    SinkStats s = sink.stats();
    Spool::DrainState drain;
    if (spool != nullptr) {
      drain = spool->BackgroundState();
      const SinkStats& d = drain.stats;
      s.samples_sent += d.samples_sent;
      s.requests += d.requests;
      s.bytes_sent += d.bytes_sent;
      s.retries += d.retries;
      s.failures += d.failures;
      s.samples_not_written += d.samples_not_written;
      s.histograms_sent += d.histograms_sent;
      s.exemplars_sent += d.exemplars_sent;
      s.exemplars_not_written += d.exemplars_not_written;
      s.fell_back = s.fell_back || d.fell_back;
      if (d.requests > 0) s.last_status = d.last_status;
      if (!drain.last_error.empty()) s.last_error = drain.last_error;
    }
    auto i64 = [&](uint64_t v) { sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(v)); };
    switch (i) {
      case kName: ResultText(ctx, sink.name()); break;
      case kUrl: ResultText(ctx, MaskUrl(sink.options().url)); break;
      case kRowsBuffered: i64(sink.buffered()); break;
      case kSamplesSent: i64(s.samples_sent); break;
      case kRequests: i64(s.requests); break;
      case kBytesSent: i64(s.bytes_sent); break;
      case kRetries: i64(s.retries); break;
      case kRateLimitWaitMs: {
        const auto& limiter = sink.options().rate_limiter;
        i64(limiter ? limiter->waited_ms() : 0);
        break;
      }
      case kFailures: i64(s.failures); break;
      case kLastStatus:
        if (s.requests == 0) sqlite3_result_null(ctx);
        else i64(static_cast<uint64_t>(s.last_status));
        break;
      case kLastError:
        if (s.last_error.empty()) sqlite3_result_null(ctx);
        else ResultText(ctx, s.last_error);
        break;
      case kProtocol: {
        // A spooled sink's background drain may have fallen back on its own.
        std::string p(ProtocolName(drain.stats.fell_back ? Protocol::kV1 : sink.protocol()));
        if (s.fell_back) p += " (2.0 refused by the receiver)";
        ResultText(ctx, p);
        break;
      }
      case kSamplesNotWritten: i64(s.samples_not_written); break;
      case kHistogramsSent: i64(s.histograms_sent); break;
      case kExemplarsSent: i64(s.exemplars_sent); break;
      case kExemplarsNotWritten: i64(s.exemplars_not_written); break;
      case kSpoolNextRetry:
        if (drain.next_retry_ms == 0) sqlite3_result_null(ctx);
        else sqlite3_result_int64(ctx, drain.next_retry_ms);
        break;
      case kRejectedRows: {
        int64_t rows = 0;
        if (spool == nullptr || !spool->RejectedCount(&rows).ok()) sqlite3_result_null(ctx);
        else sqlite3_result_int64(ctx, rows);
        break;
      }
      case kSpoolRows:
      case kSpoolOldestTimestamp: {
        int64_t rows = 0;
        std::optional<int64_t> oldest;
        if (spool == nullptr || !spool->Counts(&rows, &oldest).ok()) {
          sqlite3_result_null(ctx);
        } else if (i == kSpoolRows) {
          i64(static_cast<uint64_t>(rows));
        } else if (oldest) {
          sqlite3_result_int64(ctx, *oldest);
        } else {
          sqlite3_result_null(ctx);
        }
        break;
      }
    }
    return SQLITE_OK;
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  } catch (...) {
    sqlite3_free(cur->pVtab->zErrMsg);
    cur->pVtab->zErrMsg = sqlite3_mprintf("prometheus_sink: internal error");
    return SQLITE_ERROR;
  }
}

int Rowid(sqlite3_vtab_cursor* cur, sqlite3_int64* rowid) noexcept {
  *rowid = static_cast<sqlite3_int64>(reinterpret_cast<StatsCursor*>(cur)->pos) + 1;
  return SQLITE_OK;
}

sqlite3_module kStatsModule = {
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

int RegisterStatsTable(sqlite3* db, Connection* conn) {
  return sqlite3_create_module_v2(db, "prometheus_sink_stats", &kStatsModule, conn, nullptr);
}

}  // namespace psink
