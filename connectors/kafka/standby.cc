#include "connectors/kafka/standby.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "connectors/kafka/kafka.h"
#include "engine/base/status.h"
#include "engine/ledger/partition.h"
#include "engine/log/log.h"
#include "engine/store/backup.h"

namespace loyalty {

std::vector<int32_t> StandbyPartitions(const GroupDescription& group, const std::string& self,
                                       int replicas) {
  auto key = [](const GroupMember& m) {
    return m.instance_id.empty() ? m.member_id : m.instance_id;
  };
  std::vector<std::string> keys;
  for (const GroupMember& m : group.members) keys.push_back(key(m));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  const auto self_at = std::find(keys.begin(), keys.end(), self);
  if (self_at == keys.end()) return {};
  const int n = static_cast<int>(keys.size());
  const int r = std::min(replicas, n - 1);
  std::vector<int32_t> out;
  for (size_t p = 0; p < group.owners.size(); ++p) {
    if (!group.owners[p].has_value()) continue;
    const auto owner = std::find(keys.begin(), keys.end(), key(*group.owners[p]));
    if (owner == keys.end() || owner == self_at) continue;
    const int o = static_cast<int>(owner - keys.begin());
    for (int k = 1; k <= r; ++k) {
      if (keys[static_cast<size_t>((o + k) % n)] == self) {
        out.push_back(static_cast<int32_t>(p));
        break;
      }
    }
  }
  return out;
}

namespace {
using Clock = std::chrono::steady_clock;
using kafka_internal::FromKafka;
using kafka_internal::KafkaHandle;
using kafka_internal::NewClient;
}  // namespace

class StandbyReplicas::Impl {
 public:
  explicit Impl(const StandbyOptions& options) : options_(options) {}
  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    if (thread_.joinable()) thread_.join();
    copies_.clear();
    if (rk_ != nullptr) {
      rd_kafka_consumer_close(rk_.get());
      rk_.reset();
    }
  }

