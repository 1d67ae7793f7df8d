// Retry policy of the remote-write spec: which answers are retried and how
// long to wait before the n-th retry. Pure functions, unit-tested.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string_view>

namespace psink {

// The wait before retry `n` (1, 2, …) without jitter:
// min(max_ms, multiplier_ms * 2^(n-1)).
int64_t BackoffDelayMs(int n, int64_t multiplier_ms, int64_t max_ms);

// BackoffDelayMs plus a jitter of up to 10%; `unit_random` in [0, 1).
int64_t BackoffWithJitterMs(int n, int64_t multiplier_ms, int64_t max_ms, double unit_random);

// Parses a Retry-After header value: delay-seconds or an HTTP-date
// (IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT"), relative to `now`.
// A date in the past yields 0. nullopt when unreadable.
// Not used by the transport, which takes libcurl's reading of the header
// (CURLINFO_RETRY_AFTER); kept only while the fuzz target fuzz_value_ts
// calls it: remove both together.
std::optional<int64_t> ParseRetryAfterMs(std::string_view value, std::time_t now);

// True for HTTP statuses that are retried: 5xx and 429.
inline bool IsRetryableStatus(long status) { return status == 429 || (status >= 500 && status <= 599); }

}  // namespace psink
