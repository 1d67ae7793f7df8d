#include "sink.h"

#include <algorithm>
#include <cstring>

#include "text.h"
#include "wire_extras.h"

namespace psink {

namespace {

// Bytes one sample with these labels (and metadata) needs in a request of
// its own, generously: rows are checked here, at INSERT, because they are
// encoded later on a shard's worker thread, where a refusal could only fail
// the whole transaction.
size_t SingleSampleBytes(size_t text_bytes, size_t count, std::string_view metric_name,
                         const std::optional<MetricMetadata>& md) {
  size_t n = 32 + text_bytes + 16 * count;  // sample, tags and lengths
  if (md) n += 32 + metric_name.size() + md->help.size() + md->unit.size();
  return n;
}

size_t SingleSampleBytes(LabelsView labels, const std::optional<MetricMetadata>& md) {
  size_t text = 0, count = 0;
  for (const auto& [k, v] : labels) {
    text += k.size() + v.size();
    ++count;
  }
  return SingleSampleBytes(text, count, MetricName(labels), md);
}

}  // namespace

Sink::Sink(std::string name, SinkOptions opts, PosterFactory posters, Clock clock)
    : name_(std::move(name)), opts_(std::move(opts)), clock_(clock ? clock : &std::chrono::steady_clock::now) {
  for (const std::string& c : opts_.label_columns) column_sources_.push_back("column '" + c + "'");
  column_sources_.push_back("option 'metric'");
  column_sources_.push_back("option 'external_labels'");
  label_column_source_ = "column '" + opts_.key_label + "'";
  builder_.set_names(opts_.names);
  // The fixed labels' names (and the metric name) as they are sent, made
  // once here; CREATE has checked them (OptionsFromArgs), so a refusal
  // only sends every row the general path, which reports it.
  bool valid = true;
  auto sent = [&](std::string_view name, NameKind kind) -> std::string_view {
    std::string scratch;
    std::string_view out;
    if (!SendName(opts_.names, name, kind, {}, &scratch, &out).ok()) {
      valid = false;
      return name;
    }
    if (out.data() != scratch.data()) return out;
    fixed_names_.push_back(std::move(scratch));
    return fixed_names_.back();
  };
  for (size_t i = 0; i < opts_.label_columns.size(); ++i) {
    fixed_labels_.push_back(FixedLabel{sent(opts_.label_columns[i], NameKind::kLabel), static_cast<int>(i), {}});
  }
  valid &= IsValidUtf8(opts_.metric);
  if (!opts_.metric.empty()) fixed_labels_.push_back(FixedLabel{"__name__", -1, sent(opts_.metric, NameKind::kMetric)});
  for (const auto& [k, v] : opts_.external_labels) {
    fixed_labels_.push_back(FixedLabel{sent(k, NameKind::kLabel), -1, v});
    valid &= IsValidUtf8(v);
  }
  std::sort(fixed_labels_.begin(), fixed_labels_.end(), [](const FixedLabel& a, const FixedLabel& b) { return a.name < b.name; });
  for (size_t i = 1; i < fixed_labels_.size(); ++i) valid &= fixed_labels_[i - 1].name != fixed_labels_[i].name;
  if (!valid) fixed_labels_.clear();
  for (size_t i = 0; i < fixed_labels_.size(); ++i) {
    if (fixed_labels_[i].name == "__name__") name_label_ = static_cast<int>(i);
  }
  wide_values_.resize(fixed_labels_.size());
  wide_digits_.resize(fixed_labels_.size());
  delivery_ = std::make_unique<Delivery>(opts_, std::move(posters));
  if (delivery_->shard_count() > 1) {
    lanes_.resize(delivery_->shard_count());
    auto_shard_ = opts_.max_in_flight_auto;
    sharded_ = !auto_shard_;
  }
}

Status Sink::Doomed() const {
  if (failed_.ok()) return failed_;
  return Status::Failed("sink '" + name_ + "': the transaction cannot commit because an earlier request failed " +
                        "(ROLLBACK to go on): " + failed_detail_);
}

Status Sink::Decode(const Cell* cells, int64_t now_ms, uint32_t* series_out, double* value_out, int64_t* ts_out,
                    int64_t* start_out) {
  const size_t nlabel = opts_.label_columns.size();
  // Fast path: the same label inputs as an earlier row of the batch decode to
  // the same series, so they are looked up by their raw bytes.
  // With no label columns, the JSON text itself is the key (the common
  // case, without a copy); otherwise a RawKey of every label input.
  // REAL and BLOB label inputs are refused below, with a message.
  const bool direct = nlabel == 0 && cells[0].type == Cell::Type::kText;
  bool cacheable = !bypass_raw_keys_;
  if (!direct && cacheable) {
    rawkey_.Reset();
    for (size_t i = 0; cacheable && i <= nlabel; ++i) {
      const Cell& c = cells[i];
      switch (c.type) {
        case Cell::Type::kText: rawkey_.Text(c.text); break;
        case Cell::Type::kInteger: rawkey_.Integer(c.i); break;
        case Cell::Type::kNull: rawkey_.Null(); break;
        default: cacheable = false;
      }
    }
  }
  std::string_view key = direct ? cells[0].text : rawkey_.view();
  uint32_t series = UINT32_MAX;
  uint64_t hash = 0;
  if (cacheable) {
    // InsertKnown() may just have looked this key up, and missed.
    const bool missed = miss_key_.data() == key.data() && miss_key_.size() == key.size();
    hash = missed ? miss_hash_ : HashBytes(key);
    if (!missed) {
      series = batch_.FindRawKey(key, hash);
      CountRawKey(series != UINT32_MAX);
    }
  }
  miss_key_ = {};
  uint64_t labels_hash = 0;
  if (series == UINT32_MAX) {
    PSINK_RETURN_IF_ERROR(DecodeLabels(cells));
    // The series index is probed below, after the value and timestamp: the
    // probe of a new series misses the CPU's caches, and the fetch now
    // overlaps that work.
    labels_hash = HashBytes(labels_);
    batch_.PrefetchSeries(labels_hash);
  }
  const LabelsView labels = series == UINT32_MAX ? LabelsView(labels_) : batch_.labels(series);
  const size_t hidden = column_count() - 2;  // the histogram column, then the exemplar column
  PSINK_RETURN_IF_ERROR(DecodeValueOrHistogram(cells[nlabel + 1], cells[hidden], opts_, value_out, &extra_));
  PSINK_RETURN_IF_ERROR(DecodeTimestamp(cells[nlabel + 2], opts_.timestamp_unit, now_ms, opts_.key_timestamp, ts_out));
  PSINK_RETURN_IF_ERROR(DecodeExemplarCell(cells[hidden + 1], opts_, now_ms, *value_out, *ts_out, &extra_));
  if (!extra_.empty() &&
      SingleSampleBytes(labels, opts_.metadata) +
              wire::ExtrasBytesBound(extra_.histogram ? &*extra_.histogram : nullptr,
                                     extra_.exemplar ? &*extra_.exemplar : nullptr) >
          static_cast<size_t>(opts_.max_request_bytes)) {
    return Status::Invalid("the histogram and exemplar of this row, with its labels, need more than max_request_bytes (" +
                           std::to_string(opts_.max_request_bytes) + ") in one request");
  }
  *start_out = 0;
  if (!opts_.key_start_timestamp.empty() && cells[nlabel + 3].type != Cell::Type::kNull) {
    // NULL means "no start time", not "now".
    PSINK_RETURN_IF_ERROR(
        DecodeTimestamp(cells[nlabel + 3], opts_.timestamp_unit, now_ms, opts_.key_start_timestamp, start_out));
    if (*start_out > *ts_out) {
      return Status::Invalid("column '" + opts_.key_start_timestamp + "': the start time " + std::to_string(*start_out) +
                             " is after the sample's timestamp " + std::to_string(*ts_out));
    }
  }
  if (series == UINT32_MAX) {
    const size_t known = batch_.series_count();
    series = batch_.Intern(labels_, labels_hash);
    if (bypass_raw_keys_) CountBypassed(series < known);
    if (cacheable) batch_.RememberNewRawKey(key, hash, series);
  }
  *series_out = series;
  return Status::Ok();
}

Status Sink::Insert(const Cell* cells, int64_t now_ms) {
  if (!failed_.ok()) return Doomed();
  uint32_t series;
  double value;
  int64_t ts, start_ts;
  PSINK_RETURN_IF_ERROR(Decode(cells, now_ms, &series, &value, &ts, &start_ts));
  return Accept(series, value, ts, start_ts, now_ms, &extra_);
}

bool Sink::InsertKnown(std::string_view raw_key, double value, int64_t ts, int64_t now_ms, Status* st) {
  if (!failed_.ok() || !opts_.key_start_timestamp.empty() || opts_.timestamp_unit != TimeUnit::kMillis) return false;
  const uint32_t series = FindKnown(raw_key);
  if (series == UINT32_MAX) return false;
  *st = Accept(series, value, ts, 0, now_ms);
  return true;
}

bool Sink::KnownSpooled(std::string_view raw_key, const std::string** labels_json, LabelsView* labels) {
  if (!failed_.ok() || !opts_.key_start_timestamp.empty() || opts_.timestamp_unit != TimeUnit::kMillis) return false;
  const uint32_t series = FindKnown(raw_key);
  if (series == UINT32_MAX || series >= series_json_.size() || series_json_[series].empty()) return false;
  *labels_json = &series_json_[series];
  *labels = batch_.labels(series);
  return true;
}

uint32_t Sink::FindKnown(std::string_view raw_key) {
  if (bypass_raw_keys_) return UINT32_MAX;
  const uint64_t hash = HashBytes(raw_key);
  const uint32_t series = batch_.FindRawKey(raw_key, hash);
  CountRawKey(series != UINT32_MAX);
  if (series == UINT32_MAX) {
    miss_key_ = raw_key;
    miss_hash_ = hash;
  }
  return series;
}

void Sink::CountRawKey(bool hit) {
  key_misses_ += !hit;
  if (++key_rows_ < kKeyWindow) return;
  // Nearly every row a label set not seen before: the raw-key cache only
  // costs (a lookup that misses, a copy of the key, memory), so rows go
  // straight to decoding until label sets repeat again.
  bypass_raw_keys_ = key_misses_ * 10 > key_rows_ * 9;
  key_rows_ = key_misses_ = 0;
}

void Sink::CountBypassed(bool repeated) {
  key_misses_ += repeated;  // here: rows whose label set was seen before
  if (++key_rows_ < kKeyWindow) return;
  bypass_raw_keys_ = key_misses_ * 10 <= key_rows_;
  key_rows_ = key_misses_ = 0;
}

Status Sink::Accept(uint32_t series, double value, int64_t ts, int64_t start_ts, int64_t now_ms, RowExtra* extra) {
  if (buffered() == 0) oldest_ms_ = now_ms;
  const size_t batch_size = static_cast<size_t>(opts_.batch_size);
  if (sharded_) {
    const uint32_t x = extra != nullptr && !extra->empty() ? batch_.AddExtra(std::move(*extra)) : Row::kNoExtra;
    const size_t k = ShardOfSeries(series);
    std::vector<Row>& lane = lanes_[k];
    lane.push_back(Row{series, x, ts, value, arrived_++, start_ts});
    ++lane_rows_;
    view_stale_ = true;
    const bool became_full = lane.size() == batch_size;
    full_ += became_full;
    // A finished request is collected at the next row, so that a failure
    // dooms the transaction as soon as it is known.
    if (became_full || delivery_->finished() != seen_finished_ || lane_rows_ >= batch_size * lanes_.size()) {
      PSINK_RETURN_IF_ERROR(DispatchFull());
    }
  } else {
    if (extra != nullptr && !extra->empty()) batch_.Append(series, value, ts, arrived_++, start_ts, std::move(*extra));
    else batch_.Append(series, value, ts, arrived_++, start_ts);
    while (!sharded_ && batch_.size() >= batch_size) PSINK_RETURN_IF_ERROR(Send(batch_size, /*may_shard=*/true));
  }
  if (buffered() > 0 && now_ms - oldest_ms_ >= opts_.flush_interval_ms) PSINK_RETURN_IF_ERROR(Flush());
  return Status::Ok();
}

const Row& Sink::buffered_row(size_t i) const {
  if (!sharded_) return batch_.row(i);
  if (view_stale_) {
    view_.clear();
    for (const auto& lane : lanes_) {
      for (const Row& r : lane) view_.push_back(&r);
    }
    std::sort(view_.begin(), view_.end(), [](const Row* a, const Row* b) { return a->seq < b->seq; });
    view_stale_ = false;
  }
  return *view_[i];
}

bool Sink::WideLabels(const Cell* cells, size_t* text_bytes, size_t* count) {
  const size_t n = fixed_labels_.size();
  if (n == 0) return false;
  std::string_view* values = wide_values_.data();
  size_t bytes = 0, text = 0, kept = 0;
  for (size_t i = 0; i < n; ++i) {
    const FixedLabel& f = fixed_labels_[i];
    std::string_view v = f.value;
    if (f.column >= 0) {
      const Cell& c = cells[f.column];
      if (c.type == Cell::Type::kText) {
        if (!IsValidUtf8(c.text)) return false;
        v = c.text;
      } else if (c.type == Cell::Type::kInteger) {
        v = IntegerText(c.i, &wide_digits_[i]);
      } else if (c.type != Cell::Type::kNull) {
        return false;
      }
    }
    values[i] = v;
    if (v.empty()) continue;
    bytes += LabelWireSize(f.name.size(), v.size());
    text += f.name.size() + v.size();
    ++kept;
  }
  if (name_label_ < 0 || values[name_label_].empty()) return false;
  labels_.resize(bytes);
  char* p = labels_.data();
  for (size_t i = 0; i < n; ++i) {
    if (!values[i].empty()) p = WriteLabel(fixed_labels_[i].name, values[i], p);
  }
  *text_bytes = text;
  *count = kept;
  return true;
}

Status Sink::DecodeLabels(const Cell* cells) {
  const size_t nlabel = opts_.label_columns.size();
  size_t text_bytes = 0, count = 0;
  if (cells[nlabel].type == Cell::Type::kNull && WideLabels(cells, &text_bytes, &count)) {
    return CheckLabelBytes(text_bytes, count);
  }
  builder_.Reset();
  for (size_t i = 0; i < nlabel; ++i) {
    const Cell& c = cells[i];
    switch (c.type) {
      case Cell::Type::kNull:
        break;
      case Cell::Type::kText:
        PSINK_RETURN_IF_ERROR(builder_.Add(opts_.label_columns[i], c.text, column_sources_[i]));
        break;
      case Cell::Type::kInteger:
        PSINK_RETURN_IF_ERROR(builder_.AddInteger(opts_.label_columns[i], c.i, column_sources_[i]));
        break;
      case Cell::Type::kReal:
      case Cell::Type::kBlob:
        return Status::Mismatch("column '" + opts_.label_columns[i] + "': a label value must be TEXT or INTEGER, found " +
                                (c.type == Cell::Type::kReal ? "REAL" : "BLOB"));
    }
  }
  if (!opts_.metric.empty()) PSINK_RETURN_IF_ERROR(builder_.Add("__name__", opts_.metric, column_sources_[nlabel]));
  for (const auto& [k, v] : opts_.external_labels) {
    PSINK_RETURN_IF_ERROR(builder_.Add(k, v, column_sources_[nlabel + 1]));
  }
  const Cell& json = cells[nlabel];
  if (json.type == Cell::Type::kText) {
    PSINK_RETURN_IF_ERROR(builder_.AddJson(json.text, opts_.key_label));
  } else if (json.type != Cell::Type::kNull) {
    return Status::Mismatch("column '" + opts_.key_label + "': expected TEXT holding a JSON object, found " +
                            (json.type == Cell::Type::kInteger ? "INTEGER"
                             : json.type == Cell::Type::kReal  ? "REAL"
                                                               : "BLOB"));
  }
  PSINK_RETURN_IF_ERROR(builder_.Finish(&labels_, label_column_source_));
  return CheckLabelBytes(builder_.text_bytes(), builder_.count());
}

Status Sink::CheckLabelBytes(size_t text_bytes, size_t count) const {
  const std::string_view name = opts_.metadata ? MetricName(LabelsView(labels_)) : std::string_view();
  if (SingleSampleBytes(text_bytes, count, name, opts_.metadata) > static_cast<size_t>(opts_.max_request_bytes)) {
    const char* what = opts_.metadata ? "the labels of this row and metadata" : "the labels of this row";
    return Status::Invalid(what + std::string(" need more than max_request_bytes (") +
                           std::to_string(opts_.max_request_bytes) + ") in one request");
  }
  return Status::Ok();
}

Status Sink::Flush(uint64_t* sent) {
  uint64_t before = delivery_->stats().samples_sent;
  const bool was_doomed = !failed_.ok();
  Status st = Doomed();
  if (sharded_ && lane_rows_ > 0 && lane_rows_ <= static_cast<size_t>(opts_.batch_size)) {
    // What is left fits in one request: it goes as one, once nothing is in
    // flight (no series of it can then be on the wire twice).
    if (st.ok()) st = DoomIfFailed(delivery_->WaitAll());
    if (st.ok()) {
      std::vector<Row> rows;
      rows.reserve(lane_rows_);
      for (auto& lane : lanes_) rows.insert(rows.end(), lane.begin(), lane.end());
      std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.seq < b.seq; });
      Batch snapshot = batch_.SnapshotOf(std::move(rows));
      ClearLanes();
      BoundSeries();
      st = DoomIfFailed(delivery_->Submit(0, std::move(snapshot), static_cast<size_t>(opts_.batch_size)));
    }
  } else if (sharded_) {
    // Every shard sends what it holds, as soon as it has no request in flight.
    while (st.ok() && lane_rows_ > 0) {
      st = DoomIfFailed(delivery_->Poll());
      for (size_t k = 0; st.ok() && k < lanes_.size(); ++k) {
        if (!lanes_[k].empty() && delivery_->CanTake(k)) st = SendShard(k, lanes_[k].size());
      }
      if (st.ok() && lane_rows_ > 0) st = DoomIfFailed(delivery_->WaitAny());
    }
  } else {
    while (st.ok() && !batch_.empty()) st = Send(std::min(batch_.size(), static_cast<size_t>(opts_.batch_size)));
  }
  // COMMIT waits for everything.
  Status waited = DoomIfFailed(delivery_->WaitAll());
  if (st.ok()) st = waited;
  if (!failed_.ok() && delivery_->failure()) {
    // Doomed (before or during this call): now that every request in
    // flight is answered, the message counts every sample delivered and
    // not sent.
    RecordFailure(Status::Ok());
    st = was_doomed ? Doomed() : failed_;
  }
  if (sent) *sent = delivery_->stats().samples_sent - before;
  return st;
}

