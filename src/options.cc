#include "options.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "json.h"
#include "text.h"

namespace psink {

namespace {

// Every option name, for "unknown option" and "did you mean".
constexpr std::string_view kOptionNames[] = {
    "url", "headers", "retry", "retry_backoff_multiplier_ms", "retry_backoff_max_ms",
    "connect_timeout_ms", "socket_timeout_ms", "key_timestamp", "key_label", "key_value",
    "batch_size", "flush_interval", "timestamp_unit", "max_request_bytes", "metric",
    "external_labels", "bearer_token", "bearer_token_file", "bearer_token_env", "username", "password",
    "password_file", "password_env", "tls_ca_file", "tls_cert_file", "tls_key_file", "tls_insecure_skip_verify",
    "proxy_url", "follow_redirects", "protocol", "metric_type", "metric_help", "metric_unit",
    "spool", "spool_max_rows", "max_in_flight", "key_start_timestamp", "key_histogram", "key_exemplar",
};

// metric_type values, indexed by their wire value (MetricType).
constexpr std::string_view kMetricTypeNames[] = {
    "unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset",
};

// Options whose value is a credential: never shown in a message.
bool IsSecretOption(std::string_view name) {
  return name == "headers" || name == "bearer_token" || name == "password";
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
  // Messages never show credentials: secret options are not shown, `url` and
  // `proxy_url` are masked.
  auto shown = [&] {
    if (IsSecretOption(name)) return std::string("the value (not shown)");
    return Shorten(name == "url" || name == "proxy_url" ? MaskUrl(raw) : std::string(raw));
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
  for (std::string_view cand : kOptionNames) {
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

Status ParseUrl(const std::string& url, SinkOptions* out) {
  auto starts = [&](std::string_view p) {
    return url.size() > p.size() && EqualsIgnoreCase(std::string_view(url).substr(0, p.size()), p);
  };
  if (!starts("http://") && !starts("https://")) {
    return Status::Invalid("option 'url' must be an http:// or https:// URL, found " + Shorten(MaskUrl(url)));
  }
  for (char c : url) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) {
      return Status::Invalid("option 'url' contains white space or a control character: " + Shorten(MaskUrl(url)));
    }
  }
  size_t host = url.find("://") + 3;
  if (host >= url.size() || url[host] == '/') {
    return Status::Invalid("option 'url' has no host: " + Shorten(MaskUrl(url)));
  }
  out->url = url;
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
    if (std::find(std::begin(kOptionNames), std::end(kOptionNames), name) == std::end(kOptionNames)) {
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
      PSINK_RETURN_IF_ERROR(ParseUrl(value, out));
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
    } else if (name.rfind("bearer_token", 0) == 0 || name.rfind("password", 0) == 0) {
      bool bearer = name[0] == 'b';
      Secret& secret = bearer ? out->bearer_token : out->password;
      std::string_view family = bearer ? "bearer_token" : "password";
      if (!secret.empty()) {
        return Status::Invalid("options '" + std::string(family) + "', '" + std::string(family) + "_file' and '" +
                               std::string(family) + "_env' exclude each other; '" + name + "' is one too many");
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
    } else if (name == "spool_max_rows") {
      PSINK_RETURN_IF_ERROR(ParseInt(name, value, 1, int64_t{1} << 40, &out->spool_max_rows));
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
  if (!out->username.empty() && !out->bearer_token.empty()) {
    return Status::Invalid("options 'username' and 'bearer_token' exclude each other: choose one kind of authentication");
  }
  if (!out->username.empty() && MaskUrl(out->url) != out->url) {
    return Status::Invalid("option 'username' conflicts with the user:password@ part of 'url'");
  }
  bool auth_header = std::any_of(out->headers.begin(), out->headers.end(),
                                 [](const auto& h) { return EqualsIgnoreCase(h.first, "authorization"); });
  if (auth_header && (!out->username.empty() || !out->bearer_token.empty())) {
    return Status::Invalid("option 'headers' sets Authorization, which conflicts with 'bearer_token'/'username'");
  }
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

Status CheckEnvironment(const SinkOptions& opts) {
  std::string scratch;
  if (!opts.bearer_token.empty()) PSINK_RETURN_IF_ERROR(ResolveSecret(opts.bearer_token, "bearer_token", &scratch));
  if (!opts.password.empty()) PSINK_RETURN_IF_ERROR(ResolveSecret(opts.password, "password", &scratch));
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
