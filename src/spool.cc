#include "spool.h"
SQLITE_EXTENSION_INIT3

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <thread>
#include <vector>

#include "sink.h"
#include "text.h"

namespace psink {

namespace {

// True on a spool's background drain thread (set by RunBackground). (Not
// the comparison of thread ids: the std::thread is still being assigned
// when the new thread starts.)
thread_local bool tls_background_drain = false;

// The columns of "<name>_rejected": a spool batch as stored, and why the
// receiver refused it (status 0: it could not be read), when (wall clock, ms).
constexpr const char* kRejectedColumns =
    "(id INTEGER PRIMARY KEY AUTOINCREMENT, rows INTEGER NOT NULL, min_ts INTEGER NOT NULL, data BLOB NOT NULL, "
    "status INTEGER NOT NULL, message TEXT NOT NULL, time INTEGER NOT NULL)";

// The longest receiver answer kept with rejected rows.
constexpr size_t kRejectedMessageBytes = 300;

// Whether a failed request's rows can never be accepted as they are: a
// permanent 4xx (other than 429, and other than the answers that are about
// the sink's configuration — credentials, URL, method — which a fixed
// configuration cures for every row alike, so moving the whole spool aside
// would be wrong).
bool RefusedForGood(long status) {
  if (status < 400 || status > 499) return false;
  switch (status) {
    case 401: case 403: case 404: case 405: case 407: case 408: case 429: return false;
    default: return true;
  }
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// The drain lock (see spool.h): an exclusive flock on its own open file, so
// that two drainers of one process exclude each other as two processes do.
class Spool::Lock {
 public:
  Lock() = default;
  Lock(const Lock&) = delete;  // owns the descriptor
  Lock& operator=(const Lock&) = delete;
  ~Lock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }
  // Takes the lock of `spool`; *held is false when another drainer has it
  // and `wait` is false (or it was not released within kLockWaitMs: then
  // the result is a failure).
  Status Take(const Spool& spool, bool wait, bool* held) {
    *held = false;
    if (spool.file_.empty()) {
      return Status::Failed("spool of '" + spool.table_ + "': the database has no file to drain from");
    }
    const std::string& path = spool.lock_path_;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      return Status::Failed("spool of '" + spool.table_ + "': cannot open the drain lock file " + path + ": " +
                            std::strerror(errno));
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLockWaitMs);
    for (;;) {
      if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
        *held = true;
        return Status::Ok();
      }
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return Status::Failed("spool of '" + spool.table_ + "': cannot lock the drain lock file: " +
                              std::strerror(errno));
      }
      if (!wait) return Status::Ok();
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status::Failed("spool of '" + spool.table_ + "': another connection or process has been draining it for " +
                              std::to_string(kLockWaitMs / 1000) + " s; try again later");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  int fd_ = -1;
};

// The background drain: a thread with its own connection and Delivery.
struct Spool::Background {
  explicit Background(const SinkOptions& opts) : delivery(opts) {
    delivery.SetInterruptCheck([this] { return cancel.load(); });
  }
  Delivery delivery;  // used by the thread only
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  bool kicked = false;    // guarded by mu
  bool closing = false;   // guarded by mu: drain what is there, then stop
  bool idle = false;      // guarded by mu: the spool was empty at the last look
  bool failing = false;   // guarded by mu: the last attempt failed
  bool hold = false;      // guarded by mu: keep off the database (see Kick)
  DrainState state;       // guarded by mu
  std::atomic<bool> cancel{false};  // stop now: a request in flight is cancelled
};

// A full batch of a 1.0 sink being encoded on a helper thread.
struct Spool::Encoding {
  std::future<Status> done;
  std::vector<EncodedRequest> requests;  // filled by the helper
  int64_t rows = 0, min_ts = 0;
};

Spool::Spool(sqlite3* db, std::string schema, std::string table, const SinkOptions& opts)
    : db_(db), schema_(std::move(schema)), table_(std::move(table)), opts_(opts), max_rows_(opts.spool_max_rows) {
  // The spool's own requests go one at a time, oldest first.
  opts_.max_in_flight = 1;
  const char* file = sqlite3_db_filename(db_, schema_.c_str());
  if (file != nullptr) file_ = file;
  // The lock file: the table name as a file-name part, letters, digits and
  // '_' as they are, anything else as %XX.
  lock_path_ = file_ + "-psink-";
  for (unsigned char c : table_) {
    if (std::isalnum(c) || c == '_') {
      lock_path_ += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789ABCDEF";
      lock_path_ += '%';
      lock_path_ += hex[c >> 4];
      lock_path_ += hex[c & 15];
    }
  }
  lock_path_ += ".lock";
  encoded_ = opts_.protocol == Protocol::kV1;
}

Spool::~Spool() {
  if (bg_) {
    std::unique_lock<std::mutex> lock(bg_->mu);
    bg_->closing = true;
    bg_->kicked = true;
    bg_->cv.notify_all();
    // Closing waits a bounded time for the backlog; a failing receiver is
    // not waited for.
    bg_->cv.wait_for(lock, std::chrono::milliseconds(opts_.spool_close_wait_ms),
                     [&] { return bg_->idle || bg_->failing; });
    bg_->cancel = true;
    bg_->cv.notify_all();
    lock.unlock();
    bg_->thread.join();
  }
  if (encoding_) encoding_->done.wait();
}

std::string Spool::Quoted() const {
  const std::string name = table_ + "_" + kSuffix;
  return Mprintf("\"%w\".\"%w\"", schema_.c_str(), name.c_str()).get();
}

std::string Spool::QuotedRejected() const {
  const std::string name = table_ + "_" + kRejectedSuffix;
  return Mprintf("\"%w\".\"%w\"", schema_.c_str(), name.c_str()).get();
}

Status Spool::HasRejected(bool* exists) {
  StmtPtr stmt;
  const std::string sql = Mprintf("SELECT count(*) FROM \"%w\".sqlite_master WHERE type = 'table' AND name = ?1",
                                  schema_.c_str()).get();
  if (Prepare(db_, sql.c_str(), &stmt) != SQLITE_OK) {
    return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
  }
  const std::string name = table_ + "_" + kRejectedSuffix;
  sqlite3_bind_text(stmt.get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
  *exists = sqlite3_column_int64(stmt.get(), 0) > 0;
  return Status::Ok();
}

Status Spool::Exec(sqlite3* db, const std::string& sql) {
  char* text = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &text);
  SqlText err(text);
  if (rc == SQLITE_OK) return Status::Ok();
  return Status::Failed("spool of '" + table_ + "': " + (err ? err.get() : sqlite3_errstr(rc)));
}

Status Spool::Create() {
  format_known_ = true;
  legacy_ = false;
  PSINK_RETURN_IF_ERROR(Exec(db_, "CREATE TABLE IF NOT EXISTS " + Quoted() +
                                      "(id INTEGER PRIMARY KEY AUTOINCREMENT, rows INTEGER NOT NULL, min_ts INTEGER "
                                      "NOT NULL, data BLOB NOT NULL)"));
  // (A spool of an earlier version gets it from the drain, when it first
  // moves a batch aside.)
  return Exec(db_, "CREATE TABLE IF NOT EXISTS " + QuotedRejected() + kRejectedColumns);
}

Status Spool::IsLegacy(sqlite3* conn, const std::string& schema, bool* legacy) const {
  // A spool of 0.1.0 has a value_bits column; this version's has data.
  StmtPtr stmt;
  if (Prepare(conn, "SELECT count(*) FROM pragma_table_info(?1, ?2) WHERE name = 'value_bits'", &stmt) != SQLITE_OK) {
    return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(conn));
  }
  const std::string name = table_ + "_" + kSuffix;
  sqlite3_bind_text(stmt.get(), 1, name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(stmt.get(), 2, schema.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) {
    return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(conn));
  }
  *legacy = sqlite3_column_int64(stmt.get(), 0) > 0;
  return Status::Ok();
}

