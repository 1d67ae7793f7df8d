// Fuzz target for the whole row-to-request path without SQLite or HTTP,
// through the code a sink runs: rows go into a psink::Sink (decoding, the
// raw-key cache, the buffer or the shards' lanes, savepoints), which sends
// them through its Delivery (worker threads, the 2.0 probe and fallback,
// the encoders, max_request_bytes splits) to fake posters in place of
// libcurl (transport.h's seam). Every body a poster gets is read back with
// the tests' request decoder (tests/common/request_decoder.h), which checks
// the wire rules; the posters answer as the input says: accepted, failed
// (after the transport's retries, as it were), or refused as 2.0 by a
// receiver that speaks 1.0 only.
//
// Input: text lines.
//   line 1:  "<unit> <max_request_bytes> <batch_size> [v2] [only1] [shards<k>]
//            [md<type> [help [unit]]]", e.g. "ms 300 4" or
//            "s 400 8 v2 md1 CPU_time seconds" (unit s|ms|us|ns; bytes are
//            clamped to 40..8192, batch to 1..64; v2: protocol='2.0';
//            only1: the receiver speaks 1.0 only, so a 2.0 sink falls back;
//            shards<k>: max_in_flight=k (1..4, fixed; default 1);
//            md<type> sends metadata of type 0..7 with the help and unit
//            given, or none)
//   a row:   <labels JSON> TAB <value> TAB <timestamp>   (NULL for an SQL NULL;
//            a missing timestamp is NULL, which means "now")
//   !flush                 COMMIT: send everything, wait for every request
//                          (a failed COMMIT rolls back), then a new transaction
//   !fail <k>              the k-th request posted from now (0: the next) fails
//   !savepoint / !release / !rollback_to   SQLite's savepoints (nested);
//                          ROLLBACK TO with none open discards all the sink's rows
//   !rollback              ROLLBACK, then a new transaction
//   !tick                  the clock moves by flush_interval (1 s): the next
//                          row sends everything buffered
// The input ends with a COMMIT.
//
// Invariants checked, besides "no crash, no sanitizer report":
//   - every body is valid snappy of at most max_request_bytes, decodes as
//     its protocol and breaks no wire rule (the decoder's list: labels
//     sorted, unique, with __name__; a series once per request; samples in
//     timestamp order; 2.0 symbols; ...); no histogram, exemplar or start
//     timestamp is sent; with metadata, each 1.0 request carries one
//     MetricMetadata per metric name among its series, in order of first
//     appearance, and each 2.0 series its Metadata; without, none;
//   - nothing is posted as 2.0 after a fallback, and nothing is stored that
//     was not a row of the sink that has left its buffer; every row is
//     stored at most once, with its value bits, timestamp and labels;
//   - per series, a row stored before one that arrived earlier has a
//     smaller timestamp (rows of one send are sorted by time; sends keep
//     arrival order);
//   - the sink's buffer (buffered_row) holds exactly the rows accepted and
//     neither sent nor rolled back, in arrival order, with the labels they
//     were decoded to (the raw-key cache never returns another series); a
//     refused row changes nothing;
//   - a failure reaches the caller only after a request failed, and then
//     every insert and the COMMIT fail until ROLLBACK; a transaction none
//     of whose requests failed commits, and then every row it kept was
//     stored exactly once; a failed COMMIT's message counts the samples
//     the transaction stored; stats().samples_sent counts every sample
//     stored.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "decode.h"
#include "options.h"
#include "request_decoder.h"
#include "sink.h"
#include "text.h"
#include "transport.h"

namespace {

using psink::Cell;
using psink::LabelSet;
using psink::Status;

constexpr int64_t kNow = 1'700'000'000'000;
constexpr int64_t kFlushIntervalMs = 1000;

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

// What the fake posters saw, shared by the shards' worker threads.
struct Wire {
  struct Post {
    rwdecode::Protocol protocol;
    enum Outcome { kStored, kFailed, kRefused2 } outcome;
    std::vector<rwdecode::Sample> samples;
  };

  std::mutex mu;
  size_t max_bytes = 0;
  bool only1 = false;                      // a 1.0-only receiver: 2.0 bodies are refused
  std::optional<psink::MetricMetadata> md;
  size_t posts = 0;                        // posted so far
  size_t fail_at = SIZE_MAX;               // the post with this number fails
  bool fell_back = false;                  // a 2.0 body was refused
  std::vector<Post> log;                   // every post, in the order they came

