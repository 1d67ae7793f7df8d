// Delivery: gets a sink's rows to the receiver. Owns the request slots
// ("shards"), the remote-write 2.0 probe and fallback, and the accounting of
// every outcome (the stats). One send path — Submit() — serves full batches,
// COMMIT, prometheus_sink_flush and the spool's drain.
//
// Shards: max_in_flight of them, each with a worker thread and its own
// Poster (connection). A series belongs to one shard, chosen by a hash of its
// labels (ShardOf), and a shard runs its jobs one after another — each job's
// requests posted in order, one at a time — so each series reaches the
// receiver in the order it was submitted, and never is in two requests at
// once. The shards' jobs run concurrently. A shard takes a job while it
// holds fewer than its depth (1 with one shard, so that the caller builds
// the next batch while one is on the wire; 2 with several, so that a shard
// starts its next full request the moment the last one is answered).
//
// Threads: every method is called from one thread (the SQL connection's,
// or the spool drain's); workers touch only their job, which owns what it
// reads (rows of a Batch snapshot: see Batch::TakeFront).
//
// Waits and interrupts: every wait here polls the interrupt check (set with
// SetInterruptCheck, e.g. sqlite3_is_interrupted) every 50 ms; once it says
// yes, the posters are cancelled — a request in flight or a retry's backoff
// ends within about 50 ms more, failing with an "interrupted" message — and
// the wait returns when every worker has stopped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "batch.h"
#include "encoder.h"
#include "options.h"
#include "status.h"
#include "transport.h"

namespace psink {

struct SinkStats {
  uint64_t samples_sent = 0;  // acknowledged by a 2xx (float and histogram samples)
  uint64_t histograms_sent = 0;  // the histogram samples among them
  uint64_t exemplars_sent = 0;   // exemplars acknowledged by a 2xx
  uint64_t requests = 0;      // HTTP attempts, retries included
  uint64_t bytes_sent = 0;    // compressed bodies of all attempts
  uint64_t retries = 0;       // attempts beyond the first
  uint64_t failures = 0;      // sends that failed after all retries
  // Samples a remote-write 2.0 receiver said it did not write (its
  // X-Prometheus-Remote-Write-Samples-Written, or -Histograms-Written for
  // histogram samples, was lower than sent); the same for exemplars
  // (X-Prometheus-Remote-Write-Exemplars-Written).
  uint64_t samples_not_written = 0;
  uint64_t exemplars_not_written = 0;
  bool fell_back = false;     // protocol='2.0' was refused: the sink speaks 1.0
  long last_status = 0;
  std::string last_error;
};

class Delivery {
 public:
  // Posters come from `posters` (one per shard); the default makes libcurl
  // Transports from `opts`.
  explicit Delivery(const SinkOptions& opts, PosterFactory posters = nullptr);
  ~Delivery();  // waits for every job in flight
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  size_t shard_count() const { return shards_.size(); }
  // The shard of a series, from its encoded labels (Batch::encoded_labels).
  size_t ShardOf(std::string_view encoded_labels) const;

  // What became of one job: its samples delivered, and the failure that
  // ended it, if any.
  struct Failure {
    Status status;
    size_t samples = 0;  // of the failed request and the job's requests after it
    int64_t min_ts = 0;  // of the failed request
    long http_status = 0;  // the receiver's last answer to it (0: none)
    // Row::seq of the failed request's rows, when the job has an OnAck (the
    // spool's drain: they name the stored batches a refusal moves aside).
    std::vector<uint64_t> seqs;
  };

  // Called with the rows (Row::seq of the submitted batch) of each
  // acknowledged request, on the calling thread, when the job is collected.
  using OnAck = std::function<void(const std::vector<uint64_t>& seqs)>;

  // Hands `rows` to shard `k`, waiting first while the shard holds `depth`
  // jobs.
  // The worker encodes them — at most `per_request` rows per request
  // (batch_size), split further by max_request_bytes — and posts the
  // requests in order; the first failure ends the job. While the protocol
  // is 2.0 and unconfirmed, every shard is waited for and the first
  // request is posted alone first (the probe): a receiver that does not
  // speak 2.0 makes the sink fall back to 1.0 for good, and the rows go
  // again as 1.0. Returns the failure of a job collected on the way (or of
  // the probe); `rows` are then not sent (counted in the failure).
  Status Submit(size_t k, Batch rows, size_t per_request, OnAck on_ack = nullptr);

