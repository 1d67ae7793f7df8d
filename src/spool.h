// Spool: the durable queue of a `spool=on` sink — the shadow table
// "<name>_spool" in the sink's own schema — and its background drain.
//
// Writing. Accepted rows gather in memory (a SpoolBatch) and are written to
// the shadow table as one row per batch_size samples, in the user's own
// transaction: when batch_size rows wait, and before every savepoint and at
// COMMIT (xSavepoint, xSync: so SQLite's savepoints and rollbacks apply to
// the written batches as to any table, and the rows still in memory always
// belong to the innermost savepoint, which is why a ROLLBACK TO drops them).
// COMMIT makes them durable; it never waits for the network.
//
// Draining. Spooled rows are sent only after their transaction committed,
// never from xSync. After each COMMIT the sink wakes its background drain: a
// thread with its own connection to the file that reads the oldest batches,
// sends them (through a Delivery of its own) and deletes each acknowledged
// batch in a transaction of its own; while the receiver is down or hung it
// retries with backoff, without any statement being run. It starts only
// once this connection inserted into or flushed the sink — opening or
// reading a database never sends anything. prometheus_sink_flush drains
// synchronously on the calling thread instead. Closing the connection waits
// up to spool_close_wait_ms for the drain, then stops it (cancelling a
// request in flight); what is left waits for the next process.
//
// Drainers coordinate: several connections and processes may write and
// drain one spool at once, but only one drains at a time. A drain holds an
// exclusive flock(2) on the lock file "<database file>-psink-<name>.lock"
// (the kernel releases it when the process dies, so a killed drainer never
// blocks the next one). A crash or kill can therefore resend only the
// request in flight; nothing committed is lost (at-least-once). Without the
// lock, two drainers read and sent the same rows, and one deleted by id
// rows that new ones had reused the ids of: they were lost.
//
// Formats. A spool created by this version holds batches (id INTEGER
// PRIMARY KEY AUTOINCREMENT, rows, min_ts, data: spool_format.h). One
// written by 0.1.0 holds a row per sample (id, labels, value_bits, ts); it
// keeps that format and drains as before, a delete matching the whole row.
//
// Glue: includes sqlite3ext.h.
#pragma once

#include <sqlite3ext.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "batch.h"
#include "delivery.h"
#include "options.h"
#include "spool_format.h"
#include "sqlite_handles.h"
#include "status.h"

namespace psink {

class Sink;

class Spool {
 public:
  // `db` and `schema` are the sink's connection and schema name; `table` the
  // sink's name. The caller keeps `db` alive while the Spool lives.
  Spool(sqlite3* db, std::string schema, std::string table, const SinkOptions& opts);
  ~Spool();  // waits up to spool_close_wait_ms for the background drain, then stops it
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // The shadow tables' name suffixes, for xShadowName: the spool, and the
  // rows the receiver refused (see "Rejected rows" below).
  static constexpr const char* kSuffix = "spool";
  static constexpr const char* kRejectedSuffix = "rejected";
  // The columns of "<name>_rejected": a spool batch as stored, and why the
  // receiver refused it (status 0: it could not be read), when (wall
  // clock, ms).
  static constexpr const char* kRejectedColumns =
      "(id INTEGER PRIMARY KEY AUTOINCREMENT, rows INTEGER NOT NULL, min_ts INTEGER NOT NULL, data BLOB NOT NULL, "
      "status INTEGER NOT NULL, message TEXT NOT NULL, time INTEGER NOT NULL)";

