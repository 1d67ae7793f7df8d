// Tests of the test receiver itself, driven by libcurl: that it records and
// decodes requests, detects each protocol violation it claims to detect, and
// misbehaves exactly as scripted. The integration tests rely on all three.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <curl/curl.h>
#include <snappy.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "receiver.h"

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

}  // TEST_SUITE
