#include "encoder.h"

#include <snappy.h>

#include <algorithm>
#include <cstdint>
#include <memory>

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

// Compresses `proto` into `*body` through a buffer this thread keeps:
// snappy::Compress into a string sizes it for the worst case, which fresh
// memory filled and handed back to the kernel on every request (page
// faults were 8% of an export's time); this way a body is allocated once,
// at its size.
void Compress(std::string_view proto, std::string* body) {
  thread_local std::unique_ptr<char[]> buf;
  thread_local size_t cap = 0;
  const size_t need = snappy::MaxCompressedLength(proto.size());
  if (need > cap) {
    cap = std::max(need, 2 * cap);
    buf = std::make_unique_for_overwrite<char[]>(cap);
  }
  size_t n = 0;
  snappy::RawCompress(proto.data(), proto.size(), buf.get(), &n);
  body->assign(buf.get(), n);
}

// A buffer of this thread for building a request, kept between calls for
// the same reason.
std::string& Scratch(int which) {
  thread_local std::string bufs[2];
  bufs[which].clear();
  return bufs[which];
}

// MetricMetadata { MetricType type = 1; string metric_family_name = 2;
// string help = 4; string unit = 5; } as WriteRequest.metadata (field 3),
// zero and empty fields left out as proto3 does. `fixed` is the part of the
// payload that does not depend on the name (FixedMetadataPayload).
size_t MetadataEntrySize(size_t fixed, std::string_view name) {
  return LenFieldSize(fixed + LenFieldSize(name.size()));
}

size_t FixedMetadataPayload(const MetricMetadata& md) {
  return OptionalVarintFieldSize(static_cast<uint32_t>(md.type)) +
         (md.help.empty() ? 0 : LenFieldSize(md.help.size())) + (md.unit.empty() ? 0 : LenFieldSize(md.unit.size()));
}

void PutMetadata(const MetricMetadata& md, size_t fixed, std::string_view name, std::string* out) {
  PutTag(3, kLen, out);
  PutVarint(fixed + LenFieldSize(name.size()), out);
  if (md.type != MetricType::kUnknown) {
    PutTag(1, kVarint, out);
    PutVarint(static_cast<uint32_t>(md.type), out);
  }
  PutBytes(2, name, out);
  if (!md.help.empty()) PutBytes(4, md.help, out);
  if (!md.unit.empty()) PutBytes(5, md.unit, out);
}


// ---------------------------------------------------------------- formats
//
// What differs between the protocols, behind one interface that the
// request-building skeleton (EncodeWith) drives:
//   StartRequest()        a new request begins
//   Mark() / Rollback(m)  the request's shared state (2.0: its symbols)
//                         before a series or row, and back to it
//   Header(series, hist)  bytes of a TimeSeries entry besides its rows
//                         (prepares the labels and metadata it writes)
//   RowBytes(row)         bytes one row adds to its entry
//   Bytes(entry)          the request's size with an entry of `entry`
//                         bytes (tag and length included) added
//   Write(payload, rows)  appends the entry
//   Finish()              the complete request's bytes

