// The durable spool under SQLite's ordinary concurrency: several writers
// and drainers on one database file at once — separate `sqlite3` processes
// and separate connections of one process, in WAL and rollback-journal
// mode. Nothing committed may be lost, and drainers must coordinate so
// that duplicates stay within the requests in flight, not whole backlogs.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <csignal>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <sstream>

#include "harness.h"

using namespace harness;
namespace fs = std::filesystem;

namespace {

// A temporary folder, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/psink-spool-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// One writer's script: `txns` transactions of `rows` rows each into sink `s`,
// every sample distinct: series {__name__="spooled", writer="<w>"}, the
// timestamp numbering the row. `BEGIN IMMEDIATE` takes the write lock at
// once, so that the busy timeout applies (a deferred transaction that reads
// first cannot wait for another writer in WAL mode).
std::string WriterSql(const std::string& writer, int txns, int rows) {
  std::string sql = ".bail on\n.timeout 10000\n.load " EXT_PATH "\n";
  for (int t = 0; t < txns; ++t) {
    sql += "BEGIN IMMEDIATE;\nINSERT INTO s(labels, value, timestamp) SELECT json_object('__name__', 'spooled', "
           "'writer', '" + writer + "'), value, 1700000000000 + " + std::to_string(t * rows) +
           " + value FROM generate_series(1, " + std::to_string(rows) + ");\nCOMMIT;\n";
  }
  return sql;
}

// Counts, over the samples a receiver stored, the distinct samples and the
// ones that arrived more than once.
struct Tally {
  size_t distinct = 0;
  size_t duplicates = 0;
  std::map<std::string, size_t> per_series;  // distinct samples per series
};

Tally Count(const Receiver& rx) {
  std::set<std::pair<std::string, int64_t>> seen;
  Tally t;
  for (const auto& s : rx.Samples()) {
    if (seen.emplace(s.labels, s.ts).second) {
      ++t.distinct;
      ++t.per_series[s.labels];
    } else {
      ++t.duplicates;
    }
  }
  return t;
}

// Creates the spooled sink `s` in a new database file in `mode` (WAL or
// DELETE) pointing at `rx`.
void CreateSpooledSink(const fs::path& db_path, const std::string& mode, const Receiver& rx, int batch_size) {
  Db db(db_path.string());
  db.Ok("PRAGMA journal_mode=" + mode);
  db.Ok("CREATE VIRTUAL TABLE s USING prometheus_sink(url='" + rx.url() + "', spool=on, batch_size=" +
        std::to_string(batch_size) + ", " + kFastRetry + ")");
}

// Runs the sqlite3 shell on `db_path` with `script`; returns its exit status.
int RunShell(const fs::path& db_path, const fs::path& script) {
  std::string cmd = "sqlite3 '" + db_path.string() + "' < '" + script.string() + "' > '" + script.string() +
                    ".out' 2>&1";
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A third connection drains what is left; then every committed sample of
// the two writers ("<prefix>0", "<prefix>1", `each` samples apiece) must have
// arrived, and at most 2,000 twice (the requests in flight).
void DrainAndCheck(const fs::path& db_path, const std::string& mode, const Receiver& rx, const std::string& prefix,
                   size_t each) {
  Db third(db_path.string());
  third.Ok("SELECT prometheus_sink_flush('s')");
  CHECK(third.Int("SELECT count(*) FROM s_spool") == 0);
  Tally t = Count(rx);
  CHECK(t.distinct == 2 * each);
  CHECK(t.per_series["{__name__=\"spooled\",writer=\"" + prefix + "0\"}"] == each);
  CHECK(t.per_series["{__name__=\"spooled\",writer=\"" + prefix + "1\"}"] == each);
  CHECK(t.duplicates <= 2000);
  CheckNoViolations(rx);
  MESSAGE(mode << ": " << t.distinct << " distinct samples, " << t.duplicates << " duplicates, "
               << rx.RequestCount() << " requests");
}

void TwoProcesses(const std::string& mode) {
  constexpr int kTxns = 20, kRows = 1000, kBatch = 500;
  TempDir dir;
  Receiver rx;
  rx.SetDefault(Response::Slow(2));  // a little latency widens every race window
  fs::path db_path = dir.path / "spool.db";
  CreateSpooledSink(db_path, mode, rx, kBatch);

  std::vector<std::thread> procs;
  int status[2] = {-1, -1};
  for (int w = 0; w < 2; ++w) {
    fs::path script = dir.path / ("writer" + std::to_string(w) + ".sql");
    std::ofstream(script) << WriterSql("w" + std::to_string(w), kTxns, kRows);
    procs.emplace_back([&, w, script] { status[w] = RunShell(db_path, script); });
  }
  for (auto& p : procs) p.join();
  for (int w = 0; w < 2; ++w) {
    INFO("writer " << w << " said: " << ReadFile(dir.path / ("writer" + std::to_string(w) + ".sql.out")));
    REQUIRE(status[w] == 0);  // every transaction committed
  }
  DrainAndCheck(db_path, mode, rx, "w", kTxns * kRows);
}

void TwoConnections(const std::string& mode) {
  constexpr int kTxns = 20, kRows = 1000, kBatch = 500;
  TempDir dir;
  Receiver rx;
  rx.SetDefault(Response::Slow(2));
  fs::path db_path = dir.path / "spool.db";
  CreateSpooledSink(db_path, mode, rx, kBatch);

  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      sqlite3* db = nullptr;
      sqlite3_open(db_path.c_str(), &db);
      sqlite3_busy_timeout(db, 10000);
      sqlite3_enable_load_extension(db, 1);
      if (sqlite3_load_extension(db, EXT_PATH, nullptr, nullptr) != SQLITE_OK) ++failures;
      for (int t = 0; t < kTxns; ++t) {
        std::string sql = "BEGIN IMMEDIATE; INSERT INTO s(labels, value, timestamp) WITH RECURSIVE n(v) AS "
                          "(SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < " + std::to_string(kRows) +
                          ") SELECT json_object('__name__', 'spooled', 'writer', 'c" + std::to_string(w) +
                          "'), v, 1700000000000 + " + std::to_string(t * kRows) + " + v FROM n; COMMIT;";
        if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
          ++failures;
          sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        }
      }
      sqlite3_close_v2(db);
    });
  }
  for (auto& w : writers) w.join();
  REQUIRE(failures == 0);
  DrainAndCheck(db_path, mode, rx, "c", kTxns * kRows);
}

}  // namespace

