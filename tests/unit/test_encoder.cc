// Unit tests for encoder.{h,cc}: rows of a Batch encoded by hand into
// remote-write request bodies — 1.0 (prometheus.WriteRequest,
// proto/remote.proto) and 2.0 (io.prometheus.write.v2.Request,
// proto/write_v2.proto) — and read back here with the tests' shared request
// decoder (snappy and the generated protobuf classes).
//
// A case that holds for both protocols is a TEST_CASE_TEMPLATE over V1 and
// V2 below, which say how each protocol lays out what the case reads (labels
// inline or by symbol reference, the fixed bytes of a request). What only
// one protocol has — 1.0's metadata per request, 2.0's symbol table and
// metadata per series — is tested for that protocol alone.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "batch.h"
#include "encoder.h"
#include "histogram.h"
#include "remote.pb.h"
#include "request_decoder.h"
#include "write_v2.pb.h"

using psink::Batch;
using psink::EncodedRequest;
using psink::EncodeRequests;
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

// Decodes one request body with the tests' shared decoder
// (tests/common/request_decoder.h), which checks the protocol's wire rules
// on the way; checks raw_bytes too.
rwdecode::DecodedRequest DecodeChecked(const EncodedRequest& r, rwdecode::Protocol protocol, std::string* raw_out) {
  rwdecode::DecodedRequest d;
  std::vector<std::string> violations;
  std::string raw;
  rwdecode::DecodeRequest(r.body, protocol, &d, &violations, &raw);
  REQUIRE_MESSAGE(d.decoded, d.decode_error);
  for (const std::string& v : violations) CHECK_MESSAGE(false, v);
  CHECK(raw.size() == r.raw_bytes);
  if (raw_out) *raw_out = raw;
  return d;
}

// Remote-write 1.0: labels inline in each TimeSeries, metadata per request.
struct V1 {
  static constexpr psink::Protocol kProtocol = psink::Protocol::kV1;
  using Request = prometheus::WriteRequest;
  using TimeSeries = prometheus::TimeSeries;
  // A request of one TimeSeries {__name__="m"} with k samples (0 <= ts <
  // 128, 13 bytes each, k >= 9), past its samples: the TimeSeries' tag, its
  // length (2 bytes) and the label (15).
  static constexpr size_t kOneSeriesOverhead = 1 + 2 + 15;
  // The same with one sample: 1 + 1 + 15 + 13.
  static constexpr size_t kOneSampleBytes = 30;
  // ... and with MetricMetadata{type, "m", "h", "u"}.
  static constexpr size_t kOneSampleWithMetadataBytes = 30 + 13;
  // One sample of {__name__="m", big="x"×2000}.
  static constexpr size_t kBigSampleBytes = 2042;
  static constexpr int kResetNo = prometheus::Histogram::NO;
  static constexpr int kResetGauge = prometheus::Histogram::GAUGE;

