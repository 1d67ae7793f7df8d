// Fuzz target for spool_format.{h,cc}: the input is one stored batch (psp2,
// psp3, psr1) as a
// spool's shadow table holds it (a database file can be damaged or come
// from elsewhere), read by every reader of stored batches: SpoolBatch::Decode
// ("psp2"), DecodeStoredRequests ("psr1") and DecodeStoredSamples (both,
// the stored 1.0 WriteRequests uncompressed and read), as the drain and
// prometheus_sink_rejected read them.
//
// Invariants, besides "no crash, no sanitizer report" (no read out of
// bounds):
//   - a failure has a message;
//   - a psp2 batch that decodes re-encodes (SpoolBatch::Add of its rows) to a
//     batch that decodes to the same samples: labels, value bits, timestamps;
//     DecodeStoredSamples reads the same samples;
//   - psr1: DecodeStoredSamples succeeds only when DecodeStoredRequests does,
//     with as many samples as the requests' headers say.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "spool_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psink;
  // A copy of exactly the input: a read past its end is a sanitizer report.
  const std::string blob(reinterpret_cast<const char*>(data), size);

  std::vector<StoredSample> samples;
  Status all = DecodeStoredSamples(blob, &samples);
  FUZZ_CHECK(all.ok() || !all.message().empty(), "a failure without a message");

  std::vector<std::string> series;
  std::vector<SpoolBatch::Row> rows;
  std::vector<SpoolBatch::Extra> extras;
  Status batch = SpoolBatch::Decode(blob, &series, &rows, &extras);
  FUZZ_CHECK(batch.ok() || !batch.message().empty(), "a failure without a message");
  if (batch.ok()) {
    FUZZ_CHECK(!IsStoredRequests(blob), "both formats at once");
    FUZZ_CHECK(all.ok() && samples.size() == rows.size(), "DecodeStoredSamples disagrees with SpoolBatch::Decode");
    SpoolBatch again;
    for (const SpoolBatch::Row& r : rows) {
      FUZZ_CHECK(r.series < series.size(), "a row names series %u of %zu", r.series, series.size());
      double v;
      std::memcpy(&v, &r.value_bits, sizeof v);
      const SpoolBatch::Extra* e = r.extra == SpoolBatch::kNoExtra ? nullptr : &extras.at(r.extra);
      again.Add(series[r.series], v, r.ts, r.start_ts, e ? e->histogram : "", e ? e->exemplar : "");
    }
    std::vector<std::string> series2;
    std::vector<SpoolBatch::Row> rows2;
    std::vector<SpoolBatch::Extra> extras2;
    FUZZ_CHECK(SpoolBatch::Decode(again.Encode(), &series2, &rows2, &extras2).ok(), "a re-encoded batch does not decode");
    FUZZ_CHECK(rows2.size() == rows.size(), "re-encoded: %zu rows, not %zu", rows2.size(), rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      FUZZ_CHECK(series2[rows2[i].series] == series[rows[i].series], "row %zu: other labels", i);
      FUZZ_CHECK(rows2[i].value_bits == rows[i].value_bits && rows2[i].ts == rows[i].ts &&
                     rows2[i].start_ts == rows[i].start_ts,
                 "row %zu: other sample", i);
      const bool had = rows[i].extra != SpoolBatch::kNoExtra, has = rows2[i].extra != SpoolBatch::kNoExtra;
      FUZZ_CHECK(had == has, "row %zu: extra lost or made up", i);
      if (had) {
        FUZZ_CHECK(extras[rows[i].extra].histogram == extras2[rows2[i].extra].histogram &&
                       extras[rows[i].extra].exemplar == extras2[rows2[i].extra].exemplar,
                   "row %zu: other histogram or exemplar", i);
      }
      FUZZ_CHECK(samples[i].labels_json == series[rows[i].series] && samples[i].ts == rows[i].ts,
                 "row %zu: DecodeStoredSamples read another sample", i);
    }
  }

  std::vector<StoredRequest> requests;
  Status stored = DecodeStoredRequests(blob, &requests);
  FUZZ_CHECK(stored.ok() || !stored.message().empty(), "a failure without a message");
  if (IsStoredRequests(blob) && all.ok()) {
    FUZZ_CHECK(stored.ok(), "samples read from requests that do not decode");
    uint64_t said = 0;
    for (const StoredRequest& r : requests) said += r.samples;
    FUZZ_CHECK(said == samples.size(), "headers say %llu samples, %zu read", static_cast<unsigned long long>(said),
               samples.size());
  }
  return 0;
}
