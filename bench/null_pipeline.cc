// File: bench/null_pipeline.cc
#include "bench/null_pipeline.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/shaped_writes.h"
#include "connectors/kafka/client.h"
#include "connectors/kafka/kafka.h"
#include "connectors/kafka/settings.h"
#include "engine/base/status.h"
#include "engine/base/task_thread.h"

namespace loyalty::bench {

using kafka_internal::FromKafka;
using kafka_internal::FromTxnError;
using kafka_internal::KafkaHandle;
using kafka_internal::NewClient;

namespace {

using Clock = std::chrono::steady_clock;

// Records read from one partition and not yet handed to a worker: their
// Kafka keys back to back (no allocation per record). Values are never
// looked at.
struct Batch {
  int32_t partition = 0;
  std::string keys;
  std::vector<uint32_t> key_ends;
  int64_t first_offset = -1;
  int64_t next_offset = 0;  // last offset + 1
  Clock::time_point first;

  size_t size() const { return key_ends.size(); }
  absl::string_view key(size_t i) const {
    const uint32_t begin = i == 0 ? 0 : key_ends[i - 1];
    return absl::string_view(keys.data() + begin, key_ends[i] - begin);
  }
};

void OnRebalance(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                 void* opaque);

}  // namespace

class NullPipeline::Impl {
 public:
  explicit Impl(const Options& options) : options_(options) {}
  ~Impl() {
    workers_.clear();  // joins them: no task touches a store after this
    owned_.clear();    // joins the publishing threads
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }

  absl::Status Init();
  absl::Status Run(const std::atomic<bool>& stop);
  int owned_partitions() const { return owned_count_.load(); }
  Stats stats() const {
    std::lock_guard<std::mutex> lock(stats_mu_);
    return stats_;
  }
  // librdkafka's rebalance callback (on the Run thread, inside poll).
  void Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);

 private:
  // A batch written to the store, waiting for its transaction.
  struct Written {
    std::shared_ptr<Batch> batch;
    int64_t outputs = 0;
  };
  // A partition this process owns.
  struct Owned {
    int32_t partition = 0;
    std::unique_ptr<PartitionStore> store;
    KafkaHandle producer;
    std::vector<rd_kafka_topic_t*> topics;  // the output topics, on `producer`
    std::atomic<bool> lost{false};
    // Its worker only: the store writes of the batch being built, and the
    // fraction of an output record carried to the next batch.
    std::unique_ptr<ShapedBatchBuilder> writes;
    double owed_outputs = 0;
    // Worker -> publishing thread.
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Written> unpublished;
    bool closing = false;
    // Publishing thread only.
    int64_t seq = 0;
    size_t output_at = 0;
    Clock::time_point last_transaction{};
    std::thread publisher;

    ~Owned() {
      {
        std::lock_guard<std::mutex> lock(mu);
        closing = true;
      }
      cv.notify_all();
      if (publisher.joinable()) publisher.join();
      for (rd_kafka_topic_t* t : topics) rd_kafka_topic_destroy(t);
    }
  };

  TaskThread& WorkerOf(int32_t partition) { return *workers_[partition % workers_.size()]; }
  absl::Status BuildPlan();
  absl::StatusOr<std::unique_ptr<Owned>> OpenPartition(int32_t partition);
  absl::Status OpenProducer(Owned* o);
  void Add(const rd_kafka_message_t* m);
  void Dispatch(int32_t partition);
  void Release(rd_kafka_topic_partition_list_t* partitions, bool lost);
  // On the partition's worker.
  absl::Status WriteBatch(Owned* o, const Batch& batch, int64_t* outputs);
  void Handoff(Owned* o, std::shared_ptr<Batch> batch, int64_t outputs);
  // On the partition's publishing thread.
  void PublishLoop(Owned* o);
  absl::Status Transact(Owned* o, const std::vector<Written>& written);
  absl::Status Produce(Owned* o, rd_kafka_topic_t* topic, absl::string_view key);
  void Fail(absl::Status s) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (error_.ok()) error_ = std::move(s);
    failed_.store(true);
  }

  Options options_;
  std::shared_ptr<const WritePlan> plan_;  // the store writes, and the pool values are cut from
  size_t output_value_bytes_ = 0;
  std::shared_ptr<StoreResources> resources_;
  rd_kafka_t* rk_ = nullptr;
  std::vector<std::unique_ptr<TaskThread>> workers_;
  std::map<int32_t, std::unique_ptr<Owned>> owned_;  // Run thread only
  std::map<int32_t, Batch> pending_;                 // Run thread only
  mutable std::mutex stats_mu_;
  Stats stats_;
  std::atomic<int> owned_count_{0};
  std::atomic<bool> failed_{false};
  bool rebalanced_ = false;  // Run thread only: the group gave an assignment
  std::mutex error_mu_;
  absl::Status error_;
};

