// Unit tests for transport.{h,cc}, the protocol part: the request headers of
// remote-write 1.0 and 2.0, the written-count response headers, and how a
// receiver that does not understand 2.0 is recognised (415, or a 2xx without
// written counts); and the managed-receiver authentication: SigV4 against
// the test receiver's own verifier, OAuth2 token requests against its token
// endpoint, a 401 renewing the token once; and Retry-After (seconds, HTTP
// date, too long), as libcurl reads it. The in-process test receiver
// (tests/receiver) answers.
#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <string>
#include <vector>

#include "oauth2.h"
#include "options.h"
#include "receiver.h"
#include "token_endpoint.h"
#include "transport.h"

using psink::PostReport;
using psink::Protocol;
using psink::SinkOptions;
using psink::Status;
using psink::Transport;
using testrx::Receiver;
using testrx::Response;

namespace {

constexpr const char* kV2ContentType = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
const testrx::Headers kWritten{{"X-Prometheus-Remote-Write-Samples-Written", "3"},
                               {"X-Prometheus-Remote-Write-Histograms-Written", "0"},
                               {"X-Prometheus-Remote-Write-Exemplars-Written", "0"}};

SinkOptions Options(const Receiver& rx, int retry = 0) {
  SinkOptions o;
  o.url = rx.url();
  o.retry = retry;
  o.retry_backoff_multiplier_ms = 1;
  o.retry_backoff_max_ms = 10;
  o.headers = {{"X-Scope-OrgID", "team-a"}};
  return o;
}

// The body does not matter to the transport.
const std::string kBody = "not really snappy";

}  // namespace

TEST_CASE("transport: 1.0 requests carry the 1.0 headers, by default and when asked") {
  Receiver rx;
  Transport t(Options(rx));
  PostReport r1, r2;
  REQUIRE(t.Post(kBody, &r1).ok());
  REQUIRE(t.Post(kBody, &r2, Protocol::kV1).ok());
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  for (const auto& req : reqs) {
    CHECK(req.Header("Content-Type") == "application/x-protobuf");
    CHECK(req.Header("X-Prometheus-Remote-Write-Version") == "0.1.0");
    CHECK(req.Header("Content-Encoding") == "snappy");
    CHECK(req.Header("X-Scope-OrgID") == "team-a");
    CHECK_FALSE(req.HasHeader("Expect"));
    CHECK(req.HeaderCount("Content-Type") == 1);
    CHECK(req.body == kBody);
  }
  CHECK(r1.last_status == 204);
  CHECK(r1.attempts == 1);
  CHECK(r1.samples_written == -1);
  CHECK(r1.histograms_written == -1);
  CHECK(r1.exemplars_written == -1);
  CHECK_FALSE(r1.unsupported_protocol);
}

TEST_CASE("transport: 2.0 requests carry the 2.0 headers; written counts are read") {
  Receiver rx;
  rx.Enqueue(Response::Status(204, "", kWritten));
  rx.Enqueue(Response::Status(200, "", {{"x-prometheus-remote-write-samples-written", " 12 "}}));
  Transport t(Options(rx));
  PostReport r1, r2;
  Status st = t.Post(kBody, &r1, Protocol::kV2);
  INFO(st.message());
  REQUIRE(st.ok());
  REQUIRE(t.Post(kBody, &r2, Protocol::kV2).ok());
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  for (const auto& req : reqs) {
    CHECK(req.Header("Content-Type") == kV2ContentType);
    CHECK(req.Header("X-Prometheus-Remote-Write-Version") == "2.0.0");
    CHECK(req.Header("Content-Encoding") == "snappy");
    CHECK(req.Header("X-Scope-OrgID") == "team-a");
    CHECK_FALSE(req.HasHeader("Expect"));
    CHECK(req.HeaderCount("Content-Type") == 1);
    CHECK(req.HeaderCount("X-Prometheus-Remote-Write-Version") == 1);
  }
  CHECK(r1.last_status == 204);
  CHECK(r1.samples_written == 3);
  CHECK(r1.histograms_written == 0);
  CHECK(r1.exemplars_written == 0);
  CHECK_FALSE(r1.unsupported_protocol);
  // Any one of the headers is enough; names in any case.
  CHECK(r2.last_status == 200);
  CHECK(r2.samples_written == 12);
  CHECK(r2.histograms_written == -1);
  CHECK_FALSE(r2.unsupported_protocol);
}