  static Request Decode(const EncodedRequest& r, std::string* raw = nullptr) {
    return DecodeChecked(r, rwdecode::Protocol::kV1, raw).write;
  }
  static LabelSet LabelsOf(const Request&, const TimeSeries& ts) {
    LabelSet out;
    for (const auto& l : ts.labels()) out.emplace_back(l.name(), l.value());
    return out;
  }
  static LabelSet ExemplarLabels(const Request&, const prometheus::Exemplar& e) {
    LabelSet out;
    for (const auto& l : e.labels()) out.emplace_back(l.name(), l.value());
    return out;
  }
  static bool HasMetadata(const Request& req, int) { return req.metadata_size() > 0; }
  // What protobuf itself makes of a request of one series with one sample
  // (value 1) and, with `md`, its metadata entry.
  static std::string ProtobufBody(const LabelSet& labels, int64_t ts, const MetricMetadata* md) {
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
    return wr.SerializeAsString();
  }
  // Each request describes the metrics it carries: one MetricMetadata per
  // distinct metric name among its series, in order of first appearance.
  static void CheckMetadata(const Request& req, const MetricMetadata* md) {
    if (md == nullptr) {
      CHECK(req.metadata_size() == 0);
      return;
    }
    std::vector<std::string> names, described;
    for (const auto& ts : req.timeseries()) {
      std::string name(psink::MetricName(LabelsOf(req, ts)));
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    for (const auto& m : req.metadata()) {
      described.push_back(m.metric_family_name());
      CHECK(static_cast<int>(m.type()) == static_cast<int>(md->type));
      CHECK(m.help() == md->help);
      CHECK(m.unit() == md->unit);
    }
    CHECK(described == names);
  }
  // Bytes the next sample may need beyond a full request: at worst a new
  // series (its labels, a sample, the entry's framing) and its metadata.
  static size_t NextSampleBound(size_t max_labels, const MetricMetadata* md) {
    return max_labels + 26 + (md ? 40 : 0);
  }
};

// Remote-write 2.0: labels as references into the request's symbol table,
// metadata per series.
struct V2 {
  static constexpr psink::Protocol kProtocol = psink::Protocol::kV2;
  using Request = v2::Request;
  using TimeSeries = v2::TimeSeries;
  // Symbols "", "__name__", "m": 2 + 10 + 3 = 15 bytes; the TimeSeries' tag
  // and length (2 bytes); labels_refs [1, 2]: 4 bytes.
  static constexpr size_t kOneSeriesOverhead = 15 + 1 + 2 + 4;
  // The same with one sample: 15 + 1 + 1 + (4 + 13).
  static constexpr size_t kOneSampleBytes = 34;
  // ... and with metadata: symbols "h", "u" (6) and Metadata (8).
  static constexpr size_t kOneSampleWithMetadataBytes = 34 + 6 + 8;
  // One sample of {__name__="m", big="x"×2000}.
  static constexpr size_t kBigSampleBytes = 2044;
  static constexpr int kResetNo = v2::Histogram::RESET_HINT_NO;
  static constexpr int kResetGauge = v2::Histogram::RESET_HINT_GAUGE;

  // Checks the symbol table of a request: "" first, no string twice, and
  // every string referenced by some series (nothing left over from a series
  // that did not fit).
  static void CheckSymbols(const Request& req) {
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
  static Request Decode(const EncodedRequest& r, std::string* raw = nullptr) {
    Request req = DecodeChecked(r, rwdecode::Protocol::kV2, raw).write_v2;
    CheckSymbols(req);
    return req;
  }
  // The labels of a series, resolved through the symbol table; names must
  // come in sorted order.
  static LabelSet LabelsOf(const Request& req, const TimeSeries& ts) {
    LabelSet out;
    for (int i = 0; i + 1 < ts.labels_refs_size(); i += 2) {
      out.emplace_back(req.symbols(static_cast<int>(ts.labels_refs(i))),
                       req.symbols(static_cast<int>(ts.labels_refs(i + 1))));
    }
    CHECK(std::is_sorted(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; }));
    return out;
  }
  static LabelSet ExemplarLabels(const Request& req, const v2::Exemplar& e) {
    LabelSet out;
    for (int i = 0; i + 1 < e.labels_refs_size(); i += 2) {
      out.emplace_back(req.symbols(static_cast<int>(e.labels_refs(i))),
                       req.symbols(static_cast<int>(e.labels_refs(i + 1))));
    }
    return out;
  }
  static bool HasMetadata(const Request& req, int series) { return req.timeseries(series).has_metadata(); }
  // What protobuf itself makes of a one-series request (one sample, value
  // 1): symbols in order of first use, the metadata's before the labels'.
  static std::string ProtobufBody(const LabelSet& labels, int64_t ts, const MetricMetadata* md) {
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
    return req.SerializeAsString();
  }
  // Every series carries the metadata: type, help and unit by reference.
  static void CheckMetadata(const Request& req, const MetricMetadata* md) {
    for (const auto& ts : req.timeseries()) {
      CHECK(ts.has_metadata() == (md != nullptr));
      if (md == nullptr) continue;
      CHECK(static_cast<int>(ts.metadata().type()) == static_cast<int>(md->type));
      CHECK(req.symbols(static_cast<int>(ts.metadata().help_ref())) == md->help);
      CHECK(req.symbols(static_cast<int>(ts.metadata().unit_ref())) == md->unit);
    }
  }
  // Bytes the next sample may need beyond a full request: a new series'
  // symbols and first sample (at most ~2 * 230 + 40 bytes here).
  static size_t NextSampleBound(size_t, const MetricMetadata*) { return 520; }
};

template <class P>
Status Encode(const Batch& b, size_t begin, size_t end, size_t limit, const MetricMetadata* md,
              std::vector<EncodedRequest>* out) {
  return EncodeRequests(P::kProtocol, b, begin, end, limit, md, out);
}

template <class P>
std::vector<EncodedRequest> EncodeOk(const Batch& b, size_t begin, size_t end, size_t limit = 1 << 20,
                                     const MetricMetadata* md = nullptr) {
  std::vector<EncodedRequest> out;
  Status st = Encode<P>(b, begin, end, limit, md, &out);
  INFO("message: ", st.message());
  REQUIRE(st.ok());
  for (const EncodedRequest& r : out) CHECK(r.protocol == P::kProtocol);
  return out;
}

template <class P>
std::vector<EncodedRequest> EncodeOk(const Batch& b, const MetricMetadata* md = nullptr) {
  return EncodeOk<P>(b, 0, b.size(), 1 << 20, md);
}

}  // namespace

