#include "connectors/kafka/engine_metrics.h"

#include "absl/strings/str_cat.h"
#include "engine/metrics/metrics.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {

using metrics::Labels;

Readiness EngineReadiness(const KafkaEngine::Metrics& m, const ReadinessOptions& options) {
  if (m.failed) return {false, "stopping on an error"};
  if (!m.assigned) return {false, "waiting for the consumer group's first assignment"};
  int owned = 0;
  for (const KafkaEngine::PartitionMetrics& p : m.partitions) {
    if (!p.owned) continue;
    ++owned;
    if (p.stopped) return {false, p.stopped_reason};
    if (p.end_offset < 0) {
      return {false, absl::StrCat("partition ", p.partition, ": end offset not known yet")};
    }
    const int64_t lag = p.end_offset - p.next_offset;
    if (lag > options.lag_max) {
      return {false, absl::StrCat("partition ", p.partition, ": catching up, lag ", lag,
                                  " records (ready at ", options.lag_max, ")")};
    }
    if (p.unpublished_seconds > options.unpublished_max_seconds) {
      return {false, absl::StrCat("partition ", p.partition, ": applied outputs unpublished for ",
                                  static_cast<int64_t>(p.unpublished_seconds), " s")};
    }
  }
  return {true, absl::StrCat("ready: ", owned, " partitions caught up and publishing")};
}

