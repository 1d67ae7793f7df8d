// Unit tests for decode.{h,cc}: label sets (LabelSetBuilder), sample values
// (DecodeValue) and timestamps (DecodeTimestamp, ParseIsoTimestamp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "decode.h"

using psink::Cell;
using psink::DecodeTimestamp;
using psink::DecodeValue;
using psink::kStaleNaNBits;
using psink::LabelSet;
using psink::LabelSetBuilder;
using psink::ParseIsoTimestamp;
using psink::Status;
using psink::TimeUnit;

// A builder with the default schemes of a sink (legacy names, no escaping).
LabelSetBuilder LegacyBuilder() {
  LabelSetBuilder b;
  b.set_names(psink::NameScheme{});
  return b;
}

namespace {

Cell Null() { return Cell{}; }
Cell Int(int64_t v) {
  Cell c;
  c.type = Cell::Type::kInteger;
  c.i = v;
  return c;
}
Cell Real(double v) {
  Cell c;
  c.type = Cell::Type::kReal;
  c.d = v;
  return c;
}
Cell Text(std::string_view t) {
  Cell c;
  c.type = Cell::Type::kText;
  c.text = t;
  return c;
}
Cell Blob(std::string_view t) {
  Cell c;
  c.type = Cell::Type::kBlob;
  c.text = t;
  return c;
}

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

LabelSet FromJson(std::string_view json) {
  LabelSetBuilder b = LegacyBuilder();
  Status st = b.AddJson(json, "labels");
  INFO("json: ", std::string(json), " message: ", st.message());
  REQUIRE(st.ok());
  LabelSet out;
  st = b.Finish(&out);
  INFO("finish: ", st.message());
  REQUIRE(st.ok());
  return out;
}

// The error of AddJson, or of Finish when AddJson succeeds.
std::string JsonError(std::string_view json) {
  LabelSetBuilder b = LegacyBuilder();
  Status st = b.AddJson(json, "labels");
  if (st.ok()) {
    LabelSet out;
    st = b.Finish(&out);
  }
  INFO("json: ", std::string(json));
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Status::Code::kInvalid);
  return st.message();
}

double ValueOk(const Cell& c) {
  double v = -12345;
  Status st = DecodeValue(c, "value", &v);
  INFO("message: ", st.message());
  REQUIRE(st.ok());
  return v;
}

Status ValueStatus(const Cell& c) {
  double v;
  return DecodeValue(c, "value", &v);
}

constexpr int64_t kNow = 1700000000000;

int64_t TsOk(const Cell& c, TimeUnit unit = TimeUnit::kMillis) {
  int64_t v = -12345;
  Status st = DecodeTimestamp(c, unit, kNow, "ts", &v);
  INFO("message: ", st.message());
  REQUIRE(st.ok());
  return v;
}

Status TsStatus(const Cell& c, TimeUnit unit = TimeUnit::kMillis) {
  int64_t v;
  return DecodeTimestamp(c, unit, kNow, "ts", &v);
}

std::string TsError(const Cell& c, TimeUnit unit = TimeUnit::kMillis) {
  Status st = TsStatus(c, unit);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Status::Code::kInvalid);
  return st.message();
}

int64_t Iso(std::string_view text) {
  int64_t ms = -12345;
  INFO("text: ", std::string(text));
  REQUIRE(ParseIsoTimestamp(text, &ms));
  return ms;
}

const std::string kIsoError =
    "column 'ts': expected a number or an ISO-8601 time (YYYY-MM-DD[ HH:MM[:SS[.fff]]][Z|+HH:MM]), found ";

}  // namespace

// ---------------------------------------------------------------- labels

TEST_CASE("labels come out sorted by name (byte order)") {
  LabelSet l = FromJson(R"({"zeta":"1","__name__":"m","alpha":"a","B":"b"})");
  CHECK(l == LabelSet{{"B", "b"}, {"__name__", "m"}, {"alpha", "a"}, {"zeta", "1"}});
}

TEST_CASE("numbers and booleans keep their JSON text as written") {
  LabelSet l = FromJson(R"({"__name__":"m","p":1.50,"i":-0,"e":1E+3,"t":true,"f":false,"big":12345678901234567890})");
  CHECK(l == LabelSet{{"__name__", "m"}, {"big", "12345678901234567890"}, {"e", "1E+3"}, {"f", "false"},
                      {"i", "-0"}, {"p", "1.50"}, {"t", "true"}});
}

TEST_CASE("null and empty values drop the label") {
  CHECK(FromJson(R"({"__name__":"m","x":null,"y":"","z":"1"})") == LabelSet{{"__name__", "m"}, {"z", "1"}});
  CHECK(JsonError(R"({"__name__":""})") == "the labels have no '__name__' (the metric name)");
  CHECK(JsonError(R"({"__name__":null,"a":"1"})") == "the labels have no '__name__' (the metric name)");
}

