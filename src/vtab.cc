// prometheus_sink: the SQLite glue. Registers the `prometheus_sink` module
// and the SQL functions, and maps SQLite's virtual-table callbacks onto Sink.
// It defines SQLite's API table (SQLITE_EXTENSION_INIT1) and fills it at
// load; the other files that include sqlite3ext.h (the rest of the glue and
// the spool) use it through SQLITE_EXTENSION_INIT3.
//
//   .load ./build/prometheus_sink
//   CREATE VIRTUAL TABLE temp.metrics USING prometheus_sink(url='http://127.0.0.1:9090/api/v1/write');
//   INSERT INTO metrics VALUES ('{"__name__":"up","job":"x"}', 1, NULL);   -- sent at COMMIT
//   SELECT prometheus_sink_version();
//   SELECT prometheus_sink_flush('metrics');   -- send now; returns samples sent
//
// Delivery happens in xSync: its error rolls the whole transaction back and
// reaches the user, while xCommit's result is ignored by SQLite.
#include "glue.h"
SQLITE_EXTENSION_INIT1

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "batch.h"
#include "exemplar.h"
#include "histogram.h"
#include "options.h"
#include "sink.h"
#include "text.h"
#include "vtab_columns.h"

namespace psink {
namespace {

// Whether more than `own` statements of `db` are running (the caller's own
// statements are among them).
bool OtherStatementsBusy(sqlite3* db, int own) {
  int busy = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s != nullptr; s = sqlite3_next_stmt(db, s)) {
    if (sqlite3_stmt_busy(s)) ++busy;
  }
  return busy > own;
}

// Whether sqlite3_interrupt() was called on `db` and the statement it
// interrupted is still running: sqlite3_is_interrupted(), SQLite 3.41 and
// later. The extension may be built against older headers (Debian
// bookworm's 3.40) and loaded by a newer SQLite: the routine is then the
// entry right after the last one 3.40 knows (sqlite3_value_encoding) in the
// API table, which SQLite only ever extends at the end. On an older host it
// is always false, and waits on the network end only by their timeouts.
// Linked into a program (SQLITE_CORE, the static library) there is no API
// table: the program's own SQLite headers decide.
bool IsInterrupted(sqlite3* db) {
#if defined(SQLITE_CORE) && SQLITE_VERSION_NUMBER >= 3041000
  return sqlite3_is_interrupted(db) != 0;
#elif defined(SQLITE_CORE)
  (void)db;
  return false;
#elif defined(sqlite3_is_interrupted)
  static const bool has = sqlite3_libversion_number() >= 3041000;
  return has && sqlite3_is_interrupted(db) != 0;
#else
  struct ApiV341 {
    sqlite3_api_routines base;
    int (*is_interrupted)(sqlite3*);
  };
  static const bool has = sqlite3_libversion_number() >= 3041000;
  return has && reinterpret_cast<const ApiV341*>(sqlite3_api)->is_interrupted(db) != 0;
#endif
}


struct SinkCursor {
  sqlite3_vtab_cursor base;  // must be first
  size_t pos = 0;
};

// Replaces the vtab's error message (freeing the old one). Allocates
// nothing on the C++ side, so that it may run in an exception handler.
void SetError(sqlite3_vtab* vtab, std::string_view msg) noexcept {
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = sqlite3_mprintf("prometheus_sink: %.*s", static_cast<int>(msg.size()), msg.data());
}

int ResultCode(const Status& st) {
  switch (st.code()) {
    case Status::Code::kOk: return SQLITE_OK;
    // Decoding failures are constraint failures so that INSERT OR IGNORE
    // skips the row and OR FAIL keeps the rows before it.
    case Status::Code::kInvalid: return SQLITE_CONSTRAINT;
    case Status::Code::kMismatch: return SQLITE_CONSTRAINT;
    case Status::Code::kFailed: return SQLITE_ERROR;
  }
  return SQLITE_ERROR;
}

int Report(sqlite3_vtab* vtab, const Status& st) {
  if (st.ok()) return SQLITE_OK;
  SetError(vtab, st.message());
  return ResultCode(st);
}

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The wall clock at the kernel tick's resolution (a few ms), for the
// flush_interval check of every row: reading the precise clock cost ~30 ns
// a row on the benchmark machine (about 4% of an export), this ~10 ns.
// Rows without a timestamp still get the precise clock.
int64_t CoarseWallClockMs() {
#ifdef CLOCK_REALTIME_COARSE
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0) {
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  }
#endif
  return WallClockMs();
}