TEST_CASE("transport: one handle switches protocols per request") {
  Receiver rx;
  rx.SetDefault(Response::Status(204, "", kWritten));
  Transport t(Options(rx));
  PostReport r;
  REQUIRE(t.Post(kBody, &r, Protocol::kV2).ok());
  REQUIRE(t.Post(kBody, &r, Protocol::kV1).ok());
  REQUIRE(t.Post(kBody, &r, Protocol::kV2).ok());
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].Header("Content-Type") == kV2ContentType);
  CHECK(reqs[1].Header("Content-Type") == "application/x-protobuf");
  CHECK(reqs[1].Header("X-Prometheus-Remote-Write-Version") == "0.1.0");
  CHECK(reqs[2].Header("Content-Type") == kV2ContentType);
  CHECK(reqs[2].Header("X-Prometheus-Remote-Write-Version") == "2.0.0");
  CHECK(rx.ConnectionCount() == 1);  // the connection is kept
}

TEST_CASE("transport: a 2xx without written counts means the receiver does not speak 2.0") {
  // Prometheus 2.42 and VictoriaMetrics 1.79 read a 2.0 body as an empty 1.0
  // request and answer 204 without the headers.
  Receiver rx;
  rx.Enqueue(Response::Status(204));
  rx.Enqueue(Response::Status(200, "", {{"X-Prometheus-Remote-Write-Samples-Written", "lots"}}));
  Transport t(Options(rx, /*retry=*/3));
  PostReport r;
  Status st = t.Post(kBody, &r, Protocol::kV2);
  CHECK(st.code() == Status::Code::kFailed);
  CHECK(st.message() == "POST " + rx.url() +
                            ": HTTP 204 without X-Prometheus-Remote-Write-*-Written headers: the receiver does not "
                            "support remote-write 2.0 (not retried)");
  CHECK(r.unsupported_protocol);
  CHECK(r.last_status == 415);
  CHECK(r.attempts == 1);
  CHECK(r.samples_written == -1);
  // A count that is not a number counts as absent.
  PostReport r2;
  st = t.Post(kBody, &r2, Protocol::kV2);
  CHECK_FALSE(st.ok());
  CHECK(r2.unsupported_protocol);
  CHECK(r2.attempts == 1);
  CHECK(rx.RequestCount() == 2);
  // The same answer to a 1.0 request is a success.
  PostReport r3;
  CHECK(t.Post(kBody, &r3, Protocol::kV1).ok());
  CHECK_FALSE(r3.unsupported_protocol);
  CHECK(r3.last_status == 204);
}

TEST_CASE("transport: 415 flags a 2.0 request as unsupported, not a 1.0 one; neither is retried") {
  Receiver rx;
  rx.SetDefault(Response::Status(415, "unsupported content type"));
  Transport t(Options(rx, /*retry=*/3));
  PostReport r2;
  Status st = t.Post(kBody, &r2, Protocol::kV2);
  CHECK(st.message() == "POST " + rx.url() + ": HTTP 415: 'unsupported content type' (not retried)");
  CHECK(r2.unsupported_protocol);
  CHECK(r2.last_status == 415);
  CHECK(r2.attempts == 1);
  PostReport r1;
  st = t.Post(kBody, &r1, Protocol::kV1);
  CHECK(st.message() == "POST " + rx.url() + ": HTTP 415: 'unsupported content type' (not retried)");
  CHECK_FALSE(r1.unsupported_protocol);
  CHECK(r1.last_status == 415);
  CHECK(r1.attempts == 1);
}

TEST_CASE("transport: 2.0 requests are retried like 1.0 ones; the counts are those of the last answer") {
  Receiver rx;
  rx.Enqueue(Response::Status(503, "busy", {{"X-Prometheus-Remote-Write-Samples-Written", "0"}}));
  rx.Enqueue(Response::Status(204, "", kWritten));
  Transport t(Options(rx, /*retry=*/2));
  PostReport r;
  Status st = t.Post(kBody, &r, Protocol::kV2);
  INFO(st.message());
  CHECK(st.ok());
  CHECK(r.attempts == 2);
  CHECK(r.last_status == 204);
  CHECK(r.samples_written == 3);
  CHECK_FALSE(r.unsupported_protocol);
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[1].Header("Content-Type") == kV2ContentType);

  // A 400 to a 2.0 request is an ordinary refusal.
  rx.Enqueue(Response::Status(400, "out of order sample"));
  PostReport r400;
  st = t.Post(kBody, &r400, Protocol::kV2);
  CHECK(st.message() == "POST " + rx.url() + ": HTTP 400: 'out of order sample' (not retried)");
  CHECK_FALSE(r400.unsupported_protocol);
  CHECK(r400.last_status == 400);
}

