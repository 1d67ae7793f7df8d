// Transport: POSTs encoded remote-write bodies with libcurl, following the
// spec's retry rules. Owns one CURL easy handle per sink so connections are
// kept alive between requests. The only unit that includes curl/curl.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
  // `protocol` says what `body` is and sets Content-Type and
  // X-Prometheus-Remote-Write-Version: 1.0 sends "application/x-protobuf"
  // and "0.1.0", 2.0 sends
  // "application/x-protobuf;proto=io.prometheus.write.v2.Request" and
  // "2.0.0". A 2.0 request fails, without retry, with
  // report->unsupported_protocol set when the receiver answers 415 or a 2xx
  // without written-count headers.
  Status Post(std::string_view body, PostReport* report, Protocol protocol = Protocol::kV1) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The User-Agent sent with every request: "prometheus_sink/<version>".
const char* UserAgent();

}  // namespace psink
