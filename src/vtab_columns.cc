#include "vtab_columns.h"

#include "text.h"

namespace psink {

std::string DeclareTableSql(const SinkOptions& opts) {
  // Label columns may have any UTF-8 name (name_validation_scheme=utf8:
  // "service.name"): quoting keeps the statement whole for any SinkOptions.
  std::string sql = "CREATE TABLE x(";
  for (const std::string& c : opts.label_columns) sql += QuoteIdentifier(c) + " TEXT, ";
  sql += QuoteIdentifier(opts.key_label) + " TEXT, " + QuoteIdentifier(opts.key_value) + ", " +
         QuoteIdentifier(opts.key_timestamp);
  if (!opts.key_start_timestamp.empty()) sql += ", " + QuoteIdentifier(opts.key_start_timestamp);
  sql += ", " + QuoteIdentifier(opts.key_histogram) + " HIDDEN, " + QuoteIdentifier(opts.key_exemplar) + " HIDDEN)";
  return sql;
}

}  // namespace psink
