// receiver_ceiling: how fast a receiver absorbs remote-write POSTs from one
// tight libcurl client, i.e. the ceiling the receiver puts on any benchmark.
//
//   receiver_ceiling URL [REQUESTS=20000] [BODY_BYTES=20480]
//
// POSTs the same BODY_BYTES body REQUESTS times over one kept-alive
// connection, with the headers the extension sends (no `Expect:` round trip),
// and prints one line:
//
//   CEILING requests=N body_bytes=B seconds=S req_per_s=R mb_per_s=M connections=C
//
// (MB = 10^6 bytes of body). Exits 1 when a request fails or is not
// answered 2xx. The body is pseudo-random bytes, not a valid WriteRequest:
// point it at a receiver that does not decode.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <curl/curl.h>

namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: receiver_ceiling URL [REQUESTS=20000] [BODY_BYTES=20480]\n");
    return 2;
  }
  const char* url = argv[1];
  const long requests = argc > 2 ? std::atol(argv[2]) : 20000;
  const long body_bytes = argc > 3 ? std::atol(argv[3]) : 20480;
  if (requests <= 0 || body_bytes <= 0) {
    std::fprintf(stderr, "receiver_ceiling: REQUESTS and BODY_BYTES must be positive\n");
    return 2;
  }

  std::string body(static_cast<size_t>(body_bytes), '\0');
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (char& c : body) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    c = static_cast<char>(x);
  }

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/x-protobuf");
  headers = curl_slist_append(headers, "Content-Encoding: snappy");
  headers = curl_slist_append(headers, "X-Prometheus-Remote-Write-Version: 0.1.0");
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "receiver_ceiling");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);

  long connections = 0;
  int rc = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < requests; ++i) {
    CURLcode res = curl_easy_perform(curl);
    long status = 0, connects = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
    connections += connects;
    if (res != CURLE_OK || status < 200 || status > 299) {
      std::fprintf(stderr, "receiver_ceiling: request %ld: %s, HTTP %ld\n", i + 1,
                   curl_easy_strerror(res), status);
      rc = 1;
      break;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (rc == 0) {
    std::printf("CEILING requests=%ld body_bytes=%ld seconds=%.3f req_per_s=%.0f mb_per_s=%.1f connections=%ld\n",
                requests, body_bytes, seconds, requests / seconds,
                static_cast<double>(requests) * body_bytes / seconds / 1e6, connections);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  curl_global_cleanup();
  return rc;
}
