// Hardening tests: the fault matrix of the transport ("faults"), the limits of
// what a row may hold ("limits") and the handling of credentials ("auth"),
// each driven through the SQLite C API against the in-process test receiver
// (tests/receiver). Every test asserts the exact number of requests, the exact
// samples the receiver stored (nothing lost, nothing stored twice beyond a
// retried request) and that the receiver saw no protocol violation.
//
// Timing assertions are lower bounds only (a sleep is never shorter than
// asked; a loaded machine may make any wait longer); the measured figures
// are printed (MESSAGE) for the record.
//
// Part of the integration_test executable (main in integration_test.cc);
// meson registers one test per suite (--test-suite=faults|limits|auth).
#include <doctest/doctest.h>

#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "harness.h"
#include "receiver.h"

using namespace harness;

namespace {

using Clock = std::chrono::steady_clock;

int64_t Ms(Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }
double MsF(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// One column of the sink's row in prometheus_sink_stats, as text.
std::string Stat(Db& db, const std::string& column, const std::string& sink = "m") {
  return db.Text("SELECT " + column + " FROM prometheus_sink_stats WHERE name = '" + sink + "'");
}

// How long the sink waited before each retry, in ms: from when the receiver
// answered request i-1 (the sink cannot have had the answer before) to when
// request i arrived; from when request i-1 arrived when it got no complete
// answer (a fault).
std::vector<double> Waits(const Receiver& rx) {
  auto reqs = rx.Requests();
  std::vector<double> out;
  for (size_t i = 1; i < reqs.size(); ++i) {
    const auto& prev = reqs[i - 1];
    const auto from = prev.answered != Clock::time_point{} ? prev.answered : prev.received;
    out.push_back(MsF(reqs[i].received - from));
  }
  return out;
}

// Each retry waited at least what `min_ms` says (a lower bound only: a
// loaded machine may always wait longer).
void CheckWaits(const Receiver& rx, const std::vector<double>& min_ms) {
  auto waits = Waits(rx);
  REQUIRE(waits.size() >= min_ms.size());
  for (size_t i = 0; i < min_ms.size(); ++i) {
    CAPTURE(i);
    CAPTURE(waits[i]);
    CHECK(waits[i] >= min_ms[i]);
  }
}

std::string Show(const std::vector<double>& v) {
  std::string out;
  for (double d : v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.1f", out.empty() ? "" : ", ", d);
    out += buf;
  }
  return out;
}

// Whether `s` is valid UTF-8 (messages must be, whatever the input was).
bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

std::string Base64(const std::string& in) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int k = 3; k >= 0; --k) out += kAlphabet[(v >> (6 * k)) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// A file in a fresh temporary directory, removed with it.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/psink-hardening-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/secret";
    Write(content);
  }
  ~TempFile() {
    ::unlink(path_.c_str());
    ::unlink((path_ + ".new").c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  // Rewrites the file in place.
  void Write(const std::string& content) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << content;
    REQUIRE(out.good());
  }
  // Replaces the file atomically (write a new file, rename it over the old
  // one), as secret managers and Kubernetes do.
  void Replace(const std::string& content) {
    {
      std::ofstream out(path_ + ".new", std::ios::binary | std::ios::trunc);
      out << content;
      REQUIRE(out.good());
    }
    REQUIRE(::rename((path_ + ".new").c_str(), path_.c_str()) == 0);
  }
  void Remove() { ::unlink(path_.c_str()); }

 private:
  std::string dir_, path_;
};

// Two rows of one series; what the receiver stores for them.
const std::string kTwoRows = R"(INSERT INTO m VALUES ('{"__name__":"hz","k":"v"}', 1.5, 1000), ('{"__name__":"hz","k":"v"}', 2.5, 2000))";
const std::string kTwoSamples = S("{__name__=\"hz\",k=\"v\"}", 1000, 1.5) + S("{__name__=\"hz\",k=\"v\"}", 2000, 2.5);

// RFC 7231 IMF-fixdate of a time_t.
std::string HttpDate(time_t t) {
  struct tm tm {};
  gmtime_r(&t, &tm);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// Peak resident set of this process (VmHWM), in KiB.
int64_t PeakRssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

int64_t RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

}  // namespace

// =================================================================== faults

// What a sink does when the receiver fails: which answers are retried, how
// long each retry waits (checked from the receiver's clock: a lower bound,
// from when the refusal was answered to when the retry arrived), what the
// user is told when the retries run out, and what a failed request does to
// the transaction.
TEST_SUITE("faults") {

TEST_CASE("500, 502, 503, 504 answered twice, then 204: the same request is resent until stored, once") {
  for (int status : {500, 502, 503, 504}) {
    CAPTURE(status);
    Receiver rx;
    Db db;
    db.Ok("CREATE TABLE t(x)");
    db.Sink("m", rx.url(), kFastRetry + ", retry=3");
    rx.Enqueue(Response::Status(status, "transient trouble " + std::to_string(status)));
    rx.Enqueue(Response::Status(status, "transient trouble " + std::to_string(status)));
    Outcome commit = CommitWith(db, kTwoRows);
    CHECK_MESSAGE(commit.ok(), commit.msg);
    CHECK(db.Int("SELECT count(*) FROM t") == 1);
    REQUIRE(rx.RequestCount() == 3);
    auto reqs = rx.Requests();
    CHECK(reqs[0].answered_status == status);
    CHECK(reqs[1].answered_status == status);
    CHECK(reqs[2].answered_status == 204);
    CHECK(reqs[0].body == reqs[1].body);  // the same request, resent
    CHECK(reqs[0].body == reqs[2].body);
    CheckWaits(rx, {10, 20});             // kFastRetry's backoff: 10 ms, then 20 ms
    CHECK(Joined(rx.Samples()) == kTwoSamples);
    CHECK(rx.AllSamples().size() == 6);
    CHECK(Stat(db, "requests") == "3");
    CHECK(Stat(db, "retries") == "2");
    CHECK(Stat(db, "samples_sent") == "2");
    CHECK(Stat(db, "failures") == "0");
    CheckNoViolations(rx);
  }
}

TEST_CASE("400, 401, 403, 404, 409, 413, 415, 422 are not retried: one request, COMMIT fails with the status") {
  for (int status : {400, 401, 403, 404, 409, 413, 415, 422}) {
    CAPTURE(status);
    Receiver rx;
    Db db;
    db.Ok("CREATE TABLE t(x)");
    db.Sink("m", rx.url(), kFastRetry + ", retry=3");
    const std::string body = "refused with " + std::to_string(status) + ": go away";
    rx.Enqueue(Response::Status(status, body));
    Outcome commit = CommitWith(db, kTwoRows);
    CHECK(commit.rc == SQLITE_ERROR);
    CHECK(StartsWith(commit.msg, "prometheus_sink:"));
    CHECK(Contains(commit.msg, "HTTP " + std::to_string(status)));
    CHECK(Contains(commit.msg, body));
    CHECK(Contains(commit.msg, "not retried"));
    CheckRolledBack(db);
    CHECK(rx.RequestCount() == 1);
    CHECK(rx.Samples().empty());
    CHECK(Stat(db, "requests") == "1");
    CHECK(Stat(db, "failures") == "1");
    CHECK(Stat(db, "last_status") == std::to_string(status));
    // The next transaction carries only its own rows.
    db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"after"}', 9, 9000))");
    CHECK(rx.RequestCount() == 2);
    CHECK(Joined(rx.Samples()) == S("{__name__=\"after\"}", 9000, 9));
    CheckNoViolations(rx);
  }
}

TEST_CASE("429 without Retry-After is retried after the backoff") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", retry=3");
  rx.Enqueue(Response::Status(429, "too many requests"));
  db.Ok(kTwoRows);
  CHECK(rx.RequestCount() == 2);
  CheckWaits(rx, {10});
  CHECK(Joined(rx.Samples()) == kTwoSamples);
  CHECK(Stat(db, "retries") == "1");
  CheckNoViolations(rx);
}

