// Fuzz target for histogram.{h,cc}, exemplar.{h,cc} and wire_extras.{h,cc}:
// the `histogram` and `exemplar` columns. The input holds up to 16 texts
// separated by NUL bytes; each is parsed as a histogram and as an exemplar,
// as a sink does for those cells. The first 8 bytes of the input, read as a
// double, are also observed by prometheus_histogram()'s accumulator.
//
// Invariants, besides "no crash, no sanitizer report":
//   - ParseHistogram: an accepted histogram has a schema in -4..8, buckets
//     sorted by index and unique, count >= zero_count + buckets; its
//     canonical JSON parses back to the same histogram; its wire encoding
//     (spans and deltas, or counts) decodes with the generated protobuf
//     class to the same absolute counts, count, sum, schema, zero bucket and
//     reset hint; a refusal's message is UTF-8 and names the column;
//   - ParseExemplar: accepted labels are valid names, sorted, unique,
//     non-empty values, at most 128 UTF-8 characters in all; the JSON of
//     the exemplar parses back to the same one; refusals name the column;
//   - bucketing: a finite observation above the zero threshold lies in
//     (upper bound of bucket k-1, upper bound of bucket k] of its bucket k
//     (Prometheus's bounds); Add then Remove leaves an empty accumulator.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "exemplar.h"
#include "fuzz_check.h"
#include "histogram.h"
#include "remote.pb.h"
#include "text.h"
#include "wire_extras.h"

