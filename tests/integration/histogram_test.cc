// Integration tests of native histograms and exemplars: rows with the
// hidden `histogram` and `exemplar` columns (and prometheus_histogram()
// feeding them) inserted through the SQLite C API, and exactly what the
// test receiver decoded from the 1.0 and 2.0 requests: absolute bucket
// counts, count, sum, schema, zero threshold and count, reset hint,
// exemplars. Suites: histograms, exemplars, histogram_func.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <map>
#include <string>
#include <vector>

#include "harness.h"
#include "receiver.h"

using namespace harness;

namespace {

std::string Hists(const Receiver& rx) {
  std::string out;
  for (const auto& h : rx.Histograms()) out += h.ToString() + "\n";
  return out;
}

std::string Exemplars(const Receiver& rx) {
  std::string out;
  for (const auto& e : rx.Exemplars()) out += e.ToString() + "\n";
  return out;
}

// Every row of a one-column query, as text, one a line.
std::string Rows(Db& db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &st, nullptr) == SQLITE_OK, sqlite3_errmsg(db.get()));
  std::string out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    out += (t ? reinterpret_cast<const char*>(t) : "NULL") + std::string("\n");
  }
  sqlite3_finalize(st);
  REQUIRE_MESSAGE(rc == SQLITE_DONE, sqlite3_errmsg(db.get()));
  return out;
}

// Three histograms covering schema -2, 0 and 3, integer and float counts,
// positive, negative and zero buckets, gaps between spans, every reset hint
// but gauge, a custom zero threshold.
const char* const kInsertThree = R"(
  INSERT INTO m(labels, histogram, timestamp) VALUES
    ('{"__name__":"lat","k":"a"}', '{"schema":-2,"count":20,"sum":123.25,"zero_threshold":0.001,"zero_count":3,
       "positive":{"-1":1,"0":2,"4":5,"5":1},"negative":{"2":4,"9":1},"reset":"yes"}', 1000),
    ('{"__name__":"lat","k":"b"}', '{"schema":0,"sum":-0.5,"zero_count":0.5,
       "positive":{"-3":1.25,"1":2.5},"negative":{"0":0.75,"3":1e-3},"reset":"no"}', 2000),
    ('{"__name__":"lat","k":"c"}', '{"schema":3,"count":12,"sum":"NaN","positive":{"-8":1,"-7":2,"0":3,"40":4},
       "negative":{}}', 3000))";

const char* const kExpectedThree =
    "{__name__=\"lat\",k=\"a\"} 1000 int schema=-2 count=20 sum=123.25 zt=0.001 zc=3 reset=yes "
    "pos{-1:1,0:2,4:5,5:1} neg{2:4,9:1}\n"
    "{__name__=\"lat\",k=\"b\"} 2000 float schema=0 count=5.0009999999999994 sum=-0.5 "
    "zt=2.9387358770557188e-39 zc=0.5 reset=no pos{-3:1.25,1:2.5} neg{0:0.75,3:0.001}\n"
    "{__name__=\"lat\",k=\"c\"} 3000 int schema=3 count=12 sum=nan zt=2.9387358770557188e-39 zc=0 reset=unknown "
    "pos{-8:1,-7:2,0:3,40:4} neg{}\n";

}  // namespace

TEST_SUITE("histograms") {

TEST_CASE("histograms of schema -2, 0 and 3, integer and float, arrive exactly in 1.0 and 2.0") {
  for (const char* protocol : {"1.0", "2.0"}) {
    CAPTURE(protocol);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), std::string("protocol='") + protocol + "'");
    db.Ok(kInsertThree);
    REQUIRE(rx.RequestCount() == 1);
    CHECK(rx.Requests()[0].is_v2() == (std::string(protocol) == "2.0"));
    CHECK(Hists(rx) == kExpectedThree);
    CHECK(rx.Samples().empty());
    CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats") == 3);
    CHECK(db.Int("SELECT histograms_sent FROM prometheus_sink_stats") == 3);
    CHECK(db.Int("SELECT samples_not_written FROM prometheus_sink_stats") == 0);
    CheckNoViolations(rx);
  }
}