TEST_CASE("429 with Retry-After: 1 (seconds) is retried a second after the refusal, not after the backoff") {
  Receiver rx;
  Db db;
  // The backoff alone would wait 10 ms: the wait seen is Retry-After's.
  db.Sink("m", rx.url(), "retry=3, retry_backoff_multiplier_ms=10, retry_backoff_max_ms=5000");
  rx.Enqueue(Response::Status(429, "slow down", {{"Retry-After", "1"}}));
  db.Ok(kTwoRows);
  REQUIRE(rx.RequestCount() == 2);
  MESSAGE("Retry-After: 1 -> the retry came " << Show(Waits(rx)) << " ms after the refusal");
  CheckWaits(rx, {1000});
  CHECK(Joined(rx.Samples()) == kTwoSamples);
  CHECK(Stat(db, "retries") == "1");
  CheckNoViolations(rx);
}

TEST_CASE("Retry-After as an HTTP date: retried no earlier than a date 2 s ahead; a date in the past is retried") {
  {
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), "retry=3, retry_backoff_multiplier_ms=10, retry_backoff_max_ms=5000");
    const time_t at = ::time(nullptr) + 2;  // a whole second 1 to 2 s from now
    const std::string date = HttpDate(at);
    rx.Enqueue(Response::Status(429, "slow down", {{"Retry-After", date}}));
    db.Ok(kTwoRows);
    REQUIRE(rx.RequestCount() == 2);
    auto reqs = rx.Requests();
    auto at_tp = std::chrono::system_clock::from_time_t(at);
    double early_ms = MsF(at_tp - reqs[1].received_wall);  // > 0: the retry came before the date
    MESSAGE("Retry-After: " << date << " -> retry " << -early_ms << " ms after that date, "
                            << Show(Waits(rx)) << " ms after the refusal");
    CHECK(reqs[1].received_wall >= at_tp - std::chrono::milliseconds(20));
    CHECK(Joined(rx.Samples()) == kTwoSamples);
    CheckNoViolations(rx);
  }
  {
    // A date in the past asks for no wait: it is neither a reason to fail
    // (more than retry_backoff_max_ms) nor to wait longer than the backoff.
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), "retry_backoff_multiplier_ms=10, retry_backoff_max_ms=1000");
    rx.Enqueue(Response::Status(503, "", {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}));
    db.Ok(kTwoRows);
    CHECK(rx.RequestCount() == 2);
    CHECK(Joined(rx.Samples()) == kTwoSamples);
    CHECK(Stat(db, "retries") == "1");
    CheckNoViolations(rx);
  }
}

TEST_CASE("Retry-After longer than retry_backoff_max_ms fails at once") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "retry=5, retry_backoff_multiplier_ms=10, retry_backoff_max_ms=1000");
  rx.SetDefault(Response::Status(503, "maintenance", {{"Retry-After", "120"}}));
  Outcome o = db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"r"}', 1, 1000))");
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(StartsWith(o.msg, "prometheus_sink:"));
  CHECK(Contains(o.msg, "503"));
  CHECK(Contains(o.msg, "retry_backoff_max_ms"));
  CHECK(rx.RequestCount() == 1);
  CheckNoViolations(rx);
}

TEST_CASE("connection refused: retried, then a clear error; the transaction rolls back") {
  Db db;
  db.Ok("CREATE TABLE t(x)");
  const std::string url = "http://127.0.0.1:" + std::to_string(Receiver::ClosedPort()) + "/api/v1/write";
  db.Sink("m", url, kFastRetry + ", retry=2");
  Outcome commit = CommitWith(db, kTwoRows);
  MESSAGE("connection refused: " << commit.msg);
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(StartsWith(commit.msg, "prometheus_sink:"));
  CHECK(Contains(commit.msg, url));
  CHECK(Contains(commit.msg, "after 3 attempts"));
  CHECK(Contains(commit.msg, "connect"));
  CheckRolledBack(db);
  CHECK(Stat(db, "requests") == "3");
  CHECK(Stat(db, "retries") == "2");
  CHECK(Stat(db, "failures") == "1");
  CHECK(Stat(db, "samples_sent") == "0");
}

TEST_CASE("DNS failure (.invalid never resolves): retried, then a clear error") {
  Db db;
  db.Ok("CREATE TABLE t(x)");
  // connect_timeout_ms bounds the lookup too, should the resolver be slow.
  db.Sink("m", "http://nonexistent.invalid:9/api/v1/write", kFastRetry + ", retry=1, connect_timeout_ms=3000");
  auto start = Clock::now();
  Outcome commit = CommitWith(db, kTwoRows);
  MESSAGE("DNS failure after " << Ms(Clock::now() - start) << " ms: " << commit.msg);
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(StartsWith(commit.msg, "prometheus_sink:"));
  CHECK(Contains(commit.msg, "nonexistent.invalid"));
  CHECK(Contains(commit.msg, "resolve"));
  CHECK(Contains(commit.msg, "after 2 attempts"));
  CheckRolledBack(db);
  CHECK(Stat(db, "requests") == "2");
  CHECK(Stat(db, "failures") == "1");
}

TEST_CASE("a receiver that never answers, or always after socket_timeout_ms: timed out, retried, then a message naming socket_timeout_ms") {
  for (const Response& answer : {Response::Hang(), Response::Slow(4000, 204)}) {
    CAPTURE(answer.delay_ms);
    Receiver rx;
    Db db;
    db.Ok("CREATE TABLE t(x)");
    db.Sink("m", rx.url(), kFastRetry + ", retry=1, socket_timeout_ms=300");
    rx.SetDefault(answer);
    auto start = Clock::now();
    Outcome commit = CommitWith(db, kTwoRows);
    auto end = Clock::now();
    MESSAGE("no answer in time, after " << Ms(end - start) << " ms: " << commit.msg);
    CHECK(commit.rc == SQLITE_ERROR);
    CHECK(StartsWith(commit.msg, "prometheus_sink:"));
    CHECK(Contains(commit.msg, "socket_timeout_ms"));
    CHECK(Contains(commit.msg, "after 2 attempts"));
    CheckRolledBack(db);
    REQUIRE(rx.RequestCount() == 2);
    // (A slow receiver stores what it answers too late; one that never answers stores nothing.)
    if (answer.fault == Response::Fault::kHang) CHECK(rx.Samples().empty());
    // Each of the two attempts waited socket_timeout_ms for an answer.
    // (Measured by the caller: the receiver's clock says when it had read a
    // request, which on a loaded machine may be well after the sink's wait
    // began.)
    CHECK(Ms(end - start) >= 2 * 300);
    CheckNoViolations(rx);
  }
}

TEST_CASE("an answer once later than socket_timeout_ms (none, or a 503 after 4 s): retried, stored once") {
  for (const Response& answer : {Response::Hang(), Response::Slow(4000, 503)}) {
    CAPTURE(answer.delay_ms);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), kFastRetry + ", retry=2, socket_timeout_ms=300");
    rx.Enqueue(answer);
    auto start = Clock::now();
    db.Ok(kTwoRows);
    CHECK(Ms(Clock::now() - start) >= 300);  // the first attempt's wait, measured as above
    REQUIRE(rx.RequestCount() == 2);
    CHECK(Joined(rx.Samples()) == kTwoSamples);
    CHECK(Stat(db, "retries") == "1");
    CheckNoViolations(rx);
  }
}