namespace {

using psink::Histogram;
using psink::Status;

bool SameDouble(double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0; }

void CheckHistogram(std::string_view text) {
  Histogram h;
  Status st = psink::ParseHistogram(text, "histogram", &h);
  if (!st.ok()) {
    FUZZ_CHECK(psink::IsValidUtf8(st.message()), "histogram message is not UTF-8");
    FUZZ_CHECK(st.message().rfind("column 'histogram': ", 0) == 0, "message does not name the column: %s",
               st.message().c_str());
    return;
  }
  FUZZ_CHECK(h.schema >= psink::kMinSchema && h.schema <= psink::kMaxSchema, "schema %d", h.schema);
  double ftotal = h.fzero_count;
  unsigned __int128 total = h.zero_count;
  for (const auto* side : {&h.positive, &h.negative}) {
    for (size_t i = 0; i < side->size(); ++i) {
      if (i) FUZZ_CHECK((*side)[i - 1].index < (*side)[i].index, "buckets not sorted or repeated");
      total += (*side)[i].count;
      ftotal += (*side)[i].fcount;
    }
  }
  if (h.is_float) FUZZ_CHECK(h.fcount >= ftotal * (1 - 1e-12), "float count below the buckets");
  else FUZZ_CHECK(h.count >= total, "count below the buckets");

  const std::string json = psink::HistogramToJson(h);
  Histogram back;
  Status again = psink::ParseHistogram(json, "histogram", &back);
  FUZZ_CHECK(again.ok(), "canonical JSON refused: %s (%s)", again.message().c_str(), json.c_str());
  FUZZ_CHECK(SameDouble(back.sum, h.sum), "sum changed in the canonical JSON");
  Histogram h0 = h;
  back.sum = h0.sum = 0;  // compared above (NaN != NaN)
  FUZZ_CHECK(back == h0, "canonical JSON reads back differently: %s", json.c_str());

  FUZZ_CHECK(psink::wire::ExtrasBytesBound(&h, nullptr) >= psink::wire::HistogramEntrySize(h, INT64_MIN, INT64_MIN),
             "the size bound checked at INSERT is below the histogram's size");
  std::string payload;
  psink::wire::AppendHistogramPayload(h, 12345, 0, &payload);
  FUZZ_CHECK(payload.size() == psink::wire::HistogramPayloadSize(h, 12345, 0), "size disagrees");
  prometheus::Histogram pb;
  FUZZ_CHECK(pb.ParseFromString(payload), "the wire histogram does not parse");
  FUZZ_CHECK(pb.timestamp() == 12345 && pb.schema() == h.schema, "timestamp or schema");
  FUZZ_CHECK(SameDouble(pb.sum(), h.sum) && SameDouble(pb.zero_threshold(), h.zero_threshold), "sum or threshold");
  FUZZ_CHECK(static_cast<int>(pb.reset_hint()) == static_cast<int>(h.reset), "reset hint");
  if (h.is_float) {
    FUZZ_CHECK(pb.has_count_float() && SameDouble(pb.count_float(), h.fcount), "float count");
    FUZZ_CHECK(pb.has_zero_count_float() && SameDouble(pb.zero_count_float(), h.fzero_count), "float zero count");
  } else {
    FUZZ_CHECK(pb.has_count_int() && pb.count_int() == h.count, "count");
    FUZZ_CHECK(pb.has_zero_count_int() && pb.zero_count_int() == h.zero_count, "zero count");
  }
  auto decode = [&](const auto& spans, const auto& deltas, const auto& counts, const std::vector<Histogram::Bucket>& want) {
    std::vector<Histogram::Bucket> got;
    int64_t index = 0, running = 0;
    int v = 0;
    for (int k = 0; k < spans.size(); ++k) {
      FUZZ_CHECK(spans.Get(k).length() > 0, "empty span");
      if (k > 0) FUZZ_CHECK(spans.Get(k).offset() > 0, "span offset %d after the first", spans.Get(k).offset());
      index = k == 0 ? spans.Get(k).offset() : index + spans.Get(k).offset();
      for (uint32_t l = 0; l < spans.Get(k).length(); ++l, ++index, ++v) {
        Histogram::Bucket b{static_cast<int32_t>(index), 0, 0};
        if (h.is_float) {
          FUZZ_CHECK(v < counts.size(), "fewer counts than spanned");
          b.fcount = counts.Get(v);
        } else {
          FUZZ_CHECK(v < deltas.size(), "fewer deltas than spanned");
          running += deltas.Get(v);
          b.count = static_cast<uint64_t>(running);
        }
        got.push_back(b);
      }
    }
    FUZZ_CHECK(v == (h.is_float ? counts.size() : deltas.size()), "more values than spanned");
    FUZZ_CHECK(got == want, "buckets changed on the wire");
  };
  decode(pb.positive_spans(), pb.positive_deltas(), pb.positive_counts(), h.positive);
  decode(pb.negative_spans(), pb.negative_deltas(), pb.negative_counts(), h.negative);
}

void CheckExemplar(std::string_view text, size_t row) {
  const double value = 0.5 * static_cast<double>(row);
  psink::Exemplar e;
  Status st = psink::ParseExemplar(text, "exemplar", row % 2 ? nullptr : &value, 1000, psink::TimeUnit::kMillis,
                                   2000, &e);
  if (!st.ok()) {
    FUZZ_CHECK(psink::IsValidUtf8(st.message()), "exemplar message is not UTF-8");
    FUZZ_CHECK(st.message().rfind("column 'exemplar': ", 0) == 0, "message does not name the column");
    return;
  }
  size_t chars = 0;
  for (size_t i = 0; i < e.labels.size(); ++i) {
    FUZZ_CHECK(psink::IsValidLabelName(e.labels[i].first), "invalid exemplar label name");
    FUZZ_CHECK(!e.labels[i].second.empty() && psink::IsValidUtf8(e.labels[i].second), "bad exemplar label value");
    if (i) FUZZ_CHECK(e.labels[i - 1].first < e.labels[i].first, "exemplar labels not sorted or repeated");
    for (const std::string* s : {&e.labels[i].first, &e.labels[i].second}) {
      for (char c : *s) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }
  }
  FUZZ_CHECK(chars <= psink::kExemplarMaxLabelChars, "exemplar labels have %zu characters", chars);
  // 2.0: the exemplar with its labels as new symbols (tag, length, bytes each) and references.
  size_t v2 = 0, refs = 0;
  for (const auto& [n, v] : e.labels) v2 += 2 + n.size() + 2 + v.size(), refs += 2 * 5;
  psink::Exemplar wide = e;
  wide.ts = INT64_MIN;  // the widest timestamp
  FUZZ_CHECK(psink::wire::ExtrasBytesBound(nullptr, &wide) >= psink::wire::ExemplarV1EntrySize(wide) &&
                 psink::wire::ExtrasBytesBound(nullptr, &wide) >= v2 + psink::wire::ExemplarV2EntrySize(refs, wide),
             "the size bound checked at INSERT is below the exemplar's size");
  psink::Exemplar back;
  const std::string json = psink::ExemplarToJson(e);
  Status again = psink::ParseExemplar(json, "exemplar", nullptr, 0, psink::TimeUnit::kMillis, 0, &back);
  FUZZ_CHECK(again.ok(), "exemplar JSON refused: %s", again.message().c_str());
  FUZZ_CHECK(back.labels == e.labels && back.ts == e.ts && SameDouble(back.value, e.value),
             "exemplar JSON reads back differently: %s", json.c_str());
}

void CheckBucketing(double v, int schema) {
  psink::HistogramAccumulator acc(schema);
  acc.Add(v);
  acc.Remove(v);
  Histogram h;
  acc.Get(&h);
  FUZZ_CHECK(h.count == 0 && h.zero_count == 0 && h.positive.empty() && h.negative.empty(), "Remove left something");
  const double a = std::fabs(v);
  if (std::isnan(v) || a <= psink::kDefaultZeroThreshold) return;
  const int32_t k = psink::BucketIndex(v, schema);
  if (std::isinf(a)) {
    FUZZ_CHECK(psink::BucketUpperBound(k - 1, schema) == DBL_MAX, "Inf bucket");
  } else {
    FUZZ_CHECK(psink::BucketUpperBound(k - 1, schema) < a && a <= psink::BucketUpperBound(k, schema),
               "%.17g not in bucket %d of schema %d", v, k, schema);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = fuzz::AsText(data, size);
  if (size >= 9) {
    double v;
    std::memcpy(&v, data, sizeof v);
    CheckBucketing(v, static_cast<int>(data[8] % 13) - 4);
  }
  std::vector<std::string_view> rows;
  fuzz::Split(input, '\0', &rows);
  if (rows.size() > 16) return 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    CheckHistogram(rows[r]);
    CheckExemplar(rows[r], r);
  }
  return 0;
}
