// Integration tests: the built extension (EXT_PATH) loaded into an in-memory
// SQLite database through the C API, sinks pointed at the in-process test
// receiver (tests/receiver), SQL run as a user would, and the exact requests
// and samples the receiver got asserted. Every test also asserts that the
// receiver saw no remote-write protocol violation.
//
// One TEST_SUITE per concern; meson registers one test per suite
// (--test-suite=<name>).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "harness.h"  // Db, Outcome, S, Joined, ... (shared with hardening_test.cc)
#include "receiver.h"

using namespace harness;

// =================================================================== autocommit

TEST_SUITE("autocommit") {

TEST_CASE("an autocommit INSERT of 3 rows sends one request, grouped by series and ordered by time") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  // Rows out of order within the series job="b"; label names out of order in the JSON.
  db.Ok(R"(INSERT INTO m(labels, value, timestamp) VALUES
            ('{"job":"b","__name__":"up","zone":"z1"}', 1.5, 1700000002000),
            ('{"__name__":"up","job":"a"}', 0.25, 1700000001000),
            ('{"zone":"z1","__name__":"up","job":"b"}', -2, 1700000000000))");
  REQUIRE(rx.RequestCount() == 1);
  auto req = rx.Requests()[0];
  CHECK(req.target == "/api/v1/write");
  CHECK(req.answered_status == 204);
  CHECK(req.write.timeseries_size() == 2);  // two series, each once
  CHECK(Joined(BySeries(rx.Samples())) ==
        S("{__name__=\"up\",job=\"a\"}", 1700000001000, 0.25) +
        S("{__name__=\"up\",job=\"b\",zone=\"z1\"}", 1700000000000, -2) +
        S("{__name__=\"up\",job=\"b\",zone=\"z1\"}", 1700000002000, 1.5));
  CheckNoViolations(rx);
}

TEST_CASE("each autocommit INSERT is its own request; nothing is sent twice") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"a"}', 1, 1000))");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"a"}', 2, 2000))");
  CHECK(rx.RequestCount() == 2);
  CHECK(RequestSizes(rx) == "1,1");
  CHECK(Joined(rx.Samples()) == S("{__name__=\"a\"}", 1000, 1) + S("{__name__=\"a\"}", 2000, 2));
  CheckNoViolations(rx);
}

TEST_CASE("values arrive bit-exact") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  // SQL numbers must arrive as the very double SQLite hands over (asked from
  // SQLite itself); text is parsed by the sink and must round correctly.
  struct Case {
    const char* sql;
    bool from_sqlite;
    double expected;
  };
  const Case cases[] = {
      {"0.1", true, 0},
      {"1e308", true, 0},
      {"4.9406564584124654e-324", true, 0},
      {"9007199254740993", true, 0},  // INTEGER: nearest double
      {"-9223372036854775808", true, 0},
      {"0.30000000000000004", true, 0},
      {"'-1.25e-7'", false, -1.25e-7},
      {"'0.1'", false, 0.1},
      {"'+Inf'", false, INFINITY},
      {"'-Inf'", false, -INFINITY},
      {"'1.7976931348623157e308'", false, 1.7976931348623157e308},
      {"'2.2250738585072011e-308'", false, 2.2250738585072011e-308},
  };
  std::string sql = "INSERT INTO m VALUES ";
  std::string expected;
  int i = 0;
  for (const Case& c : cases) {
    char id[8];
    std::snprintf(id, sizeof id, "%02d", ++i);
    if (i > 1) sql += ", ";
    sql += std::string("('{\"__name__\":\"v\",\"i\":\"") + id + "\"}', " + c.sql + ", 1)";
    double want = c.from_sqlite ? db.Double(std::string("SELECT ") + c.sql) : c.expected;
    expected += S(std::string("{__name__=\"v\",i=\"") + id + "\"}", 1, want);
  }
  sql += R"(, ('{"__name__":"v","i":"99"}', 'stale', 1))";
  expected += testrx::Sample{"{__name__=\"v\",i=\"99\"}", 1, 0x7ff0000000000002ULL}.ToString() + "\n";
  db.Ok(sql);
  REQUIRE(rx.RequestCount() == 1);
  CHECK(Joined(BySeries(rx.Samples())) == expected);
  CheckNoViolations(rx);
}

TEST_CASE("a label set seen before decodes exactly as the first time: every value and timestamp form, both units") {
  // The first row of a label set is decoded in full; later rows with the
  // same label inputs take a shortcut (Sink::InsertKnown) unless they need
  // more than it does. Every row here repeats label inputs seen before.
  const uint64_t kStale = 0x7ff0000000000002ULL;
  for (const std::string unit : {"ms", "s"}) {
    CAPTURE(unit);
    const int64_t k = unit == "ms" ? 1 : 1000;  // ms per unit
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), "timestamp_unit=" + unit);
    db.Ok("CREATE VIRTUAL TABLE temp.w USING prometheus_sink(url='" + rx.url() +
          "', metric='wm', host, zone, timestamp_unit=" + unit + ")");
    db.Ok("BEGIN");
    db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"j","a":"1"}', 1.5, 10),
                                  ('{"__name__":"j","a":"1"}', 2, 20),
                                  ('{"__name__":"j","a":"1"}', '2.5', 30),
                                  ('{"__name__":"j","a":"1"}', 'stale', 40),
                                  ('{"__name__":"j","a":"1"}', 3, 50.5),
                                  ('{"__name__":"j","a":"1"}', 4, '1970-01-01T00:01:00Z'))");
    db.Ok(R"(INSERT INTO w(host, zone, value, timestamp) VALUES
               ('a', 7, 1.5, 10), ('a', 7, 2, 20), ('a', '7', 3, 30), ('a', 7, 'stale', 40),
               ('a', NULL, 4, 10), ('a', NULL, 5, 20), ('a', '', 6, 30), (1, 7, 7, 10), (1, 7, 8, 20.5))");
    // A bad value or timestamp in a row whose labels are known is still refused.
    Outcome bad = db.Exec(R"(INSERT INTO w(host, zone, value, timestamp) VALUES ('a', 7, 'x', 50))");
    CHECK(bad.rc == SQLITE_CONSTRAINT);
    CHECK(Contains(bad.msg, "'value'"));
    bad = db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"j","a":"1"}', 5, 'later'))");
    CHECK(bad.rc == SQLITE_CONSTRAINT);
    CHECK(Contains(bad.msg, "'timestamp'"));
    db.Ok("COMMIT");
    const std::string j = "{__name__=\"j\",a=\"1\"}";
    const std::string a7 = "{__name__=\"wm\",host=\"a\",zone=\"7\"}";
    const std::string a = "{__name__=\"wm\",host=\"a\"}";
    const std::string one7 = "{__name__=\"wm\",host=\"1\",zone=\"7\"}";
    CHECK(Joined(BySeries(rx.Samples())) ==
          S(j, 10 * k, 1.5) + S(j, 20 * k, 2) + S(j, 30 * k, 2.5) + testrx::Sample{j, 40 * k, kStale}.ToString() +
              "\n" + S(j, unit == "ms" ? 50 : 50500, 3) + S(j, 60000, 4) +
              S(one7, 10 * k, 7) + S(one7, unit == "ms" ? 20 : 20500, 8) +
              S(a7, 10 * k, 1.5) + S(a7, 20 * k, 2) + S(a7, 30 * k, 3) + testrx::Sample{a7, 40 * k, kStale}.ToString() +
              "\n" + S(a, 10 * k, 4) + S(a, 20 * k, 5) + S(a, 30 * k, 6));
    CheckNoViolations(rx);
  }
}

TEST_CASE("NaN arrives as a NaN that is not the stale marker") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"n"}', 'NaN', 5))");
  auto samples = rx.Samples();
  REQUIRE(samples.size() == 1);
  CHECK(std::isnan(samples[0].value()));
  CHECK(samples[0].value_bits != 0x7ff0000000000002ULL);
  CheckNoViolations(rx);
}

}  // TEST_SUITE autocommit

// =================================================================== batching

