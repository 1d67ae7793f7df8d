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

#include "exemplar.h"
#include "histogram.h"
#include "sink.h"
#include "text.h"

namespace psink {


Spool::~Spool() {
  StopBackground();
}

Spool::Spool(sqlite3* db, std::string schema, std::string table, const SinkOptions& opts)
    : db_(db), schema_(std::move(schema)), table_(std::move(table)), opts_(opts), max_rows_(opts.spool_max_rows) {
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
  return pending_.size();
}

std::optional<int64_t> Spool::PendingMinTs() const {
  std::optional<int64_t> m;
  auto take = [&](int64_t v) { if (!m || v < *m) m = v; };
  if (!pending_.empty()) take(pending_.min_ts());
  return m;
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

Status Spool::Append(std::string_view labels_json, double value, int64_t ts, int64_t start_ts,
                     const RowExtra* extra) {
  const bool rich = start_ts != 0 || (extra != nullptr && !extra->empty());
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
    if (rich) {
      return Status::Failed("sink '" + table_ + "': its spool was written by version 0.1.0, whose format holds no "
                            "histograms, exemplars or start timestamps; drain it, then drop and create the sink again");
    }
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
  // Both protocols store rows (a SpoolBatch): the drain groups them into
  // full requests per shard and encodes them on the shards' workers, and a
  // 2.0 sink that falls back to 1.0 sends the same rows again as 1.0.
  if (!rich) {
    pending_.Add(labels_json, value, ts);
  } else {
    // Stored as their canonical JSON, which reads back to the same values.
    const std::string histogram = extra && extra->histogram ? HistogramToJson(*extra->histogram) : std::string();
    const std::string exemplar = extra && extra->exemplar ? ExemplarToJson(*extra->exemplar) : std::string();
    pending_.Add(labels_json, value, ts, start_ts, histogram, exemplar);
  }
  if (pending_.size() >= batch_size) return WritePending();
  return Status::Ok();
}

Status Spool::WritePending() {
  if (pending_.empty()) return Status::Ok();
  PSINK_RETURN_IF_ERROR(InsertRow(static_cast<int64_t>(pending_.size()), pending_.min_ts(), pending_.Encode()));
  pending_.Clear();
  return Status::Ok();
}

void Spool::Rollback() {
  pending_.Clear();
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

}  // namespace psink
