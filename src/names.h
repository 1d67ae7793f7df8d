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

// [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]*.
bool IsLegacyName(std::string_view name, NameKind kind);

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