TEST_SUITE("batching") {

TEST_CASE("batch_size=2 with 5 rows in a transaction: 2 and 2 before COMMIT, 1 at COMMIT") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "batch_size=2");
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES
            ('{"__name__":"b"}', 1, 1000), ('{"__name__":"b"}', 2, 2000), ('{"__name__":"b"}', 3, 3000),
            ('{"__name__":"b"}', 4, 4000), ('{"__name__":"b"}', 5, 5000))");
  // Full batches go out before COMMIT (pipelined sending may still be finishing the second).
  rx.WaitForRequests(2, std::chrono::seconds(10));
  CHECK(rx.RequestCount() == 2);
  CHECK(RequestSizes(rx) == "2,2");
  db.Ok("COMMIT");
  CHECK(rx.RequestCount() == 3);
  CHECK(RequestSizes(rx) == "2,2,1");
  CHECK(Joined(rx.Samples()) == S("{__name__=\"b\"}", 1000, 1) + S("{__name__=\"b\"}", 2000, 2) +
                                    S("{__name__=\"b\"}", 3000, 3) + S("{__name__=\"b\"}", 4000, 4) +
                                    S("{__name__=\"b\"}", 5000, 5));
  CheckNoViolations(rx);
}

TEST_CASE("rows of several statements in one transaction go in one request at COMMIT") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"t","s":"1"}', 1, 1000))");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"t","s":"2"}', 2, 1000))");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"t","s":"1"}', 3, 500))");
  CHECK(rx.RequestCount() == 0);
  db.Ok("COMMIT");
  REQUIRE(rx.RequestCount() == 1);
  CHECK(rx.Requests()[0].write.timeseries_size() == 2);
  CHECK(Joined(BySeries(rx.Samples())) == S("{__name__=\"t\",s=\"1\"}", 500, 3) +
                                              S("{__name__=\"t\",s=\"1\"}", 1000, 1) +
                                              S("{__name__=\"t\",s=\"2\"}", 1000, 2));
  CheckNoViolations(rx);
}


TEST_CASE("nothing to send means no request") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok("CREATE TABLE t(x)");
  db.Ok("BEGIN");
  db.Ok("COMMIT");
  db.Ok("INSERT INTO t VALUES (1)");
  db.Ok(R"(INSERT INTO m SELECT '{"__name__":"z"}', 1, 1000 WHERE 0)");
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"z"}', 1, 1000))");
  db.Ok("ROLLBACK");
  CHECK(db.Int("SELECT prometheus_sink_flush('m')") == 0);
  CHECK(rx.RequestCount() == 0);
  CheckNoViolations(rx);
}

TEST_CASE("a full batch sent mid-transaction is not sent again at COMMIT") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "batch_size=3");
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"x"}', 1, 1000), ('{"__name__":"x"}', 2, 2000),
                                ('{"__name__":"x"}', 3, 3000))");
  rx.WaitForRequests(1, std::chrono::seconds(10));
  CHECK(rx.RequestCount() == 1);
  db.Ok("COMMIT");
  CHECK(rx.RequestCount() == 1);
  CHECK(RequestSizes(rx) == "3");
  CheckNoViolations(rx);
}

TEST_CASE("flush_interval sends an old batch at the next insert") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "flush_interval=100");
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"fi"}', 1, 1000))");
  CHECK(rx.RequestCount() == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"fi"}', 2, 2000))");
  rx.WaitForRequests(1, std::chrono::seconds(10));
  CHECK(rx.RequestCount() == 1);
  db.Ok("COMMIT");
  CHECK(rx.RequestCount() == 1);  // nothing left: no empty request
  CHECK(Joined(rx.Samples()) == S("{__name__=\"fi\"}", 1000, 1) + S("{__name__=\"fi\"}", 2000, 2));
  CheckNoViolations(rx);
}

TEST_CASE("prometheus_sink_flush sends now and returns the number of samples") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"pf"}', 1, 1000), ('{"__name__":"pf"}', 2, 2000))");
  CHECK(db.Int("SELECT prometheus_sink_flush('m')") == 2);
  CHECK(rx.RequestCount() == 1);
  db.Ok("COMMIT");
  CHECK(rx.RequestCount() == 1);
  CHECK(RequestSizes(rx) == "2");
  CheckNoViolations(rx);
}

TEST_CASE("max_request_bytes splits a batch so that no request is larger") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "max_request_bytes=1024");
  db.Ok("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100) "
        "INSERT INTO m SELECT json_object('__name__', 'split', 'k', printf('%040d', i % 70)), i, 1000 * i FROM c");
  auto reqs = rx.Requests();
  CHECK(reqs.size() > 1);
  size_t samples = 0;
  for (const auto& r : reqs) {
    CHECK(r.write.ByteSizeLong() <= 1024);
    samples += r.SampleCount();
  }
  CHECK(samples == 100);
  CHECK(rx.Samples().size() == 100);
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

}  // TEST_SUITE batching

// =================================================================== rollback

TEST_SUITE("rollback") {

TEST_CASE("ROLLBACK while a request is in flight: it completes, stays delivered and counts in the stats") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "batch_size=2");
  rx.Enqueue(Response::Slow(300));
  db.Ok("BEGIN");
  // The first two rows are a full batch, posted at once and answered after
  // 300 ms; the third waits in the buffer.
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"f"}', 1, 1000), ('{"__name__":"f"}', 2, 2000),
                                ('{"__name__":"f"}', 3, 3000))");
  db.Ok("ROLLBACK");
  CHECK(rx.RequestCount() == 1);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"f\"}", 1000, 1) + S("{__name__=\"f\"}", 2000, 2));
  CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats WHERE name = 'm'") == 2);
  CHECK(db.Int("SELECT requests FROM prometheus_sink_stats WHERE name = 'm'") == 1);
  CHECK(db.Int("SELECT rows_buffered FROM prometheus_sink_stats WHERE name = 'm'") == 0);
  CheckNoViolations(rx);
}

TEST_CASE("ROLLBACK discards unsent rows") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"r"}', 1, 1000), ('{"__name__":"r"}', 2, 2000))");
  db.Ok("ROLLBACK");
  CHECK(rx.RequestCount() == 0);
  // The next transaction carries only its own rows.
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"r"}', 3, 3000))");
  CHECK(rx.RequestCount() == 1);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"r\"}", 3000, 3));
  CheckNoViolations(rx);
}

TEST_CASE("SAVEPOINT and ROLLBACK TO keep exactly the surviving rows") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"s"}', 1, 1000))");
  db.Ok("SAVEPOINT a");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"s"}', 2, 2000))");
  db.Ok("SAVEPOINT b");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"s"}', 3, 3000))");
  db.Ok("ROLLBACK TO b");  // drops 3
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"s"}', 4, 4000))");
  db.Ok("RELEASE b");
  db.Ok("SAVEPOINT c");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"s"}', 5, 5000))");
  db.Ok("ROLLBACK TO a");  // drops 2, 4 and 5
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"s"}', 6, 6000))");
  db.Ok("RELEASE a");
  CHECK(rx.RequestCount() == 0);
  db.Ok("COMMIT");
  CHECK(rx.RequestCount() == 1);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"s\"}", 1000, 1) + S("{__name__=\"s\"}", 6000, 6));
  CheckNoViolations(rx);
}

TEST_CASE("ROLLBACK TO a savepoint opened before the sink was written discards all its rows") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok("CREATE TABLE t(x)");
  db.Ok("BEGIN");
  db.Ok("INSERT INTO t VALUES (1)");
  db.Ok("SAVEPOINT early");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"e"}', 1, 1000))");
  db.Ok("SAVEPOINT late");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"e"}', 2, 2000))");
  db.Ok("ROLLBACK TO early");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"e"}', 3, 3000))");
  db.Ok("COMMIT");
  CHECK(rx.RequestCount() == 1);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"e\"}", 3000, 3));
  CHECK(db.Int("SELECT count(*) FROM t") == 1);
  CheckNoViolations(rx);
}

