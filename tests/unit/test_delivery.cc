// Delivery (the shards, the 2.0 probe, the accounting) and Sink over a
// scripted fake Poster: no network, every outcome chosen by the test.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "delivery.h"
#include "sink.h"

using namespace psink;

namespace {

// What the fake posters of one test saw and how they answer. Thread-safe:
// shards post from their own threads.
struct Script {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<Protocol, size_t>> posts;  // protocol and body size, in order
  int in_flight = 0, peak = 0;
  // The answer to the n-th post (0-based); default: ok, written counts for 2.0.
  std::function<Status(size_t n, Protocol p, PostReport* r)> answer;
  // Posts wait until this many are in flight together (or they are cancelled).
  int gather = 0;
  bool hang = false;  // posts wait for the cancel flag
  int delay_ms = 0;   // every post takes this long (a receiver across a network)
};

class FakePoster final : public Poster {
 public:
  FakePoster(Script* s, const std::atomic<bool>* cancel) : s_(s), cancel_(cancel) {}
  Status Post(std::string_view body, PostReport* report, Protocol protocol) override {
    std::unique_lock<std::mutex> lock(s_->mu);
    const size_t n = s_->posts.size();
    s_->posts.emplace_back(protocol, body.size());
    s_->peak = std::max(s_->peak, ++s_->in_flight);
    s_->cv.notify_all();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((s_->hang || s_->in_flight < s_->gather) && std::chrono::steady_clock::now() < deadline) {
      if (cancel_ != nullptr && cancel_->load()) {
        --s_->in_flight;
        report->attempts = 1;
        return Status::Failed("POST fake: interrupted while waiting for the receiver (after 1 attempt)");
      }
      s_->cv.wait_for(lock, std::chrono::milliseconds(5));
    }
    s_->gather = 0;  // the gathering happened: later posts go at once
    if (s_->delay_ms > 0) s_->cv.wait_for(lock, std::chrono::milliseconds(s_->delay_ms));
    --s_->in_flight;
    s_->cv.notify_all();
    report->attempts = 1;
    report->bytes_sent = body.size();
    report->last_status = 204;
    if (protocol == Protocol::kV2) report->samples_written = 1 << 30;
    if (s_->answer) return s_->answer(n, protocol, report);
    return Status::Ok();
  }

 private:
  Script* s_;
  const std::atomic<bool>* cancel_;
};

PosterFactory Fakes(Script* s) {
  return [s](const std::atomic<bool>* cancel) { return std::make_unique<FakePoster>(s, cancel); };
}

SinkOptions Options(int64_t shards, int64_t batch_size = 10) {
  SinkOptions o;
  o.url = "http://127.0.0.1:9/api/v1/write";
  o.max_in_flight = shards;
  o.max_in_flight_auto = false;
  o.batch_size = batch_size;
  return o;
}

// A batch of `n` rows over `series` series named s0, s1, …
Batch Rows(size_t n, size_t series, uint64_t first_seq = 0) {
  Batch b;
  std::vector<uint32_t> ids;
  for (size_t s = 0; s < series; ++s) ids.push_back(b.Intern({{"__name__", "m"}, {"s", "s" + std::to_string(s)}}));
  for (size_t i = 0; i < n; ++i) b.Append(ids[i % series], static_cast<double>(i), 1000 + static_cast<int64_t>(i), first_seq + i);
  return b;
}

// A Sink row: labels JSON, value, timestamp (ms).
struct SinkRow {
  std::string labels;
  std::vector<Cell> cells;
  explicit SinkRow(const std::string& series, double v, int64_t ts) : labels(R"({"__name__":"m","s":")" + series + R"("})") {
    cells.resize(5);
    cells[0].type = Cell::Type::kText;
    cells[0].text = labels;
    cells[1].type = Cell::Type::kReal;
    cells[1].d = v;
    cells[2].type = Cell::Type::kInteger;
    cells[2].i = ts;
  }
};

}  // namespace

