// Native histograms: the `histogram` column's JSON, its canonical form, and
// the bucketing of observations exactly as Prometheus's Go client does it
// (client_golang prometheus/histogram.go), which the SQL aggregate
// prometheus_histogram() builds on (HistogramAccumulator).
//
//   {"schema":3,"count":12,"sum":3.7,"zero_threshold":2.938735877055719e-39,
//    "zero_count":1,"positive":{"-3":2,"0":5,"1":4},"negative":{},"reset":"unknown"}
//
// For schema s (-4..8) bucket i covers (base^(i-1), base^i] with base =
// 2^(2^-s); negative buckets are the mirror image; |x| <= zero_threshold
// counts in the zero bucket. Counts in the JSON are absolute; the encoders
// write spans and deltas (integer histograms) or absolute counts (float
// histograms). Knows nothing of SQLite or of the wire.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace psink {

// 2^-128, client_golang's DefNativeHistogramZeroThreshold: a bucket
// boundary in every schema.
inline constexpr double kDefaultZeroThreshold = 2.938735877055719e-39;
inline constexpr int kMinSchema = -4, kMaxSchema = 8;
// Bucket indices in the JSON are within ±2^30, so that the gap between
// two of them fits a span's 32-bit offset. (Every bucket a double can
// reach is within ±2^19 in every schema.)
inline constexpr int32_t kMaxBucketIndex = int32_t{1} << 30;

// Histogram.ResetHint; the values are the wire values of both protocols.
enum class ResetHint : uint8_t { kUnknown = 0, kYes = 1, kNo = 2, kGauge = 3 };

struct Histogram {
  struct Bucket {
    int32_t index;
    uint64_t count;   // integer histograms
    double fcount;    // float histograms
  };
  int32_t schema = 0;
  // A float histogram: some count was written with a fraction or an
  // exponent ("2.5", "2.0", "1e3"). Its counts are in the f* fields; an
  // integer histogram's in the others.
  bool is_float = false;
  ResetHint reset = ResetHint::kUnknown;
  double sum = 0;
  double zero_threshold = kDefaultZeroThreshold;
  uint64_t count = 0, zero_count = 0;
  double fcount = 0, fzero_count = 0;
  std::vector<Bucket> positive, negative;  // sorted by index, indices unique

  friend bool operator==(const Histogram&, const Histogram&) = default;
};

inline bool operator==(const Histogram::Bucket& a, const Histogram::Bucket& b) {
  return a.index == b.index && a.count == b.count && a.fcount == b.fcount;
}

// Parses the JSON of a `histogram` cell. Messages name `column` ("column
// 'histogram': …"), say what is wrong, and show the text (shortened):
// malformed JSON, an unknown or repeated key, a schema outside -4..8, a
// bucket key that is not an integer or appears twice, a negative, non-finite
// or too large count, a count smaller than zero_count plus the buckets, an
// unknown reset hint. `count` defaults to zero_count plus the buckets,
// `zero_threshold` to 2^-128, the rest to zero / empty / unknown; `schema`
// and `sum` are required. `sum` may also be the string "NaN", "Inf",
// "+Inf" or "-Inf".
Status ParseHistogram(std::string_view json, std::string_view column, Histogram* out);

// The canonical JSON of `h`: keys in the order of the example above, bucket
// keys in increasing index order, float counts always with a fraction or an
// exponent (so that the text parses back to the same histogram), a
// non-finite sum as "NaN", "+Inf" or "-Inf". Without `with_reset`, the
// "reset" key is left out (prometheus_histogram(): the sink decides).
std::string HistogramToJson(const Histogram& h, bool with_reset = true);

// "unknown", "yes", "no", "gauge".
std::string_view ResetHintName(ResetHint hint);

// The index of the bucket that holds an observation `v` with |v| > the zero
// threshold (NaN excluded) in `schema`, as client_golang computes it: from
// math.Frexp of |v|, a binary search in the schema's bounds for schema > 0,
// a rounded-up shift of the exponent otherwise; ±Inf go one bucket above
// the one of ±MaxFloat64.
int32_t BucketIndex(double v, int schema);

// The upper bound of bucket `index` in `schema` (the lower bound is that of
// index - 1), as Prometheus computes it for queries (getBound in
// model/histogram/generic.go): the last finite bucket ends at MaxFloat64.
double BucketUpperBound(int32_t index, int schema);

// Observations in, a histogram out: the state of prometheus_histogram().
// Add() counts an observation as client_golang's Observe does (NaN counts
// in `count` and `sum` only; |v| <= zero_threshold in the zero bucket);
// Remove() takes back one earlier Add() of the same value exactly (the
// window function's inverse). The sum is kept with
// Kahan–Babuška–Neumaier compensation, as SQLite's sum() does, with the
// ±Inf and NaN observations counted apart, so removing values leaves no
// drift and no NaN behind.
class HistogramAccumulator {
 public:
  explicit HistogramAccumulator(int schema, double zero_threshold = kDefaultZeroThreshold)
      : schema_(schema), zero_threshold_(zero_threshold) {}

  int schema() const { return schema_; }
  uint64_t count() const { return count_; }
  void Add(double v) { Change(v, +1); }
  void Remove(double v) { Change(v, -1); }
  // The integer histogram of what was added and not removed (reset
  // unknown); buckets whose count fell back to 0 are left out.
  void Get(Histogram* out) const;

 private:
  // Bucket counts by index, dense between the lowest and highest index
  // seen (observations of a group span few orders of magnitude).
  class Counts {
   public:
    void Change(int32_t index, int delta);
    void AppendTo(std::vector<Histogram::Bucket>* out) const;

   private:
    std::vector<uint64_t> counts_;
    int32_t first_ = 0;  // index of counts_[0]
  };
  void Change(double v, int delta);

  int schema_;
  double zero_threshold_;
  uint64_t count_ = 0, zero_count_ = 0;
  uint64_t nan_ = 0, pos_inf_ = 0, neg_inf_ = 0;
  double sum_ = 0, sum_err_ = 0;  // the finite observations, compensated
  Counts positive_, negative_;
};

}  // namespace psink
