// Unit tests for backoff.{h,cc}: the retry schedule of the remote-write spec,
// its jitter, Retry-After parsing and which statuses are retried.
#include <doctest/doctest.h>

#include <cstdint>
#include <ctime>
#include <optional>

#include "backoff.h"

using psink::BackoffDelayMs;
using psink::BackoffWithJitterMs;
using psink::IsRetryableStatus;
using psink::ParseRetryAfterMs;

namespace {

// 2015-10-21 07:28:00 UTC.
constexpr std::time_t kAt = 1445412480;

}  // namespace

TEST_CASE("BackoffDelayMs doubles from the multiplier up to the cap") {
  const int64_t expected[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000};
  for (int n = 1; n <= 10; ++n) {
    CAPTURE(n);
    CHECK(BackoffDelayMs(n, 100, 10000) == expected[n - 1]);
  }
  CHECK(BackoffDelayMs(100, 100, 10000) == 10000);
  CHECK(BackoffDelayMs(1000, 100, 10000) == 10000);
}

TEST_CASE("BackoffDelayMs edge cases") {
  CHECK(BackoffDelayMs(0, 100, 10000) == 100);   // n below 1 counts as the first retry
  CHECK(BackoffDelayMs(-5, 100, 10000) == 100);
  CHECK(BackoffDelayMs(1, 100, 50) == 50);       // the cap wins even on the first retry
  CHECK(BackoffDelayMs(5, 0, 10000) == 0);       // no backoff at all
  CHECK(BackoffDelayMs(3, 100, 0) == 0);
  CHECK(BackoffDelayMs(3, 7, 10000) == 28);
  CHECK(BackoffDelayMs(64, 1, 86400000) == 86400000);  // no overflow at the largest options
  CHECK(BackoffDelayMs(100, 86400000, 86400000) == 86400000);
}

TEST_CASE("BackoffWithJitterMs adds 0 to under 10%") {
  CHECK(BackoffWithJitterMs(1, 100, 10000, 0.0) == 100);
  CHECK(BackoffWithJitterMs(1, 100, 10000, 0.5) == 105);
  CHECK(BackoffWithJitterMs(1, 100, 10000, 0.999999) == 109);
  CHECK(BackoffWithJitterMs(1, 100, 10000, 1.0) == 109);   // clamped below 1
  CHECK(BackoffWithJitterMs(1, 100, 10000, 5.0) == 109);
  CHECK(BackoffWithJitterMs(1, 100, 10000, -1.0) == 100);  // clamped at 0
  CHECK(BackoffWithJitterMs(8, 100, 10000, 0.5) == 10500);
  CHECK(BackoffWithJitterMs(3, 0, 10000, 0.9) == 0);
  for (int n = 1; n <= 12; ++n) {
    for (double r = 0.0; r < 1.0; r += 0.01) {
      CAPTURE(n);
      CAPTURE(r);
      int64_t base = BackoffDelayMs(n, 100, 10000);
      int64_t d = BackoffWithJitterMs(n, 100, 10000, r);
      CHECK(d >= base);
      CHECK((d - base) * 10 < base);  // strictly under 10%
    }
  }
}

TEST_CASE("ParseRetryAfterMs: delay-seconds") {
  CHECK(ParseRetryAfterMs("120", kAt) == 120000);
  CHECK(ParseRetryAfterMs("0", kAt) == 0);
  CHECK(ParseRetryAfterMs(" 5 ", kAt) == 5000);
  CHECK(ParseRetryAfterMs("007", kAt) == 7000);
  // Absurd delays are capped at 100 years rather than overflowing.
  CHECK(ParseRetryAfterMs("99999999999999999999999", kAt) == int64_t{100LL * 365 * 86400 * 1000});
  CHECK(ParseRetryAfterMs("3153600001", kAt) == int64_t{100LL * 365 * 86400 * 1000});
  CHECK(ParseRetryAfterMs("3153600000", kAt) == int64_t{3153600000LL * 1000});
}

TEST_CASE("ParseRetryAfterMs: IMF-fixdate in the future and in the past") {
  CHECK(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", kAt - 60) == 60000);
  CHECK(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", kAt - 1) == 1000);
  CHECK(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", kAt) == 0);
  CHECK(ParseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", kAt + 3600) == 0);  // past: no wait
  CHECK(ParseRetryAfterMs("  Thu, 22 Oct 2015 07:28:00 GMT ", kAt) == 86400000);
  CHECK(ParseRetryAfterMs("Sun, 06 Nov 1994 08:49:37 GMT", kAt) == 0);
  CHECK(ParseRetryAfterMs("Mon, 01 Jan 2035 00:00:00 GMT", 2051222400 - 10) == 10000);
  CHECK(ParseRetryAfterMs("Sat, 29 Feb 2020 23:59:59 GMT", 1583020799 - 2) == 2000);
}

TEST_CASE("ParseRetryAfterMs: garbage is unreadable") {
  for (const char* v : {"", "   ", "abc", "1.5", "-5", "+5", "5s", "0x10",
                        "Wed, 21 Oct 2015 07:28:00 UTC",     // not GMT
                        "Wed, 21 Oct 2015 07:28:00",         // no zone
                        "Wed, 21 Foo 2015 07:28:00 GMT",     // no such month
                        "Wed, 32 Oct 2015 07:28:00 GMT",     // no such day
                        "Wed, 21 Oct 2015 24:00:00 GMT",     // no such hour
                        "Wed, 21 Oct 2015 07:60:00 GMT",     // no such minute
                        "Wed, 21 Oct 2015 07:28:00 GMT+1",   // text after the zone
                        "Wed, 21 Oct 2015 07:28:00 GMTX",
                        "Wednesday, 21-Oct-15 07:28:00 GMT", // RFC 850: obsolete
                        "Wed Oct 21 07:28:00 2015",          // asctime: obsolete
                        "21 Oct 2015 07:28:00 GMT"}) {
    CAPTURE(v);
    CHECK(ParseRetryAfterMs(v, kAt) == std::nullopt);
  }
}

TEST_CASE("IsRetryableStatus: 5xx and 429 only") {
  for (long s : {429L, 500L, 502L, 503L, 504L, 599L}) {
    CAPTURE(s);
    CHECK(IsRetryableStatus(s));
  }
  for (long s : {0L, 200L, 204L, 301L, 400L, 401L, 403L, 404L, 409L, 413L, 415L, 428L, 430L, 499L, 600L}) {
    CAPTURE(s);
    CHECK_FALSE(IsRetryableStatus(s));
  }
}
