// Unit tests for aws_credentials.{h,cc}, the parts without I/O: reading what
// the credential endpoints and files hold, and the cache of temporary
// credentials (a scripted fetch and a hand-driven clock).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "aws_credentials.h"

using psink::AwsCredentialCache;
using psink::SigV4Credentials;
using psink::Status;

TEST_CASE("ParseIso8601Ms: AWS's Expiration forms; anything else is -1") {
  CHECK(psink::ParseIso8601Ms("1970-01-01T00:00:00Z") == 0);
  CHECK(psink::ParseIso8601Ms("2026-12-08T04:00:00Z") == 1796702400000);
  CHECK(psink::ParseIso8601Ms("2026-12-08T04:00:00.250Z") == 1796702400250);
  CHECK(psink::ParseIso8601Ms("2026-12-08T05:00:00+01:00") == 1796702400000);
  CHECK(psink::ParseIso8601Ms("2026-12-08T03:30:00-00:30") == 1796702400000);
  CHECK(psink::ParseIso8601Ms("2026-12-08 04:00:00Z") == 1796702400000);
  CHECK(psink::ParseIso8601Ms("2026-12-08T04:00:00") == -1);  // no zone
  CHECK(psink::ParseIso8601Ms("2026-12-08") == -1);
  CHECK(psink::ParseIso8601Ms("soon") == -1);
  CHECK(psink::ParseIso8601Ms("2026-12-08T04:00:00Zjunk") == -1);
}

TEST_CASE("ReadIniProfile: the section's keys; comments, spaces, other sections ignored") {
  const std::string text =
      "# comment\n[default]\naws_access_key_id = AKDEF\naws_secret_access_key=SKDEF\n"
      "[profile prod]\r\n ; comment\n  aws_access_key_id =  AKPROD  \naws_session_token=TOK\nregion=eu-west-1\n"
      "[other]\naws_access_key_id=AKOTHER\n";
  SigV4Credentials c;
  bool found = false;
  psink::ReadIniProfile(text, "profile prod", &found, &c);
  CHECK(found);
  CHECK(c.access_key == "AKPROD");
  CHECK(c.secret_key == "");
  CHECK(c.session_token == "TOK");
  c = SigV4Credentials();
  found = false;
  psink::ReadIniProfile(text, "default", &found, &c);
  CHECK(found);
  CHECK(c.access_key == "AKDEF");
  CHECK(c.secret_key == "SKDEF");
  found = false;
  psink::ReadIniProfile(text, "prod", &found, &c);  // the config file's section is "profile prod"
  CHECK_FALSE(found);
}

TEST_CASE("ParseStsCredentials / ParseAwsCredentialsJson: the keys, the token, the expiry; refusals name the source only") {
  SigV4Credentials c;
  REQUIRE(psink::ParseStsCredentials("<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1"
                                     "</AccessKeyId><SecretAccessKey>s&amp;k</SecretAccessKey><SessionToken>t&lt;1"
                                     "</SessionToken><Expiration>1970-01-01T00:00:01Z</Expiration></Credentials>"
                                     "</AssumeRoleResult></AssumeRoleResponse>",
                                     "sigv4: sts", &c)
              .ok());
  CHECK(c.access_key == "ASIA1");
  CHECK(c.secret_key == "s&k");
  CHECK(c.session_token == "t<1");
  CHECK(c.expires_ms == 1000);
  CHECK(psink::ParseStsCredentials("<Response/>", "sigv4: sts", &c).message() ==
        "sigv4: sts: the answer holds no Credentials");
  CHECK(psink::DescribeStsError("<ErrorResponse><Error><Code>ExpiredToken</Code><Message>gone</Message></Error>"
                                "</ErrorResponse>") == "'ExpiredToken: gone'");

  REQUIRE(psink::ParseAwsCredentialsJson(R"({"Code":"Success","AccessKeyId":"A","SecretAccessKey":"S","Token":"T",)"
                                         R"("Expiration":"1970-01-01T00:00:02Z"})",
                                         "sigv4: imds", &c)
              .ok());
  CHECK(c.access_key == "A");
  CHECK(c.session_token == "T");
  CHECK(c.expires_ms == 2000);
  CHECK(psink::ParseAwsCredentialsJson(R"({"Code":"AssumeRoleUnauthorizedAccess","AccessKeyId":"A"})", "sigv4: imds",
                                       &c)
            .message() == "sigv4: imds: the answer's Code is 'AssumeRoleUnauthorizedAccess'");
  Status st = psink::ParseAwsCredentialsJson(R"({"AccessKeyId":"A","SecretAccessKey":"Zq7-secret"})", "sigv4: x", &c);
  CHECK(st.ok());  // no token, no expiry: long-lived keys
  st = psink::ParseAwsCredentialsJson(R"({"AccessKeyId":"A","SecretAccessKey":"Zq7-sec\nret"})", "sigv4: x", &c);
  CHECK(st.message() == "sigv4: x gave a credential with a control character (not shown)");
  CHECK(psink::ParseAwsCredentialsJson("not json Zq7-secret", "sigv4: x", &c).message() ==
        "sigv4: x: the answer is not a JSON object");
}

TEST_CASE("AwsCredentialCache: kept until 5 minutes before the expiry, then fetched again; failures not cached") {
  AwsCredentialCache cache;
  int fetches = 0;
  int64_t expires = 60 * 60 * 1000;  // an hour after the clock's zero
  auto fetch = [&](SigV4Credentials* c) {
    ++fetches;
    c->access_key = "A" + std::to_string(fetches);
    c->secret_key = "S";
    c->expires_ms = expires;
    return Status::Ok();
  };
  SigV4Credentials c;
  REQUIRE(cache.Get(AwsCredentialCache::kChain, fetch, 0, &c).ok());
  REQUIRE(cache.Get(AwsCredentialCache::kChain, fetch, expires - AwsCredentialCache::kRenewBeforeMs - 1, &c).ok());
  CHECK(c.access_key == "A1");
  REQUIRE(cache.Get(AwsCredentialCache::kChain, fetch, expires - AwsCredentialCache::kRenewBeforeMs, &c).ok());
  CHECK(c.access_key == "A2");
  // The role's slot is its own.
  REQUIRE(cache.Get(AwsCredentialCache::kRole, fetch, 0, &c).ok());
  CHECK(c.access_key == "A3");
  CHECK(cache.fetches() == 3);
  // Expiring within the margin: fetched at every Get.
  AwsCredentialCache soon;
  expires = 1000;
  REQUIRE(soon.Get(AwsCredentialCache::kChain, fetch, 0, &c).ok());
  REQUIRE(soon.Get(AwsCredentialCache::kChain, fetch, 0, &c).ok());
  CHECK(soon.fetches() == 2);
  // No expiry: kept.
  AwsCredentialCache forever;
  expires = 0;
  REQUIRE(forever.Get(AwsCredentialCache::kChain, fetch, 0, &c).ok());
  REQUIRE(forever.Get(AwsCredentialCache::kChain, fetch, INT64_MAX / 2, &c).ok());
  CHECK(forever.fetches() == 1);
  // A failed fetch caches nothing; the next Get tries again.
  AwsCredentialCache failing;
  auto fail = [](SigV4Credentials*) { return Status::Failed("down"); };
  CHECK(failing.Get(AwsCredentialCache::kChain, fail, 0, &c).message() == "down");
  REQUIRE(failing.Get(AwsCredentialCache::kChain, fetch, 0, &c).ok());
  CHECK(failing.fetches() == 1);
}