TEST_SUITE("spool_concurrency") {

TEST_CASE("two sqlite3 processes write and drain one spool (WAL): every committed sample arrives, few twice") {
  TwoProcesses("WAL");
}

TEST_CASE("two sqlite3 processes write and drain one spool (rollback journal): every committed sample arrives") {
  TwoProcesses("DELETE");
}

TEST_CASE("two connections of one process write and drain one spool (WAL)") { TwoConnections("WAL"); }

TEST_CASE("two connections of one process write and drain one spool (rollback journal)") {
  TwoConnections("DELETE");
}

// Rows discarded and written again while a drain is in flight: the drain,
// once its request is answered, must remove only what it delivered. In a
// spool of 0.1.0's format (a row per sample, `id INTEGER PRIMARY KEY`) the
// new row takes the id of the discarded one, so a delete by id alone would
// lose it; this version's batches have ids that are never handed out again.
void DiscardDuringDrain(bool legacy) {
  TempDir dir;
  Receiver rx;
  fs::path db_path = dir.path / "spool.db";
  CreateSpooledSink(db_path, "WAL", rx, 1000);
  if (legacy) {
    Db setup(db_path.string());
    setup.Ok("DROP TABLE s_spool; CREATE TABLE s_spool(id INTEGER PRIMARY KEY, labels TEXT NOT NULL, "
             "value_bits INTEGER NOT NULL, ts INTEGER NOT NULL)");
  }
  rx.Enqueue(Response::Slow(1500));
  std::thread drainer([&] {
    Db a(db_path.string());
    a.Ok("INSERT INTO s VALUES ('{\"__name__\":\"old\"}', 1, 1700000000000)");
    a.Ok("SELECT prometheus_sink_flush('s')");  // waits for the background drain's lock, then drains
  });
  REQUIRE(rx.WaitForRequests(1, std::chrono::seconds(5)));
  Db b(db_path.string());
  b.Ok("PRAGMA busy_timeout=10000");
  CHECK(b.Int("SELECT prometheus_sink_discard('s')") == 1);
  b.Ok("INSERT INTO s VALUES ('{\"__name__\":\"new\"}', 2, 1700000001000)");
  if (legacy) CHECK(b.Int("SELECT id FROM s_spool") == 1);  // the discarded row's id, handed out again
  drainer.join();  // its drain goes on to send the new row, unless it deleted it unsent
  b.Ok("SELECT prometheus_sink_flush('s')");
  CHECK(b.Int("SELECT spool_rows FROM prometheus_sink_stats WHERE name = 's'") == 0);
  CHECK(Joined(rx.Samples()) == S("{__name__=\"old\"}", 1700000000000, 1) + S("{__name__=\"new\"}", 1700000001000, 2));
}

TEST_CASE("rows discarded and written again while a drain is in flight (0.1.0 spool): only delivered rows go") {
  DiscardDuringDrain(true);
}

TEST_CASE("rows discarded and written again while a drain is in flight: only delivered rows go") {
  DiscardDuringDrain(false);
}

}  // TEST_SUITE spool_concurrency

