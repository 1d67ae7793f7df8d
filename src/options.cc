#include "options.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "json.h"
#include "oauth2.h"
#include "text.h"

namespace psink {

namespace {

// Credential options: each is also accepted as <name>_file (a path read at
// each request) and <name>_env (an environment variable read at each
// request); the inline form is never shown in a message.
struct CredentialOption {
  std::string_view name;
  Secret SinkOptions::*field;
};
constexpr CredentialOption kCredentialOptions[] = {
    {"bearer_token", &SinkOptions::bearer_token},
    {"password", &SinkOptions::password},
    {"sigv4_access_key", &SinkOptions::sigv4_access_key},
    {"sigv4_secret_key", &SinkOptions::sigv4_secret_key},
    {"oauth2_client_id", &SinkOptions::oauth2_client_id},
    {"oauth2_client_secret", &SinkOptions::oauth2_client_secret},
};

// Every other option name.
constexpr std::string_view kPlainOptionNames[] = {
    "url", "headers", "retry", "retry_backoff_multiplier_ms", "retry_backoff_max_ms",
    "connect_timeout_ms", "socket_timeout_ms", "key_timestamp", "key_label", "key_value",
    "batch_size", "flush_interval", "timestamp_unit", "max_request_bytes", "metric",
    "external_labels", "username", "tls_ca_file", "tls_cert_file", "tls_key_file", "tls_insecure_skip_verify",
    "proxy_url", "follow_redirects", "protocol", "metric_type", "metric_help", "metric_unit",
    "spool", "spool_max_rows", "spool_close_wait_ms", "max_in_flight", "key_start_timestamp",
    "key_histogram", "key_exemplar",
    "sigv4_region", "sigv4_service", "oauth2_token_url", "oauth2_scopes", "oauth2_params",
};

// Every option name, for "unknown option" and "did you mean": the plain
// names and the three forms of each credential option.
const std::vector<std::string>& OptionNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v(std::begin(kPlainOptionNames), std::end(kPlainOptionNames));
    for (const CredentialOption& c : kCredentialOptions) {
      for (std::string_view form : {"", "_file", "_env"}) v.push_back(std::string(c.name) + std::string(form));
    }
    return v;
  }();
  return names;
}

// The credential option that `name` is a form of, or nullptr.
const CredentialOption* FindCredential(std::string_view name) {
  for (const CredentialOption& c : kCredentialOptions) {
    if (name == c.name) return &c;
    if (name.size() > c.name.size() && name.substr(0, c.name.size()) == c.name) {
      std::string_view form = name.substr(c.name.size());
      if (form == "_file" || form == "_env") return &c;
    }
  }
  return nullptr;
}

// metric_type values, indexed by their wire value (MetricType).
constexpr std::string_view kMetricTypeNames[] = {
    "unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset",
};

// Options whose value is (or may hold) a credential: never shown in a
// message. The _file and _env forms hold a path or a variable name.
bool IsSecretOption(std::string_view name) {
  if (name == "headers" || name == "oauth2_params") return true;
  return std::any_of(std::begin(kCredentialOptions), std::end(kCredentialOptions),
                     [&](const CredentialOption& c) { return name == c.name; });
}

// Request headers the extension owns; `headers` may not set them.
constexpr std::string_view kReservedHeaders[] = {
    "content-encoding", "content-type", "content-length", "x-prometheus-remote-write-version",
    "user-agent", "host", "connection", "expect", "transfer-encoding", "te", "upgrade",
    "keep-alive", "proxy-connection", "trailer",
};

// Removes one level of SQL-style quotes: '…' or "…" with doubled quotes
// inside. A bare word is returned as it is.
Status Unquote(std::string_view name, std::string_view raw, std::string* out) {
  // Messages never show credentials: secret options are not shown, URLs
  // (url, proxy_url, oauth2_token_url) are masked.
  auto shown = [&] {
    if (IsSecretOption(name)) return std::string("the value (not shown)");
    bool is_url = name == "url" || name == "proxy_url" || name == "oauth2_token_url";
    return Shorten(is_url ? MaskUrl(raw) : std::string(raw));
  };
  out->clear();
  if (raw.empty()) return Status::Invalid("option '" + std::string(name) + "' has an empty value");
  char q = raw.front();
  if (q != '\'' && q != '"') {
    out->assign(raw);
    return Status::Ok();
  }
  for (size_t i = 1; i < raw.size(); ++i) {
    if (raw[i] == q) {
      if (i + 1 < raw.size() && raw[i + 1] == q) {
        out->push_back(q);
        ++i;
        continue;
      }
      if (i + 1 != raw.size()) {
        return Status::Invalid("option '" + std::string(name) + "': unexpected text after the closing quote in " +
                               shown());
      }
      return Status::Ok();
    }
    out->push_back(raw[i]);
  }
  return Status::Invalid("option '" + std::string(name) + "': missing closing quote in " + shown());
}

