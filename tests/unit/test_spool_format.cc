// Unit tests for spool_format.{h,cc}: every stored batch format read back
// exactly (a SpoolBatch "psp2", stored 1.0 requests "psr1"), and read as
// input: a damaged or foreign blob — every truncation, every flipped byte —
// fails with a message and never reads out of bounds (the fuzz target
// fuzz_spool_batch does the same with arbitrary bytes). And the drain's
// reader of each stored format (StoredFormatReader), the 0.1.0 one (a SQL
// row per sample: labels, value bits, ts) included.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "batch.h"
#include "encoder.h"
#include "exemplar.h"
#include "histogram.h"
#include "spool_format.h"

using psink::Batch;
using psink::DecodeStoredRequests;
using psink::DecodeStoredSamples;
using psink::EncodedRequest;
using psink::EncodeRequests;
using psink::EncodeStoredRequests;
using psink::IsStoredRequests;
using psink::SpoolBatch;
using psink::StoredRequest;
using psink::DrainInput;
using psink::StoredSample;
using psink::StoredUnit;
using psink::Status;

namespace {

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

// Three series, values whose bits matter (NaN, the stale marker, -0.0).
SpoolBatch SampleBatch() {
  SpoolBatch b;
  double stale;
  const uint64_t stale_bits = 0x7ff0000000000002ULL;
  std::memcpy(&stale, &stale_bits, sizeof stale);
  b.Add(R"({"__name__":"m","host":"a"})", 1.5, 1000);
  b.Add(R"({"__name__":"m","host":"b"})", -0.0, 900);
  b.Add(R"({"__name__":"m","host":"a"})", stale, 2000);
  b.Add(R"({"__name__":"n"})", INFINITY, -5);
  return b;
}

// The stored 1.0 requests of `rows` rows of two series (max_bytes splits them).
std::string StoredRequests(size_t rows, size_t max_bytes, size_t* requests = nullptr) {
  Batch batch;
  uint32_t a = batch.Intern(psink::LabelSet{{"__name__", "m"}, {"host", "a"}});
  uint32_t b = batch.Intern(psink::LabelSet{{"__name__", "m"}, {"host", "b\"q"}});
  for (size_t i = 0; i < rows; ++i) batch.Append(i % 3 == 0 ? b : a, static_cast<double>(i) / 4, 1000 + i, i);
  std::vector<EncodedRequest> out;
  REQUIRE(EncodeRequests(psink::Protocol::kV1, batch, 0, batch.size(), max_bytes, nullptr, &out).ok());
  if (requests) *requests = out.size();
  return EncodeStoredRequests(out);
}

}  // namespace

TEST_CASE("a SpoolBatch (psp2) reads back exactly: series, value bits, timestamps, min_ts") {
  SpoolBatch b = SampleBatch();
  CHECK(b.min_ts() == -5);
  const std::string blob = b.Encode();
  CHECK_FALSE(IsStoredRequests(blob));
  std::vector<std::string> series;
  std::vector<SpoolBatch::Row> rows;
  REQUIRE(SpoolBatch::Decode(blob, &series, &rows).ok());
  REQUIRE(series.size() == 3);
  REQUIRE(rows.size() == 4);
  CHECK(series[rows[0].series] == R"({"__name__":"m","host":"a"})");
  CHECK(rows[1].value_bits == 0x8000000000000000ULL);
  CHECK(rows[2].value_bits == 0x7ff0000000000002ULL);
  CHECK(rows[2].series == rows[0].series);
  CHECK(rows[3].ts == -5);
  std::vector<StoredSample> samples;
  REQUIRE(DecodeStoredSamples(blob, &samples).ok());
  REQUIRE(samples.size() == 4);
  CHECK(samples[3].labels_json == R"({"__name__":"n"})");
  CHECK(Bits(samples[3].value) == Bits(INFINITY));
  CHECK(samples[0].ts == 1000);
}

TEST_CASE("stored 1.0 requests (psr1) read back: each request's body and count, and every sample decoded") {
  size_t n = 0;
  const std::string blob = StoredRequests(10, 1 << 20, &n);
  CHECK(IsStoredRequests(blob));
  std::vector<StoredRequest> requests;
  REQUIRE(DecodeStoredRequests(blob, &requests).ok());
  REQUIRE(requests.size() == n);
  CHECK(requests[0].samples == 10);
  std::vector<StoredSample> samples;
  REQUIRE(DecodeStoredSamples(blob, &samples).ok());
  REQUIRE(samples.size() == 10);
  size_t b_seen = 0;
  double sum = 0;
  for (const StoredSample& s : samples) {
    sum += s.value;
    if (s.labels_json == R"({"__name__":"m","host":"b\"q"})") ++b_seen;
    else CHECK(s.labels_json == R"({"__name__":"m","host":"a"})");
    CHECK(s.ts == 1000 + static_cast<int64_t>(s.value * 4));
  }
  CHECK(b_seen == 4);
  CHECK(sum == 45.0 / 4);
}

