// Unit tests for labels.{h,cc}: a series' labels in their wire form
// (repeated TimeSeries.labels of remote-write 1.0) and what reads them.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "labels.h"
#include "remote.pb.h"

using psink::EncodeLabels;
using psink::LabelSet;
using psink::LabelsToJson;

namespace {

LabelSet LabelsOf(const prometheus::TimeSeries& ts) {
  LabelSet out;
  for (const auto& l : ts.labels()) out.emplace_back(l.name(), l.value());
  return out;
}

}  // namespace

TEST_CASE("LabelsToJson writes canonical JSON") {
  CHECK(LabelsToJson(LabelSet{}) == "{}");
  CHECK(LabelsToJson(LabelSet{{"__name__", "m"}}) == R"({"__name__":"m"})");
  CHECK(LabelsToJson(LabelSet{{"__name__", "m"}, {"host", "a"}, {"q", "a\"b\\c\n\x01"}}) ==
        R"({"__name__":"m","host":"a","q":"a\"b\\c\n\u0001"})");
  CHECK(LabelsToJson(LabelSet{{"__name__", "caf\xC3\xA9"}}) == "{\"__name__\":\"caf\xC3\xA9\"}");
}

TEST_CASE("EncodeLabels is TimeSeries.labels on the wire") {
  LabelSet labels{{"__name__", "http_requests_total"}, {"code", "200"}, {"path", "/caf\xC3\xA9"},
                  {"z", std::string(300, 'v')}};
  prometheus::TimeSeries ts;
  REQUIRE(ts.ParseFromString(EncodeLabels(labels)));
  CHECK(LabelsOf(ts) == labels);
  CHECK(ts.samples_size() == 0);
  // Byte-identical to what protobuf writes.
  CHECK(ts.SerializeAsString() == EncodeLabels(labels));
  CHECK(EncodeLabels({}).empty());
}

TEST_CASE("LabelsView reads back every label set EncodeLabels writes, long values (multi-byte lengths) included") {
  const std::vector<psink::LabelSet> sets = {
      {{"__name__", "m"}},
      {{"__name__", "m"}, {"a", std::string(127, 'x')}, {"b", std::string(128, 'y')}},
      {{"__name__", std::string(300, 'n')}, {"v", std::string(20000, 'z')}},
      {{"__name__", "m"}, {"nul", std::string("a\0b", 3)}}};
  for (const auto& set : sets) {
    const std::string wire = psink::EncodeLabels(set);
    CHECK(psink::ToLabelSet(psink::LabelsView(wire)) == set);
    CHECK(psink::LabelsView(wire) == set);
  }
  CHECK(psink::MetricName(psink::LabelsView(psink::EncodeLabels(sets[1]))) == "m");
  CHECK(psink::LabelsToJson(psink::LabelsView(psink::EncodeLabels(sets[3]))) == R"({"__name__":"m","nul":"a\u0000b"})");
}
