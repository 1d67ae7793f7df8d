// Spool: the durable queue of a `spool=on` sink — the shadow table
// "<name>_spool" in the sink's own schema. Rows are written into it in the
// user's transaction (so savepoints and rollbacks apply to them as to any
// table), and COMMIT makes them durable. Draining happens only after a
// commit, through a second connection to the same file: it reads the oldest
// rows, sends them, and deletes each acknowledged request's rows in a
// transaction of its own — so a crash can duplicate at most the request in
// flight, and can lose nothing (at-least-once).
//
// Drainers coordinate: several connections and processes may write and
// drain one spool at once, but only one drains at a time. A drain holds an
// exclusive flock(2) on the lock file "<database file>-psink-<name>.lock"
// (the kernel releases it when the process dies, so a killed drainer never
// blocks the next one). Without it two drainers would read and send the same
// rows (whole backlogs twice), and one could delete, by id, rows that the
// other had already deleted and that new rows had since reused the ids of
// (`id INTEGER PRIMARY KEY` hands out the ids of deleted rows again): those
// new rows were lost. As a second line, a delete matches the row's whole
// content, not only its id, so it can only ever remove a sample that was
// delivered.
//
// Glue: includes sqlite3ext.h.
#pragma once

#include <sqlite3ext.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "decode.h"
#include "status.h"

namespace psink {

class Sink;

class Spool {
 public:
  // `db` and `schema` are the sink's connection and schema name; `table` the
  // sink's name. The caller keeps `db` alive while the Spool lives.
  Spool(sqlite3* db, std::string schema, std::string table, int64_t max_rows);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // The shadow table's name suffix, for xShadowName.
  static constexpr const char* kSuffix = "spool";

  // Creates the shadow table when it does not exist (xCreate).
  Status Create();
  // Adds one row on the sink's connection, inside the user's transaction.
  // Refuses when spool_max_rows rows wait already.
  Status Append(std::string_view labels_json, double value, int64_t ts);
  // Forgets the cached row count (after a rollback).
  void Invalidate() { count_.reset(); }
  // Sends the spooled rows, oldest first, batch_size at a time, until the
  // spool is empty or a request fails. Must not run inside an open
  // transaction of the sink's connection. When another connection or
  // process is draining this spool, `wait` says whether to wait for it
  // (up to kLockWaitMs; then it fails) or to return at once with *sent = 0
  // (its drain takes the rows).
  Status Drain(Sink& sink, uint64_t* sent, bool wait);
  static constexpr int kLockWaitMs = 30000;
  // Deletes every spooled row (in the caller's transaction); returns how many.
  Status Discard(int64_t* deleted);
  // Rows waiting and the oldest timestamp among them.
  Status Counts(int64_t* rows, std::optional<int64_t>* oldest_ts);
  // Drops the shadow table (xDestroy); refuses while rows wait.
  Status Drop();

 private:
  std::string Quoted() const;  // "schema"."table_spool"
  Status Exec(sqlite3* db, const std::string& sql);
  Status OpenDrainConnection();
  // Takes the drain lock (see the top of this file); *held is false when
  // another drainer has it and `wait` is false.
  Status LockDrain(bool wait, bool* held);
  void UnlockDrain();

  sqlite3* db_;
  std::string schema_, table_;
  int64_t max_rows_;
  std::optional<int64_t> count_;  // rows in the spool as this connection sees them
  sqlite3_stmt* insert_ = nullptr;
  sqlite3* drain_db_ = nullptr;  // opened on first drain
  int lock_fd_ = -1;             // the drain lock file, open while it is held
};

}  // namespace psink