TYPE_TO_STRING_AS("1.0", V1);
TYPE_TO_STRING_AS("2.0", V2);

// ---------------------------------------------------------------- both protocols

TEST_CASE_TEMPLATE("samples are grouped by series, ordered by timestamp; labels sorted by name", P, V1, V2) {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "a"}, {"job", "x"}});
  uint32_t c = b.Intern({{"__name__", "c"}, {"job", "x"}});
  b.Append(a, 3.0, 30);  // row 0
  b.Append(c, 1.0, 10);  // row 1
  b.Append(a, 1.0, 10);  // row 2
  b.Append(c, 2.0, 20);  // row 3
  b.Append(a, 2.0, 20);  // row 4
  auto reqs = EncodeOk<P>(b);
  REQUIRE(reqs.size() == 1);
  std::string raw;
  auto req = P::Decode(reqs[0], &raw);
  REQUIRE(req.timeseries_size() == 2);
  CHECK(P::LabelsOf(req, req.timeseries(0)) == LabelSet{{"__name__", "a"}, {"job", "x"}});
  CHECK(P::LabelsOf(req, req.timeseries(1)) == LabelSet{{"__name__", "c"}, {"job", "x"}});
  const auto& sa = req.timeseries(0).samples();
  REQUIRE(sa.size() == 3);
  CHECK(sa[0].timestamp() == 10);
  CHECK(sa[0].value() == 1.0);
  CHECK(sa[1].timestamp() == 20);
  CHECK(sa[1].value() == 2.0);
  CHECK(sa[2].timestamp() == 30);
  CHECK(sa[2].value() == 3.0);
  const auto& sc = req.timeseries(1).samples();
  REQUIRE(sc.size() == 2);
  CHECK(sc[0].timestamp() == 10);
  CHECK(sc[1].timestamp() == 20);
  CHECK_FALSE(P::HasMetadata(req, 0));
  CHECK_FALSE(P::HasMetadata(req, 1));
  CHECK(reqs[0].rows == std::vector<uint32_t>{2, 4, 0, 1, 3});
  CHECK(reqs[0].min_ts == 10);
  CHECK(reqs[0].max_ts == 30);
  // Non-zero values and timestamps: byte-identical to protobuf's own encoding.
  CHECK(req.SerializeAsString() == raw);
}

TEST_CASE_TEMPLATE("samples with equal timestamps keep their insertion order", P, V1, V2) {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "a"}});
  uint32_t c = b.Intern({{"__name__", "c"}});
  b.Append(a, 1.0, 5);
  b.Append(c, 10.0, 5);
  b.Append(a, 2.0, 5);
  b.Append(a, 0.5, 4);
  b.Append(c, 20.0, 5);
  b.Append(a, 3.0, 5);
  auto reqs = EncodeOk<P>(b);
  REQUIRE(reqs.size() == 1);
  auto req = P::Decode(reqs[0]);
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

TEST_CASE_TEMPLATE("values and timestamps survive bit-exact, NaN payloads and negative timestamps included", P, V1,
                   V2) {
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
                                1723741200123, std::numeric_limits<int64_t>::max(), 300, 301, 5};
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (size_t i = 0; i < std::size(value_bits); ++i) b.Append(s, FromBits(value_bits[i]), timestamps[i]);
  auto reqs = EncodeOk<P>(b);
  REQUIRE(reqs.size() == 1);
  auto req = P::Decode(reqs[0]);
  REQUIRE(req.timeseries_size() == 1);
  const auto& samples = req.timeseries(0).samples();
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

