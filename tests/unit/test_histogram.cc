// Unit tests for histogram.{h,cc}: the `histogram` column's JSON (accepted
// forms, canonical text, every refusal with its message), the bucketing of
// observations against client_golang itself (golden/keys.txt, printed by
// golden/gen_keys.go from client_golang's own code), the bounds Prometheus
// computes for those buckets, and the aggregate's state (add and remove).
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "histogram.h"

using psink::BucketIndex;
using psink::BucketUpperBound;
using psink::Histogram;
using psink::HistogramAccumulator;
using psink::HistogramToJson;
using psink::ParseHistogram;
using psink::ResetHint;
using psink::Status;

#ifndef GOLDEN_DIR
#error "GOLDEN_DIR must name tests/unit/golden"
#endif

namespace {

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

Histogram ParseOk(const std::string& json) {
  Histogram h;
  Status st = ParseHistogram(json, "histogram", &h);
  REQUIRE_MESSAGE(st.ok(), st.message());
  return h;
}

std::string ParseError(const std::string& json) {
  Histogram h;
  Status st = ParseHistogram(json, "histogram", &h);
  REQUIRE_MESSAGE(!st.ok(), json);
  CHECK(st.code() == Status::Code::kInvalid);
  return st.message();
}

// Where one observation lands in a fresh accumulator: "P k", "N k", "Z", or
// "-" (counted, in no bucket), as golden/keys.txt writes it.
std::string Where(double v, int schema) {
  HistogramAccumulator acc(schema);
  acc.Add(v);
  Histogram h;
  acc.Get(&h);
  REQUIRE(h.count == 1);
  const size_t in_buckets = h.positive.size() + h.negative.size() + h.zero_count;
  if (in_buckets == 0) return "-";
  REQUIRE(in_buckets == 1);
  if (h.zero_count == 1) return "Z";
  if (!h.positive.empty()) return "P " + std::to_string(h.positive[0].index);
  return "N " + std::to_string(h.negative[0].index);
}

}  // namespace

TEST_CASE("bucketing agrees with client_golang for every value of golden/keys.txt") {
  std::ifstream in(GOLDEN_DIR "/keys.txt");
  REQUIRE(in.good());
  std::string line;
  size_t n = 0, specials = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    int schema;
    std::string hex, want, key;
    fields >> schema >> hex >> want;
    if (fields >> key) want += " " + key;
    const uint64_t bits = std::stoull(hex, nullptr, 16);
    double v;
    std::memcpy(&v, &bits, sizeof v);
    INFO(line);
    CHECK(Where(v, schema) == want);
    specials += std::isnan(v) || std::isinf(v) || v == 0;
    ++n;
  }
  CHECK(n == 6062);
  CHECK(specials > 0);
}

TEST_CASE("each bucket holds its values between the bounds Prometheus computes for it") {
  std::ifstream in(GOLDEN_DIR "/keys.txt");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    int schema;
    std::string hex, kind;
    int32_t key = 0;
    fields >> schema >> hex >> kind;
    if (kind != "P" && kind != "N") continue;
    fields >> key;
    const uint64_t bits = std::stoull(hex, nullptr, 16);
    double v;
    std::memcpy(&v, &bits, sizeof v);
    INFO(line);
    const double a = std::fabs(v);
    if (std::isinf(a)) {
      CHECK(BucketUpperBound(key - 1, schema) == DBL_MAX);  // the bucket above MaxFloat64's
    } else {
      CHECK(BucketUpperBound(key - 1, schema) < a);  // (lower, upper]
      CHECK(a <= BucketUpperBound(key, schema));
    }
  }
}

