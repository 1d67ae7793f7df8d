// protocol_bytes: compressed bytes per sample of the extension's own
// encoder (EncodeRequests), remote-write 1.0 and 2.0,
// on the benchmark's data, so the two protocols are compared on equal terms.
//
//   protocol_bytes N BATCH
//
// The N samples are those of the benchmark's source query (v = 1..N:
// __name__="bench_metric", host="h<v%100>", region="r<v%7>", value v*1.0,
// timestamp 1700000000000 + (v/100)*1000; 700 series), in requests of BATCH
// consecutive samples, as the sink would cut them. Prints one line per
// protocol:
//
//   PROTOCOL 1.0 n=N batch=B requests=R compressed_bytes=C bytes_per_sample=X raw_bytes_per_sample=Y
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "batch.h"
#include "encoder.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: protocol_bytes N BATCH\n");
    return 2;
  }
  const int64_t n = std::atoll(argv[1]);
  const int64_t batch_size = std::atoll(argv[2]);
  if (n <= 0 || batch_size <= 0) {
    std::fprintf(stderr, "protocol_bytes: N and BATCH must be positive\n");
    return 2;
  }
  for (psink::Protocol protocol : {psink::Protocol::kV1, psink::Protocol::kV2}) {
    uint64_t requests = 0, compressed = 0, raw = 0;
    psink::Batch batch;
    std::vector<psink::EncodedRequest> out;
    for (int64_t first = 1; first <= n; first += batch_size) {
      const int64_t last = std::min(n, first + batch_size - 1);
      batch.EraseFront(batch.size());
      for (int64_t v = first; v <= last; ++v) {
        psink::LabelSet labels = {{"__name__", "bench_metric"},
                                  {"host", "h" + std::to_string(v % 100)},
                                  {"region", "r" + std::to_string(v % 7)}};
        batch.Append(batch.Intern(labels), static_cast<double>(v), 1700000000000 + (v / 100) * 1000);
      }
      psink::Status st = psink::EncodeRequests(protocol, batch, 0, batch.size(), 8 << 20, nullptr, &out);
      if (!st.ok()) {
        std::fprintf(stderr, "protocol_bytes: %s\n", st.message().c_str());
        return 1;
      }
      for (const psink::EncodedRequest& r : out) {
        ++requests;
        compressed += r.body.size();
        raw += r.raw_bytes;
      }
    }
    std::printf("PROTOCOL %s n=%lld batch=%lld requests=%llu compressed_bytes=%llu bytes_per_sample=%.3f "
                "raw_bytes_per_sample=%.3f\n",
                protocol == psink::Protocol::kV1 ? "1.0" : "2.0", static_cast<long long>(n),
                static_cast<long long>(batch_size), static_cast<unsigned long long>(requests),
                static_cast<unsigned long long>(compressed), static_cast<double>(compressed) / static_cast<double>(n),
                static_cast<double>(raw) / static_cast<double>(n));
  }
  return 0;
}