TEST_CASE("a connection dropped, reset or cut (in the status line, in the body) or a malformed status line is retried; stored once") {
  const std::vector<std::pair<const char*, Response>> faults = {
      {"cut status line", Response::CloseMidStatusLine()},
      {"cut body", Response::CloseMidBody()},
      {"dropped", Response::Drop()},
      {"reset", Response::Reset()},
      {"malformed status line", Response::MalformedStatusLine()}};
  for (const auto& fault : faults) {
    CAPTURE(fault.first);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), kFastRetry + ", retry=3");
    rx.Enqueue(fault.second);
    db.Ok(kTwoRows);
    CHECK(rx.RequestCount() == 2);
    CHECK(Joined(rx.Samples()) == kTwoSamples);
    CHECK(Stat(db, "retries") == "1");
    CheckNoViolations(rx);
  }
  // All of them in a row: each retried in turn.
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", retry=5");
  for (const auto& fault : faults) rx.Enqueue(fault.second);
  db.Ok(kTwoRows);
  CHECK(rx.RequestCount() == faults.size() + 1);
  CHECK(Joined(rx.Samples()) == kTwoSamples);
  CHECK(Stat(db, "retries") == std::to_string(faults.size()));
  CheckNoViolations(rx);
}

TEST_CASE("a connection always closed mid-body fails after the retries with a clear message") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", retry=2");
  rx.SetDefault(Response::CloseMidBody());
  Outcome o = db.Exec(kTwoRows);
  MESSAGE("always closed mid-body: " << o.msg);
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(StartsWith(o.msg, "prometheus_sink:"));
  CHECK(Contains(o.msg, "after 3 attempts"));
  CHECK(rx.RequestCount() == 3);
  CHECK(rx.Samples().empty());
  CheckNoViolations(rx);
}

TEST_CASE("an empty 200 (no body) is a success") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", retry=3");
  rx.Enqueue(Response::Status(200));
  db.Ok(kTwoRows);
  REQUIRE(rx.RequestCount() == 1);
  CHECK(rx.Requests()[0].answered_status == 200);
  CHECK(Joined(rx.Samples()) == kTwoSamples);
  CHECK(Stat(db, "last_status") == "200");
  CHECK(Stat(db, "samples_sent") == "2");
  CheckNoViolations(rx);
}

TEST_CASE("a 1 MiB error body is shown shortened; the message is short") {
  Receiver rx;
  Db db;
  db.Ok("CREATE TABLE t(x)");
  db.Sink("m", rx.url(), kFastRetry + ", retry=3");
  const std::string start = "start-of-the-error-body: the sample is rejected because ";
  rx.Enqueue(Response::Status(400, start + std::string(1 << 20, 'z')));
  Outcome commit = CommitWith(db, kTwoRows);
  MESSAGE("message of " << commit.msg.size() << " bytes: " << commit.msg);
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(StartsWith(commit.msg, "prometheus_sink:"));
  CHECK(Contains(commit.msg, "HTTP 400"));
  CHECK(Contains(commit.msg, start + "zzzz"));
  CHECK(commit.msg.size() < 1000);
  CheckRolledBack(db);
  CHECK(rx.RequestCount() == 1);
  CHECK(rx.Samples().empty());
  CHECK(Stat(db, "last_error").size() < 1000);
  CheckNoViolations(rx);
}

TEST_CASE("a 1 MiB body with a 503 is read whole: retried on the same connection, stored once") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", retry=3");
  rx.Enqueue(Response::Status(503, "overloaded " + std::string(1 << 20, 'q')));
  db.Ok(kTwoRows);
  CHECK(rx.RequestCount() == 2);
  CHECK(rx.ConnectionCount() == 1);  // the long body was drained: the connection was reused
  CHECK(Joined(rx.Samples()) == kTwoSamples);
  CheckNoViolations(rx);
}

TEST_CASE("the connection is reused between requests") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", retry=0");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"k"}', 1, 1000))");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"k"}', 2, 2000))");
  CHECK(rx.ConnectionCount() == 1);
  CHECK(rx.RequestCount() == 2);
  CheckNoViolations(rx);
}

TEST_CASE("backoff against an always-503: waits of at least 50, 100, 150, 150 ms (capped), then the status and body") {
  Receiver rx;
  Db db;
  db.Ok("CREATE TABLE t(x)");
  db.Sink("m", rx.url(), "retry=4, retry_backoff_multiplier_ms=50, retry_backoff_max_ms=150");
  rx.SetDefault(Response::Status(503, "always busy"));
  Outcome commit = CommitWith(db, kTwoRows);
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(StartsWith(commit.msg, "prometheus_sink:"));
  CHECK(Contains(commit.msg, "HTTP 503"));
  CHECK(Contains(commit.msg, "always busy"));
  CHECK(Contains(commit.msg, "after 5 attempts"));
  CheckRolledBack(db);
  REQUIRE(rx.RequestCount() == 5);
  CHECK(rx.Samples().empty());
  CHECK(Stat(db, "requests") == "5");
  CHECK(Stat(db, "retries") == "4");
  CHECK(Stat(db, "failures") == "1");
  // Lower bounds only: the jitter (0 to 10% more) and the cap are checked
  // exactly by the backoff unit tests (tests/unit/test_backoff.cc).
  MESSAGE("waits after each refusal (ms): " << Show(Waits(rx)));
  CheckWaits(rx, {50, 100, 150, 150});
  CheckNoViolations(rx);
}

TEST_CASE("a request that fails mid-transaction fails the transaction; nothing more is sent") {
  Receiver rx;
  Db db;
  db.Ok("CREATE TABLE t(x)");
  db.Sink("m", rx.url(), kFastRetry + ", retry=0, batch_size=1, max_in_flight=1");  // one queue: the failure surfaces at the next send
  rx.Enqueue(Response::Status(400, "rejected: bad sample"));
  db.Ok("BEGIN");
  db.Ok("INSERT INTO t VALUES (1)");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"mt"}', 1, 1000))");  // a full batch: sent (or in flight)
  // Sending is pipelined: the failure may surface at this insert or the next one, never later.
  db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"mt"}', 2, 2000))");
  Outcome third = db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"mt"}', 3, 3000))");
  CHECK(third.rc == SQLITE_ERROR);
  CHECK(StartsWith(third.msg, "prometheus_sink:"));
  CHECK(Contains(third.msg, "400"));
  CHECK(db.InTransaction());
  Outcome commit = db.Exec("COMMIT");
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(StartsWith(commit.msg, "prometheus_sink:"));
  CHECK(Contains(commit.msg, "400"));
  CHECK(Contains(commit.msg, "rejected: bad sample"));
  CheckRolledBack(db);
  CHECK(rx.RequestCount() == 1);  // nothing after the failure was known
  CHECK(rx.Samples().empty());
  // The next transaction starts clean and carries only its own rows.
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"mt"}', 4, 4000))");
  CHECK(rx.RequestCount() == 2);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"mt\"}", 4000, 4));
  CheckNoViolations(rx);
}