  Status Take(std::string_view body, psink::PostReport* report, psink::Protocol protocol) {
    const auto p = protocol == psink::Protocol::kV2 ? rwdecode::Protocol::kV2 : rwdecode::Protocol::kV1;
    rwdecode::DecodedRequest req;
    std::vector<std::string> violations;
    std::string raw;
    rwdecode::DecodeRequest(body, p, &req, &violations, &raw);
    for (const std::string& v : violations) FUZZ_CHECK(false, "the request breaks a wire rule: %s", v.c_str());
    FUZZ_CHECK(raw.size() <= max_bytes, "request of %zu bytes over max_request_bytes %zu", raw.size(), max_bytes);
    FUZZ_CHECK(req.histograms.empty() && req.exemplars.empty(), "histograms or exemplars sent");
    for (const rwdecode::Sample& s : req.samples) FUZZ_CHECK(s.start_ts == 0, "start_timestamp sent");
    CheckMetadata(req);

    std::lock_guard<std::mutex> lock(mu);
    FUZZ_CHECK(!(fell_back && p == rwdecode::Protocol::kV2), "a 2.0 request after the fallback to 1.0");
    report->attempts = 1;
    report->bytes_sent = body.size();
    Post post{p, Post::kStored, std::move(req.samples)};
    if (posts++ == fail_at) {
      post.outcome = Post::kFailed;
      report->last_status = 500;
      log.push_back(std::move(post));
      return Status::Failed("POST fake: HTTP 500 Internal Server Error: fuzz (after 1 attempt)");
    }
    if (only1 && p == rwdecode::Protocol::kV2) {
      // What Transport makes of a 1.0 receiver's 204 to a 2.0 body.
      fell_back = true;
      post.outcome = Post::kRefused2;
      report->last_status = 415;
      report->unsupported_protocol = true;
      log.push_back(std::move(post));
      return Status::Failed("POST fake: HTTP 204 without X-Prometheus-Remote-Write-*-Written headers (not retried)");
    }
    report->last_status = 204;
    if (p == rwdecode::Protocol::kV2) {
      report->samples_written = static_cast<int64_t>(post.samples.size());
      report->histograms_written = 0;
      report->exemplars_written = 0;
    }
    log.push_back(std::move(post));
    return Status::Ok();
  }

  void CheckMetadata(const rwdecode::DecodedRequest& req) const {
    if (req.is_v2()) {
      for (const rwdecode::SeenMetadata& m : req.metadata) {
        const bool want_type = md && m.type == static_cast<int>(md->type);
        FUZZ_CHECK(md ? want_type && m.help == md->help && m.unit == md->unit
                      : m.type == 0 && m.help.empty() && m.unit.empty(),
                   "2.0 metadata of %s: type %d help '%s' unit '%s'", m.labels.c_str(), m.type, m.help.c_str(),
                   m.unit.c_str());
      }
      if (md) {
        FUZZ_CHECK(req.metadata.size() == static_cast<size_t>(req.write_v2.timeseries_size()),
                   "%zu metadata for %d series", req.metadata.size(), req.write_v2.timeseries_size());
      }
      return;
    }
    // 1.0: one entry per metric name, in order of first appearance.
    std::vector<std::string> names;
    for (const auto& ts : req.write.timeseries()) {
      for (const auto& l : ts.labels()) {
        if (l.name() == "__name__" && std::find(names.begin(), names.end(), l.value()) == names.end()) {
          names.push_back(l.value());
        }
      }
    }
    if (!md) {
      FUZZ_CHECK(req.metadata.empty(), "metadata sent without metric_type/help/unit");
      return;
    }
    FUZZ_CHECK(req.metadata.size() == names.size(), "%zu metadata entries for %zu metric names", req.metadata.size(),
               names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      const rwdecode::SeenMetadata& m = req.metadata[i];
      FUZZ_CHECK(m.metric == names[i] && m.type == static_cast<int>(md->type) && m.help == md->help &&
                     m.unit == md->unit,
                 "metadata entry %zu is not that of '%s'", i, names[i].c_str());
    }
  }
};

class FakePoster final : public psink::Poster {
 public:
  explicit FakePoster(Wire* wire) : wire_(wire) {}
  Status Post(std::string_view body, psink::PostReport* report, psink::Protocol protocol) override {
    return wire_->Take(body, report, protocol);
  }

