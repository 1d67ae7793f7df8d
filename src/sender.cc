#include "sender.h"

namespace psink {

Sender::Sender(const SinkOptions& opts) : transport_(std::make_unique<Transport>(opts)) {}

Sender::~Sender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Sender::Submit(EncodedRequest req) {
  if (!worker_.joinable()) worker_ = std::thread([this] { Run(); });
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = std::move(req);
  }
  busy_ = true;
  cv_.notify_all();
}

std::optional<Sender::Outcome> Sender::Wait() {
  if (!busy_) return std::nullopt;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_.has_value(); });
  std::optional<Outcome> out = std::move(done_);
  done_.reset();
  busy_ = false;
  return out;
}

Sender::Outcome Sender::PostNow(EncodedRequest req) {
  Submit(std::move(req));
  return *Wait();
}

void Sender::Run() {
  for (;;) {
    EncodedRequest req;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || job_.has_value(); });
      // A request handed over is always finished, even when stopping: the
      // destructor waits for it rather than cutting it off mid-body.
      if (!job_) return;
      req = std::move(*job_);
      job_.reset();
    }
    Outcome out;
    out.samples = req.rows.size();
    out.min_ts = req.min_ts;
    try {
      out.status = transport_->Post(req.body, &out.report, req.protocol);
    } catch (const std::exception& e) {
      out.status = Status::Failed(std::string("internal error while sending: ") + e.what());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = std::move(out);
    }
    cv_.notify_all();
  }
}

}  // namespace psink