TEST_CASE_TEMPLATE("a row range encodes only its rows; series without rows are left out", P, V1, V2) {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "a"}, {"only_a", "1"}});
  uint32_t c = b.Intern({{"__name__", "c"}});
  uint32_t d = b.Intern({{"__name__", "d"}});
  (void)d;
  b.Append(a, 1, 1);  // 0
  b.Append(c, 2, 2);  // 1
  b.Append(c, 3, 3);  // 2
  b.Append(a, 4, 4);  // 3
  auto reqs = EncodeOk<P>(b, 1, 3);
  REQUIRE(reqs.size() == 1);
  auto req = P::Decode(reqs[0]);  // 2.0: no symbol of series `a` (CheckSymbols finds none unused)
  REQUIRE(req.timeseries_size() == 1);
  CHECK(P::LabelsOf(req, req.timeseries(0)) == LabelSet{{"__name__", "c"}});
  CHECK(req.timeseries(0).samples_size() == 2);
  CHECK(reqs[0].rows == std::vector<uint32_t>{1, 2});
  CHECK(reqs[0].min_ts == 2);
  CHECK(reqs[0].max_ts == 3);
  if constexpr (std::is_same_v<P, V2>) CHECK(req.symbols_size() == 3);
}

TEST_CASE_TEMPLATE("an empty range gives no request", P, V1, V2) {
  Batch b;
  std::vector<EncodedRequest> out(2);
  CHECK(Encode<P>(b, 0, 0, 1024, nullptr, &out).ok());
  CHECK(out.empty());
  uint32_t s = b.Intern({{"__name__", "m"}});
  b.Append(s, 1, 1);
  out.resize(1);
  CHECK(Encode<P>(b, 1, 1, 1024, nullptr, &out).ok());
  CHECK(out.empty());
}

TEST_CASE_TEMPLATE("label names sort before __name__ when they should", P, V1, V2) {
  Batch b;
  LabelSet labels{{"A", "upper"}, {"__name__", "m"}, {"a", "lower"}};
  uint32_t s = b.Intern(labels);
  b.Append(s, 1, 1);
  auto req = P::Decode(EncodeOk<P>(b)[0]);
  REQUIRE(req.timeseries_size() == 1);
  CHECK(P::LabelsOf(req, req.timeseries(0)) == labels);
}

TEST_CASE_TEMPLATE("splitting packs each request up to max_request_bytes", P, V1, V2) {
  // A sample with 0 <= ts < 128: 13 bytes; the rest of a request of one
  // series {__name__="m"}: P::kOneSeriesOverhead.
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (int i = 0; i < 100; ++i) b.Append(s, i + 0.5, 100 - i);  // reverse time order
  auto reqs = EncodeOk<P>(b, 0, b.size(), 1024);
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].raw_bytes == P::kOneSeriesOverhead + 13 * 77);
  CHECK(reqs[1].raw_bytes == P::kOneSeriesOverhead + 13 * 23);
  auto r0 = P::Decode(reqs[0]);  // 2.0: each request with its own symbol table
  auto r1 = P::Decode(reqs[1]);
  REQUIRE(r0.timeseries_size() == 1);
  REQUIRE(r1.timeseries_size() == 1);
  CHECK(r0.timeseries(0).samples_size() == 77);
  CHECK(r1.timeseries(0).samples_size() == 23);
  // The series continues in timestamp order across the two requests.
  CHECK(r0.timeseries(0).samples(0).timestamp() == 1);
  CHECK(r0.timeseries(0).samples(76).timestamp() == 77);
  CHECK(r1.timeseries(0).samples(0).timestamp() == 78);
  CHECK(r1.timeseries(0).samples(22).timestamp() == 100);
  CHECK(P::LabelsOf(r1, r1.timeseries(0)) == LabelSet{{"__name__", "m"}});
  CHECK(reqs[0].min_ts == 1);
  CHECK(reqs[0].max_ts == 77);
  CHECK(reqs[1].min_ts == 78);
  CHECK(reqs[1].max_ts == 100);
}

