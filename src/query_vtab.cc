// prometheus_query and prometheus_query_range: eponymous table-valued
// functions that run a PromQL query through a sink's connection settings
// and return its answer as rows (query.h).
//
//   SELECT labels, timestamp, value, histogram
//   FROM prometheus_query('m', 'up[1h]' [, time]);
//   SELECT * FROM prometheus_query_range('m', 'sum(rate(x[5m]))', start, end, step_ms);
//
// The function's arguments are HIDDEN columns (sink, promql, time; or sink,
// promql, start, end, step), handed over by xBestIndex as generate_series
// does. The query runs once, in xFilter, and its rows are kept until the
// cursor closes (their size is bounded by query_max_bytes).
//
// Like the sink module, both are DIRECTONLY: a view, a trigger or the
// schema of a database from elsewhere cannot make a query go out. They
// reach only the sink's own endpoint (query_url, or the one derived from
// url): the functions take no URL.
#include "glue.h"
SQLITE_EXTENSION_INIT3

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <new>
#include <stop_token>
#include <thread>

#include "decode.h"
#include "query.h"

namespace psink {
namespace {

// What a module is registered with: the connection's sinks and which of
// the two functions it is.
struct QueryModuleAux {
  Connection* conn;
  bool range;
};

struct QueryTable : sqlite3_vtab {
  explicit QueryTable(const QueryModuleAux* a, sqlite3* d) : sqlite3_vtab{}, aux(a), db(d) {}
  const QueryModuleAux* aux;
  sqlite3* db;
};

struct QueryCursor {
  sqlite3_vtab_cursor base;  // must be first
  QueryAnswer answer;
  size_t pos = 0;
};

enum Col { kLabels, kTimestamp, kValue, kHistogram, kSink, kPromql, kTime, kStart = kTime, kEnd, kStep };

// The arguments, in order: the hidden columns from kSink on.
int ArgCount(bool range) { return range ? 5 : 3; }
const char* FunctionName(bool range) { return range ? "prometheus_query_range" : "prometheus_query"; }

void SetError(sqlite3_vtab* vtab, const std::string& msg) {
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = sqlite3_mprintf("%s", msg.c_str());
}

int Connect(sqlite3* db, void* aux, int, const char* const*, sqlite3_vtab** out, char**) noexcept {
  const auto* a = static_cast<const QueryModuleAux*>(aux);
  int rc = sqlite3_declare_vtab(db, a->range ? "CREATE TABLE x(labels TEXT, timestamp INTEGER, value REAL, "
                                               "histogram TEXT, sink HIDDEN, promql HIDDEN, start HIDDEN, "
                                               "\"end\" HIDDEN, step HIDDEN)"
                                             : "CREATE TABLE x(labels TEXT, timestamp INTEGER, value REAL, "
                                               "histogram TEXT, sink HIDDEN, promql HIDDEN, time HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  // A query sends a request: only from top-level SQL (README, "Security").
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  auto* table = new (std::nothrow) QueryTable(a, db);
  if (table == nullptr) return SQLITE_NOMEM;
  *out = table;
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* vtab) noexcept {
  sqlite3_free(vtab->zErrMsg);
  delete static_cast<QueryTable*>(vtab);
  return SQLITE_OK;
}

// idxNum: bit k set when argument k (column kSink + k) is given; the given
// ones are passed to xFilter in column order.
int BestIndex(sqlite3_vtab* vtab, sqlite3_index_info* info) noexcept {
  const int nargs = ArgCount(static_cast<QueryTable*>(vtab)->aux->range);
  int where[8];
  for (int& w : where) w = -1;
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (c.iColumn < kSink || c.iColumn >= kSink + nargs) continue;
    if (c.op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    // An argument that is not known yet (a join's column): not this plan.
    if (!c.usable) return SQLITE_CONSTRAINT;
    where[c.iColumn - kSink] = i;
  }
  int mask = 0, next = 1;
  for (int k = 0; k < nargs; ++k) {
    if (where[k] < 0) continue;
    mask |= 1 << k;
    info->aConstraintUsage[where[k]].argvIndex = next++;
    info->aConstraintUsage[where[k]].omit = 1;
  }
  info->idxNum = mask;
  // Without sink and promql xFilter fails with a message; any plan that
  // gives them is better.
  const bool complete = (mask & 3) == 3;
  info->estimatedCost = complete ? 1000 : 1e12;
  info->estimatedRows = complete ? 1000 : 1'000'000'000;
  return SQLITE_OK;
}

int Open(sqlite3_vtab*, sqlite3_vtab_cursor** out) noexcept {
  auto* c = new (std::nothrow) QueryCursor();
  if (c == nullptr) return SQLITE_NOMEM;
  *out = &c->base;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* cur) noexcept {
  delete reinterpret_cast<QueryCursor*>(cur);
  return SQLITE_OK;
}

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Cell CellOf(sqlite3_value* v) {
  Cell c;
  switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: c.type = Cell::Type::kInteger; c.i = sqlite3_value_int64(v); break;
    case SQLITE_FLOAT: c.type = Cell::Type::kReal; c.d = sqlite3_value_double(v); break;
    case SQLITE_NULL: break;
    default: {
      c.type = sqlite3_value_type(v) == SQLITE_TEXT ? Cell::Type::kText : Cell::Type::kBlob;
      const unsigned char* p = sqlite3_value_text(v);
      c.text = std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_value_bytes(v)));
      break;
    }
  }
  return c;
}

