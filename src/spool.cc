#include "spool.h"
SQLITE_EXTENSION_INIT3

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "batch.h"
#include "sink.h"
#include "text.h"

namespace psink {

namespace {

std::string QuoteIdent(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Finalizes a statement when it goes out of scope.
struct StmtGuard {
  sqlite3_stmt* stmt = nullptr;
  ~StmtGuard() { sqlite3_finalize(stmt); }
};

}  // namespace

Spool::Spool(sqlite3* db, std::string schema, std::string table, int64_t max_rows)
    : db_(db), schema_(std::move(schema)), table_(std::move(table)), max_rows_(max_rows) {}

Spool::~Spool() {
  UnlockDrain();
  sqlite3_finalize(insert_);
  if (drain_db_ != nullptr) sqlite3_close_v2(drain_db_);
}

std::string Spool::Quoted() const { return QuoteIdent(schema_) + "." + QuoteIdent(table_ + "_" + kSuffix); }

Status Spool::Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string msg = "spool of '" + table_ + "': " + (err ? err : sqlite3_errstr(rc));
  sqlite3_free(err);
  return Status::Failed(msg);
}

Status Spool::Create() {
  // value holds the bits of the double: exact, NaN and the stale marker included.
  return Exec(db_, "CREATE TABLE IF NOT EXISTS " + Quoted() +
                       "(id INTEGER PRIMARY KEY, labels TEXT NOT NULL, value_bits INTEGER NOT NULL, "
                       "ts INTEGER NOT NULL)");
}

Status Spool::Append(std::string_view labels_json, double value, int64_t ts) {
  if (!count_) {
    int64_t rows = 0;
    std::optional<int64_t> oldest;
    PSINK_RETURN_IF_ERROR(Counts(&rows, &oldest));
    count_ = rows;
  }
  if (*count_ >= max_rows_) {
    return Status::Failed("sink '" + table_ + "': the spool is full: it holds " + std::to_string(*count_) +
                          " rows (spool_max_rows=" + std::to_string(max_rows_) +
                          "); see last_error in prometheus_sink_stats, then flush or discard");
  }
  if (insert_ == nullptr) {
    std::string sql = "INSERT INTO " + Quoted() + "(labels, value_bits, ts) VALUES (?1, ?2, ?3)";
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &insert_, nullptr) != SQLITE_OK) {
      return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
    }
  }
  int64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  sqlite3_bind_text(insert_, 1, labels_json.data(), static_cast<int>(labels_json.size()), SQLITE_STATIC);
  sqlite3_bind_int64(insert_, 2, bits);
  sqlite3_bind_int64(insert_, 3, ts);
  int rc = sqlite3_step(insert_);
  sqlite3_reset(insert_);
  sqlite3_clear_bindings(insert_);
  if (rc != SQLITE_DONE) return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
  ++*count_;
  return Status::Ok();
}

Status Spool::Counts(int64_t* rows, std::optional<int64_t>* oldest_ts) {
  StmtGuard g;
  std::string sql = "SELECT count(*), min(ts) FROM " + Quoted();
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &g.stmt, nullptr) != SQLITE_OK || sqlite3_step(g.stmt) != SQLITE_ROW) {
    return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(db_));
  }
  *rows = sqlite3_column_int64(g.stmt, 0);
  if (sqlite3_column_type(g.stmt, 1) == SQLITE_NULL) oldest_ts->reset();
  else *oldest_ts = sqlite3_column_int64(g.stmt, 1);
  return Status::Ok();
}

Status Spool::Discard(int64_t* deleted) {
  PSINK_RETURN_IF_ERROR(Exec(db_, "DELETE FROM " + Quoted()));
  *deleted = sqlite3_changes64(db_);
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
  sqlite3_finalize(insert_);
  insert_ = nullptr;
  return Exec(db_, "DROP TABLE IF EXISTS " + Quoted());
}

Status Spool::OpenDrainConnection() {
  if (drain_db_ != nullptr) return Status::Ok();
  const char* file = sqlite3_db_filename(db_, schema_.c_str());
  if (file == nullptr || *file == '\0') {
    return Status::Failed("spool of '" + table_ + "': the database has no file to drain from");
  }
  int rc = sqlite3_open_v2(file, &drain_db_, SQLITE_OPEN_READWRITE, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "spool of '" + table_ + "': cannot open a second connection: " +
                      (drain_db_ ? sqlite3_errmsg(drain_db_) : sqlite3_errstr(rc));
    sqlite3_close_v2(drain_db_);
    drain_db_ = nullptr;
    return Status::Failed(msg);
  }
  sqlite3_busy_timeout(drain_db_, 2000);
  return Status::Ok();
}

Status Spool::LockDrain(bool wait, bool* held) {
  *held = false;
  if (lock_fd_ < 0) {
    const char* file = sqlite3_db_filename(db_, schema_.c_str());
    if (file == nullptr || *file == '\0') {
      return Status::Failed("spool of '" + table_ + "': the database has no file to drain from");
    }
    // The table name as a file-name part: letters, digits and '_' as they
    // are, anything else as %XX.
    std::string path = std::string(file) + "-psink-";
    for (unsigned char c : table_) {
      if (std::isalnum(c) || c == '_') {
        path += static_cast<char>(c);
      } else {
        static const char* hex = "0123456789ABCDEF";
        path += '%';
        path += hex[c >> 4];
        path += hex[c & 15];
      }
    }
    path += ".lock";
    lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) {
      return Status::Failed("spool of '" + table_ + "': cannot open the drain lock file " + path + ": " +
                            std::strerror(errno));
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kLockWaitMs);
  for (;;) {
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) {
      *held = true;
      return Status::Ok();
    }
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return Status::Failed("spool of '" + table_ + "': cannot lock the drain lock file: " + std::strerror(errno));
    }
    if (!wait) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Failed("spool of '" + table_ + "': another connection or process has been draining it for " +
                            std::to_string(kLockWaitMs / 1000) + " s; try again later");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Spool::UnlockDrain() {
  if (lock_fd_ < 0) return;
  ::close(lock_fd_);  // releases the flock
  lock_fd_ = -1;
}