namespace {

void OnRebalance(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                 void* opaque) {
  static_cast<NullPipeline::Impl*>(opaque)->Rebalance(err, partitions);
}

}  // namespace

absl::Status NullPipeline::Impl::BuildPlan() {
  const RecordShape& shape = options_.shape;
  output_value_bytes_ = static_cast<size_t>(std::lround(std::max(0.0, shape.output_value_bytes)));
  WritePlan::Options o;
  o.shape = shape;
  o.batch_records_max = options_.batch_records_max;
  o.other_value_bytes_max = output_value_bytes_;  // the output records' values
  o.value_pool = options_.value_pool;
  LOYALTY_ASSIGN_OR_RETURN(plan_, WritePlan::Create(o));
  if (shape.outputs_per_record > 0 && shape.output_value_bytes <= 0) {
    return absl::InvalidArgumentError("the shape has outputs of no size");
  }
  return absl::OkStatus();
}

absl::Status NullPipeline::Impl::Init() {
  const Options& o = options_;
  if (o.brokers.empty() || o.input_topic.empty() || o.output_topics.empty() || o.group_id.empty() ||
      o.data_dir.empty()) {
    return absl::InvalidArgumentError(
        "brokers, input_topic, output_topics, group_id and data_dir are required");
  }
  if (o.workers < 1 || o.batch_records_max < 1 || o.batch_wait_ms < 0 ||
      o.batch_wait_max_ms < o.batch_wait_ms || o.queue_batches_max < 1 ||
      o.unpublished_batches_max < 1 || o.commit_interval_ms < 0) {
    return absl::InvalidArgumentError(
        "workers, batch_records_max, queue_batches_max and unpublished_batches_max must be "
        "positive, batch_wait_ms and commit_interval_ms not negative, batch_wait_max_ms not "
        "below batch_wait_ms");
  }
  LOYALTY_RETURN_IF_ERROR(BuildPlan());
  constexpr int kTimeoutMs = 30'000;
  LOYALTY_ASSIGN_OR_RETURN(const int partitions,
                           PartitionCount(o.brokers, o.input_topic, kTimeoutMs));
  for (const std::string& topic : o.output_topics) {
    LOYALTY_ASSIGN_OR_RETURN(const int n, PartitionCount(o.brokers, topic, kTimeoutMs));
    if (n != partitions) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output topic ", topic, " has ", n, " partitions, ", o.input_topic, " has ", partitions));
    }
  }
  resources_ = StoreResources::Create(o.block_cache_bytes, o.memtable_bytes);
  for (int i = 0; i < o.workers; ++i) {
    workers_.push_back(std::make_unique<TaskThread>(o.queue_batches_max));
  }
  // Exactly the engine's consumer (connectors/kafka/settings.h).
  kafka_internal::EngineConsumerConfig consumer;
  consumer.brokers = o.brokers;
  consumer.group_id = o.group_id;
  consumer.topic = o.input_topic;
  consumer.session_timeout_ms = o.session_timeout_ms;
  LOYALTY_ASSIGN_OR_RETURN(KafkaHandle rk,
                           kafka_internal::NewEngineConsumer(consumer, OnRebalance, this));
  rk_ = rk.release();  // destroyed last, in ~Impl
  return absl::OkStatus();
}