TEST_CASE("stored 1.0 requests split by max_request_bytes: every request kept, every sample once") {
  size_t n = 0;
  const std::string blob = StoredRequests(300, 512, &n);
  CHECK(n > 1);
  std::vector<StoredRequest> requests;
  REQUIRE(DecodeStoredRequests(blob, &requests).ok());
  CHECK(requests.size() == n);
  uint32_t total = 0;
  for (const auto& r : requests) total += r.samples;
  CHECK(total == 300);
  std::vector<StoredSample> samples;
  REQUIRE(DecodeStoredSamples(blob, &samples).ok());
  CHECK(samples.size() == 300);
}

TEST_CASE("every truncation of a stored batch fails with a message (no read past the end)") {
  for (const std::string& full : {SampleBatch().Encode(), StoredRequests(20, 1 << 20)}) {
    std::vector<StoredSample> samples;
    REQUIRE(DecodeStoredSamples(full, &samples).ok());
    for (size_t len = 0; len < full.size(); ++len) {
      CAPTURE(len);
      // A copy of exactly `len` bytes: a sanitizer build sees any read past it.
      const std::string cut = full.substr(0, len);
      Status st = DecodeStoredSamples(cut, &samples);
      CHECK_FALSE(st.ok());
      CHECK_FALSE(st.message().empty());
    }
  }
}

TEST_CASE("a flipped byte anywhere in a stored batch is refused or read consistently, never out of bounds") {
  for (const std::string& full : {SampleBatch().Encode(), StoredRequests(20, 1 << 20)}) {
    for (size_t i = 0; i < full.size(); ++i) {
      for (unsigned char x : {0x01, 0x80, 0xff}) {
        std::string bad = full;
        bad[i] = static_cast<char>(static_cast<unsigned char>(bad[i]) ^ x);
        std::vector<StoredSample> samples;
        Status st = DecodeStoredSamples(bad, &samples);
        if (!st.ok()) CHECK_FALSE(st.message().empty());
      }
    }
  }
}

TEST_CASE("a blob of another format, or empty, is refused") {
  std::vector<StoredSample> samples;
  CHECK_FALSE(DecodeStoredSamples("", &samples).ok());
  CHECK_FALSE(DecodeStoredSamples("not a spool batch", &samples).ok());
  // A psr1 header whose request claims more bytes than the blob has.
  std::string blob("\x31\x72\x73\x70\x01\x00\x00\x00\x01\x00\x00\x00\xff\xff\xff\x7f", 16);
  CHECK(IsStoredRequests(blob));
  CHECK_FALSE(DecodeStoredSamples(blob, &samples).ok());
  // A psp2 batch naming a series it does not have.
  std::string psp2("\x32\x70\x73\x70\x00\x00\x00\x00\x01\x00\x00\x00", 12);
  psp2 += std::string(20, '\0');
  CHECK_FALSE(DecodeStoredSamples(psp2, &samples).ok());
}

