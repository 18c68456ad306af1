#include "connectors/kafka/engine.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/base/status.h"
#include "engine/ledger/partition.h"
#include "engine/store/store.h"

namespace loyalty {
namespace {

using Clock = std::chrono::steady_clock;

// A worker thread with a bounded FIFO of tasks.
class Worker {
 public:
  explicit Worker(size_t queue_max) : queue_max_(queue_max), thread_([this] { Loop(); }) {}
  ~Worker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Blocks while the queue is full.
  void Push(std::function<void()> task) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return tasks_.size() < queue_max_; });
    tasks_.push_back(std::move(task));
    cv_.notify_all();
  }

  // Returns once every task pushed before it has run.
  void Drain() {
    std::mutex done_mu;
    std::condition_variable done_cv;
    bool done = false;
    Push([&] {
      std::lock_guard<std::mutex> lock(done_mu);
      done = true;
      done_cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(done_mu);
    done_cv.wait(lock, [&] { return done; });
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return closing_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // closing, and nothing left
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      cv_.notify_all();  // room in the queue
      task();
    }
  }

  const size_t queue_max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool closing_ = false;
  std::thread thread_;  // last: starts after the rest is built
};

}  // namespace

class KafkaEngine::Impl {
 public:
  Impl(const ProgramSet* programs, const Options& options)
      : programs_(programs), options_(options) {}
  ~Impl() {
    workers_.clear();  // joins them: no task touches a store after this
    owned_.clear();
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }

  absl::Status Init();
  absl::Status Run(const std::atomic<bool>& stop);
  int64_t records_applied() const { return applied_.load(); }
  int owned_partitions() const { return owned_count_.load(); }

  // librdkafka's rebalance callback (on the Run thread, inside poll).
  void Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);

 private:
  // A partition this process owns: its store, touched only by its worker.
  struct Owned {
    int32_t partition = 0;
    std::unique_ptr<PartitionStore> store;
    std::unique_ptr<Partition> ledger;
  };
  // Records read but not yet handed to the worker.
  struct Pending {
    std::vector<std::string> values;
    std::vector<int64_t> offsets;
    Clock::time_point first;
  };

  Worker& WorkerOf(int32_t partition) { return *workers_[partition % workers_.size()]; }
  absl::StatusOr<std::unique_ptr<Owned>> OpenPartition(int32_t partition);
  void Dispatch(int32_t partition);
  void Release(rd_kafka_topic_partition_list_t* partitions, bool lost);
  void Fail(absl::Status s) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (error_.ok()) error_ = std::move(s);
    failed_.store(true);
  }

  const ProgramSet* programs_;
  Options options_;
  rd_kafka_t* rk_ = nullptr;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::map<int32_t, std::unique_ptr<Owned>> owned_;  // Run thread only
  std::map<int32_t, Pending> pending_;               // Run thread only
  std::atomic<int64_t> applied_{0};
  std::atomic<int> owned_count_{0};
  std::atomic<bool> failed_{false};
  std::mutex error_mu_;
  absl::Status error_;
  absl::Status rebalance_error_;
};

namespace {

void OnRebalance(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                 void* opaque) {
  static_cast<KafkaEngine::Impl*>(opaque)->Rebalance(err, partitions);
}

}  // namespace

absl::Status KafkaEngine::Impl::Init() {
  if (options_.brokers.empty()) return absl::InvalidArgumentError("brokers are required");
  if (options_.data_dir.empty()) return absl::InvalidArgumentError("data_dir is required");
  if (options_.workers < 1) return absl::InvalidArgumentError("workers must be >= 1");
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  std::vector<std::pair<const char*, std::string>> settings = {
      {"bootstrap.servers", options_.brokers},
      {"session.timeout.ms", std::to_string(options_.session_timeout_ms)},
      {"group.id", options_.group_id},
      {"partition.assignment.strategy", "cooperative-sticky"},
      // Offsets come from the stores; Kafka's group offsets are never used to
      // resume (and not committed yet).
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      // Only reached when a stored offset is no longer retained, or for a
      // store that applied nothing: everything still retained must be seen.
      {"auto.offset.reset", "earliest"},
      // Upstream producers may be transactional: never apply aborted records.
      {"isolation.level", "read_committed"},
      {"enable.partition.eof", "false"},
  };
  if (!options_.instance_id.empty())
    settings.emplace_back("group.instance.id", options_.instance_id);
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka setting ", name, ": ", err));
    }
  }
  rd_kafka_conf_set_rebalance_cb(conf, OnRebalance);
  rd_kafka_conf_set_opaque(conf, this);
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka consumer: ", err));
  }
  rd_kafka_poll_set_consumer(rk_);
  for (int i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(options_.queue_batches_max));
  }
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options_.topics.events.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(rk_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("subscribe: ", rd_kafka_err2str(e)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<KafkaEngine::Impl::Owned>> KafkaEngine::Impl::OpenPartition(
    int32_t partition) {
  auto owned = std::make_unique<Owned>();
  owned->partition = partition;
  StoreOptions store_options;
  store_options.sync_writes = options_.sync_writes;
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.store_lock_wait_ms);
  for (;;) {
    auto store = PartitionStore::Open(PartitionDir(options_.data_dir, partition), store_options);
    if (store.ok()) {
      owned->store = std::move(*store);
      break;
    }
    // The previous owner (another process) may still be releasing it.
    if (Clock::now() > deadline) return store.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  PartitionOptions partition_options;
  partition_options.partition = partition;
  LOYALTY_ASSIGN_OR_RETURN(owned->ledger,
                           Partition::Open(programs_, owned->store.get(), partition_options));
  return owned;
}

void KafkaEngine::Impl::Rebalance(rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t* partitions) {
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    // Open each partition's store and start it at its stored offset.
    for (int i = 0; i < partitions->cnt; ++i) {
      rd_kafka_topic_partition_t* tp = &partitions->elems[i];
      auto owned = OpenPartition(tp->partition);
      if (!owned.ok()) {
        Fail(owned.status());
        tp->offset = RD_KAFKA_OFFSET_END;  // read nothing; Run stops
        continue;
      }
      const int64_t next = (*owned)->ledger->next_offset();
      tp->offset = next > 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
      owned_[tp->partition] = std::move(*owned);
    }
    owned_count_.store(static_cast<int>(owned_.size()));
    rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_, partitions);
    if (e != nullptr) {
      Fail(absl::UnavailableError(absl::StrCat("assign: ", rd_kafka_error_string(e))));
      rd_kafka_error_destroy(e);
    }
  } else {
    Release(partitions, rd_kafka_assignment_lost(rk_) != 0);
    rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_, partitions);
    if (e != nullptr) rd_kafka_error_destroy(e);
  }
}

