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

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
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


// Sets AWS variables for one test and puts back what was there: every
// variable the credential chain reads is cleared first (the shared files
// point nowhere, IMDS is off), so only the source a test sets is
// configured, whatever the machine's environment holds.
class AwsEnv {
 public:
  AwsEnv() {
    for (const char* v : kVars) {
      const char* old = std::getenv(v);
      saved_.emplace_back(v, old ? std::optional<std::string>(old) : std::nullopt);
      ::unsetenv(v);
    }
    Set("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/psink-credentials");
    Set("AWS_CONFIG_FILE", "/nonexistent/psink-config");
    Set("AWS_EC2_METADATA_DISABLED", "true");
  }
  ~AwsEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }
  void Set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }
  void Unset(const char* name) { ::unsetenv(name); }

 private:
  static constexpr const char* kVars[] = {
      "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE",
      "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS", "AWS_SHARED_CREDENTIALS_FILE",
      "AWS_CONFIG_FILE", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
      "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
      "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED"};
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Wall-clock time `from_now_s` seconds from now, as AWS writes an Expiration.
std::string Iso8601(int64_t from_now_s) {
  std::time_t t = std::time(nullptr) + from_now_s;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Temporary credentials number `n`, as a fake endpoint gives them.
testrx::SigV4Keys TempKeys(const std::string& source, int n) {
  testrx::SigV4Keys k = Keys();
  k.access_key = "ASIA" + source + std::to_string(n);
  k.secret_key = source + "-Secret-Zq7/" + std::to_string(n);
  k.session_token = source + "-session+token/" + std::to_string(n) + "==";
  return k;
}

// The JSON of IMDS and container credentials.
std::string CredentialsJson(const testrx::SigV4Keys& k, int64_t expires_in_s) {
  return R"({"Code":"Success","LastUpdated":")" + Iso8601(0) + R"(","Type":"AWS-HMAC","AccessKeyId":")" +
         k.access_key + R"(","SecretAccessKey":")" + k.secret_key + R"(","Token":")" + k.session_token +
         R"(","Expiration":")" + Iso8601(expires_in_s) + "\"}";
}

// STS's answer to AssumeRole / AssumeRoleWithWebIdentity.
std::string StsXml(const std::string& action, const testrx::SigV4Keys& k, int64_t expires_in_s) {
  return "<" + action + "Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><" + action +
         "Result><Credentials><AccessKeyId>" + k.access_key + "</AccessKeyId><SecretAccessKey>" + k.secret_key +
         "</SecretAccessKey><SessionToken>" + k.session_token + "</SessionToken><Expiration>" +
         Iso8601(expires_in_s) + "</Expiration></Credentials></" + action + "Result></" + action + "Response>";
}

// The decoded fields of a form body.
std::map<std::string, std::string> Form(const std::string& body) {
  auto decode = [](std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') out += ' ';
      else if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else out += s[i];
    }
    return out;
  };
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = std::min(body.find('&', start), body.size());
    std::string_view f = std::string_view(body).substr(start, end - start);
    size_t eq = f.find('=');
    out[decode(f.substr(0, eq))] = eq == std::string_view::npos ? "" : decode(f.substr(eq + 1));
    start = end + 1;
  }
  return out;
}

// A fake credential endpoint: a Receiver answering with `handler`, which
// counts the requests it answered with credentials.
struct FakeEndpoint {
  std::mutex mu;
  int issued = 0;
  std::vector<std::string> problems;  // what was wrong with the requests
  Receiver rx;
  void Problem(const std::string& p) {
    std::lock_guard<std::mutex> lock(mu);
    problems.push_back(p);
  }
  int Issue() {
    std::lock_guard<std::mutex> lock(mu);
    return ++issued;
  }
  int Issued() {
    std::lock_guard<std::mutex> lock(mu);
    return issued;
  }
  std::string Problems() {
    std::lock_guard<std::mutex> lock(mu);
    return Joined(problems);
  }
};