Status ParseInt(std::string_view name, const std::string& text, int64_t lo, int64_t hi, int64_t* out) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return Status::Invalid("option '" + std::string(name) + "' is out of range: " + Shorten(text) +
                           " (expected " + std::to_string(lo) + " to " + std::to_string(hi) + ")");
  }
  if (ec != std::errc() || p != text.data() + text.size()) {
    return Status::Invalid("option '" + std::string(name) + "' expects an integer, found " + Shorten(text));
  }
  if (v < lo || v > hi) {
    return Status::Invalid("option '" + std::string(name) + "' is out of range: " + text + " (expected " +
                           std::to_string(lo) + " to " + std::to_string(hi) + ")");
  }
  *out = v;
  return Status::Ok();
}

bool IsIdentifier(std::string_view s) { return IsValidLabelName(s); }

std::string ClosestOption(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (std::string_view cand : OptionNames()) {
    size_t d = EditDistance(lower, cand);
    if (d < best_d) {
      best_d = d;
      best = cand;
    }
  }
  // Suggest only what looks like a typo of a real name.
  if (best_d <= std::max<size_t>(2, best.size() / 3)) return std::string(best);
  return {};
}

bool IsHeaderTokenChar(unsigned char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// No control characters (tab excepted): they could split an HTTP header.
bool IsValidHeaderValue(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
  });
}

Status ParseHeaders(const std::string& text, SinkOptions* out) {
  std::vector<JsonMember> members;
  Status st = ParseFlatObject(text, &members, /*show_text=*/false);  // it may hold a credential
  if (!st.ok()) return Status::Invalid("option 'headers' must be a JSON object of strings: " + st.message());
  out->headers.clear();
  for (const JsonMember& m : members) {
    if (m.key.empty() || !std::all_of(m.key.begin(), m.key.end(), [](char c) { return IsHeaderTokenChar(c); })) {
      return Status::Invalid("option 'headers': invalid header name " + Shorten(m.key));
    }
    for (std::string_view r : kReservedHeaders) {
      if (EqualsIgnoreCase(m.key, r)) {
        return Status::Invalid("option 'headers': header '" + m.key +
                               "' is set by the extension and cannot be overridden");
      }
    }
    if (m.kind != JsonMember::Kind::kString) {
      return Status::Invalid("option 'headers': the value of '" + m.key + "' must be a JSON string");
    }
    if (!IsValidHeaderValue(m.value)) {
      // The value is not shown: it may be a credential.
      return Status::Invalid("option 'headers': the value of '" + m.key + "' contains a control character");
    }
    for (const auto& [k, v] : out->headers) {
      if (EqualsIgnoreCase(k, m.key)) {
        return Status::Invalid("option 'headers': header '" + m.key + "' is given twice");
      }
    }
    out->headers.emplace_back(m.key, m.value);
  }
  return Status::Ok();
}

Status ParseExternalLabels(const std::string& text, SinkOptions* out) {
  std::vector<JsonMember> members;
  Status st = ParseFlatObject(text, &members);
  if (!st.ok()) return Status::Invalid("option 'external_labels' must be a JSON object: " + st.message());
  out->external_labels.clear();
  for (const JsonMember& m : members) {
    if (!IsValidLabelName(m.key)) {
      return Status::Invalid("option 'external_labels': invalid label name " + Shorten(m.key) +
                             " (expected [a-zA-Z_][a-zA-Z0-9_]*)");
    }
    for (const auto& [k, v] : out->external_labels) {
      if (k == m.key) return Status::Invalid("option 'external_labels': label '" + m.key + "' is given twice");
    }
    if (m.kind == JsonMember::Kind::kNull || m.value.empty()) continue;
    out->external_labels.emplace_back(m.key, m.value);
  }
  return Status::Ok();
}

