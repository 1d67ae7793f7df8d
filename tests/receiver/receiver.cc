// Test receiver: see receiver.h.
#include "receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <stdexcept>

namespace testrx {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

void SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the peer went away: nothing to do in a test receiver
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

// ---------------------------------------------------------------- Response

Response Response::Status(int status, std::string body, Headers headers) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

Response Response::Slow(int delay_ms, int status) {
  Response r;
  r.status = status;
  r.delay_ms = delay_ms;
  return r;
}

static Response FaultResponse(Response::Fault f) {
  Response r;
  r.status = 0;
  r.fault = f;
  return r;
}

Response Response::Drop() { return FaultResponse(Fault::kDrop); }
Response Response::Reset() { return FaultResponse(Fault::kReset); }
Response Response::CloseMidStatusLine() { return FaultResponse(Fault::kCloseMidStatusLine); }
Response Response::CloseMidBody() { return FaultResponse(Fault::kCloseMidBody); }
Response Response::MalformedStatusLine() { return FaultResponse(Fault::kMalformedStatusLine); }
Response Response::Hang() { return FaultResponse(Fault::kHang); }

// ---------------------------------------------------------------- Request

std::string Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return v;
  }
  return {};
}

bool Request::HasHeader(std::string_view name) const { return HeaderCount(name) > 0; }

size_t Request::HeaderCount(std::string_view name) const {
  size_t n = 0;
  for (const auto& h : headers) n += IEquals(h.first, name) ? 1 : 0;
  return n;
}

// ---------------------------------------------------------------- checks

namespace {

using Violation = std::function<void(std::string)>;

// Whether the request says it carries a 2.0 body: a Content-Type naming the
// 2.0 message (parameters compared without spaces, case-insensitively).
bool SaysV2(const Request& req) {
  for (const auto& [k, v] : req.headers) {
    if (!IEquals(k, "Content-Type")) continue;
    std::string t;
    for (char c : Lower(v)) {
      if (c != ' ' && c != '\t') t += c;
    }
    if (t.find("proto=io.prometheus.write.v2.request") != std::string::npos) return true;
  }
  return false;
}

// The headers: the same for both protocols but for the expected
// Content-Type and version.
void CheckHeaders(const Request* req, std::string_view content_type, std::string_view version,
                  const Violation& violation) {
  if (req->method != "POST") violation("method is '" + req->method + "', want POST");

  auto want_header = [&](std::string_view name, std::string_view expected) {
    size_t n = req->HeaderCount(name);
    if (n == 0) {
      violation("missing header " + std::string(name) + " (want '" + std::string(expected) + "')");
    } else if (n > 1) {
      violation("header " + std::string(name) + " sent " + std::to_string(n) + " times");
    } else if (req->Header(name) != expected) {
      violation("header " + std::string(name) + " is '" + req->Header(name) + "', want '" + std::string(expected) + "'");
    }
  };
  want_header("Content-Encoding", "snappy");
  want_header("Content-Type", content_type);
  want_header("X-Prometheus-Remote-Write-Version", version);

  size_t ua = req->HeaderCount("User-Agent");
  if (ua != 1) {
    violation("header User-Agent sent " + std::to_string(ua) + " times, want once");
  } else if (req->Header("User-Agent").rfind("prometheus_sink/", 0) != 0) {
    violation("header User-Agent is '" + req->Header("User-Agent") + "', want 'prometheus_sink/...'");
  }
  for (const auto& [k, v] : req->headers) {
    if (IEquals(k, "Expect") && Lower(v).find("100-continue") != std::string::npos) {
      violation("header Expect: " + v + " (no 100-continue round trip allowed)");
    }
  }
}

}  // namespace

void CheckRequest(Request* req, std::vector<std::string>* out, rwdecode::Names names) {
  Violation violation = [out](std::string msg) { out->push_back(std::move(msg)); };
  const Protocol protocol = SaysV2(*req) ? Protocol::kV2 : Protocol::kV1;
  if (protocol == Protocol::kV2) {
    CheckHeaders(req, kV2ContentType, "2.0.0", violation);
  } else {
    CheckHeaders(req, "application/x-protobuf", "0.1.0", violation);
  }
  rwdecode::DecodeRequest(req->body, protocol, req, out, nullptr, names);
}

// ---------------------------------------------------------------- Receiver

