// Transport: POSTs encoded remote-write bodies with libcurl, following the
// spec's retry rules. Owns one CURL easy handle per sink so connections are
// kept alive between requests. With url.cc, the only unit that includes
// curl/curl.h.
//
// Authentication (one kind per sink, options.h): bearer token, basic, AWS
// SigV4 (libcurl's CURLOPT_AWS_SIGV4 signs each request; the URL's query is
// sent in canonical form, see SigV4Url, and an X-Amz-Security-Token is
// added and signed), or OAuth2 client credentials (a token from the sink's
// shared OAuth2Tokens, fetched with FetchOAuth2Token; on a 401 the token is
// fetched again once and the request retried once with it).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aws_credentials.h"
#include "options.h"
#include "status.h"

namespace psink {

// What one Post() did, for the stats and error messages.
struct PostReport {
  int attempts = 0;         // HTTP attempts made, retries included
  uint64_t bytes_sent = 0;  // compressed body bytes over all attempts
  long last_status = 0;     // last HTTP status, 0 when none was received (415: see below)
  // The remote-write 2.0 response headers X-Prometheus-Remote-Write-
  // {Samples,Histograms,Exemplars}-Written of the last answer, -1 when the
  // header was absent (or not a number). Captured for both protocols.
  int64_t samples_written = -1;
  int64_t histograms_written = -1;
  int64_t exemplars_written = -1;
  // Set for a 2.0 request that the receiver does not understand: it answered
  // 415, or a 2xx without any of the three written-count headers (a 1.0
  // receiver reads a 2.0 body as an empty 1.0 request and answers 204). Post
  // then fails and last_status is 415; the caller may resend as 1.0.
  bool unsupported_protocol = false;
  // The wait chosen before each retry, in order (backoff with jitter, or
  // what Retry-After asked when longer): what the transport decided, which
  // a test can check without measuring time.
  std::vector<int64_t> waits_ms;
};

// The seam between delivery and the network: Post() sends one encoded body
// with the spec's retries and reports what happened. Transport below is the
// libcurl one; unit tests of the units above use a scripted fake.
//
// A poster is made with a cancel flag (possibly null) that another thread
// may set: a Post() that sees it set — while connecting, waiting for an
// answer or sleeping before a retry — gives up within about 50 ms and fails
// with a message that says "interrupted".
class Poster {
 public:
  virtual ~Poster() = default;
  virtual Status Post(std::string_view body, PostReport* report, Protocol protocol) = 0;
};

// Makes the poster of one request slot; `cancel` outlives it.
using PosterFactory = std::function<std::unique_ptr<Poster>(const std::atomic<bool>* cancel)>;

class Transport final : public Poster {
 public:
  // Uses the connection options of `opts`: url, headers, retries, timeouts,
  // credentials, TLS, proxy, redirects. No I/O happens here.
  explicit Transport(const SinkOptions& opts, const std::atomic<bool>* cancel = nullptr);
  ~Transport() override;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Sends `body` (snappy-compressed protobuf) with retries. On failure the
  // message says what the receiver answered (status, start of its body) or
  // which connection error occurred, and after how many attempts. The URL in
  // messages is masked. Credential files and variables are read here, once
  // per call, so a rotated token is picked up.
  //
  // With OAuth2, each attempt takes the sink's current token (fetching one
  // when there is none or it is about to expire). A token request that fails
  // transiently (connection error, 5xx, 429) uses up an attempt like a
  // failed POST; any other failure fails the call at once, naming the token
  // URL and its answer. A 401 from the receiver invalidates the token; a new
  // one is fetched and the request sent again, once per call, without
  // counting against `retry`.
  //
  // `protocol` says what `body` is and sets Content-Type and
  // X-Prometheus-Remote-Write-Version: 1.0 sends "application/x-protobuf"
  // and "0.1.0", 2.0 sends
  // "application/x-protobuf;proto=io.prometheus.write.v2.Request" and
  // "2.0.0". A 2.0 request fails, without retry, with
  // report->unsupported_protocol set when the receiver answers 415 or a 2xx
  // without written-count headers.
  Status Post(std::string_view body, PostReport* report, Protocol protocol = Protocol::kV1) override;

  // A query of the receiver's HTTP API (prometheus_query, query.h): POSTs
  // `form` (application/x-www-form-urlencoded) to this transport's URL —
  // made with the query endpoint as opts.url — asking for JSON, with the
  // credentials, TLS, proxy, timeouts and retries of Post(): connection
  // errors, 5xx and 429 are retried; the OAuth2 token is renewed once on a
  // 401. Succeeds once an answer that is not retried (or the last one) is
  // read whole: *status and *body hold it, whatever the status, for the
  // caller to read the API's error from; *attempts counts the attempts.
  // Fails on a connection error after the retries, on an answer larger than
  // `max_bytes` (the transfer stops there), and on a redirect.
  Status Query(std::string_view form, int64_t max_bytes, long* status, std::string* body, int* attempts);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The User-Agent sent with every request: "prometheus_sink/<version>".
const char* UserAgent();

struct OAuth2Token;

// Fetches an OAuth2 token: a client-credentials POST to
// opts.oauth2_token_url (form body from TokenRequestBody, the client id and
// secret, read now, as HTTP Basic credentials, form-encoded first as RFC
// 6749 §2.3.1 says), with the TLS, proxy and timeout options of `opts`
// (socket_timeout_ms bounds the whole exchange); redirects are not followed.
// On failure the message names the token URL (masked) and its status or the
// connection error, never the client secret, and `*transient` says whether
// a later try may succeed (connection errors, 5xx, 429).
Status FetchOAuth2Token(const SinkOptions& opts, OAuth2Token* out, bool* transient);

// One plain HTTP exchange for the credential sources (aws_credentials.h):
// IMDS, container credentials, STS. http and https only, no redirects, TLS
// verified against the system's CAs, no proxy unless `proxy`.
struct HttpCall {
  std::string method = "GET";          // GET, PUT or POST
  std::string url;
  std::vector<std::string> headers;    // "Name: value"
  std::string body;                    // POST and PUT
  std::string proxy;                   // "": none
  int64_t connect_timeout_ms = 2000;
  int64_t timeout_ms = 10000;          // the whole exchange
  // Signs the request with SigV4 for "aws:amz:<region>:<service>" (with
  // the session token as X-Amz-Security-Token) when set.
  std::string sigv4_scope;
  const SigV4Credentials* sigv4 = nullptr;
};
struct HttpAnswer {
  long status = 0;
  std::string body;  // at most 1 MiB
};
// Fails only when no answer came (the message says why, without any of
// `secrets`); an answer of any status is a success.
Status HttpExchange(const HttpCall& call, HttpAnswer* out, const std::vector<std::string>& secrets = {});

}  // namespace psink
