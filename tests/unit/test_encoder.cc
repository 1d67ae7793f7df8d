// Unit tests for encoder.{h,cc} (remote-write 1.0): rows of a Batch
// encoded by hand into request bodies, and read back here with
// snappy and the generated protobuf classes (proto/remote.proto).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "batch.h"
#include "encoder.h"
#include "histogram.h"
#include "remote.pb.h"
#include "request_decoder.h"

using psink::Batch;
using psink::EncodedRequest;
using psink::EncodeRequests;
using psink::LabelSet;
using psink::Status;

namespace {

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

double FromBits(uint64_t b) {
  double d;
  std::memcpy(&d, &b, sizeof d);
  return d;
}

// Decodes one request body with the tests' shared decoder
// (tests/common/request_decoder.h), which checks the wire rules on the
// way; checks raw_bytes too.
prometheus::WriteRequest Decode(const EncodedRequest& r, std::string* raw_out = nullptr) {
  rwdecode::DecodedRequest d;
  std::vector<std::string> violations;
  std::string raw;
  rwdecode::DecodeRequest(r.body, rwdecode::Protocol::kV1, &d, &violations, &raw);
  REQUIRE_MESSAGE(d.decoded, d.decode_error);
  for (const std::string& v : violations) CHECK_MESSAGE(false, v);
  CHECK(raw.size() == r.raw_bytes);
  if (raw_out) *raw_out = raw;
  return d.write;
}

LabelSet LabelsOf(const prometheus::TimeSeries& ts) {
  LabelSet out;
  for (const auto& l : ts.labels()) out.emplace_back(l.name(), l.value());
  return out;
}

std::vector<EncodedRequest> EncodeOk(const Batch& b, size_t begin, size_t end, size_t limit = 1 << 20) {
  std::vector<EncodedRequest> out;
  Status st = EncodeRequests(b, begin, end, limit, &out);
  INFO("message: ", st.message());
  REQUIRE(st.ok());
  return out;
}

std::vector<EncodedRequest> EncodeOk(const Batch& b) { return EncodeOk(b, 0, b.size()); }

}  // namespace

// ---------------------------------------------------------------- Batch

// ---------------------------------------------------------------- encoder

TEST_CASE("samples are grouped by series, ordered by timestamp; labels as interned (sorted)") {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "a"}, {"job", "x"}});
  uint32_t c = b.Intern({{"__name__", "c"}});
  b.Append(a, 3.0, 30);  // row 0
  b.Append(c, 1.0, 10);  // row 1
  b.Append(a, 1.0, 10);  // row 2
  b.Append(c, 2.0, 20);  // row 3
  b.Append(a, 2.0, 20);  // row 4
  auto reqs = EncodeOk(b);
  REQUIRE(reqs.size() == 1);
  std::string raw;
  prometheus::WriteRequest wr = Decode(reqs[0], &raw);
  REQUIRE(wr.timeseries_size() == 2);
  CHECK(LabelsOf(wr.timeseries(0)) == LabelSet{{"__name__", "a"}, {"job", "x"}});
  CHECK(LabelsOf(wr.timeseries(1)) == LabelSet{{"__name__", "c"}});
  const auto& sa = wr.timeseries(0).samples();
  REQUIRE(sa.size() == 3);
  CHECK(sa[0].timestamp() == 10);
  CHECK(sa[0].value() == 1.0);
  CHECK(sa[1].timestamp() == 20);
  CHECK(sa[1].value() == 2.0);
  CHECK(sa[2].timestamp() == 30);
  CHECK(sa[2].value() == 3.0);
  const auto& sc = wr.timeseries(1).samples();
  REQUIRE(sc.size() == 2);
  CHECK(sc[0].timestamp() == 10);
  CHECK(sc[1].timestamp() == 20);
  CHECK(wr.metadata_size() == 0);
  CHECK(reqs[0].rows == std::vector<uint32_t>{2, 4, 0, 1, 3});
  CHECK(reqs[0].min_ts == 10);
  CHECK(reqs[0].max_ts == 30);
  // Non-zero values and timestamps: byte-identical to protobuf's own encoding.
  CHECK(wr.SerializeAsString() == raw);
}

