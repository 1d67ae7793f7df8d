// Shared state of the SQLite glue (vtab.cc, stats_vtab.cc, histogram_func.cc): the sink tables
// open on one connection. Only glue files include this header.
#pragma once

#include <sqlite3ext.h>

#include <memory>
#include <string>
#include <vector>

#include "sink.h"
#include "spool.h"
#include "sqlite_handles.h"

namespace psink {

struct SinkTable;

// Per-connection state, owned by the module registration (freed by SQLite
// when the connection closes): every sink table open on the connection.
struct Connection {
  std::vector<SinkTable*> tables;
};

struct SinkTable {
  sqlite3_vtab base;  // must be first: SQLite hands back &base
  sqlite3* db;
  Connection* conn;
  std::unique_ptr<Sink> sink;
  std::unique_ptr<Spool> spool;  // spool=on only
  std::vector<Cell> cells;  // scratch for xUpdate, one per column
  bool utf8 = false;        // the database stores text as UTF-8
};

// The sinks a function call names (argv[0], when argc is 1): every sink of
// the connection without a name, else the one of that name (connecting it
// when no statement touched it yet). Empty, with *err set, when none.
std::vector<SinkTable*> FindSinks(sqlite3* db, Connection* conn, int argc, sqlite3_value** argv, std::string* err);

// Registers the table-valued function prometheus_sink_rejected on `db`
// (rejected_vtab.cc).
int RegisterRejectedTable(sqlite3* db, Connection* conn);

// Registers the eponymous table prometheus_sink_stats on `db`.
int RegisterStatsTable(sqlite3* db, Connection* conn);

// The sink called `name` on the connection (connecting a sink of the schema
// that no statement has touched yet), or null with *err saying why (vtab.cc).
SinkTable* FindSink(sqlite3* db, Connection* conn, sqlite3_value* name, std::string* err);

// Whether sqlite3_interrupt() stopped the running statement of `db`
// (always false on a host older than SQLite 3.41; vtab.cc).
bool StatementInterrupted(sqlite3* db);

// Registers the eponymous table-valued functions prometheus_query and
// prometheus_query_range on `db` (query_vtab.cc).
int RegisterQueryTables(sqlite3* db, Connection* conn);

// Registers the aggregate window function prometheus_histogram on `db`
// (histogram_func.cc).
int RegisterHistogramFunction(sqlite3* db);

}  // namespace psink
