#include "spool_format.h"

#include <snappy.h>

#include <cstring>

#include "exemplar.h"
#include "histogram.h"
#include "json.h"

namespace psink {

namespace {

constexpr uint32_t kMagic = 0x70737032;  // "psp2": spool batch, format 2
constexpr uint32_t kRichMagic = 0x70737033;  // "psp3": with start timestamps, histograms, exemplars
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

void SpoolBatch::Add(std::string_view labels_json, double value, int64_t ts, int64_t start_ts,
                     std::string_view histogram, std::string_view exemplar) {
  uint32_t series = index_.Find(labels_json);
  if (series == KeyTable::kMissing) {
    series = static_cast<uint32_t>(series_.size());
    series_.emplace_back(labels_json);
    index_.Insert(labels_json, series);
  }
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (rows_.empty() || ts < min_ts_) min_ts_ = ts;
  Row row{series, bits, ts, start_ts, kNoExtra};
  if (!histogram.empty() || !exemplar.empty()) {
    row.extra = static_cast<uint32_t>(extras_.size());
    extras_.push_back(Extra{std::string(histogram), std::string(exemplar)});
  }
  rich_ |= start_ts != 0 || row.extra != kNoExtra;
  rows_.push_back(row);
}

void SpoolBatch::Clear() {
  series_.clear();
  index_.Clear();
  rows_.clear();
  extras_.clear();
  rich_ = false;
  min_ts_ = 0;
}

std::string SpoolBatch::Encode() const {
  std::string raw;
  size_t label_bytes = 0;
  for (const std::string& s : series_) label_bytes += s.size() + 4;
  raw.reserve(12 + label_bytes + rows_.size() * 20);
  PutU32(&raw, rich_ ? kRichMagic : kMagic);
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
    if (!rich_) continue;
    PutU64(&raw, static_cast<uint64_t>(r.start_ts));
    const Extra* e = r.extra == kNoExtra ? nullptr : &extras_[r.extra];
    for (const std::string* json : {e ? &e->histogram : nullptr, e ? &e->exemplar : nullptr}) {
      PutU32(&raw, json ? static_cast<uint32_t>(json->size()) : 0);
      if (json) raw.append(*json);
    }
  }
  return raw;
}

Status SpoolBatch::Decode(std::string_view blob, std::vector<std::string>* series, std::vector<Row>* rows,
                          std::vector<Extra>* extras) {
  Reader r{blob};
  const uint32_t magic = r.Get<uint32_t>();
  const bool rich = magic == kRichMagic && extras != nullptr;
  if ((magic != kMagic && !rich) || !r.ok) return Status::Failed("a spool batch has an unknown format");
  if (extras) extras->clear();
  const uint32_t nseries = r.Get<uint32_t>();
  series->clear();
  for (uint32_t i = 0; r.ok && i < nseries; ++i) series->emplace_back(r.Bytes(r.Get<uint32_t>()));
  const uint32_t nrows = r.Get<uint32_t>();
  rows->clear();
  // (psp2: exactly 20 bytes a sample; psp3: at least 36.)
  if (r.ok && (rich ? r.in.size() / 36 < nrows : r.in.size() != static_cast<size_t>(nrows) * 20)) r.ok = false;
  if (r.ok) rows->reserve(nrows);
  for (uint32_t i = 0; r.ok && i < nrows; ++i) {
    Row row;
    row.series = r.Get<uint32_t>();
    row.value_bits = r.Get<uint64_t>();
    row.ts = static_cast<int64_t>(r.Get<uint64_t>());
    if (rich) {
      row.start_ts = static_cast<int64_t>(r.Get<uint64_t>());
      std::string_view h = r.Bytes(r.Get<uint32_t>());
      std::string_view e = r.Bytes(r.Get<uint32_t>());
      if (!h.empty() || !e.empty()) {
        row.extra = static_cast<uint32_t>(extras->size());
        extras->push_back(Extra{std::string(h), std::string(e)});
      }
    }
    if (row.series >= nseries) r.ok = false;
    rows->push_back(row);
  }
  if (r.ok && rich && !r.in.empty()) r.ok = false;
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

namespace {

// A bounds-checked reader of protobuf wire format, for the WriteRequests
// the sink stores (prometheus.WriteRequest, remote-write 1.0).
struct Proto {
  std::string_view in;
  bool ok = true;
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in.empty()) break;
      const uint8_t b = static_cast<uint8_t>(in.front());
      in.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok = false;
    return 0;
  }
  std::string_view Bytes() {
    const uint64_t n = Varint();
    if (!ok || n > in.size()) {
      ok = false;
      return {};
    }
    std::string_view b = in.substr(0, static_cast<size_t>(n));
    in.remove_prefix(static_cast<size_t>(n));
    return b;
  }
  uint64_t Fixed64() {
    uint64_t v = 0;
    if (in.size() < 8) {
      ok = false;
      return 0;
    }
    std::memcpy(&v, in.data(), 8);
    in.remove_prefix(8);
    return v;
  }
  // Skips a field of wire type `wt` that the reader does not use.
  void Skip(uint32_t wt) {
    switch (wt) {
      case 0: Varint(); break;
      case 1: Fixed64(); break;
      case 2: Bytes(); break;
      case 5:
        if (in.size() < 4) ok = false;
        else in.remove_prefix(4);
        break;
      default: ok = false;
    }
  }
};

// One TimeSeries of a 1.0 WriteRequest: its labels as canonical JSON, then
// its samples appended to `out`.
Status DecodeSeries(std::string_view ts, std::vector<StoredSample>* out) {
  Proto p{ts};
  std::string json = "{";
  std::vector<std::pair<uint64_t, int64_t>> samples;  // value bits, ms
  while (p.ok && !p.in.empty()) {
    const uint64_t key = p.Varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wt = static_cast<uint32_t>(key & 7);
    if (!p.ok) break;
    if ((field == 1 || field == 2) && wt == 2) {
      Proto m{p.Bytes()};
      if (!p.ok) break;
      std::string_view name, value;
      uint64_t bits = 0;
      int64_t ms = 0;
      while (m.ok && !m.in.empty()) {
        const uint64_t k = m.Varint();
        const uint32_t f = static_cast<uint32_t>(k >> 3), w = static_cast<uint32_t>(k & 7);
        if (!m.ok) break;
        if (field == 1 && f == 1 && w == 2) name = m.Bytes();
        else if (field == 1 && f == 2 && w == 2) value = m.Bytes();
        else if (field == 2 && f == 1 && w == 1) bits = m.Fixed64();
        else if (field == 2 && f == 2 && w == 0) ms = static_cast<int64_t>(m.Varint());
        else m.Skip(w);
      }
      if (!m.ok) return Status::Failed("a stored request holds a damaged series");
      if (field == 1) {
        if (json.size() > 1) json += ',';
        AppendJsonString(name, &json);
        json += ':';
        AppendJsonString(value, &json);
      } else {
        samples.emplace_back(bits, ms);
      }
    } else if (field == 3 || field == 4) {
      return Status::Failed("a stored request holds histograms or exemplars, which this version cannot list");
    } else {
      p.Skip(wt);
    }
  }
  if (!p.ok) return Status::Failed("a stored request holds a damaged series");
  json += '}';
  for (const auto& [bits, ms] : samples) {
    StoredSample s;
    s.labels_json = json;
    std::memcpy(&s.value, &bits, sizeof s.value);
    s.ts = ms;
    out->push_back(std::move(s));
  }
  return Status::Ok();
}

}  // namespace

