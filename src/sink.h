// Sink: one prometheus_sink table's state — its options, the rows buffered
// in the current transaction, the transport, and counters. Knows nothing of
// SQLite: the glue (vtab.cc) maps callbacks onto these methods.
//
// Transaction contract:
//   Insert()   decodes a row (no state change when it is refused), buffers it,
//              and sends the buffer when batch_size rows wait or the oldest
//              row is older than flush_interval. Sending is pipelined: a full
//              batch leaves the buffer as a snapshot for the sender thread,
//              which encodes and posts it; the insert waits only for the
//              batch before it.
//   Flush()    sends everything buffered and waits for every request
//              (COMMIT's xSync, the flush function).
//   A request that fails (after its retries) fails the transaction: the
//   insert, flush or COMMIT that sees it, and every one after it, return
//   the error until Rollback().
//   Savepoint/RollbackTo/Release follow SQLite's savepoint numbering;
//   Rollback() discards what was not sent. Rows already sent stay sent.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "batch.h"
#include "decode.h"
#include "decode_extra.h"
#include "encoder.h"
#include "encoder_v2.h"
#include "options.h"
#include "status.h"
#include "sender.h"

namespace psink {

struct SinkStats {
  uint64_t samples_sent = 0;  // acknowledged by a 2xx (float and histogram samples)
  uint64_t histograms_sent = 0;  // the histogram samples among them
  uint64_t exemplars_sent = 0;   // exemplars acknowledged by a 2xx
  uint64_t requests = 0;      // HTTP attempts, retries included
  uint64_t bytes_sent = 0;    // compressed bodies of all attempts
  uint64_t retries = 0;       // attempts beyond the first
  uint64_t failures = 0;      // sends that failed after all retries
  // Samples a remote-write 2.0 receiver said it did not write (its
  // X-Prometheus-Remote-Write-Samples-Written, or -Histograms-Written for
  // histogram samples, was lower than sent); the same for exemplars
  // (X-Prometheus-Remote-Write-Exemplars-Written).
  uint64_t samples_not_written = 0;
  uint64_t exemplars_not_written = 0;
  bool fell_back = false;     // protocol='2.0' was refused: the sink speaks 1.0
  long last_status = 0;
  std::string last_error;
};

class Sink {
 public:
  Sink(std::string name, SinkOptions opts);

  const std::string& name() const { return name_; }
  const SinkOptions& options() const { return opts_; }
  const Batch& batch() const { return batch_; }
  const SinkStats& stats() const { return stats_; }
  // The protocol spoken now: protocol='2.0' until a receiver refuses it.
  Protocol protocol() const { return protocol_; }
  // Number of columns a row has: label columns, then labels, value, timestamp
  // (and the start timestamp when key_start_timestamp is set), then the
  // hidden histogram and exemplar columns.
  size_t column_count() const { return opts_.label_columns.size() + 5 + (opts_.key_start_timestamp.empty() ? 0 : 1); }

  // Decodes and buffers one row of column_count() cells. A row that cannot
  // be decoded leaves the sink unchanged (kInvalid/kMismatch). A failed send
  // (kFailed) keeps the rows buffered. `now_ms` is the wall clock: the
  // timestamp of a row without one, and the clock of flush_interval.
  Status Insert(const Cell* cells, int64_t now_ms);

  // The shortcut of Insert() for the common row, whose inputs the caller
  // read without Cells: `raw_key` is its label inputs (written into
  // raw_key(), or the JSON text alone when the sink has no label columns,
  // as Insert() keys them), `value` its REAL or INTEGER value, `ts` its
  // INTEGER timestamp. Returns false, having changed nothing, when the
  // label inputs were not seen since the series were last cleared, or the
  // row needs more than this (timestamp_unit other than ms,
  // key_start_timestamp, a doomed transaction): the caller then calls
  // Insert(). Otherwise the row is buffered as by Insert(), whose result is
  // in *st.
  bool InsertKnown(std::string_view raw_key, double value, int64_t ts, int64_t now_ms, Status* st);
  RawKey& raw_key() { return rawkey_; }

  // Sends every buffered row, batch_size rows per request at most.
  // `sent` (optional) receives the number of samples delivered by this call.
  Status Flush(uint64_t* sent = nullptr);

  // Spooled sinks: decodes a row without buffering it. `*labels_json` is the
  // canonical JSON of its label set, valid until the next call.
  Status DecodeRow(const Cell* cells, int64_t now_ms, const std::string** labels_json, double* value, int64_t* ts);

