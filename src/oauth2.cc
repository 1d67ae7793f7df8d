#include "oauth2.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "json.h"
#include "text.h"

namespace psink {

std::string FormEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(ch);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string TokenRequestBody(std::string_view scopes, const std::vector<std::pair<std::string, std::string>>& params) {
  std::string body = "grant_type=client_credentials";
  std::string joined;
  size_t i = 0;
  while (i < scopes.size()) {
    size_t start = scopes.find_first_not_of(" \t\r\n", i);
    if (start == std::string_view::npos) break;
    size_t end = std::min(scopes.find_first_of(" \t\r\n", start), scopes.size());
    if (!joined.empty()) joined += ' ';
    joined += scopes.substr(start, end - start);
    i = end;
  }
  if (!joined.empty()) {
    body += "&scope=";
    body += FormEncode(joined);
  }
  for (const auto& [name, value] : params) {
    body += '&';
    body += FormEncode(name);
    body += '=';
    body += FormEncode(value);
  }
  return body;
}

Status ParseTokenResponse(std::string_view body, OAuth2Token* out) {
  std::vector<JsonMember> members;
  // The answer holds the token: never shown.
  Status st = ParseObjectScalars(body, &members, /*show_text=*/false);
  if (!st.ok()) return Status::Failed("the answer is not a JSON object (" + st.message() + ")");
  *out = OAuth2Token();
  bool have_token = false;
  for (const JsonMember& m : members) {
    if (m.key == "access_token") {
      if (m.kind != JsonMember::Kind::kString || m.value.empty()) {
        return Status::Failed("the answer's access_token is not a non-empty string");
      }
      bool ok = std::none_of(m.value.begin(), m.value.end(), [](char c) {
        unsigned char u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7F;
      });
      if (!ok) return Status::Failed("the answer's access_token contains a control character (not shown)");
      out->access_token = m.value;
      have_token = true;
    } else if (m.key == "expires_in" && m.kind != JsonMember::Kind::kNull) {
      const char* begin = m.value.c_str();
      char* end = nullptr;
      double v = std::strtod(begin, &end);
      if ((m.kind != JsonMember::Kind::kNumber && m.kind != JsonMember::Kind::kString) || end == begin ||
          *end != '\0' || !std::isfinite(v)) {
        return Status::Failed("the answer's expires_in is not a number: " + Shorten(m.value));
      }
      // Zero or less says nothing (as Go's oauth2 reads it); a century is
      // forever.
      out->expires_in_s = v <= 0 ? 0 : static_cast<int64_t>(std::min(v, 100.0 * 365 * 24 * 3600));
    }
  }
  if (!have_token) return Status::Failed("the answer has no access_token");
  return Status::Ok();
}

std::string HideSecrets(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
      text.replace(at, secret.size(), "***");
    }
  }
  return text;
}

std::string DescribeTokenError(std::string_view raw, const std::vector<std::string>& secrets) {
  const std::string body = HideSecrets(std::string(raw), secrets);
  std::vector<JsonMember> members;
  if (ParseObjectScalars(body, &members, /*show_text=*/false).ok()) {
    std::string error, description;
    for (const JsonMember& m : members) {
      // Hidden again: JSON escapes may have spelled a secret differently.
      if (m.key == "error" && m.kind == JsonMember::Kind::kString) error = HideSecrets(m.value, secrets);
      if (m.key == "error_description" && m.kind == JsonMember::Kind::kString) {
        description = HideSecrets(m.value, secrets);
      }
    }
    if (!error.empty()) {
      std::string out = "error " + Shorten(error, 60);
      if (!description.empty()) out += ": " + Shorten(description, 160);
      return out;
    }
  }
  std::string_view trimmed = Trim(body);
  return trimmed.empty() ? std::string() : Shorten(trimmed, 200);
}

int64_t OAuth2Tokens::RenewalMarginMs(int64_t lifetime_ms) { return std::min<int64_t>(10'000, lifetime_ms / 10); }

Status OAuth2Tokens::Get(const Fetch& fetch, int64_t now_ms, Lease* out, bool* transient) {
  std::lock_guard<std::mutex> lock(mu_);
  *transient = false;
  if (!valid_ || now_ms >= renew_at_ms_) {
    valid_ = false;
    OAuth2Token token;
    PSINK_RETURN_IF_ERROR(fetch(&token, transient));
    token_ = std::move(token.access_token);
    if (token.expires_in_s > 0) {
      int64_t lifetime_ms = token.expires_in_s * 1000;
      renew_at_ms_ = now_ms + lifetime_ms - RenewalMarginMs(lifetime_ms);
    } else {
      renew_at_ms_ = std::numeric_limits<int64_t>::max();
    }
    valid_ = true;
    ++generation_;
    ++fetches_;
  }
  out->token = token_;
  out->generation = generation_;
  return Status::Ok();
}

void OAuth2Tokens::Invalidate(uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  if (generation == generation_) valid_ = false;
}

uint64_t OAuth2Tokens::fetches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fetches_;
}

}  // namespace psink
