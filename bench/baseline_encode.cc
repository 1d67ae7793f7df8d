// baseline_encode: bytes per sample of a straightforward remote-write encoder,
// the yardstick for the extension's compressed request size.
//
//   baseline_encode N BATCH
//
// Builds the N samples of the benchmark's source query (v = 1..N:
// __name__="bench_metric", host="h<v%100>", region="r<v%7>", value v*1.0,
// timestamp 1700000000000 + (v/100)*1000; 700 series), cuts them into
// requests of BATCH consecutive samples, and encodes each request the plain
// way: a prometheus::WriteRequest built with the generated protobuf classes,
// one TimeSeries per series in order of first appearance in the request,
// samples in insertion order (already timestamp order), labels sorted by
// name; then snappy::Compress. Prints one line:
//
//   BASELINE n=N batch=B requests=R compressed_bytes=C bytes_per_sample=X raw_bytes_per_sample=Y
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <snappy.h>

#include "remote.pb.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: baseline_encode N BATCH\n");
    return 2;
  }
  const int64_t n = std::atoll(argv[1]);
  const int64_t batch = std::atoll(argv[2]);
  if (n <= 0 || batch <= 0) {
    std::fprintf(stderr, "baseline_encode: N and BATCH must be positive\n");
    return 2;
  }

  constexpr int kSeries = 700;  // lcm(100, 7): v % 700 picks the series
  uint64_t requests = 0, compressed = 0, raw = 0;
  std::string serialized, body;
  std::vector<int> slot(kSeries);
  prometheus::WriteRequest req;

  for (int64_t first = 1; first <= n; first += batch) {
    const int64_t last = std::min(n, first + batch - 1);
    req.Clear();  // keeps the allocated messages for reuse
    std::fill(slot.begin(), slot.end(), -1);
    for (int64_t v = first; v <= last; ++v) {
      const int s = static_cast<int>(v % kSeries);
      if (slot[s] < 0) {
        slot[s] = req.timeseries_size();
        prometheus::TimeSeries* ts = req.add_timeseries();
        auto add = [ts](const std::string& name, const std::string& value) {
          prometheus::Label* l = ts->add_labels();
          l->set_name(name);
          l->set_value(value);
        };
        char host[8], region[8];
        std::snprintf(host, sizeof host, "h%d", static_cast<int>(v % 100));
        std::snprintf(region, sizeof region, "r%d", static_cast<int>(v % 7));
        add("__name__", "bench_metric");
        add("host", host);
        add("region", region);
      }
      prometheus::Sample* sample = req.mutable_timeseries(slot[s])->add_samples();
      sample->set_value(static_cast<double>(v));
      sample->set_timestamp(1700000000000 + (v / 100) * 1000);
    }
    req.SerializeToString(&serialized);
    snappy::Compress(serialized.data(), serialized.size(), &body);
    ++requests;
    raw += serialized.size();
    compressed += body.size();
  }

  std::printf("BASELINE n=%lld batch=%lld requests=%llu compressed_bytes=%llu bytes_per_sample=%.4f "
              "raw_bytes_per_sample=%.4f\n",
              static_cast<long long>(n), static_cast<long long>(batch),
              static_cast<unsigned long long>(requests), static_cast<unsigned long long>(compressed),
              static_cast<double>(compressed) / static_cast<double>(n),
              static_cast<double>(raw) / static_cast<double>(n));
  return 0;
}
