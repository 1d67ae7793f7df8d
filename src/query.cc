#include "query.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <nlohmann/json.hpp>

#include "labels.h"
#include "oauth2.h"
#include "text.h"
#include "transport.h"

namespace psink {

namespace {

using nlohmann::json;

bool EndsWith(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// "1700000000.123": milliseconds as the API's float seconds, exactly.
std::string Seconds(int64_t ms) {
  int64_t sec = ms / 1000, rem = ms % 1000;
  if (rem < 0) {
    rem += 1000;
    sec -= 1;
  }
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(rem));
  return std::to_string(sec) + frac;
}

// A sample value as the API writes it: a decimal number, "NaN", "+Inf", "-Inf".
bool ParseApiNumber(std::string_view s, double* out) {
  std::string_view t = s;
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);  // from_chars takes no '+'
  if (t.empty()) return false;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), *out);
  return ec == std::errc() && end == t.data() + t.size();
}

Status Bad(std::string what) { return Status::Failed("unexpected answer from the query API: " + std::move(what)); }

// Float seconds with (at most) millisecond digits: rounding undoes the
// binary fraction. False for a time outside what int64 milliseconds hold.
bool TimestampMs(const json& t, int64_t* out) {
  if (!t.is_number()) return false;
  const double ms = std::round(t.get<double>() * 1000.0);
  if (!(ms >= -9.2e18 && ms <= 9.2e18)) return false;
  *out = static_cast<int64_t>(ms);
  return true;
}

Status ReadValue(const json& j, double* out) {
  if (!j.is_string() || !ParseApiNumber(j.get_ref<const std::string&>(), out)) {
    return Bad("a sample value is not a number: " + Shorten(j.dump()));
  }
  return Status::Ok();
}

// [ts, "value"]
Status ReadSample(const json& pair, uint32_t series, QueryAnswer* out) {
  QueryRow row;
  if (!pair.is_array() || pair.size() != 2 || !TimestampMs(pair[0], &row.timestamp_ms)) {
    return Bad("a sample is " + Shorten(pair.dump()));
  }
  row.series = series;
  PSINK_RETURN_IF_ERROR(ReadValue(pair[1], &row.value));
  out->rows.push_back(std::move(row));
  return Status::Ok();
}

// [ts, {"count": "…", "sum": "…", "buckets": [[rule, "lo", "hi", "n"], …]}]
Status ReadHistogram(const json& pair, uint32_t series, QueryAnswer* out) {
  int64_t ts = 0;
  if (!pair.is_array() || pair.size() != 2 || !TimestampMs(pair[0], &ts) || !pair[1].is_object()) {
    return Bad("a histogram sample is " + Shorten(pair.dump()));
  }
  const json& h = pair[1];
  double count = 0, sum = 0;
  if (!h.contains("count") || !h.contains("sum")) return Bad("a histogram without count or sum");
  PSINK_RETURN_IF_ERROR(ReadValue(h["count"], &count));
  PSINK_RETURN_IF_ERROR(ReadValue(h["sum"], &sum));
  std::vector<ApiBucket> buckets;
  if (auto it = h.find("buckets"); it != h.end() && !it->is_null()) {
    if (!it->is_array()) return Bad("histogram buckets are " + Shorten(it->dump()));
    for (const json& b : *it) {
      if (!b.is_array() || b.size() != 4 || !b[0].is_number_integer()) return Bad("a bucket is " + Shorten(b.dump()));
      ApiBucket ab;
      ab.rule = b[0].get<int>();
      PSINK_RETURN_IF_ERROR(ReadValue(b[1], &ab.lower));
      PSINK_RETURN_IF_ERROR(ReadValue(b[2], &ab.upper));
      PSINK_RETURN_IF_ERROR(ReadValue(b[3], &ab.count));
      buckets.push_back(ab);
    }
  }
  Histogram hist;
  Status st = HistogramFromBuckets(count, sum, buckets, &hist);
  if (!st.ok()) return Bad(st.message() + ": " + Shorten(h.dump(), 200));
  QueryRow row;
  row.series = series;
  row.timestamp_ms = ts;
  row.value = std::numeric_limits<double>::quiet_NaN();
  row.histogram = HistogramToJson(hist, /*with_reset=*/false);
  // A row's histogram goes back into a sink as it is: one the sink would
  // refuse (a count smaller than its buckets, which no receiver stores) is
  // not an answer of the query API.
  Histogram back;
  st = ParseHistogram(row.histogram, "histogram", &back);
  if (!st.ok()) return Bad("an inconsistent histogram (" + st.message() + ")");
  out->rows.push_back(std::move(row));
  return Status::Ok();
}

