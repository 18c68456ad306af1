// File: connectors/kafka/standby.h
// Standby replicas (SPEC §10, `loyaltyd run --standby-replicas=N`): warm
// copies of partitions this process does not own, kept by applying the
// same input with outputs off, so that when the group gives it one of
// them the engine opens a store that is already (nearly) caught up
// instead of restoring a backup and re-applying the input since.
//
// Which partitions, without a custom assignor (librdkafka has no API for
// one): every process describes the group (DescribeConsumerGroups) every
// refresh_ms and orders its members by key (group.instance.id, else the
// member id). Partition p's standbys are the `replicas` members that come
// after p's owner in that order, cyclically, the owner excluded
// (StandbyPartitions below). Every member computes the same answer from
// the same description; while they disagree (during a rebalance) a
// partition may have a standby too many or too few for a moment, which
// costs only warmth.
//
// A standby copy lives where the partition's own store would
// (<data_dir>/p-NNNN), so a takeover is opening it: the engine calls
// Release(p) first, which stops applying p and closes its store. A
// partition's standby copy starts from the local store if there is one,
// else from the newest backup (like a restore), and reads the input with
// its own consumer, outside the group (no group membership, no commits).
//
// Thread-safety: the methods may be called from any thread.
#ifndef LOYALTY_CONNECTORS_KAFKA_STANDBY_H_
#define LOYALTY_CONNECTORS_KAFKA_STANDBY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "connectors/kafka/client.h"
#include "connectors/kafka/inspect.h"
#include "engine/program/program.h"
#include "engine/store/store.h"
#include "rocksdb/env.h"

namespace loyalty {

// The partitions member `self` (a key: instance id, else member id) keeps
// standby copies of, ascending; see above. `replicas` is capped at the
// number of other members.
std::vector<int32_t> StandbyPartitions(const GroupDescription& group, const std::string& self,
                                       int replicas);

struct StandbyOptions {
  KafkaCluster brokers;   // required
  std::string topic;      // the input topic; required
  std::string group_id;   // the engine's group, described; required
  std::string data_dir;   // required
  int replicas = 1;       // standby copies of each partition in the group
  const ProgramSet* programs = nullptr;  // required
  // This member's key in the group (its instance id, or the member id the
  // consumer has now): asked at each refresh.
  std::function<std::string()> self_key;
  // Restore a new standby copy from here first. Default: none.
  std::string backup_dir;
  int refresh_ms = 2'000;
  int64_t batch_records_max = 4'096;
  size_t members_cached_max = 25'000;
  bool sync_writes = false;
  std::shared_ptr<StoreResources> resources;
  rocksdb::Env* env = nullptr;
};

class StandbyReplicas {
 public:
  // Starts the standby thread (its consumer and its group refreshes).
  static absl::StatusOr<std::unique_ptr<StandbyReplicas>> Start(const StandbyOptions& options);
  ~StandbyReplicas();  // stops the thread; closes the copies' stores

  // The engine owns `partition` from now on: its standby copy (if any) stops
  // and its store is closed when this returns; it is not opened again
  // until Disown.
  void Own(int32_t partition);
  // The engine closed its store of `partition`: a standby copy may open it.
  void Disown(int32_t partition);

  // For metrics: the standby copies kept now.
  struct Copy {
    int32_t partition = 0;
    int64_t next_offset = 0;  // the next input offset it applies
    int64_t end_offset = -1;  // the consumer's high watermark; -1 unknown
  };
  std::vector<Copy> copies() const;

  class Impl;

 private:
  explicit StandbyReplicas(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_KAFKA_STANDBY_H_
