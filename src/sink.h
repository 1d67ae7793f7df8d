// Sink: one prometheus_sink table's state — its options, the rows buffered
// in the current transaction, the transport, and counters. Knows nothing of
// SQLite: the glue (vtab.cc) maps callbacks onto these methods.
//
// Transaction contract:
//   Insert()   decodes a row (no state change when it is refused), buffers it,
//              and sends the buffer when batch_size rows wait or the oldest
//              row is older than flush_interval. Sending is pipelined: a full
//              batch leaves the buffer as a snapshot for Delivery's worker,
//              which encodes and posts it. With one shard (max_in_flight=1)
//              the buffer is one queue and the insert waits only for the
//              batch before it. With several, each row counts towards its
//              series' shard; a shard with batch_size rows waiting sends
//              them as soon as it has no request in flight, and the insert
//              waits only when shards x batch_size rows wait (every shard
//              with a full batch has a request in flight).
//   Flush()    sends everything buffered and waits for every request
//              (COMMIT's xSync, the flush function).
//   A request that fails (after its retries) fails the transaction: the
//   insert, flush or COMMIT that sees it, and every one after it, return
//   the error until Rollback().
//   Savepoint/RollbackTo/Release follow SQLite's savepoint numbering;
//   Rollback() discards what was not sent. Rows already sent stay sent.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "batch.h"
#include "decode.h"
#include "decode_extra.h"
#include "encoder.h"
#include "encoder.h"
#include "options.h"
#include "status.h"
#include "delivery.h"

namespace psink {

class Sink {
 public:
  // The bytes of series (labels and lookup tables) a sink keeps between
  // batches at most; see BoundSeries().
  static constexpr size_t kSeriesBytes = 16 << 20;
  // The series a sink keeps between batches at most (or two batches' worth,
  // when more). Small enough that the series index (8 bytes a slot, at most
  // half full) stays mostly in the CPU's second-level cache: a first-seen
  // series is one probe into it.
  static constexpr size_t kKeepSeries = 16384;

  // The clock the default max_in_flight reads to tell whether the network
  // is the limit (see auto_shard_); unit tests pass one that stands still.
  using Clock = std::chrono::steady_clock::time_point (*)();

  // `posters` makes the Poster of each shard (default: libcurl); `clock`
  // defaults to std::chrono::steady_clock::now.
  Sink(std::string name, SinkOptions opts, PosterFactory posters = nullptr, Clock clock = nullptr);

  const std::string& name() const { return name_; }
  const SinkOptions& options() const { return opts_; }
  // The series table (and, with one shard, the buffered rows).
  const Batch& batch() const { return batch_; }
  // Rows buffered and not yet sent, and the i-th of them in arrival order
  // (with several shards, a view over their lanes made when asked).
  size_t buffered() const { return sharded_ ? lane_rows_ : batch_.size(); }
  const Row& buffered_row(size_t i) const;
  const SinkStats& stats() const { return delivery_->stats(); }
  // The protocol spoken now: protocol='2.0' until a receiver refuses it.
  Protocol protocol() const { return delivery_->protocol(); }
  // Waits on the network end early when `check` says the statement was
  // interrupted (see Delivery).
  void SetInterruptCheck(std::function<bool()> check) { delivery_->SetInterruptCheck(std::move(check)); }
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
  // Whether rows skip the raw-key cache now (nearly every row a new series):
  // InsertKnown() and KnownSpooled() would only miss.
  bool bypassing_raw_keys() const { return bypass_raw_keys_; }
  // InsertKnown() for a spooled sink, which buffers nothing: the label JSON
  // and labels of a row whose label inputs were seen before (and that needs
  // no more than InsertKnown handles); false, having changed nothing,
  // otherwise (the caller then calls DecodeRow()).
  bool KnownSpooled(std::string_view raw_key, const std::string** labels_json, LabelsView* labels);

  // Sends every buffered row, batch_size rows per request at most.
  // `sent` (optional) receives the number of samples delivered by this call.
  Status Flush(uint64_t* sent = nullptr);

  // Spooled sinks: decodes a row without buffering it. `*labels_json` is the
  // canonical JSON of its label set, valid until the next call.
  // `*start_ts` (0: none) and `*extra` (its histogram and exemplar, valid
  // until the next call) complete the row.
  Status DecodeRow(const Cell* cells, int64_t now_ms, const std::string** labels_json, LabelsView* labels,
                   double* value, int64_t* ts, int64_t* start_ts, const RowExtra** extra);

