// Fuzz target for the whole row-to-request path without SQLite or HTTP:
// rows are decoded (LabelSetBuilder, DecodeValue, DecodeTimestamp), buffered
// in a Batch (Intern, the raw-key cache, Append) and encoded (EncodeRequests)
// as psink::Sink does, with a small max_request_bytes so that requests split.
// Every request is then read back with snappy and the generated protobuf
// classes (proto/remote.proto, proto/write_v2.proto).
//
// Input: text lines.
//   line 1:  "<unit> <max_request_bytes> <batch_size> [v2] [md<type> [help [unit]]]",
//            e.g. "ms 300 4" or "s 400 8 v2 md1 CPU_time seconds" (unit
//            s|ms|us|ns; bytes are clamped to 40..8192, batch to 1..64; v2
//            encodes remote-write 2.0 (EncodeRequestsV2) instead of 1.0;
//            md<type> sends metadata of type 0..7 with the help and unit
//            given, or none)
//   a row:   <labels JSON> TAB <value> TAB <timestamp>   (NULL for an SQL NULL;
//            a missing timestamp is NULL, which means "now")
//   !flush                 send everything buffered, batch_size rows a request set
//   !fail <k>              the next send delivers only its first k requests
//   !savepoint / !rollback_to / !rollback   savepoint and rollback, as a sink does
//
// Invariants checked on every send, besides "no crash, no sanitizer report":
//   - EncodeRequests(V2) fails only when one sample with its labels (and
//     metadata) alone exceeds max_request_bytes;
//   - each body is valid snappy, its uncompressed size is raw_bytes and at
//     most max_request_bytes, and it parses as a prometheus.WriteRequest
//     (or an io.prometheus.write.v2.Request);
//   - every sample of the range is in exactly one request, with its value
//     bits, timestamp and labels; EncodedRequest::rows lists them in order;
//   - labels of each TimeSeries are sorted, unique, and include __name__; a
//     series appears at most once per request;
//   - with metadata, each 1.0 request carries one MetricMetadata per metric
//     name among its series, in order of first appearance, and each 2.0
//     series its Metadata; without, none;
//   - 2.0: symbol 0 is "", every symbol appears once and is referred to,
//     every reference is in the table;
//   - per series, samples go out in timestamp order, insertion order among
//     equal timestamps, across requests too; min_ts/max_ts are right;
//   - the batch keeps exactly the rows not delivered, in order, with the
//     labels they were decoded to (the raw-key cache never returns another
//     series).
#include <snappy.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "batch.h"
#include "decode.h"
#include "encoder.h"
#include "encoder_v2.h"
#include "fuzz_check.h"
#include "options.h"
#include "remote.pb.h"
#include "text.h"
#include "write_v2.pb.h"

namespace {

using psink::Batch;
using psink::Cell;
using psink::EncodedRequest;
using psink::LabelSet;
using psink::Status;
using psink::TimeUnit;

constexpr int64_t kNow = 1'700'000'000'000;

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

std::string NameOf(const LabelSet& labels) {
  for (const auto& [k, v] : labels) {
    if (k == "__name__") return v;
  }
  return {};
}

// The metadata entry a request carries for metric `name`, as the generated
// classes would write it.
prometheus::MetricMetadata ExpectedMetadata(const psink::MetricMetadata& md, const std::string& name) {
  prometheus::MetricMetadata m;
  m.set_type(static_cast<prometheus::MetricMetadata::MetricType>(md.type));
  m.set_metric_family_name(name);
  m.set_help(md.help);
  m.set_unit(md.unit);
  return m;
}

// Bytes of a request holding only a TimeSeries with these labels and one
// sample at `ts` (and the metadata of its metric).
size_t SingleSampleRequestBytes(const LabelSet& labels, int64_t ts, const psink::MetricMetadata* md) {
  size_t sample = 1 + 8 + 1 + VarintSize(static_cast<uint64_t>(ts));
  size_t payload = psink::EncodeLabels(labels).size() + 1 + VarintSize(sample) + sample;
  size_t bytes = 1 + VarintSize(payload) + payload;
  if (md) {
    size_t m = ExpectedMetadata(*md, NameOf(labels)).ByteSizeLong();
    bytes += 1 + VarintSize(m) + m;
  }
  return bytes;
}

// Bytes of a 2.0 request holding only a TimeSeries with these labels and one
// sample at `ts` (and metadata), as the generated classes write it: they
// leave out a zero value or timestamp that the encoder writes, so the
// encoder's size is between this and 14 bytes more.
size_t SingleSampleRequestBytesV2(const LabelSet& labels, double value, int64_t ts, const psink::MetricMetadata* md) {
  io::prometheus::write::v2::Request rq;
  rq.add_symbols("");
  auto sym = [&](const std::string& text) -> uint32_t {
    for (int i = 0; i < rq.symbols_size(); ++i) {
      if (rq.symbols(i) == text) return static_cast<uint32_t>(i);
    }
    rq.add_symbols(text);
    return static_cast<uint32_t>(rq.symbols_size() - 1);
  };
  io::prometheus::write::v2::TimeSeries* series = rq.add_timeseries();
  for (const auto& [k, v] : labels) {
    series->add_labels_refs(sym(k));
    series->add_labels_refs(sym(v));
  }
  auto* sample = series->add_samples();
  sample->set_value(value);
  sample->set_timestamp(ts);
  if (md) {
    auto* m = series->mutable_metadata();
    m->set_type(static_cast<io::prometheus::write::v2::Metadata::MetricType>(md->type));
    m->set_help_ref(sym(md->help));
    m->set_unit_ref(sym(md->unit));
  }
  return rq.ByteSizeLong();
}

// What the batch should hold: one entry per buffered row.
struct ModelRow {
  LabelSet labels;
  uint64_t value_bits;
  int64_t ts;
  uint64_t seq;
};

class Harness {
 public:
  Harness(TimeUnit unit, size_t max_bytes, size_t batch_size, bool v2, std::optional<psink::MetricMetadata> md)
      : unit_(unit), max_bytes_(max_bytes), batch_size_(batch_size), v2_(v2), md_(std::move(md)) {}