TEST_CASE("string values are unescaped; \\u escapes and surrogate pairs decode") {
  LabelSet l = FromJson(R"({"__name__":"m","e":"caf\u00e9 \ud83d\ude00","q":"a\"b\\c\nd","raw":"€"})");
  CHECK(l == LabelSet{{"__name__", "m"}, {"e", "caf\xC3\xA9 \xF0\x9F\x98\x80"}, {"q", "a\"b\\c\nd"},
                      {"raw", "\xE2\x82\xAC"}});
}

TEST_CASE("the labels column must be a JSON object") {
  CHECK(JsonError("") ==
        "column 'labels': invalid JSON at offset 0: expected a JSON object '{', found the end in ''");
  CHECK(JsonError("[1]") ==
        "column 'labels': invalid JSON at offset 0: expected a JSON object '{', found '[1]' in '[1]'");
  CHECK(JsonError("up") ==
        "column 'labels': invalid JSON at offset 0: expected a JSON object '{', found 'up' in 'up'");
  CHECK(JsonError("{}") == "the labels have no '__name__' (the metric name)");
  CHECK(JsonError(R"({"job":"x"})") == "the labels have no '__name__' (the metric name)");
}

TEST_CASE("nested objects and arrays are refused") {
  CHECK(JsonError(R"({"__name__":"m","x":{"y":1}})") ==
        R"(column 'labels': JSON value of 'x' is an object; only strings, numbers, booleans and null are allowed, in '{"__name__":"m","x":{"y":1}}')");
  CHECK(JsonError(R"({"__name__":"m","x":[]})") ==
        R"(column 'labels': JSON value of 'x' is an array; only strings, numbers, booleans and null are allowed, in '{"__name__":"m","x":[]}')");
}

TEST_CASE("a name repeated inside the JSON is refused, whatever the values") {
  CHECK(JsonError(R"({"__name__":"m","a":"1","a":"2"})") ==
        R"(column 'labels': label 'a' appears twice in '{"__name__":"m","a":"1","a":"2"}')");
  CHECK(JsonError(R"({"__name__":"m","a":"1","a":"1"})") ==
        R"(column 'labels': label 'a' appears twice in '{"__name__":"m","a":"1","a":"1"}')");
  CHECK(JsonError(R"({"__name__":"m","a":null,"a":"1"})") ==
        R"(column 'labels': label 'a' appears twice in '{"__name__":"m","a":null,"a":"1"}')");
}

TEST_CASE("label names must match [a-zA-Z_][a-zA-Z0-9_]*") {
  CHECK(JsonError(R"({"__name__":"m","1a":"x"})") ==
        R"(column 'labels': invalid label name '1a' (expected [a-zA-Z_][a-zA-Z0-9_]*) in '{"__name__":"m","1a":"x"}')");
  CHECK(JsonError(R"({"__name__":"m","a-b":"x"})") ==
        R"(column 'labels': invalid label name 'a-b' (expected [a-zA-Z_][a-zA-Z0-9_]*) in '{"__name__":"m","a-b":"x"}')");
  CHECK(JsonError(R"({"__name__":"m","":"x"})") ==
        R"(column 'labels': invalid label name '' (expected [a-zA-Z_][a-zA-Z0-9_]*) in '{"__name__":"m","":"x"}')");
  CHECK(JsonError("{\"__name__\":\"m\",\"caf\xC3\xA9\":\"x\"}") ==
        "column 'labels': invalid label name 'caf\xC3\xA9' (expected [a-zA-Z_][a-zA-Z0-9_]*) in "
        "'{\"__name__\":\"m\",\"caf\xC3\xA9\":\"x\"}'");
  // Even when the value would drop the label.
  CHECK(JsonError(R"({"__name__":"m","a.b":null})") ==
        R"(column 'labels': invalid label name 'a.b' (expected [a-zA-Z_][a-zA-Z0-9_]*) in '{"__name__":"m","a.b":null}')");
  CHECK(JsonError(R"({"__name__":"m","a b":""})") ==
        R"(column 'labels': invalid label name 'a b' (expected [a-zA-Z_][a-zA-Z0-9_]*) in '{"__name__":"m","a b":""}')");
}

TEST_CASE("invalid UTF-8 is refused") {
  CHECK(JsonError("{\"__name__\":\"m\",\"a\":\"x\xFF\"}") == "column 'labels': invalid UTF-8 in a JSON string 'x\\xFF'");
  CHECK(JsonError(R"({"__name__":"m","a":"\udc00"})") ==
        R"(column 'labels': invalid JSON at offset 27: unpaired UTF-16 surrogate in \u escape, found '"}' in '{"__name__":"m","a":"\udc00"}')");
  LabelSetBuilder b = LegacyBuilder();
  Status st = b.Add("host", "a\xFF", "column 'host'");
  CHECK(st.message() == "column 'host': label 'host' has a value that is not valid UTF-8: 'a\\xFF'");
}

TEST_CASE("long JSON is shortened in messages") {
  std::string json = R"({"__name__":"m","x":[)" + std::string(100, '1') + "]}";
  CHECK(JsonError(json) ==
        "column 'labels': JSON value of 'x' is an array; only strings, numbers, booleans and null are allowed, in '" +
            json.substr(0, 60) + "...'");
}

