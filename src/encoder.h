// Encoder: rows of a Batch to remote-write request bodies. Samples are
// grouped into one TimeSeries per series, ordered by timestamp (insertion
// order among equal timestamps), labels sorted by name. The protobuf
// (proto/remote.proto for 1.0, proto/write_v2.proto for 2.0) is written
// directly into a reusable buffer, then compressed with snappy's block
// format.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "labels.h"
#include "options.h"
#include "status.h"

namespace psink {

class Batch;

struct EncodedRequest {
  std::string body;            // snappy-compressed WriteRequest (or 2.0 Request)
  size_t raw_bytes = 0;        // uncompressed protobuf size
  std::vector<uint32_t> rows;  // indices into the batch of the samples it carries
  size_t histograms = 0;       // how many of those rows are histogram samples
  size_t exemplars = 0;        // exemplars it carries
  int64_t min_ts = 0, max_ts = 0;
  Protocol protocol = Protocol::kV1;  // how `body` is encoded
};

// Encodes rows [begin, end) of `batch` as `protocol` requests (1.0: a
// prometheus.WriteRequest, 2.0: an io.prometheus.write.v2.Request), none
// with an uncompressed body over `max_request_bytes` (2.0: symbol table
// included),
// each marked with its protocol. One request-building skeleton serves both
// protocols; what differs (labels or symbol references, where metadata
// goes, field numbers) is a format class in encoder.cc. A series too large
// for one request is split across consecutive requests in timestamp order.
// Fails only when one sample with its labels (and metadata) alone exceeds
// the limit. A series' histogram rows go in TimeSeries.histograms of a
// TimeSeries entry of their own; exemplars in TimeSeries.exemplars of the
// entry of their row, ordered by their timestamps.
//
// 1.0 with `md`: every request also carries WriteRequest.metadata: one
// MetricMetadata{type, metric_family_name, help, unit} per distinct metric
// name (__name__) among its series, in order of first appearance, counted in
// the size limit. Without (nullptr), no metadata is sent.
//
// 2.0: each request has its own symbol table: "" at index 0, then every
// string the request uses, once. A series is one TimeSeries whose
// labels_refs are (name, value) index pairs in label-name order; exemplar
// labels are symbol references too, and histograms carry start_timestamp.
// With `md` every TimeSeries carries Metadata{type, help_ref, unit_ref}; an
// empty help or unit refers to symbol 0 ("").
Status EncodeRequests(Protocol protocol, const Batch& batch, size_t begin, size_t end, size_t max_request_bytes,
                      const MetricMetadata* md, std::vector<EncodedRequest>* out);

// Rows [begin, end) of `batch` in the order the encoder sends them (both protocols): grouped
// by series (in the order of their first row here), the series' float
// samples before its histograms (each kind is a TimeSeries entry of its
// own: a TimeSeries never holds both), by timestamp within each kind,
// insertion order among equal timestamps.
std::vector<uint32_t> SendOrder(const Batch& batch, size_t begin, size_t end);

// The rows among rows[0, n) of `batch` that carry an exemplar, ordered by
// the exemplar's timestamp (Prometheus drops an out-of-order exemplar).
std::vector<uint32_t> ExemplarOrder(const Batch& batch, const uint32_t* rows, size_t n);

}  // namespace psink
