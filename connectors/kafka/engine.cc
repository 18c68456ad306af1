#include "connectors/kafka/engine.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "connectors/kafka/publisher.h"
#include "connectors/kafka/settings.h"
#include "connectors/kafka/standby.h"
#include "engine/base/status.h"
#include "engine/base/task_thread.h"
#include "engine/base/time.h"
#include "engine/ledger/partition.h"
#include "engine/log/log.h"
#include "engine/store/backup.h"
#include "engine/store/store.h"
#include "rocksdb/cache.h"
#include "rocksdb/write_buffer_manager.h"

namespace loyalty {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

class KafkaEngine::Impl {
 public:
  Impl(const ProgramSet* programs, const Options& options)
      : programs_(programs), options_(options) {}
  ~Impl() {
    standbys_.reset();
    backup_thread_.reset();  // joined before the stores it backs up close
    workers_.clear();  // joins them: no task touches a store after this
    owned_.clear();
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }

  absl::Status Init();
  absl::Status Run(const std::atomic<bool>& stop);
  // After Run's loop: applies what was read (unless failed), drains the
  // workers, leaves the group; returns the first error, or OK for a stop.
  absl::Status Shutdown(const std::atomic<bool>& stop);
  int64_t records_applied() const { return applied_.load(); }
  int owned_partitions() const { return owned_count_.load(); }
  int64_t output_transactions() const { return transactions_.load(); }
  int64_t outputs_unpublished() const { return unpublished_.load(); }
  Stats stats() const {
    std::lock_guard<std::mutex> lock(stats_mu_);
    Stats s = stats_;
    s.records = applied_.load();
    s.transactions = transactions_.load();
    return s;
  }
  Metrics metrics() const;

  // librdkafka's rebalance callback (on the Run thread, inside poll).
  void Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);

