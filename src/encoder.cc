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

// Writes a varint at `p`; returns the byte after it.
char* WriteVarint(uint64_t v, char* p) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// One TimeSeries.samples entry, built in a small buffer and appended once:
// this is the innermost loop of the encoder.
void PutSample(double value, int64_t ts, std::string* out) {
  char buf[24];
  char* p = buf;
  *p++ = static_cast<char>((2 << 3) | kLen);
  p = WriteVarint(SamplePayloadSize(ts), p);
  *p++ = static_cast<char>((1 << 3) | kFixed64);
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  for (int i = 0; i < 8; ++i) *p++ = static_cast<char>((bits >> (8 * i)) & 0xFF);
  *p++ = static_cast<char>((2 << 3) | kVarint);
  p = WriteVarint(static_cast<uint64_t>(ts), p);
  out->append(buf, static_cast<size_t>(p - buf));
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

  // Rows grouped by series (counting sort on the series id, which follows
  // first appearance), then by time within each series (stable, so equal
  // timestamps keep insertion order; usually already sorted).
  uint32_t nseries = 0;
  for (size_t i = begin; i < end; ++i) nseries = std::max(nseries, batch.row(i).series + 1);
  std::vector<uint32_t> start(nseries + 1, 0);
  for (size_t i = begin; i < end; ++i) start[batch.row(i).series + 1]++;
  for (uint32_t s = 0; s < nseries; ++s) start[s + 1] += start[s];
  std::vector<uint32_t> order(end - begin);
  {
    std::vector<uint32_t> fill(start.begin(), start.end() - 1);
    for (size_t i = begin; i < end; ++i) order[fill[batch.row(i).series]++] = static_cast<uint32_t>(i);
  }
  auto by_ts = [&](uint32_t a, uint32_t b) { return batch.row(a).ts < batch.row(b).ts; };
  for (uint32_t s = 0; s < nseries; ++s) {
    auto first = order.begin() + start[s], last = order.begin() + start[s + 1];
    if (!std::is_sorted(first, last, by_ts)) std::stable_sort(first, last, by_ts);
  }

  std::string proto;
  proto.reserve(std::min<size_t>(max_request_bytes, (end - begin) * 24 + 4096));
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
