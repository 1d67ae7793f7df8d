#include "transport.h"

#include <curl/curl.h>

#include <chrono>
#include <limits>
#include <mutex>
#include <random>
#include <thread>

#include "backoff.h"
#include "oauth2.h"
#include "text.h"

namespace psink {

namespace {

constexpr size_t kBodyKeep = 512;  // bytes of a response body kept for messages

// libcurl's global state is set up once per process and never torn down:
// the extension is loaded permanently.
void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
struct MultiDeleter {
  void operator()(CURLM* m) const noexcept { curl_multi_cleanup(m); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// Errors worth no retry: the request can never succeed as configured.
// (CURLE_UNSUPPORTED_PROTOCOL is not among them: the URL's scheme was checked
// at CREATE, so at send time it means a garbled status line, which a retry
// may well get past.)
bool IsPermanentCurlError(CURLcode rc) {
  switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_LOGIN_DENIED:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_OUT_OF_MEMORY:
      return true;
    default:
      return false;
  }
}

// The value of a written-count response header: a non-negative decimal
// number, or -1.
int64_t ParseCount(std::string_view v) {
  if (v.empty() || v.size() > 18) return -1;
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// What the answer's Retry-After header asks for, in ms; -1 when it asks
// for no wait (absent, unreadable, 0, or an HTTP-date not in the future).
// libcurl reads both forms, delay-seconds and HTTP-date, into seconds from
// now (7.88 gives a date in the past as a negative number; newer versions
// cap the delay at 6 hours).
int64_t RetryAfterMs(CURL* c) {
  curl_off_t secs = 0;
  if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &secs) != CURLE_OK || secs <= 0) return -1;
  constexpr curl_off_t kMaxSecs = std::numeric_limits<int64_t>::max() / 1000;
  return secs >= kMaxSecs ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(secs) * 1000;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What the receiver and the token endpoint have in common: the schemes
// libcurl may speak, the proxy (none unless proxy_url), TLS, connecting.
void SetConnectionOptions(CURL* c, const SinkOptions& opts) {
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  // The environment's http_proxy/https_proxy are ignored: a proxy is used
  // only when proxy_url says so.
  curl_easy_setopt(c, CURLOPT_PROXY, opts.proxy_url.c_str());
  if (!opts.tls_ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, opts.tls_ca_file.c_str());
  if (!opts.tls_cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, opts.tls_cert_file.c_str());
  if (!opts.tls_key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, opts.tls_key_file.c_str());
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, opts.tls_insecure_skip_verify ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, opts.tls_insecure_skip_verify ? 0L : 2L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.connect_timeout_ms));
  curl_easy_setopt(c, CURLOPT_USERAGENT, UserAgent());
}

void Append(SlistPtr* list, const std::string& header) {
  curl_slist* next = curl_slist_append(list->get(), header.c_str());
  if (next == nullptr) throw std::bad_alloc();
  list->release();
  list->reset(next);
}

// The request headers of one protocol. With SigV4, libcurl 7.88 signs every
// header of this list, and would sign the empty "Expect:" that keeps it from
// sending "Expect: 100-continue" without sending it: the list then leaves it
// out (the transport sets CURLOPT_EXPECT_100_TIMEOUT_MS to 0 instead, so a
// large body goes at once) and carries the session token, if any.
SlistPtr MakeHeaders(const SinkOptions& opts, Protocol protocol, const std::string& session_token) {
  const bool v2 = protocol == Protocol::kV2;
  SlistPtr list;
  Append(&list, "Content-Encoding: snappy");
  Append(&list, std::string("Content-Type: ") +
                    (v2 ? "application/x-protobuf;proto=io.prometheus.write.v2.Request" : "application/x-protobuf"));
  Append(&list, std::string("X-Prometheus-Remote-Write-Version: ") + (v2 ? "2.0.0" : "0.1.0"));
  if (!opts.sigv4()) Append(&list, "Expect:");  // no 100-continue round trip for large bodies
  if (!session_token.empty()) Append(&list, "X-Amz-Security-Token: " + session_token);
  for (const auto& [name, value] : opts.headers) Append(&list, name + ": " + value);
  return list;
}

// Appends at most `limit` bytes of a response body to a std::string.
struct BoundedBody {
  std::string text;
  size_t limit = 0;
  bool truncated = false;
  static size_t Write(char* data, size_t size, size_t n, void* self) {
    auto* b = static_cast<BoundedBody*>(self);
    size_t len = size * n;
    size_t room = b->limit > b->text.size() ? b->limit - b->text.size() : 0;
    if (len > room) b->truncated = true;
    b->text.append(data, std::min(len, room));
    return len;
  }
};

}  // namespace