// Remote-write 1.0: WriteRequest { repeated TimeSeries timeseries = 1;
// repeated MetricMetadata metadata = 3; }. Labels are the series' stored
// wire form; metadata entries (one per metric name a request carries) are
// appended when the request is finished.
class V1Format {
 public:
  V1Format(const Batch& batch, const std::vector<uint32_t>& order, const MetricMetadata* md)
      : batch_(batch), md_(md), proto_(Scratch(0)) {
    if (!md_) return;
    md_fixed_ = FixedMetadataPayload(*md_);
    // Each distinct metric name gets a dense id; name_sent_ holds the
    // request number in which its metadata entry was last counted.
    uint32_t nseries = 0;
    for (uint32_t r : order) nseries = std::max(nseries, batch.row(r).series + 1);
    name_of_series_.assign(nseries, UINT32_MAX);
    HashSlots<uint32_t> ids;  // name -> name id
    for (uint32_t r : order) {
      const uint32_t s = batch.row(r).series;
      if (name_of_series_[s] != UINT32_MAX) continue;
      const std::string_view name = MetricName(batch.labels(s));
      const uint64_t hash = HashBytes(name);
      const uint32_t* id = ids.Find(hash, [&](uint32_t k) { return names_[k] == name; });
      if (id == nullptr) {
        ids.Add(hash, static_cast<uint32_t>(names_.size()));
        names_.push_back(name);
      }
      name_of_series_[s] = id ? *id : static_cast<uint32_t>(names_.size() - 1);
    }
    name_sent_.assign(names_.size(), SIZE_MAX);
  }
  void StartRequest() {
    proto_.clear();
    md_names_.clear();
    md_bytes_ = 0;
    ++request_no_;
  }
  size_t Mark() const { return 0; }
  void Rollback(size_t) {}
  size_t Header(uint32_t series, bool /*hist*/) {
    labels_ = batch_.encoded_labels(series);
    md_new_ = 0;
    if (md_) {
      name_id_ = name_of_series_[series];
      if (name_sent_[name_id_] != request_no_) md_new_ = MetadataEntrySize(md_fixed_, names_[name_id_]);
    }
    return labels_.size();
  }
  size_t RowBytes(const Row& r) const {
    const Histogram* h = batch_.histogram(r);
    const Exemplar* e = batch_.exemplar(r);
    return (h ? wire::HistogramEntrySize(*h, r.ts, 0) : SampleEntrySize(r.ts)) + (e ? wire::ExemplarV1EntrySize(*e) : 0);
  }
  size_t Bytes(size_t entry) const { return proto_.size() + md_bytes_ + md_new_ + entry; }
  // Fields in number order: labels (1), samples (2), exemplars (3), histograms (4).
  void Write(size_t payload, const uint32_t* rows, size_t n, bool hist, EncodedRequest* req) {
    if (md_new_ != 0) {
      name_sent_[name_id_] = request_no_;
      md_names_.push_back(name_id_);
      md_bytes_ += md_new_;
    }
    PutTag(1, kLen, &proto_);
    PutVarint(payload, &proto_);
    proto_ += labels_;
    if (!hist) {
      for (size_t k = 0; k < n; ++k) PutSample(batch_.row(rows[k]).value, batch_.row(rows[k]).ts, &proto_);
    }
    if (!batch_.has_extras()) return;
    for (uint32_t r : ExemplarOrder(batch_, rows, n)) {
      wire::PutExemplarV1(*batch_.exemplar(batch_.row(r)), &proto_);
      ++req->exemplars;
    }
    if (hist) {
      for (size_t k = 0; k < n; ++k) {
        const Row& r = batch_.row(rows[k]);
        wire::PutHistogram(4, *batch_.histogram(r), r.ts, 0, &proto_);
      }
      req->histograms += n;
    }
  }
  std::string_view Finish() {
    for (uint32_t n : md_names_) PutMetadata(*md_, md_fixed_, names_[n], &proto_);
    return proto_;
  }

 private:
  const Batch& batch_;
  const MetricMetadata* md_;
  std::string& proto_;  // the request
  std::string_view labels_;  // of the entry being written
  size_t md_fixed_ = 0;
  std::vector<uint32_t> name_of_series_;  // series id -> name id
  std::vector<std::string_view> names_;   // name id -> name
  std::vector<size_t> name_sent_;
  size_t request_no_ = 0;
  std::vector<uint32_t> md_names_;  // name ids whose metadata this request carries
  size_t md_bytes_ = 0;             // their size, written when the request is finished
  size_t md_new_ = 0;               // the metadata entry the current series adds
  uint32_t name_id_ = 0;
};

// Remote-write 2.0 (proto/write_v2.proto): Request { repeated string
// symbols = 4; repeated TimeSeries timeseries = 5; }, each request with its
// own symbol table ("" at index 0; the metadata's help and unit next, so
// that their references are the same in every request).

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