TEST_CASE("after a failed request every insert fails until ROLLBACK, also one that would send nothing") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", retry=0, batch_size=3, max_in_flight=1");  // one queue
  rx.Enqueue(Response::Status(400, "rejected"));
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"d"}', 1, 1000), ('{"__name__":"d"}', 2, 2000),
                                ('{"__name__":"d"}', 3, 3000))");  // a full batch: sent (or in flight)
  // The failure surfaces at one of the next inserts (sending is pipelined)...
  Outcome o;
  int ts = 4000;
  for (int i = 0; i < 3 && o.ok(); ++i, ts += 1000) {
    o = db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"d"}', 4, )" + std::to_string(ts) + ")");
  }
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(Contains(o.msg, "400"));
  // ...and from then on every insert fails, though the batch it would join
  // is far from full and the labels are known.
  for (int i = 0; i < 3; ++i, ts += 1000) {
    Outcome again = db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"d"}', 5, )" + std::to_string(ts) + ")");
    CHECK(again.rc == SQLITE_ERROR);
    CHECK(Contains(again.msg, "earlier request failed"));
  }
  db.Ok("ROLLBACK");
  CHECK(rx.RequestCount() == 1);
  CHECK(rx.Samples().empty());
  CheckNoViolations(rx);
}

TEST_CASE("a failure at COMMIT says how many samples the transaction delivered before it") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", retry=0, batch_size=2");
  rx.Enqueue(Response::Status(204));
  rx.Enqueue(Response::Status(204));
  rx.SetDefault(Response::Status(500, "ingester down"));
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"p"}', 1, 1000), ('{"__name__":"p"}', 2, 2000),
            ('{"__name__":"p"}', 3, 3000), ('{"__name__":"p"}', 4, 4000), ('{"__name__":"p"}', 5, 5000))");
  Outcome commit = db.Exec("COMMIT");
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(Contains(commit.msg, "500"));
  CHECK(Contains(commit.msg, "ingester down"));
  CHECK(Contains(commit.msg, "4 samples"));
  CHECK(rx.RequestCount() == 3);
  CHECK(RequestSizes(rx) == "2,2,1");
  CHECK(rx.Samples().size() == 4);
  CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats WHERE name = 'm'") == 4);
  CHECK(db.Int("SELECT rows_buffered FROM prometheus_sink_stats WHERE name = 'm'") == 0);
  CheckNoViolations(rx);
}

}  // TEST_SUITE faults

// =================================================================== limits

TEST_SUITE("limits") {

TEST_CASE("a 1 MiB label value is delivered exactly; over max_request_bytes it is refused at INSERT") {
  std::string big;
  big.reserve(1 << 20);
  for (size_t i = 0; big.size() < (1u << 20); ++i) big += static_cast<char>('a' + i % 26);
  const std::string row = "('{\"__name__\":\"big\",\"v\":\"" + big + "\"}', 1, 1000)";
  {
    Receiver rx;
    Db db;
    db.Sink("m", rx.url());  // max_request_bytes 8 MiB
    db.Ok("INSERT INTO m VALUES " + row);
    REQUIRE(rx.RequestCount() == 1);
    CHECK(Joined(rx.Samples()) == S("{__name__=\"big\",v=\"" + big + "\"}", 1000, 1));
    CheckNoViolations(rx);
  }
  {
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), "max_request_bytes=524288");
    Outcome o = db.Exec("INSERT INTO m VALUES " + row);
    MESSAGE("1 MiB label, max_request_bytes=524288: " << o.msg);
    CHECK_FALSE(o.ok());
    CHECK(StartsWith(o.msg, "prometheus_sink:"));
    CHECK(Contains(o.msg, "max_request_bytes"));
    CHECK(o.msg.size() < 1000);
    CHECK(rx.RequestCount() == 0);
    // The sink is still usable.
    db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"small"}', 2, 2000))");
    CHECK(Joined(rx.Samples()) == S("{__name__=\"small\"}", 2000, 2));
    CheckNoViolations(rx);
  }
  {
    // Two such series, each within the limit but not together: two requests.
    Receiver rx;
    Db db;
    const size_t limit = (1u << 20) + (1u << 19);
    db.Sink("m", rx.url(), "max_request_bytes=" + std::to_string(limit));
    db.Ok("INSERT INTO m VALUES " + row + ", ('{\"__name__\":\"big2\",\"v\":\"" + big + "\"}', 2, 2000)");
    CHECK(rx.RequestCount() == 2);
    for (const auto& r : rx.Requests()) CHECK(r.write.ByteSizeLong() <= limit);
    CHECK(Joined(rx.Samples()) ==
          S("{__name__=\"big\",v=\"" + big + "\"}", 1000, 1) + S("{__name__=\"big2\",v=\"" + big + "\"}", 2000, 2));
    CheckNoViolations(rx);
  }
}

TEST_CASE("10,000 labels in one row are delivered, sorted by name") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  std::string json = "{";
  for (int i = 9999; i >= 0; --i) {  // reverse order in the JSON
    char buf[48];
    std::snprintf(buf, sizeof buf, "\"l%05d\":\"v%d\",", i, i);
    json += buf;
  }
  json += "\"__name__\":\"wide\"}";
  db.Ok("INSERT INTO m VALUES ('" + json + "', 3, 3000)");
  REQUIRE(rx.RequestCount() == 1);
  auto req = rx.Requests()[0];
  REQUIRE(req.write.timeseries_size() == 1);
  CHECK(req.write.timeseries(0).labels_size() == 10001);
  std::string want = "{__name__=\"wide\"";
  for (int i = 0; i < 10000; ++i) {
    char buf[48];
    std::snprintf(buf, sizeof buf, ",l%05d=\"v%d\"", i, i);
    want += buf;
  }
  want += "}";
  CHECK(Joined(rx.Samples()) == S(want, 3000, 3));
  CheckNoViolations(rx);  // the receiver checks that the names are sorted
}

TEST_CASE("deeply nested JSON (10,000 '[' or '{') fails with a clear error, no crash, nothing sent") {
  const std::string opens[] = {std::string(10000, '['), std::string(10000, '{'),
                               R"({"__name__":"m","a":)" + std::string(10000, '['),
                               R"({"__name__":"m","a":)" + std::string(10000, '[') + std::string(10000, ']') + "}"};
  std::string nested_objects = R"({"__name__":"m","a":)";
  for (int i = 0; i < 10000; ++i) nested_objects += R"({"a":)";
  nested_objects += "1" + std::string(10000, '}') + "}";
  std::vector<std::string> cases(std::begin(opens), std::end(opens));
  cases.push_back(nested_objects);
  for (size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url());
    Outcome o = db.Exec("INSERT INTO m VALUES ('" + cases[i] + "', 1, 1000)");
    MESSAGE("nested #" << i << ": " << o.msg);
    CHECK(o.rc == SQLITE_CONSTRAINT);
    CHECK(StartsWith(o.msg, "prometheus_sink:"));
    CHECK(Contains(o.msg, "'labels'"));
    CHECK(o.msg.size() < 1000);
    CHECK(rx.RequestCount() == 0);
    db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"ok"}', 1, 1000))");  // still alive
    CHECK(rx.RequestCount() == 1);
    CheckNoViolations(rx);
  }
}

