// Unit tests for encoder_v2.{h,cc}: rows of a Batch encoded by hand into
// remote-write 2.0 bodies (io.prometheus.write.v2.Request), read back here
// with snappy and the generated protobuf classes (proto/write_v2.proto).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "batch.h"
#include "encoder_v2.h"
#include "histogram.h"
#include "remote.pb.h"
#include "write_v2.pb.h"
#include "request_decoder.h"

using psink::Batch;
using psink::EncodedRequest;
using psink::EncodeRequestsV2;
using psink::LabelSet;
using psink::MetricMetadata;
using psink::MetricType;
using psink::Status;
namespace v2 = io::prometheus::write::v2;

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

// Checks the symbol table of a request: "" first, no string twice, and
// every string referenced by some series (nothing left over from a series
// that did not fit).
void CheckSymbols(const v2::Request& req) {
  REQUIRE(req.symbols_size() > 0);
  CHECK(req.symbols(0).empty());
  std::set<std::string> distinct(req.symbols().begin(), req.symbols().end());
  CHECK(distinct.size() == static_cast<size_t>(req.symbols_size()));
  std::vector<bool> used(static_cast<size_t>(req.symbols_size()), false);
  used[0] = true;
  for (const auto& ts : req.timeseries()) {
    REQUIRE(ts.labels_refs_size() % 2 == 0);
    for (uint32_t ref : ts.labels_refs()) {
      REQUIRE(ref < used.size());
      CHECK(ref != 0);  // label names and values are never empty
      used[ref] = true;
    }
    if (ts.has_metadata()) {
      REQUIRE(ts.metadata().help_ref() < used.size());
      REQUIRE(ts.metadata().unit_ref() < used.size());
      used[ts.metadata().help_ref()] = true;
      used[ts.metadata().unit_ref()] = true;
    }
    for (const auto& e : ts.exemplars()) {
      for (uint32_t ref : e.labels_refs()) {
        REQUIRE(ref < used.size());
        used[ref] = true;
      }
    }
  }
  for (size_t i = 0; i < used.size(); ++i) {
    CAPTURE(i);
    CHECK(used[i]);
  }
}

// Decompresses and parses one request body; checks raw_bytes and the symbol
// table on the way.
v2::Request Decode(const EncodedRequest& r, std::string* raw_out = nullptr) {
  // The tests' shared decoder (tests/common/request_decoder.h) checks the
  // wire rules of 2.0 on the way.
  rwdecode::DecodedRequest d;
  std::vector<std::string> violations;
  std::string raw;
  rwdecode::DecodeRequest(r.body, rwdecode::Protocol::kV2, &d, &violations, &raw);
  REQUIRE_MESSAGE(d.decoded, d.decode_error);
  for (const std::string& v : violations) CHECK_MESSAGE(false, v);
  CHECK(raw.size() == r.raw_bytes);
  CheckSymbols(d.write_v2);
  if (raw_out) *raw_out = raw;
  return d.write_v2;
}

// The labels of a series, resolved through the symbol table; names must come
// in sorted order.
LabelSet LabelsOf(const v2::Request& req, const v2::TimeSeries& ts) {
  LabelSet out;
  for (int i = 0; i + 1 < ts.labels_refs_size(); i += 2) {
    out.emplace_back(req.symbols(static_cast<int>(ts.labels_refs(i))),
                     req.symbols(static_cast<int>(ts.labels_refs(i + 1))));
  }
  CHECK(std::is_sorted(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; }));
  return out;
}

std::vector<EncodedRequest> EncodeOk(const Batch& b, size_t begin, size_t end, size_t limit = 1 << 20,
                                     const MetricMetadata* md = nullptr) {
  std::vector<EncodedRequest> out;
  Status st = EncodeRequestsV2(b, begin, end, limit, md, &out);
  INFO("message: ", st.message());
  REQUIRE(st.ok());
  return out;
}

std::vector<EncodedRequest> EncodeOk(const Batch& b, const MetricMetadata* md = nullptr) {
  return EncodeOk(b, 0, b.size(), 1 << 20, md);
}

