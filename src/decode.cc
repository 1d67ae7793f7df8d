#include "decode.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "keytable.h"
#include "text.h"

namespace psink {

namespace {

std::string Col(std::string_view column) { return "column '" + std::string(column) + "'"; }

// Parses a decimal floating-point number (optional sign, digits, optional
// fraction and exponent) or a special value. Locale-independent.
bool ParseNumber(std::string_view t, double* out) {
  t = Trim(t);
  if (t.empty()) return false;
  bool neg = false;
  std::string_view body = t;
  if (body[0] == '+' || body[0] == '-') {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (EqualsIgnoreCase(body, "inf") || EqualsIgnoreCase(body, "infinity")) {
    *out = neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return true;
  }
  if (EqualsIgnoreCase(body, "nan")) {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // Only digits, one '.', and an exponent: no hex floats, no "nan(...)".
  size_t i = 0, digits = 0;
  while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i, ++digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != body.size()) return false;
  double v = 0;
  auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::general);
  if (p != body.data() + body.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves v untouched: overflow is ±Inf, underflow is ±0. Which
    // one follows from the decimal exponent of the first non-zero digit.
    size_t e = body.find_first_of("eE");
    std::string_view mant = body.substr(0, e);
    size_t dot = std::min(mant.find('.'), mant.size());
    size_t first = mant.find_first_of("123456789");
    int64_t mag = first < dot ? static_cast<int64_t>(dot - first) - 1 : -static_cast<int64_t>(first - dot);
    int64_t exp = 0;
    if (e != std::string_view::npos) {
      std::string_view x = body.substr(e + 1);
      bool xneg = x[0] == '-';
      if (x[0] == '+' || x[0] == '-') x.remove_prefix(1);
      for (char c : x) exp = std::min<int64_t>(exp * 10 + (c - '0'), int64_t{1} << 40);
      if (xneg) exp = -exp;
    }
    v = first != std::string_view::npos && mag + exp >= 0 ? std::numeric_limits<double>::infinity() : 0.0;
  } else if (ec != std::errc()) {
    return false;
  }
  *out = neg ? -v : v;
  return true;
}

int FloorDiv(int64_t a, int64_t b, int64_t* out) {
  int64_t q = a / b, r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) --q;
  *out = q;
  return 0;
}

// Converts a number in `unit` to milliseconds, truncating toward negative
// infinity. False when the result does not fit in int64.
bool IntegerToMillis(int64_t v, TimeUnit unit, int64_t* out) {
  switch (unit) {
    case TimeUnit::kSeconds:
      return !__builtin_mul_overflow(v, int64_t{1000}, out);
    case TimeUnit::kMillis:
      *out = v;
      return true;
    case TimeUnit::kMicros:
      FloorDiv(v, 1000, out);
      return true;
    case TimeUnit::kNanos:
      FloorDiv(v, 1000000, out);
      return true;
  }
  return false;
}

bool RealToMillis(double v, TimeUnit unit, int64_t* out) {
  if (!std::isfinite(v)) return false;
  double ms = 0;
  switch (unit) {
    case TimeUnit::kSeconds: ms = v * 1000.0; break;
    case TimeUnit::kMillis: ms = v; break;
    case TimeUnit::kMicros: ms = v / 1000.0; break;
    case TimeUnit::kNanos: ms = v / 1000000.0; break;
  }
  double floor_ms = std::floor(ms);
  // A REAL cannot hold most decimal fractions exactly: 1.001 s is stored as
  // 1.000999…, yet it means 1001 ms. When `v` is the double nearest to the
  // next whole millisecond, that millisecond is what was written.
  double next = floor_ms + 1;
  double back = 0;
  switch (unit) {
    case TimeUnit::kSeconds: back = next / 1000.0; break;
    case TimeUnit::kMillis: back = next; break;
    case TimeUnit::kMicros: back = next * 1000.0; break;
    case TimeUnit::kNanos: back = next * 1000000.0; break;
  }
  ms = back == v ? next : floor_ms;
  // 2^63 is exactly representable; anything at or above it overflows.
  if (!(ms >= -9223372036854775808.0 && ms < 9223372036854775808.0)) return false;
  *out = static_cast<int64_t>(ms);
  return true;
}

const char* UnitName(TimeUnit u) {
  switch (u) {
    case TimeUnit::kSeconds: return "s";
    case TimeUnit::kMillis: return "ms";
    case TimeUnit::kMicros: return "us";
    case TimeUnit::kNanos: return "ns";
  }
  return "?";
}

}  // namespace

