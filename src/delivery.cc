#include "delivery.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "encoder.h"
#include "keytable.h"
#include "rate_limit.h"

namespace psink {

namespace {

// How often a wait looks at the interrupt check.
constexpr auto kInterruptPoll = std::chrono::milliseconds(50);

// Rows of `batch` as requests of at most `per_request` rows each (split
// further by max_request_bytes), appended to `out` in order.
Status EncodeChunks(Protocol protocol, const Batch& batch, size_t per_request, size_t max_request_bytes,
                    const MetricMetadata* md, std::vector<EncodedRequest>* out) {
  out->clear();
  std::vector<EncodedRequest> part;
  for (size_t begin = 0; begin < batch.size(); begin += per_request) {
    const size_t end = std::min(batch.size(), begin + per_request);
    PSINK_RETURN_IF_ERROR(EncodeRequests(protocol, batch, begin, end, max_request_bytes, md, &part));
    for (EncodedRequest& r : part) out->push_back(std::move(r));
  }
  return Status::Ok();
}

}  // namespace

Delivery::Delivery(const SinkOptions& opts, PosterFactory posters)
    : opts_(opts), metadata_(opts.metadata), protocol_(opts.protocol) {
  if (!posters) {
    posters = [this](const std::atomic<bool>* cancel) { return std::make_unique<Transport>(opts_, cancel); };
  }
  const int64_t n = std::max<int64_t>(1, opts.max_in_flight);
  depth_ = n == 1 ? 1 : 2;
  for (int64_t i = 0; i < n; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->poster = posters(&cancel_);
    shards_.push_back(std::move(shard));
  }
}

Delivery::~Delivery() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  // Jobs handed over are always finished, even when stopping: a worker
  // ends only once its queue is empty.
  for (auto& s : shards_) {
    if (s->worker.joinable()) s->worker.join();
  }
}

size_t Delivery::ShardOf(std::string_view encoded_labels) const {
  if (shards_.size() == 1) return 0;
  // The top bits: HashBytes' low bits are weak (a product's), and put 54 of
  // 64 similar series on one of 8 shards.
  return static_cast<size_t>(((HashBytes(encoded_labels) >> 32) * shards_.size()) >> 32);
}

void Delivery::ResetLedger() {
  doomed_.store(false, std::memory_order_relaxed);
  unreported_ = Status::Ok();
  failure_.reset();
  delivered_ = 0;
  not_sent_ = 0;
}

void Delivery::StartJob(size_t k, Job job, OnAck on_ack) {
  Shard& s = *shards_[k];
  if (!s.worker.joinable()) s.worker = std::thread([this, sp = &s] { Run(sp); });
  job.want_seqs = static_cast<bool>(on_ack);
  s.acks.push_back(std::move(on_ack));
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.todo.push_back(std::move(job));
  }
  cv_.notify_all();
}

void Delivery::WaitLocked(std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready) {
  while (!ready()) {
    cv_.wait_for(lock, kInterruptPoll);
    if (!cancel_.load(std::memory_order_relaxed) && interrupted_) {
      lock.unlock();
      const bool yes = interrupted_();
      lock.lock();
      if (yes) cancel_.store(true, std::memory_order_relaxed);
    }
  }
}

void Delivery::WaitDone(Shard& s) {
  std::unique_lock<std::mutex> lock(mu_);
  WaitLocked(lock, [&] { return !s.done.empty(); });
}

Status Delivery::Collect(Shard& s) {
  Status first;
  for (;;) {
    std::vector<Outcome> outs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (s.done.empty()) break;
      outs = std::move(s.done.front());
      s.done.pop_front();
    }
    OnAck on_ack = std::move(s.acks.front());
    s.acks.pop_front();
    for (Outcome& out : outs) {
      if (out.skipped) {
        not_sent_ += out.samples;
        break;
      }
      if (!Account(out)) {
        not_sent_ += out.samples;
        if (!failure_) failure_ = Failure{out.status, out.samples, out.min_ts, out.report.last_status, out.seqs};
        if (first.ok()) first = out.status;
        break;
      }
      delivered_ += out.samples;
      if (on_ack) on_ack(out.seqs);
    }
  }
  // Once every worker is idle again, a cancel has done its work.
  bool any = false;
  for (auto& sh : shards_) any |= sh->outstanding() > 0;
  if (!any) cancel_.store(false, std::memory_order_relaxed);
  return first;
}

bool Delivery::CanTake(size_t k) {
  Shard& s = *shards_[k];
  if (s.outstanding() < depth_) return true;
  // A failure collected here is returned by the next Poll (and so by
  // WaitAny, WaitAll and Submit): dropping it lost the failed request's rows
  // and every later job's while the COMMIT succeeded.
  Status st = Collect(s);
  if (!st.ok() && unreported_.ok()) unreported_ = st;
  return s.outstanding() < depth_;
}

