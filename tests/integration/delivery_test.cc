// Concurrent delivery against a receiver across a network: answers after
// random delays, several requests on the wire at once. What must hold
// whatever the timing: every sample arrives once, a series is never in two
// requests at once (a request holding it arrives only after the previous one
// holding it was answered), requests are full, and failures and retries of
// one shard behave as the contract says.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "harness.h"

using namespace harness;

namespace {

// INSERT of `series` x `per_series` rows, series interleaved, timestamps
// ascending: row i is series i % series at 1700000000000 + i.
std::string Rows(const std::string& sink, int series, int per_series) {
  return "INSERT INTO " + sink + " WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < " +
         std::to_string(series * per_series - 1) + ") SELECT json_object('__name__', 'lat', 'id', 's' || (i % " +
         std::to_string(series) + ")), i, 1700000000000 + i FROM n";
}

// For every series, the requests that held it must not overlap: each one
// received only after the one before it was answered. Returns the
// violations, one line each.
std::string Overlaps(const Receiver& rx) {
  std::map<std::string, size_t> last;  // series -> request index
  const auto reqs = rx.Requests();
  std::string out;
  for (size_t i = 0; i < reqs.size(); ++i) {
    std::set<std::string> series;
    for (const auto& s : reqs[i].samples) series.insert(s.labels);
    for (const auto& s : series) {
      auto it = last.find(s);
      if (it != last.end()) {
        const auto& prev = reqs[it->second];
        if (prev.answered.time_since_epoch().count() == 0 || reqs[i].received < prev.answered) {
          out += s + ": request #" + std::to_string(i + 1) + " arrived before #" + std::to_string(it->second + 1) +
                 " was answered\n";
        }
      }
      last[s] = i;
    }
  }
  return out;
}

// The largest number of requests on the wire at once, from when each was
// received and answered.
size_t PeakInFlight(const Receiver& rx) {
  std::vector<std::pair<std::chrono::steady_clock::time_point, int>> events;
  for (const auto& r : rx.Requests()) {
    events.emplace_back(r.received, +1);
    events.emplace_back(r.answered, -1);
  }
  std::sort(events.begin(), events.end());
  int now = 0, peak = 0;
  for (const auto& [t, d] : events) peak = std::max(peak, now += d);
  return static_cast<size_t>(peak);
}

// Every sample i of Rows(series, per_series) arrived exactly once.
void CheckEverySampleOnce(const Receiver& rx, int series, int per_series) {
  std::map<std::pair<std::string, int64_t>, int> seen;
  for (const auto& s : rx.Samples()) ++seen[{s.labels, s.ts}];
  CHECK(seen.size() == static_cast<size_t>(series * per_series));
  int twice = 0;
  for (const auto& [k, n] : seen) twice += n > 1;
  CHECK(twice == 0);
  for (int i = 0; i < series * per_series; i += 997) {
    std::string labels = "{__name__=\"lat\",id=\"s" + std::to_string(i % series) + "\"}";
    CHECK(seen.count({labels, 1700000000000 + i}) == 1);
  }
}

}  // namespace

