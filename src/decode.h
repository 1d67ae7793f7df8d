// Row decoding: one SQL row (label columns, label JSON, value, timestamp) to
// one sample. Knows nothing of SQLite: the glue hands over Cells. Decoding
// has no side effects, so a refused row leaves the sink untouched.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json.h"
#include "options.h"
#include "status.h"

namespace psink {

using Label = std::pair<std::string, std::string>;
using LabelSet = std::vector<Label>;  // sorted by name, names unique, values non-empty

// The Prometheus stale marker: a NaN with exactly these bits.
inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ULL;

// One SQL value, borrowed from SQLite for the duration of a call.
struct Cell {
  enum class Type { kNull, kInteger, kReal, kText, kBlob };
  Type type = Type::kNull;
  int64_t i = 0;
  double d = 0;
  std::string_view text;  // kText and kBlob
};

// Collects the labels of one row from every source (label columns, `metric`,
// `external_labels`, the JSON column), then checks and sorts them.
// Reusable: Reset() keeps the allocated capacity.
class LabelSetBuilder {
 public:
  void Reset();
  // Adds one label. `source` names where it came from, for messages
  // ("column 'host'"); it must stay alive until Finish(). An empty value
  // means "absent" and is dropped.
  Status Add(std::string_view name, std::string_view value, std::string_view source);
  // Adds the members of a JSON object. null and "" values are dropped;
  // numbers and booleans keep their text as written.
  Status AddJson(std::string_view json, std::string_view column);
  // Sorts by name, merges a name given twice with the same value, refuses a
  // name given twice with different values, and requires __name__ (its
  // absence is reported as "<where>: the labels have no '__name__' …" when
  // `where` is given, e.g. "column 'labels'").
  Status Finish(LabelSet* out, std::string_view where = {});

 private:
  struct Entry {
    std::string name, value;
    std::string_view source;
  };
  std::vector<Entry> entries_;  // grows, never shrinks: strings keep capacity
  size_t size_ = 0;
  std::vector<JsonMember> json_;
  std::string json_column_;
  std::string json_source_;  // "column 'labels'": entries point into it
};

// The out-of-line readers behind DecodeValue and DecodeTimestamp: every type
// and unit, errors included.
Status DecodeValueAny(const Cell& cell, std::string_view column, double* out);
Status DecodeTimestampAny(const Cell& cell, TimeUnit unit, int64_t now_ms, std::string_view column, int64_t* out);

// Reads a sample value: INTEGER, REAL, or TEXT holding a decimal number, NaN,
// Inf, +Inf, -Inf (any case) or "stale" (the stale marker). The numeric
// cases, read for every exported row, are inline.
inline Status DecodeValue(const Cell& cell, std::string_view column, double* out) {
  if (cell.type == Cell::Type::kReal) {
    *out = cell.d;
    return Status::Ok();
  }
  if (cell.type == Cell::Type::kInteger) {
    *out = static_cast<double>(cell.i);
    return Status::Ok();
  }
  return DecodeValueAny(cell, column, out);
}

// Reads a timestamp into milliseconds since the epoch: INTEGER/REAL (or
// TEXT holding a number) in `unit`, truncated toward negative infinity;
// TEXT in ISO-8601 / SQLite date form; NULL means `now_ms`. INTEGER
// milliseconds, the common case, is inline.
inline Status DecodeTimestamp(const Cell& cell, TimeUnit unit, int64_t now_ms, std::string_view column,
                              int64_t* out) {
  if (cell.type == Cell::Type::kInteger && unit == TimeUnit::kMillis) {
    *out = cell.i;
    return Status::Ok();
  }
  return DecodeTimestampAny(cell, unit, now_ms, column, out);
}

// Parses "YYYY-MM-DD", "YYYY-MM-DD[T ]HH:MM[:SS[.fff]]" with an optional "Z"
// or "±HH:MM"/"±HHMM" offset (none means UTC) into epoch milliseconds.
bool ParseIsoTimestamp(std::string_view text, int64_t* ms);

}  // namespace psink