// ---------------------------------------------------------------- Retry-After

namespace {

// RFC 9110 IMF-fixdate of a time_t ("Wed, 21 Oct 2015 07:28:00 GMT").
std::string HttpDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

double GapMs(const testrx::Request& a, const testrx::Request& b) {
  return std::chrono::duration<double, std::milli>(b.received - a.received).count();
}

// Backoff alone waits 1 to 2 ms; Retry-After may ask for up to 5 s.
SinkOptions RetryAfterOptions(const Receiver& rx) {
  SinkOptions o = Options(rx, /*retry=*/2);
  o.retry_backoff_max_ms = 5000;
  return o;
}

}  // namespace

TEST_CASE("transport: Retry-After in seconds is waited for before the retry") {
  Receiver rx;
  rx.Enqueue(Response::Status(429, "slow down", {{"Retry-After", "1"}}));
  Transport t(RetryAfterOptions(rx));
  PostReport r;
  Status st = t.Post(kBody, &r);
  INFO(st.message());
  REQUIRE(st.ok());
  CHECK(r.attempts == 2);
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  MESSAGE("Retry-After: 1 -> gap " << GapMs(reqs[0], reqs[1]) << " ms");
  CHECK(GapMs(reqs[0], reqs[1]) >= 1000.0 - 5.0);
}

TEST_CASE("transport: Retry-After as an HTTP date is waited for until that date; one in the past is not") {
  Receiver rx;
  // A whole second 1 to 2 s from now.
  const std::time_t at = std::time(nullptr) + 2;
  rx.Enqueue(Response::Status(503, "", {{"Retry-After", HttpDate(at)}}));
  rx.Enqueue(Response::Status(503, "", {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}}));
  Transport t(RetryAfterOptions(rx));
  PostReport r;
  Status st = t.Post(kBody, &r);
  INFO(st.message());
  REQUIRE(st.ok());
  CHECK(r.attempts == 3);
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 3);
  const auto at_tp = std::chrono::system_clock::from_time_t(at);
  MESSAGE("Retry-After: " << HttpDate(at) << " -> gap " << GapMs(reqs[0], reqs[1]) << " ms; a past date -> gap "
                          << GapMs(reqs[1], reqs[2]) << " ms");
  CHECK(reqs[1].received_wall >= at_tp - std::chrono::milliseconds(20));
  CHECK(GapMs(reqs[1], reqs[2]) < 500.0);  // the backoff's 2 ms, not a wait for the date
}

TEST_CASE("transport: a Retry-After over retry_backoff_max_ms fails at once; it does not outlive its answer") {
  Receiver rx;
  rx.Enqueue(Response::Status(503, "maintenance", {{"Retry-After", "120"}}));
  SinkOptions o = Options(rx, /*retry=*/2);
  o.retry_backoff_max_ms = 1000;
  Transport t(o);
  PostReport r1;
  Status st = t.Post(kBody, &r1);
  CHECK(st.message() == "POST " + rx.url() +
                            ": HTTP 503: 'maintenance'; the receiver asked to retry after 120000 ms, more than "
                            "retry_backoff_max_ms (1000), so the send failed now");
  CHECK(r1.attempts == 1);
  // The next answers carry no Retry-After: ordinary backoff, nothing left
  // over from the answer before.
  rx.Enqueue(Response::Status(503, "busy"));
  PostReport r2;
  st = t.Post(kBody, &r2);
  INFO(st.message());
  CHECK(st.ok());
  CHECK(r2.attempts == 2);
}

// ---------------------------------------------------------------- SigV4

namespace {

testrx::SigV4Keys TestKeys() {
  testrx::SigV4Keys k;
  k.access_key = "AKIDUNITTEST";
  k.secret_key = "unit/test+secret";
  k.region = "eu-central-1";
  k.service = "aps";
  return k;
}

SinkOptions SigV4Options(const std::string& url) {
  SinkOptions o;
  o.url = url;
  o.retry = 0;
  o.headers = {{"X-Scope-OrgID", "team-a"}};
  o.sigv4_region = "eu-central-1";
  o.sigv4_access_key = {psink::Secret::Source::kValue, "AKIDUNITTEST"};
  o.sigv4_secret_key = {psink::Secret::Source::kValue, "unit/test+secret"};
  return o;
}

}  // namespace

