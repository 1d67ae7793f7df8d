// Fuzz target for options.{h,cc}: ParseOptions on the arguments of
// CREATE VIRTUAL TABLE ... USING prometheus_sink(...), one argument per line
// of the input, as SQLite hands them over (quotes included).
//
// Invariants, besides "no crash, no sanitizer report":
//   - accepted options are within their documented ranges, the url is http(s)
//     with a host, column names are valid and distinct, headers are neither
//     reserved nor hold control characters;
//   - every error message is non-empty valid UTF-8;
//   - no credential reaches a message: changing the letters and digits of the
//     user:password@ part of `url` and `proxy_url`, of the string values of
//     `headers`, or of `bearer_token` and `password`, leaves the outcome and
//     the message exactly as they were.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "options.h"
#include "text.h"

namespace {

using psink::SinkOptions;
using psink::Status;

char Rotate(char c) {
  if (c >= 'a' && c <= 'z') return c == 'z' ? 'a' : static_cast<char>(c + 1);
  if (c >= 'A' && c <= 'Z') return c == 'Z' ? 'A' : static_cast<char>(c + 1);
  if (c >= '0' && c <= '9') return c == '9' ? '0' : static_cast<char>(c + 1);
  return c;
}

// The option name of a raw argument, as ParseOptions sees it (trimmed, lower
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
    FUZZ_CHECK(psink::IsValidLabelName(cols[i]), "column name '%s'", cols[i].c_str());
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
    FUZZ_CHECK(psink::IsValidLabelName(k) && !v.empty() && psink::IsValidUtf8(v), "external label '%s'", k.c_str());
  }
  FUZZ_CHECK(o.metric.empty() || psink::IsValidUtf8(o.metric), "metric not UTF-8");
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
  Status st = psink::ParseOptions(args, &opts);
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
    if (name == "url" || name == "proxy_url") changed |= HideUserinfo(&a);
    if (name == "headers") changed |= HideHeaderValues(&a);
    if (name == "bearer_token" || name == "password") changed |= HideValue(&a);
  }
  if (!changed) return 0;
  std::vector<std::string_view> hidden_args(hidden.begin(), hidden.end());
  SinkOptions opts2;
  Status st2 = psink::ParseOptions(hidden_args, &opts2);
  FUZZ_CHECK(st.ok() == st2.ok(), "a credential changed the outcome: '%s' vs '%s'", st.message().c_str(),
             st2.message().c_str());
  FUZZ_CHECK(st.message() == st2.message(), "a credential shows in the message:\n  %s\n  %s", st.message().c_str(),
             st2.message().c_str());
  if (st.ok()) {
    FUZZ_CHECK(psink::MaskUrl(opts.url) == psink::MaskUrl(opts2.url), "MaskUrl shows the credential");
    FUZZ_CHECK(psink::MaskUrl(opts.proxy_url) == psink::MaskUrl(opts2.proxy_url), "MaskUrl shows the proxy credential");
  }
  return 0;
}