absl::Status NullPipeline::Impl::OpenProducer(Owned* o) {
  // Exactly the publisher's producer (connectors/kafka/settings.h).
  LOYALTY_ASSIGN_OR_RETURN(o->producer,
                           NewClient(RD_KAFKA_PRODUCER, options_.brokers,
                                     kafka_internal::PublisherProducerSettings(
                                         kafka_internal::PublisherTransactionalId(
                                             options_.transactional_id_prefix, options_.group_id,
                                             options_.input_topic, o->partition),
                                         options_.transaction_timeout_ms)));
  rd_kafka_t* rk = o->producer.get();
  rd_kafka_error_t* e = rd_kafka_init_transactions(rk, options_.transaction_call_timeout_ms);
  if (e != nullptr) {
    return FromTxnError(e, absl::StrCat("init transactions of partition ", o->partition));
  }
  for (const std::string& name : options_.output_topics) {
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk, name.c_str(), nullptr);
    o->topics.push_back(t);
    // Learn the leaders now, not in the first transaction.
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk, 0, t, &md, options_.transaction_call_timeout_ms) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(md);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<NullPipeline::Impl::Owned>> NullPipeline::Impl::OpenPartition(
    int32_t partition) {
  auto o = std::make_unique<Owned>();
  o->partition = partition;
  StoreOptions store_options;
  store_options.sync_writes = options_.sync_writes;
  store_options.resources = resources_;
  LOYALTY_ASSIGN_OR_RETURN(
      o->store, PartitionStore::Open(PartitionDir(options_.data_dir, partition), store_options));
  LOYALTY_RETURN_IF_ERROR(OpenProducer(o.get()));
  // Partitions start cutting values at different places.
  o->writes = std::make_unique<ShapedBatchBuilder>(plan_, static_cast<size_t>(partition) * 7919,
                                                   options_.sort_writes);
  o->output_at = static_cast<size_t>(partition) * 104729 % plan_->pool_bytes();
  Owned* raw = o.get();
  o->publisher = std::thread([this, raw] { PublishLoop(raw); });
  return o;
}

void NullPipeline::Impl::Rebalance(rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* partitions) {
  rebalanced_ = true;
  if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    Release(partitions, rd_kafka_assignment_lost(rk_) != 0);
    rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_, partitions);
    if (e != nullptr) rd_kafka_error_destroy(e);
    return;
  }
  // Open the partitions at once, one thread each, as the engine does: each
  // waits for the broker (init_transactions) and for its store.
  std::vector<absl::StatusOr<std::unique_ptr<Owned>>> opened(static_cast<size_t>(partitions->cnt));
  {
    std::vector<std::thread> openers;
    for (int i = 0; i < partitions->cnt; ++i) {
      openers.emplace_back([this, &opened, partitions, i] {
        opened[static_cast<size_t>(i)] = OpenPartition(partitions->elems[i].partition);
      });
    }
    for (std::thread& t : openers) t.join();
  }
  for (int i = 0; i < partitions->cnt; ++i) {
    rd_kafka_topic_partition_t* tp = &partitions->elems[i];
    auto& owned = opened[static_cast<size_t>(i)];
    if (!owned.ok()) {
      Fail(owned.status());
      tp->offset = RD_KAFKA_OFFSET_END;  // read nothing; Run stops
      continue;
    }
    // The store holds the offset to resume from (passed in the assignment).
    tp->offset = ReadNextOffset((*owned)->store.get()).value_or(RD_KAFKA_OFFSET_BEGINNING);
    owned_[tp->partition] = std::move(*owned);
  }
  owned_count_.store(static_cast<int>(owned_.size()));
  rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_, partitions);
  if (e != nullptr) {
    Fail(absl::UnavailableError(absl::StrCat("assign: ", rd_kafka_error_string(e))));
    rd_kafka_error_destroy(e);
  }
}

void NullPipeline::Impl::Release(rd_kafka_topic_partition_list_t* partitions, bool lost) {
  // A revoked partition's records read so far are written and published; a
  // lost one's are dropped. Then the publishing threads finish (Owned's
  // destructor) and the stores close.
  for (int i = 0; i < partitions->cnt; ++i) {
    const int32_t p = partitions->elems[i].partition;
    if (lost) {
      auto it = owned_.find(p);
      if (it != owned_.end()) it->second->lost.store(true);
    } else {
      Dispatch(p);
    }
    pending_.erase(p);
  }
  for (auto& w : workers_) w->Drain();
  for (int i = 0; i < partitions->cnt; ++i) owned_.erase(partitions->elems[i].partition);
  owned_count_.store(static_cast<int>(owned_.size()));
}

void NullPipeline::Impl::Add(const rd_kafka_message_t* m) {
  Batch& b = pending_[m->partition];
  if (b.key_ends.empty()) {
    b.partition = m->partition;
    b.first = Clock::now();
    b.first_offset = m->offset;
  }
  b.keys.append(static_cast<const char*>(m->key), m->key_len);
  LOYALTY_CHECK(b.keys.size() < UINT32_MAX) << "keys of a batch over 4 GiB";
  b.key_ends.push_back(static_cast<uint32_t>(b.keys.size()));
  b.next_offset = m->offset + 1;
  if (static_cast<int64_t>(b.size()) >= options_.batch_records_max) Dispatch(m->partition);
}

