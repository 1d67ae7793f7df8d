// Unit tests for options.{h,cc}: parsing the module arguments of
// CREATE VIRTUAL TABLE ... USING prometheus_sink(...), as SQLite passes them
// (raw, quotes included), and the columns the options declare
// (vtab_columns.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "aws_credentials.h"
#include "options.h"
#include "text.h"
#include "vtab_columns.h"

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

using psink::DeclareTableSql;
using psink::IsValidLabelName;
using psink::MaskUrl;
using psink::MetricType;
using psink::Protocol;
using psink::ProtocolName;
using psink::OptionKind;
using psink::OptionNames;
using psink::OptionSecrecy;
using psink::OptionSpec;
using psink::OptionsFromArgs;
using psink::OptionTable;
using psink::OptionValue;
using psink::SinkOptions;
using psink::Status;
using psink::TimeUnit;
using Headers = std::vector<std::pair<std::string, std::string>>;

namespace {

constexpr std::string_view kUrl = "url='http://127.0.0.1:9090/api/v1/write'";

SinkOptions ParseOk(std::vector<std::string_view> args) {
  SinkOptions o;
  Status st = OptionsFromArgs(args, &o);
  INFO("message: ", st.message());
  REQUIRE(st.ok());
  return o;
}

// Parses `url=...` plus `args` and returns the error message.
std::string ParseError(std::vector<std::string_view> args, bool add_url = true) {
  if (add_url) args.insert(args.begin(), kUrl);
  SinkOptions o;
  Status st = OptionsFromArgs(args, &o);
  std::string joined;
  for (auto a : args) joined += std::string(a) + " | ";
  INFO("args: ", joined);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Status::Code::kInvalid);
  return st.message();
}

}  // namespace

TEST_CASE("only url given: every other option has the seed's default") {
  SinkOptions o = ParseOk({kUrl});
  CHECK(o.url == "http://127.0.0.1:9090/api/v1/write");
  CHECK(o.key_label == "labels");
  CHECK(o.key_value == "value");
  CHECK(o.key_timestamp == "timestamp");
  CHECK(o.headers.empty());
  CHECK(o.retry == 3);
  CHECK(o.retry_backoff_multiplier_ms == 100);
  CHECK(o.retry_backoff_max_ms == 10000);
  CHECK(o.connect_timeout_ms == 12000);
  CHECK(o.socket_timeout_ms == 60000);
  CHECK(o.batch_size == 1024);
  CHECK(o.flush_interval_ms == 300000);
  CHECK(o.max_request_bytes == 8 * 1024 * 1024);
  CHECK(o.timestamp_unit == TimeUnit::kMillis);
  CHECK(o.label_columns.empty());
  CHECK(o.metric.empty());
  CHECK(o.external_labels.empty());
  CHECK(o.protocol == Protocol::kV1);
  CHECK_FALSE(o.metadata.has_value());
  CHECK(DeclareTableSql(o) == R"(CREATE TABLE x("labels" TEXT, "value", "timestamp", "histogram" HIDDEN, "exemplar" HIDDEN))");
}

TEST_CASE("the CREATE example of DESIGN.md sets every option") {
  SinkOptions o = ParseOk({
      "url           = 'http://127.0.0.1:9090/api/v1/write'",
      "key_label     = 'labels'",
      "key_value     = 'value'",
      "key_timestamp = 'ts'",
      "batch_size    = 1024",
      "flush_interval = 300000",
      "retry = 3",
      "retry_backoff_multiplier_ms = 100",
      "retry_backoff_max_ms = 10000",
      "connect_timeout_ms = 12000",
      "socket_timeout_ms  = 60000",
      "headers = '{\"X-Scope-OrgID\": \"team-a\"}'",
  });
  CHECK(o.url == "http://127.0.0.1:9090/api/v1/write");
  CHECK(o.key_label == "labels");
  CHECK(o.key_value == "value");
  CHECK(o.key_timestamp == "ts");
  CHECK(o.batch_size == 1024);
  CHECK(o.flush_interval_ms == 300000);
  CHECK(o.retry == 3);
  CHECK(o.retry_backoff_multiplier_ms == 100);
  CHECK(o.retry_backoff_max_ms == 10000);
  CHECK(o.connect_timeout_ms == 12000);
  CHECK(o.socket_timeout_ms == 60000);
  CHECK(o.headers == Headers{{"X-Scope-OrgID", "team-a"}});
  CHECK(DeclareTableSql(o) == R"(CREATE TABLE x("labels" TEXT, "value", "ts", "histogram" HIDDEN, "exemplar" HIDDEN))");
}

TEST_CASE("non-default values of every option are read") {
  SinkOptions o = ParseOk({
      "url=https://mimir.example:443/api/v1/push",
      "key_label=lbl",
      "key_value=v",
      "key_timestamp=t",
      "batch_size=5",
      "flush_interval=0",
      "retry=0",
      "retry_backoff_multiplier_ms=7",
      "retry_backoff_max_ms=70",
      "connect_timeout_ms=1",
      "socket_timeout_ms=2",
      "headers='{\"X-A\": \"1\", \"Authorization\": \"Bearer t\"}'",
      "timestamp_unit=s",
      "max_request_bytes=1024",
      "metric='node_cpu_seconds_total'",
      "external_labels='{\"env\":\"prod\",\"dc\":\"eu-1\"}'",
  });
  CHECK(o.url == "https://mimir.example:443/api/v1/push");
  CHECK(o.key_label == "lbl");
  CHECK(o.key_value == "v");
  CHECK(o.key_timestamp == "t");
  CHECK(o.batch_size == 5);
  CHECK(o.flush_interval_ms == 0);
  CHECK(o.retry == 0);
  CHECK(o.retry_backoff_multiplier_ms == 7);
  CHECK(o.retry_backoff_max_ms == 70);
  CHECK(o.connect_timeout_ms == 1);
  CHECK(o.socket_timeout_ms == 2);
  CHECK(o.headers == Headers{{"X-A", "1"}, {"Authorization", "Bearer t"}});
  CHECK(o.timestamp_unit == TimeUnit::kSeconds);
  CHECK(o.max_request_bytes == 1024);
  CHECK(o.metric == "node_cpu_seconds_total");
  CHECK(o.external_labels == Headers{{"env", "prod"}, {"dc", "eu-1"}});
}

TEST_CASE("option names are case-insensitive and white space is trimmed") {
  SinkOptions o = ParseOk({"  URL =  'http://h/w'  ", "\tBatch_Size\t=\t7\t", " Timestamp_Unit = ns "});
  CHECK(o.url == "http://h/w");
  CHECK(o.batch_size == 7);
  CHECK(o.timestamp_unit == TimeUnit::kNanos);
}

TEST_CASE("timestamp_unit accepts s, ms, us, ns") {
  CHECK(ParseOk({kUrl, "timestamp_unit=s"}).timestamp_unit == TimeUnit::kSeconds);
  CHECK(ParseOk({kUrl, "timestamp_unit='ms'"}).timestamp_unit == TimeUnit::kMillis);
  CHECK(ParseOk({kUrl, "timestamp_unit=\"us\""}).timestamp_unit == TimeUnit::kMicros);
  CHECK(ParseOk({kUrl, "timestamp_unit=ns"}).timestamp_unit == TimeUnit::kNanos);
  CHECK(ParseError({"timestamp_unit=sec"}) == "option 'timestamp_unit' must be one of s, ms, us, ns; found 'sec'");
  CHECK(ParseError({"timestamp_unit=MS"}) == "option 'timestamp_unit' must be one of s, ms, us, ns; found 'MS'");
}

// Any UTF-8 metric name: for the tests of quoting.
constexpr const char* kUtf8 = "name_validation_scheme=utf8";

TEST_CASE("values may be bare, '...' or \"...\" with doubled quotes inside") {
  CHECK(ParseOk({"url=http://h:9090/api/v1/write"}).url == "http://h:9090/api/v1/write");
  CHECK(ParseOk({"url=\"http://h/x\""}).url == "http://h/x");
  CHECK(ParseOk({kUrl, kUtf8, "metric='it''s'"}).metric == "it's");
  CHECK(ParseOk({kUrl, kUtf8, "metric=\"say \"\"hi\"\"\""}).metric == "say \"hi\"");
  CHECK(ParseOk({kUrl, kUtf8, "metric=\"it's\""}).metric == "it's");
  CHECK(ParseOk({kUrl, kUtf8, "metric='say \"hi\"'"}).metric == "say \"hi\"");
  CHECK(ParseOk({kUrl, kUtf8, "metric=''''"}).metric == "'");
  CHECK(ParseOk({kUrl, "batch_size='100'"}).batch_size == 100);
  CHECK(ParseOk({kUrl, "batch_size=\"100\""}).batch_size == 100);
  // JSON inside double quotes: the JSON quotes are doubled.
  CHECK(ParseOk({kUrl, "headers=\"{\"\"X-A\"\": \"\"1\"\"}\""}).headers == Headers{{"X-A", "1"}});
}

