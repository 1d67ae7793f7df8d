// Unit tests for rate_limit.{h,cc}: the limiter's schedule (its
// reservations on a hand-driven clock, not its sleeps).
#include <doctest/doctest.h>

#include <cstdint>

#include "rate_limit.h"

TEST_CASE("RateLimiter: the first request goes at once, each later one when the samples before it are paid for") {
  psink::RateLimiter limiter(1000);  // 1,000 samples/s: 100 samples cost 100 ms
  const int64_t t0 = 5'000'000;      // µs
  CHECK(limiter.Reserve(100, t0) == 0);
  CHECK(limiter.Reserve(100, t0) == 100);           // after the first one's 100 ms
  CHECK(limiter.Reserve(100, t0) == 200);           // a burst of one request only
  CHECK(limiter.Reserve(50, t0 + 250'000) == 50);   // slots follow each other, whoever asks
  CHECK(limiter.Reserve(1, t0 + 350'000) == 0);     // caught up: at once
  // Idle time is not saved up beyond one request.
  CHECK(limiter.Reserve(100, t0 + 10'000'000) == 0);
  CHECK(limiter.Reserve(100, t0 + 10'000'000) == 100);
  CHECK(limiter.waited_ms() == 0);  // Reserve only plans; Acquire waits and counts
}
