#include "url.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "text.h"

namespace psink {

namespace {

struct UrlDeleter {
  void operator()(CURLU* u) const noexcept { curl_url_cleanup(u); }
};
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

// One part of a parsed URL, "" when it has none.
std::string Part(CURLU* u, CURLUPart what) {
  char* p = nullptr;
  if (curl_url_get(u, what, &p, 0) != CURLUE_OK || p == nullptr) return "";
  std::string out(p);
  curl_free(p);
  return out;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

// AWS's URI encoding: unreserved bytes as they are, every other byte %XX.
std::string AwsEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX escapes decoded; '+' stays '+'. False for a broken escape.
bool PercentDecode(std::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out->push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return false;
    int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

}  // namespace

std::string MaskUrl(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  size_t start = scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string_view authority = url.substr(start, end == std::string_view::npos ? url.npos : end - start);
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, start));
  out += "***@";
  out += url.substr(start + at + 1);
  return out;
}

Status CheckHttpUrl(std::string_view option, const std::string& url) {
  const std::string opt(option);
  auto starts = [&](std::string_view p) {
    return url.size() > p.size() && EqualsIgnoreCase(std::string_view(url).substr(0, p.size()), p);
  };
  if (!starts("http://") && !starts("https://")) {
    return Status::Invalid("option '" + opt + "' must be an http:// or https:// URL, found " + Shorten(MaskUrl(url)));
  }
  for (char c : url) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) {
      return Status::Invalid("option '" + opt + "' contains white space or a control character: " +
                             Shorten(MaskUrl(url)));
    }
  }
  size_t host = url.find("://") + 3;
  if (host >= url.size() || url[host] == '/') {
    return Status::Invalid("option '" + opt + "' has no host: " + Shorten(MaskUrl(url)));
  }
  return Status::Ok();
}

Status SigV4Url(std::string_view url, std::string* out) {
  auto refuse = [&](const std::string& what) {
    return Status::Invalid("option 'url': with sigv4, " + what + ": " + Shorten(MaskUrl(url), 120));
  };
  // The path and query as libcurl will send them: as written (no dot
  // segments removed, nothing decoded).
  UrlPtr u(curl_url());
  if (!u) throw std::bad_alloc();
  const std::string text(url);
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), CURLU_PATH_AS_IS | CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return refuse("not a URL");
  }
  std::string path = Part(u.get(), CURLUPART_PATH), query = Part(u.get(), CURLUPART_QUERY);
  if (path.empty()) path = "/";
  bool path_ok = std::all_of(path.begin(), path.end(), [](char c) {
    return c == '/' || IsUnreserved(static_cast<unsigned char>(c));
  });
  // Segments between slashes; the last may be empty (a trailing slash).
  for (size_t i = 1; path_ok && i <= path.size();) {
    size_t end = std::min(path.find('/', i), path.size());
    std::string_view seg = std::string_view(path).substr(i, end - i);
    bool last = end == path.size();
    if ((seg.empty() && !last) || seg == "." || seg == "..") path_ok = false;
    i = end + 1;
  }
  if (!path_ok) {
    return refuse("the path may hold only letters, digits, '-', '.', '_', '~' and '/', without empty, '.' or '..' "
                  "segments");
  }

  std::vector<std::pair<std::string, std::string>> params;
  std::string name, value;
  for (size_t i = 0; i <= query.size() && !query.empty();) {
    size_t end = std::min(query.find('&', i), query.size());
    std::string_view param = std::string_view(query).substr(i, end - i);
    i = end + 1;
    if (param.empty()) continue;
    size_t eq = param.find('=');
    if (!PercentDecode(param.substr(0, eq), &name) ||
        !PercentDecode(eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1), &value)) {
      return refuse("the query has a broken %-escape");
    }
    params.emplace_back(AwsEncode(name), AwsEncode(value));
  }
  std::sort(params.begin(), params.end());
  std::string canonical;
  for (size_t k = 0; k < params.size(); ++k) {
    if (k > 0) canonical += '&';
    canonical += params[k].first + "=" + params[k].second;
  }
  // libcurl writes the URL back without query and fragment (the fragment is
  // never sent); the canonical query is appended as text, because
  // curl_url would write its escapes in lower case ("%2f"), which libcurl
  // then signs as sent while AWS's canonical form has "%2F".
  if (curl_url_set(u.get(), CURLUPART_QUERY, nullptr, 0) != CURLUE_OK ||
      curl_url_set(u.get(), CURLUPART_FRAGMENT, nullptr, 0) != CURLUE_OK) {
    return refuse("not a URL");
  }
  *out = Part(u.get(), CURLUPART_URL);
  if (!canonical.empty()) *out += "?" + canonical;
  return Status::Ok();
}

bool UrlSchemeAndHost(std::string_view url, std::string* scheme, std::string* host) {
  UrlPtr u(curl_url());
  if (!u) throw std::bad_alloc();
  const std::string text(url);
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) return false;
  *scheme = Part(u.get(), CURLUPART_SCHEME);
  *host = Part(u.get(), CURLUPART_HOST);
  std::transform(scheme->begin(), scheme->end(), scheme->begin(), [](unsigned char c) { return std::tolower(c); });
  return !scheme->empty() && !host->empty();
}

}  // namespace psink