  void Row(std::string_view line) {
    std::vector<std::string_view> f;
    fuzz::Split(line, '\t', &f);
    Cell cells[3];
    for (size_t i = 0; i < 3 && i < f.size(); ++i) {
      if (f[i] != "NULL") {
        cells[i].type = Cell::Type::kText;
        cells[i].text = f[i];
      }
    }
    // As Sink::Insert: the raw label inputs as a cache key, then decoding.
    std::string rawkey(1, static_cast<char>(cells[0].type));
    rawkey.append(cells[0].text);
    uint32_t series = batch_.FindRawKey(rawkey);
    LabelSet labels;
    Status st = DecodeLabels(cells[0], &labels);
    if (series == UINT32_MAX) {
      if (!st.ok()) return;
      series = batch_.Intern(labels);
      batch_.RememberRawKey(rawkey, series);
    } else {
      FUZZ_CHECK(st.ok(), "the raw-key cache knows labels that do not decode");
    }
    FUZZ_CHECK(batch_.labels(series) == labels, "series %u does not hold the row's labels", series);
    double value;
    if (!psink::DecodeValue(cells[1], "value", &value).ok()) return;
    int64_t ts;
    if (!psink::DecodeTimestamp(cells[2], unit_, kNow, "timestamp", &ts).ok()) return;

    batch_.Append(series, value, ts, arrived_);
    model_.push_back(ModelRow{labels, Bits(value), ts, arrived_});
    ++arrived_;
    while (batch_.size() >= batch_size_) {
      if (!Send(batch_size_)) break;
    }
    CheckModel();
  }

  void Directive(std::string_view line) {
    if (line == "!flush") {
      while (!batch_.empty()) {
        if (!Send(std::min(batch_.size(), batch_size_))) break;
      }
    } else if (line.rfind("!fail ", 0) == 0) {
      fail_after_ = std::strtoul(std::string(line.substr(6)).c_str(), nullptr, 10) % 8;
      fail_armed_ = true;
    } else if (line == "!savepoint") {
      savepoint_ = arrived_;
    } else if (line == "!rollback_to") {
      batch_.TruncateFromSeq(savepoint_);
      while (!model_.empty() && model_.back().seq >= savepoint_) model_.pop_back();
      arrived_ = savepoint_;
    } else if (line == "!rollback") {
      batch_.Clear();
      model_.clear();
    }
    CheckModel();
  }

  void Finish() {
    fail_armed_ = false;
    // Only a sample too large for any request stops this (Send drops the rows).
    while (!batch_.empty()) Send(std::min(batch_.size(), batch_size_));
    FUZZ_CHECK(model_.empty(), "rows left after the final flush");
  }

 private:
  Status DecodeLabels(const Cell& json, LabelSet* out) {
    builder_.Reset();
    if (json.type == Cell::Type::kText) PSINK_RETURN_IF_ERROR(builder_.AddJson(json.text, "labels"));
    return builder_.Finish(out);
  }

