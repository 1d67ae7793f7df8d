// The glue's column layout as SQLite is told it: the statement that
// xCreate and xConnect pass to sqlite3_declare_vtab. Plain text, without
// SQLite, so that the unit tests and the options fuzz target read it too;
// vtab.cc maps the same positions (Sink::column_count()) in xUpdate and
// xColumn.
#pragma once

#include <string>

#include "options.h"

namespace psink {

// The column list for sqlite3_declare_vtab: label columns, then the label
// JSON, value and timestamp columns (and the start timestamp), in that
// order, then the HIDDEN histogram and exemplar columns.
std::string DeclareTableSql(const SinkOptions& opts);

}  // namespace psink
