// prometheus_query() and prometheus_query_range() against the test receiver
// (suite "query"): what the request carries (endpoint, form, credentials),
// how the API's answers become rows, and every failure's message: the
// API's error, a 5xx after the retries, a receiver that is down, an answer
// over query_max_bytes, a sink without a query endpoint, use from a view
// or a trigger. The real Prometheus and VictoriaMetrics read-backs are in
// tests/real/test_query.py.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

#include "harness.h"
#include "receiver.h"
#include "token_endpoint.h"

using namespace harness;

namespace {

// Every row of `sql`, columns joined by '|', rows by '\n' (NULL as "NULL",
// a column's type shown as "r:" for REAL and "t:" for TEXT).
std::string Rows(Db& db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &st, nullptr) == SQLITE_OK,
                  sqlite3_errmsg(db.get()));
  std::string out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      if (i > 0) out += "|";
      int type = sqlite3_column_type(st, i);
      const unsigned char* t = sqlite3_column_text(st, i);
      if (type == SQLITE_NULL) out += "NULL";
      else out += std::string(type == SQLITE_FLOAT ? "r:" : type == SQLITE_TEXT ? "t:" : "") +
                  reinterpret_cast<const char*>(t);
    }
    out += "\n";
  }
  std::string err = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db.get());
  sqlite3_finalize(st);
  REQUIRE_MESSAGE(err.empty(), sql << ": " << err);
  return out;
}

Response Json(int status, const std::string& body) {
  return Response::Status(status, body, {{"Content-Type", "application/json"}});
}

const char kMatrix[] = R"({"status":"success","data":{"resultType":"matrix","result":[
  {"metric":{"k":"a","__name__":"m"},"values":[[1700000000,"1"],[1700000015.5,"NaN"],[1700000030.123,"+Inf"]]},
  {"metric":{"__name__":"m","k":"b\"q"},"values":[[1700000000.001,"-Inf"],[1700000001,"1e-300"]]}]}})";

}  // namespace

TEST_SUITE("query") {

TEST_CASE("a matrix: one row per sample, labels as canonical JSON, times in ms, NaN as text, infinities as REAL") {
  Receiver rx;
  rx.Enqueue(Json(200, kMatrix));
  Db db;
  db.Sink("s", rx.url());
  CHECK(Rows(db, "SELECT labels, timestamp, value, histogram FROM prometheus_query('s', 'm[2h]', 1700000100000)") ==
        "t:{\"__name__\":\"m\",\"k\":\"a\"}|1700000000000|r:1.0|NULL\n"
        "t:{\"__name__\":\"m\",\"k\":\"a\"}|1700000015500|t:NaN|NULL\n"
        "t:{\"__name__\":\"m\",\"k\":\"a\"}|1700000030123|r:Inf|NULL\n"
        "t:{\"__name__\":\"m\",\"k\":\"b\\\"q\"}|1700000000001|r:-Inf|NULL\n"
        "t:{\"__name__\":\"m\",\"k\":\"b\\\"q\"}|1700000001000|r:1.0e-300|NULL\n");
  REQUIRE(rx.RequestCount() == 1);
  const auto r = rx.Requests()[0];
  CHECK(r.method == "POST");
  CHECK(r.target == "/api/v1/query");
  CHECK(r.Header("Content-Type") == "application/x-www-form-urlencoded");
  CHECK(r.Header("Accept") == "application/json");
  CHECK(r.body == "query=m%5B2h%5D&time=1700000100.000");
}

TEST_CASE("an instant vector, a scalar, and an empty answer (an unknown metric is no rows, not an error)") {
  Receiver rx;
  rx.Enqueue(Json(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,"3"]}]}})"));
  rx.Enqueue(Json(200, R"({"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"2.5"]}})"));
  rx.Enqueue(Json(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})"));
  Db db;
  db.Sink("s", rx.url());
  CHECK(Rows(db, "SELECT * FROM prometheus_query('s', 'count(m)')") == "t:{}|1700000000500|r:3.0|NULL\n");
  CHECK(Rows(db, "SELECT * FROM prometheus_query('s', 'scalar(count(m))')") == "t:{}|1700000000500|r:2.5|NULL\n");
  CHECK(Rows(db, "SELECT * FROM prometheus_query('s', 'nothing_here')") == "");
}