  // Sends rows [0, n) as Sink::Send does; false when the send "failed".
  bool Send(size_t n) {
    std::vector<EncodedRequest> reqs;
    const psink::MetricMetadata* md = md_ ? &*md_ : nullptr;
    Status st = v2_ ? psink::EncodeRequestsV2(batch_, 0, n, max_bytes_, md, &reqs)
                    : psink::EncodeRequests(batch_, 0, n, max_bytes_, &reqs, md);
    // Whether some sample cannot fit in a request of its own: surely (too_big)
    // or, for 2.0, perhaps (maybe_too_big; see SingleSampleRequestBytesV2).
    bool too_big = false, maybe_too_big = false;
    for (size_t i = 0; i < n; ++i) {
      if (v2_) {
        double value;
        std::memcpy(&value, &model_[i].value_bits, sizeof value);
        size_t bytes = SingleSampleRequestBytesV2(model_[i].labels, value, model_[i].ts, md);
        too_big |= bytes > max_bytes_;
        maybe_too_big |= bytes + 14 > max_bytes_;
      } else {
        too_big |= SingleSampleRequestBytes(model_[i].labels, model_[i].ts, md) > max_bytes_;
        maybe_too_big = too_big;
      }
    }
    if (!st.ok()) {
      FUZZ_CHECK(maybe_too_big, "EncodeRequests failed though every sample fits: %s", st.message().c_str());
      // A sink refuses such a row at INSERT; drop the rows, as a rollback would.
      batch_.Clear();
      model_.clear();
      return false;
    }
    FUZZ_CHECK(!too_big, "EncodeRequests accepted a sample larger than max_request_bytes");
    CheckRequests(reqs, n);

    size_t deliver = reqs.size();
    if (fail_armed_) {
      deliver = std::min(deliver, fail_after_);
      fail_armed_ = false;
    }
    // What the sink does: the rows leave the buffer with their requests; a
    // request that fails dooms the transaction, whose ROLLBACK drops the
    // rest (no partial delivery leaves rows behind to send again).
    batch_.Clear();
    model_.clear();
    CheckModel();
    return deliver == reqs.size();
  }

  // One TimeSeries of a request, whichever the protocol.
  struct SeriesOut {
    LabelSet labels;
    std::vector<std::pair<double, int64_t>> samples;
  };

