// Tests of the test receiver itself, driven by libcurl: that it records and
// decodes requests, detects each protocol violation it claims to detect, and
// misbehaves exactly as scripted. The integration tests rely on all three.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <curl/curl.h>
#include <snappy.h>

#include <chrono>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "receiver.h"
#include "sigv4_verify.h"
#include "token_endpoint.h"

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
} curl_global;

// The headers the sink must send.
const std::vector<std::string> kGoodHeaders = {
    "Content-Encoding: snappy", "Content-Type: application/x-protobuf",
    "X-Prometheus-Remote-Write-Version: 0.1.0", "User-Agent: prometheus_sink/0.1.0", "Expect:"};

struct Result {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string headers;
};

size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// POSTs `body` with `headers` on `curl` (a fresh handle when null).
Result Post(const std::string& url, const std::string& body, const std::vector<std::string>& headers,
            CURL* curl = nullptr, long timeout_ms = 5000) {
  bool own = curl == nullptr;
  if (own) curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  Result r;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
  r.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(list);
  if (own) curl_easy_cleanup(curl);
  return r;
}

void AddSeries(prometheus::WriteRequest* w, std::vector<std::pair<std::string, std::string>> labels,
               std::vector<std::pair<int64_t, double>> samples) {
  auto* ts = w->add_timeseries();
  for (auto& [k, v] : labels) {
    auto* l = ts->add_labels();
    l->set_name(k);
    l->set_value(v);
  }
  for (auto [t, v] : samples) {
    auto* s = ts->add_samples();
    s->set_timestamp(t);
    s->set_value(v);
  }
}