// An http:// or https:// URL with a host and no white space (url,
// oauth2_token_url). Messages mask the user:password@ part.
Status ParseHttpUrl(std::string_view option, const std::string& url, std::string* out) {
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
  *out = url;
  return Status::Ok();
}

// sigv4_region and sigv4_service: what libcurl's "aws:amz:<region>:<service>"
// can carry.
Status ParseSigV4Name(std::string_view option, const std::string& value, std::string* out) {
  bool ok = !value.empty() && value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
  if (!ok) {
    return Status::Invalid("option '" + std::string(option) +
                           "' must be 1 to 64 letters, digits, '-', '_' or '.' (e.g. " +
                           (option == "sigv4_region" ? "us-east-1" : "aps") + "), found " + Shorten(value));
  }
  *out = value;
  return Status::Ok();
}

Status ParseOAuth2Params(const std::string& text, SinkOptions* out) {
  std::vector<JsonMember> members;
  Status st = ParseFlatObject(text, &members, /*show_text=*/false);  // it may hold a credential
  if (!st.ok()) return Status::Invalid("option 'oauth2_params' must be a JSON object of strings: " + st.message());
  out->oauth2_params.clear();
  for (const JsonMember& m : members) {
    if (m.key.empty()) return Status::Invalid("option 'oauth2_params': a field name is empty");
    for (std::string_view own : {"grant_type", "client_id", "client_secret", "scope"}) {
      if (m.key == own) {
        return Status::Invalid("option 'oauth2_params': field '" + m.key + "' is set by the extension" +
                               (m.key == "scope" ? " (use oauth2_scopes)" : ""));
      }
    }
    if (m.kind != JsonMember::Kind::kString) {
      return Status::Invalid("option 'oauth2_params': the value of " + Shorten(m.key) + " must be a JSON string");
    }
    for (const auto& [k, v] : out->oauth2_params) {
      if (k == m.key) return Status::Invalid("option 'oauth2_params': field " + Shorten(m.key) + " is given twice");
    }
    out->oauth2_params.emplace_back(m.key, m.value);
  }
  return Status::Ok();
}

// With sigv4, every header of the request list is signed by libcurl 7.88,
// which sorts "name:value" lines rather than names and signs an empty header
// that it then does not send. Refuses what would make the signature wrong.
Status CheckSigV4Headers(const SinkOptions& o) {
  // The headers the transport signs besides the user's.
  std::vector<std::string> names = {"content-encoding", "content-type", "host", "x-amz-date", "x-amz-security-token",
                                    "x-prometheus-remote-write-version"};
  for (const auto& [name, value] : o.headers) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.rfind("x-amz-", 0) == 0) {
      return Status::Invalid("option 'headers': header '" + name + "' is set by SigV4 signing (sigv4_region)");
    }
    if (Trim(value).empty()) {
      return Status::Invalid("option 'headers': the value of '" + name +
                             "' is empty; with sigv4 every header is signed, and libcurl does not send an empty one");
    }
    names.push_back(lower);
  }
  for (const std::string& a : names) {
    for (const std::string& b : names) {
      if (b.size() > a.size() && b.compare(0, a.size(), a) == 0 && b[a.size()] < ':') {
        return Status::Invalid("option 'headers': with sigv4, headers '" + a + "' and '" + b +
                               "' cannot both be sent: libcurl 7.88 would sign them in the wrong order");
      }
    }
  }
  return Status::Ok();
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

