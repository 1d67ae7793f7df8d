// null_receiver: a remote-write receiver that accepts everything, for benchmarks.
//
//   null_receiver [--decode] [--port P] [--delay-ms N]
//
// Listens on 127.0.0.1 (a free port unless --port is given) and prints
// "PORT <n>" on stdout once it accepts connections. Every POST body is read
// completely and answered "204 No Content" on a kept-alive connection; the
// receiver counts requests and body bytes. With --decode it also snappy-
// decompresses and parses each body as a prometheus.WriteRequest and counts
// the samples (a body that does not decode is answered 400 and counted in
// decode_errors). With --delay-ms N, the answer to each POST is sent N
// milliseconds after its body was read (and decoded): the connection's
// thread sleeps, so requests on different connections wait at the same time,
// as at a remote receiver with that latency; a request is counted when it
// is answered, after its delay. `GET /stats` is never delayed.
// `GET /stats` answers the totals as JSON:
//
//   {"requests":N,"bytes":N,"samples":N,"decode_errors":N,"connections":N,"decoding":false}
//
// and SIGTERM / SIGINT print the same JSON, prefixed with "STATS ", on stdout
// before exiting. `samples` stays 0 without --decode.
//
// Design: raw sockets, one blocking thread per connection (a sender keeps
// one connection, so this is one thread per client and no event-loop
// overhead); a body is received straight into a reused per-connection
// buffer. bench/receiver_ceiling measures how fast this is. Chunked request
// bodies are not supported (answered 411): libcurl sends Content-Length for
// the bodies the extension and receiver_ceiling post.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <chrono>
#include <string_view>
#include <thread>

#include <snappy.h>

#include "remote.pb.h"