// The clock for one row of `t`: precise when the row has no timestamp (it
// becomes the sample's time), coarse otherwise.
int64_t RowClockMs(const SinkTable* t, size_t given) {
  const size_t ts_col = t->sink->options().label_columns.size() + 2;
  return ts_col >= given || t->cells[ts_col].type == Cell::Type::kNull ? WallClockMs() : CoarseWallClockMs();
}

// Runs `fn` and turns an escaping exception into an SQLite error: nothing
// throws across the C boundary.
template <typename Fn>
int Guard(sqlite3_vtab* vtab, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  } catch (const std::exception& e) {
    if (vtab) {
      sqlite3_free(vtab->zErrMsg);
      vtab->zErrMsg = sqlite3_mprintf("prometheus_sink: internal error: %s", e.what());
    }
    return SQLITE_ERROR;
  } catch (...) {
    if (vtab) SetError(vtab, "internal error");
    return SQLITE_ERROR;
  }
}

// True when the database's text encoding is UTF-8, so TEXT values can be
// read as stored (sqlite3_value_blob) without the copy that
// sqlite3_value_text makes to add a terminating NUL.
bool DatabaseIsUtf8(sqlite3* db) {
  StmtPtr stmt;
  if (Prepare(db, "PRAGMA encoding", &stmt) != SQLITE_OK || sqlite3_step(stmt.get()) != SQLITE_ROW) return false;
  const unsigned char* enc = sqlite3_column_text(stmt.get(), 0);
  return enc != nullptr && std::strcmp(reinterpret_cast<const char*>(enc), "UTF-8") == 0;
}

// xCreate and xConnect: parse the options and declare the columns. No
// network I/O: xConnect also runs when the schema is reloaded or for DROP.
int OpenTable(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out, char** err,
         bool creating) noexcept {
  *out = nullptr;
  try {
    std::vector<std::string_view> args(argv + 3, argv + argc);
    SinkOptions opts;
    Status st = OptionsFromArgs(args, &opts);
    if (st.ok() && creating) st = CheckEnvironment(opts);
    if (!st.ok()) {
      *err = sqlite3_mprintf("prometheus_sink: %s", st.message().c_str());
      return SQLITE_ERROR;
    }
    int rc = sqlite3_declare_vtab(db, DeclareTableSql(opts).c_str());
    if (rc != SQLITE_OK) {
      *err = sqlite3_mprintf("prometheus_sink: cannot declare the columns: %s", sqlite3_errmsg(db));
      return rc;
    }
    sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
    sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
    auto table = std::make_unique<SinkTable>();
    std::memset(&table->base, 0, sizeof table->base);
    table->db = db;
    table->conn = static_cast<Connection*>(aux);
    const bool spool = opts.spool;
    if (spool) {
      const char* file = sqlite3_db_filename(db, argv[1]);
      if (std::strcmp(argv[1], "temp") == 0 || file == nullptr || *file == '\0') {
        *err = sqlite3_mprintf("prometheus_sink: option 'spool' needs a sink in a database file (not temp. or :memory:)");
        return SQLITE_ERROR;
      }
    }
    if (spool) table->spool = std::make_unique<Spool>(db, argv[1], argv[2], opts);
    table->sink = std::make_unique<Sink>(argv[2], std::move(opts));
    table->sink->SetInterruptCheck([db] { return IsInterrupted(db); });
    if (spool) {
      if (creating) {
        Status created = table->spool->Create();
        if (!created.ok()) {
          *err = sqlite3_mprintf("prometheus_sink: %s", created.message().c_str());
          return SQLITE_ERROR;
        }
      }
    }
    table->cells.resize(table->sink->column_count());
    table->utf8 = DatabaseIsUtf8(db);
    table->conn->tables.push_back(table.get());
    *out = &table.release()->base;
    return SQLITE_OK;
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  } catch (const std::exception& e) {
    *err = sqlite3_mprintf("prometheus_sink: %s", e.what());
    return SQLITE_ERROR;
  } catch (...) {
    *err = sqlite3_mprintf("prometheus_sink: internal error");
    return SQLITE_ERROR;
  }
}

