// Unit tests for batch.{h,cc}: series interned once, rows kept in order, the
// raw-key cache's keys, and the snapshots handed to the sender threads.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "batch.h"
#include "keytable.h"

using psink::Batch;
using psink::HashBytes;
using psink::KeyTable;
using psink::EncodeLabels;
using psink::LabelSet;

namespace {

LabelSet Labels(const std::string& host) { return {{"__name__", "m"}, {"host", host}}; }

}  // namespace

TEST_CASE("TakeFront moves rows into a snapshot with its own dense series") {
  Batch batch;
  uint32_t a = batch.Intern(Labels("a"));
  uint32_t b = batch.Intern(Labels("b"));
  uint32_t c = batch.Intern(Labels("c"));
  batch.Append(c, 1.0, 10, 0);
  batch.Append(a, 2.0, 20, 1);
  batch.Append(c, 3.0, 30, 2);
  batch.Append(b, 4.0, 40, 3);

  SUBCASE("some rows") {
    Batch snap = batch.TakeFront(3);
    REQUIRE(snap.size() == 3);
    CHECK(snap.series_count() == 2);  // c and a only, numbered by first appearance
    CHECK(snap.row(0).series == 0);
    CHECK(snap.row(1).series == 1);
    CHECK(snap.row(2).series == 0);
    CHECK(snap.labels(0) == Labels("c"));
    CHECK(snap.labels(1) == Labels("a"));
    CHECK(snap.encoded_labels(0) == batch.encoded_labels(c));
    CHECK(snap.row(2).value == 3.0);
    CHECK(snap.row(2).ts == 30);
    REQUIRE(batch.size() == 1);
    CHECK(batch.row(0).series == b);
    CHECK(batch.series_count() == 3);  // the series stay for the next rows

    // The next snapshot numbers its series afresh.
    Batch snap2 = batch.TakeFront(1);
    CHECK(snap2.series_count() == 1);
    CHECK(snap2.row(0).series == 0);
    CHECK(snap2.labels(0) == Labels("b"));
    CHECK(batch.empty());
  }
  SUBCASE("all rows, then the batch is cleared: the snapshot keeps its series") {
    Batch snap = batch.TakeFront(100);
    CHECK(batch.empty());
    batch.Clear();
    CHECK(batch.FindRawKey("anything") == UINT32_MAX);
    REQUIRE(snap.size() == 4);
    CHECK(snap.series_count() == 3);
    CHECK(snap.labels(snap.row(3).series) == Labels("b"));
    // The emptied batch takes rows again, with fresh series ids.
    uint32_t d = batch.Intern(Labels("d"));
    CHECK(d == 0);
    batch.Append(d, 5.0, 50, 4);
    Batch snap2 = batch.TakeFront(1);
    CHECK(snap2.labels(0) == Labels("d"));
  }
}

TEST_CASE("RawKey: equal inputs give equal keys; a different split, type or NULL gives a different key") {
  using psink::RawKey;
  auto key = [](auto&& fill) {
    RawKey k;
    k.Reset();
    fill(k);
    return std::string(k.view());
  };
  const std::string ab_c = key([](RawKey& k) { k.Text("ab"); k.Text("c"); });
  CHECK(ab_c == key([](RawKey& k) { k.Text("ab"); k.Text("c"); }));
  CHECK(ab_c != key([](RawKey& k) { k.Text("a"); k.Text("bc"); }));
  CHECK(ab_c != key([](RawKey& k) { k.Text("ab"); k.Text("c"); k.Null(); }));
  CHECK(key([](RawKey& k) { k.Text("7"); }) != key([](RawKey& k) { k.Integer(7); }));
  CHECK(key([](RawKey& k) { k.Null(); k.Text(""); }) != key([](RawKey& k) { k.Text(""); k.Null(); }));
  CHECK(key([](RawKey& k) { k.Integer(-1); }) != key([](RawKey& k) { k.Integer(1); }));

  // Reuse: Reset() forgets the previous key, and the buffer grows past any length.
  RawKey k;
  for (size_t n : {0, 3, 64, 1000, 5, 100000}) {
    k.Reset();
    const std::string s(n, static_cast<char>('a' + n % 26));
    k.Text(s);
    k.Integer(static_cast<int64_t>(n));
    std::string want(1, static_cast<char>(psink::Cell::Type::kText));
    const uint32_t len = static_cast<uint32_t>(n);
    want.append(reinterpret_cast<const char*>(&len), sizeof len).append(s);
    want += static_cast<char>(psink::Cell::Type::kInteger);
    const int64_t i = static_cast<int64_t>(n);
    want.append(reinterpret_cast<const char*>(&i), sizeof i);
    CHECK(std::string(k.view()) == want);
  }
}