TEST_CASE("samples with equal timestamps keep their insertion order") {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "a"}});
  uint32_t c = b.Intern({{"__name__", "c"}});
  b.Append(a, 1.0, 5);
  b.Append(c, 10.0, 5);
  b.Append(a, 2.0, 5);
  b.Append(a, 0.5, 4);
  b.Append(c, 20.0, 5);
  b.Append(a, 3.0, 5);
  auto reqs = EncodeOk(b);
  REQUIRE(reqs.size() == 1);
  auto wr = Decode(reqs[0]);
  REQUIRE(wr.timeseries_size() == 2);
  const auto& sa = wr.timeseries(0).samples();
  REQUIRE(sa.size() == 4);
  CHECK(sa[0].value() == 0.5);
  CHECK(sa[1].value() == 1.0);
  CHECK(sa[2].value() == 2.0);
  CHECK(sa[3].value() == 3.0);
  const auto& sc = wr.timeseries(1).samples();
  REQUIRE(sc.size() == 2);
  CHECK(sc[0].value() == 10.0);
  CHECK(sc[1].value() == 20.0);
  CHECK(reqs[0].rows == std::vector<uint32_t>{3, 0, 2, 5, 1, 4});
}

TEST_CASE("values and timestamps survive bit-exact, NaN payloads and negative timestamps included") {
  const uint64_t value_bits[] = {
      0x7ff0000000000002ULL,                                   // stale marker
      0x7ff8000000000001ULL,                                   // Prometheus' ordinary NaN
      0x7ff8000000000000ULL,                                   // quiet NaN
      0xfff8000000000000ULL,                                   // negative NaN
      0x8000000000000000ULL,                                   // -0.0
      0x0000000000000000ULL,                                   // 0.0
      0x0000000000000001ULL,                                   // smallest subnormal
      Bits(std::numeric_limits<double>::infinity()),
      Bits(-std::numeric_limits<double>::infinity()),
      Bits(std::numeric_limits<double>::max()),
      Bits(0.1),
      Bits(-1234.5678),
  };
  const int64_t timestamps[] = {std::numeric_limits<int64_t>::min(), -1723741200000, -1, 0, 1, 127, 128,
                                1723741200123, std::numeric_limits<int64_t>::max(), 300, 301, 302};
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (size_t i = 0; i < std::size(value_bits); ++i) b.Append(s, FromBits(value_bits[i]), timestamps[i]);
  auto reqs = EncodeOk(b);
  REQUIRE(reqs.size() == 1);
  auto wr = Decode(reqs[0]);
  REQUIRE(wr.timeseries_size() == 1);
  const auto& samples = wr.timeseries(0).samples();
  REQUIRE(samples.size() == static_cast<int>(std::size(value_bits)));
  // The timestamps above are in ascending order but for the last three.
  std::vector<size_t> order(std::size(value_bits));
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return timestamps[x] < timestamps[y]; });
  for (int k = 0; k < samples.size(); ++k) {
    CAPTURE(k);
    CHECK(samples[k].timestamp() == timestamps[order[k]]);
    CHECK(Bits(samples[k].value()) == value_bits[order[k]]);
  }
  CHECK(reqs[0].min_ts == std::numeric_limits<int64_t>::min());
  CHECK(reqs[0].max_ts == std::numeric_limits<int64_t>::max());
}

TEST_CASE("a row range encodes only its rows; series without rows are left out") {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "a"}});
  uint32_t c = b.Intern({{"__name__", "c"}});
  uint32_t d = b.Intern({{"__name__", "d"}});
  (void)d;
  b.Append(a, 1, 1);  // 0
  b.Append(c, 2, 2);  // 1
  b.Append(c, 3, 3);  // 2
  b.Append(a, 4, 4);  // 3
  auto reqs = EncodeOk(b, 1, 3);
  REQUIRE(reqs.size() == 1);
  auto wr = Decode(reqs[0]);
  REQUIRE(wr.timeseries_size() == 1);
  CHECK(LabelsOf(wr.timeseries(0)) == LabelSet{{"__name__", "c"}});
  CHECK(wr.timeseries(0).samples_size() == 2);
  CHECK(reqs[0].rows == std::vector<uint32_t>{1, 2});
  CHECK(reqs[0].min_ts == 2);
  CHECK(reqs[0].max_ts == 3);
}