TEST_CASE("invalid UTF-8 in a label value fails with a clear error (JSON labels and label columns)") {
  // {"__name__":"m","a":"x<bad>y"} with <bad> one of: a lone continuation
  // byte, 0xFF, an overlong NUL (C0 80), a UTF-16 surrogate (ED A0 80), a
  // truncated 3-byte sequence.
  const char* bad[] = {"80", "FF", "C080", "EDA080", "E282"};
  for (const std::string b : bad) {
    CAPTURE(b);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url());
    db.Ok("CREATE VIRTUAL TABLE temp.w USING prometheus_sink(url='" + rx.url() + "', metric='wm', host)");
    std::string labels = std::string("CAST(x'7B225F5F6E616D655F5F223A226D222C2261223A2278") + b + "79227D' AS TEXT)";
    Outcome o = db.Exec("INSERT INTO m VALUES (" + labels + ", 1, 1000)");
    MESSAGE("invalid UTF-8 " << b << " in JSON: " << o.msg);
    CHECK(o.rc == SQLITE_CONSTRAINT);
    CHECK(StartsWith(o.msg, "prometheus_sink:"));
    CHECK(Contains(o.msg, "'labels'"));
    CHECK(Contains(o.msg, "UTF-8"));
    CHECK(ValidUtf8(o.msg));
    Outcome w = db.Exec(std::string("INSERT INTO w(host, value, timestamp) VALUES (CAST(x'78") + b +
                        "79' AS TEXT), 1, 1000)");
    MESSAGE("invalid UTF-8 " << b << " in a label column: " << w.msg);
    CHECK(w.rc == SQLITE_CONSTRAINT);
    CHECK(StartsWith(w.msg, "prometheus_sink:"));
    CHECK(Contains(w.msg, "'host'"));
    CHECK(Contains(w.msg, "UTF-8"));
    CHECK(ValidUtf8(w.msg));
    CHECK(rx.RequestCount() == 0);
    CheckNoViolations(rx);
  }
}

TEST_CASE("NUL: \\u0000 in a JSON label value is delivered exactly; a raw NUL is refused where text must be read") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok("CREATE VIRTUAL TABLE temp.w USING prometheus_sink(url='" + rx.url() + "', metric='wm', host)");
  // An escaped NUL is valid JSON and valid UTF-8: a 3-byte value "x\0y".
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"nul","a":"x\u0000y"}', 1, 1000))");
  REQUIRE(rx.RequestCount() == 1);
  auto req = rx.Requests()[0];
  REQUIRE(req.write.timeseries_size() == 1);
  REQUIRE(req.write.timeseries(0).labels_size() == 2);
  CHECK(req.write.timeseries(0).labels(1).value() == std::string("x\0y", 3));
  CHECK(Joined(rx.Samples()) == S(std::string("{__name__=\"nul\",a=\"x\0y\"}", 24), 1000, 1));

  // A raw NUL (char(0)) inside a JSON string is an unescaped control
  // character: invalid JSON.
  Outcome o = db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"nul","a":"x' || char(0) || 'y"}', 1, 2000))");
  MESSAGE("raw NUL in a JSON string: " << o.msg);
  CHECK(o.rc == SQLITE_CONSTRAINT);
  CHECK(Contains(o.msg, "'labels'"));
  CHECK(Contains(o.msg, "control character"));
  CHECK(ValidUtf8(o.msg));
  // A raw NUL after the object is not "the end of the text".
  o = db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"nul"}' || char(0), 1, 2000))");
  MESSAGE("raw NUL after the JSON object: " << o.msg);
  CHECK(o.rc == SQLITE_CONSTRAINT);
  CHECK(Contains(o.msg, "'labels'"));
  // A value or a timestamp is not read up to a NUL and accepted.
  o = db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"nul"}', '1' || char(0) || '5', 2000))");
  MESSAGE("raw NUL in a value: " << o.msg);
  CHECK(o.rc == SQLITE_CONSTRAINT);
  CHECK(Contains(o.msg, "'value'"));
  o = db.Exec(R"(INSERT INTO m VALUES ('{"__name__":"nul"}', 1, '2000' || char(0) || '9'))");
  MESSAGE("raw NUL in a timestamp: " << o.msg);
  CHECK(o.rc == SQLITE_CONSTRAINT);
  CHECK(Contains(o.msg, "'timestamp'"));
  CHECK(rx.RequestCount() == 1);

  // A label column is TEXT taken as it is: a NUL inside is valid UTF-8 and
  // must arrive whole (not cut at the NUL).
  db.Ok("INSERT INTO w(host, value, timestamp) VALUES ('x' || char(0) || 'y', 4, 4000)");
  REQUIRE(rx.RequestCount() == 2);
  auto req2 = rx.Requests()[1];
  REQUIRE(req2.write.timeseries_size() == 1);
  std::string host;
  for (const auto& l : req2.write.timeseries(0).labels()) {
    if (l.name() == "host") host = l.value();
  }
  CHECK(host == std::string("x\0y", 3));
  CheckNoViolations(rx);
}

TEST_CASE("64-bit timestamps in every unit: exact conversion at INT64 min/max, or a clear overflow error") {
  struct Case {
    const char* unit;
    const char* ts;  // SQL expression
    bool ok;
    int64_t ms;
  };
  const int64_t kMax = std::numeric_limits<int64_t>::max(), kMin = std::numeric_limits<int64_t>::min();
  const Case cases[] = {
      {"s", "9223372036854775807", false, 0},
      {"s", "-9223372036854775808", false, 0},
      {"s", "9223372036854776", false, 0},  // one more than fits
      {"s", "-9223372036854776", false, 0},
      {"s", "9223372036854775", true, 9223372036854775000},
      {"s", "-9223372036854775", true, -9223372036854775000},
      {"s", "'9223372036854775807'", false, 0},
      {"s", "1e300", false, 0},
      {"s", "9.2e15", true, 9200000000000000000},
      {"ms", "9223372036854775807", true, kMax},
      {"ms", "-9223372036854775808", true, kMin},
      {"ms", "'9223372036854775807'", true, kMax},
      {"ms", "'-9223372036854775808'", true, kMin},
      {"ms", "'9223372036854775808'", false, 0},
      {"ms", "9.3e18", false, 0},
      {"ms", "-9.3e18", false, 0},
      {"us", "9223372036854775807", true, 9223372036854775},
      {"us", "-9223372036854775808", true, -9223372036854776},  // toward negative infinity
      {"ns", "9223372036854775807", true, 9223372036854},
      {"ns", "-9223372036854775808", true, -9223372036855},
      {"ns", "'-9223372036854775808'", true, -9223372036855},
  };
  for (const Case& c : cases) {
    std::string what = std::string(c.unit) + " " + c.ts;
    CAPTURE(what);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), std::string("timestamp_unit=") + c.unit);
    Outcome o = db.Exec(std::string(R"(INSERT INTO m VALUES ('{"__name__":"t64"}', 1, )") + c.ts + ")");
    if (c.ok) {
      CHECK_MESSAGE(o.ok(), o.msg);
      CHECK(Joined(rx.Samples()) == S("{__name__=\"t64\"}", c.ms, 1));
    } else {
      MESSAGE(what << ": " << o.msg);
      CHECK(o.rc == SQLITE_CONSTRAINT);
      CHECK(StartsWith(o.msg, "prometheus_sink:"));
      CHECK(Contains(o.msg, "'timestamp'"));
      CHECK(rx.RequestCount() == 0);
    }
    CheckNoViolations(rx);
  }
}