// A receiver whose gate accepts only the newest keys a fake endpoint
// issued: `keys` is set by the endpoint's handler.
struct SignedReceiver {
  std::mutex mu;
  testrx::SigV4Keys keys;
  Receiver rx;
  SignedReceiver() {
    rx.SetGate([this](const testrx::Request& req) -> std::optional<Response> {
      testrx::SigV4Keys k;
      {
        std::lock_guard<std::mutex> lock(mu);
        k = keys;
      }
      std::string why = testrx::VerifySigV4(req, k, std::chrono::system_clock::now());
      if (why.empty()) return std::nullopt;
      return Response::Status(403, why);
    });
  }
  void Accept(const testrx::SigV4Keys& k) {
    std::lock_guard<std::mutex> lock(mu);
    keys = k;
  }
};

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

  // With half of the pair, CREATE says what is missing.
  ::setenv("AWS_SECRET_ACCESS_KEY", "half", 1);
  Outcome o = db.Exec("CREATE VIRTUAL TABLE temp.n USING prometheus_sink(url='" + rx.url() + "', sigv4_region='us-east-1')");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  CHECK(o.msg ==
        "prometheus_sink: sigv4: environment variable AWS_ACCESS_KEY_ID is not set (set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or give the options sigv4_access_key and sigv4_secret_key)");
  // With no source of the chain at all (IMDS off), CREATE lists them.
  AwsEnv env;
  o = db.Exec("CREATE VIRTUAL TABLE temp.n USING prometheus_sink(url='" + rx.url() + "', sigv4_region='us-east-1')");
  CHECK(StartsWith(o.msg, "prometheus_sink: sigv4: no AWS credentials: none of sigv4_access_key/sigv4_secret_key, "
                          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE, a profile 'default'"));
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

// ================================================================ aws_chain
//
// Each source of the AWS credential chain (src/aws_credentials.h) against a
// fake endpoint or file on this machine; the receiver's independent SigV4
// verifier accepts only the exact credentials, session token included,
// that the source gave.

TEST_SUITE("aws_chain") {

TEST_CASE("web identity: AssumeRoleWithWebIdentity at AWS_ENDPOINT_URL_STS; its credentials cached across requests") {
  AwsEnv env;
  SecretFile token("eyJ.web-identity.TOKEN-Zq7\n");
  SignedReceiver rx;
  FakeEndpoint sts;
  sts.rx.SetHandler([&](const testrx::Request& req) {
    auto f = Form(req.body);
    if (req.method != "POST" || f["Action"] != "AssumeRoleWithWebIdentity" || f["Version"] != "2011-06-15" ||
        f["RoleArn"] != "arn:aws:iam::123456789012:role/irsa" || f["RoleSessionName"] != "psink-test" ||
        f["WebIdentityToken"] != "eyJ.web-identity.TOKEN-Zq7" || req.HasHeader("Authorization")) {
      sts.Problem(req.method + " " + req.body);
      return Response::Status(400, "<Error><Code>InvalidParameter</Code></Error>");
    }
    auto k = TempKeys("WEBID", sts.Issue());
    rx.Accept(k);
    return Response::Status(200, StsXml("AssumeRoleWithWebIdentity", k, 3600));
  });
  env.Set("AWS_WEB_IDENTITY_TOKEN_FILE", token.path());
  env.Set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa");
  env.Set("AWS_ROLE_SESSION_NAME", "psink-test");
  env.Set("AWS_ENDPOINT_URL_STS", sts.rx.url("/"));
  Db db;
  db.Sink("m", rx.rx.url(), "sigv4_region='us-east-1', batch_size=2, max_in_flight=4");
  db.Ok(Rows(20));
  db.Ok(Rows(20, 100));
  CHECK(sts.Problems() == "");
  CHECK(Refused(rx.rx) == "");
  CHECK(sts.Issued() == 1);  // an hour's credentials: fetched once for 20 requests on 4 shards
  CHECK(rx.rx.Samples().size() == 40);
  for (const auto& r : rx.rx.Requests()) CHECK(r.Header("X-Amz-Security-Token") == "WEBID-session+token/1==");
}

TEST_CASE("web identity: STS refuses; the message names the source and STS's reason, never the token") {
  AwsEnv env;
  SecretFile token("eyJ.web-identity.TOKEN-Zq7");
  FakeEndpoint sts;
  sts.rx.SetHandler([&](const testrx::Request&) {
    return Response::Status(403, "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not "
                                 "authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>");
  });
  env.Set("AWS_WEB_IDENTITY_TOKEN_FILE", token.path());
  env.Set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/irsa");
  env.Set("AWS_ENDPOINT_URL_STS", sts.rx.url("/"));
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "sigv4_region='us-east-1', retry=0");
  Outcome o = db.Exec(Rows(2));
  INFO(o.msg);
  CHECK(Contains(o.msg, "sigv4: web identity (STS at " + sts.rx.url("/") +
                           "): HTTP 403: 'AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity'"));
  CHECK_FALSE(Contains(o.msg, "TOKEN-Zq7"));
  CHECK(rx.RequestCount() == 0);
  // Without AWS_ROLE_ARN, CREATE says so.
  env.Unset("AWS_ROLE_ARN");
  o = db.Exec("CREATE VIRTUAL TABLE temp.n USING prometheus_sink(url='" + rx.url() + "', sigv4_region='us-east-1')");
  CHECK(o.msg == "prometheus_sink: sigv4: web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
}

TEST_CASE("shared credentials and config files: sigv4_profile, AWS_PROFILE, default; a missing profile named") {
  AwsEnv env;
  SecretFile credentials(
      "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-Secret-Zq7\n\n"
      "# a comment\n[prod]\naws_access_key_id=AKIDPROD\naws_secret_access_key=prod-Secret-Zq7\n"
      "aws_session_token=prod-session-token\n");
  SecretFile config("[default]\nregion = us-east-1\n[profile cfg]\naws_access_key_id = AKIDCFG\n"
                    "aws_secret_access_key = cfg-Secret-Zq7\n");
  env.Set("AWS_SHARED_CREDENTIALS_FILE", credentials.path());
  env.Set("AWS_CONFIG_FILE", config.path());
  SignedReceiver rx;
  testrx::SigV4Keys k = Keys();
  Db db;

  k.access_key = "AKIDDEFAULT";
  k.secret_key = "default-Secret-Zq7";
  rx.Accept(k);
  db.Sink("d", rx.rx.url(), "sigv4_region='us-east-1'");
  db.Ok("INSERT INTO d VALUES ('{\"__name__\":\"m\"}', 1, 1000)");

  k.access_key = "AKIDPROD";
  k.secret_key = "prod-Secret-Zq7";
  k.session_token = "prod-session-token";
  rx.Accept(k);
  db.Sink("p", rx.rx.url(), "sigv4_region='us-east-1', sigv4_profile='prod'");
  db.Ok("INSERT INTO p VALUES ('{\"__name__\":\"m\"}', 2, 1000)");

  k.access_key = "AKIDCFG";
  k.secret_key = "cfg-Secret-Zq7";
  k.session_token = "";
  rx.Accept(k);
  env.Set("AWS_PROFILE", "cfg");
  db.Sink("c", rx.rx.url(), "sigv4_region='us-east-1'");
  db.Ok("INSERT INTO c VALUES ('{\"__name__\":\"m\"}', 3, 1000)");
  CHECK(Refused(rx.rx) == "");
  CHECK(rx.rx.Samples().size() == 3);

  Outcome o = db.Exec("CREATE VIRTUAL TABLE temp.n USING prometheus_sink(url='" + rx.rx.url() +
                      "', sigv4_region='us-east-1', sigv4_profile='nope')");
  CHECK(o.msg == "prometheus_sink: sigv4: profile 'nope' (" + credentials.path() + ", " + config.path() +
                     "): no such profile");
}

TEST_CASE("container credentials: FULL_URI with the token file (which wins over the variable); renewed when expiring") {
  AwsEnv env;
  SecretFile token_file("container-auth-TOKEN-from-file\n");
  SignedReceiver rx;
  FakeEndpoint ecs;
  std::atomic<int> lifetime_s{3600};
  ecs.rx.SetHandler([&](const testrx::Request& req) {
    if (req.method != "GET" || req.target != "/v2/credentials/abc") ecs.Problem(req.method + " " + req.target);
    if (req.Header("Authorization") != "container-auth-TOKEN-from-file") {
      return Response::Status(401, "{\"message\":\"bad token\"}");
    }
    auto k = TempKeys("ECS", ecs.Issue());
    rx.Accept(k);
    return Response::Status(200, CredentialsJson(k, lifetime_s.load()));
  });
  env.Set("AWS_CONTAINER_CREDENTIALS_FULL_URI", ecs.rx.url("/v2/credentials/abc"));
  env.Set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "the-variable-loses");
  env.Set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.path());
  Db db;
  db.Sink("m", rx.rx.url(), "sigv4_region='us-east-1', batch_size=2, max_in_flight=1");
  db.Ok(Rows(6));
  CHECK(ecs.Issued() == 1);  // valid for an hour: one fetch for three requests
  // Credentials within 5 minutes of their end are fetched again before each request.
  lifetime_s = 60;
  db.Sink("n", rx.rx.url(), "sigv4_region='us-east-1', batch_size=2, max_in_flight=1");
  db.Ok("WITH RECURSIVE c(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM c WHERE v < 5) "
        "INSERT INTO n SELECT json_object('__name__','n','i',CAST(v AS TEXT)), v, 1000 + v FROM c");
  CHECK(ecs.Issued() == 4);  // 2, 3, 4: one per request of `n`
  CHECK(ecs.Problems() == "");
  CHECK(Refused(rx.rx) == "");
  CHECK(rx.rx.Samples().size() == 12);
  auto reqs = rx.rx.Requests();
  REQUIRE(reqs.size() == 6);
  CHECK(reqs[3].Header("X-Amz-Security-Token") == "ECS-session+token/2==");
  CHECK(reqs[5].Header("X-Amz-Security-Token") == "ECS-session+token/4==");
}

TEST_CASE("container credentials: refused token, plain http off loopback; messages name the source, not the token") {
  AwsEnv env;
  FakeEndpoint ecs;
  ecs.rx.SetHandler([&](const testrx::Request&) { return Response::Status(401, "{\"message\":\"denied\"}"); });
  env.Set("AWS_CONTAINER_CREDENTIALS_FULL_URI", ecs.rx.url("/creds"));
  env.Set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-TOKEN-Zq7");
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "sigv4_region='us-east-1'");
  Outcome o = db.Exec(Rows(1));
  CHECK(Contains(o.msg, "sigv4: container credentials at " + ecs.rx.url("/creds") +
                           ": HTTP 401: '{\"message\":\"denied\"}'"));
  CHECK_FALSE(Contains(o.msg, "TOKEN-Zq7"));
  env.Set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://203.0.113.9/creds");
  o = db.Exec("CREATE VIRTUAL TABLE temp.n USING prometheus_sink(url='" + rx.url() + "', sigv4_region='us-east-1')");
  CHECK(o.msg == "prometheus_sink: sigv4: container credentials: plain http to '203.0.113.9' refused: only loopback, "
                 "169.254.170.2, 169.254.170.23 and fd00:ec2::23 may be reached without TLS");
  CHECK(rx.RequestCount() == 0);
}