void LabelSetBuilder::Reset() {
  size_ = 0;
  integers_used_ = 0;
  escaped_used_ = 0;
  if (!held_.empty()) held_.clear();
}

Status LabelSetBuilder::SendAs(std::string_view name, NameKind kind, std::string_view source, std::string_view* out) {
  if (escaped_used_ == escaped_.size()) escaped_.emplace_back();
  std::string* scratch = &escaped_[escaped_used_];
  PSINK_RETURN_IF_ERROR(SendName(names_, name, kind, source, scratch, out));
  escaped_used_ += out->data() == scratch->data();
  return Status::Ok();
}

Status LabelSetBuilder::Add(std::string_view name, std::string_view value, std::string_view source) {
  std::string_view sent = name;
  if (names_.validation != NameValidation::kLegacy || !IsLegacyName(name, NameKind::kLabel)) {
    PSINK_RETURN_IF_ERROR(SendAs(name, NameKind::kLabel, source, &sent));
  }
  if (!IsValidUtf8(value)) {
    return Status::Invalid(std::string(source) + ": label '" + std::string(name) + "' has a value that is not valid UTF-8: " +
                           Shorten(value));
  }
  if (!value.empty()) Push(sent, name, value, source);
  return Status::Ok();
}

Status LabelSetBuilder::AddInteger(std::string_view name, int64_t value, std::string_view source) {
  if (integers_used_ == integers_.size()) integers_.emplace_back();
  return Add(name, IntegerText(value, &integers_[integers_used_++]), source);
}

namespace {

// Per byte: 1 for [a-zA-Z_], 2 for [0-9], 0 for anything else.
constexpr std::array<uint8_t, 256> kNameChars = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = 1;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = 1;
  t['_'] = 1;
  for (int c = '0'; c <= '9'; ++c) t[c] = 2;
  return t;
}();

// The length of the run at p (before end) of bytes that a JSON string holds
// as they are: not '"', '\\' or a control character. ORs the bytes of the
// run into *bits (bit 7 set: some byte is not ASCII). Eight bytes a step,
// found with the "has a zero byte" trick ((x - 0x01..) & ~x & 0x80..): a
// label value is read once per first-seen series, and byte by byte this
// loop was a fifth of the row's cost.
size_t PlainRun(const char* p, const char* end, uint64_t* bits) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  const char* const start = p;
  while (end - p >= 8) {
    const uint64_t w = Load64(p);
    const uint64_t q = w ^ (kOnes * '"'), b = w ^ (kOnes * '\\');
    const uint64_t special = ((q - kOnes) & ~q) | ((b - kOnes) & ~b) | ((w - kOnes * 0x20) & ~w);
    if ((special & kHighs) != 0) {
      // The lowest flagged byte is a real one (false flags sit above a real one).
      const size_t n = static_cast<size_t>(__builtin_ctzll(special & kHighs)) / 8;
      *bits |= w & ((uint64_t{1} << (8 * n)) - 1);  // n < 8
      return static_cast<size_t>(p - start) + n;
    }
    *bits |= w;
    p += 8;
  }
  while (p < end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20) break;
    *bits |= c;
    ++p;
  }
  return static_cast<size_t>(p - start);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool LabelSetBuilder::AddJsonFast(std::string_view json) {
  const size_t first = size_;
  auto fail = [&] {
    size_ = first;
    return false;
  };
  const char* p = json.data();
  const char* const end = p + json.size();
  auto skip_space = [&] {
    while (p < end && static_cast<unsigned char>(*p) <= ' ' && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
  };
  keys_.clear();
  skip_space();
  if (p == end || *p != '{') return fail();
  ++p;
  skip_space();
  if (p < end && *p == '}') {
    ++p;
    skip_space();
    return p == end || fail();
  }
  for (;;) {
    // "key": a valid label name, checked as it is read.
    if (p == end || *p != '"') return fail();
    const char* k = ++p;
    if (p == end || kNameChars[static_cast<unsigned char>(*p)] != 1) return fail();
    while (++p < end && kNameChars[static_cast<unsigned char>(*p)] != 0) {
    }
    if (p == end || *p != '"') return fail();
    const std::string_view key(k, static_cast<size_t>(p - k));
    ++p;
    skip_space();
    if (p == end || *p != ':') return fail();
    ++p;
    skip_space();
    // "value": a string without escapes, or a number, boolean or null,
    // whose text as written is the value (null: absent), as the general
    // parser has it. json_object() writes an INTEGER column as a number.
    if (p == end) return fail();
    std::string_view value;
    if (*p == '"') {
      ++p;
      uint64_t bits = 0;
      const size_t n = PlainRun(p, end, &bits);
      value = std::string_view(p, n);
      p += n;
      if (p == end || *p != '"') return fail();
      ++p;
      if ((bits & 0x8080808080808080ULL) != 0 && !IsValidUtf8(value)) return fail();
    } else if (*p == '-' || IsDigit(*p)) {
      // JSON's number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
      const char* v = p;
      p += *p == '-';
      if (p == end || !IsDigit(*p)) return fail();
      if (*p++ != '0') {
        while (p < end && IsDigit(*p)) ++p;
      }
      if (p < end && *p == '.') {
        if (++p == end || !IsDigit(*p)) return fail();
        while (p < end && IsDigit(*p)) ++p;
      }
      if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-')) ++p;
        if (p == end || !IsDigit(*p)) return fail();
        while (p < end && IsDigit(*p)) ++p;
      }
      value = std::string_view(v, static_cast<size_t>(p - v));
    } else {
      const std::string_view rest(p, static_cast<size_t>(end - p));
      if (rest.starts_with("true")) value = rest.substr(0, 4);
      else if (rest.starts_with("false")) value = rest.substr(0, 5);
      else if (!rest.starts_with("null")) return fail();
      p += rest[0] == 'f' ? 5 : 4;
    }
    for (std::string_view seen : keys_) {
      if (seen == key) return fail();
    }
    keys_.push_back(key);
    // A legacy label name: every scheme sends it as it is.
    if (!value.empty()) Push(key, key, value, json_source_);
    skip_space();
    if (p == end) return fail();
    if (*p == ',') {
      ++p;
      skip_space();
      continue;
    }
    if (*p != '}') return fail();
    ++p;
    skip_space();
    return p == end || fail();
  }
}