const char* UserAgent() { return "prometheus_sink/" PROMETHEUS_SINK_VERSION; }

// How often a waiting Post() looks at its cancel flag.
constexpr int kCancelPollMs = 50;

Status FetchOAuth2Token(const SinkOptions& opts, OAuth2Token* out, bool* transient) {
  GlobalInitOnce();
  *transient = false;
  std::string id, secret;
  PSINK_RETURN_IF_ERROR(ResolveSecret(opts.oauth2_client_id, "oauth2_client_id", &id));
  PSINK_RETURN_IF_ERROR(ResolveSecret(opts.oauth2_client_secret, "oauth2_client_secret", &secret));
  const std::string where = "OAuth2 token request to " + MaskUrl(opts.oauth2_token_url);
  // RFC 6749 §2.3.1: both form-encoded, then HTTP Basic.
  const std::string user = FormEncode(id), password = FormEncode(secret);
  const bool post = opts.oauth2_client_auth == OAuth2ClientAuth::kPost;
  std::string form = TokenRequestBody(opts.oauth2_scopes, opts.oauth2_params);
  // client_secret_post: the id and secret as form fields, and no
  // Authorization header (RFC 6749 §2.3.1 allows one method per request).
  if (post) form += "&client_id=" + user + "&client_secret=" + password;

  CurlPtr curl(curl_easy_init());
  if (!curl) throw std::bad_alloc();
  CURL* c = curl.get();
  SlistPtr headers;
  Append(&headers, "Content-Type: application/x-www-form-urlencoded");
  Append(&headers, "Accept: application/json");
  Append(&headers, "Expect:");
  BoundedBody body;
  body.limit = 1 << 20;
  char errbuf[CURL_ERROR_SIZE] = "";
  SetConnectionOptions(c, opts);
  curl_easy_setopt(c, CURLOPT_URL, opts.oauth2_token_url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(form.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (!post) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.socket_timeout_ms));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &BoundedBody::Write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    *transient = !IsPermanentCurlError(rc);
    std::string msg = where + " failed: " + curl_easy_strerror(rc);
    if (errbuf[0] != '\0') msg += " (" + HideSecrets(errbuf, {secret, password}) + ")";
    return Status::Failed(std::move(msg));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    *transient = IsRetryableStatus(status);
    std::string msg = where + " failed: HTTP " + std::to_string(status);
    // An endpoint might echo what it was sent: the secret is not passed on.
    std::string said = DescribeTokenError(body.text, {secret, password});
    if (!said.empty()) msg += ": " + said;
    if (status == 401 || said.find("'invalid_client'") != std::string::npos) {
      // The usual cause when the id and secret are right: the endpoint
      // takes the client's credentials the other way.
      msg += post ? " (oauth2_client_auth='post' sent the client id and secret as form fields; an endpoint that "
                    "wants HTTP Basic needs oauth2_client_auth='basic')"
                  : " (oauth2_client_auth='basic' sent the client id and secret as HTTP Basic; an endpoint that "
                    "wants them in the form body needs oauth2_client_auth='post')";
    }
    return Status::Failed(std::move(msg));
  }
  if (body.truncated) return Status::Failed(where + ": HTTP " + std::to_string(status) + " with an answer over 1 MiB");
  Status st = ParseTokenResponse(body.text, out);
  if (!st.ok()) {
    return Status::Failed(where + ": HTTP " + std::to_string(status) + ", but " + st.message());
  }
  return Status::Ok();
}

