#include "encoder_v2.h"

#include <snappy.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "batch.h"
#include "keytable.h"
#include "wire.h"
#include "wire_extras.h"

namespace psink {

using wire::kLen;
using wire::kVarint;
using wire::LenFieldSize;
using wire::OptionalVarintFieldSize;
using wire::PutBytes;
using wire::PutSample;
using wire::PutTag;
using wire::PutVarint;
using wire::SampleEntrySize;
using wire::VarintSize;

namespace {

// Request fields.
constexpr uint32_t kSymbols = 4, kTimeSeries = 5;
// TimeSeries fields (samples = 2 is written by wire::PutSample).
constexpr uint32_t kLabelsRefs = 1, kMetadata = 5;
// Metadata fields.
constexpr uint32_t kType = 1, kHelpRef = 3, kUnitRef = 4;

// The symbol table of the request being built. The strings are borrowed
// from the batch's series and the metadata, which outlive the encoding.
// Indexed by HashSlots (keytable.h), emptied per request: a request with
// many series looks up every label name and value, and a node-based map
// spent most of the encoder's time in malloc and free.
class Symbols {
 public:
  void Reset() {
    strings_.clear();
    hashes_.clear();
    bytes_ = 0;
    index_.Reset();
    Add("");
  }
  // The index of `s`, adding it at the end when new.
  uint32_t Add(std::string_view s) {
    const uint64_t h = HashBytes(s);
    const uint32_t* found = index_.Find(h, [&](uint32_t k) { return strings_[k] == s; });
    if (found != nullptr) return *found;
    const auto k = static_cast<uint32_t>(strings_.size());
    strings_.push_back(s);
    hashes_.push_back(h);
    bytes_ += LenFieldSize(s.size());
    index_.Add(h, k);
    return k;
  }
  // Forgets the strings added after the first `n` (a series that did not
  // fit). Linear probing allows deleting only by rebuilding the index.
  void Truncate(size_t n) {
    if (strings_.size() <= n) return;
    for (size_t k = n; k < strings_.size(); ++k) bytes_ -= LenFieldSize(strings_[k].size());
    strings_.resize(n);
    hashes_.resize(n);
    index_.Reset();
    for (uint32_t k = 0; k < strings_.size(); ++k) index_.Add(hashes_[k], k);
  }
  size_t size() const { return strings_.size(); }
  // Bytes of the repeated `symbols` field in the request.
  size_t bytes() const { return bytes_; }
  void Write(std::string* out) const {
    for (std::string_view s : strings_) PutBytes(kSymbols, s, out);
  }