TEST_CASE("IMDSv2 at AWS_EC2_METADATA_SERVICE_ENDPOINT: token, role, credentials; AWS_EC2_METADATA_DISABLED") {
  AwsEnv env;
  SignedReceiver rx;
  FakeEndpoint imds;
  imds.rx.SetHandler([&](const testrx::Request& req) {
    const std::string base = "/latest/meta-data/iam/security-credentials/";
    if (req.method == "PUT" && req.target == "/latest/api/token") {
      if (req.Header("X-aws-ec2-metadata-token-ttl-seconds").empty()) imds.Problem("token PUT without a TTL");
      return Response::Status(200, "imds-session-TOKEN");
    }
    if (req.Header("X-aws-ec2-metadata-token") != "imds-session-TOKEN") return Response::Status(401);  // IMDSv1
    if (req.method == "GET" && req.target == base) return Response::Status(200, "psink-role");
    if (req.method == "GET" && req.target == base + "psink-role") {
      auto k = TempKeys("IMDS", imds.Issue());
      rx.Accept(k);
      return Response::Status(200, CredentialsJson(k, 6 * 3600));
    }
    imds.Problem(req.method + " " + req.target);
    return Response::Status(404);
  });
  env.Unset("AWS_EC2_METADATA_DISABLED");
  env.Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.rx.url("/"));
  Db db;
  db.Sink("m", rx.rx.url(), "sigv4_region='us-east-1', batch_size=5");
  db.Ok(Rows(10));
  CHECK(imds.Problems() == "");
  CHECK(Refused(rx.rx) == "");
  CHECK(imds.Issued() == 1);
  CHECK(rx.rx.Samples().size() == 10);
  CHECK(rx.rx.Requests()[0].Header("X-Amz-Security-Token") == "IMDS-session+token/1==");

  // An instance without a role: the message says so.
  FakeEndpoint bare;
  bare.rx.SetHandler([&](const testrx::Request& req) {
    if (req.method == "PUT") return Response::Status(200, "t");
    return Response::Status(404, "");
  });
  env.Set("AWS_EC2_METADATA_SERVICE_ENDPOINT", bare.rx.url(""));
  db.Sink("n", rx.rx.url(), "sigv4_region='us-east-1', retry=0");
  Outcome o = db.Exec("INSERT INTO n VALUES ('{\"__name__\":\"m\"}', 1, 1000)");
  CHECK(Contains(o.msg, "sigv4: EC2 instance metadata (IMDSv2) at " + bare.rx.url("") +
                           ": no instance role (GET /latest/meta-data/iam/security-credentials/ answered HTTP 404)"));
  // Turned off: IMDS is not asked.
  env.Set("AWS_EC2_METADATA_DISABLED", "true");
  o = db.Exec("CREATE VIRTUAL TABLE temp.o USING prometheus_sink(url='" + rx.rx.url() + "', sigv4_region='us-east-1')");
  CHECK(StartsWith(o.msg, "prometheus_sink: sigv4: no AWS credentials: "));
}

