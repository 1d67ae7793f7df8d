#include "rate_limit.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace psink {

namespace {

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int64_t RateLimiter::Reserve(uint64_t samples, int64_t now_us) {
  // What `samples` cost at the rate, in µs (rate_ >= 1, samples < 2^40).
  const int64_t cost_us = static_cast<int64_t>((static_cast<__int128>(samples) * 1'000'000) / rate_);
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t start = std::max(now_us, next_us_);
  next_us_ = start + cost_us;
  return (start - now_us + 999) / 1000;
}

bool RateLimiter::Acquire(uint64_t samples, const std::atomic<bool>* cancel) {
  const int64_t begin = NowUs();
  const int64_t wait_ms = Reserve(samples, begin);
  if (wait_ms <= 0) return true;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  bool done = true;
  for (;;) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      done = false;
      break;
    }
    auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(50)));
  }
  waited_ms_.fetch_add(static_cast<uint64_t>((NowUs() - begin) / 1000), std::memory_order_relaxed);
  return done;
}

}  // namespace psink