Status Delivery::Poll() {
  Status first = std::exchange(unreported_, Status::Ok());
  for (auto& sp : shards_) {
    if (sp->outstanding() == 0) continue;
    Status st = Collect(*sp);
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

bool Delivery::Busy() const {
  for (const auto& s : shards_) {
    if (s->outstanding() > 0) return true;
  }
  return false;
}

Status Delivery::WaitAny() {
  if (Busy()) {
    std::unique_lock<std::mutex> lock(mu_);
    WaitLocked(lock, [&] {
      for (auto& s : shards_) {
        if (!s->done.empty()) return true;
      }
      return false;
    });
  }
  return Poll();
}

Status Delivery::WaitAll() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    WaitLocked(lock, [&] {
      for (auto& s : shards_) {
        if (s->done.size() < s->outstanding()) return false;
      }
      return true;
    });
  }
  return Poll();
}

Status Delivery::MakeRoom(size_t k, size_t rows) {
  Shard& s = *shards_[k];
  Status collected = Poll();
  while (collected.ok() && s.outstanding() >= depth_) {
    WaitDone(s);
    collected = Collect(s);
  }
  if (!collected.ok()) not_sent_ += rows;
  return collected;
}

Status Delivery::Submit(size_t k, Batch rows, size_t per_request, OnAck on_ack) {
  PSINK_RETURN_IF_ERROR(MakeRoom(k, rows.size()));
  auto shared = std::make_shared<const Batch>(std::move(rows));
  if (protocol_ == Protocol::kV2 && !protocol_confirmed_) {
    return Probe(k, std::move(shared), per_request, std::move(on_ack));
  }
  Job job;
  job.rows = std::move(shared);
  job.protocol = protocol_;
  job.per_request = per_request;
  StartJob(k, std::move(job), std::move(on_ack));
  return Status::Ok();
}

Status Delivery::SubmitEncoded(size_t k, std::shared_ptr<const Batch> rows, std::vector<EncodedRequest> requests,
                               OnAck on_ack) {
  PSINK_RETURN_IF_ERROR(MakeRoom(k, rows->size()));
  Job job;
  job.rows = std::move(rows);
  job.protocol = Protocol::kV1;
  job.requests = std::move(requests);
  StartJob(k, std::move(job), std::move(on_ack));
  return Status::Ok();
}

Status Delivery::Probe(size_t k, std::shared_ptr<const Batch> rows, size_t per_request, OnAck on_ack) {
  // Until a receiver has answered a 2.0 request, nothing else is in flight:
  // the rows are encoded here and the first request goes alone.
  Status waited = WaitAll();
  if (!waited.ok()) {
    not_sent_ += rows->size();
    return waited;
  }
  std::vector<EncodedRequest> requests;
  const MetricMetadata* md = metadata_ ? &*metadata_ : nullptr;
  const size_t max_bytes = static_cast<size_t>(opts_.max_request_bytes);
  PSINK_RETURN_IF_ERROR(EncodeChunks(protocol_, *rows, per_request, max_bytes, md, &requests));
  if (requests.empty()) return Status::Ok();
  Job probe;
  probe.rows = rows;
  probe.protocol = protocol_;
  probe.per_request = per_request;
  probe.requests.push_back(std::move(requests.front()));
  requests.erase(requests.begin());
  StartJob(k, std::move(probe), on_ack);
  Shard& s = *shards_[k];
  WaitDone(s);
  std::vector<Outcome> outs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    outs = std::move(s.done.front());
    s.done.pop_front();
  }
  s.acks.pop_front();
  Outcome& out = outs.front();
  if (!out.status.ok() && out.report.unsupported_protocol) {
    // The attempt counts as traffic, not as a failure: the samples go again as 1.0.
    // (last_status is left alone: the 415 may be the transport's reading of
    // a 2xx without written counts, not what the receiver said.)
    stats_.requests += static_cast<uint64_t>(out.report.attempts);
    stats_.retries += static_cast<uint64_t>(out.report.attempts > 0 ? out.report.attempts - 1 : 0);
    stats_.bytes_sent += out.report.bytes_sent;
    stats_.fell_back = true;
    protocol_ = Protocol::kV1;
    Job job;
    job.rows = std::move(rows);
    job.protocol = protocol_;
    job.per_request = per_request;
    StartJob(k, std::move(job), std::move(on_ack));
    return Status::Ok();
  }
  protocol_confirmed_ = out.status.ok();
  if (!out.status.ok()) {
    for (const EncodedRequest& r : requests) out.samples += r.rows.size();
  }
  // Account for the probe as for any job.
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.done.push_front(std::move(outs));
  }
  s.acks.push_front(on_ack);
  PSINK_RETURN_IF_ERROR(Collect(s));
  if (requests.empty()) return Status::Ok();
  Job rest;
  rest.rows = std::move(rows);
  rest.protocol = protocol_;
  rest.per_request = per_request;
  rest.requests = std::move(requests);
  StartJob(k, std::move(rest), std::move(on_ack));
  return Status::Ok();
}

