// Spool format: how a spooled sink stores accepted rows in its shadow table.
// One table row holds a batch of samples ("a spool batch"): the distinct
// label sets once (canonical JSON), then each sample as (series, value bits,
// timestamp). Writing one SQLite row per batch instead of one per sample is
// what makes the spool about as fast as the plain path. Knows nothing of
// SQLite. The layout, little-endian (what any tool needs to read a spool):
//   u32 magic 0x70737032 ("psp2"), u32 number of series,
//   per series: u32 length, the label JSON (UTF-8);
//   u32 number of samples, per sample: u32 series index, u64 value bits, i64 ms.
// A batch holding any start timestamp, histogram or exemplar is "psp3"
// (magic 0x70737033) instead, each sample followed by: i64 start ms (0:
// none), u32 length + the histogram's canonical JSON (0: none), u32 length +
// the exemplar's canonical JSON (timestamp in ms; 0: none).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "batch.h"
#include "decode.h"
#include "encoder.h"
#include "keytable.h"
#include "status.h"

namespace psink {

// Samples accepted and not yet written to the shadow table, gathered into
// one spool batch.
class SpoolBatch {
 public:
  void Add(std::string_view labels_json, double value, int64_t ts) { Add(labels_json, value, ts, 0, {}, {}); }
  // A row with a start timestamp (0: none), a histogram and an exemplar as
  // canonical JSON ("": none; HistogramToJson, ExemplarToJson).
  void Add(std::string_view labels_json, double value, int64_t ts, int64_t start_ts, std::string_view histogram,
           std::string_view exemplar);
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
    int64_t start_ts = 0;
    uint32_t extra = kNoExtra;  // index into the extras, or kNoExtra
  };
  static constexpr uint32_t kNoExtra = UINT32_MAX;
  // A row's histogram and exemplar JSON ("": none).
  struct Extra {
    std::string histogram, exemplar;
  };
  // Reads a stored batch; fails with a message when it is not one.
  // `extras` receives the rows' extras (psp3); may be null when the caller
  // only wants psp2 (a psp3 batch then fails).
  static Status Decode(std::string_view blob, std::vector<std::string>* series, std::vector<Row>* rows,
                       std::vector<Extra>* extras = nullptr);

 private:
  bool rich_ = false;  // a row has a start timestamp or an extra: psp3
  std::vector<Extra> extras_;
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
  int64_t start_ts = 0;          // 0: none
  std::string histogram, exemplar;  // canonical JSON, "": none
};
// Reads every sample of a stored batch (a SpoolBatch, or stored 1.0
// requests, whose bodies are uncompressed and read as the WriteRequests
// the sink encodes). A blob read from a file may be damaged or come from
// elsewhere: any inconsistency is a failure with a message, never a read
// out of bounds. Stored requests carrying histograms or exemplars (which no
// spool writes yet) are refused rather than listed without them.
Status DecodeStoredSamples(std::string_view blob, std::vector<StoredSample>* out);

// Reading stored units for the drain. A unit is one row of a spool's
// shadow table: a batch (`data`, psp2 or psr1) or, in a 0.1.0 spool, one
// sample (labels, value bits, ts).
struct StoredUnit {
  int64_t id = 0;
  std::string_view data;    // a batch's blob
  std::string_view labels;  // a 0.1.0 row's label JSON
  uint64_t value_bits = 0;  // a 0.1.0 row's value
  int64_t ts = 0;           // a 0.1.0 row's timestamp
};

// What the drain sends next, gathered from stored units by the readers.
// Each sample carries its unit's id (Row::seq) so that an acknowledgement
// or a refusal names the units it concerns.
struct DrainInput {
  // Decoded rows (psp2, 0.1.0). Its series (and raw-key cache) outlive each
  // send: a label set is parsed once per drain, not once per batch.
  Batch rows;
  // Stored 1.0 requests, posted as they are; the carrier's rows only say,
  // per request, which unit its samples are of.
  std::vector<EncodedRequest> encoded;
  std::shared_ptr<Batch> carrier = std::make_shared<Batch>();
  size_t samples = 0;  // gathered since the last send
  bool empty() const { return rows.empty() && encoded.empty(); }

  // Scratch of the readers.
  LabelSetBuilder builder;
  std::string wire;
  std::vector<std::string> series;
  std::vector<SpoolBatch::Row> batch_rows;
  std::vector<SpoolBatch::Extra> batch_extras;
  std::vector<StoredRequest> stored;
};

// One reader per stored format, behind one interface: Read() adds the
// unit's samples to `in` (returning how many in *samples) or fails with a
// message when the unit cannot be read (it is then moved aside).
class StoredFormatReader {
 public:
  virtual ~StoredFormatReader() = default;
  virtual Status Read(const StoredUnit& unit, DrainInput* in, size_t* samples) const = 0;
};
const StoredFormatReader& LegacyRowReader();      // 0.1.0: a row per sample
const StoredFormatReader& SpoolBatchReader();     // psp2: rows of a 2.0 sink
const StoredFormatReader& StoredRequestsReader(); // psr1: a 1.0 sink's requests
// The reader of a batch table's unit, by its blob's magic.
const StoredFormatReader& ReaderOf(std::string_view blob);

}  // namespace psink
