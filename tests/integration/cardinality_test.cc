// High-cardinality exports: every row a series seen for the first time, in
// the forms users write (JSON labels, wide label columns, many labels, JSON
// that needs the general parser), in both protocols, with a series table
// that is cleared and refilled mid-export. What must hold: every sample
// arrives once, with exactly the labels, timestamp and value it was written
// with.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "harness.h"

using namespace harness;

namespace {

// Sorted "labels ts value" lines, as the receiver renders samples.
std::vector<std::string> Received(const Receiver& rx) {
  std::vector<std::string> out;
  for (const auto& s : rx.Samples()) out.push_back(s.labels + " " + std::to_string(s.ts) + " " + std::to_string(s.value()));
  std::sort(out.begin(), out.end());
  return out;
}

// The same lines for rows i in [0, n) of series `labels(i)` at ts 1700000000000 + i, value i.
template <class Labels>
std::vector<std::string> Expected(int n, Labels labels) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(labels(i) + " " + std::to_string(1700000000000LL + i) + " " + std::to_string(static_cast<double>(i)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The first difference between two sorted lists, or "".
std::string FirstDifference(const std::vector<std::string>& got, const std::vector<std::string>& want) {
  if (got.size() != want.size()) {
    return "got " + std::to_string(got.size()) + " samples, want " + std::to_string(want.size());
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i]) return "got " + got[i] + "\nwant " + want[i];
  }
  return "";
}

// Every sample arrived once, exactly as `want` (Expected()) says, and no
// request broke a protocol rule.
void CheckArrivedExactly(const Receiver& rx, const std::vector<std::string>& want) {
  const std::string diff = FirstDifference(Received(rx), want);
  CHECK_MESSAGE(diff.empty(), diff);
  CheckNoViolations(rx);
}

std::string Series(int n) {
  return "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < " + std::to_string(n - 1) + ") ";
}

}  // namespace

TEST_SUITE("cardinality") {

TEST_CASE("100,000 distinct series as JSON labels arrive exactly, in both protocols") {
  constexpr int kRows = 100000;
  for (const char* protocol : {"1.0", "2.0"}) {
    CAPTURE(protocol);
    Receiver rx;
    Db db;
    db.Sink("m", rx.url(), std::string("batch_size=5000, protocol='") + protocol + "'");
    db.Ok("INSERT INTO m " + Series(kRows) +
          "SELECT json_object('__name__', 'card', 'id', 'i' || i, 'region', 'r' || (i % 7)), i, 1700000000000 + i FROM n");
    CheckArrivedExactly(rx, Expected(kRows, [](int i) {
      return "{__name__=\"card\",id=\"i" + std::to_string(i) + "\",region=\"r" + std::to_string(i % 7) + "\"}";
    }));
  }
}

TEST_CASE("100,000 distinct series as wide rows (INTEGER and TEXT label columns) arrive exactly") {
  constexpr int kRows = 100000;
  Receiver rx;
  Db db;
  db.Sink("w", rx.url(), "metric='card', id, region, batch_size=5000");
  db.Ok("INSERT INTO w(id, region, value, timestamp) " + Series(kRows) +
        "SELECT i, 'r' || (i % 7), i, 1700000000000 + i FROM n");
  CheckArrivedExactly(rx, Expected(kRows, [](int i) {
    return "{__name__=\"card\",id=\"" + std::to_string(i) + "\",region=\"r" + std::to_string(i % 7) + "\"}";
  }));
}

TEST_CASE("12 labels per series, with JSON that needs the general parser (escapes, numbers, spaces, null, non-ASCII)") {
  constexpr int kRows = 20000;
  Receiver rx;
  Db db;
  db.Sink("k", rx.url(), "batch_size=3000");
  // Every fourth row's JSON is written by hand: escapes, a number, a null
  // (dropped), white space, a non-ASCII value; the rest by json_object.
  db.Ok("INSERT INTO k " + Series(kRows) +
        "SELECT CASE WHEN i % 4 = 0 THEN "
        "  '{ \"__name__\" : \"k8s\", \"pod\": \"p\\u0041' || i || '\", \"cluster\":\"c\", \"namespace\":\"ns' || (i % 50) || "
        "  '\", \"container\":\"ctr\", \"job\":\"job\", \"instance\":\"10.0.0.1:9100\", \"node\":' || (i % 500) || "
        "  ', \"service\":\"svc\", \"endpoint\":\"http\", \"region\":\"eu\", \"zone\":\"z\\\"q\", \"gone\": null, \"city\":\"Zürich\" }' "
        "ELSE json_object('__name__', 'k8s', 'pod', 'pA' || i, 'cluster', 'c', 'namespace', 'ns' || (i % 50), "
        "  'container', 'ctr', 'job', 'job', 'instance', '10.0.0.1:9100', 'node', CAST(i % 500 AS TEXT), 'service', 'svc', "
        "  'endpoint', 'http', 'region', 'eu', 'zone', 'z\"q', 'city', 'Zürich') END, i, 1700000000000 + i FROM n");
  CheckArrivedExactly(rx, Expected(kRows, [](int i) {
    return "{__name__=\"k8s\",city=\"Zürich\",cluster=\"c\",container=\"ctr\",endpoint=\"http\",instance=\"10.0.0.1:9100\","
           "job=\"job\",namespace=\"ns" + std::to_string(i % 50) + "\",node=\"" + std::to_string(i % 500) +
           "\",pod=\"pA" + std::to_string(i) + "\",region=\"eu\",service=\"svc\",zone=\"z\\\"q\"}";
  }));
}

TEST_CASE("a series table cleared mid-export (past 65,536 series) refills: the same 70,000 series twice, every sample once") {
  constexpr int kSeries = 70000;
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "batch_size=1000");
  // Rows i and i + kSeries are the same series, at later timestamps.
  db.Ok("INSERT INTO m " + Series(2 * kSeries) +
        "SELECT json_object('__name__', 'twice', 'id', 's' || (i % " + std::to_string(kSeries) +
        ")), i, 1700000000000 + i FROM n");
  CheckArrivedExactly(rx, Expected(2 * kSeries, [&](int i) {
    return "{__name__=\"twice\",id=\"s" + std::to_string(i % kSeries) + "\"}";
  }));
  CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats") == 2 * kSeries);
}

TEST_CASE("rows that are all new series, then a few series over and over (the raw-key cache bypassed, then used): exact") {
  constexpr int kNew = 20000, kRepeat = 20000;
  Receiver rx;
  Db db;
  db.Sink("m", rx.url(), "batch_size=2500");
  db.Ok("INSERT INTO m " + Series(kNew + kRepeat) +
        "SELECT json_object('__name__', 'mix', 'id', CASE WHEN i < " + std::to_string(kNew) +
        " THEN 'n' || i ELSE 'r' || (i % 50) END), i, 1700000000000 + i FROM n");
  CheckArrivedExactly(rx, Expected(kNew + kRepeat, [&](int i) {
    return "{__name__=\"mix\",id=\"" + (i < kNew ? "n" + std::to_string(i) : "r" + std::to_string(i % 50)) + "\"}";
  }));
}

}  // TEST_SUITE
