// Sender: encodes and posts requests on a worker thread, one job at a time,
// so that the SQL thread goes on decoding the next batch while the last one
// is compressed and on the wire. Owns the sink's Transport. Used only from
// the sink's thread (SQLite's connection thread); the worker touches nothing
// but its job, which owns everything it reads (rows and shared, immutable
// series: see Batch::TakeFront).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "batch.h"
#include "encoder.h"
#include "options.h"
#include "status.h"
#include "transport.h"

namespace psink {

// Rows [begin, end) of `batch` as request bodies in `protocol`, none over
// `max_request_bytes` uncompressed, each marked with its protocol.
Status EncodeFor(Protocol protocol, const Batch& batch, size_t begin, size_t end, size_t max_request_bytes,
                 const MetricMetadata* md, std::vector<EncodedRequest>* out);

class Sender {
 public:
  explicit Sender(const SinkOptions& opts);
  ~Sender();  // waits for the job in flight
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // What became of one request.
  struct Outcome {
    Status status;
    PostReport report;
    size_t samples = 0;  // of this request; a failure adds those of the job's later requests
    size_t histograms = 0, exemplars = 0;  // of this request (EncodedRequest)
    int64_t min_ts = 0;
  };

  // Work for the worker: either rows to encode (all of `rows`) or requests
  // already encoded. Requests are posted in order; the first failure ends
  // the job (the requests after it are not sent).
  struct Job {
    Batch rows;
    Protocol protocol = Protocol::kV1;
    std::vector<EncodedRequest> requests;
  };

  // Posts `req` and waits for it. Precondition: nothing in flight.
  Outcome PostNow(EncodedRequest req);

  // Hands `job` to the worker. Precondition: nothing in flight (call Wait()).
  void Submit(Job job);
  // Waits for the job in flight: one outcome per request tried, in order
  // (the last is the failure, if any). Empty when nothing was in flight.
  std::vector<Outcome> Wait();

 private:
  void Run();
  std::vector<Outcome> Do(Job& job);

  size_t max_request_bytes_;
  std::optional<MetricMetadata> metadata_;
  std::unique_ptr<Transport> transport_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Job> job_;                    // guarded by mu_
  std::optional<std::vector<Outcome>> done_;  // guarded by mu_
  bool stop_ = false;                         // guarded by mu_
  bool busy_ = false;                         // sink thread only
  std::thread worker_;                        // started on the first Submit
};

}  // namespace psink
