// sqlite3_interrupt ends a wait on the network: a COMMIT whose request the
// receiver never answers, a retry's backoff, a statement waiting for a full
// shard. The extension is loaded into SQLite 3.53.2 (the amalgamation; this
// program links no other SQLite), where it can ask sqlite3_is_interrupted().
// Each test interrupts from another thread after 300 ms, while the default
// timeouts would keep the statement waiting for minutes, and checks the
// statement fails saying "interrupted" and the transaction rolled back. The
// measured delay from the interrupt to the statement's return is printed
// (the contract: within 200 ms); the test itself bounds it only loosely
// (5 s), far below the timeouts that would end the wait otherwise.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <chrono>
#include <string>
#include <thread>

#include "receiver.h"

#ifndef EXT_PATH
#error "EXT_PATH must name the built prometheus_sink extension"
#endif

namespace {

using testrx::Receiver;
using testrx::Response;
using Clock = std::chrono::steady_clock;

struct Db {
  sqlite3* db = nullptr;
  Db() {
    REQUIRE(sqlite3_open(":memory:", &db) == SQLITE_OK);
    REQUIRE(sqlite3_enable_load_extension(db, 1) == SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_load_extension(db, EXT_PATH, nullptr, &err);
    INFO((err ? err : ""));
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }
  ~Db() { sqlite3_close_v2(db); }
  int Exec(const std::string& sql, std::string* msg = nullptr) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    if (msg) *msg = err ? err : "";
    sqlite3_free(err);
    return rc;
  }
  void Ok(const std::string& sql) {
    std::string msg;
    INFO(sql << ": " << msg);
    REQUIRE(Exec(sql, &msg) == SQLITE_OK);
  }
  long long Int(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }
};

// Runs `sql` (expected to fail), interrupting it 300 ms after it started;
// returns the message and how long after the interrupt it returned.
std::string RunInterrupted(Db& db, const std::string& sql, double* after_ms) {
  Clock::time_point interrupted_at{};
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    interrupted_at = Clock::now();
    sqlite3_interrupt(db.db);
  });
  std::string msg;
  int rc = db.Exec(sql, &msg);
  Clock::time_point returned = Clock::now();
  t.join();
  CHECK(rc != SQLITE_OK);
  *after_ms = std::chrono::duration<double, std::milli>(returned - interrupted_at).count();
  return msg;
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("the host is SQLite 3.53, which has sqlite3_is_interrupted") {
  CHECK(sqlite3_libversion_number() >= 3041000);
  MESSAGE("host SQLite " << std::string(sqlite3_libversion()));
}

TEST_CASE("COMMIT waiting for a receiver that never answers, default timeouts: interrupted, rolled back") {
  Receiver rx;
  rx.SetDefault(Response::Hang());
  Db db;
  db.Ok("CREATE TABLE t(x)");
  db.Ok("CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='" + rx.url() + "')");
  db.Ok("BEGIN");
  db.Ok("INSERT INTO t VALUES (1)");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"hung"}', 1, 1700000000000))");
  double after_ms = 0;
  std::string msg = RunInterrupted(db, "COMMIT", &after_ms);
  MESSAGE("returned " << after_ms << " ms after the interrupt: " << msg);
  CHECK(Contains(msg, "prometheus_sink:"));
  CHECK(Contains(msg, "interrupted"));
  CHECK(after_ms < 5000);
  CHECK(sqlite3_get_autocommit(db.db) != 0);  // rolled back
  CHECK(db.Int("SELECT count(*) FROM t") == 0);
  CHECK(rx.RequestCount() == 1);
}

TEST_CASE("an autocommit INSERT in a retry's backoff (10 s): interrupted within the backoff") {
  Receiver rx;
  rx.SetDefault(Response::Status(503, "busy"));
  Db db;
  db.Ok("CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='" + rx.url() +
        "', retry_backoff_multiplier_ms=10000, retry_backoff_max_ms=10000)");
  double after_ms = 0;
  std::string msg = RunInterrupted(db, R"(INSERT INTO m VALUES ('{"__name__":"busy"}', 1, 1700000000000))", &after_ms);
  MESSAGE("returned " << after_ms << " ms after the interrupt: " << msg);
  CHECK(Contains(msg, "interrupted"));
  CHECK(after_ms < 5000);
  CHECK(rx.RequestCount() == 1);  // the retry never went
}

TEST_CASE("an INSERT waiting for full shards whose requests hang: interrupted") {
  Receiver rx;
  rx.SetDefault(Response::Hang());
  Db db;
  db.Ok("CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='" + rx.url() + "', batch_size=10, max_in_flight=4)");
  double after_ms = 0;
  std::string msg = RunInterrupted(
      db,
      "INSERT INTO m WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) "
      "SELECT json_object('__name__', 'x', 'id', i % 50), i, 1700000000000 + i FROM n",
      &after_ms);
  MESSAGE("returned " << after_ms << " ms after the interrupt: " << msg);
  CHECK(Contains(msg, "interrupted"));
  CHECK(after_ms < 5000);
  // The sink is usable again: the next statement starts clean.
  rx.SetDefault(Response::Status(204));
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"after"}', 1, 1700000000000))");
  CHECK(db.Int("SELECT failures FROM prometheus_sink_stats") >= 1);
}

TEST_CASE("COMMIT waiting for max_samples_per_second (10 s to the next request): interrupted within the wait") {
  Receiver rx;
  Db db;
  // 10 samples a second, 100 per request: the first request goes at once,
  // the second may start only 10 s later.
  db.Ok("CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='" + rx.url() +
        "', max_samples_per_second=10, batch_size=100, max_in_flight=1)");
  db.Ok("BEGIN");
  db.Ok("WITH RECURSIVE c(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM c WHERE v < 199) "
        "INSERT INTO m SELECT json_object('__name__','limited','i',v), v, 1700000000000 + v FROM c");
  double after_ms = 0;
  std::string msg = RunInterrupted(db, "COMMIT", &after_ms);
  MESSAGE("returned " << after_ms << " ms after the interrupt: " << msg);
  CHECK(Contains(msg, "interrupted while waiting for max_samples_per_second (10)"));
  CHECK(after_ms < 5000);
  CHECK(sqlite3_get_autocommit(db.db) != 0);  // rolled back
  CHECK(rx.RequestCount() == 1);              // the second request never went
  CHECK(db.Int("SELECT rate_limit_wait_ms FROM prometheus_sink_stats") >= 200);
}

TEST_CASE("prometheus_query() waiting for a receiver that never answers: interrupted") {
  Receiver rx;
  rx.SetDefault(Response::Hang());
  Db db;
  db.Ok("CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='" + rx.url() + "')");
  double after_ms = 0;
  std::string msg = RunInterrupted(db, "SELECT * FROM prometheus_query('m', 'up')", &after_ms);
  MESSAGE("returned " << after_ms << " ms after the interrupt: " << msg);
  CHECK(Contains(msg, "prometheus_sink: prometheus_query(): sink 'm': query 'up' failed: POST "));
  CHECK(Contains(msg, "interrupted"));
  CHECK(after_ms < 5000);
  CHECK(rx.RequestCount() == 1);
}
