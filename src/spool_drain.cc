// The spool's drain (see spool.h, "Draining" and "Drainers coordinate"):
// the drain lock, the background drain thread, and the passes that read
// stored units, send them, acknowledge them and move refused or unreadable
// ones aside. The writer side (Append, the shadow tables) is spool.cc.
//
// Glue: includes sqlite3ext.h.
#include "spool.h"
SQLITE_EXTENSION_INIT3

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
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


void Spool::StopBackground() {
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
}

void Spool::BackgroundDeleter::operator()(Background* b) const { delete b; }


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

// One pass of the drain over the spool, oldest unit first, in four named
// steps: Read gathers the next batch_size samples from stored units (each
// format through its reader, spool_format.h), Send hands them to the
// Delivery (which posts them while the next Read runs), Acknowledge removes
// the units whose samples were all acknowledged (in a transaction of their
// own), and a refusal or an unreadable unit ends the pass with the units to
// Reject (Spool::Reject moves them aside; DrainWith starts the next pass).
class Spool::Pass {
 public:
  Pass(Spool& spool, sqlite3* conn, Delivery& delivery, bool legacy)
      : spool_(spool), conn_(conn), delivery_(delivery), legacy_(legacy),
        batch_size_(static_cast<size_t>(spool.opts_.batch_size)), lanes_(delivery.shard_count()) {}

  // Until the spool is empty or a request fails; or until the receiver
  // refuses a request for good or a unit cannot be read: *rejection then
  // names the units, and the result is OK.
  Status Run(uint64_t* sent, Rejection* rejection) {
    sent_ = sent;
    *sent = 0;
    PSINK_RETURN_IF_ERROR(Prepare());
    delivery_.ResetLedger();
    for (;;) {
      if (!spool_.WaitUnlessHeld()) return Status::Failed("spool of '" + spool_.table_ + "': the drain was stopped");
      if (read_ahead_ >= ReadAheadBound()) {
        Status st = CatchUp();
        if (!st.ok()) {
          delivery_.WaitAll();
          if (removed_.ok() && Refused(rejection)) return Status::Ok();
          return spool_.Failure(st);
        }
      }
      Status read = Read();
      if (!read.ok() || in_.empty()) {
        // The end of the backlog: what the lanes hold goes, short or not
        // (unless a unit cannot be read: the pass ends without it).
        Status sent_rest = read.ok() ? SendLanes(/*all=*/true) : Status::Ok();
        // The requests still in flight end first (their units are removed).
        Status waited = delivery_.WaitAll();
        if (waited.ok()) waited = sent_rest;
        if (Refused(rejection)) return Status::Ok();
        if (!read.ok() && damaged_ != 0) {
          rejection->ids.assign(1, damaged_);
          rejection->status = 0;
          rejection->message = read.message();
          return Status::Ok();
        }
        if (!read.ok()) return read;
        if (waited.ok()) waited = removed_;
        return spool_.Failure(waited);
      }
      Status st = Send();
      if (st.ok()) st = removed_;
      if (!st.ok()) {
        delivery_.WaitAll();
        if (removed_.ok() && Refused(rejection)) return Status::Ok();
        return spool_.Failure(st);
      }
    }
  }

 private:
  // What was read of a unit: how many of its samples wait for an
  // acknowledgement, and (0.1.0 rows) the row's content for the delete.
  struct Unit {
    size_t rows = 0;
    size_t total = 0;  // its samples, acknowledged or not
    std::string labels;
    int64_t bits = 0, ts = 0;
  };

  Status Prepare() {
    const std::string table = Mprintf("\"%w\"", (spool_.table_ + "_" + kSuffix).c_str()).get();
    // Batches (this version) or rows (0.1.0), after the last one read (the
    // ones before may still be on the wire).
    const std::string select =
        legacy_ ? "SELECT id, labels, value_bits, ts FROM " + table + " WHERE id > ?2 ORDER BY id LIMIT ?1"
                : "SELECT id, rows, data FROM " + table + " WHERE id > ?2 ORDER BY id";
    // 0.1.0 ids can be handed out again: a delete matches the whole row.
    const std::string del = legacy_ ? "DELETE FROM " + table +
                                          " WHERE id = ?1 AND labels = ?2 AND value_bits = ?3 AND ts = ?4"
                                    : "DELETE FROM " + table + " WHERE id = ?1";
    if (psink::Prepare(conn_, select.c_str(), &select_) != SQLITE_OK ||
        psink::Prepare(conn_, del.c_str(), &delete_) != SQLITE_OK) {
      return Status::Failed("spool of '" + spool_.table_ + "': " + sqlite3_errmsg(conn_));
    }
    return Status::Ok();
  }