TEST_CASE("transport: sigv4 requests pass the verifier, 1.0 and 2.0, query sent in canonical form") {
  Receiver rx;
  rx.RequireSigV4(TestKeys());
  rx.SetDefault(Response::Status(204, "", kWritten));
  Transport t(SigV4Options(rx.url("/api/v1/write?tenant=a%2fb&z=1&debug")));
  PostReport r1, r2;
  Status st = t.Post(kBody, &r1, Protocol::kV1);
  INFO(st.message());
  CHECK(st.ok());
  CHECK(t.Post(kBody, &r2, Protocol::kV2).ok());
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  for (const auto& req : reqs) {
    CHECK(req.refused == "");
    CHECK(req.target == "/api/v1/write?debug=&tenant=a%2Fb&z=1");
    CHECK(req.Header("Authorization").rfind("AWS4-HMAC-SHA256 Credential=AKIDUNITTEST/", 0) == 0);
    CHECK(req.Header("Authorization").find("/eu-central-1/aps/aws4_request, SignedHeaders=content-encoding;"
                                           "content-type;host;x-amz-date;x-prometheus-remote-write-version;"
                                           "x-scope-orgid, Signature=") != std::string::npos);
    CHECK(req.HasHeader("X-Amz-Date"));
    CHECK_FALSE(req.HasHeader("Expect"));  // not in the list: it would be signed and not sent
    CHECK_FALSE(req.HasHeader("X-Amz-Security-Token"));
  }
  CHECK(reqs[1].Header("Content-Type") == kV2ContentType);
}

TEST_CASE("transport: a sigv4 body over 1 MiB is signed alike and sent without waiting for 100-continue") {
  Receiver rx;
  rx.RequireSigV4(TestKeys());
  Transport t(SigV4Options(rx.url()));
  std::string big(1500 * 1024, 'x');
  PostReport r;
  Status st = t.Post(big, &r);
  INFO(st.message());
  CHECK(st.ok());
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].refused == "");
  CHECK(reqs[0].body == big);
  CHECK(reqs[0].Header("Expect") == "100-continue");  // libcurl's, unsigned; CURLOPT_EXPECT_100_TIMEOUT_MS=0
}

TEST_CASE("transport: sigv4 from the environment, with the session token sent and signed; read at each call") {
  Receiver rx;
  testrx::SigV4Keys keys = TestKeys();
  keys.access_key = "ASIAENV1";
  keys.session_token = "session/token+1==";
  rx.RequireSigV4(keys);
  SinkOptions o = SigV4Options(rx.url());
  o.sigv4_access_key = {};
  o.sigv4_secret_key = {};
  ::setenv("AWS_ACCESS_KEY_ID", "ASIAENV1", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", keys.secret_key.c_str(), 1);
  ::setenv("AWS_SESSION_TOKEN", "session/token+1==", 1);
  Transport t(o);
  PostReport r;
  Status st = t.Post(kBody, &r);
  INFO(st.message());
  CHECK(st.ok());
  // Rotated credentials: picked up by the next call.
  keys.access_key = "ASIAENV2";
  keys.session_token = "session-2";
  rx.RequireSigV4(keys);
  ::setenv("AWS_ACCESS_KEY_ID", "ASIAENV2", 1);
  ::setenv("AWS_SESSION_TOKEN", "session-2", 1);
  st = t.Post(kBody, &r);
  INFO(st.message());
  CHECK(st.ok());
  // No session token any more: none is sent.
  keys.session_token.clear();
  rx.RequireSigV4(keys);
  ::unsetenv("AWS_SESSION_TOKEN");
  CHECK(t.Post(kBody, &r).ok());
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].Header("X-Amz-Security-Token") == "session/token+1==");
  CHECK(reqs[0].Header("Authorization").find("x-amz-security-token") != std::string::npos);
  CHECK(reqs[1].Header("X-Amz-Security-Token") == "session-2");
  CHECK_FALSE(reqs[2].HasHeader("X-Amz-Security-Token"));
  for (const auto& req : reqs) CHECK(req.refused == "");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  st = t.Post(kBody, &r);
  CHECK(st.message().rfind("sigv4: environment variable AWS_ACCESS_KEY_ID is not set", 0) == 0);
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  CHECK(rx.RequestCount() == 3);
}

