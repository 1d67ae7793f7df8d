#include "names.h"

#include <cstdint>

#include "text.h"

namespace psink {

namespace {

// Whether code point `c`, at byte offset `i` of the name, is legal in a
// legacy name of `kind` (a digit is not legal first).
bool IsLegacyChar(uint32_t c, size_t i, NameKind kind) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c == ':' && kind == NameKind::kMetric) ||
         (c >= '0' && c <= '9' && i > 0);
}

// Decodes the code point at text[*i] (valid UTF-8) and advances *i past it.
uint32_t NextCodePoint(std::string_view text, size_t* i) {
  const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(text[*i + k])); };
  const uint32_t c0 = b(0);
  uint32_t c;
  size_t n;
  if (c0 < 0x80) {
    c = c0, n = 1;
  } else if (c0 < 0xE0) {
    c = ((c0 & 0x1F) << 6) | (b(1) & 0x3F), n = 2;
  } else if (c0 < 0xF0) {
    c = ((c0 & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F), n = 3;
  } else {
    c = ((c0 & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F), n = 4;
  }
  *i += n;
  return c;
}

}  // namespace

std::string_view NameRule(NameValidation validation, NameKind kind) {
  if (validation == NameValidation::kUtf8) return "a non-empty UTF-8 name";
  return kind == NameKind::kMetric ? "[a-zA-Z_:][a-zA-Z0-9_:]*" : "[a-zA-Z_][a-zA-Z0-9_]*";
}

std::string EscapeName(std::string_view name, NameKind kind, NameEscaping escaping) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(name.size() + 8);
  if (escaping == NameEscaping::kValues) out += "U__";
  for (size_t i = 0; i < name.size();) {
    const size_t at = i;
    const uint32_t c = NextCodePoint(name, &i);
    if (escaping != NameEscaping::kUnderscores && c == '_') {
      out += "__";
    } else if (IsLegacyChar(c, at, kind)) {
      out += static_cast<char>(c);
    } else if (escaping == NameEscaping::kUnderscores) {
      out += '_';
    } else if (escaping == NameEscaping::kDots) {
      out += c == '.' ? "_dot_" : "__";
    } else {
      out += '_';
      char hex[8];
      int n = 0;
      for (uint32_t v = c; n == 0 || v != 0; v >>= 4) hex[n++] = kHex[v & 0xF];
      while (n > 0) out += hex[--n];
      out += '_';
    }
  }
  return out;
}

Status SendName(const NameScheme& scheme, std::string_view name, NameKind kind, std::string_view source,
                std::string* scratch, std::string_view* out) {
  const char* what = kind == NameKind::kMetric ? ": invalid metric name " : ": invalid label name ";
  if (scheme.validation == NameValidation::kUtf8) {
    if (name.empty() || !IsValidUtf8(name)) {
      return Status::Invalid(std::string(source) + what + Shorten(name) + " (expected " +
                             std::string(NameRule(scheme.validation, kind)) + ")");
    }
    *out = name;
    return Status::Ok();
  }
  if (IsLegacyName(name, kind)) {
    *out = name;
    return Status::Ok();
  }
  if (scheme.escaping == NameEscaping::kNone || name.empty() || !IsValidUtf8(name)) {
    return Status::Invalid(std::string(source) + what + Shorten(name) + " (expected " +
                           std::string(NameRule(scheme.validation, kind)) + ")");
  }
  *scratch = EscapeName(name, kind, scheme.escaping);
  if (kind == NameKind::kLabel && *scratch == "__name__") {
    return Status::Invalid(std::string(source) + ": label name " + Shorten(name) +
                           " escapes to '__name__', the metric name's label");
  }
  *out = *scratch;
  return Status::Ok();
}

}  // namespace psink
