// Unit tests for keytable.h: the hash tables of the row loop (HashSlots,
// KeyTable) and the byte helpers under them.
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "keytable.h"

using psink::HashBytes;
using psink::HashSlots;
using psink::KeyTable;

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

TEST_CASE("HashSlots: Find sees what Add stored, through growth; Reset and Clear empty it") {
  HashSlots<uint32_t> slots;
  std::vector<std::string> keys;
  for (int i = 0; i < 5000; ++i) keys.push_back("key-" + std::to_string(i));
  auto find = [&](const std::string& k) -> int64_t {
    const uint32_t* v = slots.Find(HashBytes(k), [&](uint32_t id) { return keys[id] == k; });
    return v ? int64_t{*v} : -1;
  };
  for (uint32_t i = 0; i < keys.size(); ++i) {
    REQUIRE(find(keys[i]) == -1);
    slots.Add(HashBytes(keys[i]), i);
  }
  CHECK(slots.size() == keys.size());
  for (uint32_t i = 0; i < keys.size(); ++i) CHECK(find(keys[i]) == i);
  CHECK(find("absent") == -1);
  slots.Reset();
  CHECK(slots.size() == 0);
  CHECK(find(keys[7]) == -1);
  slots.Add(HashBytes(keys[7]), 7);
  CHECK(find(keys[7]) == 7);
  slots.Clear();
  CHECK(find(keys[7]) == -1);
}

TEST_CASE("KeyTable: Reset keeps nothing findable; InsertNew stores what Find then sees") {
  KeyTable t;
  t.Insert("a", 1);
  t.InsertNew("b", HashBytes("b"), 2);
  CHECK(t.Find("a") == 1);
  CHECK(t.Find("b") == 2);
  CHECK(t.bytes() > 0);
  t.Reset();
  CHECK(t.Find("a") == KeyTable::kMissing);
  CHECK(t.size() == 0);
  CHECK(t.bytes() == 0);
}