TEST_CASE("values on bucket boundaries, zero, negatives, ±Inf and NaN") {
  // Schema 0: bucket i is (2^(i-1), 2^i].
  CHECK(BucketIndex(1.0, 0) == 0);
  CHECK(BucketIndex(2.0, 0) == 1);
  CHECK(BucketIndex(std::nextafter(2.0, 3.0), 0) == 2);
  CHECK(BucketIndex(0.5, 0) == -1);
  CHECK(BucketIndex(-3.0, 0) == 2);
  // Schema 3: 2^(1/8) as client_golang's table has it is a boundary.
  CHECK(BucketIndex(2 * 0.5452538663326288, 3) == 1);
  CHECK(BucketIndex(std::nextafter(2 * 0.5452538663326288, 2.0), 3) == 2);
  // Schema -2: bucket i is (16^(i-1), 16^i].
  CHECK(BucketIndex(16.0, -2) == 1);
  CHECK(BucketIndex(17.0, -2) == 2);
  CHECK(BucketIndex(1.0, -2) == 0);
  CHECK(BucketIndex(0.0625, -2) == -1);
  // The largest finite bucket and the one above it for ±Inf.
  CHECK(BucketIndex(DBL_MAX, 3) == 8192);
  CHECK(BucketIndex(kInf, 3) == 8193);
  CHECK(BucketIndex(-kInf, 0) == 1025);
  CHECK(Where(0.0, 3) == "Z");
  CHECK(Where(-0.0, 3) == "Z");
  CHECK(Where(psink::kDefaultZeroThreshold, 3) == "Z");
  CHECK(Where(-psink::kDefaultZeroThreshold, 3) == "Z");
  CHECK(Where(std::nextafter(psink::kDefaultZeroThreshold, 1.0), 3) == "P -1023");
  CHECK(Where(kNaN, 3) == "-");
  CHECK(Where(-kInf, 3) == "N 8193");
}

TEST_CASE("the accumulator: count, sum, buckets; Remove takes an Add back exactly") {
  HistogramAccumulator acc(0);
  for (double v : {1.0, 2.0, 3.0, 0.0, -1.5, 0.1, 0.2}) acc.Add(v);
  Histogram h;
  acc.Get(&h);
  CHECK(HistogramToJson(h) ==
        R"({"schema":0,"count":7,"sum":4.8,"zero_threshold":2.938735877055719e-39,"zero_count":1,)"
        R"("positive":{"-3":1,"-2":1,"0":1,"1":1,"2":1},"negative":{"1":1},"reset":"unknown"})");
  // A sliding window takes rows back: no empty bucket is left, and the
  // compensated sum comes back to what the remaining values add up to.
  acc.Remove(0.1);
  acc.Remove(3.0);
  acc.Get(&h);
  CHECK(HistogramToJson(h) ==
        R"({"schema":0,"count":5,"sum":1.7,"zero_threshold":2.938735877055719e-39,"zero_count":1,)"
        R"("positive":{"-2":1,"0":1,"1":1},"negative":{"1":1},"reset":"unknown"})");
  CHECK(h.sum == 1.0 + 2.0 + 0.0 - 1.5 + 0.2);

  // NaN and ±Inf count in count and sum; taken back, they leave no NaN.
  acc.Add(kNaN);
  acc.Add(kInf);
  acc.Get(&h);
  CHECK(std::isnan(h.sum));
  CHECK(h.count == 7);
  CHECK(h.positive.back().index == 1025);
  acc.Remove(kNaN);
  acc.Get(&h);
  CHECK(h.sum == kInf);
  acc.Add(-kInf);
  acc.Get(&h);
  CHECK(std::isnan(h.sum));
  acc.Remove(kInf);
  acc.Remove(-kInf);
  acc.Get(&h);
  CHECK(h.sum == 1.0 + 2.0 + 0.0 - 1.5 + 0.2);
  CHECK(h.count == 5);
  CHECK(h.positive.back().index == 1);
}

