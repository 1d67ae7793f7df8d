// Test receiver: an in-process Prometheus remote-write endpoint for tests.
//
// A small HTTP/1.1 server written on raw sockets (so that it can misbehave at
// the byte level) listening on 127.0.0.1 on a free port, one thread per
// connection, keep-alive supported. For every request it records the method,
// target, headers and raw body, decodes the body and checks the rules the
// sink promises; every broken rule is recorded as a violation string instead
// of failing, so a test can assert the list is empty.
//
// Two protocols, told apart by Content-Type: remote-write 1.0 (anything but
// the 2.0 type; headers Content-Encoding: snappy, Content-Type:
// application/x-protobuf, X-Prometheus-Remote-Write-Version: 0.1.0) and 2.0
// (Content-Type "application/x-protobuf;proto=io.prometheus.write.v2.Request",
// version 2.0.0). The receiver checks the headers; the body is decoded and
// checked by the tests' shared request decoder (tests/common/
// request_decoder.h, which lists the rules), whose Sample, SeenMetadata,
// SeenHistogram and SeenExemplar record what every request carried, alike
// for both protocols.
//
// How a 2.0 request gets the default answer depends on SetV2Mode (default
// kSpeaks2): when the default answer is a plain 2xx, kSpeaks2 adds the
// X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written headers,
// kOnly1 answers 204 without them and stores nothing (what Prometheus 2.42
// and VictoriaMetrics 1.79 do: they read a 2.0 body as an empty 1.0
// request), kUnsupportedMediaType answers 415. Scripted answers (Enqueue)
// are sent exactly as written, whatever the mode: a scripted 2xx for a 2.0
// request carries the written-count headers only if the script gives them
// (without them, a 2.0 sender takes it for a 1.0 receiver). A 2.0 request
// answered 2xx is stored unless the mode is kOnly1 or
// kUnsupportedMediaType and the answer was the default.
//
// Answers come from a scripted queue: each request consumes one Response;
// when the queue is empty the default answer (204 unless SetDefault says
// otherwise) is used. A Response can also be a fault: a delay before
// answering, a dropped connection, a connection closed mid-response, a
// malformed status line, or no answer at all (Hang).
//
//   testrx::Receiver rx;
//   rx.Enqueue(testrx::Response::Status(503));
//   rx.Enqueue(testrx::Response::Drop());
//   ... point a sink at rx.url() ...
//   CHECK(rx.RequestCount() == 3);
//   CHECK(rx.Violations().empty());
//
// Authentication (SetGate): a gate sees every request before it is answered
// and may refuse it with its own answer (RequireSigV4 verifies SigV4
// signatures, token_endpoint.h's TokenEndpoint::BearerGate checks OAuth2
// bearer tokens). SetHandler turns the receiver into some other endpoint (a
// token endpoint): every request is answered by the handler, not checked as
// remote write.
//
// Thread-safe: every accessor may be called while requests are served. The
// destructor stops the server and joins every thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "request_decoder.h"
#include "sigv4_verify.h"

namespace testrx {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The request decoder's types (tests/common/request_decoder.h), under the
// receiver's names.
using rwdecode::Bits;
using rwdecode::LabelsToString;
using rwdecode::MetricTypeName;
using rwdecode::Protocol;
using rwdecode::Sample;
using rwdecode::SeenExemplar;
using rwdecode::SeenHistogram;
using rwdecode::SeenMetadata;

// The Content-Type of a 2.0 request, as the sink sends it.
inline constexpr std::string_view kV2ContentType = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

// How 2.0 requests are answered (see the top of this file).
enum class V2Mode {
  kSpeaks2,               // 2xx with the three written-count headers
  kOnly1,                 // 204 without them, nothing stored (a 1.0-only receiver)
  kUnsupportedMediaType,  // 415
};

// One scripted answer.
struct Response {
  enum class Fault {
    kNone,               // answer normally (after `delay_ms`)
    kDrop,               // read the request, then close without answering
    kReset,              // read the request, then reset the connection (RST)
    kCloseMidStatusLine, // send part of the status line, then close (curl: "got nothing";
                         // a cut inside the headers would pass for a complete answer)
    kCloseMidBody,       // send headers announcing a body, part of it, then close
    kMalformedStatusLine,// send a status line that is not HTTP, then close
    kHang                // read the request, never answer; the connection stays open
                         // until the client closes it or the receiver stops
  };

  int status = 204;
  std::string body;
  Headers headers;   // extra response headers, e.g. {"Retry-After", "1"}
  int delay_ms = 0;  // wait this long before answering (or before the fault)
  Fault fault = Fault::kNone;

  static Response Status(int status, std::string body = {}, Headers headers = {});
  static Response Slow(int delay_ms, int status = 204);
  static Response Drop();
  static Response Reset();
  static Response CloseMidStatusLine();
  static Response CloseMidBody();
  static Response MalformedStatusLine();
  static Response Hang();
};

// One request as received: what the decoder made of its body (protocol,
// the decoded message, every sample, metadata entry, histogram and
// exemplar; see rwdecode::DecodedRequest) and how it came and was answered.
struct Request : rwdecode::DecodedRequest {
  std::string method;
  std::string target;  // path and query, as sent
  Headers headers;     // in arrival order, names as sent
  std::string body;    // raw (compressed) body
  int answered_status = 0;  // status sent back; 0 when the answer was a fault
  std::string refused;      // the body of a gate's answer when a gate refused the request, else ""
  // When the request had been read completely (headers and body), before it
  // was checked or answered: steady clock for gaps between requests, system
  // clock for comparing with wall-clock times (e.g. a Retry-After date).
  std::chrono::steady_clock::time_point received{};
  std::chrono::system_clock::time_point received_wall{};
  // When the answer was about to be written to the socket (steady clock;
  // unset for a fault that sends no complete answer): the client cannot
  // have it before.
  std::chrono::steady_clock::time_point answered{};
  // Whether the receiver kept the samples: a 2xx, and not a 2.0 request
  // answered as by a 1.0-only receiver.
  bool stored = false;

