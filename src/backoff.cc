#include "backoff.h"

#include <algorithm>

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

}  // namespace psink
