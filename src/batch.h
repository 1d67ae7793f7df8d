// Batch: the rows a sink holds until they are sent, in insertion order, with
// each distinct label set interned once as a series: its labels' wire form
// (labels.h), copied once into an arena of fixed blocks and shared, never
// moved or changed, with the snapshots that worker threads encode. Rows can
// be truncated (statement and savepoint rollback) and removed once delivered.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "decode.h"
#include "labels.h"
#include "exemplar.h"
#include "histogram.h"
#include "keytable.h"

namespace psink {

// What a row may carry besides its value: a native histogram (a histogram
// row has no value) and an exemplar. Few rows have one, so rows refer to
// theirs by an index (Row::extra) into the batch's list.
struct RowExtra {
  std::optional<Histogram> histogram;
  std::optional<Exemplar> exemplar;
  bool empty() const { return !histogram && !exemplar; }
};

struct Row {
  static constexpr uint32_t kNoExtra = UINT32_MAX;
  uint32_t series;
  uint32_t extra;  // index of the row's RowExtra in its batch, or kNoExtra
  int64_t ts;
  double value;
  uint64_t seq;  // arrival number in the transaction, for savepoint rollback
  int64_t start_ts;  // remote-write 2.0 Sample.start_timestamp, 0 when none
};

// The raw label inputs of one row as a key for Batch::FindRawKey: each
// input in column order as a type tag (Cell::Type), then a 4-byte length and
// the bytes (TEXT) or 8 bytes (INTEGER); NULL is the tag alone. Rows whose
// inputs are equal write equal keys. Reusable: Reset() keeps the buffer.
class RawKey {
 public:
  void Reset() { used_ = 0; }
  void Text(std::string_view s) {
    const uint32_t len = static_cast<uint32_t>(s.size());
    char* w = Reserve(1 + sizeof len + len);
    *w = static_cast<char>(Cell::Type::kText);
    std::memcpy(w + 1, &len, sizeof len);
    CopyBytes(w + 1 + sizeof len, s.data(), len);
    used_ += 1 + sizeof len + len;
  }
  void Integer(int64_t i) {
    char* w = Reserve(1 + sizeof i);
    *w = static_cast<char>(Cell::Type::kInteger);
    std::memcpy(w + 1, &i, sizeof i);
    used_ += 1 + sizeof i;
  }
  void Null() {
    *Reserve(1) = static_cast<char>(Cell::Type::kNull);
    ++used_;
  }
  std::string_view view() const { return std::string_view(buf_.data(), used_); }

 private:
  char* Reserve(size_t n) {
    if (buf_.size() - used_ < n) buf_.resize(std::max(2 * buf_.size(), used_ + n + 64));
    return buf_.data() + used_;
  }
  std::string buf_;
  size_t used_ = 0;
};

class Batch {
 public:
  // Returns the id of the series whose labels have this wire form (as
  // LabelSetBuilder::Finish writes it), adding it when new.
  uint32_t Intern(std::string_view wire) { return Intern(wire, HashBytes(wire)); }
  // The same with HashBytes(wire).
  uint32_t Intern(std::string_view wire, uint64_t hash);
  // Starts fetching the series index's slot for labels with this hash into
  // the CPU's caches (for an Intern() a little later).
  void PrefetchSeries(uint64_t hash) const { index_.Prefetch(hash); }
  // The same for a label set (sorted, names unique, values non-empty).
  uint32_t Intern(const LabelSet& labels) { return Intern(EncodeLabels(labels)); }
  // Rows must be appended in increasing `seq`.
  void Append(uint32_t series, double value, int64_t ts, uint64_t seq = 0, int64_t start_ts = 0) {
    rows_.push_back(Row{series, Row::kNoExtra, ts, value, seq, start_ts});
  }
  // The same for a row with a histogram and/or an exemplar (moved in).
  void Append(uint32_t series, double value, int64_t ts, uint64_t seq, int64_t start_ts, RowExtra&& extra);
  // The row's histogram and exemplar, nullptr when it has none.
  const Histogram* histogram(const Row& r) const {
    return r.extra == Row::kNoExtra || !extras_[r.extra].histogram ? nullptr : &*extras_[r.extra].histogram;
  }
  const Exemplar* exemplar(const Row& r) const {
    return r.extra == Row::kNoExtra || !extras_[r.extra].exemplar ? nullptr : &*extras_[r.extra].exemplar;
  }
  // Whether some row added since the extras were last emptied has a
  // histogram (the encoders then keep float and histogram rows apart).
  bool has_histograms() const { return has_histograms_; }
  // Whether some row has a histogram or an exemplar.
  bool has_extras() const { return !extras_.empty(); }

