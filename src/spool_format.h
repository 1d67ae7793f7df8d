// Spool format: how a spooled sink stores accepted rows in its shadow table.
// One table row holds a batch of samples ("a spool batch"): the distinct
// label sets once (canonical JSON), then each sample as (series, value bits,
// timestamp). Writing one SQLite row per batch instead of one per sample is
// what makes the spool about as fast as the plain path. Knows nothing of
// SQLite. The layout, little-endian (what any tool needs to read a spool):
//   u32 magic 0x70737032 ("psp2"), u32 number of series,
//   per series: u32 length, the label JSON (UTF-8);
//   u32 number of samples, per sample: u32 series index, u64 value bits, i64 ms.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "encoder.h"
#include "keytable.h"
#include "status.h"

namespace psink {

// Samples accepted and not yet written to the shadow table, gathered into
// one spool batch.
class SpoolBatch {
 public:
  void Add(std::string_view labels_json, double value, int64_t ts);
  size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  int64_t min_ts() const { return min_ts_; }
  void Clear();
  // The stored form (see the top of this file).
  std::string Encode() const;

  // One sample of a decoded batch.
  struct Row {
    uint32_t series;
    uint64_t value_bits;
    int64_t ts;
  };
  // Reads a stored batch; fails with a message when it is not one.
  static Status Decode(std::string_view blob, std::vector<std::string>* series, std::vector<Row>* rows);

 private:
  std::vector<std::string> series_;  // canonical label JSON, by series index
  KeyTable index_;                   // label JSON -> series index
  std::vector<Row> rows_;
  int64_t min_ts_ = 0;
};

// A spool batch of a protocol 1.0 sink, stored as the request bodies it
// encodes to (encoded while the next rows arrive, so that the drain only
// posts them). Little-endian: u32 magic 0x70737231 ("psr1"), u32 number of
// requests, per request: u32 samples, u32 body length, the body (snappy of
// a prometheus.WriteRequest).
std::string EncodeStoredRequests(const std::vector<EncodedRequest>& requests);
// Whether `blob` holds stored requests (else a SpoolBatch).
bool IsStoredRequests(std::string_view blob);
struct StoredRequest {
  uint32_t samples = 0;
  std::string_view body;  // into the blob
};
Status DecodeStoredRequests(std::string_view blob, std::vector<StoredRequest>* out);

// One sample read back from a stored batch, whatever its format: for
// listing rejected rows (prometheus_sink_rejected) and putting them back.
struct StoredSample {
  std::string labels_json;  // canonical label JSON ({"name":"value",...})
  double value = 0;
  int64_t ts = 0;
};
// Reads every sample of a stored batch (a SpoolBatch, or stored 1.0
// requests, whose bodies are uncompressed and read as the WriteRequests
// the sink encodes). A blob read from a file may be damaged or come from
// elsewhere: any inconsistency is a failure with a message, never a read
// out of bounds. Stored requests carrying histograms or exemplars (which no
// spool writes yet) are refused rather than listed without them.
Status DecodeStoredSamples(std::string_view blob, std::vector<StoredSample>* out);

}  // namespace psink