Status LabelSetBuilder::AddJson(std::string_view json, std::string_view column) {
  if (json_column_ != column) {
    json_column_ = column;
    json_source_ = Col(column);
  }
  if (AddJsonFast(json)) return Status::Ok();
  Status st = ParseFlatObject(json, &json_);
  if (!st.ok()) return Status::Invalid(json_source_ + ": " + st.message());
  // The entries point into the members: they move (in place) to held_.
  held_.push_back(std::move(json_));
  json_.clear();
  const std::vector<JsonMember>& members = held_.back();
  // Repeats inside one JSON object are always an error, whatever the values.
  for (size_t i = 0; i < members.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (members[i].key == members[j].key) {
        return Status::Invalid(json_source_ + ": label '" + members[i].key + "' appears twice in " + Shorten(json));
      }
    }
  }
  for (const JsonMember& m : members) {
    if (m.kind == JsonMember::Kind::kNull) {
      std::string scratch;
      std::string_view sent;
      Status name = SendName(names_, m.key, NameKind::kLabel, json_source_, &scratch, &sent);
      if (!name.ok()) return Status::Invalid(name.message() + " in " + Shorten(json));
      continue;
    }
    Status add = Add(m.key, m.value, json_source_);
    if (!add.ok()) return Status::Invalid(add.message() + " in " + Shorten(json));
  }
  return Status::Ok();
}

