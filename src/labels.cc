#include "labels.h"

#include "json.h"

namespace psink {

std::string EncodeLabels(const LabelSet& labels) {
  size_t n = 0;
  for (const auto& [name, value] : labels) n += LabelWireSize(name.size(), value.size());
  std::string out(n, '\0');
  char* p = out.data();
  for (const auto& [name, value] : labels) p = WriteLabel(name, value, p);
  return out;
}

LabelSet ToLabelSet(LabelsView labels) {
  LabelSet out;
  for (const auto& [name, value] : labels) out.emplace_back(name, value);
  return out;
}

bool operator==(LabelsView view, const LabelSet& labels) {
  auto it = labels.begin();
  for (const auto& [name, value] : view) {
    if (it == labels.end() || it->first != name || it->second != value) return false;
    ++it;
  }
  return it == labels.end();
}

std::string_view MetricName(const LabelSet& labels) {
  for (const auto& [name, value] : labels) {
    if (name == "__name__") return value;
  }
  return {};
}

std::string LabelsToJson(const LabelSet& labels) { return LabelsToJson(LabelsView(EncodeLabels(labels))); }

std::string_view MetricName(LabelsView labels) {
  for (const auto& [name, value] : labels) {
    if (name == "__name__") return value;
  }
  return {};
}

std::string LabelsToJson(LabelsView labels) {
  std::string out = "{";
  for (const auto& [name, value] : labels) {
    if (out.size() > 1) out += ",";
    AppendJsonString(name, &out);
    out += ":";
    AppendJsonString(value, &out);
  }
  out += "}";
  return out;
}

}  // namespace psink
