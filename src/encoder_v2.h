// Encoder for remote-write 2.0: rows of a Batch to
// `io.prometheus.write.v2.Request` bodies (proto/write_v2.proto), written by
// hand into a reusable buffer and compressed with snappy's block format,
// like the 1.0 encoder (encoder.h) and with the same guarantees and output.
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

class Batch;

// Encodes rows [begin, end) of `batch` as 2.0 requests, none with an
// uncompressed body over `max_request_bytes` (symbol table included).
// Samples are grouped into one TimeSeries per series, ordered by timestamp
// (insertion order among equal timestamps); a series too large for one
// request is split across consecutive requests in timestamp order. `rows`,
// `min_ts` and `max_ts` of each request are as in EncodeRequests. With `md`
// (may be nullptr) every TimeSeries carries it; an empty help or unit refers
// to symbol 0 (""). Fails only when one sample with its labels (and
// metadata) alone exceeds the limit.
Status EncodeRequestsV2(const Batch& batch, size_t begin, size_t end, size_t max_request_bytes,
                        const MetricMetadata* md, std::vector<EncodedRequest>* out);

}  // namespace psink