TEST_CASE("a SAVEPOINT used as the outer transaction") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok("SAVEPOINT outer_sp");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"o"}', 1, 1000))");
  db.Ok("SAVEPOINT inner_sp");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"o"}', 2, 2000))");
  db.Ok("ROLLBACK TO inner_sp");
  db.Ok("RELEASE outer_sp");  // commits
  CHECK(rx.RequestCount() == 1);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"o\"}", 1000, 1));
  CheckNoViolations(rx);
}

TEST_CASE("a failed multi-row INSERT inside BEGIN sends nothing of it but keeps earlier statements") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"f"}', 1, 1000))");
  Outcome bad = db.Exec(R"(INSERT INTO m VALUES
            ('{"__name__":"f"}', 2, 2000), ('{"__name__":"f"}', 'oops', 3000), ('{"__name__":"f"}', 4, 4000))");
  CHECK(bad.rc == SQLITE_CONSTRAINT);
  CHECK(StartsWith(bad.msg, "prometheus_sink:"));
  CHECK(Contains(bad.msg, "'value'"));
  CHECK(Contains(bad.msg, "oops"));
  CHECK(db.InTransaction());  // a failed statement does not end the transaction
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"f"}', 5, 5000))");
  CHECK(rx.RequestCount() == 0);
  db.Ok("COMMIT");
  CHECK(rx.RequestCount() == 1);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"f\"}", 1000, 1) + S("{__name__=\"f\"}", 5000, 5));
  CheckNoViolations(rx);
}

TEST_CASE("a failed autocommit multi-row INSERT sends nothing") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  Outcome bad = db.Exec(R"(INSERT INTO m VALUES
            ('{"__name__":"f"}', 1, 1000), ('{"__name__":"f"}', 2, 'never'))");
  CHECK(bad.rc == SQLITE_CONSTRAINT);
  CHECK(rx.RequestCount() == 0);
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"f"}', 3, 3000))");
  CHECK(rx.RequestCount() == 1);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"f\"}", 3000, 3));
  CheckNoViolations(rx);
}


TEST_CASE("ROLLBACK TO after a batch was sent keeps the sent batch and drops only unsent rows") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "batch_size=2");
  db.Ok("BEGIN");
  db.Ok("SAVEPOINT a");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"q"}', 1, 1000))");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"q"}', 2, 2000))");  // batch full: sent
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"q"}', 3, 3000))");
  rx.WaitForRequests(1, std::chrono::seconds(10));
  CHECK(rx.RequestCount() == 1);
  db.Ok("ROLLBACK TO a");  // 3 was not sent: dropped
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"q"}', 4, 4000))");
  db.Ok("COMMIT");
  CHECK(rx.RequestCount() == 2);
  CHECK(RequestSizes(rx) == "2,1");
  CHECK(Joined(rx.Samples()) == S("{__name__=\"q\"}", 1000, 1) + S("{__name__=\"q\"}", 2000, 2) +
                                    S("{__name__=\"q\"}", 4000, 4));
  CheckNoViolations(rx);
}

}  // TEST_SUITE rollback

// =================================================================== multi_sink

TEST_SUITE("multi_sink") {

TEST_CASE("two sinks written in one transaction both deliver at COMMIT") {
  Receiver rx_a, rx_b;
  Db db;
  db.Sink("a", rx_a.url());
  db.Sink("b", rx_b.url("/b/write"));
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO a VALUES ('{"__name__":"ma"}', 1, 1000))");
  db.Ok(R"(INSERT INTO b VALUES ('{"__name__":"mb"}', 2, 2000), ('{"__name__":"mb"}', 3, 3000))");
  db.Ok(R"(INSERT INTO a VALUES ('{"__name__":"ma"}', 4, 4000))");
  CHECK(rx_a.RequestCount() == 0);
  CHECK(rx_b.RequestCount() == 0);
  db.Ok("COMMIT");
  CHECK(rx_a.RequestCount() == 1);
  CHECK(rx_b.RequestCount() == 1);
  CHECK(rx_b.Requests()[0].target == "/b/write");
  CHECK(Joined(rx_a.Samples()) == S("{__name__=\"ma\"}", 1000, 1) + S("{__name__=\"ma\"}", 4000, 4));
  CHECK(Joined(rx_b.Samples()) == S("{__name__=\"mb\"}", 2000, 2) + S("{__name__=\"mb\"}", 3000, 3));
  CheckNoViolations(rx_a);
  CheckNoViolations(rx_b);
}

TEST_CASE("two sinks on one receiver, two paths") {
  Receiver rx;
  Db db;
  db.Sink("a", rx.url("/one"));
  db.Sink("b", rx.url("/two"));
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO a VALUES ('{"__name__":"x"}', 1, 1000))");
  db.Ok(R"(INSERT INTO b VALUES ('{"__name__":"y"}', 2, 1000))");
  db.Ok("COMMIT");
  REQUIRE(rx.RequestCount() == 2);
  auto reqs = rx.Requests();
  std::vector<std::string> targets = {reqs[0].target, reqs[1].target};
  std::sort(targets.begin(), targets.end());
  CHECK(targets == std::vector<std::string>{"/one", "/two"});
  CHECK(Joined(BySeries(rx.Samples())) == S("{__name__=\"x\"}", 1000, 1) + S("{__name__=\"y\"}", 1000, 2));
  CheckNoViolations(rx);
}

TEST_CASE("a 400 from one sink fails COMMIT and rolls back the ordinary table") {
  Receiver rx_ok, rx_bad;
  Db db;
  db.Ok("CREATE TABLE t(x)");
  db.Sink("good", rx_ok.url());
  db.Sink("bad", rx_bad.url(), kFastRetry);
  rx_bad.Enqueue(Response::Status(400, "sample rejected: label set is invalid"));

  SUBCASE("the failing sink is synced first: the other sends nothing") {
    db.Ok("BEGIN");
    db.Ok("INSERT INTO t VALUES (1)");
    db.Ok(R"(INSERT INTO bad VALUES ('{"__name__":"b"}', 1, 1000))");
    db.Ok(R"(INSERT INTO good VALUES ('{"__name__":"g"}', 1, 1000))");
    Outcome commit = db.Exec("COMMIT");
    CHECK(commit.rc == SQLITE_ERROR);
    CHECK(StartsWith(commit.msg, "prometheus_sink:"));
    CHECK(Contains(commit.msg, "400"));
    CHECK(Contains(commit.msg, "sample rejected: label set is invalid"));
    CHECK_FALSE(db.InTransaction());
    CHECK(db.Int("SELECT count(*) FROM t") == 0);
    CHECK(rx_bad.RequestCount() == 1);
    CHECK(rx_ok.RequestCount() == 0);
    // The rolled-back rows of 'good' are gone: the next commit carries only its own.
    db.Ok(R"(INSERT INTO good VALUES ('{"__name__":"g"}', 2, 2000))");
    CHECK(rx_ok.RequestCount() == 1);
    CHECK(Joined(rx_ok.Samples()) == S("{__name__=\"g\"}", 2000, 2));
  }
  SUBCASE("the failing sink is synced second: the first has delivered already") {
    db.Ok("BEGIN");
    db.Ok(R"(INSERT INTO good VALUES ('{"__name__":"g"}', 1, 1000))");
    db.Ok("INSERT INTO t VALUES (1)");
    db.Ok(R"(INSERT INTO bad VALUES ('{"__name__":"b"}', 1, 1000))");
    Outcome commit = db.Exec("COMMIT");
    CHECK(commit.rc == SQLITE_ERROR);
    CHECK(StartsWith(commit.msg, "prometheus_sink:"));
    CHECK(Contains(commit.msg, "400"));
    CHECK_FALSE(db.InTransaction());
    CHECK(db.Int("SELECT count(*) FROM t") == 0);
    CHECK(rx_bad.RequestCount() == 1);
    CHECK(rx_ok.RequestCount() == 1);
    CHECK(Joined(rx_ok.Samples()) == S("{__name__=\"g\"}", 1000, 1));
  }
  CHECK(rx_bad.Samples().empty());
  CheckNoViolations(rx_ok);
  CheckNoViolations(rx_bad);
}

}  // TEST_SUITE multi_sink

