// Reading back: a PromQL query of the receiver's HTTP API
// (/api/v1/query, /api/v1/query_range) sent with a sink's connection
// settings, and its JSON answer turned into rows — what the table-valued
// functions prometheus_query() and prometheus_query_range() return
// (query_vtab.cc). Knows nothing of SQLite; the HTTP goes through the
// sink's Transport (Transport::Query), the JSON through nlohmann/json.
//
// The API gives timestamps as float seconds and values as strings ("NaN",
// "+Inf"); a native histogram as its count, sum and buckets with their
// bounds only (no schema, integer/float kind, or reset hint), from which
// HistogramFromBuckets infers the sink's histogram JSON.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.h"
#include "options.h"
#include "status.h"

namespace psink {

// One row of an answer: one sample of one series (a vector, a matrix), or
// the scalar.
struct QueryRow {
  uint32_t series = 0;  // index into QueryAnswer::labels
  int64_t timestamp_ms = 0;
  double value = 0;       // a float sample (not a histogram)
  std::string histogram;  // a native histogram's JSON (HistogramToJson), else empty
};

// The rows of an answer. A series' labels are kept once, however many
// samples it has.
struct QueryAnswer {
  std::vector<std::string> labels;  // canonical JSON: names sorted, __name__ included; "{}" for a scalar
  std::vector<QueryRow> rows;
};

struct QueryRequest {
  std::string promql;
  bool range = false;
  int64_t time_ms = 0;  // instant query
  int64_t start_ms = 0, end_ms = 0, step_ms = 0;  // range query
};

// The endpoint a sink's query goes to: query_url (instant) or query_url
// with "_range" appended (range); without query_url, `url` with a trailing
// /api/v1/write or /api/v1/remote_write replaced by /api/v1/query or
// /api/v1/query_range (a query string of url is kept). A url that ends
// otherwise fails with a message asking for query_url.
Status QueryEndpoint(const SinkOptions& opts, bool range, std::string* out);

// The form body of the request: query=…&time=… or query=…&start=…&end=…&step=…
// (times in seconds with three decimals: the API's float seconds).
std::string QueryForm(const QueryRequest& req);

// Reads an answer of the query API: on HTTP 2xx with "status":"success",
// appends its rows to *out (a matrix: one row per sample, series in the
// answer's order, each series' samples by time); otherwise fails with
// "HTTP <status>: <errorType>: <error>" (or the start of a body that is not
// the API's JSON). A "string" result fails: it is not rows.
Status ParseQueryAnswer(long http_status, std::string_view body, QueryAnswer* out);

// One bucket of the API's native histogram: [boundary_rule, "lower",
// "upper", "count"] (rule 0: (lower, upper], 1: [lower, upper), 3: the zero
// bucket [lower, upper]).
struct ApiBucket {
  int rule = 0;
  double lower = 0, upper = 0, count = 0;
};

// The sink's histogram from the API's count, sum and buckets. The schema is
// the one (of 8 down to -4) in which every bucket's bounds are bucket
// bounds (only one is, as soon as a bucket's lower bound is not cut off by
// the zero threshold; else the largest that fits); the zero threshold is
// the zero bucket's upper bound, or the lower bound a bucket was cut off
// at, or 2^-128. The histogram is an integer one when every count is an
// integer below 2^53, else a float one. Not recoverable: the reset hint
// (left out), an integer/float kind other than the counts show, buckets
// with a count of 0 (the API leaves them out), the schema of a histogram
// without buckets (0), a custom zero threshold with no zero bucket and no
// bucket cut off by it.
Status HistogramFromBuckets(double count, double sum, const std::vector<ApiBucket>& buckets, Histogram* out);

// Runs `req` against the sink of `opts` (name `sink` for messages): the
// endpoint (QueryEndpoint), Transport::Query with query_max_bytes, then
// ParseQueryAnswer. Messages start with "sink '<name>': query ...". When
// `cancel` (may be null) is set, the query gives up within about 50 ms and
// fails saying "interrupted".
Status RunQuery(const SinkOptions& opts, std::string_view sink, const QueryRequest& req, QueryAnswer* out,
                const std::atomic<bool>* cancel = nullptr);

}  // namespace psink