  // Value of the first header named `name` (case-insensitive), "" if absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // Number of headers named `name` (case-insensitive).
  size_t HeaderCount(std::string_view name) const;
};

class Receiver {
 public:
  // Decides about a request before the script: a Response refuses it (that
  // is the answer), nullopt lets it through.
  using Gate = std::function<std::optional<Response>(const Request&)>;
  // Answers a request of an endpoint that is not a remote-write receiver.
  using Handler = std::function<Response(const Request&)>;

  // Binds 127.0.0.1 on `port` (0: a free one) and starts serving: a given
  // port lets a test bring a receiver back where an earlier one was. Throws
  // std::runtime_error when the socket cannot be set up.
  explicit Receiver(uint16_t port = 0);
  ~Receiver();
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port><path>".
  std::string url(std::string_view path = "/api/v1/write") const;

  // Adds an answer to the end of the script.
  void Enqueue(Response r);
  // The answer used once the script is exhausted (initially 204).
  void SetDefault(Response r);
  // Default answers wait a random time in [min_ms, max_ms] (uniform) before
  // they are sent: a receiver across a network. (0, 0): no delay.
  void SetRandomDelay(int min_ms, int max_ms);
  // How 2.0 requests that get the default answer, when it is a 2xx, are
  // answered (initially kSpeaks2); scripted answers are not changed. With
  // kSpeaks2, X-Prometheus-Remote-Write-Samples-Written says `not_written`
  // fewer samples than the request carried (never below 0).
  void SetV2Mode(V2Mode mode, int64_t not_written = 0);

  // Every request passes `gate` (after it is decoded and checked, before the
  // script is consulted): a request it refuses gets the gate's answer, does
  // not consume the script and is not stored. An empty gate lets all
  // through. Whatever the gate refers to must outlive the receiver.
  void SetGate(Gate gate);
  // Label names may be any non-empty UTF-8 (a sink with
  // name_validation_scheme=utf8), not only legacy names.
  void AcceptUtf8Names();
  // The gate that verifies AWS SigV4 signatures with `keys`
  // (sigv4_verify.h): a missing, wrong or stale signature is answered 403
  // with the verifier's reason as the body.
  void RequireSigV4(SigV4Keys keys);
  // Answers every request with `handler`: no remote-write decoding, no
  // violations, no script, no gate. Requests are still recorded.
  void SetHandler(Handler handler);

  // Requests received completely (headers and body), faults included.
  size_t RequestCount() const;
  std::vector<Request> Requests() const;
  // Samples of every decoded request answered 2xx (and stored: see
  // Request::stored), in arrival order: what a real receiver would have
  // stored.
  std::vector<Sample> Samples() const;
  // Samples of every decoded request, whatever the answer, in arrival order.
  std::vector<Sample> AllSamples() const;
  // Metadata of every stored request, in arrival order.
  std::vector<SeenMetadata> Metadata() const;
  // Histograms and exemplars of every stored request, in arrival order.
  std::vector<SeenHistogram> Histograms() const;
  std::vector<SeenExemplar> Exemplars() const;
  // Number of requests of each protocol received so far.
  size_t RequestCount(Protocol protocol) const;
  // Broken protocol rules, one line each, prefixed with the request number.
  std::vector<std::string> Violations() const;
  // Number of TCP connections accepted so far.
  size_t ConnectionCount() const;

  // Waits until at least `n` requests were received or `timeout` passed;
  // returns whether the count was reached.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;

  // Forgets every request, sample, metadata entry and violation and empties
  // the script; keeps the default answer and the 2.0 mode.
  void Clear();

  // A port on 127.0.0.1 where nothing listens (bound, then closed): for
  // "connection refused" tests.
  static uint16_t ClosedPort();

 private:
  struct Conn;
  void AcceptLoop();
  void Serve(int fd);
  // Records a complete request, checks it, and returns the answer for it.
  Response Handle(Request req, size_t* index);

  int listen_fd_ = -1;
  uint16_t port_ = 0;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<Response> script_;
  Response default_;
  int random_delay_min_ms_ = 0, random_delay_max_ms_ = 0;
  uint64_t rng_state_ = 0x9e3779b97f4a7c15ull;
  Gate gate_;
  Handler handler_;
  V2Mode v2_mode_ = V2Mode::kSpeaks2;
  int64_t v2_not_written_ = 0;
  rwdecode::Names names_ = rwdecode::Names::kLegacy;
  std::vector<Request> requests_;
  std::vector<Sample> accepted_;
  std::vector<Sample> all_;
  std::vector<SeenMetadata> metadata_;
  std::vector<SeenHistogram> histograms_;
  std::vector<SeenExemplar> exemplars_;
  std::vector<std::string> violations_;
  size_t connections_ = 0;
  std::vector<int> conn_fds_;  // open connections, shut down on stop
  std::vector<std::thread> conn_threads_;
  std::thread accept_thread_;
};

// Checks one request: its headers against its protocol's (Content-Type,
// Content-Encoding, X-Prometheus-Remote-Write-Version, User-Agent, no
// Expect: 100-continue), its body with rwdecode::DecodeRequest; appends one
// line per broken rule to `out`. Sets req->protocol from the Content-Type
// and fills the decoded fields. Receiver calls it for every request; usable
// alone on a hand-made Request.
void CheckRequest(Request* req, std::vector<std::string>* out, rwdecode::Names names = rwdecode::Names::kLegacy);

}  // namespace testrx