TEST_CASE("a series with float samples and histograms goes as two TimeSeries; metric_type='gaugehistogram' makes gauges") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "metric_type='gaugehistogram'");
  db.Ok(R"(INSERT INTO m(labels, value, histogram, timestamp) VALUES
            ('{"__name__":"x"}', NULL, '{"schema":0,"sum":1,"positive":{"0":1}}', 2000),
            ('{"__name__":"x"}', 5, NULL, 1000),
            ('{"__name__":"x"}', NULL, '{"schema":0,"sum":2,"positive":{"1":1},"reset":"unknown"}', 1000))");
  REQUIRE(rx.RequestCount() == 1);
  const auto req = rx.Requests()[0];
  REQUIRE(req.write.timeseries_size() == 2);
  CHECK(req.write.timeseries(0).samples_size() == 1);
  CHECK(req.write.timeseries(1).histograms_size() == 2);
  CHECK(Hists(rx) ==
        "{__name__=\"x\"} 1000 int schema=0 count=1 sum=2 zt=2.9387358770557188e-39 zc=0 reset=gauge pos{1:1} neg{}\n"
        "{__name__=\"x\"} 2000 int schema=0 count=1 sum=1 zt=2.9387358770557188e-39 zc=0 reset=gauge pos{0:1} neg{}\n");
  CHECK(Joined(rx.Samples()) == S("{__name__=\"x\"}", 1000, 5));
  CheckNoViolations(rx);

  Outcome o = db.Exec(R"(INSERT INTO m(labels, histogram, timestamp) VALUES ('{"__name__":"x"}', '{"schema":0,"sum":1,"reset":"yes"}', 3000))");
  CHECK(o.rc == SQLITE_CONSTRAINT);
  CHECK(o.msg ==
        R"(prometheus_sink: column 'histogram': reset "yes" contradicts metric_type='gaugehistogram' (its histograms are gauges) in '{"schema":0,"sum":1,"reset":"yes"}')");
}

TEST_CASE("bad histograms are refused naming the column; INSERT OR IGNORE skips them and sends the rest") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "key_histogram='dist'");
  const std::string bad[] = {
      R"('{"schema":3,"sum":1,')",
      R"('{"schema":12,"sum":1}')",
      R"('{"schema":3,"sum":1,"positive":{"x":1}}')",
      R"('{"schema":3,"sum":1,"positive":{"1":1,"1":2}}')",
      R"('{"schema":3,"sum":1,"negative":{"1":-2}}')",
      R"('{"schema":3,"sum":1,"count":1,"positive":{"1":2}}')",
  };
  const std::string messages[] = {
      R"(prometheus_sink: column 'dist': invalid JSON at offset 20: expected a string key, found the end in '{"schema":3,"sum":1,')",
      R"(prometheus_sink: column 'dist': 'schema' must be an integer from -4 to 8, found 12 in '{"schema":12,"sum":1}')",
      R"(prometheus_sink: column 'dist': bucket key 'x' of 'positive' is not an integer bucket index (-2^30 to 2^30, no leading zeros) in '{"schema":3,"sum":1,"positive":{"x":1}}')",
      R"(prometheus_sink: column 'dist': bucket 1 appears twice in 'positive' in '{"schema":3,"sum":1,"positive":{"1":1,"1":2}}')",
      R"(prometheus_sink: column 'dist': the count of bucket 1 of 'negative' is negative (-2) in '{"schema":3,"sum":1,"negative":{"1":-2}}')",
      R"(prometheus_sink: column 'dist': 'count' is 1, smaller than zero_count plus the buckets (2) in '{"schema":3,"sum":1,"count":1,"positive":{"1":2}}')",
  };
  for (size_t i = 0; i < std::size(bad); ++i) {
    Outcome o = db.Exec("INSERT INTO m(labels, dist, timestamp) VALUES ('{\"__name__\":\"h\"}', " + bad[i] + ", 1)");
    CHECK(o.rc == SQLITE_CONSTRAINT);
    CHECK(o.msg == messages[i]);
  }
  Outcome both = db.Exec(R"(INSERT INTO m(labels, value, dist, timestamp) VALUES ('{"__name__":"h"}', 1, '{"schema":0,"sum":1}', 1))");
  CHECK(both.msg ==
        "prometheus_sink: column 'dist': a row has a value or a histogram, not both: column 'value' must be NULL when "
        "column 'dist' is set");
  CHECK(rx.RequestCount() == 0);

  std::string rows;
  for (const auto& b : bad) rows += "('{\"__name__\":\"h\"}', " + b + ", 1), ";
  db.Ok("INSERT OR IGNORE INTO m(labels, dist, timestamp) VALUES " + rows +
        R"(('{"__name__":"h"}', '{"schema":0,"sum":1,"positive":{"0":1}}', 2), ('{"__name__":"h"}', NULL, 3))");
  REQUIRE(rx.RequestCount() == 1);
  CHECK(Hists(rx) == "{__name__=\"h\"} 2 int schema=0 count=1 sum=1 zt=2.9387358770557188e-39 zc=0 reset=unknown pos{0:1} neg{}\n");
  CheckNoViolations(rx);
}

