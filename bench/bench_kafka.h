// File: bench/bench_kafka.h
// The Kafka side of loyalty-bench: producing the workload (as fast as
// possible or at a fixed rate), the raw consume rate of a topic (a physical
// limit: no processing), a read_committed probe on an output topic that
// timestamps what it receives (peers' throughput and latency), and deleting
// a run's topics (a 10^7-event run writes tens of GB of outputs).
//
// Thread-compatible unless said otherwise.
#ifndef LOYALTY_BENCH_BENCH_KAFKA_H_
#define LOYALTY_BENCH_BENCH_KAFKA_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/workload.h"
#include "connectors/kafka/kafka.h"
#include "engine/base/time.h"

namespace loyalty::bench {

// Wall-clock milliseconds: WallMs() of engine/base/time.h.
// Monotonic seconds, for durations.
double MonoSeconds();

// Creates `topic` with `partitions` partitions, no topic configs
// (EnsureTopics of connectors/kafka/kafka.h).
absl::Status CreateTopic(const std::string& brokers, const std::string& topic, int partitions);

// Deletes `topics` (admin API; topics that do not exist are skipped) and
// waits for the broker's answer. The broker frees their files a little later
// (file.delete.delay.ms).
absl::Status DeleteTopics(const std::string& brokers, const std::vector<std::string>& topics);

// The broker's topics whose names start with `prefix`, sorted.
absl::StatusOr<std::vector<std::string>> TopicsWithPrefix(const std::string& brokers,
                                                          const std::string& prefix);

struct ProduceResult {
  int64_t records = 0;
  double seconds = 0;
};

// Produces every record of `workload` to `topic` as fast as the broker takes
// them (idempotent producer, murmur2 partitioner like Java clients), then
// waits for every delivery. `progress(done)` is called every 4096 records
// and at the end (the caller's Progress rate-limits its own output).
absl::StatusOr<ProduceResult> ProduceAll(const std::string& brokers, const std::string& topic,
                                         Workload* workload,
                                         const std::function<void(int64_t)>& progress);

// Produces the next `records` records of `workload` (fewer if it ends),
// as ProduceAll does: the restore phase's backlog, tail and probe records
// come from one workload, so that they continue one another.
absl::StatusOr<ProduceResult> ProduceSome(const std::string& brokers, const std::string& topic,
                                          Workload* workload, int64_t records,
                                          const std::function<void(int64_t)>& progress);

// The end offset (high watermark) of every partition of `topic`, by
// partition.
absl::StatusOr<std::vector<int64_t>> EndOffsets(const std::string& brokers,
                                                const std::string& topic);

// Waits until the broker answers for every partition of `topic` as its
// leader (EndOffsets succeeds), at most `timeout_ms`: a topic just created
// is not served at once, and an engine that opens its partitions then may
// meet NOT_LEADER_FOR_PARTITION.
absl::Status WaitForLeaders(const std::string& brokers, const std::string& topic, int timeout_ms);

// Produces `workload` at `rate_per_s` records/s (paced per millisecond) for
// `duration_s` seconds or until the workload ends or `stop` is set.
// `produced`, if given, follows the count of records handed to librdkafka.
absl::StatusOr<ProduceResult> ProducePaced(const std::string& brokers, const std::string& topic,
                                           Workload* workload, double rate_per_s, double duration_s,
                                           const std::atomic<bool>& stop,
                                           std::atomic<int64_t>* produced = nullptr);

// Reads every partition of `topic` from the beginning to its end
// (read_committed; ReadToEnd of connectors/kafka/client.h), touching nothing
// but the message: records, and seconds from the first record to the end.
absl::StatusOr<ProduceResult> RawConsume(const std::string& brokers, const std::string& topic);

// A read_committed consumer of all partitions of an output topic on its own
// thread, from the topic's start. Records, per received record, the receive
// time and (receive time - record timestamp).
class OutputProbe {
 public:
  static absl::StatusOr<std::unique_ptr<OutputProbe>> Start(const std::string& brokers,
                                                            const std::string& topic);
  ~OutputProbe();

  int64_t received() const { return received_.load(); }
  // Receive time (wall ms) of the first and the last record; 0 if none.
  int64_t first_ms() const;
  int64_t last_ms() const;
  // Latencies (ms) of records whose timestamp is >= `since_ms`.
  std::vector<int64_t> LatenciesSince(int64_t since_ms) const;
  // Watches for the first record whose timestamp is > `after_ms`; WatchHit
  // is its receive time (wall ms), 0 until one arrives.
  void WatchAfter(int64_t after_ms);
  int64_t WatchHit() const;

 private:
  OutputProbe() = default;
  void Loop();

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<int64_t> received_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  int64_t first_ms_ = 0;
  int64_t last_ms_ = 0;
  int64_t watch_after_ms_ = -1;
  int64_t watch_hit_ms_ = 0;
  std::vector<std::pair<int64_t, int64_t>> samples_;  // (timestamp, latency)
};

// Percentile q in [0, 1] of `v` (nearest rank; reorders v); 0 if empty.
double Percentile(std::vector<int64_t>* v, double q);

}  // namespace loyalty::bench

#endif  // LOYALTY_BENCH_BENCH_KAFKA_H_