// One kind of authentication per sink, complete. Makes the OAuth2 token
// cache. `seen` holds the option names given.
Status CheckAuthentication(const std::vector<std::string>& seen, SinkOptions* o) {
  auto given = [&](std::string_view prefix) {
    return std::any_of(seen.begin(), seen.end(), [&](const std::string& n) { return n.rfind(prefix, 0) == 0; });
  };
  // The kinds given, each named by the option that turns it on.
  std::vector<std::string> kinds;
  if (!o->username.empty()) kinds.push_back("username");
  if (!o->bearer_token.empty()) kinds.push_back("bearer_token");
  if (o->sigv4()) kinds.push_back("sigv4_region");
  if (o->oauth2()) kinds.push_back("oauth2_token_url");
  if (kinds.size() > 1) {
    return Status::Invalid("options '" + kinds[0] + "' and '" + kinds[1] +
                           "' exclude each other: choose one kind of authentication");
  }
  if (!kinds.empty() && MaskUrl(o->url) != o->url) {
    return Status::Invalid("option '" + kinds[0] + "' conflicts with the user:password@ part of 'url'");
  }
  bool auth_header = std::any_of(o->headers.begin(), o->headers.end(),
                                 [](const auto& h) { return EqualsIgnoreCase(h.first, "authorization"); });
  if (auth_header && !kinds.empty()) {
    return Status::Invalid("option 'headers' sets Authorization, which conflicts with '" + kinds[0] + "'");
  }

  for (std::string_view part : {"sigv4_service", "sigv4_access_key", "sigv4_secret_key"}) {
    if (!o->sigv4() && given(part)) {
      return Status::Invalid("option '" + std::string(part) + "' needs 'sigv4_region' (which turns SigV4 signing on)");
    }
  }
  if (o->sigv4()) {
    if (o->sigv4_access_key.empty() != o->sigv4_secret_key.empty()) {
      return Status::Invalid(
          "options 'sigv4_access_key' and 'sigv4_secret_key' go together: give both, or neither to use "
          "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN");
    }
    PSINK_RETURN_IF_ERROR(CheckSigV4Headers(*o));
    std::string signed_url;
    PSINK_RETURN_IF_ERROR(SigV4Url(o->url, &signed_url));
  }

  for (std::string_view part : {"oauth2_client_id", "oauth2_client_secret", "oauth2_scopes", "oauth2_params"}) {
    if (!o->oauth2() && given(part)) {
      return Status::Invalid("option '" + std::string(part) + "' needs 'oauth2_token_url'");
    }
  }
  if (o->oauth2()) {
    if (o->oauth2_client_id.empty()) {
      return Status::Invalid("option 'oauth2_token_url' needs 'oauth2_client_id' (or oauth2_client_id_file/_env)");
    }
    if (o->oauth2_client_secret.empty()) {
      return Status::Invalid(
          "option 'oauth2_token_url' needs 'oauth2_client_secret' (or oauth2_client_secret_file/_env)");
    }
    o->oauth2_tokens = std::make_shared<OAuth2Tokens>();
  }
  return Status::Ok();
}

}  // namespace

std::string_view ProtocolName(Protocol protocol) { return protocol == Protocol::kV2 ? "2.0" : "1.0"; }

