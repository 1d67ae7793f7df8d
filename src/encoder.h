// Encoder: rows of a Batch to remote-write 1.0 request bodies. Samples are
// grouped into one TimeSeries per series, ordered by timestamp (insertion
// order among equal timestamps), labels sorted by name. The protobuf
// `prometheus.WriteRequest` (proto/remote.proto) is written directly into a
// reusable buffer, then compressed with snappy's block format.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "decode.h"
#include "status.h"

namespace psink {

class Batch;

struct EncodedRequest {
  std::string body;            // snappy-compressed WriteRequest
  size_t raw_bytes = 0;        // uncompressed protobuf size
  std::vector<uint32_t> rows;  // indices into the batch of the samples it carries
  int64_t min_ts = 0, max_ts = 0;
};

// Encodes rows [begin, end) of `batch` into one or more requests, none with
// an uncompressed body over `max_request_bytes`. A series too large for one
// request is split across consecutive requests in timestamp order. Fails
// only when one sample with its labels alone exceeds the limit.
Status EncodeRequests(const Batch& batch, size_t begin, size_t end, size_t max_request_bytes,
                      std::vector<EncodedRequest>* out);

// The protobuf encoding of `labels` as repeated TimeSeries.labels (field 1).
std::string EncodeLabels(const LabelSet& labels);

}  // namespace psink
