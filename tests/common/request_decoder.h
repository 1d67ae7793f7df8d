// The tests' one reader of remote-write requests: a request body (snappy
// block format of a protobuf message) decoded with the generated classes of
// proto/remote.proto (1.0, prometheus.WriteRequest) and proto/write_v2.proto
// (2.0, io.prometheus.write.v2.Request), every sample, histogram, exemplar
// and metadata entry read out in body order, and the rules the sink promises
// (DESIGN.md, "The wire") checked on the way. A broken rule is reported as
// one line of text, never as a failed assertion, so that each user decides
// what a violation means: the test receiver (tests/receiver) records them
// for the test to assert, the fuzz targets (tests/fuzz) abort, unit tests
// CHECK that there are none.
//
//   rwdecode::DecodedRequest req;
//   std::vector<std::string> violations;
//   std::string raw;  // optional: the uncompressed body
//   rwdecode::DecodeRequest(body, rwdecode::Protocol::kV1, &req, &violations, &raw);
//   CHECK(violations.empty());
//   ... req.write (the WriteRequest), req.samples (every sample, labels rendered) ...
//
// The rules, 1.0 and 2.0: at least one series; each series' labels sorted
// by name, unique, valid names, no empty value, __name__ present; samples,
// histograms and exemplars of a series in timestamp order; no label set in
// two TimeSeries of a request (but a label set may come once with samples
// and once with histograms; one TimeSeries never holds both); histograms:
// schema -4..8, count and zero_count of one kind (integer or float) with
// deltas or counts to match, span lengths adding up to the buckets sent,
// offsets after the first span >= 0, no empty span, no negative absolute
// count, count >= zero_count + buckets; exemplar labels valid, sorted,
// unique, at most 128 UTF-8 characters in all; metadata types 0..7.
// 2.0 also: no field 2.0 does not define (a 1.0 body sent as 2.0),
// symbols[0] == "", no symbol twice, every symbol referred to, references in
// range and labels_refs in pairs, a start_timestamp (0: none) not after the
// timestamp.
//
// Link `request_decoder_dep` (tests/common/meson.build).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "remote.pb.h"
#include "write_v2.pb.h"

namespace rwdecode {

// The remote-write protocol of a request.
enum class Protocol { kV1, kV2 };

// Metadata as a request carried it.
struct SeenMetadata {
  Protocol protocol = Protocol::kV1;
  // 1.0: MetricMetadata.metric_family_name. 2.0: the series' __name__.
  std::string metric;
  // 2.0 only: the series' labels as in Sample::labels; empty for 1.0.
  std::string labels;
  int type = 0;  // the wire value (0 unknown, 1 counter, 2 gauge, ...)
  std::string help;
  std::string unit;

  // "1.0 <metric> type=counter help=\"...\" unit=\"...\"" or
  // "2.0 <labels> type=... help=... unit=...".
  std::string ToString() const;
  friend bool operator==(const SeenMetadata&, const SeenMetadata&) = default;
};

// The name of a metric type's wire value: "unknown", "counter", "gauge",
// "histogram", "gaugehistogram", "summary", "info", "stateset".
std::string MetricTypeName(int type);

// One sample as received: the series' labels rendered as
// {name="value",...} in the order they were sent (values escaped as in
// PromQL: \\, \", \n), the timestamp in ms and the exact value bits.
struct Sample {
  std::string labels;
  int64_t ts = 0;
  uint64_t value_bits = 0;
  int64_t start_ts = 0;  // remote-write 2.0 Sample.start_timestamp (0: none)

  double value() const;
  // "labels ts value" with the value as %.17g and its bits in hex.
  std::string ToString() const;
  friend bool operator==(const Sample&, const Sample&) = default;
};

// One native histogram as received, its buckets as absolute counts.
struct SeenHistogram {
  std::string labels;  // the series, as in Sample::labels
  int64_t ts = 0;
  int64_t start_ts = 0;  // 2.0 Histogram.start_timestamp
  int schema = 0;
  bool is_float = false;
  double count = 0, zero_count = 0;  // count_int/_float, zero_count_int/_float
  uint64_t sum_bits = 0, zero_threshold_bits = 0;
  int reset_hint = 0;  // 0 unknown, 1 yes, 2 no, 3 gauge
  std::map<int32_t, double> positive, negative;  // bucket index -> absolute count

  // "labels ts int|float schema=… count=… sum=… zt=… zc=… reset=…
  // pos{i:c,…} neg{…}", numbers as %.17g.
  std::string ToString() const;
  friend bool operator==(const SeenHistogram&, const SeenHistogram&) = default;
};

// One exemplar as received, with the series it was attached to.
struct SeenExemplar {
  std::string series;  // as in Sample::labels
  std::string labels;  // the exemplar's own labels, rendered the same way
  int64_t ts = 0;
  uint64_t value_bits = 0;
  bool histogram_series = false;  // sent with histograms (not with samples)
  // "series labels ts value (bits)".
  std::string ToString() const;
  friend bool operator==(const SeenExemplar&, const SeenExemplar&) = default;
};

// A decoded request body.
struct DecodedRequest {
  Protocol protocol = Protocol::kV1;
  bool decoded = false;
  std::string decode_error;  // why decoding failed, when it did
  prometheus::WriteRequest write;               // protocol 1.0, when decoded
  io::prometheus::write::v2::Request write_v2;  // protocol 2.0, when decoded
  // Every sample, metadata entry, histogram and exemplar of the body, in
  // body order.
  std::vector<Sample> samples;
  std::vector<SeenMetadata> metadata;
  std::vector<SeenHistogram> histograms;
  std::vector<SeenExemplar> exemplars;

  // Samples carried by the decoded body.
  size_t SampleCount() const;
  bool is_v2() const { return protocol == Protocol::kV2; }
};

// Decodes `body` as a request of `protocol` into *out (cleared first) and
// appends one line per broken rule to *violations (an undecodable body is
// one: "empty body", "body is not snappy block format", "body is not a
// prometheus.WriteRequest", ...). `raw` (optional) receives the uncompressed
// body. Returns out->decoded. Label names must match the legacy rule
// ([a-zA-Z_][a-zA-Z0-9_]*, 1.0's MUST), or with Names::kUtf8 be any
// non-empty valid UTF-8 (2.0's MUST; a sink with name_validation_scheme=utf8).
enum class Names { kLegacy, kUtf8 };
bool DecodeRequest(std::string_view body, Protocol protocol, DecodedRequest* out, std::vector<std::string>* violations,
                   std::string* raw = nullptr, Names names = Names::kLegacy);

// The IEEE-754 bits of `v`, for comparing values exactly (NaN included).
uint64_t Bits(double v);

// The label set of a series rendered as Sample::labels.
std::string LabelsToString(const prometheus::TimeSeries& ts);
// The same for a 2.0 series; a reference out of range shows as "?".
std::string LabelsToString(const io::prometheus::write::v2::TimeSeries& ts,
                           const google::protobuf::RepeatedPtrField<std::string>& symbols);
// The same for (name, value) pairs in the order given.
std::string LabelsToString(const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace rwdecode
