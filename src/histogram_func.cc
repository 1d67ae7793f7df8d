// prometheus_histogram(x [, schema]): the SQL aggregate and aggregate window
// function that buckets observations into a native histogram exactly as
// Prometheus's Go client does (histogram.h, HistogramAccumulator), and
// returns its JSON, ready for a sink's `histogram` column.
//
//   -- one distribution per route and minute (a gauge histogram):
//   INSERT INTO latency(route, histogram, timestamp)
//     SELECT route, prometheus_histogram(seconds), max(ts) FROM requests
//     GROUP BY route, ts / 60000 ORDER BY 3;
//   -- running totals (a counter histogram):
//   SELECT prometheus_histogram(seconds) OVER (PARTITION BY route ORDER BY ts) FROM requests;
//
// x: INTEGER, REAL, or TEXT holding a number, NaN, Inf, +Inf, -Inf (SQLite
// stores a REAL NaN as NULL, so NaN must be text); NULL is skipped.
// schema: -4 to 8 (default 3), the same in every row of a group. The
// result is NULL when the group (or window frame) has no observation.
// Glue: the aggregate's SQLite callbacks; the bucketing is histogram.cc's.
#include "glue.h"
SQLITE_EXTENSION_INIT3

#include <new>
#include <string>

#include "decode.h"
#include "histogram.h"
#include "text.h"

namespace psink {
namespace {

constexpr int kDefaultSchema = 3;

void Error(sqlite3_context* ctx, const std::string& msg) {
  std::string full = "prometheus_sink: prometheus_histogram(): " + msg;
  sqlite3_result_error(ctx, full.c_str(), -1);
}

// The accumulator of the group, created by the first row with its schema;
// nullptr (and an error set) when the arguments are wrong.
HistogramAccumulator* State(sqlite3_context* ctx, int argc, sqlite3_value** argv, bool create) {
  auto** slot = static_cast<HistogramAccumulator**>(
      sqlite3_aggregate_context(ctx, create ? static_cast<int>(sizeof(HistogramAccumulator*)) : 0));
  if (slot == nullptr) {
    if (create) sqlite3_result_error_nomem(ctx);
    return nullptr;
  }
  int schema = kDefaultSchema;
  if (argc > 1) {
    sqlite3_value* s = argv[1];
    const int type = sqlite3_value_numeric_type(s);
    const double d = sqlite3_value_double(s);
    if ((type != SQLITE_INTEGER && !(type == SQLITE_FLOAT && d == static_cast<int>(d))) || d < kMinSchema ||
        d > kMaxSchema) {
      const unsigned char* t = sqlite3_value_text(s);
      Error(ctx, "the schema must be an integer from -4 to 8, found " +
                     (t ? Shorten(reinterpret_cast<const char*>(t)) : std::string("NULL")));
      return nullptr;
    }
    schema = static_cast<int>(d);
  }
  if (*slot == nullptr) {
    if (!create) return nullptr;
    *slot = new (std::nothrow) HistogramAccumulator(schema);
    if (*slot == nullptr) sqlite3_result_error_nomem(ctx);
  } else if ((*slot)->schema() != schema) {
    Error(ctx, "the schema must be the same in every row of a group (" + std::to_string((*slot)->schema()) + " and " +
                   std::to_string(schema) + ")");
    return nullptr;
  }
  return *slot;
}

// Reads the observation; false when it is NULL (skipped) or refused (an
// error is set then, and *refused is true).
bool Observation(sqlite3_context* ctx, sqlite3_value* v, double* out, bool* refused) {
  *refused = false;
  switch (sqlite3_value_type(v)) {
    case SQLITE_NULL: return false;
    case SQLITE_INTEGER: *out = static_cast<double>(sqlite3_value_int64(v)); return true;
    case SQLITE_FLOAT: *out = sqlite3_value_double(v); return true;
    case SQLITE_TEXT: {
      const unsigned char* p = sqlite3_value_text(v);
      std::string_view t(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_value_bytes(v)));
      Cell c;
      c.type = Cell::Type::kText;
      c.text = t;
      if (!EqualsIgnoreCase(Trim(t), "stale") && DecodeValueAny(c, "x", out).ok()) return true;
      Error(ctx, "expected a number, NaN, Inf or -Inf, found " + Shorten(t));
      *refused = true;
      return false;
    }
    default:
      Error(ctx, "expected a number, found a BLOB");
      *refused = true;
      return false;
  }
}

void Step(sqlite3_context* ctx, int argc, sqlite3_value** argv, bool inverse) noexcept {
  try {
    HistogramAccumulator* h = State(ctx, argc, argv, true);
    if (h == nullptr) return;
    double x;
    bool refused;
    if (!Observation(ctx, argv[0], &x, &refused)) return;
    if (inverse) h->Remove(x);
    else h->Add(x);
  } catch (const std::bad_alloc&) {
    sqlite3_result_error_nomem(ctx);
  } catch (const std::exception& e) {
    Error(ctx, std::string("internal error: ") + e.what());
  }
}

void StepFunc(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept { Step(ctx, argc, argv, false); }
void InverseFunc(sqlite3_context* ctx, int argc, sqlite3_value** argv) noexcept { Step(ctx, argc, argv, true); }

void Result(sqlite3_context* ctx, bool final) noexcept {
  auto** slot = static_cast<HistogramAccumulator**>(sqlite3_aggregate_context(ctx, 0));
  HistogramAccumulator* h = slot ? *slot : nullptr;
  try {
    if (h == nullptr || h->count() == 0) {
      sqlite3_result_null(ctx);
    } else {
      Histogram out;
      h->Get(&out);
      // The reset hint is the sink's business (metric_type), not the
      // aggregate's: left out.
      const std::string json = HistogramToJson(out, /*with_reset=*/false);
      sqlite3_result_text(ctx, json.data(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
    }
  } catch (const std::bad_alloc&) {
    sqlite3_result_error_nomem(ctx);
  }
  if (final && h != nullptr) {
    delete h;
    *slot = nullptr;
  }
}

void ValueFunc(sqlite3_context* ctx) noexcept { Result(ctx, false); }
void FinalFunc(sqlite3_context* ctx) noexcept { Result(ctx, true); }

}  // namespace

int RegisterHistogramFunction(sqlite3* db) {
  int rc = SQLITE_OK;
  for (int nargs : {1, 2}) {
    if (rc == SQLITE_OK) {
      rc = sqlite3_create_window_function(db, "prometheus_histogram", nargs,
                                          SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nullptr, StepFunc,
                                          FinalFunc, ValueFunc, InverseFunc, nullptr);
    }
  }
  return rc;
}

}  // namespace psink
