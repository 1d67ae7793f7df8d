// Test receiver: see receiver.h.
#include "receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>

#include <snappy.h>

namespace testrx {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
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

// Shortens `s` for a message.
std::string Shorten(std::string_view s, size_t max = 80) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "...";
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

void SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the peer went away: nothing to do in a test receiver
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

// ---------------------------------------------------------------- Response

Response Response::Status(int status, std::string body, Headers headers) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

Response Response::Slow(int delay_ms, int status) {
  Response r;
  r.status = status;
  r.delay_ms = delay_ms;
  return r;
}

static Response FaultResponse(Response::Fault f) {
  Response r;
  r.status = 0;
  r.fault = f;
  return r;
}

Response Response::Drop() { return FaultResponse(Fault::kDrop); }
Response Response::Reset() { return FaultResponse(Fault::kReset); }
Response Response::CloseMidStatusLine() { return FaultResponse(Fault::kCloseMidStatusLine); }
Response Response::CloseMidBody() { return FaultResponse(Fault::kCloseMidBody); }
Response Response::MalformedStatusLine() { return FaultResponse(Fault::kMalformedStatusLine); }
Response Response::Hang() { return FaultResponse(Fault::kHang); }

// ---------------------------------------------------------------- Request

std::string Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return v;
  }
  return {};
}

bool Request::HasHeader(std::string_view name) const { return HeaderCount(name) > 0; }

size_t Request::HeaderCount(std::string_view name) const {
  size_t n = 0;
  for (const auto& h : headers) n += IEquals(h.first, name) ? 1 : 0;
  return n;
}