Status HttpExchange(const HttpCall& call, HttpAnswer* out, const std::vector<std::string>& secrets) {
  GlobalInitOnce();
  CurlPtr curl(curl_easy_init());
  if (!curl) throw std::bad_alloc();
  CURL* c = curl.get();
  SlistPtr headers;
  for (const std::string& h : call.headers) Append(&headers, h);
  if (call.sigv4 != nullptr && !call.sigv4->session_token.empty()) {
    Append(&headers, "X-Amz-Security-Token: " + call.sigv4->session_token);
  }
  // (Not with SigV4: libcurl 7.88 would sign the empty header; the bodies are small.)
  if (call.sigv4 == nullptr) Append(&headers, "Expect:");
  BoundedBody body;
  body.limit = 1 << 20;
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_PROXY, call.proxy.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, UserAgent());
  curl_easy_setopt(c, CURLOPT_URL, call.url.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(call.connect_timeout_ms));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(call.timeout_ms));
  if (call.method == "POST" || call.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, call.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
    if (call.method == "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (call.sigv4 != nullptr) {
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, call.sigv4_scope.c_str());
    curl_easy_setopt(c, CURLOPT_USERNAME, call.sigv4->access_key.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, call.sigv4->secret_key.c_str());
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &BoundedBody::Write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    std::string msg = curl_easy_strerror(rc);
    if (errbuf[0] != '\0') msg += " (" + HideSecrets(errbuf, secrets) + ")";
    return Status::Failed(std::move(msg));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  out->body = std::move(body.text);
  return Status::Ok();
}

struct Transport::Impl {
  SinkOptions opts;
  std::string url;  // as sent: with SigV4, the canonical form of opts.url
  std::string masked_url;
  const std::atomic<bool>* cancel = nullptr;
  // The easy handle is driven through a multi handle of its own (which
  // keeps the connection alive between requests) rather than by
  // curl_easy_perform, whose progress callback may come only once a
  // second: curl_multi_poll returns every kCancelPollMs, so a cancel is
  // seen promptly even while the receiver is silent.
  MultiPtr multi;
  CurlPtr curl;
  SlistPtr headers_v1, headers_v2;  // request headers per protocol
  std::mt19937_64 rng{std::random_device{}()};
  std::string secret;  // the resolved credential, kept alive for libcurl
  // SigV4: libcurl's "aws:amz:<region>:<service>", the credentials of the
  // current call, and the session token the header lists carry.
  std::string aws_sigv4;
  SigV4Credentials sigv4;
  std::string listed_session_token;
  // OAuth2: the sink's shared token cache and the token of this attempt.
  std::shared_ptr<OAuth2Tokens> tokens;
  OAuth2Tokens::Lease lease;

  // Per-attempt state, filled by the callbacks.
  std::string body;  // first kBodyKeep bytes of the response (Query(): all of it)
  size_t whole_body_limit = 0;  // Query(): keep the whole body up to this size
  bool body_over_limit = false;
  std::string location;
  int64_t samples_written = -1, histograms_written = -1, exemplars_written = -1;
  int64_t last_activity_ms = 0;
  curl_off_t last_dl = 0, last_ul = 0;
  bool silent_too_long = false;
  bool cancelled = false;
  char errbuf[CURL_ERROR_SIZE];

  bool Cancelled() const { return cancel != nullptr && cancel->load(std::memory_order_relaxed); }

