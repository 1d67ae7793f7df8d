// Metric and label names: which names a sink sends, and how it escapes the
// ones it may not send as they are. One rule for every place a name comes
// from (the labels JSON, label columns, `metric`, `external_labels`,
// exemplar labels), applied when a series is first seen and when a sink is
// created, never on the known-series path.
//
// name_validation_scheme (Prometheus's vocabulary):
//   legacy  metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
//           [a-zA-Z_][a-zA-Z0-9_]* (the 1.0 spec's MUST);
//   utf8    any non-empty valid UTF-8 name, sent as given (Prometheus 3).
// name_escaping_scheme (legacy only): a name breaking the legacy rule is
// escaped as prometheus/common's model.EscapeName does instead of refused;
// a valid name is never changed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "status.h"

namespace psink {

enum class NameValidation { kLegacy, kUtf8 };
enum class NameEscaping { kNone, kUnderscores, kDots, kValues };

struct NameScheme {
  NameValidation validation = NameValidation::kLegacy;
  NameEscaping escaping = NameEscaping::kNone;
};

// A metric name (the __name__ value) or a label name: ':' is legal only in
// the first.
enum class NameKind { kMetric, kLabel };

// Per byte: which legacy names may hold it — bit 0 first in a label name,
// bit 1 later in a label name, bits 2 and 3 the same in a metric name.
inline constexpr std::array<uint8_t, 256> kLegacyNameChars = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = 0xF;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = 0xF;
  t['_'] = 0xF;
  t[':'] = 0xC;
  for (int c = '0'; c <= '9'; ++c) t[c] = 0xA;
  return t;
}();

// [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]*. Inline, by table: the
// names of every first-seen series come through here.
inline bool IsLegacyName(std::string_view name, NameKind kind) {
  if (name.empty()) return false;
  const uint8_t first = kind == NameKind::kMetric ? 4 : 1, rest = kind == NameKind::kMetric ? 8 : 2;
  if ((kLegacyNameChars[static_cast<unsigned char>(name[0])] & first) == 0) return false;
  for (size_t i = 1; i < name.size(); ++i) {
    if ((kLegacyNameChars[static_cast<unsigned char>(name[i])] & rest) == 0) return false;
  }
  return true;
}

// `name` escaped by `escaping` (not kNone) so that it matches the legacy
// rule of `kind`: per Unicode code point, as model.EscapeName does —
//   underscores  each invalid character becomes '_';
//   dots         '_' -> "__", '.' -> "_dot_", other invalid characters -> "__";
//   values       prefix "U__", '_' -> "__", other invalid characters ->
//                "_<lower-case hex code point>_".
// `name` must be valid UTF-8 and break the rule (a valid name is sent as it
// is: EscapeName's dots scheme would double its underscores).
std::string EscapeName(std::string_view name, NameKind kind, NameEscaping escaping);

// The name to send for `name` under `scheme`: `name` itself (the common
// case, no copy), or its escaped form, written to `*scratch`, which `*out`
// then views. A name the scheme refuses gives an error naming `source`
// ("column 'labels'"), the name and the rule. A label name that escapes to
// "__name__" is refused: it would become the metric name.
Status SendName(const NameScheme& scheme, std::string_view name, NameKind kind, std::string_view source,
                std::string* scratch, std::string_view* out);

// The rule of a refusal, as messages say it: "(expected …)".
std::string_view NameRule(NameValidation validation, NameKind kind);

}  // namespace psink
