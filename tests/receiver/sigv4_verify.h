// An independent AWS Signature Version 4 verifier for the test receiver: the
// published algorithm (AWS General Reference, "Create a signed AWS API
// request": canonical request, string to sign, signing key derivation),
// written from the specification with OpenSSL's SHA-256 and HMAC, sharing
// nothing with libcurl's signer that the sink uses. Checked against AWS's
// own test-suite vectors in receiver_test.cc.
//
//   testrx::SigV4Keys keys{"AKIDEXAMPLE", "wJalr...", "us-east-1", "aps"};
//   rx.RequireSigV4(keys);  // every request must be signed with them: 403 otherwise
//
// What a server does and this checks: the Authorization header's form and
// credential scope, the access key, the X-Amz-Date against the clock (at
// most 5 minutes apart), that host, x-amz-date and any
// X-Amz-Security-Token are signed and every signed header is present, the
// session token, an X-Amz-Content-Sha256 against the body, and the
// signature over the canonical request (URI path normalised and
// URI-encoded, query parameters decoded, re-encoded and sorted, headers
// trimmed, the body's SHA-256).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace testrx {

struct Request;

struct SigV4Keys {
  std::string access_key;
  std::string secret_key;
  std::string region = "us-east-1";
  std::string service = "aps";
  // The X-Amz-Security-Token every request must carry; empty: none may.
  std::string session_token;
  // The verifier's clock runs this far ahead of the system clock (negative:
  // behind), to test stale signatures.
  int64_t clock_offset_s = 0;
  int64_t max_skew_s = 300;
};

// "" when `req` carries a valid signature for `keys` at `now`; otherwise why
// not, starting with the error code AWS would answer:
// MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId,
// RequestTimeTooSkewed, XAmzContentSHA256Mismatch, SignatureDoesNotMatch.
std::string VerifySigV4(const Request& req, const SigV4Keys& keys, std::chrono::system_clock::time_point now);

// The pieces, for tests of the verifier itself.
// Lower-case hex of SHA-256(data).
std::string Sha256Hex(std::string_view data);
// Raw HMAC-SHA256(key, data).
std::string HmacSha256(std::string_view key, std::string_view data);
// The canonical URI of a request path (non-S3 rules: dot segments and empty
// segments removed, then URI-encoded, '/' kept).
std::string CanonicalUri(std::string_view path);
// The canonical query string of a raw query (without '?').
std::string CanonicalQuery(std::string_view query);

}  // namespace testrx
