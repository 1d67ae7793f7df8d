// Fuzz target for decode.{h,cc} values and timestamps: the input is one TEXT
// cell, decoded as a sample value (DecodeValue), as a timestamp in every
// timestamp_unit (DecodeTimestamp) and as an ISO-8601 time
// (ParseIsoTimestamp); its first 8 bytes are also read as an INTEGER and a
// REAL cell.
//
// Invariants, besides "no crash, no sanitizer report":
//   - a decimal number is read exactly as strtod reads it; "stale" gives the
//     stale-marker bits; anything accepted is a number, NaN, Inf or stale;
//   - integer timestamps (INTEGER cells and integral TEXT) convert to
//     milliseconds exactly (floor division, 128-bit reference), and fail
//     exactly when the result does not fit in int64;
//   - REAL timestamps land within one millisecond of value x unit;
//   - an ISO time is read the same in every unit, and agrees with timegm for
//     plain dates and date-times.
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "decode.h"
#include "fuzz_check.h"
#include "options.h"
#include "text.h"

namespace {

using psink::Cell;
using psink::Status;
using psink::TimeUnit;

constexpr TimeUnit kUnits[] = {TimeUnit::kSeconds, TimeUnit::kMillis, TimeUnit::kMicros, TimeUnit::kNanos};
constexpr int64_t kNow = 1'700'000'000'000;

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

Cell Text(std::string_view t) {
  Cell c;
  c.type = Cell::Type::kText;
  c.text = t;
  return c;
}

// Expected milliseconds of an integer in `unit`; false when out of int64.
bool ReferenceMillis(int64_t v, TimeUnit unit, int64_t* out) {
  __int128 r = v;
  auto floordiv = [](__int128 a, __int128 b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); };
  switch (unit) {
    case TimeUnit::kSeconds: r = r * 1000; break;
    case TimeUnit::kMillis: break;
    case TimeUnit::kMicros: r = floordiv(r, 1000); break;
    case TimeUnit::kNanos: r = floordiv(r, 1000000); break;
  }
  if (r < std::numeric_limits<int64_t>::min() || r > std::numeric_limits<int64_t>::max()) return false;
  *out = static_cast<int64_t>(r);
  return true;
}

double Scale(TimeUnit unit) {
  switch (unit) {
    case TimeUnit::kSeconds: return 1000.0;
    case TimeUnit::kMillis: return 1.0;
    case TimeUnit::kMicros: return 1e-3;
    case TimeUnit::kNanos: return 1e-6;
  }
  return 0;
}

// A REAL timestamp: accepted exactly when finite and in range, and then
// within a millisecond of the exact product.
void CheckReal(double d, TimeUnit unit, const Status& st, int64_t got) {
  long double ms = static_cast<long double>(d) * Scale(unit);
  if (!std::isfinite(d)) {
    FUZZ_CHECK(!st.ok(), "non-finite REAL timestamp accepted");
    return;
  }
  if (std::fabs(ms) < 9.2e18L) {
    FUZZ_CHECK(st.ok(), "REAL timestamp %.17g refused: %s", d, st.message().c_str());
    FUZZ_CHECK(std::fabs(static_cast<long double>(got) - ms) <= 1.0L + std::fabs(ms) * 1e-15L,
               "REAL timestamp %.17g in unit scale %g gave %lld", d, Scale(unit), static_cast<long long>(got));
  } else if (std::fabs(ms) > 9.3e18L) {
    FUZZ_CHECK(!st.ok(), "REAL timestamp %.17g out of int64 accepted", d);
  }
}

// Strict decimal grammar of DecodeValue: [+-] digits [. digits] [e [+-] digits],
// with at least one digit in the mantissa.
bool IsDecimal(std::string_view t) {
  size_t i = 0, digits = 0;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i, ++digits;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    size_t e = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i, ++e;
    if (e == 0) return false;
  }
  return i == t.size();
}

void CheckValue(std::string_view text) {
  double v = 0;
  Status st = psink::DecodeValue(Text(text), "value", &v);
  std::string_view t = psink::Trim(text);
  if (psink::EqualsIgnoreCase(t, "stale")) {
    FUZZ_CHECK(st.ok() && Bits(v) == psink::kStaleNaNBits, "stale not read as the stale marker");
    return;
  }
  if (IsDecimal(t)) {
    FUZZ_CHECK(st.ok(), "decimal '%s' refused: %s", std::string(t).c_str(), st.message().c_str());
    std::string s(t);
    double want = std::strtod(s.c_str(), nullptr);
    FUZZ_CHECK(Bits(v) == Bits(want) || (v == 0 && want == 0 && std::signbit(v) == std::signbit(want)),
               "'%s' read as %.17g, strtod says %.17g", s.c_str(), v, want);
    return;
  }
  if (!st.ok()) {
    FUZZ_CHECK(st.code() == Status::Code::kInvalid && psink::IsValidUtf8(st.message()), "bad value error");
    return;
  }
  // Accepted and not decimal: one of the special words.
  std::string_view body = t;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) body.remove_prefix(1);
  bool special = psink::EqualsIgnoreCase(body, "nan") || psink::EqualsIgnoreCase(body, "inf") ||
                 psink::EqualsIgnoreCase(body, "infinity");
  FUZZ_CHECK(special, "'%s' accepted as a value %.17g", std::string(t).c_str(), v);
  FUZZ_CHECK(std::isnan(v) || std::isinf(v), "special word gave a finite value");
}