// One element of data.result of a vector or a matrix.
Status ReadSeries(const json& s, QueryAnswer* out) {
  if (!s.is_object()) return Bad("a result is " + Shorten(s.dump()));
  LabelSet labels;
  if (auto it = s.find("metric"); it != s.end()) {
    if (!it->is_object()) return Bad("a series' metric is " + Shorten(it->dump()));
    for (const auto& [name, value] : it->items()) {
      if (!value.is_string()) return Bad("a label value is " + Shorten(value.dump()));
      labels.emplace_back(name, value.get<std::string>());
    }
  }
  std::sort(labels.begin(), labels.end());
  const auto series = static_cast<uint32_t>(out->labels.size());
  out->labels.push_back(LabelsToJson(labels));
  const size_t first = out->rows.size();
  if (auto it = s.find("value"); it != s.end()) PSINK_RETURN_IF_ERROR(ReadSample(*it, series, out));
  if (auto it = s.find("histogram"); it != s.end()) PSINK_RETURN_IF_ERROR(ReadHistogram(*it, series, out));
  for (const bool histograms : {false, true}) {
    const char* key = histograms ? "histograms" : "values";
    auto it = s.find(key);
    if (it == s.end() || it->is_null()) continue;
    if (!it->is_array()) return Bad(std::string(key) + " is " + Shorten(it->dump()));
    for (const json& pair : *it) {
      PSINK_RETURN_IF_ERROR(histograms ? ReadHistogram(pair, series, out) : ReadSample(pair, series, out));
    }
  }
  // A series with both float and histogram samples: by time, as stored.
  std::stable_sort(out->rows.begin() + static_cast<std::ptrdiff_t>(first), out->rows.end(),
                   [](const QueryRow& a, const QueryRow& b) { return a.timestamp_ms < b.timestamp_ms; });
  return Status::Ok();
}

// The bucket holding (lower, upper] in `schema` — or (bound, upper] with
// the bound under `lower` when `may_cut` (the bucket cut off at the zero
// threshold): its index, or nullopt.
std::optional<int32_t> BucketOf(double lower, double upper, int schema, bool may_cut) {
  if (!(upper > 0) || !std::isfinite(upper)) return std::nullopt;
  const int32_t i = BucketIndex(upper, schema);
  if (BucketUpperBound(i, schema) != upper) return std::nullopt;
  const double below = BucketUpperBound(i - 1, schema);
  if (below == lower || (may_cut && below < lower)) return i;
  return std::nullopt;
}

bool IsIntegral(double c) { return c >= 0 && c < 9007199254740992.0 && std::floor(c) == c; }

}  // namespace

