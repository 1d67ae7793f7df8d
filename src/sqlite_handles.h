// Owners of SQLite's C handles, for the code that includes sqlite3ext.h (the
// glue and the spool): a prepared statement, a connection the extension
// opened itself, a string made by sqlite3_mprintf. Each is a std::unique_ptr
// with a deleter: move-only, and the deleter never throws.
//
//   StmtPtr stmt;
//   if (Prepare(db, "PRAGMA encoding", &stmt) == SQLITE_OK) sqlite3_step(stmt.get());
//   SqlText q = Mprintf("SELECT 0 FROM \"%w\"", name);   // an identifier, quoted by SQLite
#pragma once

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <cstdarg>
#include <memory>
#include <new>

namespace psink {

struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
// A prepared statement, finalized when it goes.
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
// A connection opened by the extension (not the user's), closed when it goes.
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct SqliteFree {
  void operator()(char* p) const noexcept { sqlite3_free(p); }
};
// A string allocated by SQLite (sqlite3_mprintf), freed when it goes.
using SqlText = std::unique_ptr<char, SqliteFree>;

// sqlite3_prepare_v3 into `out` (null when it fails); returns SQLite's code.
inline int Prepare(sqlite3* db, const char* sql, StmtPtr* out, unsigned flags = 0) {
  sqlite3_stmt* s = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql, -1, flags, &s, nullptr);
  out->reset(s);
  return rc;
}

// sqlite3_mprintf, owned: SQLite's formats, among them %w (an identifier
// between double quotes: doubles every '"') and %q / %Q (a string literal).
// Throws std::bad_alloc when SQLite has no memory.
inline SqlText Mprintf(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  char* p = sqlite3_vmprintf(format, ap);
  va_end(ap);
  if (p == nullptr) throw std::bad_alloc();
  return SqlText(p);
}

}  // namespace psink