TEST_CASE("a 2.0 receiver that wrote fewer histograms or exemplars than sent is counted") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0'");
  db.Ok(R"(INSERT INTO m(labels, histogram, timestamp, exemplar) VALUES ('{"__name__":"h"}', '{"schema":0,"sum":1,"positive":{"0":1}}', 1, '{"value":1}'))");
  rx.Enqueue(Response::Status(204, "", {{"X-Prometheus-Remote-Write-Samples-Written", "1"},
                                        {"X-Prometheus-Remote-Write-Histograms-Written", "1"},
                                        {"X-Prometheus-Remote-Write-Exemplars-Written", "0"}}));
  db.Ok(R"(INSERT INTO m(labels, value, histogram, timestamp, exemplar) VALUES
           ('{"__name__":"h"}', NULL, '{"schema":0,"sum":1,"positive":{"0":1}}', 2, '{"value":1}'),
           ('{"__name__":"h"}', NULL, '{"schema":0,"sum":1,"positive":{"0":1}}', 3, NULL),
           ('{"__name__":"f"}', 5, NULL, 3, '{}'))");
  CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats") == 4);
  CHECK(db.Int("SELECT histograms_sent FROM prometheus_sink_stats") == 3);
  CHECK(db.Int("SELECT exemplars_sent FROM prometheus_sink_stats") == 3);
  CHECK(db.Int("SELECT samples_not_written FROM prometheus_sink_stats") == 1);  // 2 histograms sent, 1 written
  CHECK(db.Int("SELECT exemplars_not_written FROM prometheus_sink_stats") == 2);
  CheckNoViolations(rx);
}

TEST_CASE("savepoints, several senders and small batches keep each row's histogram and exemplar with it") {
  // A savepoint rolled back inside one batch; then small batches over four
  // senders (rows taken from the buffer in parts, sharded by series).
  for (const char* options : {"batch_size=1000", "batch_size=3, max_in_flight=4"}) {
    CAPTURE(options);
    const bool savepoint = std::string(options) == "batch_size=1000";
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), options);
    db.Ok("CREATE TABLE src(i INTEGER)");
    db.Ok("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) INSERT INTO src SELECT i FROM n");
    db.Ok("BEGIN");
    // Rows alternate: plain float, float with an exemplar, histogram with an exemplar.
    const std::string insert = R"(INSERT INTO m(labels, value, histogram, timestamp, exemplar)
        SELECT json_object('__name__', 'x', 's', i % 5), CASE WHEN i % 3 = 2 THEN NULL ELSE i END,
               CASE WHEN i % 3 = 2 THEN json_object('schema', 0, 'sum', i, 'positive', json_object(CAST(i AS TEXT), i)) END, i,
               CASE WHEN i % 3 > 0 THEN json_object('labels', json_object('n', 'e' || i), 'value', -i) END
        FROM src WHERE i BETWEEN )";
    db.Ok(insert + "1 AND 20");
    if (savepoint) {
      db.Ok("SAVEPOINT sp");
      db.Ok(insert + "21 AND 30");
      db.Ok("ROLLBACK TO sp");
    }
    db.Ok(insert + "31 AND 40");
    db.Ok("COMMIT");
    size_t floats = 0, histograms = 0, exemplars = 0;
    for (int i = 1; i <= 40; ++i) {
      if (i >= 21 && i <= 30) continue;
      (i % 3 == 2 ? histograms : floats)++;
      exemplars += i % 3 > 0;
    }
    for (const auto& h : rx.Histograms()) {
      CHECK(h.positive.size() == 1);
      CHECK(h.positive.begin()->first == h.ts);  // bucket i holds i, at time i
      CHECK(h.positive.begin()->second == static_cast<double>(h.ts));
      CHECK(h.ts % 3 == 2);
      CHECK((h.ts < 21 || h.ts > 30));
    }
    for (const auto& e : rx.Exemplars()) {
      CHECK(e.labels == "{n=\"e" + std::to_string(e.ts) + "\"}");
      CHECK(e.value_bits == testrx::Bits(-static_cast<double>(e.ts)));
      CHECK(e.histogram_series == (e.ts % 3 == 2));
    }
    CHECK(rx.Histograms().size() == histograms);
    CHECK(rx.Exemplars().size() == exemplars);
    CHECK(rx.Samples().size() == floats);
    CHECK(db.Int("SELECT histograms_sent FROM prometheus_sink_stats") == static_cast<int64_t>(histograms));
    CHECK(db.Int("SELECT exemplars_sent FROM prometheus_sink_stats") == static_cast<int64_t>(exemplars));
    CheckNoViolations(rx);
    CheckSeriesOrder(rx);
  }
}

}  // TEST_SUITE("histograms")