TEST_CASE_TEMPLATE("a limit that fits exactly one sample gives one request per sample; less is an error", P, V1,
                   V2) {
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (int i = 1; i <= 3; ++i) b.Append(s, i, i);
  const size_t one = P::ProtobufBody({{"__name__", "m"}}, 1, nullptr).size();
  CHECK(one == P::kOneSampleBytes);
  auto reqs = EncodeOk<P>(b, 0, 3, one);
  REQUIRE(reqs.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(reqs[i].raw_bytes == one);
    CHECK(reqs[i].rows == std::vector<uint32_t>{static_cast<uint32_t>(i)});
    auto req = P::Decode(reqs[i]);
    REQUIRE(req.timeseries_size() == 1);
    REQUIRE(req.timeseries(0).samples_size() == 1);
    CHECK(req.timeseries(0).samples(0).value() == static_cast<double>(i + 1));
  }
  std::vector<EncodedRequest> out;
  Status st = Encode<P>(b, 0, 3, one - 1, nullptr, &out);
  CHECK(st.code() == Status::Code::kInvalid);
  CHECK(st.message() == "one sample with its labels needs " + std::to_string(one) + " bytes, more than " +
                            "max_request_bytes (" + std::to_string(one - 1) + ")");
}

TEST_CASE_TEMPLATE("metadata counts in max_request_bytes", P, V1, V2) {
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  for (int i = 1; i <= 3; ++i) b.Append(s, i, i);
  for (MetricType type : {MetricType::kGauge, MetricType::kCounter}) {
    CAPTURE(static_cast<int>(type));
    MetricMetadata md{type, "h", "u"};
    const size_t one = P::ProtobufBody({{"__name__", "m"}}, 1, &md).size();
    CHECK(one == P::kOneSampleWithMetadataBytes);
    auto reqs = EncodeOk<P>(b, 0, 3, one, &md);
    REQUIRE(reqs.size() == 3);
    for (const auto& r : reqs) {
      CHECK(r.raw_bytes == one);
      P::CheckMetadata(P::Decode(r), &md);  // 1.0: each request describes "m"
    }
    std::vector<EncodedRequest> out;
    Status st = Encode<P>(b, 0, 3, one - 1, &md, &out);
    CHECK(st.code() == Status::Code::kInvalid);
    CHECK(st.message() == "one sample with its labels and metadata needs " + std::to_string(one) +
                              " bytes, more than max_request_bytes (" + std::to_string(one - 1) + ")");
  }
}

TEST_CASE_TEMPLATE("one sample larger than the limit is an error, never dropped", P, V1, V2) {
  LabelSet big{{"__name__", "m"}, {"big", std::string(2000, 'x')}};
  const std::string expected = P::ProtobufBody(big, 1, nullptr);  // what protobuf says one such sample needs
  const size_t needed = expected.size();
  CHECK(needed == P::kBigSampleBytes);

  Batch b;
  uint32_t small = b.Intern({{"__name__", "small"}});
  uint32_t huge = b.Intern(big);
  b.Append(small, 1.0, 1);
  b.Append(huge, 1.0, 1);
  std::vector<EncodedRequest> out;
  // The small series fits; the big one does not, even alone.
  Status st = Encode<P>(b, 0, 2, 1024, nullptr, &out);
  CHECK(st.code() == Status::Code::kInvalid);
  CHECK(st.message() == "one sample with its labels needs " + std::to_string(needed) +
                            " bytes, more than max_request_bytes (1024)");
  st = Encode<P>(b, 1, 2, 1024, nullptr, &out);
  CHECK(st.message() == "one sample with its labels needs " + std::to_string(needed) +
                            " bytes, more than max_request_bytes (1024)");
  // Just enough room: accepted, byte-identical to protobuf.
  auto reqs = EncodeOk<P>(b, 1, 2, needed);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].raw_bytes == needed);
  std::string raw;
  P::Decode(reqs[0], &raw);
  CHECK(raw == expected);
  // Both: the small one alone first, then the big one.
  reqs = EncodeOk<P>(b, 0, 2, needed);
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].rows == std::vector<uint32_t>{0});
  CHECK(reqs[1].rows == std::vector<uint32_t>{1});
  auto r0 = P::Decode(reqs[0]);  // 2.0: no symbol of the big series left behind
  if constexpr (std::is_same_v<P, V2>) CHECK(r0.symbols_size() == 3);
}

