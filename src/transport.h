// Transport: POSTs encoded remote-write bodies with libcurl, following the
// spec's retry rules. Owns one CURL easy handle per sink so connections are
// kept alive between requests. The only unit that includes curl/curl.h.
#pragma once

#include <cstdint>
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
  long last_status = 0;     // last HTTP status, 0 when none was received
};

class Transport {
 public:
  // Uses the connection options of `opts`: url, headers, retries, timeouts,
  // credentials, TLS, proxy, redirects. No I/O happens here.
  explicit Transport(const SinkOptions& opts);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Sends `body` (snappy-compressed protobuf) with retries. On failure the
  // message says what the receiver answered (status, start of its body) or
  // which connection error occurred, and after how many attempts. The URL in
  // messages is masked. Credential files and variables are read here, once
  // per call, so a rotated token is picked up.
  Status Post(std::string_view body, PostReport* report);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The User-Agent sent with every request: "prometheus_sink/<version>".
const char* UserAgent();

}  // namespace psink