// What protobuf itself makes of a one-series request: the size a limit must allow.
size_t ProtobufSize(const LabelSet& labels, int64_t ts, const MetricMetadata* md) {
  v2::Request req;
  req.add_symbols("");
  auto sym = [&](const std::string& s) {
    for (int i = 0; i < req.symbols_size(); ++i) {
      if (req.symbols(i) == s) return static_cast<uint32_t>(i);
    }
    req.add_symbols(s);
    return static_cast<uint32_t>(req.symbols_size() - 1);
  };
  auto* series = req.add_timeseries();
  if (md) {
    auto* m = series->mutable_metadata();
    m->set_type(static_cast<v2::Metadata::MetricType>(md->type));
    if (!md->help.empty()) m->set_help_ref(sym(md->help));
    if (!md->unit.empty()) m->set_unit_ref(sym(md->unit));
  }
  for (const auto& [n, v] : labels) {
    series->add_labels_refs(sym(n));
    series->add_labels_refs(sym(v));
  }
  auto* s = series->add_samples();
  s->set_value(1.0);
  s->set_timestamp(ts);
  return req.ByteSizeLong();
}

}  // namespace

TEST_CASE("v2: samples are grouped by series, ordered by timestamp; labels by reference, sorted by name") {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "a"}, {"job", "x"}});
  uint32_t c = b.Intern({{"__name__", "c"}, {"job", "x"}});
  b.Append(a, 3.0, 30);  // row 0
  b.Append(c, 1.0, 10);  // row 1
  b.Append(a, 1.0, 10);  // row 2
  b.Append(c, 2.0, 20);  // row 3
  b.Append(a, 2.0, 20);  // row 4
  auto reqs = EncodeOk(b);
  REQUIRE(reqs.size() == 1);
  std::string raw;
  v2::Request req = Decode(reqs[0], &raw);
  // Every string once, "" first, in order of first use.
  REQUIRE(req.symbols_size() == 6);
  CHECK(req.symbols(0) == "");
  CHECK(req.symbols(1) == "__name__");
  CHECK(req.symbols(2) == "a");
  CHECK(req.symbols(3) == "job");
  CHECK(req.symbols(4) == "x");
  CHECK(req.symbols(5) == "c");
  REQUIRE(req.timeseries_size() == 2);
  CHECK(std::vector<uint32_t>(req.timeseries(0).labels_refs().begin(), req.timeseries(0).labels_refs().end()) ==
        std::vector<uint32_t>{1, 2, 3, 4});
  CHECK(std::vector<uint32_t>(req.timeseries(1).labels_refs().begin(), req.timeseries(1).labels_refs().end()) ==
        std::vector<uint32_t>{1, 5, 3, 4});
  CHECK(LabelsOf(req, req.timeseries(0)) == LabelSet{{"__name__", "a"}, {"job", "x"}});
  CHECK(LabelsOf(req, req.timeseries(1)) == LabelSet{{"__name__", "c"}, {"job", "x"}});
  const auto& sa = req.timeseries(0).samples();
  REQUIRE(sa.size() == 3);
  CHECK(sa[0].timestamp() == 10);
  CHECK(sa[0].value() == 1.0);
  CHECK(sa[1].timestamp() == 20);
  CHECK(sa[1].value() == 2.0);
  CHECK(sa[2].timestamp() == 30);
  CHECK(sa[2].value() == 3.0);
  CHECK(sa[0].start_timestamp() == 0);
  const auto& sc = req.timeseries(1).samples();
  REQUIRE(sc.size() == 2);
  CHECK(sc[0].timestamp() == 10);
  CHECK(sc[1].timestamp() == 20);
  CHECK_FALSE(req.timeseries(0).has_metadata());
  CHECK_FALSE(req.timeseries(1).has_metadata());
  CHECK(reqs[0].rows == std::vector<uint32_t>{2, 4, 0, 1, 3});
  CHECK(reqs[0].min_ts == 10);
  CHECK(reqs[0].max_ts == 30);
  // Non-zero values and timestamps: byte-identical to protobuf's own encoding.
  CHECK(req.SerializeAsString() == raw);
}

TEST_CASE("v2: a 1.0 receiver reading a 2.0 body finds nothing in it") {
  // Why a 2xx without written-count headers means "not understood".
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}, {"job", "j"}});
  for (int i = 1; i <= 5; ++i) b.Append(s, i, i);
  MetricMetadata md{MetricType::kGauge, "help", "unit"};
  auto reqs = EncodeOk(b, &md);
  REQUIRE(reqs.size() == 1);
  std::string raw;
  Decode(reqs[0], &raw);
  prometheus::WriteRequest v1;
  REQUIRE(v1.ParseFromString(raw));
  CHECK(v1.timeseries_size() == 0);
  CHECK(v1.metadata_size() == 0);
}

