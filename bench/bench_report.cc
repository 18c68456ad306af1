// File: bench/bench_report.cc
#include "bench/bench_report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/base/text.h"

namespace loyalty::bench {

double RecordShape::puts_per_record() const {
  double n = 0;
  for (const Family& f : families) n += f.puts_per_record;
  return n;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double MedianCatchUp(const std::vector<CatchUpRun>& runs) {
  std::vector<double> v;
  for (const auto& r : runs) v.push_back(r.events_per_s);
  return Median(v);
}

namespace {

std::string Num(double x) { return absl::StrFormat("%.3f", x); }

std::string JsonNumbers(const std::vector<double>& v) {
  std::vector<std::string> parts;
  for (double x : v) parts.push_back(Num(x));
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

std::string JsonCatchUp(const std::vector<CatchUpRun>& runs) {
  std::vector<std::string> parts;
  for (const auto& r : runs) {
    parts.push_back(absl::StrCat("{\"events_per_s\":", Num(r.events_per_s),
                                 ",\"seconds\":", Num(r.seconds), ",\"records\":", r.records,
                                 ",\"cpu_s_per_million\":", Num(r.cpu_s_per_m),
                                 ",\"peak_rss_bytes\":", r.peak_rss_bytes,
                                 ",\"per_second\":", JsonNumbers(r.per_second), "}"));
  }
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

std::string JsonLatency(const LatencyRun& l) {
  return absl::StrCat("{\"who\":", JsonString(l.who), ",\"offered_per_s\":", Num(l.offered_per_s),
                      ",\"achieved_per_s\":", Num(l.achieved_per_s), ",\"samples\":", l.samples,
                      ",\"p50_ms\":", Num(l.p50_ms), ",\"p99_ms\":", Num(l.p99_ms),
                      ",\"p999_ms\":", Num(l.p999_ms), ",\"steady\":", l.steady ? "true" : "false",
                      "}");
}

std::string JsonLatencies(const std::vector<LatencyRun>& runs) {
  std::vector<std::string> parts;
  for (const auto& l : runs) parts.push_back(JsonLatency(l));
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

std::string Rate(double per_s) {
  if (per_s >= 1e6) return absl::StrFormat("%.2fM/s", per_s / 1e6);
  if (per_s >= 1e3) return absl::StrFormat("%.1fk/s", per_s / 1e3);
  return absl::StrFormat("%.0f/s", per_s);
}

std::string Runs(const std::vector<double>& v) {
  std::vector<std::string> parts;
  for (double x : v) parts.push_back(Rate(x));
  return absl::StrJoin(parts, ", ");
}

std::string LatencyRow(const LatencyRun& l) {
  return absl::StrFormat("| %s%s | %s | %s | %.1f | %.1f | %.1f | %d |\n", l.who,
                         l.steady ? "" : " (never caught up)", Rate(l.offered_per_s),
                         Rate(l.achieved_per_s), l.p50_ms, l.p99_ms, l.p999_ms, l.samples);
}

// "met" / "missed by X" for a figure that must be at least (or at most) a bound.
std::string Verdict(double measured, double bound, bool at_least) {
  const bool met = at_least ? measured >= bound : measured <= bound;
  if (met) return "met";
  return absl::StrFormat("missed (%.2fx of the bound)", measured / bound);
}

const LatencyRun* Nearest(const std::vector<LatencyRun>& runs, double rate) {
  const LatencyRun* best = nullptr;
  for (const auto& l : runs) {
    if (std::abs(l.offered_per_s - rate) < 0.01 * rate) best = &l;
  }
  return best;
}

}  // namespace

std::string RenderJson(const Results& r) {
  std::string out = absl::StrCat(
      "{\"started_utc\":", JsonString(r.started_utc), ",\"seed\":", r.seed,
      ",\"events\":", r.events, ",\"members\":", r.members,
      ",\"zipf_exponent\":", Num(r.zipf_exponent), ",\"records\":", r.records,
      ",\"partitions\":", r.partitions, ",\"workers\":", r.workers,
      ",\"batch_records_max\":", r.batch_records_max, ",\"runs\":", r.runs,
      ",\"quick\":", r.quick ? "true" : "false", ",\"machine\":", JsonString(r.machine),
      ",\"produce_per_s\":", Num(r.produce_per_s));
  absl::StrAppend(&out, ",\"limits\":{\"raw_consume_per_s\":", JsonNumbers(r.raw_consume_per_s),
                  ",\"rocksdb_write_events_per_s\":", JsonNumbers(r.rocksdb_write_per_s),
                  ",\"rocksdb_ops_per_event\":", Num(r.rocksdb_ops_per_event), "}");
  absl::StrAppend(&out, ",\"engine\":{\"catch_up\":", JsonCatchUp(r.catch_up),
                  ",\"catch_up_median_per_s\":", Num(MedianCatchUp(r.catch_up)),
                  ",\"latency\":", JsonLatencies(r.latency),
                  ",\"bytes_on_disk_per_event\":", Num(r.bytes_on_disk_per_event),
                  ",\"recovery_s\":", r.recovery_s ? Num(*r.recovery_s) : "null",
                  ",\"recovery_error\":", JsonString(r.recovery_error), "}");
  absl::StrAppend(&out, ",\"engine_machine\":{\"catch_up\":", JsonCatchUp(r.catch_up_machine),
                  ",\"latency\":", JsonLatencies(r.latency_machine), "}");
  std::vector<std::string> peers;
  for (const auto& p : r.peers) {
    peers.push_back(absl::StrCat(
        "{\"name\":", JsonString(p.name), ",\"events_per_s\":", Num(p.events_per_s),
        ",\"latency\":", p.latency ? JsonLatency(*p.latency) : "null",
        ",\"engine_at_same_rate\":", p.engine_same ? JsonLatency(*p.engine_same) : "null",
        ",\"error\":", JsonString(p.error), "}"));
  }
  absl::StrAppend(&out, ",\"peers\":[", absl::StrJoin(peers, ","), "]}\n");
  return out;
}

std::string RenderMarkdown(const Results& r) {
  const double engine = MedianCatchUp(r.catch_up);
  const double raw = Median(r.raw_consume_per_s);
  const double rocks = Median(r.rocksdb_write_per_s);
  std::string md = absl::StrCat(
      "# loyalty-bench results\n\n",
      absl::StrFormat("Started %s UTC on %s. Seed %d; %d events (%d Kafka records with ticks) "
                      "over %d members, Zipf s=%.2f; %d partitions, %d workers, batches up to %d "
                      "records; %d run(s) per figure%s.\n\n",
                      r.started_utc, r.machine, r.seed, r.events, r.records, r.members,
                      r.zipf_exponent, r.partitions, r.workers, r.batch_records_max, r.runs,
                      r.quick ? " (quick variant: sizes too small for conclusions)" : ""));
  absl::StrAppend(&md, "## Engine: exactly-once outputs on, --durability=process\n\n",
                  "| figure | value |\n|---|---|\n");
  std::vector<double> each;
  double cpu = 0;
  int64_t rss = 0;
  for (const auto& c : r.catch_up) {
    each.push_back(c.events_per_s);
    cpu = std::max(cpu, c.cpu_s_per_m);
    rss = std::max(rss, c.peak_rss_bytes);
  }
  absl::StrAppend(&md, "| catch-up throughput (median) | **", Rate(engine),
                  "** (runs: ", Runs(each), ") |\n");
  if (raw > 0) {
    absl::StrAppend(&md, "| raw librdkafka consume of the same backlog (limit) | ", Rate(raw),
                    absl::StrFormat(" — engine at %.1f%%", 100 * engine / raw), " |\n");
  }
  if (rocks > 0) {
    absl::StrAppend(&md,
                    absl::StrFormat("| RocksDB batched ledger-shaped writes, %.1f ops/event "
                                    "(limit) | %s — engine at %.1f%% |\n",
                                    r.rocksdb_ops_per_event, Rate(rocks), 100 * engine / rocks));
  }
  absl::StrAppend(&md, absl::StrFormat("| CPU per 10^6 events (worst run) | %.1f s |\n", cpu),
                  absl::StrFormat("| peak RSS (worst run) | %.0f MiB |\n",
                                  static_cast<double>(rss) / (1 << 20)),
                  absl::StrFormat("| bytes on disk per event after compaction | %.0f |\n",
                                  r.bytes_on_disk_per_event));
  if (r.recovery_s) {
    absl::StrAppend(&md, absl::StrFormat("| recovery after kill -9 (to the first committed "
                                         "output of the restarted engine) | %.2f s |\n",
                                         *r.recovery_s));
  } else if (!r.recovery_error.empty()) {
    absl::StrAppend(&md, "| recovery after kill -9 | failed: ", r.recovery_error, " |\n");
  }
  auto latency_table = [&](const std::vector<LatencyRun>& runs) {
    std::string t =
        "| who | offered | achieved | p50 ms | p99 ms | p99.9 ms | samples |\n"
        "|---|---|---|---|---|---|---|\n";
    for (const auto& l : runs) absl::StrAppend(&t, LatencyRow(l));
    return t;
  };
  if (!r.latency.empty()) {
    absl::StrAppend(&md, "\n### Latency under load (produce timestamp → batch committed)\n\n",
                    latency_table(r.latency));
  }
  if (!r.catch_up_machine.empty() || !r.latency_machine.empty()) {
    std::vector<double> m;
    for (const auto& c : r.catch_up_machine) m.push_back(c.events_per_s);
    absl::StrAppend(&md, "\n## Engine: --durability=machine (WAL fsynced before outputs)\n\n",
                    "catch-up throughput (median): **", Rate(Median(m)), "** (runs: ", Runs(m),
                    ")\n\n");
    if (!r.latency_machine.empty()) absl::StrAppend(&md, latency_table(r.latency_machine));
  }
  if (!r.peers.empty()) {
    absl::StrAppend(&md,
                    "\n## Peers, same events, same broker\n\n"
                    "| peer | catch-up | engine ÷ peer | offered | peer p99 ms | engine p99 ms |\n"
                    "|---|---|---|---|---|---|\n");
    for (const auto& p : r.peers) {
      if (!p.error.empty()) {
        absl::StrAppend(&md, "| ", p.name, " | failed: ", p.error, " | | | | |\n");
        continue;
      }
      absl::StrAppend(
          &md,
          absl::StrFormat("| %s | %s | %.2fx | %s | %s | %s |\n", p.name, Rate(p.events_per_s),
                          p.events_per_s > 0 ? engine / p.events_per_s : 0.0,
                          p.latency ? Rate(p.latency->offered_per_s) : "-",
                          p.latency ? absl::StrFormat("%.1f", p.latency->p99_ms) : "-",
                          p.engine_same ? absl::StrFormat("%.1f", p.engine_same->p99_ms) : "-"));
    }
  }
  // The targets of issue 5 (2-core machine, outputs on, --durability=process).
  absl::StrAppend(&md, "\n## Targets\n\n| target | measured | verdict |\n|---|---|---|\n");
  absl::StrAppend(&md, "| catch-up ≥ 300,000 events/s | ", Rate(engine), " | ",
                  Verdict(engine, 300'000, true), " |\n");
  const double limit = std::min(raw > 0 ? raw : 1e18, rocks > 0 ? rocks : 1e18);
  if (limit < 1e18) {
    absl::StrAppend(
        &md,
        absl::StrFormat("| ≥ 60%% of the lower measured limit (%s) | %.1f%% | %s |\n", Rate(limit),
                        100 * engine / limit, Verdict(engine / limit, 0.6, true)));
  }
  if (const LatencyRun* l = Nearest(r.latency, 100'000)) {
    absl::StrAppend(&md, absl::StrFormat("| p99 ≤ 25 ms at 100k/s offered | %.1f ms | %s |\n",
                                         l->p99_ms, Verdict(l->p99_ms, 25, false)));
  } else {
    absl::StrAppend(&md, "| p99 ≤ 25 ms at 100k/s offered | not measured: catch-up ", Rate(engine),
                    engine < 100'000 ? " is below 100k/s" : "", " | ",
                    engine < 100'000 ? "missed" : "not measured", " |\n");
  }
  for (const auto& p : r.peers) {
    if (!p.error.empty() || p.events_per_s <= 0) continue;
    const double want = p.name == "postgres" ? 10 : 3;
    absl::StrAppend(&md, absl::StrFormat("| ≥ %.0fx %s throughput | %.2fx | %s |\n", want, p.name,
                                         engine / p.events_per_s,
                                         Verdict(engine / p.events_per_s, want, true)));
    if (p.latency && p.engine_same) {
      absl::StrAppend(
          &md,
          absl::StrFormat("| lower p99 than %s at %s | %.1f vs %.1f ms | %s |\n", p.name,
                          Rate(p.latency->offered_per_s), p.engine_same->p99_ms, p.latency->p99_ms,
                          p.engine_same->p99_ms < p.latency->p99_ms ? "met" : "missed"));
    }
  }
  if (r.recovery_s) {
    absl::StrAppend(&md, absl::StrFormat("| recovery after kill -9 ≤ 5 s | %.2f s | %s |\n",
                                         *r.recovery_s, Verdict(*r.recovery_s, 5, false)));
  }
  absl::StrAppend(&md, absl::StrFormat("| peak RSS ≤ 2 GiB (%d members) | %.0f MiB | %s |\n",
                                       r.members, static_cast<double>(rss) / (1 << 20),
                                       Verdict(static_cast<double>(rss), 2.0 * (1 << 30), false)));
  return md;
}

namespace {

// A polyline chart of series (name, y per x step) in a w x h SVG.
std::string LineChart(const std::string& title, const std::vector<std::string>& names,
                      const std::vector<std::vector<double>>& series, const std::string& x_label,
                      const std::string& y_label) {
  constexpr double w = 720, h = 300, left = 70, bottom = 40, top = 30;
  double y_max = 1;
  size_t x_max = 1;
  for (const auto& s : series) {
    for (double y : s) y_max = std::max(y_max, y);
    x_max = std::max(x_max, s.size());
  }
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
  std::string svg = absl::StrFormat(
      "<h2>%s</h2><svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
      "font-family='sans-serif' font-size='12'>"
      "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='#000'/>"
      "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='#000'/>"
      "<text x='%.0f' y='%.0f'>%s</text><text x='5' y='%.0f'>%s</text>"
      "<text x='5' y='%.0f'>%s</text><text x='%.0f' y='%.0f'>%d</text>",
      title, w, h, left, h - bottom, w - 10, h - bottom, left, top, left, h - bottom, w / 2, h - 8,
      x_label, top - 10, y_label, top + 5, Rate(y_max).c_str(), w - 30, h - bottom + 15,
      static_cast<int>(x_max));
  for (size_t i = 0; i < series.size(); ++i) {
    std::string points;
    for (size_t x = 0; x < series[i].size(); ++x) {
      const double px =
          left + (w - 10 - left) * static_cast<double>(x) / static_cast<double>(x_max);
      const double py = h - bottom - (h - bottom - top) * series[i][x] / y_max;
      absl::StrAppend(&points, absl::StrFormat("%.1f,%.1f ", px, py));
    }
    const char* color = kColors[i % 6];
    absl::StrAppend(&svg, absl::StrFormat("<polyline fill='none' stroke='%s' points='%s'/>"
                                          "<text x='%.0f' y='%.0f' fill='%s'>%s</text>",
                                          color, points, w - 220, top + 15 * static_cast<double>(i),
                                          color, names[i]));
  }
  return svg + "</svg>";
}

// Grouped bars: p50, p99, p99.9 per latency run.
std::string LatencyBars(const std::vector<LatencyRun>& runs) {
  if (runs.empty()) return "";
  constexpr double h = 320, bottom = 90, top = 30, left = 60, group = 90, bar = 22;
  const double w = left + group * static_cast<double>(runs.size()) + 20;
  double y_max = 1;
  for (const auto& l : runs) y_max = std::max(y_max, l.p999_ms);
  std::string svg = absl::StrFormat(
      "<h2>Latency percentiles by offered rate (ms)</h2><svg "
      "xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' font-family='sans-serif' "
      "font-size='11'><line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='#000'/>"
      "<text x='5' y='%.0f'>%.0f ms</text>"
      "<text x='%.0f' y='15' fill='#2ca02c'>p50</text><text x='%.0f' y='15' "
      "fill='#ff7f0e'>p99</text><text x='%.0f' y='15' fill='#d62728'>p99.9</text>",
      w, h, left, h - bottom, w - 10, h - bottom, top + 5, y_max, left, left + 40, left + 80);
  static const char* kColors[] = {"#2ca02c", "#ff7f0e", "#d62728"};
  for (size_t i = 0; i < runs.size(); ++i) {
    const double values[] = {runs[i].p50_ms, runs[i].p99_ms, runs[i].p999_ms};
    const double x0 = left + 10 + group * static_cast<double>(i);
    for (int k = 0; k < 3; ++k) {
      const double bh = (h - bottom - top) * values[k] / y_max;
      absl::StrAppend(
          &svg, absl::StrFormat("<rect x='%.1f' y='%.1f' width='%.0f' height='%.1f' "
                                "fill='%s'><title>%.1f ms</title></rect>",
                                x0 + bar * k, h - bottom - bh, bar - 2, bh, kColors[k], values[k]));
    }
    absl::StrAppend(&svg, absl::StrFormat("<text x='%.0f' y='%.0f' transform='rotate(30 %.0f "
                                          "%.0f)'>%s @ %s</text>",
                                          x0, h - bottom + 14, x0, h - bottom + 14, runs[i].who,
                                          Rate(runs[i].offered_per_s)));
  }
  return svg + "</svg>";
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else if (c == '&') {
      out += "&amp;";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string RenderHtml(const Results& r) {
  std::vector<std::string> names;
  std::vector<std::vector<double>> series;
  for (size_t i = 0; i < r.catch_up.size(); ++i) {
    names.push_back(absl::StrCat("process, run ", i + 1));
    series.push_back(r.catch_up[i].per_second);
  }
  for (size_t i = 0; i < r.catch_up_machine.size(); ++i) {
    names.push_back(absl::StrCat("machine, run ", i + 1));
    series.push_back(r.catch_up_machine[i].per_second);
  }
  std::vector<LatencyRun> all = r.latency;
  all.insert(all.end(), r.latency_machine.begin(), r.latency_machine.end());
  for (const auto& p : r.peers) {
    if (p.latency) all.push_back(*p.latency);
  }
  return absl::StrCat(
      "<!doctype html><html><head><meta charset='utf-8'><title>loyalty-bench</title>"
      "<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}"
      "</style></head><body><h1>loyalty-bench</h1>",
      LineChart("Catch-up: records committed per second", names, series,
                "seconds since the first commit", "records/s"),
      LatencyBars(all), "<h2>Summary</h2><pre>", HtmlEscape(RenderMarkdown(r)),
      "</pre></body></html>\n");
}

}  // namespace loyalty::bench