TEST_CASE("accepted histogram JSON and its canonical text") {
  Histogram h = ParseOk(
      R"({"schema":3,"count":12,"sum":3.7,"zero_threshold":2.938735877055719e-39,"zero_count":1,)"
      R"("positive":{"-3":2,"0":5,"1":4},"negative":{},"reset":"unknown"})");
  CHECK(h.schema == 3);
  CHECK(!h.is_float);
  CHECK(h.count == 12);
  CHECK(h.zero_count == 1);
  CHECK(h.positive.size() == 3);
  CHECK(h.positive[0].index == -3);
  CHECK(h.positive[0].count == 2);
  CHECK(HistogramToJson(h) ==
        R"({"schema":3,"count":12,"sum":3.7,"zero_threshold":2.938735877055719e-39,"zero_count":1,)"
        R"("positive":{"-3":2,"0":5,"1":4},"negative":{},"reset":"unknown"})");

  // Defaults: count = zero_count + buckets, zero threshold 2^-128; keys in
  // any order; white space.
  h = ParseOk(R"( { "negative" : {"2":1,"-1":3}, "sum": -2.5, "schema": -2, "reset": "GAUGE" } )");
  CHECK(HistogramToJson(h) ==
        R"({"schema":-2,"count":4,"sum":-2.5,"zero_threshold":2.938735877055719e-39,"zero_count":0,)"
        R"("positive":{},"negative":{"-1":3,"2":1},"reset":"gauge"})");
  CHECK(h.reset == ResetHint::kGauge);

  // A count written with a fraction or an exponent makes a float
  // histogram, printed so that it reads back as one.
  h = ParseOk(R"({"schema":0,"sum":1,"positive":{"0":2.0,"1":0.5},"zero_count":1})");
  CHECK(h.is_float);
  CHECK(h.fcount == 3.5);
  CHECK(HistogramToJson(h) ==
        R"({"schema":0,"count":3.5,"sum":1,"zero_threshold":2.938735877055719e-39,"zero_count":1.0,)"
        R"("positive":{"0":2.0,"1":0.5},"negative":{},"reset":"unknown"})");
  CHECK(ParseOk(HistogramToJson(h)) == h);

  // A larger count than the buckets hold (NaN observations), special sums, null.
  h = ParseOk(R"({"schema":8,"count":9,"sum":"NaN","positive":{"1000":1},"zero_threshold":0,"negative":null})");
  CHECK(h.count == 9);
  CHECK(std::isnan(h.sum));
  CHECK(h.zero_threshold == 0);
  CHECK(HistogramToJson(h) ==
        R"({"schema":8,"count":9,"sum":"NaN","zero_threshold":0,"zero_count":0,"positive":{"1000":1},"negative":{},"reset":"unknown"})");
  CHECK(ParseOk(R"({"schema":0,"sum":"-inf"})").sum == -kInf);
  CHECK(ParseOk(R"({"schema":0,"sum":"+Inf"})").sum == kInf);
  CHECK(ParseOk(R"({"schema":0,"sum":0,"count":18446744073709551615})").count == UINT64_MAX);
}