class V2Format {
 public:
  V2Format(const Batch& batch, const std::vector<uint32_t>& /*order*/, const MetricMetadata* md)
      : batch_(batch), md_(md), series_buf_(Scratch(0)), proto_(Scratch(1)) {
    StartSymbols();
    if (!md_) return;
    // TimeSeries.metadata, the same in every request; written after the
    // samples, in field order.
    const uint32_t type = static_cast<uint32_t>(md_->type);
    PutTag(kMetadata, kLen, &md_field_);
    PutVarint(OptionalVarintFieldSize(type) + OptionalVarintFieldSize(help_ref_) + OptionalVarintFieldSize(unit_ref_),
              &md_field_);
    if (type != 0) {
      PutTag(kType, kVarint, &md_field_);
      PutVarint(type, &md_field_);
    }
    if (help_ref_ != 0) {
      PutTag(kHelpRef, kVarint, &md_field_);
      PutVarint(help_ref_, &md_field_);
    }
    if (unit_ref_ != 0) {
      PutTag(kUnitRef, kVarint, &md_field_);
      PutVarint(unit_ref_, &md_field_);
    }
  }
  void StartRequest() {
    series_buf_.clear();
    StartSymbols();
  }
  size_t Mark() const { return symbols_.size(); }
  void Rollback(size_t mark) { symbols_.Truncate(mark); }
  size_t Header(uint32_t series, bool /*hist*/) {
    refs_.clear();
    for (const auto& [name, value] : batch_.labels(series)) {
      PutVarint(symbols_.Add(name), &refs_);
      PutVarint(symbols_.Add(value), &refs_);
    }
    return LenFieldSize(refs_.size()) + md_field_.size();
  }
  // Adds the symbols of the row's exemplar.
  size_t RowBytes(const Row& r) {
    const Histogram* h = batch_.histogram(r);
    const Exemplar* e = batch_.exemplar(r);
    return (h ? wire::HistogramEntrySize(*h, r.ts, r.start_ts) : SampleEntrySize(r.ts, r.start_ts)) +
           (e ? wire::ExemplarV2EntrySize(ExemplarRefs(*e).size(), *e) : 0);
  }
  size_t Bytes(size_t entry) const { return symbols_.bytes() + series_buf_.size() + entry; }
  // Fields in number order: labels_refs (1), samples (2), histograms (3),
  // exemplars (4), metadata (5).
  void Write(size_t payload, const uint32_t* rows, size_t n, bool hist, EncodedRequest* req) {
    PutTag(kTimeSeries, kLen, &series_buf_);
    PutVarint(payload, &series_buf_);
    PutBytes(kLabelsRefs, refs_, &series_buf_);
    for (size_t k = 0; k < n; ++k) {
      const Row& r = batch_.row(rows[k]);
      if (hist) wire::PutHistogram(3, *batch_.histogram(r), r.ts, r.start_ts, &series_buf_);
      else PutSample(r.value, r.ts, &series_buf_, r.start_ts);
    }
    if (hist) req->histograms += n;
    if (batch_.has_extras()) {
      for (uint32_t r : ExemplarOrder(batch_, rows, n)) {
        const Exemplar& e = *batch_.exemplar(batch_.row(r));
        wire::PutExemplarV2(ExemplarRefs(e), e, &series_buf_);
        ++req->exemplars;
      }
    }
    series_buf_ += md_field_;
  }
  std::string_view Finish() {
    proto_.clear();
    proto_.reserve(symbols_.bytes() + series_buf_.size());
    symbols_.Write(&proto_);
    proto_ += series_buf_;
    return proto_;
  }

 private:
  void StartSymbols() {
    symbols_.Reset();
    if (md_) {
      help_ref_ = md_->help.empty() ? 0 : symbols_.Add(md_->help);
      unit_ref_ = md_->unit.empty() ? 0 : symbols_.Add(md_->unit);
    }
  }
  // The packed references of an exemplar's labels, adding its symbols.
  const std::string& ExemplarRefs(const Exemplar& e) {
    ex_refs_.clear();
    for (const auto& [name, value] : e.labels) {
      PutVarint(symbols_.Add(name), &ex_refs_);
      PutVarint(symbols_.Add(value), &ex_refs_);
    }
    return ex_refs_;
  }

  const Batch& batch_;
  const MetricMetadata* md_;
  Symbols symbols_;
  uint32_t help_ref_ = 0, unit_ref_ = 0;
  std::string md_field_;
  std::string& series_buf_;  // the request's TimeSeries entries
  std::string& proto_;       // the whole request: symbols, then series_buf_
  std::string refs_;         // the current TimeSeries' packed labels_refs
  std::string ex_refs_;      // scratch: one exemplar's packed labels_refs
};

// ---------------------------------------------------------------- skeleton

