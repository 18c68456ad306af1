// File: connectors/kafka/engine_metrics.h
// KafkaEngine::Metrics as Prometheus text, and the engine's readiness
// (SPEC §11). Metric names follow Prometheus' conventions: the loyalty_
// prefix, _total for counters, _seconds and _bytes for units; per-partition
// series carry a partition label. docs/operations.md lists every metric.
#ifndef LOYALTY_CONNECTORS_KAFKA_ENGINE_METRICS_H_
#define LOYALTY_CONNECTORS_KAFKA_ENGINE_METRICS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "connectors/kafka/engine.h"

namespace loyalty {

struct ReadinessOptions {
  // An owned partition whose consumer lag exceeds this many records is
  // catching up, not ready. Default: 10,000 (a few batches).
  int64_t lag_max = 10'000;
  // An owned partition whose oldest applied batch has waited this long to
  // be published is not publishing (a broker down, a retry loop), not
  // ready. Default: 30 s.
  double unpublished_max_seconds = 30;
};

struct Readiness {
  bool ready = false;
  std::string detail;  // why not, or "ready: N partitions caught up and publishing"
};

// Ready: the group gave this process its first assignment, the engine is not
// stopping on an error, and every owned partition is caught up (lag known
// and at most lag_max) and publishing (nothing applied waits longer than
// unpublished_max_seconds). A process that owns no partition (more members
// than partitions) is ready.
Readiness EngineReadiness(const KafkaEngine::Metrics& m, const ReadinessOptions& options);

// The metrics of `m` in Prometheus text format, with `build_version` and
// `build_commit` as loyalty_build_info labels and `ready` as loyalty_ready.
std::string EngineMetricsText(const KafkaEngine::Metrics& m, bool ready,
                              absl::string_view build_version, absl::string_view build_commit);

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_KAFKA_ENGINE_METRICS_H_