  absl::Status Init() {
    if (options_.programs == nullptr) return absl::InvalidArgumentError("programs are required");
    LOYALTY_ASSIGN_OR_RETURN(partitions_,
                             PartitionCount(options_.brokers, options_.topic, 30'000));
    // Outside the group: assigned partitions, no membership, no commits.
    LOYALTY_ASSIGN_OR_RETURN(
        rk_, NewClient(RD_KAFKA_CONSUMER, options_.brokers,
                       {{"group.id", options_.group_id + ".standby"},
                        {"enable.auto.commit", "false"},
                        {"enable.auto.offset.store", "false"},
                        {"auto.offset.reset", "error"},
                        {"isolation.level", "read_committed"},
                        {"enable.partition.eof", "false"}}));
    rd_kafka_poll_set_consumer(rk_.get());
    thread_ = std::thread([this] { Loop(); });
    return absl::OkStatus();
  }

  void Own(int32_t partition) {
    std::unique_lock<std::mutex> lock(mu_);
    owned_.insert(partition);
    cv_.wait(lock, [&] {
      return (open_.count(partition) == 0 && opening_ != partition) || closing_;
    });
  }
  void Disown(int32_t partition) {
    std::lock_guard<std::mutex> lock(mu_);
    owned_.erase(partition);
  }
  std::vector<Copy> copies() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Copy> out;
    for (const auto& [p, c] : open_) out.push_back(c);
    return out;
  }

 private:
  struct Local {
    // The ledger refers to the store: declared after it, destroyed before.
    std::unique_ptr<PartitionStore> store;
    std::unique_ptr<Partition> ledger;
    std::string bytes;  // records read and not applied, back to back
    std::vector<int64_t> offsets;
    std::vector<uint32_t> ends;
    Clock::time_point first;
  };

  void Loop() {
    auto next_refresh = Clock::now();
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (closing_) return;
      }
      CloseOwned();
      if (Clock::now() >= next_refresh) {
        Refresh();
        next_refresh = Clock::now() + std::chrono::milliseconds(options_.refresh_ms);
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), copies_.empty() ? 100 : 20);
      if (m != nullptr) {
        auto it = copies_.find(m->partition);
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && it != copies_.end()) {
          Local& l = it->second;
          if (l.offsets.empty()) l.first = Clock::now();
          l.bytes.append(static_cast<const char*>(m->payload), m->len);
          l.ends.push_back(static_cast<uint32_t>(l.bytes.size()));
          l.offsets.push_back(m->offset);
          if (static_cast<int64_t>(l.offsets.size()) >= options_.batch_records_max) {
            Apply(m->partition);
          }
        } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                   m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          // A gap (retention) or a broker problem: this copy stops; the
          // owner reports a gap in its own partition.
          log::Warn("standby copy: consumer error",
                    {{"partition", m->partition}, {"cause", rd_kafka_message_errstr(m)}});
          if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && it != copies_.end()) {
            Close(m->partition, "a gap in the input");
          }
        }
        rd_kafka_message_destroy(m);
      }
      const auto now = Clock::now();
      std::vector<int32_t> due;
      for (const auto& [p, l] : copies_) {
        if (!l.offsets.empty() && now - l.first >= std::chrono::milliseconds(50)) due.push_back(p);
      }
      for (int32_t p : due) Apply(p);
    }
  }

  // Closes the copies the engine took (Own), and wakes it.
  void CloseOwned() {
    std::set<int32_t> owned;
    {
      std::lock_guard<std::mutex> lock(mu_);
      owned = owned_;
    }
    bool closed = false;
    for (int32_t p : owned) {
      if (copies_.count(p) > 0) {
        Close(p, "its partition is owned here now");
        closed = true;
      }
    }
    if (closed) cv_.notify_all();
  }

  void Refresh() {
    auto group = DescribeGroup(rk_.get(), options_.group_id, options_.topic, partitions_, 5'000);
    if (!group.ok()) {
      log::Warn("standby: describing the group failed", {{"cause", group.status().ToString()}});
      return;
    }
    const std::vector<int32_t> wanted_list =
        StandbyPartitions(*group, options_.self_key(), options_.replicas);
    std::set<int32_t> wanted(wanted_list.begin(), wanted_list.end());
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int32_t p : owned_) wanted.erase(p);
    }
    std::vector<int32_t> unwanted;
    for (const auto& [p, l] : copies_) {
      if (wanted.count(p) == 0) unwanted.push_back(p);
    }
    for (int32_t p : unwanted) Close(p, "no longer a standby of it");
    for (int32_t p : wanted) {
      if (copies_.count(p) == 0) Open(p);
    }
    // Lag for the metrics, from the consumer's cached watermarks.
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [p, c] : open_) {
      int64_t low = -1, high = -1;
      if (rd_kafka_get_watermark_offsets(rk_.get(), options_.topic.c_str(), p, &low, &high) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        c.end_offset = high;
      }
    }
  }

  void Open(int32_t p) {
    absl::Status s = TryOpen(p);
    if (!s.ok()) {
      if (failed_.insert(p).second) {
        log::Warn("standby copy not kept", {{"partition", p}, {"cause", s.ToString()}});
      }
      return;
    }
    failed_.erase(p);
  }

  absl::Status TryOpen(int32_t p) {
    // Own(p) waits while p opens: a restore replaces the directory the
    // engine would open.
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (owned_.count(p) > 0) return absl::OkStatus();
      opening_ = p;
    }
    struct Opened {
      Impl* impl;
      ~Opened() {
        {
          std::lock_guard<std::mutex> lock(impl->mu_);
          impl->opening_ = -1;
        }
        impl->cv_.notify_all();
      }
    } opened{this};
    StoreOptions so;
    so.sync_writes = options_.sync_writes;
    so.env = options_.env;
    so.resources = options_.resources;
    const std::string dir = PartitionDir(options_.data_dir, p);
    Local l;
    // One attempt: the store may be held by this host's owner of it.
    LOYALTY_ASSIGN_OR_RETURN(l.store, PartitionStore::Open(dir, so));
    const InputSource source = InputSource::Kafka(options_.topic);
    LOYALTY_RETURN_IF_ERROR(l.store->ClaimSource(source));
    bool restored = false;
    if (!options_.backup_dir.empty()) {
      LOYALTY_ASSIGN_OR_RETURN(const int64_t local, l.store->GetNextOffset());
      LOYALTY_ASSIGN_OR_RETURN(std::optional<BackupInfo> ahead,
                               BackupAhead(options_.backup_dir, p, local, source.Encode()));
      if (ahead.has_value()) {
        l.store.reset();
        LOYALTY_RETURN_IF_ERROR(RestorePartition(options_.backup_dir, p, ahead->id, dir).status());
        LOYALTY_ASSIGN_OR_RETURN(l.store, PartitionStore::Open(dir, so));
        restored = true;
      }
    }
    PartitionOptions po;
    po.partition = p;
    po.members_cached_max = options_.members_cached_max;
    LOYALTY_ASSIGN_OR_RETURN(l.ledger, Partition::Open(options_.programs, l.store.get(), po));
    const int64_t next = l.ledger->next_offset();
    int64_t low = 0, high = 0;
    const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        rk_.get(), options_.topic.c_str(), p, &low, &high, 10'000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return FromKafka(err, "standby: the input's offsets");
    if (next < low) {
      return absl::FailedPreconditionError(
          absl::StrCat("the input's log starts at offset ", low, ", after ", next));
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, options_.topic.c_str(), p)->offset = next;
    rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e != nullptr) {
      const std::string why = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      return absl::UnavailableError(absl::StrCat("standby: assign: ", why));
    }
    log::Info("standby copy opened",
              {{"partition", p}, {"next_offset", next}, {"restored", restored}});
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_[p] = Copy{p, next, high};
    }
    copies_[p] = std::move(l);
    return absl::OkStatus();
  }

  void Close(int32_t p, const char* why) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, options_.topic.c_str(), p);
    rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_.get(), list);
    if (e != nullptr) rd_kafka_error_destroy(e);
    rd_kafka_topic_partition_list_destroy(list);
    auto it = copies_.find(p);
    const int64_t next = it != copies_.end() && it->second.ledger != nullptr
                             ? it->second.ledger->next_offset()
                             : -1;
    copies_.erase(p);  // closes the store
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_.erase(p);
    }
    log::Info("standby copy closed", {{"partition", p}, {"next_offset", next}, {"why", why}});
  }

  void Apply(int32_t p) {
    Local& l = copies_.at(p);
    std::vector<InputRecord> records;
    records.reserve(l.offsets.size());
    uint32_t begin = 0;
    for (size_t i = 0; i < l.offsets.size(); ++i) {
      records.push_back({l.offsets[i], absl::string_view(l.bytes.data() + begin, l.ends[i] - begin)});
      begin = l.ends[i];
    }
    BatchOutputs outputs;  // written to the journal, never published from here
    absl::Status s = l.ledger->ApplyBatch(records, InputFormat::kBinary, &outputs);
    l.bytes.clear();
    l.offsets.clear();
    l.ends.clear();
    if (!s.ok()) {
      log::Error("standby copy failed", {{"partition", p}, {"cause", s.ToString()}});
      Close(p, "it failed");
      failed_.insert(p);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    open_[p].next_offset = l.ledger->next_offset();
  }

  const StandbyOptions options_;
  int partitions_ = 0;
  KafkaHandle rk_;
  std::thread thread_;
  std::map<int32_t, Local> copies_;  // the thread's
  std::set<int32_t> failed_;         // the thread's: logged once
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closing_ = false;            // under mu_
  int32_t opening_ = -1;            // under mu_: the partition being opened
  std::set<int32_t> owned_;         // under mu_: never kept here
  std::map<int32_t, Copy> open_;    // under mu_: the copies, for Own and metrics
};

StandbyReplicas::StandbyReplicas(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StandbyReplicas::~StandbyReplicas() = default;

absl::StatusOr<std::unique_ptr<StandbyReplicas>> StandbyReplicas::Start(
    const StandbyOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  LOYALTY_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<StandbyReplicas>(new StandbyReplicas(std::move(impl)));
}

void StandbyReplicas::Own(int32_t partition) { impl_->Own(partition); }
void StandbyReplicas::Disown(int32_t partition) { impl_->Disown(partition); }
std::vector<StandbyReplicas::Copy> StandbyReplicas::copies() const { return impl_->copies(); }

}  // namespace loyalty