// CREATE VIRTUAL TABLE also checks credential and TLS files and variables;
// reopening a schema does not, so that a moved file cannot make a sink
// impossible to drop.
int Create(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out, char** err) noexcept {
  return OpenTable(db, aux, argc, argv, out, err, true);
}

int Connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out, char** err) noexcept {
  return OpenTable(db, aux, argc, argv, out, err, false);
}

int Disconnect(sqlite3_vtab* vtab) noexcept {
  auto* t = reinterpret_cast<SinkTable*>(vtab);
  auto& tabs = t->conn->tables;
  tabs.erase(std::remove(tabs.begin(), tabs.end(), t), tabs.end());
  sqlite3_free(vtab->zErrMsg);
  delete t;
  return SQLITE_OK;
}

// DROP TABLE: a spooled sink with rows waiting is not dropped (SQLite shows
// its own generic message for this; the README explains it).
int Destroy(sqlite3_vtab* vtab) noexcept {
  const int rc = Guard(vtab, [&] {
    auto* t = reinterpret_cast<SinkTable*>(vtab);
    return t->spool ? Report(vtab, t->spool->Drop()) : SQLITE_OK;
  });
  return rc == SQLITE_OK ? Disconnect(vtab) : rc;
}

// A spooled sink keeps its shadow table's name: renaming it is refused.
int Rename(sqlite3_vtab* vtab, const char*) noexcept {
  return Guard(vtab, [&] {
    if (!reinterpret_cast<SinkTable*>(vtab)->spool) return SQLITE_OK;
    SetError(vtab, "a spooled sink cannot be renamed (its spool table is named after it)");
    return SQLITE_ERROR;
  });
}

int ShadowName(const char* suffix) noexcept {
  return std::strcmp(suffix, Spool::kSuffix) == 0 || std::strcmp(suffix, Spool::kRejectedSuffix) == 0;
}

int BestIndex(sqlite3_vtab*, sqlite3_index_info* info) noexcept {
  info->estimatedCost = 1000;
  info->estimatedRows = 1000;
  return SQLITE_OK;
}

int Open(sqlite3_vtab*, sqlite3_vtab_cursor** out) noexcept {
  auto* c = new (std::nothrow) SinkCursor();
  if (c == nullptr) return SQLITE_NOMEM;
  *out = &c->base;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* cur) noexcept {
  delete reinterpret_cast<SinkCursor*>(cur);
  return SQLITE_OK;
}

const Sink& CursorSink(sqlite3_vtab_cursor* cur) { return *reinterpret_cast<SinkTable*>(cur->pVtab)->sink; }

int Filter(sqlite3_vtab_cursor* cur, int, const char*, int, sqlite3_value**) noexcept {
  reinterpret_cast<SinkCursor*>(cur)->pos = 0;
  return SQLITE_OK;
}

int Next(sqlite3_vtab_cursor* cur) noexcept {
  reinterpret_cast<SinkCursor*>(cur)->pos++;
  return SQLITE_OK;
}

int Eof(sqlite3_vtab_cursor* cur) noexcept {
  return reinterpret_cast<SinkCursor*>(cur)->pos >= CursorSink(cur).buffered();
}