  // Creates the shadow table when it does not exist (xCreate).
  Status Create();
  // Accepts one row, inside the user's transaction. Refuses when
  // spool_max_rows rows wait already.
  // `start_ts` (0: none) and `extra` (a histogram, an exemplar; may be
  // null) are stored with it.
  Status Append(std::string_view labels_json, double value, int64_t ts, int64_t start_ts = 0,
                const RowExtra* extra = nullptr);
  // Writes the rows held in memory to the shadow table (xSync, xSavepoint).
  Status WritePending();
  // Drops the rows held in memory (xRollback, xRollbackTo) and forgets the
  // cached row count.
  void Rollback();
  // After COMMIT: wakes the background drain, starting it on first use.
  // `owner_busy`: another statement of the sink's connection is still
  // running (a loop that inserts for each row of an open SELECT). The drain
  // then keeps off the database until a later Kick() finds the connection
  // idle (or a flush, or close): a write of the drain connection would make
  // the open read transaction's next write fail (SQLITE_BUSY_SNAPSHOT in WAL
  // mode), or wait for its SHARED lock (rollback journal).
  void Kick(bool owner_busy = false);
  // The sink's connection is idle (a flush): a background drain kept off the
  // database may go on. Starts nothing.
  void Unhold();
  // Sends the spooled rows now on this thread through `sink`, oldest first,
  // until the spool is empty or a request fails; waits (up to kLockWaitMs)
  // for another drainer first. Not inside a transaction of the sink's
  // connection.
  Status Drain(Sink& sink, uint64_t* sent);
  static constexpr int kLockWaitMs = 30000;
  // The busy timeout of the drain connections, and of a sink's connection
  // that had none when it first wrote to a spooled sink.
  static constexpr int kBusyTimeoutMs = 5000;
  // Deletes every spooled and rejected row (in the caller's transaction);
  // returns how many.
  Status Discard(int64_t* deleted);
  // Rejected rows: samples in "<name>_rejected" (0 when there is none).
  Status RejectedCount(int64_t* rows);
  // One rejected sample, decoded, with why it was refused.
  struct RejectedSample {
    StoredSample sample;
    int64_t status = 0;   // the receiver's HTTP status, 0: the batch could not be read
    std::string message;  // the receiver's answer (shortened), or why the batch is unreadable
    int64_t time_ms = 0;  // wall clock when it was moved aside
    int64_t batch = 0;    // its id in "<name>_rejected"
  };
  // Every rejected sample, oldest first. A rejected batch that cannot be
  // decoded is listed as one row with NULL labels and its message.
  Status ListRejected(std::vector<RejectedSample>* out, std::vector<std::string>* unreadable);
  // Moves the rejected rows back into the spool (in the caller's
  // transaction, at its end: they go after what waits already); returns
  // how many samples moved.
  Status Requeue(int64_t* moved);
  // Rows waiting (in the table and in memory) and the oldest timestamp.
  Status Counts(int64_t* rows, std::optional<int64_t>* oldest_ts);
  // Drops the shadow tables (xDestroy); refuses while rows wait or rejected
  // rows are kept.
  Status Drop();

  // What the background drain did, for prometheus_sink_stats.
  struct DrainState {
    SinkStats stats;           // of its own requests
    std::string last_error;    // of its last attempt, "" after a success
    int64_t next_retry_ms = 0; // wall clock of its next attempt after a failure, 0: none
  };
  DrainState BackgroundState();

 private:
  class Lock;
  class Pass;
  struct Background;
  struct BackgroundDeleter {  // (Background is the drain's: spool_drain.cc)
    void operator()(Background* b) const;
  };
  // Stops the background drain (waiting up to spool_close_wait_ms for it).
  void StopBackground();
  // The format of the shadow table, read once: batches, or 0.1.0's rows.
  Status DetectFormat();
  // Whether the shadow table in `schema` of `conn` has 0.1.0's format.
  Status IsLegacy(sqlite3* conn, const std::string& schema, bool* legacy) const;
  std::string Quoted() const;  // "schema"."table_spool"
  Status Exec(sqlite3* db, const std::string& sql);
  // Opens a second connection to the sink's database file into *conn.
  Status OpenConnection(DbPtr* conn);
  // One drain, on connection `conn` through `delivery`, until the spool is
  // empty or a request fails: reads batches (up to batch_size rows at a
  // time) while the one before is on the wire, and removes each
  // acknowledged request's batches. *held is false when another drainer has
  // the lock and `wait` is false.
  Status DrainWith(sqlite3* conn, Delivery& delivery, bool wait, uint64_t* sent, bool* held);
  // Stored batches to move aside, and why.
  struct Rejection {
    std::vector<int64_t> ids;
    long status = 0;       // HTTP status; 0: a batch that cannot be read
    std::string message;
  };
  // The drain's last step: moves the units of `rejection` from the spool
  // to "<name>_rejected", in one transaction of `conn` (the drain's).
  Status Reject(sqlite3* conn, bool legacy, const Rejection& rejection);
  std::string QuotedRejected() const;  // "schema"."table_rejected"
  // Whether "<name>_rejected" exists in the sink's schema (db_).
  Status HasRejected(bool* exists);
  // A failed drain's message.
  Status Failure(const Status& st) const;
  void RunBackground();
  size_t PendingRows() const;
  std::optional<int64_t> PendingMinTs() const;
  Status InsertRow(int64_t rows, int64_t min_ts, const std::string& blob);
  // On the background drain's thread: waits while Kick() asked it to keep
  // off the database; false when it is being stopped. Elsewhere: true.
  bool WaitUnlessHeld();

  sqlite3* db_;
  std::string schema_, table_;
  std::string file_;       // the database file ("" for none)
  std::string lock_path_;  // the drain lock file
  SinkOptions opts_;
  int64_t max_rows_;
  bool legacy_ = false;               // a 0.1.0 spool: a row per sample
  bool format_known_ = false;
  bool busy_timeout_checked_ = false;
  std::optional<int64_t> count_;      // rows in the table as this connection sees them
  // Accepted, not yet written: rows of either protocol (see Append).
  SpoolBatch pending_;
  StmtPtr insert_;                    // the INSERT of a batch (or of a 0.1.0 row), on db_
  DbPtr drain_db_;                    // flush's connection, opened on first use
  std::unique_ptr<Background, BackgroundDeleter> bg_;  // started by the first Kick()
};

}  // namespace psink