std::string Encode(const prometheus::WriteRequest& w) {
  std::string raw, out;
  w.SerializeToString(&raw);
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

namespace v2 = io::prometheus::write::v2;

// The headers a 2.0 request must carry.
const std::vector<std::string> kGoodV2Headers = {
    "Content-Encoding: snappy", "Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request",
    "X-Prometheus-Remote-Write-Version: 2.0.0", "User-Agent: prometheus_sink/0.1.0", "Expect:"};

// A 2.0 series with the given refs and samples.
v2::TimeSeries* AddSeriesV2(v2::Request* w, std::vector<uint32_t> refs, std::vector<std::pair<int64_t, double>> samples) {
  auto* ts = w->add_timeseries();
  for (uint32_t r : refs) ts->add_labels_refs(r);
  for (auto [t, v] : samples) {
    auto* s = ts->add_samples();
    s->set_timestamp(t);
    s->set_value(v);
  }
  return ts;
}

std::string EncodeV2(const v2::Request& w) {
  std::string raw, out;
  w.SerializeToString(&raw);
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

// A valid 2.0 request: symbols "", __name__, up, job, a, b; two series.
v2::Request GoodV2() {
  v2::Request w;
  for (const char* s : {"", "__name__", "up", "job", "a", "b", "help me", "seconds"}) w.add_symbols(s);
  auto* a = AddSeriesV2(&w, {1, 2, 3, 4}, {{1000, 1.5}, {2000, -0.0}});
  a->mutable_metadata()->set_type(v2::Metadata::METRIC_TYPE_COUNTER);
  a->mutable_metadata()->set_help_ref(6);
  a->mutable_metadata()->set_unit_ref(7);
  auto* b = AddSeriesV2(&w, {1, 2, 3, 5}, {{1000, 2}});
  b->mutable_metadata()->set_type(v2::Metadata::METRIC_TYPE_COUNTER);
  b->mutable_metadata()->set_help_ref(6);
  b->mutable_metadata()->set_unit_ref(7);
  return w;
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

std::string Joined(const std::vector<testrx::Sample>& v) {
  std::string out;
  for (const auto& s : v) out += s.ToString() + "\n";
  return out;
}

std::string Joined(const std::vector<testrx::SeenMetadata>& v) {
  std::string out;
  for (const auto& s : v) out += s.ToString() + "\n";
  return out;
}

}  // namespace

TEST_SUITE("receiver") {

TEST_CASE("a valid request is recorded, decoded and answered 204") {
  testrx::Receiver rx;
  prometheus::WriteRequest w;
  AddSeries(&w, {{"__name__", "up"}, {"job", "a\"b"}}, {{1000, 1.5}, {2000, -0.0}});
  AddSeries(&w, {{"__name__", "up"}, {"job", "c"}}, {{1000, 2}});
  Result r = Post(rx.url(), Encode(w), kGoodHeaders);
  CHECK(r.code == CURLE_OK);
  CHECK(r.status == 204);
  REQUIRE(rx.RequestCount() == 1);
  auto reqs = rx.Requests();
  CHECK(reqs[0].method == "POST");
  CHECK(reqs[0].target == "/api/v1/write");
  CHECK(reqs[0].decoded);
  CHECK(reqs[0].answered_status == 204);
  CHECK(reqs[0].SampleCount() == 3);
  CHECK(reqs[0].Header("content-encoding") == "snappy");
  CHECK_FALSE(reqs[0].HasHeader("Expect"));
  CHECK(Joined(rx.Violations()) == "");
  CHECK(Joined(rx.Samples()) ==
        "{__name__=\"up\",job=\"a\\\"b\"} 1000 1.5 (0x3ff8000000000000)\n"
        "{__name__=\"up\",job=\"a\\\"b\"} 2000 -0 (0x8000000000000000)\n"
        "{__name__=\"up\",job=\"c\"} 1000 2 (0x4000000000000000)\n");
  CHECK(rx.AllSamples() == rx.Samples());
}

TEST_CASE("header violations are recorded") {
  testrx::Receiver rx;
  prometheus::WriteRequest w;
  AddSeries(&w, {{"__name__", "up"}}, {{1, 1}});
  // Wrong encoding and version, no User-Agent, Expect kept by curl.
  Result r = Post(rx.url(), Encode(w),
                  {"Content-Encoding: gzip", "Content-Type: application/x-protobuf", "Content-Type: text/plain",
                   "Expect: 100-continue", "User-Agent: curl/8"});
  CHECK(r.status == 204);
  CHECK(Joined(rx.Violations()) ==
        "request #1 (POST /api/v1/write): header Content-Encoding is 'gzip', want 'snappy'\n"
        "request #1 (POST /api/v1/write): header Content-Type sent 2 times\n"
        "request #1 (POST /api/v1/write): missing header X-Prometheus-Remote-Write-Version (want '0.1.0')\n"
        "request #1 (POST /api/v1/write): header User-Agent is 'curl/8', want 'prometheus_sink/...'\n"
        "request #1 (POST /api/v1/write): header Expect: 100-continue (no 100-continue round trip allowed)\n");
}

TEST_CASE("series violations are recorded") {
  testrx::Receiver rx;
  prometheus::WriteRequest w;
  AddSeries(&w, {{"b", "1"}, {"__name__", "m"}}, {{1, 1}});        // unsorted
  AddSeries(&w, {{"__name__", "m"}, {"a", "1"}, {"a", "2"}}, {{1, 1}});  // repeated name
  AddSeries(&w, {{"a", "1"}}, {{1, 1}});                           // no __name__
  AddSeries(&w, {{"__name__", "m"}, {"a", ""}}, {{1, 1}});         // empty value
  AddSeries(&w, {{"__name__", "m"}, {"1x", "v"}}, {{1, 1}});       // invalid name (and unsorted)
  AddSeries(&w, {{"__name__", "m"}}, {{5, 1}, {3, 1}});            // timestamps backwards
  AddSeries(&w, {{"__name__", "m"}}, {});                          // no samples, repeated set
  Post(rx.url(), Encode(w), kGoodHeaders);
  CHECK(Joined(rx.Violations()) ==
        "request #1 (POST /api/v1/write): series #0 {b=\"1\",__name__=\"m\"}: labels not sorted by name ('b' before '__name__')\n"
        "request #1 (POST /api/v1/write): series #1 {__name__=\"m\",a=\"1\",a=\"2\"}: label name 'a' repeated\n"
        "request #1 (POST /api/v1/write): series #2 {a=\"1\"}: no __name__ label\n"
        "request #1 (POST /api/v1/write): series #3 {__name__=\"m\",a=\"\"}: empty value for label 'a'\n"
        "request #1 (POST /api/v1/write): series #4 {__name__=\"m\",1x=\"v\"}: invalid label name '1x'\n"
        "request #1 (POST /api/v1/write): series #4 {__name__=\"m\",1x=\"v\"}: labels not sorted by name ('__name__' before '1x')\n"
        "request #1 (POST /api/v1/write): series #5 {__name__=\"m\"}: samples not ordered by timestamp (5 before 3)\n"
        "request #1 (POST /api/v1/write): series #6 {__name__=\"m\"}: no samples\n"
        "request #1 (POST /api/v1/write): series #6 {__name__=\"m\"}: label set repeated in another TimeSeries of the request\n");
}

TEST_CASE("bodies that do not decode are recorded") {
  testrx::Receiver rx;
  Post(rx.url(), "", kGoodHeaders);
  Post(rx.url(), "not snappy at all", kGoodHeaders);
  std::string junk = "\xff\xff\xff";
  std::string compressed;
  snappy::Compress(junk.data(), junk.size(), &compressed);
  Post(rx.url(), compressed, kGoodHeaders);
  Post(rx.url(), Encode(prometheus::WriteRequest()), kGoodHeaders);
  CHECK(rx.RequestCount() == 4);
  CHECK(Joined(rx.Violations()) ==
        "request #1 (POST /api/v1/write): empty body\n"
        "request #2 (POST /api/v1/write): body is not snappy block format\n"
        "request #3 (POST /api/v1/write): body is not a prometheus.WriteRequest\n"
        "request #4 (POST /api/v1/write): request carries no series\n");
}

TEST_CASE("a valid 2.0 request is decoded, recorded like 1.0 and answered with the written counts") {
  testrx::Receiver rx;
  Result r = Post(rx.url(), EncodeV2(GoodV2()), kGoodV2Headers);
  CHECK(r.code == CURLE_OK);
  CHECK(r.status == 204);
  CHECK(r.headers.find("X-Prometheus-Remote-Write-Samples-Written: 3\r\n") != std::string::npos);
  CHECK(r.headers.find("X-Prometheus-Remote-Write-Histograms-Written: 0\r\n") != std::string::npos);
  CHECK(r.headers.find("X-Prometheus-Remote-Write-Exemplars-Written: 0\r\n") != std::string::npos);
  REQUIRE(rx.RequestCount() == 1);
  CHECK(rx.RequestCount(testrx::Protocol::kV2) == 1);
  CHECK(rx.RequestCount(testrx::Protocol::kV1) == 0);
  auto reqs = rx.Requests();
  CHECK(reqs[0].is_v2());
  CHECK(reqs[0].decoded);
  CHECK(reqs[0].stored);
  CHECK(reqs[0].SampleCount() == 3);
  CHECK(reqs[0].write_v2.symbols_size() == 8);
  CHECK(Joined(rx.Violations()) == "");
  CHECK(Joined(rx.Samples()) ==
        "{__name__=\"up\",job=\"a\"} 1000 1.5 (0x3ff8000000000000)\n"
        "{__name__=\"up\",job=\"a\"} 2000 -0 (0x8000000000000000)\n"
        "{__name__=\"up\",job=\"b\"} 1000 2 (0x4000000000000000)\n");
  CHECK(Joined(rx.Metadata()) ==
        "2.0 {__name__=\"up\",job=\"a\"} type=counter help=\"help me\" unit=\"seconds\"\n"
        "2.0 {__name__=\"up\",job=\"b\"} type=counter help=\"help me\" unit=\"seconds\"\n");
  CHECK(rx.Metadata()[0].metric == "up");
}

TEST_CASE("2.0 rule violations are recorded") {
  testrx::Receiver rx;
  {  // Wrong version header, symbols[0] not "", a symbol twice (so both
     // series have the same labels), one unused.
    v2::Request w;
    for (const char* s : {"x", "__name__", "m", "m", "unused"}) w.add_symbols(s);
    AddSeriesV2(&w, {1, 2}, {{1, 1}});
    AddSeriesV2(&w, {1, 3}, {{2, 1}});
    auto headers = kGoodV2Headers;
    headers[2] = "X-Prometheus-Remote-Write-Version: 0.1.0";
    Post(rx.url(), EncodeV2(w), headers);
  }
  {  // Series rules.
    v2::Request w;
    for (const char* s : {"", "__name__", "m", "b", "1", "a"}) w.add_symbols(s);
    AddSeriesV2(&w, {3, 4, 1, 2}, {{1, 1}});        // unsorted
    AddSeriesV2(&w, {1, 2, 5, 4, 5, 4}, {{1, 1}});  // repeated name
    AddSeriesV2(&w, {1, 2, 3}, {{1, 1}});           // odd count
    AddSeriesV2(&w, {1, 2, 5, 9}, {{1, 1}});        // out of range
    AddSeriesV2(&w, {3, 4}, {{1, 1}});              // no __name__
    AddSeriesV2(&w, {1, 2, 3, 0}, {{1, 1}});        // empty value
    AddSeriesV2(&w, {1, 2}, {{5, 1}, {3, 1}});      // timestamps backwards
    auto* md = AddSeriesV2(&w, {1, 2, 5, 3}, {{1, 1}})->mutable_metadata();
    md->set_help_ref(40);                            // metadata ref out of range
    AddSeriesV2(&w, {1, 2}, {});                     // no samples, repeated set
    Post(rx.url(), EncodeV2(w), kGoodV2Headers);
  }
  {  // A 1.0 body under the 2.0 Content-Type; an empty symbol table.
    prometheus::WriteRequest w1;
    AddSeries(&w1, {{"__name__", "up"}}, {{1, 1}});
    Post(rx.url(), Encode(w1), kGoodV2Headers);
  }
  const std::string p1 = "request #1 (POST /api/v1/write, 2.0): ";
  const std::string p2 = "request #2 (POST /api/v1/write, 2.0): ";
  const std::string p3 = "request #3 (POST /api/v1/write, 2.0): ";
  CHECK(Joined(rx.Violations()) ==
        p1 + "header X-Prometheus-Remote-Write-Version is '0.1.0', want '2.0.0'\n" +
        p1 + "symbols[0] is 'x', want \"\"\n" +
        p1 + "symbol 'm' is in the table twice (#2 and #3)\n" +
        p1 + "series #1 {__name__=\"m\"}: label set repeated in another TimeSeries of the request\n" +
        p1 + "symbol #4 'unused' is not referred to\n" +
        p2 + "series #0 {b=\"1\",__name__=\"m\"}: labels not sorted by name ('b' before '__name__')\n" +
        p2 + "series #1 {__name__=\"m\",a=\"1\",a=\"1\"}: label name 'a' repeated\n" +
        p2 + "series #2 {__name__=\"m\",b=\"?\"}: labels_refs has an odd count (3): refs come in (name, value) pairs\n" +
        p2 + "series #3 {__name__=\"m\",a=\"?\"}: labels_refs[3] = 9 is out of range (6 symbols)\n" +
        p2 + "series #4 {b=\"1\"}: no __name__ label\n" +
        p2 + "series #5 {__name__=\"m\",b=\"\"}: empty value for label 'b'\n" +
        p2 + "series #6 {__name__=\"m\"}: samples not ordered by timestamp (5 before 3)\n" +
        p2 + "series #7 {__name__=\"m\",a=\"b\"}: metadata help_ref = 40 is out of range (6 symbols)\n" +
        p2 + "series #8 {__name__=\"m\"}: no samples\n" +
        p2 + "series #8 {__name__=\"m\"}: label set repeated in another TimeSeries of the request\n" +
        p3 + "request has fields that io.prometheus.write.v2.Request does not define (a 1.0 body?)\n" +
        p3 + "symbol table is empty (symbols[0] must be \"\")\n" +
        p3 + "request carries no series\n");
}

TEST_CASE("2.0 modes shape the default answer: speaks 2.0 (maybe writing fewer), 1.0 only, 415; scripts go as written") {
  testrx::Receiver rx;
  const std::string body = EncodeV2(GoodV2());
  prometheus::WriteRequest w1;
  AddSeries(&w1, {{"__name__", "up"}}, {{1, 1}});
  const std::string body1 = Encode(w1);

  rx.SetV2Mode(testrx::V2Mode::kSpeaks2, 2);
  Result a = Post(rx.url(), body, kGoodV2Headers);
  CHECK(a.status == 204);
  CHECK(a.headers.find("X-Prometheus-Remote-Write-Samples-Written: 1\r\n") != std::string::npos);

  rx.SetV2Mode(testrx::V2Mode::kOnly1);
  Result b = Post(rx.url(), body, kGoodV2Headers);
  CHECK(b.status == 204);
  CHECK(b.headers.find("-Written") == std::string::npos);
  Result b1 = Post(rx.url(), body1, kGoodHeaders);  // 1.0 is unaffected by the mode
  CHECK(b1.status == 204);
  CHECK(b1.headers.find("-Written") == std::string::npos);

  rx.SetV2Mode(testrx::V2Mode::kUnsupportedMediaType);
  Result c = Post(rx.url(), body, kGoodV2Headers);
  CHECK(c.status == 415);
  CHECK(c.body.find("unsupported Content-Type") != std::string::npos);
  CHECK(Post(rx.url(), body1, kGoodHeaders).status == 204);

  rx.SetV2Mode(testrx::V2Mode::kSpeaks2);
  rx.Enqueue(testrx::Response::Status(503, "busy"));
  Result d = Post(rx.url(), body, kGoodV2Headers);
  CHECK(d.status == 503);
  CHECK(d.headers.find("-Written") == std::string::npos);
  Result e = Post(rx.url(), body, kGoodV2Headers);
  CHECK(e.status == 204);
  CHECK(e.headers.find("X-Prometheus-Remote-Write-Samples-Written: 3\r\n") != std::string::npos);

  // A scripted 2xx goes as written, whatever the mode.
  rx.Enqueue(testrx::Response::Status(204));
  Result f = Post(rx.url(), body, kGoodV2Headers);
  CHECK(f.status == 204);
  CHECK(f.headers.find("-Written") == std::string::npos);
  rx.SetV2Mode(testrx::V2Mode::kUnsupportedMediaType);
  rx.Enqueue(testrx::Response::Status(200, "", {{"X-Prometheus-Remote-Write-Samples-Written", "7"}}));
  Result g = Post(rx.url(), body, kGoodV2Headers);
  CHECK(g.status == 200);
  CHECK(g.headers.find("X-Prometheus-Remote-Write-Samples-Written: 7\r\n") != std::string::npos);

  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 9);
  std::string stored;
  for (const auto& r : reqs) stored += std::to_string(r.answered_status) + (r.stored ? "+" : "-") + " ";
  CHECK(stored == "204+ 204- 204+ 415- 204+ 503- 204+ 204+ 200+ ");
  CHECK(rx.RequestCount(testrx::Protocol::kV2) == 7);
  CHECK(rx.Samples().size() == 3 + 1 + 1 + 3 + 3 + 3);
  CHECK(rx.AllSamples().size() == 7 * 3 + 2);
  CHECK(rx.Metadata().size() == 8);  // the four stored 2.0 requests
  CHECK(Joined(rx.Violations()) == "");
}

TEST_CASE("1.0 metadata entries are recorded") {
  testrx::Receiver rx;
  prometheus::WriteRequest w;
  AddSeries(&w, {{"__name__", "up"}}, {{1, 1}});
  auto* m = w.add_metadata();
  m->set_type(prometheus::MetricMetadata::GAUGE);
  m->set_metric_family_name("up");
  m->set_help("is \"it\" up");
  m->set_unit("");
  auto* bad = w.add_metadata();
  bad->set_help("no name");
  CHECK(Post(rx.url(), Encode(w), kGoodHeaders).status == 204);
  CHECK(Joined(rx.Metadata()) == "1.0 up type=gauge help=\"is \\\"it\\\" up\" unit=\"\"\n"
                                 "1.0  type=unknown help=\"no name\" unit=\"\"\n");
  CHECK(Joined(rx.Violations()) == "request #1 (POST /api/v1/write): metadata #1: no metric_family_name\n");
}

TEST_CASE("scripted answers are consumed in order, then the default") {
  testrx::Receiver rx;
  prometheus::WriteRequest w;
  AddSeries(&w, {{"__name__", "up"}}, {{1, 1}});
  std::string body = Encode(w);
  rx.Enqueue(testrx::Response::Status(503, "overloaded"));
  rx.Enqueue(testrx::Response::Status(429, "", {{"Retry-After", "7"}}));
  rx.Enqueue(testrx::Response::Status(400, "bad things"));
  CURL* curl = curl_easy_init();
  Result a = Post(rx.url(), body, kGoodHeaders, curl);
  Result b = Post(rx.url(), body, kGoodHeaders, curl);
  Result c = Post(rx.url(), body, kGoodHeaders, curl);
  Result d = Post(rx.url(), body, kGoodHeaders, curl);
  curl_easy_cleanup(curl);
  CHECK(a.status == 503);
  CHECK(a.body == "overloaded");
  CHECK(b.status == 429);
  CHECK(b.headers.find("Retry-After: 7\r\n") != std::string::npos);
  CHECK(c.status == 400);
  CHECK(c.body == "bad things");
  CHECK(d.status == 204);
  CHECK(rx.ConnectionCount() == 1);  // keep-alive across all four
  CHECK(rx.RequestCount() == 4);
  CHECK(rx.Samples().size() == 1);     // only the 204 was stored
  CHECK(rx.AllSamples().size() == 4);

  rx.SetDefault(testrx::Response::Status(500, "down"));
  CHECK(Post(rx.url(), body, kGoodHeaders).status == 500);
  CHECK(Post(rx.url(), body, kGoodHeaders).status == 500);
  CHECK(Joined(rx.Violations()) == "");
}

TEST_CASE("faults reach the client as connection errors") {
  testrx::Receiver rx;
  prometheus::WriteRequest w;
  AddSeries(&w, {{"__name__", "up"}}, {{1, 1}});
  std::string body = Encode(w);
  rx.Enqueue(testrx::Response::Drop());
  rx.Enqueue(testrx::Response::Reset());
  rx.Enqueue(testrx::Response::CloseMidStatusLine());
  rx.Enqueue(testrx::Response::CloseMidBody());
  rx.Enqueue(testrx::Response::MalformedStatusLine());
  rx.Enqueue(testrx::Response::Slow(1500));
  CHECK(Post(rx.url(), body, kGoodHeaders).code == CURLE_GOT_NOTHING);
  CURLcode reset = Post(rx.url(), body, kGoodHeaders).code;
  CHECK((reset == CURLE_RECV_ERROR || reset == CURLE_GOT_NOTHING));
  CHECK(Post(rx.url(), body, kGoodHeaders).code == CURLE_GOT_NOTHING);
  CHECK(Post(rx.url(), body, kGoodHeaders).code == CURLE_PARTIAL_FILE);
  CURLcode malformed = Post(rx.url(), body, kGoodHeaders).code;
  CHECK((malformed == CURLE_WEIRD_SERVER_REPLY || malformed == CURLE_UNSUPPORTED_PROTOCOL));
  CHECK(Post(rx.url(), body, kGoodHeaders, nullptr, 300).code == CURLE_OPERATION_TIMEDOUT);
  CHECK(Post(rx.url(), body, kGoodHeaders).code == CURLE_OK);
  CHECK(rx.RequestCount() == 7);
  auto reqs = rx.Requests();
  CHECK(reqs[0].answered_status == 0);
  CHECK(reqs[5].answered_status == 204);
  CHECK(reqs[6].answered_status == 204);
  CHECK(Joined(rx.Violations()) == "");
}

TEST_CASE("Hang: the request is recorded, never answered nor stored; the connection ends when the client gives up") {
  testrx::Receiver rx;
  prometheus::WriteRequest w;
  AddSeries(&w, {{"__name__", "up"}}, {{1, 1}});
  rx.Enqueue(testrx::Response::Hang());
  auto start = std::chrono::steady_clock::now();
  CHECK(Post(rx.url(), Encode(w), kGoodHeaders, nullptr, 300).code == CURLE_OPERATION_TIMEDOUT);
  CHECK(Post(rx.url(), Encode(w), kGoodHeaders).status == 204);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].answered_status == 0);
  CHECK_FALSE(reqs[0].stored);
  CHECK(reqs[1].stored);
  CHECK(rx.Samples().size() == 1);
  CHECK(rx.AllSamples().size() == 2);
  CHECK(Joined(rx.Violations()) == "");
}

