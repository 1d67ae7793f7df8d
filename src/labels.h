// A series' labels in the one form every stage keeps them: the bytes of
// remote-write 1.0's repeated `TimeSeries.labels` (field 1, each a
// `Label{name = 1, value = 2}`), sorted by name, names unique, no empty
// value. The form is canonical and length-prefixed, so it is also the key
// that interns a series (equal label sets, equal bytes); the 1.0 encoder
// copies it into every request as it is, and the 2.0 encoder, the spool's
// JSON and the metadata read names and values out of it (LabelsView).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keytable.h"
#include "wire.h"

namespace psink {

using Label = std::pair<std::string, std::string>;
using LabelSet = std::vector<Label>;  // sorted by name, names unique, values non-empty

// The bytes one Label entry takes.
inline size_t LabelWireSize(size_t name_len, size_t value_len) {
  return wire::LenFieldSize(wire::LenFieldSize(name_len) + wire::LenFieldSize(value_len));
}

// Writes one Label entry at `p` (LabelWireSize bytes); returns the byte after it.
inline char* WriteLabel(std::string_view name, std::string_view value, char* p) {
  *p++ = static_cast<char>((1 << 3) | wire::kLen);
  p = wire::WriteVarint(wire::LenFieldSize(name.size()) + wire::LenFieldSize(value.size()), p);
  *p++ = static_cast<char>((1 << 3) | wire::kLen);
  p = wire::WriteVarint(name.size(), p);
  CopyBytes(p, name.data(), name.size());
  p += name.size();
  *p++ = static_cast<char>((2 << 3) | wire::kLen);
  p = wire::WriteVarint(value.size(), p);
  CopyBytes(p, value.data(), value.size());
  return p + value.size();
}

// Reads the labels of the wire form: iterates (name, value) pairs.
class LabelsView {
 public:
  LabelsView() = default;
  // `wire` must be a well-formed label form (written by WriteLabel).
  explicit LabelsView(std::string_view wire) : wire_(wire) {}

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::pair<std::string_view, std::string_view>;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;
    iterator() = default;
    iterator(const char* p, const char* end) : p_(p), end_(end) { Read(); }
    reference operator*() const { return cur_; }
    pointer operator->() const { return &cur_; }
    iterator& operator++() {
      p_ = next_;
      Read();
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator& o) const { return p_ == o.p_; }
    bool operator!=(const iterator& o) const { return p_ != o.p_; }

   private:
    static uint64_t Varint(const char** q) {
      uint64_t v = 0;
      for (int shift = 0;; shift += 7) {
        const auto b = static_cast<unsigned char>(*(*q)++);
        v |= uint64_t{b & 0x7Fu} << shift;
        if (b < 0x80) return v;
      }
    }
    void Read() {
      if (p_ == end_) return;
      const char* q = p_ + 1;  // the Label tag
      const uint64_t len = Varint(&q);
      next_ = q + len;
      ++q;  // name tag
      const uint64_t nlen = Varint(&q);
      cur_.first = std::string_view(q, nlen);
      q += nlen + 1;  // value tag
      const uint64_t vlen = Varint(&q);
      cur_.second = std::string_view(q, vlen);
    }
    const char* p_ = nullptr;
    const char* end_ = nullptr;
    const char* next_ = nullptr;
    value_type cur_;
  };

  iterator begin() const { return iterator(wire_.data(), wire_.data() + wire_.size()); }
  iterator end() const { return iterator(wire_.data() + wire_.size(), wire_.data() + wire_.size()); }
  bool empty() const { return wire_.empty(); }
  std::string_view wire() const { return wire_; }

 private:
  std::string_view wire_;
};

// Whether the view holds exactly these labels, in this order.
bool operator==(LabelsView view, const LabelSet& labels);

// The wire form of a label set (which must be sorted, names unique, values non-empty).
std::string EncodeLabels(const LabelSet& labels);
// The label set of a wire form.
LabelSet ToLabelSet(LabelsView labels);
// The value of the __name__ label, or "" when there is none.
std::string_view MetricName(LabelsView labels);
std::string_view MetricName(const LabelSet& labels);
// The label set as a canonical JSON object: names sorted, strings escaped.
std::string LabelsToJson(LabelsView labels);
std::string LabelsToJson(const LabelSet& labels);

}  // namespace psink
