// Remote-write 2.0 as the encoder (encoder.h, encoder.cc) writes it: rows of
// a Batch to `io.prometheus.write.v2.Request` bodies (proto/write_v2.proto),
// with the same guarantees and output as 1.0.
//
// Each request has its own symbol table: "" at index 0, then every string
// the request uses, once. A series is one TimeSeries whose labels_refs are
// (name, value) index pairs in label-name order, with its samples in
// timestamp order and, when metadata is given, a Metadata{type, help_ref,
// unit_ref}. As in 1.0, a series' histogram rows form a TimeSeries entry
// of their own (TimeSeries.histograms), and exemplars go with their row's
// entry (TimeSeries.exemplars), their labels as symbol references.
#pragma once

#include <cstddef>
#include <vector>

#include "encoder.h"
#include "options.h"
#include "status.h"

namespace psink {

// Encodes rows [begin, end) of `batch` as 2.0 requests, none with an
// uncompressed body over `max_request_bytes` (symbol table included):
// EncodeRequests(Protocol::kV2, ...). With `md` (may be nullptr) every
// TimeSeries carries it; an empty help or unit refers to symbol 0 ("").
inline Status EncodeRequestsV2(const Batch& batch, size_t begin, size_t end, size_t max_request_bytes,
                               const MetricMetadata* md, std::vector<EncodedRequest>* out) {
  return EncodeRequests(Protocol::kV2, batch, begin, end, max_request_bytes, md, out);
}

}  // namespace psink