// =================================================================== outbox

TEST_SUITE("outbox") {

TEST_CASE("the outbox recipe loses nothing while the receiver is down and delivers once when it is back") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", retry=1");
  db.Ok("CREATE TABLE outbox(labels TEXT, value REAL, ts INTEGER)");
  db.Ok(R"(INSERT INTO outbox VALUES
            ('{"__name__":"ob","k":"a"}', 1, 1000), ('{"__name__":"ob","k":"a"}', 2, 2000),
            ('{"__name__":"ob","k":"b"}', 3, 1000), ('{"__name__":"ob","k":"b"}', 4, 2000),
            ('{"__name__":"ob","k":"c"}', 5, 1000))");
  const std::string recipe[] = {"BEGIN", "INSERT INTO m SELECT labels, value, ts FROM outbox", "DELETE FROM outbox"};

  rx.SetDefault(Response::Status(503, "down for maintenance"));
  for (const auto& sql : recipe) db.Ok(sql);
  Outcome commit = db.Exec("COMMIT");
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(StartsWith(commit.msg, "prometheus_sink:"));
  CHECK(Contains(commit.msg, "503"));
  CHECK_FALSE(db.InTransaction());
  CHECK(db.Int("SELECT count(*) FROM outbox") == 5);
  CHECK(rx.RequestCount() == 2);  // retry=1
  CHECK(rx.Samples().empty());

  rx.SetDefault(Response::Status(204));
  for (const auto& sql : recipe) db.Ok(sql);
  db.Ok("COMMIT");
  CHECK(db.Int("SELECT count(*) FROM outbox") == 0);
  CHECK(rx.RequestCount() == 3);
  CHECK(Joined(BySeries(rx.Samples())) ==
        S("{__name__=\"ob\",k=\"a\"}", 1000, 1) + S("{__name__=\"ob\",k=\"a\"}", 2000, 2) +
        S("{__name__=\"ob\",k=\"b\"}", 1000, 3) + S("{__name__=\"ob\",k=\"b\"}", 2000, 4) +
        S("{__name__=\"ob\",k=\"c\"}", 1000, 5));
  CheckNoViolations(rx);
}

}  // TEST_SUITE outbox

// =================================================================== bad_input

TEST_SUITE("bad_input") {

struct BadRow {
  const char* what;
  const char* labels;  // SQL expression
  const char* value;
  const char* ts;
  const char* column;  // the column the message must name
  const char* shown;   // text the message must show
};

TEST_CASE("bad rows fail the statement with SQLITE_CONSTRAINT, name the column, and send nothing") {
  const BadRow rows[] = {
      {"labels not an object", "'[1,2]'", "1", "1000", "lbl", "[1,2]"},
      {"labels not JSON", "'job=x'", "1", "1000", "lbl", "job=x"},
      {"no __name__", R"('{"job":"x"}')", "1", "1000", "lbl", ""},
      {"bad label name", R"('{"__name__":"m","bad-name":"x"}')", "1", "1000", "lbl", "bad-name"},
      {"label name starting with a digit", R"('{"__name__":"m","1x":"x"}')", "1", "1000", "lbl", "1x"},
      {"repeated label name", R"('{"__name__":"m","a":"1","a":"2"}')", "1", "1000", "lbl", "'a'"},
      {"nested object", R"('{"__name__":"m","a":{"b":1}}')", "1", "1000", "lbl", "'a'"},
      {"nested array", R"('{"__name__":"m","a":[1]}')", "1", "1000", "lbl", "'a'"},
      {"labels an INTEGER", "42", "1", "1000", "lbl", ""},
      {"unreadable value", R"('{"__name__":"m"}')", "'twelve'", "1000", "val", "twelve"},
      {"value with trailing junk", R"('{"__name__":"m"}')", "'1.5kg'", "1000", "val", "1.5kg"},
      {"value NULL", R"('{"__name__":"m"}')", "NULL", "1000", "val", ""},
      {"value a BLOB", R"('{"__name__":"m"}')", "x'01'", "1000", "val", ""},
      {"unreadable timestamp", R"('{"__name__":"m"}')", "1", "'yesterday'", "ts_ms", "yesterday"},
      {"impossible date", R"('{"__name__":"m"}')", "1", "'2024-13-45 10:00:00'", "ts_ms", "2024-13-45"},
  };
  for (const BadRow& row : rows) {
    std::string what = row.what;
    CAPTURE(what);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), "key_label='lbl', key_value='val', key_timestamp='ts_ms'");
    const std::string good = R"(('{"__name__":"ok"}', 1, 1000))";
    // Alone, and as one bad row among good ones.
    for (const std::string& sql :
         {"INSERT INTO m(lbl, val, ts_ms) VALUES (" + std::string(row.labels) + ", " + row.value + ", " + row.ts + ")",
          "INSERT INTO m(lbl, val, ts_ms) VALUES " + good + ", (" + row.labels + ", " + row.value + ", " + row.ts +
              "), " + good}) {
      CAPTURE(sql);
      Outcome o = db.Exec(sql);
      CHECK(o.rc == SQLITE_CONSTRAINT);
      CHECK(StartsWith(o.msg, "prometheus_sink:"));
      CHECK(Contains(o.msg, std::string("'") + row.column + "'"));
      CHECK(Contains(o.msg, row.shown));
    }
    CHECK(rx.RequestCount() == 0);
    CheckNoViolations(rx);
  }
}

TEST_CASE("INSERT OR IGNORE skips the bad rows and sends the rest") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok(R"(INSERT OR IGNORE INTO m VALUES
            ('{"__name__":"i"}', 1, 1000), ('{"__name__":"i"}', 'bad', 2000), ('{"job":"x"}', 3, 3000),
            ('{"__name__":"i"}', 4, 4000))");
  CHECK(rx.RequestCount() == 1);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"i\"}", 1000, 1) + S("{__name__=\"i\"}", 4000, 4));
  CheckNoViolations(rx);
}

TEST_CASE("null and empty label values are dropped, not sent") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"d","a":"","b":null,"c":1.50,"e":true}', 1, 1000))");
  CHECK(Joined(rx.Samples()) == S("{__name__=\"d\",c=\"1.50\",e=\"true\"}", 1000, 1));
  CheckNoViolations(rx);
}

}  // TEST_SUITE bad_input

// =================================================================== headers

TEST_SUITE("headers") {

TEST_CASE("a custom header arrives with every request") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), R"(headers='{"X-Scope-OrgID": "team-a", "X-Extra": "v 1"}')");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"h"}', 1, 1000))");
  REQUIRE(rx.RequestCount() == 1);
  auto req = rx.Requests()[0];
  CHECK(req.Header("X-Scope-OrgID") == "team-a");
  CHECK(req.HeaderCount("X-Scope-OrgID") == 1);
  CHECK(req.Header("X-Extra") == "v 1");
  CHECK(req.Header("Content-Encoding") == "snappy");
  CHECK(req.Header("Content-Type") == "application/x-protobuf");
  CHECK(req.Header("X-Prometheus-Remote-Write-Version") == "0.1.0");
  CHECK(StartsWith(req.Header("User-Agent"), "prometheus_sink/"));
  CheckNoViolations(rx);
}

TEST_CASE("headers cannot override the protocol headers") {
  Receiver rx;
  Db db;
  Outcome o = db.Exec("CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='" + rx.url() +
                      R"(', headers='{"Content-Type": "text/plain"}'))");
  if (o.ok()) {
    // Accepted: then the protocol's value must be the one sent, once.
    db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"h"}', 1, 1000))");
    CHECK(rx.RequestCount() == 1);
  } else {
    CHECK(StartsWith(o.msg, "prometheus_sink:"));
    CHECK(Contains(o.msg, "headers"));
  }
  CheckNoViolations(rx);
}