TEST_CASE("transport: a wrong sigv4 secret is refused 403, not retried, with a hint and without the secret") {
  Receiver rx;
  rx.RequireSigV4(TestKeys());
  SinkOptions o = SigV4Options(rx.url());
  o.retry = 3;
  o.sigv4_secret_key = {psink::Secret::Source::kValue, "wrong-Secret-42"};
  Transport t(o);
  PostReport r;
  Status st = t.Post(kBody, &r);
  CHECK(st.message().rfind("POST " + rx.url() + ": HTTP 403: 'SignatureDoesNotMatch: The request signature we "
                           "calculated does not match", 0) == 0);
  CHECK(st.message().find("(not retried; check the SigV4 credentials, sigv4_region and sigv4_service)") !=
        std::string::npos);
  CHECK(st.message().find("wrong-Secret-42") == std::string::npos);
  CHECK(r.attempts == 1);
}

// ---------------------------------------------------------------- OAuth2

namespace {

SinkOptions OAuth2Options(const Receiver& rx, const testrx::TokenEndpoint& auth, const std::string& secret) {
  SinkOptions o = Options(rx);
  o.oauth2_token_url = auth.url();
  o.oauth2_client_id = {psink::Secret::Source::kValue, "sink id"};
  o.oauth2_client_secret = {psink::Secret::Source::kValue, secret};
  o.oauth2_scopes = "write  read";
  o.oauth2_params = {{"audience", "https://prom.example/"}};
  return o;
}

const std::string kClientSecret = "c1ient:s3cret+/";

}  // namespace

TEST_CASE("FetchOAuth2Token: a client-credentials POST with Basic auth (form-encoded), scopes and params") {
  testrx::TokenEndpoint auth("sink id", kClientSecret, 60);
  Receiver rx;
  psink::OAuth2Token token;
  bool transient = true;
  Status st = psink::FetchOAuth2Token(OAuth2Options(rx, auth, kClientSecret), &token, &transient);
  INFO(st.message());
  REQUIRE(st.ok());
  CHECK(token.access_token == "tok-1");
  CHECK(token.expires_in_s == 60);
  CHECK(auth.LastClientAuth() == "basic");
  CHECK(auth.LastForm() == std::vector<std::pair<std::string, std::string>>{
                               {"grant_type", "client_credentials"}, {"scope", "write read"},
                               {"audience", "https://prom.example/"}});
  CHECK(auth.Violations().empty());
}

TEST_CASE("FetchOAuth2Token: failures name the token URL and status, say whether they are transient, hide the secret") {
  testrx::TokenEndpoint auth("sink id", kClientSecret, 60);
  Receiver rx;
  psink::OAuth2Token token;
  bool transient = true;
  Status st = psink::FetchOAuth2Token(OAuth2Options(rx, auth, "not-the-Secret-7"), &token, &transient);
  CHECK(st.message() == "OAuth2 token request to " + auth.url() +
                            " failed: HTTP 401: error 'invalid_client': 'Client authentication failed' (oauth2_client_auth='basic' "
                            "sent the client id and secret as HTTP Basic; an endpoint that wants them in the form "
                            "body needs oauth2_client_auth='post')");
  CHECK_FALSE(transient);
  // An endpoint that echoes what it got: the secret (as given and
  // form-encoded) is scrubbed; the client id, no secret, is left alone.
  auth.FailWith(Response::Status(503, "busy; you sent c1ient:s3cret+/ and c1ient%3As3cret%2B%2F as sink id"));
  st = psink::FetchOAuth2Token(OAuth2Options(rx, auth, kClientSecret), &token, &transient);
  CHECK(st.message() == "OAuth2 token request to " + auth.url() +
                            " failed: HTTP 503: 'busy; you sent *** and *** as sink id'");
  CHECK(transient);
  auth.FailWith(Response::Status(200, R"({"token_type":"Bearer"})"));
  st = psink::FetchOAuth2Token(OAuth2Options(rx, auth, kClientSecret), &token, &transient);
  CHECK(st.message() == "OAuth2 token request to " + auth.url() + ": HTTP 200, but the answer has no access_token");
  CHECK_FALSE(transient);
  SinkOptions down = OAuth2Options(rx, auth, kClientSecret);
  down.oauth2_token_url = "http://127.0.0.1:" + std::to_string(Receiver::ClosedPort()) + "/token";
  st = psink::FetchOAuth2Token(down, &token, &transient);
  CHECK(st.message().rfind("OAuth2 token request to " + down.oauth2_token_url + " failed: Couldn't connect to server", 0) == 0);
  CHECK(transient);
}

