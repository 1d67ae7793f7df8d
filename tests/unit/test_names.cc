// Unit tests for names.{h,cc}: the legacy rules, the three escaping schemes
// checked name by name against values worked out by hand from
// prometheus/common's model.EscapeName (per code point; lower-case hex),
// and SendName's refusals.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "names.h"

using psink::EscapeName;
using psink::IsLegacyName;
using psink::NameEscaping;
using psink::NameKind;
using psink::NameScheme;
using psink::NameValidation;
using psink::SendName;

namespace {

struct Case {
  const char* name;
  NameKind kind;
  const char* underscores;
  const char* dots;
  const char* values;
};

// "\xC3\xB6" is U+00F6 (ö), "\xC3\x9F" U+00DF (ß), "\xC3\xA9" U+00E9 (é),
// "\xF0\x9F\x98\x80" U+1F600 (an emoji).
constexpr Case kCases[] = {
    {"http.server.request.duration", NameKind::kMetric, "http_server_request_duration",
     "http_dot_server_dot_request_dot_duration", "U__http_2e_server_2e_request_2e_duration"},
    {"service.name", NameKind::kLabel, "service_name", "service_dot_name", "U__service_2e_name"},
    {"http-requests_total", NameKind::kMetric, "http_requests_total", "http__requests__total",
     "U__http_2d_requests__total"},
    {"1st", NameKind::kLabel, "_st", "__st", "U___31_st"},
    {"1st_metric", NameKind::kMetric, "_st_metric", "__st__metric", "U___31_st__metric"},
    {"a:b", NameKind::kLabel, "a_b", "a__b", "U__a_3a_b"},
    {"a_b.c", NameKind::kLabel, "a_b_c", "a__b_dot_c", "U__a__b_2e_c"},
    {"gr\xC3\xB6\xC3\x9F" "e", NameKind::kLabel, "gr__e", "gr____e", "U__gr_f6__df_e"},
    {"\xC3\xA9", NameKind::kLabel, "_", "__", "U___e9_"},
    {"x\xF0\x9F\x98\x80", NameKind::kLabel, "x_", "x__", "U__x_1f600_"},
    {"ns:job.rate", NameKind::kMetric, "ns:job_rate", "ns:job_dot_rate", "U__ns:job_2e_rate"},
    {"a b/c", NameKind::kMetric, "a_b_c", "a__b__c", "U__a_20_b_2f_c"},
};

std::string Send(NameScheme scheme, std::string_view name, NameKind kind) {
  std::string scratch;
  std::string_view out;
  psink::Status st = SendName(scheme, name, kind, "column 'labels'", &scratch, &out);
  return st.ok() ? std::string(out) : "error: " + st.message();
}

}  // namespace

TEST_CASE("IsLegacyName: ':' only in metric names, no leading digit, not empty") {
  for (const char* ok : {"a", "_", "__name__", "A9_z", "node_cpu"}) {
    CHECK(IsLegacyName(ok, NameKind::kLabel));
    CHECK(IsLegacyName(ok, NameKind::kMetric));
  }
  CHECK(IsLegacyName("ns:job:rate5m", NameKind::kMetric));
  CHECK(IsLegacyName(":a", NameKind::kMetric));
  CHECK_FALSE(IsLegacyName("ns:job", NameKind::kLabel));
  for (const char* bad : {"", "1a", "a.b", "a-b", "a b", "caf\xC3\xA9"}) {
    CHECK_FALSE(IsLegacyName(bad, NameKind::kLabel));
    CHECK_FALSE(IsLegacyName(bad, NameKind::kMetric));
  }
}

TEST_CASE("EscapeName: each scheme as model.EscapeName, name by name") {
  for (const Case& c : kCases) {
    CAPTURE(c.name);
    CHECK(EscapeName(c.name, c.kind, NameEscaping::kUnderscores) == c.underscores);
    CHECK(EscapeName(c.name, c.kind, NameEscaping::kDots) == c.dots);
    CHECK(EscapeName(c.name, c.kind, NameEscaping::kValues) == c.values);
    // Every result is a valid legacy name of its kind.
    for (auto e : {NameEscaping::kUnderscores, NameEscaping::kDots, NameEscaping::kValues}) {
      CHECK(IsLegacyName(EscapeName(c.name, c.kind, e), c.kind));
    }
  }
}

TEST_CASE("SendName: a valid name is never changed, under every scheme") {
  for (auto e : {NameEscaping::kNone, NameEscaping::kUnderscores, NameEscaping::kDots, NameEscaping::kValues}) {
    const NameScheme scheme{NameValidation::kLegacy, e};
    // (Go's dots scheme would double these underscores.)
    CHECK(Send(scheme, "http_requests_total", NameKind::kLabel) == "http_requests_total");
    CHECK(Send(scheme, "ns:job:rate5m", NameKind::kMetric) == "ns:job:rate5m");
    CHECK(Send(scheme, "__name__", NameKind::kLabel) == "__name__");
  }
  CHECK(Send({NameValidation::kLegacy, NameEscaping::kDots}, "service.name", NameKind::kLabel) == "service_dot_name");
  // ':' in a label name is escaped (Go would leave it: it checks label names by the metric rule).
  CHECK(Send({NameValidation::kLegacy, NameEscaping::kUnderscores}, "a:b", NameKind::kLabel) == "a_b");
}

TEST_CASE("SendName: refusals name the source, the name and the rule") {
  const NameScheme legacy;
  CHECK(Send(legacy, "service.name", NameKind::kLabel) ==
        "error: column 'labels': invalid label name 'service.name' (expected [a-zA-Z_][a-zA-Z0-9_]*)");
  CHECK(Send(legacy, "http-requests_total", NameKind::kMetric) ==
        "error: column 'labels': invalid metric name 'http-requests_total' (expected [a-zA-Z_:][a-zA-Z0-9_:]*)");
  CHECK(Send(legacy, "a:b", NameKind::kLabel) ==
        "error: column 'labels': invalid label name 'a:b' (expected [a-zA-Z_][a-zA-Z0-9_]*)");
  const NameScheme utf8{NameValidation::kUtf8, NameEscaping::kNone};
  CHECK(Send(utf8, "service.name", NameKind::kLabel) == "service.name");
  CHECK(Send(utf8, "x\xF0\x9F\x98\x80", NameKind::kLabel) == "x\xF0\x9F\x98\x80");
  CHECK(Send(utf8, "1st.metric", NameKind::kMetric) == "1st.metric");
  CHECK(Send(utf8, "", NameKind::kLabel) ==
        "error: column 'labels': invalid label name '' (expected a non-empty UTF-8 name)");
  CHECK(Send(utf8, "a\xFF", NameKind::kLabel) ==
        "error: column 'labels': invalid label name 'a\\xFF' (expected a non-empty UTF-8 name)");
  const NameScheme under{NameValidation::kLegacy, NameEscaping::kUnderscores};
  CHECK(Send(under, "", NameKind::kLabel) ==
        "error: column 'labels': invalid label name '' (expected [a-zA-Z_][a-zA-Z0-9_]*)");
  CHECK(Send(under, "__name_.", NameKind::kLabel) ==
        "error: column 'labels': label name '__name_.' escapes to '__name__', the metric name's label");
  // A metric name may escape to anything valid.
  CHECK(Send(under, "__name_.", NameKind::kMetric) == "__name__");
}