TEST_CASE("the column name in messages follows the argument") {
  LabelSetBuilder b = LegacyBuilder();
  CHECK(b.AddJson("[]", "lbl").message() ==
        "column 'lbl': invalid JSON at offset 0: expected a JSON object '{', found '[]' in '[]'");
  b.Reset();
  CHECK(b.AddJson("[]", "tags").message() ==
        "column 'tags': invalid JSON at offset 0: expected a JSON object '{', found '[]' in '[]'");
}

TEST_CASE("labels from several sources merge; the same name needs the same value") {
  LabelSetBuilder b = LegacyBuilder();
  LabelSet out;
  SUBCASE("same value twice is fine") {
    REQUIRE(b.Add("host", "a", "column 'host'").ok());
    REQUIRE(b.Add("__name__", "up", "option 'metric'").ok());
    REQUIRE(b.Add("env", "prod", "option 'external_labels'").ok());
    REQUIRE(b.AddJson(R"({"__name__":"up","host":"a","env":"prod","z":"1"})", "labels").ok());
    REQUIRE(b.Finish(&out).ok());
    CHECK(out == LabelSet{{"__name__", "up"}, {"env", "prod"}, {"host", "a"}, {"z", "1"}});
  }
  SUBCASE("different values are refused, naming both sources") {
    REQUIRE(b.Add("host", "a", "column 'host'").ok());
    REQUIRE(b.AddJson(R"({"__name__":"m","host":"b"})", "labels").ok());
    Status st = b.Finish(&out);
    CHECK(st.code() == Status::Code::kInvalid);
    CHECK(st.message() ==
          "label 'host' is given twice with different values: 'a' from column 'host' and 'b' from column 'labels'");
  }
  SUBCASE("metric against the JSON __name__") {
    REQUIRE(b.Add("__name__", "up", "option 'metric'").ok());
    REQUIRE(b.AddJson(R"({"__name__":"down"})", "labels").ok());
    CHECK(b.Finish(&out).message() ==
          "label '__name__' is given twice with different values: 'up' from option 'metric' and 'down' from "
          "column 'labels'");
  }
  SUBCASE("a source that supplies __name__ alone is enough") {
    REQUIRE(b.Add("__name__", "up", "option 'metric'").ok());
    REQUIRE(b.Add("host", "", "column 'host'").ok());  // NULL/empty column: absent
    REQUIRE(b.AddJson("{}", "labels").ok());
    REQUIRE(b.Finish(&out).ok());
    CHECK(out == LabelSet{{"__name__", "up"}});
  }
  SUBCASE("Add checks the name") {
    CHECK(b.Add("1h", "x", "column '1h'").message() ==
          "column '1h': invalid label name '1h' (expected [a-zA-Z_][a-zA-Z0-9_]*)");
  }
}

TEST_CASE("Reset starts a new row and Finish clears its output") {
  LabelSetBuilder b = LegacyBuilder();
  LabelSet out{{"stale", "entry"}};
  REQUIRE(b.AddJson(R"({"__name__":"a","x":"1","y":"2","z":"3"})", "labels").ok());
  REQUIRE(b.Finish(&out).ok());
  CHECK(out.size() == 4);
  b.Reset();
  REQUIRE(b.AddJson(R"({"__name__":"b"})", "labels").ok());
  REQUIRE(b.Finish(&out).ok());
  CHECK(out == LabelSet{{"__name__", "b"}});
  // A refused row leaves nothing behind after Reset.
  b.Reset();
  CHECK_FALSE(b.AddJson(R"({"__name__":"c","k":"1","bad-name":"2"})", "labels").ok());
  b.Reset();
  REQUIRE(b.AddJson(R"({"__name__":"d"})", "labels").ok());
  REQUIRE(b.Finish(&out).ok());
  CHECK(out == LabelSet{{"__name__", "d"}});
}

// ---------------------------------------------------------------- values

TEST_CASE("DecodeValue: INTEGER and REAL") {
  CHECK(ValueOk(Int(42)) == 42.0);
  CHECK(ValueOk(Int(-7)) == -7.0);
  CHECK(ValueOk(Int(std::numeric_limits<int64_t>::max())) == 9223372036854775808.0);
  CHECK(ValueOk(Real(1.5)) == 1.5);
  CHECK(Bits(ValueOk(Real(-0.0))) == 0x8000000000000000ULL);
  CHECK(ValueOk(Real(std::numeric_limits<double>::denorm_min())) == std::numeric_limits<double>::denorm_min());
  CHECK(ValueOk(Real(-std::numeric_limits<double>::infinity())) == -std::numeric_limits<double>::infinity());
}

