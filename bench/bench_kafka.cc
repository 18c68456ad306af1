// File: bench/bench_kafka.cc
#include "bench/bench_kafka.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "connectors/kafka/client.h"
#include "connectors/kafka/kafka.h"
#include "engine/base/status.h"

namespace loyalty::bench {

using kafka_internal::FromKafka;
using kafka_internal::KafkaHandle;
using kafka_internal::NewClient;

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
  return EnsureTopics(brokers, std::vector<TopicSpec>{{topic, {}}}, partitions, 30'000);
}

absl::Status DeleteTopics(const std::string& brokers, const std::vector<std::string>& topics) {
  if (topics.empty()) return absl::OkStatus();
  constexpr int kTimeoutMs = 60'000;
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, NewClient(RD_KAFKA_PRODUCER, brokers, {}));
  std::vector<rd_kafka_DeleteTopic_t*> deletes;
  for (const std::string& t : topics) deletes.push_back(rd_kafka_DeleteTopic_new(t.c_str()));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk.get());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_DELETETOPICS);
  char err[512];
  rd_kafka_AdminOptions_set_operation_timeout(options, kTimeoutMs, err, sizeof(err));
  rd_kafka_DeleteTopics(rk.get(), deletes.data(), deletes.size(), options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, kTimeoutMs + 5000);
  absl::Status status;
  if (event == nullptr) {
    status = absl::DeadlineExceededError(absl::StrCat("deleting topics on ", brokers));
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = absl::UnavailableError(
        absl::StrCat("deleting topics on ", brokers, ": ", rd_kafka_event_error_string(event)));
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** results =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &n);
    for (size_t i = 0; i < n && status.ok(); ++i) {
      const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;
      status = absl::UnavailableError(absl::StrCat("deleting topic ",
                                                   rd_kafka_topic_result_name(results[i]), ": ",
                                                   rd_kafka_topic_result_error_string(results[i])));
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  rd_kafka_DeleteTopic_destroy_array(deletes.data(), deletes.size());
  return status;
}

absl::StatusOr<std::vector<std::string>> TopicsWithPrefix(const std::string& brokers,
                                                          const std::string& prefix) {
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, NewClient(RD_KAFKA_PRODUCER, brokers, {}));
  const rd_kafka_metadata_t* md = nullptr;
  LOYALTY_RETURN_IF_ERROR(
      FromKafka(rd_kafka_metadata(rk.get(), /*all_topics=*/1, nullptr, &md, 30'000),
                absl::StrCat("metadata from ", brokers)));
  std::vector<std::string> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const std::string name = md->topics[i].topic;
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  rd_kafka_metadata_destroy(md);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// The workload's producer: the shared RecordProducer, batching for
// throughput (the paced runs produce every 0.5 ms, so linger stays short).
// Producing the backlog, generator included, runs at 600-750k records/s on
// the 2-core machine (10^6 records, one broker): a 10^7-event backlog takes
// under 20 s, so it keeps the paced runs' settings (and the backlog's
// batches on disk stay those of earlier results).
absl::StatusOr<std::unique_ptr<RecordProducer>> OpenProducer(const std::string& brokers,
                                                             const std::string& topic) {
  return RecordProducer::Open(brokers, topic,
                              {{"linger.ms", "5"},
                               {"batch.num.messages", "10000"},
                               {"queue.buffering.max.messages", "500000"},
                               {"queue.buffering.max.kbytes", "262144"}});
}

absl::Status Produce(RecordProducer* producer, const WorkloadRecord& r) {
  return producer->Produce(r.value, r.key, r.partition < 0 ? RecordProducer::kByKey : r.partition);
}

constexpr int kFlushTimeoutMs = 120'000;

}  // namespace

absl::StatusOr<ProduceResult> ProduceAll(const std::string& brokers, const std::string& topic,
                                         Workload* workload,
                                         const std::function<void(int64_t)>& progress) {
  return ProduceSome(brokers, topic, workload, INT64_MAX, progress);
}

absl::StatusOr<ProduceResult> ProduceSome(const std::string& brokers, const std::string& topic,
                                          Workload* workload, int64_t records,
                                          const std::function<void(int64_t)>& progress) {
  LOYALTY_ASSIGN_OR_RETURN(auto producer, OpenProducer(brokers, topic));
  const double start = MonoSeconds();
  WorkloadRecord r;
  while (producer->produced() < records && workload->Next(&r)) {
    LOYALTY_RETURN_IF_ERROR(Produce(producer.get(), r));
    if ((producer->produced() & 4095) == 0 && progress) progress(producer->produced());
  }
  LOYALTY_RETURN_IF_ERROR(producer->Flush(kFlushTimeoutMs));
  if (progress) progress(producer->produced());
  return ProduceResult{producer->produced(), MonoSeconds() - start};
}