 private:
  // Records read but not yet handed to the worker: their values back to
  // back in one buffer (no allocation per record).
  struct Pending {
    std::string bytes;
    std::vector<int64_t> offsets;
    std::vector<uint32_t> ends;          // end of each value in bytes
    std::vector<int64_t> timestamps_ms;  // only with on_committed
    Clock::time_point first;
    // Only with on_committed: when each stage ended (WallMs).
    int64_t dispatched_ms = 0, started_ms = 0, applied_ms = 0, publishing_ms = 0;
  };
  // A partition's metrics: kept for the process's life (counters never go
  // back), updated by its worker and publishing thread, read by metrics().
  struct Counters {
    std::atomic<bool> owned{false};
    std::atomic<int64_t> next_offset{0};  // also for group offset commits
    std::array<std::atomic<int64_t>, loyalty::v1::Outcome::Status_ARRAYSIZE> by_status{};
    std::array<std::atomic<int64_t>, loyalty::v1::RejectReason_ARRAYSIZE> by_reason{};
    std::atomic<int64_t> output_records{0};
    std::atomic<int64_t> transactions{0};
    // steady_clock nanos when the oldest unpublished batch was applied; 0: none.
    std::atomic<int64_t> unpublished_since_ns{0};
    metrics::Histogram batch_seconds{metrics::Histogram::kLatencyBoundsSeconds};
    metrics::Histogram commit_seconds{metrics::Histogram::kLatencyBoundsSeconds};
    // Restore: re-applying the input from restore_from up to restore_target.
    std::atomic<bool> restoring{false};
    std::atomic<int64_t> restore_from{0};
    std::atomic<int64_t> restore_target{0};
    std::atomic<int64_t> restores{0};
    std::atomic<bool> stopped{false};
    std::atomic<int64_t> backups{0};
    std::atomic<int64_t> backup_failures{0};
    std::atomic<int64_t> backup_offset{-1};
    metrics::Histogram backup_seconds{metrics::Histogram::kLatencyBoundsSeconds};
    mutable std::mutex reason_mu;
    std::string stopped_reason;  // under reason_mu
  };
  std::shared_ptr<Counters> CountersOf(int32_t partition) {
    std::lock_guard<std::mutex> lock(counters_mu_);
    std::shared_ptr<Counters>& c = counters_[partition];
    if (c == nullptr) c = std::make_shared<Counters>();
    return c;
  }
  static int64_t SteadyNanos() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
  }

  // A partition this process owns: its store, touched only by its worker.
  struct Owned {
    ~Owned() {
      if (counters != nullptr) counters->owned.store(false);
    }
    int32_t partition = 0;
    // Its input no longer holds the offsets its state needs: it is assigned
    // but paused, and nothing is applied or published (no publisher).
    std::string stopped;
    // Backups: the offset the newest continues from; one at a time.
    std::atomic<int64_t> backed_up_offset{0};
    std::atomic<bool> backup_scheduled{false};
    Clock::time_point last_backup = Clock::now();  // Run thread
    // Restore progress, Run thread only.
    Clock::time_point restore_started{}, restore_logged{};
    int64_t last_read_offset = 0;  // the last record dispatched + 1 (Run thread)
    // When it was opened, and whether its first output transaction since
    // was logged (a takeover's cost; the opener, then the publishing thread).
    Clock::time_point opened_at = Clock::now();
    bool first_output_logged = false;
    std::shared_ptr<Counters> counters;
    std::unique_ptr<PartitionStore> store;
    std::unique_ptr<Partition> ledger;
    std::unique_ptr<JournalPublisher> publisher;  // null with outputs off
    // Set when the assignment is lost: nothing more is applied or published
    // here (the next owner takes over from the store and its journal).
    std::atomic<bool> lost{false};
    // Batches applied and not yet published, oldest first.
    struct Applied {
      std::shared_ptr<BatchOutputs> outputs;
      std::shared_ptr<Pending> batch;
    };
    std::mutex unpublished_mu;
    std::vector<Applied> unpublished;
    // A PublishPending task is queued or waiting out the commit interval:
    // batches applied meanwhile join it instead of queueing tasks of their
    // own (under unpublished_mu).
    bool publish_scheduled = false;
    // Publishing thread only.
    Clock::time_point last_transaction{};
    std::vector<JournalRecordView> views;
    // Runs the publisher; last, so that it is joined (after running what it
    // holds) before the rest is destroyed.
    std::unique_ptr<TaskThread> publish_thread;
  };

  TaskThread& WorkerOf(int32_t partition) { return *workers_[partition % workers_.size()]; }
  absl::StatusOr<std::unique_ptr<Owned>> OpenPartition(int32_t partition);
  // Opens partition's store, waiting for a previous owner on this host to
  // release it.
  absl::StatusOr<std::unique_ptr<PartitionStore>> OpenStore(int32_t partition);
  // Replaces the store with the newest backup if that is ahead of it
  // (reopening it); sets *restored. The offset the newest backup continues
  // from into *backed_up (0: none).
  absl::Status RestoreIfBehind(Owned* owned, bool* restored, int64_t* backed_up);
  // The input's log start and end for `partition` (a broker call).
  absl::Status Watermarks(int32_t partition, int64_t* low, int64_t* high);
  // The message of a partition that cannot continue: its state needs input
  // from `needed`, and the log starts at `log_start`.
  std::string GapMessage(int32_t partition, int64_t needed, int64_t log_start) const;
  // Stops partition p (assigned, paused, nothing applied or published).
  void StopPartition(Owned* o, const std::string& reason);
  BackupOptions BackupOpts() const;
  std::string StagingDir(int32_t partition) const {
    return absl::StrCat(options_.data_dir, "/.backup-", PartitionDir("", partition).substr(1));
  }
  // Backs up `o` now (on the calling thread); logs and counts the result.
  void TakeBackup(Owned* o, const char* why);
  // Run thread: schedules the backups that are due, logs restore progress.
  void Housekeeping();
  // Run thread: the consumer reached the end of `partition` at `end_offset`.
  void OnEndOfPartition(int32_t partition, int64_t end_offset);
  absl::Status Republish(Owned* owned);
  void CommitGroupOffsets();
  void PublishPending(Owned* o);  // on o's publishing thread
  void ReportCommitted(int32_t partition, const Pending& batch, int64_t committed_ms) const {
    KafkaEngine::CommittedBatch c;
    c.partition = partition;
    c.timestamps_ms = &batch.timestamps_ms;
    c.dispatched_ms = batch.dispatched_ms;
    c.started_ms = batch.started_ms;
    c.applied_ms = batch.applied_ms;
    c.publishing_ms = batch.publishing_ms;
    c.committed_ms = committed_ms;
    options_.on_committed(c);
  }
  void Dispatch(int32_t partition);
  void Release(rd_kafka_topic_partition_list_t* partitions, bool lost);
  // Logs o's first committed output transaction since it was opened.
  void NoteCommitted(Owned* o) {
    if (o->first_output_logged) return;
    o->first_output_logged = true;
    log::Info("partition first output committed",
              {{"partition", o->partition},
               {"seconds_since_assigned",
                std::chrono::duration<double>(Clock::now() - o->opened_at).count()}});
  }
  void Fail(absl::Status s) {
    // The cause names a fence (a newer owner of a partition's
    // transactional id) as such.
    log::Error("stopping on an error", {{"cause", s.ToString()}});
    std::lock_guard<std::mutex> lock(error_mu_);
    if (error_.ok()) error_ = std::move(s);
    failed_.store(true);
  }

  const ProgramSet* programs_;
  Options options_;
  std::shared_ptr<StoreResources> resources_;
  rd_kafka_t* rk_ = nullptr;
  std::vector<std::unique_ptr<TaskThread>> workers_;
  std::unique_ptr<TaskThread> backup_thread_;  // with backup_dir: one backup at a time
  std::unique_ptr<StandbyReplicas> standbys_;  // with standby_replicas
  std::map<int32_t, std::unique_ptr<Owned>> owned_;  // Run thread only
  std::map<int32_t, Pending> pending_;               // Run thread only
  std::atomic<int64_t> applied_{0};
  std::atomic<int64_t> transactions_{0};
  std::atomic<int64_t> unpublished_{0};  // journal records queued for publishing
  mutable std::mutex stats_mu_;
  Stats stats_;                              // but records and transactions (the atomics)
  const std::atomic<bool>* stop_ = nullptr;  // Run's; cancels publish retries
  std::atomic<int> owned_count_{0};
  std::atomic<bool> failed_{false};
  bool rebalanced_ = false;            // Run thread only: the group gave an assignment
  std::atomic<bool> assigned_{false};  // rebalanced_, for other threads
  mutable std::mutex counters_mu_;
  std::map<int32_t, std::shared_ptr<Counters>> counters_;  // under counters_mu_
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
  if (options_.brokers.bootstrap_servers.empty())
    return absl::InvalidArgumentError("brokers are required");
  if (options_.data_dir.empty()) return absl::InvalidArgumentError("data_dir is required");
  if (options_.workers < 1) return absl::InvalidArgumentError("workers must be >= 1");
  if (options_.commit_interval_ms < 0) {
    return absl::InvalidArgumentError("commit_interval_ms must be >= 0");
  }
  resources_ = StoreResources::Create(options_.block_cache_bytes, options_.memtable_bytes);
  if (options_.outputs_enabled) {
    // Output partition p mirrors input partition p: the topics must exist
    // with the input's partition count (loyaltyctl create-topics).
    constexpr int kTimeoutMs = 30'000;
    LOYALTY_ASSIGN_OR_RETURN(const int partitions,
                             PartitionCount(options_.brokers, options_.topics.events, kTimeoutMs));
    for (const std::string& topic : options_.topics.published(options_.outputs)) {
      LOYALTY_ASSIGN_OR_RETURN(const int n, PartitionCount(options_.brokers, topic, kTimeoutMs));
      if (n != partitions) {
        return absl::FailedPreconditionError(absl::StrCat("output topic ", topic, " has ", n,
                                                          " partitions, ", options_.topics.events,
                                                          " has ", partitions));
      }
    }
  }
  for (int i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<TaskThread>(options_.queue_batches_max));
  }
  if (!options_.backup_dir.empty()) {
    LOYALTY_RETURN_IF_ERROR(MakeDirectory(options_.backup_dir));
    // At most one scheduled backup per partition waits here.
    backup_thread_ = std::make_unique<TaskThread>(4096);
  }
  kafka_internal::EngineConsumerConfig consumer;
  consumer.brokers = options_.brokers;
  consumer.group_id = options_.group_id;
  consumer.topic = options_.topics.events;
  consumer.session_timeout_ms = options_.session_timeout_ms;
  consumer.instance_id = options_.instance_id;
  LOYALTY_ASSIGN_OR_RETURN(kafka_internal::KafkaHandle rk,
                           kafka_internal::NewEngineConsumer(consumer, OnRebalance, this));
  rk_ = rk.release();  // destroyed last, in ~Impl
  if (options_.standby_replicas > 0) {
    StandbyOptions so;
    so.brokers = options_.brokers;
    so.topic = options_.topics.events;
    so.group_id = options_.group_id;
    so.data_dir = options_.data_dir;
    so.replicas = options_.standby_replicas;
    so.programs = programs_;
    so.self_key = [this] {
      if (!options_.instance_id.empty()) return options_.instance_id;
      char* id = rd_kafka_memberid(rk_);
      std::string key = id != nullptr ? id : "";
      if (id != nullptr) rd_kafka_mem_free(rk_, id);
      return key;
    };
    so.backup_dir = options_.backup_dir;
    so.refresh_ms = options_.standby_refresh_ms;
    so.batch_records_max = options_.batch_records_max;
    so.members_cached_max = options_.members_cached_max;
    so.sync_writes = options_.sync_writes;
    so.resources = resources_;
    so.env = options_.env;
    LOYALTY_ASSIGN_OR_RETURN(standbys_, StandbyReplicas::Start(so));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PartitionStore>> KafkaEngine::Impl::OpenStore(int32_t partition) {
  StoreOptions store_options;
  store_options.sync_writes = options_.sync_writes;
  store_options.env = options_.env;
  store_options.resources = resources_;
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.store_lock_wait_ms);
  for (;;) {
    auto store = PartitionStore::Open(PartitionDir(options_.data_dir, partition), store_options);
    if (store.ok()) return store;
    // The previous owner (another process) may still be releasing it.
    if (Clock::now() > deadline) return store.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

absl::Status KafkaEngine::Impl::RestoreIfBehind(Owned* owned, bool* restored, int64_t* backed_up) {
  *restored = false;
  *backed_up = 0;
  if (options_.backup_dir.empty()) return absl::OkStatus();
  const int32_t p = owned->partition;
  LOYALTY_ASSIGN_OR_RETURN(std::optional<BackupInfo> ahead, NewestBackup(options_.backup_dir, p));
  if (!ahead.has_value()) return absl::OkStatus();
  *backed_up = ahead->meta.next_offset();
  LOYALTY_ASSIGN_OR_RETURN(const int64_t local, owned->store->GetNextOffset());
  if (ahead->meta.next_offset() <= local) return absl::OkStatus();
  LOYALTY_RETURN_IF_ERROR(
      CheckBackupSource(*ahead, InputSource::Kafka(options_.topics.events).Encode()));
  const auto start = Clock::now();
  log::Info("partition restoring from a backup",
            {{"partition", p},
             {"backup_id", static_cast<int64_t>(ahead->id)},
             {"backup_next_offset", ahead->meta.next_offset()},
             {"store_next_offset", local},
             {"backup_bytes", static_cast<int64_t>(ahead->size_bytes)}});
  owned->store.reset();  // closed (and unlocked) while its directory is replaced
  LOYALTY_RETURN_IF_ERROR(RestorePartition(options_.backup_dir, p, ahead->id,
                                           PartitionDir(options_.data_dir, p))
                              .status());
  LOYALTY_ASSIGN_OR_RETURN(owned->store, OpenStore(p));
  log::Info("partition restored from a backup",
            {{"partition", p},
             {"backup_id", static_cast<int64_t>(ahead->id)},
             {"next_offset", ahead->meta.next_offset()},
             {"seconds", std::chrono::duration<double>(Clock::now() - start).count()}});
  owned->counters->restores.fetch_add(1);
  *restored = true;
  return absl::OkStatus();
}

absl::Status KafkaEngine::Impl::Watermarks(int32_t partition, int64_t* low, int64_t* high) {
  // A topic just created, or a leader that just moved, answers
  // NOT_LEADER_FOR_PARTITION for a moment: retried, like any retriable
  // error, for up to 30 s.
  constexpr int kTimeoutMs = 10'000;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        rk_, options_.topics.events.c_str(), partition, low, high, kTimeoutMs);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
    const bool retriable = err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                           err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                           err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
                           err == RD_KAFKA_RESP_ERR__TRANSPORT;
    if (!retriable || Clock::now() > deadline) {
      return absl::UnavailableError(absl::StrCat("the offsets of ", options_.topics.events, " [",
                                                 partition, "]: ", rd_kafka_err2str(err)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::string KafkaEngine::Impl::GapMessage(int32_t partition, int64_t needed,
                                          int64_t log_start) const {
  return absl::StrCat(
      "partition ", partition, " of ", options_.topics.events,
      " cannot continue: its state needs the input from offset ", needed,
      ", but the topic's log starts at offset ", log_start,
      " (retention or deleted records removed offsets ", needed, "..", log_start - 1,
      "); nothing more is applied or published for it. Restore a backup that continues from ",
      log_start, " or later (loyaltyctl backups, loyaltyctl restore), or see docs/operations.md, "
      "\"A gap in the input\"");
}

void KafkaEngine::Impl::StopPartition(Owned* o, const std::string& reason) {
  o->stopped = reason;
  {
    std::lock_guard<std::mutex> lock(o->counters->reason_mu);
    o->counters->stopped_reason = reason;
  }
  o->counters->stopped.store(true);
  o->counters->restoring.store(false);
  pending_.erase(o->partition);
  log::Error("partition stopped", {{"topic", options_.topics.events},
                                   {"partition", o->partition},
                                   {"cause", reason}});
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, options_.topics.events.c_str(), o->partition);
  rd_kafka_pause_partitions(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
}

BackupOptions KafkaEngine::Impl::BackupOpts() const {
  BackupOptions b;
  b.backup_dir = options_.backup_dir;
  b.backups_kept = options_.backups_kept;
  b.taken_by = options_.backup_taken_by;
  b.engine_version = LOYALTY_ENGINE_VERSION;
  return b;
}

void KafkaEngine::Impl::TakeBackup(Owned* o, const char* why) {
  const auto start = Clock::now();
  auto b = BackupPartition(o->store.get(), o->partition, StagingDir(o->partition), BackupOpts());
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!b.ok()) {
    // The partition goes on: a failed backup only makes a restore replay more.
    o->counters->backup_failures.fetch_add(1);
    log::Warn("backup failed", {{"partition", o->partition},
                                {"why", why},
                                {"cause", b.status().ToString()}});
    return;
  }
  o->backed_up_offset.store(b->meta.next_offset());
  o->counters->backups.fetch_add(1);
  o->counters->backup_offset.store(b->meta.next_offset());
  o->counters->backup_seconds.Observe(seconds);
  log::Info("partition backed up", {{"partition", o->partition},
                                    {"why", why},
                                    {"backup_id", static_cast<int64_t>(b->id)},
                                    {"next_offset", b->meta.next_offset()},
                                    {"size_bytes", static_cast<int64_t>(b->size_bytes)},
                                    {"seconds", seconds}});
}

absl::StatusOr<std::unique_ptr<KafkaEngine::Impl::Owned>> KafkaEngine::Impl::OpenPartition(
    int32_t partition) {
  auto owned = std::make_unique<Owned>();
  owned->partition = partition;
  owned->counters = CountersOf(partition);
  // A standby copy of it here stops, and its store (warm) is ours.
  if (standbys_ != nullptr) standbys_->Own(partition);
  LOYALTY_ASSIGN_OR_RETURN(owned->store, OpenStore(partition));
  // A store with no recorded source is new (or from before sources were
  // recorded): what it lacks is re-applied from the input, a restore too.
  LOYALTY_ASSIGN_OR_RETURN(const std::optional<InputSource> had_source, owned->store->GetSource());
  bool restored = false;
  int64_t backed_up = 0;
  LOYALTY_RETURN_IF_ERROR(RestoreIfBehind(owned.get(), &restored, &backed_up));
  owned->backed_up_offset.store(backed_up);
  owned->counters->backup_offset.store(backed_up > 0 ? backed_up : -1);
  // Its input is this topic: a store of another topic or of a file replay
  // is refused (their offsets are not this topic's).
  LOYALTY_RETURN_IF_ERROR(owned->store->ClaimSource(InputSource::Kafka(options_.topics.events)));
  PartitionOptions partition_options;
  partition_options.partition = partition;
  partition_options.members_cached_max = options_.members_cached_max;
  LOYALTY_ASSIGN_OR_RETURN(owned->ledger,
                           Partition::Open(programs_, owned->store.get(), partition_options));
  const int64_t next = owned->ledger->next_offset();
  owned->counters->next_offset.store(next);
  owned->counters->owned.store(true);
  owned->counters->stopped.store(false);
  // The input must still hold every offset from `next` on: a state that
  // skipped records would be wrong for good (SPEC §10).
  int64_t low = 0, high = 0;
  LOYALTY_RETURN_IF_ERROR(Watermarks(partition, &low, &high));
  if (next < low) {
    owned->stopped = GapMessage(partition, next, low);
    return owned;  // no publisher: nothing is published for it
  }
  const bool restoring = (restored || !had_source.has_value()) && next < high;
  owned->counters->restoring.store(restoring);
  if (restoring) {
    owned->counters->restore_from.store(next);
    owned->counters->restore_target.store(high);
    owned->restore_started = owned->restore_logged = Clock::now();
  }
  if (options_.outputs_enabled) {
    PublisherOptions p;
    p.brokers = options_.brokers;
    p.topics = options_.topics;
    p.outputs = options_.outputs;
    p.partition = partition;
    p.transactional_id = kafka_internal::PublisherTransactionalId(
        options_.transactional_id_prefix, options_.group_id, options_.topics.events, partition);
    p.reader_group_id = options_.group_id;
    p.transaction_timeout_ms = options_.transaction_timeout_ms;
    p.call_timeout_ms = options_.transaction_call_timeout_ms;
    p.cancel_grace_ms = options_.stop_publish_timeout_ms;
    LOYALTY_ASSIGN_OR_RETURN(owned->publisher, JournalPublisher::Create(p, stop_));
    LOYALTY_RETURN_IF_ERROR(Republish(owned.get()));
    owned->publish_thread = std::make_unique<TaskThread>(options_.queue_batches_max);
  }
  return owned;
}

absl::Status KafkaEngine::Impl::Republish(Owned* owned) {
  // What the journal holds above the last committed sequence: the outputs
  // of batches whose publishing a crash interrupted, or that a store behind
  // Kafka re-derives. Bounded transactions of whole journal values.
  constexpr size_t kChunkBytes = 16 << 20;
  JournalPublisher* publisher = owned->publisher.get();
  // The store's own note counts too: retention may have emptied the output
  // topics' tails.
  publisher->AdvancePublished(owned->ledger->published_through());
  std::vector<std::string> values;
  size_t bytes = 0;
  auto flush = [&]() -> absl::Status {
    if (values.empty()) return absl::OkStatus();
    std::vector<JournalRecordView> views;
    for (const std::string& v : values) LOYALTY_RETURN_IF_ERROR(ReadJournalBatch(v, &views));
    const int64_t before = publisher->records_published();
    LOYALTY_RETURN_IF_ERROR(publisher->Publish(views));
    transactions_.fetch_add(1);
    if (publisher->records_published() > before) NoteCommitted(owned);
    values.clear();
    bytes = 0;
    return absl::OkStatus();
  };
  LOYALTY_RETURN_IF_ERROR(owned->store->ForEachJournalBatch(
      publisher->published_seq(), [&](absl::string_view value) -> absl::Status {
        values.emplace_back(value);
        bytes += value.size();
        return bytes >= kChunkBytes ? flush() : absl::OkStatus();
      }));
  LOYALTY_RETURN_IF_ERROR(flush());
  return owned->store->SetPublishedThrough(publisher->published_seq());
}

void KafkaEngine::Impl::Rebalance(rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t* partitions) {
  rebalanced_ = true;
  assigned_.store(true);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    // Open each partition's store and start it at its stored offset. The
    // partitions open at once, one thread each, since they share nothing
    // while they open: opening waits for the broker (the transactional
    // producer's init, which first aborts a killed owner's open
    // transaction, and the output topics' tails) and replays the store's
    // WAL, and one partition after another made a restart after kill -9
    // take over 7 s with 8 partitions.
    std::vector<absl::StatusOr<std::unique_ptr<Owned>>> opened(
        static_cast<size_t>(partitions->cnt));
    {
      std::vector<std::thread> openers;
      openers.reserve(opened.size());
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
      // From the stored offset, 0 included: never from wherever Kafka's
      // auto.offset.reset would start (it is "error": a gap is reported).
      const int64_t next = (*owned)->ledger->next_offset();
      tp->offset = next;
      log::Info("partition assigned", {{"topic", options_.topics.events},
                                       {"partition", tp->partition},
                                       {"next_offset", next},
                                       {"published_seq", (*owned)->publisher != nullptr
                                                             ? (*owned)->publisher->published_seq()
                                                             : int64_t{-1}}});
      if ((*owned)->counters->restoring.load()) {
        log::Info("partition restore: re-applying the input",
                  {{"partition", tp->partition},
                   {"from_offset", next},
                   {"to_offset", (*owned)->counters->restore_target.load()}});
      }
      owned_[tp->partition] = std::move(*owned);
    }
    owned_count_.store(static_cast<int>(owned_.size()));
    rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_, partitions);
    if (e != nullptr) {
      Fail(absl::UnavailableError(absl::StrCat("assign: ", rd_kafka_error_string(e))));
      rd_kafka_error_destroy(e);
    }
    // Partitions whose input has a gap stay assigned (no other member
    // would do better), paused.
    for (int i = 0; i < partitions->cnt; ++i) {
      auto it = owned_.find(partitions->elems[i].partition);
      if (it != owned_.end() && !it->second->stopped.empty()) {
        StopPartition(it->second.get(), it->second->stopped);
      }
    }
  } else {
    const bool lost = rd_kafka_assignment_lost(rk_) != 0;
    for (int i = 0; i < partitions->cnt; ++i) {
      log::Info(lost ? "partition lost" : "partition revoked",
                {{"topic", options_.topics.events}, {"partition", partitions->elems[i].partition}});
    }
    Release(partitions, lost);
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
    if (lost) {
      auto it = owned_.find(p);
      if (it != owned_.end()) it->second->lost.store(true);
    } else {
      Dispatch(p);
    }
    pending_.erase(p);
  }
  for (auto& w : workers_) w->Drain();
  if (backup_thread_ != nullptr) {
    backup_thread_->Drain();  // no backup of a partition outlives its store
    // A clean release backs up what the partition applied since its last
    // backup, so that its next owner (on another host) restores it and has
    // nothing to re-apply. The partitions in parallel, like opening them.
    if (!lost && !failed_.load()) {
      std::vector<std::thread> backups;
      for (int i = 0; i < partitions->cnt; ++i) {
        auto it = owned_.find(partitions->elems[i].partition);
        if (it == owned_.end()) continue;
        Owned* o = it->second.get();
        if (!o->stopped.empty() || o->ledger->next_offset() <= o->backed_up_offset.load()) continue;
        backups.emplace_back([this, o] { TakeBackup(o, "revoked"); });
      }
      for (std::thread& t : backups) t.join();
    }
  }
  for (int i = 0; i < partitions->cnt; ++i) {
    owned_.erase(partitions->elems[i].partition);
    if (standbys_ != nullptr) standbys_->Disown(partitions->elems[i].partition);
  }
  owned_count_.store(static_cast<int>(owned_.size()));
}

void KafkaEngine::Impl::Dispatch(int32_t partition) {
  auto it = pending_.find(partition);
  if (it == pending_.end() || it->second.offsets.empty()) return;
  auto owned = owned_.find(partition);
  if (owned == owned_.end()) {
    pending_.erase(it);
    return;
  }
  auto batch = std::make_shared<Pending>(std::move(it->second));
  pending_.erase(it);
  if (options_.on_committed) batch->dispatched_ms = WallMs();
  Owned* o = owned->second.get();
  if (!o->stopped.empty()) return;
  o->last_read_offset = batch->offsets.back() + 1;
  WorkerOf(partition).Push([this, batch, o] {
    if (failed_.load() || o->lost.load()) return;
    if (options_.on_committed) batch->started_ms = WallMs();
    std::vector<InputRecord> records;
    records.reserve(batch->offsets.size());
    uint32_t begin = 0;
    for (size_t i = 0; i < batch->offsets.size(); ++i) {
      records.push_back({batch->offsets[i],
                         absl::string_view(batch->bytes.data() + begin, batch->ends[i] - begin)});
      begin = batch->ends[i];
    }
    auto outputs = std::make_shared<BatchOutputs>();
    const Clock::time_point apply_start = Clock::now();
    absl::Status s = o->ledger->ApplyBatch(records, InputFormat::kBinary, outputs.get());
    if (!s.ok()) {
      Fail(s);
      return;
    }
    Counters& counters = *o->counters;
    counters.batch_seconds.Observe(
        std::chrono::duration<double>(Clock::now() - apply_start).count());
    for (size_t i = 0; i < outputs->by_status.size(); ++i) {
      if (outputs->by_status[i] != 0) counters.by_status[i].fetch_add(outputs->by_status[i]);
    }
    for (size_t i = 0; i < outputs->by_reject_reason.size(); ++i) {
      if (outputs->by_reject_reason[i] != 0) {
        counters.by_reason[i].fetch_add(outputs->by_reject_reason[i]);
      }
    }
    counters.next_offset.store(o->ledger->next_offset());
    if (options_.on_committed) batch->applied_ms = WallMs();
    // Queued for publishing before counted as applied: a reader that sees
    // every record applied and nothing unpublished has seen it all published.
    if (o->publisher != nullptr) {
      unpublished_.fetch_add(static_cast<int64_t>(outputs->journal.size()));
    }
    // Records below the stored offset (redelivered) are skipped, not counted.
    applied_.fetch_add(outputs->applied + outputs->duplicates + outputs->rejected);
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.batches++;
      stats_.output_records += static_cast<int64_t>(outputs->journal.size());
      stats_.journal_bytes += static_cast<int64_t>(outputs->journal.bytes().size());
      stats_.writes.Add(outputs->writes);
    }
    if (o->publisher == nullptr) {
      if (options_.on_committed) {
        batch->publishing_ms = batch->applied_ms;
        ReportCommitted(o->partition, *batch, batch->applied_ms);
      }
      return;
    }
    // The batch is written (and synced with --durability=machine): the
    // partition's own publishing thread commits its outputs to Kafka while
    // this worker applies the next batch. One thread per partition keeps
    // them in order; its queue is bounded. Batches that wait while a
    // transaction commits, or for the commit interval, are published
    // together in the next one.
    bool schedule = false;
    {
      std::lock_guard<std::mutex> lock(o->unpublished_mu);
      if (o->unpublished.empty() && o->counters->unpublished_since_ns.load() == 0) {
        o->counters->unpublished_since_ns.store(SteadyNanos());
      }
      o->unpublished.push_back({std::move(outputs), batch});
      schedule = !o->publish_scheduled;
      o->publish_scheduled = true;
    }
    if (schedule) o->publish_thread->Push([this, o] { PublishPending(o); });
  });
}

void KafkaEngine::Impl::PublishPending(Owned* o) {
  // At most one transaction per commit interval: wait out the rest of it,
  // while the worker adds batches (a stop does not wait). Only one task per
  // partition is scheduled at a time (publish_scheduled), so the worker
  // never blocks on this queue.
  const auto interval = std::chrono::milliseconds(options_.commit_interval_ms);
  while (Clock::now() - o->last_transaction < interval && !stop_->load() && !o->lost.load() &&
         !failed_.load()) {
    std::this_thread::sleep_for(std::min<Clock::duration>(
        interval - (Clock::now() - o->last_transaction), std::chrono::milliseconds(5)));
  }
  std::vector<Owned::Applied> applied;
  {
    std::lock_guard<std::mutex> lock(o->unpublished_mu);
    applied.swap(o->unpublished);
    o->publish_scheduled = false;
  }
  // Whatever happens below, these records are no longer queued here:
  // published, or left in the journal for the next owner.
  struct Dequeue {
    std::atomic<int64_t>* counter;
    int64_t n = 0;
    ~Dequeue() { counter->fetch_sub(n); }
  } dequeue{&unpublished_};
  for (const auto& a : applied) dequeue.n += static_cast<int64_t>(a.outputs->journal.size());
  if (failed_.load() || o->lost.load()) return;
  if (applied.empty()) return;
  o->last_transaction = Clock::now();
  if (options_.on_committed) {
    const int64_t now = WallMs();
    for (const auto& a : applied) a.batch->publishing_ms = now;
  }
  o->views.clear();
  for (const auto& a : applied) {
    const auto& records = a.outputs->journal.records();
    o->views.insert(o->views.end(), records.begin(), records.end());
  }
  if (!o->views.empty()) {
    const int64_t before_records = o->publisher->records_published();
    const int64_t before_bytes = o->publisher->bytes_published();
    const int64_t before_seq = o->publisher->published_seq();
    const Clock::time_point publish_start = Clock::now();
    absl::Status s = o->publisher->Publish(o->views);
    if (!s.ok() && o->lost.load()) return;  // fenced by the next owner: expected
    if (!s.ok()) {
      // Nothing more is published in this process: a later batch published
      // before these would leave a gap in the outputs.
      Fail(s);
      return;
    }
    if (o->publisher->records_published() > before_records) {
      NoteCommitted(o);
      transactions_.fetch_add(1);
      o->counters->transactions.fetch_add(1);
      o->counters->output_records.fetch_add(o->publisher->records_published() - before_records);
      o->counters->commit_seconds.Observe(
          std::chrono::duration<double>(Clock::now() - publish_start).count());
    }
    {
      // Batches applied while this transaction ran wait for the next one.
      std::lock_guard<std::mutex> lock(o->unpublished_mu);
      o->counters->unpublished_since_ns.store(o->unpublished.empty() ? 0 : SteadyNanos());
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.kafka_records += o->publisher->records_published() - before_records;
      stats_.kafka_bytes += o->publisher->bytes_published() - before_bytes;
    }
    if (o->publisher->published_seq() > before_seq) {
      s = o->store->SetPublishedThrough(o->publisher->published_seq());
      if (!s.ok()) {
        Fail(s);
        return;
      }
    }
  }
  if (options_.on_committed) {
    const int64_t now = WallMs();
    for (const auto& a : applied) ReportCommitted(o->partition, *a.batch, now);
  }
}

void KafkaEngine::Impl::OnEndOfPartition(int32_t partition, int64_t end_offset) {
  // A restore ends when the partition has applied what the input held when
  // it was assigned. The end offset then may count transaction markers
  // after the last record, which are never applied: reaching the end
  // (librdkafka skips the markers) sets the target to the last record read.
  auto it = owned_.find(partition);
  if (it == owned_.end()) return;
  Counters& c = *it->second->counters;
  if (!c.restoring.load() || end_offset < c.restore_target.load()) return;
  auto p = pending_.find(partition);
  const int64_t read_through = p != pending_.end() && !p->second.offsets.empty()
                                   ? p->second.offsets.back() + 1
                                   : it->second->last_read_offset;
  c.restore_target.store(std::max(read_through, c.restore_from.load()));
}

void KafkaEngine::Impl::Housekeeping() {
  const auto now = Clock::now();
  for (auto& [partition, o] : owned_) {
    Counters& c = *o->counters;
    if (c.restoring.load()) {
      const int64_t next = c.next_offset.load();
      const int64_t from = c.restore_from.load(), target = c.restore_target.load();
      const double seconds = std::chrono::duration<double>(now - o->restore_started).count();
      if (next >= target) {
        c.restoring.store(false);
        log::Info("partition restore done", {{"partition", partition},
                                             {"records", next - from},
                                             {"next_offset", next},
                                             {"seconds", seconds}});
      } else if (now - o->restore_logged >= std::chrono::seconds(5)) {
        o->restore_logged = now;
        log::Info("partition restore progress", {{"partition", partition},
                                                 {"next_offset", next},
                                                 {"to_offset", target},
                                                 {"records_left", target - next},
                                                 {"seconds", seconds}});
      }
    }
    if (backup_thread_ == nullptr || options_.backup_interval_ms <= 0 || !o->stopped.empty() ||
        o->backup_scheduled.load() ||
        now - o->last_backup < std::chrono::milliseconds(options_.backup_interval_ms) ||
        c.next_offset.load() <= o->backed_up_offset.load()) {
      continue;
    }
    o->backup_scheduled.store(true);
    o->last_backup = now;
    Owned* raw = o.get();
    backup_thread_->Push([this, raw] {
      TakeBackup(raw, "interval");
      raw->backup_scheduled.store(false);
    });
  }
}

void KafkaEngine::Impl::CommitGroupOffsets() {
  if (owned_.empty()) return;
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(owned_.size()));
  for (const auto& [partition, owned] : owned_) {
    const int64_t next = owned->counters->next_offset.load();
    if (next > 0) {
      rd_kafka_topic_partition_list_add(list, options_.topics.events.c_str(), partition)->offset =
          next;
    }
  }
  if (list->cnt > 0) rd_kafka_commit(rk_, list, /*async=*/1);
  rd_kafka_topic_partition_list_destroy(list);
}

absl::Status KafkaEngine::Impl::Run(const std::atomic<bool>& stop) {
  stop_ = &stop;
  const auto wait = std::chrono::milliseconds(options_.batch_wait_ms);
  const auto commit_interval = std::chrono::milliseconds(options_.group_offset_commit_interval_ms);
  auto last_commit = Clock::now();
  auto last_housekeeping = Clock::now();
  while (!stop.load() && !failed_.load()) {
    if (options_.group_offset_commit_interval_ms > 0 &&
        Clock::now() - last_commit >= commit_interval) {
      CommitGroupOffsets();
      last_commit = Clock::now();
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 10);
    if (m != nullptr) {
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Pending& p = pending_[m->partition];
        if (p.offsets.empty()) p.first = Clock::now();
        p.bytes.append(static_cast<const char*>(m->payload), m->len);
        LOYALTY_CHECK(p.bytes.size() < UINT32_MAX) << "batch over 4 GiB";
        p.ends.push_back(static_cast<uint32_t>(p.bytes.size()));
        p.offsets.push_back(m->offset);
        if (options_.on_committed)
          p.timestamps_ms.push_back(rd_kafka_message_timestamp(m, nullptr));
        if (static_cast<int64_t>(p.offsets.size()) >= options_.batch_records_max) {
          Dispatch(m->partition);
        }
      } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        OnEndOfPartition(m->partition, m->offset);
      } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt != nullptr) {
        // The input lost offsets this partition had not read (retention
        // while it lagged): with auto.offset.reset=error, librdkafka says
        // so instead of skipping them.
        auto it = owned_.find(m->partition);
        if (it != owned_.end() && it->second->stopped.empty()) {
          int64_t low = -1, high = -1;
          absl::Status w = Watermarks(m->partition, &low, &high);
          StopPartition(it->second.get(),
                        w.ok() ? GapMessage(m->partition, it->second->counters->next_offset.load(),
                                            low)
                               : absl::StrCat("partition ", m->partition, " of ",
                                              options_.topics.events, ": ",
                                              rd_kafka_message_errstr(m)));
        }
      } else {
        if (m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
            m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) {
          // An ACL the engine needs is missing: waiting cannot fix it, and an
          // engine that idles looks healthy.
          Fail(absl::PermissionDeniedError(
              absl::StrCat("kafka consumer: ", rd_kafka_message_errstr(m),
                           " (the ACLs the engine needs: docs/security.md)")));
        } else {
          log::Warn("consumer error", {{"cause", rd_kafka_message_errstr(m)}});
        }
      }
      rd_kafka_message_destroy(m);
    }
    // A batch closes when it is full, or when its first record has waited
    // batch_wait_ms and its worker has room: while a worker is busy, its
    // partitions' batches grow (fewer, bigger batches and transactions at
    // catch-up) instead of queueing small ones behind it.
    const auto now = Clock::now();
    std::vector<int32_t> due;
    for (const auto& [partition, p] : pending_) {
      if (!p.offsets.empty() && now - p.first >= wait && WorkerOf(partition).queued() < 2) {
        due.push_back(partition);
      }
    }
    for (int32_t partition : due) Dispatch(partition);
    if (now - last_housekeeping >= std::chrono::milliseconds(500)) {
      Housekeeping();
      last_housekeeping = now;
    }
  }
  return Shutdown(stop);
}