TEST_CASE("each request records when it was received completely") {
  testrx::Receiver rx;
  prometheus::WriteRequest w;
  AddSeries(&w, {{"__name__", "up"}}, {{1, 1}});
  auto before = std::chrono::steady_clock::now();
  auto before_wall = std::chrono::system_clock::now();
  CHECK(Post(rx.url(), Encode(w), kGoodHeaders).status == 204);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  CHECK(Post(rx.url(), Encode(w), kGoodHeaders).status == 204);
  auto after = std::chrono::steady_clock::now();
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].received >= before);
  CHECK(reqs[1].received <= after);
  CHECK(reqs[1].received - reqs[0].received >= std::chrono::milliseconds(120));
  CHECK(reqs[0].received_wall >= before_wall - std::chrono::milliseconds(50));
}

TEST_CASE("a closed port refuses connections") {
  uint16_t port = testrx::Receiver::ClosedPort();
  Result r = Post("http://127.0.0.1:" + std::to_string(port) + "/", "x", kGoodHeaders);
  CHECK(r.code == CURLE_COULDNT_CONNECT);
}

TEST_CASE("chunked bodies and large bodies are read whole") {
  testrx::Receiver rx;
  prometheus::WriteRequest w;
  std::string long_value(1000, 'v');
  for (int i = 0; i < 3000; ++i) AddSeries(&w, {{"__name__", "m"}, {"i", std::to_string(i) + long_value}}, {{i, i}});
  std::string body = Encode(w);
  CHECK(body.size() > 100000);
  auto headers = kGoodHeaders;
  headers.push_back("Transfer-Encoding: chunked");
  CHECK(Post(rx.url(), body, headers).status == 204);
  CHECK(Post(rx.url(), body, kGoodHeaders).status == 204);
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].HasHeader("Transfer-Encoding"));
  CHECK(reqs[0].body == body);
  CHECK(reqs[1].body == body);
  CHECK(rx.Samples().size() == 6000);
  CHECK(Joined(rx.Violations()) == "");
}