  // Sends rows of `batch` now — batch_size rows per request at most — and
  // waits for each request; used to drain a spool, outside any transaction.
  // After each acknowledged request, `on_ack` gets the batch indices of its
  // rows; its failure stops the send. `sent` receives the samples acknowledged.
  Status SendNow(const Batch& batch, const std::function<Status(const std::vector<uint32_t>&)>& on_ack,
                 uint64_t* sent);

  // Records an error that no statement can report (e.g. a spool drain
  // after COMMIT): it shows in the stats' last_error.
  void NoteError(const std::string& msg) { stats_.last_error = msg; }

  void Begin();
  void Commit();    // after a successful Flush
  void Rollback();  // discards unsent rows
  void Savepoint(int n);
  void Release(int n);
  void RollbackTo(int n);

 private:
  // Decodes a row: its series (interned in batch_), value and timestamp.
  // Changes nothing visible when the row is refused.
  // Its histogram and exemplar go in extra_.
  Status Decode(const Cell* cells, int64_t now_ms, uint32_t* series, double* value, int64_t* ts,
                int64_t* start_ts);
  // Buffers a decoded row (it is accepted) and sends what is due; `extra`
  // (may be nullptr) is moved into the batch.
  Status Accept(uint32_t series, double value, int64_t ts, int64_t start_ts, int64_t now_ms, RowExtra* extra = nullptr);
  // Decodes the label inputs of a row into labels_.
  Status DecodeLabels(const Cell* cells);
  // Adds a finished request's outcome to the stats; false when it failed.
  bool Account(const Sender::Outcome& out);
  // Encodes the first `n` buffered rows and hands them to the sender; they
  // leave the buffer. Returns the failure of an earlier request, if any.
  Status Send(size_t n);
  // Waits for the request in flight on sender `k` and accounts for it.
  Status Collect(size_t k);
  // Collect() for every sender; the first failure wins.
  Status CollectAll();
  // Send() while the protocol is not yet confirmed (see Probe).
  Status SendProbing(size_t n);
  // Clears the series table when it grew too large and no rows wait.
  void BoundSeries();
  // Sends rows [0, n) over several senders (max_in_flight > 1).
  Status SendSharded(size_t n);
  // Encodes rows [begin, end) of `batch` in the sink's current protocol.
  Status Encode(const Batch& batch, size_t begin, size_t end, std::vector<EncodedRequest>* out) const;
  // Posts requests[0] and waits, when the sink speaks 2.0 and no receiver
  // has confirmed it yet (NeedsProbe). If the receiver does not understand
  // 2.0, the sink falls back to 1.0 for good and re-encodes rows [begin,
  // end) into `requests` (*encode_status says how that went), leaving
  // *first empty; otherwise requests[0] is removed and its outcome is in
  // *first.
  bool NeedsProbe() const { return protocol_ == Protocol::kV2 && !protocol_confirmed_; }
  void Probe(const Batch& batch, size_t begin, size_t end, std::vector<EncodedRequest>* requests,
             std::optional<Sender::Outcome>* first, Status* encode_status);
  // Records a failed request: the transaction is doomed.
  Status Doom(const Sender::Outcome& out);
  // The error that dooms the transaction, as repeated after its first report.
  Status Doomed() const;
  // The message of a failed request: the cause, a hint where one helps,
  // and what the transaction delivered and did not.
  std::string DeliveryError(const Status& cause, int64_t min_ts, bool in_transaction = true) const;

  std::string name_;
  SinkOptions opts_;
  // One sender per request in flight (max_in_flight); series are sharded
  // across them by a hash of their labels, so each series stays in order.
  std::vector<std::unique_ptr<Sender>> senders_;
  Protocol protocol_;          // opts_.protocol until a fallback
  bool protocol_confirmed_ = false;
  Batch batch_;
  LabelSetBuilder builder_;
  LabelSet labels_;
  RawKey rawkey_;  // scratch: the raw label inputs of a row
  RowExtra extra_;  // scratch: the histogram and exemplar of a row
  std::string row_json_;  // spooled sinks: the canonical JSON of the last row
  std::vector<std::string> column_sources_;  // "column 'host'", for messages
  std::string label_column_source_;          // "column 'labels'"
  std::vector<EncodedRequest> requests_;     // reused between sends
  SinkStats stats_;

  // Rows are numbered by arrival (Row::seq); savepoints remember the number.
  uint64_t arrived_ = 0;
  uint64_t delivered_in_txn_ = 0;
  uint64_t not_sent_ = 0;  // samples of failed or abandoned requests
  // A failed request dooms the transaction: kept until ROLLBACK.
  Status failed_;
  std::string failed_detail_;  // failed_'s message without the sink name
  std::map<int, uint64_t> savepoints_;  // savepoint number -> rows arrived then
  int64_t oldest_ms_ = 0;              // wall clock when the oldest buffered row arrived
};

}  // namespace psink