TEST_CASE("sigv4_role_arn: STS AssumeRole signed with the chain's credentials; the role's credentials sign the writes") {
  AwsEnv env;
  env.Set("AWS_ACCESS_KEY_ID", "AKIDBASE");
  env.Set("AWS_SECRET_ACCESS_KEY", "base-Secret-Zq7");
  env.Set("AWS_SESSION_TOKEN", "base-session-token");
  testrx::SigV4Keys base = Keys();
  base.access_key = "AKIDBASE";
  base.secret_key = "base-Secret-Zq7";
  base.session_token = "base-session-token";
  base.service = "sts";
  SignedReceiver rx;
  FakeEndpoint sts;
  sts.rx.SetHandler([&](const testrx::Request& req) {
    std::string why = testrx::VerifySigV4(req, base, std::chrono::system_clock::now());
    auto f = Form(req.body);
    if (!why.empty()) return Response::Status(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>");
    if (f["Action"] != "AssumeRole" || f["RoleArn"] != "arn:aws:iam::123456789012:role/writer") {
      sts.Problem(req.body);
      return Response::Status(400, "<Error><Code>InvalidParameter</Code></Error>");
    }
    auto k = TempKeys("ROLE", sts.Issue());
    rx.Accept(k);
    return Response::Status(200, StsXml("AssumeRole", k, 3600));
  });
  env.Set("AWS_ENDPOINT_URL_STS", sts.rx.url("/"));
  Db db;
  db.Sink("m", rx.rx.url(), "sigv4_region='us-east-1', sigv4_role_arn='arn:aws:iam::123456789012:role/writer', "
                            "batch_size=5, retry=0");
  db.Ok(Rows(10));
  CHECK(sts.Problems() == "");
  CHECK(Refused(rx.rx) == "");
  CHECK(sts.Issued() == 1);
  CHECK(rx.rx.Samples().size() == 10);
  CHECK(Contains(rx.rx.Requests()[0].Header("Authorization"), "Credential=ASIAROLE1/"));
  CHECK(sts.rx.Requests()[0].Header("X-Amz-Security-Token") == "base-session-token");

  // Base credentials STS does not accept: the message names the role.
  env.Set("AWS_SECRET_ACCESS_KEY", "wrong-base-Secret");
  db.Sink("n", rx.rx.url(), "sigv4_region='us-east-1', sigv4_role_arn='arn:aws:iam::123456789012:role/writer', "
                            "retry=0");
  Outcome o = db.Exec("INSERT INTO n VALUES ('{\"__name__\":\"m\"}', 1, 1000)");
  CHECK(Contains(o.msg, "sigv4: sigv4_role_arn arn:aws:iam::123456789012:role/writer (STS at " +
                           sts.rx.url("/") + "): HTTP 403: 'SignatureDoesNotMatch'"));
  CHECK_FALSE(Contains(o.msg, "Secret"));
}

}  // TEST_SUITE aws_chain

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


