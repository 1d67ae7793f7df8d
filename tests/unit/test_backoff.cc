// Unit tests for backoff.{h,cc}: the retry schedule of the remote-write spec,
// its jitter and which statuses are retried. (Retry-After is read by libcurl:
// test_transport.cc.)
#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>

#include "backoff.h"

using psink::BackoffDelayMs;
using psink::BackoffWithJitterMs;
using psink::IsRetryableStatus;

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
