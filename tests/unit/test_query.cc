// Unit tests for query.{h,cc}: the query endpoint derived from a sink's url,
// the request's form, the API's answers read into rows (and every refusal),
// and native histograms inferred from their bucket bounds — checked by
// writing histograms of every schema as Prometheus's API lists them
// (getBound's bounds, the lowest bucket cut off at the zero threshold,
// empty buckets left out) and reading them back.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "histogram.h"
#include "query.h"

using psink::ApiBucket;
using psink::BucketUpperBound;
using psink::Histogram;
using psink::HistogramFromBuckets;
using psink::HistogramToJson;
using psink::ParseQueryAnswer;
using psink::QueryAnswer;
using psink::QueryEndpoint;
using psink::QueryForm;
using psink::QueryRequest;
using psink::SinkOptions;
using psink::Status;

namespace {

std::string Endpoint(const std::string& url, bool range, const std::string& query_url = "") {
  SinkOptions o;
  o.url = url;
  o.query_url = query_url;
  std::string out;
  Status st = QueryEndpoint(o, range, &out);
  return st.ok() ? out : "error: " + st.message();
}

// The buckets of `h` as Prometheus's API lists them (AllBucketIterator):
// negative ones from the lowest, the zero bucket (when it has a count),
// positive ones; a bound below the zero threshold is cut off at it.
std::vector<ApiBucket> ApiBuckets(const Histogram& h) {
  std::vector<ApiBucket> out;
  auto count = [&](const Histogram::Bucket& b) { return h.is_float ? b.fcount : static_cast<double>(b.count); };
  for (auto it = h.negative.rbegin(); it != h.negative.rend(); ++it) {
    double upper = -BucketUpperBound(it->index - 1, h.schema);
    if (upper > -h.zero_threshold) upper = -h.zero_threshold;
    out.push_back({1, -BucketUpperBound(it->index, h.schema), upper, count(*it)});
  }
  const double zero = h.is_float ? h.fzero_count : static_cast<double>(h.zero_count);
  if (zero > 0) out.push_back({3, -h.zero_threshold, h.zero_threshold, zero});
  for (const auto& b : h.positive) {
    double lower = BucketUpperBound(b.index - 1, h.schema);
    if (lower < h.zero_threshold) lower = h.zero_threshold;
    out.push_back({0, lower, BucketUpperBound(b.index, h.schema), count(b)});
  }
  return out;
}

std::string Back(const Histogram& h) {
  Histogram got;
  Status st = HistogramFromBuckets(h.is_float ? h.fcount : static_cast<double>(h.count), h.sum, ApiBuckets(h), &got);
  return st.ok() ? HistogramToJson(got, false) : "error: " + st.message();
}

Histogram Random(std::mt19937_64& rng, int schema, bool is_float) {
  Histogram h;
  h.schema = schema;
  h.is_float = is_float;
  h.sum = 12.5;
  // The zero bucket holds counts in half the cases (its threshold then
  // reads back from it); otherwise the threshold is the default.
  const bool zero = rng() % 2 == 0;
  std::uniform_int_distribution<int32_t> index(-40 << std::max(schema, 0), 40 << std::max(schema, 0));
  for (auto* side : {&h.positive, &h.negative}) {
    std::vector<int32_t> picked;
    for (int i = 0; i < 6; ++i) picked.push_back(index(rng));
    std::sort(picked.begin(), picked.end());
    picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
    for (int32_t i : picked) {
      const uint64_t c = 1 + rng() % 50;
      side->push_back({i, is_float ? 0 : c, is_float ? static_cast<double>(c) + 0.5 : 0});
    }
  }
  uint64_t total = 0;
  double ftotal = 0;
  for (const auto* side : {&h.positive, &h.negative}) {
    for (const auto& b : *side) {
      total += b.count;
      ftotal += b.fcount;
    }
  }
  if (is_float) {
    h.fzero_count = zero ? 2.25 : 0;
    h.fcount = ftotal + h.fzero_count;
  } else {
    h.zero_count = zero ? 3 : 0;
    h.count = total + h.zero_count;
  }
  return h;
}

}  // namespace

TEST_CASE("the query endpoint: query_url, or url with /api/v1/write or /api/v1/remote_write replaced") {
  CHECK(Endpoint("http://h:9090/api/v1/write", false) == "http://h:9090/api/v1/query");
  CHECK(Endpoint("http://h:9090/api/v1/write", true) == "http://h:9090/api/v1/query_range");
  CHECK(Endpoint("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write", true) ==
        "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/query_range");
  CHECK(Endpoint("http://h/prom/api/v1/write/?tenant=a", false) == "http://h/prom/api/v1/query?tenant=a");
  CHECK(Endpoint("http://h/ingest", false, "http://q/select/0/prometheus/api/v1/query") ==
        "http://q/select/0/prometheus/api/v1/query");
  CHECK(Endpoint("http://h/ingest", true, "http://q/api/v1/query") == "http://q/api/v1/query_range");
  const std::string e = Endpoint("http://u:secret@h/ingest", false);
  CHECK(e.rfind("error: its url 'http://***@h/ingest' does not end in /api/v1/write or /api/v1/remote_write", 0) == 0);
  CHECK(e.find("secret") == std::string::npos);
}

