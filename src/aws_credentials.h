// AWS credentials for SigV4 signing: the credential chain in the order the
// AWS SDKs (Java 2.x, PHP) document, the parsers of what its endpoints
// answer, and the cache of temporary credentials that the transports of one
// sink share (as they share the OAuth2 token, oauth2.h). The HTTP exchanges
// go through HttpExchange (transport.h); no AWS SDK.
//
// The chain, first source that is configured wins:
//   1. the options sigv4_access_key and sigv4_secret_key (read at each request);
//   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
//   3. web identity (EKS IRSA): AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN
//      (AWS_ROLE_SESSION_NAME), STS AssumeRoleWithWebIdentity at
//      AWS_ENDPOINT_URL_STS (default https://sts.<region>.amazonaws.com);
//   4. the shared credentials and config files (AWS_SHARED_CREDENTIALS_FILE,
//      AWS_CONFIG_FILE; default ~/.aws/credentials, ~/.aws/config), profile
//      sigv4_profile, else AWS_PROFILE, else "default";
//   5. container credentials (ECS, EKS Pod Identity):
//      AWS_CONTAINER_CREDENTIALS_FULL_URI, or _RELATIVE_URI against
//      http://169.254.170.2, with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
//      AWS_CONTAINER_AUTHORIZATION_TOKEN (the file wins); plain http only
//      to loopback and the documented link-local hosts;
//   6. the EC2 instance role through IMDSv2 (token first) at
//      AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254),
//      unless AWS_EC2_METADATA_DISABLED=true.
// Then, with sigv4_role_arn, STS AssumeRole signed with what the chain gave.
//
// Sources 1, 2 and 4 are read at each request, so rotated keys are picked
// up; what 3, 5, 6 and the role give is cached until shortly before it
// expires. A failure names the source and why, never a key, token or secret.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "options.h"
#include "status.h"

namespace psink {

// SigV4 credentials as read for one request.
struct SigV4Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty: none (sent as X-Amz-Security-Token otherwise)
  int64_t expires_ms = 0;     // wall clock, ms since the epoch; 0: does not expire
};

// Reads the credentials for the next request: the chain above, then the
// role. Messages start with "sigv4: " and name the source.
Status ResolveSigV4Credentials(const SinkOptions& opts, SigV4Credentials* out);

// What CREATE can check without the network: the first source configured
// is complete (its variables set, its files readable). Fine when only
// IMDS is left (it is asked at the first request).
Status CheckSigV4Credentials(const SinkOptions& opts);

// The temporary credentials of one sink, shared by every transport of the
// sink (each on its own thread). Thread-safe; fetching happens under the
// lock, so concurrent callers wait for one fetch and share its result.
class AwsCredentialCache {
 public:
  using Fetch = std::function<Status(SigV4Credentials* out)>;

  // The credentials cached in `slot` (kChain: what the chain's network
  // sources gave; kRole: sigv4_role_arn's) while they are valid at
  // `now_ms` (wall clock), else `fetch`'s, which are then cached. Nothing is
  // cached on failure.
  enum Slot { kChain = 0, kRole = 1 };
  Status Get(Slot slot, const Fetch& fetch, int64_t now_ms, SigV4Credentials* out);

  // Successful fetches so far, of both slots.
  uint64_t fetches() const;

  // Credentials are renewed this long before they expire (as the SDKs do).
  static constexpr int64_t kRenewBeforeMs = 5 * 60 * 1000;

 private:
  mutable std::mutex mu_;
  SigV4Credentials cached_[2];  // guarded by mu_
  bool valid_[2] = {false, false};  // guarded by mu_
  uint64_t fetches_ = 0;        // guarded by mu_
};

// The parsers, for tests.
// The JSON of IMDS and of container credentials: AccessKeyId,
// SecretAccessKey, Token, Expiration (ISO 8601); `source` names it in messages.
Status ParseAwsCredentialsJson(std::string_view body, std::string_view source, SigV4Credentials* out);
// The XML answer of STS AssumeRole / AssumeRoleWithWebIdentity:
// Credentials/{AccessKeyId, SecretAccessKey, SessionToken, Expiration}.
Status ParseStsCredentials(std::string_view body, std::string_view source, SigV4Credentials* out);
// What an STS error answer says: "<Code>: <Message>", or the body's start.
std::string DescribeStsError(std::string_view body);
// "2026-12-08T04:00:00Z" (fractions of seconds and offsets allowed) as ms
// since the epoch; -1 when unreadable.
int64_t ParseIso8601Ms(std::string_view text);
// Reads one profile of an AWS ini file: `section` is "default",
// "profile <name>" (config file) or "<name>". Sets *found when the section
// exists; fills the keys it has (aws_access_key_id, aws_secret_access_key,
// aws_session_token).
void ReadIniProfile(std::string_view text, std::string_view section, bool* found, SigV4Credentials* out);

}  // namespace psink