TEST_CASE("oauth2_client_auth='post': an endpoint that takes only form-field credentials issues a token; 'basic' is refused clearly") {
  testrx::TokenEndpoint auth(kClientId, kClientSecret, 60);
  auth.AcceptClientAuth("form");
  Receiver rx;
  rx.SetGate(auth.BearerGate());
  Db db;
  db.Sink("m", rx.url(), OAuth2Options(auth) + ", oauth2_client_auth='post'");
  db.Ok(Rows(3));
  CHECK(auth.LastClientAuth() == "form");
  CHECK(auth.Fetches() == 1);
  CHECK(rx.Samples().size() == 3);
  CHECK(Joined(auth.Violations()) == "");
  bool id = false, secret = false;
  for (const auto& [k, v] : auth.LastForm()) {
    id |= k == "client_id" && v == kClientId;
    secret |= k == "client_secret" && v == kClientSecret;
  }
  CHECK(id);
  CHECK(secret);
  CHECK_FALSE(auth.LastClientAuth() == "basic");

  db.Sink("b", rx.url(), OAuth2Options(auth) + ", retry=0");  // basic, the default
  Outcome o = db.Exec("INSERT INTO b VALUES ('{\"__name__\":\"m\"}', 1, 1000)");
  CHECK(Contains(o.msg, "OAuth2 token request to " + auth.url() +
                            " failed: HTTP 401: error 'invalid_client': 'Client authentication failed' "
                            "(oauth2_client_auth='basic' sent the client id and secret as HTTP Basic; an endpoint "
                            "that wants them in the form body needs oauth2_client_auth='post')"));
  CHECK_FALSE(Contains(o.msg, kClientSecret));
  CHECK(auth.LastClientAuth() == "basic");
  CHECK(rx.Samples().size() == 3);
}

}  // TEST_SUITE oauth2

