#include "sink.h"

#include <algorithm>
#include <cstring>

#include "text.h"
#include "wire_extras.h"

namespace psink {

namespace {

// Bytes one sample with these labels (and metadata) needs in a request of
// its own, generously: rows are checked here, at INSERT, because they are
// encoded later on the sender's thread, where a refusal could only fail
// the whole transaction.
size_t SingleSampleBytes(const LabelSet& labels, const std::optional<MetricMetadata>& md) {
  size_t n = 32;  // sample, tags and lengths
  for (const auto& [k, v] : labels) n += k.size() + v.size() + 16;
  if (md) n += 32 + MetricName(labels).size() + md->help.size() + md->unit.size();
  return n;
}

}  // namespace

Sink::Sink(std::string name, SinkOptions opts)
    : name_(std::move(name)), opts_(std::move(opts)), protocol_(opts_.protocol) {
  for (const std::string& c : opts_.label_columns) column_sources_.push_back("column '" + c + "'");
  column_sources_.push_back("option 'metric'");
  column_sources_.push_back("option 'external_labels'");
  label_column_source_ = "column '" + opts_.key_label + "'";
  for (int64_t i = 0; i < opts_.max_in_flight; ++i) senders_.push_back(std::make_unique<Sender>(opts_));
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
  bool cacheable = true;
  if (!direct) {
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
  uint32_t series = cacheable ? batch_.FindRawKey(key) : UINT32_MAX;
  if (series == UINT32_MAX) {
    PSINK_RETURN_IF_ERROR(DecodeLabels(cells));
    series = batch_.Intern(labels_);
    // Remembered even if value or timestamp fail below: the labels were valid.
    if (cacheable) batch_.RememberRawKey(key, series);
  }
  const size_t hidden = column_count() - 2;  // the histogram column, then the exemplar column
  PSINK_RETURN_IF_ERROR(DecodeValueOrHistogram(cells[nlabel + 1], cells[hidden], opts_, value_out, &extra_));
  PSINK_RETURN_IF_ERROR(DecodeTimestamp(cells[nlabel + 2], opts_.timestamp_unit, now_ms, opts_.key_timestamp, ts_out));
  PSINK_RETURN_IF_ERROR(DecodeExemplarCell(cells[hidden + 1], opts_, now_ms, *value_out, *ts_out, &extra_));
  if (!extra_.empty() &&
      SingleSampleBytes(batch_.labels(series), opts_.metadata) +
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
  const uint32_t series = batch_.FindRawKey(raw_key);
  if (series == UINT32_MAX) return false;
  *st = Accept(series, value, ts, 0, now_ms);
  return true;
}

Status Sink::Accept(uint32_t series, double value, int64_t ts, int64_t start_ts, int64_t now_ms, RowExtra* extra) {
  if (batch_.empty()) oldest_ms_ = now_ms;
  if (extra != nullptr && !extra->empty()) batch_.Append(series, value, ts, arrived_++, start_ts, std::move(*extra));
  else batch_.Append(series, value, ts, arrived_++, start_ts);

  const size_t batch_size = static_cast<size_t>(opts_.batch_size);
  while (batch_.size() >= batch_size) PSINK_RETURN_IF_ERROR(Send(batch_size));
  if (!batch_.empty() && now_ms - oldest_ms_ >= opts_.flush_interval_ms) PSINK_RETURN_IF_ERROR(Flush());
  return Status::Ok();
}

Status Sink::DecodeLabels(const Cell* cells) {
  const size_t nlabel = opts_.label_columns.size();
  builder_.Reset();
  for (size_t i = 0; i < nlabel; ++i) {
    const Cell& c = cells[i];
    switch (c.type) {
      case Cell::Type::kNull:
        break;
      case Cell::Type::kText:
        PSINK_RETURN_IF_ERROR(builder_.Add(opts_.label_columns[i], c.text, column_sources_[i]));
        break;
      case Cell::Type::kInteger: {
        std::string v = std::to_string(c.i);
        PSINK_RETURN_IF_ERROR(builder_.Add(opts_.label_columns[i], v, column_sources_[i]));
        break;
      }
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
  if (SingleSampleBytes(labels_, opts_.metadata) > static_cast<size_t>(opts_.max_request_bytes)) {
    const char* what = opts_.metadata ? "the labels of this row and metadata" : "the labels of this row";
    return Status::Invalid(what + std::string(" need more than max_request_bytes (") +
                           std::to_string(opts_.max_request_bytes) + ") in one request");
  }
  return Status::Ok();
}

Status Sink::Flush(uint64_t* sent) {
  uint64_t before = stats_.samples_sent;
  Status st = Doomed();
  while (st.ok() && !batch_.empty()) st = Send(std::min(batch_.size(), static_cast<size_t>(opts_.batch_size)));
  // COMMIT waits for everything.
  Status waited = CollectAll();
  if (st.ok()) st = waited;
  if (sent) *sent = stats_.samples_sent - before;
  return st;
}

Status Sink::Encode(const Batch& batch, size_t begin, size_t end, std::vector<EncodedRequest>* out) const {
  return EncodeFor(protocol_, batch, begin, end, static_cast<size_t>(opts_.max_request_bytes),
                   opts_.metadata ? &*opts_.metadata : nullptr, out);
}

void Sink::Probe(const Batch& batch, size_t begin, size_t end, std::vector<EncodedRequest>* requests,
                 std::optional<Sender::Outcome>* first, Status* encode_status) {
  Sender::Outcome out = senders_[0]->PostNow(std::move(requests->front()));
  if (!out.status.ok() && out.report.unsupported_protocol) {
    // The attempt counts as traffic, not as a failure: the samples go again as 1.0.
    // (last_status is left alone: the 415 may be the transport's reading of
    // a 2xx without written counts, not what the receiver said.)
    stats_.requests += static_cast<uint64_t>(out.report.attempts);
    stats_.retries += static_cast<uint64_t>(out.report.attempts > 0 ? out.report.attempts - 1 : 0);
    stats_.bytes_sent += out.report.bytes_sent;
    stats_.fell_back = true;
    protocol_ = Protocol::kV1;
    *encode_status = Encode(batch, begin, end, requests);
    return;
  }
  protocol_confirmed_ = out.status.ok();
  requests->erase(requests->begin());
  *first = std::move(out);
}

Status Sink::Send(size_t n) {
  PSINK_RETURN_IF_ERROR(Doomed());
  if (NeedsProbe()) return SendProbing(n);
  if (senders_.size() > 1) return SendSharded(n);
  // The rows leave the buffer now; the worker encodes them while this
  // thread goes on. The previous job must be done first.
  Sender::Job job;
  job.rows = batch_.TakeFront(n);
  job.protocol = protocol_;
  BoundSeries();
  Status st = Collect(0);
  if (!st.ok()) {
    not_sent_ += job.rows.size();
    return st;
  }
  senders_[0]->Submit(std::move(job));
  return Status::Ok();
}

Status Sink::SendProbing(size_t n) {
  // Until a receiver has answered a 2.0 request, requests are encoded here
  // and the first is posted synchronously: a refusal re-encodes as 1.0.
  PSINK_RETURN_IF_ERROR(Encode(batch_, 0, n, &requests_));
  PSINK_RETURN_IF_ERROR(CollectAll());
  std::optional<Sender::Outcome> first;
  Status st;
  Probe(batch_, 0, n, &requests_, &first, &st);
  PSINK_RETURN_IF_ERROR(st);
  batch_.EraseFront(n);
  BoundSeries();
  if (first) {
    if (!Account(*first)) {
      for (const EncodedRequest& r : requests_) first->samples += r.rows.size();
      return Doom(*first);
    }
    delivered_in_txn_ += first->samples;
  }
  if (requests_.empty()) return Status::Ok();
  Sender::Job job;
  job.requests = std::move(requests_);
  requests_.clear();
  senders_[0]->Submit(std::move(job));
  return Status::Ok();
}

void Sink::BoundSeries() {
  // Series are kept from batch to batch (most rows of the next batch hit
  // the raw-key cache), but not without bound. Jobs in flight keep theirs.
  const size_t keep = std::max<size_t>(65536, 2 * static_cast<size_t>(opts_.batch_size));
  if (batch_.empty() && batch_.series_count() > keep) batch_.Clear();
}

Status Sink::SendSharded(size_t n) {
  const size_t shards = senders_.size();
  // A series' shard follows from its labels alone, so it is the same in
  // every batch: a series always travels through the same sender.
  std::vector<int> shard_of(batch_.series_count(), -1);
  auto shard = [&](const Row& r) {
    int& s = shard_of[r.series];
    if (s < 0) s = static_cast<int>(std::hash<std::string>()(batch_.encoded_labels(r.series)) % shards);
    return s;
  };
  batch_.StableSortFront(n, shard);
  std::vector<Sender::Job> jobs(shards);
  for (size_t k = 0; k < shards; ++k) {
    size_t end = 0;
    while (end < n && static_cast<size_t>(shard(batch_.row(end))) == k) ++end;
    jobs[k].rows = batch_.TakeFront(end);
    jobs[k].protocol = protocol_;
    n -= end;
  }
  BoundSeries();
  size_t unsent = 0;
  for (const Sender::Job& job : jobs) unsent += job.rows.size();
  for (size_t k = 0; k < shards; ++k) {
    if (jobs[k].rows.empty()) continue;
    Status st = Collect(k);
    if (!st.ok()) {
      not_sent_ += unsent;
      return st;
    }
    unsent -= jobs[k].rows.size();
    senders_[k]->Submit(std::move(jobs[k]));
  }
  return Status::Ok();
}

Status Sink::Collect(size_t k) {
  std::vector<Sender::Outcome> outs = senders_[k]->Wait();
  if (outs.empty()) return Doomed();
  for (const Sender::Outcome& out : outs) {
    if (!Account(out)) return Doom(out);
    delivered_in_txn_ += out.samples;
  }
  return Status::Ok();
}

Status Sink::CollectAll() {
  Status first;
  for (size_t k = 0; k < senders_.size(); ++k) {
    Status st = Collect(k);
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

Status Sink::Doom(const Sender::Outcome& out) {
  not_sent_ += out.samples;
  // The transaction cannot commit any more: this error is returned by every
  // later insert, flush and COMMIT until ROLLBACK.
  failed_detail_ = DeliveryError(out.status, out.min_ts);
  failed_ = Status::Failed("sink '" + name_ + "': " + failed_detail_);
  return failed_;
}

bool Sink::Account(const Sender::Outcome& out) {
  const PostReport& report = out.report;
  stats_.requests += static_cast<uint64_t>(report.attempts);
  stats_.retries += static_cast<uint64_t>(report.attempts > 0 ? report.attempts - 1 : 0);
  stats_.bytes_sent += report.bytes_sent;
  stats_.last_status = report.last_status;
  if (!out.status.ok()) {
    stats_.failures++;
    stats_.last_error = out.status.message();
    return false;
  }
  stats_.samples_sent += out.samples;
  stats_.histograms_sent += out.histograms;
  stats_.exemplars_sent += out.exemplars;
  // What a 2.0 receiver says it wrote, per kind (-1: not said).
  auto short_of = [](int64_t written, uint64_t sent) {
    return written >= 0 && static_cast<uint64_t>(written) < sent ? sent - static_cast<uint64_t>(written) : 0;
  };
  stats_.samples_not_written += short_of(report.samples_written, out.samples - out.histograms) +
                                short_of(report.histograms_written, out.histograms);
  stats_.exemplars_not_written += short_of(report.exemplars_written, out.exemplars);
  return true;
}

Status Sink::DecodeRow(const Cell* cells, int64_t now_ms, const std::string** labels_json, double* value,
                       int64_t* ts) {
  // batch_ holds no rows for a spooled sink: it only interns series. Start
  // afresh now and then so that memory stays bounded.
  if (batch_.series_count() >= 100000) batch_.Clear();
  uint32_t series;
  int64_t start_ts;  // not spooled: spool=on with key_start_timestamp is refused
  PSINK_RETURN_IF_ERROR(Decode(cells, now_ms, &series, value, ts, &start_ts));
  if (!extra_.empty()) {
    // The spool's format has no room for them (yet).
    const std::string& col = extra_.histogram ? opts_.key_histogram : opts_.key_exemplar;
    return Status::Invalid("column '" + col + "': " + (extra_.histogram ? "histograms" : "exemplars") +
                           " are not supported with spool=on");
  }
  row_json_ = LabelsToJson(batch_.labels(series));
  *labels_json = &row_json_;
  return Status::Ok();
}

Status Sink::SendNow(const Batch& batch, const std::function<Status(const std::vector<uint32_t>&)>& on_ack,
                     uint64_t* sent) {
  *sent = 0;
  std::vector<EncodedRequest> requests;
  const size_t per_request = static_cast<size_t>(opts_.batch_size);
  auto acknowledged = [&](const Sender::Outcome& out, const std::vector<uint32_t>& rows) -> Status {
    if (!Account(out)) {
      return Status::Failed("sink '" + name_ + "': " + DeliveryError(out.status, out.min_ts, false) +
                            "; the rows not acknowledged stay spooled");
    }
    *sent += rows.size();
    return on_ack(rows);
  };
  for (size_t begin = 0; begin < batch.size(); begin += per_request) {
    size_t end = std::min(batch.size(), begin + per_request);
    PSINK_RETURN_IF_ERROR(Encode(batch, begin, end, &requests));
    if (NeedsProbe()) {
      std::vector<uint32_t> rows = requests.front().rows;
      std::optional<Sender::Outcome> first;
      Status st;
      Probe(batch, begin, end, &requests, &first, &st);
      PSINK_RETURN_IF_ERROR(st);
      if (first) PSINK_RETURN_IF_ERROR(acknowledged(*first, rows));
    }
    for (EncodedRequest& req : requests) {
      std::vector<uint32_t> rows = req.rows;
      PSINK_RETURN_IF_ERROR(acknowledged(senders_[0]->PostNow(std::move(req)), rows));
    }
  }
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
  if (stats_.samples_not_written > 0) {
    msg += "; warning: the receiver reported writing " + samples(stats_.samples_not_written) +
           " fewer than were sent (X-Prometheus-Remote-Write-Samples-Written)";
  }
  if (in_transaction) {
    msg += "; delivered in this transaction before the failure: " + samples(delivered_in_txn_) +
           "; not sent: " + samples(not_sent_ + batch_.size());
  }
  return msg;
}

void Sink::Begin() {
  delivered_in_txn_ = 0;
  not_sent_ = 0;
  failed_ = Status::Ok();
  failed_detail_.clear();
  savepoints_.clear();
}

void Sink::Commit() {
  delivered_in_txn_ = 0;
  not_sent_ = 0;
  savepoints_.clear();
}

void Sink::Rollback() {
  // What is on the wire stays sent (and counts in the stats); nothing more goes.
  for (auto& sender : senders_) {
    for (const Sender::Outcome& out : sender->Wait()) Account(out);
  }
  batch_.Clear();
  delivered_in_txn_ = 0;
  not_sent_ = 0;
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
  arrived_ = it->second;
  savepoints_.erase(savepoints_.upper_bound(n), savepoints_.end());
}

}  // namespace psink