TEST_SUITE("spool_background") {

TEST_CASE("COMMIT of 1,000 spooled rows to a receiver that never answers returns at once (default timeouts); "
          "the backlog drains by itself once a receiver is back on that port") {
  TempDir dir;
  fs::path db_path = dir.path / "spool.db";
  auto hung = std::make_unique<Receiver>();
  hung->SetDefault(Response::Hang());
  const uint16_t port = hung->port();
  Db db(db_path.string());
  db.Ok("PRAGMA journal_mode=WAL");
  // Default timeouts: a synchronous send would wait 4 x 60 s.
  db.Ok("CREATE VIRTUAL TABLE s USING prometheus_sink(url='" + hung->url() + "', spool=on)");
  auto t0 = std::chrono::steady_clock::now();
  db.Ok("BEGIN; INSERT INTO s WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < 1000) "
        "SELECT json_object('__name__', 'bg', 'i', value % 10), value, 1700000000000 + value FROM n; COMMIT");
  const double commit_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("COMMIT of 1,000 spooled rows with a hung receiver took " << commit_ms << " ms");
  CHECK(commit_ms < 5000);  // loose: the contract is 1 s; a synchronous send would take minutes
  CHECK(hung->WaitForRequests(1, std::chrono::seconds(10)));  // the drain is on the wire, hanging
  CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 1000);

  // The hung receiver goes away (its connections close); a working one
  // takes its port. No statement runs on `db` meanwhile.
  hung.reset();
  Receiver back(port);
  t0 = std::chrono::steady_clock::now();
  bool drained = false;
  while (!drained && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    drained = back.Samples().size() >= 1000;
  }
  const double drain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("the backlog reached the receiver " << drain_s << " s after it came back");
  CHECK(drained);
  CHECK(back.Samples().size() == 1000);
  // Its deletes follow its acknowledgements: the spool empties too.
  for (int i = 0; i < 100 && db.Int("SELECT spool_rows FROM prometheus_sink_stats") > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
  CHECK(db.Int("SELECT samples_sent FROM prometheus_sink_stats") == 1000);
  CheckNoViolations(back);
}

TEST_CASE("opening and reading a database whose spooled sink has a backlog sends nothing; an INSERT starts the drain") {
  TempDir dir;
  fs::path db_path = dir.path / "spool.db";
  const uint16_t port = Receiver::ClosedPort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/write";
  {
    Db db(db_path.string());
    db.Ok("CREATE VIRTUAL TABLE s USING prometheus_sink(url='" + url + "', spool=on, spool_close_wait_ms=0)");
    db.Ok("INSERT INTO s WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < 100) "
          "SELECT json_object('__name__', 'left'), value, 1700000000000 + value FROM n");
  }  // closed with the receiver down: the rows stay
  Receiver rx(port);
  {
    Db db(db_path.string());
    db.Ok("SELECT count(*) FROM sqlite_schema");
    CHECK(db.Int("SELECT count(*) FROM s") == 0);  // reads the sink: nothing buffered here
    CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats WHERE name = 's'") == 100);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    CHECK(rx.RequestCount() == 0);
    db.Ok("INSERT INTO s VALUES ('{\"__name__\":\"new\"}', 1, 1800000000000)");
    CHECK(rx.WaitForRequests(1, std::chrono::seconds(10)));
  }  // closing waits for the drain
  CHECK(rx.Samples().size() == 101);
}

TEST_CASE("spooled values arrive bit-exact: stored 1.0 requests and 2.0 row batches, across savepoints") {
  for (const std::string protocol : {"1.0", "2.0"}) {
    CAPTURE(protocol);
    TempDir dir;
    Receiver rx;
    fs::path db_path = dir.path / "spool.db";
    {
      Db db(db_path.string());
      db.Ok("CREATE VIRTUAL TABLE s USING prometheus_sink(url='" + rx.url() + "', spool=on, batch_size=3, protocol='" +
            protocol + "')");
      db.Ok("BEGIN");
      db.Ok(R"(INSERT INTO s VALUES ('{"zone":"b","__name__":"v","az":"1"}', 1.5, 10000),
        ('{"__name__":"v"}', 'NaN', 11000), ('{"__name__":"v"}', 'stale', 12000),
        ('{"__name__":"v"}', '-Inf', 13000), ('{"__name__":"v"}', -0.0, 14000))");
      db.Ok("SAVEPOINT p");
      db.Ok(R"(INSERT INTO s VALUES ('{"__name__":"gone"}', 1, 1))");
      db.Ok("ROLLBACK TO p");
      db.Ok(R"(INSERT INTO s VALUES ('{"__name__":"v"}', 9007199254740993, 15000),
        ('{"__name__":"v"}', 42, '2023-11-14 22:13:20Z'))");
      db.Ok("COMMIT");
      CHECK(db.Int("SELECT prometheus_sink_flush('s')") >= 0);
      CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
    }
    // Every sample with its exact bits, by series then time.
    std::map<std::pair<std::string, int64_t>, uint64_t> got;
    for (const auto& smp : rx.Samples()) got[{smp.labels, smp.ts}] = smp.value_bits;
    CHECK(got.size() == 7);
    CHECK(got[{"{__name__=\"v\",az=\"1\",zone=\"b\"}", 10000}] == testrx::Bits(1.5));
    CHECK((got[{"{__name__=\"v\"}", 11000}] & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL);  // a NaN
    CHECK(got[{"{__name__=\"v\"}", 11000}] != 0x7ff0000000000002ULL);                            // not stale
    CHECK(got[{"{__name__=\"v\"}", 12000}] == 0x7ff0000000000002ULL);                            // the stale marker
    CHECK(got[{"{__name__=\"v\"}", 13000}] == testrx::Bits(-INFINITY));
    CHECK(got[{"{__name__=\"v\"}", 14000}] == 0x8000000000000000ULL);  // -0.0
    CHECK(got[{"{__name__=\"v\"}", 15000}] == testrx::Bits(9007199254740992.0));
    CHECK(got[{"{__name__=\"v\"}", 1700000000000}] == testrx::Bits(42));
    CHECK(got.count({"{__name__=\"gone\"}", 1}) == 0);
    CheckNoViolations(rx);
  }
}

}  // TEST_SUITE spool_background

namespace {

// Whether a request holds a sample of series `labels` (as rendered).
bool Holds(const testrx::Request& req, const std::string& labels) {
  for (const auto& s : req.samples) {
    if (s.labels == labels) return true;
  }
  return false;
}

// `n` rows of series `name` at timestamps first, first+1000, ... in one
// transaction.
void InsertSeries(Db& db, const std::string& name, int first, int n) {
  db.Ok("INSERT INTO s(labels, value, timestamp) WITH RECURSIVE k(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM k "
        "WHERE v < " + std::to_string(n - 1) + ") SELECT json_object('__name__', '" + name + "'), v, " +
        std::to_string(first) + " + v * 1000 FROM k");
}

// Received samples of series `labels`.
size_t Received(const Receiver& rx, const std::string& labels) {
  size_t n = 0;
  for (const auto& s : rx.Samples()) n += s.labels == labels;
  return n;
}

}  // namespace

TEST_SUITE("spool_rejected") {

TEST_CASE("a receiver refusing every request that holds one series (400): the rest arrives, the refused rows are "
          "listed, counted, and arrive after requeue") {
  for (const std::string protocol : {"1.0", "2.0"}) {
    CAPTURE(protocol);
    TempDir dir;
    Receiver rx;
    const std::string bad = "{__name__=\"bad\"}", good = "{__name__=\"good\"}";
    rx.SetGate([&](const testrx::Request& req) -> std::optional<Response> {
      if (Holds(req, bad)) return Response::Status(400, "out of bounds: sample for series bad is too old");
      return std::nullopt;
    });
    Db db((dir.path / "spool.db").string());
    db.Ok("CREATE VIRTUAL TABLE s USING prometheus_sink(url='" + rx.url() + "', spool=on, batch_size=10, protocol='" +
          protocol + "', " + kFastRetry + ")");
    // Good rows, then the refused series, then good rows: each in a
    // transaction of its own, so each request holds one series.
    InsertSeries(db, "good", 1000, 30);
    InsertSeries(db, "bad", 500000, 10);
    InsertSeries(db, "good", 600000, 30);
    // The drain does not stop at the refused batch: flush succeeds.
    db.Ok("SELECT prometheus_sink_flush('s')");
    CHECK(Received(rx, good) == 60);
    CHECK(Received(rx, bad) == 0);
    CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
    CHECK(db.Int("SELECT rejected_rows FROM prometheus_sink_stats") == 10);
    CHECK(db.Int("SELECT count(*) FROM prometheus_sink_rejected('s')") == 10);
    CHECK(db.Int("SELECT count(*) FROM prometheus_sink_rejected('s') WHERE labels = '{\"__name__\":\"bad\"}' AND "
                 "status = 400 AND message LIKE '%out of bounds: sample for series bad%'") == 10);
    CHECK(db.Int("SELECT sum(value) FROM prometheus_sink_rejected('s')") == 45);
    CHECK(db.Int("SELECT min(timestamp) FROM prometheus_sink_rejected('s')") == 500000);
    CHECK(db.Int("SELECT count(*) FROM prometheus_sink_rejected('s') WHERE histogram IS NULL AND exemplar IS NULL") ==
          10);
    // Kept while rejected rows wait.
    Outcome dropped = db.Exec("DROP TABLE s");
    CHECK_FALSE(dropped.ok());
    // The receiver fixed: requeued, they arrive.
    rx.SetGate(nullptr);
    CHECK(db.Int("SELECT prometheus_sink_requeue('s')") == 10);
    CHECK(db.Int("SELECT rejected_rows FROM prometheus_sink_stats") == 0);
    db.Ok("SELECT prometheus_sink_flush('s')");
    CHECK(Received(rx, bad) == 10);
    CHECK(Received(rx, good) == 60);
    CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
    CheckNoViolations(rx);
    db.Ok("DROP TABLE s");
  }
}

TEST_CASE("a stored batch damaged by hand is moved aside with a message naming the sink and the batch; every other "
          "batch arrives; discard covers it; functions are DIRECTONLY") {
  for (const std::string protocol : {"1.0", "2.0"}) {
    CAPTURE(protocol);
    TempDir dir;
    Receiver rx;
    const fs::path db_path = dir.path / "spool.db";
    rx.SetDefault(Response::Hang());  // nothing is delivered before the batch is damaged
    {
      Db db(db_path.string());
      db.Ok("CREATE VIRTUAL TABLE s USING prometheus_sink(url='" + rx.url() +
            "', spool=on, batch_size=10, spool_close_wait_ms=100, protocol='" + protocol + "', " + kFastRetry + ")");
      InsertSeries(db, "a", 1000, 10);
      InsertSeries(db, "b", 1000, 10);
      InsertSeries(db, "c", 1000, 10);
    }  // closing cancels the request in flight: everything stays spooled
    {
      sqlite3* plain = nullptr;
      REQUIRE(sqlite3_open(db_path.c_str(), &plain) == SQLITE_OK);
      char* err = nullptr;
      int rc = sqlite3_exec(plain, "UPDATE s_spool SET data = substr(data, 1, 7) WHERE id = (SELECT min(id) + 1 FROM "
                                   "s_spool)", nullptr, nullptr, &err);
      INFO((err ? err : ""));
      sqlite3_free(err);
      sqlite3_close(plain);
      REQUIRE(rc == SQLITE_OK);
    }
    rx.SetDefault(Response::Status(204));
    Db db(db_path.string());
    db.Ok("SELECT prometheus_sink_flush('s')");
    CHECK(Received(rx, "{__name__=\"a\"}") == 10);
    CHECK(Received(rx, "{__name__=\"b\"}") == 0);
    CHECK(Received(rx, "{__name__=\"c\"}") == 10);
    CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
    CHECK(db.Int("SELECT rejected_rows FROM prometheus_sink_stats") == 10);
    // One row: it cannot be decoded, the message says which and why.
    CHECK(db.Int("SELECT count(*) FROM prometheus_sink_rejected('s')") == 1);
    const std::string msg = db.Text("SELECT message FROM prometheus_sink_rejected('s')");
    CHECK(msg.find("'s'") != std::string::npos);
    CHECK(msg.find("batch 2") != std::string::npos);
    CHECK(db.Text("SELECT status IS NULL AND labels IS NULL FROM prometheus_sink_rejected('s')") == "1");
    // Not through a view or a trigger (DIRECTONLY).
    db.Ok("CREATE VIEW v AS SELECT * FROM prometheus_sink_rejected('s')");
    Outcome viewed = db.Exec("SELECT * FROM v");
    CHECK_FALSE(viewed.ok());
    CHECK(viewed.msg.find("unsafe use") != std::string::npos);
    db.Ok("CREATE TABLE t(x)");
    db.Ok("CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT prometheus_sink_requeue('s'); END");
    Outcome trig = db.Exec("INSERT INTO t VALUES (1)");
    CHECK_FALSE(trig.ok());
    CHECK(trig.msg.find("unsafe use") != std::string::npos);
    // Discard covers rejected rows; then the sink can be dropped.
    CHECK(db.Int("SELECT prometheus_sink_discard('s')") == 10);
    CHECK(db.Int("SELECT rejected_rows FROM prometheus_sink_stats") == 0);
    db.Ok("DROP TABLE s");
    CHECK(db.Int("SELECT count(*) FROM sqlite_master WHERE name IN ('s_spool', 's_rejected')") == 0);
  }
}

}  // TEST_SUITE spool_rejected

TEST_SUITE("spool_drain") {

TEST_CASE("100 statements of 10 rows in one transaction drain as one request (batch_size=1000, both protocols)") {
  for (const std::string protocol : {"1.0", "2.0"}) {
    // One series (any max_in_flight), or many series with max_in_flight=1:
    // a shard's requests are full however the rows were written.
    for (const std::string variant : {"one series", "many series, max_in_flight=1"}) {
      CAPTURE(protocol);
      CAPTURE(variant);
      const bool many = variant != "one series";
      TempDir dir;
      Receiver rx;
      Db db((dir.path / "spool.db").string());
      db.Ok("CREATE VIRTUAL TABLE s USING prometheus_sink(url='" + rx.url() +
            "', spool=on, batch_size=1000, protocol='" + protocol + "'" + (many ? ", max_in_flight=1" : "") + ")");
      db.Ok("BEGIN");
      for (int i = 0; i < 100; ++i) {
        db.Ok("INSERT INTO s(labels, value, timestamp) WITH RECURSIVE k(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM k "
              "WHERE v < 9) SELECT json_object('__name__', 'm', 'i', " + std::string(many ? "v" : "0") + "), v, " +
              std::to_string(1000000 + i * 10) + " + v FROM k");
      }
      db.Ok("COMMIT");
      db.Ok("SELECT prometheus_sink_flush('s')");
      CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
      CHECK(RequestSizes(rx) == "1000");
      CHECK(Count(rx).distinct == 1000);
      CheckNoViolations(rx);
    }
  }
}

TEST_CASE("the drain reads ahead a bounded amount: rows of a shard that never fills a request do not wait for the "
          "end of the backlog") {
  // 10,000 rows in batches of 100: in each batch one row of one of ten
  // "rare" series, the rest of one "busy" series. With two shards the busy
  // series fills one shard's requests; the rare series that land on the
  // other shard give it half a row a batch, never a full request. A stored
  // batch leaves the spool only once all its rows are sent: were those rows
  // kept until the end of the backlog, half the batches would stay in the
  // spool until then, and a crash would send their delivered samples again.
  // The drain keeps what it read ahead bounded (4 x 2 - 2 batches here), so
  // every row goes within a few batches of its place in the spool.
  TempDir dir;
  Receiver rx;
  {
    Db db((dir.path / "spool.db").string());
    db.Ok("CREATE VIRTUAL TABLE s USING prometheus_sink(url='" + rx.url() +
          "', spool=on, batch_size=100, max_in_flight=2)");
    db.Ok("INSERT INTO s(labels, value, timestamp) WITH RECURSIVE k(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM k "
          "WHERE v < 9999) SELECT CASE WHEN v % 100 = 0 THEN json_object('__name__', 'rare', 'i', (v / 100) % 10) "
          "ELSE json_object('__name__', 'busy') END, v, 1000000 + v FROM k");
    db.Ok("SELECT prometheus_sink_flush('s')");
    CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
  }
  const auto samples = rx.Samples();
  REQUIRE(samples.size() == 10000);
  // How far behind its place in the spool (its value) a sample arrived.
  double most_late = 0;
  for (size_t i = 0; i < samples.size(); ++i) most_late = std::max(most_late, static_cast<double>(i) - samples[i].value());
  MESSAGE("the latest sample arrived " << most_late << " samples after its place in the spool");
  CHECK(most_late < 3000);  // about 1,800 with the bound; about 9,900 without it
  CheckNoViolations(rx);
}

TEST_CASE("a receiver answering after random 10-50 ms: requests overlap, no series is in two requests in flight at "
          "once, every sample arrives once, each series in order") {
  constexpr int kSeries = 100, kPerSeries = 200;
  TempDir dir;
  Receiver rx;
  rx.SetRandomDelay(10, 50);
  {
    Db db((dir.path / "spool.db").string());
    db.Ok("CREATE VIRTUAL TABLE s USING prometheus_sink(url='" + rx.url() + "', spool=on, batch_size=250)");
    db.Ok("INSERT INTO s(labels, value, timestamp) WITH RECURSIVE k(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM k "
          "WHERE v < " + std::to_string(kSeries * kPerSeries - 1) + ") SELECT json_object('__name__', 'm', 'i', v % " +
          std::to_string(kSeries) + "), v, 1000000 + v FROM k");
    db.Ok("SELECT prometheus_sink_flush('s')");
    CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
  }
  Tally t = Count(rx);
  CHECK(t.distinct == static_cast<size_t>(kSeries * kPerSeries));
  CHECK(t.duplicates == 0);
  CheckNoViolations(rx);  // includes: each series' samples in timestamp order within a request
  // Per series, its requests one after another: each received after the
  // one before was answered; and its samples in spool (timestamp) order
  // across requests.
  const auto requests = rx.Requests();
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, int64_t>> last;  // answered, last ts
  bool overlapped = false;
  size_t concurrent = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    for (size_t j = 0; j < i; ++j) concurrent += requests[i].received < requests[j].answered;
    std::set<std::string> series;
    for (const auto& s : requests[i].samples) series.insert(s.labels);
    for (const std::string& s : series) {
      auto it = last.find(s);
      if (it != last.end()) {
        CHECK_MESSAGE(requests[i].received >= it->second.first, "series " << s << " in two requests at once");
      }
    }
    for (const auto& s : requests[i].samples) {
      auto& l = last[s.labels];
      CHECK_MESSAGE(s.ts > l.second, "series " << s.labels << " out of order");
      l = {requests[i].answered, s.ts};
    }
  }
  overlapped = concurrent > 0;
  CHECK(overlapped);  // the drain did send concurrently
  MESSAGE(requests.size() << " requests, " << concurrent << " received while another was unanswered");
}

namespace {

// Lines sorted: requests may group series differently (shards), the
// content must be the same.
std::string SortedLines(std::vector<std::string> lines) {
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// What a receiver stored: samples (with start timestamps), histograms and
// exemplars, each sorted.
std::string Stored(const Receiver& rx) {
  std::vector<std::string> samples, hists, exemplars;
  for (const auto& s : rx.Samples()) samples.push_back(s.ToString() + " start=" + std::to_string(s.start_ts));
  for (const auto& h : rx.Histograms()) hists.push_back(h.ToString());
  for (const auto& e : rx.Exemplars()) exemplars.push_back(e.ToString());
  return SortedLines(samples) + "--\n" + SortedLines(hists) + "--\n" + SortedLines(exemplars);
}

}  // namespace

TEST_CASE("every row kind is spooled: histograms, exemplars and start timestamps arrive exactly as without the "
          "spool (1.0 and 2.0)") {
  for (const std::string protocol : {"1.0", "2.0"}) {
    CAPTURE(protocol);
    TempDir dir;
    Receiver plain_rx, spool_rx;
    const std::string opts = "protocol='" + protocol + "', key_exemplar='ex', key_start_timestamp='started'";
    const std::string rows = R"(
      INSERT INTO %s(labels, value, timestamp, started, ex) VALUES
        ('{"__name__":"requests_total"}', 10, 1000, 500, '{"labels":{"trace_id":"4bf92f35"},"value":0.042}'),
        ('{"__name__":"requests_total"}', 11, 2000, 500, '{"labels":{"trace_id":"é✓"}}'),
        ('{"__name__":"requests_total"}', 12, 3000, NULL, NULL),
        ('{"__name__":"requests_total","job":"b"}', 'stale', 3000, NULL, '{"labels":{"t":"x"},"value":"NaN","timestamp":2500}');
      INSERT INTO %s(labels, histogram, timestamp, started, ex) VALUES
        ('{"__name__":"latency_seconds"}', '{"schema":-2,"count":7,"sum":12.5,"zero_count":1,"positive":{"-1":2,"3":4},"negative":{},"reset":"no"}', 5000, 100, '{"labels":{"trace_id":"h"},"value":0.5}'),
        ('{"__name__":"latency_seconds"}', '{"schema":3,"sum":"NaN","zero_threshold":0.001,"zero_count":0.5,"positive":{"0":1.25},"negative":{"2":0.75}}', 6000, NULL, NULL);)";
    auto sql = [&](const std::string& table) {
      std::string out = rows;
      for (size_t at; (at = out.find("%s")) != std::string::npos;) out.replace(at, 2, table);
      return out;
    };
    {
      Db plain;
      plain.Sink("m", plain_rx.url(), opts);
      plain.Ok(sql("m"));
    }
    {
      Db db((dir.path / "spool.db").string());
      db.Ok("CREATE VIRTUAL TABLE m USING prometheus_sink(url='" + spool_rx.url() + "', spool=on, " + opts + ")");
      db.Ok("BEGIN");
      db.Ok(sql("m"));
      db.Ok("COMMIT");
      db.Ok("SELECT prometheus_sink_flush('m')");
      CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
      CHECK(db.Int("SELECT histograms_sent FROM prometheus_sink_stats") == 2);
      CHECK(db.Int("SELECT exemplars_sent FROM prometheus_sink_stats") == 4);
    }
    CHECK(spool_rx.Histograms().size() == 2);
    CHECK(spool_rx.Exemplars().size() == 4);
    CHECK(Stored(spool_rx) == Stored(plain_rx));
    CheckNoViolations(spool_rx);
  }
}

TEST_CASE("histogram and exemplar rows spooled by a sqlite3 process killed with SIGKILL mid-transaction: every "
          "committed row arrives exactly, no row of the open transaction") {
  for (const std::string protocol : {"1.0", "2.0"}) {
    CAPTURE(protocol);
    TempDir dir;
    Receiver plain_rx, spool_rx;
    const fs::path db_path = dir.path / "spool.db";
    const std::string opts = "protocol='" + protocol + "', batch_size=7, key_exemplar='ex'";
    // Transaction k: 10 histogram rows with exemplars and 10 float rows with
    // exemplars; the committed ones are 0..4, the 6th stays open.
    auto txn = [](const std::string& table, int k) {
      const std::string t0 = std::to_string(1700000000000LL + k * 100000);
      return "INSERT INTO " + table + "(labels, histogram, timestamp, ex) WITH RECURSIVE n(v) AS (SELECT 0 UNION ALL "
             "SELECT v + 1 FROM n WHERE v < 9) SELECT json_object('__name__', 'h', 'k', v % 3), json_object('schema', "
             "v % 4, 'sum', v * 0.25, 'zero_count', 1, 'positive', json_object('1', v + 1, '-2', 2)), " + t0 +
             " + v * 1000, json_object('labels', json_object('trace_id', 't' || v), 'value', v * 0.5) FROM n;\n"
             "INSERT INTO " + table + "(labels, value, timestamp, ex) WITH RECURSIVE n(v) AS (SELECT 0 UNION ALL "
             "SELECT v + 1 FROM n WHERE v < 9) SELECT json_object('__name__', 'c', 'k', v % 2), v / 3.0, " + t0 +
             " + v * 1000, json_object('labels', json_object('span', 's' || v)) FROM n;\n";
    };
    {
      Db plain;
      plain.Sink("m", plain_rx.url(), opts);
      for (int k = 0; k < 5; ++k) plain.Ok("BEGIN;\n" + txn("m", k) + "COMMIT;");
    }
    {
      Db db(db_path.string());
      db.Ok("CREATE VIRTUAL TABLE m USING prometheus_sink(url='" + spool_rx.url() + "', spool=on, " + opts + ")");
      // (The sink's drain may be looking at the new spool: wait for it.)
      sqlite3_busy_timeout(db.get(), 10000);
      db.Ok("CREATE TABLE progress(k INTEGER)");
    }
    spool_rx.SetDefault(Response::Slow(20));  // the drain is mid-request now and then
    const fs::path script = dir.path / "writer.sql";
    {
      std::ofstream out(script);
      out << ".bail on\n.timeout 10000\n.load " EXT_PATH "\n";
      for (int k = 0; k < 5; ++k) {
        out << "BEGIN IMMEDIATE;\n" << txn("m", k) << "INSERT INTO progress VALUES (" << k << ");\nCOMMIT;\n";
      }
      // The open transaction: its rows written to the spool (SAVEPOINT),
      // then a query that runs until the kill. (No `.shell`: it does not
      // run under the TSan build's preloaded runtime.)
      out << "BEGIN IMMEDIATE;\n" << txn("m", 5) << "SAVEPOINT p;\n"
          << "SELECT count(*) FROM generate_series(1, 1000000000000);\nCOMMIT;\n";
    }
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      const std::string cmd = "exec sqlite3 '" + db_path.string() + "' < '" + script.string() + "' > /dev/null 2>&1";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Once the 5 transactions committed, the 6th is under way: killed in it
    // (or just before it: no row of it may arrive either way).
    int64_t committed = 0;
    for (int i = 0; i < 1200 && committed < 5; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      sqlite3* plain = nullptr;
      sqlite3_stmt* st = nullptr;
      if (sqlite3_open_v2(db_path.c_str(), &plain, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
          sqlite3_prepare_v2(plain, "SELECT count(*) FROM progress", -1, &st, nullptr) == SQLITE_OK &&
          sqlite3_step(st) == SQLITE_ROW) {
        committed = sqlite3_column_int64(st, 0);
      }
      sqlite3_finalize(st);
      sqlite3_close(plain);
    }
    REQUIRE(committed == 5);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    spool_rx.SetDefault(Response::Status(204));
    {
      Db db(db_path.string());
      db.Ok("SELECT prometheus_sink_flush('m')");
      CHECK(db.Int("SELECT spool_rows FROM prometheus_sink_stats") == 0);
    }
    // Every committed row exactly (a request in flight at the kill may
    // have gone twice: compared as sets), none of the open transaction.
    auto distinct = [](const std::string& lines) {
      std::istringstream in(lines);
      std::set<std::string> out;
      for (std::string l; std::getline(in, l);) out.insert(l);
      return out;
    };
    CHECK(distinct(Stored(spool_rx)) == distinct(Stored(plain_rx)));
    CHECK(plain_rx.Histograms().size() == 50);
    CheckNoViolations(spool_rx);
  }
}

}  // TEST_SUITE spool_drain
