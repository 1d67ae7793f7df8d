// A test OAuth2 token endpoint (client credentials grant, RFC 6749 §4.4)
// on the test receiver's HTTP server: it authenticates the client, issues
// short-lived tokens ("tok-1", "tok-2", ...), counts fetches, can revoke a
// token or fail every request, and gives a Receiver a gate that accepts only
// its valid tokens.
//
//   testrx::TokenEndpoint auth("sink-id", "sink-secret", /*lifetime_s=*/60);
//   testrx::Receiver rx;           // declared after `auth`, which must outlive it
//   rx.SetGate(auth.BearerGate()); // 401 unless "Authorization: Bearer <valid token>"
//   ... a sink with oauth2_token_url=auth.url(), oauth2_client_id, oauth2_client_secret ...
//   CHECK(auth.Fetches() == 1);
//
// A token request must be a POST of application/x-www-form-urlencoded with
// grant_type=client_credentials and the client authenticated once, by HTTP
// Basic (id and secret form-encoded, then base64, RFC 6749 §2.3.1) or by the
// client_id/client_secret form fields; anything else is recorded as a
// violation. A wrong client is answered 401 invalid_client, a wrong grant
// 400 unsupported_grant_type, as RFC 6749 §5.2 says. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "receiver.h"

namespace testrx {

class TokenEndpoint {
 public:
  // Tokens live `lifetime_s` seconds (0: no expires_in, valid until revoked).
  TokenEndpoint(std::string client_id, std::string client_secret, int64_t lifetime_s);
  TokenEndpoint(const TokenEndpoint&) = delete;
  TokenEndpoint& operator=(const TokenEndpoint&) = delete;

  // "http://127.0.0.1:<port>/oauth2/token".
  std::string url() const;

  void SetLifetime(int64_t lifetime_s);
  // Accepts the client's credentials only as "basic", only as "form"
  // fields, or either ("" — the default), as identity providers that
  // register one method per client do; the other is answered 401
  // invalid_client.
  void AcceptClientAuth(std::string only);
  // Answers every token request with `r` (nullopt: issue tokens again).
  void FailWith(std::optional<Response> r);

  // Tokens issued so far.
  size_t Fetches() const;
  // Token requests received, answered with a token or not.
  size_t RequestCount() const;
  // The form fields of the last token request, decoded, in order.
  std::vector<std::pair<std::string, std::string>> LastForm() const;
  // How the last token request authenticated the client: "basic", "form", "".
  std::string LastClientAuth() const;
  // The last token issued ("" before the first).
  std::string LastToken() const;
  // Malformed token requests, one line each.
  std::vector<std::string> Violations() const;

  // Makes `token` invalid from now on.
  void Revoke(const std::string& token);
  // Whether `token` was issued here, is not revoked and has not expired.
  bool IsValid(const std::string& token) const;
  // A Receiver gate: 401 (invalid_token) unless the request carries one
  // Authorization: Bearer <token> with a valid token.
  Receiver::Gate BearerGate();
  // Requests that BearerGate refused.
  size_t Refusals() const;

 private:
  Response Handle(const Request& req);

  struct Issued {
    std::chrono::steady_clock::time_point expires;
    bool expiring = false;
    bool revoked = false;
  };

  const std::string client_id_, client_secret_;
  mutable std::mutex mu_;
  int64_t lifetime_s_;                         // guarded by mu_
  std::string accept_auth_;                    // guarded by mu_
  std::optional<Response> fail_;               // guarded by mu_
  std::map<std::string, Issued> tokens_;       // guarded by mu_
  size_t fetches_ = 0, requests_ = 0, refusals_ = 0;  // guarded by mu_
  std::vector<std::pair<std::string, std::string>> last_form_;  // guarded by mu_
  std::string last_auth_, last_token_;         // guarded by mu_
  std::vector<std::string> violations_;        // guarded by mu_
  Receiver rx_;  // last: stopped first, before the state its threads use
};

}  // namespace testrx
