// Test OAuth2 token endpoint: see token_endpoint.h.
#include "token_endpoint.h"

#include <cctype>

namespace testrx {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding: '+' is a space, %XX a byte.
// False for a broken escape.
bool FormDecode(std::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out->push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size() || HexDigit(s[i + 1]) < 0 || HexDigit(s[i + 2]) < 0) return false;
      out->push_back(static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2])));
      i += 2;
    } else {
      out->push_back(s[i]);
    }
  }
  return true;
}

bool Base64Decode(std::string_view in, std::string* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out->clear();
  if (in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      int d = value(c);
      if (d < 0 || pad > 0) return false;
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out->push_back(static_cast<char>((v >> 16) & 0xFF));
    if (pad < 2) out->push_back(static_cast<char>((v >> 8) & 0xFF));
    if (pad < 1) out->push_back(static_cast<char>(v & 0xFF));
  }
  return true;
}

Response Json(int status, const std::string& body) {
  return Response::Status(status, body, {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}});
}

}  // namespace

TokenEndpoint::TokenEndpoint(std::string client_id, std::string client_secret, int64_t lifetime_s)
    : client_id_(std::move(client_id)), client_secret_(std::move(client_secret)), lifetime_s_(lifetime_s) {
  rx_.SetHandler([this](const Request& req) { return Handle(req); });
}

void TokenEndpoint::AcceptClientAuth(std::string only) {
  std::lock_guard<std::mutex> lock(mu_);
  accept_auth_ = std::move(only);
}

std::string TokenEndpoint::url() const { return rx_.url("/oauth2/token"); }

void TokenEndpoint::SetLifetime(int64_t lifetime_s) {
  std::lock_guard<std::mutex> lock(mu_);
  lifetime_s_ = lifetime_s;
}

void TokenEndpoint::FailWith(std::optional<Response> r) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_ = std::move(r);
}

size_t TokenEndpoint::Fetches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fetches_;
}

size_t TokenEndpoint::RequestCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::vector<std::pair<std::string, std::string>> TokenEndpoint::LastForm() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_form_;
}

std::string TokenEndpoint::LastClientAuth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_auth_;
}

std::string TokenEndpoint::LastToken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_token_;
}

std::vector<std::string> TokenEndpoint::Violations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return violations_;
}

void TokenEndpoint::Revoke(const std::string& token) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(token);
  if (it != tokens_.end()) it->second.revoked = true;
}

bool TokenEndpoint::IsValid(const std::string& token) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end() || it->second.revoked) return false;
  return !it->second.expiring || std::chrono::steady_clock::now() < it->second.expires;
}

Receiver::Gate TokenEndpoint::BearerGate() {
  return [this](const Request& req) -> std::optional<Response> {
    std::string auth = req.Header("Authorization");
    if (req.HeaderCount("Authorization") == 1 && auth.rfind("Bearer ", 0) == 0 && IsValid(auth.substr(7))) {
      return std::nullopt;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++refusals_;
    }
    return Response::Status(401, R"({"error":"invalid_token"})",
                            {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Bearer error=\"invalid_token\""}});
  };
}

size_t TokenEndpoint::Refusals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refusals_;
}

Response TokenEndpoint::Handle(const Request& req) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_;
  const std::string n = "token request #" + std::to_string(requests_) + ": ";
  if (req.method != "POST") violations_.push_back(n + "method " + req.method + ", want POST");
  if (req.target != "/oauth2/token") {
    violations_.push_back(n + "target " + req.target);
    return Json(404, R"({"error":"not_found"})");
  }
  if (req.Header("Content-Type") != "application/x-www-form-urlencoded") {
    violations_.push_back(n + "Content-Type '" + req.Header("Content-Type") + "'");
  }

  last_form_.clear();
  std::string id, secret;
  bool form_id = false;
  size_t start = 0;
  while (start <= req.body.size() && !req.body.empty()) {
    size_t end = req.body.find('&', start);
    if (end == std::string::npos) end = req.body.size();
    std::string_view field = std::string_view(req.body).substr(start, end - start);
    start = end + 1;
    size_t eq = field.find('=');
    std::string name, value;
    if (eq == std::string_view::npos || !FormDecode(field.substr(0, eq), &name) ||
        !FormDecode(field.substr(eq + 1), &value)) {
      violations_.push_back(n + "malformed form field '" + std::string(field) + "'");
      continue;
    }
    if (name == "client_id") {
      id = value;
      form_id = true;
    }
    if (name == "client_secret") secret = value;
    last_form_.emplace_back(std::move(name), std::move(value));
  }

  last_auth_.clear();
  std::string auth = req.Header("Authorization");
  if (auth.rfind("Basic ", 0) == 0) {
    last_auth_ = "basic";
    if (form_id) violations_.push_back(n + "the client authenticated twice (Basic and form fields)");
    std::string decoded;
    size_t colon;
    if (!Base64Decode(auth.substr(6), &decoded) || (colon = decoded.find(':')) == std::string::npos ||
        !FormDecode(std::string_view(decoded).substr(0, colon), &id) ||
        !FormDecode(std::string_view(decoded).substr(colon + 1), &secret)) {
      violations_.push_back(n + "malformed Basic credentials");
    }
  } else if (form_id) {
    last_auth_ = "form";
  }

  if (fail_) return *fail_;
  std::string grant;
  for (const auto& [k, v] : last_form_) {
    if (k == "grant_type") grant = v;
  }
  if (grant != "client_credentials") {
    violations_.push_back(n + "grant_type '" + grant + "'");
    return Json(400, R"({"error":"unsupported_grant_type"})");
  }
  if (last_auth_.empty() || id != client_id_ || secret != client_secret_ ||
      (!accept_auth_.empty() && last_auth_ != accept_auth_)) {
    return Json(401, R"({"error":"invalid_client","error_description":"Client authentication failed"})");
  }

  ++fetches_;
  last_token_ = "tok-" + std::to_string(fetches_);
  Issued issued;
  issued.expiring = lifetime_s_ > 0;
  issued.expires = std::chrono::steady_clock::now() + std::chrono::seconds(lifetime_s_);
  tokens_[last_token_] = issued;
  std::string body = R"({"access_token":")" + last_token_ + R"(","token_type":"Bearer")";
  if (lifetime_s_ > 0) body += ",\"expires_in\":" + std::to_string(lifetime_s_);
  body += ",\"scope\":\"ignored\",\"ext\":{\"nested\":[1,2]}}";
  return Json(200, body);
}

}  // namespace testrx
