// Shared helpers of the integration tests (integration_test.cc,
// hardening_test.cc): a database with the extension loaded (Db), the outcome
// of a statement (Outcome), and ways to print and compare what the test
// receiver got. Include after <doctest/doctest.h>; EXT_PATH names the built
// extension (set by tests/integration/meson.build).
#pragma once

#include <doctest/doctest.h>

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "receiver.h"

#ifndef EXT_PATH
#error "EXT_PATH must name the built prometheus_sink extension"
#endif

namespace harness {

using testrx::Receiver;
using testrx::Response;


struct Outcome {
  int rc = SQLITE_OK;        // primary result code
  int extended = SQLITE_OK;  // extended result code
  std::string msg;           // error message, empty on success
  bool ok() const { return rc == SQLITE_OK; }
};

// A database (in memory unless a file is named) with the extension loaded.
class Db {
 public:
  explicit Db(const std::string& path = ":memory:") {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
    sqlite3_extended_result_codes(db_, 1);
    REQUIRE(sqlite3_enable_load_extension(db_, 1) == SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_load_extension(db_, EXT_PATH, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    REQUIRE_MESSAGE(rc == SQLITE_OK, "loading " EXT_PATH ": " << msg);
  }
  ~Db() { sqlite3_close_v2(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }

  // Runs one or more statements; stops at the first failure.
  Outcome Exec(const std::string& sql) {
    char* err = nullptr;
    Outcome o;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    o.extended = rc == SQLITE_OK ? SQLITE_OK : sqlite3_extended_errcode(db_);
    o.rc = rc & 0xff;
    if (err) o.msg = err;
    sqlite3_free(err);
    return o;
  }

  // Runs SQL that must succeed.
  void Ok(const std::string& sql) {
    Outcome o = Exec(sql);
    REQUIRE_MESSAGE(o.ok(), sql << "\n  failed: " << o.msg);
  }

  // The first column of the first row of `sql`, as an integer.
  int64_t Int(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE_MESSAGE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK, sqlite3_errmsg(db_));
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    REQUIRE_MESSAGE(rc == SQLITE_ROW, sql << ": " << sqlite3_errmsg(db_));
    return v;
  }

  // The first column of the first row of `sql`, as a double.
  double Double(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE_MESSAGE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK, sqlite3_errmsg(db_));
    int rc = sqlite3_step(st);
    double v = rc == SQLITE_ROW ? sqlite3_column_double(st, 0) : 0;
    sqlite3_finalize(st);
    REQUIRE_MESSAGE(rc == SQLITE_ROW, sql << ": " << sqlite3_errmsg(db_));
    return v;
  }

  // The first column of the first row of `sql`, as text ("NULL" for NULL).
  std::string Text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE_MESSAGE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK, sqlite3_errmsg(db_));
    int rc = sqlite3_step(st);
    std::string v;
    if (rc == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      v = t ? reinterpret_cast<const char*>(t) : "NULL";
    }
    sqlite3_finalize(st);
    REQUIRE_MESSAGE(rc == SQLITE_ROW, sql << ": " << sqlite3_errmsg(db_));
    return v;
  }

  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

  // CREATE VIRTUAL TABLE temp.<name> USING prometheus_sink(url='<url>', <options>).
  void Sink(const std::string& name, const std::string& url, const std::string& options = "") {
    Ok("CREATE VIRTUAL TABLE temp." + name + " USING prometheus_sink(url='" + url + "'" +
       (options.empty() ? "" : ", " + options) + ")");
  }

 private:
  sqlite3* db_ = nullptr;
};

// One expected sample line, as testrx::Sample::ToString prints it.
inline std::string S(const std::string& labels, int64_t ts, double v) {
  return testrx::Sample{labels, ts, testrx::Bits(v)}.ToString() + "\n";
}

inline std::string Joined(const std::vector<testrx::Sample>& samples) {
  std::string out;
  for (const auto& s : samples) out += s.ToString() + "\n";
  return out;
}

inline std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Samples grouped by series (stable: each series keeps its order), so that
// tests do not depend on the order of series within a request.
inline std::vector<testrx::Sample> BySeries(std::vector<testrx::Sample> samples) {
  std::stable_sort(samples.begin(), samples.end(),
                   [](const testrx::Sample& a, const testrx::Sample& b) { return a.labels < b.labels; });
  return samples;
}

// Samples per request, e.g. "2,2,1".
inline std::string RequestSizes(const Receiver& rx) {
  std::string out;
  for (const auto& r : rx.Requests()) {
    if (!out.empty()) out += ",";
    out += std::to_string(r.SampleCount());
  }
  return out;
}

inline bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
inline bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

inline void CheckNoViolations(const Receiver& rx) { CHECK(Joined(rx.Violations()) == ""); }

// Every series reached the receiver in timestamp order across requests too.
inline void CheckSeriesOrder(const Receiver& rx) {
  std::map<std::string, int64_t> last;
  std::string out_of_order;
  for (const auto& s : rx.Samples()) {
    auto [it, fresh] = last.emplace(s.labels, s.ts);
    if (!fresh && s.ts < it->second) out_of_order += s.ToString() + "\n";
    it->second = s.ts;
  }
  CHECK(out_of_order == "");
}

// BEGIN; INSERT INTO t; <insert>; COMMIT — the outcome of the first failing
// statement or of the COMMIT. The ordinary table t must exist.
inline Outcome CommitWith(Db& db, const std::string& insert) {
  db.Ok("BEGIN");
  db.Ok("INSERT INTO t VALUES (1)");
  Outcome o = db.Exec(insert);
  if (!o.ok()) {
    db.Exec("ROLLBACK");
    return o;
  }
  return db.Exec("COMMIT");
}

// A failed COMMIT rolled the whole transaction back (the row of t too).
inline void CheckRolledBack(Db& db) {
  CHECK_FALSE(db.InTransaction());
  CHECK(db.Int("SELECT count(*) FROM t") == 0);
}

// Fast retries for every test that expects some.
inline const std::string kFastRetry = "retry_backoff_multiplier_ms=10, retry_backoff_max_ms=2000";

}  // namespace harness