Status Sink::Send(size_t n, bool may_shard) {
  PSINK_RETURN_IF_ERROR(Doomed());
  if (may_shard && auto_shard_ && slow_sends_ >= 2) return ShardNow();
  // The rows leave the buffer now; the worker encodes them while this
  // thread goes on (Submit waits for the batch before, if still in flight).
  Batch rows = batch_.TakeFront(n);
  BoundSeries();
  if (!auto_shard_) return DoomIfFailed(delivery_->Submit(0, std::move(rows), static_cast<size_t>(opts_.batch_size)));
  // How long filling this batch took, and how long the send waited for the
  // ones before it: the network is the limit when the wait is longer. (The
  // first send has no batch before: its "filled" is since the epoch.)
  const auto start = clock_();
  const auto filled = start - last_send_;
  Status st = DoomIfFailed(delivery_->Submit(0, std::move(rows), static_cast<size_t>(opts_.batch_size)));
  last_send_ = clock_();
  const auto waited = last_send_ - start;
  // (Twice as long, and 5 ms at least: a worker that is merely a little
  // slower than this thread at encoding is no reason for shards.)
  if (waited > 2 * filled && waited > std::chrono::milliseconds(5)) {
    ++slow_sends_;
  } else {
    slow_sends_ = 0;
  }
  return st;
}