Receiver::Receiver(uint16_t port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("receiver: socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0) {
    int e = errno;
    ::close(listen_fd_);
    throw std::runtime_error(std::string("receiver: bind/listen: ") + std::strerror(e));
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread(&Receiver::AcceptLoop, this);
}

Receiver::~Receiver() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  accept_thread_.join();
  ::close(listen_fd_);
  // No new connection threads appear once the accept loop has ended.
  for (auto& t : conn_threads_) t.join();
}

std::string Receiver::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void Receiver::Enqueue(Response r) {
  std::lock_guard<std::mutex> lock(mu_);
  script_.push_back(std::move(r));
}

void Receiver::SetDefault(Response r) {
  std::lock_guard<std::mutex> lock(mu_);
  default_ = std::move(r);
}

void Receiver::SetGate(Gate gate) {
  std::lock_guard<std::mutex> lock(mu_);
  gate_ = std::move(gate);
}

void Receiver::RequireSigV4(SigV4Keys keys) {
  SetGate([keys](const Request& req) -> std::optional<Response> {
    std::string why = VerifySigV4(req, keys, std::chrono::system_clock::now());
    if (why.empty()) return std::nullopt;
    return Response::Status(403, why);
  });
}

void Receiver::SetHandler(Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handler_ = std::move(handler);
}

void Receiver::SetV2Mode(V2Mode mode, int64_t not_written) {
  std::lock_guard<std::mutex> lock(mu_);
  v2_mode_ = mode;
  v2_not_written_ = not_written;
}

size_t Receiver::RequestCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

size_t Receiver::RequestCount(Protocol protocol) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(std::count_if(requests_.begin(), requests_.end(),
                                           [&](const Request& r) { return r.protocol == protocol; }));
}

std::vector<Request> Receiver::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::vector<Sample> Receiver::Samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

std::vector<Sample> Receiver::AllSamples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return all_;
}

std::vector<SeenMetadata> Receiver::Metadata() const {
  std::lock_guard<std::mutex> lock(mu_);
  return metadata_;
}

std::vector<SeenHistogram> Receiver::Histograms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return histograms_;
}

std::vector<SeenExemplar> Receiver::Exemplars() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exemplars_;
}

std::vector<std::string> Receiver::Violations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return violations_;
}

size_t Receiver::ConnectionCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_;
}

bool Receiver::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void Receiver::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  script_.clear();
  requests_.clear();
  accepted_.clear();
  all_.clear();
  metadata_.clear();
  histograms_.clear();
  exemplars_.clear();
  violations_.clear();
}

uint16_t Receiver::ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("receiver: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("receiver: bind failed");
  }
  ::close(fd);  // never listened: connecting there is refused
  return ntohs(addr.sin_port);
}

void Receiver::AcceptLoop() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 50);
    if (r <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    ++connections_;
    conn_fds_.push_back(fd);
    conn_threads_.emplace_back(&Receiver::Serve, this, fd);
  }
}

void Receiver::AcceptUtf8Names() {
  std::lock_guard<std::mutex> lock(mu_);
  names_ = rwdecode::Names::kUtf8;
}

void Receiver::SetRandomDelay(int min_ms, int max_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  random_delay_min_ms_ = min_ms;
  random_delay_max_ms_ = max_ms;
}