TEST_CASE("DecodeValue: numeric text") {
  CHECK(ValueOk(Text("3.25")) == 3.25);
  CHECK(ValueOk(Text("0.1")) == 0.1);
  CHECK(ValueOk(Text(" 7 ")) == 7.0);
  CHECK(ValueOk(Text("+4")) == 4.0);
  CHECK(ValueOk(Text("-2.5E-1")) == -0.25);
  CHECK(ValueOk(Text("1e3")) == 1000.0);
  CHECK(ValueOk(Text(".5")) == 0.5);
  CHECK(ValueOk(Text("5.")) == 5.0);
  CHECK(ValueOk(Text("007")) == 7.0);
  CHECK(ValueOk(Text("1.7976931348623157e308")) == std::numeric_limits<double>::max());
  CHECK(ValueOk(Text("4.9406564584124654e-324")) == std::numeric_limits<double>::denorm_min());
  CHECK(Bits(ValueOk(Text("-0"))) == 0x8000000000000000ULL);
}

TEST_CASE("DecodeValue: text beyond the double range rounds to Inf or 0") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(ValueOk(Text("1e400")) == inf);
  CHECK(ValueOk(Text("-1e400")) == -inf);
  CHECK(ValueOk(Text("1e+400")) == inf);
  CHECK(Bits(ValueOk(Text("1e-400"))) == 0);
  CHECK(Bits(ValueOk(Text("-1e-400"))) == 0x8000000000000000ULL);
  CHECK(ValueOk(Text("1" + std::string(400, '0'))) == inf);
  CHECK(ValueOk(Text("1" + std::string(400, '0') + "e-5")) == inf);
  CHECK(ValueOk(Text("0." + std::string(400, '0') + "1")) == 0.0);
  CHECK(ValueOk(Text("0." + std::string(400, '0') + "1e-3")) == 0.0);
  CHECK(ValueOk(Text("0." + std::string(399, '0') + "1e400")) == 1.0);
  CHECK(ValueOk(Text("1e99999999999999999999")) == inf);
  CHECK(ValueOk(Text("1e-99999999999999999999")) == 0.0);
}

TEST_CASE("DecodeValue: NaN and infinities in any case") {
  for (const char* t : {"NaN", "nan", "NAN", "-nan", " NaN "}) {
    CAPTURE(t);
    double v = ValueOk(Text(t));
    CHECK(std::isnan(v));
    CHECK(Bits(v) != kStaleNaNBits);
  }
  const double inf = std::numeric_limits<double>::infinity();
  for (const char* t : {"Inf", "inf", "INF", "iNf", "+Inf", "+inf", "Infinity", "+INFINITY", " inf "}) {
    CAPTURE(t);
    CHECK(ValueOk(Text(t)) == inf);
  }
  for (const char* t : {"-Inf", "-inf", "-INF", "-Infinity"}) {
    CAPTURE(t);
    CHECK(ValueOk(Text(t)) == -inf);
  }
}

TEST_CASE("DecodeValue: 'stale' is the stale marker, bit-exact") {
  for (const char* t : {"stale", "STALE", "Stale", " stale\t"}) {
    CAPTURE(t);
    CHECK(Bits(ValueOk(Text(t))) == 0x7ff0000000000002ULL);
  }
  CHECK(kStaleNaNBits == 0x7ff0000000000002ULL);
}

TEST_CASE("DecodeValue: garbage text is refused with the text shown") {
  for (const char* t : {"", " ", "abc", "1.2.3", "1e", "e5", "1e+", "0x10", "1,5", "nan(1)", "infinite", "- 1",
                        "--1", "+-1", "staleness", "12abc", "1 2", "+", ".", "-.e1"}) {
    CAPTURE(t);
    Status st = ValueStatus(Text(t));
    CHECK(st.code() == Status::Code::kInvalid);
    CHECK(st.message() == "column 'value': expected a number, NaN, Inf, -Inf or stale, found '" + std::string(t) + "'");
  }
  CHECK(ValueStatus(Text("x\n" + std::string(100, 'y'))).message() ==
        "column 'value': expected a number, NaN, Inf, -Inf or stale, found 'x\\x0A" + std::string(58, 'y') + "...'");
}

TEST_CASE("DecodeValue: NULL is refused, BLOB is a type mismatch") {
  Status st = ValueStatus(Null());
  CHECK(st.code() == Status::Code::kInvalid);
  CHECK(st.message() == "column 'value': the value is NULL (expected a number)");
  st = ValueStatus(Blob("\x01\x02"));
  CHECK(st.code() == Status::Code::kMismatch);
  CHECK(st.message() == "column 'value': expected a number, found a BLOB");
  double v;
  CHECK(DecodeValue(Null(), "v2", &v).message() == "column 'v2': the value is NULL (expected a number)");
}

// ---------------------------------------------------------------- timestamps

TEST_CASE("DecodeTimestamp: NULL is the time of the insert") {
  CHECK(TsOk(Null()) == kNow);
  CHECK(TsOk(Null(), TimeUnit::kSeconds) == kNow);
  CHECK(TsOk(Null(), TimeUnit::kNanos) == kNow);
}

