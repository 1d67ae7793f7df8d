// The hash tables of the row loop. HashSlots: open addressing whose slots
// hold a 64-bit hash, so a probe compares keys only when the hashes agree.
// KeyTable: byte strings to uint32_t on top of it, keys in one arena.
//
// Written for this job because the row loop looks up one key of 20-100
// bytes per row: std::unordered_map cost ~200 instructions a lookup
// (a node per key, a division for the bucket, a byte-wise tail copy);
// this costs about a third of that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace psink {

// Unaligned loads of 8 and 4 bytes.
inline uint64_t Load64(const char* p) noexcept {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline uint64_t Load32(const char* p) noexcept {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// 64-bit hash of a byte string: 8 bytes at a time, multiply and xor-shift,
// the tail read as one (overlapping) word instead of byte by byte.
inline uint64_t HashBytes(std::string_view s) noexcept {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  const char* p = s.data();
  const size_t n = s.size();
  uint64_t h = (n + 1) * kMul;
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      h = (h ^ Load64(p + i)) * kMul;
      h ^= h >> 29;
    }
    h = (h ^ Load64(p + n - 8)) * kMul;
  } else if (n >= 4) {
    h = (h ^ (Load32(p) | (Load32(p + n - 4) << 32))) * kMul;
  } else if (n > 0) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    h = (h ^ (u[0] | (uint64_t{u[n / 2]} << 8) | (uint64_t{u[n - 1]} << 16))) * kMul;
  }
  h ^= h >> 32;
  return h * kMul;  // the top bits are the well-mixed ones: take slots and shards from them
}

// memcpy and memcmp for the short keys of the row loop, inlined: 8 bytes at
// a time, the tail as one overlapping word (never touching a byte outside
// [p, p + n)). The library calls cost more than the work for 3-60 bytes.
inline void CopyBytes(char* d, const char* s, size_t n) noexcept {
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) std::memcpy(d + i, s + i, 8);
    std::memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(d, s, 4);
    std::memcpy(d + n - 4, s + n - 4, 4);
  } else if (n > 0) {
    d[0] = s[0];
    d[n / 2] = s[n / 2];
    d[n - 1] = s[n - 1];
  }
}

inline bool EqualBytes(const char* a, const char* b, size_t n) noexcept {
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (Load64(a + i) != Load64(b + i)) return false;
    }
    return Load64(a + n - 8) == Load64(b + n - 8);
  }
  if (n >= 4) return Load32(a) == Load32(b) && Load32(a + n - 4) == Load32(b + n - 4);
  return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

// An open-addressing hash index (linear probing, at most half full) whose
// slots hold a 64-bit hash and a small payload; the caller decides when a
// payload's key equals the probe. The one hash table of the code: KeyTable
// (keys kept in its own arena), the batch's series index (keys are the
// series' labels) and the 2.0 encoder's symbol table build on it.
// No erase: Reset() empties it (keeping its memory), Clear() frees it.
template <class Payload>
class HashSlots {
 public:
  // The payload of a slot with this hash for which eq(payload) holds, or nullptr.
  template <class Eq>
  const Payload* Find(uint64_t hash, Eq&& eq) const noexcept {
    if (slots_.empty()) return nullptr;
    const uint32_t tag = Tag(hash);
    for (size_t i = tag >> shift_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.tag == 0) return nullptr;
      if (s.tag == tag && eq(s.payload)) return &s.payload;
    }
  }
  // Starts loading the slot a Find(hash) begins with into the CPU's caches.
  void Prefetch(uint64_t hash) const noexcept {
    if (!slots_.empty()) __builtin_prefetch(&slots_[Tag(hash) >> shift_]);
  }
  // Adds a slot; the caller knows the key is not present.
  void Add(uint64_t hash, const Payload& payload) {
    if ((count_ + 1) * 2 > slots_.size()) Grow();
    Place(Slot{Tag(hash), payload});
    ++count_;
  }
  size_t size() const { return count_; }
  // Bytes of slots that its entries need (at most half full).
  size_t bytes() const { return 2 * count_ * sizeof(Slot); }
  void Reset() {
    if (count_ != 0) std::fill(slots_.begin(), slots_.end(), Slot{});
    count_ = 0;
  }
  void Clear() {
    slots_.clear();
    slots_.shrink_to_fit();
    count_ = 0;
    shift_ = 32;
    mask_ = 0;
  }

 private:
  // A slot keeps the top 32 bits of the hash (the lowest of them set, so
  // that 0 marks an empty slot; the slot index comes from the top bits,
  // which it leaves alone), which keeps slots of a uint32_t payload at 8
  // bytes: the series index is probed once per first-seen series, and the
  // smaller it is, the more of it stays in the CPU's caches.
  static uint32_t Tag(uint64_t hash) { return static_cast<uint32_t>(hash >> 32) | 1; }
  struct Slot {
    uint32_t tag = 0;
    Payload payload{};
  };
  void Place(const Slot& slot) {
    size_t i = slot.tag >> shift_;
    while (slots_[i].tag != 0) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    const size_t cap = old.empty() ? 64 : old.size() * 2;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    shift_ = 32 - static_cast<unsigned>(__builtin_ctzll(cap));
    for (const Slot& s : old) {
      if (s.tag != 0) Place(s);
    }
  }

  std::vector<Slot> slots_;
  size_t count_ = 0;
  unsigned shift_ = 32;
  size_t mask_ = 0;
};

// A map from byte strings to uint32_t: keys copied into one arena.
class KeyTable {
 public:
  static constexpr uint32_t kMissing = UINT32_MAX;

  // The value stored for `key`, or kMissing.
  uint32_t Find(std::string_view key) const noexcept { return Find(key, HashBytes(key)); }
  uint32_t Find(std::string_view key, uint64_t hash) const noexcept {
    const Entry* e = slots_.Find(hash, [&](const Entry& e) {
      return e.len == key.size() && EqualBytes(arena_.data() + e.offset, key.data(), key.size());
    });
    return e != nullptr ? e->value : kMissing;
  }

  // Stores `value` for `key` unless the key is present (then keeps the old one).
  void Insert(std::string_view key, uint32_t value) {
    const uint64_t hash = HashBytes(key);
    if (Find(key, hash) == kMissing) InsertNew(key, hash, value);
  }

  // Stores `value` for `key`, which the caller knows is absent (a Find with
  // this hash missed since the last change).
  void InsertNew(std::string_view key, uint64_t hash, uint32_t value) {
    slots_.Add(hash, Entry{arena_.size(), static_cast<uint32_t>(key.size()), value});
    arena_.append(key);
  }

  size_t size() const { return slots_.size(); }
  // Bytes its keys need: the keys and the slots.
  size_t bytes() const { return arena_.size() + slots_.bytes(); }

  // Empties the table, keeping its memory.
  void Reset() {
    slots_.Reset();
    arena_.clear();
  }
  // Empties the table and frees its memory.
  void Clear() {
    slots_.Clear();
    arena_.clear();
    arena_.shrink_to_fit();
  }

 private:
  struct Entry {
    size_t offset;
    uint32_t len;
    uint32_t value;
  };
  HashSlots<Entry> slots_;
  std::string arena_;
};

}  // namespace psink