TEST_CASE("Delivery: jobs of different shards are on the wire together; WaitAll collects every outcome") {
  Script s;
  s.gather = 4;  // each post waits until four are in flight: only concurrent shards get there
  Delivery d(Options(4), Fakes(&s));
  for (size_t k = 0; k < 4; ++k) REQUIRE(d.Submit(k, Rows(10, 2), 10).ok());
  CHECK(d.WaitAll().ok());
  CHECK(s.peak == 4);
  CHECK(s.posts.size() == 4);
  CHECK(d.stats().samples_sent == 40);
  CHECK(d.stats().requests == 4);
  CHECK(d.delivered() == 40);
  CHECK_FALSE(d.failure());
}

TEST_CASE("Delivery: a shard posts its jobs one at a time, in order, each split by per_request") {
  Script s;
  Delivery d(Options(2), Fakes(&s));
  std::vector<uint64_t> acked;
  for (int j = 0; j < 5; ++j) {
    REQUIRE(d.Submit(1, Rows(25, 3, static_cast<uint64_t>(100 * j)), 10,
                     [&](const std::vector<uint64_t>& seqs) { acked.insert(acked.end(), seqs.begin(), seqs.end()); })
                .ok());
  }
  CHECK(d.WaitAll().ok());
  CHECK(s.peak == 1);                // one shard: never two requests at once
  CHECK(s.posts.size() == 15);       // 25 rows a job, 10 a request: 10 + 10 + 5
  CHECK(acked.size() == 125);
  for (size_t i = 1; i < acked.size(); ++i) {
    // acknowledged in the order submitted (within a request, by series)
    CHECK(acked[i] / 100 >= acked[i - 1] / 100);
  }
}

TEST_CASE("Delivery: a failed request stops the jobs not yet started; they count as not sent") {
  Script s;
  s.answer = [](size_t n, Protocol, PostReport* r) {
    if (n == 0) {
      r->last_status = 400;
      return Status::Failed("POST fake: HTTP 400: bad (not retried)");
    }
    return Status::Ok();
  };
  Delivery d(Options(1), Fakes(&s));
  REQUIRE(d.Submit(0, Rows(10, 1), 10).ok());
  Status second = d.Submit(0, Rows(10, 1, 10), 10);  // waits for the first (depth 1): its failure surfaces
  CHECK_FALSE(second.ok());
  CHECK(second.message().find("HTTP 400") != std::string::npos);
  d.WaitAll();
  REQUIRE(d.failure());
  CHECK(d.failure()->samples == 10);
  CHECK(d.not_sent() == 20);  // the failed request and the rows not handed over
  CHECK(s.posts.size() == 1);
  CHECK(d.stats().failures == 1);
  CHECK(d.stats().samples_sent == 0);
}

TEST_CASE("Delivery: protocol 2.0 refused: the probe goes alone, then every shard speaks 1.0; rows sent once as 1.0") {
  Script s;
  s.answer = [](size_t, Protocol p, PostReport* r) {
    if (p == Protocol::kV2) {
      r->unsupported_protocol = true;
      r->last_status = 415;
      return Status::Failed("POST fake: HTTP 415 (not retried)");
    }
    return Status::Ok();
  };
  SinkOptions o = Options(3);
  o.protocol = Protocol::kV2;
  Delivery d(o, Fakes(&s));
  for (size_t k = 0; k < 3; ++k) REQUIRE(d.Submit(k, Rows(10, 1), 10).ok());
  CHECK(d.WaitAll().ok());
  REQUIRE(s.posts.size() == 4);
  CHECK(s.posts[0].first == Protocol::kV2);
  for (size_t i = 1; i < 4; ++i) CHECK(s.posts[i].first == Protocol::kV1);
  CHECK(d.protocol() == Protocol::kV1);
  CHECK(d.stats().fell_back);
  CHECK(d.stats().samples_sent == 30);
  CHECK(d.stats().failures == 0);
}