TEST_CASE("DecodeTimestamp: INTEGER in every unit") {
  CHECK(TsOk(Int(1723741200), TimeUnit::kSeconds) == 1723741200000);
  CHECK(TsOk(Int(1723741200123), TimeUnit::kMillis) == 1723741200123);
  CHECK(TsOk(Int(1723741200123456), TimeUnit::kMicros) == 1723741200123);
  CHECK(TsOk(Int(1723741200123456789), TimeUnit::kNanos) == 1723741200123);
  CHECK(TsOk(Int(0), TimeUnit::kNanos) == 0);
  CHECK(TsOk(Int(-5), TimeUnit::kMillis) == -5);
  CHECK(TsOk(Int(-1), TimeUnit::kSeconds) == -1000);
}

TEST_CASE("DecodeTimestamp: sub-millisecond parts truncate toward negative infinity") {
  CHECK(TsOk(Int(999), TimeUnit::kMicros) == 0);
  CHECK(TsOk(Int(1999), TimeUnit::kMicros) == 1);
  CHECK(TsOk(Int(-1), TimeUnit::kMicros) == -1);
  CHECK(TsOk(Int(-1000), TimeUnit::kMicros) == -1);
  CHECK(TsOk(Int(-1001), TimeUnit::kMicros) == -2);
  CHECK(TsOk(Int(999999), TimeUnit::kNanos) == 0);
  CHECK(TsOk(Int(-1), TimeUnit::kNanos) == -1);
  CHECK(TsOk(Int(-1000000), TimeUnit::kNanos) == -1);
  CHECK(TsOk(Int(-1000001), TimeUnit::kNanos) == -2);
  CHECK(TsOk(Int(std::numeric_limits<int64_t>::min()), TimeUnit::kNanos) == -9223372036855);
  CHECK(TsOk(Int(std::numeric_limits<int64_t>::min()), TimeUnit::kMicros) == -9223372036854776);
  CHECK(TsOk(Int(std::numeric_limits<int64_t>::max()), TimeUnit::kNanos) == 9223372036854);
}

TEST_CASE("DecodeTimestamp: REAL in every unit, fractions truncated toward negative infinity") {
  CHECK(TsOk(Real(1.5), TimeUnit::kSeconds) == 1500);
  CHECK(TsOk(Real(-1.5), TimeUnit::kSeconds) == -1500);
  CHECK(TsOk(Real(0.0015), TimeUnit::kSeconds) == 1);
  CHECK(TsOk(Real(-0.0015), TimeUnit::kSeconds) == -2);
  CHECK(TsOk(Real(1.0005), TimeUnit::kSeconds) == 1000);
  CHECK(TsOk(Real(-1.0005), TimeUnit::kSeconds) == -1001);
  CHECK(TsOk(Real(1.9), TimeUnit::kMillis) == 1);
  CHECK(TsOk(Real(-1.1), TimeUnit::kMillis) == -2);
  CHECK(TsOk(Real(-0.5), TimeUnit::kMillis) == -1);
  CHECK(TsOk(Real(1723741200123.0), TimeUnit::kMillis) == 1723741200123);
  CHECK(TsOk(Real(1500.7), TimeUnit::kMicros) == 1);
  CHECK(TsOk(Real(-0.5), TimeUnit::kMicros) == -1);
  CHECK(TsOk(Real(1723741200123456.0), TimeUnit::kMicros) == 1723741200123);
  CHECK(TsOk(Real(1.5e6), TimeUnit::kNanos) == 1);
  CHECK(TsOk(Real(-1.5e6), TimeUnit::kNanos) == -2);
  CHECK(TsOk(Real(-1.0), TimeUnit::kNanos) == -1);
  CHECK(TsOk(Real(-9223372036854775808.0), TimeUnit::kMillis) == std::numeric_limits<int64_t>::min());
}

TEST_CASE("DecodeTimestamp: REAL seconds with whole milliseconds are exact") {
  // 1.001 is stored as 1.000999...; the millisecond written is kept.
  CHECK(TsOk(Real(1.001), TimeUnit::kSeconds) == 1001);
  CHECK(TsOk(Real(-1.001), TimeUnit::kSeconds) == -1001);
  CHECK(TsOk(Real(1723741200.123), TimeUnit::kSeconds) == 1723741200123);
  CHECK(TsOk(Text("1.001"), TimeUnit::kSeconds) == 1001);
  for (int64_t ms = -3000; ms <= 3000; ++ms) {
    CAPTURE(ms);
    CHECK(TsOk(Real(static_cast<double>(ms) / 1000.0), TimeUnit::kSeconds) == ms);
  }
  for (int64_t ms = 1723741200000; ms < 1723741202000; ++ms) {
    CAPTURE(ms);
    CHECK(TsOk(Real(static_cast<double>(ms) / 1000.0), TimeUnit::kSeconds) == ms);
  }
}

