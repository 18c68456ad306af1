#include "engine/metrics/metrics.h"

#include "gtest/gtest.h"

namespace loyalty::metrics {
namespace {

TEST(HistogramTest, CountsAreCumulativePerBound) {
  Histogram h({0.01, 0.1, 1});
  for (double v : {0.005, 0.01, 0.05, 0.5, 3.0}) h.Observe(v);
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(s.count, 5u);
  EXPECT_NEAR(s.sum, 3.565, 1e-6);
}

TEST(PrometheusTextTest, WritesFamiliesSamplesAndHistograms) {
  Histogram h({0.001, 0.5});
  h.Observe(0.25);
  PrometheusText text;
  text.Family("loyalty_events_total", "counter", "Events by outcome.");
  text.Sample("loyalty_events_total", {{"partition", "3"}, {"outcome", "APPLIED"}}, 12);
  text.Sample("loyalty_ready", {}, 1);
  text.Family("loyalty_commit_duration_seconds", "histogram", "Commits.");
  text.Histogram("loyalty_commit_duration_seconds", {{"partition", "0"}}, h.Read());
  text.Sample("odd", {{"v", "a\"b\\c\nd"}}, 0.125);
  EXPECT_EQ(text.Take(),
            "# HELP loyalty_events_total Events by outcome.\n"
            "# TYPE loyalty_events_total counter\n"
            "loyalty_events_total{partition=\"3\",outcome=\"APPLIED\"} 12\n"
            "loyalty_ready 1\n"
            "# HELP loyalty_commit_duration_seconds Commits.\n"
            "# TYPE loyalty_commit_duration_seconds histogram\n"
            "loyalty_commit_duration_seconds_bucket{partition=\"0\",le=\"0.001\"} 0\n"
            "loyalty_commit_duration_seconds_bucket{partition=\"0\",le=\"0.5\"} 1\n"
            "loyalty_commit_duration_seconds_bucket{partition=\"0\",le=\"+Inf\"} 1\n"
            "loyalty_commit_duration_seconds_sum{partition=\"0\"} 0.25\n"
            "loyalty_commit_duration_seconds_count{partition=\"0\"} 1\n"
            "odd{v=\"a\\\"b\\\\c\\nd\"} 0.125\n");
}

}  // namespace
}  // namespace loyalty::metrics