std::string EngineMetricsText(const KafkaEngine::Metrics& m, bool ready,
                              absl::string_view build_version, absl::string_view build_commit) {
  metrics::PrometheusText t;
  t.Family("loyalty_build_info", "gauge", "The engine's version and git commit (value 1).");
  t.Sample("loyalty_build_info",
           {{"version", std::string(build_version)}, {"commit", std::string(build_commit)}}, 1);
  t.Family("loyalty_ready", "gauge",
           "1 when every owned partition is caught up and publishing (as /readyz).");
  t.Sample("loyalty_ready", {}, ready ? 1 : 0);
  t.Family("loyalty_owned_partitions", "gauge", "Input partitions this process owns.");
  int owned = 0;
  for (const auto& p : m.partitions) owned += p.owned;
  t.Sample("loyalty_owned_partitions", {}, owned);
  t.Family("loyalty_records_applied_total", "counter",
           "Input records that took effect here: applied, DUPLICATE or to the DLQ.");
  t.Sample("loyalty_records_applied_total", {}, static_cast<double>(m.records_applied));

  auto label = [](const KafkaEngine::PartitionMetrics& p) {
    return Labels{{"partition", absl::StrCat(p.partition)}};
  };
  t.Family("loyalty_applied_offset", "gauge",
           "The last input offset applied (next offset - 1), per owned partition.");
  for (const auto& p : m.partitions) {
    if (p.owned)
      t.Sample("loyalty_applied_offset", label(p), static_cast<double>(p.next_offset - 1));
  }
  t.Family("loyalty_consumer_lag", "gauge",
           "Input records not applied yet: the consumer's high watermark minus the next "
           "offset, per owned partition.");
  for (const auto& p : m.partitions) {
    if (p.owned && p.end_offset >= 0) {
      t.Sample("loyalty_consumer_lag", label(p),
               static_cast<double>(std::max<int64_t>(0, p.end_offset - p.next_offset)));
    }
  }
  t.Family("loyalty_events_total", "counter",
           "Events applied by outcome status (APPLIED, DUPLICATE, IGNORED, REJECTED).");
  for (const auto& p : m.partitions) {
    for (size_t s = 0; s < p.events_by_status.size(); ++s) {
      const auto status = static_cast<v1::Outcome::Status>(s);
      if (status == v1::Outcome::STATUS_UNSPECIFIED) continue;
      Labels l = label(p);
      l.emplace_back("outcome", v1::Outcome::Status_Name(status));
      t.Sample("loyalty_events_total", l, static_cast<double>(p.events_by_status[s]));
    }
  }
  t.Family("loyalty_dlq_records_total", "counter", "Input records sent to the DLQ, by reason.");
  for (const auto& p : m.partitions) {
    for (size_t r = 0; r < p.dlq_by_reason.size(); ++r) {
      const auto reason = static_cast<v1::RejectReason>(r);
      if (reason == v1::REJECT_REASON_UNSPECIFIED || !v1::RejectReason_IsValid(reason)) continue;
      Labels l = label(p);
      l.emplace_back("reason", v1::RejectReason_Name(reason));
      t.Sample("loyalty_dlq_records_total", l, static_cast<double>(p.dlq_by_reason[r]));
    }
  }
  t.Family("loyalty_output_records_total", "counter",
           "Output records committed to the output topics.");
  for (const auto& p : m.partitions) {
    t.Sample("loyalty_output_records_total", label(p), static_cast<double>(p.output_records));
  }
  t.Family("loyalty_output_transactions_total", "counter", "Output transactions committed.");
  for (const auto& p : m.partitions) {
    t.Sample("loyalty_output_transactions_total", label(p), static_cast<double>(p.transactions));
  }
  t.Family("loyalty_unpublished_seconds", "gauge",
           "How long the oldest applied batch has waited to be published (0: none).");
  for (const auto& p : m.partitions) {
    if (p.owned) t.Sample("loyalty_unpublished_seconds", label(p), p.unpublished_seconds);
  }
  t.Family("loyalty_batch_duration_seconds", "histogram",
           "Time to apply a batch and write it to the partition's store.");
  for (const auto& p : m.partitions)
    t.Histogram("loyalty_batch_duration_seconds", label(p), p.batch_seconds);
  t.Family("loyalty_commit_duration_seconds", "histogram",
           "Time to publish an output transaction, begin to commit, retries included.");
  for (const auto& p : m.partitions)
    t.Histogram("loyalty_commit_duration_seconds", label(p), p.commit_seconds);
  t.Family("loyalty_partition_stopped", "gauge",
           "1 when an owned partition stopped because its input lost offsets its state needs "
           "(the log says which).");
  for (const auto& p : m.partitions) {
    if (p.owned) t.Sample("loyalty_partition_stopped", label(p), p.stopped ? 1 : 0);
  }
  t.Family("loyalty_restoring", "gauge",
           "1 while an owned partition re-applies its input after a restore from a backup, or "
           "from an empty store.");
  for (const auto& p : m.partitions) {
    if (p.owned) t.Sample("loyalty_restoring", label(p), p.restoring ? 1 : 0);
  }
  t.Family("loyalty_restore_remaining_records", "gauge",
           "Input offsets a restoring partition has left to re-apply (0 when not restoring).");
  for (const auto& p : m.partitions) {
    if (p.owned) {
      t.Sample("loyalty_restore_remaining_records", label(p),
               p.restoring ? static_cast<double>(std::max<int64_t>(
                                 0, p.restore_target_offset - p.next_offset))
                           : 0);
    }
  }
  t.Family("loyalty_restores_total", "counter", "Partition stores restored from a backup.");
  for (const auto& p : m.partitions) {
    t.Sample("loyalty_restores_total", label(p), static_cast<double>(p.restores));
  }
  t.Family("loyalty_backups_total", "counter", "Partition backups taken by this process.");
  for (const auto& p : m.partitions) {
    t.Sample("loyalty_backups_total", label(p), static_cast<double>(p.backups));
  }
  t.Family("loyalty_backup_failures_total", "counter",
           "Partition backups that failed (the log says why).");
  for (const auto& p : m.partitions) {
    t.Sample("loyalty_backup_failures_total", label(p), static_cast<double>(p.backup_failures));
  }
  t.Family("loyalty_backup_offset", "gauge",
           "The input offset the newest backup of an owned partition continues from.");
  for (const auto& p : m.partitions) {
    if (p.owned && p.backup_offset >= 0) {
      t.Sample("loyalty_backup_offset", label(p), static_cast<double>(p.backup_offset));
    }
  }
  t.Family("loyalty_backup_duration_seconds", "histogram",
           "Time to take a partition backup (checkpoint, copy of new files, pruning).");
  for (const auto& p : m.partitions)
    t.Histogram("loyalty_backup_duration_seconds", label(p), p.backup_seconds);
  t.Family("loyalty_standby_partitions", "gauge",
           "Standby copies of other members' partitions kept here (--standby-replicas).");
  t.Sample("loyalty_standby_partitions", {}, static_cast<double>(m.standbys.size()));
  t.Family("loyalty_standby_lag", "gauge",
           "Input records a standby copy has not applied yet.");
  for (const auto& s : m.standbys) {
    if (s.end_offset >= 0) {
      t.Sample("loyalty_standby_lag", {{"partition", absl::StrCat(s.partition)}},
               static_cast<double>(std::max<int64_t>(0, s.end_offset - s.next_offset)));
    }
  }
  t.Family("loyalty_rocksdb_block_cache_bytes", "gauge",
           "RocksDB block cache in use, shared by the partition stores.");
  t.Sample("loyalty_rocksdb_block_cache_bytes", {}, static_cast<double>(m.block_cache_bytes));
  t.Family("loyalty_rocksdb_memtable_bytes", "gauge",
           "RocksDB memtables in use, shared by the partition stores.");
  t.Sample("loyalty_rocksdb_memtable_bytes", {}, static_cast<double>(m.memtable_bytes));
  return t.Take();
}

}  // namespace loyalty