TEST_CASE("the destructor stops promptly with idle and busy connections") {
  auto start = std::chrono::steady_clock::now();
  CURL* idle = curl_easy_init();
  {
    testrx::Receiver rx;
    rx.Enqueue(testrx::Response::Slow(60000));
    prometheus::WriteRequest w;
    AddSeries(&w, {{"__name__", "up"}}, {{1, 1}});
    CHECK(Post(rx.url(), Encode(w), kGoodHeaders, nullptr, 200).code == CURLE_OPERATION_TIMEDOUT);
    CHECK(Post(rx.url(), Encode(w), kGoodHeaders, idle).status == 204);  // left open (keep-alive)
    CHECK(rx.WaitForRequests(2, std::chrono::milliseconds(100)));
    CHECK_FALSE(rx.WaitForRequests(3, std::chrono::milliseconds(10)));
  }
  curl_easy_cleanup(idle);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

// ---------------------------------------------------------------- SigV4 verifier

namespace {

// The AWS SigV4 test suite's fixed values (aws-sig-v4-test-suite).
testrx::SigV4Keys SuiteKeys() {
  testrx::SigV4Keys k;
  k.access_key = "AKIDEXAMPLE";
  k.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  k.region = "us-east-1";
  k.service = "service";
  return k;
}

std::chrono::system_clock::time_point SuiteTime() {
  struct tm tm {};
  tm.tm_year = 2015 - 1900;
  tm.tm_mon = 7;
  tm.tm_mday = 30;
  tm.tm_hour = 12;
  tm.tm_min = 36;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// A request of the suite: `method` `target`, Host and X-Amz-Date, signed
// with `signature` over host;x-amz-date.
testrx::Request SuiteRequest(const std::string& method, const std::string& target, const std::string& signature) {
  testrx::Request r;
  r.method = method;
  r.target = target;
  r.headers = {{"Host", "example.amazonaws.com"},
               {"X-Amz-Date", "20150830T123600Z"},
               {"Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                "SignedHeaders=host;x-amz-date, Signature=" + signature}};
  return r;
}

const std::string kGetVanilla = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

}  // namespace

TEST_CASE("sigv4 verifier: SHA-256 and HMAC-SHA256 give the published values") {
  CHECK(testrx::Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // RFC 4231, test case 2.
  std::string mac = testrx::HmacSha256("Jefe", "what do ya want for nothing?");
  std::string hex;
  for (unsigned char c : mac) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  CHECK(hex == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("sigv4 verifier: accepts AWS's test-suite requests (get-vanilla, post-vanilla, query order)") {
  CHECK(testrx::VerifySigV4(SuiteRequest("GET", "/", kGetVanilla), SuiteKeys(), SuiteTime()) == "");
  CHECK(testrx::VerifySigV4(SuiteRequest("POST", "/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
                            SuiteKeys(), SuiteTime()) == "");
  CHECK(testrx::VerifySigV4(SuiteRequest("GET", "/?Param2=value2&Param1=value1",
                                         "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
                            SuiteKeys(), SuiteTime()) == "");
  // Within the 5 minutes either way.
  CHECK(testrx::VerifySigV4(SuiteRequest("GET", "/", kGetVanilla), SuiteKeys(), SuiteTime() + std::chrono::seconds(299)) == "");
  CHECK(testrx::VerifySigV4(SuiteRequest("GET", "/", kGetVanilla), SuiteKeys(), SuiteTime() - std::chrono::seconds(299)) == "");
}

TEST_CASE("sigv4 verifier: canonical URI and query as the specification builds them") {
  CHECK(testrx::CanonicalUri("") == "/");
  CHECK(testrx::CanonicalUri("/") == "/");
  CHECK(testrx::CanonicalUri("/a/./b/../c//d/") == "/a/c/d/");
  CHECK(testrx::CanonicalUri("/a%20b/-._~") == "/a%2520b/-._~");  // encoded twice (non-S3)
  CHECK(testrx::CanonicalQuery("") == "");
  CHECK(testrx::CanonicalQuery("b=2&a=1&a=0&c") == "a=0&a=1&b=2&c=");
  CHECK(testrx::CanonicalQuery("k=a%2fb&sp=a%20b&plus=a+b&t=~") == "k=a%2Fb&plus=a%2Bb&sp=a%20b&t=~");
}

TEST_CASE("sigv4 verifier: refuses what AWS refuses, saying why") {
  auto verify = [](const testrx::Request& r, testrx::SigV4Keys k = SuiteKeys(),
                   std::chrono::seconds shift = std::chrono::seconds(0)) {
    return testrx::VerifySigV4(r, k, SuiteTime() + shift);
  };
  auto code = [](const std::string& why) { return why.substr(0, why.find(':')); };
  testrx::Request good = SuiteRequest("GET", "/", kGetVanilla);

  testrx::SigV4Keys wrong_secret = SuiteKeys();
  wrong_secret.secret_key += "x";
  CHECK(code(verify(good, wrong_secret)) == "SignatureDoesNotMatch");
  testrx::Request changed = good;
  changed.target = "/?a=1";
  CHECK(code(verify(changed)) == "SignatureDoesNotMatch");
  changed = good;
  changed.body = "x";
  CHECK(code(verify(changed)) == "SignatureDoesNotMatch");
  changed = good;
  changed.method = "POST";
  CHECK(code(verify(changed)) == "SignatureDoesNotMatch");
  changed = good;
  changed.headers[0].second = "example.amazonaws.com:8080";
  CHECK(code(verify(changed)) == "SignatureDoesNotMatch");
  testrx::SigV4Keys other_region = SuiteKeys();
  other_region.region = "eu-west-1";
  CHECK(verify(good, other_region) ==
        "SignatureDoesNotMatch: credential scope 20150830/us-east-1/service/aws4_request, want "
        "20150830/eu-west-1/service/aws4_request");
  testrx::SigV4Keys other_key = SuiteKeys();
  other_key.access_key = "AKIDOTHER";
  CHECK(verify(good, other_key) == "InvalidClientTokenId: the access key 'AKIDEXAMPLE' is not known here");

  // Stale or early: more than 5 minutes from the receiver's clock.
  CHECK(verify(good, SuiteKeys(), std::chrono::seconds(301)) ==
        "RequestTimeTooSkewed: X-Amz-Date 20150830T123600Z is 301 s from the receiver's clock (at most 300 s allowed)");
  CHECK(code(verify(good, SuiteKeys(), std::chrono::seconds(-301))) == "RequestTimeTooSkewed");
  testrx::SigV4Keys ahead = SuiteKeys();
  ahead.clock_offset_s = 600;
  CHECK(code(verify(good, ahead)) == "RequestTimeTooSkewed");

  // Form and completeness.
  changed = good;
  changed.headers.pop_back();
  CHECK(code(verify(changed)) == "MissingAuthenticationToken");
  changed = good;
  changed.headers[2].second = "Bearer x";
  CHECK(code(verify(changed)) == "IncompleteSignature");
  changed = good;
  changed.headers[2].second.replace(changed.headers[2].second.find("host;x-amz-date"), 15, "x-amz-date");
  CHECK(verify(changed) == "SignatureDoesNotMatch: 'host' must be a signed header");
  changed = good;
  changed.headers[2].second.replace(changed.headers[2].second.find("host;x-amz-date"), 15, "expect;host;x-amz-date");
  CHECK(verify(changed) == "SignatureDoesNotMatch: signed header 'expect' is not in the request");
  changed = good;
  changed.headers[2].second.replace(changed.headers[2].second.find("host;x-amz-date"), 15, "x-amz-date;host");
  CHECK(code(verify(changed)) == "SignatureDoesNotMatch");

  // Session tokens: the expected one, signed; none when none is expected.
  testrx::SigV4Keys with_token = SuiteKeys();
  with_token.session_token = "session-1";
  CHECK(verify(good, with_token) == "InvalidClientTokenId: the security token included in the request is invalid");
  changed = good;
  changed.headers.emplace_back("X-Amz-Security-Token", "session-1");
  CHECK(verify(changed, with_token) == "SignatureDoesNotMatch: X-Amz-Security-Token is not signed");
  CHECK(code(verify(changed)) == "SignatureDoesNotMatch");
  changed = good;
  changed.headers.emplace_back("X-Amz-Content-Sha256", "0000");
  CHECK(code(verify(changed)) == "XAmzContentSHA256Mismatch");
}

TEST_CASE("sigv4 verifier on a receiver: libcurl 7.88's signature is accepted for a sorted query, refused (403) for an unsorted one") {
  // What FIELD-NOTES say about CURLOPT_AWS_SIGV4, shown with the verifier:
  // the query is signed as it stands, and every header of the list is
  // signed, an empty one that libcurl then does not send included.
  testrx::SigV4Keys keys;
  keys.access_key = "AKIDTEST";
  keys.secret_key = "test-secret";
  testrx::Receiver rx;
  rx.RequireSigV4(keys);
  prometheus::WriteRequest w;
  AddSeries(&w, {{"__name__", "up"}}, {{1, 1}});
  const std::string body = Encode(w);
  auto signed_post = [&](const std::string& url, std::vector<std::string> headers) {
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:aps");
    curl_easy_setopt(curl, CURLOPT_USERNAME, "AKIDTEST");
    curl_easy_setopt(curl, CURLOPT_PASSWORD, "test-secret");
    Result r = Post(url, body, headers, curl);
    curl_easy_cleanup(curl);
    return r;
  };
  std::vector<std::string> no_expect(kGoodHeaders.begin(), kGoodHeaders.end() - 1);
  CHECK(signed_post(rx.url("/api/v1/write?a=1&b=2"), no_expect).status == 204);
  Result unsorted = signed_post(rx.url("/api/v1/write?b=2&a=1"), no_expect);
  CHECK(unsorted.status == 403);
  CHECK(unsorted.body.rfind("SignatureDoesNotMatch: ", 0) == 0);
  Result empty_header = signed_post(rx.url(), kGoodHeaders);  // with "Expect:"
  CHECK(empty_header.status == 403);
  CHECK(empty_header.body == "SignatureDoesNotMatch: signed header 'expect' is not in the request");
  // Unsigned: refused, and a refused request is not stored and leaves the script alone.
  rx.Enqueue(testrx::Response::Status(503));
  Result unsigned_post = Post(rx.url(), body, no_expect);
  CHECK(unsigned_post.status == 403);
  CHECK(unsigned_post.body.rfind("MissingAuthenticationToken", 0) == 0);
  CHECK(signed_post(rx.url(), no_expect).status == 503);
  auto reqs = rx.Requests();
  REQUIRE(reqs.size() == 5);
  CHECK(reqs[0].refused == "");
  CHECK(reqs[1].refused == unsorted.body);
  CHECK(reqs[3].answered_status == 403);
  CHECK(rx.Samples().size() == 1);
}

// ---------------------------------------------------------------- OAuth2 token endpoint

namespace {

// A token request as RFC 6749 §4.4 has it, client authenticated with Basic.
Result TokenPost(const std::string& url, const std::string& user, const std::string& password,
                 const std::string& form = "grant_type=client_credentials") {
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
  curl_easy_setopt(curl, CURLOPT_USERNAME, user.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, password.c_str());
  Result r = Post(url, form, {"Content-Type: application/x-www-form-urlencoded"}, curl);
  curl_easy_cleanup(curl);
  return r;
}

}  // namespace

TEST_CASE("token endpoint: issues tokens to the right client, counts them, checks the request") {
  testrx::TokenEndpoint auth("my client", "s3cret:+/", 60);
  // RFC 6749 §2.3.1: id and secret form-encoded before Basic.
  Result r = TokenPost(auth.url(), "my+client", "s3cret%3A%2B%2F", "grant_type=client_credentials&scope=a+b&audience=x%2Fy");
  CHECK(r.status == 200);
  CHECK(r.body.find(R"({"access_token":"tok-1","token_type":"Bearer","expires_in":60)") == 0);
  CHECK(r.headers.find("Content-Type: application/json") != std::string::npos);
  CHECK(auth.LastClientAuth() == "basic");
  CHECK(auth.LastForm() == std::vector<std::pair<std::string, std::string>>{
                               {"grant_type", "client_credentials"}, {"scope", "a b"}, {"audience", "x/y"}});
  r = TokenPost(auth.url(), "my+client", "wrong");
  CHECK(r.status == 401);
  CHECK(r.body.find("invalid_client") != std::string::npos);
  r = TokenPost(auth.url(), "my+client", "s3cret%3A%2B%2F", "grant_type=password");
  CHECK(r.status == 400);
  CHECK(auth.Fetches() == 1);
  CHECK(auth.RequestCount() == 3);
  CHECK(Joined(auth.Violations()) == "token request #3: grant_type 'password'\n");
  auth.FailWith(testrx::Response::Status(503, "down"));
  CHECK(TokenPost(auth.url(), "my+client", "s3cret%3A%2B%2F").status == 503);
  CHECK(auth.Fetches() == 1);
}

TEST_CASE("token endpoint: the bearer gate accepts issued tokens until revoked or expired") {
  testrx::TokenEndpoint auth("id", "secret", 1);
  testrx::Receiver rx;
  rx.SetGate(auth.BearerGate());
  prometheus::WriteRequest w;
  AddSeries(&w, {{"__name__", "up"}}, {{1, 1}});
  auto with_token = [&](const std::string& token) {
    auto headers = kGoodHeaders;
    headers.push_back("Authorization: Bearer " + token);
    return Post(rx.url(), Encode(w), headers).status;
  };
  REQUIRE(TokenPost(auth.url(), "id", "secret").status == 200);
  CHECK(with_token("tok-1") == 204);
  CHECK(with_token("tok-2") == 401);
  CHECK(Post(rx.url(), Encode(w), kGoodHeaders).status == 401);
  REQUIRE(TokenPost(auth.url(), "id", "secret").status == 200);
  auth.Revoke("tok-2");
  CHECK(with_token("tok-2") == 401);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // tok-1 lived 1 s
  CHECK(with_token("tok-1") == 401);
  CHECK(auth.Refusals() == 4);
  CHECK(rx.Samples().size() == 1);
  CHECK(Joined(rx.Violations()) == "");
}

}  // TEST_SUITE