TEST_SUITE("concurrency") {

TEST_CASE("answers after 10-50 ms at random, default max_in_flight (one queue, then shards): every sample once, no series in two requests at once") {
  constexpr int kSeries = 300, kPerSeries = 100, kBatch = 256;
  Receiver rx;
  rx.SetRandomDelay(10, 50);
  Db db;
  db.Sink("m", rx.url(), "batch_size=" + std::to_string(kBatch));
  db.Ok(Rows("m", kSeries, kPerSeries));
  CheckEverySampleOnce(rx, kSeries, kPerSeries);
  CHECK(Overlaps(rx) == "");
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
  // Full requests: at most one partial request per shard (8 by default).
  const size_t rows = kSeries * kPerSeries;
  CHECK(rx.RequestCount() <= (rows + kBatch - 1) / kBatch + 8);
  size_t partial = 0;
  for (const auto& r : rx.Requests()) partial += r.SampleCount() != static_cast<size_t>(kBatch);
  CHECK(partial <= 8);
  CHECK(db.Int("SELECT requests FROM prometheus_sink_stats") == static_cast<int64_t>(rx.RequestCount()));
  CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats") == static_cast<int64_t>(rows));
  const size_t peak = PeakInFlight(rx);
  MESSAGE(rx.RequestCount() << " requests, " << partial << " partial, at most " << peak << " on the wire at once");
  CHECK(peak > 1);  // the default turned to shards: the receiver is slow
  CHECK(peak <= 8);
}

TEST_CASE("max_in_flight=16 within one transaction and several statements: at most 16 requests at once, ceil(rows/batch)+16 requests") {
  constexpr int kSeries = 500, kPerSeries = 40, kBatch = 100;
  Receiver rx;
  rx.SetRandomDelay(10, 50);
  Db db;
  db.Sink("m", rx.url(), "batch_size=100, max_in_flight=16");
  db.Ok("BEGIN");
  db.Ok(Rows("m", kSeries, kPerSeries / 2));
  // The second half continues every series: its timestamps come after the first half's.
  db.Ok("INSERT INTO m WITH RECURSIVE n(i) AS (SELECT " + std::to_string(kSeries * kPerSeries / 2) +
        " UNION ALL SELECT i + 1 FROM n WHERE i < " + std::to_string(kSeries * kPerSeries - 1) +
        ") SELECT json_object('__name__', 'lat', 'id', 's' || (i % " + std::to_string(kSeries) +
        ")), i, 1700000000000 + i FROM n");
  db.Ok("COMMIT");
  CheckEverySampleOnce(rx, kSeries, kPerSeries);
  CHECK(Overlaps(rx) == "");
  CheckSeriesOrder(rx);
  CHECK(rx.RequestCount() <= static_cast<size_t>((kSeries * kPerSeries + kBatch - 1) / kBatch + 16));
  const size_t peak = PeakInFlight(rx);
  MESSAGE(rx.RequestCount() << " requests, at most " << peak << " on the wire at once");
  CHECK(peak <= 16);
  CHECK(peak > 1);
}

TEST_CASE("savepoints with concurrent requests: exactly the surviving rows arrive") {
  Receiver rx;
  rx.SetRandomDelay(5, 20);
  Db db;
  db.Sink("m", rx.url(), "batch_size=50");
  db.Ok("BEGIN");
  db.Ok(Rows("m", 40, 25));  // 1,000 rows: most leave during the INSERT
  db.Ok("SAVEPOINT a");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"gone"}', 1, 1800000000000), ('{"__name__":"gone"}', 2, 1800000001000))");
  db.Ok("ROLLBACK TO a");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"kept"}', 3, 1800000002000))");
  db.Ok("COMMIT");
  auto samples = rx.Samples();
  CHECK(samples.size() == 1001);
  size_t gone = 0, kept = 0;
  for (const auto& s : samples) {
    gone += s.labels == "{__name__=\"gone\"}";
    kept += s.labels == "{__name__=\"kept\"}";
  }
  CHECK(gone == 0);
  CHECK(kept == 1);
  CHECK(Overlaps(rx) == "");
}

