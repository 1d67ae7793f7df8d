#include "encoder.h"

#include <snappy.h>

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "batch.h"
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

Status EncodeRequests(const Batch& batch, size_t begin, size_t end, size_t max_request_bytes,
                      std::vector<EncodedRequest>* out, const MetricMetadata* md) {
  out->clear();
  if (begin >= end) return Status::Ok();
  const std::vector<uint32_t> order = SendOrder(batch, begin, end);

  // With metadata: each distinct metric name gets a dense id; `name_sent`
  // holds the request number in which its metadata entry was last counted.
  const size_t md_fixed = md ? FixedMetadataPayload(*md) : 0;
  std::vector<uint32_t> name_of_series;  // series id -> name id
  std::vector<std::string_view> names;   // name id -> name
  std::vector<size_t> name_sent;
  if (md) {
    uint32_t nseries = 0;
    for (uint32_t r : order) nseries = std::max(nseries, batch.row(r).series + 1);
    name_of_series.assign(nseries, UINT32_MAX);
    std::unordered_map<std::string_view, uint32_t> ids;
    for (uint32_t r : order) {
      uint32_t s = batch.row(r).series;
      if (name_of_series[s] != UINT32_MAX) continue;
      std::string_view name = MetricName(batch.labels(s));
      auto [it, added] = ids.emplace(name, static_cast<uint32_t>(names.size()));
      if (added) names.push_back(name);
      name_of_series[s] = it->second;
    }
    name_sent.assign(names.size(), SIZE_MAX);
  }

  std::string proto;
  proto.reserve(std::min<size_t>(max_request_bytes, (end - begin) * 24 + 4096));
  EncodedRequest req;
  size_t request_no = 0;
  std::vector<uint32_t> md_names;  // name ids whose metadata this request carries
  size_t md_bytes = 0;             // their size, written when the request is finished
  auto finish_request = [&] {
    if (req.rows.empty()) return;
    for (uint32_t n : md_names) PutMetadata(*md, md_fixed, names[n], &proto);
    req.raw_bytes = proto.size();
    snappy::Compress(proto.data(), proto.size(), &req.body);
    out->push_back(std::move(req));
    req = EncodedRequest();
    proto.clear();
    md_names.clear();
    md_bytes = 0;
    ++request_no;
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
    auto entry_size = [&](const Row& r) {
      const Histogram* h = batch.histogram(r);
      const Exemplar* e = batch.exemplar(r);
      return (h ? wire::HistogramEntrySize(*h, r.ts, 0) : SampleEntrySize(r.ts)) + (e ? wire::ExemplarV1EntrySize(*e) : 0);
    };
    const std::string_view labels = batch.encoded_labels(series);
    // The metadata entry this series adds, when its name is new here.
    size_t md_new = 0;
    uint32_t name_id = 0;
    if (md) {
      name_id = name_of_series[series];
      if (name_sent[name_id] != request_no) md_new = MetadataEntrySize(md_fixed, names[name_id]);
    }
    const size_t budget = proto.size() + md_bytes + md_new;
    // Take as many rows of this entry as fit in the current request.
    size_t j = i, payload = labels.size();
    while (j < order.size() && same_entry(j)) {
      size_t next = payload + entry_size(batch.row(order[j]));
      if (budget + LenFieldSize(next) > max_request_bytes) break;
      payload = next;
      ++j;
    }
    if (j == i) {
      if (req.rows.empty()) {
        size_t needed = LenFieldSize(labels.size() + entry_size(batch.row(order[i]))) + md_new;
        return Status::Invalid(std::string("one sample with its labels") + (md ? " and metadata" : "") + " needs " +
                               std::to_string(needed) + " bytes, more than max_request_bytes (" +
                               std::to_string(max_request_bytes) + ")");
      }
      finish_request();
      continue;
    }
    if (md_new != 0) {
      name_sent[name_id] = request_no;
      md_names.push_back(name_id);
      md_bytes += md_new;
    }
    PutTag(1, kLen, &proto);
    PutVarint(payload, &proto);
    proto += labels;
    // Fields in number order: samples (2), exemplars (3), histograms (4).
    for (size_t k = i; k < j; ++k) {
      const Row& r = batch.row(order[k]);
      if (!hist) PutSample(r.value, r.ts, &proto);
      if (req.rows.empty()) req.min_ts = req.max_ts = r.ts;
      req.min_ts = std::min(req.min_ts, r.ts);
      req.max_ts = std::max(req.max_ts, r.ts);
      req.rows.push_back(order[k]);
    }
    if (batch.has_extras()) {
      for (uint32_t r : ExemplarOrder(batch, order.data() + i, j - i)) {
        wire::PutExemplarV1(*batch.exemplar(batch.row(r)), &proto);
        ++req.exemplars;
      }
      if (hist) {
        for (size_t k = i; k < j; ++k) {
          const Row& r = batch.row(order[k]);
          wire::PutHistogram(4, *batch.histogram(r), r.ts, 0, &proto);
        }
        req.histograms += j - i;
      }
    }
    i = j;
    if (i < order.size() && same_entry(i)) finish_request();  // the entry continues in the next request
  }
  finish_request();
  return Status::Ok();
}

}  // namespace psink