Status Sink::ShardNow() {
  // Nothing may be in flight: a series' next rows go through its own shard.
  PSINK_RETURN_IF_ERROR(DoomIfFailed(delivery_->WaitAll()));
  for (const Row& r : batch_.TakeRows()) lanes_[ShardOfSeries(r.series)].push_back(r);
  sharded_ = true;
  auto_shard_ = false;
  RecountShards();
  return DispatchFull();
}

size_t Sink::ShardOfSeries(uint32_t series) {
  if (series >= shard_of_.size()) shard_of_.resize(std::max<size_t>(series + 1, 2 * shard_of_.size()), 0xff);
  uint8_t& k = shard_of_[series];
  if (k == 0xff) k = static_cast<uint8_t>(delivery_->ShardOf(batch_.encoded_labels(series)));
  return k;
}

Status Sink::SendShard(size_t k, size_t n) {
  const size_t batch_size = static_cast<size_t>(opts_.batch_size);
  std::vector<Row>& lane = lanes_[k];
  const bool was_full = lane.size() >= batch_size;
  std::vector<Row> rows;
  if (n >= lane.size()) {
    rows.swap(lane);
    lane.reserve(batch_size);
  } else {
    rows.assign(lane.begin(), lane.begin() + static_cast<std::ptrdiff_t>(n));
    lane.erase(lane.begin(), lane.begin() + static_cast<std::ptrdiff_t>(n));
  }
  lane_rows_ -= rows.size();
  view_stale_ = true;
  if (was_full && lane.size() < batch_size) --full_;
  Batch snapshot = batch_.SnapshotOf(std::move(rows));
  // The extras of rows gone are dropped now and then (they moved to snapshots).
  if (batch_.extras_count() > 2 * lane_rows_ + 1024) batch_.DropExtrasExcept(&lanes_);
  BoundSeries();
  return DoomIfFailed(delivery_->Submit(k, std::move(snapshot), batch_size));
}