TEST_CASE("DecodeTimestamp: values that do not fit in int64 milliseconds are refused") {
  CHECK(TsError(Int(std::numeric_limits<int64_t>::max()), TimeUnit::kSeconds) ==
        "column 'ts': timestamp 9223372036854775807 in unit 's' does not fit in 64-bit milliseconds");
  CHECK(TsError(Int(9223372036854776), TimeUnit::kSeconds) ==
        "column 'ts': timestamp 9223372036854776 in unit 's' does not fit in 64-bit milliseconds");
  CHECK(TsError(Int(-9223372036854776), TimeUnit::kSeconds) ==
        "column 'ts': timestamp -9223372036854776 in unit 's' does not fit in 64-bit milliseconds");
  CHECK(TsOk(Int(9223372036854775), TimeUnit::kSeconds) == 9223372036854775000);
  CHECK(TsOk(Int(-9223372036854775), TimeUnit::kSeconds) == -9223372036854775000);
  CHECK(TsOk(Int(std::numeric_limits<int64_t>::max()), TimeUnit::kMillis) == std::numeric_limits<int64_t>::max());
  CHECK(TsError(Real(1e300), TimeUnit::kSeconds) ==
        "column 'ts': timestamp 1.0000000000000001e+300 in unit 's' does not fit in 64-bit milliseconds");
  CHECK(TsError(Real(9223372036854775808.0), TimeUnit::kMillis) ==
        "column 'ts': timestamp 9.2233720368547758e+18 in unit 'ms' does not fit in 64-bit milliseconds");
  CHECK(TsError(Real(-1e19), TimeUnit::kMillis) ==
        "column 'ts': timestamp -1e+19 in unit 'ms' does not fit in 64-bit milliseconds");
  CHECK(TsError(Real(std::nan("")), TimeUnit::kMillis) == "column 'ts': timestamp is not a finite number");
  CHECK(TsError(Real(std::numeric_limits<double>::infinity()), TimeUnit::kSeconds) ==
        "column 'ts': timestamp is not a finite number");
}

TEST_CASE("DecodeTimestamp: numbers written as text") {
  CHECK(TsOk(Text("1723741200"), TimeUnit::kSeconds) == 1723741200000);
  CHECK(TsOk(Text("1723741200123")) == 1723741200123);
  CHECK(TsOk(Text(" 42 ")) == 42);
  CHECK(TsOk(Text("+5")) == 5);
  CHECK(TsOk(Text("007")) == 7);
  CHECK(TsOk(Text("20240815")) == 20240815);
  CHECK(TsOk(Text("-1"), TimeUnit::kMicros) == -1);
  CHECK(TsOk(Text("-1000001"), TimeUnit::kNanos) == -2);
  CHECK(TsOk(Text("1.5"), TimeUnit::kSeconds) == 1500);
  CHECK(TsOk(Text("-1.5")) == -2);
  CHECK(TsOk(Text("1e3")) == 1000);
  CHECK(TsOk(Text("9223372036854775807")) == std::numeric_limits<int64_t>::max());
  CHECK(TsError(Text("9223372036854775807"), TimeUnit::kSeconds) ==
        "column 'ts': timestamp '9223372036854775807' in unit 's' does not fit in 64-bit milliseconds");
  CHECK(TsError(Text("99999999999999999999")) ==
        "column 'ts': timestamp '99999999999999999999' in unit 'ms' does not fit in 64-bit milliseconds");
  CHECK(TsError(Text("1e30"), TimeUnit::kSeconds) ==
        "column 'ts': timestamp '1e30' in unit 's' does not fit in 64-bit milliseconds");
}

TEST_CASE("DecodeTimestamp: unreadable text is refused, BLOB is a mismatch") {
  for (const char* t : {"", "yesterday", "NaN", "inf", "1e400", "2023-02-29", "2024-13-01", "2024-08-15T24:00:00",
                        "2024-08-15T17:00:00 +02:00", "17:00", "+", "-", "1.2.3", "0x10"}) {
    CAPTURE(t);
    CHECK(TsError(Text(t)) == kIsoError + "'" + t + "'");
  }
  Status st = TsStatus(Blob("x"));
  CHECK(st.code() == Status::Code::kMismatch);
  CHECK(st.message() == "column 'ts': expected a number or a time, found a BLOB");
}

TEST_CASE("DecodeTimestamp: ISO-8601 and SQLite date forms") {
  CHECK(TsOk(Text("2024-08-15T17:00:00")) == 1723741200000);
  CHECK(TsOk(Text("2024-08-15 17:00:00")) == 1723741200000);
  CHECK(TsOk(Text("2024-08-15 17:00:00.123")) == 1723741200123);
  CHECK(TsOk(Text("2024-08-15T17:00:00Z")) == 1723741200000);
  CHECK(TsOk(Text("2024-08-15T17:00:00+02:00")) == 1723734000000);
  CHECK(TsOk(Text("2024-08-15T17:00:00-0530")) == 1723761000000);
  CHECK(TsOk(Text("2024-08-15")) == 1723680000000);
  CHECK(TsOk(Text(" 2024-08-15 ")) == 1723680000000);
  // The unit applies to numbers only.
  CHECK(TsOk(Text("2024-08-15T17:00:00"), TimeUnit::kSeconds) == 1723741200000);
  CHECK(TsOk(Text("2024-08-15T17:00:00"), TimeUnit::kNanos) == 1723741200000);
}