 private:
  Wire* wire_;
};

// One accepted row and what became of it.
struct ModelRow {
  enum State { kBuffered, kLeft, kStored, kLost, kDropped };
  LabelSet labels;
  std::string rendered;  // as rwdecode::Sample::labels
  uint64_t value_bits;
  int64_t ts;
  uint64_t seq;  // the sink's arrival number (counted on across transactions, reused after ROLLBACK TO)
  State state = kBuffered;
};

class Harness {
 public:
  Harness(psink::SinkOptions opts, bool only1) : opts_(std::move(opts)) {
    wire_.max_bytes = static_cast<size_t>(opts_.max_request_bytes);
    wire_.only1 = only1;
    wire_.md = opts_.metadata;
    sink_ = std::make_unique<psink::Sink>("fuzz", opts_, [this](const std::atomic<bool>*) {
      return std::make_unique<FakePoster>(&wire_);
    });
    sink_->Begin();
  }

  void Row(std::string_view line) {
    std::vector<std::string_view> f;
    fuzz::Split(line, '\t', &f);
    Cell cells[5];  // labels, value, timestamp; the histogram and exemplar columns stay NULL
    for (size_t i = 0; i < 3 && i < f.size(); ++i) {
      if (f[i] != "NULL") {
        cells[i].type = Cell::Type::kText;
        cells[i].text = f[i];
      }
    }
    // What the row should become, read by the decoding units themselves.
    LabelSet labels;
    double value = 0;
    int64_t ts = 0;
    builder_.Reset();
    builder_.set_names(opts_.names);  // the sink's schemes
    Status want = cells[0].type == Cell::Type::kText ? builder_.AddJson(cells[0].text, "labels") : Status::Ok();
    if (want.ok()) want = builder_.Finish(&labels);
    if (want.ok()) want = psink::DecodeValue(cells[1], "value", &value);
    if (want.ok()) want = psink::DecodeTimestamp(cells[2], opts_.timestamp_unit, now_, "timestamp", &ts);

    const bool was_doomed = doomed_;
    Status st = sink_->Insert(cells, now_);
    // Accepted: ok, or a send that failed after the row joined the buffer.
    if (!was_doomed && (st.ok() || st.code() == Status::Code::kFailed)) {
      FUZZ_CHECK(want.ok(), "the sink accepted a row that does not decode (%s)", want.message().c_str());
      ModelRow m;
      m.rendered = rwdecode::LabelsToString(labels);
      m.labels = std::move(labels);
      m.value_bits = Bits(value);
      m.ts = ts;
      m.seq = next_seq_++;
      rows_.push_back(std::move(m));
    } else if (!was_doomed) {
      // Refused: a row that decodes may only be too large for a request.
      FUZZ_CHECK(!want.ok() || st.message().find("max_request_bytes") != std::string::npos,
                 "refused a row that decodes: %s", st.message().c_str());
    }
    Outcome(st, "insert");
    Sync();
  }

  void Directive(std::string_view line) {
    if (line == "!flush") {
      Commit();
    } else if (line.rfind("!fail ", 0) == 0) {
      std::lock_guard<std::mutex> lock(wire_.mu);
      wire_.fail_at = wire_.posts + std::strtoul(std::string(line.substr(6)).c_str(), nullptr, 10) % 8;
    } else if (line == "!savepoint") {
      sink_->Savepoint(depth_);
      marks_.push_back(next_seq_);
      ++depth_;
    } else if (line == "!release") {
      if (depth_ > 0) {
        sink_->Release(--depth_);
        marks_.pop_back();
      }
    } else if (line == "!rollback_to") {
      if (depth_ == 0) {
        sink_->RollbackTo(0);  // a savepoint from before the sink joined: all its rows go
        RolledBack();
      } else {
        sink_->RollbackTo(depth_ - 1);
        const uint64_t mark = marks_.back();
        for (ModelRow& r : rows_) {
          if (r.state == ModelRow::kBuffered && r.seq >= mark) r.state = ModelRow::kDropped;
        }
        next_seq_ = mark;
      }
      Sync();
    } else if (line == "!rollback") {
      sink_->Rollback();
      RolledBack();
      Sync();
      NewTransaction();
    } else if (line == "!tick") {
      now_ += kFlushIntervalMs;
    }
  }

  void Finish() {
    {
      std::lock_guard<std::mutex> lock(wire_.mu);
      wire_.fail_at = SIZE_MAX;
    }
    Commit();
    size_t stored = 0;
    for (const Wire::Post& p : wire_.log) stored += p.outcome == Wire::Post::kStored ? p.samples.size() : 0;
    FUZZ_CHECK(sink_->stats().samples_sent == stored, "stats count %llu samples sent, the receiver stored %zu",
               static_cast<unsigned long long>(sink_->stats().samples_sent), stored);
  }