// SELECT shows the buffered rows: label columns, the complete label set as
// canonical JSON, the value (NULL for a histogram row), the timestamp in
// milliseconds, and, when named, the hidden histogram and exemplar columns
// as canonical JSON.
int Column(sqlite3_vtab_cursor* cur, sqlite3_context* ctx, int i) noexcept {
  return Guard(cur->pVtab, [&] {
    const Sink& sink = CursorSink(cur);
    const Row& row = sink.buffered_row(reinterpret_cast<SinkCursor*>(cur)->pos);
    const LabelsView labels = sink.batch().labels(row.series);
    const auto& cols = sink.options().label_columns;
    size_t n = static_cast<size_t>(i);
    if (n < cols.size()) {
      for (const auto& [k, v] : labels) {
        if (k == cols[n]) {
          sqlite3_result_text(ctx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
          return SQLITE_OK;
        }
      }
      sqlite3_result_null(ctx);
    } else if (n == cols.size()) {
      std::string json = LabelsToJson(labels);
      sqlite3_result_text(ctx, json.data(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
    } else if (n == sink.column_count() - 2 || n == sink.column_count() - 1) {
      // The hidden columns: the row's histogram and exemplar as canonical JSON.
      const Histogram* h = sink.batch().histogram(row);
      const Exemplar* e = sink.batch().exemplar(row);
      std::string json = n == sink.column_count() - 2 ? (h ? HistogramToJson(*h) : "") : (e ? ExemplarToJson(*e) : "");
      if (json.empty()) sqlite3_result_null(ctx);
      else sqlite3_result_text(ctx, json.data(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
    } else if (n == cols.size() + 1) {
      uint64_t bits;
      std::memcpy(&bits, &row.value, sizeof bits);
      if (sink.batch().histogram(row) != nullptr) {
        sqlite3_result_null(ctx);  // a histogram row has no value
      } else if (bits == kStaleNaNBits) {
        sqlite3_result_text(ctx, "stale", -1, SQLITE_STATIC);
      } else if (row.value != row.value) {
        sqlite3_result_text(ctx, "NaN", -1, SQLITE_STATIC);
      } else {
        sqlite3_result_double(ctx, row.value);
      }
    } else if (n == cols.size() + 2) {
      sqlite3_result_int64(ctx, row.ts);
    } else if (row.start_ts != 0) {
      sqlite3_result_int64(ctx, row.start_ts);
    } else {
      sqlite3_result_null(ctx);
    }
    return SQLITE_OK;
  });
}

int Rowid(sqlite3_vtab_cursor* cur, sqlite3_int64* rowid) noexcept {
  *rowid = static_cast<sqlite3_int64>(reinterpret_cast<SinkCursor*>(cur)->pos) + 1;
  return SQLITE_OK;
}

// The bytes of a TEXT value: as stored when the database is UTF-8 (no
// NUL-terminating copy), else converted by sqlite3_value_text.
std::string_view TextOf(sqlite3_value* v, bool utf8) {
  const void* p = utf8 ? sqlite3_value_blob(v) : sqlite3_value_text(v);
  return std::string_view(static_cast<const char*>(p), static_cast<size_t>(sqlite3_value_bytes(v)));
}

// Fills `c` from `v`; only the field of its type is set (the others keep
// stale values, which nothing reads).
void ToCell(sqlite3_value* v, bool utf8, Cell* c) {
  switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
      c->type = Cell::Type::kInteger;
      c->i = sqlite3_value_int64(v);
      break;
    case SQLITE_FLOAT:
      c->type = Cell::Type::kReal;
      c->d = sqlite3_value_double(v);
      break;
    case SQLITE_TEXT:
      c->type = Cell::Type::kText;
      c->text = TextOf(v, utf8);
      break;
    case SQLITE_BLOB: {
      c->type = Cell::Type::kBlob;
      const void* p = sqlite3_value_blob(v);
      c->text = std::string_view(static_cast<const char*>(p), static_cast<size_t>(sqlite3_value_bytes(v)));
      break;
    }
    default:
      c->type = Cell::Type::kNull;
  }
}

// The shortcut for the common INSERT row, read straight from SQLite's values
// without Cells: label inputs TEXT, INTEGER or NULL and seen before (see
// Sink::InsertKnown), a REAL or INTEGER value, an INTEGER timestamp. Returns
// false, having changed nothing, when the row needs the general path;
// otherwise *rc is the insert's result. `cols` has column_count() values.
bool InsertFast(SinkTable* t, sqlite3_value** cols, int* rc) {
  Sink& sink = *t->sink;
  if (sink.bypassing_raw_keys()) return false;  // every row a new series: no key to look up
  const size_t nlabel = sink.options().label_columns.size();
  std::string_view key;
  if (nlabel == 0 && sqlite3_value_type(cols[0]) == SQLITE_TEXT) {
    key = TextOf(cols[0], t->utf8);  // the JSON text alone, as Sink::Insert keys it
  } else {
    RawKey& k = sink.raw_key();
    k.Reset();
    for (size_t i = 0; i <= nlabel; ++i) {
      switch (sqlite3_value_type(cols[i])) {
        case SQLITE_TEXT: k.Text(TextOf(cols[i], t->utf8)); break;
        case SQLITE_INTEGER: k.Integer(sqlite3_value_int64(cols[i])); break;
        case SQLITE_NULL: k.Null(); break;
        default: return false;
      }
    }
    key = k.view();
  }
  double value;
  switch (sqlite3_value_type(cols[nlabel + 1])) {
    case SQLITE_FLOAT: value = sqlite3_value_double(cols[nlabel + 1]); break;
    case SQLITE_INTEGER: value = static_cast<double>(sqlite3_value_int64(cols[nlabel + 1])); break;
    default: return false;
  }
  if (sqlite3_value_type(cols[nlabel + 2]) != SQLITE_INTEGER) return false;
  // A histogram or an exemplar takes the general path.
  const size_t hidden = sink.column_count() - 2;
  if (sqlite3_value_type(cols[hidden]) != SQLITE_NULL || sqlite3_value_type(cols[hidden + 1]) != SQLITE_NULL) return false;
  const int64_t ts = sqlite3_value_int64(cols[nlabel + 2]);
  Status st;
  if (t->spool) {
    // Spooled: the row goes to the spool, its label JSON from the series.
    const std::string* json = nullptr;
    LabelsView labels;
    if (!sink.KnownSpooled(key, &json, &labels)) return false;
    st = t->spool->Append(*json, value, ts);
  } else if (!sink.InsertKnown(key, value, ts, CoarseWallClockMs(), &st)) {
    return false;
  }
  *rc = Report(&t->base, st);
  return true;
}

int Update(sqlite3_vtab* vtab, int argc, sqlite3_value** argv, sqlite3_int64* rowid) noexcept {
  return Guard(vtab, [&] {
    auto* t = reinterpret_cast<SinkTable*>(vtab);
    if (argc == 1) {
      SetError(vtab, "DELETE is not supported: a sink only accepts INSERT (rows not yet sent are discarded by ROLLBACK)");
      return SQLITE_ERROR;
    }
    if (sqlite3_value_type(argv[0]) != SQLITE_NULL) {
      SetError(vtab, "UPDATE is not supported: a sink only accepts INSERT");
      return SQLITE_ERROR;
    }
    std::vector<Cell>& c = t->cells;
    int rc;
    if (static_cast<size_t>(argc - 2) == c.size() && InsertFast(t, argv + 2, &rc)) {
      *rowid = static_cast<sqlite3_int64>(t->sink->buffered());
      return rc;
    }
    const size_t given = std::min(c.size(), static_cast<size_t>(argc - 2));
    for (size_t i = 0; i < given; ++i) ToCell(argv[i + 2], t->utf8, &c[i]);
    for (size_t i = given; i < c.size(); ++i) c[i] = Cell();
    if (t->spool) {
      // Spooled: the row goes into the shadow table, in this transaction.
      const std::string* json = nullptr;
      double value;
      int64_t ts;
      int64_t start_ts = 0;
      const RowExtra* extra = nullptr;
      LabelsView labels;
      Status st = t->sink->DecodeRow(c.data(), RowClockMs(t, given), &json, &labels, &value, &ts, &start_ts, &extra);
      if (st.ok()) st = t->spool->Append(*json, value, ts, start_ts, extra);
      *rowid = 0;
      return Report(vtab, st);
    }
    rc = Report(vtab, t->sink->Insert(c.data(), RowClockMs(t, given)));
    *rowid = static_cast<sqlite3_int64>(t->sink->buffered());
    return rc;
  });
}

int Begin(sqlite3_vtab* vtab) noexcept {
  return Guard(vtab, [&] {
    reinterpret_cast<SinkTable*>(vtab)->sink->Begin();
    return SQLITE_OK;
  });
}

// COMMIT: a plain sink delivers what it holds; a spooled one writes the
// rows it holds to its shadow table, in this transaction.
int Sync(sqlite3_vtab* vtab) noexcept {
  return Guard(vtab, [&] {
    auto* t = reinterpret_cast<SinkTable*>(vtab);
    if (t->spool) return Report(vtab, t->spool->WritePending());
    return Report(vtab, t->sink->Flush());
  });
}

int Commit(sqlite3_vtab* vtab) noexcept {
  return Guard(vtab, [&] {
    auto* t = reinterpret_cast<SinkTable*>(vtab);
    t->sink->Commit();
    // Spooled rows are durable now: the background drain sends them.
    // (the statement being committed is one of the busy ones)
    if (t->spool) t->spool->Kick(/*owner_busy=*/OtherStatementsBusy(t->db, 1));
    return SQLITE_OK;
  });
}

int Rollback(sqlite3_vtab* vtab) noexcept {
  return Guard(vtab, [&] {
    auto* t = reinterpret_cast<SinkTable*>(vtab);
    if (t->spool) t->spool->Rollback();
    t->sink->Rollback();
    return SQLITE_OK;
  });
}

int Savepoint(sqlite3_vtab* vtab, int n) noexcept {
  return Guard(vtab, [&] {
    auto* t = reinterpret_cast<SinkTable*>(vtab);
    // The spool's rows in memory always belong to the innermost savepoint.
    if (t->spool) {
      int rc = Report(vtab, t->spool->WritePending());
      if (rc != SQLITE_OK) return rc;
    }
    t->sink->Savepoint(n);
    return SQLITE_OK;
  });
}

int Release(sqlite3_vtab* vtab, int n) noexcept {
  return Guard(vtab, [&] {
    reinterpret_cast<SinkTable*>(vtab)->sink->Release(n);
    return SQLITE_OK;
  });
}

int RollbackTo(sqlite3_vtab* vtab, int n) noexcept {
  return Guard(vtab, [&] {
    auto* t = reinterpret_cast<SinkTable*>(vtab);
    if (t->spool) t->spool->Rollback();
    t->sink->RollbackTo(n);
    return SQLITE_OK;
  });
}

sqlite3_module kModule = {
    /* iVersion    */ 3,
    /* xCreate     */ Create,
    /* xConnect    */ Connect,
    /* xBestIndex  */ BestIndex,
    /* xDisconnect */ Disconnect,
    /* xDestroy    */ Destroy,
    /* xOpen       */ Open,
    /* xClose      */ Close,
    /* xFilter     */ Filter,
    /* xNext       */ Next,
    /* xEof        */ Eof,
    /* xColumn     */ Column,
    /* xRowid      */ Rowid,
    /* xUpdate     */ Update,
    /* xBegin      */ Begin,
    /* xSync       */ Sync,
    /* xCommit     */ Commit,
    /* xRollback   */ Rollback,
    /* xFindFunction */ nullptr,
    /* xRename     */ Rename,
    /* xSavepoint  */ Savepoint,
    /* xRelease    */ Release,
    /* xRollbackTo */ RollbackTo,
    /* xShadowName */ ShadowName,
};

void VersionFunc(sqlite3_context* ctx, int, sqlite3_value**) noexcept {
  sqlite3_result_text(ctx, PROMETHEUS_SINK_VERSION, -1, SQLITE_STATIC);
}

}  // namespace

// The sinks a function call names: every sink of the connection without a
// name, else the one called `name`. A sink of the schema that no statement
// has touched yet is not connected: it is connected here by naming it in a
// statement, so that a freshly opened database can flush its spool.
std::vector<SinkTable*> FindSinks(sqlite3* db, Connection* conn, int argc, sqlite3_value** argv, std::string* err) {
  std::vector<SinkTable*> out;
  if (argc == 0) return conn->tables;
  const unsigned char* p = sqlite3_value_text(argv[0]);
  if (p == nullptr) {
    *err = "expects a sink name";
    return out;
  }
  std::string want(reinterpret_cast<const char*>(p));
  auto collect = [&] {
    for (SinkTable* t : conn->tables) {
      if (EqualsIgnoreCase(t->sink->name(), want)) out.push_back(t);
    }
  };
  collect();
  if (out.empty()) {
    int rc;
    {
      StmtPtr probe;
      rc = Prepare(db, Mprintf("SELECT 0 FROM \"%w\" WHERE 0", want.c_str()).get(), &probe);
    }
    collect();
    if (out.empty() && rc != SQLITE_OK && std::strstr(sqlite3_errmsg(db), "no such table") == nullptr) {
      // e.g. "database is locked": say so rather than "no sink".
      *err = "cannot open sink " + Shorten(want) + ": " + sqlite3_errmsg(db);
      return out;
    }
  }
  if (out.empty()) *err = "no sink named " + Shorten(want) + " on this connection";
  return out;
}

namespace {

template <typename Fn>
void SinkFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv, const char* fname, Fn&& fn) noexcept {
  try {
    auto* conn = static_cast<Connection*>(sqlite3_user_data(ctx));
    sqlite3* db = sqlite3_context_db_handle(ctx);
    std::string err;
    std::vector<SinkTable*> sinks = FindSinks(db, conn, argc, argv, &err);
    if (!err.empty()) {
      std::string msg = std::string("prometheus_sink: ") + fname + "(): " + err;
      sqlite3_result_error(ctx, msg.c_str(), -1);
      return;
    }
    int64_t total = 0;
    for (SinkTable* t : sinks) {
      int64_t n = 0;
      Status st = fn(db, t, &n);
      total += n;
      if (!st.ok()) {
        std::string msg = "prometheus_sink: " + st.message();
        sqlite3_result_error(ctx, msg.c_str(), -1);
        return;
      }
    }
    sqlite3_result_int64(ctx, total);
  } catch (const std::bad_alloc&) {
    sqlite3_result_error_nomem(ctx);
  } catch (const std::exception& e) {
    // (no std::string in a handler: its bad_alloc would escape)
    SqlText msg(sqlite3_mprintf("prometheus_sink: internal error: %s", e.what()));
    if (msg) sqlite3_result_error(ctx, msg.get(), -1);
    else sqlite3_result_error_nomem(ctx);
  } catch (...) {
    sqlite3_result_error(ctx, "prometheus_sink: internal error", -1);
  }
}

// prometheus_sink_flush([name]): sends what the named sink (or every sink)
// holds now — for a spooled sink, every spooled row — and returns the
// number of samples sent.
void FlushFunc(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
  SinkFunction(ctx, argc, argv, "prometheus_sink_flush", [](sqlite3* db, SinkTable* t, int64_t* n) {
    uint64_t sent = 0;
    Status st = t->sink->Flush(&sent);
    *n = static_cast<int64_t>(sent);
    if (st.ok() && t->spool) {
      // Spooled rows go only once their transaction has committed.
      if (!sqlite3_get_autocommit(db)) {
        return Status::Failed("sink '" + t->sink->name() +
                              "': a spool is drained only outside a transaction: call prometheus_sink_flush() "
                              "after COMMIT");
      }
      // A background drain kept off the database for this connection's
      // sake may go on now (it holds the drain lock).
      if (!OtherStatementsBusy(db, 1)) t->spool->Unhold();
      st = t->spool->Drain(*t->sink, &sent);
      *n += static_cast<int64_t>(sent);
    }
    return st;
  });
}

// prometheus_sink_discard(name): deletes every spooled and rejected row of
// a spooled sink (in the caller's transaction) and returns how many.
void DiscardFunc(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
  SinkFunction(ctx, argc, argv, "prometheus_sink_discard", [](sqlite3*, SinkTable* t, int64_t* n) {
    if (!t->spool) return Status::Failed("sink '" + t->sink->name() + "' has no spool (spool=on) to discard");
    return t->spool->Discard(n);
  });
}

// prometheus_sink_requeue(name): moves the rejected rows of a spooled sink
// back into its spool (in the caller's transaction) and returns how many
// samples moved. They go with the next drain (prometheus_sink_flush, or the
// background drain woken by the next COMMIT into the sink).
void RequeueFunc(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept {
  SinkFunction(ctx, argc, argv, "prometheus_sink_requeue", [](sqlite3*, SinkTable* t, int64_t* n) {
    if (!t->spool) return Status::Failed("sink '" + t->sink->name() + "' has no spool (spool=on), so no rejected rows");
    return t->spool->Requeue(n);
  });
}

void DestroyConnection(void* p) noexcept { delete static_cast<Connection*>(p); }

}  // namespace

bool StatementInterrupted(sqlite3* db) { return IsInterrupted(db); }

SinkTable* FindSink(sqlite3* db, Connection* conn, sqlite3_value* name, std::string* err) {
  std::vector<SinkTable*> found = FindSinks(db, conn, 1, &name, err);
  return found.empty() ? nullptr : found.front();
}

}  // namespace psink

extern "C" __attribute__((visibility("default"))) int sqlite3_prometheussink_init(sqlite3* db, char** err,
                                                                                  const sqlite3_api_routines* api) {
  // The same API table for every connection of the process: written once,
  // not again while other connections' threads (sender, spool drain) read it.
#ifdef SQLITE_CORE
  (void)api;  // linked into a program: SQLite's API is called directly
#else
  if (sqlite3_api != api) {
    SQLITE_EXTENSION_INIT2(api);
  }
#endif
  auto* conn = new (std::nothrow) psink::Connection();
  if (conn == nullptr) return SQLITE_NOMEM;
  // The module owns `conn` from here: SQLite calls the destructor even when
  // registration fails.
  int rc = sqlite3_create_module_v2(db, "prometheus_sink", &psink::kModule, conn, psink::DestroyConnection);
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function(db, "prometheus_sink_version", 0,
                                 SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nullptr, psink::VersionFunc,
                                 nullptr, nullptr);
  }
  if (rc == SQLITE_OK) rc = psink::RegisterStatsTable(db, conn);
  if (rc == SQLITE_OK) rc = psink::RegisterHistogramFunction(db);
  if (rc == SQLITE_OK) rc = psink::RegisterQueryTables(db, conn);
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function(db, "prometheus_sink_discard", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, conn,
                                 psink::DiscardFunc, nullptr, nullptr);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function(db, "prometheus_sink_requeue", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, conn,
                                 psink::RequeueFunc, nullptr, nullptr);
  }
  if (rc == SQLITE_OK) rc = psink::RegisterRejectedTable(db, conn);
  for (int nargs : {0, 1}) {
    if (rc == SQLITE_OK) {
      rc = sqlite3_create_function(db, "prometheus_sink_flush", nargs, SQLITE_UTF8 | SQLITE_DIRECTONLY, conn,
                                   psink::FlushFunc, nullptr, nullptr);
    }
  }
  if (rc != SQLITE_OK) {
    *err = sqlite3_mprintf("prometheus_sink: cannot register: %s", sqlite3_errstr(rc));
    return rc;
  }
  // Loaded for good: unloading code that registered callbacks with libcurl's
  // global state and loading it again is unsafe.
  return SQLITE_OK_LOAD_PERMANENTLY;
}