// Sets a flag when sqlite3_interrupt() stops the statement while the query
// waits: the SQL thread is inside the transport then, which looks only at
// the flag. On a host older than SQLite 3.41 nothing can be seen, and no
// thread is started.
class InterruptWatch {
 public:
  explicit InterruptWatch(sqlite3* db) {
    if (sqlite3_libversion_number() < 3041000) return;
    thread_ = std::jthread([this, db](std::stop_token stop) {
      std::mutex mu;
      std::unique_lock lock(mu);
      // Wakes every 50 ms, or at once when the query is over.
      while (!wake_.wait_for(lock, stop, std::chrono::milliseconds(50), [] { return false; })) {
        if (stop.stop_requested()) return;
        if (StatementInterrupted(db)) {
          flag_.store(true, std::memory_order_relaxed);
          return;
        }
      }
    });
  }
  const std::atomic<bool>* flag() const { return &flag_; }

 private:
  std::atomic<bool> flag_{false};
  std::condition_variable_any wake_;
  std::jthread thread_;  // last: stopped and joined before the members it uses go
};

// Runs the query; fills the cursor or says what is wrong.
Status RunFilter(QueryTable* table, QueryCursor* cur, int mask, int argc, sqlite3_value** argv) {
  const bool range = table->aux->range;
  const std::string fn = FunctionName(range);
  const std::string usage = range ? "(sink, promql, start, end, step_ms)" : "(sink, promql [, time])";
  sqlite3_value* args[8] = {};
  for (int k = 0, n = 0; k < ArgCount(range); ++k) {
    if ((mask & (1 << k)) && n < argc) args[k] = argv[n++];
  }
  if (args[0] == nullptr || args[1] == nullptr || sqlite3_value_type(args[0]) == SQLITE_NULL ||
      sqlite3_value_type(args[1]) == SQLITE_NULL) {
    return Status::Invalid(fn + "() expects " + usage);
  }
  std::string err;
  SinkTable* sink = FindSink(table->db, table->aux->conn, args[0], &err);
  if (sink == nullptr) return Status::Invalid(fn + "(): " + err);
  const SinkOptions& opts = sink->sink->options();
  QueryRequest req;
  req.range = range;
  req.promql.assign(reinterpret_cast<const char*>(sqlite3_value_text(args[1])),
                    static_cast<size_t>(sqlite3_value_bytes(args[1])));
  if (req.promql.empty()) return Status::Invalid(fn + "(): the PromQL query is empty");
  const int64_t now = WallClockMs();
  // Times in the forms of the sink's timestamp column; NULL (or absent) is now.
  auto time_arg = [&](int k, const char* name, int64_t* out) -> Status {
    if (args[k] == nullptr) {
      *out = now;
      return Status::Ok();
    }
    Status st = DecodeTimestamp(CellOf(args[k]), opts.timestamp_unit, now, name, out);
    if (!st.ok()) return Status::Invalid(fn + "(): " + st.message());
    return Status::Ok();
  };
  if (!range) {
    PSINK_RETURN_IF_ERROR(time_arg(2, "time", &req.time_ms));
  } else {
    if (args[2] == nullptr || sqlite3_value_type(args[2]) == SQLITE_NULL) {
      return Status::Invalid(fn + "() expects " + usage + ": start is missing");
    }
    PSINK_RETURN_IF_ERROR(time_arg(2, "start", &req.start_ms));
    PSINK_RETURN_IF_ERROR(time_arg(3, "end", &req.end_ms));
    const int t = args[4] ? sqlite3_value_numeric_type(args[4]) : SQLITE_NULL;
    const double step = t == SQLITE_INTEGER || t == SQLITE_FLOAT ? sqlite3_value_double(args[4]) : 0;
    if (!(step >= 1) || !std::isfinite(step)) {
      return Status::Invalid(fn + "(): step_ms must be a number of milliseconds, at least 1");
    }
    req.step_ms = static_cast<int64_t>(step);
    if (req.end_ms < req.start_ms) return Status::Invalid(fn + "(): end is before start");
  }
  cur->answer = QueryAnswer{};
  cur->pos = 0;
  InterruptWatch watch(table->db);
  Status st = RunQuery(opts, sink->sink->name(), req, &cur->answer, watch.flag());
  if (!st.ok()) return Status::Failed(fn + "(): " + st.message());
  return Status::Ok();
}

