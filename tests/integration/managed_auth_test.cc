// Managed receivers: AWS SigV4 signing ("sigv4") and OAuth2 client
// credentials ("oauth2"), driven through the SQLite C API against the
// in-process test receiver, whose SigV4 verifier is its own implementation of
// AWS's published algorithm (tests/receiver/sigv4_verify.h) and whose token
// endpoint issues short-lived tokens and counts fetches
// (tests/receiver/token_endpoint.h).
//
// The OAuth2 figures are counts: fetches per request, per token lifetime.
// The one test that runs for a while (2 s tokens over ~5 s) bounds the
// fetches by what the lifetimes allow, from the receiver's own arrival
// times; it asserts no duration.
//
// Part of the integration_test executable (main in integration_test.cc);
// meson registers one test per suite (--test-suite=sigv4|oauth2).
#include <doctest/doctest.h>

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "receiver.h"
#include "token_endpoint.h"

using namespace harness;

namespace {

using Clock = std::chrono::steady_clock;

// A file in a fresh temporary directory, removed with it.
class SecretFile {
 public:
  explicit SecretFile(const std::string& content) {
    char tmpl[] = "/tmp/psink-managed-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/secret";
    Write(content);
  }
  ~SecretFile() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  void Write(const std::string& content) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << content;
    REQUIRE(out.good());
  }

 private:
  std::string dir_, path_;
};

// Every column of prometheus_sink_stats, as "name=value " text.
std::string AllStats(Db& db) {
  std::string out;
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db.get(), "SELECT * FROM prometheus_sink_stats", -1, &st, nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const unsigned char* v = sqlite3_column_text(st, i);
      out += std::string(sqlite3_column_name(st, i)) + "=" + (v ? reinterpret_cast<const char*>(v) : "NULL") + " ";
    }
  }
  sqlite3_finalize(st);
  return out;
}

// INSERT of rows k = first .. first+n-1, of series {__name__="m",i="<k mod 10>"}
// at 1000+k ms, value k.
std::string Rows(int n, int first = 0) {
  return "WITH RECURSIVE c(v) AS (SELECT " + std::to_string(first) + " UNION ALL SELECT v + 1 FROM c WHERE v < " +
         std::to_string(first + n - 1) +
         ") INSERT INTO m SELECT json_object('__name__','m','i',CAST(v % 10 AS TEXT)), v, 1000 + v FROM c";
}

// The requests of `rx` that a gate refused, one line each.
std::string Refused(const Receiver& rx) {
  std::string out;
  for (const auto& r : rx.Requests()) {
    if (!r.refused.empty()) out += r.target + ": " + r.refused + "\n";
  }
  return out;
}

const char kAccessKey[] = "AKIDPSINKTEST";
const char kSecretKey[] = "wJalr-Zq7/SECRET+key-0x5eed";  // distinctive: must never show

testrx::SigV4Keys Keys() {
  testrx::SigV4Keys k;
  k.access_key = kAccessKey;
  k.secret_key = kSecretKey;
  k.region = "us-east-1";
  k.service = "aps";
  return k;
}

const std::string kInlineKeys =
    std::string("sigv4_region='us-east-1', sigv4_access_key='") + kAccessKey + "', sigv4_secret_key='" + kSecretKey + "'";

}  // namespace

// =================================================================== sigv4