namespace {

// The series of label JSON `json` in in->rows, parsed on first sight.
Status InternJson(std::string_view json, int64_t id, const char* what, DrainInput* in, uint32_t* out) {
  uint32_t s = in->rows.FindRawKey(json);
  if (s == UINT32_MAX) {
    in->builder.Reset();
    Status st = in->builder.AddJson(json, "labels");
    if (st.ok()) st = in->builder.Finish(&in->wire);
    if (!st.ok()) return Status::Failed(std::string(what) + " " + std::to_string(id) + " is unreadable: " + st.message());
    s = in->rows.Intern(in->wire);
    in->rows.RememberRawKey(json, s);
  }
  *out = s;
  return Status::Ok();
}

// A stored row's histogram and exemplar, parsed back (the canonical JSON
// the writer made of them: exemplar timestamps in ms).
Status ParseExtra(const SpoolBatch::Extra& stored, double value, int64_t ts, RowExtra* out) {
  if (!stored.histogram.empty()) {
    Histogram h;
    PSINK_RETURN_IF_ERROR(ParseHistogram(stored.histogram, "histogram", &h));
    out->histogram = std::move(h);
  }
  if (!stored.exemplar.empty()) {
    Exemplar e;
    PSINK_RETURN_IF_ERROR(ParseExemplar(stored.exemplar, "exemplar", out->histogram ? nullptr : &value, ts,
                                        TimeUnit::kMillis, ts, &e));
    out->exemplar = std::move(e);
  }
  return Status::Ok();
}

class LegacyRows final : public StoredFormatReader {
 public:
  Status Read(const StoredUnit& unit, DrainInput* in, size_t* samples) const override {
    uint32_t s;
    PSINK_RETURN_IF_ERROR(InternJson(unit.labels, unit.id, "row", in, &s));
    double value;
    std::memcpy(&value, &unit.value_bits, sizeof value);
    in->rows.Append(s, value, unit.ts, static_cast<uint64_t>(unit.id));
    *samples = 1;
    return Status::Ok();
  }
};

class SpoolBatches final : public StoredFormatReader {
 public:
  Status Read(const StoredUnit& unit, DrainInput* in, size_t* samples) const override {
    Status st = SpoolBatch::Decode(unit.data, &in->series, &in->batch_rows, &in->batch_extras);
    if (!st.ok()) return Status::Failed("batch " + std::to_string(unit.id) + ": " + st.message());
    // Every series and extra first: a unit is added whole or not at all.
    std::vector<uint32_t> ids(in->series.size());
    for (size_t i = 0; i < in->series.size(); ++i) {
      PSINK_RETURN_IF_ERROR(InternJson(in->series[i], unit.id, "batch", in, &ids[i]));
    }
    std::vector<RowExtra> extras(in->batch_extras.size());
    for (const SpoolBatch::Row& r : in->batch_rows) {
      if (r.extra == SpoolBatch::kNoExtra) continue;
      double value;
      std::memcpy(&value, &r.value_bits, sizeof value);
      st = ParseExtra(in->batch_extras[r.extra], value, r.ts, &extras[r.extra]);
      if (!st.ok()) return Status::Failed("batch " + std::to_string(unit.id) + ": " + st.message());
    }
    for (const SpoolBatch::Row& r : in->batch_rows) {
      double value;
      std::memcpy(&value, &r.value_bits, sizeof value);
      if (r.extra == SpoolBatch::kNoExtra) {
        in->rows.Append(ids[r.series], value, r.ts, static_cast<uint64_t>(unit.id), r.start_ts);
      } else {
        in->rows.Append(ids[r.series], value, r.ts, static_cast<uint64_t>(unit.id), r.start_ts,
                        std::move(extras[r.extra]));
      }
    }
    *samples = in->batch_rows.size();
    return Status::Ok();
  }
};

class StoredRequests final : public StoredFormatReader {
 public:
  Status Read(const StoredUnit& unit, DrainInput* in, size_t* samples) const override {
    Status st = DecodeStoredRequests(unit.data, &in->stored);
    if (!st.ok()) return Status::Failed("batch " + std::to_string(unit.id) + ": " + st.message());
    size_t n = 0;
    for (const StoredRequest& r : in->stored) {
      EncodedRequest req;
      req.body.assign(r.body);
      req.protocol = Protocol::kV1;
      for (uint32_t i = 0; i < r.samples; ++i) {
        req.rows.push_back(static_cast<uint32_t>(in->carrier->size()));
        in->carrier->Append(0, 0, 0, static_cast<uint64_t>(unit.id));
      }
      n += r.samples;
      in->encoded.push_back(std::move(req));
    }
    *samples = n;
    return Status::Ok();
  }
};

}  // namespace