Status Spool::DetectFormat() {
  if (format_known_) return Status::Ok();
  PSINK_RETURN_IF_ERROR(IsLegacy(db_, schema_, &legacy_));
  format_known_ = true;
  return Status::Ok();
}

size_t Spool::PendingRows() const {
  return pending_.size() + pending_rows_.size() + (encoding_ ? static_cast<size_t>(encoding_->rows) : 0);
}

std::optional<int64_t> Spool::PendingMinTs() const {
  std::optional<int64_t> m;
  auto take = [&](int64_t v) { if (!m || v < *m) m = v; };
  if (!pending_.empty()) take(pending_.min_ts());
  if (!pending_rows_.empty()) take(pending_min_ts_);
  if (encoding_) take(encoding_->min_ts);
  return m;
}

Status Spool::StartEncoding() {
  if (pending_rows_.empty()) return Status::Ok();
  auto e = std::make_unique<Encoding>();
  e->rows = static_cast<int64_t>(pending_rows_.size());
  e->min_ts = pending_min_ts_;
  auto snapshot = std::make_shared<Batch>(pending_rows_.TakeFront(pending_rows_.size()));
  // (the series stay in pending_rows_ for the next rows; bounded as a sink's)
  if (pending_rows_.series_count() > 100000) pending_rows_.Clear();
  Encoding* out = e.get();
  const size_t max_bytes = static_cast<size_t>(opts_.max_request_bytes);
  const MetricMetadata* md = opts_.metadata ? &*opts_.metadata : nullptr;
  e->done = std::async(std::launch::async, [snapshot, out, max_bytes, md] {
    return EncodeRequests(Protocol::kV1, *snapshot, 0, snapshot->size(), max_bytes, md, &out->requests);
  });
  encoding_ = std::move(e);
  return Status::Ok();
}

Status Spool::FinishEncoding() {
  if (!encoding_) return Status::Ok();
  std::unique_ptr<Encoding> e = std::move(encoding_);
  PSINK_RETURN_IF_ERROR(e->done.get());
  PSINK_RETURN_IF_ERROR(InsertRow(e->rows, e->min_ts, EncodeStoredRequests(e->requests)));
  return Status::Ok();
}

