// Unit tests for oauth2.{h,cc}: the form encoding and body of a token
// request, reading the token endpoint's answers, and the token cache that a
// sink's transports share (a scripted fetch and a hand-driven clock; threads
// for the sharing).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "oauth2.h"

using psink::OAuth2Token;
using psink::OAuth2Tokens;
using psink::Status;

TEST_CASE("FormEncode: what Go's url.QueryEscape gives") {
  CHECK(psink::FormEncode("abcXYZ019-_.~") == "abcXYZ019-_.~");
  CHECK(psink::FormEncode("a b") == "a+b");
  CHECK(psink::FormEncode("a+b:c/d?e&f=g%") == "a%2Bb%3Ac%2Fd%3Fe%26f%3Dg%25");
  CHECK(psink::FormEncode("\xc3\xa9") == "%C3%A9");
  CHECK(psink::FormEncode("") == "");
}

TEST_CASE("TokenRequestBody: grant type, scopes joined by one space, extra params in order") {
  CHECK(psink::TokenRequestBody("", {}) == "grant_type=client_credentials");
  CHECK(psink::TokenRequestBody("  metrics:write \t read  ", {}) ==
        "grant_type=client_credentials&scope=metrics%3Awrite+read");
  CHECK(psink::TokenRequestBody("a", {{"audience", "https://prom.example/"}, {"x y", "1&2"}}) ==
        "grant_type=client_credentials&scope=a&audience=https%3A%2F%2Fprom.example%2F&x+y=1%262");
}

TEST_CASE("ParseTokenResponse: access_token and expires_in (number or string); the rest is ignored") {
  OAuth2Token t;
  REQUIRE(psink::ParseTokenResponse(R"({"access_token":"abc","token_type":"Bearer","expires_in":3600})", &t).ok());
  CHECK(t.access_token == "abc");
  CHECK(t.expires_in_s == 3600);
  REQUIRE(psink::ParseTokenResponse(R"({"expires_in":"60","access_token":"x","ext":{"a":[1]}})", &t).ok());
  CHECK(t.expires_in_s == 60);
  REQUIRE(psink::ParseTokenResponse(R"({"access_token":"x"})", &t).ok());
  CHECK(t.expires_in_s == 0);
  REQUIRE(psink::ParseTokenResponse(R"({"access_token":"x","expires_in":0})", &t).ok());
  CHECK(t.expires_in_s == 0);
  REQUIRE(psink::ParseTokenResponse(R"({"access_token":"x","expires_in":2.9})", &t).ok());
  CHECK(t.expires_in_s == 2);
  REQUIRE(psink::ParseTokenResponse(R"({"access_token":"x","expires_in":1e300})", &t).ok());
  CHECK(t.expires_in_s == 100LL * 365 * 24 * 3600);
}

TEST_CASE("ParseTokenResponse: what is refused, without showing the token") {
  OAuth2Token t;
  CHECK(psink::ParseTokenResponse("<html>", &t).message().rfind("the answer is not a JSON object", 0) == 0);
  CHECK(psink::ParseTokenResponse(R"({"token_type":"Bearer"})", &t).message() == "the answer has no access_token");
  CHECK(psink::ParseTokenResponse(R"({"access_token":""})", &t).message() ==
        "the answer's access_token is not a non-empty string");
  CHECK(psink::ParseTokenResponse(R"({"access_token":42})", &t).message() ==
        "the answer's access_token is not a non-empty string");
  Status st = psink::ParseTokenResponse(R"({"access_token":"sec\nret"})", &t);
  CHECK(st.message() == "the answer's access_token contains a control character (not shown)");
  CHECK(psink::ParseTokenResponse(R"({"access_token":"x","expires_in":"soon"})", &t).message() ==
        "the answer's expires_in is not a number: 'soon'");
  st = psink::ParseTokenResponse(R"({"access_token":"s3cret-token", "expires_in": })", &t);
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("s3cret") == std::string::npos);
}

TEST_CASE("DescribeTokenError: RFC 6749 error and description, or the body's start") {
  CHECK(psink::DescribeTokenError(R"({"error":"invalid_client","error_description":"Client authentication failed"})") ==
        "error 'invalid_client': 'Client authentication failed'");
  CHECK(psink::DescribeTokenError(R"({"error":"invalid_scope"})") == "error 'invalid_scope'");
  CHECK(psink::DescribeTokenError("  service unavailable\n") == "'service unavailable'");
  CHECK(psink::DescribeTokenError("") == "");
  // Secrets are hidden before the text is shortened, also when JSON escapes spelled them.
  std::string echo = std::string(190, '.') + "s3cret-value-that-a-cut-would-split";
  CHECK(psink::DescribeTokenError(echo, {"s3cret-value-that-a-cut-would-split"}) == "'" + std::string(190, '.') + "***'");
  CHECK(psink::DescribeTokenError(R"({"error":"invalid_client","error_description":"bad s3cr\/et"})", {"s3cr/et"}) ==
        "error 'invalid_client': 'bad ***'");
  CHECK(psink::HideSecrets("a-x-a-x", {"x", ""}) == "a-***-a-***");
}