TEST_CASE("refused histogram JSON names the column and shows the text") {
  CHECK(ParseError("{\"schema\":3,") ==
        "column 'histogram': invalid JSON at offset 12: expected a string key, found the end in '{\"schema\":3,'");
  CHECK(ParseError("[1]") == "column 'histogram': invalid JSON at offset 0: expected a JSON object '{', found '[1]' in '[1]'");
  CHECK(ParseError(R"({"schema":9,"sum":0})") ==
        R"(column 'histogram': 'schema' must be an integer from -4 to 8, found 9 in '{"schema":9,"sum":0}')");
  CHECK(ParseError(R"({"schema":-5,"sum":0})") ==
        R"(column 'histogram': 'schema' must be an integer from -4 to 8, found -5 in '{"schema":-5,"sum":0}')");
  CHECK(ParseError(R"({"schema":1.5,"sum":0})") ==
        R"(column 'histogram': 'schema' must be an integer from -4 to 8, found 1.5 in '{"schema":1.5,"sum":0}')");
  CHECK(ParseError(R"({"schema":"3","sum":0})") ==
        R"(column 'histogram': 'schema' must be an integer from -4 to 8, found the string '3' in '{"schema":"3","sum":0}')");
  CHECK(ParseError(R"({"sum":0})") == R"(column 'histogram': 'schema' is missing (an integer from -4 to 8) in '{"sum":0}')");
  CHECK(ParseError(R"({"schema":0})") ==
        R"(column 'histogram': 'sum' is missing (a number, or "NaN", "+Inf", "-Inf") in '{"schema":0}')");
  CHECK(ParseError(R"({"schema":0,"sum":"x"})") ==
        R"(column 'histogram': 'sum' must be a number, or "NaN", "+Inf", "-Inf", found the string 'x' in '{"schema":0,"sum":"x"}')");
  CHECK(ParseError(R"({"schema":0,"sum":1e999})") ==
        R"(column 'histogram': 'sum' '1e999' is out of range in '{"schema":0,"sum":1e999}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"scheme":1})") ==
        R"(column 'histogram': unknown key 'scheme' (expected schema, count, sum, zero_threshold, zero_count, positive, negative, reset) in '{"schema":0,"sum":0,"scheme":1}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"schema":1})") ==
        R"(column 'histogram': key 'schema' appears twice in '{"schema":0,"sum":0,"schema":1}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"positive":{"1.5":1}})") ==
        R"(column 'histogram': bucket key '1.5' of 'positive' is not an integer bucket index (-2^30 to 2^30, no leading zeros) in '{"schema":0,"sum":0,"positive":{"1.5":1}}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"negative":{"01":1}})") ==
        R"(column 'histogram': bucket key '01' of 'negative' is not an integer bucket index (-2^30 to 2^30, no leading zeros) in '{"schema":0,"sum":0,"negative":{"01":1}}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"positive":{"2000000000":1}})") ==
        R"(column 'histogram': bucket key '2000000000' of 'positive' is not an integer bucket index (-2^30 to 2^30, no leading zeros) in '{"schema":0,"sum":0,"positive":{"2000000000":1}}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"positive":{"3":1,"3":2}})") ==
        R"(column 'histogram': bucket 3 appears twice in 'positive' in '{"schema":0,"sum":0,"positive":{"3":1,"3":2}}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"positive":{"3":-1}})") ==
        R"(column 'histogram': the count of bucket 3 of 'positive' is negative (-1) in '{"schema":0,"sum":0,"positive":{"3":-1}}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"positive":{"3":1e999}})") ==
        R"(column 'histogram': the count of bucket 3 of 'positive' '1e999' is not a finite number in '{"schema":0,"sum":0,"positive":{"3":1e999}}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"positive":{"3":"1"}})") ==
        R"(column 'histogram': the count of bucket 3 of 'positive' must be a non-negative number, found the string '1' in '{"schema":0,"sum":0,"positive":{"3":"1"}}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"positive":[1]})") ==
        R"(column 'histogram': JSON value of 'positive' is an array; only strings, numbers, booleans and null are allowed, in '{"schema":0,"sum":0,"positive":[1]}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"positive":3})") ==
        R"(column 'histogram': 'positive' must be an object of bucket index to count, found 3 in '{"schema":0,"sum":0,"positive":3}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"count":5,"zero_count":2,"positive":{"0":4}})") ==
        R"(column 'histogram': 'count' is 5, smaller than zero_count plus the buckets (6) in '{"schema":0,"sum":0,"count":5,"zero_count":2,"positive":{"0"...')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"count":0.5,"positive":{"0":0.75}})") ==
        R"(column 'histogram': 'count' is 0.5, smaller than zero_count plus the buckets (0.75) in '{"schema":0,"sum":0,"count":0.5,"positive":{"0":0.75}}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"count":-1})") ==
        R"(column 'histogram': 'count' is negative (-1) in '{"schema":0,"sum":0,"count":-1}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"count":18446744073709551616})") ==
        R"(column 'histogram': 'count' '18446744073709551616' is larger than 2^64-1 in '{"schema":0,"sum":0,"count":18446744073709551616}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"positive":{"0":18446744073709551615,"1":1}})") ==
        R"(column 'histogram': the counts add up to more than 2^64-1 in '{"schema":0,"sum":0,"positive":{"0":18446744073709551615,"1"...')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"zero_threshold":-1})") ==
        R"(column 'histogram': 'zero_threshold' must be a finite number >= 0, found -1 in '{"schema":0,"sum":0,"zero_threshold":-1}')");
  CHECK(ParseError(R"({"schema":0,"sum":0,"reset":"maybe"})") ==
        R"(column 'histogram': 'reset' must be "unknown", "yes", "no" or "gauge", found the string 'maybe' in '{"schema":0,"sum":0,"reset":"maybe"}')");
}