TEST_CASE("no Expect: 100-continue even for bodies over 1 MiB") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "batch_size=1000000");
  const int kRows = 200000;
  db.Ok("BEGIN");
  db.Ok("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < " + std::to_string(kRows) +
        ") INSERT INTO m(labels, value, timestamp) "
        "SELECT json_object('__name__', 'big', 'id', printf('%07d-%s', i, hex(randomblob(16)))), i, 1700000000000 + i "
        "FROM c");
  CHECK(rx.RequestCount() == 0);
  db.Ok("COMMIT");
  auto reqs = rx.Requests();
  REQUIRE(!reqs.empty());
  size_t samples = 0, largest = 0;
  for (const auto& r : reqs) {
    CHECK_FALSE(r.HasHeader("Expect"));
    samples += r.SampleCount();
    largest = std::max(largest, r.body.size());
  }
  CHECK(largest > (1u << 20));
  CHECK(samples == static_cast<size_t>(kRows));
  CHECK(rx.Samples().size() == static_cast<size_t>(kRows));
  MESSAGE(reqs.size() << " requests, largest body " << largest << " bytes");
  CheckNoViolations(rx);
}

}  // TEST_SUITE headers

// =================================================================== protocol

TEST_SUITE("protocol") {

namespace {

// The protocol of each request, e.g. "2.0,1.0,1.0".
std::string Protocols(const Receiver& rx) {
  std::string out;
  for (const auto& r : rx.Requests()) {
    if (!out.empty()) out += ",";
    out += r.is_v2() ? "2.0" : "1.0";
  }
  return out;
}

std::string JoinedMd(const std::vector<testrx::SeenMetadata>& md) {
  std::string out;
  for (const auto& m : md) out += m.ToString() + "\n";
  return out;
}

// The same, sorted: for tests that do not depend on the order of series.
std::string SortedMd(const std::vector<testrx::SeenMetadata>& md) {
  std::vector<std::string> lines;
  for (const auto& m : md) lines.push_back(m.ToString() + "\n");
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l;
  return out;
}

// The sorted symbol table of a 2.0 request, joined with '|'.
std::string SortedSymbols(const testrx::Request& r) {
  std::vector<std::string> s(r.write_v2.symbols().begin(), r.write_v2.symbols().end());
  std::sort(s.begin(), s.end());
  std::string out;
  for (const auto& x : s) out += x + "|";
  return out;
}

// Every row of prometheus_sink_stats that a protocol test looks at.
std::string Stats(Db& db, const std::string& sink) {
  return db.Text("SELECT printf('protocol=%s sent=%d requests=%d retries=%d failures=%d not_written=%d buffered=%d "
                 "last_status=%s last_error=%s', protocol, samples_sent, requests, retries, failures, "
                 "samples_not_written, rows_buffered, ifnull(last_status, 'NULL'), ifnull(last_error, 'NULL')) "
                 "FROM prometheus_sink_stats WHERE name = '" + sink + "'");
}

const std::string kFellBack = "1.0 (2.0 refused by the receiver)";

// Five rows of two series, inserted in this order (b's rows are out of order
// in time within the statement).
const std::string kFiveRows = R"(INSERT INTO m VALUES
    ('{"__name__":"p","s":"a"}', 1.5, 1000),
    ('{"__name__":"p","s":"b"}', 'NaN', 2000),
    ('{"__name__":"p","s":"a"}', -0.0, 2000),
    ('{"__name__":"p","s":"b"}', 'stale', 1000),
    ('{"__name__":"p","s":"a"}', '-Inf', 3000))";
const std::string kFiveRowsSamples =
    S("{__name__=\"p\",s=\"a\"}", 1000, 1.5) + S("{__name__=\"p\",s=\"a\"}", 2000, -0.0) +
    S("{__name__=\"p\",s=\"a\"}", 3000, -INFINITY) +
    testrx::Sample{"{__name__=\"p\",s=\"b\"}", 1000, 0x7ff0000000000002ULL}.ToString() + "\n" +
    S("{__name__=\"p\",s=\"b\"}", 2000, NAN);

}  // namespace

TEST_CASE("key_start_timestamp fills Sample.start_timestamp in 2.0; NULL means none; 1.0 has no such field") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0', metric_type='counter', key_start_timestamp='started'");
  CHECK(db.Text("SELECT group_concat(name) FROM pragma_table_info('m')") == "labels,value,timestamp,started");
  db.Ok(R"(INSERT INTO m(labels, value, timestamp, started) VALUES
      ('{"__name__":"requests_total"}', 10, 5000, 1000),
      ('{"__name__":"requests_total"}', 12, 6000, '1970-01-01T00:00:01Z'),
      ('{"__name__":"requests_total","job":"b"}', 3, 6000, NULL))");
  REQUIRE(rx.RequestCount() == 1);
  std::vector<testrx::Sample> got = rx.Samples();
  REQUIRE(got.size() == 3);
  std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) { return std::tie(a.labels, a.ts) < std::tie(b.labels, b.ts); });
  // Sorted by labels: ',' sorts before '}'.
  CHECK(got[0].labels == "{__name__=\"requests_total\",job=\"b\"}");
  CHECK(got[0].start_ts == 0);
  CHECK(got[1].labels == "{__name__=\"requests_total\"}");
  CHECK(got[1].ts == 5000);
  CHECK(got[1].start_ts == 1000);
  CHECK(got[2].ts == 6000);
  CHECK(got[2].start_ts == 1000);
  // A start after the sample is refused like any bad input.
  Outcome late = db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"requests_total"}', 1, 1000, 2000))");
  CHECK(late.rc == SQLITE_CONSTRAINT);
  CHECK(late.msg == "prometheus_sink: column 'started': the start time 2000 is after the sample's timestamp 1000");
  CHECK(rx.RequestCount() == 1);

  // The same rows through 1.0: delivered, without a start time.
  Receiver rx1;
  db.Sink("v1", rx1.url(), "key_start_timestamp='started'");
  db.Ok(R"(INSERT INTO v1 VALUES ('{"__name__":"requests_total"}', 10, 5000, 1000))");
  REQUIRE(rx1.Samples().size() == 1);
  CHECK(rx1.Samples()[0].start_ts == 0);
  CHECK_FALSE(rx1.Requests()[0].is_v2());
  CheckNoViolations(rx);
  CheckNoViolations(rx1);
}

TEST_CASE("protocol='2.0' against a 2.0 receiver: every request is 2.0, samples exact, stats say 2.0") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0', batch_size=3, max_in_flight=1");  // exact request boundaries
  CHECK(Stats(db, "m") == "protocol=2.0 sent=0 requests=0 retries=0 failures=0 not_written=0 buffered=0 "
                          "last_status=NULL last_error=NULL");
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES
      ('{"__name__":"up","job":"a\"b\\c","zone":"z1"}', 1, 1000),
      ('{"zone":"z1","__name__":"up","job":"a\"b\\c"}', 2, 3000),
      ('{"__name__":"up","job":"d"}', 0.1, 1000),
      ('{"__name__":"up","job":"d"}', 'NaN', 2000),
      ('{"job":"a\"b\\c","zone":"z1","__name__":"up"}', 'stale', 4000),
      ('{"__name__":"down","job":"d"}', '+Inf', 5000),
      ('{"__name__":"up","job":"d"}', 9007199254740993, 3000))");
  CHECK(rx.WaitForRequests(2, std::chrono::seconds(10)));
  db.Ok("COMMIT");
  CHECK(Protocols(rx) == "2.0,2.0,2.0");
  CHECK(RequestSizes(rx) == "3,3,1");
  const std::string abc = "{__name__=\"up\",job=\"a\\\"b\\\\c\",zone=\"z1\"}";
  CHECK(Joined(BySeries(rx.Samples())) ==
        S("{__name__=\"down\",job=\"d\"}", 5000, INFINITY) +
        S(abc, 1000, 1) + S(abc, 3000, 2) +
        testrx::Sample{abc, 4000, 0x7ff0000000000002ULL}.ToString() + "\n" +
        S("{__name__=\"up\",job=\"d\"}", 1000, 0.1) + S("{__name__=\"up\",job=\"d\"}", 2000, NAN) +
        S("{__name__=\"up\",job=\"d\"}", 3000, 9007199254740992.0));
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 3);
  // The first request: series abc and up/job=d; "__name__", "up" and "job"
  // once each although both series use them; "" first.
  CHECK(reqs[0].write_v2.symbols(0) == "");
  CHECK(SortedSymbols(reqs[0]) == "|__name__|a\"b\\c|d|job|up|z1|zone|");
  CHECK(reqs[0].write_v2.timeseries_size() == 2);
  for (const auto& r : reqs) {
    CHECK(r.answered_status == 204);
    CHECK(r.metadata.empty());  // no metric_type, metric_help, metric_unit: no Metadata
    for (const auto& ts : r.write_v2.timeseries()) CHECK_FALSE(ts.has_metadata());
  }
  CHECK(rx.Metadata().empty());
  CHECK(Stats(db, "m") == "protocol=2.0 sent=7 requests=3 retries=0 failures=0 not_written=0 buffered=0 "
                          "last_status=204 last_error=NULL");
  // The next transaction speaks 2.0 too.
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"up","job":"d"}', 4, 4000))");
  CHECK(Protocols(rx) == "2.0,2.0,2.0,2.0");
  CHECK(rx.Samples().size() == 8);
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

