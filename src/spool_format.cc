#include "spool_format.h"

#include <cstring>

namespace psink {

namespace {

constexpr uint32_t kMagic = 0x70737032;  // "psp2": spool batch, format 2
constexpr uint32_t kStoredMagic = 0x70737231;  // "psr1": stored 1.0 requests

void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), sizeof v); }
void PutU64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), sizeof v); }

// A bounds-checked reader of the uncompressed batch.
struct Reader {
  std::string_view in;
  bool ok = true;
  template <typename T>
  T Get() {
    T v{};
    if (in.size() < sizeof v) {
      ok = false;
      return v;
    }
    std::memcpy(&v, in.data(), sizeof v);
    in.remove_prefix(sizeof v);
    return v;
  }
  std::string_view Bytes(size_t n) {
    if (in.size() < n) {
      ok = false;
      return {};
    }
    std::string_view b = in.substr(0, n);
    in.remove_prefix(n);
    return b;
  }
};

}  // namespace

void SpoolBatch::Add(std::string_view labels_json, double value, int64_t ts) {
  uint32_t series = index_.Find(labels_json);
  if (series == KeyTable::kMissing) {
    series = static_cast<uint32_t>(series_.size());
    series_.emplace_back(labels_json);
    index_.Insert(labels_json, series);
  }
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (rows_.empty() || ts < min_ts_) min_ts_ = ts;
  rows_.push_back(Row{series, bits, ts});
}

void SpoolBatch::Clear() {
  series_.clear();
  index_.Clear();
  rows_.clear();
  min_ts_ = 0;
}

std::string SpoolBatch::Encode() const {
  std::string raw;
  size_t label_bytes = 0;
  for (const std::string& s : series_) label_bytes += s.size() + 4;
  raw.reserve(12 + label_bytes + rows_.size() * 20);
  PutU32(&raw, kMagic);
  PutU32(&raw, static_cast<uint32_t>(series_.size()));
  for (const std::string& s : series_) {
    PutU32(&raw, static_cast<uint32_t>(s.size()));
    raw.append(s);
  }
  PutU32(&raw, static_cast<uint32_t>(rows_.size()));
  for (const Row& r : rows_) {
    PutU32(&raw, r.series);
    PutU64(&raw, r.value_bits);
    PutU64(&raw, static_cast<uint64_t>(r.ts));
  }
  return raw;
}

Status SpoolBatch::Decode(std::string_view blob, std::vector<std::string>* series, std::vector<Row>* rows) {
  Reader r{blob};
  if (r.Get<uint32_t>() != kMagic || !r.ok) return Status::Failed("a spool batch has an unknown format");
  const uint32_t nseries = r.Get<uint32_t>();
  series->clear();
  for (uint32_t i = 0; r.ok && i < nseries; ++i) series->emplace_back(r.Bytes(r.Get<uint32_t>()));
  const uint32_t nrows = r.Get<uint32_t>();
  rows->clear();
  if (r.ok && r.in.size() != static_cast<size_t>(nrows) * 20) r.ok = false;
  if (r.ok) rows->reserve(nrows);
  for (uint32_t i = 0; r.ok && i < nrows; ++i) {
    Row row;
    row.series = r.Get<uint32_t>();
    row.value_bits = r.Get<uint64_t>();
    row.ts = static_cast<int64_t>(r.Get<uint64_t>());
    if (row.series >= nseries) r.ok = false;
    rows->push_back(row);
  }
  if (!r.ok) return Status::Failed("a spool batch is truncated or inconsistent");
  return Status::Ok();
}

std::string EncodeStoredRequests(const std::vector<EncodedRequest>& requests) {
  std::string out;
  size_t bytes = 8;
  for (const EncodedRequest& r : requests) bytes += 8 + r.body.size();
  out.reserve(bytes);
  PutU32(&out, kStoredMagic);
  PutU32(&out, static_cast<uint32_t>(requests.size()));
  for (const EncodedRequest& r : requests) {
    PutU32(&out, static_cast<uint32_t>(r.rows.size()));
    PutU32(&out, static_cast<uint32_t>(r.body.size()));
    out.append(r.body);
  }
  return out;
}

bool IsStoredRequests(std::string_view blob) {
  uint32_t magic = 0;
  if (blob.size() >= 4) std::memcpy(&magic, blob.data(), 4);
  return magic == kStoredMagic;
}

Status DecodeStoredRequests(std::string_view blob, std::vector<StoredRequest>* out) {
  Reader r{blob};
  out->clear();
  if (r.Get<uint32_t>() != kStoredMagic || !r.ok) return Status::Failed("a spool batch has an unknown format");
  const uint32_t n = r.Get<uint32_t>();
  for (uint32_t i = 0; r.ok && i < n; ++i) {
    StoredRequest req;
    req.samples = r.Get<uint32_t>();
    req.body = r.Bytes(r.Get<uint32_t>());
    out->push_back(req);
  }
  if (!r.ok || !r.in.empty()) return Status::Failed("a spool batch is truncated or inconsistent");
  return Status::Ok();
}

}  // namespace psink