absl::StatusOr<std::vector<int64_t>> EndOffsets(const std::string& brokers,
                                                const std::string& topic) {
  constexpr int kTimeoutMs = 30'000;
  LOYALTY_ASSIGN_OR_RETURN(int partitions, PartitionCount(brokers, topic, kTimeoutMs));
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, NewClient(RD_KAFKA_PRODUCER, brokers, {}));
  std::vector<int64_t> ends(static_cast<size_t>(partitions), 0);
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    LOYALTY_RETURN_IF_ERROR(
        FromKafka(rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high,
                                                   kTimeoutMs),
                  absl::StrCat("the offsets of ", topic, " [", p, "]")));
    ends[static_cast<size_t>(p)] = high;
  }
  return ends;
}

absl::Status WaitForLeaders(const std::string& brokers, const std::string& topic,
                            int timeout_ms) {
  const double deadline = MonoSeconds() + timeout_ms / 1000.0;
  for (;;) {
    auto ends = EndOffsets(brokers, topic);
    if (ends.ok() || MonoSeconds() > deadline) return ends.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

absl::StatusOr<ProduceResult> ProducePaced(const std::string& brokers, const std::string& topic,
                                           Workload* workload, double rate_per_s, double duration_s,
                                           const std::atomic<bool>& stop,
                                           std::atomic<int64_t>* produced) {
  LOYALTY_ASSIGN_OR_RETURN(auto producer, OpenProducer(brokers, topic));
  const double start = MonoSeconds();
  WorkloadRecord r;
  bool more = true;
  while (more && !stop.load()) {
    const double elapsed = MonoSeconds() - start;
    if (elapsed >= duration_s) break;
    const auto due = static_cast<int64_t>(elapsed * rate_per_s);
    while (producer->produced() < due && (more = workload->Next(&r))) {
      LOYALTY_RETURN_IF_ERROR(Produce(producer.get(), r));
    }
    if (produced != nullptr) produced->store(producer->produced());
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  LOYALTY_RETURN_IF_ERROR(producer->Flush(kFlushTimeoutMs));
  return ProduceResult{producer->produced(), MonoSeconds() - start};
}

absl::StatusOr<ProduceResult> RawConsume(const std::string& brokers, const std::string& topic) {
  // The reader of the demo and the tests, with this measurement's settings:
  // a group of its own and fetches that wait at most 100 ms for data.
  ReadToEndOptions options;
  options.brokers = brokers;
  options.topics = {topic};
  options.group_id = absl::StrCat("bench-raw-", WallMs());
  options.timeout_ms = 600'000;
  options.settings = {{"auto.offset.reset", "earliest"}, {"fetch.wait.max.ms", "100"}};
  LOYALTY_ASSIGN_OR_RETURN(ReadToEndStats read,
                           ReadToEnd(options, [](const rd_kafka_message_t&) {}));
  return ProduceResult{read.records, read.seconds};
}

namespace {

// A read_committed consumer of every partition of `topic` from its start,
// without end-of-partition events, whose fetches wait at most 5 ms for data.
absl::StatusOr<KafkaHandle> ProbeConsumer(const std::string& brokers, const std::string& topic,
                                          const std::string& group) {
  LOYALTY_ASSIGN_OR_RETURN(int partitions, PartitionCount(brokers, topic, 30'000));
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk, NewClient(RD_KAFKA_CONSUMER, brokers,
                                                     {{"group.id", group},
                                                      {"enable.auto.commit", "false"},
                                                      {"isolation.level", "read_committed"},
                                                      {"auto.offset.reset", "earliest"},
                                                      {"enable.partition.eof", "false"},
                                                      {"fetch.wait.max.ms", "5"}}));
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

struct OutputProbe::Impl {
  KafkaHandle rk;
};

absl::StatusOr<std::unique_ptr<OutputProbe>> OutputProbe::Start(const std::string& brokers,
                                                                const std::string& topic) {
  auto probe = std::unique_ptr<OutputProbe>(new OutputProbe());
  probe->impl_ = std::make_unique<Impl>();
  LOYALTY_ASSIGN_OR_RETURN(probe->impl_->rk,
                           ProbeConsumer(brokers, topic, absl::StrCat("bench-probe-", WallMs())));
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