TEST_CASE("v2: samples with equal timestamps keep their insertion order") {
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
  auto req = Decode(reqs[0]);
  REQUIRE(req.timeseries_size() == 2);
  const auto& sa = req.timeseries(0).samples();
  REQUIRE(sa.size() == 4);
  CHECK(sa[0].value() == 0.5);
  CHECK(sa[1].value() == 1.0);
  CHECK(sa[2].value() == 2.0);
  CHECK(sa[3].value() == 3.0);
  const auto& sc = req.timeseries(1).samples();
  REQUIRE(sc.size() == 2);
  CHECK(sc[0].value() == 10.0);
  CHECK(sc[1].value() == 20.0);
  CHECK(reqs[0].rows == std::vector<uint32_t>{3, 0, 2, 5, 1, 4});
}

TEST_CASE("v2: values and timestamps survive bit-exact, NaN payloads and negative timestamps included") {
  const uint64_t value_bits[] = {
      0x7ff0000000000002ULL,  // stale marker
      0x7ff8000000000001ULL,  // Prometheus' ordinary NaN
      0xfff8000000000000ULL,  // negative NaN
      0x8000000000000000ULL,  // -0.0
      0x0000000000000000ULL,  // 0.0
      0x0000000000000001ULL,  // smallest subnormal
      Bits(std::numeric_limits<double>::infinity()),
      Bits(-std::numeric_limits<double>::infinity()),
      Bits(-1234.5678),
  };
  const int64_t timestamps[] = {std::numeric_limits<int64_t>::min(), -1723741200000, -1, 0, 1, 128,
                                1723741200123, std::numeric_limits<int64_t>::max(), 5};
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (size_t i = 0; i < std::size(value_bits); ++i) b.Append(s, FromBits(value_bits[i]), timestamps[i]);
  auto reqs = EncodeOk(b);
  REQUIRE(reqs.size() == 1);
  auto req = Decode(reqs[0]);
  REQUIRE(req.timeseries_size() == 1);
  const auto& samples = req.timeseries(0).samples();
  REQUIRE(samples.size() == static_cast<int>(std::size(value_bits)));
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

TEST_CASE("v2: a row range encodes only its rows; an empty range gives no request") {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "a"}, {"only_a", "1"}});
  uint32_t c = b.Intern({{"__name__", "c"}});
  b.Append(a, 1, 1);  // 0
  b.Append(c, 2, 2);  // 1
  b.Append(c, 3, 3);  // 2
  b.Append(a, 4, 4);  // 3
  auto reqs = EncodeOk(b, 1, 3);
  REQUIRE(reqs.size() == 1);
  auto req = Decode(reqs[0]);  // no symbol of series `a`: CheckSymbols finds none unused
  REQUIRE(req.timeseries_size() == 1);
  CHECK(LabelsOf(req, req.timeseries(0)) == LabelSet{{"__name__", "c"}});
  CHECK(req.symbols_size() == 3);
  CHECK(req.timeseries(0).samples_size() == 2);
  CHECK(reqs[0].rows == std::vector<uint32_t>{1, 2});
  CHECK(reqs[0].min_ts == 2);
  CHECK(reqs[0].max_ts == 3);

  std::vector<EncodedRequest> out(2);
  CHECK(EncodeRequestsV2(b, 2, 2, 1024, nullptr, &out).ok());
  CHECK(out.empty());
  Batch empty;
  out.resize(1);
  CHECK(EncodeRequestsV2(empty, 0, 0, 1024, nullptr, &out).ok());
  CHECK(out.empty());
}

TEST_CASE("v2: label names sort before __name__ when they should, by reference") {
  Batch b;
  LabelSet labels{{"A", "upper"}, {"__name__", "m"}, {"a", "lower"}};
  uint32_t s = b.Intern(labels);
  b.Append(s, 1, 1);
  auto req = Decode(EncodeOk(b)[0]);
  REQUIRE(req.timeseries_size() == 1);
  CHECK(LabelsOf(req, req.timeseries(0)) == labels);
}

