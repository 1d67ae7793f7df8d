// Fuzz target for options.{h,cc}: OptionsFromArgs on the arguments of
// CREATE VIRTUAL TABLE ... USING prometheus_sink(...), one argument per line
// of the input, as SQLite hands them over (quotes included).
//
// Invariants, besides "no crash, no sanitizer report":
//   - accepted options are within their documented ranges, the url is http(s)
//     with a host, column names are valid and distinct, headers are neither
//     reserved nor hold control characters;
//   - every error message is non-empty valid UTF-8;
//   - authentication: at most one kind (basic, bearer, sigv4, oauth2), each
//     complete; a SigV4 sink's URL has a canonical form (SigV4Url), which is
//     its own canonical form, and no header of its own signature; an OAuth2
//     sink has its token cache, no other sink has one;
//   - no credential reaches a message: changing the letters and digits of the
//     user:password@ part of `url`, `proxy_url` and `oauth2_token_url`, of the
//     string values of `headers` and `oauth2_params`, or of the inline
//     credential options (bearer_token, password, sigv4_access_key,
//     sigv4_secret_key, oauth2_client_id, oauth2_client_secret), leaves the
//     outcome and the message exactly as they were.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "options.h"
#include "text.h"
#include "vtab_columns.h"

namespace {

// Whether the name schemes send `name` (as it is or escaped).
bool Sendable(const psink::NameScheme& names, std::string_view name, psink::NameKind kind) {
  std::string scratch;
  std::string_view sent;
  return psink::SendName(names, name, kind, {}, &scratch, &sent).ok();
}

using psink::SinkOptions;
using psink::Status;

char Rotate(char c) {
  if (c >= 'a' && c <= 'z') return c == 'z' ? 'a' : static_cast<char>(c + 1);
  if (c >= 'A' && c <= 'Z') return c == 'Z' ? 'A' : static_cast<char>(c + 1);
  if (c >= '0' && c <= '9') return c == '9' ? '0' : static_cast<char>(c + 1);
  return c;
}

// The option name of a raw argument, as OptionsFromArgs sees it (trimmed, lower
// case), or "" for a bare word.
std::string NameOf(std::string_view arg) {
  std::string_view a = psink::Trim(arg);
  size_t eq = a.find('=');
  if (eq == std::string_view::npos) return {};
  std::string name(psink::Trim(a.substr(0, eq)));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name;
}

// Rotates the letters and digits of the user:password@ part of a url
// argument (the part MaskUrl hides). Returns false when there is none.
// (The value may be quoted: the quotes are not letters, so the same part is
// found in the raw argument as in the unquoted value.)
bool HideUserinfo(std::string* arg) {
  size_t eq = arg->find('=');
  size_t scheme = arg->find("://", eq);
  if (scheme == std::string::npos) return false;
  size_t start = scheme + 3;
  size_t end = arg->find_first_of("/?#", start);
  if (end == std::string::npos) end = arg->size();
  size_t at = std::string_view(*arg).substr(start, end - start).rfind('@');
  if (at == std::string_view::npos || at == 0) return false;
  for (size_t i = start; i < start + at; ++i) (*arg)[i] = Rotate((*arg)[i]);
  return true;
}

// Rotates the letters and digits of the value of an inline credential
// argument. Returns false when there are none.
bool HideValue(std::string* arg) {
  bool changed = false;
  for (size_t i = arg->find('=') + 1; i < arg->size(); ++i) {
    char c = Rotate((*arg)[i]);
    changed |= c != (*arg)[i];
    (*arg)[i] = c;
  }
  return changed;
}

// Rotates the letters and digits of the JSON string values (not the keys, not
// escapes) of a headers argument, bare or quoted with '...'. Returns false
// when there are none.
bool HideHeaderValues(std::string* arg) {
  size_t eq = arg->find('=');
  size_t q = arg->find_first_not_of(" \t\r\n\f\v", eq + 1);
  if (q == std::string::npos || ((*arg)[q] != '\'' && (*arg)[q] != '{')) return false;
  bool in_string = false, is_value = false, after_colon = false, changed = false;
  for (size_t i = (*arg)[q] == '{' ? q : q + 1; i < arg->size(); ++i) {
    char c = (*arg)[i];
    if (!in_string) {
      if (c == '"') {
        in_string = true;
        is_value = after_colon;
      } else if (c == ':') {
        after_colon = true;
      } else if (c == ',' || c == '{' || c == '}') {
        after_colon = false;
      }
      continue;
    }
    if (c == '\\') {
      // Leave the escape alone: \uXXXX keeps its four hex digits.
      if (i + 1 < arg->size() && (*arg)[i + 1] == 'u') i += 4;
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = false;
      after_colon = false;
      continue;
    }
    if (is_value && Rotate(c) != c) {
      (*arg)[i] = Rotate(c);
      changed = true;
    }
  }
  return changed;
}

void CheckAccepted(const SinkOptions& o) {
  std::string_view url = o.url;
  FUZZ_CHECK(psink::EqualsIgnoreCase(url.substr(0, 7), "http://") || psink::EqualsIgnoreCase(url.substr(0, 8), "https://"),
             "url '%s'", o.url.c_str());
  size_t host = url.find("://") + 3;
  FUZZ_CHECK(host < url.size() && url[host] != '/', "url without a host: '%s'", o.url.c_str());
  for (char c : url) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7F, "control char in url");
  FUZZ_CHECK(o.retry >= 0 && o.retry <= 100, "retry %lld", static_cast<long long>(o.retry));
  FUZZ_CHECK(o.batch_size >= 1 && o.batch_size <= 10'000'000, "batch_size %lld", static_cast<long long>(o.batch_size));
  FUZZ_CHECK(o.max_request_bytes >= 1024 && o.max_request_bytes <= (1LL << 30), "max_request_bytes");
  FUZZ_CHECK(o.connect_timeout_ms >= 1 && o.socket_timeout_ms >= 1, "timeouts");
  FUZZ_CHECK(o.retry_backoff_multiplier_ms >= 0 && o.retry_backoff_max_ms >= 0 && o.flush_interval_ms >= 0, "ranges");
  std::vector<std::string> cols = o.label_columns;
  cols.push_back(o.key_label);
  cols.push_back(o.key_value);
  cols.push_back(o.key_timestamp);
  for (size_t i = 0; i < cols.size(); ++i) {
    // A label column's name is one the name schemes send (as it is or
    // escaped); the other columns' names are identifiers.
    FUZZ_CHECK(i < o.label_columns.size() ? Sendable(o.names, cols[i], psink::NameKind::kLabel)
                                          : psink::IsValidLabelName(cols[i]),
               "column name '%s'", cols[i].c_str());
    FUZZ_CHECK(cols[i] != "__name__" || i >= o.label_columns.size(), "label column __name__");
    for (size_t j = 0; j < i; ++j) FUZZ_CHECK(!psink::EqualsIgnoreCase(cols[i], cols[j]), "columns clash: '%s'", cols[i].c_str());
  }
  for (const auto& [k, v] : o.headers) {
    FUZZ_CHECK(!k.empty(), "empty header name");
    for (std::string_view reserved : {"content-type", "content-encoding", "content-length", "user-agent", "host",
                                      "connection", "expect", "x-prometheus-remote-write-version"}) {
      FUZZ_CHECK(!psink::EqualsIgnoreCase(k, reserved), "reserved header '%s' accepted", k.c_str());
    }
    for (char c : k) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != ':' && c != 0x7F, "header name char");
    for (char c : v) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 || c == '\t', "control char in header value");
  }
  for (const auto& [k, v] : o.external_labels) {
    FUZZ_CHECK(Sendable(o.names, k, psink::NameKind::kLabel) && !v.empty() && psink::IsValidUtf8(v),
               "external label '%s'", k.c_str());
  }
  FUZZ_CHECK(o.metric.empty() || Sendable(o.names, o.metric, psink::NameKind::kMetric), "metric not sendable");

  int kinds = !o.username.empty() + !o.bearer_token.empty() + o.sigv4() + o.oauth2();
  FUZZ_CHECK(kinds <= 1, "%d kinds of authentication accepted", kinds);
  bool auth_header = std::any_of(o.headers.begin(), o.headers.end(),
                                 [](const auto& h) { return psink::EqualsIgnoreCase(h.first, "authorization"); });
  FUZZ_CHECK(kinds == 0 || (!auth_header && psink::MaskUrl(o.url) == o.url), "authentication given twice");
  if (o.sigv4()) {
    FUZZ_CHECK(!o.sigv4_region.empty() && !o.sigv4_service.empty(), "sigv4 without region or service");
    for (const std::string* n : {&o.sigv4_region, &o.sigv4_service}) {
      for (char c : *n) FUZZ_CHECK(c != ':' && static_cast<unsigned char>(c) > 0x20, "sigv4 name '%s'", n->c_str());
    }
    FUZZ_CHECK(o.sigv4_access_key.empty() == o.sigv4_secret_key.empty(), "one SigV4 key without the other");
    std::string once, twice;
    FUZZ_CHECK(psink::SigV4Url(o.url, &once).ok(), "accepted sigv4 url refused by SigV4Url: '%s'", o.url.c_str());
    FUZZ_CHECK(psink::SigV4Url(once, &twice).ok() && twice == once, "SigV4Url not idempotent: '%s' -> '%s' -> '%s'",
               o.url.c_str(), once.c_str(), twice.c_str());
    for (const auto& [k, v] : o.headers) {
      FUZZ_CHECK(!psink::EqualsIgnoreCase(std::string_view(k).substr(0, 6), "x-amz-"), "header '%s' with sigv4", k.c_str());
      FUZZ_CHECK(!psink::Trim(v).empty(), "empty header '%s' with sigv4", k.c_str());
    }
  } else {
    FUZZ_CHECK(o.sigv4_access_key.empty() && o.sigv4_secret_key.empty(), "SigV4 keys without sigv4_region");
  }
  if (o.oauth2()) {
    std::string_view t = o.oauth2_token_url;
    FUZZ_CHECK(psink::EqualsIgnoreCase(t.substr(0, 7), "http://") || psink::EqualsIgnoreCase(t.substr(0, 8), "https://"),
               "token url '%s'", o.oauth2_token_url.c_str());
    FUZZ_CHECK(!o.oauth2_client_id.empty() && !o.oauth2_client_secret.empty(), "oauth2 without client credentials");
    FUZZ_CHECK(o.oauth2_tokens != nullptr, "oauth2 without a token cache");
    for (const auto& [k, v] : o.oauth2_params) {
      for (std::string_view own : {"grant_type", "client_id", "client_secret", "scope"}) {
        FUZZ_CHECK(k != own, "oauth2_params sets '%s'", k.c_str());
      }
    }
  } else {
    FUZZ_CHECK(o.oauth2_tokens == nullptr && o.oauth2_client_id.empty() && o.oauth2_client_secret.empty() &&
                   o.oauth2_scopes.empty() && o.oauth2_params.empty(),
               "oauth2 parts without oauth2_token_url");
  }
  std::string sql = psink::DeclareTableSql(o);
  FUZZ_CHECK(sql.rfind("CREATE TABLE x(", 0) == 0 && sql.back() == ')', "DeclareTableSql: %s", sql.c_str());
  std::string masked = psink::MaskUrl(o.url);
  FUZZ_CHECK(!masked.empty(), "MaskUrl");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string_view> args;
  fuzz::Split(fuzz::AsText(data, size), '\n', &args);
  if (args.size() > 64) return 0;

  SinkOptions opts;
  Status st = psink::OptionsFromArgs(args, &opts);
  if (st.ok()) {
    CheckAccepted(opts);
  } else {
    FUZZ_CHECK(!st.message().empty(), "empty error message");
    FUZZ_CHECK(psink::IsValidUtf8(st.message()), "message is not UTF-8: %s", st.message().c_str());
  }

  // The same arguments with the secrets changed must give the same outcome.
  std::vector<std::string> hidden(args.begin(), args.end());
  bool changed = false;
  for (std::string& a : hidden) {
    std::string name = NameOf(a);
    if (name == "url" || name == "proxy_url" || name == "oauth2_token_url") changed |= HideUserinfo(&a);
    if (name == "headers" || name == "oauth2_params") changed |= HideHeaderValues(&a);
    for (std::string_view secret : {"bearer_token", "password", "sigv4_access_key", "sigv4_secret_key",
                                    "oauth2_client_id", "oauth2_client_secret"}) {
      if (name == secret) changed |= HideValue(&a);
    }
  }
  if (!changed) return 0;
  std::vector<std::string_view> hidden_args(hidden.begin(), hidden.end());
  SinkOptions opts2;
  Status st2 = psink::OptionsFromArgs(hidden_args, &opts2);
  FUZZ_CHECK(st.ok() == st2.ok(), "a credential changed the outcome: '%s' vs '%s'", st.message().c_str(),
             st2.message().c_str());
  FUZZ_CHECK(st.message() == st2.message(), "a credential shows in the message:\n  %s\n  %s", st.message().c_str(),
             st2.message().c_str());
  if (st.ok()) {
    FUZZ_CHECK(psink::MaskUrl(opts.url) == psink::MaskUrl(opts2.url), "MaskUrl shows the credential");
    FUZZ_CHECK(psink::MaskUrl(opts.proxy_url) == psink::MaskUrl(opts2.proxy_url), "MaskUrl shows the proxy credential");
    FUZZ_CHECK(psink::MaskUrl(opts.oauth2_token_url) == psink::MaskUrl(opts2.oauth2_token_url),
               "MaskUrl shows the token URL's credential");
  }
  return 0;
}
