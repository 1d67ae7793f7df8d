// Credentials given as options: inline, or by the name of a file or of an
// environment variable, resolved when a request is made. (The AWS
// credential chain, which reads more than the options, is
// aws_credentials.h.)
#pragma once

#include <string>
#include <string_view>

#include "status.h"

namespace psink {

// A credential given inline, or by the name of a file or of an environment
// variable that holds it. Files and variables are read when a request is
// made, so a rotated token is picked up and nothing secret is stored in the
// schema.
struct Secret {
  enum class Source { kNone, kValue, kFile, kEnv };
  Source source = Source::kNone;
  std::string text;  // the value, the file path, or the variable name
  bool empty() const { return source == Source::kNone; }
};

// Reads the credential now. The message of a failure names the file or the
// variable, never the content.
Status ResolveSecret(const Secret& secret, std::string_view option, std::string* out);

// True when `v` may be sent as an HTTP header value: no control character
// other than a tab.
bool IsValidHeaderValue(std::string_view v);

}  // namespace psink
