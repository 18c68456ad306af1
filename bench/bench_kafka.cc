// File: bench/bench_kafka.cc
#include "bench/bench_kafka.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "connectors/kafka/client.h"
#include "connectors/kafka/kafka.h"
#include "engine/base/status.h"

namespace loyalty::bench {

using kafka_internal::FromKafka;
using kafka_internal::KafkaHandle;
using kafka_internal::NewClient;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double MonoSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Percentile(std::vector<int64_t>* v, double q) {
  if (v->empty()) return 0;
  const size_t k = std::min(v->size() - 1, static_cast<size_t>(q * static_cast<double>(v->size())));
  std::nth_element(v->begin(), v->begin() + static_cast<std::ptrdiff_t>(k), v->end());
  return static_cast<double>((*v)[k]);
}

absl::Status CreateTopic(const std::string& brokers, const std::string& topic, int partitions) {
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk,
                           NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers}}));
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof(err));
  if (nt == nullptr) return absl::InvalidArgumentError(absl::StrCat("topic ", topic, ": ", err));
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_CreateTopics(rk.get(), &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30'000);
  absl::Status status = absl::DeadlineExceededError(absl::StrCat("creating topic ", topic));
  if (ev != nullptr) {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
    rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && n == 1) e = rd_kafka_topic_result_error(results[0]);
    status = e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
                 ? absl::OkStatus()
                 : FromKafka(e, absl::StrCat("creating topic ", topic));
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  LOYALTY_RETURN_IF_ERROR(status);
  // The new topic's metadata reaches the broker's cache a moment later.
  absl::StatusOr<int> partitions_now = absl::NotFoundError(topic);
  for (int attempt = 0; attempt < 100; ++attempt) {
    partitions_now = PartitionCount(brokers, topic, 30'000);
    if (partitions_now.ok() || !absl::IsNotFound(partitions_now.status())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  LOYALTY_ASSIGN_OR_RETURN(int count, partitions_now);
  if (count != partitions) {
    return absl::FailedPreconditionError(
        absl::StrCat("topic ", topic, " has ", count, " partitions, not ", partitions));
  }
  return absl::OkStatus();
}

absl::Status EnsureEngineTopics(const std::string& brokers, const Topics& topics, int partitions) {
  absl::Status s;
  for (int attempt = 0; attempt < 100; ++attempt) {
    s = EnsureTopics(brokers, topics, partitions, 30'000);
    if (!absl::IsNotFound(s)) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return s;
}

namespace {

struct DeliveryCount {
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> failed{0};
};

// The per-message opaque (RD_KAFKA_V_OPAQUE) is m->_private.
void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* c = static_cast<DeliveryCount*>(m->_private);
  (m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? c->delivered : c->failed).fetch_add(1);
}

class Producer {
 public:
  static absl::StatusOr<std::unique_ptr<Producer>> Open(const std::string& brokers,
                                                        const std::string& topic) {
    auto p = std::unique_ptr<Producer>(new Producer());
    p->topic_ = topic;
    LOYALTY_ASSIGN_OR_RETURN(p->rk_, NewClient(RD_KAFKA_PRODUCER,
                                               {{"bootstrap.servers", brokers},
                                                {"enable.idempotence", "true"},
                                                {"partitioner", "murmur2_random"},
                                                {"linger.ms", "5"},
                                                {"batch.num.messages", "10000"},
                                                {"queue.buffering.max.messages", "500000"},
                                                {"queue.buffering.max.kbytes", "262144"}},
                                               OnDelivery));
    return p;
  }

  absl::Status Produce(const WorkloadRecord& r) {
    for (;;) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_.get(), RD_KAFKA_V_TOPIC(topic_.c_str()),
          RD_KAFKA_V_PARTITION(r.partition < 0 ? RD_KAFKA_PARTITION_UA : r.partition),
          RD_KAFKA_V_KEY(r.key.empty() ? nullptr : r.key.data(), r.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&count_), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return FromKafka(err, "producing");
      rd_kafka_poll(rk_.get(), 10);
    }
    ++produced_;
    if ((produced_ & 1023) == 0) rd_kafka_poll(rk_.get(), 0);
    return absl::OkStatus();
  }

  absl::Status Flush() {
    LOYALTY_RETURN_IF_ERROR(FromKafka(rd_kafka_flush(rk_.get(), 120'000), "flushing"));
    if (count_.failed.load() > 0 || count_.delivered.load() != produced_) {
      return absl::UnavailableError(
          absl::StrCat(count_.failed.load(), " of ", produced_, " records were not delivered"));
    }
    return absl::OkStatus();
  }

  int64_t produced() const { return produced_; }

 private:
  Producer() = default;
  std::string topic_;
  KafkaHandle rk_;
  DeliveryCount count_;
  int64_t produced_ = 0;
};

}  // namespace

absl::StatusOr<ProduceResult> ProduceAll(const std::string& brokers, const std::string& topic,
                                         Workload* workload,
                                         const std::function<void(int64_t)>& progress) {
  LOYALTY_ASSIGN_OR_RETURN(auto producer, Producer::Open(brokers, topic));
  const double start = MonoSeconds();
  double last_progress = start;
  WorkloadRecord r;
  while (workload->Next(&r)) {
    LOYALTY_RETURN_IF_ERROR(producer->Produce(r));
    if ((producer->produced() & 4095) == 0 && progress) {
      const double now = MonoSeconds();
      if (now - last_progress >= 0.1) {
        progress(producer->produced());
        last_progress = now;
      }
    }
  }
  LOYALTY_RETURN_IF_ERROR(producer->Flush());
  if (progress) progress(producer->produced());
  return ProduceResult{producer->produced(), MonoSeconds() - start};
}

absl::StatusOr<ProduceResult> ProducePaced(const std::string& brokers, const std::string& topic,
                                           Workload* workload, double rate_per_s, double duration_s,
                                           const std::atomic<bool>& stop,
                                           std::atomic<int64_t>* produced) {
  LOYALTY_ASSIGN_OR_RETURN(auto producer, Producer::Open(brokers, topic));
  const double start = MonoSeconds();
  WorkloadRecord r;
  bool more = true;
  while (more && !stop.load()) {
    const double elapsed = MonoSeconds() - start;
    if (elapsed >= duration_s) break;
    const auto due = static_cast<int64_t>(elapsed * rate_per_s);
    while (producer->produced() < due && (more = workload->Next(&r))) {
      LOYALTY_RETURN_IF_ERROR(producer->Produce(r));
    }
    if (produced != nullptr) produced->store(producer->produced());
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  LOYALTY_RETURN_IF_ERROR(producer->Flush());
  return ProduceResult{producer->produced(), MonoSeconds() - start};
}

namespace {

absl::StatusOr<KafkaHandle> AssignedConsumer(const std::string& brokers, const std::string& topic,
                                             const std::string& group, bool eof,
                                             const std::string& fetch_wait_ms) {
  LOYALTY_ASSIGN_OR_RETURN(int partitions, PartitionCount(brokers, topic, 30'000));
  LOYALTY_ASSIGN_OR_RETURN(
      KafkaHandle rk,
      NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", brokers},
                                    {"group.id", group},
                                    {"enable.auto.commit", "false"},
                                    {"isolation.level", "read_committed"},
                                    {"auto.offset.reset", "earliest"},
                                    {"enable.partition.eof", eof ? "true" : "false"},
                                    {"fetch.wait.max.ms", fetch_wait_ms}}));
  rd_kafka_poll_set_consumer(rk.get());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  const rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  LOYALTY_RETURN_IF_ERROR(FromKafka(err, absl::StrCat("assigning ", topic)));
  return rk;
}

}  // namespace

absl::StatusOr<ProduceResult> RawConsume(const std::string& brokers, const std::string& topic) {
  LOYALTY_ASSIGN_OR_RETURN(int partitions, PartitionCount(brokers, topic, 30'000));
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk,
                           AssignedConsumer(brokers, topic, absl::StrCat("bench-raw-", WallMs()),
                                            /*eof=*/true, "100"));
  int at_end = 0;
  int64_t records = 0;
  double first = 0;
  std::vector<bool> done(static_cast<size_t>(partitions), false);
  const double deadline = MonoSeconds() + 600;
  while (at_end < partitions) {
    if (MonoSeconds() > deadline) return absl::DeadlineExceededError("raw consume: 600 s");
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (!done[static_cast<size_t>(m->partition)]) {
        done[static_cast<size_t>(m->partition)] = true;
        ++at_end;
      }
    } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (records++ == 0) first = MonoSeconds();
    } else {
      absl::Status s = FromKafka(m->err, "raw consume");
      rd_kafka_message_destroy(m);
      return s;
    }
    rd_kafka_message_destroy(m);
  }
  const double seconds = MonoSeconds() - first;
  rd_kafka_consumer_close(rk.get());
  return ProduceResult{records, seconds};
}

struct OutputProbe::Impl {
  KafkaHandle rk;
};

absl::StatusOr<std::unique_ptr<OutputProbe>> OutputProbe::Start(const std::string& brokers,
                                                                const std::string& topic) {
  auto probe = std::unique_ptr<OutputProbe>(new OutputProbe());
  probe->impl_ = std::make_unique<Impl>();
  LOYALTY_ASSIGN_OR_RETURN(probe->impl_->rk,
                           AssignedConsumer(brokers, topic, absl::StrCat("bench-probe-", WallMs()),
                                            /*eof=*/false, "5"));
  probe->thread_ = std::thread([p = probe.get()] { p->Loop(); });
  return probe;
}

OutputProbe::~OutputProbe() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (impl_ && impl_->rk) rd_kafka_consumer_close(impl_->rk.get());
}

void OutputProbe::Loop() {
  while (!stop_.load()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(impl_->rk.get(), 50);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const int64_t now = WallMs();
      const int64_t ts = rd_kafka_message_timestamp(m, nullptr);
      std::lock_guard<std::mutex> lock(mu_);
      if (first_ms_ == 0) first_ms_ = now;
      last_ms_ = now;
      samples_.emplace_back(ts, now - ts);
      if (watch_after_ms_ >= 0 && watch_hit_ms_ == 0 && ts > watch_after_ms_) watch_hit_ms_ = now;
      received_.fetch_add(1);
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      std::fprintf(stderr, "loyalty-bench: probe of %s: %s\n",
                   m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "?",
                   rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
  }
}

int64_t OutputProbe::first_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_ms_;
}

int64_t OutputProbe::last_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_ms_;
}

void OutputProbe::WatchAfter(int64_t after_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  watch_after_ms_ = after_ms;
  watch_hit_ms_ = 0;
}

int64_t OutputProbe::WatchHit() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watch_hit_ms_;
}

std::vector<int64_t> OutputProbe::LatenciesSince(int64_t since_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> out;
  for (const auto& [ts, latency] : samples_) {
    if (ts >= since_ms) out.push_back(latency);
  }
  return out;
}

}  // namespace loyalty::bench