TEST_CASE("v2: metadata goes with every series: type, help and unit by reference") {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "cpu_seconds_total"}, {"mode", "idle"}});
  uint32_t c = b.Intern({{"__name__", "cpu_seconds_total"}, {"mode", "user"}});
  uint32_t d = b.Intern({{"__name__", "other"}, {"unit", "seconds"}});  // a label value equal to the unit
  b.Append(a, 1, 1);
  b.Append(c, 2, 2);
  b.Append(d, 3, 3);
  MetricMetadata md{MetricType::kCounter, "Seconds the CPU spent.", "seconds"};
  auto reqs = EncodeOk(b, &md);
  REQUIRE(reqs.size() == 1);
  std::string raw;
  auto req = Decode(reqs[0], &raw);
  REQUIRE(req.timeseries_size() == 3);
  for (const auto& ts : req.timeseries()) {
    REQUIRE(ts.has_metadata());
    CHECK(ts.metadata().type() == v2::Metadata::METRIC_TYPE_COUNTER);
    CHECK(req.symbols(static_cast<int>(ts.metadata().help_ref())) == "Seconds the CPU spent.");
    CHECK(req.symbols(static_cast<int>(ts.metadata().unit_ref())) == "seconds");
  }
  // The help and unit come right after "", the unit shared with the label value.
  CHECK(req.symbols(1) == "Seconds the CPU spent.");
  CHECK(req.symbols(2) == "seconds");
  CHECK(LabelsOf(req, req.timeseries(2)) == LabelSet{{"__name__", "other"}, {"unit", "seconds"}});
  CHECK(req.timeseries(2).labels_refs(3) == 2);
  CHECK(req.SerializeAsString() == raw);

  // Every type travels with its wire value.
  for (uint32_t t = 0; t <= 7; ++t) {
    CAPTURE(t);
    MetricMetadata typed{static_cast<MetricType>(t), "", ""};
    auto r = Decode(EncodeOk(b, &typed)[0]);
    REQUIRE(r.timeseries_size() == 3);
    REQUIRE(r.timeseries(0).has_metadata());
    CHECK(static_cast<uint32_t>(r.timeseries(0).metadata().type()) == t);
    CHECK(r.timeseries(0).metadata().help_ref() == 0);
    CHECK(r.timeseries(0).metadata().unit_ref() == 0);
  }
  CHECK(v2::Metadata::METRIC_TYPE_UNSPECIFIED == static_cast<int>(MetricType::kUnknown));
  CHECK(v2::Metadata::METRIC_TYPE_GAUGEHISTOGRAM == static_cast<int>(MetricType::kGaugeHistogram));
  CHECK(v2::Metadata::METRIC_TYPE_STATESET == static_cast<int>(MetricType::kStateset));

  // Only a unit: help refers to "".
  MetricMetadata unit_only{MetricType::kUnknown, "", "bytes"};
  auto r = Decode(EncodeOk(b, &unit_only)[0]);
  CHECK(r.symbols(1) == "bytes");
  CHECK(r.timeseries(0).metadata().help_ref() == 0);
  CHECK(r.timeseries(0).metadata().unit_ref() == 1);
  CHECK(r.timeseries(0).metadata().type() == v2::Metadata::METRIC_TYPE_UNSPECIFIED);
}

TEST_CASE("v2: splitting packs each request up to max_request_bytes, each with its own symbol table") {
  // Symbols "", "__name__", "m": 2 + 10 + 3 = 15 bytes. labels_refs [1, 2]:
  // 4 bytes. A sample with 0 < ts < 128: 13 bytes. A request with one
  // TimeSeries of k samples: 15 + 1 + 2 + 4 + 13k bytes (k >= 10).
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (int i = 0; i < 100; ++i) b.Append(s, i + 0.5, 100 - i);  // reverse time order
  auto reqs = EncodeOk(b, 0, b.size(), 1024);
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].raw_bytes == 22 + 13 * 77);
  CHECK(reqs[1].raw_bytes == 22 + 13 * 23);
  auto r0 = Decode(reqs[0]);
  auto r1 = Decode(reqs[1]);
  REQUIRE(r0.timeseries_size() == 1);
  REQUIRE(r1.timeseries_size() == 1);
  CHECK(r0.timeseries(0).samples_size() == 77);
  CHECK(r1.timeseries(0).samples_size() == 23);
  CHECK(r0.timeseries(0).samples(0).timestamp() == 1);
  CHECK(r0.timeseries(0).samples(76).timestamp() == 77);
  CHECK(r1.timeseries(0).samples(0).timestamp() == 78);
  CHECK(r1.timeseries(0).samples(22).timestamp() == 100);
  CHECK(LabelsOf(r1, r1.timeseries(0)) == LabelSet{{"__name__", "m"}});
  CHECK(reqs[0].min_ts == 1);
  CHECK(reqs[0].max_ts == 77);
  CHECK(reqs[1].min_ts == 78);
  CHECK(reqs[1].max_ts == 100);
}

