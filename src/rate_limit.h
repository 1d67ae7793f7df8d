// The sink-wide limit of max_samples_per_second: a token bucket that every
// request of one sink passes before it is posted — the shards' and the
// spool drain's alike, since every Delivery made from the sink's options
// shares it (OptionsFromArgs makes it, SinkOptions::rate_limiter carries it,
// as SinkOptions::oauth2_tokens carries the OAuth2 token cache).
//
// The bucket holds about one request: a request of n samples may start once
// the previous requests' samples have been paid for at the rate, and then
// owes n / rate seconds itself (the "virtual scheduling" form of the
// token bucket). So requests are spread evenly over time instead of a
// second's worth going at once, and the receiver sees at most the rate in
// any one second plus one request. An idle limiter saves nothing up beyond
// that one request.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

namespace psink {

class RateLimiter {
 public:
  explicit RateLimiter(int64_t samples_per_second) : rate_(samples_per_second) {}
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Reserves `samples` and returns how long the caller must wait (ms,
  // rounded up; 0: go now) at steady-clock time `now_us` before posting
  // them. Thread-safe: concurrent callers get successive slots.
  int64_t Reserve(uint64_t samples, int64_t now_us);

  // Waits for a reservation of `samples`, polling `cancel` (may be null)
  // every 50 ms. Returns false when cancelled: the reservation is then
  // lost, which only makes later requests wait a little longer.
  bool Acquire(uint64_t samples, const std::atomic<bool>* cancel);

  int64_t samples_per_second() const { return rate_; }
  // Total time callers spent waiting in Acquire, in ms.
  uint64_t waited_ms() const { return waited_ms_.load(std::memory_order_relaxed); }

 private:
  const int64_t rate_;
  std::mutex mu_;
  int64_t next_us_ = INT64_MIN;  // guarded by mu_: when the next request may start
  std::atomic<uint64_t> waited_ms_{0};
};

}  // namespace psink