TEST_CASE("Delivery: the interrupt check cancels hanging posts; the wait ends with an 'interrupted' failure") {
  Script s;
  s.hang = true;
  Delivery d(Options(2), Fakes(&s));
  auto t0 = std::chrono::steady_clock::now();
  d.SetInterruptCheck([&] { return std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(100); });
  REQUIRE(d.Submit(0, Rows(10, 1), 10).ok());
  REQUIRE(d.Submit(1, Rows(10, 1), 10).ok());
  Status st = d.WaitAll();
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("interrupted") != std::string::npos);
  CHECK(d.not_sent() == 20);
  // A cancel ends with the jobs: the next ones go.
  s.hang = false;
  d.ResetLedger();
  d.SetInterruptCheck(nullptr);
  REQUIRE(d.Submit(0, Rows(10, 1), 10).ok());
  CHECK(d.WaitAll().ok());
}

TEST_CASE("Sink over fakes: full requests per shard, COMMIT (Flush) waits for every shard and sends the rest as one") {
  Script s;
  SinkOptions o = Options(4, 5);
  Sink sink("m", o, Fakes(&s));
  sink.Begin();
  // 8 series x 5 rows: every shard that owns series fills full batches of 5.
  for (int i = 0; i < 40; ++i) {
    SinkRow r("s" + std::to_string(i % 8), i, 1000 + i);
    REQUIRE(sink.Insert(r.cells.data(), 0).ok());
  }
  SinkRow last("s0", 99, 5000);
  REQUIRE(sink.Insert(last.cells.data(), 0).ok());
  uint64_t sent = 0;
  REQUIRE(sink.Flush(&sent).ok());
  sink.Commit();
  CHECK(sink.stats().samples_sent == 41);
  CHECK(sink.buffered() == 0);
  // Every request but the last (the one row left at COMMIT) is full.
  REQUIRE(s.posts.size() >= 9);
  CHECK(s.posts.size() <= 41 / 5 + 4);
  CHECK(s.peak <= 4);
}

TEST_CASE("Sink, default max_in_flight: one queue with a receiver that answers at once, shards with a slow one") {
  for (int delay : {0, 30}) {
    CAPTURE(delay);
    Script s;
    s.delay_ms = delay;
    SinkOptions o = Options(8, 50);
    o.max_in_flight_auto = true;  // as when the option is not given
    // With a receiver that answers at once, no send waits: a clock that
    // stands still says so whatever the machine's load (a loaded machine
    // could otherwise delay a send past the 5 ms that counts as waiting).
    Sink::Clock still = [] { return std::chrono::steady_clock::time_point{}; };
    Sink sink("m", o, Fakes(&s), delay == 0 ? still : nullptr);
    sink.Begin();
    for (int i = 0; i < 600; ++i) {
      SinkRow r("s" + std::to_string(i % 40), i, 1000 + i);
      REQUIRE(sink.Insert(r.cells.data(), 0).ok());
    }
    REQUIRE(sink.Flush().ok());
    sink.Commit();
    CHECK(sink.stats().samples_sent == 600);
    if (delay == 0) {
      CHECK(s.peak == 1);               // one queue
      CHECK(s.posts.size() == 12);      // 600 / 50, the exact requests of max_in_flight=1
    } else {
      CHECK(s.peak > 1);                // turned to shards: requests on the wire together
      CHECK(s.posts.size() <= 12 + 8);  // full requests, at most one partial per shard
    }
  }
}