TEST_CASE("ParseIsoTimestamp: accepted forms") {
  CHECK(Iso("2024-08-15T17:00:00") == 1723741200000);
  CHECK(Iso("2024-08-15t17:00:00z") == 1723741200000);
  CHECK(Iso("2024-08-15T17:00") == 1723741200000);
  CHECK(Iso("2024-08-15T17:00Z") == 1723741200000);
  CHECK(Iso("2024-08-15 17:00+01:00") == 1723737600000);
  CHECK(Iso("2024-08-15T17:00:00.5") == 1723741200500);
  CHECK(Iso("2024-08-15T17:00:00.12") == 1723741200120);
  CHECK(Iso("2024-08-15T17:00:00.123456789") == 1723741200123);
  CHECK(Iso("2024-08-15T17:00:00.999Z") == 1723741200999);
  CHECK(Iso("2024-08-15T17:00:00.5+00:00") == 1723741200500);
  CHECK(Iso("2024-08-15T17:00:00+0200") == 1723734000000);
  CHECK(Iso("2024-08-15T17:00:00-05:30") == 1723761000000);
  CHECK(Iso("2024-08-15T17:00:00-00:00") == 1723741200000);
  CHECK(Iso("2024-08-15T17:00:00+23:59") == 1723741200000 - (23 * 60 + 59) * 60000LL);
  CHECK(Iso("1970-01-01") == 0);
  CHECK(Iso("1970-01-01T00:00:00.001") == 1);
  CHECK(Iso("1969-12-31T23:59:59.999") == -1);
  CHECK(Iso("1969-12-31T23:59:59.9999") == -1);
  CHECK(Iso("1970-01-01T00:00:00+00:01") == -60000);
  CHECK(Iso("0001-01-01T00:00:00Z") == -62135596800000);
  CHECK(Iso("9999-12-31T23:59:59.999Z") == 253402300799999);
  CHECK(Iso("2000-02-29") == 951782400000);
  CHECK(Iso("2024-02-29") == 1709164800000);
  CHECK(Iso("2024-12-31T23:59:59") == 1735689599000);
}

TEST_CASE("ParseIsoTimestamp: invalid dates, times and forms are refused") {
  for (const char* t : {"2023-02-29", "1900-02-29", "2024-04-31", "2024-13-01", "2024-00-10", "2024-01-00",
                        "2024-01-32", "2024-08-15T24:00:00", "2024-08-15T23:60", "2024-08-15T23:59:60",
                        "2024-08-15T17:00:00+24:00", "2024-08-15T17:00:00+02:60", "2024-08-15T17:00:00+2:00",
                        "2024-08-15T17:00:00+02", "2024-08-15T17", "2024-08-15T17:00:00.", "2024-8-15",
                        "24-08-15", "2024/08/15", "2024-08-15Z", "2024-08-15T", "2024-08-15T17:00:00 Z",
                        "2024-08-15T17:00:00ZZ", " 2024-08-15", "2024-08-15 ", "2024-08-15X17:00", "",
                        "2024-08-15T17:0", "2024-08-15T1:00", "+2024-08-15", "2024-08-15T17:00:00.1a"}) {
    CAPTURE(t);
    int64_t ms = 0;
    CHECK_FALSE(ParseIsoTimestamp(t, &ms));
  }
}

namespace {

// What AddJson + Finish must give, from the general parser alone: the label
// set, or the message. The builder's fast path (plain JSON) must agree with
// it on every input.
std::string ReferenceLabels(std::string_view json) {
  std::vector<psink::JsonMember> members;
  Status st = psink::ParseFlatObject(json, &members);
  if (!st.ok()) return "error";
  LabelSet labels;
  for (size_t i = 0; i < members.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (members[i].key == members[j].key) return "error";
    }
    if (!psink::IsValidLabelName(members[i].key)) return "error";
    if (members[i].kind == psink::JsonMember::Kind::kNull || members[i].value.empty()) continue;
    labels.emplace_back(members[i].key, members[i].value);
  }
  std::sort(labels.begin(), labels.end());
  if (std::none_of(labels.begin(), labels.end(), [](const auto& l) {
        return l.first == "__name__" && psink::IsLegacyName(l.second, psink::NameKind::kMetric);
      })) {
    return "error";
  }
  std::string out;
  for (const auto& [k, v] : labels) out += k + "=" + v + ";";
  return out;
}

std::string BuilderLabels(LabelSetBuilder& b, std::string_view json) {
  b.Reset();
  Status st = b.AddJson(json, "labels");
  std::string wire;
  if (st.ok()) st = b.Finish(&wire);
  if (!st.ok()) return "error";
  std::string out;
  for (const auto& [k, v] : psink::LabelsView(wire)) out += std::string(k) + "=" + std::string(v) + ";";
  return out;
}

}  // namespace

