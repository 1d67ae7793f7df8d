// Exemplars: the `exemplar` column's JSON, attached to the row's sample.
//
//   {"labels":{"trace_id":"4bf92f3577b34da6"},"value":0.042,"timestamp":1700000000000}
//
// `labels` (optional) is a flat object: names follow the label-name rule,
// values are strings (numbers and booleans keep their text; null and ""
// drop the label), and names and values hold at most 128 UTF-8 characters
// in all, as Prometheus requires. `value` defaults to the row's value (a
// histogram row has none: it must be given); `timestamp` to the row's, and
// is read like the timestamp column (a number in timestamp_unit, or an
// ISO-8601 text). Knows nothing of SQLite or of the wire.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "decode.h"
#include "options.h"
#include "status.h"

namespace psink {

// Prometheus's ExemplarMaxLabelSetLength, in UTF-8 characters.
inline constexpr size_t kExemplarMaxLabelChars = 128;

struct Exemplar {
  LabelSet labels;  // sorted by name, names unique, values non-empty
  double value = 0;
  int64_t ts = 0;  // milliseconds
  friend bool operator==(const Exemplar&, const Exemplar&) = default;
};

// Parses an `exemplar` cell's JSON. `row_value` is the row's value, or
// nullptr for a histogram row; `row_ts` its timestamp in ms. Messages name
// `column` and show the text. Label names follow `names` (escaped ones are
// kept escaped; the 128-character limit counts names as sent).
Status ParseExemplar(std::string_view json, std::string_view column, const double* row_value, int64_t row_ts,
                     TimeUnit unit, int64_t now_ms, Exemplar* out, const NameScheme& names = NameScheme{});

// {"labels":{…},"value":…,"timestamp":<ms>}, labels sorted by name; a
// non-finite value as "NaN", "+Inf" or "-Inf".
std::string ExemplarToJson(const Exemplar& e);

}  // namespace psink