TEST_CASE("the drain's readers: 0.1.0 rows, psp2 batches and psr1 requests each add their unit's samples, tagged "
          "with the unit's id; an unreadable unit adds nothing") {
  DrainInput in;
  size_t n = 0;
  SUBCASE("0.1.0 rows") {
    StoredUnit row;
    row.id = 7;
    row.labels = R"({"job":"x","__name__":"up"})";
    row.value_bits = Bits(2.5);
    row.ts = 1234;
    REQUIRE(psink::LegacyRowReader().Read(row, &in, &n).ok());
    row.id = 8;
    row.ts = 1235;
    REQUIRE(psink::LegacyRowReader().Read(row, &in, &n).ok());
    CHECK(n == 1);
    REQUIRE(in.rows.size() == 2);
    CHECK(in.rows.series_count() == 1);  // parsed once
    CHECK(in.rows.row(0).seq == 7);
    CHECK(in.rows.row(1).seq == 8);
    CHECK(in.rows.row(1).ts == 1235);
    CHECK(Bits(in.rows.row(0).value) == Bits(2.5));
    row.id = 9;
    row.labels = R"({"__name__":)";
    Status st = psink::LegacyRowReader().Read(row, &in, &n);
    CHECK_FALSE(st.ok());
    CHECK(st.message().find("row 9 is unreadable") != std::string::npos);
    CHECK(in.rows.size() == 2);
  }
  SUBCASE("psp2 batches") {
    const std::string blob = SampleBatch().Encode();
    StoredUnit unit;
    unit.id = 3;
    unit.data = blob;
    const psink::StoredFormatReader& reader = psink::ReaderOf(blob);
    CHECK(&reader == &psink::SpoolBatchReader());
    REQUIRE(reader.Read(unit, &in, &n).ok());
    CHECK(n == 4);
    REQUIRE(in.rows.size() == 4);
    CHECK(in.rows.row(3).seq == 3);
    CHECK(Bits(in.rows.row(2).value) == 0x7ff0000000000002ULL);
    // A batch whose label JSON is damaged adds nothing.
    SpoolBatch bad;
    bad.Add(R"({"__name__":"ok"})", 1, 1);
    bad.Add(R"({"__name__")", 1, 2);
    const std::string bad_blob = bad.Encode();
    unit.id = 4;
    unit.data = bad_blob;
    Status st = reader.Read(unit, &in, &n);
    CHECK_FALSE(st.ok());
    CHECK(st.message().find("batch 4") != std::string::npos);
    CHECK(in.rows.size() == 4);
  }
  SUBCASE("psr1 requests") {
    const std::string blob = StoredRequests(10, 1 << 20);
    StoredUnit unit;
    unit.id = 5;
    unit.data = blob;
    const psink::StoredFormatReader& reader = psink::ReaderOf(blob);
    CHECK(&reader == &psink::StoredRequestsReader());
    REQUIRE(reader.Read(unit, &in, &n).ok());
    CHECK(n == 10);
    REQUIRE(in.encoded.size() == 1);
    CHECK(in.encoded[0].rows.size() == 10);
    CHECK(in.carrier->row(in.encoded[0].rows[9]).seq == 5);
    const std::string cut = blob.substr(0, blob.size() - 1);
    unit.data = cut;
    CHECK_FALSE(reader.Read(unit, &in, &n).ok());
    CHECK(in.encoded.size() == 1);
  }
}

TEST_CASE("a batch with start timestamps, histograms and exemplars (psp3) reads back exactly, and the drain's reader "
          "parses them into the row's extra") {
  psink::Histogram parsed;
  REQUIRE(psink::ParseHistogram(R"({"schema":0,"sum":1.5,"positive":{"1":3}})", "histogram", &parsed).ok());
  const std::string hist = psink::HistogramToJson(parsed);  // canonical, as the writer stores it
  const std::string ex = R"({"labels":{"trace_id":"t"},"value":0.5,"timestamp":1500})";
  SpoolBatch b;
  b.Add(R"({"__name__":"h"})", 0, 2000, 1000, hist, ex);
  b.Add(R"({"__name__":"c"})", 7, 2000, 0, "", "");
  b.Add(R"({"__name__":"c"})", 8, 3000, 1000, "", ex);
  const std::string blob = b.Encode();
  std::vector<StoredSample> samples;
  REQUIRE(DecodeStoredSamples(blob, &samples).ok());
  REQUIRE(samples.size() == 3);
  CHECK(samples[0].histogram == hist);
  CHECK(samples[0].exemplar == ex);
  CHECK(samples[0].start_ts == 1000);
  CHECK(samples[1].histogram.empty());
  CHECK(samples[1].exemplar.empty());
  CHECK(samples[2].exemplar == ex);
  // psp2's reader alone refuses psp3 (no room for the extras).
  std::vector<std::string> series;
  std::vector<SpoolBatch::Row> rows;
  CHECK_FALSE(SpoolBatch::Decode(blob, &series, &rows).ok());
  DrainInput in;
  size_t n = 0;
  StoredUnit unit;
  unit.id = 1;
  unit.data = blob;
  REQUIRE(psink::ReaderOf(blob).Read(unit, &in, &n).ok());
  REQUIRE(in.rows.size() == 3);
  const psink::Histogram* h = in.rows.histogram(in.rows.row(0));
  REQUIRE(h != nullptr);
  CHECK(psink::HistogramToJson(*h) == hist);
  const psink::Exemplar* e = in.rows.exemplar(in.rows.row(2));
  REQUIRE(e != nullptr);
  CHECK(e->ts == 1500);
  CHECK(e->value == 0.5);
  CHECK(in.rows.row(2).start_ts == 1000);
  CHECK(in.rows.exemplar(in.rows.row(1)) == nullptr);
  for (size_t len = 0; len < blob.size(); ++len) CHECK_FALSE(DecodeStoredSamples(blob.substr(0, len), &samples).ok());
}
