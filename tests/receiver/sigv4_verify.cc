// AWS SigV4 verifier: see sigv4_verify.h.
#include "sigv4_verify.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <utility>
#include <vector>

#include "receiver.h"

namespace testrx {
namespace {

std::string Hex(std::string_view raw) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool Unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

// URI-encode as the specification says: unreserved characters stay, every
// other byte becomes %XX with upper-case hex; '/' stays when `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded; anything else (a broken escape included) as it is.
std::string UriDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexDigit(s[i + 1]), lo = HexDigit(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view TrimWs(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A header value as the canonical headers hold it: trimmed, runs of white
// space inside as one space.
std::string CanonicalValue(std::string_view v) {
  v = TrimWs(v);
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

// 20150830T123600Z -> seconds since the epoch; false when malformed.
bool ParseAmzDate(const std::string& s, int64_t* out) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return false;
  for (size_t i = 0; i < 15; ++i) {
    if (i != 8 && !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  struct tm tm {};
  tm.tm_year = std::stoi(s.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(s.substr(4, 2)) - 1;
  tm.tm_mday = std::stoi(s.substr(6, 2));
  tm.tm_hour = std::stoi(s.substr(9, 2));
  tm.tm_min = std::stoi(s.substr(11, 2));
  tm.tm_sec = std::stoi(s.substr(13, 2));
  *out = static_cast<int64_t>(timegm(&tm));
  return true;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return Hex(std::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string CanonicalUri(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> out;
  for (std::string_view seg : Split(path, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(seg);
  }
  std::string normalized = "/";
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) normalized += '/';
    normalized += out[i];
  }
  if (path.back() == '/' && !out.empty()) normalized += '/';
  // The path as sent is already encoded once; encoding it again is the
  // specification's "URI-encode each path segment twice" for services
  // other than S3.
  return UriEncode(normalized, /*keep_slash=*/true);
}

std::string CanonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!query.empty()) {
    for (std::string_view p : Split(query, '&')) {
      if (p.empty()) continue;
      size_t eq = p.find('=');
      std::string_view name = p.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view() : p.substr(eq + 1);
      params.emplace_back(UriEncode(UriDecode(name), false), UriEncode(UriDecode(value), false));
    }
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [n, v] : params) {
    if (!out.empty()) out += '&';
    out += n + "=" + v;
  }
  return out;
}

std::string VerifySigV4(const Request& req, const SigV4Keys& keys, std::chrono::system_clock::time_point now) {
  if (req.HeaderCount("Authorization") != 1) {
    return "MissingAuthenticationToken: the request has " + std::to_string(req.HeaderCount("Authorization")) +
           " Authorization headers, want one";
  }
  const std::string auth = req.Header("Authorization");
  const std::string kAlgorithm = "AWS4-HMAC-SHA256";
  if (auth.rfind(kAlgorithm + " ", 0) != 0) {
    return "IncompleteSignature: Authorization does not start with '" + kAlgorithm + " '";
  }
  std::string credential, signed_list, signature;
  for (std::string_view part : Split(std::string_view(auth).substr(kAlgorithm.size() + 1), ',')) {
    part = TrimWs(part);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) return "IncompleteSignature: '" + std::string(part) + "' is not name=value";
    std::string_view name = part.substr(0, eq), value = part.substr(eq + 1);
    if (name == "Credential") credential = value;
    else if (name == "SignedHeaders") signed_list = value;
    else if (name == "Signature") signature = value;
    else return "IncompleteSignature: unknown Authorization part '" + std::string(name) + "'";
  }
  if (credential.empty() || signed_list.empty() || signature.empty()) {
    return "IncompleteSignature: Authorization needs Credential, SignedHeaders and Signature";
  }

  std::vector<std::string_view> scope = Split(credential, '/');
  if (scope.size() != 5) return "IncompleteSignature: Credential '" + credential + "' is not key/date/region/service/aws4_request";
  if (scope[0] != keys.access_key) {
    return "InvalidClientTokenId: the access key '" + std::string(scope[0]) + "' is not known here";
  }

  if (req.HeaderCount("X-Amz-Date") != 1) return "IncompleteSignature: want exactly one X-Amz-Date header";
  const std::string amz_date = req.Header("X-Amz-Date");
  int64_t signed_at = 0;
  if (!ParseAmzDate(amz_date, &signed_at)) return "IncompleteSignature: X-Amz-Date '" + amz_date + "' is malformed";
  if (scope[1] != amz_date.substr(0, 8)) {
    return "SignatureDoesNotMatch: the credential's date " + std::string(scope[1]) + " is not X-Amz-Date's " +
           amz_date.substr(0, 8);
  }
  if (scope[2] != keys.region || scope[3] != keys.service || scope[4] != "aws4_request") {
    return "SignatureDoesNotMatch: credential scope " + std::string(scope[1]) + "/" + std::string(scope[2]) + "/" +
           std::string(scope[3]) + "/" + std::string(scope[4]) + ", want " + std::string(scope[1]) + "/" + keys.region +
           "/" + keys.service + "/aws4_request";
  }
  const int64_t clock = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() +
                        keys.clock_offset_s;
  if (signed_at < clock - keys.max_skew_s || signed_at > clock + keys.max_skew_s) {
    return "RequestTimeTooSkewed: X-Amz-Date " + amz_date + " is " + std::to_string(clock - signed_at) +
           " s from the receiver's clock (at most " + std::to_string(keys.max_skew_s) + " s allowed)";
  }

  std::vector<std::string_view> names = Split(signed_list, ';');
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty() || Lower(names[i]) != names[i]) {
      return "SignatureDoesNotMatch: SignedHeaders '" + signed_list + "' must be lower-case names";
    }
    if (i > 0 && !(names[i - 1] < names[i])) {
      return "SignatureDoesNotMatch: SignedHeaders '" + signed_list + "' are not sorted and unique";
    }
    if (!req.HasHeader(names[i])) {
      return "SignatureDoesNotMatch: signed header '" + std::string(names[i]) + "' is not in the request";
    }
  }
  auto is_signed = [&](std::string_view n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  for (std::string_view must : {"host", "x-amz-date"}) {
    if (!is_signed(must)) return "SignatureDoesNotMatch: '" + std::string(must) + "' must be a signed header";
  }
  if (req.HasHeader("X-Amz-Security-Token") && !is_signed("x-amz-security-token")) {
    return "SignatureDoesNotMatch: X-Amz-Security-Token is not signed";
  }
  if (req.HeaderCount("X-Amz-Security-Token") > 1) return "InvalidClientTokenId: X-Amz-Security-Token sent twice";
  if (req.Header("X-Amz-Security-Token") != keys.session_token) {
    return keys.session_token.empty() ? "InvalidClientTokenId: a session token was sent, none was expected"
                                      : "InvalidClientTokenId: the security token included in the request is invalid";
  }

  const std::string payload_hash = Sha256Hex(req.body);
  if (req.HasHeader("X-Amz-Content-Sha256") && req.Header("X-Amz-Content-Sha256") != payload_hash) {
    return "XAmzContentSHA256Mismatch: X-Amz-Content-Sha256 is not the SHA-256 of the body";
  }

  size_t q = req.target.find('?');
  std::string_view path = std::string_view(req.target).substr(0, q);
  std::string_view query = q == std::string::npos ? std::string_view() : std::string_view(req.target).substr(q + 1);
  std::string canonical = req.method + "\n" + CanonicalUri(path) + "\n" + CanonicalQuery(query) + "\n";
  for (std::string_view n : names) {
    std::string values;
    for (const auto& [k, v] : req.headers) {
      if (Lower(k) != n) continue;
      if (!values.empty()) values += ',';
      values += CanonicalValue(v);
    }
    canonical += std::string(n) + ":" + values + "\n";
  }
  canonical += "\n" + signed_list + "\n" + payload_hash;

  const std::string scope_text = std::string(scope[1]) + "/" + keys.region + "/" + keys.service + "/aws4_request";
  const std::string to_sign = kAlgorithm + "\n" + amz_date + "\n" + scope_text + "\n" + Sha256Hex(canonical);
  std::string key = HmacSha256("AWS4" + keys.secret_key, scope[1]);
  key = HmacSha256(key, keys.region);
  key = HmacSha256(key, keys.service);
  key = HmacSha256(key, "aws4_request");
  const std::string expected = Hex(HmacSha256(key, to_sign));
  if (expected != signature) {
    std::string shown;
    for (char c : canonical) shown += c == '\n' ? std::string("\\n") : std::string(1, c);
    return "SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. "
           "Check your AWS Secret Access Key and signing method. The canonical request was: " + shown;
  }
  return "";
}

}  // namespace testrx