TEST_CASE("negative and far-future timestamps (to year 9999) are delivered exactly") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  db.Ok(R"(INSERT INTO m VALUES
            ('{"__name__":"far","c":"a"}', 1, -1),
            ('{"__name__":"far","c":"b"}', 2, -86400000),
            ('{"__name__":"far","c":"c"}', 3, '1969-12-31T23:59:59.999Z'),
            ('{"__name__":"far","c":"d"}', 4, '0001-01-01T00:00:00Z'),
            ('{"__name__":"far","c":"e"}', 5, '9999-12-31T23:59:59.999Z'),
            ('{"__name__":"far","c":"f"}', 6, 253402300799999),
            ('{"__name__":"far","c":"g"}', 7, '9999-12-31 23:59:59.999+14:00'),
            ('{"__name__":"far","c":"h"}', 8, '1900-01-01 00:00:00'))");
  REQUIRE(rx.RequestCount() == 1);
  CHECK(Joined(BySeries(rx.Samples())) ==
        S("{__name__=\"far\",c=\"a\"}", -1, 1) + S("{__name__=\"far\",c=\"b\"}", -86400000, 2) +
        S("{__name__=\"far\",c=\"c\"}", -1, 3) + S("{__name__=\"far\",c=\"d\"}", -62135596800000, 4) +
        S("{__name__=\"far\",c=\"e\"}", 253402300799999, 5) + S("{__name__=\"far\",c=\"f\"}", 253402300799999, 6) +
        S("{__name__=\"far\",c=\"g\"}", 253402300799999 - 14 * 3600000LL, 7) +
        S("{__name__=\"far\",c=\"h\"}", -2208988800000, 8));
  CheckNoViolations(rx);
}

TEST_CASE("batch_size=1: one request per row") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "batch_size=1");
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"one"}', 1, 1000), ('{"__name__":"one"}', 2, 2000),
            ('{"__name__":"one"}', 3, 3000), ('{"__name__":"one"}', 4, 4000), ('{"__name__":"one"}', 5, 5000))");
  db.Ok("COMMIT");
  CHECK(rx.RequestCount() == 5);
  CHECK(RequestSizes(rx) == "1,1,1,1,1");
  CHECK(Joined(rx.Samples()) == S("{__name__=\"one\"}", 1000, 1) + S("{__name__=\"one\"}", 2000, 2) +
                                    S("{__name__=\"one\"}", 3000, 3) + S("{__name__=\"one\"}", 4000, 4) +
                                    S("{__name__=\"one\"}", 5000, 5));
  CHECK(Stat(db, "requests") == "5");
  CheckNoViolations(rx);
}

TEST_CASE("batch_size=10000000 with 200,000 rows: one request at COMMIT, memory bounded") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "batch_size=10000000");
  const int kRows = 200000;
  const int64_t rss0 = RssKiB(), peak0 = PeakRssKiB();
  db.Ok("BEGIN");
  // 1000 series x 200 samples: small enough for one request under the
  // default max_request_bytes (8 MiB).
  db.Ok("WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < " + std::to_string(kRows - 1) +
        ") INSERT INTO m(labels, value, timestamp) "
        "SELECT json_object('__name__', 'bulk', 's', printf('%04d', i % 1000)), i, 1700000000000 + i FROM c");
  const int64_t rss_buffered = RssKiB();
  CHECK(rx.RequestCount() == 0);
  CHECK(db.Int("SELECT rows_buffered FROM prometheus_sink_stats WHERE name = 'm'") == kRows);
  auto start = Clock::now();
  db.Ok("COMMIT");
  const int64_t commit_ms = Ms(Clock::now() - start);
  const int64_t peak1 = PeakRssKiB();
  REQUIRE(rx.RequestCount() == 1);
  auto req = rx.Requests()[0];
  CHECK(req.SampleCount() == static_cast<size_t>(kRows));
  CHECK(req.write.timeseries_size() == 1000);
  auto samples = rx.Samples();
  REQUIRE(samples.size() == static_cast<size_t>(kRows));
  std::set<std::pair<std::string, int64_t>> seen;
  bool exact = true;
  for (const auto& s : samples) {
    seen.emplace(s.labels, s.ts);
    int64_t i = s.ts - 1700000000000;
    char want[64];
    std::snprintf(want, sizeof want, "{__name__=\"bulk\",s=\"%04d\"}", static_cast<int>(i % 1000));
    if (s.labels != want || s.value() != static_cast<double>(i)) exact = false;
  }
  CHECK(exact);
  CHECK(seen.size() == static_cast<size_t>(kRows));  // no sample twice
  MESSAGE("200,000 rows: body " << req.body.size() << " bytes compressed, " << req.write.ByteSizeLong()
                                << " uncompressed; COMMIT took " << commit_ms << " ms; RSS +"
                                << (rss_buffered - rss0) / 1024 << " MiB while buffered, peak +"
                                << (peak1 - peak0) / 1024 << " MiB (sink and receiver together)");
  // The sink's buffer of 200,000 rows (before the receiver holds anything).
  CHECK(rss_buffered - rss0 < 64 * 1024);
  // Sink, encoder and the test receiver's decoded copies together.
  CHECK(peak1 - peak0 < 512 * 1024);
  CheckNoViolations(rx);
}

}  // TEST_SUITE limits

// =================================================================== auth

TEST_SUITE("auth") {

// The Authorization header of the only (or the i-th) request.
std::string AuthOf(const Receiver& rx, size_t i = 0) {
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() > i);
  CHECK(reqs[i].HeaderCount("Authorization") == 1);
  return reqs[i].Header("Authorization");
}

const char kSecret[] = "Zq7-SECRET-tok-0x5eed";  // distinctive: must never show

TEST_CASE("bearer_token inline: Authorization: Bearer <token> arrives") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), std::string("bearer_token='") + kSecret + "'");
  db.Ok(kTwoRows);
  CHECK(AuthOf(rx) == std::string("Bearer ") + kSecret);
  CHECK(Joined(rx.Samples()) == kTwoSamples);
  CheckNoViolations(rx);
}

TEST_CASE("bearer_token_file is read at each request: a rotated token is picked up") {
  Receiver rx;
  Db db;
  TempFile file("token-one\n");
  db.Sink("m", rx.url(), "bearer_token_file='" + file.path() + "'");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"rot"}', 1, 1000))");
  CHECK(AuthOf(rx, 0) == "Bearer token-one");  // trailing newline dropped
  file.Write("token-two");                      // rewritten in place
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"rot"}', 2, 2000))");
  CHECK(AuthOf(rx, 1) == "Bearer token-two");
  file.Replace("token-three\r\n");  // replaced by rename
  db.Ok("BEGIN");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"rot"}', 3, 3000))");
  db.Ok("COMMIT");
  CHECK(AuthOf(rx, 2) == "Bearer token-three");
  CHECK(rx.RequestCount() == 3);
  CHECK(Joined(rx.Samples()) ==
        S("{__name__=\"rot\"}", 1000, 1) + S("{__name__=\"rot\"}", 2000, 2) + S("{__name__=\"rot\"}", 3000, 3));
  CheckNoViolations(rx);
}

TEST_CASE("bearer_token_file removed after CREATE: the send fails naming the option, nothing is sent") {
  Receiver rx;
  Db db;
  db.Ok("CREATE TABLE t(x)");
  TempFile file(kSecret);
  db.Sink("m", rx.url(), "bearer_token_file='" + file.path() + "'");
  file.Remove();
  Outcome commit = CommitWith(db, kTwoRows);
  MESSAGE("token file removed: " << commit.msg);
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(StartsWith(commit.msg, "prometheus_sink:"));
  CHECK(Contains(commit.msg, "bearer_token_file"));
  CHECK_FALSE(Contains(commit.msg, kSecret));
  CheckRolledBack(db);
  CHECK(rx.RequestCount() == 0);
  CheckNoViolations(rx);
}