  // Like Submit(), for requests encoded before (a spool's stored 1.0
  // requests): request i carries requests[i].rows, indices into `rows`,
  // whose Row::seq the OnAck gets. No probe: they are 1.0.
  Status SubmitEncoded(size_t k, std::shared_ptr<const Batch> rows, std::vector<EncodedRequest> requests,
                       OnAck on_ack = nullptr);

  // True when shard k would take a job without waiting (finished jobs are
  // collected; a failure among them is returned by the next Poll()).
  bool CanTake(size_t k);
  // Collects every finished job without waiting. Returns the first failure.
  Status Poll();
  // Waits until some job in flight finishes (at once when none is).
  Status WaitAny();
  // Whether a job was submitted and its outcome not yet collected.
  bool Busy() const;
  // Waits for every shard.
  Status WaitAll();
  // Counter bumped by the workers on each finished job: lets a caller see
  // cheaply that Poll() has something to collect.
  uint64_t finished() const { return finished_.load(std::memory_order_acquire); }

  // The failure that ended the first failed job since ResetLedger(), if any.
  const std::optional<Failure>& failure() const { return failure_; }
  // Samples acknowledged since ResetLedger().
  uint64_t delivered() const { return delivered_; }
  // Samples of failed jobs since ResetLedger() (not sent, or not known sent).
  uint64_t not_sent() const { return not_sent_; }
  void ResetLedger();

  void SetInterruptCheck(std::function<bool()> check) { interrupted_ = std::move(check); }

  const SinkStats& stats() const { return stats_; }
  Protocol protocol() const { return protocol_; }

 private:
  struct Job {
    std::shared_ptr<const Batch> rows;  // shared by the probe and the rest of its rows
    Protocol protocol = Protocol::kV1;
    size_t per_request = 0;
    std::vector<EncodedRequest> requests;  // filled by the worker (or already encoded: the probe)
    bool want_seqs = false;                // fill Outcome::seqs (the job has an OnAck)
  };
  // What the worker did with a job: one entry per request tried.
  struct Outcome {
    Status status;
    PostReport report;
    size_t samples = 0;
    size_t histograms = 0, exemplars = 0;  // of this request (EncodedRequest)
    int64_t min_ts = 0;
    std::vector<uint64_t> seqs;  // of the request's rows, when the job has on_ack
    bool skipped = false;        // not posted: an earlier request had failed
  };
  struct Shard {
    std::unique_ptr<Poster> poster;
    std::deque<Job> todo;                      // guarded by mu_: handed over, not started
    std::deque<std::vector<Outcome>> done;     // guarded by mu_: finished, not collected
    std::deque<OnAck> acks;                    // caller's thread: one per job not collected
    std::thread worker;                        // started on the first job
    size_t outstanding() const { return acks.size(); }
  };

  void Run(Shard* shard);
  std::vector<Outcome> Do(Shard* shard, Job& job);
  // Collects shard `s`'s finished jobs and accounts them. Returns the
  // first failure.
  Status Collect(Shard& s);
  // Waits until shard `s` has a finished job to collect.
  void WaitDone(Shard& s);
  // Waits (polling the interrupt check) until `ready` holds; mu_ held.
  void WaitLocked(std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready);
  // Adds one request's outcome to the stats; false when it failed.
  bool Account(const Outcome& out);
  // Waits until shard k holds fewer than depth_ jobs, collecting what
  // finishes; a failure collected on the way counts `rows` as not sent.
  Status MakeRoom(size_t k, size_t rows);
  void StartJob(size_t k, Job job, OnAck on_ack);
  Status Probe(size_t k, std::shared_ptr<const Batch> rows, size_t per_request, OnAck on_ack);

  SinkOptions opts_;
  std::optional<MetricMetadata> metadata_;
  std::vector<std::unique_ptr<Shard>> shards_;
  size_t depth_ = 1;  // jobs a shard holds at most, running and waiting
  Protocol protocol_;
  bool protocol_confirmed_ = false;
  SinkStats stats_;
  Status unreported_;  // a failure CanTake() collected, for the next Poll()
  std::optional<Failure> failure_;
  uint64_t delivered_ = 0;
  uint64_t not_sent_ = 0;
  std::function<bool()> interrupted_;

  std::mutex mu_;
  std::condition_variable cv_;  // a job finished, or a job or stop was handed over
  bool stop_ = false;           // guarded by mu_
  std::atomic<bool> cancel_{false};
  // Set by a worker whose request failed, cleared by ResetLedger(): jobs
  // not yet started are then not sent (the transaction is doomed anyway).
  std::atomic<bool> doomed_{false};
  std::atomic<uint64_t> finished_{0};
};

}  // namespace psink
