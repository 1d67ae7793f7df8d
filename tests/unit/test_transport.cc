// Unit tests for transport.{h,cc}, the protocol part: the request headers of
// remote-write 1.0 and 2.0, the written-count response headers, and how a
// receiver that does not understand 2.0 is recognised (415, or a 2xx without
// written counts). The in-process test receiver (tests/receiver) answers.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "options.h"
#include "receiver.h"
#include "transport.h"

using psink::PostReport;
using psink::Protocol;
using psink::SinkOptions;
using psink::Status;
using psink::Transport;
using testrx::Receiver;
using testrx::Response;

namespace {

constexpr const char* kV2ContentType = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
const testrx::Headers kWritten{{"X-Prometheus-Remote-Write-Samples-Written", "3"},
                               {"X-Prometheus-Remote-Write-Histograms-Written", "0"},
                               {"X-Prometheus-Remote-Write-Exemplars-Written", "0"}};

SinkOptions Options(const Receiver& rx, int retry = 0) {
  SinkOptions o;
  o.url = rx.url();
  o.retry = retry;
  o.retry_backoff_multiplier_ms = 1;
  o.retry_backoff_max_ms = 10;
  o.headers = {{"X-Scope-OrgID", "team-a"}};
  return o;
}

// The body does not matter to the transport.
const std::string kBody = "not really snappy";

}  // namespace

TEST_CASE("transport: 1.0 requests carry the 1.0 headers, by default and when asked") {
  Receiver rx;
  Transport t(Options(rx));
  PostReport r1, r2;
  REQUIRE(t.Post(kBody, &r1).ok());
  REQUIRE(t.Post(kBody, &r2, Protocol::kV1).ok());
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  for (const auto& req : reqs) {
    CHECK(req.Header("Content-Type") == "application/x-protobuf");
    CHECK(req.Header("X-Prometheus-Remote-Write-Version") == "0.1.0");
    CHECK(req.Header("Content-Encoding") == "snappy");
    CHECK(req.Header("X-Scope-OrgID") == "team-a");
    CHECK_FALSE(req.HasHeader("Expect"));
    CHECK(req.HeaderCount("Content-Type") == 1);
    CHECK(req.body == kBody);
  }
  CHECK(r1.last_status == 204);
  CHECK(r1.attempts == 1);
  CHECK(r1.samples_written == -1);
  CHECK(r1.histograms_written == -1);
  CHECK(r1.exemplars_written == -1);
  CHECK_FALSE(r1.unsupported_protocol);
}

TEST_CASE("transport: 2.0 requests carry the 2.0 headers; written counts are read") {
  Receiver rx;
  rx.Enqueue(Response::Status(204, "", kWritten));
  rx.Enqueue(Response::Status(200, "", {{"x-prometheus-remote-write-samples-written", " 12 "}}));
  Transport t(Options(rx));
  PostReport r1, r2;
  Status st = t.Post(kBody, &r1, Protocol::kV2);
  INFO(st.message());
  REQUIRE(st.ok());
  REQUIRE(t.Post(kBody, &r2, Protocol::kV2).ok());
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  for (const auto& req : reqs) {
    CHECK(req.Header("Content-Type") == kV2ContentType);
    CHECK(req.Header("X-Prometheus-Remote-Write-Version") == "2.0.0");
    CHECK(req.Header("Content-Encoding") == "snappy");
    CHECK(req.Header("X-Scope-OrgID") == "team-a");
    CHECK_FALSE(req.HasHeader("Expect"));
    CHECK(req.HeaderCount("Content-Type") == 1);
    CHECK(req.HeaderCount("X-Prometheus-Remote-Write-Version") == 1);
  }
  CHECK(r1.last_status == 204);
  CHECK(r1.samples_written == 3);
  CHECK(r1.histograms_written == 0);
  CHECK(r1.exemplars_written == 0);
  CHECK_FALSE(r1.unsupported_protocol);
  // Any one of the headers is enough; names in any case.
  CHECK(r2.last_status == 200);
  CHECK(r2.samples_written == 12);
  CHECK(r2.histograms_written == -1);
  CHECK_FALSE(r2.unsupported_protocol);
}