bool IsValidLabelName(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(), [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

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

Status ParseOptions(const std::vector<std::string_view>& args, SinkOptions* out) {
  *out = SinkOptions();
  std::vector<std::string> seen;
  bool have_url = false;
  for (std::string_view arg : args) {
    std::string_view a = Trim(arg);
    size_t eq = a.find('=');
    if (eq == std::string_view::npos) {
      // A bare word declares a label column.
      std::string col;
      PSINK_RETURN_IF_ERROR(Unquote("label column", a, &col));
      if (!IsIdentifier(col)) {
        return Status::Invalid("label column " + Shorten(col) +
                               " is not a valid label name (expected [a-zA-Z_][a-zA-Z0-9_]*); options are written name=value");
      }
      if (col == "__name__") {
        return Status::Invalid("label column '__name__' is not allowed; use the option metric='...' or the labels column");
      }
      if (std::find(out->label_columns.begin(), out->label_columns.end(), col) != out->label_columns.end()) {
        return Status::Invalid("label column '" + col + "' is declared twice");
      }
      out->label_columns.push_back(col);
      continue;
    }
    std::string name(Trim(a.substr(0, eq)));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value;
    const std::vector<std::string>& names = OptionNames();
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      std::string msg = "unknown option " + Shorten(name);
      std::string hint = ClosestOption(name);
      if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
      return Status::Invalid(msg);
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return Status::Invalid("option '" + name + "' is given more than once");
    }
    seen.push_back(name);
    PSINK_RETURN_IF_ERROR(Unquote(name, Trim(a.substr(eq + 1)), &value));

    constexpr int64_t kMaxMs = 24LL * 3600 * 1000;  // one day
    if (name == "url") {
      PSINK_RETURN_IF_ERROR(ParseHttpUrl(name, value, &out->url));
      have_url = true;
    } else if (name == "headers") {
      PSINK_RETURN_IF_ERROR(ParseHeaders(value, out));
    } else if (name == "retry") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 0, 100, &out->retry));
    } else if (name == "retry_backoff_multiplier_ms") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 0, kMaxMs, &out->retry_backoff_multiplier_ms));
    } else if (name == "retry_backoff_max_ms") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 0, kMaxMs, &out->retry_backoff_max_ms));
    } else if (name == "connect_timeout_ms") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 1, kMaxMs, &out->connect_timeout_ms));
    } else if (name == "socket_timeout_ms") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 1, kMaxMs, &out->socket_timeout_ms));
    } else if (name == "batch_size") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 1, 10'000'000, &out->batch_size));
    } else if (name == "flush_interval") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 0, 365LL * kMaxMs, &out->flush_interval_ms));
    } else if (name == "max_request_bytes") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 1024, 1LL << 30, &out->max_request_bytes));
    } else if (name == "timestamp_unit") {
      if (value == "s") out->timestamp_unit = TimeUnit::kSeconds;
      else if (value == "ms") out->timestamp_unit = TimeUnit::kMillis;
      else if (value == "us") out->timestamp_unit = TimeUnit::kMicros;
      else if (value == "ns") out->timestamp_unit = TimeUnit::kNanos;
      else return Status::Invalid("option 'timestamp_unit' must be one of s, ms, us, ns; found " + Shorten(value));
    } else if (name == "key_start_timestamp") {
      if (!IsIdentifier(value)) {
        return Status::Invalid("option 'key_start_timestamp' must be a column name ([a-zA-Z_][a-zA-Z0-9_]*), found " +
                               Shorten(value));
      }
      out->key_start_timestamp = value;
    } else if (name == "key_label" || name == "key_value" || name == "key_timestamp" || name == "key_histogram" ||
               name == "key_exemplar") {
      if (!IsIdentifier(value)) {
        return Status::Invalid("option '" + name + "' must be a column name ([a-zA-Z_][a-zA-Z0-9_]*), found " +
                               Shorten(value));
      }
      (name == "key_label"       ? out->key_label
       : name == "key_value"     ? out->key_value
       : name == "key_timestamp" ? out->key_timestamp
       : name == "key_histogram" ? out->key_histogram
                                 : out->key_exemplar) = value;
    } else if (name == "metric") {
      if (value.empty() || !IsValidUtf8(value)) {
        return Status::Invalid("option 'metric' must be a non-empty UTF-8 metric name, found " + Shorten(value));
      }
      out->metric = value;
    } else if (name == "external_labels") {
      PSINK_RETURN_IF_ERROR(ParseExternalLabels(value, out));
    } else if (const CredentialOption* cred = FindCredential(name)) {
      Secret& secret = out->*(cred->field);
      const std::string family(cred->name);
      if (!secret.empty()) {
        return Status::Invalid("options '" + family + "', '" + family + "_file' and '" + family +
                               "_env' exclude each other; '" + name + "' is one too many");
      }
      if (value.empty()) return Status::Invalid("option '" + name + "' has an empty value");
      secret.source = name.ends_with("_file") ? Secret::Source::kFile
                      : name.ends_with("_env") ? Secret::Source::kEnv
                                               : Secret::Source::kValue;
      if (secret.source == Secret::Source::kValue && !IsValidHeaderValue(value)) {
        return Status::Invalid("option '" + name + "' contains a control character (the value is not shown)");
      }
      secret.text = value;
    } else if (name == "username") {
      if (value.empty() || value.find(':') != std::string::npos || !IsValidHeaderValue(value)) {
        return Status::Invalid("option 'username' must be non-empty, without ':' or control characters");
      }
      out->username = value;
    } else if (name == "tls_ca_file" || name == "tls_cert_file" || name == "tls_key_file") {
      if (value.empty()) return Status::Invalid("option '" + name + "' has an empty value");
      (name == "tls_ca_file" ? out->tls_ca_file : name == "tls_cert_file" ? out->tls_cert_file : out->tls_key_file) =
          value;
    } else if (name == "max_in_flight") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 1, 16, &out->max_in_flight));
      out->max_in_flight_auto = false;
    } else if (name == "spool_max_rows") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 1, int64_t{1} << 40, &out->spool_max_rows));
    } else if (name == "spool_close_wait_ms") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 0, 600'000, &out->spool_close_wait_ms));
    } else if (name == "tls_insecure_skip_verify" || name == "follow_redirects" || name == "spool") {
      bool b;
      if (value == "1" || EqualsIgnoreCase(value, "true") || EqualsIgnoreCase(value, "on")) b = true;
      else if (value == "0" || EqualsIgnoreCase(value, "false") || EqualsIgnoreCase(value, "off")) b = false;
      else return Status::Invalid("option '" + name + "' must be true or false, found " + Shorten(value));
      (name == "follow_redirects" ? out->follow_redirects
       : name == "spool"          ? out->spool
                                  : out->tls_insecure_skip_verify) = b;
    } else if (name == "proxy_url") {
      constexpr std::string_view kSchemes[] = {"http://", "https://", "socks5://", "socks5h://"};
      bool ok = std::any_of(std::begin(kSchemes), std::end(kSchemes), [&](std::string_view sch) {
        return value.size() > sch.size() && EqualsIgnoreCase(std::string_view(value).substr(0, sch.size()), sch);
      });
      if (!ok || !IsValidHeaderValue(value) || value.find(' ') != std::string::npos) {
        return Status::Invalid("option 'proxy_url' must be an http://, https://, socks5:// or socks5h:// URL, found " +
                               Shorten(MaskUrl(value)));
      }
      out->proxy_url = value;
    } else if (name == "sigv4_region") {
      PSINK_RETURN_IF_ERROR(ParseSigV4Name(name, value, &out->sigv4_region));
    } else if (name == "sigv4_service") {
      PSINK_RETURN_IF_ERROR(ParseSigV4Name(name, value, &out->sigv4_service));
    } else if (name == "oauth2_token_url") {
      PSINK_RETURN_IF_ERROR(ParseHttpUrl(name, value, &out->oauth2_token_url));
    } else if (name == "oauth2_scopes") {
      if (Trim(value).empty() || !IsValidHeaderValue(value) || !IsValidUtf8(value)) {
        return Status::Invalid("option 'oauth2_scopes' must be space-separated scope names, found " + Shorten(value));
      }
      out->oauth2_scopes = value;
    } else if (name == "oauth2_params") {
      PSINK_RETURN_IF_ERROR(ParseOAuth2Params(value, out));
    } else if (name == "protocol") {
      if (value == "1.0") out->protocol = Protocol::kV1;
      else if (value == "2.0") out->protocol = Protocol::kV2;
      else return Status::Invalid("option 'protocol' must be '1.0' or '2.0', found " + Shorten(value));
    } else if (name == "metric_type") {
      auto it = std::find_if(std::begin(kMetricTypeNames), std::end(kMetricTypeNames),
                             [&](std::string_view t) { return EqualsIgnoreCase(value, t); });
      if (it == std::end(kMetricTypeNames)) {
        return Status::Invalid(
            "option 'metric_type' must be one of counter, gauge, histogram, gaugehistogram, summary, info, "
            "stateset, unknown; found " +
            Shorten(value));
      }
      if (!out->metadata) out->metadata.emplace();
      out->metadata->type = static_cast<MetricType>(it - std::begin(kMetricTypeNames));
    } else if (name == "metric_help" || name == "metric_unit") {
      if (value.empty()) return Status::Invalid("option '" + name + "' has an empty value");
      if (!IsValidUtf8(value)) {
        return Status::Invalid("option '" + name + "' must be UTF-8 text, found " + Shorten(value));
      }
      if (name == "metric_unit" && !IsValidHeaderValue(value)) {
        return Status::Invalid("option 'metric_unit' contains a control character: " + Shorten(value));
      }
      if (!out->metadata) out->metadata.emplace();
      (name == "metric_help" ? out->metadata->help : out->metadata->unit) = value;
    }
  }
  if (!have_url) return Status::Invalid("option 'url' is required");
  if (!out->password.empty() && out->username.empty()) {
    return Status::Invalid("option 'password' (or password_file/password_env) needs 'username'");
  }
  if (!out->username.empty() && out->password.empty()) {
    return Status::Invalid("option 'username' needs 'password', 'password_file' or 'password_env'");
  }
  PSINK_RETURN_IF_ERROR(CheckAuthentication(seen, out));
  if (out->spool && !out->key_start_timestamp.empty()) {
    return Status::Invalid("option 'key_start_timestamp' is not supported with spool=on");
  }
  if (out->tls_cert_file.empty() != out->tls_key_file.empty()) {
    return Status::Invalid("options 'tls_cert_file' and 'tls_key_file' go together: give both or neither");
  }

  // Column names must be distinct (SQLite compares them case-insensitively).
  std::vector<std::pair<std::string, std::string>> cols;  // name, what declares it
  for (const std::string& c : out->label_columns) cols.emplace_back(c, "label column '" + c + "'");
  cols.emplace_back(out->key_label, "option 'key_label'");
  cols.emplace_back(out->key_value, "option 'key_value'");
  cols.emplace_back(out->key_timestamp, "option 'key_timestamp'");
  if (!out->key_start_timestamp.empty()) cols.emplace_back(out->key_start_timestamp, "option 'key_start_timestamp'");
  // The hidden columns: a name given by key_histogram / key_exemplar must
  // not clash; a default name that clashes (a label column called
  // "histogram", say, declared before the hidden columns existed) gets "_"
  // appended until it does not, so that such a sink still opens.
  auto taken = [&](const std::string& name) {
    return std::any_of(cols.begin(), cols.end(), [&](const auto& c) { return EqualsIgnoreCase(c.first, name); });
  };
  for (auto [key, option] : {std::pair{&out->key_histogram, "key_histogram"}, std::pair{&out->key_exemplar, "key_exemplar"}}) {
    if (std::find(seen.begin(), seen.end(), option) == seen.end()) {
      while (taken(*key)) *key += "_";
    }
    cols.emplace_back(*key, "option '" + std::string(option) + "'");
  }
  for (size_t i = 0; i < cols.size(); ++i) {
    for (size_t j = i + 1; j < cols.size(); ++j) {
      if (EqualsIgnoreCase(cols[i].first, cols[j].first)) {
        return Status::Invalid("column '" + cols[j].first + "' of " + cols[j].second + " clashes with " +
                               cols[i].second);
      }
    }
  }
  return Status::Ok();
}

