// Test receiver: an in-process Prometheus remote-write endpoint for tests.
//
// A small HTTP/1.1 server written on raw sockets (so that it can misbehave at
// the byte level) listening on 127.0.0.1 on a free port, one thread per
// connection, keep-alive supported. For every request it records the method,
// target, headers and raw body, decodes the body (snappy block format, then
// prometheus.WriteRequest) and checks the remote-write 1.0 rules the sink
// promises (docs: DESIGN.md "The wire"); every broken rule is recorded as a
// violation string instead of failing, so a test can assert the list is empty.
//
// Answers come from a scripted queue: each request consumes one Response;
// when the queue is empty the default answer (204 unless SetDefault says
// otherwise) is used. A Response can also be a fault: a delay before
// answering, a dropped connection, a connection closed mid-response, or a
// malformed status line.
//
//   testrx::Receiver rx;
//   rx.Enqueue(testrx::Response::Status(503));
//   rx.Enqueue(testrx::Response::Drop());
//   ... point a sink at rx.url() ...
//   CHECK(rx.RequestCount() == 3);
//   CHECK(rx.Violations().empty());
//
// Thread-safe: every accessor may be called while requests are served. The
// destructor stops the server and joins every thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "remote.pb.h"

namespace testrx {

using Headers = std::vector<std::pair<std::string, std::string>>;

// One scripted answer.
struct Response {
  enum class Fault {
    kNone,               // answer normally (after `delay_ms`)
    kDrop,               // read the request, then close without answering
    kReset,              // read the request, then reset the connection (RST)
    kCloseMidStatusLine, // send part of the status line, then close (curl: "got nothing";
                         // a cut inside the headers would pass for a complete answer)
    kCloseMidBody,       // send headers announcing a body, part of it, then close
    kMalformedStatusLine // send a status line that is not HTTP, then close
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
};

// One request as received.
struct Request {
  std::string method;
  std::string target;  // path and query, as sent
  Headers headers;     // in arrival order, names as sent
  std::string body;    // raw (compressed) body
  bool decoded = false;
  std::string decode_error;  // why decoding failed, when it did
  prometheus::WriteRequest write;
  int answered_status = 0;  // status sent back; 0 when the answer was a fault

  // Value of the first header named `name` (case-insensitive), "" if absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // Number of headers named `name` (case-insensitive).
  size_t HeaderCount(std::string_view name) const;
  // Samples carried by the decoded body.
  size_t SampleCount() const;
};

// One sample as received: the series' labels rendered as
// {name="value",...} in the order they were sent (values escaped as in
// PromQL: \\, \", \n), the timestamp in ms and the exact value bits.
struct Sample {
  std::string labels;
  int64_t ts = 0;
  uint64_t value_bits = 0;

  double value() const;
  // "labels ts value" with the value as %.17g and its bits in hex.
  std::string ToString() const;
  friend bool operator==(const Sample&, const Sample&) = default;
};

// The IEEE-754 bits of `v`, for comparing values exactly (NaN included).
uint64_t Bits(double v);

class Receiver {
 public:
  // Binds 127.0.0.1 on a free port and starts serving. Throws
  // std::runtime_error when the socket cannot be set up.
  Receiver();
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

  // Requests received completely (headers and body), faults included.
  size_t RequestCount() const;
  std::vector<Request> Requests() const;
  // Samples of every decoded request answered 2xx, in arrival order: what a
  // real receiver would have stored.
  std::vector<Sample> Samples() const;
  // Samples of every decoded request, whatever the answer, in arrival order.
  std::vector<Sample> AllSamples() const;
  // Broken protocol rules, one line each, prefixed with the request number.
  std::vector<std::string> Violations() const;
  // Number of TCP connections accepted so far.
  size_t ConnectionCount() const;

  // Waits until at least `n` requests were received or `timeout` passed;
  // returns whether the count was reached.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;

  // Forgets every request, sample and violation and empties the script;
  // keeps the default answer.
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
  std::vector<Request> requests_;
  std::vector<Sample> accepted_;
  std::vector<Sample> all_;
  std::vector<std::string> violations_;
  size_t connections_ = 0;
  std::vector<int> conn_fds_;  // open connections, shut down on stop
  std::vector<std::thread> conn_threads_;
  std::thread accept_thread_;
};

// Checks one request against the remote-write 1.0 rules; appends one line
// per broken rule to `out`. Decodes the body into req->write on the way.
// Receiver calls it for every request; usable alone on a hand-made Request.
void CheckRequest(Request* req, std::vector<std::string>* out);

// The label set of a series rendered as Sample::labels.
std::string LabelsToString(const prometheus::TimeSeries& ts);

}  // namespace testrx