TEST_CASE("the form: the query escaped, times as seconds with three decimals (before 1970 too)") {
  QueryRequest r;
  r.promql = "rate(m{a=\"x y\"}[5m]) > 0 & 1";
  r.time_ms = 1700000000123;
  CHECK(QueryForm(r) == "query=rate%28m%7Ba%3D%22x+y%22%7D%5B5m%5D%29+%3E+0+%26+1&time=1700000000.123");
  r.time_ms = -1;
  CHECK(QueryForm(r) == "query=rate%28m%7Ba%3D%22x+y%22%7D%5B5m%5D%29+%3E+0+%26+1&time=-1.999");
  QueryRequest range;
  range.promql = "m";
  range.range = true;
  range.start_ms = 1000;
  range.end_ms = 61000;
  range.step_ms = 1500;
  CHECK(QueryForm(range) == "query=m&start=1.000&end=61.000&step=1.500");
}

TEST_CASE("answers: errors carry the status, errorType and error; what is not the API's JSON is shown") {
  QueryAnswer a;
  CHECK(ParseQueryAnswer(422, R"({"status":"error","errorType":"execution","error":"too many points"})", &a)
            .message() == "HTTP 422: execution: 'too many points'");
  CHECK(ParseQueryAnswer(503, "upstream down", &a).message() == "HTTP 503: 'upstream down'");
  CHECK(ParseQueryAnswer(200, "<html>", &a).message() == "HTTP 200: '<html>' (not an answer of the query API)");
  CHECK(ParseQueryAnswer(200, R"({"status":"success","data":{"resultType":"string","result":[1,"x"]}})", &a)
            .message() == "the query's result is a string, not samples");
  CHECK(ParseQueryAnswer(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}})", &a)
            .message() == "unexpected answer from the query API: a sample value is not a number: '\"x\"'");
  CHECK(a.labels.size() <= 1);
}

TEST_CASE("answers: series in order, labels sorted once per series, timestamps rounded to ms") {
  QueryAnswer a;
  REQUIRE(ParseQueryAnswer(200, R"({"status":"success","warnings":["w"],"data":{"resultType":"matrix","result":[
      {"metric":{"z":"1","__name__":"m","a":"\u00e9"},"values":[[1.001,"1"],[1.002,"-Inf"]]},
      {"metric":{"__name__":"m"},"values":[[0.1,"0.30000000000000004"]]}]}})", &a)
              .ok());
  REQUIRE(a.labels.size() == 2);
  CHECK(a.labels[0] == "{\"__name__\":\"m\",\"a\":\"\xc3\xa9\",\"z\":\"1\"}");
  CHECK(a.labels[1] == "{\"__name__\":\"m\"}");
  REQUIRE(a.rows.size() == 3);
  CHECK(a.rows[0].series == 0);
  CHECK(a.rows[0].timestamp_ms == 1001);
  CHECK(a.rows[1].timestamp_ms == 1002);
  CHECK(std::isinf(a.rows[1].value));
  CHECK(a.rows[1].value < 0);
  CHECK(a.rows[2].series == 1);
  CHECK(a.rows[2].timestamp_ms == 100);
  CHECK(a.rows[2].value == 0.1 + 0.2);
}

TEST_CASE("native histograms of every schema, integer and float, read back from their API buckets") {
  std::mt19937_64 rng(20240815);
  for (int schema = psink::kMinSchema; schema <= psink::kMaxSchema; ++schema) {
    for (bool is_float : {false, true}) {
      for (int n = 0; n < 20; ++n) {
        Histogram h = Random(rng, schema, is_float);
        CAPTURE(HistogramToJson(h, false));
        CHECK(Back(h) == HistogramToJson(h, false));
      }
    }
  }
}

TEST_CASE("native histograms: a custom zero threshold from the zero bucket, or from where a bucket was cut off") {
  Histogram h;
  h.schema = 1;
  h.sum = 1;
  h.zero_threshold = 0.3;
  h.positive = {{-3, 2, 0}, {2, 1, 0}};  // bucket -3 is (0.25, 0.354]: cut off at 0.3
  h.count = 3;
  CHECK(Back(h) == HistogramToJson(h, false));
  h.zero_count = 4;
  h.count = 7;
  CHECK(Back(h) == HistogramToJson(h, false));
  // No buckets at all: schema 0, and the count and sum.
  Histogram empty;
  empty.schema = 5;
  empty.sum = 0;
  Histogram got;
  REQUIRE(HistogramFromBuckets(0, 0, {}, &got).ok());
  CHECK(HistogramToJson(got, false) ==
        "{\"schema\":0,\"count\":0,\"sum\":0,\"zero_threshold\":2.938735877055719e-39,\"zero_count\":0,"
        "\"positive\":{},\"negative\":{}}");
  // Bounds of no schema.
  CHECK(HistogramFromBuckets(1, 1, {{0, 1.0, 1.5, 1}}, &got).message() ==
        "the bucket bounds fit no schema from -4 to 8");
}