Status Spool::InsertRow(int64_t rows, int64_t min_ts, const std::string& blob) {
  if (!insert_) {
    std::string sql = "INSERT INTO " + Quoted() + "(rows, min_ts, data) VALUES (?1, ?2, ?3)";
    if (Prepare(db_, sql.c_str(), &insert_, SQLITE_PREPARE_PERSISTENT) != SQLITE_OK) {
      return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
    }
  }
  sqlite3_stmt* insert = insert_.get();
  sqlite3_bind_int64(insert, 1, rows);
  sqlite3_bind_int64(insert, 2, min_ts);
  sqlite3_bind_blob(insert, 3, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
  int rc = sqlite3_step(insert);
  sqlite3_reset(insert);
  sqlite3_clear_bindings(insert);
  if (rc != SQLITE_DONE) return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
  if (count_) *count_ += rows;
  return Status::Ok();
}

Status Spool::Append(std::string_view labels_json, LabelsView labels, double value, int64_t ts) {
  PSINK_RETURN_IF_ERROR(DetectFormat());
  if (!busy_timeout_checked_) {
    // The background drain briefly holds locks of the file: a connection
    // that would fail at once with "database is locked" (no busy timeout,
    // the sqlite3 shell's default) waits up to kBusyTimeoutMs instead.
    busy_timeout_checked_ = true;
    StmtPtr stmt;
    if (Prepare(db_, "PRAGMA busy_timeout", &stmt) == SQLITE_OK && sqlite3_step(stmt.get()) == SQLITE_ROW &&
        sqlite3_column_int64(stmt.get(), 0) == 0) {
      sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    }
  }
  if (!count_) {
    int64_t rows = 0;
    std::optional<int64_t> oldest;
    PSINK_RETURN_IF_ERROR(Counts(&rows, &oldest));
    count_ = rows - static_cast<int64_t>(PendingRows());
  }
  const int64_t waiting = *count_ + static_cast<int64_t>(PendingRows());
  if (waiting >= max_rows_) {
    return Status::Failed("sink '" + table_ + "': the spool is full: it holds " + std::to_string(waiting) +
                          " rows (spool_max_rows=" + std::to_string(max_rows_) +
                          "); see last_error in prometheus_sink_stats, then flush or discard");
  }
  if (legacy_) {
    // A 0.1.0 spool: one row per sample, written now.
    if (!insert_) {
      std::string sql = "INSERT INTO " + Quoted() + "(labels, value_bits, ts) VALUES (?1, ?2, ?3)";
      if (Prepare(db_, sql.c_str(), &insert_, SQLITE_PREPARE_PERSISTENT) != SQLITE_OK) {
        return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
      }
    }
    int64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    sqlite3_stmt* insert = insert_.get();
    sqlite3_bind_text(insert, 1, labels_json.data(), static_cast<int>(labels_json.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 2, bits);
    sqlite3_bind_int64(insert, 3, ts);
    int rc = sqlite3_step(insert);
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert);
    if (rc != SQLITE_DONE) return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
    ++*count_;
    return Status::Ok();
  }
  const size_t batch_size = static_cast<size_t>(opts_.batch_size);
  if (!encoded_) {
    pending_.Add(labels_json, value, ts);
    if (pending_.size() >= batch_size) return WritePending();
    return Status::Ok();
  }
  // A 1.0 sink: the row joins pending_rows_, its series found by the label
  // JSON (interned once for the life of the connection).
  uint32_t series = pending_rows_.FindRawKey(labels_json);
  if (series == UINT32_MAX) {
    series = pending_rows_.Intern(labels.wire());
    pending_rows_.RememberRawKey(labels_json, series);
  }
  if (pending_rows_.empty() || ts < pending_min_ts_) pending_min_ts_ = ts;
  pending_rows_.Append(series, value, ts);
  if (pending_rows_.size() >= batch_size) {
    // The batch before is written now that it is encoded (it had the time
    // this one took to fill); this one is encoded while the next fills.
    PSINK_RETURN_IF_ERROR(FinishEncoding());
    PSINK_RETURN_IF_ERROR(StartEncoding());
  }
  return Status::Ok();
}

Status Spool::WritePending() {
  if (encoded_) {
    PSINK_RETURN_IF_ERROR(FinishEncoding());
    PSINK_RETURN_IF_ERROR(StartEncoding());
    return FinishEncoding();
  }
  if (pending_.empty()) return Status::Ok();
  PSINK_RETURN_IF_ERROR(InsertRow(static_cast<int64_t>(pending_.size()), pending_.min_ts(), pending_.Encode()));
  pending_.Clear();
  return Status::Ok();
}

void Spool::Rollback() {
  pending_.Clear();
  if (encoding_) {
    encoding_->done.wait();  // the helper reads the snapshot and writes the requests: let it end
    encoding_.reset();
  }
  pending_rows_.Truncate(0);
  count_.reset();
}

Status Spool::Counts(int64_t* rows, std::optional<int64_t>* oldest_ts) {
  PSINK_RETURN_IF_ERROR(DetectFormat());
  StmtPtr stmt;
  std::string sql = legacy_ ? "SELECT count(*), min(ts) FROM " + Quoted()
                            : "SELECT coalesce(sum(rows), 0), min(min_ts) FROM " + Quoted();
  if (Prepare(db_, sql.c_str(), &stmt) != SQLITE_OK || sqlite3_step(stmt.get()) != SQLITE_ROW) {
    return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
  }
  *rows = sqlite3_column_int64(stmt.get(), 0) + static_cast<int64_t>(PendingRows());
  if (sqlite3_column_type(stmt.get(), 1) == SQLITE_NULL) oldest_ts->reset();
  else *oldest_ts = sqlite3_column_int64(stmt.get(), 1);
  const std::optional<int64_t> pending_oldest = PendingMinTs();
  if (pending_oldest && (!*oldest_ts || *pending_oldest < **oldest_ts)) *oldest_ts = pending_oldest;
  return Status::Ok();
}

Status Spool::RejectedCount(int64_t* rows) {
  *rows = 0;
  bool exists = false;
  PSINK_RETURN_IF_ERROR(HasRejected(&exists));
  if (!exists) return Status::Ok();
  StmtPtr stmt;
  const std::string sql = "SELECT coalesce(sum(rows), 0) FROM " + QuotedRejected();
  if (Prepare(db_, sql.c_str(), &stmt) != SQLITE_OK || sqlite3_step(stmt.get()) != SQLITE_ROW) {
    return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
  }
  *rows = sqlite3_column_int64(stmt.get(), 0);
  return Status::Ok();
}

Status Spool::ListRejected(std::vector<RejectedSample>* out, std::vector<std::string>* unreadable) {
  out->clear();
  unreadable->clear();
  bool exists = false;
  PSINK_RETURN_IF_ERROR(HasRejected(&exists));
  if (!exists) return Status::Ok();
  StmtPtr stmt;
  const std::string sql = "SELECT id, data, status, message, time FROM " + QuotedRejected() + " ORDER BY id";
  if (Prepare(db_, sql.c_str(), &stmt) != SQLITE_OK) {
    return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
  }
  std::vector<StoredSample> samples;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    sqlite3_stmt* st = stmt.get();
    RejectedSample r;
    r.batch = sqlite3_column_int64(st, 0);
    std::string_view blob(static_cast<const char*>(sqlite3_column_blob(st, 1)),
                          static_cast<size_t>(sqlite3_column_bytes(st, 1)));
    r.status = sqlite3_column_int64(st, 2);
    const unsigned char* msg = sqlite3_column_text(st, 3);
    if (msg != nullptr) r.message = reinterpret_cast<const char*>(msg);
    r.time_ms = sqlite3_column_int64(st, 4);
    Status decoded = DecodeStoredSamples(blob, &samples);
    if (!decoded.ok()) {
      // Listed as one row: the message says what is wrong with it.
      unreadable->push_back("batch " + std::to_string(r.batch) + ": " + decoded.message());
      if (!r.message.empty()) r.message += "; ";
      r.message += "listing it: " + decoded.message();
      r.sample.labels_json.clear();
      out->push_back(std::move(r));
      continue;
    }
    for (StoredSample& sample : samples) {
      RejectedSample each = r;
      each.sample = std::move(sample);
      out->push_back(std::move(each));
    }
  }
  if (rc != SQLITE_DONE) return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
  return Status::Ok();
}