Status LabelSetBuilder::Sort(std::string_view where) {
  // Insertion sort of indices: a row has a handful of labels, and equal
  // names keep the order they were added in (the message below names both).
  order_.resize(size_);
  for (uint32_t i = 0; i < size_; ++i) {
    uint32_t j = i;
    const std::string_view n = entries_[i].name;
    // Names are not empty; most differ in their first byte. Bytes compare
    // unsigned, as Go's strings do (string_view's compare does too): a
    // receiver expects UTF-8 names in that order.
    auto less = [&](std::string_view other) {
      const auto a = static_cast<unsigned char>(n[0]), b = static_cast<unsigned char>(other[0]);
      return a != b ? a < b : n < other;
    };
    while (j > 0 && less(entries_[order_[j - 1]].name)) {
      order_[j] = order_[j - 1];
      --j;
    }
    order_[j] = i;
  }
  kept_ = 0;
  text_bytes_ = 0;
  int name_entry = -1;
  for (size_t i = 0; i < size_; ++i) {
    const Entry& e = entries_[order_[i]];
    if (kept_ > 0 && entries_[order_[kept_ - 1]].name == e.name) {
      const Entry& first = entries_[order_[kept_ - 1]];
      if (first.given != e.given) {
        return Status::Invalid("label names " + Shorten(first.given) + " from " + std::string(first.source) + " and " +
                               Shorten(e.given) + " from " + std::string(e.source) + " are both sent as " +
                               Shorten(e.name));
      }
      if (first.value != e.value) {
        const Entry& prev = entries_[order_[i - 1]];
        return Status::Invalid("label '" + std::string(e.name) + "' is given twice with different values: " +
                               Shorten(prev.value) + " from " + std::string(prev.source) + " and " +
                               Shorten(e.value) + " from " + std::string(e.source));
      }
      continue;
    }
    if (e.name == "__name__") name_entry = static_cast<int>(order_[i]);
    text_bytes_ += e.name.size() + e.value.size();
    order_[kept_++] = order_[i];
  }
  if (name_entry < 0) {
    std::string msg = "the labels have no '__name__' (the metric name)";
    return Status::Invalid(where.empty() ? msg : std::string(where) + ": " + msg);
  }
  // The metric name, once per series (a known series is not decoded).
  // Under utf8 there is nothing to check: a value is non-empty, valid UTF-8.
  Entry& metric = entries_[static_cast<size_t>(name_entry)];
  if (names_.validation == NameValidation::kLegacy && !IsLegacyName(metric.value, NameKind::kMetric)) {
    std::string_view sent;
    PSINK_RETURN_IF_ERROR(SendAs(metric.value, NameKind::kMetric, metric.source, &sent));
    text_bytes_ += sent.size() - metric.value.size();
    metric.value = sent;
  }
  return Status::Ok();
}

Status LabelSetBuilder::Finish(std::string* wire, std::string_view where) {
  PSINK_RETURN_IF_ERROR(Sort(where));
  size_t n = 0;
  for (size_t i = 0; i < kept_; ++i) n += LabelWireSize(entries_[order_[i]].name.size(), entries_[order_[i]].value.size());
  wire->resize(n);
  char* p = wire->data();
  for (size_t i = 0; i < kept_; ++i) p = WriteLabel(entries_[order_[i]].name, entries_[order_[i]].value, p);
  return Status::Ok();
}

Status LabelSetBuilder::Finish(LabelSet* out, std::string_view where) {
  out->clear();
  PSINK_RETURN_IF_ERROR(Sort(where));
  for (size_t i = 0; i < kept_; ++i) out->emplace_back(entries_[order_[i]].name, entries_[order_[i]].value);
  return Status::Ok();
}

Status DecodeValueAny(const Cell& cell, std::string_view column, double* out) {
  switch (cell.type) {
    case Cell::Type::kInteger:
      *out = static_cast<double>(cell.i);
      return Status::Ok();
    case Cell::Type::kReal:
      *out = cell.d;
      return Status::Ok();
    case Cell::Type::kText: {
      std::string_view t = Trim(cell.text);
      if (EqualsIgnoreCase(t, "stale")) {
        std::memcpy(out, &kStaleNaNBits, sizeof *out);
        return Status::Ok();
      }
      if (ParseNumber(t, out)) return Status::Ok();
      return Status::Invalid(Col(column) + ": expected a number, NaN, Inf, -Inf or stale, found " + Shorten(cell.text));
    }
    case Cell::Type::kNull:
      return Status::Invalid(Col(column) + ": the value is NULL (expected a number)");
    case Cell::Type::kBlob:
      return Status::Mismatch(Col(column) + ": expected a number, found a BLOB");
  }
  return Status::Invalid(Col(column) + ": unreadable value");
}

