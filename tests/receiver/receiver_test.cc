// Tests of the test receiver itself, driven by libcurl: that it records and
// decodes requests, detects each protocol violation it claims to detect, and
// misbehaves exactly as scripted. The integration tests rely on all three.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <curl/curl.h>
#include <snappy.h>

#include <chrono>
#include <string>
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