TEST_CASE("a native histogram: schema, buckets and zero bucket inferred from the bounds") {
  // Schema 0: bucket i is (2^(i-1), 2^i]; the zero threshold 0.3 cuts
  // bucket -1, (0.25, 0.5], off at 0.3.
  Receiver rx;
  rx.Enqueue(Json(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"h"},
    "histogram":[1700000000,{"count":"9","sum":"12.5","buckets":[[1,"-4","-2","1"],[3,"-0.3","0.3","2"],
    [0,"0.3","0.5","1"],[0,"1","2","3"],[0,"4","8","2"]]}]}]}})"));
  rx.Enqueue(Json(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"h"},
    "histogram":[1700000000,{"count":"2.5","sum":"NaN","buckets":[[0,"1","2","2.5"]]}]}]}})"));
  // Without a zero bucket, the threshold is where the lowest bucket was cut off.
  rx.Enqueue(Json(200, R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"h"},
    "histogram":[1700000000,{"count":"4","sum":"3","buckets":[[0,"0.3","0.5","1"],[0,"1","2","3"]]}]}]}})"));
  Db db;
  db.Sink("s", rx.url());
  CHECK(Rows(db, "SELECT value, histogram FROM prometheus_query('s', 'h')") ==
        "NULL|t:{\"schema\":0,\"count\":9,\"sum\":12.5,\"zero_threshold\":0.3,\"zero_count\":2,"
        "\"positive\":{\"-1\":1,\"1\":3,\"3\":2},\"negative\":{\"2\":1}}\n");
  CHECK(Rows(db, "SELECT histogram FROM prometheus_query('s', 'h')") ==
        "t:{\"schema\":0,\"count\":2.5,\"sum\":\"NaN\",\"zero_threshold\":2.938735877055719e-39,"
        "\"zero_count\":0.0,\"positive\":{\"1\":2.5},\"negative\":{}}\n");
  CHECK(Rows(db, "SELECT histogram FROM prometheus_query('s', 'h')") ==
        "t:{\"schema\":0,\"count\":4,\"sum\":3,\"zero_threshold\":0.3,\"zero_count\":0,"
        "\"positive\":{\"-1\":1,\"1\":3},\"negative\":{}}\n");
}

TEST_CASE("a range query: the _range endpoint derived from remote_write, start, end and step in the form") {
  Receiver rx;
  rx.Enqueue(Json(200, R"({"status":"success","data":{"resultType":"matrix","result":[]}})"));
  Db db;
  db.Sink("s", rx.url("/workspaces/ws-1/api/v1/remote_write"));
  CHECK(Rows(db, "SELECT * FROM prometheus_query_range('s', 'sum(m)', '2023-11-14T22:13:20Z', 1700000060000, 15000)") ==
        "");
  REQUIRE(rx.RequestCount() == 1);
  CHECK(rx.Requests()[0].target == "/workspaces/ws-1/api/v1/query_range");
  CHECK(rx.Requests()[0].body == "query=sum%28m%29&start=1700000000.000&end=1700000060.000&step=15.000");
}

TEST_CASE("query_url: the endpoint; a url it cannot be derived from asks for it") {
  Receiver rx;
  rx.Enqueue(Json(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})"));
  Db db;
  db.Sink("s", rx.url("/ingest"), "query_url='" + rx.url("/prom/api/v1/query") + "'");
  CHECK(Rows(db, "SELECT * FROM prometheus_query('s', 'm')") == "");
  CHECK(rx.Requests().at(0).target == "/prom/api/v1/query");
  db.Sink("t", rx.url("/ingest"));
  Outcome o = db.Exec("CREATE VIRTUAL TABLE temp.u USING prometheus_sink(url='" + rx.url() +
                      "', query_url='ftp://user:pw@h/api/v1/query')");
  CHECK(o.msg == "prometheus_sink: option 'query_url' must be an http:// or https:// URL, found 'ftp://***@h/api/v1/query'");
  o = db.Exec("SELECT * FROM prometheus_query('t', 'm')");
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(Contains(o.msg, "prometheus_sink: prometheus_query(): sink 't': cannot query: its url"));
  CHECK(Contains(o.msg, "give the sink the option query_url"));
  CHECK(rx.RequestCount() == 1);
}

TEST_CASE("bad PromQL: the receiver's status, errorType and error, not retried") {
  Receiver rx;
  rx.SetDefault(Json(400, R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"})"));
  Db db;
  db.Sink("s", rx.url(), kFastRetry);
  Outcome o = db.Exec("SELECT * FROM prometheus_query('s', 'sum(')");
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(o.msg ==
        "prometheus_sink: prometheus_query(): sink 's': query 'sum(' at http://127.0.0.1:" + std::to_string(rx.port()) +
            "/api/v1/query failed: HTTP 400: bad_data: '1:5: parse error: unclosed left parenthesis'");
  CHECK(rx.RequestCount() == 1);
}

