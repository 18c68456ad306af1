// File: engine/metrics/metrics.h
// What the engine counts for operators, and its Prometheus text
// exposition (format 0.0.4: https://prometheus.io/docs/instrumenting/exposition_formats/).
//
//   Histogram h(Histogram::kLatencyBoundsSeconds);
//   h.Observe(0.012);                        // any thread, lock-free
//   PrometheusText text;
//   text.Family("loyalty_commit_duration_seconds", "histogram", "Output transaction time.");
//   text.Histogram("loyalty_commit_duration_seconds", {{"partition", "3"}}, h.Read());
//   std::string body = text.Take();
//
// Written here rather than taken from a library: Debian (bookworm) packages
// no Prometheus client library for C++ (prometheus-cpp is not in it), and
// what the engine needs is counters it already keeps plus histograms.
//
// Histogram is thread-safe; PrometheusText is thread-compatible.
#ifndef LOYALTY_ENGINE_METRICS_METRICS_H_
#define LOYALTY_ENGINE_METRICS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace loyalty::metrics {

// A Prometheus histogram: cumulative counts of observations at or under
// each upper bound, plus their sum and count.
class Histogram {
 public:
  // Upper bounds in seconds for batch and commit latencies: 1 ms to 30 s,
  // about 2.5x apart (a batch applies in milliseconds; a transaction
  // commits in tens of milliseconds, and seconds while a broker recovers).
  static constexpr double kLatencyBoundsSeconds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,   0.25,   0.5,   1,    2.5,   5,
                                                     10,    30};

  // REQUIRES: `upper_bounds` ascending.
  explicit Histogram(absl::Span<const double> upper_bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // per bound: observations <= it
    uint64_t count = 0;                // all observations (the +Inf bucket)
    double sum = 0;
  };
  // Not atomic across buckets: a scrape during Observe may see the count
  // one ahead of a bucket, which Prometheus tolerates.
  Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};  // the sum in microseconds
};

using Labels = std::vector<std::pair<std::string, std::string>>;

// Builds a text exposition. Each family is declared once (HELP and TYPE)
// before its samples; label values are escaped.
class PrometheusText {
 public:
  // `type`: counter, gauge or histogram.
  void Family(absl::string_view name, absl::string_view type, absl::string_view help);
  void Sample(absl::string_view name, const Labels& labels, double value);
  // name_bucket{...,le="..."} per bound and +Inf, then name_sum, name_count.
  void Histogram(absl::string_view name, const Labels& labels, const Histogram::Snapshot& h);

  std::string Take() { return std::move(out_); }

 private:
  void AppendLabels(const Labels& labels, absl::string_view le);

  std::string out_;
};

// The content type of the text format.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace loyalty::metrics

#endif  // LOYALTY_ENGINE_METRICS_METRICS_H_