TEST_SUITE("sigv4") {

TEST_CASE("keys from the options: every request passes the independent verifier; all samples stored") {
  Receiver rx;
  rx.RequireSigV4(Keys());
  Db db;
  db.Sink("m", rx.url(), kInlineKeys + ", batch_size=4, max_in_flight=1");  // 4 + 4 + 2
  db.Ok(Rows(10));
  CHECK(Refused(rx) == "");
  REQUIRE(rx.RequestCount() == 3);
  for (const auto& r : rx.Requests()) {
    CHECK(r.answered_status == 204);
    CHECK(StartsWith(r.Header("Authorization"), std::string("AWS4-HMAC-SHA256 Credential=") + kAccessKey + "/"));
    CHECK(Contains(r.Header("Authorization"), "/us-east-1/aps/aws4_request, SignedHeaders="));
    CHECK(r.HasHeader("X-Amz-Date"));
    CHECK_FALSE(r.HasHeader("X-Amz-Security-Token"));
  }
  CHECK(rx.Samples().size() == 10);
  CheckNoViolations(rx);
}

TEST_CASE("keys from _file forms, read at each request: rotated keys are used by the next request") {
  SecretFile access(std::string(kAccessKey) + "\n"), secret(std::string(kSecretKey) + "\n");
  Receiver rx;
  rx.RequireSigV4(Keys());
  Db db;
  db.Sink("m", rx.url(),
          "sigv4_region='us-east-1', sigv4_access_key_file='" + access.path() + "', sigv4_secret_key_file='" +
              secret.path() + "'");
  db.Ok(Rows(3));
  testrx::SigV4Keys rotated = Keys();
  rotated.access_key = "AKIDROTATED";
  rotated.secret_key = "rotated-secret";
  rx.RequireSigV4(rotated);
  access.Write("AKIDROTATED");
  secret.Write("rotated-secret");
  db.Ok(Rows(3));
  CHECK(Refused(rx) == "");
  REQUIRE(rx.RequestCount() == 2);
  CHECK(Contains(rx.Requests()[1].Header("Authorization"), "Credential=AKIDROTATED/"));
  CHECK(rx.Samples().size() == 6);
  CheckNoViolations(rx);
}

TEST_CASE("keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, read at each request") {
  testrx::SigV4Keys keys = Keys();
  keys.access_key = "ASIAPSINKENV1";
  keys.session_token = "FwoGZXIvYXdzEJr//////////wEaDJ+session/token==";
  ::setenv("AWS_ACCESS_KEY_ID", keys.access_key.c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", keys.secret_key.c_str(), 1);
  ::setenv("AWS_SESSION_TOKEN", keys.session_token.c_str(), 1);
  Receiver rx;
  rx.RequireSigV4(keys);
  Db db;
  db.Sink("m", rx.url(), "sigv4_region='us-east-1'");
  db.Ok(Rows(3));
  // Temporary credentials renewed: the next request uses the new ones.
  keys.access_key = "ASIAPSINKENV2";
  keys.secret_key = "second-secret";
  keys.session_token = "second-session-token";
  rx.RequireSigV4(keys);
  ::setenv("AWS_ACCESS_KEY_ID", keys.access_key.c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", keys.secret_key.c_str(), 1);
  ::setenv("AWS_SESSION_TOKEN", keys.session_token.c_str(), 1);
  db.Ok(Rows(3));
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("AWS_SESSION_TOKEN");
  CHECK(Refused(rx) == "");
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].Header("X-Amz-Security-Token") == "FwoGZXIvYXdzEJr//////////wEaDJ+session/token==");
  CHECK(reqs[1].Header("X-Amz-Security-Token") == "second-session-token");
  for (const auto& r : reqs) CHECK(Contains(r.Header("Authorization"), ";x-amz-security-token;"));
  CHECK(rx.Samples().size() == 6);
  CheckNoViolations(rx);

  // Without the variables (and without keys), CREATE says what is missing.
  Outcome o = db.Exec("CREATE VIRTUAL TABLE temp.n USING prometheus_sink(url='" + rx.url() + "', sigv4_region='us-east-1')");
  CHECK(o.msg ==
        "prometheus_sink: sigv4: environment variable AWS_ACCESS_KEY_ID is not set (set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or give the options sigv4_access_key and sigv4_secret_key)");
}

TEST_CASE("a query string in the URL: sent sorted and encoded as AWS signs it, accepted") {
  Receiver rx;
  rx.RequireSigV4(Keys());
  Db db;
  db.Sink("m", rx.url("/api/v1/write?z=1&tenant=team%2fa&b=x+y&flag"), kInlineKeys);
  db.Ok(Rows(2));
  CHECK(Refused(rx) == "");
  REQUIRE(rx.RequestCount() == 1);
  CHECK(rx.Requests()[0].target == "/api/v1/write?b=x%2By&flag=&tenant=team%2Fa&z=1");
  CHECK(rx.Samples().size() == 2);
  CheckNoViolations(rx);
}

TEST_CASE("remote-write 2.0 and 4 requests in flight: signed alike") {
  Receiver rx;
  rx.RequireSigV4(Keys());
  Db db;
  db.Sink("m", rx.url(), kInlineKeys + ", protocol='2.0', batch_size=5, max_in_flight=4");
  db.Ok(Rows(100));
  CHECK(Refused(rx) == "");
  CHECK(rx.RequestCount(testrx::Protocol::kV2) == rx.RequestCount());
  CHECK(rx.Samples().size() == 100);
  CheckNoViolations(rx);
}

TEST_CASE("a wrong secret is refused with a clear error; nothing stored; the secret shows nowhere") {
  Receiver rx;
  rx.RequireSigV4(Keys());
  Db db;
  db.Ok("CREATE TABLE t(x)");
  const std::string wrong = "wrong-Secret-Zq7-0xbad";
  db.Sink("m", rx.url(),
          std::string("sigv4_region='us-east-1', sigv4_access_key='") + kAccessKey + "', sigv4_secret_key='" + wrong +
              "', retry=3, " + kFastRetry);
  Outcome commit = CommitWith(db, Rows(2));
  MESSAGE("wrong secret: " << commit.msg);
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(StartsWith(commit.msg, "prometheus_sink: "));
  CHECK(Contains(commit.msg, "POST " + rx.url() + ": HTTP 403: 'SignatureDoesNotMatch: The request signature we calculated"));
  CHECK(Contains(commit.msg, "check the SigV4 credentials, sigv4_region and sigv4_service"));
  CheckRolledBack(db);
  CHECK(rx.RequestCount() == 1);  // a 403 is not retried
  CHECK(rx.Samples().empty());
  std::string stats = AllStats(db);
  CHECK(Contains(stats, "HTTP 403"));
  for (const std::string& s : {wrong, std::string(kSecretKey)}) {
    CHECK_FALSE(Contains(commit.msg, s));
    CHECK_FALSE(Contains(stats, s));
  }
}

TEST_CASE("a stale signature (the receiver's clock 10 minutes ahead) is refused: RequestTimeTooSkewed") {
  testrx::SigV4Keys keys = Keys();
  keys.clock_offset_s = 600;
  Receiver rx;
  rx.RequireSigV4(keys);
  Db db;
  db.Sink("m", rx.url(), kInlineKeys + ", retry=0");
  Outcome o = db.Exec(Rows(2));
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(Contains(o.msg, "HTTP 403: 'RequestTimeTooSkewed: X-Amz-Date "));
  CHECK(rx.Samples().empty());
}

}  // TEST_SUITE sigv4