void NullPipeline::Impl::Dispatch(int32_t partition) {
  auto it = pending_.find(partition);
  if (it == pending_.end() || it->second.key_ends.empty()) return;
  auto owned = owned_.find(partition);
  if (owned == owned_.end()) {
    pending_.erase(it);
    return;
  }
  auto batch = std::make_shared<Batch>(std::move(it->second));
  pending_.erase(it);
  Owned* o = owned->second.get();
  WorkerOf(partition).Push([this, batch, o] {
    if (failed_.load() || o->lost.load()) return;
    int64_t outputs = 0;
    absl::Status s = WriteBatch(o, *batch, &outputs);
    if (!s.ok()) {
      Fail(s);
      return;
    }
    Handoff(o, batch, outputs);
  });
}

// The batch's store writes in the engine's shape (ShapedBatchBuilder: keys
// under each record's Kafka key, offsets from the batch's first), and its
// output records owed.
absl::Status NullPipeline::Impl::WriteBatch(Owned* o, const Batch& batch, int64_t* outputs) {
  const size_t n = batch.size();
  for (size_t i = 0; i < n; ++i) {
    o->writes->AddRecord(batch.key(i), batch.first_offset + static_cast<int64_t>(i));
  }
  WriteShape shape;
  LOYALTY_RETURN_IF_ERROR(o->writes->Write(o->store.get(), batch.first_offset, batch.next_offset,
                                           options_.sync_writes, &shape));
  o->owed_outputs += options_.shape.outputs_per_record * static_cast<double>(n);
  *outputs = static_cast<int64_t>(o->owed_outputs);
  o->owed_outputs -= static_cast<double>(*outputs);
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.records += static_cast<int64_t>(n);
  stats_.batches++;
  stats_.writes.Add(shape);
  return absl::OkStatus();
}

void NullPipeline::Impl::Handoff(Owned* o, std::shared_ptr<Batch> batch, int64_t outputs) {
  std::unique_lock<std::mutex> lock(o->mu);
  // Bounded: wait for room, never for a commit.
  o->cv.wait(lock, [&] {
    return o->unpublished.size() < options_.unpublished_batches_max || o->closing ||
           failed_.load() || o->lost.load();
  });
  o->unpublished.push_back({std::move(batch), outputs});
  o->cv.notify_all();
}

void NullPipeline::Impl::PublishLoop(Owned* o) {
  const auto interval = std::chrono::milliseconds(options_.commit_interval_ms);
  std::vector<Written> taking;
  for (;;) {
    bool closing;
    {
      std::unique_lock<std::mutex> lock(o->mu);
      o->cv.wait(lock, [&] { return o->closing || !o->unpublished.empty(); });
      if (o->unpublished.empty()) return;  // closing, and nothing left
      closing = o->closing;
    }
    // At most one transaction per interval, while the worker adds batches
    // (closing does not wait).
    while (!closing && Clock::now() - o->last_transaction < interval && !failed_.load() &&
           !o->lost.load()) {
      std::this_thread::sleep_for(std::min<Clock::duration>(
          interval - (Clock::now() - o->last_transaction), std::chrono::milliseconds(5)));
      std::lock_guard<std::mutex> lock(o->mu);
      closing = o->closing;
    }
    if (failed_.load() || o->lost.load()) break;
    {
      std::lock_guard<std::mutex> lock(o->mu);
      taking.swap(o->unpublished);
    }
    o->cv.notify_all();  // room for the worker
    o->last_transaction = Clock::now();
    absl::Status s = Transact(o, taking);
    if (!s.ok()) {
      Fail(s);
      break;
    }
    if (options_.on_committed) {
      for (const Written& w : taking) {
        options_.on_committed(o->partition, static_cast<int64_t>(w.batch->size()));
      }
    }
    taking.clear();
  }
  // Failed or lost: wake a worker waiting for room.
  o->cv.notify_all();
}

absl::Status NullPipeline::Impl::Produce(Owned* o, rd_kafka_topic_t* topic, absl::string_view key) {
  rd_kafka_t* rk = o->producer.get();
  // A compacted output topic (balances) refuses records without a key; the
  // inputs without one (ticks) get this one.
  static constexpr absl::string_view kNoKey = "-";
  if (key.empty()) key = kNoKey;
  char digits[24];
  char* end = absl::numbers_internal::FastIntToBuffer(++o->seq, digits);
  const absl::string_view value = plan_->Cut(output_value_bytes_, &o->output_at);
  rd_kafka_headers_t* headers = rd_kafka_headers_new(1);
  rd_kafka_header_add(headers, "loyalty.seq", -1, digits, end - digits);
  for (;;) {
    // No copy: the pool and the batch's keys outlive the transaction.
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(o->partition), RD_KAFKA_V_MSGFLAGS(0),
        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_headers_destroy(headers);  // not taken on failure
      return FromKafka(err, absl::StrCat("produce to partition ", o->partition));
    }
    rd_kafka_poll(rk, 10);
  }
}