 private:
  // The outcome of a call: a failure is a delivery failure (every later
  // call fails too) or a refused row.
  void Outcome(const Status& st, const char* what) {
    if (st.code() != Status::Code::kFailed) {
      FUZZ_CHECK(st.ok() || !doomed_, "%s: a doomed transaction answered '%s'", what, st.message().c_str());
      return;
    }
    std::lock_guard<std::mutex> lock(wire_.mu);
    bool failed = false;
    for (size_t i = txn_first_post_; i < wire_.log.size(); ++i) failed |= wire_.log[i].outcome == Wire::Post::kFailed;
    FUZZ_CHECK(failed, "%s failed though no request failed: %s", what, st.message().c_str());
    doomed_ = true;
  }

  // Compares the sink's buffer with the model, and reads what was posted.
  void Sync() {
    // Rows the model has buffered and the sink no longer has: they left.
    const size_t n = sink_->buffered();
    std::vector<uint64_t> in_sink;
    for (size_t i = 0; i < n; ++i) in_sink.push_back(sink_->buffered_row(i).seq);
    size_t k = 0;
    for (ModelRow& m : rows_) {
      if (m.state != ModelRow::kBuffered) continue;
      if (k < in_sink.size() && in_sink[k] == m.seq) {
        const psink::Row& r = sink_->buffered_row(k);
        FUZZ_CHECK(r.ts == m.ts && Bits(r.value) == m.value_bits, "buffered row %llu changed",
                   static_cast<unsigned long long>(m.seq));
        FUZZ_CHECK(sink_->batch().labels(r.series) == m.labels, "buffered row %llu lost its labels",
                   static_cast<unsigned long long>(m.seq));
        ++k;
      } else {
        m.state = ModelRow::kLeft;
      }
    }
    FUZZ_CHECK(k == in_sink.size(), "the sink buffers %zu rows, the model %zu", in_sink.size(), k);
    ReadPosts();
  }

  // Matches every new post's samples with the rows that left the buffer.
  void ReadPosts() {
    std::lock_guard<std::mutex> lock(wire_.mu);
    for (; posts_read_ < wire_.log.size(); ++posts_read_) {
      const Wire::Post& p = wire_.log[posts_read_];
      for (const rwdecode::Sample& s : p.samples) {
        ModelRow* row = nullptr;
        for (ModelRow& m : rows_) {
          if (m.state == ModelRow::kLeft && m.ts == s.ts && m.value_bits == s.value_bits && m.rendered == s.labels) {
            row = &m;
            break;
          }
        }
        FUZZ_CHECK(row != nullptr, "posted a sample that is no row of the sink waiting to be sent: %s",
                   s.ToString().c_str());
        if (p.outcome == Wire::Post::kRefused2) continue;  // it goes again as 1.0
        const uint64_t arrival = static_cast<uint64_t>(row - rows_.data());
        auto [it, fresh] = last_stored_.emplace(s.labels, std::make_pair(arrival, s.ts));
        if (!fresh) {
          auto [prev_arrival, prev_ts] = it->second;
          FUZZ_CHECK(arrival > prev_arrival || s.ts > prev_ts,
                     "series %s: the row that arrived %llu-th went after a later one with timestamp %lld",
                     s.labels.c_str(), static_cast<unsigned long long>(arrival), static_cast<long long>(prev_ts));
          it->second = {arrival, s.ts};
        }
        if (p.outcome == Wire::Post::kStored) {
          row->state = ModelRow::kStored;
          ++txn_stored_;
        } else {
          row->state = ModelRow::kLost;
        }
      }
    }
  }

  void Commit() {
    Status st = sink_->Flush();
    Outcome(st, "COMMIT");
    Sync();
    if (st.ok()) {
      FUZZ_CHECK(!doomed_, "a doomed transaction committed");
      for (const ModelRow& m : rows_) {
        FUZZ_CHECK(m.state == ModelRow::kStored || m.state == ModelRow::kDropped,
                   "committed, but row %llu (%s %lld) was not stored", static_cast<unsigned long long>(m.seq),
                   m.rendered.c_str(), static_cast<long long>(m.ts));
      }
      sink_->Commit();
    } else {
      FUZZ_CHECK(st.code() == Status::Code::kFailed, "COMMIT refused: %s", st.message().c_str());
      // The message counts what the transaction delivered, exactly: a
      // COMMIT makes it once every shard's requests are answered.
      const std::string prefix = "delivered in this transaction before the failure: ";
      const size_t at = st.message().find(prefix);
      FUZZ_CHECK(at != std::string::npos, "the failed COMMIT does not say what was delivered: %s", st.message().c_str());
      const size_t said = std::strtoull(st.message().c_str() + at + prefix.size(), nullptr, 10);
      FUZZ_CHECK(said == txn_stored_,
                 "the failed COMMIT says '%s', the receiver stored %zu", st.message().c_str(), txn_stored_);
      sink_->Rollback();
      RolledBack();
      Sync();
    }
    NewTransaction();
  }


