// Test receiver: see receiver.h.
#include "receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <stdexcept>

#include <snappy.h>

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

bool IsValidLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Shortens `s` for a message.
std::string Shorten(std::string_view s, size_t max = 80) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
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

size_t Request::SampleCount() const {
  size_t n = 0;
  for (const auto& ts : write.timeseries()) n += static_cast<size_t>(ts.samples_size());
  return n;
}

// ---------------------------------------------------------------- Sample

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

double Sample::value() const { return std::bit_cast<double>(value_bits); }

std::string Sample::ToString() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, " %lld %.17g (0x%016llx)", static_cast<long long>(ts), value(),
                static_cast<unsigned long long>(value_bits));
  return labels + buf;
}

std::string LabelsToString(const prometheus::TimeSeries& ts) {
  std::string out = "{";
  for (int i = 0; i < ts.labels_size(); ++i) {
    if (i > 0) out += ',';
    out += ts.labels(i).name();
    out += "=\"";
    for (char c : ts.labels(i).value()) {
      if (c == '\\') out += "\\\\";
      else if (c == '"') out += "\\\"";
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

// ---------------------------------------------------------------- checks

void CheckRequest(Request* req, std::vector<std::string>* out) {
  auto violation = [out](std::string msg) { out->push_back(std::move(msg)); };

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
  want_header("Content-Type", "application/x-protobuf");
  want_header("X-Prometheus-Remote-Write-Version", "0.1.0");

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

  if (req->body.empty()) {
    req->decode_error = "empty body";
    violation("empty body");
    return;
  }
  std::string raw;
  if (!snappy::Uncompress(req->body.data(), req->body.size(), &raw)) {
    req->decode_error = "body is not snappy block format";
    violation(req->decode_error);
    return;
  }
  if (!req->write.ParseFromString(raw)) {
    req->decode_error = "body is not a prometheus.WriteRequest";
    violation(req->decode_error);
    return;
  }
  req->decoded = true;

  if (req->write.timeseries_size() == 0) violation("request carries no series");
  std::set<std::string> seen;
  for (int i = 0; i < req->write.timeseries_size(); ++i) {
    const auto& ts = req->write.timeseries(i);
    std::string name = LabelsToString(ts);
    std::string where = "series #" + std::to_string(i) + " " + Shorten(name) + ": ";
    if (ts.labels_size() == 0) violation(where + "no labels");
    bool has_name = false;
    for (int j = 0; j < ts.labels_size(); ++j) {
      const auto& l = ts.labels(j);
      if (l.name().empty()) violation(where + "empty label name");
      else if (!IsValidLabelName(l.name())) violation(where + "invalid label name '" + l.name() + "'");
      if (l.value().empty()) violation(where + "empty value for label '" + l.name() + "'");
      if (l.name() == "__name__") has_name = true;
      if (j > 0) {
        const std::string& prev = ts.labels(j - 1).name();
        if (prev == l.name()) violation(where + "label name '" + l.name() + "' repeated");
        else if (prev > l.name()) violation(where + "labels not sorted by name ('" + prev + "' before '" + l.name() + "')");
      }
    }
    if (!has_name) violation(where + "no __name__ label");
    if (ts.samples_size() == 0) violation(where + "no samples");
    for (int j = 1; j < ts.samples_size(); ++j) {
      if (ts.samples(j).timestamp() < ts.samples(j - 1).timestamp()) {
        violation(where + "samples not ordered by timestamp (" + std::to_string(ts.samples(j - 1).timestamp()) +
                  " before " + std::to_string(ts.samples(j).timestamp()) + ")");
        break;
      }
    }
    if (!seen.insert(name).second) violation(where + "label set repeated in another TimeSeries of the request");
  }
}

// ---------------------------------------------------------------- Receiver

Receiver::Receiver() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("receiver: socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
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

size_t Receiver::RequestCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
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

Response Receiver::Handle(Request req, size_t* index) {
  std::vector<std::string> problems;
  CheckRequest(&req, &problems);

  std::lock_guard<std::mutex> lock(mu_);
  Response r = default_;
  if (!script_.empty()) {
    r = std::move(script_.front());
    script_.pop_front();
  }
  *index = requests_.size();
  req.answered_status = r.fault == Response::Fault::kNone ? r.status : 0;
  std::string prefix = "request #" + std::to_string(*index + 1) + " (" + req.method + " " + req.target + "): ";
  for (auto& p : problems) violations_.push_back(prefix + p);
  if (req.decoded) {
    bool accepted = req.answered_status >= 200 && req.answered_status < 300;
    for (const auto& ts : req.write.timeseries()) {
      std::string labels = LabelsToString(ts);
      for (const auto& s : ts.samples()) {
        Sample sample{labels, s.timestamp(), Bits(s.value())};
        if (accepted) accepted_.push_back(sample);
        all_.push_back(std::move(sample));
      }
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
          if (!r.body.empty()) out += "Content-Type: text/plain; charset=utf-8\r\n";
          out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
          if (!keep_alive) out += "Connection: close\r\n";
          out += "\r\n";
          out += r.body;
        } else {
          if (!keep_alive) out += "Connection: close\r\n";
          out += "\r\n";
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