size_t Request::SampleCount() const {
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

std::string LabelsToString(const prometheus::TimeSeries& ts) {
  std::string out = "{";
  for (int i = 0; i < ts.labels_size(); ++i) {
    if (i > 0) out += ',';
    out += ts.labels(i).name();
    out += "=\"";
    for (char c : ts.labels(i).value()) {
      if (c == '\\') out += "\\\\";
      else if (c == '"') out += "\\\"";
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

namespace {

void AppendEscaped(std::string_view v, std::string* out) {
  for (char c : v) {
    if (c == '\\') *out += "\\\\";
    else if (c == '"') *out += "\\\"";
    else if (c == '\n') *out += "\\n";
    else *out += c;
  }
}

// symbols[ref], or nullptr when out of range.
const std::string* Symbol(const google::protobuf::RepeatedPtrField<std::string>& symbols, uint32_t ref) {
  return ref < static_cast<uint32_t>(symbols.size()) ? &symbols.Get(static_cast<int>(ref)) : nullptr;
}

}  // namespace

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

// ---------------------------------------------------------------- checks

namespace {

using Violation = std::function<void(std::string)>;

// Whether the request says it carries a 2.0 body: a Content-Type naming the
// 2.0 message (parameters compared without spaces, case-insensitively).
bool SaysV2(const Request& req) {
  for (const auto& [k, v] : req.headers) {
    if (!IEquals(k, "Content-Type")) continue;
    std::string t;
    for (char c : Lower(v)) {
      if (c != ' ' && c != '\t') t += c;
    }
    if (t.find("proto=io.prometheus.write.v2.request") != std::string::npos) return true;
  }
  return false;
}

// Headers, body framing and snappy: the same for both protocols but for the
// expected Content-Type and version. Leaves the uncompressed body in *raw;
// false when there is none.
bool CheckEnvelope(Request* req, std::string_view content_type, std::string_view version, const Violation& violation,
                   std::string* raw) {
  if (req->method != "POST") violation("method is '" + req->method + "', want POST");

  auto want_header = [&](std::string_view name, std::string_view expected) {
    size_t n = req->HeaderCount(name);
    if (n == 0) {
      violation("missing header " + std::string(name) + " (want '" + std::string(expected) + "')");
    } else if (n > 1) {
      violation("header " + std::string(name) + " sent " + std::to_string(n) + " times");
    } else if (req->Header(name) != expected) {
      violation("header " + std::string(name) + " is '" + req->Header(name) + "', want '" + std::string(expected) + "'");
    }
  };
  want_header("Content-Encoding", "snappy");
  want_header("Content-Type", content_type);
  want_header("X-Prometheus-Remote-Write-Version", version);

  size_t ua = req->HeaderCount("User-Agent");
  if (ua != 1) {
    violation("header User-Agent sent " + std::to_string(ua) + " times, want once");
  } else if (req->Header("User-Agent").rfind("prometheus_sink/", 0) != 0) {
    violation("header User-Agent is '" + req->Header("User-Agent") + "', want 'prometheus_sink/...'");
  }
  for (const auto& [k, v] : req->headers) {
    if (IEquals(k, "Expect") && Lower(v).find("100-continue") != std::string::npos) {
      violation("header Expect: " + v + " (no 100-continue round trip allowed)");
    }
  }

  if (req->body.empty()) {
    req->decode_error = "empty body";
    violation("empty body");
    return false;
  }
  if (!snappy::Uncompress(req->body.data(), req->body.size(), raw)) {
    req->decode_error = "body is not snappy block format";
    violation(req->decode_error);
    return false;
  }
  return true;
}

// Label names of one series, in the order sent: sorted, unique, valid, with
// __name__, no empty value. `labels` are (name, value) pairs.
void CheckLabels(const std::vector<std::pair<std::string_view, std::string_view>>& labels, const std::string& where,
                 const Violation& violation) {
  if (labels.empty()) violation(where + "no labels");
  bool has_name = false;
  for (size_t j = 0; j < labels.size(); ++j) {
    const auto& [name, value] = labels[j];
    if (name.empty()) violation(where + "empty label name");
    else if (!IsValidLabelName(name)) violation(where + "invalid label name '" + std::string(name) + "'");
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
                         const std::string& where, const Violation& violation) {
  size_t chars = 0;
  for (size_t j = 0; j < labels.size(); ++j) {
    if (!IsValidLabelName(labels[j].first)) violation(where + "exemplar label name '" + std::string(labels[j].first) + "' is invalid");
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

void CheckV1(Request* req, const Violation& violation) {
  std::string raw;
  if (!CheckEnvelope(req, "application/x-protobuf", "0.1.0", violation, &raw)) return;
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
    CheckLabels(labels, where, violation);
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
      CheckExemplarLabels(el, where, violation);
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

void CheckV2(Request* req, const Violation& violation) {
  std::string raw;
  if (!CheckEnvelope(req, kV2ContentType, "2.0.0", violation, &raw)) return;
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
      CheckLabels(labels, where, violation);
    }
    if (ts.samples_size() == 0 && ts.histograms_size() == 0) violation(where + "no samples");
    CheckSampleOrder(ts.samples(), where, violation);
    CheckTimestampOrder(ts.histograms(), where, "histograms", violation);
    CheckTimestampOrder(ts.exemplars(), where, "exemplars", violation);
    for (const auto& h : ts.histograms()) {
      SeenHistogram seen_h = CheckHistogram(h, name, where, violation);
      seen_h.start_ts = h.start_timestamp();
      if (h.start_timestamp() > h.timestamp()) violation(where + "histogram start_timestamp after the timestamp");
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
        CheckExemplarLabels(el, where, violation);
      }
      req->exemplars.push_back(SeenExemplar{name, LabelsToString(holder, symbols), e.timestamp(), Bits(e.value()),
                                            ts.histograms_size() > 0});
    }
    for (const auto& s : ts.samples()) {
      if (s.start_timestamp() > s.timestamp()) {
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

void CheckRequest(Request* req, std::vector<std::string>* out) {
  Violation violation = [out](std::string msg) { out->push_back(std::move(msg)); };
  req->samples.clear();
  req->metadata.clear();
  req->histograms.clear();
  req->exemplars.clear();
  req->protocol = SaysV2(*req) ? Protocol::kV2 : Protocol::kV1;
  if (req->protocol == Protocol::kV2) CheckV2(req, violation);
  else CheckV1(req, violation);
}

// ---------------------------------------------------------------- Receiver

Receiver::Receiver(uint16_t port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(std::string("receiver: socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0) {
    int e = errno;
    ::close(listen_fd_);
    throw std::runtime_error(std::string("receiver: bind/listen: ") + std::strerror(e));
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread(&Receiver::AcceptLoop, this);
}

Receiver::~Receiver() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  accept_thread_.join();
  ::close(listen_fd_);
  // No new connection threads appear once the accept loop has ended.
  for (auto& t : conn_threads_) t.join();
}

std::string Receiver::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void Receiver::Enqueue(Response r) {
  std::lock_guard<std::mutex> lock(mu_);
  script_.push_back(std::move(r));
}

void Receiver::SetDefault(Response r) {
  std::lock_guard<std::mutex> lock(mu_);
  default_ = std::move(r);
}

void Receiver::SetGate(Gate gate) {
  std::lock_guard<std::mutex> lock(mu_);
  gate_ = std::move(gate);
}

void Receiver::RequireSigV4(SigV4Keys keys) {
  SetGate([keys](const Request& req) -> std::optional<Response> {
    std::string why = VerifySigV4(req, keys, std::chrono::system_clock::now());
    if (why.empty()) return std::nullopt;
    return Response::Status(403, why);
  });
}

void Receiver::SetHandler(Handler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  handler_ = std::move(handler);
}

void Receiver::SetV2Mode(V2Mode mode, int64_t not_written) {
  std::lock_guard<std::mutex> lock(mu_);
  v2_mode_ = mode;
  v2_not_written_ = not_written;
}

size_t Receiver::RequestCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

size_t Receiver::RequestCount(Protocol protocol) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(std::count_if(requests_.begin(), requests_.end(),
                                           [&](const Request& r) { return r.protocol == protocol; }));
}

std::vector<Request> Receiver::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

std::vector<Sample> Receiver::Samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

std::vector<Sample> Receiver::AllSamples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return all_;
}

std::vector<SeenMetadata> Receiver::Metadata() const {
  std::lock_guard<std::mutex> lock(mu_);
  return metadata_;
}

std::vector<SeenHistogram> Receiver::Histograms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return histograms_;
}

std::vector<SeenExemplar> Receiver::Exemplars() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exemplars_;
}

std::vector<std::string> Receiver::Violations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return violations_;
}

size_t Receiver::ConnectionCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_;
}

bool Receiver::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void Receiver::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  script_.clear();
  requests_.clear();
  accepted_.clear();
  all_.clear();
  metadata_.clear();
  histograms_.clear();
  exemplars_.clear();
  violations_.clear();
}

uint16_t Receiver::ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("receiver: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("receiver: bind failed");
  }
  ::close(fd);  // never listened: connecting there is refused
  return ntohs(addr.sin_port);
}

void Receiver::AcceptLoop() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 50);
    if (r <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    ++connections_;
    conn_fds_.push_back(fd);
    conn_threads_.emplace_back(&Receiver::Serve, this, fd);
  }
}

void Receiver::SetRandomDelay(int min_ms, int max_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  random_delay_min_ms_ = min_ms;
  random_delay_max_ms_ = max_ms;
}

Response Receiver::Handle(Request req, size_t* index) {
  Gate gate;
  Handler handler;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gate = gate_;
    handler = handler_;
  }
  if (handler) {
    Response r = handler(req);
    std::lock_guard<std::mutex> lock(mu_);
    *index = requests_.size();
    req.answered_status = r.fault == Response::Fault::kNone ? r.status : 0;
    requests_.push_back(std::move(req));
    cv_.notify_all();
    return r;
  }

  std::vector<std::string> problems;
  CheckRequest(&req, &problems);
  // Outside the lock: a gate may take its own locks.
  std::optional<Response> refusal = gate ? gate(req) : std::nullopt;

  std::lock_guard<std::mutex> lock(mu_);
  Response r = default_;
  const bool scripted = !refusal && !script_.empty();
  if (refusal) {
    r = std::move(*refusal);
    req.refused = r.body;
  } else if (scripted) {
    r = std::move(script_.front());
    script_.pop_front();
  } else if (random_delay_max_ms_ > 0) {
    // xorshift64: a fixed seed, so a run's delays are reproducible
    rng_state_ ^= rng_state_ << 13;
    rng_state_ ^= rng_state_ >> 7;
    rng_state_ ^= rng_state_ << 17;
    const int span = random_delay_max_ms_ - random_delay_min_ms_ + 1;
    r.delay_ms = random_delay_min_ms_ + static_cast<int>(rng_state_ % static_cast<uint64_t>(span));
  }
  const bool plain_2xx = r.fault == Response::Fault::kNone && r.status >= 200 && r.status < 300;
  bool stored = plain_2xx && !refusal;
  // The 2.0 mode shapes the default answer; a scripted one goes as written.
  if (req.is_v2() && plain_2xx && !scripted && !refusal) {
    auto is_written_header = [](const std::pair<std::string, std::string>& h) {
      std::string name = Lower(h.first);
      return name.rfind("x-prometheus-remote-write-", 0) == 0 && name.size() > 8 &&
             name.compare(name.size() - 8, 8, "-written") == 0;
    };
    switch (v2_mode_) {
      case V2Mode::kSpeaks2:
        if (std::none_of(r.headers.begin(), r.headers.end(), is_written_header)) {
          int64_t written = std::max<int64_t>(0, static_cast<int64_t>(req.SampleCount()) - v2_not_written_);
          r.headers.emplace_back("X-Prometheus-Remote-Write-Samples-Written", std::to_string(written));
          r.headers.emplace_back("X-Prometheus-Remote-Write-Histograms-Written", std::to_string(req.histograms.size()));
          r.headers.emplace_back("X-Prometheus-Remote-Write-Exemplars-Written", std::to_string(req.exemplars.size()));
        }
        break;
      case V2Mode::kOnly1:
        // A 1.0 receiver decodes the 2.0 body as a WriteRequest without
        // series (fields 4 and 5 are unknown to it) and stores nothing.
        r.status = 204;
        r.body.clear();
        r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(), is_written_header), r.headers.end());
        stored = false;
        break;
      case V2Mode::kUnsupportedMediaType:
        r.status = 415;
        r.body = "unsupported Content-Type \"" + req.Header("Content-Type") +
                 "\": this receiver accepts remote-write 1.0 (application/x-protobuf) only\n";
        r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(), is_written_header), r.headers.end());
        stored = false;
        break;
    }
  }
  *index = requests_.size();
  req.answered_status = r.fault == Response::Fault::kNone ? r.status : 0;
  req.stored = stored && req.decoded;
  std::string prefix = "request #" + std::to_string(*index + 1) + " (" + req.method + " " + req.target +
                       (req.is_v2() ? ", 2.0" : "") + "): ";
  for (auto& p : problems) violations_.push_back(prefix + p);
  if (req.decoded) {
    for (const Sample& sample : req.samples) {
      if (req.stored) accepted_.push_back(sample);
      all_.push_back(sample);
    }
    if (req.stored) {
      metadata_.insert(metadata_.end(), req.metadata.begin(), req.metadata.end());
      histograms_.insert(histograms_.end(), req.histograms.begin(), req.histograms.end());
      exemplars_.insert(exemplars_.end(), req.exemplars.begin(), req.exemplars.end());
    }
  }
  requests_.push_back(std::move(req));
  cv_.notify_all();
  return r;
}

