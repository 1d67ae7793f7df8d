#include "options.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <variant>

#include "aws_credentials.h"
#include "json.h"
#include "oauth2.h"
#include "rate_limit.h"
#include "text.h"

namespace psink {

namespace {

// The readers of kJsonObject options and the checks of kText options,
// defined below the table.
Status ParseHeaders(const std::string& text, SinkOptions* out);
Status ParseExternalLabels(const std::string& text, SinkOptions* out);
Status ParseOAuth2Params(const std::string& text, SinkOptions* out);
Status CheckProxyUrl(std::string_view option, const std::string& value);
Status CheckSigV4Name(std::string_view option, const std::string& value);
Status CheckMetricName(std::string_view option, const std::string& value);
Status CheckUsername(std::string_view option, const std::string& value);
Status CheckOAuth2Scopes(std::string_view option, const std::string& value);
Status CheckUtf8Text(std::string_view option, const std::string& value);
Status CheckMetricUnit(std::string_view option, const std::string& value);
Status CheckRoleArn(std::string_view option, const std::string& value);

// The values of the kEnum options, in the order their messages list them.
constexpr OptionEnumValue kTimeUnits[] = {
    {"s", static_cast<int>(TimeUnit::kSeconds)},
    {"ms", static_cast<int>(TimeUnit::kMillis)},
    {"us", static_cast<int>(TimeUnit::kMicros)},
    {"ns", static_cast<int>(TimeUnit::kNanos)},
};
constexpr OptionEnumValue kProtocols[] = {
    {"1.0", static_cast<int>(Protocol::kV1)},
    {"2.0", static_cast<int>(Protocol::kV2)},
};
constexpr OptionEnumValue kNameValidations[] = {
    {"legacy", static_cast<int>(NameValidation::kLegacy)},
    {"utf8", static_cast<int>(NameValidation::kUtf8)},
};
constexpr OptionEnumValue kNameEscapings[] = {
    {"underscores", static_cast<int>(NameEscaping::kUnderscores)},
    {"dots", static_cast<int>(NameEscaping::kDots)},
    {"values", static_cast<int>(NameEscaping::kValues)},
};
constexpr OptionEnumValue kMetricTypes[] = {
    {"counter", static_cast<int>(MetricType::kCounter)},
    {"gauge", static_cast<int>(MetricType::kGauge)},
    {"histogram", static_cast<int>(MetricType::kHistogram)},
    {"gaugehistogram", static_cast<int>(MetricType::kGaugeHistogram)},
    {"summary", static_cast<int>(MetricType::kSummary)},
    {"info", static_cast<int>(MetricType::kInfo)},
    {"stateset", static_cast<int>(MetricType::kStateset)},
    {"unknown", static_cast<int>(MetricType::kUnknown)},
};

constexpr OptionEnumValue kOAuth2ClientAuths[] = {
    {"basic", static_cast<int>(OAuth2ClientAuth::kBasic)},
    {"post", static_cast<int>(OAuth2ClientAuth::kPost)},
};

// The metadata, made when the first of metric_type, metric_help and
// metric_unit is read: any one of them makes every request carry it.
MetricMetadata* Metadata(SinkOptions* o) {
  if (!o->metadata) o->metadata.emplace();
  return &*o->metadata;
}

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

using enum OptionKind;
using enum OptionSecrecy;

// Every option of a sink, once. The order is the order the options were
// added in, and it matters: "did you mean" suggests the first of two names
// that are equally close to a typo, so a new option goes at the end.
constexpr OptionSpec kOptions[] = {
    {.name = "url", .kind = kText, .target = &SinkOptions::url, .check = CheckHttpUrl, .secrecy = kMaskedUrl,
     .doc = "the remote-write endpoint, http:// or https://; a user:password@ part is basic authentication"},
    {.name = "headers", .kind = kJsonObject, .target = ParseHeaders, .secrecy = kSecret,
     .doc = "extra HTTP headers, a JSON object of strings"},
    {.name = "retry", .kind = kInteger, .target = &SinkOptions::retry, .lo = 0, .hi = 100,
     .doc = "retries after the first attempt"},
    {.name = "retry_backoff_multiplier_ms", .kind = kInteger, .target = &SinkOptions::retry_backoff_multiplier_ms,
     .lo = 0, .hi = kDayMs, .doc = "the n-th retry waits min(max, multiplier * 2^(n-1)) ms plus jitter"},
    {.name = "retry_backoff_max_ms", .kind = kInteger, .target = &SinkOptions::retry_backoff_max_ms, .lo = 0,
     .hi = kDayMs, .doc = "the longest wait before a retry; a longer Retry-After fails the send"},
    {.name = "connect_timeout_ms", .kind = kInteger, .target = &SinkOptions::connect_timeout_ms, .lo = 1,
     .hi = kDayMs, .doc = "bound on connecting"},
    {.name = "socket_timeout_ms", .kind = kInteger, .target = &SinkOptions::socket_timeout_ms, .lo = 1,
     .hi = kDayMs, .doc = "the longest silence while waiting for the receiver"},
    {.name = "key_timestamp", .kind = kColumn, .target = &SinkOptions::key_timestamp,
     .doc = "the column of the timestamp"},
    {.name = "key_label", .kind = kColumn, .target = &SinkOptions::key_label,
     .doc = "the column of the labels, a JSON object"},
    {.name = "key_value", .kind = kColumn, .target = &SinkOptions::key_value, .doc = "the column of the value"},
    {.name = "batch_size", .kind = kInteger, .target = &SinkOptions::batch_size, .lo = 1, .hi = 10'000'000,
     .doc = "samples per request; a full batch is sent at once"},
    {.name = "flush_interval", .kind = kInteger, .target = &SinkOptions::flush_interval_ms, .lo = 0,
     .hi = 365 * kDayMs, .doc = "ms; a buffered row older than this is sent at the next insert or commit"},
    {.name = "timestamp_unit", .kind = kEnum,
     .target = OptionEnumTarget{+[](SinkOptions* o, int v) { o->timestamp_unit = static_cast<TimeUnit>(v); },
                                +[](const SinkOptions& o) { return static_cast<int>(o.timestamp_unit); }},
     .values = kTimeUnits, .doc = "the unit of numeric timestamps"},
    {.name = "max_request_bytes", .kind = kInteger, .target = &SinkOptions::max_request_bytes, .lo = 1024,
     .hi = 1LL << 30, .doc = "no uncompressed request body exceeds this; larger batches are split"},
    {.name = "metric", .kind = kText, .target = &SinkOptions::metric, .check = CheckMetricName,
     .doc = "supplies __name__ for every row"},
    {.name = "external_labels", .kind = kJsonObject, .target = ParseExternalLabels,
     .doc = "labels added to every row, a JSON object"},
    {.name = "username", .kind = kText, .target = &SinkOptions::username, .check = CheckUsername,
     .doc = "HTTP basic authentication, with password"},
    {.name = "tls_ca_file", .kind = kPath, .target = &SinkOptions::tls_ca_file,
     .doc = "the CA bundle that verifies the receiver"},
    {.name = "tls_cert_file", .kind = kPath, .target = &SinkOptions::tls_cert_file,
     .doc = "the client certificate (mutual TLS), with tls_key_file"},
    {.name = "tls_key_file", .kind = kPath, .target = &SinkOptions::tls_key_file,
     .doc = "the client certificate's key, with tls_cert_file"},
    {.name = "tls_insecure_skip_verify", .kind = kBool, .target = &SinkOptions::tls_insecure_skip_verify,
     .doc = "turns off TLS peer and host-name verification (tests only)"},
    {.name = "proxy_url", .kind = kText, .target = &SinkOptions::proxy_url, .check = CheckProxyUrl,
     .secrecy = kMaskedUrl, .doc = "an http, https, socks5 or socks5h proxy; none: no proxy, whatever the environment says"},
    {.name = "follow_redirects", .kind = kBool, .target = &SinkOptions::follow_redirects,
     .doc = "follows up to 5 redirects"},
    {.name = "protocol", .kind = kEnum,
     .target = OptionEnumTarget{+[](SinkOptions* o, int v) { o->protocol = static_cast<Protocol>(v); },
                                +[](const SinkOptions& o) { return static_cast<int>(o.protocol); }},
     .values = kProtocols, .doc = "remote-write 1.0 or 2.0 (2.0 falls back to 1.0 on 415)"},
    {.name = "metric_type", .kind = kEnum,
     .target = OptionEnumTarget{+[](SinkOptions* o, int v) { Metadata(o)->type = static_cast<MetricType>(v); },
                                +[](const SinkOptions& o) {
                                  return o.metadata ? static_cast<int>(o.metadata->type) : -1;
                                }},
     .values = kMetricTypes, .ignore_case = true, .doc = "the metric type, sent as metadata"},
    {.name = "metric_help", .kind = kText,
     .target = +[](SinkOptions* o, const std::string& v) { Metadata(o)->help = v; }, .check = CheckUtf8Text,
     .doc = "the help text, sent as metadata"},
    {.name = "metric_unit", .kind = kText,
     .target = +[](SinkOptions* o, const std::string& v) { Metadata(o)->unit = v; }, .check = CheckMetricUnit,
     .doc = "the unit, sent as metadata"},
    {.name = "spool", .kind = kBool, .target = &SinkOptions::spool,
     .doc = "keeps accepted rows durably in <name>_spool until the receiver acknowledges them"},
    {.name = "spool_max_rows", .kind = kInteger, .target = &SinkOptions::spool_max_rows, .lo = 1,
     .hi = int64_t{1} << 40, .doc = "a spooled sink refuses new rows while this many wait"},
    {.name = "spool_close_wait_ms", .kind = kInteger, .target = &SinkOptions::spool_close_wait_ms, .lo = 0,
     .hi = 600'000, .doc = "closing the connection waits at most this long for the background drain"},
    {.name = "max_in_flight", .kind = kInteger, .target = &SinkOptions::max_in_flight, .lo = 1, .hi = 16,
     .doc = "requests on the wire at once (shards); not given: one queue until the network is the limit"},
    {.name = "key_start_timestamp", .kind = kColumn, .target = &SinkOptions::key_start_timestamp,
     .doc = "adds the column of remote-write 2.0's Sample.start_timestamp"},
    {.name = "key_histogram", .kind = kColumn, .target = &SinkOptions::key_histogram,
     .doc = "the HIDDEN column of a native histogram (JSON)"},
    {.name = "key_exemplar", .kind = kColumn, .target = &SinkOptions::key_exemplar,
     .doc = "the HIDDEN column of an exemplar (JSON)"},
    {.name = "sigv4_region", .kind = kText, .target = &SinkOptions::sigv4_region, .check = CheckSigV4Name,
     .doc = "signs every request with AWS Signature Version 4 for this region"},
    {.name = "sigv4_service", .kind = kText, .target = &SinkOptions::sigv4_service, .check = CheckSigV4Name,
     .doc = "the service the SigV4 signature is for"},
    {.name = "oauth2_token_url", .kind = kText, .target = &SinkOptions::oauth2_token_url, .check = CheckHttpUrl,
     .secrecy = kMaskedUrl, .doc = "OAuth2 client credentials: the token endpoint"},
    {.name = "oauth2_scopes", .kind = kText, .target = &SinkOptions::oauth2_scopes, .check = CheckOAuth2Scopes,
     .doc = "space-separated scopes to ask the token endpoint for"},
    {.name = "oauth2_params", .kind = kJsonObject, .target = ParseOAuth2Params, .secrecy = kSecret,
     .doc = "extra form fields of the token request, a JSON object of strings"},
    {.name = "bearer_token", .kind = kCredential, .target = &SinkOptions::bearer_token, .secrecy = kSecret,
     .doc = "sent as Authorization: Bearer"},
    {.name = "password", .kind = kCredential, .target = &SinkOptions::password, .secrecy = kSecret,
     .doc = "HTTP basic authentication, with username"},
    {.name = "sigv4_access_key", .kind = kCredential, .target = &SinkOptions::sigv4_access_key, .secrecy = kSecret,
     .doc = "the AWS access key (none: AWS_ACCESS_KEY_ID at each request)"},
    {.name = "sigv4_secret_key", .kind = kCredential, .target = &SinkOptions::sigv4_secret_key, .secrecy = kSecret,
     .doc = "the AWS secret key (none: AWS_SECRET_ACCESS_KEY at each request)"},
    {.name = "oauth2_client_id", .kind = kCredential, .target = &SinkOptions::oauth2_client_id, .secrecy = kSecret,
     .doc = "the OAuth2 client's id"},
    {.name = "oauth2_client_secret", .kind = kCredential, .target = &SinkOptions::oauth2_client_secret,
     .secrecy = kSecret, .doc = "the OAuth2 client's secret"},
    {.name = "max_samples_per_second", .kind = kInteger, .target = &SinkOptions::max_samples_per_second, .lo = 1,
     .hi = 1'000'000'000, .doc = "limits everything the sink sends (shards and spool drain together), spread over time"},
    {.name = "sigv4_profile", .kind = kText, .target = &SinkOptions::sigv4_profile, .check = CheckSigV4Name,
     .doc = "the profile of the AWS shared credentials and config files (none: AWS_PROFILE, else default)"},
    {.name = "sigv4_role_arn", .kind = kText, .target = &SinkOptions::sigv4_role_arn, .check = CheckRoleArn,
     .doc = "assumes this role (STS AssumeRole) with the credentials the AWS chain gives"},
    {.name = "oauth2_client_auth", .kind = kEnum,
     .target = OptionEnumTarget{+[](SinkOptions* o, int v) { o->oauth2_client_auth = static_cast<OAuth2ClientAuth>(v); },
                                +[](const SinkOptions& o) { return static_cast<int>(o.oauth2_client_auth); }},
     .values = kOAuth2ClientAuths, .doc = "how the OAuth2 client authenticates: HTTP basic, or post (form fields)"},
    {.name = "query_url", .kind = kText, .target = &SinkOptions::query_url, .check = CheckHttpUrl,
     .secrecy = kMaskedUrl,
     .doc = "prometheus_query()'s endpoint, .../api/v1/query (default: from url); the range endpoint adds _range"},
    {.name = "query_max_bytes", .kind = kInteger, .target = &SinkOptions::query_max_bytes, .lo = 1024,
     .hi = 1LL << 32, .doc = "prometheus_query() fails on an answer larger than this"},
    {.name = "name_validation_scheme", .kind = kEnum,
     .target = OptionEnumTarget{+[](SinkOptions* o, int v) { o->names.validation = static_cast<NameValidation>(v); },
                                +[](const SinkOptions& o) { return static_cast<int>(o.names.validation); }},
     .values = kNameValidations, .doc = "legacy: names must match the legacy rule; utf8: any UTF-8 name is sent as given"},
    {.name = "name_escaping_scheme", .kind = kEnum,
     .target = OptionEnumTarget{+[](SinkOptions* o, int v) { o->names.escaping = static_cast<NameEscaping>(v); },
                                +[](const SinkOptions& o) { return static_cast<int>(o.names.escaping); }},
     .values = kNameEscapings, .doc = "with legacy: escapes a name that breaks the rule instead of refusing it"},
};

// The table's rows agree with themselves: each kind has its kind of target,
// a range, values or check only where they mean something, a credential is
// secret, and no two names (a credential's _file and _env forms included)
// are the same.
constexpr bool IsWellFormed(const OptionSpec& s) {
  const OptionTarget& t = s.target;
  using Text = std::string SinkOptions::*;
  bool target_ok = false;
  switch (s.kind) {
    case kText:
      target_ok = std::holds_alternative<Text>(t) ||
                  std::holds_alternative<void (*)(SinkOptions*, const std::string&)>(t);
      break;
    case kColumn:
    case kPath: target_ok = std::holds_alternative<Text>(t); break;
    case kBool: target_ok = std::holds_alternative<bool SinkOptions::*>(t); break;
    case kInteger: target_ok = std::holds_alternative<int64_t SinkOptions::*>(t) && s.lo <= s.hi; break;
    case kEnum: target_ok = std::holds_alternative<OptionEnumTarget>(t) && !s.values.empty(); break;
    case kJsonObject: target_ok = std::holds_alternative<Status (*)(const std::string&, SinkOptions*)>(t); break;
    case kCredential: target_ok = std::holds_alternative<Secret SinkOptions::*>(t) && s.secrecy == kSecret; break;
  }
  return target_ok && !s.name.empty() && !s.doc.empty() && (s.kind == kText || s.check == nullptr) &&
         (s.kind == kEnum || (s.values.empty() && !s.ignore_case)) && (s.kind == kInteger || s.lo == s.hi);
}
constexpr bool NamesAreDistinct() {
  for (const OptionSpec& a : kOptions) {
    for (const OptionSpec& b : kOptions) {
      if (&a == &b) continue;
      if (a.name == b.name) return false;
      if (b.kind == kCredential && a.name.starts_with(b.name)) {
        std::string_view form = a.name.substr(b.name.size());
        if (form == "_file" || form == "_env") return false;
      }
    }
  }
  return true;
}
static_assert(std::all_of(std::begin(kOptions), std::end(kOptions), IsWellFormed),
              "a row of kOptions does not fit its kind");
static_assert(NamesAreDistinct(), "two options of kOptions have the same name");

// Request headers the extension owns; `headers` may not set them.
constexpr std::string_view kReservedHeaders[] = {
    "content-encoding", "content-type", "content-length", "x-prometheus-remote-write-version",
    "user-agent", "host", "connection", "expect", "transfer-encoding", "te", "upgrade",
    "keep-alive", "proxy-connection", "trailer",
};

bool IsHeaderTokenChar(unsigned char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

// No control characters (tab excepted): they could split an HTTP header.

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
    // The names are checked once the name schemes are known
    // (CheckOptionNames); one that no scheme takes is refused here, where
    // a member with a null value is still seen.
    if (m.key.empty()) return Status::Invalid("option 'external_labels': invalid label name ''");
    for (const auto& [k, v] : out->external_labels) {
      if (k == m.key) return Status::Invalid("option 'external_labels': label '" + m.key + "' is given twice");
    }
    if (m.kind == JsonMember::Kind::kNull || m.value.empty()) continue;
    out->external_labels.emplace_back(m.key, m.value);
  }
  return Status::Ok();
}

// The checks of kText options: each refuses what its option cannot take,
// with the option's own message, and accepts the value as it is.

Status CheckProxyUrl(std::string_view option, const std::string& value) {
  constexpr std::string_view kSchemes[] = {"http://", "https://", "socks5://", "socks5h://"};
  bool ok = std::any_of(std::begin(kSchemes), std::end(kSchemes), [&](std::string_view sch) {
    return value.size() > sch.size() && EqualsIgnoreCase(std::string_view(value).substr(0, sch.size()), sch);
  });
  if (!ok || !IsValidHeaderValue(value) || value.find(' ') != std::string::npos) {
    return Status::Invalid("option '" + std::string(option) +
                           "' must be an http://, https://, socks5:// or socks5h:// URL, found " +
                           Shorten(MaskUrl(value)));
  }
  return Status::Ok();
}

// sigv4_role_arn: an IAM role's ARN, "arn:<partition>:iam::<account>:role/<name>".
Status CheckRoleArn(std::string_view option, const std::string& value) {
  const bool ok = value.rfind("arn:", 0) == 0 && value.find(":iam::") != std::string::npos &&
                  value.find(":role/") != std::string::npos && IsValidHeaderValue(value) &&
                  value.find_first_of(" \t") == std::string::npos;
  if (!ok) {
    return Status::Invalid("option '" + std::string(option) +
                           "' must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), found " + Shorten(value));
  }
  return Status::Ok();
}

// sigv4_region and sigv4_service: what libcurl's "aws:amz:<region>:<service>"
// can carry.
Status CheckSigV4Name(std::string_view option, const std::string& value) {
  bool ok = !value.empty() && value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
  if (!ok) {
    return Status::Invalid("option '" + std::string(option) +
                           "' must be 1 to 64 letters, digits, '-', '_' or '.' (e.g. " +
                           (option == "sigv4_region" ? "us-east-1" : option == "sigv4_profile" ? "prod" : "aps") + "), found " + Shorten(value));
  }
  return Status::Ok();
}

Status CheckMetricName(std::string_view option, const std::string& value) {
  if (value.empty() || !IsValidUtf8(value)) {
    return Status::Invalid("option '" + std::string(option) + "' must be a non-empty UTF-8 metric name, found " +
                           Shorten(value));
  }
  return Status::Ok();
}

// A user name for HTTP basic authentication: "user:password" cannot hold
// another ':' in the name.
Status CheckUsername(std::string_view option, const std::string& value) {
  if (value.empty() || value.find(':') != std::string::npos || !IsValidHeaderValue(value)) {
    return Status::Invalid("option '" + std::string(option) + "' must be non-empty, without ':' or control characters");
  }
  return Status::Ok();
}

Status CheckOAuth2Scopes(std::string_view option, const std::string& value) {
  if (Trim(value).empty() || !IsValidHeaderValue(value) || !IsValidUtf8(value)) {
    return Status::Invalid("option '" + std::string(option) + "' must be space-separated scope names, found " +
                           Shorten(value));
  }
  return Status::Ok();
}

// metric_help: any non-empty UTF-8 text.
Status CheckUtf8Text(std::string_view option, const std::string& value) {
  if (value.empty()) return Status::Invalid("option '" + std::string(option) + "' has an empty value");
  if (!IsValidUtf8(value)) {
    return Status::Invalid("option '" + std::string(option) + "' must be UTF-8 text, found " + Shorten(value));
  }
  return Status::Ok();
}

// metric_unit: UTF-8 text without control characters.
Status CheckMetricUnit(std::string_view option, const std::string& value) {
  PSINK_RETURN_IF_ERROR(CheckUtf8Text(option, value));
  if (!IsValidHeaderValue(value)) {
    return Status::Invalid("option '" + std::string(option) + "' contains a control character: " + Shorten(value));
  }
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

// The row of option `name` (lower case), or nullptr; for a kCredential
// option, *form says which of its forms `name` is (kValue otherwise).
const OptionSpec* FindOption(std::string_view name, Secret::Source* form) {
  *form = Secret::Source::kValue;
  for (const OptionSpec& s : kOptions) {
    if (name == s.name) return &s;
    if (s.kind == kCredential && name.starts_with(s.name)) {
      std::string_view suffix = name.substr(s.name.size());
      if (suffix == "_file") *form = Secret::Source::kFile;
      else if (suffix == "_env") *form = Secret::Source::kEnv;
      else continue;
      return &s;
    }
  }
  return nullptr;
}

// How much of option `name`'s value a message may show. Not an option (a
// label column): all of it.
OptionSecrecy SecrecyOf(std::string_view name) {
  Secret::Source form;
  const OptionSpec* spec = FindOption(name, &form);
  if (spec == nullptr) return kShown;
  if (spec->kind == kCredential && form != Secret::Source::kValue) return kShown;  // a path or a variable name
  return spec->secrecy;
}

// Removes one level of SQL-style quotes: '…' or "…" with doubled quotes
// inside. A bare word is returned as it is.
Status Unquote(std::string_view name, std::string_view raw, std::string* out) {
  // Messages never show credentials: what the option table calls secret is
  // not shown, URLs (url, proxy_url, oauth2_token_url) are masked.
  auto shown = [&] {
    OptionSecrecy secrecy = SecrecyOf(name);
    if (secrecy == kSecret) return std::string("the value (not shown)");
    return Shorten(secrecy == kMaskedUrl ? MaskUrl(raw) : std::string(raw));
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

Status UnknownOption(std::string_view name) {
  std::string msg = "unknown option " + Shorten(name);
  std::string hint = ClosestOption(name);
  if (!hint.empty()) msg += " (did you mean '" + hint + "'?)";
  return Status::Invalid(msg);
}

// Reads `value` (unquoted) into *out as `spec` says. `name` is the name as
// given: spec.name, or for a kCredential option the form `form`.
Status Apply(const OptionSpec& spec, const std::string& name, Secret::Source form, const std::string& value,
             SinkOptions* out) {
  switch (spec.kind) {
    case kText:
      if (spec.check != nullptr) {
        PSINK_RETURN_IF_ERROR(spec.check(name, value));
      } else if (value.empty()) {
        return Status::Invalid("option '" + name + "' has an empty value");
      }
      if (auto* member = std::get_if<std::string SinkOptions::*>(&spec.target)) {
        out->**member = value;
      } else {
        std::get<void (*)(SinkOptions*, const std::string&)>(spec.target)(out, value);
      }
      return Status::Ok();
    case kColumn:
      if (!IsIdentifier(value)) {
        return Status::Invalid("option '" + name + "' must be a column name ([a-zA-Z_][a-zA-Z0-9_]*), found " +
                               Shorten(value));
      }
      out->*std::get<std::string SinkOptions::*>(spec.target) = value;
      return Status::Ok();
    case kPath:
      if (value.empty()) return Status::Invalid("option '" + name + "' has an empty value");
      out->*std::get<std::string SinkOptions::*>(spec.target) = value;
      return Status::Ok();
    case kBool: {
      bool b;
      if (value == "1" || EqualsIgnoreCase(value, "true") || EqualsIgnoreCase(value, "on")) b = true;
      else if (value == "0" || EqualsIgnoreCase(value, "false") || EqualsIgnoreCase(value, "off")) b = false;
      else return Status::Invalid("option '" + name + "' must be true or false, found " + Shorten(value));
      out->*std::get<bool SinkOptions::*>(spec.target) = b;
      return Status::Ok();
    }
    case kInteger:
      return ParseInt(name, value, spec.lo, spec.hi, &(out->*std::get<int64_t SinkOptions::*>(spec.target)));
    case kEnum: {
      for (const OptionEnumValue& v : spec.values) {
        if (spec.ignore_case ? EqualsIgnoreCase(value, v.text) : value == v.text) {
          std::get<OptionEnumTarget>(spec.target).set(out, v.value);
          return Status::Ok();
        }
      }
      // "must be 'a' or 'b', found x" / "must be one of a, b, c; found x"
      std::string expected;
      if (spec.values.size() == 2) {
        expected = "'" + std::string(spec.values[0].text) + "' or '" + std::string(spec.values[1].text) + "',";
      } else {
        expected = "one of ";
        for (const OptionEnumValue& v : spec.values) {
          expected += std::string(v.text) + (&v == &spec.values.back() ? ";" : ", ");
        }
      }
      return Status::Invalid("option '" + name + "' must be " + expected + " found " + Shorten(value));
    }
    case kJsonObject:
      return std::get<Status (*)(const std::string&, SinkOptions*)>(spec.target)(value, out);
    case kCredential: {
      Secret& secret = out->*std::get<Secret SinkOptions::*>(spec.target);
      const std::string family(spec.name);
      if (!secret.empty()) {
        return Status::Invalid("options '" + family + "', '" + family + "_file' and '" + family +
                               "_env' exclude each other; '" + name + "' is one too many");
      }
      if (value.empty()) return Status::Invalid("option '" + name + "' has an empty value");
      if (form == Secret::Source::kValue && !IsValidHeaderValue(value)) {
        return Status::Invalid("option '" + name + "' contains a control character (the value is not shown)");
      }
      secret.source = form;
      secret.text = value;
      return Status::Ok();
    }
  }
  return Status::Invalid("option '" + name + "': unknown kind");  // not reached: every kind is handled above
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

  for (std::string_view part :
       {"sigv4_service", "sigv4_access_key", "sigv4_secret_key", "sigv4_profile", "sigv4_role_arn"}) {
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
    if (!o->sigv4_access_key.empty() && given("sigv4_profile")) {
      return Status::Invalid("option 'sigv4_profile' picks a profile of the AWS credential chain, which "
                             "sigv4_access_key and sigv4_secret_key replace: give one or the other");
    }
    PSINK_RETURN_IF_ERROR(CheckSigV4Headers(*o));
    o->aws_credentials = std::make_shared<AwsCredentialCache>();
    std::string signed_url;
    PSINK_RETURN_IF_ERROR(SigV4Url(o->url, &signed_url));
  }

  for (std::string_view part :
       {"oauth2_client_id", "oauth2_client_secret", "oauth2_scopes", "oauth2_params", "oauth2_client_auth"}) {
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

// The names the options give (label columns, `metric`, external labels),
// checked as a row's names are, so that a sink whose every row would be
// refused fails at CREATE; and two of them that differ but are sent as one
// name (escaped alike) are refused, naming both.
Status CheckOptionNames(const SinkOptions& o) {
  if (o.names.escaping != NameEscaping::kNone && o.names.validation != NameValidation::kLegacy) {
    return Status::Invalid(
        "option 'name_escaping_scheme' applies only with name_validation_scheme='legacy' (utf8 sends every name as it "
        "is)");
  }
  struct Sent {
    std::string name, given, what;
  };
  std::vector<Sent> sent;
  std::string scratch;
  std::string_view name;
  // `source` heads a refusal of the name; `what` names it in a collision.
  auto add = [&](const std::string& given, NameKind kind, const std::string& source, const std::string& what) -> Status {
    PSINK_RETURN_IF_ERROR(SendName(o.names, given, kind, source, &scratch, &name));
    if (kind == NameKind::kMetric) return Status::Ok();
    for (const Sent& s : sent) {
      if (s.name == name && s.given != given) {
        return Status::Invalid(s.what + " and " + what + " are both sent as the label " + Shorten(name));
      }
    }
    sent.push_back(Sent{std::string(name), given, what});
    return Status::Ok();
  };
  for (const std::string& c : o.label_columns) {
    Status st = add(c, NameKind::kLabel, "label column " + Shorten(c), "label column " + Shorten(c));
    if (!st.ok() && o.names.escaping == NameEscaping::kNone) {
      return Status::Invalid("label column " + Shorten(c) + " is not a valid label name (expected " +
                             std::string(NameRule(o.names.validation, NameKind::kLabel)) +
                             "); options are written name=value");
    }
    PSINK_RETURN_IF_ERROR(st);
  }
  if (!o.metric.empty()) PSINK_RETURN_IF_ERROR(add(o.metric, NameKind::kMetric, "option 'metric'", {}));
  for (const auto& [k, v] : o.external_labels) {
    PSINK_RETURN_IF_ERROR(add(k, NameKind::kLabel, "option 'external_labels'", "external label " + Shorten(k)));
  }
  return Status::Ok();
}

}  // namespace

std::string_view ProtocolName(Protocol protocol) { return protocol == Protocol::kV2 ? "2.0" : "1.0"; }

bool IsValidLabelName(std::string_view name) { return IsLegacyName(name, NameKind::kLabel); }

std::span<const OptionSpec> OptionTable() { return kOptions; }

const std::vector<std::string>& OptionNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const OptionSpec& s : kOptions) {
      v.emplace_back(s.name);
      if (s.kind == kCredential) {
        v.push_back(std::string(s.name) + "_file");
        v.push_back(std::string(s.name) + "_env");
      }
    }
    return v;
  }();
  return names;
}

Status ApplyOption(std::string_view name, const std::string& value, SinkOptions* out) {
  Secret::Source form;
  const OptionSpec* spec = FindOption(name, &form);
  if (spec == nullptr) return UnknownOption(name);
  return Apply(*spec, std::string(name), form, value, out);
}

std::optional<std::string> OptionValue(const OptionSpec& spec, const SinkOptions& opts) {
  if (spec.kind == kCredential || spec.kind == kJsonObject) return std::nullopt;
  if (auto* m = std::get_if<std::string SinkOptions::*>(&spec.target)) return opts.**m;
  if (auto* m = std::get_if<int64_t SinkOptions::*>(&spec.target)) return std::to_string(opts.**m);
  if (auto* m = std::get_if<bool SinkOptions::*>(&spec.target)) return opts.**m ? "true" : "false";
  if (auto* e = std::get_if<OptionEnumTarget>(&spec.target)) {
    int v = e->get(opts);
    for (const OptionEnumValue& ev : spec.values) {
      if (ev.value == v) return std::string(ev.text);
    }
    return std::string();
  }
  return std::nullopt;
}

Status OptionsFromArgs(const std::vector<std::string_view>& args, SinkOptions* out) {
  *out = SinkOptions();
  std::vector<std::string> seen;
  for (std::string_view arg : args) {
    std::string_view a = Trim(arg);
    size_t eq = a.find('=');
    if (eq == std::string_view::npos) {
      // A bare word declares a label column.
      std::string col;
      PSINK_RETURN_IF_ERROR(Unquote("label column", a, &col));
      // Its name is checked once the name schemes are known (CheckOptionNames).
      if (col == "__name__") {
        return Status::Invalid("label column '__name__' is not allowed; use the option metric='...' or the labels column");
      }
      if (std::find(out->label_columns.begin(), out->label_columns.end(), col) != out->label_columns.end()) {
        return Status::Invalid("label column " + Shorten(col, 200) + " is declared twice");
      }
      out->label_columns.push_back(col);
      continue;
    }
    std::string name(Trim(a.substr(0, eq)));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    Secret::Source form;
    const OptionSpec* spec = FindOption(name, &form);
    if (spec == nullptr) return UnknownOption(name);
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return Status::Invalid("option '" + name + "' is given more than once");
    }
    seen.push_back(name);
    std::string value;
    PSINK_RETURN_IF_ERROR(Unquote(name, Trim(a.substr(eq + 1)), &value));
    PSINK_RETURN_IF_ERROR(Apply(*spec, name, form, value, out));
  }

  // The checks across options.
  auto given = [&](std::string_view name) { return std::find(seen.begin(), seen.end(), name) != seen.end(); };
  if (!given("url")) return Status::Invalid("option 'url' is required");
  out->max_in_flight_auto = !given("max_in_flight");
  if (!out->password.empty() && out->username.empty()) {
    return Status::Invalid("option 'password' (or password_file/password_env) needs 'username'");
  }
  if (!out->username.empty() && out->password.empty()) {
    return Status::Invalid("option 'username' needs 'password', 'password_file' or 'password_env'");
  }
  PSINK_RETURN_IF_ERROR(CheckAuthentication(seen, out));
  if (out->max_samples_per_second > 0) out->rate_limiter = std::make_shared<RateLimiter>(out->max_samples_per_second);
  if (out->tls_cert_file.empty() != out->tls_key_file.empty()) {
    return Status::Invalid("options 'tls_cert_file' and 'tls_key_file' go together: give both or neither");
  }

  PSINK_RETURN_IF_ERROR(CheckOptionNames(*out));

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
    if (!given(option)) {
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

Status CheckEnvironment(const SinkOptions& opts) {
  std::string scratch;
  for (const OptionSpec& spec : kOptions) {
    if (spec.kind != kCredential) continue;
    const Secret& secret = opts.*std::get<Secret SinkOptions::*>(spec.target);
    if (!secret.empty()) PSINK_RETURN_IF_ERROR(ResolveSecret(secret, spec.name, &scratch));
  }
  if (opts.sigv4()) {
    PSINK_RETURN_IF_ERROR(CheckSigV4Credentials(opts));
  }
  for (const OptionSpec& spec : kOptions) {
    if (spec.kind != kPath) continue;
    const std::string& path = opts.*std::get<std::string SinkOptions::*>(spec.target);
    if (path.empty()) continue;
    std::ifstream in(path);
    if (!in) return Status::Invalid("option '" + std::string(spec.name) + "': cannot read " + Shorten(path, 200));
  }
  return Status::Ok();
}

}  // namespace psink