// Rows [begin, end) in send order (SendOrder), cut into TimeSeries entries
// (a series' rows of one kind) and requests: as many rows of an entry as
// fit go into the current request; an entry that does not fit whole
// continues in the next one. Fails only when one row does not fit in a
// request of its own.
template <class Format>
Status EncodeWith(const Batch& batch, size_t begin, size_t end, size_t max_request_bytes, const MetricMetadata* md,
                  Protocol protocol, std::vector<EncodedRequest>* out) {
  out->clear();
  if (begin >= end) return Status::Ok();
  const std::vector<uint32_t> order = SendOrder(batch, begin, end);
  Format f(batch, order, md);
  EncodedRequest req;
  auto finish_request = [&] {
    if (req.rows.empty()) return;
    const std::string_view proto = f.Finish();
    req.raw_bytes = proto.size();
    req.protocol = protocol;
    Compress(proto, &req.body);
    out->push_back(std::move(req));
    req = EncodedRequest();
    f.StartRequest();
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
    const size_t mark = f.Mark();
    const size_t fixed = f.Header(series, hist);
    // Take as many rows of this entry as fit in the current request.
    size_t j = i, payload = fixed;
    while (j < order.size() && same_entry(j)) {
      const size_t row_mark = f.Mark();
      const size_t next = payload + f.RowBytes(batch.row(order[j]));
      if (f.Bytes(LenFieldSize(next)) > max_request_bytes) {
        f.Rollback(row_mark);
        break;
      }
      payload = next;
      ++j;
    }
    if (j == i) {
      if (req.rows.empty()) {
        const size_t needed = f.Bytes(LenFieldSize(fixed + f.RowBytes(batch.row(order[i]))));
        return Status::Invalid(std::string("one sample with its labels") + (md ? " and metadata" : "") + " needs " +
                               std::to_string(needed) + " bytes, more than max_request_bytes (" +
                               std::to_string(max_request_bytes) + ")");
      }
      f.Rollback(mark);
      finish_request();
      continue;
    }
    f.Write(payload, order.data() + i, j - i, hist, &req);
    for (size_t k = i; k < j; ++k) {
      const int64_t ts = batch.row(order[k]).ts;
      if (req.rows.empty()) req.min_ts = req.max_ts = ts;
      req.min_ts = std::min(req.min_ts, ts);
      req.max_ts = std::max(req.max_ts, ts);
      req.rows.push_back(order[k]);
    }
    i = j;
    if (i < order.size() && same_entry(i)) finish_request();  // the entry continues in the next request
  }
  finish_request();
  return Status::Ok();
}

}  // namespace

std::vector<uint32_t> SendOrder(const Batch& batch, size_t begin, size_t end) {
  if (begin >= end) return {};
  // Series in order of first appearance in these rows (a counting sort on
  // that rank), then a stable sort by time within each series (usually
  // already sorted). The series table outlives batches, so ids alone would
  // order series by their first appearance in the connection instead.
  uint32_t nseries = 0;
  for (size_t i = begin; i < end; ++i) nseries = std::max(nseries, batch.row(i).series + 1);
  std::vector<uint32_t> rank(nseries, UINT32_MAX);
  uint32_t ranked = 0;
  for (size_t i = begin; i < end; ++i) {
    uint32_t& r = rank[batch.row(i).series];
    if (r == UINT32_MAX) r = ranked++;
  }
  std::vector<uint32_t> start(ranked + 1, 0);
  for (size_t i = begin; i < end; ++i) start[rank[batch.row(i).series] + 1]++;
  for (uint32_t s = 0; s < ranked; ++s) start[s + 1] += start[s];
  std::vector<uint32_t> order(end - begin);
  {
    std::vector<uint32_t> fill(start.begin(), start.end() - 1);
    for (size_t i = begin; i < end; ++i) order[fill[rank[batch.row(i).series]]++] = static_cast<uint32_t>(i);
  }
  auto by_ts = [&](uint32_t a, uint32_t b) { return batch.row(a).ts < batch.row(b).ts; };
  const bool histograms = batch.has_histograms();
  for (uint32_t s = 0; s < ranked; ++s) {
    auto first = order.begin() + start[s], last = order.begin() + start[s + 1];
    if (!std::is_sorted(first, last, by_ts)) std::stable_sort(first, last, by_ts);
    if (histograms) {
      std::stable_partition(first, last, [&](uint32_t r) { return batch.histogram(batch.row(r)) == nullptr; });
    }
  }
  return order;
}

std::vector<uint32_t> ExemplarOrder(const Batch& batch, const uint32_t* rows, size_t n) {
  std::vector<uint32_t> out;
  for (size_t k = 0; k < n; ++k) {
    if (batch.exemplar(batch.row(rows[k])) != nullptr) out.push_back(rows[k]);
  }
  std::stable_sort(out.begin(), out.end(), [&](uint32_t a, uint32_t b) {
    return batch.exemplar(batch.row(a))->ts < batch.exemplar(batch.row(b))->ts;
  });
  return out;
}

Status EncodeRequests(Protocol protocol, const Batch& batch, size_t begin, size_t end, size_t max_request_bytes,
                      const MetricMetadata* md, std::vector<EncodedRequest>* out) {
  return protocol == Protocol::kV2 ? EncodeWith<V2Format>(batch, begin, end, max_request_bytes, md, protocol, out)
                                   : EncodeWith<V1Format>(batch, begin, end, max_request_bytes, md, protocol, out);
}

}  // namespace psink