TEST_CASE("a 5xx is retried as the sink's options say; the last answer's error is reported") {
  Receiver rx;
  rx.SetDefault(Json(503, R"({"status":"error","errorType":"unavailable","error":"too many queries"})"));
  Db db;
  db.Sink("s", rx.url(), kFastRetry + ", retry=2");
  Outcome o = db.Exec("SELECT * FROM prometheus_query('s', 'm')");
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(Contains(o.msg, "failed: HTTP 503: unavailable: 'too many queries' (after 3 attempts)"));
  CHECK(rx.RequestCount() == 3);
  // A 5xx whose body is not the API's (a proxy's page) is shown as it is.
  rx.Clear();
  rx.SetDefault(Response::Status(502, "<html>Bad Gateway</html>"));
  o = db.Exec("SELECT * FROM prometheus_query('s', 'm')");
  CHECK(Contains(o.msg, "failed: HTTP 502: '<html>Bad Gateway</html>' (after 3 attempts)"));
  // A retry that succeeds gives the rows.
  rx.Clear();
  rx.Enqueue(Response::Status(500));
  rx.Enqueue(Json(200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"7"]}})"));
  CHECK(Rows(db, "SELECT value FROM prometheus_query('s', '7')") == "r:7.0\n");
  CHECK(rx.RequestCount() == 2);
}

TEST_CASE("a receiver that is down: the connection error after the retries") {
  Db db;
  db.Sink("s", "http://127.0.0.1:" + std::to_string(Receiver::ClosedPort()) + "/api/v1/write",
          kFastRetry + ", retry=1");
  Outcome o = db.Exec("SELECT * FROM prometheus_query('s', 'm')");
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(Contains(o.msg, "prometheus_sink: prometheus_query(): sink 's': query 'm' failed: POST http://127.0.0.1:"));
  CHECK(Contains(o.msg, "Couldn't connect to server"));
  CHECK(Contains(o.msg, "(after 2 attempts)"));
}

TEST_CASE("an answer over query_max_bytes fails, not retried") {
  Receiver rx;
  std::string big = R"({"status":"success","data":{"resultType":"vector","result":[)";
  for (int i = 0; i < 100; ++i) big += std::string(i ? "," : "") + R"({"metric":{"i":")" + std::to_string(i) + R"("},"value":[1,"1"]})";
  big += "]}}";
  REQUIRE(big.size() > 2048);
  rx.SetDefault(Json(200, big));
  Db db;
  db.Sink("s", rx.url(), "query_max_bytes=2048");
  Outcome o = db.Exec("SELECT * FROM prometheus_query('s', 'm')");
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(Contains(o.msg, "the answer is larger than query_max_bytes (2048 bytes); narrow the query or raise "
                        "query_max_bytes"));
  CHECK(rx.RequestCount() == 1);
  db.Sink("t", rx.url(), "query_max_bytes=" + std::to_string(big.size()));
  CHECK(db.Int("SELECT count(*) FROM prometheus_query('t', 'm')") == 100);
}

TEST_CASE("the sink's credentials and headers go with the query: SigV4 signs it") {
  Receiver rx;
  testrx::SigV4Keys keys;
  keys.access_key = "AKIDQUERY";
  keys.secret_key = "query-secret";
  rx.RequireSigV4(keys);
  rx.Enqueue(Json(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})"));
  Db db;
  db.Sink("s", rx.url(), "sigv4_region='us-east-1', sigv4_access_key='AKIDQUERY', sigv4_secret_key='query-secret', "
                         "headers='{\"X-Scope-OrgID\": \"team-a\"}'");
  CHECK(Rows(db, "SELECT * FROM prometheus_query('s', 'up')") == "");
  REQUIRE(rx.RequestCount() == 1);
  CHECK(rx.Requests()[0].refused == "");
  CHECK(rx.Requests()[0].answered_status == 200);
  CHECK(rx.Requests()[0].Header("X-Scope-OrgID") == "team-a");
  // A wrong key: the receiver's 403, not retried.
  db.Sink("t", rx.url(), "sigv4_region='us-east-1', sigv4_access_key='AKIDQUERY', sigv4_secret_key='wrong'");
  Outcome o = db.Exec("SELECT * FROM prometheus_query('t', 'up')");
  CHECK(Contains(o.msg, "failed: HTTP 403"));
  CHECK_FALSE(Contains(o.msg, "wrong"));
}