absl::Status KafkaEngine::Impl::Shutdown(const std::atomic<bool>& stop) {
  // Apply what was read, then leave the group: the revocation closes the
  // stores.
  if (!failed_.load()) {
    std::vector<int32_t> all;
    for (const auto& [partition, p] : pending_) all.push_back(partition);
    for (int32_t partition : all) Dispatch(partition);
  }
  for (auto& w : workers_) w->Drain();
  if (options_.group_offset_commit_interval_ms > 0) CommitGroupOffsets();
  // librdkafka 2.0.2 aborts when a cooperative-sticky consumer that joined
  // the group is destroyed before its first assignment (librdkafka #4312,
  // fixed in 2.3.0): a stop that comes that early waits for the assignment
  // (empty or not), bounded by the session timeout.
  const auto joined_by =
      Clock::now() + std::chrono::milliseconds(options_.session_timeout_ms + 5'000);
  while (!rebalanced_ && Clock::now() < joined_by) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 100);
    if (m != nullptr) rd_kafka_message_destroy(m);  // read again from the store's offset
  }
  rd_kafka_consumer_close(rk_);
  owned_.clear();
  owned_count_.store(0);
  std::lock_guard<std::mutex> lock(error_mu_);
  // Publishing given up because of the stop: the outbox keeps it for the
  // next owner.
  if (absl::IsCancelled(error_) && stop.load()) return absl::OkStatus();
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

