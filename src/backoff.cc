#include "backoff.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "text.h"

namespace psink {

int64_t BackoffDelayMs(int n, int64_t multiplier_ms, int64_t max_ms) {
  if (n < 1) n = 1;
  int64_t d = multiplier_ms;
  for (int i = 1; i < n && d < max_ms; ++i) d *= 2;
  return std::min(d, max_ms);
}

int64_t BackoffWithJitterMs(int n, int64_t multiplier_ms, int64_t max_ms, double unit_random) {
  int64_t base = BackoffDelayMs(n, multiplier_ms, max_ms);
  return base + static_cast<int64_t>(static_cast<double>(base) * 0.1 * std::clamp(unit_random, 0.0, 0.999999));
}

std::optional<int64_t> ParseRetryAfterMs(std::string_view value, std::time_t now) {
  std::string_view v = Trim(value);
  if (v.empty()) return std::nullopt;
  if (v.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t secs = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
    constexpr int64_t kMaxSecs = 3'153'600'000;  // 100 years (of 365 days): absurd delays are capped
    if (ec == std::errc::result_out_of_range || secs > kMaxSecs) return kMaxSecs * 1000;
    if (ec != std::errc()) return std::nullopt;
    return secs * 1000;
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char wd[4] = {}, mon[4] = {}, zone[4] = {};
  int day = 0, year = 0, h = 0, m = 0, s = 0, used = 0;
  std::string buf(v);
  // The comma after the weekday is literal; nothing may follow "GMT".
  if (std::sscanf(buf.c_str(), "%3[A-Za-z], %d %3s %d %d:%d:%d %3s%n", wd, &day, mon, &year, &h, &m, &s, zone,
                  &used) != 8 ||
      static_cast<size_t>(used) != buf.size()) {
    return std::nullopt;
  }
  if (std::strcmp(zone, "GMT") != 0) return std::nullopt;
  int mi = -1;
  for (int i = 0; i < 12; ++i) {
    if (std::strcmp(mon, kMonths[i]) == 0) mi = i;
  }
  // IMF-fixdate has a 4-digit year (a wider one would overflow
  // std::chrono::year).
  if (mi < 0 || day < 1 || day > 31 || year < 0 || year > 9999 || h < 0 || h > 23 || m < 0 || m > 59 || s < 0 ||
      s > 60) {
    return std::nullopt;
  }
  // A day past the month's end (31 Feb) counts on into the next month, and
  // second 60 into the next minute, as timegm() does.
  using namespace std::chrono;
  const sys_seconds at = sys_days{year_month_day{std::chrono::year{year}, month{static_cast<unsigned>(mi + 1)},
                                                 std::chrono::day{static_cast<unsigned>(day)}}} +
                         hours{h} + minutes{m} + seconds{s};
  const sys_seconds from{seconds{now}};
  return at <= from ? 0 : duration_cast<milliseconds>(at - from).count();
}

}  // namespace psink
