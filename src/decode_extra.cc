#include "decode_extra.h"

#include "exemplar.h"
#include "histogram.h"
#include "text.h"

namespace psink {

namespace {

const char* TypeName(Cell::Type t) {
  switch (t) {
    case Cell::Type::kInteger: return "INTEGER";
    case Cell::Type::kReal: return "REAL";
    case Cell::Type::kBlob: return "BLOB";
    case Cell::Type::kText: return "TEXT";
    case Cell::Type::kNull: return "NULL";
  }
  return "?";
}

Status NotText(const Cell& c, const std::string& column, const char* what) {
  std::string msg = "column '" + column + "': expected TEXT holding " + what + " as JSON, found " + TypeName(c.type);
  return c.type == Cell::Type::kBlob ? Status::Mismatch(msg) : Status::Invalid(msg);
}

}  // namespace

Status DecodeValueOrHistogram(const Cell& value, const Cell& histogram, const SinkOptions& opts, double* value_out,
                              RowExtra* extra) {
  extra->histogram.reset();
  if (histogram.type == Cell::Type::kNull) {
    if (value.type == Cell::Type::kNull) {
      return Status::Invalid("column '" + opts.key_value + "': the value is NULL (expected a number, or a histogram in column '" +
                             opts.key_histogram + "')");
    }
    return DecodeValue(value, opts.key_value, value_out);
  }
  if (histogram.type != Cell::Type::kText) return NotText(histogram, opts.key_histogram, "a native histogram");
  if (value.type != Cell::Type::kNull) {
    return Status::Invalid("column '" + opts.key_histogram + "': a row has a value or a histogram, not both: column '" +
                           opts.key_value + "' must be NULL when column '" + opts.key_histogram + "' is set");
  }
  Histogram h;
  PSINK_RETURN_IF_ERROR(ParseHistogram(histogram.text, opts.key_histogram, &h));
  if (opts.metadata && opts.metadata->type == MetricType::kGaugeHistogram) {
    if (h.reset == ResetHint::kYes || h.reset == ResetHint::kNo) {
      return Status::Invalid("column '" + opts.key_histogram + "': reset \"" + std::string(ResetHintName(h.reset)) +
                             "\" contradicts metric_type='gaugehistogram' (its histograms are gauges) in " +
                             Shorten(histogram.text));
    }
    h.reset = ResetHint::kGauge;
  }
  *value_out = 0;
  extra->histogram = std::move(h);
  return Status::Ok();
}

Status DecodeExemplarCell(const Cell& exemplar, const SinkOptions& opts, int64_t now_ms, double value, int64_t ts,
                          RowExtra* extra) {
  extra->exemplar.reset();
  if (exemplar.type == Cell::Type::kNull) return Status::Ok();
  if (exemplar.type != Cell::Type::kText) return NotText(exemplar, opts.key_exemplar, "an exemplar");
  Exemplar e;
  PSINK_RETURN_IF_ERROR(ParseExemplar(exemplar.text, opts.key_exemplar, extra->histogram ? nullptr : &value, ts,
                                      opts.timestamp_unit, now_ms, &e, opts.names));
  extra->exemplar = std::move(e);
  return Status::Ok();
}

}  // namespace psink
