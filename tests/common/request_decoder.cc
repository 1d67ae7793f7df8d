// The tests' one reader of remote-write requests: see request_decoder.h.
#include "request_decoder.h"

#include <bit>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>

#include <snappy.h>

namespace rwdecode {
namespace {

// Names::kUtf8: any non-empty valid UTF-8 name (remote-write 2.0's MUST,
// what Prometheus 3 takes on both paths).
bool IsValidUtf8Name(std::string_view name) {
  size_t i = 0;
  while (i < name.size()) {
    const auto c = static_cast<unsigned char>(name[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > name.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(name[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return !name.empty();
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Appends a label value escaped as in PromQL: \\, \", \n.
void AppendEscaped(std::string_view v, std::string* out) {
  for (char c : v) {
    if (c == '\\') *out += "\\\\";
    else if (c == '"') *out += "\\\"";
    else if (c == '\n') *out += "\\n";
    else *out += c;
  }
}

// Shortens `s` for a message.
std::string Shorten(std::string_view s, size_t max = 80) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
}

}  // namespace

// ---------------------------------------------------------------- DecodedRequest

size_t DecodedRequest::SampleCount() const {
  size_t n = 0;
  if (protocol == Protocol::kV2) {
    for (const auto& ts : write_v2.timeseries()) n += static_cast<size_t>(ts.samples_size());
  } else {
    for (const auto& ts : write.timeseries()) n += static_cast<size_t>(ts.samples_size());
  }
  return n;
}

// ---------------------------------------------------------------- Sample

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

double Sample::value() const { return std::bit_cast<double>(value_bits); }

std::string Sample::ToString() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, " %lld %.17g (0x%016llx)", static_cast<long long>(ts), value(),
                static_cast<unsigned long long>(value_bits));
  return labels + buf;
}

namespace {

// symbols[ref], or nullptr when out of range.
const std::string* Symbol(const google::protobuf::RepeatedPtrField<std::string>& symbols, uint32_t ref) {
  return ref < static_cast<uint32_t>(symbols.size()) ? &symbols.Get(static_cast<int>(ref)) : nullptr;
}

}  // namespace

std::string LabelsToString(const prometheus::TimeSeries& ts) {
  std::string out = "{";
  for (int i = 0; i < ts.labels_size(); ++i) {
    if (i > 0) out += ',';
    out += ts.labels(i).name();
    out += "=\"";
    AppendEscaped(ts.labels(i).value(), &out);
    out += '"';
  }
  out += '}';
  return out;
}

std::string LabelsToString(const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ',';
    out += labels[i].first;
    out += "=\"";
    AppendEscaped(labels[i].second, &out);
    out += '"';
  }
  out += '}';
  return out;
}

std::string LabelsToString(const io::prometheus::write::v2::TimeSeries& ts,
                           const google::protobuf::RepeatedPtrField<std::string>& symbols) {
  std::string out = "{";
  for (int i = 0; i < ts.labels_refs_size(); i += 2) {
    if (i > 0) out += ',';
    const std::string* name = Symbol(symbols, ts.labels_refs(i));
    const std::string* value = i + 1 < ts.labels_refs_size() ? Symbol(symbols, ts.labels_refs(i + 1)) : nullptr;
    out += name ? *name : "?";
    out += "=\"";
    if (value) AppendEscaped(*value, &out);
    else out += "?";
    out += '"';
  }
  out += '}';
  return out;
}

std::string SeenHistogram::ToString() const {
  auto num = [](double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return std::string(buf);
  };
  static const char* const kHints[] = {"unknown", "yes", "no", "gauge"};
  std::string out = labels + " " + std::to_string(ts) + (is_float ? " float" : " int") +
                    " schema=" + std::to_string(schema) + " count=" + num(count) +
                    " sum=" + num(std::bit_cast<double>(sum_bits)) +
                    " zt=" + num(std::bit_cast<double>(zero_threshold_bits)) + " zc=" + num(zero_count) +
                    " reset=" + (reset_hint >= 0 && reset_hint < 4 ? kHints[reset_hint] : "?");
  if (start_ts != 0) out += " start=" + std::to_string(start_ts);
  for (const auto* side : {&positive, &negative}) {
    out += side == &positive ? " pos{" : " neg{";
    bool first = true;
    for (const auto& [i, c] : *side) {
      if (!first) out += ',';
      first = false;
      out += std::to_string(i) + ":" + num(c);
    }
    out += '}';
  }
  return out;
}

std::string SeenExemplar::ToString() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, " %lld %.17g (0x%016llx)", static_cast<long long>(ts), std::bit_cast<double>(value_bits),
                static_cast<unsigned long long>(value_bits));
  return series + (histogram_series ? " [histograms] " : " ") + labels + buf;
}

std::string MetricTypeName(int type) {
  static const char* const kNames[] = {"unknown", "counter", "gauge", "histogram",
                                       "gaugehistogram", "summary", "info", "stateset"};
  if (type >= 0 && type < 8) return kNames[type];
  return "type" + std::to_string(type);
}

std::string SeenMetadata::ToString() const {
  std::string out = protocol == Protocol::kV2 ? "2.0 " + labels : "1.0 " + metric;
  out += " type=" + MetricTypeName(type) + " help=\"";
  AppendEscaped(help, &out);
  out += "\" unit=\"";
  AppendEscaped(unit, &out);
  out += '"';
  return out;
}

// ---------------------------------------------------------------- decoding and checks

namespace {

using Violation = std::function<void(std::string)>;

// Label names of one series, in the order sent: sorted, unique, valid, with
// __name__, no empty value. `labels` are (name, value) pairs.
void CheckLabels(const std::vector<std::pair<std::string_view, std::string_view>>& labels, const std::string& where,
                 Names names, const Violation& violation) {
  if (labels.empty()) violation(where + "no labels");
  bool has_name = false;
  for (size_t j = 0; j < labels.size(); ++j) {
    const auto& [name, value] = labels[j];
    if (name.empty()) violation(where + "empty label name");
    else if (names == Names::kUtf8 ? !IsValidUtf8Name(name) : !IsValidLabelName(name)) {
      violation(where + "invalid label name '" + std::string(name) + "'");
    }
    if (value.empty()) violation(where + "empty value for label '" + std::string(name) + "'");
    if (name == "__name__") has_name = true;
    if (j > 0) {
      std::string_view prev = labels[j - 1].first;
      if (prev == name) violation(where + "label name '" + std::string(name) + "' repeated");
      else if (prev > name) {
        violation(where + "labels not sorted by name ('" + std::string(prev) + "' before '" + std::string(name) + "')");
      }
    }
  }
  if (!has_name) violation(where + "no __name__ label");
}

template <typename Samples>
void CheckSampleOrder(const Samples& samples, const std::string& where, const Violation& violation) {
  for (int j = 1; j < samples.size(); ++j) {
    if (samples.Get(j).timestamp() < samples.Get(j - 1).timestamp()) {
      violation(where + "samples not ordered by timestamp (" + std::to_string(samples.Get(j - 1).timestamp()) +
                " before " + std::to_string(samples.Get(j).timestamp()) + ")");
      break;
    }
  }
}

// UTF-8 characters of `s` (bytes that do not continue a character).
size_t Utf8Chars(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The checks and the absolute counts of one Histogram message of either
// protocol (the fields are the same).
template <typename H>
SeenHistogram CheckHistogram(const H& h, const std::string& labels, const std::string& where,
                             const Violation& violation) {
  SeenHistogram out;
  out.labels = labels;
  out.ts = h.timestamp();
  out.schema = h.schema();
  out.sum_bits = Bits(h.sum());
  out.zero_threshold_bits = Bits(h.zero_threshold());
  out.reset_hint = static_cast<int>(h.reset_hint());
  if (h.schema() < -4 || h.schema() > 8) violation(where + "schema " + std::to_string(h.schema()) + " outside -4..8");
  if (h.zero_threshold() < 0 || !std::isfinite(h.zero_threshold())) violation(where + "zero_threshold is negative or not finite");
  const bool count_int = h.count_case() == H::kCountInt, count_float = h.count_case() == H::kCountFloat;
  if (!count_int && !count_float) violation(where + "histogram without count_int or count_float");
  out.is_float = count_float;
  out.count = count_float ? h.count_float() : static_cast<double>(h.count_int());
  if (h.zero_count_case() == H::kZeroCountInt) {
    if (count_float) violation(where + "float histogram with zero_count_int");
    out.zero_count = static_cast<double>(h.zero_count_int());
  } else if (h.zero_count_case() == H::kZeroCountFloat) {
    if (!count_float) violation(where + "integer histogram with zero_count_float");
    out.zero_count = h.zero_count_float();
  }
  if (count_float && (h.negative_deltas_size() > 0 || h.positive_deltas_size() > 0)) {
    violation(where + "float histogram with deltas (want counts)");
  }
  if (!count_float && (h.negative_counts_size() > 0 || h.positive_counts_size() > 0)) {
    violation(where + "integer histogram with counts (want deltas)");
  }
  double total = out.zero_count;
  auto side = [&](const auto& spans, const auto& deltas, const auto& counts, const char* name,
                  std::map<int32_t, double>* buckets) {
    const int nvalues = count_float ? counts.size() : deltas.size();
    int64_t spanned = 0, index = 0;
    for (int k = 0; k < spans.size(); ++k) {
      if (k > 0 && spans.Get(k).offset() < 0) {
        violation(where + name + " span #" + std::to_string(k) + " has a negative offset");
      }
      if (spans.Get(k).length() == 0) violation(where + name + " span #" + std::to_string(k) + " is empty");
      spanned += spans.Get(k).length();
    }
    if (spanned != nvalues) {
      violation(where + name + " spans cover " + std::to_string(spanned) + " buckets, but " + std::to_string(nvalues) +
                (count_float ? " counts" : " deltas") + " were sent");
      return;
    }
    int v = 0;
    int64_t running = 0;
    for (int k = 0; k < spans.size(); ++k) {
      index = k == 0 ? spans.Get(k).offset() : index + spans.Get(k).offset();
      for (uint32_t l = 0; l < spans.Get(k).length(); ++l, ++v, ++index) {
        double c;
        if (count_float) {
          c = counts.Get(v);
        } else {
          running += deltas.Get(v);
          c = static_cast<double>(running);
        }
        if (c < 0) violation(where + name + " bucket " + std::to_string(index) + " has a negative count");
        if (!buckets->emplace(static_cast<int32_t>(index), c).second) {
          violation(where + name + " bucket " + std::to_string(index) + " twice");
        }
        total += c;
      }
      // `index` is now the bucket after this span: the next offset counts from there.
    }
  };
  side(h.negative_spans(), h.negative_deltas(), h.negative_counts(), "negative", &out.negative);
  side(h.positive_spans(), h.positive_deltas(), h.positive_counts(), "positive", &out.positive);
  if (out.count < total) {
    violation(where + "count " + std::to_string(out.count) + " is smaller than zero_count plus the buckets (" +
              std::to_string(total) + ")");
  }
  return out;
}

// Exemplar labels: valid names, sorted, unique, at most 128 UTF-8 characters.
void CheckExemplarLabels(const std::vector<std::pair<std::string_view, std::string_view>>& labels,
                         const std::string& where, Names names, const Violation& violation) {
  size_t chars = 0;
  for (size_t j = 0; j < labels.size(); ++j) {
    if (names == Names::kUtf8 ? !IsValidUtf8Name(labels[j].first) : !IsValidLabelName(labels[j].first)) violation(where + "exemplar label name '" + std::string(labels[j].first) + "' is invalid");
    if (j > 0 && labels[j - 1].first >= labels[j].first) violation(where + "exemplar labels not sorted or repeated");
    chars += Utf8Chars(labels[j].first) + Utf8Chars(labels[j].second);
  }
  if (chars > 128) violation(where + "exemplar labels hold " + std::to_string(chars) + " UTF-8 characters, more than 128");
}

// A TimeSeries holds samples or histograms; a label set may come back
// once for each. Returns the key of this entry for the "repeated" check.
std::string EntryKey(const std::string& labels, int samples, int histograms, const std::string& where,
                     const Violation& violation) {
  if (samples > 0 && histograms > 0) violation(where + "TimeSeries mixes samples and histograms");
  return (histograms > 0 ? "H" : "F") + labels;
}

template <typename Items>
void CheckTimestampOrder(const Items& items, const std::string& where, const char* what, const Violation& violation) {
  for (int j = 1; j < items.size(); ++j) {
    if (items.Get(j).timestamp() < items.Get(j - 1).timestamp()) {
      violation(where + what + " not ordered by timestamp");
      break;
    }
  }
}

void DecodeV1(const std::string& raw, DecodedRequest* req, Names names, const Violation& violation) {
  if (!req->write.ParseFromString(raw)) {
    req->decode_error = "body is not a prometheus.WriteRequest";
    violation(req->decode_error);
    return;
  }
  req->decoded = true;

  if (req->write.timeseries_size() == 0) violation("request carries no series");
  std::set<std::string> seen;
  for (int i = 0; i < req->write.timeseries_size(); ++i) {
    const auto& ts = req->write.timeseries(i);
    std::string name = LabelsToString(ts);
    std::string where = "series #" + std::to_string(i) + " " + Shorten(name) + ": ";
    std::vector<std::pair<std::string_view, std::string_view>> labels;
    for (const auto& l : ts.labels()) labels.emplace_back(l.name(), l.value());
    CheckLabels(labels, where, names, violation);
    if (ts.samples_size() == 0 && ts.histograms_size() == 0) violation(where + "no samples");
    CheckSampleOrder(ts.samples(), where, violation);
    CheckTimestampOrder(ts.histograms(), where, "histograms", violation);
    CheckTimestampOrder(ts.exemplars(), where, "exemplars", violation);
    if (!seen.insert(EntryKey(name, ts.samples_size(), ts.histograms_size(), where, violation)).second) {
      violation(where + "label set repeated in another TimeSeries of the request");
    }
    for (const auto& s : ts.samples()) req->samples.push_back(Sample{name, s.timestamp(), Bits(s.value())});
    for (const auto& h : ts.histograms()) req->histograms.push_back(CheckHistogram(h, name, where, violation));
    for (const auto& e : ts.exemplars()) {
      std::vector<std::pair<std::string_view, std::string_view>> el;
      prometheus::TimeSeries holder;
      for (const auto& l : e.labels()) {
        el.emplace_back(l.name(), l.value());
        *holder.add_labels() = l;
      }
      CheckExemplarLabels(el, where, names, violation);
      req->exemplars.push_back(SeenExemplar{name, LabelsToString(holder), e.timestamp(), Bits(e.value()),
                                            ts.histograms_size() > 0});
    }
  }
  for (int i = 0; i < req->write.metadata_size(); ++i) {
    const auto& m = req->write.metadata(i);
    std::string where = "metadata #" + std::to_string(i) + ": ";
    if (m.metric_family_name().empty()) violation(where + "no metric_family_name");
    if (m.type() < 0 || m.type() > 7) violation(where + "unknown type " + std::to_string(m.type()));
    SeenMetadata md;
    md.protocol = Protocol::kV1;
    md.metric = m.metric_family_name();
    md.type = m.type();
    md.help = m.help();
    md.unit = m.unit();
    req->metadata.push_back(std::move(md));
  }
}

void DecodeV2(const std::string& raw, DecodedRequest* req, Names names, const Violation& violation) {
  auto& w = req->write_v2;
  if (!w.ParseFromString(raw)) {
    req->decode_error = "body is not an io.prometheus.write.v2.Request";
    violation(req->decode_error);
    return;
  }
  req->decoded = true;
  // Fields 1 to 3 are 1.0's: a 1.0 body sent as 2.0 shows up here.
  if (w.GetReflection()->GetUnknownFields(w).field_count() > 0) {
    violation("request has fields that io.prometheus.write.v2.Request does not define (a 1.0 body?)");
  }

  const auto& symbols = w.symbols();
  const uint32_t nsym = static_cast<uint32_t>(symbols.size());
  if (symbols.empty()) violation("symbol table is empty (symbols[0] must be \"\")");
  else if (!symbols.Get(0).empty()) violation("symbols[0] is '" + Shorten(symbols.Get(0)) + "', want \"\"");
  std::map<std::string_view, int> first_index;
  for (int k = 0; k < symbols.size(); ++k) {
    auto [it, fresh] = first_index.emplace(symbols.Get(k), k);
    if (!fresh) {
      violation("symbol '" + Shorten(symbols.Get(k)) + "' is in the table twice (#" + std::to_string(it->second) +
                " and #" + std::to_string(k) + ")");
    }
  }
  std::vector<bool> used(nsym, false);
  if (nsym > 0) used[0] = true;  // "" needs no reference
  auto ref_ok = [&](uint32_t ref, const std::string& what, const std::string& where) {
    if (ref >= nsym) {
      violation(where + what + " = " + std::to_string(ref) + " is out of range (" + std::to_string(nsym) +
                " symbols)");
      return false;
    }
    used[ref] = true;
    return true;
  };

  if (w.timeseries_size() == 0) violation("request carries no series");
  std::set<std::string> seen;
  for (int i = 0; i < w.timeseries_size(); ++i) {
    const auto& ts = w.timeseries(i);
    std::string name = LabelsToString(ts, symbols);
    std::string where = "series #" + std::to_string(i) + " " + Shorten(name) + ": ";
    if (ts.GetReflection()->GetUnknownFields(ts).field_count() > 0) {
      violation(where + "fields that io.prometheus.write.v2.TimeSeries does not define");
    }
    if (ts.labels_refs_size() % 2 != 0) {
      violation(where + "labels_refs has an odd count (" + std::to_string(ts.labels_refs_size()) +
                "): refs come in (name, value) pairs");
    }
    bool refs_ok = true;
    for (int j = 0; j < ts.labels_refs_size(); ++j) {
      refs_ok &= ref_ok(ts.labels_refs(j), "labels_refs[" + std::to_string(j) + "]", where);
    }
    std::string metric;
    if (refs_ok) {
      std::vector<std::pair<std::string_view, std::string_view>> labels;
      for (int j = 0; j + 1 < ts.labels_refs_size(); j += 2) {
        labels.emplace_back(symbols.Get(static_cast<int>(ts.labels_refs(j))),
                            symbols.Get(static_cast<int>(ts.labels_refs(j + 1))));
        if (labels.back().first == "__name__") metric = std::string(labels.back().second);
      }
      CheckLabels(labels, where, names, violation);
    }
    if (ts.samples_size() == 0 && ts.histograms_size() == 0) violation(where + "no samples");
    CheckSampleOrder(ts.samples(), where, violation);
    CheckTimestampOrder(ts.histograms(), where, "histograms", violation);
    CheckTimestampOrder(ts.exemplars(), where, "exemplars", violation);
    for (const auto& h : ts.histograms()) {
      SeenHistogram seen_h = CheckHistogram(h, name, where, violation);
      seen_h.start_ts = h.start_timestamp();
      if (h.start_timestamp() != 0 && h.start_timestamp() > h.timestamp()) {  // 0: none
        violation(where + "histogram start_timestamp after the timestamp");
      }
      req->histograms.push_back(std::move(seen_h));
    }
    for (const auto& e : ts.exemplars()) {
      if (e.labels_refs_size() % 2 != 0) violation(where + "exemplar labels_refs has an odd count");
      bool ok = true;
      for (int j = 0; j < e.labels_refs_size(); ++j) ok &= ref_ok(e.labels_refs(j), "exemplar labels_refs", where);
      std::vector<std::pair<std::string_view, std::string_view>> el;
      io::prometheus::write::v2::TimeSeries holder;
      if (ok) {
        for (int j = 0; j + 1 < e.labels_refs_size(); j += 2) {
          el.emplace_back(symbols.Get(static_cast<int>(e.labels_refs(j))), symbols.Get(static_cast<int>(e.labels_refs(j + 1))));
          holder.add_labels_refs(e.labels_refs(j));
          holder.add_labels_refs(e.labels_refs(j + 1));
        }
        CheckExemplarLabels(el, where, names, violation);
      }
      req->exemplars.push_back(SeenExemplar{name, LabelsToString(holder, symbols), e.timestamp(), Bits(e.value()),
                                            ts.histograms_size() > 0});
    }
    for (const auto& s : ts.samples()) {
      if (s.start_timestamp() != 0 && s.start_timestamp() > s.timestamp()) {  // 0: none
        violation(where + "start_timestamp " + std::to_string(s.start_timestamp()) + " after the timestamp");
        break;
      }
    }
    if (!seen.insert(EntryKey(name, ts.samples_size(), ts.histograms_size(), where, violation)).second) {
      violation(where + "label set repeated in another TimeSeries of the request");
    }
    for (const auto& s : ts.samples()) {
      req->samples.push_back(Sample{name, s.timestamp(), Bits(s.value()), s.start_timestamp()});
    }

    if (ts.has_metadata()) {
      const auto& m = ts.metadata();
      if (m.type() < 0 || m.type() > 7) violation(where + "metadata: unknown type " + std::to_string(m.type()));
      bool help_ok = ref_ok(m.help_ref(), "metadata help_ref", where);
      bool unit_ok = ref_ok(m.unit_ref(), "metadata unit_ref", where);
      SeenMetadata md;
      md.protocol = Protocol::kV2;
      md.metric = metric;
      md.labels = name;
      md.type = m.type();
      md.help = help_ok ? symbols.Get(static_cast<int>(m.help_ref())) : "?";
      md.unit = unit_ok ? symbols.Get(static_cast<int>(m.unit_ref())) : "?";
      req->metadata.push_back(std::move(md));
    }
  }
  // Not forbidden by the specification, but a symbol nothing refers to is
  // bytes the sink should not have sent (e.g. from a series moved to the
  // next request).
  for (uint32_t k = 0; k < nsym; ++k) {
    if (!used[k]) violation("symbol #" + std::to_string(k) + " '" + Shorten(symbols.Get(static_cast<int>(k))) +
                            "' is not referred to");
  }
}

}  // namespace

bool DecodeRequest(std::string_view body, Protocol protocol, DecodedRequest* out, std::vector<std::string>* violations,
                   std::string* raw, Names names) {
  Violation violation = [violations](std::string msg) { violations->push_back(std::move(msg)); };
  *out = DecodedRequest{};
  out->protocol = protocol;
  std::string local;
  std::string& uncompressed = raw != nullptr ? *raw : local;
  uncompressed.clear();
  if (body.empty()) {
    out->decode_error = "empty body";
  } else if (!snappy::Uncompress(body.data(), body.size(), &uncompressed)) {
    out->decode_error = "body is not snappy block format";
  }
  if (!out->decode_error.empty()) {
    violation(out->decode_error);
    return false;
  }
  if (protocol == Protocol::kV2) {
    DecodeV2(uncompressed, out, names, violation);
  } else {
    DecodeV1(uncompressed, out, names, violation);
  }
  return out->decoded;
}

}  // namespace rwdecode