TEST_CASE("metric_type, metric_help and metric_unit arrive as 2.0 Metadata of every series") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(),
          "protocol='2.0', metric_type='counter', metric_help='Requests served, by \"code\".', "
          "metric_unit='requests'");
  db.Ok(R"(INSERT INTO m VALUES
      ('{"__name__":"http_requests_total","code":"200"}', 10, 1000),
      ('{"__name__":"http_requests_total","code":"500"}', 1, 1000),
      ('{"__name__":"rpc_total"}', 3, 1000),
      ('{"__name__":"http_requests_total","code":"200"}', 12, 2000))");
  REQUIRE(rx.RequestCount() == 1);
  const std::string md = " type=counter help=\"Requests served, by \\\"code\\\".\" unit=\"requests\"\n";
  CHECK(SortedMd(rx.Metadata()) == "2.0 {__name__=\"http_requests_total\",code=\"200\"}" + md +
                                     "2.0 {__name__=\"http_requests_total\",code=\"500\"}" + md +
                                     "2.0 {__name__=\"rpc_total\"}" + md);
  auto req = rx.Requests()[0];
  CHECK(req.is_v2());
  // Help and unit are symbols, each once, shared by every series.
  CHECK(SortedSymbols(req) == "|200|500|Requests served, by \"code\".|__name__|code|http_requests_total|requests|rpc_total|");
  CheckNoViolations(rx);
}

TEST_CASE("metric_type alone: 2.0 Metadata with no help and no unit (references to \"\")") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0', metric_type='gauge'");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"temp"}', 21.5, 1000))");
  REQUIRE(rx.RequestCount() == 1);
  CHECK(JoinedMd(rx.Metadata()) == "2.0 {__name__=\"temp\"} type=gauge help=\"\" unit=\"\"\n");
  auto req = rx.Requests()[0];
  REQUIRE(req.write_v2.timeseries_size() == 1);
  CHECK(req.write_v2.timeseries(0).metadata().help_ref() == 0);
  CHECK(req.write_v2.timeseries(0).metadata().unit_ref() == 0);
  CHECK(SortedSymbols(req) == "|__name__|temp|");
  CheckNoViolations(rx);
}

TEST_CASE("with protocol 1.0 the metadata goes in WriteRequest.metadata, one entry per metric name per request") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(),
          "protocol='1.0', batch_size=4, metric_type='gauge', metric_help='Room temperature.', metric_unit='celsius'");
  CHECK(db.Text("SELECT protocol FROM prometheus_sink_stats") == "1.0");
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES
      ('{"__name__":"temp","room":"a"}', 20, 1000),
      ('{"__name__":"temp","room":"b"}', 21, 1000),
      ('{"__name__":"hum","room":"a"}', 40, 1000),
      ('{"__name__":"temp","room":"a"}', 20.5, 2000),
      ('{"__name__":"temp","room":"b"}', 21.5, 2000),
      ('{"__name__":"temp","room":"a"}', 22, 3000))");
  db.Ok("COMMIT");
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  CHECK(Protocols(rx) == "1.0,1.0");
  CHECK(RequestSizes(rx) == "4,2");
  // Each request names each of its metrics once, whatever its series count.
  for (const auto& r : reqs) {
    std::vector<std::string> want, got;
    for (const auto& ts : r.write.timeseries()) {
      for (const auto& l : ts.labels()) {
        if (l.name() == "__name__" && std::find(want.begin(), want.end(), l.value()) == want.end()) {
          want.push_back(l.value());
        }
      }
    }
    for (const auto& m : r.write.metadata()) got.push_back(m.metric_family_name());
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    CHECK(got == want);
    CHECK(r.write.metadata_size() == static_cast<int>(want.size()));
  }
  const std::string md = " type=gauge help=\"Room temperature.\" unit=\"celsius\"";
  std::vector<std::string> lines;
  for (const auto& m : rx.Metadata()) lines.push_back(m.ToString());
  std::sort(lines.begin(), lines.end());
  CHECK(Joined(lines) == "1.0 hum" + md + "\n1.0 temp" + md + "\n1.0 temp" + md + "\n");
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

TEST_CASE("help, unit and label values that are the same string share one symbol") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0', metric_type='info', metric_help='seconds', metric_unit='seconds'");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"seconds","unit":"seconds"}', 1, 1000),
                                ('{"__name__":"seconds","unit":"ms"}', 2, 1000))");
  REQUIRE(rx.RequestCount() == 1);
  auto req = rx.Requests()[0];
  CHECK(SortedSymbols(req) == "|__name__|ms|seconds|unit|");
  CHECK(SortedMd(rx.Metadata()) ==
        "2.0 {__name__=\"seconds\",unit=\"ms\"} type=info help=\"seconds\" unit=\"seconds\"\n"
        "2.0 {__name__=\"seconds\",unit=\"seconds\"} type=info help=\"seconds\" unit=\"seconds\"\n");
  CheckNoViolations(rx);
}

TEST_CASE("1.0 metadata with max_request_bytes: every request names exactly the metrics it carries") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "max_request_bytes=1024, metric_type='counter', metric_help='split help', metric_unit='u'");
  db.Ok("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 120) "
        "INSERT INTO m SELECT json_object('__name__', 'metric_' || (i % 3), 'k', printf('%040d', i % 50)), i, "
        "1000 * i FROM c");
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() > 2);
  size_t samples = 0;
  for (const auto& r : reqs) {
    CHECK(r.write.ByteSizeLong() <= 1024);
    samples += r.SampleCount();
    std::vector<std::string> want, got;
    for (const auto& ts : r.write.timeseries()) {
      for (const auto& l : ts.labels()) {
        if (l.name() == "__name__" && std::find(want.begin(), want.end(), l.value()) == want.end()) {
          want.push_back(l.value());
        }
      }
    }
    for (const auto& m : r.write.metadata()) {
      got.push_back(m.metric_family_name());
      CHECK(m.type() == prometheus::MetricMetadata::COUNTER);
      CHECK(m.help() == "split help");
      CHECK(m.unit() == "u");
    }
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    CHECK(got == want);
  }
  CHECK(samples == 120);
  CHECK(rx.Samples().size() == 120);
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

TEST_CASE("without metadata options a 1.0 request has no metadata entries") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"x"}', 1, 1000))");
  REQUIRE(rx.RequestCount() == 1);
  CHECK(rx.Requests()[0].write.metadata_size() == 0);
  CheckNoViolations(rx);
}