TEST_CASE("Sink: the raw-key cache is bypassed while rows are new series, used again when they repeat; series stay bounded") {
  Script s;
  SinkOptions o = Options(1, 1000);
  Sink sink("m", o, Fakes(&s));
  sink.Begin();
  int64_t ts = 1000;
  auto insert = [&](const std::string& series) {
    SinkRow r(series, 1.0, ts++);
    // InsertKnown as the glue calls it first; Insert when it declines.
    Status st;
    if (!sink.InsertKnown(r.labels, 1.0, r.cells[2].i, 0, &st)) st = sink.Insert(r.cells.data(), 0);
    REQUIRE(st.ok());
  };
  CHECK_FALSE(sink.bypassing_raw_keys());
  for (int i = 0; i < 3 * 4096; ++i) insert("new" + std::to_string(i));  // every row a new series
  CHECK(sink.bypassing_raw_keys());
  for (int i = 0; i < 2 * 4096; ++i) insert("few" + std::to_string(i % 50));  // 50 series, over and over
  CHECK_FALSE(sink.bypassing_raw_keys());
  // 100,000 distinct series through batches of 1000: the table is cleared
  // between batches once past the bound, never larger than it plus a batch.
  size_t most = 0;
  for (int i = 0; i < 100000; ++i) {
    insert("bound" + std::to_string(i));
    most = std::max(most, sink.batch().series_count());
  }
  CHECK(most <= Sink::kKeepSeries + 1000);
  CHECK(sink.batch().series_bytes() <= Sink::kSeriesBytes);
  REQUIRE(sink.Flush().ok());
  sink.Commit();
  CHECK(sink.stats().samples_sent == 3 * 4096 + 2 * 4096 + 100000);
}

TEST_CASE("Delivery: a failure that CanTake() collects is reported by the next Poll/WaitAll, never swallowed") {
  Script s;
  s.answer = [](size_t, Protocol, PostReport* r) {
    r->last_status = 500;
    return Status::Failed("POST fake: HTTP 500: down (after 1 attempt)");
  };
  Delivery d(Options(2), Fakes(&s));  // several shards: depth 2 each
  REQUIRE(d.Submit(0, Rows(10, 1), 10).ok());
  REQUIRE(d.Submit(0, Rows(10, 1, 10), 10).ok());
  // Both jobs of shard 0 finish (the second is skipped: the first dooms).
  {
    std::unique_lock<std::mutex> lock(s.mu);
    s.cv.wait_for(lock, std::chrono::seconds(10), [&] { return !s.posts.empty() && s.in_flight == 0; });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(d.CanTake(0));  // collects the finished jobs, failure included
  Status polled = d.Poll();
  Status waited = d.WaitAll();
  CHECK_FALSE((polled.ok() && waited.ok()));
  CHECK(d.stats().failures == 1);
  REQUIRE(d.failure());
}

TEST_CASE("Sink over fakes, several shards: a failed request fails the COMMIT, whatever collects it first") {
  for (int attempt = 0; attempt < 20; ++attempt) {
    CAPTURE(attempt);
    Script s;
    s.answer = [](size_t n, Protocol, PostReport* r) {
      if (n != 1) return Status::Ok();
      r->last_status = 500;
      return Status::Failed("POST fake: HTTP 500: down (after 1 attempt)");
    };
    Sink sink("m", Options(2, 5), Fakes(&s));
    sink.Begin();
    Status st;
    for (int i = 0; i < 60 && st.ok(); ++i) {
      SinkRow r("s" + std::to_string(i % 6), i, 1000 + i);
      st = sink.Insert(r.cells.data(), 0);
    }
    if (st.ok()) st = sink.Flush();
    CHECK_FALSE(st.ok());  // one request failed: the transaction cannot commit
    CHECK(sink.stats().failures == 1);
    sink.Rollback();
  }
}

TEST_CASE("Delivery::ShardOf spreads similar series evenly over the shards") {
  Delivery d(Options(8), nullptr);
  std::vector<int> count(8);
  for (int i = 0; i < 64; ++i) count[d.ShardOf(EncodeLabels({{"__name__", "lat"}, {"id", "s" + std::to_string(i)}}))]++;
  for (int k = 0; k < 8; ++k) {
    CAPTURE(k);
    CHECK(count[k] >= 3);  // 8 expected; the low bits of the hash put 54 on one shard
    CHECK(count[k] <= 14);
  }
}