TEST_CASE("an empty range gives no request") {
  Batch b;
  std::vector<EncodedRequest> out(2);
  CHECK(EncodeRequests(b, 0, 0, 1024, &out).ok());
  CHECK(out.empty());
  uint32_t s = b.Intern({{"__name__", "m"}});
  b.Append(s, 1, 1);
  out.resize(1);
  CHECK(EncodeRequests(b, 1, 1, 1024, &out).ok());
  CHECK(out.empty());
}

TEST_CASE("splitting packs each request up to max_request_bytes") {
  // Label {__name__="m"}: 15 bytes. A sample with 0 <= ts < 128: 13 bytes.
  // A TimeSeries of k such samples: 1 + 2 + 15 + 13k bytes (k >= 9).
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (int i = 0; i < 100; ++i) b.Append(s, i + 0.5, 100 - i);  // reverse time order
  auto reqs = EncodeOk(b, 0, b.size(), 1024);
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].raw_bytes == 18 + 13 * 77);
  CHECK(reqs[1].raw_bytes == 18 + 13 * 23);
  auto w0 = Decode(reqs[0]);
  auto w1 = Decode(reqs[1]);
  REQUIRE(w0.timeseries_size() == 1);
  REQUIRE(w1.timeseries_size() == 1);
  CHECK(w0.timeseries(0).samples_size() == 77);
  CHECK(w1.timeseries(0).samples_size() == 23);
  // The series continues in timestamp order across the two requests.
  CHECK(w0.timeseries(0).samples(0).timestamp() == 1);
  CHECK(w0.timeseries(0).samples(76).timestamp() == 77);
  CHECK(w1.timeseries(0).samples(0).timestamp() == 78);
  CHECK(w1.timeseries(0).samples(22).timestamp() == 100);
  CHECK(LabelsOf(w1.timeseries(0)) == LabelSet{{"__name__", "m"}});
  CHECK(reqs[0].min_ts == 1);
  CHECK(reqs[0].max_ts == 77);
  CHECK(reqs[1].min_ts == 78);
  CHECK(reqs[1].max_ts == 100);
}

TEST_CASE("a limit that fits exactly one sample gives one request per sample") {
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (int i = 1; i <= 3; ++i) b.Append(s, i, i);
  // TimeSeries entry: 1 + 1 + 15 + 13 = 30 bytes.
  auto reqs = EncodeOk(b, 0, 3, 30);
  REQUIRE(reqs.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(reqs[i].raw_bytes == 30);
    CHECK(reqs[i].rows == std::vector<uint32_t>{static_cast<uint32_t>(i)});
    auto wr = Decode(reqs[i]);
    REQUIRE(wr.timeseries_size() == 1);
    REQUIRE(wr.timeseries(0).samples_size() == 1);
    CHECK(wr.timeseries(0).samples(0).value() == static_cast<double>(i + 1));
  }
  std::vector<EncodedRequest> out;
  Status st = EncodeRequests(b, 0, 3, 29, &out);
  CHECK(st.code() == Status::Code::kInvalid);
  CHECK(st.message() == "one sample with its labels needs 30 bytes, more than max_request_bytes (29)");
}

