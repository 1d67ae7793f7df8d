#include "batch.h"

#include <cstddef>


namespace psink {

uint32_t Batch::Intern(std::string_view wire, uint64_t hash) {
  // The wire form is canonical and length-prefixed: equal label sets, and
  // only they, have equal bytes.
  const uint32_t* found = index_.Find(hash, [&](uint32_t id) {
    return series_[id].size() == wire.size() && EqualBytes(series_[id].data(), wire.data(), wire.size());
  });
  if (found != nullptr) return *found;
  const uint32_t id = static_cast<uint32_t>(series_.size());
  series_.push_back(Store(wire));
  index_.Add(hash, id);
  return id;
}

std::string_view Batch::Store(std::string_view wire) {
  if (!gen_) gen_ = std::make_shared<Generation>();
  if (wire.size() > block_free_) {
    // A new block; the rest of the last one stays unused (at most one
    // series' bytes a block: series are small next to a block).
    const size_t size = std::max(kBlockBytes, wire.size());
    gen_->blocks.push_back(std::make_unique_for_overwrite<char[]>(size));
    block_ = gen_->blocks.back().get();
    block_free_ = size;
    arena_bytes_ += size;
  }
  CopyBytes(block_, wire.data(), wire.size());
  std::string_view stored(block_, wire.size());
  block_ += wire.size();
  block_free_ -= wire.size();
  return stored;
}

void Batch::Append(uint32_t series, double value, int64_t ts, uint64_t seq, int64_t start_ts, RowExtra&& extra) {
  if (extra.empty()) return Append(series, value, ts, seq, start_ts);
  has_histograms_ |= extra.histogram.has_value();
  rows_.push_back(Row{series, static_cast<uint32_t>(extras_.size()), ts, value, seq, start_ts});
  extras_.push_back(std::move(extra));
}

void Batch::CompactExtras() {
  if (extras_.empty()) return;
  // Rows refer to extras in increasing order (appended together; reordering
  // happens only in the front part that leaves by TakeFront).
  KeepExtrasOf({&rows_});
}

void Batch::DropExtrasExcept(std::vector<std::vector<Row>>* lanes) {
  std::vector<std::vector<Row>*> lists;
  for (auto& lane : *lanes) lists.push_back(&lane);
  KeepExtrasOf(lists);
}

void Batch::KeepExtrasOf(const std::vector<std::vector<Row>*>& lists) {
  std::vector<RowExtra> kept;
  bool histograms = false;
  for (std::vector<Row>* rows : lists) {
    for (Row& r : *rows) {
      if (r.extra == Row::kNoExtra) continue;
      histograms |= extras_[r.extra].histogram.has_value();
      kept.push_back(std::move(extras_[r.extra]));
      r.extra = static_cast<uint32_t>(kept.size() - 1);
    }
  }
  extras_.swap(kept);
  has_histograms_ = histograms;
}

void Batch::RememberRawKey(std::string_view key, uint32_t series) {
  const uint64_t hash = HashBytes(key);
  if (raw_keys_.Find(key, hash) == KeyTable::kMissing) RememberNewRawKey(key, hash, series);
}

void Batch::RememberNewRawKey(std::string_view key, uint64_t hash, uint32_t series) {
  // The same label set written many ways must not grow memory without bound.
  if (raw_keys_.size() >= (1u << 20)) raw_keys_.Clear();  // the key stays absent
  raw_keys_.InsertNew(key, hash, series);
}

void Batch::Truncate(size_t n) {
  if (n >= rows_.size()) return;
  rows_.resize(n);
  if (rows_.empty()) Clear();
  else CompactExtras();
}

void Batch::EraseFront(size_t n) {
  // The series table and raw-key cache stay: the next batch mostly has the
  // same series (the caller clears them when they grow too large).
  rows_.erase(rows_.begin(), rows_.begin() + static_cast<std::ptrdiff_t>(std::min(n, rows_.size())));
  CompactExtras();
}

Batch Batch::TakeFront(size_t n) {
  n = std::min(n, rows_.size());
  std::vector<Row> taken;
  if (n == rows_.size()) {
    taken.swap(rows_);
    rows_.reserve(taken.size());
    Batch out = Snapshot(std::move(taken));
    CompactExtras();
    return out;
  }
  taken.assign(rows_.begin(), rows_.begin() + static_cast<std::ptrdiff_t>(n));
  Batch out = Snapshot(std::move(taken));
  EraseFront(n);
  return out;
}

Batch Batch::Snapshot(std::vector<Row> rows) {
  Batch out;
  out.rows_ = std::move(rows);
  remap_.resize(series_.size(), UINT32_MAX);
  std::vector<uint32_t> global;  // snapshot id -> series id here
  for (Row& r : out.rows_) {
    uint32_t& local = remap_[r.series];
    if (local == UINT32_MAX) {
      local = static_cast<uint32_t>(global.size());
      global.push_back(r.series);
    }
    r.series = local;
  }
  // The extras of the rows taken move to the snapshot, renumbered (the
  // caller drops the moved-from ones with CompactExtras).
  for (Row& r : out.rows_) {
    if (r.extra == Row::kNoExtra) continue;
    out.has_histograms_ |= extras_[r.extra].histogram.has_value();
    out.extras_.push_back(std::move(extras_[r.extra]));
    r.extra = static_cast<uint32_t>(out.extras_.size() - 1);
  }
  out.gen_ = gen_;
  out.series_.reserve(global.size());
  for (uint32_t g : global) {
    out.series_.push_back(series_[g]);
    remap_[g] = UINT32_MAX;  // only what was touched: the table may be much larger than the batch
  }
  return out;
}

void Batch::TruncateFromSeq(uint64_t seq) {
  size_t n = rows_.size();
  while (n > 0 && rows_[n - 1].seq >= seq) --n;
  Truncate(n);
}

void Batch::Clear() {
  rows_.clear();
  extras_.clear();
  has_histograms_ = false;
  series_.clear();
  gen_.reset();  // snapshots keep theirs
  block_ = nullptr;
  block_free_ = 0;
  arena_bytes_ = 0;
  remap_.clear();
  // The tables keep their memory: a sink clears them when they reach its
  // bound, and they would only grow back to it.
  index_.Reset();
  raw_keys_.Reset();
}

}  // namespace psink