Response Receiver::Handle(Request req, size_t* index) {
  Gate gate;
  Handler handler;
  rwdecode::Names names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gate = gate_;
    handler = handler_;
    names = names_;
  }
  if (handler) {
    Response r = handler(req);
    std::lock_guard<std::mutex> lock(mu_);
    *index = requests_.size();
    req.answered_status = r.fault == Response::Fault::kNone ? r.status : 0;
    requests_.push_back(std::move(req));
    cv_.notify_all();
    return r;
  }

  std::vector<std::string> problems;
  CheckRequest(&req, &problems, names);
  // Outside the lock: a gate may take its own locks.
  std::optional<Response> refusal = gate ? gate(req) : std::nullopt;

  std::lock_guard<std::mutex> lock(mu_);
  Response r = default_;
  const bool scripted = !refusal && !script_.empty();
  if (refusal) {
    r = std::move(*refusal);
    req.refused = r.body;
  } else if (scripted) {
    r = std::move(script_.front());
    script_.pop_front();
  } else if (random_delay_max_ms_ > 0) {
    // xorshift64: a fixed seed, so a run's delays are reproducible
    rng_state_ ^= rng_state_ << 13;
    rng_state_ ^= rng_state_ >> 7;
    rng_state_ ^= rng_state_ << 17;
    const int span = random_delay_max_ms_ - random_delay_min_ms_ + 1;
    r.delay_ms = random_delay_min_ms_ + static_cast<int>(rng_state_ % static_cast<uint64_t>(span));
  }
  const bool plain_2xx = r.fault == Response::Fault::kNone && r.status >= 200 && r.status < 300;
  bool stored = plain_2xx && !refusal;
  // The 2.0 mode shapes the default answer; a scripted one goes as written.
  if (req.is_v2() && plain_2xx && !scripted && !refusal) {
    auto is_written_header = [](const std::pair<std::string, std::string>& h) {
      std::string name = Lower(h.first);
      return name.rfind("x-prometheus-remote-write-", 0) == 0 && name.size() > 8 &&
             name.compare(name.size() - 8, 8, "-written") == 0;
    };
    switch (v2_mode_) {
      case V2Mode::kSpeaks2:
        if (std::none_of(r.headers.begin(), r.headers.end(), is_written_header)) {
          int64_t written = std::max<int64_t>(0, static_cast<int64_t>(req.SampleCount()) - v2_not_written_);
          r.headers.emplace_back("X-Prometheus-Remote-Write-Samples-Written", std::to_string(written));
          r.headers.emplace_back("X-Prometheus-Remote-Write-Histograms-Written", std::to_string(req.histograms.size()));
          r.headers.emplace_back("X-Prometheus-Remote-Write-Exemplars-Written", std::to_string(req.exemplars.size()));
        }
        break;
      case V2Mode::kOnly1:
        // A 1.0 receiver decodes the 2.0 body as a WriteRequest without
        // series (fields 4 and 5 are unknown to it) and stores nothing.
        r.status = 204;
        r.body.clear();
        r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(), is_written_header), r.headers.end());
        stored = false;
        break;
      case V2Mode::kUnsupportedMediaType:
        r.status = 415;
        r.body = "unsupported Content-Type \"" + req.Header("Content-Type") +
                 "\": this receiver accepts remote-write 1.0 (application/x-protobuf) only\n";
        r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(), is_written_header), r.headers.end());
        stored = false;
        break;
    }
  }
  *index = requests_.size();
  req.answered_status = r.fault == Response::Fault::kNone ? r.status : 0;
  req.stored = stored && req.decoded;
  std::string prefix = "request #" + std::to_string(*index + 1) + " (" + req.method + " " + req.target +
                       (req.is_v2() ? ", 2.0" : "") + "): ";
  for (auto& p : problems) violations_.push_back(prefix + p);
  if (req.decoded) {
    for (const Sample& sample : req.samples) {
      if (req.stored) accepted_.push_back(sample);
      all_.push_back(sample);
    }
    if (req.stored) {
      metadata_.insert(metadata_.end(), req.metadata.begin(), req.metadata.end());
      histograms_.insert(histograms_.end(), req.histograms.begin(), req.histograms.end());
      exemplars_.insert(exemplars_.end(), req.exemplars.begin(), req.exemplars.end());
    }
  }
  requests_.push_back(std::move(req));
  cv_.notify_all();
  return r;
}