TEST_CASE("one sample larger than the limit is an error, never dropped") {
  LabelSet big{{"__name__", "m"}, {"big", std::string(2000, 'x')}};
  // What protobuf itself says one such sample needs.
  prometheus::WriteRequest expected;
  auto* ts = expected.add_timeseries();
  for (const auto& [n, v] : big) {
    auto* l = ts->add_labels();
    l->set_name(n);
    l->set_value(v);
  }
  auto* sample = ts->add_samples();
  sample->set_value(1.0);
  sample->set_timestamp(1);
  const size_t needed = expected.ByteSizeLong();
  CHECK(needed == 2042);

  Batch b;
  uint32_t small = b.Intern({{"__name__", "small"}});
  uint32_t huge = b.Intern(big);
  b.Append(small, 1.0, 1);
  b.Append(huge, 1.0, 1);
  std::vector<EncodedRequest> out;
  Status st = EncodeRequests(b, 0, 2, 1024, &out);
  CHECK(st.code() == Status::Code::kInvalid);
  CHECK(st.message() == "one sample with its labels needs " + std::to_string(needed) +
                            " bytes, more than max_request_bytes (1024)");
  st = EncodeRequests(b, 1, 2, 1024, &out);
  CHECK(st.message() == "one sample with its labels needs 2042 bytes, more than max_request_bytes (1024)");
  // Just enough room: accepted, byte-identical to protobuf.
  auto reqs = EncodeOk(b, 1, 2, needed);
  REQUIRE(reqs.size() == 1);
  std::string raw;
  Decode(reqs[0], &raw);
  CHECK(raw == expected.SerializeAsString());
}