const StoredFormatReader& LegacyRowReader() {
  static const LegacyRows reader;
  return reader;
}

const StoredFormatReader& SpoolBatchReader() {
  static const SpoolBatches reader;
  return reader;
}

const StoredFormatReader& StoredRequestsReader() {
  static const StoredRequests reader;
  return reader;
}

const StoredFormatReader& ReaderOf(std::string_view blob) {
  return IsStoredRequests(blob) ? StoredRequestsReader() : SpoolBatchReader();
}

Status DecodeStoredSamples(std::string_view blob, std::vector<StoredSample>* out) {
  out->clear();
  if (IsStoredRequests(blob)) {
    std::vector<StoredRequest> requests;
    PSINK_RETURN_IF_ERROR(DecodeStoredRequests(blob, &requests));
    std::string raw;
    for (const StoredRequest& r : requests) {
      // (GetUncompressedLength checks the length prefix only; Uncompress
      // checks the rest and never writes past what the prefix said.)
      size_t n = 0;
      if (!snappy::GetUncompressedLength(r.body.data(), r.body.size(), &n) || n > (64u << 20) ||
          !snappy::Uncompress(r.body.data(), r.body.size(), &raw)) {
        return Status::Failed("a stored request is not valid snappy");
      }
      Proto p{raw};
      const size_t before = out->size();
      while (p.ok && !p.in.empty()) {
        const uint64_t key = p.Varint();
        if (!p.ok) break;
        if (key == ((1 << 3) | 2)) {
          std::string_view ts = p.Bytes();
          if (!p.ok) break;
          PSINK_RETURN_IF_ERROR(DecodeSeries(ts, out));
        } else {
          p.Skip(static_cast<uint32_t>(key & 7));
        }
      }
      if (!p.ok) return Status::Failed("a stored request is not a valid WriteRequest");
      if (out->size() - before != r.samples) {
        return Status::Failed("a stored request holds " + std::to_string(out->size() - before) +
                              " samples where its header says " + std::to_string(r.samples));
      }
    }
    return Status::Ok();
  }
  std::vector<std::string> series;
  std::vector<SpoolBatch::Row> rows;
  std::vector<SpoolBatch::Extra> extras;
  PSINK_RETURN_IF_ERROR(SpoolBatch::Decode(blob, &series, &rows, &extras));
  out->reserve(rows.size());
  for (const SpoolBatch::Row& r : rows) {
    StoredSample s;
    s.labels_json = series[r.series];
    std::memcpy(&s.value, &r.value_bits, sizeof s.value);
    s.ts = r.ts;
    s.start_ts = r.start_ts;
    if (r.extra != SpoolBatch::kNoExtra) {
      s.histogram = extras[r.extra].histogram;
      s.exemplar = extras[r.extra].exemplar;
    }
    out->push_back(std::move(s));
  }
  return Status::Ok();
}

}  // namespace psink