  // Sleeps `ms`, or less when cancelled; returns false when cancelled.
  bool SleepUnlessCancelled(int64_t ms) const {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      if (Cancelled()) return false;
      auto left = until - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) return true;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          left, std::chrono::milliseconds(kCancelPollMs)));
    }
  }

  // Runs the transfer set up on `curl` to its end (or until cancelled).
  CURLcode Perform() {
    CURL* c = curl.get();
    CURLM* m = multi.get();
    if (curl_multi_add_handle(m, c) != CURLM_OK) return CURLE_FAILED_INIT;
    CURLcode rc = CURLE_OK;
    for (;;) {
      int running = 0;
      if (curl_multi_perform(m, &running) != CURLM_OK) {
        rc = CURLE_FAILED_INIT;
        break;
      }
      if (running == 0) {
        int left = 0;
        rc = CURLE_FAILED_INIT;
        while (CURLMsg* msg = curl_multi_info_read(m, &left)) {
          if (msg->msg == CURLMSG_DONE && msg->easy_handle == c) rc = msg->data.result;
        }
        break;
      }
      if (Cancelled()) {
        cancelled = true;
        rc = CURLE_ABORTED_BY_CALLBACK;
        break;
      }
      curl_multi_poll(m, nullptr, 0, kCancelPollMs, nullptr);
    }
    curl_multi_remove_handle(m, c);
    return rc;
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* self) {
    auto* impl = static_cast<Impl*>(self);
    size_t len = size * n;
    if (impl->whole_body_limit > 0) {
      // Query(): the whole answer, or a stop (CURLE_WRITE_ERROR) past its bound.
      if (len > impl->whole_body_limit - impl->body.size()) {
        impl->body_over_limit = true;
        return 0;
      }
      impl->body.append(data, len);
      return len;
    }
    if (impl->body.size() < kBodyKeep) impl->body.append(data, std::min(len, kBodyKeep - impl->body.size()));
    return len;  // read everything so the connection can be reused
  }

  void ClearResponseHeaders() {
    location.clear();
    samples_written = histograms_written = exemplars_written = -1;
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* self) {
    auto* impl = static_cast<Impl*>(self);
    std::string_view line(data, size * n);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view name = line.substr(0, colon);
      std::string_view value = Trim(line.substr(colon + 1));
      if (EqualsIgnoreCase(name, "location")) impl->location.assign(value.substr(0, 200));
      if (EqualsIgnoreCase(name, "x-prometheus-remote-write-samples-written")) {
        impl->samples_written = ParseCount(value);
      }
      if (EqualsIgnoreCase(name, "x-prometheus-remote-write-histograms-written")) {
        impl->histograms_written = ParseCount(value);
      }
      if (EqualsIgnoreCase(name, "x-prometheus-remote-write-exemplars-written")) {
        impl->exemplars_written = ParseCount(value);
      }
    } else if (line.rfind("HTTP/", 0) == 0) {
      // A new response (e.g. after 100 Continue): forget the previous headers.
      impl->ClearResponseHeaders();
    }
    return size * n;
  }

  // Enforces socket_timeout_ms as the longest silence, not a total.
  static int OnProgress(void* self, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
    auto* impl = static_cast<Impl*>(self);
    int64_t now = NowMs();
    if (dlnow != impl->last_dl || ulnow != impl->last_ul) {
      impl->last_dl = dlnow;
      impl->last_ul = ulnow;
      impl->last_activity_ms = now;
      return 0;
    }
    if (now - impl->last_activity_ms > impl->opts.socket_timeout_ms) {
      impl->silent_too_long = true;
      return 1;  // abort the transfer
    }
    return 0;
  }

  void Setup() {
    CURL* c = curl.get();
    SetConnectionOptions(c, opts);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_v1.get());
    // Redirects only on request; libcurl then keeps credentials to the
    // original host (no CURLOPT_UNRESTRICTED_AUTH) and http(s) only.
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, opts.follow_redirects ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_POSTREDIR, static_cast<long>(CURL_REDIR_POST_ALL));
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Impl::OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, this);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Impl::OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (opts.sigv4()) {
      // Also sets CURLOPT_HTTPAUTH to CURLAUTH_AWS_SIGV4.
      curl_easy_setopt(c, CURLOPT_AWS_SIGV4, aws_sigv4.c_str());
      // No Expect: suppression in a signed list (see MakeHeaders): a body
      // over 1 MiB carries "Expect: 100-continue", but is sent without
      // waiting for the answer to it.
      curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
    }
  }

  // Sets the credentials for the next requests, reading files and
  // variables now.
  Status SetCredentials() {
    CURL* c = curl.get();
    if (!opts.bearer_token.empty()) {
      PSINK_RETURN_IF_ERROR(ResolveSecret(opts.bearer_token, "bearer_token", &secret));
      curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BEARER));
      curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, secret.c_str());
    } else if (!opts.username.empty()) {
      PSINK_RETURN_IF_ERROR(ResolveSecret(opts.password, "password", &secret));
      curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(c, CURLOPT_USERNAME, opts.username.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, secret.c_str());
    } else if (opts.sigv4()) {
      // The AWS credential chain (aws_credentials.h); temporary credentials
      // come from the sink's shared cache.
      PSINK_RETURN_IF_ERROR(ResolveSigV4Credentials(opts, &sigv4));
      curl_easy_setopt(c, CURLOPT_USERNAME, sigv4.access_key.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, sigv4.secret_key.c_str());
      if (sigv4.session_token != listed_session_token) {
        headers_v1 = MakeHeaders(opts, Protocol::kV1, sigv4.session_token);
        headers_v2 = MakeHeaders(opts, Protocol::kV2, sigv4.session_token);
        listed_session_token = sigv4.session_token;
      }
    }
    return Status::Ok();
  }

  // OAuth2: takes the sink's token for the next attempt (fetching one when
  // needed) and sets it as the bearer token.
  Status SetToken(bool* transient) {
    OAuth2Tokens::Fetch fetch = [this](OAuth2Token* t, bool* tr) { return FetchOAuth2Token(opts, t, tr); };
    PSINK_RETURN_IF_ERROR(tokens->Get(fetch, NowMs(), &lease, transient));
    curl_easy_setopt(curl.get(), CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BEARER));
    curl_easy_setopt(curl.get(), CURLOPT_XOAUTH2_BEARER, lease.token.c_str());
    return Status::Ok();
  }

  // One HTTP attempt. Returns the curl code; fills status and the captures.
  CURLcode Attempt(std::string_view payload, long* status) {
    body.clear();
    ClearResponseHeaders();
    errbuf[0] = '\0';
    silent_too_long = false;
    cancelled = false;
    body_over_limit = false;
    last_dl = last_ul = 0;
    last_activity_ms = NowMs();
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    CURLcode rc = Perform();
    *status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return rc;
  }

  std::string DescribeCurlError(CURLcode rc) const {
    if (rc == CURLE_ABORTED_BY_CALLBACK && silent_too_long) {
      return "no answer from the receiver for " + std::to_string(opts.socket_timeout_ms) + " ms (socket_timeout_ms)";
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return "timed out connecting (connect_timeout_ms=" + std::to_string(opts.connect_timeout_ms) + "): " + errbuf;
    }
    std::string msg = curl_easy_strerror(rc);
    if (errbuf[0] != '\0') msg += std::string(" (") + errbuf + ")";
    return msg;
  }

  std::string DescribeStatus(long status) const {
    std::string msg = "HTTP " + std::to_string(status);
    std::string_view b = Trim(body);
    if (!b.empty()) msg += ": " + Shorten(b, 200);
    return msg;
  }
};

