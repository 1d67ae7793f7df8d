#include "encoder.h"

#include <snappy.h>

#include <algorithm>
#include <cstring>

#include "batch.h"

namespace psink {

namespace {

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void PutVarint(uint64_t v, std::string* out) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

void PutTag(uint32_t field, uint32_t wire_type, std::string* out) { PutVarint((field << 3) | wire_type, out); }

constexpr uint32_t kVarint = 0, kFixed64 = 1, kLen = 2;

// Sample { double value = 1; int64 timestamp = 2; } as its payload size.
size_t SamplePayloadSize(int64_t ts) { return 1 + 8 + 1 + VarintSize(static_cast<uint64_t>(ts)); }

// Bytes that one Sample adds to a TimeSeries (tag + length + payload).
size_t SampleEntrySize(int64_t ts) {
  size_t p = SamplePayloadSize(ts);
  return 1 + VarintSize(p) + p;
}

void PutSample(double value, int64_t ts, std::string* out) {
  PutTag(2, kLen, out);
  PutVarint(SamplePayloadSize(ts), out);
  PutTag(1, kFixed64, out);
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  char le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((bits >> (8 * i)) & 0xFF);
  out->append(le, 8);
  PutTag(2, kVarint, out);
  PutVarint(static_cast<uint64_t>(ts), out);
}

// Bytes that a TimeSeries with a payload of `payload` bytes adds to the request.
size_t SeriesEntrySize(size_t payload) { return 1 + VarintSize(payload) + payload; }

}  // namespace

std::string EncodeLabels(const LabelSet& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    size_t payload = 1 + VarintSize(name.size()) + name.size() + 1 + VarintSize(value.size()) + value.size();
    PutTag(1, kLen, &out);
    PutVarint(payload, &out);
    PutTag(1, kLen, &out);
    PutVarint(name.size(), &out);
    out += name;
    PutTag(2, kLen, &out);
    PutVarint(value.size(), &out);
    out += value;
  }
  return out;
}

Status EncodeRequests(const Batch& batch, size_t begin, size_t end, size_t max_request_bytes,
                      std::vector<EncodedRequest>* out) {
  out->clear();
  if (begin >= end) return Status::Ok();

  // Rows grouped by series (in order of first appearance), then by time.
  std::vector<uint32_t> order(end - begin);
  for (size_t i = begin; i < end; ++i) order[i - begin] = static_cast<uint32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const Row& ra = batch.row(a);
    const Row& rb = batch.row(b);
    if (ra.series != rb.series) return ra.series < rb.series;
    return ra.ts < rb.ts;
  });

  std::string proto;
  EncodedRequest req;
  auto finish_request = [&] {
    if (req.rows.empty()) return;
    req.raw_bytes = proto.size();
    snappy::Compress(proto.data(), proto.size(), &req.body);
    out->push_back(std::move(req));
    req = EncodedRequest();
    proto.clear();
  };

  size_t i = 0;
  while (i < order.size()) {
    uint32_t series = batch.row(order[i]).series;
    const std::string& labels = batch.encoded_labels(series);
    // Take as many samples of this series as fit in the current request.
    size_t j = i, payload = labels.size();
    while (j < order.size() && batch.row(order[j]).series == series) {
      size_t next = payload + SampleEntrySize(batch.row(order[j]).ts);
      if (proto.size() + SeriesEntrySize(next) > max_request_bytes) break;
      payload = next;
      ++j;
    }
    if (j == i) {
      if (proto.empty()) {
        return Status::Invalid("one sample with its labels needs " +
                               std::to_string(SeriesEntrySize(labels.size() + SampleEntrySize(batch.row(order[i]).ts))) +
                               " bytes, more than max_request_bytes (" + std::to_string(max_request_bytes) + ")");
      }
      finish_request();
      continue;
    }
    PutTag(1, kLen, &proto);
    PutVarint(payload, &proto);
    proto += labels;
    for (size_t k = i; k < j; ++k) {
      const Row& r = batch.row(order[k]);
      PutSample(r.value, r.ts, &proto);
      if (req.rows.empty()) req.min_ts = req.max_ts = r.ts;
      req.min_ts = std::min(req.min_ts, r.ts);
      req.max_ts = std::max(req.max_ts, r.ts);
      req.rows.push_back(order[k]);
    }
    i = j;
    if (i < order.size() && batch.row(order[i]).series == series) finish_request();  // series continues in the next request
  }
  finish_request();
  return Status::Ok();
}

}  // namespace psink