  // ROLLBACK (or ROLLBACK TO a savepoint from before the sink joined): the
  // buffered rows go, and the transaction may commit again.
  void RolledBack() {
    // What was in flight has been answered (Rollback waits for it); the
    // rest of the rows never go.
    ReadPosts();
    for (ModelRow& m : rows_) {
      if (m.state != ModelRow::kStored) m.state = ModelRow::kDropped;
    }
    doomed_ = false;
    std::lock_guard<std::mutex> lock(wire_.mu);
    txn_first_post_ = wire_.log.size();
    txn_stored_ = 0;
  }

  void NewTransaction() {
    // Rows that left and were never stored are gone with the rollback.
    rows_.clear();
    last_stored_.clear();
    marks_.clear();
    depth_ = 0;
    doomed_ = false;
    txn_stored_ = 0;
    {
      std::lock_guard<std::mutex> lock(wire_.mu);
      txn_first_post_ = wire_.log.size();
    }
    sink_->Begin();
  }

  psink::SinkOptions opts_;
  psink::LabelSetBuilder builder_;
  Wire wire_;
  std::unique_ptr<psink::Sink> sink_;
  int64_t now_ = kNow;
  std::vector<ModelRow> rows_;  // this transaction's rows, in arrival order
  std::map<std::string, std::pair<uint64_t, int64_t>> last_stored_;  // series -> (arrival, ts) last stored
  std::vector<uint64_t> marks_;  // next_seq_ when each open savepoint began
  int depth_ = 0;
  uint64_t next_seq_ = 0;  // the sink's next arrival number
  bool doomed_ = false;
  size_t posts_read_ = 0;
  size_t txn_first_post_ = 0;
  size_t txn_stored_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string_view> lines;
  fuzz::Split(fuzz::AsText(data, size), '\n', &lines);
  if (lines.empty() || lines.size() > 512) return 0;

  // Header: unit, max_request_bytes, batch_size, then the optional words.
  std::vector<std::string_view> h;
  fuzz::Split(lines[0], ' ', &h);
  psink::SinkOptions opts;
  opts.url = "http://127.0.0.1:9/api/v1/write";  // never reached: the posters are fakes
  opts.flush_interval_ms = kFlushIntervalMs;
  opts.max_in_flight = 1;
  opts.max_in_flight_auto = false;  // the automatic default depends on timing
  if (!h.empty()) {
    if (h[0] == "s") opts.timestamp_unit = psink::TimeUnit::kSeconds;
    if (h[0] == "us") opts.timestamp_unit = psink::TimeUnit::kMicros;
    if (h[0] == "ns") opts.timestamp_unit = psink::TimeUnit::kNanos;
  }
  auto num = [&](size_t i, size_t def) {
    return i < h.size() ? std::strtoul(std::string(h[i]).c_str(), nullptr, 10) : def;
  };
  opts.max_request_bytes = static_cast<int64_t>(std::clamp<size_t>(num(1, 512), 40, 8192));
  opts.batch_size = static_cast<int64_t>(std::clamp<size_t>(num(2, 8), 1, 64));
  bool only1 = false;
  for (size_t i = 3; i < h.size(); ++i) {
    if (h[i] == "v2") {
      opts.protocol = psink::Protocol::kV2;
    } else if (h[i] == "only1") {
      only1 = true;
    } else if (h[i].substr(0, 6) == "shards") {
      opts.max_in_flight = static_cast<int64_t>(
          std::clamp<unsigned long>(std::strtoul(std::string(h[i].substr(6)).c_str(), nullptr, 10), 1, 4));
    } else if (h[i].substr(0, 2) == "md") {
      psink::MetricMetadata md;
      md.type = static_cast<psink::MetricType>(h[i].size() > 2 ? (h[i][2] - '0') & 7 : 0);
      // As the options allow: UTF-8 only (proto3 strings must be).
      if (i + 1 < h.size() && psink::IsValidUtf8(h[i + 1])) md.help = std::string(h[i + 1]);
      if (i + 2 < h.size() && psink::IsValidUtf8(h[i + 2])) md.unit = std::string(h[i + 2]);
      opts.metadata = std::move(md);
      break;
    }
  }
  Harness harness(std::move(opts), only1);
  for (size_t i = 1; i < lines.size(); ++i) {
    if (!lines[i].empty() && lines[i][0] == '!') {
      harness.Directive(lines[i]);
    } else {
      harness.Row(lines[i]);
    }
  }
  harness.Finish();
  return 0;
}