TEST_CASE_TEMPLATE("splitting many series: sizes bounded, every sample once, series order kept", P, V1, V2) {
  std::mt19937_64 rng(20240815);
  Batch b;
  const int kSeries = 40;
  std::vector<uint32_t> ids;
  size_t max_labels = 0;
  for (int s = 0; s < kSeries; ++s) {
    LabelSet l{{"__name__", "metric_" + std::to_string(s % 7)}, {"instance", "host-" + std::to_string(s)},
               {"pad", std::string(rng() % 200 + 1, static_cast<char>('a' + s % 26))}};
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
  MetricMetadata md{MetricType::kGauge, "help text", "unit"};

  const MetricMetadata* const with_and_without[] = {nullptr, &md};
  for (const MetricMetadata* m : with_and_without) {
    for (size_t limit : {size_t{1024}, size_t{4096}, size_t{65536}}) {
      CAPTURE(limit);
      CAPTURE(m != nullptr);
      auto reqs = EncodeOk<P>(b, 0, kRows, limit, m);
      std::vector<int> seen(kRows, 0);
      std::map<uint32_t, std::vector<uint32_t>> per_series;  // rows in the order sent
      for (size_t r = 0; r < reqs.size(); ++r) {
        CAPTURE(r);
        const EncodedRequest& enc = reqs[r];
        CHECK(enc.raw_bytes <= limit);
        // Requests are full: the next sample (at worst a new series) did not fit.
        if (r + 1 < reqs.size()) CHECK(enc.raw_bytes + P::NextSampleBound(max_labels, m) > limit);
        auto req = P::Decode(enc);  // 2.0: every symbol table clean
        P::CheckMetadata(req, m);
        size_t k = 0;
        std::vector<LabelSet> series_in_request;
        int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
        for (const auto& ts : req.timeseries()) {
          LabelSet labels = P::LabelsOf(req, ts);
          CHECK(std::find(series_in_request.begin(), series_in_request.end(), labels) == series_in_request.end());
          series_in_request.push_back(labels);
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
}

TEST_CASE_TEMPLATE("histograms: spans and deltas, exemplars in timestamp order; floats and histograms apart", P, V1,
                   V2) {
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
  std::vector<EncodedRequest> reqs = EncodeOk<P>(b);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].histograms == 1);
  CHECK(reqs[0].exemplars == 3);
  auto req = P::Decode(reqs[0]);
  REQUIRE(req.timeseries_size() == 2);
  const auto& floats = req.timeseries(0);
  CHECK(floats.samples_size() == 2);
  CHECK(floats.histograms_size() == 0);
  REQUIRE(floats.exemplars_size() == 2);
  CHECK(floats.exemplars(0).timestamp() == 15);  // ordered by the exemplars' own timestamps
  CHECK(P::ExemplarLabels(req, floats.exemplars(0)).empty());
  CHECK(floats.exemplars(1).timestamp() == 25);
  CHECK(P::ExemplarLabels(req, floats.exemplars(1)) == LabelSet{{"trace_id", "late"}});
  const auto& hists = req.timeseries(1);
  CHECK(P::LabelsOf(req, hists) == P::LabelsOf(req, floats));
  CHECK(hists.samples_size() == 0);
  REQUIRE(hists.histograms_size() == 1);
  const auto& x = hists.histograms(0);
  CHECK(x.count_int() == 12);
  CHECK(x.zero_count_int() == 2);
  CHECK(x.zero_threshold() == 0.001);
  CHECK(x.sum() == 2.5);
  CHECK(x.schema() == -2);
  CHECK(static_cast<int>(x.reset_hint()) == P::kResetNo);
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
  CHECK(P::ExemplarLabels(req, hists.exemplars(0)) == LabelSet{{"trace_id", "h"}});
}

TEST_CASE_TEMPLATE("histograms: integer and float, a gauge hint, exemplar labels; 2.0 start timestamps", P, V1, V2) {
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
  b.Append(s, 0, 20, 0, 15, std::move(h2));  // start_ts 15 (2.0 only)
  b.Append(s, 7, 5, 1, 0, std::move(ex));
  b.Append(s, 0, 10, 2, 0, std::move(h1));
  auto reqs = EncodeOk<P>(b);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].histograms == 2);
  CHECK(reqs[0].exemplars == 2);
  auto req = P::Decode(reqs[0]);
  REQUIRE(req.timeseries_size() == 2);
  const auto& floats = req.timeseries(0);
  CHECK(floats.samples_size() == 1);
  CHECK(floats.histograms_size() == 0);
  REQUIRE(floats.exemplars_size() == 1);
  CHECK(P::ExemplarLabels(req, floats.exemplars(0)) == LabelSet{{"span", "s"}, {"trace_id", "t1"}});
  const auto& hists = req.timeseries(1);
  CHECK(P::LabelsOf(req, hists) == LabelSet{{"__name__", "lat"}});
  CHECK(hists.samples_size() == 0);
  REQUIRE(hists.histograms_size() == 2);
  const auto& a = hists.histograms(0);  // t=10: integer, spans [-3,2] [+1 gap, 1]
  CHECK(a.timestamp() == 10);
  CHECK(a.count_int() == 8);
  CHECK(a.zero_count_int() == 1);
  CHECK(a.schema() == 3);
  CHECK(static_cast<int>(a.reset_hint()) == P::kResetGauge);
  REQUIRE(a.positive_spans_size() == 2);
  CHECK(a.positive_spans(0).offset() == -3);
  CHECK(a.positive_spans(0).length() == 2);
  CHECK(a.positive_spans(1).offset() == 2);
  CHECK(a.positive_spans(1).length() == 1);
  CHECK(std::vector<int64_t>(a.positive_deltas().begin(), a.positive_deltas().end()) == std::vector<int64_t>{1, 1, 2});
  const auto& f = hists.histograms(1);  // t=20: float, absolute counts
  CHECK(f.timestamp() == 20);
  CHECK(f.count_float() == 3.5);
  CHECK(f.has_zero_count_float());
  CHECK(std::vector<double>(f.negative_counts().begin(), f.negative_counts().end()) == std::vector<double>{1.5, 2});
  CHECK(f.negative_spans(1).offset() == 3);
  if constexpr (std::is_same_v<P, V2>) {
    CHECK(a.start_timestamp() == 0);
    CHECK(f.start_timestamp() == 15);
  }
  REQUIRE(hists.exemplars_size() == 1);
  CHECK(hists.exemplars(0).value() == -0.75);
  CHECK(hists.exemplars(0).timestamp() == 20);
}

TEST_CASE_TEMPLATE("histogram rows beside float rows: the size limit holds and every row is sent once", P, V1, V2) {
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
  std::vector<EncodedRequest> reqs = EncodeOk<P>(b, 0, b.size(), 300);
  size_t rows = 0, histograms = 0;
  for (const auto& r : reqs) {
    CHECK(r.raw_bytes <= 300);
    auto req = P::Decode(r);
    for (const auto& ts : req.timeseries()) {
      CHECK((ts.samples_size() == 0) != (ts.histograms_size() == 0));
      for (const auto& h : ts.histograms()) CHECK(h.positive_counts_size() == 3);
    }
    rows += r.rows.size();
    histograms += r.histograms;
  }
  CHECK(rows == 60);
  CHECK(histograms == 30);
}

TEST_CASE_TEMPLATE("histogram rows with exemplars split by max_request_bytes, every row once, in order", P, V1, V2) {
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
  auto reqs = EncodeOk<P>(b, 0, b.size(), 400);
  CHECK(reqs.size() > 3);
  size_t rows = 0, exemplars = 0;
  int64_t last = -1;
  for (const auto& r : reqs) {
    CHECK(r.raw_bytes <= 400);
    auto req = P::Decode(r);  // 2.0: every exemplar symbol in its request, none left over
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

TEST_CASE_TEMPLATE("the bytes a refused row needs count its exemplar (the message names more than the limit)", P, V1,
                   V2) {
  Batch b;
  const uint32_t s = b.Intern({{"__name__", "m"}});
  psink::RowExtra extra;
  extra.exemplar = psink::Exemplar{{{"trace_id", std::string(40, 't')}}, 1.0, 1};
  b.Append(s, 1.0, 1, 0, 0, std::move(extra));
  for (size_t limit : {size_t(20), size_t(60), size_t(80)}) {
    std::vector<EncodedRequest> out;
    Status st = Encode<P>(b, 0, 1, limit, nullptr, &out);
    REQUIRE(!st.ok());
    const std::string& m = st.message();
    const size_t at = m.find("needs ");
    REQUIRE(at != std::string::npos);
    CAPTURE(m);
    CHECK(std::stoul(m.substr(at + 6)) > limit);
  }
}

// ---------------------------------------------------------------- 1.0 only

TEST_CASE("1.0 metadata: one MetricMetadata per distinct metric name, in order of first appearance") {
  Batch b;
  uint32_t a1 = b.Intern({{"__name__", "a_total"}, {"job", "x"}});
  uint32_t c = b.Intern({{"A", "sorts first"}, {"__name__", "c_bytes"}});
  uint32_t a2 = b.Intern({{"__name__", "a_total"}, {"job", "y"}});
  b.Append(a2, 1, 1);
  b.Append(c, 2, 2);
  b.Append(a1, 3, 3);
  MetricMetadata md{MetricType::kCounter, "Things counted.", "things"};
  std::vector<EncodedRequest> reqs = EncodeOk<V1>(b, &md);
  REQUIRE(reqs.size() == 1);
  std::string raw;
  auto wr = V1::Decode(reqs[0], &raw);
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

  // Only a type (even "unknown"): help and unit are left out.
  for (uint32_t t = 0; t <= 7; ++t) {
    CAPTURE(t);
    MetricMetadata typed{static_cast<MetricType>(t), "", ""};
    reqs = EncodeOk<V1>(b, &typed);
    auto w = V1::Decode(reqs[0], &raw);
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
  reqs = EncodeOk<V1>(b);
  CHECK(V1::Decode(reqs[0]).metadata_size() == 0);
}

TEST_CASE("1.0 metadata: each request describes exactly the metrics it carries") {
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
    std::vector<EncodedRequest> reqs = EncodeOk<V1>(many, 0, many.size(), limit, &long_md);
    size_t samples = 0;
    for (const auto& r : reqs) {
      CHECK(r.raw_bytes <= limit);
      auto wr = V1::Decode(r);
      V1::CheckMetadata(wr, &long_md);
      for (const auto& ts : wr.timeseries()) samples += static_cast<size_t>(ts.samples_size());
    }
    CHECK(samples == many.size());
  }
}

// ---------------------------------------------------------------- 2.0 only

TEST_CASE("2.0: one symbol table per request: every string once, \"\" first, in order of first use") {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "a"}, {"job", "x"}});
  uint32_t c = b.Intern({{"__name__", "c"}, {"job", "x"}});
  b.Append(a, 3.0, 30);
  b.Append(c, 1.0, 10);
  b.Append(a, 1.0, 10);
  auto req = V2::Decode(EncodeOk<V2>(b)[0]);
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
  CHECK(req.timeseries(0).samples(0).start_timestamp() == 0);
}

