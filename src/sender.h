// Sender: posts encoded requests on a worker thread, one at a time, so that
// the SQL thread can decode and encode the next batch while the last one is
// on the wire. Owns the sink's Transport. Used only from the sink's thread
// (SQLite's connection thread); the worker touches nothing else.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "encoder.h"
#include "options.h"
#include "status.h"
#include "transport.h"

namespace psink {

class Sender {
 public:
  explicit Sender(const SinkOptions& opts);
  ~Sender();  // waits for the request in flight
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // What became of one request.
  struct Outcome {
    Status status;
    PostReport report;
    size_t samples = 0;
    int64_t min_ts = 0;
  };

  // Posts `req` and waits for it. Precondition: nothing in flight.
  Outcome PostNow(EncodedRequest req);

  // Hands `req` to the worker. Precondition: nothing in flight (call Wait()).
  void Submit(EncodedRequest req);
  // Waits for the request in flight; nullopt when there was none.
  std::optional<Outcome> Wait();

 private:
  void Run();

  std::unique_ptr<Transport> transport_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<EncodedRequest> job_;  // guarded by mu_
  std::optional<Outcome> done_;        // guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  bool busy_ = false;                  // sink thread only
  std::thread worker_;                 // started on the first Submit
};

}  // namespace psink
