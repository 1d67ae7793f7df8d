#include "exemplar.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "json.h"
#include "text.h"

namespace psink {

namespace {

size_t Utf8Chars(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A JSON scalar as a cell of its text: numbers and strings both go through
// the column readers, which parse numbers exactly.
bool ToCell(const JsonMember& m, Cell* c) {
  if (m.kind != JsonMember::Kind::kNumber && m.kind != JsonMember::Kind::kString) return false;
  c->type = Cell::Type::kText;
  c->text = m.value;
  return true;
}

}  // namespace

Status ParseExemplar(std::string_view json, std::string_view column, const double* row_value, int64_t row_ts,
                     TimeUnit unit, int64_t now_ms, Exemplar* out, const NameScheme& names) {
  const std::string col = "column '" + std::string(column) + "'";
  auto fail = [&](const std::string& what) { return Status::Invalid(col + ": " + what + " in " + Shorten(json)); };
  std::vector<JsonMember> members;
  Status st = ParseObject(json, &members);
  if (!st.ok()) return Status::Invalid(col + ": " + st.message());

  const JsonMember *labels = nullptr, *value = nullptr, *timestamp = nullptr;
  for (const JsonMember& m : members) {
    const JsonMember** slot = m.key == "labels" ? &labels : m.key == "value" ? &value : m.key == "timestamp" ? &timestamp : nullptr;
    if (slot == nullptr) return fail("unknown key " + Shorten(m.key, 40) + " (expected labels, value, timestamp)");
    if (*slot != nullptr) return fail("key '" + m.key + "' appears twice");
    *slot = &m;
  }

  Exemplar e;
  if (labels != nullptr && labels->kind != JsonMember::Kind::kNull) {
    if (labels->kind != JsonMember::Kind::kObject) return fail("'labels' must be an object of label name to value");
    size_t chars = 0;
    std::string scratch;
    std::string_view sent;
    std::vector<std::string> given;  // e.labels' names as given, for a collision's message
    for (const JsonMember& l : labels->members) {
      Status name = SendName(names, l.key, NameKind::kLabel, {}, &scratch, &sent);
      if (!name.ok()) {
        return fail("invalid exemplar label name " + Shorten(l.key, 40) + " (expected " +
                    std::string(NameRule(names.validation, NameKind::kLabel)) + ")");
      }
      if (std::count_if(labels->members.begin(), labels->members.end(),
                        [&](const JsonMember& x) { return x.key == l.key; }) > 1) {
        return fail("exemplar label '" + l.key + "' appears twice");
      }
      if (l.kind == JsonMember::Kind::kNull || l.value.empty()) continue;
      for (size_t i = 0; i < e.labels.size(); ++i) {
        if (e.labels[i].first == sent) {
          return fail("exemplar label names " + Shorten(given[i], 40) + " and " + Shorten(l.key, 40) +
                      " are both sent as " + Shorten(sent, 40));
        }
      }
      chars += Utf8Chars(sent) + Utf8Chars(l.value);
      e.labels.emplace_back(sent, l.value);
      given.push_back(l.key);
    }
    if (chars > kExemplarMaxLabelChars) {
      return fail("the exemplar's labels have " + std::to_string(chars) +
                  " UTF-8 characters (names and values), more than Prometheus's limit of 128");
    }
    std::sort(e.labels.begin(), e.labels.end());
  }

  if (value != nullptr && value->kind != JsonMember::Kind::kNull) {
    Cell c;
    if (!ToCell(*value, &c)) return fail("'value' must be a number, \"NaN\", \"+Inf\" or \"-Inf\"");
    Status vs = DecodeValueAny(c, column, &e.value);
    if (!vs.ok()) return fail("'value': expected a number, NaN, Inf or -Inf, found " + Shorten(value->value, 40));
  } else if (row_value != nullptr) {
    e.value = *row_value;
  } else {
    return fail("'value' is required on a histogram row (the row has no value to default to)");
  }

  if (timestamp != nullptr && timestamp->kind != JsonMember::Kind::kNull) {
    Cell c;
    if (!ToCell(*timestamp, &c)) return fail("'timestamp' must be a number or an ISO-8601 text");
    Status ts = DecodeTimestampAny(c, unit, now_ms, column, &e.ts);
    if (!ts.ok()) return fail("'timestamp': " + ts.message().substr(col.size() + 2));
  } else {
    e.ts = row_ts;
  }
  *out = std::move(e);
  return Status::Ok();
}

std::string ExemplarToJson(const Exemplar& e) {
  std::string out = "{\"labels\":{";
  for (size_t i = 0; i < e.labels.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(e.labels[i].first, &out);
    out += ':';
    AppendJsonString(e.labels[i].second, &out);
  }
  out += "},\"value\":";
  if (std::isnan(e.value)) {
    out += "\"NaN\"";
  } else if (std::isinf(e.value)) {
    out += e.value > 0 ? "\"+Inf\"" : "\"-Inf\"";
  } else {
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, e.value);
    out.append(buf, p);
  }
  out += ",\"timestamp\":" + std::to_string(e.ts) + "}";
  return out;
}

}  // namespace psink