TEST_CASE("2.0: a 1.0 receiver reading a 2.0 body finds nothing in it") {
  // Why a 2xx without written-count headers means "not understood".
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}, {"job", "j"}});
  for (int i = 1; i <= 5; ++i) b.Append(s, i, i);
  MetricMetadata md{MetricType::kGauge, "help", "unit"};
  auto reqs = EncodeOk<V2>(b, &md);
  REQUIRE(reqs.size() == 1);
  std::string raw;
  V2::Decode(reqs[0], &raw);
  prometheus::WriteRequest v1;
  REQUIRE(v1.ParseFromString(raw));
  CHECK(v1.timeseries_size() == 0);
  CHECK(v1.metadata_size() == 0);
}

TEST_CASE("2.0: metadata goes with every series: type, help and unit by reference") {
  Batch b;
  uint32_t a = b.Intern({{"__name__", "cpu_seconds_total"}, {"mode", "idle"}});
  uint32_t c = b.Intern({{"__name__", "cpu_seconds_total"}, {"mode", "user"}});
  uint32_t d = b.Intern({{"__name__", "other"}, {"unit", "seconds"}});  // a label value equal to the unit
  b.Append(a, 1, 1);
  b.Append(c, 2, 2);
  b.Append(d, 3, 3);
  MetricMetadata md{MetricType::kCounter, "Seconds the CPU spent.", "seconds"};
  auto reqs = EncodeOk<V2>(b, &md);
  REQUIRE(reqs.size() == 1);
  std::string raw;
  auto req = V2::Decode(reqs[0], &raw);
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
  CHECK(V2::LabelsOf(req, req.timeseries(2)) == LabelSet{{"__name__", "other"}, {"unit", "seconds"}});
  CHECK(req.timeseries(2).labels_refs(3) == 2);
  CHECK(req.SerializeAsString() == raw);

  // Every type travels with its wire value.
  for (uint32_t t = 0; t <= 7; ++t) {
    CAPTURE(t);
    MetricMetadata typed{static_cast<MetricType>(t), "", ""};
    auto r = V2::Decode(EncodeOk<V2>(b, &typed)[0]);
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
  auto r = V2::Decode(EncodeOk<V2>(b, &unit_only)[0]);
  CHECK(r.symbols(1) == "bytes");
  CHECK(r.timeseries(0).metadata().help_ref() == 0);
  CHECK(r.timeseries(0).metadata().unit_ref() == 1);
  CHECK(r.timeseries(0).metadata().type() == v2::Metadata::METRIC_TYPE_UNSPECIFIED);
}