Status Sink::DispatchFull() {
  const size_t batch_size = static_cast<size_t>(opts_.batch_size);
  // The buffer's bound: a full batch for every shard.
  const size_t bound = batch_size * lanes_.size();
  for (;;) {
    seen_finished_ = delivery_->finished();
    PSINK_RETURN_IF_ERROR(DoomIfFailed(delivery_->Poll()));
    for (size_t k = 0; full_ > 0 && k < lanes_.size(); ++k) {
      if (lanes_[k].size() >= batch_size && delivery_->CanTake(k)) PSINK_RETURN_IF_ERROR(SendShard(k, batch_size));
    }
    if (lane_rows_ < bound) return Status::Ok();
    // Every shard with a full batch has a request in flight.
    PSINK_RETURN_IF_ERROR(DoomIfFailed(delivery_->WaitAny()));
  }
}

void Sink::RecountShards() {
  if (!sharded_) return;
  lane_rows_ = 0;
  full_ = 0;
  for (const auto& lane : lanes_) {
    lane_rows_ += lane.size();
    full_ += lane.size() >= static_cast<size_t>(opts_.batch_size);
  }
  view_stale_ = true;
}

void Sink::ClearLanes() {
  for (auto& lane : lanes_) lane.clear();
  lane_rows_ = 0;
  full_ = 0;
  view_stale_ = true;
  batch_.DropExtrasExcept(&lanes_);
}

