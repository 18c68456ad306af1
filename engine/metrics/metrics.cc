#include "engine/metrics/metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/status.h"

namespace loyalty::metrics {
namespace {

// A Prometheus float: integers bare, +Inf/-Inf/NaN by name.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrFormat("%.9g", v);
}

}  // namespace

Histogram::Histogram(absl::Span<const double> upper_bounds)
    : bounds_(upper_bounds.begin(), upper_bounds.end()),
      buckets_(new std::atomic<uint64_t>[upper_bounds.size() + 1]) {
  for (size_t i = 1; i < bounds_.size(); ++i) {
    LOYALTY_CHECK(bounds_[i - 1] < bounds_[i]) << "histogram bounds must ascend";
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  const double micros = value > 0 ? value * 1e6 : 0;
  sum_micros_.fetch_add(static_cast<uint64_t>(std::llround(micros)), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  uint64_t running = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  running += buckets_[bounds_.size()].load(std::memory_order_relaxed);
  s.count = std::max(running, count_.load(std::memory_order_relaxed));
  s.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

void PrometheusText::Family(absl::string_view name, absl::string_view type,
                            absl::string_view help) {
  absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void PrometheusText::AppendLabels(const Labels& labels, absl::string_view le) {
  if (labels.empty() && le.empty()) return;
  out_.push_back('{');
  bool first = true;
  auto append = [&](absl::string_view key, absl::string_view value) {
    if (!first) out_.push_back(',');
    first = false;
    absl::StrAppend(&out_, key, "=\"");
    for (char c : value) {
      if (c == '\\') {
        out_.append("\\\\");
      } else if (c == '"') {
        out_.append("\\\"");
      } else if (c == '\n') {
        out_.append("\\n");
      } else {
        out_.push_back(c);
      }
    }
    out_.push_back('"');
  };
  for (const auto& [key, value] : labels) append(key, value);
  if (!le.empty()) append("le", le);
  out_.push_back('}');
}

void PrometheusText::Sample(absl::string_view name, const Labels& labels, double value) {
  out_.append(name.data(), name.size());
  AppendLabels(labels, "");
  absl::StrAppend(&out_, " ", FormatValue(value), "\n");
}

void PrometheusText::Histogram(absl::string_view name, const Labels& labels,
                               const Histogram::Snapshot& h) {
  const std::string bucket = absl::StrCat(name, "_bucket");
  for (size_t i = 0; i < h.upper_bounds.size(); ++i) {
    out_.append(bucket);
    AppendLabels(labels, absl::StrFormat("%g", h.upper_bounds[i]));
    absl::StrAppend(&out_, " ", h.cumulative[i], "\n");
  }
  out_.append(bucket);
  AppendLabels(labels, "+Inf");
  absl::StrAppend(&out_, " ", h.count, "\n");
  Sample(absl::StrCat(name, "_sum"), labels, h.sum);
  Sample(absl::StrCat(name, "_count"), labels, static_cast<double>(h.count));
}

}  // namespace loyalty::metrics