Transport::Transport(const SinkOptions& opts, const std::atomic<bool>* cancel) : impl_(std::make_unique<Impl>()) {
  GlobalInitOnce();
  Impl& t = *impl_;
  t.opts = opts;
  t.cancel = cancel;
  t.url = opts.url;
  if (opts.sigv4()) {
    // Checked by OptionsFromArgs; options made by hand that fail it are sent
    // as they are (and the receiver will say what is wrong).
    if (!SigV4Url(opts.url, &t.url).ok()) t.url = opts.url;
    t.aws_sigv4 = "aws:amz:" + opts.sigv4_region + ":" + opts.sigv4_service;
  }
  if (opts.oauth2()) {
    // Options parsed by OptionsFromArgs carry the sink's shared cache.
    t.tokens = opts.oauth2_tokens ? opts.oauth2_tokens : std::make_shared<OAuth2Tokens>();
  }
  t.masked_url = MaskUrl(t.url);
  t.headers_v1 = MakeHeaders(t.opts, Protocol::kV1, "");
  t.headers_v2 = MakeHeaders(t.opts, Protocol::kV2, "");
  t.curl.reset(curl_easy_init());
  t.multi.reset(curl_multi_init());
  if (!t.curl || !t.multi) throw std::bad_alloc();
  t.Setup();
}

Transport::~Transport() = default;