TEST_CASE("fallback: a 1.0-only receiver (204 without written counts) gets the same samples again as 1.0, once") {
  Receiver rx;
  rx.SetV2Mode(testrx::V2Mode::kOnly1);
  Db db;
  db.Ok("CREATE TABLE t(x)");
  db.Sink("m", rx.url(), "protocol='2.0', metric_type='gauge', metric_help='P.'");
  db.Ok("BEGIN");
  db.Ok("INSERT INTO t VALUES (1)");
  db.Ok(kFiveRows);
  db.Ok("COMMIT");
  CHECK(db.Int("SELECT count(*) FROM t") == 1);
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  CHECK(Protocols(rx) == "2.0,1.0");
  CHECK(RequestSizes(rx) == "5,5");
  CHECK(reqs[0].answered_status == 204);
  CHECK_FALSE(reqs[0].stored);
  CHECK(reqs[1].stored);
  CHECK(reqs[0].samples.size() == 5);  // the 2.0 request carried them all
  CHECK(Joined(BySeries(rx.Samples())) == kFiveRowsSamples);
  // After the fallback the metadata goes as 1.0 entries.
  CHECK(JoinedMd(rx.Metadata()) == "1.0 p type=gauge help=\"P.\" unit=\"\"\n");
  CHECK(Stats(db, "m") == "protocol=" + kFellBack + " sent=5 requests=2 retries=0 failures=0 not_written=0 "
                          "buffered=0 last_status=204 last_error=NULL");
  // Later transactions on the connection speak 1.0 only.
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"p","s":"a"}', 4, 4000))");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"p","s":"a"}', 5, 5000))");
  db.Ok("COMMIT");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"p","s":"a"}', 6, 6000))");
  CHECK(db.Int("SELECT prometheus_sink_flush('m')") == 0);
  CHECK(Protocols(rx) == "2.0,1.0,1.0,1.0");
  CHECK(rx.RequestCount(testrx::Protocol::kV2) == 1);
  CHECK(rx.Samples().size() == 8);
  CHECK(Stats(db, "m") == "protocol=" + kFellBack + " sent=8 requests=4 retries=0 failures=0 not_written=0 "
                          "buffered=0 last_status=204 last_error=NULL");
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

TEST_CASE("fallback on 415 Unsupported Media Type: the same samples arrive once as 1.0") {
  Receiver rx;
  rx.SetV2Mode(testrx::V2Mode::kUnsupportedMediaType);
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0'");
  db.Ok(kFiveRows);
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  CHECK(Protocols(rx) == "2.0,1.0");
  CHECK(reqs[0].answered_status == 415);
  CHECK(reqs[1].answered_status == 204);
  CHECK(Joined(BySeries(rx.Samples())) == kFiveRowsSamples);
  CHECK(Stats(db, "m") == "protocol=" + kFellBack + " sent=5 requests=2 retries=0 failures=0 not_written=0 "
                          "buffered=0 last_status=204 last_error=NULL");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"p","s":"a"}', 4, 4000))");
  CHECK(Protocols(rx) == "2.0,1.0,1.0");
  CHECK(rx.Samples().size() == 6);
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

TEST_CASE("batch_size=2, 5 rows: the fallback happens at the first full batch mid-INSERT; every sample once, in order") {
  Receiver rx;
  rx.SetV2Mode(testrx::V2Mode::kOnly1);
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0', batch_size=2, max_in_flight=1");  // exact request boundaries
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES
      ('{"__name__":"q","s":"a"}', 1, 1000),
      ('{"__name__":"q","s":"b"}', 1, 1000),
      ('{"__name__":"q","s":"a"}', 2, 2000),
      ('{"__name__":"q","s":"b"}', 2, 2000),
      ('{"__name__":"q","s":"a"}', 3, 3000))");
  // Mid-transaction: the probe and the two full batches.
  CHECK(rx.WaitForRequests(3, std::chrono::seconds(10)));
  CHECK(rx.RequestCount(testrx::Protocol::kV2) == 1);
  CHECK(db.Int("SELECT rows_buffered FROM prometheus_sink_stats WHERE name = 'm'") == 1);
  CHECK(db.Text("SELECT protocol FROM prometheus_sink_stats WHERE name = 'm'") == kFellBack);
  db.Ok("COMMIT");
  CHECK(Protocols(rx) == "2.0,1.0,1.0,1.0");
  CHECK(RequestSizes(rx) == "2,2,2,1");
  CHECK(Joined(rx.Samples()) == S("{__name__=\"q\",s=\"a\"}", 1000, 1) + S("{__name__=\"q\",s=\"b\"}", 1000, 1) +
                                    S("{__name__=\"q\",s=\"a\"}", 2000, 2) + S("{__name__=\"q\",s=\"b\"}", 2000, 2) +
                                    S("{__name__=\"q\",s=\"a\"}", 3000, 3));
  CHECK(Stats(db, "m") == "protocol=" + kFellBack + " sent=5 requests=4 retries=0 failures=0 not_written=0 "
                          "buffered=0 last_status=204 last_error=NULL");
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

TEST_CASE("a batch split by max_request_bytes: one 2.0 request is refused, then the whole batch goes as 1.0") {
  Receiver rx;
  rx.SetV2Mode(testrx::V2Mode::kOnly1);
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0', max_request_bytes=1024");
  db.Ok("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100) "
        "INSERT INTO m SELECT json_object('__name__', 'split', 'k', printf('%040d', i % 70)), i, 1000 * i FROM c");
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() > 2);
  CHECK(reqs[0].is_v2());
  CHECK(rx.RequestCount(testrx::Protocol::kV2) == 1);
  size_t v1_samples = 0;
  for (size_t i = 1; i < reqs.size(); ++i) {
    CHECK(reqs[i].write.ByteSizeLong() <= 1024);
    v1_samples += reqs[i].SampleCount();
  }
  CHECK(v1_samples == 100);
  CHECK(rx.Samples().size() == 100);
  std::vector<testrx::Sample> samples = rx.Samples();
  std::sort(samples.begin(), samples.end(), [](const auto& a, const auto& b) { return a.ts < b.ts; });
  bool all_once = samples.size() == 100;
  for (size_t i = 0; all_once && i < samples.size(); ++i) {
    all_once = samples[i].ts == static_cast<int64_t>(1000 * (i + 1)) && samples[i].value() == static_cast<double>(i + 1);
  }
  CHECK(all_once);
  CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats") == 100);
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

TEST_CASE("a batch split by max_request_bytes against a 2.0 receiver: every request is 2.0 and within the limit") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0', max_request_bytes=1024, metric_type='counter', metric_help='split'");
  db.Ok("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100) "
        "INSERT INTO m SELECT json_object('__name__', 'split', 'k', printf('%040d', i % 70)), i, 1000 * i FROM c");
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() > 2);
  CHECK(rx.RequestCount(testrx::Protocol::kV2) == reqs.size());
  size_t samples = 0, series = 0;
  for (const auto& r : reqs) {
    CHECK(r.write_v2.ByteSizeLong() <= 1024);
    samples += r.SampleCount();
    series += static_cast<size_t>(r.write_v2.timeseries_size());
  }
  CHECK(samples == 100);
  CHECK(rx.Samples().size() == 100);
  CHECK(rx.Metadata().size() == series);  // every series carries the metadata
  CHECK(db.Text("SELECT protocol FROM prometheus_sink_stats") == "2.0");
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

TEST_CASE("fewer written: samples_not_written counts what the receiver says it did not write; COMMIT succeeds") {
  Receiver rx;
  rx.SetV2Mode(testrx::V2Mode::kSpeaks2, 2);
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0'");
  db.Ok(kFiveRows);
  REQUIRE(rx.RequestCount() == 1);
  CHECK(Stats(db, "m") == "protocol=2.0 sent=5 requests=1 retries=0 failures=0 not_written=2 buffered=0 "
                          "last_status=204 last_error=NULL");
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"p","s":"a"}', 4, 4000), ('{"__name__":"p","s":"a"}', 5, 5000),
                                ('{"__name__":"p","s":"a"}', 6, 6000))");
  db.Ok("COMMIT");
  CHECK(Protocols(rx) == "2.0,2.0");
  CHECK(Stats(db, "m") == "protocol=2.0 sent=8 requests=2 retries=0 failures=0 not_written=4 buffered=0 "
                          "last_status=204 last_error=NULL");
  // Written counts higher than or equal to what was sent change nothing.
  rx.SetV2Mode(testrx::V2Mode::kSpeaks2, 0);
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"p","s":"a"}', 7, 7000))");
  CHECK(db.Int("SELECT samples_not_written FROM prometheus_sink_stats") == 4);
  CheckNoViolations(rx);
}

