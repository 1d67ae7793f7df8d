// Fuzz target for json.{h,cc}, decode.{h,cc} (LabelSetBuilder) and text.{h,cc}:
// the `labels` column. The input holds up to 16 JSON texts separated by NUL
// bytes, decoded one after the other with one reused LabelSetBuilder, as a
// sink does for consecutive rows; odd rows also get labels from `metric` and
// `external_labels`, as a sink with those options adds them.
//
// Invariants, besides "no crash, no sanitizer report":
//   - ParseFlatObject: keys and string values are valid UTF-8; writing the
//     members back as JSON and parsing that gives the same members;
//   - LabelSetBuilder: an accepted label set is sorted by name, names valid
//     and unique, values non-empty UTF-8, __name__ present, and holds exactly
//     the non-empty JSON members plus the added labels; LabelsToJson of it
//     parses back to the same set; error messages are valid UTF-8;
//   - IsValidUtf8 agrees with an independent decoder; Shorten's output is
//     quoted, valid UTF-8 without control characters, and bounded.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "batch.h"
#include "decode.h"
#include "fuzz_check.h"
#include "json.h"
#include "options.h"
#include "text.h"

namespace {

using psink::JsonMember;
using psink::LabelSet;
using psink::Status;

// Reference UTF-8 check, by code point: no overlong forms, no surrogates,
// nothing above U+10FFFF.
bool ReferenceUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { n = 1; cp = c; }
    else if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
    else return false;
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      unsigned char x = static_cast<unsigned char>(s[i + k]);
      if ((x & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (x & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

void CheckShorten(std::string_view text, size_t max_bytes) {
  std::string s = psink::Shorten(text, max_bytes);
  FUZZ_CHECK(s.size() >= 2 && s.front() == '\'' && s.back() == '\'', "Shorten not quoted");
  FUZZ_CHECK(psink::IsValidUtf8(s), "Shorten output is not UTF-8");
  for (char c : s) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F, "control char in Shorten output");
  // Each input byte shown takes at most 4 bytes (\xHH); plus quotes and "...".
  FUZZ_CHECK(s.size() <= 4 * max_bytes + 5, "Shorten output too long: %zu for max %zu", s.size(), max_bytes);
  if (text.size() <= max_bytes && psink::IsValidUtf8(text)) {
    bool plain = true;
    for (char c : text) plain &= static_cast<unsigned char>(c) >= 0x20 && c != 0x7F;
    if (plain) FUZZ_CHECK(s == "'" + std::string(text) + "'", "Shorten changed a short plain text");
  }
}

std::string ToJson(const std::vector<JsonMember>& members) {
  std::string out = "{";
  for (const JsonMember& m : members) {
    if (out.size() > 1) out += ',';
    psink::AppendJsonString(m.key, &out);
    out += ':';
    switch (m.kind) {
      case JsonMember::Kind::kString: psink::AppendJsonString(m.value, &out); break;
      case JsonMember::Kind::kNull: out += "null"; break;
      default: out += m.value;
    }
  }
  return out + "}";
}

void CheckParse(std::string_view text, bool show_text) {
  std::vector<JsonMember> members;
  Status st = psink::ParseFlatObject(text, &members, show_text);
  if (!st.ok()) {
    FUZZ_CHECK(!st.message().empty() && psink::IsValidUtf8(st.message()), "bad JSON error message");
    return;
  }
  for (const JsonMember& m : members) {
    FUZZ_CHECK(psink::IsValidUtf8(m.key) && psink::IsValidUtf8(m.value), "member is not UTF-8");
    if (m.kind == JsonMember::Kind::kBool) FUZZ_CHECK(m.value == "true" || m.value == "false", "bool");
    if (m.kind == JsonMember::Kind::kNull) FUZZ_CHECK(m.value.empty(), "null with a value");
    if (m.kind == JsonMember::Kind::kNumber) FUZZ_CHECK(!m.value.empty(), "empty number");
  }
  std::string again = ToJson(members);
  std::vector<JsonMember> back;
  Status st2 = psink::ParseFlatObject(again, &back);
  FUZZ_CHECK(st2.ok(), "re-encoded JSON does not parse: %s", st2.message().c_str());
  FUZZ_CHECK(back.size() == members.size(), "member count changed");
  for (size_t i = 0; i < back.size(); ++i) {
    FUZZ_CHECK(back[i].key == members[i].key && back[i].value == members[i].value && back[i].kind == members[i].kind,
               "member %zu changed in a round trip", i);
  }
}

void CheckLabelSet(const LabelSet& set, const std::vector<JsonMember>& json, const LabelSet& added) {
  FUZZ_CHECK(!set.empty(), "empty label set");
  bool has_name = false;
  for (size_t i = 0; i < set.size(); ++i) {
    FUZZ_CHECK(psink::IsValidLabelName(set[i].first), "invalid name '%s'", set[i].first.c_str());
    FUZZ_CHECK(!set[i].second.empty() && psink::IsValidUtf8(set[i].second), "bad value of '%s'", set[i].first.c_str());
    if (i) FUZZ_CHECK(set[i - 1].first < set[i].first, "labels not sorted or not unique at '%s'", set[i].first.c_str());
    has_name |= set[i].first == "__name__";
  }
  FUZZ_CHECK(has_name, "no __name__");
  auto find = [&](const std::string& name) -> const std::string* {
    for (const auto& [k, v] : set) if (k == name) return &v;
    return nullptr;
  };
  size_t expected = 0;
  LabelSet all = added;
  for (const JsonMember& m : json) {
    if (m.kind != JsonMember::Kind::kNull && !m.value.empty()) all.emplace_back(m.key, m.value);
  }
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string* got = find(all[i].first);
    FUZZ_CHECK(got && *got == all[i].second, "label '%s' lost or changed", all[i].first.c_str());
    bool first = true;
    for (size_t j = 0; j < i; ++j) first &= all[j].first != all[i].first;
    expected += first;
  }
  FUZZ_CHECK(set.size() == expected, "label set has %zu labels, expected %zu", set.size(), expected);

  std::vector<JsonMember> back;
  Status st = psink::ParseFlatObject(psink::LabelsToJson(set), &back);
  FUZZ_CHECK(st.ok() && back.size() == set.size(), "LabelsToJson does not parse back");
  for (size_t i = 0; i < set.size(); ++i) {
    FUZZ_CHECK(back[i].key == set[i].first && back[i].value == set[i].second, "LabelsToJson changed a label");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = fuzz::AsText(data, size);
  FUZZ_CHECK(psink::IsValidUtf8(input) == ReferenceUtf8(input), "IsValidUtf8 disagrees with the reference");
  CheckShorten(input, 60);
  CheckShorten(input, size % 17);

  std::vector<std::string_view> rows;
  fuzz::Split(input, '\0', &rows);
  if (rows.size() > 16) return 0;

  psink::LabelSetBuilder builder;  // reused across rows, as in a sink
  builder.set_names(psink::NameScheme{});  // a sink's default: legacy names
  LabelSet set;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string_view row = rows[r];
    CheckParse(row, r % 2 == 0);

    builder.Reset();
    LabelSet added;
    if (r % 2 == 1) {
      added = {{"__name__", "from_metric"}, {"env", "prod"}};
      for (const auto& [k, v] : added) {
        FUZZ_CHECK(builder.Add(k, v, "option 'metric'").ok(), "Add of a valid label failed");
      }
    }
    Status st = builder.AddJson(row, r % 3 == 2 ? "lbl" : "labels");
    if (st.ok()) st = builder.Finish(&set);
    if (!st.ok()) {
      FUZZ_CHECK(!st.message().empty() && psink::IsValidUtf8(st.message()), "bad label error message");
      continue;
    }
    std::vector<JsonMember> json;
    FUZZ_CHECK(psink::ParseFlatObject(row, &json).ok(), "AddJson accepted what ParseFlatObject refuses");
    // Where a JSON label repeats an added one with another value, Finish must have refused.
    for (const JsonMember& m : json) {
      for (const auto& [k, v] : added) {
        if (m.key == k && m.kind != JsonMember::Kind::kNull && !m.value.empty()) {
          FUZZ_CHECK(m.value == v, "conflicting label '%s' accepted", k.c_str());
        }
      }
    }
    CheckLabelSet(set, json, added);
  }
  return 0;
}