void Sink::BoundSeries() {
  // Series are kept from batch to batch (most rows of the next batch hit
  // the raw-key cache), but not without bound: past kKeepSeries (or two
  // batches' worth) or kSeriesBytes of labels and tables, they start
  // afresh. Jobs in flight keep theirs.
  const size_t keep = std::max<size_t>(kKeepSeries, 2 * static_cast<size_t>(opts_.batch_size));
  if (batch_.empty() && lane_rows_ == 0 && (batch_.series_count() > keep || batch_.series_bytes() > kSeriesBytes)) {
    batch_.Clear();
    shard_of_.clear();
  }
}

Status Sink::DoomIfFailed(Status st) {
  if (st.ok()) return st;
  return Doom(st);
}

Status Sink::Doom(const Status& cause) {
  if (!failed_.ok()) return failed_;
  // The transaction cannot commit any more: this error is returned by every
  // later insert, flush and COMMIT until ROLLBACK.
  RecordFailure(cause);
  return failed_;
}

void Sink::RecordFailure(const Status& cause) {
  const auto& failure = delivery_->failure();
  failed_detail_ = failure ? DeliveryError(failure->status, failure->min_ts) : DeliveryError(cause, 0);
  failed_ = Status::Failed("sink '" + name_ + "': " + failed_detail_);
}