namespace {

std::atomic<uint64_t> g_requests{0};
std::atomic<uint64_t> g_bytes{0};
std::atomic<uint64_t> g_samples{0};
std::atomic<uint64_t> g_decode_errors{0};
std::atomic<uint64_t> g_connections{0};
bool g_decode = false;
int g_delay_ms = 0;  // --delay-ms: how long each POST's answer waits

std::string StatsJson() {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"requests\":%llu,\"bytes\":%llu,\"samples\":%llu,\"decode_errors\":%llu,"
                "\"connections\":%llu,\"decoding\":%s}",
                static_cast<unsigned long long>(g_requests.load()),
                static_cast<unsigned long long>(g_bytes.load()),
                static_cast<unsigned long long>(g_samples.load()),
                static_cast<unsigned long long>(g_decode_errors.load()),
                static_cast<unsigned long long>(g_connections.load()),
                g_decode ? "true" : "false");
  return buf;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (std::tolower(x) != std::tolower(y)) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Samples in a snappy-compressed WriteRequest, or -1 when it does not decode.
int64_t CountSamples(const std::string& body, std::string* scratch,
                     prometheus::WriteRequest* msg) {
  if (!snappy::Uncompress(body.data(), body.size(), scratch)) return -1;
  if (!msg->ParseFromString(*scratch)) return -1;
  int64_t n = 0;
  for (const auto& ts : msg->timeseries()) n += ts.samples_size();
  return n;
}

constexpr std::string_view k204 = "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n";

// Serves one connection until the peer closes it or breaks the protocol.
void Serve(int fd) {
  std::string buf;    // bytes received and not consumed yet
  std::string body;   // the current request body (reused)
  std::string scratch;
  prometheus::WriteRequest msg;
  char chunk[65536];

  for (;;) {
    size_t header_end;
    while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() > 64 * 1024) {
        SendAll(fd, "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      buf.append(chunk, static_cast<size_t>(n));
    }

    std::string_view head(buf.data(), header_end);
    size_t eol = head.find("\r\n");
    std::string_view request_line = head.substr(0, eol);
    size_t sp1 = request_line.find(' ');
    size_t sp2 = request_line.find(' ', sp1 == std::string_view::npos ? sp1 : sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
      SendAll(fd, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    std::string method(request_line.substr(0, sp1));
    std::string target(request_line.substr(sp1 + 1, sp2 - sp1 - 1));

    uint64_t content_length = 0;
    bool chunked = false, close_after = false, expect_continue = false;
    size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string_view::npos) end = head.size();
      std::string_view line = head.substr(pos, end - pos);
      pos = end + 2;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = Trim(line.substr(0, colon));
      std::string_view value = Trim(line.substr(colon + 1));
      if (IEquals(name, "Content-Length")) {
        content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
      } else if (IEquals(name, "Transfer-Encoding")) {
        chunked = !IEquals(value, "identity");
      } else if (IEquals(name, "Connection")) {
        close_after = IEquals(value, "close");
      } else if (IEquals(name, "Expect")) {
        expect_continue = IEquals(value, "100-continue");
      }
    }
    buf.erase(0, header_end + 4);

    if (chunked) {
      SendAll(fd, "HTTP/1.1 411 Length Required\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    if (expect_continue && !SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return;

    // The body: what is already buffered, then straight from the socket.
    size_t have = std::min<uint64_t>(buf.size(), content_length);
    body.assign(buf, 0, have);
    buf.erase(0, have);
    body.resize(content_length);
    while (have < content_length) {
      ssize_t n = ::recv(fd, body.data() + have, content_length - have, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      have += static_cast<size_t>(n);
    }

    if (method == "GET" && target == "/stats") {
      std::string json = StatsJson();
      std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                        std::to_string(json.size()) + "\r\n\r\n" + json;
      if (!SendAll(fd, out)) return;
    } else if (method == "POST") {
      int64_t n = g_decode ? CountSamples(body, &scratch, &msg) : 0;
      // Counted when answered: with --delay-ms, after the delay, so that a
      // client waiting for the counters waits as long as for the answers.
      if (g_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(g_delay_ms));
      g_requests.fetch_add(1, std::memory_order_relaxed);
      g_bytes.fetch_add(content_length, std::memory_order_relaxed);
      const bool ok = n >= 0;
      if (ok) {
        g_samples.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      } else {
        g_decode_errors.fetch_add(1, std::memory_order_relaxed);
      }
      if (ok) {
        if (!SendAll(fd, k204)) return;
      } else {
        constexpr std::string_view msg400 = "body is not a snappy-compressed WriteRequest";
        std::string out = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: " +
                          std::to_string(msg400.size()) + "\r\n\r\n" + std::string(msg400);
        if (!SendAll(fd, out)) return;
      }
    } else {
      if (!SendAll(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")) return;
    }
    if (close_after) return;
  }
}

// Waits for SIGTERM/SIGINT (blocked in every thread), prints the totals, exits.
void SignalLoop(sigset_t set) {
  int sig = 0;
  sigwait(&set, &sig);
  std::printf("STATS %s\n", StatsJson().c_str());
  std::fflush(stdout);
  std::_Exit(0);
}

[[noreturn]] void Usage() {
  std::fprintf(stderr, "usage: null_receiver [--decode] [--port P] [--delay-ms N]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--decode") {
      g_decode = true;
    } else if (a == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (a == "--delay-ms" && i + 1 < argc) {
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*argv[i] == '\0' || *end != '\0' || v < 0 || v > 3600000) Usage();
      g_delay_ms = static_cast<int>(v);
    } else {
      Usage();
    }
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread(SignalLoop, set).detach();

  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) { std::perror("null_receiver: socket"); return 1; }
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("null_receiver: bind");
    return 1;
  }
  if (::listen(lfd, 128) != 0) { std::perror("null_receiver: listen"); return 1; }
  socklen_t len = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("PORT %d\n", ntohs(addr.sin_port));
  std::fflush(stdout);

  for (;;) {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) { usleep(10000); continue; }
      std::perror("null_receiver: accept");
      return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    g_connections.fetch_add(1, std::memory_order_relaxed);
    std::thread([fd] {
      Serve(fd);
      ::close(fd);
    }).detach();
  }
}