bool Delivery::Account(const Outcome& out) {
  const PostReport& report = out.report;
  stats_.requests += static_cast<uint64_t>(report.attempts);
  stats_.retries += static_cast<uint64_t>(report.attempts > 0 ? report.attempts - 1 : 0);
  stats_.bytes_sent += report.bytes_sent;
  stats_.last_status = report.last_status;
  if (!out.status.ok()) {
    stats_.failures++;
    stats_.last_error = out.status.message();
    return false;
  }
  stats_.samples_sent += out.samples;
  stats_.histograms_sent += out.histograms;
  stats_.exemplars_sent += out.exemplars;
  // What a 2.0 receiver says it wrote, per kind (-1: not said).
  auto short_of = [](int64_t written, uint64_t sent) {
    return written >= 0 && static_cast<uint64_t>(written) < sent ? sent - static_cast<uint64_t>(written) : 0;
  };
  stats_.samples_not_written += short_of(report.samples_written, out.samples - out.histograms) +
                                short_of(report.histograms_written, out.histograms);
  stats_.exemplars_not_written += short_of(report.exemplars_written, out.exemplars);
  return true;
}

std::vector<Delivery::Outcome> Delivery::Do(Shard* shard, Job& job) {
  std::vector<Outcome> outs;
  const Batch& rows = *job.rows;
  if (job.requests.empty() && !rows.empty()) {
    Status st = EncodeChunks(job.protocol, rows, job.per_request, static_cast<size_t>(opts_.max_request_bytes),
                             metadata_ ? &*metadata_ : nullptr, &job.requests);
    if (!st.ok()) {
      Outcome out;
      out.status = Status::Failed(st.message());
      out.samples = rows.size();
      out.min_ts = rows.row(0).ts;
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
    if (doomed_.load(std::memory_order_relaxed)) {
      for (size_t k = i + 1; k < job.requests.size(); ++k) out.samples += job.requests[k].rows.size();
      out.skipped = true;
      outs.push_back(std::move(out));
      break;
    }
    // max_samples_per_second: every request of the sink (this Delivery's
    // shards and any other Delivery made from its options: the spool's
    // drain) waits its turn here. An interrupt ends the wait as it ends a
    // retry's backoff.
    if (opts_.rate_limiter && !opts_.rate_limiter->Acquire(req.rows.size(), &cancel_)) {
      out.status = Status::Failed("interrupted while waiting for max_samples_per_second (" +
                                  std::to_string(opts_.rate_limiter->samples_per_second()) + ")");
      for (size_t k = i + 1; k < job.requests.size(); ++k) out.samples += job.requests[k].rows.size();
      doomed_.store(true, std::memory_order_relaxed);
      outs.push_back(std::move(out));
      break;
    }
    try {
      out.status = shard->poster->Post(req.body, &out.report, req.protocol);
    } catch (const std::exception& e) {
      out.status = Status::Failed(std::string("internal error while sending: ") + e.what());
    }
    if (!out.status.ok()) {
      for (size_t k = i + 1; k < job.requests.size(); ++k) out.samples += job.requests[k].rows.size();
      // (A 2.0 request the receiver does not understand is no failure: the
      // probe sends its rows again as 1.0.)
      if (!out.report.unsupported_protocol) doomed_.store(true, std::memory_order_relaxed);
      if (job.want_seqs) {
        for (uint32_t r : req.rows) out.seqs.push_back(rows.row(r).seq);
      }
      outs.push_back(std::move(out));
      break;
    }
    if (job.want_seqs) {
      out.seqs.reserve(req.rows.size());
      for (uint32_t r : req.rows) out.seqs.push_back(rows.row(r).seq);
    }
    outs.push_back(std::move(out));
  }
  return outs;
}

void Delivery::Run(Shard* shard) {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !shard->todo.empty(); });
      if (shard->todo.empty()) return;
      job = std::move(shard->todo.front());
      shard->todo.pop_front();
    }
    std::vector<Outcome> outs;
    try {
      outs = Do(shard, job);
    } catch (const std::exception& e) {
      Outcome out;
      out.status = Status::Failed(std::string("internal error while sending: ") + e.what());
      // The job's samples, counted once: its requests (outcomes of requests
      // already posted are lost with it), or its rows before encoding.
      out.samples = 0;
      for (const EncodedRequest& r : job.requests) out.samples += r.rows.size();
      if (job.requests.empty() && job.rows) out.samples = job.rows->size();
      outs.assign(1, std::move(out));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      shard->done.push_back(std::move(outs));
    }
    finished_.fetch_add(1, std::memory_order_release);
    cv_.notify_all();
  }
}

}  // namespace psink