TEST_CASE("OAuth2: the sink's token goes with the query; a revoked one is renewed once") {
  testrx::TokenEndpoint auth("query client", "query-secret", 60);
  Receiver rx;
  rx.SetGate(auth.BearerGate());
  rx.SetDefault(Json(200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"1"]}})"));
  Db db;
  db.Sink("s", rx.url(), "oauth2_token_url='" + auth.url() + "', oauth2_client_id='query client', "
                         "oauth2_client_secret='query-secret'");
  CHECK(Rows(db, "SELECT value FROM prometheus_query('s', '1')") == "r:1.0\n");
  CHECK(auth.Fetches() == 1);
  CHECK(rx.Requests().at(0).Header("Authorization") == "Bearer tok-1");
  auth.Revoke("tok-1");
  CHECK(Rows(db, "SELECT value FROM prometheus_query('s', '1')") == "r:1.0\n");
  CHECK(auth.Fetches() == 2);
  CHECK(rx.Requests().back().Header("Authorization") == "Bearer tok-2");
}

TEST_CASE("a sink of the schema that no statement has touched yet is found by its name") {
  char dir[] = "/tmp/psink-query-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/q.db";
  Receiver rx;
  rx.SetDefault(Json(200, R"({"status":"success","data":{"resultType":"scalar","result":[1,"4"]}})"));
  {
    Db db(path);
    db.Ok("CREATE VIRTUAL TABLE main.s USING prometheus_sink(url='" + rx.url() + "')");
  }
  {
    Db db(path);
    CHECK(Rows(db, "SELECT value FROM prometheus_query('s', '4')") == "r:4.0\n");
  }
  std::remove(path.c_str());
  ::rmdir(dir);
}

TEST_CASE("arguments: the sink must exist, sink and query are required, times in the timestamp column's forms") {
  Receiver rx;
  rx.SetDefault(Json(200, R"({"status":"success","data":{"resultType":"vector","result":[]}})"));
  Db db;
  db.Sink("s", rx.url(), "timestamp_unit='s'");
  Outcome o = db.Exec("SELECT * FROM prometheus_query('nope', 'm')");
  CHECK(o.msg == "prometheus_sink: prometheus_query(): no sink named 'nope' on this connection");
  o = db.Exec("SELECT * FROM prometheus_query('s')");
  CHECK(o.msg == "prometheus_sink: prometheus_query() expects (sink, promql [, time])");
  o = db.Exec("SELECT * FROM prometheus_query_range('s', 'm', 1, 2)");
  CHECK(o.msg == "prometheus_sink: prometheus_query_range(): step_ms must be a number of milliseconds, at least 1");
  o = db.Exec("SELECT * FROM prometheus_query('s', 'm', 'yesterday')");
  CHECK(Contains(o.msg, "prometheus_sink: prometheus_query(): column 'time'"));
  CHECK(rx.RequestCount() == 0);
  // timestamp_unit='s': the time is in seconds.
  CHECK(Rows(db, "SELECT * FROM prometheus_query('s', 'm', 1700000000)") == "");
  CHECK(rx.Requests().at(0).body == "query=m&time=1700000000.000");
}

TEST_CASE("DIRECTONLY: a view or a trigger of the schema cannot query") {
  Receiver rx;
  Db db;
  db.Sink("s", rx.url());
  db.Ok("CREATE VIEW v AS SELECT * FROM prometheus_query('s', 'm')");
  Outcome o = db.Exec("SELECT * FROM v");
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(Contains(o.msg, "unsafe use of virtual table \"prometheus_query\""));
  db.Ok("CREATE TABLE t(x)");
  db.Ok("CREATE TABLE log(n)");
  db.Ok("CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log SELECT count(*) FROM "
        "prometheus_query_range('s', 'm', 1, 2, 1); END");
  o = db.Exec("INSERT INTO t VALUES (1)");
  CHECK(o.rc == SQLITE_ERROR);
  CHECK(Contains(o.msg, "unsafe use of virtual table \"prometheus_query_range\""));
  CHECK(rx.RequestCount() == 0);
  // No table of that module can be created either.
  o = db.Exec("CREATE VIRTUAL TABLE q USING prometheus_query");
  CHECK(o.rc == SQLITE_ERROR);
}

}  // TEST_SUITE
