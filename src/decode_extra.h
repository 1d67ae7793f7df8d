// Row decoding of the two HIDDEN columns (options key_histogram and
// key_exemplar): a row's value or, in its place, a native histogram
// (histogram.h), and the exemplar attached to its sample (exemplar.h).
// Like decode.h, no side effects: a refused row leaves nothing behind.
#pragma once

#include <cstdint>

#include "batch.h"
#include "decode.h"
#include "options.h"
#include "status.h"

namespace psink {

// Reads the row's value cell, or its histogram cell when that is not NULL
// (then the value must be NULL: a row has one or the other, never both,
// never neither). A histogram of a sink with metric_type='gaugehistogram'
// is a gauge (reset hint "gauge"; "yes" or "no" are refused). Sets
// extra->histogram or *value.
Status DecodeValueOrHistogram(const Cell& value, const Cell& histogram, const SinkOptions& opts, double* value_out,
                              RowExtra* extra);

// Reads the row's exemplar cell (NULL: none) into extra->exemplar; `value`
// and `ts` are the row's (value unused for a histogram row).
Status DecodeExemplarCell(const Cell& exemplar, const SinkOptions& opts, int64_t now_ms, double value, int64_t ts,
                          RowExtra* extra);

}  // namespace psink
