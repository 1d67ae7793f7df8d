// Batch and its KeyTable: the series lookup of the row loop, and the
// snapshots handed to the sender thread.
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
using psink::LabelSet;

TEST_CASE("KeyTable agrees with std::map over keys of every length, through growth") {
  std::mt19937_64 rng(7);
  KeyTable table;
  std::map<std::string, uint32_t> model;
  // Short keys differing in one byte, keys that share long prefixes, NULs.
  std::vector<std::string> keys;
  for (int len = 0; len <= 40; ++len) {
    for (int v = 0; v < 20; ++v) {
      std::string k(static_cast<size_t>(len), 'a');
      if (len > 0) k[static_cast<size_t>(v) % k.size()] = static_cast<char>(v);  // v = 0 puts a NUL in
      keys.push_back(k);
    }
  }
  for (int i = 0; i < 3000; ++i) {
    std::string k(static_cast<size_t>(rng() % 120), '\0');
    for (char& c : k) c = static_cast<char>(rng() % 4);  // a tiny alphabet: many near-duplicates
    keys.push_back(k);
  }
  uint32_t next = 0;
  for (const std::string& k : keys) {
    uint32_t expected = model.count(k) ? model[k] : KeyTable::kMissing;
    REQUIRE(table.Find(k) == expected);
    table.Insert(k, next);
    model.emplace(k, next);  // the first value stays, in both
    ++next;
    REQUIRE(table.Find(k) == model[k]);
  }
  CHECK(table.size() == model.size());
  for (const auto& [k, v] : model) CHECK(table.Find(k) == v);
  CHECK(table.Find(std::string(200, 'z')) == KeyTable::kMissing);

  table.Clear();
  CHECK(table.size() == 0);
  CHECK(table.Find(keys.front()) == KeyTable::kMissing);
  table.Insert("again", 5);
  CHECK(table.Find("again") == 5u);
}

TEST_CASE("HashBytes reads every byte, including a tail shorter than a word") {
  for (size_t len = 1; len <= 33; ++len) {
    std::string a(len, 'x');
    for (size_t i = 0; i < len; ++i) {
      std::string b = a;
      b[i] = 'y';
      CHECK_MESSAGE(HashBytes(a) != HashBytes(b), "length " << len << ", byte " << i);
    }
    CHECK(HashBytes(a) != HashBytes(a + '\0'));
  }
  CHECK(HashBytes("") != HashBytes(std::string(1, '\0')));
}

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

TEST_CASE("CopyBytes and EqualBytes agree with memcpy and memcmp at every length and position") {
  for (size_t n = 0; n <= 40; ++n) {
    std::string src(n, '\0');
    for (size_t i = 0; i < n; ++i) src[i] = static_cast<char>('A' + i);
    std::string dst(n + 2, '#');  // guard bytes on the right stay untouched
    psink::CopyBytes(dst.data(), src.data(), n);
    CHECK(dst.substr(0, n) == src);
    CHECK(dst.substr(n) == "##");
    CHECK(psink::EqualBytes(src.data(), dst.data(), n));
    for (size_t i = 0; i < n; ++i) {
      std::string other = src;
      other[i] = '!';
      CHECK_MESSAGE(!psink::EqualBytes(src.data(), other.data(), n), "length " << n << ", byte " << i);
    }
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