TEST_CASE("splitting many series: sizes bounded, every sample once, series order kept") {
  std::mt19937_64 rng(20240815);
  Batch b;
  const int kSeries = 40;
  std::vector<uint32_t> ids;
  size_t max_labels = 0;
  for (int s = 0; s < kSeries; ++s) {
    LabelSet l{{"__name__", "metric_" + std::to_string(s % 7)}, {"instance", "host-" + std::to_string(s)},
               {"pad", std::string(1 + rng() % 200, 'p')}};
    ids.push_back(b.Intern(l));
    max_labels = std::max(max_labels, b.encoded_labels(ids.back()).size());
  }
  const size_t kRows = 6000;
  for (size_t i = 0; i < kRows; ++i) {
    uint32_t s = ids[rng() % ids.size()];
    int64_t ts = static_cast<int64_t>(rng() % 2000) - 1000;  // negative, and repeats
    if (rng() % 50 == 0) ts = std::numeric_limits<int64_t>::min() + static_cast<int64_t>(rng() % 3);
    b.Append(s, static_cast<double>(i), ts);  // the value identifies the row
  }

  for (size_t limit : {size_t{1024}, size_t{4096}, size_t{65536}}) {
    CAPTURE(limit);
    auto reqs = EncodeOk(b, 0, kRows, limit);
    std::vector<int> seen(kRows, 0);
    std::map<uint32_t, std::vector<uint32_t>> per_series;  // rows in the order sent
    for (size_t r = 0; r < reqs.size(); ++r) {
      CAPTURE(r);
      const EncodedRequest& req = reqs[r];
      CHECK(req.raw_bytes <= limit);
      // Requests are full: the next sample (at worst a new series) did not fit.
      if (r + 1 < reqs.size()) CHECK(req.raw_bytes + max_labels + 26 > limit);
      auto wr = Decode(req);
      size_t k = 0;
      std::vector<LabelSet> series_in_request;
      int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
      for (const auto& ts : wr.timeseries()) {
        LabelSet labels = LabelsOf(ts);
        CHECK(std::find(series_in_request.begin(), series_in_request.end(), labels) == series_in_request.end());
        series_in_request.push_back(labels);
        REQUIRE(ts.samples_size() > 0);
        for (const auto& sample : ts.samples()) {
          REQUIRE(k < req.rows.size());
          uint32_t row = req.rows[k++];
          REQUIRE(row < kRows);
          ++seen[row];
          CHECK(b.labels(b.row(row).series) == labels);
          CHECK(sample.timestamp() == b.row(row).ts);
          CHECK(Bits(sample.value()) == Bits(b.row(row).value));
          per_series[b.row(row).series].push_back(row);
          lo = std::min(lo, sample.timestamp());
          hi = std::max(hi, sample.timestamp());
        }
      }
      CHECK(k == req.rows.size());
      CHECK(req.min_ts == lo);
      CHECK(req.max_ts == hi);
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
    // Per series: timestamp order, insertion order among equal timestamps,
    // across request boundaries.
    for (auto& [series, rows] : per_series) {
      std::vector<uint32_t> expected;
      for (uint32_t i = 0; i < kRows; ++i) {
        if (b.row(i).series == series) expected.push_back(i);
      }
      std::stable_sort(expected.begin(), expected.end(),
                       [&](uint32_t x, uint32_t y) { return b.row(x).ts < b.row(y).ts; });
      CHECK(rows == expected);
    }
    if (limit == 1024) CHECK(reqs.size() > 100);
  }
}

// ---------------------------------------------------------------- 1.0 metadata

namespace {

using psink::MetricMetadata;
using psink::MetricType;

// What protobuf makes of one series with one sample and, with `md`, its
// metadata entry: the size a limit must allow.
size_t ProtobufSize(const LabelSet& labels, int64_t ts, const MetricMetadata* md) {
  prometheus::WriteRequest wr;
  auto* series = wr.add_timeseries();
  for (const auto& [n, v] : labels) {
    auto* l = series->add_labels();
    l->set_name(n);
    l->set_value(v);
  }
  auto* s = series->add_samples();
  s->set_value(1.0);
  s->set_timestamp(ts);
  if (md) {
    auto* m = wr.add_metadata();
    m->set_type(static_cast<prometheus::MetricMetadata::MetricType>(md->type));
    m->set_metric_family_name(std::string(psink::MetricName(labels)));
    m->set_help(md->help);
    m->set_unit(md->unit);
  }
  return wr.ByteSizeLong();
}

}  // namespace

TEST_CASE("with metadata, one MetricMetadata per distinct metric name, in order of first appearance") {
  Batch b;
  uint32_t a1 = b.Intern({{"__name__", "a_total"}, {"job", "x"}});
  uint32_t c = b.Intern({{"A", "sorts first"}, {"__name__", "c_bytes"}});
  uint32_t a2 = b.Intern({{"__name__", "a_total"}, {"job", "y"}});
  b.Append(a2, 1, 1);
  b.Append(c, 2, 2);
  b.Append(a1, 3, 3);
  MetricMetadata md{MetricType::kCounter, "Things counted.", "things"};
  std::vector<EncodedRequest> reqs;
  REQUIRE(EncodeRequests(b, 0, 3, 1 << 20, &reqs, &md).ok());
  REQUIRE(reqs.size() == 1);
  std::string raw;
  auto wr = Decode(reqs[0], &raw);
  REQUIRE(wr.timeseries_size() == 3);
  REQUIRE(wr.metadata_size() == 2);
  CHECK(wr.metadata(0).metric_family_name() == "a_total");
  CHECK(wr.metadata(1).metric_family_name() == "c_bytes");
  for (const auto& m : wr.metadata()) {
    CHECK(m.type() == prometheus::MetricMetadata::COUNTER);
    CHECK(m.help() == "Things counted.");
    CHECK(m.unit() == "things");
  }
  CHECK(wr.SerializeAsString() == raw);
  // The other parameter order says the same.
  std::vector<EncodedRequest> same;
  REQUIRE(EncodeRequests(b, 0, 3, 1 << 20, &md, &same).ok());
  REQUIRE(same.size() == 1);
  CHECK(same[0].body == reqs[0].body);

  // Only a type (even "unknown"): help and unit are left out.
  for (uint32_t t = 0; t <= 7; ++t) {
    CAPTURE(t);
    MetricMetadata typed{static_cast<MetricType>(t), "", ""};
    REQUIRE(EncodeRequests(b, 0, 3, 1 << 20, &reqs, &typed).ok());
    auto w = Decode(reqs[0], &raw);
    REQUIRE(w.metadata_size() == 2);
    CHECK(static_cast<uint32_t>(w.metadata(0).type()) == t);
    CHECK(w.metadata(0).help().empty());
    CHECK(w.metadata(0).unit().empty());
    CHECK(w.SerializeAsString() == raw);
  }
  CHECK(prometheus::MetricMetadata::UNKNOWN == static_cast<int>(MetricType::kUnknown));
  CHECK(prometheus::MetricMetadata::GAUGEHISTOGRAM == static_cast<int>(MetricType::kGaugeHistogram));
  CHECK(prometheus::MetricMetadata::STATESET == static_cast<int>(MetricType::kStateset));

  // Without metadata, none is sent.
  REQUIRE(EncodeRequests(b, 0, 3, 1 << 20, &reqs, nullptr).ok());
  CHECK(Decode(reqs[0]).metadata_size() == 0);
}

TEST_CASE("metadata counts in max_request_bytes; each request describes the metrics it carries") {
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (int i = 1; i <= 3; ++i) b.Append(s, i, i);
  MetricMetadata md{MetricType::kGauge, "h", "u"};
  const size_t one = ProtobufSize({{"__name__", "m"}}, 1, &md);
  CHECK(one == 30 + 13);  // the series of the 1.0 test above + MetricMetadata{2, "m", "h", "u"}
  std::vector<EncodedRequest> reqs;
  REQUIRE(EncodeRequests(b, 0, 3, one, &reqs, &md).ok());
  REQUIRE(reqs.size() == 3);
  for (const auto& r : reqs) {
    CHECK(r.raw_bytes == one);
    auto wr = Decode(r);
    REQUIRE(wr.metadata_size() == 1);
    CHECK(wr.metadata(0).metric_family_name() == "m");
  }
  Status st = EncodeRequests(b, 0, 3, one - 1, &reqs, &md);
  CHECK(st.code() == Status::Code::kInvalid);
  CHECK(st.message() == "one sample with its labels and metadata needs 43 bytes, more than max_request_bytes (42)");

  // Many series and names: every request within the limit, with exactly the
  // names of its series.
  Batch many;
  std::mt19937_64 rng(7);
  std::vector<uint32_t> ids;
  for (int i = 0; i < 30; ++i) {
    ids.push_back(many.Intern({{"__name__", "metric_" + std::to_string(i % 9)}, {"i", std::to_string(i)}}));
  }
  for (int i = 0; i < 3000; ++i) many.Append(ids[rng() % ids.size()], i, static_cast<int64_t>(rng() % 100));
  MetricMetadata long_md{MetricType::kSummary, std::string(150, 'h'), "seconds"};
  for (size_t limit : {size_t{400}, size_t{1024}, size_t{8192}}) {
    CAPTURE(limit);
    REQUIRE(EncodeRequests(many, 0, many.size(), limit, &reqs, &long_md).ok());
    size_t samples = 0;
    for (const auto& r : reqs) {
      CHECK(r.raw_bytes <= limit);
      auto wr = Decode(r);
      std::vector<std::string> names, described;
      for (const auto& ts : wr.timeseries()) {
        std::string name(psink::MetricName(LabelsOf(ts)));
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
        samples += static_cast<size_t>(ts.samples_size());
      }
      for (const auto& m : wr.metadata()) {
        described.push_back(m.metric_family_name());
        CHECK(m.type() == prometheus::MetricMetadata::SUMMARY);
        CHECK(m.help() == long_md.help);
        CHECK(m.unit() == "seconds");
      }
      CHECK(described == names);
    }
    CHECK(samples == many.size());
  }
}

TEST_CASE("histograms: spans and deltas, float counts, exemplars in timestamp order; floats and histograms apart") {
  Batch b;
  const uint32_t s = b.Intern({{"__name__", "lat"}, {"route", "/a"}});
  psink::RowExtra h, ex1, ex2;
  h.histogram.emplace();
  REQUIRE(psink::ParseHistogram(R"({"schema":-2,"sum":2.5,"zero_count":2,"zero_threshold":0.001,)"
                                R"("positive":{"-1":1,"0":3,"3":2},"negative":{"5":4},"reset":"no"})",
                                "histogram", &*h.histogram).ok());
  h.exemplar = psink::Exemplar{{{"trace_id", "h"}}, 0.5, 30};
  ex1.exemplar = psink::Exemplar{{{"trace_id", "late"}}, 1, 25};
  ex2.exemplar = psink::Exemplar{{}, 2, 15};
  b.Append(s, 1, 10, 0, 0, std::move(ex1));  // its exemplar is newer than the next row's
  b.Append(s, 0, 30, 1, 0, std::move(h));
  b.Append(s, 2, 20, 2, 0, std::move(ex2));
  std::vector<EncodedRequest> reqs = EncodeOk(b, 0, b.size());
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].histograms == 1);
  CHECK(reqs[0].exemplars == 3);
  prometheus::WriteRequest wr = Decode(reqs[0]);
  REQUIRE(wr.timeseries_size() == 2);
  const auto& floats = wr.timeseries(0);
  CHECK(floats.samples_size() == 2);
  CHECK(floats.histograms_size() == 0);
  REQUIRE(floats.exemplars_size() == 2);
  CHECK(floats.exemplars(0).timestamp() == 15);  // ordered by the exemplars' own timestamps
  CHECK(floats.exemplars(0).labels_size() == 0);
  CHECK(floats.exemplars(1).timestamp() == 25);
  CHECK(floats.exemplars(1).labels(0).value() == "late");
  const auto& hists = wr.timeseries(1);
  CHECK(LabelsOf(hists) == LabelsOf(floats));
  CHECK(hists.samples_size() == 0);
  REQUIRE(hists.histograms_size() == 1);
  const auto& x = hists.histograms(0);
  CHECK(x.count_int() == 12);
  CHECK(x.zero_count_int() == 2);
  CHECK(x.zero_threshold() == 0.001);
  CHECK(x.sum() == 2.5);
  CHECK(x.schema() == -2);
  CHECK(x.reset_hint() == prometheus::Histogram::NO);
  CHECK(x.timestamp() == 30);
  REQUIRE(x.positive_spans_size() == 2);
  CHECK(x.positive_spans(0).offset() == -1);
  CHECK(x.positive_spans(0).length() == 2);
  CHECK(x.positive_spans(1).offset() == 2);
  CHECK(x.positive_spans(1).length() == 1);
  CHECK(std::vector<int64_t>(x.positive_deltas().begin(), x.positive_deltas().end()) == std::vector<int64_t>{1, 2, -1});
  REQUIRE(x.negative_spans_size() == 1);
  CHECK(x.negative_spans(0).offset() == 5);
  CHECK(std::vector<int64_t>(x.negative_deltas().begin(), x.negative_deltas().end()) == std::vector<int64_t>{4});
  CHECK(x.positive_counts_size() == 0);
  REQUIRE(hists.exemplars_size() == 1);
  CHECK(hists.exemplars(0).value() == 0.5);
}