TEST_CASE("RenewalMarginMs: a tenth of the lifetime, at most 10 s") {
  CHECK(OAuth2Tokens::RenewalMarginMs(2'000) == 200);
  CHECK(OAuth2Tokens::RenewalMarginMs(60'000) == 6'000);
  CHECK(OAuth2Tokens::RenewalMarginMs(3'600'000) == 10'000);
}

namespace {

// A fetch that hands out "tok-1", "tok-2", ... with the given lifetime.
struct Issuer {
  int64_t lifetime_s = 60;
  std::atomic<int> calls{0};
  Status fail;  // when not ok, every fetch fails with it
  bool transient = false;

  OAuth2Tokens::Fetch fn() {
    return [this](OAuth2Token* t, bool* tr) {
      int n = ++calls;
      if (!fail.ok()) {
        *tr = transient;
        return fail;
      }
      t->access_token = "tok-" + std::to_string(n);
      t->expires_in_s = lifetime_s;
      return Status::Ok();
    };
  }
};

std::string TokenAt(OAuth2Tokens& cache, Issuer& issuer, int64_t now_ms, uint64_t* generation = nullptr) {
  OAuth2Tokens::Lease lease;
  bool transient = true;
  Status st = cache.Get(issuer.fn(), now_ms, &lease, &transient);
  INFO(st.message());
  REQUIRE(st.ok());
  CHECK_FALSE(transient);
  if (generation) *generation = lease.generation;
  return lease.token;
}

}  // namespace

TEST_CASE("OAuth2Tokens: one fetch for every use within the lifetime, a new one at the renewal margin") {
  OAuth2Tokens cache;
  Issuer issuer;
  issuer.lifetime_s = 60;
  for (int64_t t = 0; t < 54'000; t += 500) CHECK(TokenAt(cache, issuer, 1'000 + t) == "tok-1");
  CHECK(issuer.calls == 1);
  CHECK(TokenAt(cache, issuer, 1'000 + 54'000) == "tok-2");  // 60 s - 6 s after the first fetch
  CHECK(cache.fetches() == 2);

  // A 2 s token is renewed 200 ms before its end: every 1.8 s.
  OAuth2Tokens short_cache;
  Issuer short_issuer;
  short_issuer.lifetime_s = 2;
  int64_t t = 0;
  for (; t < 5'000; t += 10) TokenAt(short_cache, short_issuer, t);
  CHECK(short_issuer.calls == 3);  // at 0, 1.8 and 3.6 s
}

TEST_CASE("OAuth2Tokens: a token without expires_in is kept until invalidated") {
  OAuth2Tokens cache;
  Issuer issuer;
  issuer.lifetime_s = 0;
  CHECK(TokenAt(cache, issuer, 0) == "tok-1");
  CHECK(TokenAt(cache, issuer, int64_t{1} << 50) == "tok-1");
  CHECK(issuer.calls == 1);
}

TEST_CASE("OAuth2Tokens: Invalidate forgets the refused token once, however many transports saw it refused") {
  OAuth2Tokens cache;
  Issuer issuer;
  uint64_t gen1 = 0, gen2 = 0;
  CHECK(TokenAt(cache, issuer, 0, &gen1) == "tok-1");
  cache.Invalidate(gen1);
  CHECK(TokenAt(cache, issuer, 10, &gen2) == "tok-2");
  CHECK(gen2 != gen1);
  cache.Invalidate(gen1);  // a second transport's 401 for the old token
  CHECK(TokenAt(cache, issuer, 20) == "tok-2");
  CHECK(issuer.calls == 2);
}

TEST_CASE("OAuth2Tokens: a failed fetch caches nothing and says whether it is transient") {
  OAuth2Tokens cache;
  Issuer issuer;
  issuer.fail = Status::Failed("token endpoint down");
  issuer.transient = true;
  OAuth2Tokens::Lease lease;
  bool transient = false;
  Status st = cache.Get(issuer.fn(), 0, &lease, &transient);
  CHECK(st.message() == "token endpoint down");
  CHECK(transient);
  issuer.transient = false;
  st = cache.Get(issuer.fn(), 1, &lease, &transient);
  CHECK_FALSE(st.ok());
  CHECK_FALSE(transient);
  issuer.fail = Status::Ok();
  CHECK(TokenAt(cache, issuer, 2) == "tok-3");
  CHECK(cache.fetches() == 1);
}

TEST_CASE("OAuth2Tokens: 8 threads asking at once share one fetch") {
  OAuth2Tokens cache;
  Issuer issuer;
  OAuth2Tokens::Fetch slow = [&](OAuth2Token* t, bool* tr) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the others arrive meanwhile
    return issuer.fn()(t, tr);
  };
  std::vector<std::thread> threads;
  std::vector<std::string> got(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 100; ++k) {
        OAuth2Tokens::Lease lease;
        bool transient = false;
        if (cache.Get(slow, 1'000 + k, &lease, &transient).ok()) got[i] = lease.token;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(issuer.calls == 1);
  for (const std::string& g : got) CHECK(g == "tok-1");
}