TEST_CASE("v2: a limit that fits exactly one sample gives one request per sample; less is an error") {
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (int i = 1; i <= 3; ++i) b.Append(s, i, i);
  const size_t one = ProtobufSize({{"__name__", "m"}}, 1, nullptr);
  CHECK(one == 34);  // 15 symbols + 1 + 1 + (4 + 13)
  auto reqs = EncodeOk(b, 0, 3, one);
  REQUIRE(reqs.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(reqs[i].raw_bytes == one);
    CHECK(reqs[i].rows == std::vector<uint32_t>{static_cast<uint32_t>(i)});
    auto req = Decode(reqs[i]);
    REQUIRE(req.timeseries_size() == 1);
    REQUIRE(req.timeseries(0).samples_size() == 1);
    CHECK(req.timeseries(0).samples(0).value() == static_cast<double>(i + 1));
  }
  std::vector<EncodedRequest> out;
  Status st = EncodeRequestsV2(b, 0, 3, one - 1, nullptr, &out);
  CHECK(st.code() == Status::Code::kInvalid);
  CHECK(st.message() == "one sample with its labels needs 34 bytes, more than max_request_bytes (33)");

  // With metadata, it counts too.
  MetricMetadata md{MetricType::kCounter, "h", "u"};
  const size_t with_md = ProtobufSize({{"__name__", "m"}}, 1, &md);
  CHECK(with_md == 48);  // + symbols "h", "u" (6) + Metadata (8)
  reqs = EncodeOk(b, 0, 3, with_md, &md);
  CHECK(reqs.size() == 3);
  for (const auto& r : reqs) CHECK(r.raw_bytes == with_md);
  st = EncodeRequestsV2(b, 0, 3, with_md - 1, &md, &out);
  CHECK(st.message() == "one sample with its labels and metadata needs 48 bytes, more than max_request_bytes (47)");
}

TEST_CASE("v2: one sample larger than the limit is an error, never dropped") {
  LabelSet big{{"__name__", "m"}, {"big", std::string(2000, 'x')}};
  const size_t needed = ProtobufSize(big, 1, nullptr);
  Batch b;
  uint32_t small = b.Intern({{"__name__", "small"}});
  uint32_t huge = b.Intern(big);
  b.Append(small, 1.0, 1);
  b.Append(huge, 1.0, 1);
  std::vector<EncodedRequest> out;
  // The small series fits; the big one does not, even alone.
  Status st = EncodeRequestsV2(b, 0, 2, 1024, nullptr, &out);
  CHECK(st.code() == Status::Code::kInvalid);
  CHECK(st.message() == "one sample with its labels needs " + std::to_string(needed) +
                            " bytes, more than max_request_bytes (1024)");
  // Just enough room: accepted, byte-identical to protobuf.
  auto reqs = EncodeOk(b, 1, 2, needed);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].raw_bytes == needed);
  // Both: the small one alone first, then the big one.
  reqs = EncodeOk(b, 0, 2, needed);
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].rows == std::vector<uint32_t>{0});
  CHECK(reqs[1].rows == std::vector<uint32_t>{1});
  auto r0 = Decode(reqs[0]);  // no symbol of the big series left behind
  CHECK(r0.symbols_size() == 3);
}