// Serves one connection until the peer closes it, a fault closes it, or the
// receiver stops.
void Receiver::Serve(int fd) {
  std::string buf;
  std::vector<char> tmp(1 << 16);
  bool linger_reset = false;

  auto read_more = [&]() -> bool {
    for (;;) {
      ssize_t n = ::recv(fd, tmp.data(), tmp.size(), 0);
      if (n > 0) {
        buf.append(tmp.data(), static_cast<size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
  };
  auto read_line = [&](size_t from, size_t* eol) -> bool {
    while ((*eol = buf.find("\r\n", from)) == std::string::npos) {
      if (!read_more()) return false;
    }
    return true;
  };

  for (;;) {
    size_t hdr_end;
    while ((hdr_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) goto done;
    }
    Request req;
    bool keep_alive = true;
    bool chunked = false;
    size_t content_length = 0;
    {
      std::string_view head(buf.data(), hdr_end);
      size_t eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      size_t sp1 = line.find(' ');
      size_t sp2 = line.find(' ', sp1 == std::string_view::npos ? line.size() : sp1 + 1);
      if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) goto done;  // not HTTP
      req.method = std::string(line.substr(0, sp1));
      req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
      if (line.substr(sp2 + 1) == "HTTP/1.0") keep_alive = false;
      std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
      while (!rest.empty()) {
        size_t e = rest.find("\r\n");
        std::string_view h = rest.substr(0, e);
        rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
        size_t colon = h.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name(Trim(h.substr(0, colon)));
        std::string value(Trim(h.substr(colon + 1)));
        if (IEquals(name, "Content-Length")) content_length = std::strtoull(value.c_str(), nullptr, 10);
        if (IEquals(name, "Transfer-Encoding") && Lower(value).find("chunked") != std::string::npos) chunked = true;
        if (IEquals(name, "Connection") && IEquals(value, "close")) keep_alive = false;
        if (IEquals(name, "Expect") && Lower(value).find("100-continue") != std::string::npos) {
          SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n");  // recorded as a violation by CheckRequest
        }
        req.headers.emplace_back(std::move(name), std::move(value));
      }
    }
    buf.erase(0, hdr_end + 4);

    if (chunked) {
      for (;;) {
        size_t eol;
        if (!read_line(0, &eol)) goto done;
        size_t size = std::strtoull(buf.substr(0, eol).c_str(), nullptr, 16);
        buf.erase(0, eol + 2);
        if (size == 0) {
          // Trailers (ignored) up to an empty line.
          for (;;) {
            if (!read_line(0, &eol)) goto done;
            buf.erase(0, eol + 2);
            if (eol == 0) break;
          }
          break;
        }
        while (buf.size() < size + 2) {
          if (!read_more()) goto done;
        }
        req.body.append(buf, 0, size);
        buf.erase(0, size + 2);
      }
    } else {
      while (buf.size() < content_length) {
        if (!read_more()) goto done;
      }
      req.body.assign(buf, 0, content_length);
      buf.erase(0, content_length);
    }
    req.received = std::chrono::steady_clock::now();
    req.received_wall = std::chrono::system_clock::now();

    size_t index = 0;
    Response r = Handle(std::move(req), &index);
    if (r.delay_ms > 0) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(r.delay_ms), [&] { return stopping_; });
      if (stopping_) goto done;
    }

    switch (r.fault) {
      case Response::Fault::kNone: {
        std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) + "\r\n";
        for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
        if (r.status != 204 && r.status != 304 && !(r.status >= 100 && r.status < 200)) {
          bool typed = std::any_of(r.headers.begin(), r.headers.end(),
                                   [](const auto& h) { return IEquals(h.first, "Content-Type"); });
          if (!r.body.empty() && !typed) out += "Content-Type: text/plain; charset=utf-8\r\n";
          out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
          if (!keep_alive) out += "Connection: close\r\n";
          out += "\r\n";
          out += r.body;
        } else {
          if (!keep_alive) out += "Connection: close\r\n";
          out += "\r\n";
        }
        {
          // Stamped before the answer leaves: the client cannot send its
          // next request before this moment.
          std::lock_guard<std::mutex> lock(mu_);
          if (index < requests_.size()) requests_[index].answered = std::chrono::steady_clock::now();
        }
        SendAll(fd, out);
        if (!keep_alive) goto done;
        break;
      }
      case Response::Fault::kDrop:
        goto done;
      case Response::Fault::kReset:
        linger_reset = true;
        goto done;
      case Response::Fault::kCloseMidStatusLine:
        SendAll(fd, "HTTP/1.1 20");
        goto done;
      case Response::Fault::kCloseMidBody:
        SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\npartial body");
        goto done;
      case Response::Fault::kMalformedStatusLine:
        SendAll(fd, "HTTP/1.1 two hundred OK\r\nContent-Length: 0\r\n\r\n");
        goto done;
      case Response::Fault::kHang:
        // Say nothing; whatever else the client sends is read and ignored.
        for (;;) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (stopping_) goto done;
          }
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 50) <= 0) continue;
          ssize_t n = ::recv(fd, tmp.data(), tmp.size(), 0);
          if (n == 0 || (n < 0 && errno != EINTR)) goto done;  // the client gave up
        }
    }
  }

done: {
  std::lock_guard<std::mutex> lock(mu_);
  conn_fds_.erase(std::remove(conn_fds_.begin(), conn_fds_.end(), fd), conn_fds_.end());
  if (linger_reset) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(fd);
}
}

}  // namespace testrx