  // The sink's delivery, for a spool's flush (outside any transaction).
  Delivery& delivery() { return *delivery_; }


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
  // The series of a raw key (see InsertKnown), or UINT32_MAX (remembered
  // in miss_key_).
  uint32_t FindKnown(std::string_view raw_key);
  // Refuses labels_ (text_bytes of names and values, `count` labels) when one
  // sample with them cannot fit in a request.
  Status CheckLabelBytes(size_t text_bytes, size_t count) const;
  // Decodes the label inputs of a row into labels_ (their wire form).
  Status DecodeLabels(const Cell* cells);
  // Hands the first `n` buffered rows to shard 0 (one queue). With the
  // automatic default and `may_shard`, it measures whether the network is
  // the limit and, once it is, turns to shards (ShardNow) instead.
  Status Send(size_t n, bool may_shard = false);
  // Turns a one-queue sink into a sharded one, once nothing is in flight:
  // the buffered rows move to their shards' lanes.
  Status ShardNow();
  // Several shards: hands full batches to idle shards, and waits while
  // shards x batch_size rows are buffered.
  Status DispatchFull();
  // Hands up to `n` buffered rows of shard k to it.
  Status SendShard(size_t k, size_t n);
  // The shard of a buffered series (cached per series).
  size_t ShardOfSeries(uint32_t series);
  // Recounts the shards with a full batch (after a rollback to a savepoint).
  void RecountShards();
  // Empties every lane.
  void ClearLanes();
  // Clears the series table when it grew too large and no rows wait.
  void BoundSeries();
  // Passes on the outcome of a Delivery call; a failure dooms the
  // transaction (Doom) and is returned as the transaction's error.
  Status DoomIfFailed(Status st);
  // Records a failed request: the transaction is doomed.
  Status Doom(const Status& cause);
  // Sets the transaction's error (failed_, failed_detail_) from the
  // delivery's failure (or `cause` when the delivery recorded none) and what
  // it counts now; called again to recount once every request is answered.
  void RecordFailure(const Status& cause);
  // The error that dooms the transaction, as repeated after its first report.
  Status Doomed() const;
  // The message of a failed request: the cause, a hint where one helps,
  // and what the transaction delivered and did not.
  std::string DeliveryError(const Status& cause, int64_t min_ts, bool in_transaction = true) const;

  std::string name_;
  SinkOptions opts_;
  std::unique_ptr<Delivery> delivery_;
  // Several shards: each buffered series' shard (0xff: not yet known), the
  // rows buffered per shard (its lane, in arrival order; their series and
  // extras are batch_'s), and how many lanes hold batch_size rows. A full
  // lane leaves as it is: no scan of the other shards' rows.
  bool sharded_ = false;
  // max_in_flight not given: one queue while the SQL thread is the limit;
  // shards once a send waited for the ones before it more than twice as
  // long as filling its batch took (and 5 ms), twice in a row: a receiver
  // across a network. One way: a sink stays sharded.
  bool auto_shard_ = false;
  int slow_sends_ = 0;
  Clock clock_;
  std::chrono::steady_clock::time_point last_send_{};
  std::vector<uint8_t> shard_of_;
  std::vector<std::vector<Row>> lanes_;
  size_t lane_rows_ = 0;
  size_t full_ = 0;
  mutable std::vector<const Row*> view_;  // buffered_row()'s order, made when asked
  mutable bool view_stale_ = true;
  uint64_t seen_finished_ = 0;  // Delivery::finished() when last dispatched
  Batch batch_;
  LabelSetBuilder builder_;
  std::string labels_;  // scratch: the wire form of a row's labels
  RawKey rawkey_;  // scratch: the raw label inputs of a row
  // The raw key that FindKnown() last missed, and its hash: the row then
  // takes Decode(), which need not look it up again. Cleared by Decode().
  std::string_view miss_key_;
  uint64_t miss_hash_ = 0;
  // Whether rows skip the raw-key cache: set when more than 90% of a window
  // of kKeyWindow rows missed it (every row a new series), cleared when
  // more than 10% of a window's rows, decoded, found their series known.
  // key_rows_ / key_misses_ count the current window (while bypassing,
  // key_misses_ counts the rows whose series was known).
  static constexpr uint32_t kKeyWindow = 4096;
  bool bypass_raw_keys_ = false;
  uint32_t key_rows_ = 0, key_misses_ = 0;
  void CountRawKey(bool hit);
  void CountBypassed(bool repeated);
  RowExtra extra_;  // scratch: the histogram and exemplar of a row
  // Spooled sinks: the canonical JSON of each series, made on first use.
  std::vector<std::string> series_json_;
  std::vector<std::string> column_sources_;  // "column 'host'", for messages
  // The labels a row without JSON labels can have, in name order: label
  // column `column`, or (column < 0) the fixed `value` of `metric` or an
  // external label. Empty when names repeat or a fixed value is not valid
  // UTF-8: such sinks take the general path for every row.
  struct FixedLabel {
    std::string_view name;
    int column;
    std::string_view value;
  };
  std::vector<FixedLabel> fixed_labels_;
  std::deque<std::string> fixed_names_;  // the escaped names fixed_labels_ views (a deque keeps them in place)
  int name_label_ = -1;  // the index of __name__ in fixed_labels_, or -1
  std::vector<std::string_view> wide_values_;        // scratch of WideLabels, per fixed label
  std::vector<std::array<char, 24>> wide_digits_;  // the text of its INTEGER labels
  // The wide-row shortcut of DecodeLabels: writes labels_ straight from the
  // cells (labels in fixed_labels_' order need no sort); false, having
  // decided nothing, when the general path must (a REAL or BLOB label, a
  // value that is not UTF-8, no __name__), which writes the message.
  bool WideLabels(const Cell* cells, size_t* text_bytes, size_t* count);
  std::string label_column_source_;          // "column 'labels'"

  // Rows are numbered by arrival (Row::seq); savepoints remember the number.
  uint64_t arrived_ = 0;
  // A failed request dooms the transaction: kept until ROLLBACK.
  Status failed_;
  std::string failed_detail_;  // failed_'s message without the sink name
  std::map<int, uint64_t> savepoints_;  // savepoint number -> rows arrived then
  int64_t oldest_ms_ = 0;              // wall clock when the oldest buffered row arrived
};

}  // namespace psink