TEST_CASE("bearer_token_env: the variable set before CREATE is sent; a changed value is picked up") {
  Receiver rx;
  Db db;
  ::setenv("PSINK_HARDENING_TOKEN", "env-token-1", 1);
  db.Sink("m", rx.url(), "bearer_token_env='PSINK_HARDENING_TOKEN'");
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"env"}', 1, 1000))");
  CHECK(AuthOf(rx, 0) == "Bearer env-token-1");
  ::setenv("PSINK_HARDENING_TOKEN", "env-token-2", 1);
  db.Ok(R"(INSERT INTO m VALUES ('{"__name__":"env"}', 2, 2000))");
  CHECK(AuthOf(rx, 1) == "Bearer env-token-2");
  ::unsetenv("PSINK_HARDENING_TOKEN");
  CHECK(rx.Samples().size() == 2);
  CheckNoViolations(rx);
}

TEST_CASE("username + password / password_file / password_env: Basic auth with the right base64") {
  const std::string user = "alice", pw = std::string("pw:") + kSecret + "-é";
  const std::string want = "Basic " + Base64(user + ":" + pw);
  TempFile file(pw + "\n");
  ::setenv("PSINK_HARDENING_PASSWORD", pw.c_str(), 1);
  const std::string forms[] = {"password='" + pw + "'", "password_file='" + file.path() + "'",
                               "password_env='PSINK_HARDENING_PASSWORD'"};
  for (const std::string& form : forms) {
    CAPTURE(form);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), "username='" + user + "', " + form);
    db.Ok(kTwoRows);
    CHECK(AuthOf(rx) == want);
    CHECK(Joined(rx.Samples()) == kTwoSamples);
    CheckNoViolations(rx);
  }
  ::unsetenv("PSINK_HARDENING_PASSWORD");
  CHECK(want == "Basic " + Base64("alice:pw:Zq7-SECRET-tok-0x5eed-\xc3\xa9"));
  CHECK(Base64("ab") == "YWI=");  // the test's own encoder
}

TEST_CASE("CREATE with a missing file or an unset variable fails naming the option, not the secret") {
  Receiver rx;
  Db db;
  ::unsetenv("PSINK_HARDENING_UNSET");
  struct Case {
    std::string options;
    std::string option;  // the name the message must show
  };
  const Case cases[] = {
      {"bearer_token_file='/nonexistent/psink/token'", "bearer_token_file"},
      {"bearer_token_env='PSINK_HARDENING_UNSET'", "bearer_token_env"},
      {"username='u', password_file='/nonexistent/psink/password'", "password_file"},
      {"username='u', password_env='PSINK_HARDENING_UNSET'", "password_env"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.options);
    Outcome o = db.Exec("CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='" + rx.url() + "', " + c.options + ")");
    MESSAGE(c.option << ": " << o.msg);
    CHECK_FALSE(o.ok());
    CHECK(StartsWith(o.msg, "prometheus_sink:"));
    CHECK(Contains(o.msg, c.option));
  }
  // A credential that cannot be sent (a control character) is refused
  // without being shown, whatever its form.
  TempFile file(std::string("ctl-") + kSecret + "\x01-end");
  ::setenv("PSINK_HARDENING_CTL", (std::string("ctl-") + kSecret + "\x01-end").c_str(), 1);
  const Case secret_cases[] = {
      {"bearer_token='ctl-" + std::string(kSecret) + "\x01-end'", "bearer_token"},
      {"bearer_token_file='" + file.path() + "'", "bearer_token"},
      {"bearer_token_env='PSINK_HARDENING_CTL'", "bearer_token"},
      {"username='u', password='ctl-" + std::string(kSecret) + "\x01-end'", "password"},
      {"username='u', password_file='" + file.path() + "'", "password"},
      {"headers='{\"Authorization\": \"ctl-" + std::string(kSecret) + "\\u0001-end\"}'", "headers"},
  };
  for (const Case& c : secret_cases) {
    CAPTURE(c.options);
    Outcome o = db.Exec("CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='" + rx.url() + "', " + c.options + ")");
    MESSAGE(c.option << " with a control character: " << o.msg);
    CHECK_FALSE(o.ok());
    CHECK(StartsWith(o.msg, "prometheus_sink:"));
    CHECK(Contains(o.msg, c.option));
    CHECK_FALSE(Contains(o.msg, kSecret));
  }
  ::unsetenv("PSINK_HARDENING_CTL");
  CHECK(rx.RequestCount() == 0);
}

TEST_CASE("a 401: no message and no stats column shows the token, the password or their encodings") {
  TempFile file(kSecret);
  ::setenv("PSINK_HARDENING_SECRET", kSecret, 1);
  const std::string secret = kSecret;
  // {options, url userinfo}
  const std::pair<std::string, std::string> forms[] = {
      {"bearer_token='" + secret + "'", ""},
      {"bearer_token_file='" + file.path() + "'", ""},
      {"bearer_token_env='PSINK_HARDENING_SECRET'", ""},
      {"username='bob', password='" + secret + "'", ""},
      {"username='bob', password_file='" + file.path() + "'", ""},
      {"username='bob', password_env='PSINK_HARDENING_SECRET'", ""},
      {"headers='{\"Authorization\": \"Bearer " + secret + "\"}'", ""},
      {"", "bob:" + secret + "@"},
  };
  const std::string forbidden[] = {secret, Base64("bob:" + secret), Base64(secret), "bob:"};
  for (const auto& [options, userinfo] : forms) {
    std::string form = options + userinfo;
    CAPTURE(form);
    Receiver rx;
    Db db;
    db.Ok("CREATE TABLE t(x)");
    const std::string url = "http://" + userinfo + "127.0.0.1:" + std::to_string(rx.port()) + "/api/v1/write";
    db.Sink("m", url, kFastRetry + ", retry=2" + (options.empty() ? "" : ", " + options));
    rx.SetDefault(Response::Status(401, "unauthorized: bad credentials"));
    Outcome commit = CommitWith(db, kTwoRows);
    CHECK(commit.rc == SQLITE_ERROR);
    CHECK(Contains(commit.msg, "HTTP 401"));
    CHECK(Contains(commit.msg, "unauthorized: bad credentials"));
    CheckRolledBack(db);
    REQUIRE(rx.RequestCount() == 1);  // 401 is not retried
    CHECK(rx.Requests()[0].HasHeader("Authorization"));
    CHECK(Contains(rx.Requests()[0].Header("Authorization"), options.rfind("username", 0) == 0 || !userinfo.empty()
                                                                 ? Base64("bob:" + secret)
                                                                 : secret));
    std::string stats;
    {
      sqlite3_stmt* st = nullptr;
      REQUIRE(sqlite3_prepare_v2(db.get(), "SELECT * FROM prometheus_sink_stats", -1, &st, nullptr) == SQLITE_OK);
      while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); ++i) {
          const unsigned char* v = sqlite3_column_text(st, i);
          stats += std::string(sqlite3_column_name(st, i)) + "=" + (v ? reinterpret_cast<const char*>(v) : "NULL") + " ";
        }
      }
      sqlite3_finalize(st);
    }
    CHECK(Contains(stats, "last_error=POST "));
    CHECK(Contains(stats, "HTTP 401"));
    for (const std::string& f : forbidden) {
      CAPTURE(f);
      CHECK_FALSE(Contains(commit.msg, f));
      CHECK_FALSE(Contains(stats, f));
    }
    if (!userinfo.empty()) {
      CHECK(Contains(commit.msg, "http://***@127.0.0.1:"));
      CHECK(Stat(db, "url") == "http://***@127.0.0.1:" + std::to_string(rx.port()) + "/api/v1/write");
    }
    CheckNoViolations(rx);
  }
  ::unsetenv("PSINK_HARDENING_SECRET");
}