TEST_CASE("broken quoting is refused") {
  CHECK(ParseError({"metric='abc"}) == "option 'metric': missing closing quote in ''abc'");
  CHECK(ParseError({"metric='a'b"}) == "option 'metric': unexpected text after the closing quote in ''a'b'");
  CHECK(ParseError({"metric=\"a\" 'b'"}) ==
        "option 'metric': unexpected text after the closing quote in '\"a\" 'b''");
  CHECK(ParseError({"retry="}) == "option 'retry' has an empty value");
  CHECK(ParseError({"metric=  "}) == "option 'metric' has an empty value");
}

TEST_CASE("an unknown option is refused, with the closest name when it looks like a typo") {
  CHECK(ParseError({"retyr=3"}) == "unknown option 'retyr' (did you mean 'retry'?)");
  CHECK(ParseError({"Retyr=3"}) == "unknown option 'retyr' (did you mean 'retry'?)");
  CHECK(ParseError({"urll='http://h/x'"}, false) == "unknown option 'urll' (did you mean 'url'?)");
  CHECK(ParseError({"batchsize=10"}) == "unknown option 'batchsize' (did you mean 'batch_size'?)");
  CHECK(ParseError({"flush_interval_ms=10"}) == "unknown option 'flush_interval_ms' (did you mean 'flush_interval'?)");
  CHECK(ParseError({"key_labels=x"}) == "unknown option 'key_labels' (did you mean 'key_label'?)");
  CHECK(ParseError({"header='{}'"}) == "unknown option 'header' (did you mean 'headers'?)");
  CHECK(ParseError({"socket_timeout=5"}) == "unknown option 'socket_timeout' (did you mean 'socket_timeout_ms'?)");
  CHECK(ParseError({"zzzzzzzzzz=1"}) == "unknown option 'zzzzzzzzzz'");
  CHECK(ParseError({"passwd=x"}) == "unknown option 'passwd' (did you mean 'password'?)");
  CHECK(ParseError({"=5"}) == "unknown option ''");
}

TEST_CASE("an option given twice is refused") {
  CHECK(ParseError({"retry=1", "retry=2"}) == "option 'retry' is given more than once");
  CHECK(ParseError({"retry=1", "RETRY=1"}) == "option 'retry' is given more than once");
  CHECK(ParseError({"url='http://other/x'"}) == "option 'url' is given more than once");
  CHECK(ParseError({"headers='{}'", "headers='{}'"}) == "option 'headers' is given more than once");
}

TEST_CASE("url is required") {
  CHECK(ParseError({}, false) == "option 'url' is required");
  CHECK(ParseError({"retry=1", "host"}, false) == "option 'url' is required");
}

TEST_CASE("url must be http(s) with a host") {
  CHECK(ParseOk({"url='HTTPS://H/x'"}).url == "HTTPS://H/x");
  CHECK(ParseOk({"url='http://h'"}).url == "http://h");
  CHECK(ParseOk({"url='http://[::1]:9090/api/v1/write'"}).url == "http://[::1]:9090/api/v1/write");
  CHECK(ParseError({"url='ftp://h/x'"}, false) == "option 'url' must be an http:// or https:// URL, found 'ftp://h/x'");
  CHECK(ParseError({"url=localhost:9090"}, false) ==
        "option 'url' must be an http:// or https:// URL, found 'localhost:9090'");
  CHECK(ParseError({"url='file:///etc/passwd'"}, false) ==
        "option 'url' must be an http:// or https:// URL, found 'file:///etc/passwd'");
  CHECK(ParseError({"url=''"}, false) == "option 'url' must be an http:// or https:// URL, found ''");
  CHECK(ParseError({"url='http:///x'"}, false) == "option 'url' has no host: 'http:///x'");
  CHECK(ParseError({"url='http://h/a b'"}, false) ==
        "option 'url' contains white space or a control character: 'http://h/a b'");
  CHECK(ParseError({"url='http://h/a\nb'"}, false) ==
        "option 'url' contains white space or a control character: 'http://h/a\\x0Ab'");
}

TEST_CASE("url errors never show the credentials in it") {
  CHECK(ParseError({"url='ftp://user:s3cret@h/x'"}, false) ==
        "option 'url' must be an http:// or https:// URL, found 'ftp://***@h/x'");
  CHECK(ParseError({"url='http://user:s3cret@h/a b'"}, false) ==
        "option 'url' contains white space or a control character: 'http://***@h/a b'");
  CHECK(ParseError({"url='http://user:s3cret@h/x"}, false) ==
        "option 'url': missing closing quote in ''http://***@h/x'");
  CHECK(ParseError({"url='http://user:s3cret@h/x'x"}, false) ==
        "option 'url': unexpected text after the closing quote in ''http://***@h/x'x'");
  // A URL with credentials is accepted and kept as given.
  CHECK(ParseOk({"url='https://user:s3cret@h/x'"}).url == "https://user:s3cret@h/x");
}

TEST_CASE("integers: non-numeric values are refused") {
  CHECK(ParseError({"retry=abc"}) == "option 'retry' expects an integer, found 'abc'");
  CHECK(ParseError({"batch_size=10.5"}) == "option 'batch_size' expects an integer, found '10.5'");
  CHECK(ParseError({"batch_size=1e3"}) == "option 'batch_size' expects an integer, found '1e3'");
  CHECK(ParseError({"batch_size=0x10"}) == "option 'batch_size' expects an integer, found '0x10'");
  CHECK(ParseError({"batch_size=''"}) == "option 'batch_size' expects an integer, found ''");
  CHECK(ParseError({"batch_size=' 5'"}) == "option 'batch_size' expects an integer, found ' 5'");
  CHECK(ParseError({"flush_interval=5s"}) == "option 'flush_interval' expects an integer, found '5s'");
  CHECK(ParseError({"retry=3 4"}) == "option 'retry' expects an integer, found '3 4'");
}

TEST_CASE("integers: bounds of every numeric option") {
  struct Case {
    const char* name;
    int64_t lo, hi;
    int64_t SinkOptions::*field;
  };
  const Case cases[] = {
      {"retry", 0, 100, &SinkOptions::retry},
      {"retry_backoff_multiplier_ms", 0, 86400000, &SinkOptions::retry_backoff_multiplier_ms},
      {"retry_backoff_max_ms", 0, 86400000, &SinkOptions::retry_backoff_max_ms},
      {"connect_timeout_ms", 1, 86400000, &SinkOptions::connect_timeout_ms},
      {"socket_timeout_ms", 1, 86400000, &SinkOptions::socket_timeout_ms},
      {"batch_size", 1, 10000000, &SinkOptions::batch_size},
      {"flush_interval", 0, 31536000000, &SinkOptions::flush_interval_ms},
      {"max_request_bytes", 1024, 1073741824, &SinkOptions::max_request_bytes},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const std::string name = c.name;
    const std::string lo = name + "=" + std::to_string(c.lo), hi = name + "=" + std::to_string(c.hi);
    CHECK(ParseOk({kUrl, lo}).*c.field == c.lo);
    CHECK(ParseOk({kUrl, hi}).*c.field == c.hi);
    const std::string range = " (expected " + std::to_string(c.lo) + " to " + std::to_string(c.hi) + ")";
    CHECK(ParseError({name + "=" + std::to_string(c.lo - 1)}) ==
          "option '" + name + "' is out of range: " + std::to_string(c.lo - 1) + range);
    CHECK(ParseError({name + "=" + std::to_string(c.hi + 1)}) ==
          "option '" + name + "' is out of range: " + std::to_string(c.hi + 1) + range);
    CHECK(ParseError({name + "=99999999999999999999"}) ==
          "option '" + name + "' is out of range: '99999999999999999999'" + range);
  }
  CHECK(ParseError({"retry=-1"}) == "option 'retry' is out of range: -1 (expected 0 to 100)");
}