// ================================================================ rate_limit
//
// max_samples_per_second is a bound on what the receiver sees: checked on
// the receiver's own arrival times (a sliding one-second window), never on
// how long the export took (bench/rate_limit.sh prints that). The limiter
// lets 20,000 samples a second plus one request (1,000) through, which
// leaves arrivals 50 ms of slack; the test command runs this suite beside
// fuzzers that keep both cores busy, where one request can be held up
// longer than that. So the bound checked is one request more (22,000; 46,000
// to 100,000 arrive in one second without the limiter), and the limiter's
// exact schedule is the unit test's (test_aws_credentials.cc, RateLimiter).
constexpr size_t kMostInOneSecond = 21000 + 1000;

namespace {

// The most samples the receiver accepted within any one second, by arrival.
size_t MostInOneSecond(const Receiver& rx) {
  std::vector<std::pair<Clock::time_point, size_t>> arrivals;
  for (const auto& r : rx.Requests()) {
    if (r.stored) arrivals.emplace_back(r.received, r.SampleCount());
  }
  std::sort(arrivals.begin(), arrivals.end());
  size_t most = 0, sum = 0;
  for (size_t begin = 0, end = 0; begin < arrivals.size(); ++begin) {
    while (end < arrivals.size() && arrivals[end].first - arrivals[begin].first < std::chrono::seconds(1)) {
      sum += arrivals[end++].second;
    }
    most = std::max(most, sum);
    sum -= arrivals[begin].second;
  }
  return most;
}

std::string TempDbPath() {
  char tmpl[] = "/tmp/psink-rate-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return std::string(tmpl) + "/db.sqlite";
}

}  // namespace

TEST_SUITE("rate_limit") {

TEST_CASE("max_samples_per_second=20000, 100,000 rows over concurrent shards: never over 21,000 in any one second, but for scheduling") {
  Receiver rx;
  Db db;
  // 1,000 samples a request: the limit allows a request every 50 ms.
  db.Sink("m", rx.url(), "max_samples_per_second=20000, batch_size=1000, max_in_flight=4");
  db.Ok(Rows(100000));
  CHECK(rx.Samples().size() == 100000);
  const size_t most = MostInOneSecond(rx);
  MESSAGE("most samples in one second: " << most);
  CHECK(most <= kMostInOneSecond);
  CHECK(db.Int("SELECT rate_limit_wait_ms FROM prometheus_sink_stats") > 0);
  CheckNoViolations(rx);
}

TEST_CASE("max_samples_per_second=20000 with spool=on: the drain obeys it") {
  Receiver rx;
  const std::string path = TempDbPath();
  {
    Db db(path);
    db.Ok("CREATE VIRTUAL TABLE m USING prometheus_sink(url='" + rx.url() +
          "', spool=on, max_samples_per_second=20000, batch_size=1000)");
    db.Ok(Rows(100000));
    db.Ok("SELECT prometheus_sink_flush('m')");
    CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
    CHECK(db.Int("SELECT rate_limit_wait_ms FROM prometheus_sink_stats") > 0);
  }
  std::set<std::pair<std::string, int64_t>> distinct;
  for (const auto& s : rx.Samples()) distinct.emplace(s.labels, s.ts);
  CHECK(distinct.size() == 100000);
  const size_t most = MostInOneSecond(rx);
  MESSAGE("most samples in one second: " << most);
  CHECK(most <= kMostInOneSecond);
  CheckNoViolations(rx);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST_CASE("without max_samples_per_second nothing waits") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "batch_size=1000");
  db.Ok(Rows(20000));
  CHECK(rx.Samples().size() == 20000);
  CHECK(db.Int("SELECT rate_limit_wait_ms FROM prometheus_sink_stats") == 0);
}

}  // TEST_SUITE rate_limit
