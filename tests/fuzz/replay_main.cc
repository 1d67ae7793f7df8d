// A stand-in for libFuzzer's main: runs LLVMFuzzerTestOneInput once on every
// file given, or on every file in a directory given (sorted by name). Lets
// the meson build replay the committed corpus and regression inputs with
// the project's own compiler -- and, in scripts/sanitize.sh's build-asan,
// under its sanitizers -- without clang or libFuzzer. A missing directory is
// skipped (a target may have no regressions yet). Exit status 0 when every
// input ran; a violated invariant aborts (FUZZ_CHECK), naming the input last
// printed.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    fs::path p(argv[i]);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(p)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      inputs.insert(inputs.end(), files.begin(), files.end());
    } else if (fs::is_regular_file(p, ec)) {
      inputs.push_back(p);
    } else {
      std::printf("skipped (not found): %s\n", argv[i]);
    }
  }
  for (const fs::path& p : inputs) {
    std::printf("running: %s\n", p.c_str());
    std::fflush(stdout);
    std::ifstream in(p, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::printf("cannot read %s\n", p.c_str());
      return 1;
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  }
  std::printf("replayed %zu inputs\n", inputs.size());
  return inputs.empty() ? 1 : 0;
}
