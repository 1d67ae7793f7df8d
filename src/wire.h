// Protobuf wire-format primitives shared by the encoder's two formats
// (encoder.cc: remote-write 1.0 and 2.0) and wire_extras.cc: varints, tags,
// and the Sample message, which has the same fields in both protocols.
// Internal to the encoder; nothing here knows a message but Sample.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace psink::wire {

inline constexpr uint32_t kVarint = 0, kFixed64 = 1, kLen = 2;

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes a varint at `p`; returns the byte after it.
inline char* WriteVarint(uint64_t v, char* p) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline void PutVarint(uint64_t v, std::string* out) {
  char buf[10];
  out->append(buf, static_cast<size_t>(WriteVarint(v, buf) - buf));
}

inline void PutTag(uint32_t field, uint32_t wire_type, std::string* out) { PutVarint((field << 3) | wire_type, out); }

// A length-delimited field: tag, length, bytes.
inline void PutBytes(uint32_t field, std::string_view bytes, std::string* out) {
  PutTag(field, kLen, out);
  PutVarint(bytes.size(), out);
  out->append(bytes);
}

// Bytes of a length-delimited field (numbers below 16) with `payload` bytes.
inline size_t LenFieldSize(size_t payload) { return 1 + VarintSize(payload) + payload; }

// Bytes of a varint field (numbers below 16) that is written only when not 0,
// as proto3 does.
inline size_t OptionalVarintFieldSize(uint64_t v) { return v == 0 ? 0 : 1 + VarintSize(v); }

// Sample { double value = 1; int64 timestamp = 2; int64 start_timestamp = 3
// (2.0 only, written when not 0); } as its payload size.
inline size_t SamplePayloadSize(int64_t ts, int64_t start_ts = 0) {
  return 1 + 8 + 1 + VarintSize(static_cast<uint64_t>(ts)) + OptionalVarintFieldSize(static_cast<uint64_t>(start_ts));
}

// Bytes that one Sample adds to a TimeSeries (tag + length + payload).
inline size_t SampleEntrySize(int64_t ts, int64_t start_ts = 0) { return LenFieldSize(SamplePayloadSize(ts, start_ts)); }

// One TimeSeries.samples entry (field 2 in both protocols), built in a small
// buffer and appended once: this is the innermost loop of the encoders.
// value and timestamp are always written, so a 0 value or timestamp takes the
// same room as any other (SampleEntrySize counts them); start_ts (2.0's
// Sample.start_timestamp) only when not 0.
inline void PutSample(double value, int64_t ts, std::string* out, int64_t start_ts = 0) {
  char buf[40];
  char* p = buf;
  *p++ = static_cast<char>((2 << 3) | kLen);
  p = WriteVarint(SamplePayloadSize(ts, start_ts), p);
  *p++ = static_cast<char>((1 << 3) | kFixed64);
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  for (int i = 0; i < 8; ++i) *p++ = static_cast<char>((bits >> (8 * i)) & 0xFF);
  *p++ = static_cast<char>((2 << 3) | kVarint);
  p = WriteVarint(static_cast<uint64_t>(ts), p);
  if (start_ts != 0) {
    *p++ = static_cast<char>((3 << 3) | kVarint);
    p = WriteVarint(static_cast<uint64_t>(start_ts), p);
  }
  out->append(buf, static_cast<size_t>(p - buf));
}

}  // namespace psink::wire