Status ResolveSecret(const Secret& secret, std::string_view option, std::string* out) {
  switch (secret.source) {
    case Secret::Source::kNone:
      out->clear();
      return Status::Ok();
    case Secret::Source::kValue:
      *out = secret.text;
      return Status::Ok();
    case Secret::Source::kEnv: {
      const char* v = std::getenv(secret.text.c_str());
      if (v == nullptr || *v == '\0') {
        return Status::Failed("option '" + std::string(option) + "_env': environment variable " + Shorten(secret.text) +
                              " is not set");
      }
      *out = v;
      break;
    }
    case Secret::Source::kFile: {
      std::ifstream in(secret.text, std::ios::binary);
      std::ostringstream buf;
      if (in) buf << in.rdbuf();
      if (!in) {
        return Status::Failed("option '" + std::string(option) + "_file': cannot read " + Shorten(secret.text, 200));
      }
      *out = buf.str();
      // A trailing newline is how files end, not part of the secret.
      while (!out->empty() && (out->back() == '\n' || out->back() == '\r')) out->pop_back();
      if (out->empty()) {
        return Status::Failed("option '" + std::string(option) + "_file': " + Shorten(secret.text, 200) + " is empty");
      }
      break;
    }
  }
  if (!IsValidHeaderValue(*out)) {
    return Status::Failed("option '" + std::string(option) + "': the credential contains a control character (not shown)");
  }
  return Status::Ok();
}