// Serves one connection until the peer closes it, a fault closes it, or the
// receiver stops.
void Receiver::Serve(int fd) {
  std::string buf;
  std::vector<char> tmp(1 << 16);
  bool linger_reset = false;

  auto read_more = [&]() -> bool {
    for (;;) {
      ssize_t n = ::recv(fd, tmp.data(), tmp.size(), 0);
      if (n > 0) {
        buf.append(tmp.data(), static_cast<size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
  };
  auto read_line = [&](size_t from, size_t* eol) -> bool {
    while ((*eol = buf.find("\r\n", from)) == std::string::npos) {
      if (!read_more()) return false;
    }
    return true;
  };

  for (;;) {
    size_t hdr_end;
    while ((hdr_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) goto done;
    }
    Request req;
    bool keep_alive = true;
    bool chunked = false;
    size_t content_length = 0;
    {
      std::string_view head(buf.data(), hdr_end);
      size_t eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      size_t sp1 = line.find(' ');
      size_t sp2 = line.find(' ', sp1 == std::string_view::npos ? line.size() : sp1 + 1);
      if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) goto done;  // not HTTP
      req.method = std::string(line.substr(0, sp1));
      req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
      if (line.substr(sp2 + 1) == "HTTP/1.0") keep_alive = false;
      std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
      while (!rest.empty()) {
        size_t e = rest.find("\r\n");
        std::string_view h = rest.substr(0, e);
        rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
        size_t colon = h.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name(Trim(h.substr(0, colon)));
        std::string value(Trim(h.substr(colon + 1)));
        if (IEquals(name, "Content-Length")) content_length = std::strtoull(value.c_str(), nullptr, 10);
        if (IEquals(name, "Transfer-Encoding") && Lower(value).find("chunked") != std::string::npos) chunked = true;
        if (IEquals(name, "Connection") && IEquals(value, "close")) keep_alive = false;
        if (IEquals(name, "Expect") && Lower(value).find("100-continue") != std::string::npos) {
          SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n");  // recorded as a violation by CheckRequest
        }
        req.headers.emplace_back(std::move(name), std::move(value));
      }
    }
    buf.erase(0, hdr_end + 4);

    if (chunked) {
      for (;;) {
        size_t eol;
        if (!read_line(0, &eol)) goto done;
        size_t size = std::strtoull(buf.substr(0, eol).c_str(), nullptr, 16);
        buf.erase(0, eol + 2);
        if (size == 0) {
          // Trailers (ignored) up to an empty line.
          for (;;) {
            if (!read_line(0, &eol)) goto done;
            buf.erase(0, eol + 2);
            if (eol == 0) break;
          }
          break;
        }
        while (buf.size() < size + 2) {
          if (!read_more()) goto done;
        }
        req.body.append(buf, 0, size);
        buf.erase(0, size + 2);
      }
    } else {
      while (buf.size() < content_length) {
        if (!read_more()) goto done;
      }
      req.body.assign(buf, 0, content_length);
      buf.erase(0, content_length);
    }
    req.received = std::chrono::steady_clock::now();
    req.received_wall = std::chrono::system_clock::now();

    size_t index = 0;
    Response r = Handle(std::move(req), &index);
    if (r.delay_ms > 0) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(r.delay_ms), [&] { return stopping_; });
      if (stopping_) goto done;
    }

    switch (r.fault) {
      case Response::Fault::kNone: {
        std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) + "\r\n";
        for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
        if (r.status != 204 && r.status != 304 && !(r.status >= 100 && r.status < 200)) {
          bool typed = std::any_of(r.headers.begin(), r.headers.end(),
                                   [](const auto& h) { return IEquals(h.first, "Content-Type"); });
          if (!r.body.empty() && !typed) out += "Content-Type: text/plain; charset=utf-8\r\n";
          out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
          if (!keep_alive) out += "Connection: close\r\n";
          out += "\r\n";
          out += r.body;
        } else {
          if (!keep_alive) out += "Connection: close\r\n";
          out += "\r\n";
        }
        {
          // Stamped before the answer leaves: the client cannot send its
          // next request before this moment.
          std::lock_guard<std::mutex> lock(mu_);
          if (index < requests_.size()) requests_[index].answered = std::chrono::steady_clock::now();
        }
        SendAll(fd, out);
        if (!keep_alive) goto done;
        break;
      }
      case Response::Fault::kDrop:
        goto done;
      case Response::Fault::kReset:
        linger_reset = true;
        goto done;
      case Response::Fault::kCloseMidStatusLine:
        SendAll(fd, "HTTP/1.1 20");
        goto done;
      case Response::Fault::kCloseMidBody:
        SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\npartial body");
        goto done;
      case Response::Fault::kMalformedStatusLine:
        SendAll(fd, "HTTP/1.1 two hundred OK\r\nContent-Length: 0\r\n\r\n");
        goto done;
      case Response::Fault::kHang:
        // Say nothing; whatever else the client sends is read and ignored.
        for (;;) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (stopping_) goto done;
          }
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, 50) <= 0) continue;
          ssize_t n = ::recv(fd, tmp.data(), tmp.size(), 0);
          if (n == 0 || (n < 0 && errno != EINTR)) goto done;  // the client gave up
        }
    }
  }

done: {
  std::lock_guard<std::mutex> lock(mu_);
  conn_fds_.erase(std::remove(conn_fds_.begin(), conn_fds_.end(), fd), conn_fds_.end());
  if (linger_reset) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(fd);
}
}

}  // namespace testrx