TEST_CASE("histogram rows: the size limit holds and every row is sent once, in order") {
  Batch b;
  const uint32_t s = b.Intern({{"__name__", "h"}});
  for (int i = 0; i < 30; ++i) {
    psink::RowExtra x;
    x.histogram.emplace();
    REQUIRE(psink::ParseHistogram(R"({"schema":1,"sum":1.5,"positive":{"0":1.5,"1":2,"7":1}})", "histogram",
                                  &*x.histogram).ok());
    b.Append(s, 0, i, static_cast<uint64_t>(i), 0, std::move(x));
    b.Append(s, i, i, static_cast<uint64_t>(i));
  }
  std::vector<EncodedRequest> reqs = EncodeOk(b, 0, b.size(), 300);
  size_t rows = 0, histograms = 0;
  for (const auto& r : reqs) {
    CHECK(r.raw_bytes <= 300);
    prometheus::WriteRequest wr = Decode(r);
    for (const auto& ts : wr.timeseries()) {
      CHECK((ts.samples_size() == 0) != (ts.histograms_size() == 0));
      for (const auto& h : ts.histograms()) CHECK(h.positive_counts_size() == 3);
    }
    rows += r.rows.size();
    histograms += r.histograms;
  }
  CHECK(rows == 60);
  CHECK(histograms == 30);
}