void CheckIso(std::string_view text) {
  int64_t ms = 0;
  if (!psink::ParseIsoTimestamp(text, &ms)) return;
  FUZZ_CHECK(text.size() >= 10, "ISO time shorter than a date accepted");
  std::tm tm{};
  tm.tm_year = std::atoi(std::string(text.substr(0, 4)).c_str()) - 1900;
  tm.tm_mon = std::atoi(std::string(text.substr(5, 2)).c_str()) - 1;
  tm.tm_mday = std::atoi(std::string(text.substr(8, 2)).c_str());
  bool plain_datetime = text.size() == 19 && (text[10] == 'T' || text[10] == ' ');
  if (plain_datetime) {
    tm.tm_hour = std::atoi(std::string(text.substr(11, 2)).c_str());
    tm.tm_min = std::atoi(std::string(text.substr(14, 2)).c_str());
    tm.tm_sec = std::atoi(std::string(text.substr(17, 2)).c_str());
  }
  int64_t want = static_cast<int64_t>(timegm(&tm)) * 1000;
  if (text.size() == 10 || plain_datetime) {
    FUZZ_CHECK(ms == want, "'%s' read as %lld, timegm says %lld", std::string(text).c_str(),
               static_cast<long long>(ms), static_cast<long long>(want));
  } else {
    // Time of day and a UTC offset move it less than two days off the date.
    FUZZ_CHECK(ms - want > -86'400'000 && ms - want < 2 * 86'400'000, "'%s' far from its date",
               std::string(text).c_str());
  }
}

void CheckTimestampText(std::string_view text) {
  std::string_view t = psink::Trim(text);
  int64_t iso = 0;
  bool is_iso = psink::ParseIsoTimestamp(t, &iso);
  bool integral = false;
  int64_t iv = 0;
  {
    std::string_view d = t;
    if (!d.empty() && (d[0] == '+' || d[0] == '-')) d.remove_prefix(1);
    integral = !d.empty() && d.find_first_not_of("0123456789") == std::string_view::npos;
    if (integral) {
      errno = 0;
      std::string s(t);
      long long v = std::strtoll(s.c_str(), nullptr, 10);
      if (errno == ERANGE) integral = false;  // refused as out of range; checked below
      iv = v;
    }
  }
  for (TimeUnit unit : kUnits) {
    int64_t got = 0;
    Status st = psink::DecodeTimestamp(Text(text), unit, kNow, "timestamp", &got);
    if (is_iso) {
      FUZZ_CHECK(st.ok() && got == iso, "ISO time read differently in a unit");
      continue;
    }
    if (integral) {
      int64_t want;
      bool fits = ReferenceMillis(iv, unit, &want);
      FUZZ_CHECK(st.ok() == fits, "integral '%s': ok=%d, fits=%d", std::string(t).c_str(), st.ok(), fits);
      if (fits) FUZZ_CHECK(got == want, "integral '%s' gave %lld, want %lld", std::string(t).c_str(),
                           static_cast<long long>(got), static_cast<long long>(want));
      continue;
    }
    if (!st.ok()) {
      FUZZ_CHECK(psink::IsValidUtf8(st.message()), "timestamp error not UTF-8");
      continue;
    }
    // Accepted, neither ISO nor integral: a finite decimal number.
    FUZZ_CHECK(IsDecimal(t), "'%s' accepted as a timestamp", std::string(t).c_str());
    double d = std::strtod(std::string(t).c_str(), nullptr);
    CheckReal(d, unit, st, got);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::AsText(data, size);
  CheckValue(text);
  CheckIso(text);
  CheckTimestampText(text);

  // The first bytes as typed cells.
  if (size >= 8) {
    int64_t i;
    double d;
    std::memcpy(&i, data, 8);
    std::memcpy(&d, data, 8);
    for (TimeUnit unit : kUnits) {
      Cell ci;
      ci.type = Cell::Type::kInteger;
      ci.i = i;
      int64_t got = 0, want = 0;
      Status st = psink::DecodeTimestamp(ci, unit, kNow, "timestamp", &got);
      bool fits = ReferenceMillis(i, unit, &want);
      FUZZ_CHECK(st.ok() == fits && (!fits || got == want), "INTEGER %lld: ok=%d got %lld want %lld",
                 static_cast<long long>(i), st.ok(), static_cast<long long>(got), static_cast<long long>(want));
      Cell cr;
      cr.type = Cell::Type::kReal;
      cr.d = d;
      st = psink::DecodeTimestamp(cr, unit, kNow, "timestamp", &got);
      CheckReal(d, unit, st, got);
    }
    double v = 0;
    Cell cr;
    cr.type = Cell::Type::kReal;
    cr.d = d;
    FUZZ_CHECK(psink::DecodeValue(cr, "value", &v).ok() && Bits(v) == Bits(d), "REAL value changed");
  }
  return 0;
}