bool ParseIsoTimestamp(std::string_view t, int64_t* ms) {
  size_t i = 0;
  auto num = [&](size_t n, int64_t* v) {
    if (i + n > t.size()) return false;
    int64_t r = 0;
    for (size_t k = 0; k < n; ++k) {
      char c = t[i + k];
      if (c < '0' || c > '9') return false;
      r = r * 10 + (c - '0');
    }
    i += n;
    *v = r;
    return true;
  };
  int64_t y, mo, d, h = 0, mi = 0, s = 0, frac_ms = 0;
  if (!num(4, &y) || i >= t.size() || t[i++] != '-' || !num(2, &mo) || i >= t.size() || t[i++] != '-' || !num(2, &d)) {
    return false;
  }
  const std::chrono::year_month_day date{std::chrono::year(static_cast<int>(y)),
                                         std::chrono::month(static_cast<unsigned>(mo)),
                                         std::chrono::day(static_cast<unsigned>(d))};
  if (!date.ok()) return false;
  int64_t offset_min = 0;
  if (i < t.size()) {
    if (t[i] != 'T' && t[i] != 't' && t[i] != ' ') return false;
    ++i;
    if (!num(2, &h) || i >= t.size() || t[i++] != ':' || !num(2, &mi)) return false;
    if (i < t.size() && t[i] == ':') {
      ++i;
      if (!num(2, &s)) return false;
      if (i < t.size() && t[i] == '.') {
        ++i;
        size_t start = i;
        int64_t scale = 100;
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
          frac_ms += (t[i] - '0') * scale;  // digits past the third are truncated
          scale /= 10;
          ++i;
        }
        if (i == start) return false;
      }
    }
    if (h > 23 || mi > 59 || s > 59) return false;
    if (i < t.size()) {
      char z = t[i];
      if (z == 'Z' || z == 'z') {
        ++i;
      } else if (z == '+' || z == '-') {
        ++i;
        int64_t oh, om;
        if (!num(2, &oh)) return false;
        if (i < t.size() && t[i] == ':') ++i;
        if (!num(2, &om)) return false;
        if (oh > 23 || om > 59) return false;
        offset_min = (oh * 60 + om) * (z == '-' ? -1 : 1);
      } else {
        return false;
      }
    }
  }
  if (i != t.size()) return false;
  const int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  *ms = ((days * 24 + h) * 60 + mi - offset_min) * 60000 + s * 1000 + frac_ms;
  return true;
}

Status DecodeTimestampAny(const Cell& cell, TimeUnit unit, int64_t now_ms, std::string_view column,
                          int64_t* out) {
  auto overflow = [&](const std::string& shown) {
    return Status::Invalid(Col(column) + ": timestamp " + shown + " in unit '" + UnitName(unit) +
                           "' does not fit in 64-bit milliseconds");
  };
  switch (cell.type) {
    case Cell::Type::kNull:
      *out = now_ms;
      return Status::Ok();
    case Cell::Type::kInteger:
      if (!IntegerToMillis(cell.i, unit, out)) return overflow(std::to_string(cell.i));
      return Status::Ok();
    case Cell::Type::kReal:
      if (!RealToMillis(cell.d, unit, out)) {
        if (!std::isfinite(cell.d)) return Status::Invalid(Col(column) + ": timestamp is not a finite number");
        char shown[32];
        std::snprintf(shown, sizeof shown, "%.17g", cell.d);
        return overflow(shown);
      }
      return Status::Ok();
    case Cell::Type::kText: {
      std::string_view t = Trim(cell.text);
      if (ParseIsoTimestamp(t, out)) return Status::Ok();
      // A number written as text: read it in `unit`, exactly when integral.
      bool integral = !t.empty() && t.find_first_not_of("0123456789", t[0] == '-' || t[0] == '+' ? 1 : 0) == t.npos &&
                      t.size() > (t[0] == '-' || t[0] == '+' ? 1u : 0u);
      if (integral) {
        int64_t v;
        std::string_view digits = t[0] == '+' ? t.substr(1) : t;
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        if (ec != std::errc() || p != digits.data() + digits.size()) return overflow(Shorten(cell.text));
        if (!IntegerToMillis(v, unit, out)) return overflow(Shorten(cell.text));
        return Status::Ok();
      }
      double d;
      if (ParseNumber(t, &d) && std::isfinite(d)) {
        if (!RealToMillis(d, unit, out)) return overflow(Shorten(cell.text));
        return Status::Ok();
      }
      return Status::Invalid(Col(column) + ": expected a number or an ISO-8601 time (YYYY-MM-DD[ HH:MM[:SS[.fff]]][Z|+HH:MM]), found " +
                             Shorten(cell.text));
    }
    case Cell::Type::kBlob:
      return Status::Mismatch(Col(column) + ": expected a number or a time, found a BLOB");
  }
  return Status::Invalid(Col(column) + ": unreadable timestamp");
}

}  // namespace psink