TEST_CASE("headers: a JSON object of strings") {
  SinkOptions o = ParseOk({kUrl, R"(headers='{"X-Scope-OrgID": "team-a", "Authorization": "Basic dTpw", "X-T": "a\tb"}')"});
  CHECK(o.headers == Headers{{"X-Scope-OrgID", "team-a"}, {"Authorization", "Basic dTpw"}, {"X-T", "a\tb"}});
  CHECK(ParseOk({kUrl, "headers='{}'"}).headers.empty());
  CHECK(ParseOk({kUrl, R"(headers='{"X-Odd!#$%&*+.^_`|~": "v"}')"}).headers ==
        Headers{{"X-Odd!#$%&*+.^_`|~", "v"}});
}

TEST_CASE("headers: malformed JSON and bad members are refused") {
  CHECK(ParseError({R"(headers='{"X-A": "1"')"}) ==
        "option 'headers' must be a JSON object of strings: invalid JSON at offset 11: expected ',' or '}'");
  CHECK(ParseError({"headers='X-A: 1'"}) ==
        "option 'headers' must be a JSON object of strings: invalid JSON at offset 0: expected a JSON object '{'");
  CHECK(ParseError({R"(headers='{"X-A": ["1"]}')"}) ==
        "option 'headers' must be a JSON object of strings: JSON value of 'X-A' is an array; only strings, "
        "numbers, booleans and null are allowed");
  CHECK(ParseError({R"(headers='{"X-A": 1}')"}) == "option 'headers': the value of 'X-A' must be a JSON string");
  CHECK(ParseError({R"(headers='{"X-A": null}')"}) == "option 'headers': the value of 'X-A' must be a JSON string");
  CHECK(ParseError({R"(headers='{"X-A": true}')"}) == "option 'headers': the value of 'X-A' must be a JSON string");
  CHECK(ParseError({R"(headers='{"X A": "1"}')"}) == "option 'headers': invalid header name 'X A'");
  CHECK(ParseError({R"(headers='{"": "1"}')"}) == "option 'headers': invalid header name ''");
  CHECK(ParseError({R"(headers='{"X:A": "1"}')"}) == "option 'headers': invalid header name 'X:A'");
  CHECK(ParseError({R"(headers='{"X-A": "a\nb"}')"}) ==
        "option 'headers': the value of 'X-A' contains a control character");
  CHECK(ParseError({R"(headers='{"X-A": "a\u007fb"}')"}) ==
        "option 'headers': the value of 'X-A' contains a control character");
  CHECK(ParseError({R"(headers='{"X-A": "1", "x-a": "2"}')"}) == "option 'headers': header 'x-a' is given twice");
}

TEST_CASE("headers: the extension's own headers cannot be overridden") {
  for (const char* h : {"Content-Encoding", "Content-Type", "content-length", "X-Prometheus-Remote-Write-Version",
                        "User-Agent", "HOST", "Connection", "Expect", "Transfer-Encoding", "TE", "Upgrade",
                        "Keep-Alive", "Proxy-Connection", "Trailer"}) {
    CAPTURE(h);
    std::string arg = std::string("headers='{\"") + h + "\": \"x\"}'";
    CHECK(ParseError({arg}) ==
          std::string("option 'headers': header '") + h + "' is set by the extension and cannot be overridden");
  }
}

TEST_CASE("headers: errors never show header values (they may be credentials)") {
  const std::vector<std::string> bad = {
      R"(headers='{"Authorization": "Bearer s3cret"')",    // JSON not closed
      R"(headers='{"Authorization": "Bearer s3cret"})",    // quote not closed
      R"(headers='{"Authorization": "Bearer s3cret"}'x)",  // text after the quote
      R"(headers='{"Authorization": "Bearer s3cret\q"}')",
      R"(headers='{"Authorization": {"Bearer s3cret": 1}}')",
      "headers='{\"Authorization\": \"Bearer s3cret\xFF\"}'",
      R"(headers='{"Authorization": "Bearer s3cret\n"}')",
  };
  for (const std::string& arg : bad) {
    std::string msg = ParseError({arg});
    CAPTURE(msg);
    CHECK(msg.find("s3cret") == std::string::npos);
  }
  CHECK(ParseError({bad[1]}) == "option 'headers': missing closing quote in the value (not shown)");
  CHECK(ParseError({bad[2]}) == "option 'headers': unexpected text after the closing quote in the value (not shown)");
  CHECK(ParseError({bad[5]}) == "option 'headers' must be a JSON object of strings: invalid UTF-8 in a JSON string");
}

TEST_CASE("key columns must be identifiers") {
  CHECK(ParseError({"key_label='my col'"}) ==
        "option 'key_label' must be a column name ([a-zA-Z_][a-zA-Z0-9_]*), found 'my col'");
  CHECK(ParseError({"key_value=1v"}) == "option 'key_value' must be a column name ([a-zA-Z_][a-zA-Z0-9_]*), found '1v'");
  CHECK(ParseError({"key_timestamp=''"}) ==
        "option 'key_timestamp' must be a column name ([a-zA-Z_][a-zA-Z0-9_]*), found ''");
}

TEST_CASE("bare words declare label columns, in order") {
  SinkOptions o = ParseOk({kUrl, "metric='node_cpu_seconds_total'", "host", " mode ", "\"cpu\"", "'_x1'"});
  CHECK(o.label_columns == std::vector<std::string>{"host", "mode", "cpu", "_x1"});
  CHECK(o.metric == "node_cpu_seconds_total");
  CHECK(DeclareTableSql(o) ==
        R"(CREATE TABLE x("host" TEXT, "mode" TEXT, "cpu" TEXT, "_x1" TEXT, "labels" TEXT, "value", "timestamp", "histogram" HIDDEN, "exemplar" HIDDEN))");
}

TEST_CASE("DeclareTableSql quotes every column name, a '\"' in it doubled") {
  // OptionsFromArgs admits no '"' in a column name (below, and "key columns
  // must be identifiers"); options made by hand still get one column per name.
  SinkOptions o;
  o.label_columns = {"a\"b", "x\" TEXT, evil"};
  o.key_label = "l\"";
  o.key_value = "\"v";
  o.key_timestamp = "t";
  o.key_start_timestamp = "s\"\"";
  o.key_histogram = "h\")";
  o.key_exemplar = "e";
  CHECK(DeclareTableSql(o) ==
        R"sql(CREATE TABLE x("a""b" TEXT, "x"" TEXT, evil" TEXT, "l""" TEXT, """v", "t", "s""""", "h"")" HIDDEN, "e" HIDDEN))sql");
  CHECK(ParseError({"'a\"b'"}) ==
        "label column 'a\"b' is not a valid label name (expected [a-zA-Z_][a-zA-Z0-9_]*); options are written "
        "name=value");
  CHECK(ParseError({"key_label='a\"b'"}) ==
        "option 'key_label' must be a column name ([a-zA-Z_][a-zA-Z0-9_]*), found 'a\"b'");
  CHECK(ParseError({"key_start_timestamp='s\"'"}) ==
        "option 'key_start_timestamp' must be a column name ([a-zA-Z_][a-zA-Z0-9_]*), found 's\"'");
}

TEST_CASE("bad label columns are refused") {
  CHECK(ParseError({"2host"}) ==
        "label column '2host' is not a valid label name (expected [a-zA-Z_][a-zA-Z0-9_]*); options are written "
        "name=value");
  CHECK(ParseError({"'my host'"}) ==
        "label column 'my host' is not a valid label name (expected [a-zA-Z_][a-zA-Z0-9_]*); options are written "
        "name=value");
  CHECK(ParseError({"retry 3"}) ==
        "label column 'retry 3' is not a valid label name (expected [a-zA-Z_][a-zA-Z0-9_]*); options are written "
        "name=value");
  CHECK(ParseError({"__name__"}) ==
        "label column '__name__' is not allowed; use the option metric='...' or the labels column");
  CHECK(ParseError({"host", "mode", "host"}) == "label column 'host' is declared twice");
}

TEST_CASE("column names must not clash (case-insensitively)") {
  CHECK(ParseError({"value"}) == "column 'value' of option 'key_value' clashes with label column 'value'");
  CHECK(ParseError({"Timestamp"}) ==
        "column 'timestamp' of option 'key_timestamp' clashes with label column 'Timestamp'");
  CHECK(ParseError({"labels"}) == "column 'labels' of option 'key_label' clashes with label column 'labels'");
  CHECK(ParseError({"key_label=value"}) == "column 'value' of option 'key_value' clashes with option 'key_label'");
  CHECK(ParseError({"key_value=ts", "key_timestamp=TS"}) ==
        "column 'TS' of option 'key_timestamp' clashes with option 'key_value'");
  CHECK(ParseError({"host", "key_label=Host"}) == "column 'Host' of option 'key_label' clashes with label column 'host'");
  // Renaming a key column frees its default name for a label column.
  CHECK(ParseOk({kUrl, "key_value=v", "value"}).label_columns == std::vector<std::string>{"value"});
}

TEST_CASE("metric must be non-empty UTF-8, and follow name_validation_scheme") {
  CHECK(ParseOk({kUrl, "metric=up"}).metric == "up");
  CHECK(ParseOk({kUrl, "metric=ns:job:rate5m"}).metric == "ns:job:rate5m");
  CHECK(ParseError({"metric='caf\xC3\xA9.total'"}) ==
        "option 'metric': invalid metric name 'caf\xC3\xA9.total' (expected [a-zA-Z_:][a-zA-Z0-9_:]*)");
  CHECK(ParseOk({kUrl, kUtf8, "metric='caf\xC3\xA9.total'"}).metric == "caf\xC3\xA9.total");
  // Escaped names are sent escaped; the option keeps what was written.
  CHECK(ParseOk({kUrl, "name_escaping_scheme=dots", "metric='caf\xC3\xA9.total'"}).metric == "caf\xC3\xA9.total");
  CHECK(ParseError({"metric=''"}) == "option 'metric' must be a non-empty UTF-8 metric name, found ''");
  CHECK(ParseError({"metric='a\xFF'"}) == "option 'metric' must be a non-empty UTF-8 metric name, found 'a\\xFF'");
}

TEST_CASE("external_labels: a JSON object of labels; null and empty drop") {
  SinkOptions o = ParseOk({kUrl, R"(external_labels='{"env":"prod","n":1.50,"b":true,"x":null,"y":""}')"});
  CHECK(o.external_labels == Headers{{"env", "prod"}, {"n", "1.50"}, {"b", "true"}});
  CHECK(ParseError({R"(external_labels='{"1x":"a"}')"}) ==
        "option 'external_labels': invalid label name '1x' (expected [a-zA-Z_][a-zA-Z0-9_]*)");
  CHECK(ParseError({R"(external_labels='{"env":"a","env":"b"}')"}) ==
        "option 'external_labels': label 'env' is given twice");
  CHECK(ParseError({R"(external_labels='{"env":"a"')"}) ==
        "option 'external_labels' must be a JSON object: invalid JSON at offset 10: expected ',' or '}', found the "
        "end in '{\"env\":\"a\"'");
  CHECK(ParseError({R"(external_labels='{"env":{"a":1}}')"}) ==
        "option 'external_labels' must be a JSON object: JSON value of 'env' is an object; only strings, numbers, "
        "booleans and null are allowed, in '{\"env\":{\"a\":1}}'");
}

TEST_CASE("IsValidLabelName follows [a-zA-Z_][a-zA-Z0-9_]*") {
  for (const char* ok : {"a", "_", "__name__", "A9_z", "node_cpu", "_0"}) CHECK(IsValidLabelName(ok));
  for (const char* bad : {"", "9a", "a-b", "a.b", "a b", "a:b", "caf\xC3\xA9", "\xC3\xA9"}) {
    CAPTURE(bad);
    CHECK_FALSE(IsValidLabelName(bad));
  }
}

TEST_CASE("MaskUrl hides the user:password part") {
  CHECK(MaskUrl("http://user:pw@host:9090/api/v1/write") == "http://***@host:9090/api/v1/write");
  CHECK(MaskUrl("https://token@host") == "https://***@host");
  CHECK(MaskUrl("https://u:p@ss@host/x") == "https://***@host/x");  // the last '@' ends the user info
  CHECK(MaskUrl("http://u:p@host?q=1") == "http://***@host?q=1");
  CHECK(MaskUrl("http://u:p@host#f") == "http://***@host#f");
  CHECK(MaskUrl("http://host:9090/api/v1/write") == "http://host:9090/api/v1/write");
  CHECK(MaskUrl("http://host/a@b") == "http://host/a@b");  // '@' in the path is not user info
  CHECK(MaskUrl("http://host?x=a@b") == "http://host?x=a@b");
  CHECK(MaskUrl("http://host#a@b") == "http://host#a@b");
  CHECK(MaskUrl("no scheme u:p@h") == "no scheme u:p@h");
  CHECK(MaskUrl("") == "");
}

TEST_CASE("connection options: credentials, TLS, proxy, redirects") {
  SinkOptions o = ParseOk({kUrl, "bearer_token_file='/run/secrets/token'"});
  CHECK(o.bearer_token.source == psink::Secret::Source::kFile);
  CHECK(o.bearer_token.text == "/run/secrets/token");
  o = ParseOk({kUrl, "username=alice", "password_env=PROM_PASSWORD"});
  CHECK(o.username == "alice");
  CHECK(o.password.source == psink::Secret::Source::kEnv);
  CHECK(o.password.text == "PROM_PASSWORD");
  o = ParseOk({kUrl, "tls_ca_file='/etc/ca.pem'", "tls_cert_file=/c.pem", "tls_key_file=/k.pem",
               "tls_insecure_skip_verify=true", "proxy_url='http://proxy:3128'", "follow_redirects=on"});
  CHECK(o.tls_ca_file == "/etc/ca.pem");
  CHECK(o.tls_insecure_skip_verify);
  CHECK(o.follow_redirects);
  CHECK(o.proxy_url == "http://proxy:3128");
  CHECK_FALSE(ParseOk({kUrl}).follow_redirects);
  CHECK_FALSE(ParseOk({kUrl}).tls_insecure_skip_verify);

  CHECK(ParseError({"bearer_token=abc", "bearer_token_env=TOKEN"}) ==
        "options 'bearer_token', 'bearer_token_file' and 'bearer_token_env' exclude each other; 'bearer_token_env' is one too many");
  CHECK(ParseError({"password=hunter2"}) == "option 'password' (or password_file/password_env) needs 'username'");
  CHECK(ParseError({"username=bob"}) == "option 'username' needs 'password', 'password_file' or 'password_env'");
  CHECK(ParseError({"username=bob", "password=x", "bearer_token=y"}) ==
        "options 'username' and 'bearer_token' exclude each other: choose one kind of authentication");
  CHECK(ParseError({"url='http://u:p@h/x'", "username=bob", "password=x"}, false) ==
        "option 'username' conflicts with the user:password@ part of 'url'");
  CHECK(ParseError({"headers='{\"Authorization\": \"Bearer s3cret\"}'", "bearer_token=y"}) ==
        "option 'headers' sets Authorization, which conflicts with 'bearer_token'");
  CHECK(ParseError({"tls_cert_file=/c.pem"}) == "options 'tls_cert_file' and 'tls_key_file' go together: give both or neither");
  CHECK(ParseError({"tls_insecure_skip_verify=maybe"}) == "option 'tls_insecure_skip_verify' must be true or false, found 'maybe'");
  CHECK(ParseError({"proxy_url='ftp://u:secret@proxy'"}) ==
        "option 'proxy_url' must be an http://, https://, socks5:// or socks5h:// URL, found 'ftp://***@proxy'");
  // A credential never appears in a message, even a malformed one.
  std::string msg = ParseError({"bearer_token='s3cr3t"});
  CHECK(msg == "option 'bearer_token': missing closing quote in the value (not shown)");
  CHECK(msg.find("s3cr3t") == std::string::npos);
}

TEST_CASE("ResolveSecret reads values, files and variables at call time") {
  std::string out;
  psink::Secret inline_secret{psink::Secret::Source::kValue, "tok"};
  REQUIRE(psink::ResolveSecret(inline_secret, "bearer_token", &out).ok());
  CHECK(out == "tok");

  psink::Secret env{psink::Secret::Source::kEnv, "PSINK_UNIT_TEST_TOKEN"};
  unsetenv("PSINK_UNIT_TEST_TOKEN");
  Status st = psink::ResolveSecret(env, "bearer_token", &out);
  CHECK(st.message() == "option 'bearer_token_env': environment variable 'PSINK_UNIT_TEST_TOKEN' is not set");
  setenv("PSINK_UNIT_TEST_TOKEN", "from-env", 1);
  REQUIRE(psink::ResolveSecret(env, "bearer_token", &out).ok());
  CHECK(out == "from-env");

  char path[] = "/tmp/psink_secretXXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, "first\n", 6) == 6);
  close(fd);
  psink::Secret file{psink::Secret::Source::kFile, path};
  REQUIRE(psink::ResolveSecret(file, "bearer_token", &out).ok());
  CHECK(out == "first");  // the trailing newline is not part of the token
  FILE* f = fopen(path, "w");
  fputs("rotated", f);
  fclose(f);
  REQUIRE(psink::ResolveSecret(file, "bearer_token", &out).ok());
  CHECK(out == "rotated");
  unlink(path);
  st = psink::ResolveSecret(file, "bearer_token", &out);
  CHECK(st.message() == std::string("option 'bearer_token_file': cannot read '") + path + "'");
}

// ---------------------------------------------------------------- remote-write 2.0 and metadata

TEST_CASE("protocol is '1.0' or '2.0', quoted or bare") {
  CHECK(ParseOk({kUrl, "protocol='2.0'"}).protocol == Protocol::kV2);
  CHECK(ParseOk({kUrl, "protocol=2.0"}).protocol == Protocol::kV2);
  CHECK(ParseOk({kUrl, "protocol=\"1.0\""}).protocol == Protocol::kV1);
  CHECK(ParseOk({kUrl, "PROTOCOL = 1.0"}).protocol == Protocol::kV1);
  CHECK(ProtocolName(Protocol::kV1) == "1.0");
  CHECK(ProtocolName(Protocol::kV2) == "2.0");
  CHECK(ParseError({"protocol=2"}) == "option 'protocol' must be '1.0' or '2.0', found '2'");
  CHECK(ParseError({"protocol='v2'"}) == "option 'protocol' must be '1.0' or '2.0', found 'v2'");
  CHECK(ParseError({"protocol='2.0.0'"}) == "option 'protocol' must be '1.0' or '2.0', found '2.0.0'");
  CHECK(ParseError({"protocol=''"}) == "option 'protocol' must be '1.0' or '2.0', found ''");
  CHECK(ParseError({"protocol=2.0", "protocol=1.0"}) == "option 'protocol' is given more than once");
}

TEST_CASE("metric_type takes every metric type, in any case, with its wire value") {
  const std::pair<const char*, MetricType> cases[] = {
      {"unknown", MetricType::kUnknown},     {"counter", MetricType::kCounter},
      {"gauge", MetricType::kGauge},         {"histogram", MetricType::kHistogram},
      {"gaugehistogram", MetricType::kGaugeHistogram}, {"summary", MetricType::kSummary},
      {"info", MetricType::kInfo},           {"stateset", MetricType::kStateset},
  };
  uint32_t wire = 0;
  for (const auto& [name, type] : cases) {
    CAPTURE(name);
    std::string arg = std::string("metric_type='") + name + "'";
    SinkOptions o = ParseOk({kUrl, arg});
    REQUIRE(o.metadata.has_value());
    CHECK(o.metadata->type == type);
    CHECK(static_cast<uint32_t>(type) == wire++);  // 1.0 and 2.0 number them alike
    CHECK(o.metadata->help.empty());
    CHECK(o.metadata->unit.empty());
  }
  CHECK(ParseOk({kUrl, "metric_type=Counter"}).metadata->type == MetricType::kCounter);
  CHECK(ParseOk({kUrl, "metric_type=GAUGE"}).metadata->type == MetricType::kGauge);
  CHECK(ParseError({"metric_type=untyped"}) ==
        "option 'metric_type' must be one of counter, gauge, histogram, gaugehistogram, summary, info, stateset, "
        "unknown; found 'untyped'");
  CHECK(ParseError({"metric_type=''"}) ==
        "option 'metric_type' must be one of counter, gauge, histogram, gaugehistogram, summary, info, stateset, "
        "unknown; found ''");
}

TEST_CASE("metric_help and metric_unit set the metadata; any one of the three options does") {
  SinkOptions o = ParseOk({kUrl, "metric_help='Seconds the CPU spent in each mode.'", "metric_unit=seconds"});
  REQUIRE(o.metadata.has_value());
  CHECK(o.metadata->type == MetricType::kUnknown);
  CHECK(o.metadata->help == "Seconds the CPU spent in each mode.");
  CHECK(o.metadata->unit == "seconds");

  o = ParseOk({kUrl, "metric_unit='bytes'"});
  REQUIRE(o.metadata.has_value());
  CHECK(o.metadata->help.empty());
  CHECK(o.metadata->unit == "bytes");

  o = ParseOk({kUrl, "metric_help='it''s \"quoted\"\nand multi-line, caf\xC3\xA9'", "metric_type=counter",
               "protocol=2.0"});
  REQUIRE(o.metadata.has_value());
  CHECK(o.metadata->type == MetricType::kCounter);
  CHECK(o.metadata->help == "it's \"quoted\"\nand multi-line, caf\xC3\xA9");
  CHECK(o.protocol == Protocol::kV2);

  CHECK(ParseError({"metric_help=''"}) == "option 'metric_help' has an empty value");
  CHECK(ParseError({"metric_unit=\"\""}) == "option 'metric_unit' has an empty value");
  CHECK(ParseError({"metric_help='a\xFF'"}) == "option 'metric_help' must be UTF-8 text, found 'a\\xFF'");
  CHECK(ParseError({"metric_unit='a\nb'"}) == "option 'metric_unit' contains a control character: 'a\\x0Ab'");
  CHECK(ParseError({"metric_unit=s", "metric_unit=ms"}) == "option 'metric_unit' is given more than once");
}

TEST_CASE("the new option names take part in 'did you mean'") {
  CHECK(ParseError({"protocl=2.0"}) == "unknown option 'protocl' (did you mean 'protocol'?)");
  CHECK(ParseError({"protocol_version=2.0"}) == "unknown option 'protocol_version'");
  CHECK(ParseError({"metric_typ=counter"}) == "unknown option 'metric_typ' (did you mean 'metric_type'?)");
  CHECK(ParseError({"metrictype=counter"}) == "unknown option 'metrictype' (did you mean 'metric_type'?)");
  CHECK(ParseError({"metric_hepl=x"}) == "unknown option 'metric_hepl' (did you mean 'metric_help'?)");
  CHECK(ParseError({"metric_units=x"}) == "unknown option 'metric_units' (did you mean 'metric_unit'?)");
  // Suggestions for the older names are unchanged.
  CHECK(ParseError({"metrics=x"}) == "unknown option 'metrics' (did you mean 'metric'?)");
  CHECK(ParseError({"batchsize=10"}) == "unknown option 'batchsize' (did you mean 'batch_size'?)");
  CHECK(ParseError({"socket_timeout=5"}) == "unknown option 'socket_timeout' (did you mean 'socket_timeout_ms'?)");
}

// ---------------------------------------------------------------- managed receivers: SigV4 and OAuth2

TEST_CASE("sigv4: region turns signing on; service defaults to aps; keys in any form, or none") {
  SinkOptions o = ParseOk({kUrl});
  CHECK_FALSE(o.sigv4());
  o = ParseOk({kUrl, "sigv4_region='us-east-1'"});
  CHECK(o.sigv4());
  CHECK(o.sigv4_region == "us-east-1");
  CHECK(o.sigv4_service == "aps");
  CHECK(o.sigv4_access_key.empty());
  CHECK(o.sigv4_secret_key.empty());
  o = ParseOk({kUrl, "sigv4_region=eu-west-2", "sigv4_service=execute-api", "sigv4_access_key=AKIDEXAMPLE",
               "sigv4_secret_key_file='/run/secrets/aws'"});
  CHECK(o.sigv4_service == "execute-api");
  CHECK(o.sigv4_access_key.source == psink::Secret::Source::kValue);
  CHECK(o.sigv4_access_key.text == "AKIDEXAMPLE");
  CHECK(o.sigv4_secret_key.source == psink::Secret::Source::kFile);
  o = ParseOk({kUrl, "sigv4_region=us-east-1", "sigv4_access_key_env=MY_KEY", "sigv4_secret_key_env=MY_SECRET"});
  CHECK(o.sigv4_access_key.source == psink::Secret::Source::kEnv);
  CHECK(o.sigv4_secret_key.text == "MY_SECRET");
}

TEST_CASE("sigv4: what CREATE refuses") {
  CHECK(ParseError({"sigv4_region='us east'"}) ==
        "option 'sigv4_region' must be 1 to 64 letters, digits, '-', '_' or '.' (e.g. us-east-1), found 'us east'");
  CHECK(ParseError({"sigv4_region=us-east-1", "sigv4_service='aps:x'"}) ==
        "option 'sigv4_service' must be 1 to 64 letters, digits, '-', '_' or '.' (e.g. aps), found 'aps:x'");
  CHECK(ParseError({"sigv4_service=aps"}) == "option 'sigv4_service' needs 'sigv4_region' (which turns SigV4 signing on)");
  CHECK(ParseError({"sigv4_access_key=AK", "sigv4_secret_key=SK"}) ==
        "option 'sigv4_access_key' needs 'sigv4_region' (which turns SigV4 signing on)");
  CHECK(ParseError({"sigv4_region=us-east-1", "sigv4_access_key=AK"}) ==
        "options 'sigv4_access_key' and 'sigv4_secret_key' go together: give both, or neither to use "
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN");
  CHECK(ParseError({"sigv4_region=us-east-1", "sigv4_secret_key_file=/s"}) ==
        "options 'sigv4_access_key' and 'sigv4_secret_key' go together: give both, or neither to use "
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN");
  CHECK(ParseError({"sigv4_region=us-east-1", "sigv4_secret_key=a", "sigv4_secret_key_env=B"}) ==
        "options 'sigv4_secret_key', 'sigv4_secret_key_file' and 'sigv4_secret_key_env' exclude each other; "
        "'sigv4_secret_key_env' is one too many");
  // One kind of authentication.
  CHECK(ParseError({"sigv4_region=us-east-1", "bearer_token=t"}) ==
        "options 'bearer_token' and 'sigv4_region' exclude each other: choose one kind of authentication");
  CHECK(ParseError({"sigv4_region=us-east-1", "username=u", "password=p"}) ==
        "options 'username' and 'sigv4_region' exclude each other: choose one kind of authentication");
  CHECK(ParseError({"url='http://u:p@h/x'", "sigv4_region=us-east-1"}, false) ==
        "option 'sigv4_region' conflicts with the user:password@ part of 'url'");
  CHECK(ParseError({"sigv4_region=us-east-1", "headers='{\"Authorization\": \"x\"}'"}) ==
        "option 'headers' sets Authorization, which conflicts with 'sigv4_region'");
  // Headers libcurl 7.88 would sign wrongly, or that belong to the signature.
  CHECK(ParseError({"sigv4_region=us-east-1", "headers='{\"X-Amz-Date\": \"20200101T000000Z\"}'"}) ==
        "option 'headers': header 'X-Amz-Date' is set by SigV4 signing (sigv4_region)");
  CHECK(ParseError({"sigv4_region=us-east-1", "headers='{\"X-Empty\": \" \"}'"}) ==
        "option 'headers': the value of 'X-Empty' is empty; with sigv4 every header is signed, and libcurl does "
        "not send an empty one");
  CHECK(ParseError({"sigv4_region=us-east-1", "headers='{\"X-A\": \"1\", \"X-A-B\": \"2\"}'"}) ==
        "option 'headers': with sigv4, headers 'x-a' and 'x-a-b' cannot both be sent: libcurl 7.88 would sign "
        "them in the wrong order");
  CHECK(ParseError({"sigv4_region=us-east-1", "headers='{\"Content\": \"1\"}'"}) ==
        "option 'headers': with sigv4, headers 'content' and 'content-encoding' cannot both be sent: libcurl 7.88 "
        "would sign them in the wrong order");
  // A name followed by a letter sorts the same either way; without sigv4 nothing of this applies.
  ParseOk({kUrl, "sigv4_region=us-east-1", "headers='{\"X-A\": \"1\", \"X-AB\": \"2\", \"X-Scope-OrgID\": \"t\"}'"});
  ParseOk({kUrl, "headers='{\"X-Amz-Date\": \"x\", \"X-A\": \"1\", \"X-A-B\": \"\"}'"});
  // URLs libcurl would sign differently from the receiver.
  CHECK(ParseError({"url='http://h/api/v1/write?a=%zz'", "sigv4_region=us-east-1"}, false) ==
        "option 'url': with sigv4, the query has a broken %-escape: 'http://h/api/v1/write?a=%zz'");
  for (std::string_view url : {"url='http://h/a b'", "url='http://h/a%20b'", "url='http://h//a'", "url='http://h/a/./b'",
                               "url='http://h/a/..'", "url='http://h/a:b'"}) {
    CAPTURE(url);
    CHECK(ParseError({url, "sigv4_region=us-east-1"}, false).find("option '") == 0);
  }
  CHECK(ParseError({"url='http://h/a/../b'", "sigv4_region=us-east-1"}, false) ==
        "option 'url': with sigv4, the path may hold only letters, digits, '-', '.', '_', '~' and '/', without "
        "empty, '.' or '..' segments: 'http://h/a/../b'");
}

TEST_CASE("SigV4Url: the query in AWS's canonical form, sorted and encoded; the fragment dropped") {
  auto canon = [](std::string_view url) {
    std::string out;
    Status st = psink::SigV4Url(url, &out);
    INFO(st.message());
    REQUIRE(st.ok());
    return out;
  };
  CHECK(canon("http://127.0.0.1:9090/api/v1/write") == "http://127.0.0.1:9090/api/v1/write");
  CHECK(canon("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1a2b/api/v1/remote_write") ==
        "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1a2b/api/v1/remote_write");
  CHECK(canon("http://h") == "http://h/");
  CHECK(canon("http://h/a/") == "http://h/a/");
  CHECK(canon("http://h/w?z=1&a=2&m") == "http://h/w?a=2&m=&z=1");
  CHECK(canon("http://h/w?b=2&b=1&a=x%2fy") == "http://h/w?a=x%2Fy&b=1&b=2");
  CHECK(canon("http://h/w?q=a+b%20c&&e=%7e*") == "http://h/w?e=~%2A&q=a%2Bb%20c");
  CHECK(canon("http://h/w?x=1#frag") == "http://h/w?x=1");
  CHECK(canon("http://h/w#frag") == "http://h/w");
  CHECK(canon("http://h/w?") == "http://h/w");
  // Sorted by the encoded name, then the encoded value.
  CHECK(canon("http://h/w?a_b=1&a-b=2&A=3") == "http://h/w?A=3&a-b=2&a_b=1");
  // The url as given is kept in the options; the transport sends the canonical one.
  SinkOptions o = ParseOk({"url='http://h/w?z=1&a=2'", "sigv4_region=us-east-1"});
  CHECK(o.url == "http://h/w?z=1&a=2");
}

TEST_CASE("ResolveSigV4Credentials: the options, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN") {
  psink::SigV4Credentials c;
  SinkOptions o = ParseOk({kUrl, "sigv4_region=us-east-1", "sigv4_access_key=AK1", "sigv4_secret_key=SK1"});
  ::setenv("AWS_SESSION_TOKEN", "ignored-with-keys", 1);
  REQUIRE(psink::ResolveSigV4Credentials(o, &c).ok());
  CHECK(c.access_key == "AK1");
  CHECK(c.secret_key == "SK1");
  CHECK(c.session_token == "");

  o = ParseOk({kUrl, "sigv4_region=us-east-1"});
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::setenv("AWS_SECRET_ACCESS_KEY", "SK2", 1);
  Status st = psink::ResolveSigV4Credentials(o, &c);
  CHECK(st.message() ==
        "sigv4: environment variable AWS_ACCESS_KEY_ID is not set (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "or give the options sigv4_access_key and sigv4_secret_key)");
  CHECK(psink::CheckEnvironment(o).message() == st.message());
  ::setenv("AWS_ACCESS_KEY_ID", "AK2", 1);
  REQUIRE(psink::ResolveSigV4Credentials(o, &c).ok());
  CHECK(c.access_key == "AK2");
  CHECK(c.secret_key == "SK2");
  CHECK(c.session_token == "ignored-with-keys");
  CHECK(psink::CheckEnvironment(o).ok());
  ::setenv("AWS_SESSION_TOKEN", "tok\nen", 1);
  CHECK(psink::ResolveSigV4Credentials(o, &c).message() ==
        "sigv4: environment variable AWS_SESSION_TOKEN contains a control character (not shown)");
  ::unsetenv("AWS_SESSION_TOKEN");
  REQUIRE(psink::ResolveSigV4Credentials(o, &c).ok());
  CHECK(c.session_token == "");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");

  o = ParseOk({kUrl, "sigv4_region=us-east-1", "sigv4_access_key_env=PSINK_UNIT_AK", "sigv4_secret_key=SK"});
  ::unsetenv("PSINK_UNIT_AK");
  CHECK(psink::CheckEnvironment(o).message() ==
        "option 'sigv4_access_key_env': environment variable 'PSINK_UNIT_AK' is not set");
}

TEST_CASE("oauth2: token URL, client id and secret in any form, scopes, params; one token cache shared by copies") {
  SinkOptions o = ParseOk({kUrl});
  CHECK_FALSE(o.oauth2());
  CHECK(o.oauth2_tokens == nullptr);
  o = ParseOk({kUrl, "oauth2_token_url='https://auth.example/oauth2/token'", "oauth2_client_id=sink",
               "oauth2_client_secret_file=/run/secrets/oauth2", "oauth2_scopes='metrics:write read'",
               "oauth2_params='{\"audience\": \"prom\", \"resource\": \"https://r/\"}'"});
  CHECK(o.oauth2());
  CHECK(o.oauth2_token_url == "https://auth.example/oauth2/token");
  CHECK(o.oauth2_client_id.source == psink::Secret::Source::kValue);
  CHECK(o.oauth2_client_id.text == "sink");
  CHECK(o.oauth2_client_secret.source == psink::Secret::Source::kFile);
  CHECK(o.oauth2_scopes == "metrics:write read");
  CHECK(o.oauth2_params == Headers{{"audience", "prom"}, {"resource", "https://r/"}});
  REQUIRE(o.oauth2_tokens != nullptr);
  SinkOptions copy = o;
  CHECK(copy.oauth2_tokens == o.oauth2_tokens);  // what every transport of the sink holds
  SinkOptions other = ParseOk({kUrl, "oauth2_token_url='https://auth.example/oauth2/token'",
                               "oauth2_client_id_env=ID", "oauth2_client_secret_env=SECRET"});
  CHECK(other.oauth2_tokens != o.oauth2_tokens);  // another sink, another cache
  CHECK(other.oauth2_client_id.source == psink::Secret::Source::kEnv);
}

TEST_CASE("oauth2: what CREATE refuses") {
  const std::string_view tok = "oauth2_token_url='http://127.0.0.1:1/token'";
  CHECK(ParseError({"oauth2_token_url='ftp://u:pw@h/token'", "oauth2_client_id=a", "oauth2_client_secret=b"}) ==
        "option 'oauth2_token_url' must be an http:// or https:// URL, found 'ftp://***@h/token'");
  CHECK(ParseError({"oauth2_token_url='http:///token'"}) == "option 'oauth2_token_url' has no host: 'http:///token'");
  // Masked like url, also in a quoting error (found by fuzz_options).
  CHECK(ParseError({"oauth2_token_url='https://client:s3cret@auth/token' x"}) ==
        "option 'oauth2_token_url': unexpected text after the closing quote in ''https://***@auth/token' x'");
  CHECK(ParseError({tok, "oauth2_client_secret=b"}) ==
        "option 'oauth2_token_url' needs 'oauth2_client_id' (or oauth2_client_id_file/_env)");
  CHECK(ParseError({tok, "oauth2_client_id=a"}) ==
        "option 'oauth2_token_url' needs 'oauth2_client_secret' (or oauth2_client_secret_file/_env)");
  CHECK(ParseError({"oauth2_client_id=a"}) == "option 'oauth2_client_id' needs 'oauth2_token_url'");
  CHECK(ParseError({"oauth2_scopes=a"}) == "option 'oauth2_scopes' needs 'oauth2_token_url'");
  CHECK(ParseError({"oauth2_params='{}'"}) == "option 'oauth2_params' needs 'oauth2_token_url'");
  CHECK(ParseError({tok, "oauth2_client_id=a", "oauth2_client_secret=b", "oauth2_scopes=' '"}) ==
        "option 'oauth2_scopes' must be space-separated scope names, found ' '");
  CHECK(ParseError({tok, "oauth2_client_id=a", "oauth2_client_secret=b", "oauth2_params='{\"scope\": \"x\"}'"}) ==
        "option 'oauth2_params': field 'scope' is set by the extension (use oauth2_scopes)");
  CHECK(ParseError({tok, "oauth2_client_id=a", "oauth2_client_secret=b", "oauth2_params='{\"client_secret\": \"x\"}'"}) ==
        "option 'oauth2_params': field 'client_secret' is set by the extension");
  CHECK(ParseError({tok, "oauth2_client_id=a", "oauth2_client_secret=b", "oauth2_params='{\"n\": 1}'"}) ==
        "option 'oauth2_params': the value of 'n' must be a JSON string");
  CHECK(ParseError({tok, "oauth2_client_id=a", "oauth2_client_secret=b", "oauth2_params='{\"a\": \"1\", \"a\": \"2\"}'"}) ==
        "option 'oauth2_params': field 'a' is given twice");
  CHECK(ParseError({tok, "oauth2_client_id=a", "oauth2_client_secret=b", "oauth2_params='[\"hidden-value\"]'"}) ==
        "option 'oauth2_params' must be a JSON object of strings: invalid JSON at offset 0: expected a JSON object '{'");
  // One kind of authentication.
  CHECK(ParseError({tok, "oauth2_client_id=a", "oauth2_client_secret=b", "bearer_token=t"}) ==
        "options 'bearer_token' and 'oauth2_token_url' exclude each other: choose one kind of authentication");
  CHECK(ParseError({tok, "oauth2_client_id=a", "oauth2_client_secret=b", "sigv4_region=us-east-1"}) ==
        "options 'sigv4_region' and 'oauth2_token_url' exclude each other: choose one kind of authentication");
  CHECK(ParseError({tok, "oauth2_client_id=a", "oauth2_client_secret=b", "username=u", "password_env=P"}) ==
        "options 'username' and 'oauth2_token_url' exclude each other: choose one kind of authentication");
  CHECK(ParseError({"url='http://u:p@h/x'", tok, "oauth2_client_id=a", "oauth2_client_secret=b"}, false) ==
        "option 'oauth2_token_url' conflicts with the user:password@ part of 'url'");
  CHECK(ParseError({tok, "oauth2_client_id=a", "oauth2_client_secret=b", "headers='{\"authorization\": \"x\"}'"}) ==
        "option 'headers' sets Authorization, which conflicts with 'oauth2_token_url'");
}

TEST_CASE("the new credential options are never shown, even malformed; their names take part in 'did you mean'") {
  for (std::string_view name : {"sigv4_access_key", "sigv4_secret_key", "oauth2_client_id", "oauth2_client_secret",
                                "oauth2_params"}) {
    CAPTURE(name);
    std::string arg = std::string(name) + "='s3cr3t";
    CHECK(ParseError({arg}) == "option '" + std::string(name) + "': missing closing quote in the value (not shown)");
    arg = std::string(name) + "='s3cr3t' tail";
    CHECK(ParseError({arg}) ==
          "option '" + std::string(name) + "': unexpected text after the closing quote in the value (not shown)");
  }
  // A control character in an inline credential: refused, not shown.
  CHECK(ParseError({"sigv4_region=us-east-1", "sigv4_access_key=AK", "sigv4_secret_key='s3cr3t\x01'"}) ==
        "option 'sigv4_secret_key' contains a control character (the value is not shown)");
  // The path of a _file form and the name of an _env form are not secret.
  CHECK(ParseError({"sigv4_secret_key_file='/run/x"}) == "option 'sigv4_secret_key_file': missing closing quote in ''/run/x'");
  CHECK(ParseError({"sigv4_regoin=us-east-1"}) == "unknown option 'sigv4_regoin' (did you mean 'sigv4_region'?)");
  CHECK(ParseError({"sigv4_secret=x"}) == "unknown option 'sigv4_secret' (did you mean 'sigv4_secret_key'?)");
  CHECK(ParseError({"oauth2_tokenurl=x"}) == "unknown option 'oauth2_tokenurl' (did you mean 'oauth2_token_url'?)");
  CHECK(ParseError({"oauth2_scope=x"}) == "unknown option 'oauth2_scope' (did you mean 'oauth2_scopes'?)");
  CHECK(ParseError({"oauth2_client_secret_fil=x"}) ==
        "unknown option 'oauth2_client_secret_fil' (did you mean 'oauth2_client_secret_file'?)");
  // The older names' suggestions are unchanged.
  CHECK(ParseError({"bearer_tokn=x"}) == "unknown option 'bearer_tokn' (did you mean 'bearer_token'?)");
  CHECK(ParseError({"pasword_file=x"}) == "unknown option 'pasword_file' (did you mean 'password_file'?)");
}

// ---------------------------------------------------------------- the option table

namespace {

// The row of OptionTable() named `name`, or nullptr (a credential's _file
// and _env forms have no row of their own).
const OptionSpec* SpecNamed(std::string_view name) {
  for (const OptionSpec& s : OptionTable()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// A row of the README's options table: the option names of its first cell
// and the text of its second (the default).
struct ReadmeRow {
  std::vector<std::string> names;
  std::string default_cell;
};

// The rows of the first table under "## Options" in the README. The names
// of a row are the `backquoted` words of its first cell; a word that starts
// with '_' ("each also `_file` / `_env`") adds that form of each name of
// the cell. A row without backquoted words (*bare name*) is not an option.
std::vector<ReadmeRow> ReadmeOptionRows() {
  std::ifstream in(README_PATH);
  REQUIRE_MESSAGE(in, "cannot read " README_PATH);
  std::vector<std::string> table;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0) {
      if (in_section) break;
      in_section = line == "## Options";
      continue;
    }
    if (!in_section) continue;
    if (line.rfind("|", 0) == 0) {
      table.push_back(line);
    } else if (!table.empty()) {
      break;  // the end of the table
    }
  }
  REQUIRE_MESSAGE(table.size() > 2, "no table under '## Options' in " README_PATH);
  std::vector<ReadmeRow> rows;
  const std::regex quoted("`([^`]+)`");
  for (size_t i = 2; i < table.size(); ++i) {  // after the header and the |---| line
    std::vector<std::string> cells;
    size_t start = 1;
    for (size_t bar = table[i].find('|', start); bar != std::string::npos; bar = table[i].find('|', start)) {
      cells.push_back(table[i].substr(start, bar - start));
      start = bar + 1;
    }
    REQUIRE_MESSAGE(cells.size() >= 2, "README options row: " << table[i]);
    std::vector<std::string> names, forms;
    for (std::sregex_iterator m(cells[0].begin(), cells[0].end(), quoted), end; m != end; ++m) {
      std::string word = (*m)[1];
      (word[0] == '_' ? forms : names).push_back(word);
    }
    if (names.empty()) continue;
    size_t plain = names.size();
    for (size_t n = 0; n < plain; ++n) {
      for (const std::string& form : forms) names.push_back(names[n] + form);
    }
    rows.push_back({names, std::string(psink::Trim(cells[1]))});
  }
  return rows;
}

std::string Join(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

TEST_CASE("the README's options table lists exactly the options of the option table") {
  std::set<std::string> readme;
  for (const ReadmeRow& row : ReadmeOptionRows()) {
    for (const std::string& name : row.names) {
      CHECK_MESSAGE(readme.insert(name).second, "the README lists '" << name << "' twice");
    }
  }
  const std::set<std::string> table(OptionNames().begin(), OptionNames().end());
  CHECK(table.size() == OptionNames().size());
  std::set<std::string> only_readme, only_table;
  std::set_difference(readme.begin(), readme.end(), table.begin(), table.end(),
                      std::inserter(only_readme, only_readme.end()));
  std::set_difference(table.begin(), table.end(), readme.begin(), readme.end(),
                      std::inserter(only_table, only_table.end()));
  CHECK_MESSAGE(only_readme.empty(), "in the README's options table but not in kOptions: " << Join(only_readme));
  CHECK_MESSAGE(only_table.empty(), "in kOptions but not in the README's options table: " << Join(only_table));
}

TEST_CASE("the README's defaults are the defaults of SinkOptions") {
  // A default written as one `value` must be what SinkOptions holds when the
  // option is not given, and giving that value must change nothing; "none"
  // means that it holds nothing. Other texts ("automatic (up to `8`)",
  // "system CAs") are prose, not checked.
  const SinkOptions defaults;
  const std::regex literal("`([^`]*)`");
  int checked = 0;
  for (const ReadmeRow& row : ReadmeOptionRows()) {
    for (const std::string& name : row.names) {
      const OptionSpec* spec = SpecNamed(name);
      if (spec == nullptr) continue;  // a _file or _env form
      CAPTURE(name);
      CAPTURE(row.default_cell);
      std::optional<std::string> value = OptionValue(*spec, defaults);
      std::smatch m;
      if (std::regex_match(row.default_cell, m, literal)) {
        REQUIRE_MESSAGE(value.has_value(), "the README gives a default that the option table cannot read back");
        CHECK_FALSE(value->empty());
        SinkOptions given;
        Status st = psink::ApplyOption(name, m[1], &given);
        INFO("message: ", st.message());
        REQUIRE(st.ok());
        CHECK(OptionValue(*spec, given).value_or("(none)") == *value);
        ++checked;
      } else if (row.default_cell == "none") {
        CHECK(value.value_or("").empty());
        ++checked;
      }
    }
  }
  CHECK(checked >= 30);  // the rule above reads most rows, not none of them
}

TEST_CASE("the option table: OptionValue reads what OptionsFromArgs set") {
  SinkOptions o = ParseOk({kUrl, "batch_size=7", "spool=on", "timestamp_unit=ns", "protocol=2.0",
                           "metric_type=Gauge", "key_label=lbl", "headers='{\"X-A\": \"1\"}'"});
  CHECK(OptionValue(*SpecNamed("batch_size"), o) == "7");
  CHECK(OptionValue(*SpecNamed("spool"), o) == "true");
  CHECK(OptionValue(*SpecNamed("timestamp_unit"), o) == "ns");
  CHECK(OptionValue(*SpecNamed("protocol"), o) == "2.0");
  CHECK(OptionValue(*SpecNamed("metric_type"), o) == "gauge");
  CHECK(OptionValue(*SpecNamed("key_label"), o) == "lbl");
  CHECK(OptionValue(*SpecNamed("url"), o) == "http://127.0.0.1:9090/api/v1/write");
  CHECK_FALSE(OptionValue(*SpecNamed("headers"), o).has_value());       // kJsonObject: not read back
  CHECK_FALSE(OptionValue(*SpecNamed("bearer_token"), o).has_value());  // kCredential: never read back
  CHECK(OptionValue(*SpecNamed("metric_type"), ParseOk({kUrl})) == "");  // no metadata
}

TEST_CASE("the option table: every name is accepted, and a typo of any name suggests it") {
  for (const std::string& name : OptionNames()) {
    CAPTURE(name);
    SinkOptions o;
    Status st = psink::ApplyOption(name, "", &o);  // empty: refused, but as this option
    CHECK(st.message().rfind("unknown option", 0) == std::string::npos);
    CHECK(st.message().find("'" + name + "'") != std::string::npos);
    std::string typo = name + "z=1";
    CHECK(ParseError({typo}) == "unknown option '" + name + "z' (did you mean '" + name + "'?)");
  }
  CHECK(OptionNames().size() == 65);  // 53 rows, 6 of them credentials with a _file and an _env form
  SinkOptions o;
  CHECK(psink::ApplyOption("bearer_token_path", "x", &o).message() ==
        "unknown option 'bearer_token_path' (did you mean 'bearer_token_file'?)");
}

TEST_CASE("the option table: what it calls secret is never shown, URLs are masked, the rest is shown") {
  int secret = 0, masked = 0, shown = 0;
  for (const std::string& name : OptionNames()) {
    CAPTURE(name);
    const OptionSpec* spec = SpecNamed(name);
    // A credential's _file and _env forms hold a path or a variable name.
    OptionSecrecy secrecy = spec ? spec->secrecy : OptionSecrecy::kShown;
    std::string arg = name + "='http://user:s3cr3t@h/x";  // an unclosed quote: the message quotes the value
    std::string msg = ParseError({arg}, /*add_url=*/name != "url");
    switch (secrecy) {
      case OptionSecrecy::kSecret:
        CHECK(msg == "option '" + name + "': missing closing quote in the value (not shown)");
        ++secret;
        break;
      case OptionSecrecy::kMaskedUrl:
        CHECK(msg == "option '" + name + "': missing closing quote in ''http://***@h/x'");
        ++masked;
        break;
      case OptionSecrecy::kShown:
        CHECK(msg == "option '" + name + "': missing closing quote in ''http://user:s3cr3t@h/x'");
        ++shown;
        break;
    }
  }
  // headers, oauth2_params and the six credentials' inline forms; url,
  // proxy_url, oauth2_token_url, query_url.
  CHECK(secret == 8);
  CHECK(masked == 4);
  CHECK(shown == 65 - 8 - 4);
  for (const OptionSpec& spec : OptionTable()) {
    if (spec.kind == OptionKind::kCredential) CHECK(spec.secrecy == OptionSecrecy::kSecret);
  }
}
