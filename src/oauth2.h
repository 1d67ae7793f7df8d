// OAuth2 client credentials (RFC 6749 §4.4, Prometheus's `oauth2:`), the
// parts without I/O: the token request's form body, reading the token
// endpoint's answer, and the token cache that the transports of one sink
// share. The HTTP exchange itself is FetchOAuth2Token in transport.cc, the
// only unit that knows libcurl.
//
//   CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='https://…/api/v1/write',
//       oauth2_token_url='https://auth.example.com/oauth2/token',
//       oauth2_client_id='sink', oauth2_client_secret_file='/run/secrets/oauth2',
//       oauth2_scopes='metrics:write', oauth2_params='{"audience": "prometheus"}');
//
// A sink has one transport per request in flight (max_in_flight), each on
// its own worker thread; they share one OAuth2Tokens (OptionsFromArgs makes it,
// SinkOptions::oauth2_tokens carries it), so that the sink fetches one token
// and renews it once, however many requests are on the wire.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "status.h"

namespace psink {

// A token as the endpoint issued it.
struct OAuth2Token {
  std::string access_token;
  int64_t expires_in_s = 0;  // lifetime in seconds; 0 when the answer gave none
};

// `s` encoded as application/x-www-form-urlencoded (as Go's
// url.QueryEscape, which Prometheus uses): letters, digits and "-_.~" stay,
// a space becomes '+', every other byte %XX.
std::string FormEncode(std::string_view s);

// The body of a client-credentials token request:
// grant_type=client_credentials, then scope=<scopes> when `scopes` (space
// separated; runs of white space count as one) names any, then `params` in
// their order. Every name and value form-encoded.
std::string TokenRequestBody(std::string_view scopes, const std::vector<std::pair<std::string, std::string>>& params);

// Reads a successful token response (RFC 6749 §5.1): a JSON object with a
// non-empty string `access_token` and an optional `expires_in` in seconds (a
// number, or a string holding one, as some servers send). Other members,
// nested ones included, are ignored; so is token_type (the token is sent as
// a bearer token, RFC 6750). Messages never show the token.
Status ParseTokenResponse(std::string_view body, OAuth2Token* out);

// `text` with every occurrence of each non-empty string of `secrets`
// replaced by "***".
std::string HideSecrets(std::string text, const std::vector<std::string>& secrets);

// What an error answer of the token endpoint says (RFC 6749 §5.2), for a
// message: "error 'invalid_client': '<error_description>'" when the body is
// such a JSON object, otherwise its start, shortened and quoted. The strings
// of `secrets` (what an endpoint might echo: the client secret as given and
// form-encoded) are hidden before anything is shortened, so no part of one
// survives a cut.
std::string DescribeTokenError(std::string_view body, const std::vector<std::string>& secrets = {});

// The token of one sink, shared through std::shared_ptr by every transport
// of the sink (each on its own thread). Thread-safe.
//
// A token is used until shortly before it expires: RenewalMarginMs before
// the end of its lifetime, counted from when it was asked for. A token the
// receiver refuses (HTTP 401) is invalidated by the transport that saw it,
// and the next Get fetches a new one. Fetching happens under the cache's
// lock, so concurrent callers wait for one fetch and share its token.
class OAuth2Tokens {
 public:
  // Fetches a new token. On failure, `*transient` says whether trying again
  // later may help (a connection error, 5xx, 429).
  using Fetch = std::function<Status(OAuth2Token* token, bool* transient)>;

  // A token to send, and which fetch it came from.
  struct Lease {
    std::string token;
    uint64_t generation = 0;
  };

  // Returns the cached token while it is valid at `now_ms` (a steady clock,
  // milliseconds), else calls `fetch` and caches its token. On a failed
  // fetch nothing is cached, `*transient` is set as `fetch` set it, and the
  // next Get tries again.
  Status Get(const Fetch& fetch, int64_t now_ms, Lease* out, bool* transient);

  // The token of `generation` was refused: forget it, unless a newer token
  // has already replaced it (another transport saw the 401 first).
  void Invalidate(uint64_t generation);

  // Tokens fetched so far (successful fetches).
  uint64_t fetches() const;

  // How long before the end of a lifetime the token is renewed:
  // min(10 s, a tenth of the lifetime).
  static int64_t RenewalMarginMs(int64_t lifetime_ms);

 private:
  mutable std::mutex mu_;
  std::string token_;          // guarded by mu_
  bool valid_ = false;         // guarded by mu_
  int64_t renew_at_ms_ = 0;    // guarded by mu_; INT64_MAX: no expiry given
  uint64_t generation_ = 0;    // guarded by mu_
  uint64_t fetches_ = 0;       // guarded by mu_
};

}  // namespace psink
