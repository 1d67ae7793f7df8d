// Protobuf wire format of the Histogram and Exemplar messages, shared by the
// encoder's two formats (encoder.cc: remote-write 1.0 and 2.0). Histogram has the same fields
// in remote-write 1.0 and 2.0 (2.0 adds start_timestamp = 17); Exemplar
// differs only in how its labels are written (1.0: Label messages, 2.0:
// symbol references). Internal to the encoders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "exemplar.h"
#include "histogram.h"

namespace psink::wire {

// Histogram { count_int = 1 | count_float = 2; sum = 3; schema = 4;
// zero_threshold = 5; zero_count_int = 6 | zero_count_float = 7;
// negative_spans = 8; negative_deltas = 9 | negative_counts = 10;
// positive_spans = 11; positive_deltas = 12 | positive_counts = 13;
// reset_hint = 14; timestamp = 15; start_timestamp = 17 (2.0, when not 0) }
// as its payload. Spans group consecutive bucket indices; deltas are
// counts relative to the bucket before (integer histograms), counts are
// absolute (float histograms).
void AppendHistogramPayload(const Histogram& h, int64_t ts, int64_t start_ts, std::string* out);
size_t HistogramPayloadSize(const Histogram& h, int64_t ts, int64_t start_ts);
// Tag, length and payload as TimeSeries field `field` (1.0: 4, 2.0: 3).
void PutHistogram(uint32_t field, const Histogram& h, int64_t ts, int64_t start_ts, std::string* out);
size_t HistogramEntrySize(const Histogram& h, int64_t ts, int64_t start_ts);

// 1.0 Exemplar { repeated Label labels = 1; double value = 2; int64
// timestamp = 3; } as TimeSeries.exemplars (field 3).
void PutExemplarV1(const Exemplar& e, std::string* out);
size_t ExemplarV1EntrySize(const Exemplar& e);

// 2.0 Exemplar { repeated uint32 labels_refs = 1 (packed); double value = 2;
// int64 timestamp = 3; } as TimeSeries.exemplars (field 4); `refs` is the
// packed references, already encoded.
void PutExemplarV2(std::string_view refs, const Exemplar& e, std::string* out);
size_t ExemplarV2EntrySize(size_t refs_bytes, const Exemplar& e);

// An upper bound of the bytes a row's histogram and exemplar add to a
// request in either protocol (symbols included): checked when the row is
// inserted, so that the encoders never meet a row that cannot fit.
size_t ExtrasBytesBound(const Histogram* h, const Exemplar* e);

}  // namespace psink::wire
