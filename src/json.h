// A strict parser for flat JSON objects: the `labels` column and the
// `headers` and `external_labels` options. Values must be scalars; a nested
// object or array is refused. ParseObject also reads objects whose members
// are flat objects (the `histogram` and `exemplar` columns). Numbers and booleans keep the text they were
// written with ("1.50" stays "1.50"), strings are unescaped, and every string
// must be valid UTF-8.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace psink {

struct JsonMember {
  // kObject only from ParseObject: a nested flat object in `members`.
  enum class Kind { kString, kNumber, kBool, kNull, kObject };
  std::string key;
  Kind kind;
  std::string value;  // unescaped string, or the literal as written
  std::vector<JsonMember> members;  // kObject: its members, in document order
};

// Parses `json`, which must hold exactly one object (surrounding white space
// allowed), into `out` (cleared first), members in document order.
// Duplicate keys are kept: the caller decides what a repeat means.
// On failure the message says what was expected, where, and shows the text
// -- unless `show_text` is false (the text may hold a credential).
Status ParseFlatObject(std::string_view json, std::vector<JsonMember>* out, bool show_text = true);

// Like ParseFlatObject, but a member whose value is an object or an array is
// left out instead of refused (its text is only checked for balanced
// brackets and terminated strings): for documents from elsewhere, such as an
// OAuth2 token response, of which only the scalar members matter.
Status ParseObjectScalars(std::string_view json, std::vector<JsonMember>* out, bool show_text = true);

// Like ParseFlatObject, but a member's value may also be a flat object
// (kind kObject, its members in `members`); deeper nesting and arrays are
// refused.
Status ParseObject(std::string_view json, std::vector<JsonMember>* out);

// Appends `s` as a JSON string literal (quotes included) to `out`.
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace psink