Status HistogramFromBuckets(double count, double sum, const std::vector<ApiBucket>& buckets, Histogram* out) {
  *out = Histogram{};
  out->sum = sum;
  out->reset = ResetHint::kUnknown;
  // The sides as (lower, upper] of absolute values, and the zero bucket.
  struct Side {
    double lower, upper, count;
    bool negative;
  };
  auto countable = [](double c) { return c >= 0 && std::isfinite(c); };
  if (!countable(count)) return Status::Failed("a count that is negative or not finite");
  std::vector<Side> sides;
  bool have_zero = false;
  double zero_count = 0;
  for (const ApiBucket& b : buckets) {
    if (!countable(b.count)) return Status::Failed("a bucket count that is negative or not finite");
    if (b.rule == 3 && b.lower == -b.upper) {
      if (have_zero) return Status::Failed("two zero buckets");
      have_zero = true;
      out->zero_threshold = b.upper;
      zero_count = b.count;
    } else if (b.lower >= 0) {
      sides.push_back({b.lower, b.upper, b.count, false});
    } else if (b.upper <= 0) {
      sides.push_back({-b.upper, -b.lower, b.count, true});
    } else {
      return Status::Failed("a bucket across zero that is not the zero bucket");
    }
  }
  // The lowest bucket of each side may be cut off at the zero threshold.
  double lowest[2] = {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
  for (const Side& s : sides) lowest[s.negative] = std::min(lowest[s.negative], s.lower);
  std::optional<int> schema;
  double cut_at = -1;
  for (int sc = kMaxSchema; sc >= kMinSchema && !schema; --sc) {
    bool fits = true;
    double cut = -1;
    for (const Side& s : sides) {
      const bool may_cut = s.lower == lowest[s.negative] && (!have_zero || s.lower == out->zero_threshold);
      auto i = BucketOf(s.lower, s.upper, sc, may_cut);
      if (!i) {
        fits = false;
        break;
      }
      if (BucketUpperBound(*i - 1, sc) != s.lower) {
        if (cut >= 0 && cut != s.lower) {
          fits = false;
          break;
        }
        cut = s.lower;
      }
    }
    if (fits) {
      schema = sc;
      cut_at = cut;
    }
  }
  if (!schema) return Status::Failed("the bucket bounds fit no schema from -4 to 8");
  out->schema = sides.empty() ? 0 : *schema;
  if (!have_zero && cut_at >= 0) out->zero_threshold = cut_at;
  bool integral = IsIntegral(count) && IsIntegral(zero_count);
  for (const Side& s : sides) integral = integral && IsIntegral(s.count);
  out->is_float = !integral;
  if (integral) {
    out->count = static_cast<uint64_t>(count);
    out->zero_count = static_cast<uint64_t>(zero_count);
  } else {
    out->fcount = count;
    out->fzero_count = zero_count;
  }
  for (const Side& s : sides) {
    const int32_t index = *BucketOf(s.lower, s.upper, *schema, true);
    Histogram::Bucket b{index, integral ? static_cast<uint64_t>(s.count) : 0, integral ? 0 : s.count};
    (s.negative ? out->negative : out->positive).push_back(b);
  }
  auto by_index = [](const Histogram::Bucket& a, const Histogram::Bucket& b) { return a.index < b.index; };
  std::sort(out->positive.begin(), out->positive.end(), by_index);
  std::sort(out->negative.begin(), out->negative.end(), by_index);
  return Status::Ok();
}

Status QueryEndpoint(const SinkOptions& opts, bool range, std::string* out) {
  const std::string_view suffix = range ? "_range" : "";
  if (!opts.query_url.empty()) {
    *out = opts.query_url + std::string(suffix);
    return Status::Ok();
  }
  std::string_view url = opts.url;
  std::string_view query;  // "?…", kept
  if (size_t q = url.find('?'); q != std::string_view::npos) {
    query = url.substr(q);
    url = url.substr(0, q);
  }
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  for (std::string_view tail : {"/api/v1/write", "/api/v1/remote_write"}) {
    if (EndsWith(url, tail)) {
      *out = std::string(url.substr(0, url.size() - tail.size())) + "/api/v1/query" + std::string(suffix) +
             std::string(query);
      return Status::Ok();
    }
  }
  return Status::Invalid("its url " + Shorten(MaskUrl(opts.url), 120) +
                         " does not end in /api/v1/write or /api/v1/remote_write, so the query endpoint cannot be "
                         "derived from it: give the sink the option query_url (e.g. 'http://host:9090/api/v1/query')");
}

std::string QueryForm(const QueryRequest& req) {
  std::string form = "query=" + FormEncode(req.promql);
  if (req.range) {
    form += "&start=" + Seconds(req.start_ms) + "&end=" + Seconds(req.end_ms) + "&step=" + Seconds(req.step_ms);
  } else {
    form += "&time=" + Seconds(req.time_ms);
  }
  return form;
}

Status ParseQueryAnswer(long http_status, std::string_view body, QueryAnswer* out) {
  const std::string http = "HTTP " + std::to_string(http_status);
  auto not_api = [&] {
    std::string msg = http;
    std::string_view b = Trim(body);
    if (!b.empty()) msg += ": " + Shorten(b, 200);
    return Status::Failed(msg + (http_status >= 200 && http_status <= 299 ? " (not an answer of the query API)" : ""));
  };
  // Each series of data.result becomes rows as soon as it is read, and is
  // dropped from the document then: the parse holds one series at a time.
  std::string k1, k2;  // the current keys at depths 1 and 2
  Status failed = Status::Ok();
  json doc;
  try {
    doc = json::parse(body.begin(), body.end(), [&](int depth, json::parse_event_t ev, json& parsed) {
      if (ev == json::parse_event_t::key) {
        if (depth == 1) k1 = parsed.get<std::string>();
        if (depth == 2) k2 = parsed.get<std::string>();
      } else if (ev == json::parse_event_t::object_end && depth == 3 && k1 == "data" && k2 == "result") {
        if (failed.ok()) failed = ReadSeries(parsed, out);
        return false;
      }
      return true;
    });
  } catch (const json::exception&) {
    return not_api();
  }
  // A member of another type than the API's is not its answer.
  auto text = [&](const json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (!doc.is_object() || !doc.contains("status")) return not_api();
  if (doc["status"] != "success") {
    std::string type = text(doc, "errorType"), error = text(doc, "error");
    if (type.empty() && error.empty()) return not_api();
    return Status::Failed(http + ": " + (type.empty() ? "" : type + ": ") + Shorten(error, 400));
  }
  if (http_status < 200 || http_status > 299) return not_api();
  PSINK_RETURN_IF_ERROR(failed);
  const json data = doc.contains("data") ? doc["data"] : json();
  const std::string type = data.is_object() ? text(data, "resultType") : "";
  if (type == "scalar") {
    if (!data.contains("result")) return Bad("a scalar without result");
    const json& r = data["result"];
    out->labels.push_back("{}");
    return ReadSample(r, static_cast<uint32_t>(out->labels.size() - 1), out);
  }
  if (type == "string") return Status::Failed("the query's result is a string, not samples");
  if (type != "vector" && type != "matrix") return Bad("resultType " + Shorten(type));
  return Status::Ok();
}

Status RunQuery(const SinkOptions& opts, std::string_view sink, const QueryRequest& req, QueryAnswer* out,
                const std::atomic<bool>* cancel) {
  const std::string who = "sink '" + std::string(sink) + "': ";
  SinkOptions qopts = opts;
  Status st = QueryEndpoint(opts, req.range, &qopts.url);
  if (!st.ok()) return Status::Failed(who + "cannot query: " + st.message());
  const std::string where = "query " + Shorten(req.promql, 120) + " at " + MaskUrl(qopts.url);
  long status = 0;
  std::string body;
  int attempts = 0;
  {
    Transport transport(qopts, cancel);
    st = transport.Query(QueryForm(req), opts.query_max_bytes, &status, &body, &attempts);
  }
  if (!st.ok()) return Status::Failed(who + "query " + Shorten(req.promql, 120) + " failed: " + st.message());
  st = ParseQueryAnswer(status, body, out);
  if (!st.ok()) {
    std::string msg = who + where + " failed: " + st.message();
    if (attempts > 1) msg += " (after " + std::to_string(attempts) + " attempts)";
    return Status::Failed(msg);
  }
  return Status::Ok();
}

}  // namespace psink