  size_t size() const { return rows_.size(); }
  size_t series_count() const { return series_.size(); }
  bool empty() const { return rows_.empty(); }
  const Row& row(size_t i) const { return rows_[i]; }
  LabelsView labels(uint32_t series) const { return LabelsView(series_[series]); }
  // The series' labels as protobuf `Label` entries (TimeSeries field 1),
  // written once when the series is interned.
  std::string_view encoded_labels(uint32_t series) const { return series_[series]; }
  // Bytes the series and their lookup tables need (not the rows): what a
  // caller bounds by Clear(), which keeps the tables' memory for reuse.
  size_t series_bytes() const {
    return arena_bytes_ + index_.bytes() + raw_keys_.bytes() + series_.size() * sizeof(std::string_view);
  }

  // A cache from the raw label inputs of a row (label-column values and the
  // JSON text, as a RawKey — or the JSON text alone when it is the only
  // input) to the series they decoded to, so that repeated label sets skip
  // decoding. Cleared with the series. Returns UINT32_MAX when the key is
  // unknown.
  uint32_t FindRawKey(std::string_view key) const { return raw_keys_.Find(key); }
  void RememberRawKey(std::string_view key, uint32_t series);
  // The same with the key's HashBytes(); RememberNewRawKey() only after
  // FindRawKey() missed for this key and hash.
  uint32_t FindRawKey(std::string_view key, uint64_t hash) const { return raw_keys_.Find(key, hash); }
  void RememberNewRawKey(std::string_view key, uint64_t hash, uint32_t series);

  // Keeps the first `n` rows.
  void Truncate(size_t n);
  // Removes the first `n` rows (handed to delivery), keeping the series.
  void EraseFront(size_t n);
  // Moves the first `n` rows into a batch of their own, which holds only
  // their series (renumbered densely, by first appearance) and no lookup
  // tables: a snapshot another thread can encode while this batch goes on.
  // Series are immutable and shared, so clearing this batch later leaves
  // the snapshot intact. Keeps the series here, like EraseFront().
  Batch TakeFront(size_t n);
  // Rows kept outside the batch (a sink's shards) but of its series and
  // extras: AddExtra() stores a row's extra (its index goes in Row::extra),
  // SnapshotOf() makes a snapshot of such rows as TakeFront() does (their
  // extras move to it), and DropExtrasExcept() drops the extras that none of
  // `lanes`' rows refers to, renumbering theirs.
  uint32_t AddExtra(RowExtra&& extra) {
    has_histograms_ |= extra.histogram.has_value();
    extras_.push_back(std::move(extra));
    return static_cast<uint32_t>(extras_.size() - 1);
  }
  Batch SnapshotOf(std::vector<Row> rows) { return Snapshot(std::move(rows)); }
  // Moves every row out (their series and extras stay): a sink's lanes take them.
  std::vector<Row> TakeRows() {
    std::vector<Row> out;
    out.swap(rows_);
    return out;
  }
  size_t extras_count() const { return extras_.size(); }
  void DropExtrasExcept(std::vector<std::vector<Row>>* lanes);
  // Removes the rows whose seq is `seq` or later.
  void TruncateFromSeq(uint64_t seq);
  // Removes every row and series.
  void Clear();

 private:
  // The labels of the series interned since the last Clear(), in blocks
  // that are never moved or changed once written. Snapshots hold the
  // generation, so one reference count per batch — not one per series,
  // whose counters would bounce between the SQL and worker threads' caches —
  // keeps their series alive after a Clear().
  struct Generation {
    std::vector<std::unique_ptr<char[]>> blocks;
  };
  static constexpr size_t kBlockBytes = 64 * 1024;
  // Copies `wire` into the current generation's blocks.
  std::string_view Store(std::string_view wire);
  // A batch of `rows` (of this batch's series) holding only their series.
  Batch Snapshot(std::vector<Row> rows);
  // Drops the extras no row refers to (after rows left the batch).
  void CompactExtras();
  // Keeps only the extras that the rows of `lists` refer to, renumbering them.
  void KeepExtrasOf(const std::vector<std::vector<Row>*>& lists);

  std::vector<Row> rows_;
  std::vector<RowExtra> extras_;  // in row order; see Row::extra
  bool has_histograms_ = false;
  std::shared_ptr<Generation> gen_;     // created by the first Intern()
  char* block_ = nullptr;               // the free part of gen_'s last block
  size_t block_free_ = 0;
  size_t arena_bytes_ = 0;              // bytes of gen_'s blocks
  std::vector<std::string_view> series_;  // id -> labels, in gen_ (or a snapshot's gen_)
  std::vector<uint32_t> remap_;  // scratch of TakeFront(): series id -> snapshot id
  HashSlots<uint32_t> index_;    // hash of a series' labels -> series id
  KeyTable raw_keys_;  // raw row key -> series (see FindRawKey)
};

}  // namespace psink