TEST_CASE("a URL with user:pass@ sends basic auth and shows ***@ in messages, also on connection errors") {
  Receiver rx;
  Db db;
  const std::string secret = kSecret;
  db.Sink("m", "http://carol:" + secret + "@127.0.0.1:" + std::to_string(rx.port()) + "/api/v1/write");
  db.Ok(kTwoRows);
  CHECK(AuthOf(rx) == "Basic " + Base64("carol:" + secret));
  CHECK(Stat(db, "url") == "http://***@127.0.0.1:" + std::to_string(rx.port()) + "/api/v1/write");
  // A connection error: the URL in the message is masked too.
  const std::string closed = "http://carol:" + secret + "@127.0.0.1:" + std::to_string(Receiver::ClosedPort()) + "/w";
  db.Sink("down", closed, kFastRetry + ", retry=0");
  Outcome o = db.Exec(R"(INSERT INTO down VALUES ('{"__name__":"x"}', 1, 1000))");
  MESSAGE("masked: " << o.msg);
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(Contains(o.msg, "http://***@127.0.0.1:"));
  CHECK_FALSE(Contains(o.msg, secret));
  CHECK_FALSE(Contains(o.msg, "carol"));
  CHECK_FALSE(Contains(Stat(db, "last_error", "down"), secret));
  CHECK(Joined(rx.Samples()) == kTwoSamples);
  CheckNoViolations(rx);
}

TEST_CASE("headers with Authorization: arrives once, never in messages") {
  Receiver rx;
  Db db;
  const std::string secret = kSecret;
  db.Sink("m", rx.url(), kFastRetry + ", retry=0, headers='{\"Authorization\": \"Token " + secret + "\"}'");
  db.Ok(kTwoRows);
  CHECK(AuthOf(rx) == "Token " + secret);
  rx.Enqueue(Response::Status(403, "forbidden"));
  Outcome o = db.Exec(kTwoRows);
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(Contains(o.msg, "HTTP 403"));
  CHECK_FALSE(Contains(o.msg, secret));
  CHECK_FALSE(Contains(Stat(db, "last_error"), secret));
  CHECK(rx.RequestCount() == 2);
  CHECK(Joined(rx.Samples()) == kTwoSamples);
  CheckNoViolations(rx);
}

TEST_CASE("follow_redirects=false (default): a 307 is not followed, to the same receiver or another one") {
  for (bool same : {true, false}) {
    CAPTURE(same);
    Receiver rx, other;
    Db db;
    db.Sink("m", rx.url(), kFastRetry + ", retry=3");
    const std::string location = same ? rx.url("/moved/here") : other.url();
    rx.Enqueue(Response::Status(307, "", {{"Location", location}}));
    Outcome o = db.Exec(kTwoRows);
    MESSAGE("307 not followed: " << o.msg);
    CHECK(o.rc == SQLITE_ERROR);
    CHECK(StartsWith(o.msg, "prometheus_sink:"));
    CHECK(Contains(o.msg, "307"));
    CHECK(Contains(o.msg, location));
    CHECK(rx.RequestCount() == 1);
    CHECK(other.RequestCount() == 0);
    CHECK(rx.Samples().empty());
    CheckNoViolations(rx);
  }
}

TEST_CASE("follow_redirects=true: a 307 or 308 to another path of the same receiver is followed; stored once") {
  for (int status : {307, 308}) {
    CAPTURE(status);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), kFastRetry + ", retry=3, follow_redirects=true, bearer_token='same-host-token'");
    rx.Enqueue(Response::Status(status, "", {{"Location", "/moved/here"}}));
    db.Ok(kTwoRows);
    REQUIRE(rx.RequestCount() == 2);
    auto reqs = rx.Requests();
    CHECK(reqs[0].target == "/api/v1/write");
    CHECK(reqs[1].target == "/moved/here");
    CHECK(reqs[1].method == "POST");
    CHECK(reqs[0].body == reqs[1].body);
    CHECK(reqs[1].Header("Authorization") == "Bearer same-host-token");  // same host: kept
    CHECK(Joined(rx.Samples()) == kTwoSamples);
    CHECK(Stat(db, "failures") == "0");
    CheckNoViolations(rx);
  }
}

TEST_CASE("follow_redirects=true: credentials are not sent to another host (another port)") {
  const std::string secret = kSecret;
  const std::string forms[] = {"bearer_token='" + secret + "'", "username='bob', password='" + secret + "'"};
  for (const std::string& form : forms) {
    CAPTURE(form);
    Receiver rx, other;
    Db db;
    db.Sink("m", rx.url(), kFastRetry + ", retry=0, follow_redirects=true, " + form);
    rx.Enqueue(Response::Status(307, "", {{"Location", other.url("/other")}}));
    Outcome o = db.Exec(kTwoRows);
    CHECK_MESSAGE(o.ok(), o.msg);
    REQUIRE(rx.RequestCount() == 1);
    REQUIRE(other.RequestCount() == 1);
    CHECK(rx.Requests()[0].HasHeader("Authorization"));
    auto req = other.Requests()[0];
    CHECK(req.target == "/other");
    CHECK_FALSE(req.HasHeader("Authorization"));
    CHECK(rx.Samples().empty());
    CHECK(Joined(other.Samples()) == kTwoSamples);
    CheckNoViolations(rx);
    CheckNoViolations(other);
  }
}

TEST_CASE("follow_redirects=true: a redirect to a non-http scheme is refused") {
  Receiver rx;
  Db db;
  db.Ok("CREATE TABLE t(x)");
  db.Sink("m", rx.url(), kFastRetry + ", retry=2, follow_redirects=true");
  rx.SetDefault(Response::Status(307, "", {{"Location", "ftp://127.0.0.1/x"}}));
  Outcome commit = CommitWith(db, kTwoRows);
  MESSAGE("redirect to ftp: " << commit.msg << " (" << rx.RequestCount() << " requests)");
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(StartsWith(commit.msg, "prometheus_sink:"));
  CHECK(Contains(commit.msg, "ftp"));
  CheckRolledBack(db);
  CHECK(rx.Samples().empty());
  // A refused redirect is a 3xx that cannot be followed: like every 3xx (and
  // like a redirect loop) it fails at once, showing the Location. A retry
  // cannot succeed: the scheme is never allowed.
  CHECK(rx.RequestCount() == 1);
  CHECK(Contains(commit.msg, "ftp://127.0.0.1/x"));
  CHECK(rx.Samples().empty());
  CheckNoViolations(rx);
}

TEST_CASE("follow_redirects=true: a redirect loop stops after 5 redirects") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), kFastRetry + ", retry=2, follow_redirects=true");
  rx.SetDefault(Response::Status(307, "", {{"Location", "/loop"}}));
  Outcome o = db.Exec(kTwoRows);
  MESSAGE("redirect loop: " << o.msg << " (" << rx.RequestCount() << " requests)");
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(StartsWith(o.msg, "prometheus_sink:"));
  CHECK(Contains(o.msg, "redirect"));
  CHECK(rx.RequestCount() == 6);  // the first request and 5 redirects, not retried
  CHECK(rx.Samples().empty());
  CheckNoViolations(rx);
}

}  // TEST_SUITE auth