absl::Status NullPipeline::Impl::Transact(Owned* o, const std::vector<Written>& written) {
  int64_t records = 0;
  for (const Written& w : written) records += w.outputs;
  if (records == 0) return absl::OkStatus();
  rd_kafka_t* rk = o->producer.get();
  rd_kafka_error_t* e = rd_kafka_begin_transaction(rk);
  if (e != nullptr) return FromTxnError(e, "begin transaction");
  size_t topic = 0;
  for (const Written& w : written) {
    const size_t n = w.batch->size();
    for (int64_t k = 0; k < w.outputs; ++k) {
      // Outputs spread over the batch's records (keys), round robin over
      // the topics.
      const size_t record = static_cast<size_t>(k) * n / static_cast<size_t>(w.outputs);
      LOYALTY_RETURN_IF_ERROR(Produce(o, o->topics[topic], w.batch->key(record)));
      topic = (topic + 1) % o->topics.size();
    }
  }
  for (int attempt = 0;; ++attempt) {
    e = rd_kafka_commit_transaction(rk, options_.transaction_call_timeout_ms);
    if (e == nullptr) break;
    if (!rd_kafka_error_is_retriable(e) || attempt >= 2) {
      return FromTxnError(e, absl::StrCat("commit transaction of partition ", o->partition));
    }
    rd_kafka_error_destroy(e);
  }
  LOYALTY_RETURN_IF_ERROR(o->store->SetPublishedThrough(o->seq));
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.kafka_records += records;
  stats_.kafka_bytes += records * static_cast<int64_t>(output_value_bytes_);
  stats_.transactions++;
  return absl::OkStatus();
}

absl::Status NullPipeline::Impl::Run(const std::atomic<bool>& stop) {
  const auto wait = std::chrono::milliseconds(options_.batch_wait_ms);
  const auto wait_max = std::chrono::milliseconds(options_.batch_wait_max_ms);
  std::vector<int32_t> due;
  while (!stop.load() && !failed_.load()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 10);
    const bool caught_up = m == nullptr;
    if (m != nullptr) {
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Add(m);
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        std::fprintf(stderr, "null pipeline: kafka: %s\n", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
    }
    const auto now = Clock::now();
    due.clear();
    for (const auto& [partition, b] : pending_) {
      const auto age = now - b.first;
      if (!b.key_ends.empty() && (age >= wait_max || (caught_up && age >= wait))) {
        due.push_back(partition);
      }
    }
    for (int32_t partition : due) Dispatch(partition);
  }
  if (!failed_.load()) {
    std::vector<int32_t> all;
    for (const auto& [partition, b] : pending_) all.push_back(partition);
    for (int32_t partition : all) Dispatch(partition);
  }
  for (auto& w : workers_) w->Drain();
  // librdkafka 2.0.2 aborts when a cooperative-sticky consumer that joined
  // the group is destroyed before its first assignment (librdkafka #4312):
  // wait for it, bounded by the session timeout.
  const auto joined_by =
      Clock::now() + std::chrono::milliseconds(options_.session_timeout_ms + 5'000);
  while (!rebalanced_ && Clock::now() < joined_by) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 100);
    if (m != nullptr) rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk_);  // the revocation publishes and closes
  owned_.clear();
  owned_count_.store(0);
  std::lock_guard<std::mutex> lock(error_mu_);
  return error_;
}

NullPipeline::NullPipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NullPipeline::~NullPipeline() = default;

absl::StatusOr<std::unique_ptr<NullPipeline>> NullPipeline::Create(const Options& options) {
  auto impl = std::make_unique<Impl>(options);
  LOYALTY_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<NullPipeline>(new NullPipeline(std::move(impl)));
}

absl::Status NullPipeline::Run(const std::atomic<bool>& stop) { return impl_->Run(stop); }
int NullPipeline::owned_partitions() const { return impl_->owned_partitions(); }
NullPipeline::Stats NullPipeline::stats() const { return impl_->stats(); }

}  // namespace loyalty::bench