int64_t KafkaEngine::output_transactions() const { return impl_->output_transactions(); }

int64_t KafkaEngine::outputs_unpublished() const { return impl_->outputs_unpublished(); }

KafkaEngine::Stats KafkaEngine::stats() const { return impl_->stats(); }

KafkaEngine::Metrics KafkaEngine::metrics() const { return impl_->metrics(); }

KafkaEngine::Metrics KafkaEngine::Impl::metrics() const {
  Metrics m;
  m.assigned = assigned_.load();
  m.failed = failed_.load();
  m.records_applied = applied_.load();
  if (resources_ != nullptr) {
    m.block_cache_bytes = static_cast<int64_t>(resources_->cache()->GetUsage());
    m.memtable_bytes = static_cast<int64_t>(resources_->write_buffers()->memory_usage());
  }
  std::map<int32_t, std::shared_ptr<Counters>> counters;
  {
    std::lock_guard<std::mutex> lock(counters_mu_);
    counters = counters_;
  }
  const int64_t now_ns = SteadyNanos();
  for (const auto& [partition, c] : counters) {
    PartitionMetrics p;
    p.partition = partition;
    p.owned = c->owned.load();
    p.next_offset = c->next_offset.load();
    if (p.owned && rk_ != nullptr) {
      // The consumer's cached watermarks (from its fetches): no broker call.
      int64_t low = -1, high = -1;
      if (rd_kafka_get_watermark_offsets(rk_, options_.topics.events.c_str(), partition, &low,
                                         &high) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        p.end_offset = high;
      }
    }
    for (size_t i = 0; i < p.events_by_status.size(); ++i)
      p.events_by_status[i] = c->by_status[i].load();
    for (size_t i = 0; i < p.dlq_by_reason.size(); ++i) p.dlq_by_reason[i] = c->by_reason[i].load();
    p.output_records = c->output_records.load();
    p.transactions = c->transactions.load();
    p.batch_seconds = c->batch_seconds.Read();
    p.commit_seconds = c->commit_seconds.Read();
    p.restoring = c->restoring.load();
    p.restore_from_offset = c->restore_from.load();
    p.restore_target_offset = c->restore_target.load();
    p.restores = c->restores.load();
    p.stopped = c->stopped.load();
    if (p.stopped) {
      std::lock_guard<std::mutex> lock(c->reason_mu);
      p.stopped_reason = c->stopped_reason;
    }
    p.backups = c->backups.load();
    p.backup_failures = c->backup_failures.load();
    p.backup_offset = c->backup_offset.load();
    p.backup_seconds = c->backup_seconds.Read();
    const int64_t since = c->unpublished_since_ns.load();
    p.unpublished_seconds = since == 0 ? 0 : static_cast<double>(now_ns - since) / 1e9;
    m.partitions.push_back(std::move(p));
  }
  if (standbys_ != nullptr) {
    for (const StandbyReplicas::Copy& c : standbys_->copies()) {
      m.standbys.push_back({c.partition, c.next_offset, c.end_offset});
    }
  }
  return m;
}

}  // namespace loyalty