TEST_CASE("transport: one handle switches protocols per request") {
  Receiver rx;
  rx.SetDefault(Response::Status(204, "", kWritten));
  Transport t(Options(rx));
  PostReport r;
  REQUIRE(t.Post(kBody, &r, Protocol::kV2).ok());
  REQUIRE(t.Post(kBody, &r, Protocol::kV1).ok());
  REQUIRE(t.Post(kBody, &r, Protocol::kV2).ok());
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].Header("Content-Type") == kV2ContentType);
  CHECK(reqs[1].Header("Content-Type") == "application/x-protobuf");
  CHECK(reqs[1].Header("X-Prometheus-Remote-Write-Version") == "0.1.0");
  CHECK(reqs[2].Header("Content-Type") == kV2ContentType);
  CHECK(reqs[2].Header("X-Prometheus-Remote-Write-Version") == "2.0.0");
  CHECK(rx.ConnectionCount() == 1);  // the connection is kept
}

TEST_CASE("transport: a 2xx without written counts means the receiver does not speak 2.0") {
  // Prometheus 2.42 and VictoriaMetrics 1.79 read a 2.0 body as an empty 1.0
  // request and answer 204 without the headers.
  Receiver rx;
  rx.Enqueue(Response::Status(204));
  rx.Enqueue(Response::Status(200, "", {{"X-Prometheus-Remote-Write-Samples-Written", "lots"}}));
  Transport t(Options(rx, /*retry=*/3));
  PostReport r;
  Status st = t.Post(kBody, &r, Protocol::kV2);
  CHECK(st.code() == Status::Code::kFailed);
  CHECK(st.message() == "POST " + rx.url() +
                            ": HTTP 204 without X-Prometheus-Remote-Write-*-Written headers: the receiver does not "
                            "support remote-write 2.0 (not retried)");
  CHECK(r.unsupported_protocol);
  CHECK(r.last_status == 415);
  CHECK(r.attempts == 1);
  CHECK(r.samples_written == -1);
  // A count that is not a number counts as absent.
  PostReport r2;
  st = t.Post(kBody, &r2, Protocol::kV2);
  CHECK_FALSE(st.ok());
  CHECK(r2.unsupported_protocol);
  CHECK(r2.attempts == 1);
  CHECK(rx.RequestCount() == 2);
  // The same answer to a 1.0 request is a success.
  PostReport r3;
  CHECK(t.Post(kBody, &r3, Protocol::kV1).ok());
  CHECK_FALSE(r3.unsupported_protocol);
  CHECK(r3.last_status == 204);
}

TEST_CASE("transport: 415 flags a 2.0 request as unsupported, not a 1.0 one; neither is retried") {
  Receiver rx;
  rx.SetDefault(Response::Status(415, "unsupported content type"));
  Transport t(Options(rx, /*retry=*/3));
  PostReport r2;
  Status st = t.Post(kBody, &r2, Protocol::kV2);
  CHECK(st.message() == "POST " + rx.url() + ": HTTP 415: 'unsupported content type' (not retried)");
  CHECK(r2.unsupported_protocol);
  CHECK(r2.last_status == 415);
  CHECK(r2.attempts == 1);
  PostReport r1;
  st = t.Post(kBody, &r1, Protocol::kV1);
  CHECK(st.message() == "POST " + rx.url() + ": HTTP 415: 'unsupported content type' (not retried)");
  CHECK_FALSE(r1.unsupported_protocol);
  CHECK(r1.last_status == 415);
  CHECK(r1.attempts == 1);
}

TEST_CASE("transport: 2.0 requests are retried like 1.0 ones; the counts are those of the last answer") {
  Receiver rx;
  rx.Enqueue(Response::Status(503, "busy", {{"X-Prometheus-Remote-Write-Samples-Written", "0"}}));
  rx.Enqueue(Response::Status(204, "", kWritten));
  Transport t(Options(rx, /*retry=*/2));
  PostReport r;
  Status st = t.Post(kBody, &r, Protocol::kV2);
  INFO(st.message());
  CHECK(st.ok());
  CHECK(r.attempts == 2);
  CHECK(r.last_status == 204);
  CHECK(r.samples_written == 3);
  CHECK_FALSE(r.unsupported_protocol);
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[1].Header("Content-Type") == kV2ContentType);

  // A 400 to a 2.0 request is an ordinary refusal.
  rx.Enqueue(Response::Status(400, "out of order sample"));
  PostReport r400;
  st = t.Post(kBody, &r400, Protocol::kV2);
  CHECK(st.message() == "POST " + rx.url() + ": HTTP 400: 'out of order sample' (not retried)");
  CHECK_FALSE(r400.unsupported_protocol);
  CHECK(r400.last_status == 400);
}