// =================================================================== oauth2

namespace {

const char kClientId[] = "psink client";
const char kClientSecret[] = "Zq7:oauth2+SECRET/0x5eed";  // distinctive: must never show

std::string OAuth2Options(const testrx::TokenEndpoint& auth, const std::string& secret_option) {
  return "oauth2_token_url='" + auth.url() + "', oauth2_client_id='" + kClientId + "', " + secret_option +
         ", oauth2_scopes='metrics:write', oauth2_params='{\"audience\": \"prometheus\"}'";
}

std::string OAuth2Options(const testrx::TokenEndpoint& auth) {
  return OAuth2Options(auth, std::string("oauth2_client_secret='") + kClientSecret + "'");
}

}  // namespace

TEST_SUITE("oauth2") {

TEST_CASE("1,000 requests with a 60 s token, 4 in flight: exactly one token fetched, sent with every request") {
  testrx::TokenEndpoint auth(kClientId, kClientSecret, 60);
  Receiver rx;
  rx.SetGate(auth.BearerGate());
  Db db;
  db.Sink("m", rx.url(), OAuth2Options(auth) + ", batch_size=1, max_in_flight=4");
  db.Ok(Rows(1000));
  CHECK(rx.RequestCount() == 1000);
  CHECK(auth.Fetches() == 1);
  CHECK(auth.RequestCount() == 1);
  CHECK(auth.Refusals() == 0);
  size_t with_token = 0;
  for (const auto& r : rx.Requests()) with_token += r.Header("Authorization") == "Bearer tok-1";
  CHECK(with_token == 1000);
  CHECK(rx.Samples().size() == 1000);
  // The token request: client credentials grant, Basic client authentication, scope and params.
  CHECK(auth.LastClientAuth() == "basic");
  CHECK(auth.LastForm() == std::vector<std::pair<std::string, std::string>>{
                               {"grant_type", "client_credentials"}, {"scope", "metrics:write"}, {"audience", "prometheus"}});
  CHECK(Joined(auth.Violations()) == "");
  CheckNoViolations(rx);
}

TEST_CASE("2 s tokens over ~5 s of sending: about one fetch per lifetime, never one per request, nothing lost") {
  testrx::TokenEndpoint auth(kClientId, kClientSecret, 2);
  Receiver rx;
  rx.SetGate(auth.BearerGate());
  Db db;
  db.Sink("m", rx.url(), OAuth2Options(auth) + ", max_in_flight=2");
  int rows = 0;
  auto insert = [&] {
    db.Ok("INSERT INTO m VALUES ('{\"__name__\":\"m\"}', " + std::to_string(rows) + ", " + std::to_string(1000 + rows) + ")");
    ++rows;
  };
  const auto start = Clock::now();  // before the first token fetch
  insert();
  // The first request has arrived: sending on until an insert starts 5 s
  // later makes the span of arrivals at least 5 s, however slow the
  // machine. (The insert that starts after the 5 s, not one that merely
  // ends after them: its request arrives before it ends.)
  const auto first_done = Clock::now();
  for (bool last = false; !last;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    last = Clock::now() - first_done >= std::chrono::seconds(5);
    insert();
  }
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  // The span over which accepted requests carried tokens, by the receiver's clock.
  auto reqs = rx.Requests();
  Clock::time_point first{}, last{};
  size_t accepted = 0;
  for (const auto& r : reqs) {
    if (!r.refused.empty()) continue;
    if (accepted++ == 0) first = r.received;
    last = r.received;
  }
  const double span_s = std::chrono::duration<double>(last - first).count();
  const size_t fetches = auth.Fetches();
  MESSAGE(rows << " requests in " << elapsed_s << " s (accepted over " << span_s << " s): " << fetches
                << " token fetches, " << auth.Refusals() << " refused as expired");
  // A token lives 2 s, so covering the span takes at least ceil(span / 2)
  // tokens; the sink renews 200 ms before the end, so fetches that no 401
  // caused are at least 1.8 s apart.
  CHECK(fetches >= static_cast<size_t>(std::ceil(span_s / 2.0)));
  CHECK(fetches <= static_cast<size_t>(elapsed_s / 1.8) + 1 + auth.Refusals());
  CHECK(span_s >= 5.0);
  CHECK(rows >= 5 * static_cast<int>(fetches));
  CHECK(rx.Samples().size() == static_cast<size_t>(rows));
  CheckNoViolations(rx);
}

TEST_CASE("a token the receiver revokes: exactly one new fetch, the refused request sent again, nothing lost") {
  testrx::TokenEndpoint auth(kClientId, kClientSecret, 60);
  Receiver rx;
  rx.SetGate(auth.BearerGate());
  Db db;
  db.Sink("m", rx.url(), OAuth2Options(auth) + ", batch_size=1, max_in_flight=4");
  db.Ok(Rows(20));
  CHECK(auth.Fetches() == 1);
  auth.Revoke("tok-1");
  // Up to 4 requests in flight meet the revoked token at once; one fetch
  // replaces it for all of them.
  db.Ok(Rows(40, 20));
  CHECK(auth.Fetches() == 2);
  CHECK(auth.Refusals() >= 1);
  CHECK(auth.Refusals() <= 4);
  auto reqs = rx.Requests();
  CHECK(reqs.size() == 60 + auth.Refusals());
  for (const auto& r : reqs) {
    if (r.refused.empty()) continue;
    CHECK(r.Header("Authorization") == "Bearer tok-1");
    CHECK(r.answered_status == 401);
  }
  CHECK(reqs.back().Header("Authorization") == "Bearer tok-2");
  // Every row arrived exactly once.
  std::set<int64_t> stamps;
  for (const auto& sample : rx.Samples()) stamps.insert(sample.ts);
  CHECK(rx.Samples().size() == 60);
  CHECK(stamps.size() == 60);
  CHECK(*stamps.begin() == 1000);
  CHECK(*stamps.rbegin() == 1059);
  CheckSeriesOrder(rx);
  CheckNoViolations(rx);
}

TEST_CASE("a failing token endpoint: the message names the token URL and its status, never the secret") {
  testrx::TokenEndpoint auth(kClientId, kClientSecret, 60);
  Receiver rx;
  rx.SetGate(auth.BearerGate());
  Db db;
  db.Ok("CREATE TABLE t(x)");
  const std::string wrong = "Zq7-wrong-client-SECRET";
  db.Sink("m", rx.url(), OAuth2Options(auth, "oauth2_client_secret='" + wrong + "'") + ", retry=3, " + kFastRetry);
  Outcome commit = CommitWith(db, Rows(2));
  MESSAGE("wrong client secret: " << commit.msg);
  CHECK(commit.rc == SQLITE_ERROR);
  CHECK(StartsWith(commit.msg, "prometheus_sink: "));
  CHECK(Contains(commit.msg, "POST " + rx.url() + ": OAuth2 token request to " + auth.url() +
                                 " failed: HTTP 401: error 'invalid_client': 'Client authentication failed' (oauth2_client_auth="
                                 "'basic' sent the client id and secret as HTTP Basic; an endpoint that wants them "
                                 "in the form body needs oauth2_client_auth='post') (not retried)"));
  CheckRolledBack(db);
  CHECK(auth.RequestCount() == 1);  // a refused client is not asked again
  CHECK(rx.RequestCount() == 0);
  std::string stats = AllStats(db);
  CHECK(Contains(stats, "OAuth2 token request to " + auth.url()));
  for (const std::string& s : {wrong, std::string(kClientSecret)}) {
    CHECK_FALSE(Contains(commit.msg, s));
    CHECK_FALSE(Contains(stats, s));
  }

  // An endpoint that is down for good: retried like the receiver, then the status.
  db.Ok("DROP TABLE m");
  auth.FailWith(Response::Status(503, "token service unavailable"));
  db.Sink("m", rx.url(), OAuth2Options(auth) + ", retry=2, " + kFastRetry);
  commit = CommitWith(db, Rows(2));
  CHECK(Contains(commit.msg, "OAuth2 token request to " + auth.url() +
                                 " failed: HTTP 503: 'token service unavailable' (after 3 attempts)"));
  CHECK(auth.RequestCount() == 4);
  CheckRolledBack(db);

  // Down once, then up: the send goes through.
  auth.FailWith(std::nullopt);
  db.Ok("DROP TABLE m");
  db.Sink("m", rx.url(), OAuth2Options(auth) + ", retry=2, " + kFastRetry);
  db.Ok(Rows(2));
  CHECK(rx.Samples().size() == 2);

  // An endpoint nobody listens on.
  const std::string closed = "http://127.0.0.1:" + std::to_string(Receiver::ClosedPort()) + "/oauth2/token";
  db.Sink("down", rx.url(), "oauth2_token_url='" + closed + "', oauth2_client_id='x', oauth2_client_secret='" +
                                std::string(kClientSecret) + "', retry=0");
  Outcome o = db.Exec("INSERT INTO down VALUES ('{\"__name__\":\"x\"}', 1, 1000)");
  CHECK(Contains(o.msg, "OAuth2 token request to " + closed + " failed: Couldn't connect to server"));
  CHECK_FALSE(Contains(o.msg, kClientSecret));
  CheckNoViolations(rx);
}

TEST_CASE("the client secret from _file and _env forms") {
  SecretFile file(std::string(kClientSecret) + "\n");
  ::setenv("PSINK_OAUTH2_SECRET", kClientSecret, 1);
  for (const std::string& form : {"oauth2_client_secret_file='" + file.path() + "'",
                                  std::string("oauth2_client_secret_env='PSINK_OAUTH2_SECRET'")}) {
    CAPTURE(form);
    testrx::TokenEndpoint auth(kClientId, kClientSecret, 60);
    Receiver rx;
    rx.SetGate(auth.BearerGate());
    Db db;
    db.Sink("m", rx.url(), OAuth2Options(auth, form));
    db.Ok(Rows(3));
    CHECK(auth.Fetches() == 1);
    CHECK(rx.Samples().size() == 3);
    CHECK(Refused(rx) == "");
  }
  ::unsetenv("PSINK_OAUTH2_SECRET");
}

}  // TEST_SUITE oauth2