Status Spool::Requeue(int64_t* moved) {
  *moved = 0;
  PSINK_RETURN_IF_ERROR(DetectFormat());
  PSINK_RETURN_IF_ERROR(RejectedCount(moved));
  if (*moved == 0) return Status::Ok();
  if (!legacy_) {
    PSINK_RETURN_IF_ERROR(Exec(db_, "INSERT INTO " + Quoted() + "(rows, min_ts, data) SELECT rows, min_ts, data FROM " +
                                        QuotedRejected() + " ORDER BY id"));
  } else {
    // A 0.1.0 spool holds a row per sample: the rejected batches go back
    // as such.
    std::vector<RejectedSample> rejected;
    std::vector<std::string> unreadable;
    PSINK_RETURN_IF_ERROR(ListRejected(&rejected, &unreadable));
    if (!unreadable.empty()) {
      return Status::Failed("spool of '" + table_ + "': a rejected " + unreadable.front() +
                            "; discard it with prometheus_sink_discard('" + table_ + "')");
    }
    StmtPtr ins;
    const std::string sql = "INSERT INTO " + Quoted() + "(labels, value_bits, ts) VALUES (?1, ?2, ?3)";
    if (Prepare(db_, sql.c_str(), &ins) != SQLITE_OK) {
      return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
    }
    for (const RejectedSample& r : rejected) {
      int64_t bits;
      std::memcpy(&bits, &r.sample.value, sizeof bits);
      sqlite3_bind_text(ins.get(), 1, r.sample.labels_json.data(), static_cast<int>(r.sample.labels_json.size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(ins.get(), 2, bits);
      sqlite3_bind_int64(ins.get(), 3, r.sample.ts);
      const int rc = sqlite3_step(ins.get());
      sqlite3_reset(ins.get());
      if (rc != SQLITE_DONE) return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
    }
  }
  PSINK_RETURN_IF_ERROR(Exec(db_, "DELETE FROM " + QuotedRejected()));
  count_.reset();
  return Status::Ok();
}

Status Spool::Discard(int64_t* deleted) {
  int64_t rows = 0, rejected = 0;
  std::optional<int64_t> oldest;
  PSINK_RETURN_IF_ERROR(Counts(&rows, &oldest));
  PSINK_RETURN_IF_ERROR(RejectedCount(&rejected));
  PSINK_RETURN_IF_ERROR(Exec(db_, "DELETE FROM " + Quoted()));
  if (rejected > 0) PSINK_RETURN_IF_ERROR(Exec(db_, "DELETE FROM " + QuotedRejected()));
  Rollback();
  *deleted = rows + rejected;
  // Not 0: the caller's transaction may still roll the delete back.
  count_.reset();
  return Status::Ok();
}

Status Spool::Drop() {
  int64_t rows = 0;
  std::optional<int64_t> oldest;
  if (Counts(&rows, &oldest).ok() && rows > 0) {
    return Status::Failed("sink '" + table_ + "' still has " + std::to_string(rows) +
                          " spooled rows: send them with prometheus_sink_flush('" + table_ +
                          "') or drop them with prometheus_sink_discard('" + table_ + "') first");
  }
  int64_t rejected = 0;
  if (RejectedCount(&rejected).ok() && rejected > 0) {
    return Status::Failed("sink '" + table_ + "' still has " + std::to_string(rejected) +
                          " rejected rows: see prometheus_sink_rejected('" + table_ +
                          "'), then requeue them with prometheus_sink_requeue('" + table_ +
                          "') or drop them with prometheus_sink_discard('" + table_ + "') first");
  }
  insert_.reset();
  PSINK_RETURN_IF_ERROR(Exec(db_, "DROP TABLE IF EXISTS " + QuotedRejected()));
  return Exec(db_, "DROP TABLE IF EXISTS " + Quoted());
}

Status Spool::OpenConnection(DbPtr* conn) {
  if (file_.empty()) return Status::Failed("spool of '" + table_ + "': the database has no file to drain from");
  sqlite3* opened = nullptr;
  int rc = sqlite3_open_v2(file_.c_str(), &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
  DbPtr db(opened);  // a handle even when opening failed: it holds the message
  if (rc != SQLITE_OK) {
    return Status::Failed("spool of '" + table_ + "': cannot open a second connection: " +
                          (db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  *conn = std::move(db);
  return Status::Ok();
}

Status Spool::DrainWith(sqlite3* conn, Delivery& delivery, bool wait, uint64_t* sent, bool* held) {
  *sent = 0;
  Lock lock;
  PSINK_RETURN_IF_ERROR(lock.Take(*this, wait, held));
  if (!*held) return Status::Ok();
  // The format, as the drain connection sees it (its schema "main" is the
  // sink's schema file).
  bool legacy = false;
  PSINK_RETURN_IF_ERROR(IsLegacy(conn, "main", &legacy));
  // A refused or unreadable batch moves aside and the drain goes on: it
  // never blocks the batches behind it.
  for (;;) {
    Rejection rejection;
    uint64_t pass_sent = 0;
    Status st = DrainPass(conn, delivery, legacy, &pass_sent, &rejection);
    *sent += pass_sent;
    if (rejection.ids.empty()) return st;
    if (!WaitUnlessHeld()) return Status::Failed("spool of '" + table_ + "': the drain was stopped");
    PSINK_RETURN_IF_ERROR(MoveAside(conn, legacy, rejection));
  }
}

Status Spool::MoveAside(sqlite3* conn, bool legacy, const Rejection& rejection) {
  const std::string spool = Mprintf("\"%w\"", (table_ + "_" + kSuffix).c_str()).get();
  const std::string rejected = Mprintf("\"%w\"", (table_ + "_" + kRejectedSuffix).c_str()).get();
  auto failed = [&](const char* what) {
    Status st = Status::Failed("spool of '" + table_ + "': cannot move a refused batch aside (" + what +
                               "): " + sqlite3_errmsg(conn));
    Exec(conn, "ROLLBACK");
    return st;
  };
  PSINK_RETURN_IF_ERROR(Exec(conn, "BEGIN IMMEDIATE"));
  // (A spool written by an earlier version has no such table yet.)
  Status created = Exec(conn, "CREATE TABLE IF NOT EXISTS " + rejected + kRejectedColumns);
  if (!created.ok()) {
    Exec(conn, "ROLLBACK");
    return created;
  }
  StmtPtr read, ins, del;
  const std::string read_sql = legacy ? "SELECT labels, value_bits, ts FROM " + spool + " WHERE id = ?1"
                                      : "SELECT rows, min_ts, data FROM " + spool + " WHERE id = ?1";
  const std::string ins_sql = "INSERT INTO " + rejected + "(rows, min_ts, data, status, message, time) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
  const std::string del_sql = "DELETE FROM " + spool + " WHERE id = ?1";
  if (Prepare(conn, read_sql.c_str(), &read) != SQLITE_OK || Prepare(conn, ins_sql.c_str(), &ins) != SQLITE_OK ||
      Prepare(conn, del_sql.c_str(), &del) != SQLITE_OK) {
    return failed("prepare");
  }
  const std::string message = Shorten(rejection.message, kRejectedMessageBytes);
  const int64_t now = WallMs();
  for (int64_t id : rejection.ids) {
    sqlite3_bind_int64(read.get(), 1, id);
    const int rc = sqlite3_step(read.get());
    if (rc == SQLITE_ROW) {
      sqlite3_stmt* r = read.get();
      std::string blob;
      int64_t rows = 0, min_ts = 0;
      if (legacy) {
        // A 0.1.0 row becomes a batch of one sample (its labels as stored,
        // readable or not).
        SpoolBatch one;
        const unsigned char* labels = sqlite3_column_text(r, 0);
        const int64_t bits = sqlite3_column_int64(r, 1);
        double value;
        std::memcpy(&value, &bits, sizeof value);
        one.Add(labels ? reinterpret_cast<const char*>(labels) : "", value, sqlite3_column_int64(r, 2));
        blob = one.Encode();
        rows = 1;
        min_ts = one.min_ts();
      } else {
        rows = sqlite3_column_int64(r, 0);
        min_ts = sqlite3_column_int64(r, 1);
        blob.assign(static_cast<const char*>(sqlite3_column_blob(r, 2)), static_cast<size_t>(sqlite3_column_bytes(r, 2)));
      }
      sqlite3_bind_int64(ins.get(), 1, rows);
      sqlite3_bind_int64(ins.get(), 2, min_ts);
      sqlite3_bind_blob(ins.get(), 3, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
      sqlite3_bind_int64(ins.get(), 4, rejection.status);
      sqlite3_bind_text(ins.get(), 5, message.data(), static_cast<int>(message.size()), SQLITE_STATIC);
      sqlite3_bind_int64(ins.get(), 6, now);
      const int irc = sqlite3_step(ins.get());
      sqlite3_reset(ins.get());
      if (irc != SQLITE_DONE) {
        sqlite3_reset(read.get());
        return failed("insert");
      }
    }
    sqlite3_reset(read.get());
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return failed("read");
    // (SQLITE_DONE: another connection discarded it meanwhile.)
    sqlite3_bind_int64(del.get(), 1, id);
    const int drc = sqlite3_step(del.get());
    sqlite3_reset(del.get());
    if (drc != SQLITE_DONE) return failed("delete");
  }
  read.reset();
  ins.reset();
  del.reset();
  Status committed = Exec(conn, "COMMIT");
  if (!committed.ok()) Exec(conn, "ROLLBACK");
  return committed;
}

Status Spool::DrainPass(sqlite3* conn, Delivery& delivery, bool legacy, uint64_t* sent, Rejection* rejection) {
  *sent = 0;
  const std::string name = table_ + "_" + kSuffix;

  const std::string table = Mprintf("\"%w\"", name.c_str()).get();
  // Batches (this version) or rows (0.1.0), oldest first. A read takes
  // batches until batch_size rows are gathered.
  // (after the last one read: the ones before may still be on the wire)
  const std::string select =
      legacy ? "SELECT id, labels, value_bits, ts FROM " + table + " WHERE id > ?2 ORDER BY id LIMIT ?1"
             : "SELECT id, rows, data FROM " + table + " WHERE id > ?2 ORDER BY id";
  // 0.1.0 ids can be handed out again: a delete matches the whole row.
  const std::string del = legacy ? "DELETE FROM " + table +
                                       " WHERE id = ?1 AND labels = ?2 AND value_bits = ?3 AND ts = ?4"
                                 : "DELETE FROM " + table + " WHERE id = ?1";
  StmtPtr sel_stmt, dl_stmt;
  if (Prepare(conn, select.c_str(), &sel_stmt) != SQLITE_OK || Prepare(conn, del.c_str(), &dl_stmt) != SQLITE_OK) {
    return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(conn));
  }
  sqlite3_stmt* const sel = sel_stmt.get();
  sqlite3_stmt* const dl = dl_stmt.get();
  const size_t batch_size = static_cast<size_t>(opts_.batch_size);
  Batch rows_read;
  LabelSetBuilder builder;
  std::string labels;  // wire form
  std::vector<std::string> series;
  std::vector<SpoolBatch::Row> rows;
  std::vector<StoredRequest> stored;
  // Stored requests read, and the carrier of their Row::seq (see below).
  std::vector<EncodedRequest> encoded;
  auto carrier = std::make_shared<Batch>();
  size_t read_rows = 0;  // rows gathered for the next send
  // What was read: per id, how many of its rows wait for an acknowledgement,
  // and (0.1.0 rows) the row's content for the delete.
  struct Unit {
    size_t rows = 0;
    std::string labels;
    int64_t bits = 0, ts = 0;
  };
  std::map<int64_t, Unit> units;
  int64_t last_id = INT64_MIN;  // the largest id read
  // Each acknowledged request removes the units it completed, in a
  // transaction of its own.
  Status removed;
  auto on_ack = [&](const std::vector<uint64_t>& seqs) {
    *sent += seqs.size();
    std::vector<int64_t> done;
    for (uint64_t seq : seqs) {
      auto it = units.find(static_cast<int64_t>(seq));
      if (it != units.end() && --it->second.rows == 0) done.push_back(it->first);
    }
    if (done.empty() || !removed.ok()) return;
    if (!WaitUnlessHeld()) {
      removed = Status::Failed("spool of '" + table_ + "': the drain was stopped");
      return;
    }
    removed = Exec(conn, "BEGIN IMMEDIATE");
    for (size_t i = 0; removed.ok() && i < done.size(); ++i) {
      const Unit& u = units[done[i]];
      sqlite3_bind_int64(dl, 1, done[i]);
      if (legacy) {
        sqlite3_bind_text(dl, 2, u.labels.data(), static_cast<int>(u.labels.size()), SQLITE_STATIC);
        sqlite3_bind_int64(dl, 3, u.bits);
        sqlite3_bind_int64(dl, 4, u.ts);
      }
      if (sqlite3_step(dl) != SQLITE_DONE) {
        removed = Status::Failed("spool of '" + table_ + "': cannot remove delivered rows: " + sqlite3_errmsg(conn));
      }
      sqlite3_reset(dl);
    }
    if (removed.ok()) removed = Exec(conn, "COMMIT");
    for (int64_t id : done) units.erase(id);
    // A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open and
    // its locks held: end it, so the rows stay spooled and nothing waits.
    if (!removed.ok()) Exec(conn, "ROLLBACK");
  };
  // Whether the receiver refused a request for good: its batches are then
  // moved aside (*rejection) and the pass ends.
  auto refused = [&] {
    const std::optional<Delivery::Failure>& f = delivery.failure();
    if (!f || !RefusedForGood(f->http_status) || f->seqs.empty()) return false;
    rejection->ids.clear();
    for (uint64_t seq : f->seqs) {
      const int64_t id = static_cast<int64_t>(seq);
      if (std::find(rejection->ids.begin(), rejection->ids.end(), id) == rejection->ids.end()) {
        rejection->ids.push_back(id);
      }
    }
    rejection->status = f->http_status;
    rejection->message = f->status.message();
    return true;
  };
  int64_t damaged = 0;  // the id of a batch (or 0.1.0 row) that cannot be read
  delivery.ResetLedger();
  for (;;) {
    // Rows go into `rows_read`, whose series (and raw-key cache) outlive each
    // batch: a label set is parsed once per drain, not once per batch.
    auto intern = [&](std::string_view json, int64_t id, uint32_t* out) -> Status {
      uint32_t s = rows_read.FindRawKey(json);
      if (s == UINT32_MAX) {
        builder.Reset();
        Status st = builder.AddJson(json, "labels");
        if (st.ok()) st = builder.Finish(&labels);
        if (!st.ok()) {
          return Status::Failed("spool of '" + table_ + "': row " + std::to_string(id) + " is unreadable: " +
                                st.message());
        }
        s = rows_read.Intern(labels);
        rows_read.RememberRawKey(json, s);
      }
      *out = s;
      return Status::Ok();
    };
    if (!WaitUnlessHeld()) return Status::Failed("spool of '" + table_ + "': the drain was stopped");
    if (legacy) sqlite3_bind_int64(sel, 1, static_cast<int64_t>(batch_size));
    sqlite3_bind_int64(sel, 2, last_id);
    int rc;
    Status read;
    while (read.ok() && read_rows < batch_size && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
      const int64_t id = sqlite3_column_int64(sel, 0);
      last_id = id;
      if (legacy) {
        std::string_view json(reinterpret_cast<const char*>(sqlite3_column_text(sel, 1)),
                              static_cast<size_t>(sqlite3_column_bytes(sel, 1)));
        uint32_t s;
        read = intern(json, id, &s);
        if (!read.ok()) {
          damaged = id;
          break;
        }
        const int64_t bits = sqlite3_column_int64(sel, 2);
        double value;
        std::memcpy(&value, &bits, sizeof value);
        const int64_t ts = sqlite3_column_int64(sel, 3);
        rows_read.Append(s, value, ts, static_cast<uint64_t>(id));
        units[id] = Unit{1, std::string(json), bits, ts};
        ++read_rows;
        continue;
      }
      std::string_view blob(static_cast<const char*>(sqlite3_column_blob(sel, 2)),
                            static_cast<size_t>(sqlite3_column_bytes(sel, 2)));
      if (IsStoredRequests(blob)) {
        // A 1.0 sink's requests, encoded already: posted as they are. The
        // carrier's rows only say, per request, which batch its samples are of.
        read = DecodeStoredRequests(blob, &stored);
        if (!read.ok()) {
          read = Status::Failed("spool of '" + table_ + "': batch " + std::to_string(id) + ": " + read.message());
          damaged = id;
          break;
        }
        size_t samples = 0;
        for (const StoredRequest& r : stored) {
          EncodedRequest req;
          req.body.assign(r.body);
          req.protocol = Protocol::kV1;
          for (uint32_t i = 0; i < r.samples; ++i) {
            req.rows.push_back(static_cast<uint32_t>(carrier->size()));
            carrier->Append(0, 0, 0, static_cast<uint64_t>(id));
          }
          samples += r.samples;
          encoded.push_back(std::move(req));
        }
        units[id] = Unit{samples, {}, 0, 0};
        read_rows += samples;
        continue;
      }
      read = SpoolBatch::Decode(blob, &series, &rows);
      if (!read.ok()) {
        read = Status::Failed("spool of '" + table_ + "': batch " + std::to_string(id) + ": " + read.message());
        damaged = id;
        break;
      }
      std::vector<uint32_t> ids(series.size());
      for (size_t i = 0; read.ok() && i < series.size(); ++i) read = intern(series[i], id, &ids[i]);
      if (!read.ok()) {
        damaged = id;
        break;
      }
      for (const SpoolBatch::Row& r : rows) {
        double value;
        std::memcpy(&value, &r.value_bits, sizeof value);
        rows_read.Append(ids[r.series], value, r.ts, static_cast<uint64_t>(id));
      }
      units[id] = Unit{rows.size(), {}, 0, 0};
      read_rows += rows.size();
    }
    sqlite3_reset(sel);
    if (!read.ok() || (rows_read.empty() && encoded.empty())) {
      // The requests still in flight end first (their rows are removed).
      Status waited = delivery.WaitAll();
      if (refused()) return Status::Ok();
      if (!read.ok() && damaged != 0) {
        rejection->ids.assign(1, damaged);
        rejection->status = 0;
        rejection->message = read.message();
        return Status::Ok();
      }
      if (!read.ok()) return read;
      if (waited.ok()) waited = removed;
      return Failure(waited);
    }

    // Handed to the delivery's worker, which encodes and sends it while
    // this thread reads the next batch (Submit waits for the one before).
    // (A spool holds one format: a sink's protocol does not change.)
    Status st;
    if (!rows_read.empty()) {
      Batch batch = rows_read.TakeFront(rows_read.size());
      // Bounded like a sink's series table; the batch in flight keeps its own.
      if (rows_read.series_count() > std::max<size_t>(65536, 2 * batch_size)) rows_read.Clear();
      st = delivery.Submit(0, std::move(batch), batch_size, on_ack);
    }
    if (st.ok() && !encoded.empty()) st = delivery.SubmitEncoded(0, std::move(carrier), std::move(encoded), on_ack);
    carrier = std::make_shared<Batch>();
    encoded.clear();
    read_rows = 0;
    if (st.ok()) st = removed;
    if (!st.ok()) {
      delivery.WaitAll();
      if (removed.ok() && refused()) return Status::Ok();
      return Failure(st);
    }
  }
}

Status Spool::Failure(const Status& st) const {
  if (st.ok()) return st;
  return Status::Failed("sink '" + table_ + "': " + st.message() + "; the rows not acknowledged stay spooled");
}

Status Spool::Drain(Sink& sink, uint64_t* sent) {
  *sent = 0;
  PSINK_RETURN_IF_ERROR(WritePending());
  if (!drain_db_) PSINK_RETURN_IF_ERROR(OpenConnection(&drain_db_));
  bool held = false;
  Status st = DrainWith(drain_db_.get(), sink.delivery(), /*wait=*/true, sent, &held);
  count_.reset();
  return st;
}

void Spool::Kick(bool owner_busy) {
  count_.reset();  // the drain will make it smaller
  if (!bg_) {
    bg_ = std::make_unique<Background>(opts_);
    bg_->kicked = true;
    bg_->hold = owner_busy;
    bg_->thread = std::thread([this] { RunBackground(); });
    return;
  }
  std::lock_guard<std::mutex> lock(bg_->mu);
  bg_->kicked = true;
  bg_->hold = owner_busy;
  bg_->idle = false;
  bg_->cv.notify_all();
}

void Spool::Unhold() {
  if (!bg_) return;
  std::lock_guard<std::mutex> lock(bg_->mu);
  bg_->hold = false;
  bg_->cv.notify_all();
}

bool Spool::WaitUnlessHeld() {
  if (!bg_ || !tls_background_drain) return true;
  std::unique_lock<std::mutex> lock(bg_->mu);
  bg_->cv.wait(lock, [&] { return !bg_->hold || bg_->closing || bg_->cancel.load(); });
  return !bg_->cancel.load();
}

Spool::DrainState Spool::BackgroundState() {
  if (!bg_) return {};
  std::lock_guard<std::mutex> lock(bg_->mu);
  return bg_->state;
}

void Spool::RunBackground() {
  tls_background_drain = true;
  Background& b = *bg_;
  DbPtr conn;
  Status opened = OpenConnection(&conn);
  // The wait after a failed attempt: from retry_backoff_multiplier_ms,
  // doubling, up to retry_backoff_max_ms (at least 100 ms and 1 s).
  const int64_t first_wait = std::max<int64_t>(100, opts_.retry_backoff_multiplier_ms);
  const int64_t max_wait = std::max<int64_t>(1000, opts_.retry_backoff_max_ms);
  int64_t wait_ms = 0;
  std::unique_lock<std::mutex> lock(b.mu);
  for (;;) {
    if (b.cancel) return;
    const bool closing = b.closing;
    b.kicked = false;
    lock.unlock();
    uint64_t sent = 0;
    bool held = false;
    Status st = opened;
    if (st.ok()) {
      try {
        st = DrainWith(conn.get(), b.delivery, /*wait=*/false, &sent, &held);
      } catch (const std::exception& e) {
        st = Status::Failed(std::string("spool of '") + table_ + "': internal error: " + e.what());
      }
    }
    lock.lock();
    b.state.stats = b.delivery.stats();
    if (b.cancel) return;
    std::chrono::milliseconds next{0};
    if (!st.ok()) {
      wait_ms = wait_ms == 0 ? first_wait : std::min(max_wait, wait_ms * 2);
      // As the stats say it for any failed request (a failure that is no
      // request's, e.g. the database's, as it is).
      b.state.last_error = b.delivery.failure() ? b.delivery.stats().last_error : st.message();
      b.state.next_retry_ms = WallMs() + wait_ms;
      b.failing = true;
      next = std::chrono::milliseconds(wait_ms);
    } else if (!held) {
      // Another drainer has the spool; look again soon (it may stop first).
      b.failing = false;
      next = std::chrono::milliseconds(1000);
    } else {
      wait_ms = 0;
      b.failing = false;
      b.state.last_error.clear();
      b.state.next_retry_ms = 0;
      b.idle = !b.kicked;
    }
    b.cv.notify_all();
    if (closing && (b.idle || b.failing)) return;
    if (next.count() > 0) {
      b.cv.wait_for(lock, next, [&] { return b.cancel.load() || b.kicked; });
    } else {
      b.cv.wait(lock, [&] { return b.cancel.load() || b.kicked; });
    }
  }
}

}  // namespace psink