TEST_CASE("one shard's request is refused: the transaction fails, the message counts what was delivered and not sent") {
  constexpr int kSeries = 64, kPerSeries = 50;
  Receiver rx;
  rx.SetRandomDelay(5, 20);
  rx.Enqueue(Response::Status(400, "rejected: bad sample"));
  Db db;
  db.Ok("CREATE TABLE t(x)");
  db.Sink("m", rx.url(), kFastRetry + ", retry=0, batch_size=100");
  db.Ok("BEGIN");
  db.Ok("INSERT INTO t VALUES (1)");
  db.Exec(Rows("m", kSeries, kPerSeries));  // may fail already, once the 400 is known
  Outcome commit = db.Exec("COMMIT");
  if (commit.ok()) FAIL("COMMIT succeeded after a refused request");
  CHECK(Contains(commit.msg, "400"));
  CHECK(Contains(commit.msg, "rejected: bad sample"));
  if (db.InTransaction()) db.Ok("ROLLBACK");
  CHECK(db.Int("SELECT count(*) FROM t") == 0);
  CHECK(db.Int("SELECT failures FROM prometheus_sink_stats") == 1);
  // What the message says was delivered is what the receiver stored; what
  // it says was not sent holds at least the refused request (100 samples).
  // (When the INSERT itself failed, its buffered rows went with its
  // statement rollback, so the two need not add up to every row.)
  const size_t stored = rx.Samples().size();
  const std::string delivered = "delivered in this transaction before the failure: " + std::to_string(stored) + " sample";
  CHECK(Contains(commit.msg, delivered));
  const size_t at = commit.msg.find("not sent: ");
  REQUIRE(at != std::string::npos);
  const size_t not_sent = std::stoul(commit.msg.substr(at + 10));
  CHECK(not_sent >= 100);
  CHECK(stored + not_sent <= static_cast<size_t>(kSeries * kPerSeries));
  CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats") == static_cast<int64_t>(stored));
  MESSAGE(commit.msg);
}

TEST_CASE("a retrying shard does not stop the others: other requests arrive during its backoff") {
  Receiver rx;
  rx.Enqueue(Response::Status(503, "busy"));
  rx.SetDefault(Response::Slow(5));
  Db db;
  // Shards from the start (the automatic default begins with one queue).
  db.Sink("m", rx.url(), "retry_backoff_multiplier_ms=400, retry_backoff_max_ms=400, batch_size=50, max_in_flight=8");
  db.Ok(Rows("m", 64, 50));
  const auto reqs = rx.Requests();
  REQUIRE(reqs.size() >= 2);
  REQUIRE(reqs[0].answered_status == 503);
  // The retry of request #1 carries the same samples.
  size_t retry = 0;
  for (size_t i = 1; i < reqs.size() && retry == 0; ++i) {
    if (reqs[i].samples == reqs[0].samples) retry = i;
  }
  REQUIRE(retry > 0);
  size_t between = 0;
  for (size_t i = 1; i < reqs.size(); ++i) {
    between += i != retry && reqs[i].received > reqs[0].answered && reqs[i].received < reqs[retry].received;
  }
  MESSAGE(between << " requests of other shards arrived during the 400 ms backoff");
  CHECK(between > 0);
  CheckEverySampleOnce(rx, 64, 50);
  CHECK(db.Int("SELECT retries FROM prometheus_sink_stats") == 1);
  CHECK(Overlaps(rx) == "");
}

TEST_CASE("protocol='2.0' with concurrent shards and a 1.0-only receiver: one probe first, then 1.0 only, every sample once") {
  Receiver rx;
  rx.SetV2Mode(testrx::V2Mode::kOnly1);
  rx.SetRandomDelay(5, 20);
  Db db;
  db.Sink("m", rx.url(), "protocol='2.0', batch_size=50");
  db.Ok(Rows("m", 64, 50));
  const auto reqs = rx.Requests();
  REQUIRE(!reqs.empty());
  CHECK(reqs[0].is_v2());
  for (size_t i = 1; i < reqs.size(); ++i) CHECK_FALSE(reqs[i].is_v2());
  // Nothing went out while the probe was unanswered.
  for (size_t i = 1; i < reqs.size(); ++i) CHECK(reqs[i].received >= reqs[0].answered);
  CheckEverySampleOnce(rx, 64, 50);
  CHECK(db.Text("SELECT protocol FROM prometheus_sink_stats") == "1.0 (2.0 refused by the receiver)");
}

}  // TEST_SUITE concurrency