Status Spool::Drain(Sink& sink, uint64_t* sent, bool wait) {
  *sent = 0;
  PSINK_RETURN_IF_ERROR(OpenDrainConnection());
  bool held = false;
  PSINK_RETURN_IF_ERROR(LockDrain(wait, &held));
  if (!held) return Status::Ok();
  struct Unlock {
    Spool* s;
    ~Unlock() { s->UnlockDrain(); }
  } unlock{this};
  // The drain connection's schema "main" is the sink's schema file.
  std::string table = QuoteIdent(table_ + "_" + kSuffix);
  std::string select = "SELECT id, labels, value_bits, ts FROM " + table + " ORDER BY id LIMIT ?1";
  // The whole row, not only its id: see the top of spool.h.
  std::string del = "DELETE FROM " + table + " WHERE id = ?1 AND labels = ?2 AND value_bits = ?3 AND ts = ?4";
  StmtGuard sel, dl;
  if (sqlite3_prepare_v2(drain_db_, select.c_str(), -1, &sel.stmt, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(drain_db_, del.c_str(), -1, &dl.stmt, nullptr) != SQLITE_OK) {
    return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(drain_db_));
  }
  Batch batch;
  LabelSetBuilder builder;
  LabelSet labels;
  std::vector<int64_t> ids;        // the ids of the rows read, ascending
  std::vector<std::string> keys;  // the labels text of each, by position in ids
  std::vector<int64_t> bits_of;   // its value_bits
  std::vector<int64_t> ts_of;     // its ts
  // Deletes the rows of one acknowledged request, in a transaction of its own.
  auto remove = [&](const std::vector<uint64_t>& seqs) -> Status {
    PSINK_RETURN_IF_ERROR(Exec(drain_db_, "BEGIN IMMEDIATE"));
    for (uint64_t seq : seqs) {
      const size_t i = static_cast<size_t>(
          std::lower_bound(ids.begin(), ids.end(), static_cast<int64_t>(seq)) - ids.begin());
      sqlite3_bind_int64(dl.stmt, 1, ids[i]);
      sqlite3_bind_text(dl.stmt, 2, keys[i].data(), static_cast<int>(keys[i].size()), SQLITE_STATIC);
      sqlite3_bind_int64(dl.stmt, 3, bits_of[i]);
      sqlite3_bind_int64(dl.stmt, 4, ts_of[i]);
      int drc = sqlite3_step(dl.stmt);
      sqlite3_reset(dl.stmt);
      if (drc != SQLITE_DONE) {
        std::string msg = sqlite3_errmsg(drain_db_);
        Exec(drain_db_, "ROLLBACK");
        return Status::Failed("spool of '" + table_ + "': cannot remove delivered rows: " + msg);
      }
    }
    Status committed = Exec(drain_db_, "COMMIT");
    // A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open and
    // its locks held: end it, so the rows stay spooled and nothing waits.
    if (!committed.ok()) Exec(drain_db_, "ROLLBACK");
    return committed;
  };
  for (;;) {
    batch.Clear();
    ids.clear();
    ts_of.clear();
    keys.clear();
    bits_of.clear();
    sqlite3_bind_int64(sel.stmt, 1, sink.options().batch_size);
    int rc;
    while ((rc = sqlite3_step(sel.stmt)) == SQLITE_ROW) {
      int64_t id = sqlite3_column_int64(sel.stmt, 0);
      std::string_view json(reinterpret_cast<const char*>(sqlite3_column_text(sel.stmt, 1)),
                            static_cast<size_t>(sqlite3_column_bytes(sel.stmt, 1)));
      uint32_t series = batch.FindRawKey(json);
      if (series == UINT32_MAX) {
        builder.Reset();
        Status st = builder.AddJson(json, "labels");
        if (st.ok()) st = builder.Finish(&labels);
        if (!st.ok()) {
          sqlite3_reset(sel.stmt);
          return Status::Failed("spool of '" + table_ + "': row " + std::to_string(id) + " is unreadable: " +
                                st.message());
        }
        series = batch.Intern(labels);
        batch.RememberRawKey(json, series);
      }
      int64_t bits = sqlite3_column_int64(sel.stmt, 2);
      double value;
      std::memcpy(&value, &bits, sizeof value);
      batch.Append(series, value, sqlite3_column_int64(sel.stmt, 3), static_cast<uint64_t>(id));
      ids.push_back(id);
      ts_of.push_back(sqlite3_column_int64(sel.stmt, 3));
      keys.emplace_back(json);
      bits_of.push_back(bits);
    }
    sqlite3_reset(sel.stmt);
    if (rc != SQLITE_DONE) return Status::Failed("spool of '" + table_ + "': " + sqlite3_errmsg(drain_db_));
    if (batch.empty()) {
      count_.reset();
      return Status::Ok();
    }
    // Each acknowledged request's rows leave the spool in a transaction of
    // their own.
    uint64_t n = 0;
    Status removed;
    Status st = sink.SendNow(std::move(batch), [&](const std::vector<uint64_t>& seqs) {
      if (removed.ok()) removed = remove(seqs);
    }, &n);
    if (st.ok()) st = removed;
    batch = Batch();
    *sent += n;
    count_.reset();
    if (!st.ok()) return st;
  }
}

}  // namespace psink