Status ResolveSigV4Credentials(const SinkOptions& opts, SigV4Credentials* out) {
  *out = SigV4Credentials();
  if (!opts.sigv4_access_key.empty()) {
    PSINK_RETURN_IF_ERROR(ResolveSecret(opts.sigv4_access_key, "sigv4_access_key", &out->access_key));
    PSINK_RETURN_IF_ERROR(ResolveSecret(opts.sigv4_secret_key, "sigv4_secret_key", &out->secret_key));
    return Status::Ok();
  }
  auto read = [](const char* var, bool required, std::string* value) -> Status {
    const char* v = std::getenv(var);
    value->assign(v ? v : "");
    if (required && value->empty()) {
      return Status::Failed(std::string("sigv4: environment variable ") + var +
                            " is not set (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the options "
                            "sigv4_access_key and sigv4_secret_key)");
    }
    if (!IsValidHeaderValue(*value)) {
      return Status::Failed(std::string("sigv4: environment variable ") + var +
                            " contains a control character (not shown)");
    }
    return Status::Ok();
  };
  PSINK_RETURN_IF_ERROR(read("AWS_ACCESS_KEY_ID", true, &out->access_key));
  PSINK_RETURN_IF_ERROR(read("AWS_SECRET_ACCESS_KEY", true, &out->secret_key));
  PSINK_RETURN_IF_ERROR(read("AWS_SESSION_TOKEN", false, &out->session_token));
  return Status::Ok();
}