TEST_SUITE("exemplars") {

TEST_CASE("exemplars arrive exactly in 1.0 and 2.0, with the row's value and timestamp by default") {
  for (const char* protocol : {"1.0", "2.0"}) {
    CAPTURE(protocol);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), std::string("protocol='") + protocol + "', key_exemplar='ex'");
    db.Ok(R"(INSERT INTO m(labels, value, timestamp, ex) VALUES
              ('{"__name__":"requests_total"}', 10, 1000, '{"labels":{"trace_id":"4bf92f3577b34da6","span_id":"00f067aa"},"value":0.042}'),
              ('{"__name__":"requests_total"}', 11, 2000, '{"labels":{"trace_id":"é✓"}}'),
              ('{"__name__":"requests_total"}', 12, 3000, NULL),
              ('{"__name__":"requests_total"}', 13, 4000, '{"labels":{"trace_id":"t"},"value":"NaN","timestamp":3500}'))");
    db.Ok(R"(INSERT INTO m(labels, histogram, timestamp, ex) VALUES
              ('{"__name__":"latency_seconds"}', '{"schema":0,"sum":0.5,"positive":{"-1":1}}', 5000, '{"labels":{"trace_id":"h"},"value":0.5}'))");
    CHECK(Exemplars(rx) ==
          "{__name__=\"requests_total\"} {span_id=\"00f067aa\",trace_id=\"4bf92f3577b34da6\"} 1000 0.042000000000000003 (0x3fa5810624dd2f1b)\n"
          "{__name__=\"requests_total\"} {trace_id=\"é✓\"} 2000 11 (0x4026000000000000)\n"
          "{__name__=\"requests_total\"} {trace_id=\"t\"} 3500 nan (0x7ff8000000000000)\n"
          "{__name__=\"latency_seconds\"} [histograms] {trace_id=\"h\"} 5000 0.5 (0x3fe0000000000000)\n");
    CHECK(db.Int("SELECT exemplars_sent FROM prometheus_sink_stats") == 4);
    CheckNoViolations(rx);
  }
}

TEST_CASE("bad exemplars are refused naming the column; a histogram row's exemplar needs a value") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  const std::string long_trace(125, 'a');
  Outcome o = db.Exec(R"(INSERT INTO m(labels, value, timestamp, exemplar) VALUES ('{"__name__":"c"}', 1, 1, '{"labels":{"trace_id":")" +
                      long_trace + R"("}}'))");
  CHECK(o.rc == SQLITE_CONSTRAINT);
  CHECK(o.msg ==
        "prometheus_sink: column 'exemplar': the exemplar's labels have 133 UTF-8 characters (names and values), more "
        "than Prometheus's limit of 128 in '{\"labels\":{\"trace_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
  o = db.Exec(R"(INSERT INTO m(labels, value, timestamp, exemplar) VALUES ('{"__name__":"c"}', 1, 1, '{"labels":{"1x":"a"}}'))");
  CHECK(o.msg ==
        R"(prometheus_sink: column 'exemplar': invalid exemplar label name '1x' (expected [a-zA-Z_][a-zA-Z0-9_]*) in '{"labels":{"1x":"a"}}')");
  o = db.Exec(R"(INSERT INTO m(labels, histogram, timestamp, exemplar) VALUES ('{"__name__":"c"}', '{"schema":0,"sum":0}', 1, '{"labels":{}}'))");
  CHECK(o.msg ==
        R"(prometheus_sink: column 'exemplar': 'value' is required on a histogram row (the row has no value to default to) in '{"labels":{}}')");
  o = db.Exec(R"(INSERT INTO m(labels, value, timestamp, exemplar) VALUES ('{"__name__":"c"}', 1, 1, x'00'))");
  CHECK(o.msg == "prometheus_sink: column 'exemplar': expected TEXT holding an exemplar as JSON, found BLOB");
  db.Ok(R"(INSERT OR IGNORE INTO m(labels, value, timestamp, exemplar) VALUES
           ('{"__name__":"c"}', 1, 1, '{"labels":{"1x":"a"}}'), ('{"__name__":"c"}', 2, 2, '{"labels":{"ok":"b"}}'))");
  CHECK(Exemplars(rx) == "{__name__=\"c\"} {ok=\"b\"} 2 2 (0x4000000000000000)\n");
  CheckNoViolations(rx);
}

}  // TEST_SUITE("exemplars")