  // Metric names of the series of a request, in order of first appearance.
  static std::vector<std::string> MetricNames(const std::vector<SeriesOut>& series) {
    std::vector<std::string> names;
    for (const SeriesOut& s : series) {
      std::string name = NameOf(s.labels);
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    return names;
  }

  // A 1.0 body: WriteRequest, with one MetricMetadata per metric name.
  void DecodeV1(const std::string& raw, std::vector<SeriesOut>* out) {
    prometheus::WriteRequest wr;
    FUZZ_CHECK(wr.ParseFromString(raw), "the body does not parse as a WriteRequest");
    for (const prometheus::TimeSeries& ts : wr.timeseries()) {
      SeriesOut s;
      for (const prometheus::Label& l : ts.labels()) s.labels.emplace_back(l.name(), l.value());
      for (const prometheus::Sample& x : ts.samples()) s.samples.emplace_back(x.value(), x.timestamp());
      FUZZ_CHECK(ts.exemplars_size() == 0, "exemplars sent");
      out->push_back(std::move(s));
    }
    std::vector<std::string> names = MetricNames(*out);
    if (!md_) {
      FUZZ_CHECK(wr.metadata_size() == 0, "metadata sent without metric_type/help/unit");
      return;
    }
    FUZZ_CHECK(static_cast<size_t>(wr.metadata_size()) == names.size(), "%d metadata entries for %zu metric names",
               wr.metadata_size(), names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      FUZZ_CHECK(wr.metadata(static_cast<int>(i)).SerializeAsString() ==
                     ExpectedMetadata(*md_, names[i]).SerializeAsString(),
                 "metadata entry %zu is not that of '%s'", i, names[i].c_str());
    }
  }

  // A 2.0 body: Request with its own symbol table ("" first, every string
  // once), labels as (name, value) reference pairs, metadata on every series.
  void DecodeV2(const std::string& raw, std::vector<SeriesOut>* out) {
    namespace v2 = io::prometheus::write::v2;
    v2::Request rq;
    FUZZ_CHECK(rq.ParseFromString(raw), "the body does not parse as a 2.0 Request");
    const auto& sym = rq.symbols();
    FUZZ_CHECK(sym.size() > 0 && sym[0].empty(), "symbol 0 is not \"\"");
    std::vector<bool> used(static_cast<size_t>(sym.size()), false);
    used[0] = true;
    for (int i = 0; i < sym.size(); ++i) {
      for (int j = 0; j < i; ++j) FUZZ_CHECK(sym[i] != sym[j], "symbol '%s' appears twice", sym[i].c_str());
    }
    auto ref = [&](uint32_t r) -> const std::string& {
      FUZZ_CHECK(r < static_cast<uint32_t>(sym.size()), "symbol reference %u out of %d", r, sym.size());
      used[r] = true;
      return sym[static_cast<int>(r)];
    };
    for (const v2::TimeSeries& ts : rq.timeseries()) {
      SeriesOut s;
      FUZZ_CHECK(ts.labels_refs_size() % 2 == 0, "odd labels_refs");
      for (int i = 0; i < ts.labels_refs_size(); i += 2) {
        s.labels.emplace_back(ref(ts.labels_refs(i)), ref(ts.labels_refs(i + 1)));
      }
      for (const v2::Sample& x : ts.samples()) {
        FUZZ_CHECK(x.start_timestamp() == 0, "start_timestamp set");
        s.samples.emplace_back(x.value(), x.timestamp());
      }
      FUZZ_CHECK(ts.histograms_size() == 0 && ts.exemplars_size() == 0, "histograms or exemplars sent");
      if (!md_) {
        FUZZ_CHECK(ts.metadata().type() == 0 && ts.metadata().help_ref() == 0 && ts.metadata().unit_ref() == 0,
                   "metadata sent without metric_type/help/unit");
      } else {
        FUZZ_CHECK(static_cast<uint32_t>(ts.metadata().type()) == static_cast<uint32_t>(md_->type), "metadata type");
        FUZZ_CHECK(ref(ts.metadata().help_ref()) == md_->help, "metadata help");
        FUZZ_CHECK(ref(ts.metadata().unit_ref()) == md_->unit, "metadata unit");
      }
      out->push_back(std::move(s));
    }
    for (size_t i = 0; i < used.size(); ++i) FUZZ_CHECK(used[i], "symbol %zu is never referred to", i);
  }

  void CheckRequests(const std::vector<EncodedRequest>& reqs, size_t n) {
    std::vector<int> seen(n, 0);
    // Per series (by labels): the last (ts, row) sent.
    std::map<LabelSet, std::pair<int64_t, uint32_t>> last;
    size_t total = 0;
    for (const EncodedRequest& req : reqs) {
      FUZZ_CHECK(!req.rows.empty(), "empty request");
      FUZZ_CHECK(snappy::IsValidCompressedBuffer(req.body.data(), req.body.size()), "invalid snappy body");
      std::string raw;
      FUZZ_CHECK(snappy::Uncompress(req.body.data(), req.body.size(), &raw), "snappy::Uncompress failed");
      FUZZ_CHECK(raw.size() == req.raw_bytes, "raw_bytes %zu, body has %zu", req.raw_bytes, raw.size());
      FUZZ_CHECK(raw.size() <= max_bytes_, "request of %zu bytes over max_request_bytes %zu", raw.size(), max_bytes_);
      std::vector<SeriesOut> series;
      if (v2_) {
        DecodeV2(raw, &series);
      } else {
        DecodeV1(raw, &series);
      }
      size_t k = 0;
      int64_t min_ts = INT64_MAX, max_ts = INT64_MIN;
      std::vector<LabelSet> in_request;
      for (const SeriesOut& s : series) {
        const LabelSet& labels = s.labels;
        bool has_name = false;
        for (size_t i = 0; i < labels.size(); ++i) {
          if (i) FUZZ_CHECK(labels[i - 1].first < labels[i].first, "labels not sorted/unique");
          FUZZ_CHECK(!labels[i].second.empty(), "empty label value sent");
          has_name |= labels[i].first == "__name__";
        }
        FUZZ_CHECK(has_name, "a series without __name__");
        FUZZ_CHECK(std::find(in_request.begin(), in_request.end(), labels) == in_request.end(),
                   "a series appears twice in one request");
        in_request.push_back(labels);
        FUZZ_CHECK(!s.samples.empty(), "series without samples");
        for (const auto& [value, ts] : s.samples) {
          FUZZ_CHECK(k < req.rows.size(), "more samples than EncodedRequest::rows");
          uint32_t row = req.rows[k++];
          FUZZ_CHECK(row < n, "row %u outside the range [0, %zu)", row, n);
          FUZZ_CHECK(seen[row]++ == 0, "row %u sent twice", row);
          const ModelRow& m = model_[row];
          FUZZ_CHECK(Bits(value) == m.value_bits, "row %u: value bits changed", row);
          FUZZ_CHECK(ts == m.ts, "row %u: timestamp changed", row);
          FUZZ_CHECK(labels == m.labels, "row %u sent under other labels", row);
          auto it = last.find(labels);
          if (it != last.end()) {
            auto [pts, prow] = it->second;
            FUZZ_CHECK(pts < m.ts || (pts == m.ts && prow < row), "series out of order: row %u (ts %lld) after row %u (ts %lld)",
                       row, static_cast<long long>(m.ts), prow, static_cast<long long>(pts));
          }
          last[labels] = {m.ts, row};
          min_ts = std::min(min_ts, m.ts);
          max_ts = std::max(max_ts, m.ts);
        }
      }
      FUZZ_CHECK(k == req.rows.size(), "EncodedRequest::rows lists %zu rows, body has %zu", req.rows.size(), k);
      FUZZ_CHECK(req.min_ts == min_ts && req.max_ts == max_ts, "min_ts/max_ts wrong");
      total += k;
    }
    FUZZ_CHECK(total == n, "%zu samples sent of %zu", total, n);
  }

  void CheckModel() {
    FUZZ_CHECK(batch_.size() == model_.size(), "batch holds %zu rows, expected %zu", batch_.size(), model_.size());
    for (size_t i = 0; i < model_.size(); ++i) {
      const psink::Row& r = batch_.row(i);
      FUZZ_CHECK(r.ts == model_[i].ts && Bits(r.value) == model_[i].value_bits && r.seq == model_[i].seq,
                 "row %zu changed in the batch", i);
      FUZZ_CHECK(batch_.labels(r.series) == model_[i].labels, "row %zu lost its labels", i);
      FUZZ_CHECK(batch_.encoded_labels(r.series) == psink::EncodeLabels(model_[i].labels), "encoded labels stale");
    }
  }

  TimeUnit unit_;
  size_t max_bytes_, batch_size_;
  Batch batch_;
  psink::LabelSetBuilder builder_;
  std::vector<ModelRow> model_;
  uint64_t arrived_ = 0, savepoint_ = 0;
  bool v2_;
  std::optional<psink::MetricMetadata> md_;
  size_t fail_after_ = 0;
  bool fail_armed_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string_view> lines;
  fuzz::Split(fuzz::AsText(data, size), '\n', &lines);
  if (lines.empty() || lines.size() > 512) return 0;

  // Header: unit, max_request_bytes, batch_size.
  std::vector<std::string_view> h;
  fuzz::Split(lines[0], ' ', &h);
  TimeUnit unit = TimeUnit::kMillis;
  if (!h.empty()) {
    if (h[0] == "s") unit = TimeUnit::kSeconds;
    if (h[0] == "us") unit = TimeUnit::kMicros;
    if (h[0] == "ns") unit = TimeUnit::kNanos;
  }
  auto num = [&](size_t i, size_t def) {
    return i < h.size() ? std::strtoul(std::string(h[i]).c_str(), nullptr, 10) : def;
  };
  size_t max_bytes = std::clamp<size_t>(num(1, 512), 40, 8192);
  size_t batch_size = std::clamp<size_t>(num(2, 8), 1, 64);

  size_t next = 3;
  bool v2 = h.size() > next && h[next] == "v2";
  next += v2;
  std::optional<psink::MetricMetadata> md;
  if (h.size() > next && h[next].substr(0, 2) == "md") {
    md.emplace();
    md->type = static_cast<psink::MetricType>(h[next].size() > 2 ? (h[next][2] - '0') & 7 : 0);
    // As the options allow: UTF-8 only (proto3 strings must be).
    if (h.size() > next + 1 && psink::IsValidUtf8(h[next + 1])) md->help = std::string(h[next + 1]);
    if (h.size() > next + 2 && psink::IsValidUtf8(h[next + 2])) md->unit = std::string(h[next + 2]);
  }
  Harness harness(unit, max_bytes, batch_size, v2, std::move(md));
  for (size_t i = 1; i < lines.size(); ++i) {
    if (!lines[i].empty() && lines[i][0] == '!') {
      harness.Directive(lines[i]);
    } else {
      harness.Row(lines[i]);
    }
  }
  harness.Finish();
  return 0;
}
