// Row decoding: one SQL row (label columns, label JSON, value, timestamp) to
// one sample. Knows nothing of SQLite: the glue hands over Cells. Decoding
// has no side effects, so a refused row leaves the sink untouched.
#pragma once

#include <array>
#include <charconv>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json.h"
#include "labels.h"
#include "options.h"
#include "status.h"

namespace psink {

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

// The decimal text of an INTEGER label value, written into `buf` (24 bytes
// hold every int64).
inline std::string_view IntegerText(int64_t v, std::array<char, 24>* buf) {
  const auto [end, ec] = std::to_chars(buf->data(), buf->data() + buf->size(), v);
  (void)ec;
  return std::string_view(buf->data(), static_cast<size_t>(end - buf->data()));
}

// Collects the labels of one row from every source (label columns, `metric`,
// `external_labels`, the JSON column), then checks and sorts them and writes
// their wire form (labels.h). The first-seen-series path of the row loop:
// names and values are copied once into one reused buffer and sorted as
// small index entries, so a row allocates nothing once the buffers have
// grown. Reusable: Reset() keeps the allocated capacity.
class LabelSetBuilder {
 public:
  // The name schemes of the sink whose rows it decodes. Not set: any
  // non-empty UTF-8 name is taken as it is, which is right for labels read
  // back from a spool (their names were checked when the row was written).
  void set_names(const NameScheme& names) { names_ = names; }
  void Reset();
  // Adds one label. Nothing is copied: `name`, `value` and `source` (where
  // it came from, for messages: "column 'host'") must stay alive until
  // Finish(). An empty value means "absent" and is dropped. The name is
  // checked (and escaped) by the name schemes; the __name__ value, the
  // metric name, is checked by Finish().
  Status Add(std::string_view name, std::string_view value, std::string_view source);
  // The same with an INTEGER value, written in decimal (kept by the builder).
  Status AddInteger(std::string_view name, int64_t value, std::string_view source);
  // Adds the members of a JSON object, which must stay alive until
  // Finish(). null and "" values are dropped; numbers and booleans keep
  // their text as written. The common objects (string, integer or boolean
  // values without escapes, legacy names) take a scanner of their own.
  Status AddJson(std::string_view json, std::string_view column);
  // Sorts by name (as unsigned bytes, as Go compares strings), merges a
  // name given twice with the same value, refuses a name given twice with
  // different values or two names sent as one (escaped alike), checks the
  // metric name, and requires __name__ (its
  // absence is reported as "<where>: the labels have no '__name__' …" when
  // `where` is given, e.g. "column 'labels'"). Writes the wire form to `*wire`.
  Status Finish(std::string* wire, std::string_view where = {});
  // The same, as a LabelSet.
  Status Finish(LabelSet* out, std::string_view where = {});
  // After a successful Finish(): the sum over the labels of name and value
  // bytes, and their number.
  size_t text_bytes() const { return text_bytes_; }
  size_t count() const { return kept_; }

 private:
  struct Entry {
    std::string_view name, value, source;
    std::string_view given;  // the name as given (`name` is the one sent)
  };
  void Push(std::string_view name, std::string_view given, std::string_view value, std::string_view source) {
    if (size_ == entries_.size()) entries_.emplace_back();
    entries_[size_++] = Entry{name, value, source, given};
  }
  // The name to send for `name` (NameKind says which rule), escaped into
  // escaped_ when the scheme escapes it.
  Status SendAs(std::string_view name, NameKind kind, std::string_view source, std::string_view* out);
  // The common JSON object (legacy names; string values without escapes,
  // integers, booleans, null; no repeated key): adds its members and
  // returns true; false, having added nothing, when the general parser must
  // decide (which also writes every message).
  bool AddJsonFast(std::string_view json);
  Status Sort(std::string_view where);

  NameScheme names_{NameValidation::kUtf8, NameEscaping::kNone};
  std::deque<std::string> escaped_;  // escaped names and metric names (a deque keeps them in place)
  size_t escaped_used_ = 0;

  std::vector<Entry> entries_;
  size_t size_ = 0;
  std::vector<uint32_t> order_;  // entries_ indices, sorted by name, merged
  size_t kept_ = 0, text_bytes_ = 0;
  std::deque<std::array<char, 24>> integers_;  // AddInteger's text (a deque keeps it in place)
  size_t integers_used_ = 0;
  std::vector<std::string_view> keys_;  // AddJsonFast: the object's keys so far
  std::vector<JsonMember> json_;
  std::deque<std::vector<JsonMember>> held_;  // parsed objects the entries point into
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
