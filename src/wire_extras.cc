#include "wire_extras.h"

#include <cstring>

#include "wire.h"

namespace psink::wire {

namespace {

inline constexpr uint32_t kFixed64Type = kFixed64;

void PutFixed64(uint32_t field, double v, std::string* out) {
  PutTag(field, kFixed64Type, out);
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((bits >> (8 * i)) & 0xFF);
  out->append(buf, 8);
}

void PutVarintField(uint32_t field, uint64_t v, std::string* out) {
  PutTag(field, kVarint, out);
  PutVarint(v, out);
}

uint64_t ZigZag32(int32_t v) { return static_cast<uint32_t>((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31)); }
uint64_t ZigZag64(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }

// One side's spans (field `spans_field`) and deltas or counts (`values_field`).
void PutSide(const std::vector<Histogram::Bucket>& buckets, bool is_float, uint32_t spans_field, uint32_t values_field,
             std::string* out) {
  if (buckets.empty()) return;
  // Spans: a run of consecutive indices each; the first offset is the
  // first index, the others the gap after the previous span.
  size_t i = 0;
  while (i < buckets.size()) {
    size_t j = i + 1;
    while (j < buckets.size() && static_cast<int64_t>(buckets[j].index) == static_cast<int64_t>(buckets[j - 1].index) + 1) ++j;
    const int32_t offset = i == 0 ? buckets[0].index : static_cast<int32_t>(static_cast<int64_t>(buckets[i].index) -
                                                                            buckets[i - 1].index - 1);
    const uint64_t length = j - i;
    const size_t payload = 1 + VarintSize(ZigZag32(offset)) + 1 + VarintSize(length);
    PutTag(spans_field, kLen, out);
    PutVarint(payload, out);
    PutVarintField(1, ZigZag32(offset), out);
    PutVarintField(2, length, out);
    i = j;
  }
  PutTag(values_field, kLen, out);
  if (is_float) {
    PutVarint(8 * buckets.size(), out);
    for (const auto& b : buckets) {
      uint64_t bits;
      std::memcpy(&bits, &b.fcount, sizeof bits);
      char buf[8];
      for (int k = 0; k < 8; ++k) buf[k] = static_cast<char>((bits >> (8 * k)) & 0xFF);
      out->append(buf, 8);
    }
  } else {
    size_t bytes = 0;
    uint64_t prev = 0;
    for (const auto& b : buckets) {
      bytes += VarintSize(ZigZag64(static_cast<int64_t>(b.count - prev)));
      prev = b.count;
    }
    PutVarint(bytes, out);
    prev = 0;
    for (const auto& b : buckets) {
      PutVarint(ZigZag64(static_cast<int64_t>(b.count - prev)), out);
      prev = b.count;
    }
  }
}

}  // namespace

void AppendHistogramPayload(const Histogram& h, int64_t ts, int64_t start_ts, std::string* out) {
  if (h.is_float) PutFixed64(2, h.fcount, out);
  else PutVarintField(1, h.count, out);
  PutFixed64(3, h.sum, out);
  PutVarintField(4, ZigZag32(h.schema), out);
  PutFixed64(5, h.zero_threshold, out);
  if (h.is_float) PutFixed64(7, h.fzero_count, out);
  else PutVarintField(6, h.zero_count, out);
  PutSide(h.negative, h.is_float, 8, h.is_float ? 10 : 9, out);
  PutSide(h.positive, h.is_float, 11, h.is_float ? 13 : 12, out);
  if (h.reset != ResetHint::kUnknown) PutVarintField(14, static_cast<uint64_t>(h.reset), out);
  PutVarintField(15, static_cast<uint64_t>(ts), out);
  if (start_ts != 0) PutVarintField(17, static_cast<uint64_t>(start_ts), out);
}

size_t HistogramPayloadSize(const Histogram& h, int64_t ts, int64_t start_ts) {
  thread_local std::string scratch;
  scratch.clear();
  AppendHistogramPayload(h, ts, start_ts, &scratch);
  return scratch.size();
}

void PutHistogram(uint32_t field, const Histogram& h, int64_t ts, int64_t start_ts, std::string* out) {
  thread_local std::string scratch;
  scratch.clear();
  AppendHistogramPayload(h, ts, start_ts, &scratch);
  PutBytes(field, scratch, out);
}

size_t HistogramEntrySize(const Histogram& h, int64_t ts, int64_t start_ts) {
  return LenFieldSize(HistogramPayloadSize(h, ts, start_ts));
}

namespace {

size_t ExemplarV1PayloadSize(const Exemplar& e) {
  size_t n = 0;
  for (const auto& [name, value] : e.labels) n += LenFieldSize(LenFieldSize(name.size()) + LenFieldSize(value.size()));
  return n + 1 + 8 + 1 + VarintSize(static_cast<uint64_t>(e.ts));
}

}  // namespace

void PutExemplarV1(const Exemplar& e, std::string* out) {
  PutTag(3, kLen, out);
  PutVarint(ExemplarV1PayloadSize(e), out);
  for (const auto& [name, value] : e.labels) {
    PutTag(1, kLen, out);
    PutVarint(LenFieldSize(name.size()) + LenFieldSize(value.size()), out);
    PutBytes(1, name, out);
    PutBytes(2, value, out);
  }
  PutFixed64(2, e.value, out);
  PutVarintField(3, static_cast<uint64_t>(e.ts), out);
}

size_t ExemplarV1EntrySize(const Exemplar& e) { return LenFieldSize(ExemplarV1PayloadSize(e)); }

void PutExemplarV2(std::string_view refs, const Exemplar& e, std::string* out) {
  PutTag(4, kLen, out);
  PutVarint((refs.empty() ? 0 : LenFieldSize(refs.size())) + 1 + 8 + 1 + VarintSize(static_cast<uint64_t>(e.ts)), out);
  if (!refs.empty()) PutBytes(1, refs, out);
  PutFixed64(2, e.value, out);
  PutVarintField(3, static_cast<uint64_t>(e.ts), out);
}

size_t ExemplarV2EntrySize(size_t refs_bytes, const Exemplar& e) {
  return LenFieldSize((refs_bytes == 0 ? 0 : LenFieldSize(refs_bytes)) + 1 + 8 + 1 + VarintSize(static_cast<uint64_t>(e.ts)));
}

size_t ExtrasBytesBound(const Histogram* h, const Exemplar* e) {
  size_t n = 0;
  if (h != nullptr) {
    // Without encoding it (this runs for every row at INSERT): the fixed
    // fields at their widest (tags, 10-byte varints, 8-byte doubles,
    // timestamps, the entry's tag and length), then per bucket a 10-byte
    // delta or 8-byte count and, at worst, a span of its own (tag, length,
    // offset and length fields).
    n += 160 + (h->positive.size() + h->negative.size()) * (10 + 14);
  }
  if (e != nullptr) {
    // 1.0 Label messages, or 2.0 symbols plus references: at most this.
    n += 32;
    for (const auto& [name, value] : e->labels) n += 2 * (name.size() + value.size()) + 32;
  }
  return n;
}

}  // namespace psink::wire