TEST_CASE("LabelSetBuilder: the plain-JSON fast path and the general parser agree on every input") {
  const std::vector<std::string> inputs = {
      R"({"__name__":"m","a":"1"})", R"({"a":"1","__name__":"m"})", R"( { "__name__" : "m" , "b" : "x y" } )",
      "{\"__name__\":\"m\",\n\t\"b\":\"x\"}\r\n", R"({"__name__":"m","a":""})", R"({"__name__":"m","a":null})",
      R"({"__name__":"m","a":1.50})", R"({"__name__":"m","a":true})", R"({"__name__":"m","a":"q\"uote"})",
      R"({"__name__":"m","a":"\u00e9"})", "{\"__name__\":\"m\",\"a\":\"caf\xC3\xA9\"}", "{\"__name__\":\"m\",\"a\":\"\xFF\"}",
      "{\"__name__\":\"m\",\"a\":\"\xC3\"}", "{\"__name__\":\"m\",\"a\":\"tab\there\"}", R"({"__name__":"m","a":"1","a":"1"})",
      R"({"__name__":"m","a":"","a":"x"})", R"({"__name__":"m","1a":"x"})", R"({"__name__":"m","a-b":"x"})",
      R"({"__name__":"m","":"x"})", R"({"__name__":"m","a":"x",})", R"({"__name__":"m" "a":"x"})", R"({"__name__":"m"}x)",
      R"({"__name__":"m"}})", R"({"__name__":"m")", R"({"__name__":"m)", R"({)", R"({})", R"( {} )", "", R"([])",
      R"({"a":"x"})", R"({"__name__":"m","a":{"b":"c"}})", R"({"__name__":"m","a":["x"]})",
      R"({"__name__":"a_rather_long_metric_name_of_many_bytes","label_with_a_long_name":"and a long value with spaces 0123456789"})",
      R"({"__name__":"m","a":"0123456\"89abcdef"})", R"({"__name__":"m","a":"01234567\\9abcdef"})",
      "{\"__name__\":\"m\",\"a\":\"0123456789abcde\x01\"}", "{\"__name__\":\"m\",\"é\":\"x\"}",
      R"({"__name__":"m","_a":"x","Z":"y","z":"w"})",
      // Numbers, booleans and null: the text as written (json_object() writes INTEGER columns so).
      R"({"__name__":"m","id":12345})", R"({"__name__":"m","id":-42,"up":true,"down":false})",
      R"({"id":0,"__name__":"m"})", R"({"__name__":"m","id":-0})", R"({"__name__":"m","id":01})",
      R"({"__name__":"m","id":1.})", R"({"__name__":"m","id":.5})", R"({"__name__":"m","id":-})",
      R"({"__name__":"m","id":1e5})", R"({"__name__":"m","id":1E+3})", R"({"__name__":"m","id":0.5e-3})",
      R"({"__name__":"m","id":1e})", R"({"__name__":"m","id":12x})", R"({"__name__":"m","id":9223372036854775808000})",
      R"({"__name__":"m","a":truex})", R"({"__name__":"m","a":tru})", R"({"__name__":"m","a":nul})",
      R"({"__name__":"m","a":null,"b":"1"})", R"({"__name__":"m","a":False})", R"({"__name__":"m","id":7 })",
      R"({"__name__":"m","id":7,"id":7})", R"({"__name__":3})", R"({"__name__":true})",
      // Metric names: the legacy rule.
      R"({"__name__":"ns:job:rate5m"})", R"({"__name__":"http-requests_total"})", R"({"__name__":"1st"})",
      R"({"__name__":"cpu.seconds"})"};
  LabelSetBuilder b = LegacyBuilder();  // reused, as in a sink
  for (const std::string& json : inputs) {
    CAPTURE(json);
    CHECK(BuilderLabels(b, json) == ReferenceLabels(json));
  }
  // Every prefix of a plain object: only the whole is valid.
  const std::string whole = R"({"__name__":"metric","host":"h-01","region":"eu-west-1"})";
  for (size_t n = 0; n <= whole.size(); ++n) {
    const std::string prefix = whole.substr(0, n);
    CAPTURE(prefix);
    CHECK(BuilderLabels(b, prefix) == ReferenceLabels(prefix));
  }
}

TEST_CASE("LabelSetBuilder: AddInteger writes decimal text, values from two AddJson calls stay valid until Finish") {
  LabelSetBuilder b = LegacyBuilder();
  REQUIRE(b.AddInteger("id", -9223372036854775807 - 1, "column 'id'").ok());
  REQUIRE(b.AddInteger("n", 42, "column 'n'").ok());
  // The second object needs the general parser (an escape); the first's
  // members must survive it.
  REQUIRE(b.AddJson(R"({"__name__":"m","a":"x"})", "labels").ok());
  REQUIRE(b.AddJson(R"({"b":"\u0079"})", "labels").ok());
  LabelSet out;
  REQUIRE(b.Finish(&out).ok());
  CHECK(out == LabelSet{{"__name__", "m"}, {"a", "x"}, {"b", "y"}, {"id", "-9223372036854775808"}, {"n", "42"}});
  CHECK(b.count() == 5);
  CHECK(b.text_bytes() == 8 + 1 + 1 + 1 + 1 + 1 + 2 + 20 + 1 + 2);
}