  // Read: whole units after the last one read, until batch_size samples
  // are gathered in in_ (or none is left). A unit that cannot be read ends
  // the read with its failure (damaged_ names it).
  Status Read() {
    sqlite3_stmt* const sel = select_.get();
    if (legacy_) sqlite3_bind_int64(sel, 1, static_cast<int64_t>(batch_size_));
    sqlite3_bind_int64(sel, 2, last_id_);
    Status read;
    int rc = SQLITE_DONE;
    while (in_.samples < batch_size_ && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
      StoredUnit unit;
      unit.id = sqlite3_column_int64(sel, 0);
      last_id_ = unit.id;
      const StoredFormatReader* reader;
      if (legacy_) {
        unit.labels = std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(sel, 1)),
                                       static_cast<size_t>(sqlite3_column_bytes(sel, 1)));
        unit.value_bits = static_cast<uint64_t>(sqlite3_column_int64(sel, 2));
        unit.ts = sqlite3_column_int64(sel, 3);
        reader = &LegacyRowReader();
      } else {
        unit.data = std::string_view(static_cast<const char*>(sqlite3_column_blob(sel, 2)),
                                     static_cast<size_t>(sqlite3_column_bytes(sel, 2)));
        reader = &ReaderOf(unit.data);
      }
      size_t samples = 0;
      Status st = reader->Read(unit, &in_, &samples);
      if (!st.ok()) {
        damaged_ = unit.id;
        read = Status::Failed("spool of '" + spool_.table_ + "': " + st.message());
        break;
      }
      Unit& u = units_[unit.id];
      u.rows = samples;
      u.total = samples;
      read_ahead_ += samples;
      if (legacy_) {
        u.labels.assign(unit.labels);
        u.bits = static_cast<int64_t>(unit.value_bits);
        u.ts = unit.ts;
      }
      in_.samples += samples;
    }
    if (read.ok() && rc != SQLITE_ROW && rc != SQLITE_DONE) {
      read = Status::Failed("spool of '" + spool_.table_ + "': cannot read it: " + sqlite3_errmsg(conn_));
    }
    sqlite3_reset(sel);
    return read;
  }

  // Send: the rows Read gathered join the lane of their series' shard (the
  // plain path's hash of the labels, Delivery::ShardOf); a lane with
  // batch_size rows goes to its shard's worker, which encodes and posts it
  // while this thread reads on. The shards post concurrently (up to
  // max_in_flight requests), each in order, and a series is always in the
  // same shard: never in two requests at once, its samples in spool order.
  // Requests are full however the rows were written (a hundred small
  // batches make one request); the last ones of the backlog go short.
  Status Send() {
    std::vector<Row> rows = in_.rows.TakeRows();
    for (const Row& r : rows) lanes_[ShardOf(r.series)].push_back(r);
    in_.samples = 0;
    Status st = SendLanes(/*all=*/false);
    // Stored 1.0 requests (written by an earlier version) are posted as they
    // are, after everything before them was answered and alone: a request
    // may hold any series.
    if (st.ok() && !in_.encoded.empty()) st = SendLanes(/*all=*/true);
    if (st.ok() && !in_.encoded.empty()) st = delivery_.WaitAll();
    if (st.ok() && !in_.encoded.empty()) {
      st = delivery_.SubmitEncoded(0, std::move(in_.carrier), std::move(in_.encoded), Ack());
      if (st.ok()) st = delivery_.WaitAll();
    }
    in_.carrier = std::make_shared<Batch>();
    in_.encoded.clear();
    // The series table is bounded like a sink's: past the bound, the lanes
    // go now, short or not, and it starts afresh.
    if (st.ok() && in_.rows.series_count() > SeriesBound()) st = SendLanes(/*all=*/true);
    return st;
  }

  size_t SeriesBound() const { return std::max<size_t>(65536, 2 * batch_size_); }

  // A unit leaves the spool only once every one of its samples is
  // acknowledged, and its rows go to every shard: a lane keeps some of them
  // until it holds a full request (a shard with few series fills slowly).
  // Unbounded, the units read and not yet removed would grow with the
  // backlog, and a crash would send all their acknowledged samples again.
  // So the samples of units read and not yet removed stay under this bound
  // (plus one Read: a batch and a unit): what a crash or kill can send
  // again is at most 4 x max_in_flight x batch_size samples (the requests
  // in flight and queued, and the rest of their units, waiting in lanes).
  size_t ReadAheadBound() const { return (4 * lanes_.size() - 2) * batch_size_; }

  // Past the bound: the requests on the wire are answered first (they
  // complete units); if that is not enough, every lane goes, full or not,
  // and the drain reads on once half of what was read ahead is removed.
  Status CatchUp() {
    Status st;
    while (st.ok() && removed_.ok() && read_ahead_ >= ReadAheadBound() && delivery_.Busy()) {
      st = delivery_.WaitAny();
    }
    if (st.ok() && removed_.ok() && read_ahead_ >= ReadAheadBound()) {
      st = SendLanes(/*all=*/true);
      while (st.ok() && removed_.ok() && read_ahead_ > ReadAheadBound() / 2 && delivery_.Busy()) {
        st = delivery_.WaitAny();
      }
    }
    return st.ok() ? removed_ : st;
  }

  // Hands each lane's full requests (all: every row) to its shard; once
  // every lane is sent, a series table past its bound is cleared.
  Status SendLanes(bool all) {
    for (size_t k = 0; k < lanes_.size(); ++k) {
      std::vector<Row>& lane = lanes_[k];
      while (lane.size() >= batch_size_ || (all && !lane.empty())) {
        const size_t n = std::min(lane.size(), batch_size_);
        std::vector<Row> head(lane.begin(), lane.begin() + static_cast<std::ptrdiff_t>(n));
        lane.erase(lane.begin(), lane.begin() + static_cast<std::ptrdiff_t>(n));
        PSINK_RETURN_IF_ERROR(delivery_.Submit(k, in_.rows.SnapshotOf(std::move(head)), batch_size_, Ack()));
      }
    }
    // Histograms and exemplars of rows sent moved to their snapshots: their
    // slots go once they outnumber the rows waiting (as a sink's lanes do).
    size_t waiting = 0;
    for (const auto& lane : lanes_) waiting += lane.size();
    if (in_.rows.extras_count() > 2 * waiting + 1024) in_.rows.DropExtrasExcept(&lanes_);
    if (all && in_.rows.series_count() > SeriesBound()) {
      in_.rows.Clear();
      shard_of_.clear();
    }
    return Status::Ok();
  }

  // The shard of series `s` of in_.rows, hashed once per series.
  size_t ShardOf(uint32_t s) {
    if (s >= shard_of_.size()) shard_of_.resize(in_.rows.series_count(), UINT32_MAX);
    if (shard_of_[s] == UINT32_MAX) shard_of_[s] = static_cast<uint32_t>(delivery_.ShardOf(in_.rows.encoded_labels(s)));
    return shard_of_[s];
  }

  Delivery::OnAck Ack() {
    return [this](const std::vector<uint64_t>& seqs) { Acknowledge(seqs); };
  }

  // Acknowledge: the units whose every sample is acknowledged now leave the
  // spool, in a transaction of their own (on the drain's thread, when the
  // delivery collects the request's outcome).
  void Acknowledge(const std::vector<uint64_t>& seqs) {
    *sent_ += seqs.size();
    std::vector<int64_t> done;
    for (uint64_t seq : seqs) {
      auto it = units_.find(static_cast<int64_t>(seq));
      if (it != units_.end() && --it->second.rows == 0) done.push_back(it->first);
    }
    if (done.empty() || !removed_.ok()) return;
    if (!spool_.WaitUnlessHeld()) {
      removed_ = Status::Failed("spool of '" + spool_.table_ + "': the drain was stopped");
      return;
    }
    sqlite3_stmt* const dl = delete_.get();
    removed_ = spool_.Exec(conn_, "BEGIN IMMEDIATE");
    for (size_t i = 0; removed_.ok() && i < done.size(); ++i) {
      const Unit& u = units_[done[i]];
      sqlite3_bind_int64(dl, 1, done[i]);
      if (legacy_) {
        sqlite3_bind_text(dl, 2, u.labels.data(), static_cast<int>(u.labels.size()), SQLITE_STATIC);
        sqlite3_bind_int64(dl, 3, u.bits);
        sqlite3_bind_int64(dl, 4, u.ts);
      }
      if (sqlite3_step(dl) != SQLITE_DONE) {
        removed_ = Status::Failed("spool of '" + spool_.table_ + "': cannot remove delivered rows: " +
                                  sqlite3_errmsg(conn_));
      }
      sqlite3_reset(dl);
    }
    if (removed_.ok()) removed_ = spool_.Exec(conn_, "COMMIT");
    for (int64_t id : done) {
      read_ahead_ -= units_[id].total;
      units_.erase(id);
    }
    // A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open and
    // its locks held: end it, so the rows stay spooled and nothing waits.
    if (!removed_.ok()) spool_.Exec(conn_, "ROLLBACK");
  }

  // Whether the receiver refused a request for good: *rejection then names
  // the units of its samples, to move aside.
  bool Refused(Rejection* rejection) const {
    const std::optional<Delivery::Failure>& f = delivery_.failure();
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
  }

  Spool& spool_;
  sqlite3* const conn_;
  Delivery& delivery_;
  const bool legacy_;
  const size_t batch_size_;
  StmtPtr select_, delete_;
  DrainInput in_;
  std::vector<std::vector<Row>> lanes_;  // per shard: rows read, not yet sent
  std::vector<uint32_t> shard_of_;        // per series of in_.rows (UINT32_MAX: not hashed yet)
  std::map<int64_t, Unit> units_;  // units read and not yet acknowledged
  size_t read_ahead_ = 0;          // the samples of units_
  int64_t last_id_ = INT64_MIN;    // the largest id read
  int64_t damaged_ = 0;            // a unit that cannot be read
  Status removed_;                 // the first failure of Acknowledge
  uint64_t* sent_ = nullptr;
};

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
    Pass pass(*this, conn, delivery, legacy);
    Status st = pass.Run(&pass_sent, &rejection);
    *sent += pass_sent;
    if (rejection.ids.empty()) return st;
    if (!WaitUnlessHeld()) return Status::Failed("spool of '" + table_ + "': the drain was stopped");
    PSINK_RETURN_IF_ERROR(Reject(conn, legacy, rejection));
  }
}

Status Spool::Reject(sqlite3* conn, bool legacy, const Rejection& rejection) {
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
    bg_.reset(new Background(opts_));
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