Status Sink::DecodeRow(const Cell* cells, int64_t now_ms, const std::string** labels_json, LabelsView* labels,
                       double* value, int64_t* ts, int64_t* start_ts, const RowExtra** extra) {
  // batch_ holds no rows for a spooled sink: it only interns series. Start
  // afresh now and then so that memory stays bounded.
  if (batch_.series_count() >= 100000 || batch_.series_bytes() > kSeriesBytes) {
    batch_.Clear();
    series_json_.clear();
  }
  uint32_t series;
  PSINK_RETURN_IF_ERROR(Decode(cells, now_ms, &series, value, ts, start_ts));
  *extra = &extra_;
  if (series >= series_json_.size()) series_json_.resize(series + 1);
  std::string& json = series_json_[series];
  if (json.empty()) json = LabelsToJson(batch_.labels(series));  // never empty: "{...}"
  *labels_json = &json;
  *labels = batch_.labels(series);
  return Status::Ok();
}

std::string Sink::DeliveryError(const Status& cause, int64_t min_ts, bool in_transaction) const {
  std::string msg = cause.message();
  const std::string& m = cause.message();
  if (m.find("out of order") != std::string::npos) {
    msg += "; hint: each series must reach the receiver in timestamp order across batches: ORDER BY the timestamp "
           "(or enable the receiver's out-of-order window)";
  } else if (opts_.timestamp_unit == TimeUnit::kMillis && min_ts > -100'000'000'000 && min_ts < 100'000'000'000 &&
             (m.find("out of bounds") != std::string::npos || m.find("too old") != std::string::npos ||
              m.find("too far") != std::string::npos)) {
    msg += "; hint: timestamps like " + std::to_string(min_ts) +
           " look like seconds, but timestamp_unit is 'ms': set timestamp_unit='s'";
  }
  auto samples = [](uint64_t n) { return std::to_string(n) + (n == 1 ? " sample" : " samples"); };
  if (stats().samples_not_written > 0) {
    msg += "; warning: the receiver reported writing " + samples(stats().samples_not_written) +
           " fewer than were sent (X-Prometheus-Remote-Write-Samples-Written)";
  }
  if (in_transaction) {
    msg += "; delivered in this transaction before the failure: " + samples(delivery_->delivered()) +
           "; not sent: " + samples(delivery_->not_sent() + buffered());
  }
  return msg;
}