Status Transport::Post(std::string_view body, PostReport* report, Protocol protocol) {
  Impl& t = *impl_;
  PSINK_RETURN_IF_ERROR(t.SetCredentials());
  const bool v2 = protocol == Protocol::kV2;
  curl_easy_setopt(t.curl.get(), CURLOPT_HTTPHEADER, v2 ? t.headers_v2.get() : t.headers_v1.get());
  const int max_attempts = static_cast<int>(t.opts.retry) + 1;
  std::string last_problem;
  auto failed_after = [&](int attempt) {
    return Status::Failed("POST " + t.masked_url + ": " + last_problem + " (after " + std::to_string(attempt) +
                          (attempt == 1 ? " attempt)" : " attempts)"));
  };
  auto interrupted = [&](int attempts) {
    return Status::Failed("POST " + t.masked_url + ": interrupted while waiting for the receiver (after " +
                          std::to_string(attempts) + (attempts == 1 ? " attempt)" : " attempts)"));
  };
  auto back_off = [&](int attempt, int64_t asked_ms) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    int64_t wait = BackoffWithJitterMs(attempt, t.opts.retry_backoff_multiplier_ms, t.opts.retry_backoff_max_ms,
                                       unit(t.rng));
    if (asked_ms > wait) wait = asked_ms;
    report->waits_ms.push_back(wait);
    return t.SleepUnlessCancelled(wait);  // false: cancelled
  };
  bool renewed = false;  // OAuth2: a 401 made us fetch a new token
  for (int attempt = 1;; ++attempt) {
    if (t.Cancelled()) return interrupted(attempt - 1);
    if (t.tokens) {
      bool transient = false;
      Status st = t.SetToken(&transient);
      if (!st.ok()) {
        if (!transient) return Status::Failed("POST " + t.masked_url + ": " + st.message() + " (not retried)");
        last_problem = st.message();
        if (attempt >= max_attempts) return failed_after(attempt);
        if (!back_off(attempt, -1)) return interrupted(attempt);
        continue;
      }
    }
    long status = 0;
    CURLcode rc = t.Attempt(body, &status);
    if (t.cancelled) {
      report->attempts++;
      report->bytes_sent += body.size();
      return interrupted(attempt);
    }
    report->attempts++;
    report->bytes_sent += body.size();
    report->last_status = status;
    report->samples_written = t.samples_written;
    report->histograms_written = t.histograms_written;
    report->exemplars_written = t.exemplars_written;

    int64_t asked_ms = -1;  // what Retry-After asks, when it says something
    if (rc == CURLE_OK) {
      if (status >= 200 && status <= 299) {
        if (v2 && t.samples_written < 0 && t.histograms_written < 0 && t.exemplars_written < 0) {
          // A 2.0 receiver always sends the written counts; a 1.0 receiver
          // reads a 2.0 body as an empty WriteRequest and answers 2xx.
          report->last_status = 415;
          report->unsupported_protocol = true;
          return Status::Failed("POST " + t.masked_url + ": HTTP " + std::to_string(status) +
                                " without X-Prometheus-Remote-Write-*-Written headers: the receiver does not "
                                "support remote-write 2.0 (not retried)");
        }
        return Status::Ok();
      }
      if (status >= 300 && status <= 399) {
        std::string msg = "POST " + t.masked_url + ": HTTP " + std::to_string(status) + " redirect";
        if (!t.location.empty()) msg += " to " + Shorten(MaskUrl(t.location), 120);
        msg += " (redirects are not followed: use the final URL in 'url')";
        return Status::Failed(msg);
      }
      if (status == 401 && t.tokens && !renewed) {
        // The token was revoked or expired early: a new one, and this
        // request once more, outside the `retry` budget.
        renewed = true;
        t.tokens->Invalidate(t.lease.generation);
        --attempt;
        continue;
      }
      if (!IsRetryableStatus(status)) {
        if (v2 && status == 415) report->unsupported_protocol = true;
        std::string hint;
        if (t.opts.sigv4() && status == 403) hint = "; check the SigV4 credentials, sigv4_region and sigv4_service";
        if (t.tokens && status == 401) hint = "; the receiver refused a newly fetched OAuth2 token too";
        return Status::Failed("POST " + t.masked_url + ": " + t.DescribeStatus(status) + " (not retried" + hint + ")");
      }
      last_problem = t.DescribeStatus(status);
      asked_ms = RetryAfterMs(t.curl.get());
      if (asked_ms > t.opts.retry_backoff_max_ms) {
        return Status::Failed("POST " + t.masked_url + ": " + last_problem + "; the receiver asked to retry after " +
                              std::to_string(asked_ms) + " ms, more than retry_backoff_max_ms (" +
                              std::to_string(t.opts.retry_backoff_max_ms) + "), so the send failed now");
      }
    } else {
      last_problem = t.DescribeCurlError(rc);
      if (rc == CURLE_UNSUPPORTED_PROTOCOL && !t.location.empty()) {
        // follow_redirects: the receiver sent us to a scheme that is refused.
        return Status::Failed("POST " + t.masked_url + ": redirect to " + Shorten(MaskUrl(t.location), 120) +
                              " refused: only http and https are allowed (not retried)");
      }
      if (IsPermanentCurlError(rc)) {
        return Status::Failed("POST " + t.masked_url + ": " + last_problem + " (not retried)");
      }
    }
    if (attempt >= max_attempts) return failed_after(attempt);
    if (!back_off(attempt, asked_ms)) return interrupted(attempt);
  }
}