TEST_CASE("transport: oauth2 sends the cached token; a 401 fetches a new one and resends once; a second 401 fails") {
  testrx::TokenEndpoint auth("sink id", kClientSecret, 60);
  Receiver rx;
  rx.SetGate(auth.BearerGate());
  SinkOptions o = OAuth2Options(rx, auth, kClientSecret);
  o.oauth2_tokens = std::make_shared<psink::OAuth2Tokens>();
  Transport t(o), t2(o);  // two transports of one sink
  PostReport r;
  for (int i = 0; i < 5; ++i) REQUIRE(t.Post(kBody, &r).ok());
  REQUIRE(t2.Post(kBody, &r).ok());
  CHECK(auth.Fetches() == 1);
  CHECK(o.oauth2_tokens->fetches() == 1);

  auth.Revoke("tok-1");
  PostReport renewed;
  Status st = t.Post(kBody, &renewed);
  INFO(st.message());
  CHECK(st.ok());
  CHECK(renewed.attempts == 2);
  CHECK(auth.Fetches() == 2);
  CHECK(t2.Post(kBody, &r).ok());  // the other transport has the new token too
  CHECK(auth.Fetches() == 2);
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 9);
  CHECK(reqs[6].Header("Authorization") == "Bearer tok-1");
  CHECK(reqs[6].answered_status == 401);
  CHECK(reqs[7].Header("Authorization") == "Bearer tok-2");
  CHECK(reqs[8].Header("Authorization") == "Bearer tok-2");

  // A receiver that refuses every token: one renewal, then the failure.
  rx.SetGate([](const testrx::Request&) { return std::optional<Response>(Response::Status(401, "no")); });
  PostReport refused;
  st = t.Post(kBody, &refused);
  CHECK(st.message() == "POST " + rx.url() +
                            ": HTTP 401: 'no' (not retried; the receiver refused a newly fetched OAuth2 token too)");
  CHECK(refused.attempts == 2);
  CHECK(auth.Fetches() == 3);
}

TEST_CASE("transport: a token endpoint that fails transiently uses up attempts; a permanent failure ends the call") {
  testrx::TokenEndpoint auth("sink id", kClientSecret, 60);
  Receiver rx;
  SinkOptions o = OAuth2Options(rx, auth, kClientSecret);
  o.retry = 2;
  Transport t(o);
  auth.FailWith(Response::Status(503, "token service busy"));
  PostReport r;
  Status st = t.Post(kBody, &r);
  CHECK(st.message() == "POST " + rx.url() + ": OAuth2 token request to " + auth.url() +
                            " failed: HTTP 503: 'token service busy' (after 3 attempts)");
  CHECK(auth.RequestCount() == 3);
  CHECK(r.attempts == 0);  // nothing reached the receiver
  auth.FailWith(Response::Status(400, R"({"error":"invalid_scope"})"));
  st = t.Post(kBody, &r);
  CHECK(st.message() == "POST " + rx.url() + ": OAuth2 token request to " + auth.url() +
                            " failed: HTTP 400: error 'invalid_scope' (not retried)");
  CHECK(auth.RequestCount() == 4);
  auth.FailWith(std::nullopt);
  CHECK(t.Post(kBody, &r).ok());
  CHECK(rx.RequestCount() == 1);
}

TEST_CASE("transport: retries wait the capped backoff plus a drawn jitter of up to 10%; Retry-After replaces a shorter one") {
  Receiver rx;
  rx.SetDefault(Response::Status(503, "busy"));
  SinkOptions o = Options(rx, /*retry=*/4);
  o.retry_backoff_multiplier_ms = 100;
  o.retry_backoff_max_ms = 150;
  Transport t(o);
  PostReport r;
  CHECK_FALSE(t.Post(kBody, &r).ok());
  REQUIRE(r.waits_ms.size() == 4);
  // Backoff 100, then capped at 150 (not 200, 400, ...); jitter in [0, 10%).
  const int64_t base[] = {100, 150, 150, 150};
  int jittered = 0;
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(r.waits_ms[i] >= base[i]);
    CHECK(r.waits_ms[i] < base[i] + base[i] / 10 + 1);
    jittered += r.waits_ms[i] != base[i];
  }
  CHECK(jittered > 0);  // drawn: four zero jitters come about once in 30,000 runs

  Receiver slow;
  slow.Enqueue(Response::Status(429, "slow down", {{"Retry-After", "1"}}));
  Transport t2(RetryAfterOptions(slow));
  PostReport r2;
  REQUIRE(t2.Post(kBody, &r2).ok());
  REQUIRE(r2.waits_ms.size() == 1);
  CHECK(r2.waits_ms[0] >= 1000);
}
