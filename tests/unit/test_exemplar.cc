// Unit tests for exemplar.{h,cc} and decode_extra.{h,cc}: the `exemplar`
// column's JSON (defaults from the row, every refusal with its message),
// and the choice between a row's value and its histogram.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "batch.h"
#include "decode_extra.h"
#include "exemplar.h"
#include "options.h"

using psink::Cell;
using psink::Exemplar;
using psink::ExemplarToJson;
using psink::ParseExemplar;
using psink::RowExtra;
using psink::SinkOptions;
using psink::Status;
using psink::TimeUnit;

namespace {

Exemplar ParseOk(const std::string& json, const double* row_value = nullptr, int64_t row_ts = 1000,
                 TimeUnit unit = TimeUnit::kMillis) {
  Exemplar e;
  Status st = ParseExemplar(json, "exemplar", row_value, row_ts, unit, 5, &e);
  REQUIRE_MESSAGE(st.ok(), st.message());
  return e;
}

std::string ParseError(const std::string& json, const double* row_value = nullptr) {
  Exemplar e;
  Status st = ParseExemplar(json, "exemplar", row_value, 1000, TimeUnit::kMillis, 5, &e);
  REQUIRE_MESSAGE(!st.ok(), json);
  return st.message();
}

Cell Text(const std::string& s) {
  Cell c;
  c.type = Cell::Type::kText;
  c.text = s;
  return c;
}

}  // namespace

TEST_CASE("exemplar JSON: labels sorted, value and timestamp default to the row's") {
  const double v = 0.25;
  Exemplar e = ParseOk(R"({"labels":{"trace_id":"abc","span_id":"7","gone":null,"empty":""}})", &v, 1234);
  CHECK(ExemplarToJson(e) == R"({"labels":{"span_id":"7","trace_id":"abc"},"value":0.25,"timestamp":1234})");
  e = ParseOk(R"({"labels":{"trace_id":"x"},"value":0.042,"timestamp":1700000000123})", &v);
  CHECK(ExemplarToJson(e) == R"({"labels":{"trace_id":"x"},"value":0.042,"timestamp":1700000000123})");
  // The timestamp is read like the timestamp column: timestamp_unit, or ISO text.
  CHECK(ParseOk(R"({"timestamp":1700000000.5})", &v, 0, TimeUnit::kSeconds).ts == 1700000000500);
  CHECK(ParseOk(R"({"timestamp":"2024-08-15T17:00:00Z"})", &v).ts == 1723741200000);
  CHECK(std::isnan(ParseOk(R"({"value":"NaN"})", &v).value));
  CHECK(ExemplarToJson(ParseOk(R"({"value":"-Inf","labels":{}})", &v)) == R"({"labels":{},"value":"-Inf","timestamp":1000})");
  // 128 characters in all (names and values, UTF-8 characters, not bytes).
  const std::string value = "\xC3\xA9" + std::string(119, 'x');  // "é" is one character, two bytes
  CHECK(ParseOk(R"({"labels":{"trace_id":")" + value + R"("}})", &v).labels.size() == 1);
}

TEST_CASE("refused exemplar JSON names the column and shows the text") {
  const double v = 1;
  CHECK(ParseError("{\"labels\":", &v) ==
        "column 'exemplar': invalid JSON at offset 10: expected a value, found the end in '{\"labels\":'");
  CHECK(ParseError(R"({"labels":{"trace id":"x"}})", &v) ==
        R"(column 'exemplar': invalid exemplar label name 'trace id' (expected [a-zA-Z_][a-zA-Z0-9_]*) in '{"labels":{"trace id":"x"}}')");
  CHECK(ParseError(R"({"labels":{"a":"x","a":"y"}})", &v) ==
        R"(column 'exemplar': exemplar label 'a' appears twice in '{"labels":{"a":"x","a":"y"}}')");
  const std::string long_value(121, 'x');
  CHECK(ParseError(R"({"labels":{"trace_id":")" + long_value + R"("}})", &v) ==
        "column 'exemplar': the exemplar's labels have 129 UTF-8 characters (names and values), more than "
        "Prometheus's limit of 128 in '{\"labels\":{\"trace_id\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
  CHECK(ParseError(R"({"value":"abc"})", &v) ==
        R"(column 'exemplar': 'value': expected a number, NaN, Inf or -Inf, found 'abc' in '{"value":"abc"}')");
  CHECK(ParseError(R"({"labels":{}})") ==
        R"(column 'exemplar': 'value' is required on a histogram row (the row has no value to default to) in '{"labels":{}}')");
  CHECK(ParseError(R"({"timestamp":"yesterday"})", &v) ==
        R"(column 'exemplar': 'timestamp': expected a number or an ISO-8601 time (YYYY-MM-DD[ HH:MM[:SS[.fff]]][Z|+HH:MM]), found 'yesterday' in '{"timestamp":"yesterday"}')");
  CHECK(ParseError(R"({"trace_id":"x"})", &v) ==
        R"(column 'exemplar': unknown key 'trace_id' (expected labels, value, timestamp) in '{"trace_id":"x"}')");
  CHECK(ParseError(R"({"labels":"trace_id=x"})", &v) ==
        R"(column 'exemplar': 'labels' must be an object of label name to value in '{"labels":"trace_id=x"}')");
}

TEST_CASE("a row has a value or a histogram: both or neither is refused, naming the column") {
  SinkOptions opts;
  double value = -1;
  RowExtra extra;
  Cell null_cell, num;
  num.type = Cell::Type::kReal;
  num.d = 2.5;
  const std::string hist = R"({"schema":0,"sum":1,"positive":{"0":1}})";
  Status st = psink::DecodeValueOrHistogram(num, Text(hist), opts, &value, &extra);
  CHECK(st.message() ==
        "column 'histogram': a row has a value or a histogram, not both: column 'value' must be NULL when column "
        "'histogram' is set");
  st = psink::DecodeValueOrHistogram(null_cell, null_cell, opts, &value, &extra);
  CHECK(st.message() == "column 'value': the value is NULL (expected a number, or a histogram in column 'histogram')");
  REQUIRE(psink::DecodeValueOrHistogram(null_cell, Text(hist), opts, &value, &extra).ok());
  CHECK(extra.histogram->reset == psink::ResetHint::kUnknown);
  REQUIRE(psink::DecodeValueOrHistogram(num, null_cell, opts, &value, &extra).ok());
  CHECK(value == 2.5);
  CHECK(!extra.histogram);
  Cell blob;
  blob.type = Cell::Type::kBlob;
  st = psink::DecodeValueOrHistogram(null_cell, blob, opts, &value, &extra);
  CHECK(st.code() == Status::Code::kMismatch);
  CHECK(st.message() == "column 'histogram': expected TEXT holding a native histogram as JSON, found BLOB");

  // metric_type='gaugehistogram': every histogram is a gauge; "yes"/"no" contradict it.
  opts.metadata.emplace();
  opts.metadata->type = psink::MetricType::kGaugeHistogram;
  opts.key_histogram = "dist";
  REQUIRE(psink::DecodeValueOrHistogram(null_cell, Text(hist), opts, &value, &extra).ok());
  CHECK(extra.histogram->reset == psink::ResetHint::kGauge);
  const std::string yes = R"({"schema":0,"sum":1,"reset":"yes"})";
  st = psink::DecodeValueOrHistogram(null_cell, Text(yes), opts, &value, &extra);
  CHECK(st.message() ==
        R"(column 'dist': reset "yes" contradicts metric_type='gaugehistogram' (its histograms are gauges) in '{"schema":0,"sum":1,"reset":"yes"}')");
}