int Filter(sqlite3_vtab_cursor* base, int mask, const char*, int argc, sqlite3_value** argv) noexcept {
  auto* cur = reinterpret_cast<QueryCursor*>(base);
  auto* table = static_cast<QueryTable*>(base->pVtab);
  try {
    Status st = RunFilter(table, cur, mask, argc, argv);
    if (st.ok()) return SQLITE_OK;
    cur->answer = QueryAnswer{};
    SetError(base->pVtab, "prometheus_sink: " + st.message());
    return SQLITE_ERROR;
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  } catch (...) {
    SetError(base->pVtab, "prometheus_sink: internal error");
    return SQLITE_ERROR;
  }
}

int Next(sqlite3_vtab_cursor* cur) noexcept {
  reinterpret_cast<QueryCursor*>(cur)->pos++;
  return SQLITE_OK;
}

int Eof(sqlite3_vtab_cursor* cur) noexcept {
  auto* c = reinterpret_cast<QueryCursor*>(cur);
  return c->pos >= c->answer.rows.size();
}

int Column(sqlite3_vtab_cursor* cur, sqlite3_context* ctx, int i) noexcept {
  auto* c = reinterpret_cast<QueryCursor*>(cur);
  const QueryRow& row = c->answer.rows[c->pos];
  switch (i) {
    case kLabels: {
      const std::string& l = c->answer.labels[row.series];
      sqlite3_result_text(ctx, l.data(), static_cast<int>(l.size()), SQLITE_TRANSIENT);
      break;
    }
    case kTimestamp: sqlite3_result_int64(ctx, row.timestamp_ms); break;
    case kValue:
      if (!row.histogram.empty()) {
        sqlite3_result_null(ctx);  // a histogram sample has no value, as in a sink's SELECT
      } else if (std::isnan(row.value)) {
        // SQLite turns a REAL NaN into NULL: the text the sink's value column reads as NaN.
        sqlite3_result_text(ctx, "NaN", -1, SQLITE_STATIC);
      } else {
        sqlite3_result_double(ctx, row.value);  // ±Inf stay REAL
      }
      break;
    case kHistogram:
      if (row.histogram.empty()) sqlite3_result_null(ctx);
      else sqlite3_result_text(ctx, row.histogram.data(), static_cast<int>(row.histogram.size()), SQLITE_TRANSIENT);
      break;
    default: sqlite3_result_null(ctx); break;  // the arguments, not kept
  }
  return SQLITE_OK;
}

int Rowid(sqlite3_vtab_cursor* cur, sqlite3_int64* rowid) noexcept {
  *rowid = static_cast<sqlite3_int64>(reinterpret_cast<QueryCursor*>(cur)->pos) + 1;
  return SQLITE_OK;
}

sqlite3_module kQueryModule = {
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

void FreeAux(void* p) noexcept { delete static_cast<QueryModuleAux*>(p); }

}  // namespace

int RegisterQueryTables(sqlite3* db, Connection* conn) {
  for (bool range : {false, true}) {
    auto* aux = new (std::nothrow) QueryModuleAux{conn, range};
    if (aux == nullptr) return SQLITE_NOMEM;
    // SQLite owns `aux` from here (FreeAux), even when this fails.
    int rc = sqlite3_create_module_v2(db, FunctionName(range), &kQueryModule, aux, FreeAux);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

}  // namespace psink
