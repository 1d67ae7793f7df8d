// Small text helpers shared by every stage: quoting offending input in error
// messages, UTF-8 validation, edit distance for "did you mean", and quoting
// SQL identifiers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace psink {

// Returns `text` quoted for an error message: at most `max_bytes` bytes of it
// (cut on a UTF-8 boundary, "..." appended when cut), control characters and
// invalid UTF-8 shown as \xHH escapes, inside single quotes.
std::string Shorten(std::string_view text, size_t max_bytes = 60);

// True when every byte is below 0x80 (ASCII, so valid UTF-8): eight bytes a
// step, inline, for the label values of every first-seen series.
inline bool IsAscii(std::string_view text) {
  uint64_t bits = 0;
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, text.data() + i, 8);
    bits |= w;
  }
  for (; i < text.size(); ++i) bits |= static_cast<unsigned char>(text[i]);
  return (bits & 0x8080808080808080ULL) == 0;
}

// The general check behind IsValidUtf8, byte by byte.
bool IsValidUtf8Sequences(std::string_view text);

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates).
// Inline, the ASCII case eight bytes a step: the label values of every
// first-seen series come through here.
inline bool IsValidUtf8(std::string_view text) { return IsAscii(text) || IsValidUtf8Sequences(text); }


// Levenshtein distance between two ASCII strings.
size_t EditDistance(std::string_view a, std::string_view b);

// ASCII case-insensitive equality.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// `text` without leading and trailing ASCII white space.
std::string_view Trim(std::string_view text);

// `name` as an SQL identifier: inside double quotes, each '"' doubled, so
// that it stands for exactly `name` whatever it holds.
std::string QuoteIdentifier(std::string_view name);

}  // namespace psink