Status Transport::Query(std::string_view form, int64_t max_bytes, long* status, std::string* body, int* attempts) {
  Impl& t = *impl_;
  *attempts = 0;
  PSINK_RETURN_IF_ERROR(t.SetCredentials());
  // The query's own headers (with SigV4 libcurl signs them all, so the list
  // carries the session token and no empty Expect:, as MakeHeaders does).
  SlistPtr headers;
  Append(&headers, "Content-Type: application/x-www-form-urlencoded");
  Append(&headers, "Accept: application/json");
  if (!t.opts.sigv4()) Append(&headers, "Expect:");
  if (t.opts.sigv4() && !t.sigv4.session_token.empty()) {
    Append(&headers, "X-Amz-Security-Token: " + t.sigv4.session_token);
  }
  for (const auto& [name, value] : t.opts.headers) Append(&headers, name + ": " + value);
  curl_easy_setopt(t.curl.get(), CURLOPT_HTTPHEADER, headers.get());
  t.whole_body_limit = static_cast<size_t>(max_bytes);
  struct Restore {  // the handle's list and body mode are Post()'s again after this call
    Impl& t;
    ~Restore() {
      t.whole_body_limit = 0;
      curl_easy_setopt(t.curl.get(), CURLOPT_HTTPHEADER, t.headers_v1.get());
    }
  } restore{t};
  const int max_attempts = static_cast<int>(t.opts.retry) + 1;
  const std::string where = "POST " + t.masked_url;
  auto after = [](int n) { return " (after " + std::to_string(n) + (n == 1 ? " attempt)" : " attempts)"); };
  bool renewed = false;
  std::mt19937_64& rng = t.rng;
  for (int attempt = 1;; ++attempt) {
    if (t.Cancelled()) return Status::Failed(where + ": interrupted" + after(attempt - 1));
    if (t.tokens) {
      bool transient = false;
      Status st = t.SetToken(&transient);
      if (!st.ok()) {
        if (!transient || attempt >= max_attempts) return Status::Failed(where + ": " + st.message() + after(attempt - 1));
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        if (!t.SleepUnlessCancelled(BackoffWithJitterMs(attempt, t.opts.retry_backoff_multiplier_ms,
                                                        t.opts.retry_backoff_max_ms, unit(rng)))) {
          return Status::Failed(where + ": interrupted" + after(attempt - 1));
        }
        continue;
      }
    }
    long got = 0;
    CURLcode rc = t.Attempt(form, &got);
    *attempts = attempt;
    if (t.cancelled) return Status::Failed(where + ": interrupted" + after(attempt));
    int64_t asked_ms = -1;
    if (t.body_over_limit) {
      return Status::Failed(where + ": the answer is larger than query_max_bytes (" + std::to_string(max_bytes) +
                            " bytes); narrow the query or raise query_max_bytes");
    }
    if (rc == CURLE_OK) {
      if (got >= 300 && got <= 399) {
        std::string msg = where + ": HTTP " + std::to_string(got) + " redirect";
        if (!t.location.empty()) msg += " to " + Shorten(MaskUrl(t.location), 120);
        return Status::Failed(msg + " (redirects are not followed: set query_url to the final URL)");
      }
      if (got == 401 && t.tokens && !renewed) {
        renewed = true;
        t.tokens->Invalidate(t.lease.generation);
        --attempt;
        continue;
      }
      if (!IsRetryableStatus(got) || attempt >= max_attempts) {
        *status = got;
        *body = std::move(t.body);
        return Status::Ok();
      }
      asked_ms = RetryAfterMs(t.curl.get());
      if (asked_ms > t.opts.retry_backoff_max_ms) {
        *status = got;
        *body = std::move(t.body);
        return Status::Ok();
      }
    } else {
      if (IsPermanentCurlError(rc) || attempt >= max_attempts) {
        return Status::Failed(where + ": " + t.DescribeCurlError(rc) + after(attempt));
      }
    }
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    int64_t wait = BackoffWithJitterMs(attempt, t.opts.retry_backoff_multiplier_ms, t.opts.retry_backoff_max_ms,
                                       unit(rng));
    if (!t.SleepUnlessCancelled(std::max(wait, asked_ms))) return Status::Failed(where + ": interrupted" + after(attempt));
  }
}

}  // namespace psink