TEST_CASE("Batch keeps series across arena blocks, and a snapshot keeps its series after Clear()") {
  Batch batch;
  std::vector<psink::LabelSet> sets;
  for (int i = 0; i < 5000; ++i) sets.push_back({{"__name__", "m"}, {"id", "series-" + std::to_string(i)}});
  sets.push_back({{"__name__", "big"}, {"v", std::string(100000, 'b')}});  // larger than a block
  for (size_t i = 0; i < sets.size(); ++i) {
    REQUIRE(batch.Intern(sets[i]) == i);
    batch.Append(static_cast<uint32_t>(i), 1.0, 1);
  }
  for (size_t i = 0; i < sets.size(); ++i) CHECK(batch.Intern(sets[i]) == i);  // found, not added
  CHECK(batch.series_count() == sets.size());
  CHECK(batch.series_bytes() > 100000);
  Batch snap = batch.TakeFront(batch.size());
  batch.Clear();
  CHECK(batch.series_bytes() == 0);
  REQUIRE(batch.Intern(sets[7]) == 0);  // a new generation
  for (size_t i = 0; i < sets.size(); ++i) CHECK(psink::ToLabelSet(snap.labels(snap.row(i).series)) == sets[i]);
}

TEST_CASE("Batch::Intern gives one id per distinct label set") {
  Batch b;
  LabelSet a{{"__name__", "a"}, {"job", "x"}};
  LabelSet a2{{"__name__", "a"}, {"job", "y"}};
  LabelSet c{{"__name__", "c"}};
  CHECK(b.Intern(a) == 0);
  CHECK(b.Intern(a2) == 1);
  CHECK(b.Intern(c) == 2);
  CHECK(b.Intern(a) == 0);
  CHECK(b.Intern(LabelSet{{"__name__", "a"}, {"job", "y"}}) == 1);
  CHECK(b.labels(1) == a2);
  CHECK(b.encoded_labels(2) == EncodeLabels(c));
}

TEST_CASE("Batch::Intern does not confuse label sets that differ only in where a NUL is") {
  Batch b;
  // A value may hold NUL ("\u0000" in the JSON); names cannot.
  LabelSet one{{"__name__", std::string("m\0b\0x", 5)}};
  LabelSet two{{"__name__", "m"}, {"b", "x"}};
  LabelSet three{{"__name__", std::string("m\0", 2)}, {"b", "x"}};
  uint32_t i1 = b.Intern(one), i2 = b.Intern(two), i3 = b.Intern(three);
  CHECK(i1 != i2);
  CHECK(i1 != i3);
  CHECK(i2 != i3);
  CHECK(b.labels(i1) == one);
  CHECK(b.labels(i2) == two);
  CHECK(b.labels(i3) == three);
}

TEST_CASE("Batch keeps rows in insertion order") {
  Batch b;
  CHECK(b.empty());
  uint32_t s = b.Intern({{"__name__", "m"}});
  b.Append(s, 1.5, 100);
  b.Append(s, -2.5, -7);
  REQUIRE(b.size() == 2);
  CHECK_FALSE(b.empty());
  CHECK(b.row(0).series == s);
  CHECK(b.row(0).value == 1.5);
  CHECK(b.row(0).ts == 100);
  CHECK(b.row(1).value == -2.5);
  CHECK(b.row(1).ts == -7);
}

TEST_CASE("Batch::Truncate keeps the first n rows") {
  Batch b;
  uint32_t s = b.Intern({{"__name__", "m"}});
  uint32_t t = b.Intern({{"__name__", "t"}});
  for (int i = 0; i < 5; ++i) b.Append(i % 2 ? t : s, i, i * 10);
  b.Truncate(10);  // more than it holds: no change
  CHECK(b.size() == 5);
  b.Truncate(5);
  CHECK(b.size() == 5);
  b.Truncate(3);
  REQUIRE(b.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(b.row(i).value == static_cast<double>(i));
    CHECK(b.row(i).ts == static_cast<int64_t>(i) * 10);
  }
  // The series stay interned while rows remain.
  CHECK(b.Intern({{"__name__", "t"}}) == t);
  b.Truncate(0);
  CHECK(b.empty());
  // Once empty, the series are gone too: ids start again at 0.
  CHECK(b.Intern({{"__name__", "t"}}) == 0);
}

TEST_CASE("Batch::Clear removes rows and series") {
  Batch b;
  b.Intern({{"__name__", "a"}});
  uint32_t s = b.Intern({{"__name__", "b"}});
  b.Append(s, 1, 1);
  b.Clear();
  CHECK(b.empty());
  CHECK(b.Intern({{"__name__", "b"}}) == 0);
}