Status SigV4Url(std::string_view url, std::string* out) {
  auto refuse = [&](const std::string& what) {
    return Status::Invalid("option 'url': with sigv4, " + what + ": " + Shorten(MaskUrl(url), 120));
  };
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return refuse("not a URL");
  size_t path_begin = std::min(url.find_first_of("/?#", scheme + 3), url.size());
  size_t path_end = std::min(url.find_first_of("?#", path_begin), url.size());
  std::string_view path = url.substr(path_begin, path_end - path_begin);
  std::string_view query;
  if (path_end < url.size() && url[path_end] == '?') {
    size_t hash = std::min(url.find('#', path_end), url.size());
    query = url.substr(path_end + 1, hash - path_end - 1);
  }

  if (path.empty()) path = "/";
  bool path_ok = std::all_of(path.begin(), path.end(), [](char c) {
    return c == '/' || IsUnreserved(static_cast<unsigned char>(c));
  });
  // Segments between slashes; the last may be empty (a trailing slash).
  for (size_t i = 1; path_ok && i <= path.size();) {
    size_t end = std::min(path.find('/', i), path.size());
    std::string_view seg = path.substr(i, end - i);
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
    std::string_view param = query.substr(i, end - i);
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
  out->assign(url.substr(0, path_begin));
  *out += path;
  for (size_t k = 0; k < params.size(); ++k) {
    *out += k == 0 ? '?' : '&';
    *out += params[k].first + "=" + params[k].second;
  }
  return Status::Ok();
}

Status CheckEnvironment(const SinkOptions& opts) {
  std::string scratch;
  for (const CredentialOption& c : kCredentialOptions) {
    const Secret& secret = opts.*(c.field);
    if (!secret.empty()) PSINK_RETURN_IF_ERROR(ResolveSecret(secret, c.name, &scratch));
  }
  if (opts.sigv4()) {
    SigV4Credentials creds;
    PSINK_RETURN_IF_ERROR(ResolveSigV4Credentials(opts, &creds));
  }
  for (const auto& [name, path] : {std::pair<const char*, const std::string*>{"tls_ca_file", &opts.tls_ca_file},
                                   {"tls_cert_file", &opts.tls_cert_file},
                                   {"tls_key_file", &opts.tls_key_file}}) {
    if (path->empty()) continue;
    std::ifstream in(*path);
    if (!in) return Status::Invalid("option '" + std::string(name) + "': cannot read " + Shorten(*path, 200));
  }
  return Status::Ok();
}

std::string DeclareTableSql(const SinkOptions& opts) {
  std::string sql = "CREATE TABLE x(";
  for (const std::string& c : opts.label_columns) sql += "\"" + c + "\" TEXT, ";
  sql += "\"" + opts.key_label + "\" TEXT, \"" + opts.key_value + "\", \"" + opts.key_timestamp + "\"";
  if (!opts.key_start_timestamp.empty()) sql += ", \"" + opts.key_start_timestamp + "\"";
  sql += ", \"" + opts.key_histogram + "\" HIDDEN, \"" + opts.key_exemplar + "\" HIDDEN)";
  return sql;
}

}  // namespace psink
