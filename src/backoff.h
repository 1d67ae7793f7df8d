// Retry policy of the remote-write spec: which answers are retried and how
// long to wait before the n-th retry. Pure functions, unit-tested.
#pragma once

#include <cstdint>

namespace psink {

// The wait before retry `n` (1, 2, …) without jitter:
// min(max_ms, multiplier_ms * 2^(n-1)).
int64_t BackoffDelayMs(int n, int64_t multiplier_ms, int64_t max_ms);

// BackoffDelayMs plus a jitter of up to 10%; `unit_random` in [0, 1).
int64_t BackoffWithJitterMs(int n, int64_t multiplier_ms, int64_t max_ms, double unit_random);

// True for HTTP statuses that are retried: 5xx and 429.
inline bool IsRetryableStatus(long status) { return status == 429 || (status >= 500 && status <= 599); }

}  // namespace psink