TEST_SUITE("histogram_func") {

TEST_CASE("GROUP BY a time window: one histogram per window, as the sink receives it") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "metric='latency_seconds', route, metric_type='gaugehistogram'");
  db.Ok(R"(CREATE TABLE ev(route TEXT, seconds, ts INTEGER);
           INSERT INTO ev VALUES ('/a', 0.5, 1000), ('/a', 1, 2000), ('/a', 1.0905077326652577, 3000), ('/a', 0, 4000),
                                 ('/a', -2, 5000), ('/a', 'NaN', 6000), ('/a', '+Inf', 7000), ('/a', NULL, 8000),
                                 ('/b', 3, 61000), ('/b', 4, 62000))");
  CHECK(Rows(db, "SELECT prometheus_histogram(seconds) FROM ev WHERE route = '/a'") ==
        R"({"schema":3,"count":7,"sum":"NaN","zero_threshold":2.938735877055719e-39,"zero_count":1,"positive":{"-8":1,"0":1,"1":1,"8193":1},"negative":{"8":1}})"
        "\n");
  db.Ok(R"(INSERT INTO m(route, histogram, timestamp)
           SELECT route, prometheus_histogram(seconds, 0), (ts / 60000) * 60000 + 59999 FROM ev
           GROUP BY route, ts / 60000 ORDER BY 3)");
  CHECK(Hists(rx) ==
        "{__name__=\"latency_seconds\",route=\"/a\"} 59999 int schema=0 count=7 sum=nan zt=2.9387358770557188e-39 zc=1 "
        "reset=gauge pos{-1:1,0:1,1:1,1025:1} neg{1:1}\n"
        "{__name__=\"latency_seconds\",route=\"/b\"} 119999 int schema=0 count=2 sum=7 zt=2.9387358770557188e-39 zc=0 "
        "reset=gauge pos{2:2} neg{}\n");
  CheckNoViolations(rx);
}

TEST_CASE("the window form gives running totals, and a sliding frame takes rows back (xInverse)") {
  Db db;
  db.Ok("CREATE TABLE ev(seconds REAL, ts INTEGER); INSERT INTO ev VALUES (0.3, 1), (0.6, 2), (1.5, 3), (0.3, 4)");
  CHECK(Rows(db, "SELECT json_extract(prometheus_histogram(seconds, 0) OVER (ORDER BY ts), '$.positive') FROM ev") ==
        "{\"-1\":1}\n{\"-1\":1,\"0\":1}\n{\"-1\":1,\"0\":1,\"1\":1}\n{\"-1\":2,\"0\":1,\"1\":1}\n");
  CHECK(Rows(db, "SELECT json_extract(prometheus_histogram(seconds, 0) OVER (ORDER BY ts ROWS 1 PRECEDING), '$.positive') "
                 "FROM ev") ==
        "{\"-1\":1}\n{\"-1\":1,\"0\":1}\n{\"0\":1,\"1\":1}\n{\"-1\":1,\"1\":1}\n");
  CHECK(Rows(db, "SELECT json_extract(prometheus_histogram(seconds, 0) OVER (ORDER BY ts ROWS 1 PRECEDING), '$.sum') "
                 "FROM ev") == "0.3\n0.9\n2.1\n1.8\n");
  CHECK(Rows(db, "SELECT prometheus_histogram(seconds) FROM ev WHERE 0") == "NULL\n");
  Outcome o = db.Exec("SELECT prometheus_histogram(seconds, 9) FROM ev");
  CHECK(o.msg == "prometheus_sink: prometheus_histogram(): the schema must be an integer from -4 to 8, found '9'");
  o = db.Exec("SELECT prometheus_histogram(seconds, ts % 2) FROM ev");
  CHECK(o.msg == "prometheus_sink: prometheus_histogram(): the schema must be the same in every row of a group (1 and 0)");
  o = db.Exec("SELECT prometheus_histogram('fast') FROM ev");
  CHECK(o.msg == "prometheus_sink: prometheus_histogram(): expected a number, NaN, Inf or -Inf, found 'fast'");
}

}  // TEST_SUITE("histogram_func")
