#include "secret.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "text.h"

namespace psink {

bool IsValidHeaderValue(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
  });
}

Status ResolveSecret(const Secret& secret, std::string_view option, std::string* out) {
  switch (secret.source) {
    case Secret::Source::kNone:
      out->clear();
      return Status::Ok();
    case Secret::Source::kValue:
      *out = secret.text;
      return Status::Ok();
    case Secret::Source::kEnv: {
      const char* v = std::getenv(secret.text.c_str());
      if (v == nullptr || *v == '\0') {
        return Status::Failed("option '" + std::string(option) + "_env': environment variable " + Shorten(secret.text) +
                              " is not set");
      }
      *out = v;
      break;
    }
    case Secret::Source::kFile: {
      std::ifstream in(secret.text, std::ios::binary);
      std::ostringstream buf;
      if (in) buf << in.rdbuf();
      if (!in) {
        return Status::Failed("option '" + std::string(option) + "_file': cannot read " + Shorten(secret.text, 200));
      }
      *out = buf.str();
      // A trailing newline is how files end, not part of the secret.
      while (!out->empty() && (out->back() == '\n' || out->back() == '\r')) out->pop_back();
      if (out->empty()) {
        return Status::Failed("option '" + std::string(option) + "_file': " + Shorten(secret.text, 200) + " is empty");
      }
      break;
    }
  }
  if (!IsValidHeaderValue(*out)) {
    return Status::Failed("option '" + std::string(option) + "': the credential contains a control character (not shown)");
  }
  return Status::Ok();
}

}  // namespace psink
