// Metric and label names on the wire: name_validation_scheme=utf8 sends
// UTF-8 names exactly, in both protocols, sorted as unsigned bytes;
// name_escaping_scheme sends the escaped names (labels, metric, metadata
// family name, exemplar labels); the legacy default refuses an invalid
// name at its row and sends nothing of the statement.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "harness.h"

using namespace harness;

namespace {

// "é" (0xC3 0xA9) sorts after "z" and "A" as an unsigned byte, before them
// as a signed char.
const std::string kUtf8Row =
    R"(INSERT INTO m(labels, value, timestamp, exemplar) VALUES ('{"__name__":"http.server.request.duration","service.name":"api","é":"1","z":"2","A":"3","😀":"4"}', 1.5, 1000, '{"labels":{"trace.id":"abc"}}'))";
const std::string kUtf8Labels =
    "{A=\"3\",__name__=\"http.server.request.duration\",service.name=\"api\",z=\"2\",é=\"1\",😀=\"4\"}";

std::vector<std::string> MetadataLines(const Receiver& rx) {
  std::vector<std::string> out;
  for (const auto& m : rx.Metadata()) out.push_back(m.ToString());
  return out;
}

}  // namespace

TEST_SUITE("names") {

TEST_CASE("utf8: names are sent exactly as given, sorted as unsigned bytes, in 1.0 and 2.0") {
  for (const char* protocol : {"1.0", "2.0"}) {
    CAPTURE(protocol);
    Receiver rx;
    rx.AcceptUtf8Names();
    Db db;
    db.Sink("m", rx.url(),
            std::string("name_validation_scheme='utf8', metric_type='histogram', protocol='") + protocol + "'");
    db.Ok(kUtf8Row);
    REQUIRE(rx.RequestCount() == 1);
    CHECK(Joined(rx.Samples()) == S(kUtf8Labels, 1000, 1.5));
    REQUIRE(rx.Exemplars().size() == 1);
    CHECK(rx.Exemplars()[0].labels == "{trace.id=\"abc\"}");
    REQUIRE(rx.Metadata().size() == 1);
    CHECK(rx.Metadata()[0].metric == "http.server.request.duration");
    CheckNoViolations(rx);  // sorted, unique, valid UTF-8
  }
}

TEST_CASE("utf8: wide rows send quoted column names and external labels exactly") {
  Receiver rx;
  rx.AcceptUtf8Names();
  Db db;
  db.Sink("m", rx.url(),
          "name_validation_scheme='utf8', metric='http.server.request.duration', \"service.name\", \"é\", "
          "external_labels='{\"deployment.environment\":\"prod\"}'");
  db.Ok(R"(INSERT INTO m("service.name", "é", value, timestamp) VALUES ('api', 7, 1, 1000))");
  db.Ok(R"(INSERT INTO m("service.name", labels, value, timestamp) VALUES ('api', '{"k8s.pod":"p"}', 2, 2000))");
  CHECK(Joined(rx.Samples()) ==
        S("{__name__=\"http.server.request.duration\",deployment.environment=\"prod\",service.name=\"api\",é=\"7\"}",
          1000, 1) +
            S("{__name__=\"http.server.request.duration\",deployment.environment=\"prod\",k8s.pod=\"p\",service.name="
              "\"api\"}",
              2000, 2));
  CheckNoViolations(rx);
}

TEST_CASE("escaping: the escaped names are what is sent, metadata and exemplars included, in 1.0 and 2.0") {
  struct Scheme {
    const char* name;
    const char* labels;
    const char* metric;
    const char* trace;
  };
  const Scheme schemes[] = {
      {"underscores", "{A=\"3\",_=\"1\",__name__=\"http_server_request_duration\",service_name=\"api\",x_=\"4\",z=\"2\"}",
       "http_server_request_duration", "{trace_id=\"abc\"}"},
      {"dots",
       "{A=\"3\",__=\"1\",__name__=\"http_dot_server_dot_request_dot_duration\",service_dot_name=\"api\",x__=\"4\",z="
       "\"2\"}",
       "http_dot_server_dot_request_dot_duration", "{trace_dot_id=\"abc\"}"},
      {"values",
       "{A=\"3\",U___e9_=\"1\",U__service_2e_name=\"api\",U__x_1f600_=\"4\",__name__=\"U__http_2e_server_2e_request_"
       "2e_duration\",z=\"2\"}",
       "U__http_2e_server_2e_request_2e_duration", "{U__trace_2e_id=\"abc\"}"},
  };
  for (const Scheme& s : schemes) {
    for (const char* protocol : {"1.0", "2.0"}) {
      CAPTURE(s.name);
      CAPTURE(protocol);
      Receiver rx;  // legacy names only
      Db db;
      db.Sink("m", rx.url(),
              std::string("name_escaping_scheme='") + s.name + "', metric_type='gauge', protocol='" + protocol + "'");
      db.Ok(R"(INSERT INTO m(labels, value, timestamp, exemplar) VALUES ('{"__name__":"http.server.request.duration","service.name":"api","é":"1","z":"2","A":"3","x😀":"4"}', 1.5, 1000, '{"labels":{"trace.id":"abc"}}'))");
      REQUIRE(rx.RequestCount() == 1);
      CHECK(Joined(rx.Samples()) == S(s.labels, 1000, 1.5));
      REQUIRE(rx.Exemplars().size() == 1);
      CHECK(rx.Exemplars()[0].labels == s.trace);
      REQUIRE(rx.Metadata().size() == 1);
      CHECK(rx.Metadata()[0].metric == s.metric);
      CheckNoViolations(rx);
    }
  }
}

TEST_CASE("utf8 with spool=on: the drain reads the stored UTF-8 names back and sends them exactly") {
  for (const char* protocol : {"1.0", "2.0"}) {
    CAPTURE(protocol);
    Receiver rx;
    rx.AcceptUtf8Names();
    const std::string path = "/tmp/psink-names-" + std::to_string(::getpid()) + ".db";
    {
      Db db(path);
      db.Ok("CREATE VIRTUAL TABLE m USING prometheus_sink(url='" + rx.url() +
            "', name_validation_scheme='utf8', spool=on, protocol='" + protocol + "')");
      db.Ok(R"(INSERT INTO m(labels, value, timestamp) VALUES ('{"__name__":"http.server.request.duration","service.name":"api","é":"1","z":"2","A":"3","😀":"4"}', 1.5, 1000))");
      // Sent by the background drain or by this flush, whichever comes first.
      db.Int("SELECT prometheus_sink_flush('m')");
    }
    std::remove(path.c_str());
    std::remove((path + "-journal").c_str());
    CHECK(Joined(rx.Samples()) == S(kUtf8Labels, 1000, 1.5));
    CheckNoViolations(rx);
  }
}

TEST_CASE("legacy: an invalid metric name is refused at its row, and nothing of the statement is sent") {
  Receiver rx;
  Db db;
  db.Sink("m", rx.url());
  Outcome o = db.Exec(
      R"(INSERT INTO m(labels, value, timestamp) VALUES ('{"__name__":"good"}', 1, 1000), ('{"__name__":"http-requests_total"}', 2, 2000))");
  CHECK(o.rc == SQLITE_CONSTRAINT);
  CHECK(o.msg ==
        "prometheus_sink: column 'labels': invalid metric name 'http-requests_total' (expected "
        "[a-zA-Z_:][a-zA-Z0-9_:]*)");
  CHECK(rx.RequestCount() == 0);
  // The same label set seen first valid, then with a bad metric name in the
  // raw-key cache's place: each new label set is checked.
  db.Ok(R"(INSERT INTO m(labels, value, timestamp) VALUES ('{"__name__":"good"}', 1, 1000))");
  CHECK(db.Exec(R"(INSERT INTO m(labels, value, timestamp) VALUES ('{"__name__":"1st"}', 1, 1000))").rc ==
        SQLITE_CONSTRAINT);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"good\"}", 1000, 1));
  CheckNoViolations(rx);
}

}  // TEST_SUITE