void Sink::Begin() {
  delivery_->ResetLedger();
  failed_ = Status::Ok();
  failed_detail_.clear();
  savepoints_.clear();
}

void Sink::Commit() {
  delivery_->ResetLedger();
  savepoints_.clear();
}

void Sink::Rollback() {
  // What is on the wire stays sent (and counts in the stats); nothing more goes.
  delivery_->WaitAll();
  ClearLanes();
  batch_.Clear();
  shard_of_.clear();
  delivery_->ResetLedger();
  failed_ = Status::Ok();
  failed_detail_.clear();
  savepoints_.clear();
}

void Sink::Savepoint(int n) { savepoints_[n] = arrived_; }

void Sink::Release(int n) { savepoints_.erase(savepoints_.lower_bound(n), savepoints_.end()); }

void Sink::RollbackTo(int n) {
  auto it = savepoints_.find(n);
  if (it == savepoints_.end()) {
    // No mark at or after n: SQLite rolls back to a savepoint opened before
    // this sink joined the transaction, so everything of it goes.
    auto after = savepoints_.lower_bound(n);
    if (after == savepoints_.end() && !savepoints_.empty()) return;
    Rollback();
    return;
  }
  // Rows of the savepoint already sent (batch_size reached) stay sent.
  batch_.TruncateFromSeq(it->second);
  for (auto& lane : lanes_) {
    size_t n = lane.size();
    while (n > 0 && lane[n - 1].seq >= it->second) --n;
    lane.resize(n);
  }
  RecountShards();
  arrived_ = it->second;
  savepoints_.erase(savepoints_.upper_bound(n), savepoints_.end());
}

}  // namespace psink
