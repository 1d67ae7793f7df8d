// FUZZ_CHECK: the invariant checks of the fuzz targets. A violated invariant
// prints what was expected and aborts, so that libFuzzer records the input
// as a crash (tests/fuzz/README.md says how to replay it).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond, ...)                                                     \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "  " __VA_ARGS__);                                    \
      std::fprintf(stderr, "\n");                                                \
      std::abort();                                                              \
    }                                                                            \
  } while (0)

namespace fuzz {

// The input as text (libFuzzer hands over bytes).
inline std::string_view AsText(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Splits `text` at every `sep`; an empty text gives no parts.
inline void Split(std::string_view text, char sep, std::vector<std::string_view>* out) {
  out->clear();
  if (text.empty()) return;
  size_t start = 0;
  for (;;) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) {
      out->push_back(text.substr(start));
      return;
    }
    out->push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace fuzz