TEST_CASE("a 2.0 request answered 503, then 204 with the written counts: retried, delivered once, still 2.0") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", protocol='2.0'");
  rx.Enqueue(Response::Status(503, "busy"));
  db.Ok(kFiveRows);
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  CHECK(Protocols(rx) == "2.0,2.0");
  CHECK(reqs[0].answered_status == 503);
  CHECK(reqs[1].answered_status == 204);
  CHECK(reqs[0].body == reqs[1].body);
  CHECK(Joined(BySeries(rx.Samples())) == kFiveRowsSamples);
  CHECK(Stats(db, "m") == "protocol=2.0 sent=5 requests=2 retries=1 failures=0 not_written=0 buffered=0 "
                          "last_status=204 last_error=NULL");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"p","s":"a"}', 4, 4000))");
  CHECK(Protocols(rx) == "2.0,2.0,2.0");
  CheckNoViolations(rx);
}

TEST_CASE("a 2.0 request answered 503, then 204 without written counts: falls back; retries counted") {
  Receiver rx;
  rx.SetV2Mode(testrx::V2Mode::kOnly1);
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", protocol='2.0'");
  rx.Enqueue(Response::Status(503, "busy"));
  db.Ok(kFiveRows);
  CHECK(Protocols(rx) == "2.0,2.0,1.0");
  CHECK(Joined(BySeries(rx.Samples())) == kFiveRowsSamples);
  CHECK(Stats(db, "m") == "protocol=" + kFellBack + " sent=5 requests=3 retries=1 failures=0 not_written=0 "
                          "buffered=0 last_status=204 last_error=NULL");
  CheckNoViolations(rx);
}

TEST_CASE("a 2.0 request refused with 400 fails the statement and is not a fallback") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0'");
  rx.Enqueue(Response::Status(400, "out of bounds"));
  Outcome o = db.Exec(kFiveRows);
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(StartsWith(o.msg, "prometheus_sink:"));
  CHECK(Contains(o.msg, "400"));
  CHECK(Protocols(rx) == "2.0");
  CHECK(rx.Samples().empty());
  CHECK(db.Text("SELECT protocol FROM prometheus_sink_stats") == "2.0");
  CHECK(db.Int("SELECT failures FROM prometheus_sink_stats") == 1);
  // The next statement tries 2.0 again and is accepted.
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"p","s":"a"}', 4, 4000))");
  CHECK(Protocols(rx) == "2.0,2.0");
  CHECK(Joined(rx.Samples()) == S("{__name__=\"p\",s=\"a\"}", 4000, 4));
  CheckNoViolations(rx);
}

TEST_CASE("a 2.0-refusing receiver and a rolled-back transaction: the fallback stays, the rolled-back rows never go") {
  Receiver rx;
  rx.SetV2Mode(testrx::V2Mode::kUnsupportedMediaType);
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0', batch_size=2");
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"r"}', 1, 1000), ('{"__name__":"r"}', 2, 2000),
                                ('{"__name__":"r"}', 3, 3000))");
  CHECK(rx.WaitForRequests(2, std::chrono::seconds(10)));
  db.Ok("ROLLBACK");
  CHECK(Protocols(rx) == "2.0,1.0");
  CHECK(Joined(rx.Samples()) == S("{__name__=\"r\"}", 1000, 1) + S("{__name__=\"r\"}", 2000, 2));
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"r"}', 4, 4000))");
  CHECK(Protocols(rx) == "2.0,1.0,1.0");
  CHECK(db.Text("SELECT protocol FROM prometheus_sink_stats") == kFellBack);
  CheckNoViolations(rx);
}

TEST_CASE("max_in_flight=3 with a 1.0-only receiver: one 2.0 probe, then 1.0 only; every sample once, series in order") {
  Receiver rx;
  rx.SetV2Mode(testrx::V2Mode::kOnly1);
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0', max_in_flight=3, batch_size=4");
  db.Ok("WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 59) "
        "INSERT INTO m SELECT json_object('__name__', 'mif', 's', i % 5), i, 1000 * i FROM c");
  CHECK(rx.RequestCount(testrx::Protocol::kV2) == 1);
  CHECK(rx.Requests()[0].is_v2());
  CHECK_FALSE(rx.Requests()[0].stored);
  std::vector<testrx::Sample> got = rx.Samples();
  std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.ts < b.ts; });
  std::string want;
  for (int i = 0; i < 60; ++i) want += S("{__name__=\"mif\",s=\"" + std::to_string(i % 5) + "\"}", 1000 * i, i);
  CHECK(Joined(got) == want);
  CHECK(db.Text("SELECT protocol FROM prometheus_sink_stats") == kFellBack);
  CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats") == 60);
  // Later statements: 1.0 only.
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"mif","s":"0"}', 60, 60000))");
  CHECK(rx.RequestCount(testrx::Protocol::kV2) == 1);
  CHECK(rx.Samples().size() == 61);
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

TEST_CASE("spool=on with protocol='2.0' and a 1.0-only receiver: the drain falls back; every spooled row once") {
  Receiver rx;
  rx.SetV2Mode(testrx::V2Mode::kOnly1);
  char path[] = "/tmp/psink-protocol-spool-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  {
    Db db(path);
    db.Ok("CREATE VIRTUAL TABLE main.m USING prometheus_sink(url='" + rx.url() +
          "', spool=on, protocol='2.0', batch_size=2)");
    db.Ok(R"(INSERT INTO m VALUES
        ('{"__name__":"q","s":"a"}', 1, 1000),
        ('{"__name__":"q","s":"b"}', 1, 1000),
        ('{"__name__":"q","s":"a"}', 2, 2000),
        ('{"__name__":"q","s":"b"}', 'stale', 2000),
        ('{"__name__":"q","s":"a"}', 3, 3000))");
    CHECK(rx.WaitForRequests(4, std::chrono::seconds(10)));
    for (int i = 0; i < 100 && db.Int("SELECT count(*) FROM m_spool") > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(db.Int("SELECT count(*) FROM m_spool") == 0);
    CHECK(Protocols(rx) == "2.0,1.0,1.0,1.0");
    // Full requests of 2 per shard (a series' shard is its labels' hash),
    // the last one short; each series in the order it was spooled.
    std::string sizes = RequestSizes(rx);
    std::sort(sizes.begin(), sizes.end());
    CHECK(sizes == ",,,1222");
    CHECK(Joined(BySeries(rx.Samples())) ==
          S("{__name__=\"q\",s=\"a\"}", 1000, 1) + S("{__name__=\"q\",s=\"a\"}", 2000, 2) +
          S("{__name__=\"q\",s=\"a\"}", 3000, 3) + S("{__name__=\"q\",s=\"b\"}", 1000, 1) +
          testrx::Sample{"{__name__=\"q\",s=\"b\"}", 2000, 0x7ff0000000000002ULL}.ToString() + "\n");
    CHECK(db.Text("SELECT protocol FROM prometheus_sink_stats WHERE name = 'm'") == kFellBack);
    CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats WHERE name = 'm'") == 5);
    // The next commit drains as 1.0 right away.
    db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"q","s":"a"}', 4, 4000))");
    CHECK(rx.WaitForRequests(5, std::chrono::seconds(10)));
    CHECK(Protocols(rx) == "2.0,1.0,1.0,1.0,1.0");
    CheckSeriesOrder(rx);
    CheckNoViolations(rx);
    for (int i = 0; i < 100 && db.Int("SELECT count(*) FROM m_spool") > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    db.Ok("DROP TABLE m");
  }
  std::remove(path);
  std::remove((std::string(path) + "-journal").c_str());
  std::remove((std::string(path) + "-wal").c_str());
}

}  // TEST_SUITE protocol
