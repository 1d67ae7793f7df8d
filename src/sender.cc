#include "sender.h"

#include "encoder_v2.h"

namespace psink {

Status EncodeFor(Protocol protocol, const Batch& batch, size_t begin, size_t end, size_t max_request_bytes,
                 const MetricMetadata* md, std::vector<EncodedRequest>* out) {
  Status st = protocol == Protocol::kV2 ? EncodeRequestsV2(batch, begin, end, max_request_bytes, md, out)
                                        : EncodeRequests(batch, begin, end, max_request_bytes, md, out);
  for (EncodedRequest& r : *out) r.protocol = protocol;
  return st;
}

Sender::Sender(const SinkOptions& opts)
    : max_request_bytes_(static_cast<size_t>(opts.max_request_bytes)),
      metadata_(opts.metadata),
      transport_(std::make_unique<Transport>(opts)) {}

Sender::~Sender() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void Sender::Submit(Job job) {
  if (!worker_.joinable()) worker_ = std::thread([this] { Run(); });
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = std::move(job);
  }
  busy_ = true;
  cv_.notify_all();
}

std::vector<Sender::Outcome> Sender::Wait() {
  if (!busy_) return {};
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_.has_value(); });
  std::vector<Outcome> out = std::move(*done_);
  done_.reset();
  busy_ = false;
  return out;
}

Sender::Outcome Sender::PostNow(EncodedRequest req) {
  Job job;
  job.requests.push_back(std::move(req));
  Submit(std::move(job));
  return Wait().front();
}

std::vector<Sender::Outcome> Sender::Do(Job& job) {
  std::vector<Outcome> outs;
  if (!job.rows.empty()) {
    Status st = EncodeFor(job.protocol, job.rows, 0, job.rows.size(), max_request_bytes_,
                          metadata_ ? &*metadata_ : nullptr, &job.requests);
    if (!st.ok()) {
      Outcome out;
      out.status = Status::Failed(st.message());
      out.samples = job.rows.size();
      out.min_ts = job.rows.row(0).ts;
      outs.push_back(std::move(out));
      return outs;
    }
  }
  for (size_t i = 0; i < job.requests.size(); ++i) {
    EncodedRequest& req = job.requests[i];
    Outcome out;
    out.samples = req.rows.size();
    out.histograms = req.histograms;
    out.exemplars = req.exemplars;
    out.min_ts = req.min_ts;
    try {
      out.status = transport_->Post(req.body, &out.report, req.protocol);
    } catch (const std::exception& e) {
      out.status = Status::Failed(std::string("internal error while sending: ") + e.what());
    }
    if (!out.status.ok()) {
      for (size_t k = i + 1; k < job.requests.size(); ++k) out.samples += job.requests[k].rows.size();
      outs.push_back(std::move(out));
      break;
    }
    outs.push_back(std::move(out));
  }
  return outs;
}

void Sender::Run() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || job_.has_value(); });
      // A job handed over is always finished, even when stopping: the
      // destructor waits for it rather than cutting it off mid-body.
      if (!job_) return;
      job = std::move(*job_);
      job_.reset();
    }
    std::vector<Outcome> outs;
    try {
      outs = Do(job);
    } catch (const std::exception& e) {
      Outcome out;
      out.status = Status::Failed(std::string("internal error while sending: ") + e.what());
      // The job's samples, counted once: its rows, or its requests when it
      // came encoded (outcomes of requests already posted are lost with it).
      out.samples = job.rows.size();
      if (job.rows.empty()) {
        for (const EncodedRequest& r : job.requests) out.samples += r.rows.size();
      }
      outs.assign(1, std::move(out));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = std::move(outs);
    }
    cv_.notify_all();
  }
}

}  // namespace psink