TEST_CASE("v2: splitting many series: sizes bounded, every sample once, series order kept, tables clean") {
  std::mt19937_64 rng(20240815);
  Batch b;
  const int kSeries = 40;
  std::vector<uint32_t> ids;
  for (int s = 0; s < kSeries; ++s) {
    LabelSet l{{"__name__", "metric_" + std::to_string(s % 7)}, {"instance", "host-" + std::to_string(s)},
               {"pad", std::string(rng() % 200 + 1, static_cast<char>('a' + s % 26))}};
    ids.push_back(b.Intern(l));
  }
  const size_t kRows = 6000;
  for (size_t i = 0; i < kRows; ++i) {
    uint32_t s = ids[rng() % ids.size()];
    int64_t ts = static_cast<int64_t>(rng() % 2000) - 1000;  // negative, and repeats
    if (rng() % 50 == 0) ts = std::numeric_limits<int64_t>::min() + static_cast<int64_t>(rng() % 3);
    b.Append(s, static_cast<double>(i), ts);  // the value identifies the row
  }
  MetricMetadata md{MetricType::kGauge, "help text", "unit"};

  const MetricMetadata* const with_and_without[] = {nullptr, &md};
  for (const MetricMetadata* m : with_and_without) {
    for (size_t limit : {size_t{1024}, size_t{4096}, size_t{65536}}) {
      CAPTURE(limit);
      CAPTURE(m != nullptr);
      auto reqs = EncodeOk(b, 0, kRows, limit, m);
      std::vector<int> seen(kRows, 0);
      std::map<uint32_t, std::vector<uint32_t>> per_series;  // rows in the order sent
      for (size_t r = 0; r < reqs.size(); ++r) {
        CAPTURE(r);
        const EncodedRequest& enc = reqs[r];
        CHECK(enc.raw_bytes <= limit);
        // Requests are reasonably full: the next series' symbols and first
        // sample (at most ~2 * 230 + 40 bytes) did not fit.
        if (r + 1 < reqs.size()) CHECK(enc.raw_bytes + 520 > limit);
        auto req = Decode(enc);
        size_t k = 0;
        std::vector<LabelSet> series_in_request;
        int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
        for (const auto& ts : req.timeseries()) {
          LabelSet labels = LabelsOf(req, ts);
          CHECK(std::find(series_in_request.begin(), series_in_request.end(), labels) == series_in_request.end());
          series_in_request.push_back(labels);
          CHECK(ts.has_metadata() == (m != nullptr));
          if (m) {
            CHECK(ts.metadata().type() == v2::Metadata::METRIC_TYPE_GAUGE);
            CHECK(req.symbols(static_cast<int>(ts.metadata().help_ref())) == "help text");
            CHECK(req.symbols(static_cast<int>(ts.metadata().unit_ref())) == "unit");
          }
          REQUIRE(ts.samples_size() > 0);
          for (const auto& sample : ts.samples()) {
            REQUIRE(k < enc.rows.size());
            uint32_t row = enc.rows[k++];
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
        CHECK(k == enc.rows.size());
        CHECK(enc.min_ts == lo);
        CHECK(enc.max_ts == hi);
      }
      CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
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
}

TEST_CASE("v2: histograms and exemplars: a TimeSeries for the floats, one for the histograms, labels by reference") {
  Batch b;
  const uint32_t s = b.Intern({{"__name__", "lat"}});
  psink::RowExtra h1, h2, ex;
  h1.histogram.emplace();
  REQUIRE(psink::ParseHistogram(R"({"schema":3,"sum":0.5,"positive":{"-3":1,"-2":2,"1":4},"zero_count":1,"reset":"gauge"})",
                                "histogram", &*h1.histogram).ok());
  h2.histogram.emplace();
  REQUIRE(psink::ParseHistogram(R"({"schema":0,"sum":-1,"count":3.5,"negative":{"0":1.5,"4":2}})", "histogram",
                                &*h2.histogram).ok());
  h2.exemplar = psink::Exemplar{{{"trace_id", "t2"}}, -0.75, 20};
  ex.exemplar = psink::Exemplar{{{"span", "s"}, {"trace_id", "t1"}}, 7, 5};
  b.Append(s, 0, 20, 0, 15, std::move(h2));  // start_ts 15
  b.Append(s, 7, 5, 1, 0, std::move(ex));
  b.Append(s, 0, 10, 2, 0, std::move(h1));
  auto reqs = EncodeOk(b);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].histograms == 2);
  CHECK(reqs[0].exemplars == 2);
  v2::Request req = Decode(reqs[0]);
  REQUIRE(req.timeseries_size() == 2);
  const auto& floats = req.timeseries(0);
  CHECK(floats.samples_size() == 1);
  CHECK(floats.histograms_size() == 0);
  REQUIRE(floats.exemplars_size() == 1);
  CHECK(req.symbols(static_cast<int>(floats.exemplars(0).labels_refs(0))) == "span");
  CHECK(req.symbols(static_cast<int>(floats.exemplars(0).labels_refs(3))) == "t1");
  const auto& hists = req.timeseries(1);
  CHECK(LabelsOf(req, hists) == LabelSet{{"__name__", "lat"}});
  CHECK(hists.samples_size() == 0);
  REQUIRE(hists.histograms_size() == 2);
  const auto& a = hists.histograms(0);  // t=10: integer, spans [-3,2] [+1 gap, 1]
  CHECK(a.timestamp() == 10);
  CHECK(a.count_int() == 8);
  CHECK(a.zero_count_int() == 1);
  CHECK(a.schema() == 3);
  CHECK(a.reset_hint() == v2::Histogram::RESET_HINT_GAUGE);
  REQUIRE(a.positive_spans_size() == 2);
  CHECK(a.positive_spans(0).offset() == -3);
  CHECK(a.positive_spans(0).length() == 2);
  CHECK(a.positive_spans(1).offset() == 2);
  CHECK(a.positive_spans(1).length() == 1);
  CHECK(std::vector<int64_t>(a.positive_deltas().begin(), a.positive_deltas().end()) == std::vector<int64_t>{1, 1, 2});
  CHECK(a.start_timestamp() == 0);
  const auto& f = hists.histograms(1);  // t=20: float, absolute counts
  CHECK(f.timestamp() == 20);
  CHECK(f.start_timestamp() == 15);
  CHECK(f.count_float() == 3.5);
  CHECK(f.has_zero_count_float());
  CHECK(std::vector<double>(f.negative_counts().begin(), f.negative_counts().end()) == std::vector<double>{1.5, 2});
  CHECK(f.negative_spans(1).offset() == 3);
  REQUIRE(hists.exemplars_size() == 1);
  CHECK(hists.exemplars(0).value() == -0.75);
  CHECK(hists.exemplars(0).timestamp() == 20);
}

TEST_CASE("v2: histogram rows split by max_request_bytes, every row once, exemplar symbols in their request") {
  Batch b;
  const uint32_t s = b.Intern({{"__name__", "h"}});
  for (int i = 0; i < 40; ++i) {
    psink::RowExtra x;
    x.histogram.emplace();
    REQUIRE(psink::ParseHistogram(R"({"schema":0,"sum":1,"positive":{"0":1,"2":3,"9":1}})", "histogram",
                                  &*x.histogram).ok());
    x.exemplar = psink::Exemplar{{{"trace_id", "trace" + std::to_string(i)}}, 1, i};
    b.Append(s, 0, i, static_cast<uint64_t>(i), 0, std::move(x));
  }
  auto reqs = EncodeOk(b, 0, b.size(), 400);
  CHECK(reqs.size() > 3);
  size_t rows = 0, exemplars = 0;
  int64_t last = -1;
  for (const auto& r : reqs) {
    CHECK(r.raw_bytes <= 400);
    v2::Request req = Decode(r);  // every symbol referred to, none missing
    for (const auto& ts : req.timeseries()) {
      for (const auto& h : ts.histograms()) {
        CHECK(h.timestamp() == last + 1);
        last = h.timestamp();
      }
      exemplars += static_cast<size_t>(ts.exemplars_size());
    }
    rows += r.rows.size();
  }
  CHECK(rows == 40);
  CHECK(exemplars == 40);
}

TEST_CASE("v2: the bytes a refused row needs count its exemplar's symbols (the message names more than the limit)") {
  Batch b;
  const uint32_t s = b.Intern({{"__name__", "m"}});
  psink::RowExtra extra;
  extra.exemplar = psink::Exemplar{{{"trace_id", std::string(40, 't')}}, 1.0, 1};
  b.Append(s, 1.0, 1, 0, 0, std::move(extra));
  for (size_t limit : {size_t(20), size_t(60), size_t(80)}) {
    std::vector<EncodedRequest> out;
    Status st = EncodeRequestsV2(b, 0, 1, limit, nullptr, &out);
    REQUIRE(!st.ok());
    const std::string& m = st.message();
    const size_t at = m.find("needs ");
    REQUIRE(at != std::string::npos);
    CAPTURE(m);
    CHECK(std::stoul(m.substr(at + 6)) > limit);
  }
}