void KafkaEngine::Impl::Release(rd_kafka_topic_partition_list_t* partitions, bool lost) {
  // A revoked partition's records read so far are applied; a lost one's are
  // dropped (the next owner reads them again from the stored offset). Then
  // wait for the workers and close the stores, which unlocks them for the
  // next owner.
  for (int i = 0; i < partitions->cnt; ++i) {
    const int32_t p = partitions->elems[i].partition;
    if (!lost) Dispatch(p);
    pending_.erase(p);
  }
  for (auto& w : workers_) w->Drain();
  for (int i = 0; i < partitions->cnt; ++i) owned_.erase(partitions->elems[i].partition);
  owned_count_.store(static_cast<int>(owned_.size()));
}

void KafkaEngine::Impl::Dispatch(int32_t partition) {
  auto it = pending_.find(partition);
  if (it == pending_.end() || it->second.values.empty()) return;
  auto owned = owned_.find(partition);
  if (owned == owned_.end()) {
    pending_.erase(it);
    return;
  }
  auto batch = std::make_shared<Pending>(std::move(it->second));
  pending_.erase(it);
  Partition* ledger = owned->second->ledger.get();
  WorkerOf(partition).Push([this, batch, ledger] {
    if (failed_.load()) return;
    std::vector<InputRecord> records;
    records.reserve(batch->values.size());
    for (size_t i = 0; i < batch->values.size(); ++i) {
      records.push_back({batch->offsets[i], batch->values[i]});
    }
    BatchOutputs outputs;
    outputs.collect_records = false;
    absl::Status s = ledger->ApplyBatch(records, InputFormat::kBinary, &outputs);
    if (!s.ok()) {
      Fail(s);
      return;
    }
    // Records below the stored offset (redelivered) are skipped, not counted.
    applied_.fetch_add(outputs.applied + outputs.duplicates + outputs.rejected);
  });
}

absl::Status KafkaEngine::Impl::Run(const std::atomic<bool>& stop) {
  const auto wait = std::chrono::milliseconds(options_.batch_wait_ms);
  while (!stop.load() && !failed_.load()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 10);
    if (m != nullptr) {
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Pending& p = pending_[m->partition];
        if (p.values.empty()) p.first = Clock::now();
        p.values.emplace_back(static_cast<const char*>(m->payload), m->len);
        p.offsets.push_back(m->offset);
        if (static_cast<int64_t>(p.values.size()) >= options_.batch_records_max) {
          Dispatch(m->partition);
        }
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        std::fprintf(stderr, "loyaltyd: kafka: %s\n", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
    }
    const auto now = Clock::now();
    std::vector<int32_t> due;
    for (const auto& [partition, p] : pending_) {
      if (!p.values.empty() && now - p.first >= wait) due.push_back(partition);
    }
    for (int32_t partition : due) Dispatch(partition);
  }
  // Apply what was read, then leave the group: the revocation closes the
  // stores.
  if (!failed_.load()) {
    std::vector<int32_t> all;
    for (const auto& [partition, p] : pending_) all.push_back(partition);
    for (int32_t partition : all) Dispatch(partition);
  }
  for (auto& w : workers_) w->Drain();
  rd_kafka_consumer_close(rk_);
  owned_.clear();
  owned_count_.store(0);
  std::lock_guard<std::mutex> lock(error_mu_);
  return error_;
}

KafkaEngine::KafkaEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaEngine::~KafkaEngine() = default;

absl::StatusOr<std::unique_ptr<KafkaEngine>> KafkaEngine::Create(const ProgramSet* programs,
                                                                 const Options& options) {
  auto impl = std::make_unique<Impl>(programs, options);
  LOYALTY_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<KafkaEngine>(new KafkaEngine(std::move(impl)));
}

absl::Status KafkaEngine::Run(const std::atomic<bool>& stop) { return impl_->Run(stop); }

int64_t KafkaEngine::records_applied() const { return impl_->records_applied(); }

int KafkaEngine::owned_partitions() const { return impl_->owned_partitions(); }

}  // namespace loyalty