 private:
  HashSlots<uint32_t> index_;
  std::vector<std::string_view> strings_;
  std::vector<uint64_t> hashes_;
  size_t bytes_ = 0;
};

}  // namespace

Status EncodeRequestsV2(const Batch& batch, size_t begin, size_t end, size_t max_request_bytes,
                        const MetricMetadata* md, std::vector<EncodedRequest>* out) {
  out->clear();
  if (begin >= end) return Status::Ok();
  const std::vector<uint32_t> order = SendOrder(batch, begin, end);

  Symbols symbols;
  uint32_t help_ref = 0, unit_ref = 0;
  // Every request starts with "", then the help and unit when given, so that
  // their references are the same in every request.
  auto start_symbols = [&] {
    symbols.Reset();
    if (md) {
      help_ref = md->help.empty() ? 0 : symbols.Add(md->help);
      unit_ref = md->unit.empty() ? 0 : symbols.Add(md->unit);
    }
  };
  start_symbols();
  // TimeSeries.metadata, the same in every request (help and unit have the
  // same references everywhere); written after the samples, in field order.
  std::string md_field;
  if (md) {
    const uint32_t type = static_cast<uint32_t>(md->type);
    PutTag(kMetadata, kLen, &md_field);
    PutVarint(OptionalVarintFieldSize(type) + OptionalVarintFieldSize(help_ref) + OptionalVarintFieldSize(unit_ref),
              &md_field);
    if (type != 0) {
      PutTag(kType, kVarint, &md_field);
      PutVarint(type, &md_field);
    }
    if (help_ref != 0) {
      PutTag(kHelpRef, kVarint, &md_field);
      PutVarint(help_ref, &md_field);
    }
    if (unit_ref != 0) {
      PutTag(kUnitRef, kVarint, &md_field);
      PutVarint(unit_ref, &md_field);
    }
  }

  std::string series_buf;  // the request's TimeSeries entries
  std::string proto;       // the whole request: symbols, then series_buf
  series_buf.reserve(std::min<size_t>(max_request_bytes, (end - begin) * 24 + 4096));
  std::string refs;  // the current TimeSeries' packed labels_refs
  EncodedRequest req;
  auto finish_request = [&] {
    if (req.rows.empty()) return;
    proto.clear();
    proto.reserve(symbols.bytes() + series_buf.size());
    symbols.Write(&proto);
    proto += series_buf;
    req.raw_bytes = proto.size();
    snappy::Compress(proto.data(), proto.size(), &req.body);
    out->push_back(std::move(req));
    req = EncodedRequest();
    series_buf.clear();
    start_symbols();
  };

  std::string ex_refs;  // scratch: one exemplar's packed labels_refs
  // The packed references of an exemplar's labels, adding its symbols.
  auto exemplar_refs = [&](const Exemplar& e) -> const std::string& {
    ex_refs.clear();
    for (const auto& [name, value] : e.labels) {
      PutVarint(symbols.Add(name), &ex_refs);
      PutVarint(symbols.Add(value), &ex_refs);
    }
    return ex_refs;
  };
  size_t i = 0;
  while (i < order.size()) {
    const uint32_t series = batch.row(order[i]).series;
    const bool hist = batch.histogram(batch.row(order[i])) != nullptr;
    // One TimeSeries entry: this series' rows of one kind (floats or histograms).
    auto same_entry = [&](size_t k) {
      const Row& r = batch.row(order[k]);
      return r.series == series && (batch.histogram(r) != nullptr) == hist;
    };
    // Bytes a row adds to the entry; adds the symbols of its exemplar.
    auto entry_size = [&](const Row& r) {
      const Histogram* h = batch.histogram(r);
      const Exemplar* e = batch.exemplar(r);
      return (h ? wire::HistogramEntrySize(*h, r.ts, r.start_ts) : SampleEntrySize(r.ts, r.start_ts)) +
             (e ? wire::ExemplarV2EntrySize(exemplar_refs(*e).size(), *e) : 0);
    };
    const LabelsView labels = batch.labels(series);
    // Symbols and references of this series in the current request.
    const size_t symbols_before = symbols.size();
    refs.clear();
    for (const auto& [name, value] : labels) {
      PutVarint(symbols.Add(name), &refs);
      PutVarint(symbols.Add(value), &refs);
    }
    const size_t fixed = LenFieldSize(refs.size()) + md_field.size();  // all but the samples
    // Take as many rows of this entry as fit in the current request (the
    // symbols of their exemplars included).
    size_t j = i, payload = fixed;
    while (j < order.size() && same_entry(j)) {
      const size_t row_symbols = symbols.size();
      size_t next = payload + entry_size(batch.row(order[j]));
      if (symbols.bytes() + series_buf.size() + LenFieldSize(next) > max_request_bytes) {
        symbols.Truncate(row_symbols);
        break;
      }
      payload = next;
      ++j;
    }
    if (j == i) {
      if (req.rows.empty()) {
        size_t needed = symbols.bytes() + series_buf.size() + LenFieldSize(fixed + entry_size(batch.row(order[i])));
        return Status::Invalid(std::string("one sample with its labels") + (md ? " and metadata" : "") + " needs " +
                               std::to_string(needed) + " bytes, more than max_request_bytes (" +
                               std::to_string(max_request_bytes) + ")");
      }
      symbols.Truncate(symbols_before);
      finish_request();
      continue;
    }
    PutTag(kTimeSeries, kLen, &series_buf);
    PutVarint(payload, &series_buf);
    PutBytes(kLabelsRefs, refs, &series_buf);
    // Fields in number order: samples (2), histograms (3), exemplars (4).
    for (size_t k = i; k < j; ++k) {
      const Row& r = batch.row(order[k]);
      if (hist) wire::PutHistogram(3, *batch.histogram(r), r.ts, r.start_ts, &series_buf);
      else PutSample(r.value, r.ts, &series_buf, r.start_ts);
      if (req.rows.empty()) req.min_ts = req.max_ts = r.ts;
      req.min_ts = std::min(req.min_ts, r.ts);
      req.max_ts = std::max(req.max_ts, r.ts);
      req.rows.push_back(order[k]);
    }
    if (hist) req.histograms += j - i;
    if (batch.has_extras()) {
      for (uint32_t r : ExemplarOrder(batch, order.data() + i, j - i)) {
        const Exemplar& e = *batch.exemplar(batch.row(r));
        wire::PutExemplarV2(exemplar_refs(e), e, &series_buf);
        ++req.exemplars;
      }
    }
    series_buf += md_field;
    i = j;
    if (i < order.size() && same_entry(i)) finish_request();  // the entry continues in the next request
  }
  finish_request();
  return Status::Ok();
}

}  // namespace psink
