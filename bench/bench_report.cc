// File: bench/bench_report.cc
#include "bench/bench_report.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/base/text.h"
#include "engine/report/svg_chart.h"

namespace loyalty::bench {

double RecordShape::puts_per_record() const {
  double n = 0;
  for (const Family& f : families) n += f.puts_per_record;
  return n;
}

double RecordShape::deletes_per_record() const {
  double n = 0;
  for (const Family& f : families) n += f.deletes_per_record;
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

Trend TrendOf(const CatchUpRun& run) {
  const std::vector<double>& s = run.per_second;
  Trend t;
  if (s.size() < 2) return t;
  const size_t tenth = std::max<size_t>(1, s.size() / 10);
  for (size_t i = 0; i < tenth; ++i) {
    t.first_tenth_per_s += s[i];
    t.last_tenth_per_s += s[s.size() - tenth + i];
  }
  t.first_tenth_per_s /= static_cast<double>(tenth);
  t.last_tenth_per_s /= static_cast<double>(tenth);
  return t;
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
    const Trend t = TrendOf(r);
    parts.push_back(absl::StrCat(
        "{\"events_per_s\":", Num(r.events_per_s), ",\"seconds\":", Num(r.seconds),
        ",\"records\":", r.records, ",\"cpu_s_per_million\":", Num(r.cpu_s_per_m),
        ",\"peak_rss_bytes\":", r.peak_rss_bytes,
        ",\"first_tenth_per_s\":", Num(t.first_tenth_per_s),
        ",\"last_tenth_per_s\":", Num(t.last_tenth_per_s), ",\"last_over_first\":", Num(t.ratio()),
        ",\"per_second\":", JsonNumbers(r.per_second), "}"));
  }
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

std::string JsonShape(const RecordShape& s) {
  std::vector<std::string> families;
  for (const auto& f : s.families) {
    families.push_back(absl::StrCat(
        "{\"name\":", JsonString(f.name), ",\"puts_per_record\":", Num(f.puts_per_record),
        ",\"deletes_per_record\":", Num(f.deletes_per_record), ",\"key_bytes\":", Num(f.key_bytes),
        ",\"value_bytes\":", Num(f.value_bytes), "}"));
  }
  return absl::StrCat("{\"records\":", s.records, ",\"puts_per_record\":", Num(s.puts_per_record()),
                      ",\"deletes_per_record\":", Num(s.deletes_per_record()),
                      ",\"records_per_batch\":", Num(s.records_per_batch()),
                      ",\"outputs_per_record\":", Num(s.outputs_per_record),
                      ",\"output_value_bytes\":", Num(s.output_value_bytes),
                      ",\"transactions_per_record\":", Num(s.transactions_per_record),
                      ",\"records_per_transaction\":", Num(s.records_per_transaction()),
                      ",\"families\":[", absl::StrJoin(families, ","), "]}");
}

std::string JsonLatency(const LatencyRun& l) {
  std::vector<std::string> stages;
  for (const auto& s : l.stages) {
    stages.push_back(absl::StrCat("{\"name\":", JsonString(s.name), ",\"p50_ms\":", Num(s.p50_ms),
                                  ",\"p99_ms\":", Num(s.p99_ms),
                                  ",\"tail_mean_ms\":", Num(s.tail_mean_ms), "}"));
  }
  return absl::StrCat("{\"who\":", JsonString(l.who), ",\"offered_per_s\":", Num(l.offered_per_s),
                      ",\"achieved_per_s\":", Num(l.achieved_per_s), ",\"samples\":", l.samples,
                      ",\"p50_ms\":", Num(l.p50_ms), ",\"p99_ms\":", Num(l.p99_ms),
                      ",\"p999_ms\":", Num(l.p999_ms), ",\"steady\":", l.steady ? "true" : "false",
                      ",\"stages\":[", absl::StrJoin(stages, ","), "]}");
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

std::vector<double> RatesOf(const std::vector<CatchUpRun>& runs) {
  std::vector<double> v;
  for (const auto& r : runs) v.push_back(r.events_per_s);
  return v;
}

// Where the engine's latency went, stage by stage, in each run at an
// offered rate.
std::string LatencyStagesTable(const std::vector<LatencyRun>& runs) {
  std::string t =
      "\nWhere it went, by stage of a record's batch (a record's latency is the sum of its "
      "stages; the last column is each stage's mean over the records at or above the p99):\n\n"
      "| offered | stage | p50 ms | p99 ms | mean ms in the slowest 1% |\n|---|---|---|---|---|\n";
  bool any = false;
  for (const auto& l : runs) {
    for (const auto& s : l.stages) {
      any = true;
      absl::StrAppend(&t, absl::StrFormat("| %s | %s | %.1f | %.1f | %.1f |\n",
                                          Rate(l.offered_per_s), s.name, s.p50_ms, s.p99_ms,
                                          s.tail_mean_ms));
    }
  }
  return any ? t : "";
}

std::string LatencyRow(const LatencyRun& l) {
  return absl::StrFormat("| %s%s | %s | %s | %.1f | %.1f | %.1f | %d |\n", l.who,
                         l.steady ? "" : " (never caught up)", Rate(l.offered_per_s),
                         Rate(l.achieved_per_s), l.p50_ms, l.p99_ms, l.p999_ms, l.samples);
}

// "met, 1.25x the bound" / "missed: 0.62x the bound (38% short)" for a
// figure that must be at least (or at most) a bound.
std::string Verdict(double measured, double bound, bool at_least) {
  const bool met = at_least ? measured >= bound : measured <= bound;
  const double x = bound != 0 ? measured / bound : 0;
  if (met) return absl::StrFormat("met, %.2fx the bound", x);
  return absl::StrFormat("missed: %.2fx the bound (%.0f%% %s)", x, 100 * std::abs(1 - x),
                         at_least ? "short" : "over");
}

const LatencyRun* Nearest(const std::vector<LatencyRun>& runs, double rate) {
  const LatencyRun* best = nullptr;
  for (const auto& l : runs) {
    if (std::abs(l.offered_per_s - rate) < 0.01 * rate) best = &l;
  }
  return best;
}

const PeerResult* PeerNamed(const Results& r, const std::string& name) {
  for (const auto& p : r.peers) {
    if (p.name == name && p.error.empty() && p.events_per_s > 0) return &p;
  }
  return nullptr;
}

std::string Mib(int64_t bytes) {
  return absl::StrFormat("%.0f MiB", static_cast<double>(bytes) / (1 << 20));
}

// Tenths of a MiB: the quick variant's backups are a few MiB.
std::string Mib1(int64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

// Per record, per column family, and the outputs: the engine's shape and
// the null pipeline's next to it.
std::string ShapeTables(const Results& r) {
  const RecordShape& e = r.shape;
  const RecordShape& n = r.null_shape;
  const bool with_null = n.records > 0;
  std::string md = absl::StrFormat(
      "\n### What the engine did per input record (first catch-up run, %d records)%s\n\n"
      "| column family | puts per record | deletes per record | key bytes | value bytes%s |\n"
      "|---|---|---|---|---|%s\n",
      e.records, with_null ? ", and what the null pipeline wrote" : "",
      with_null ? " | null pipeline: puts, deletes per record, value bytes" : "",
      with_null ? "---|" : "");
  for (size_t i = 0; i < e.families.size(); ++i) {
    const auto& f = e.families[i];
    if (f.puts_per_record + f.deletes_per_record == 0) continue;
    absl::StrAppend(&md,
                    absl::StrFormat("| %s | %.4f | %.4f | %.1f | %.1f", f.name, f.puts_per_record,
                                    f.deletes_per_record, f.key_bytes, f.value_bytes));
    if (with_null && i < n.families.size()) {
      const auto& g = n.families[i];
      absl::StrAppend(&md, absl::StrFormat(" | %.4f, %.4f, %.1f", g.puts_per_record,
                                           g.deletes_per_record, g.value_bytes));
    }
    absl::StrAppend(&md, " |\n");
  }
  auto row = [&](const char* what, const std::string& engine, const std::string& null) {
    absl::StrAppend(&md, "| ", what, " | ", engine, with_null ? absl::StrCat(" | ", null) : "",
                    " |\n");
  };
  absl::StrAppend(&md, "\n| per input record | engine", with_null ? " | null pipeline" : "",
                  " |\n|---|---", with_null ? "|---" : "", "|\n");
  row("RocksDB puts (all families)", absl::StrFormat("%.3f", e.puts_per_record()),
      absl::StrFormat("%.3f", n.puts_per_record()));
  row("RocksDB deletes", absl::StrFormat("%.3f", e.deletes_per_record()),
      absl::StrFormat("%.3f", n.deletes_per_record()));
  row("records per store batch", absl::StrFormat("%.0f", e.records_per_batch()),
      absl::StrFormat("%.0f", n.records_per_batch()));
  row("Kafka output records", absl::StrFormat("%.3f", e.outputs_per_record),
      absl::StrFormat("%.3f", n.outputs_per_record));
  row("output value bytes (average)", absl::StrFormat("%.1f", e.output_value_bytes),
      absl::StrFormat("%.1f", n.output_value_bytes));
  row("input records per transaction", absl::StrFormat("%.0f", e.records_per_transaction()),
      absl::StrFormat("%.0f", n.records_per_transaction()));
  return md;
}

std::string EngineTable(const Results& r) {
  const double engine = MedianCatchUp(r.catch_up);
  const double raw = Median(r.raw_consume_per_s);
  const double rocks = Median(r.rocksdb_write_per_s);
  const double null = MedianCatchUp(r.null_catch_up);
  std::string md = "| figure | value |\n|---|---|\n";
  double cpu = 0;
  int64_t rss = 0;
  std::vector<std::string> trends;
  for (const auto& c : r.catch_up) {
    cpu = std::max(cpu, c.cpu_s_per_m);
    rss = std::max(rss, c.peak_rss_bytes);
    const Trend t = TrendOf(c);
    trends.push_back(t.first_tenth_per_s > 0
                         ? absl::StrFormat("%s → %s (%.2f)", Rate(t.first_tenth_per_s),
                                           Rate(t.last_tenth_per_s), t.ratio())
                         : std::string("- (under 2 s)"));
  }
  absl::StrAppend(&md, "| catch-up throughput (median) | **", Rate(engine),
                  "** (runs: ", Runs(RatesOf(r.catch_up)), ") |\n");
  absl::StrAppend(&md, "| first tenth → last tenth of each catch-up (last ÷ first) | ",
                  absl::StrJoin(trends, "; "), " |\n");
  if (null > 0) {
    double null_cpu = 0;
    int64_t null_rss = 0;
    for (const auto& c : r.null_catch_up) {
      null_cpu = std::max(null_cpu, c.cpu_s_per_m);
      null_rss = std::max(null_rss, c.peak_rss_bytes);
    }
    absl::StrAppend(
        &md, absl::StrFormat("| null pipeline: the same consume, store writes and transactional "
                             "outputs, no logic (median; runs: %s; %.1f CPU s per 10^6, %s peak) | "
                             "%s — engine at **%.1f%%** |\n",
                             Runs(RatesOf(r.null_catch_up)), null_cpu, Mib(null_rss), Rate(null),
                             100 * engine / null));
  }
  if (raw > 0) {
    absl::StrAppend(&md, "| raw librdkafka consume of the same backlog (limit) | ", Rate(raw),
                    absl::StrFormat(" — engine at %.1f%%", 100 * engine / raw), " |\n");
  }
  if (rocks > 0) {
    absl::StrAppend(&md,
                    absl::StrFormat("| RocksDB batched writes of the engine's shape, %.2f puts "
                                    "per record, no Kafka (limit) | %s — engine at %.1f%% |\n",
                                    r.rocksdb_ops_per_event, Rate(rocks), 100 * engine / rocks));
  }
  absl::StrAppend(&md, absl::StrFormat("| CPU per 10^6 events (worst run) | %.1f s |\n", cpu),
                  absl::StrFormat("| peak RSS (worst run) | %s |\n", Mib(rss)),
                  absl::StrFormat("| bytes on disk per event after compaction | %.0f |\n",
                                  r.bytes_on_disk_per_event));
  if (r.recovery_s) {
    absl::StrAppend(&md, absl::StrFormat("| recovery after kill -9 (to the first committed "
                                         "output of the restarted engine) | %.2f s |\n",
                                         *r.recovery_s));
  } else if (!r.recovery_error.empty()) {
    absl::StrAppend(&md, "| recovery after kill -9 | failed: ", r.recovery_error, " |\n");
  }
  return md;
}

std::string PeersTable(const Results& r) {
  const double engine = MedianCatchUp(r.catch_up);
  std::string md =
      "\n## Peers, same events, same broker\n\n"
      "| peer | catch-up | engine ÷ peer | offered | peer p99 ms | engine p99 ms |\n"
      "|---|---|---|---|---|---|\n";
  for (const auto& p : r.peers) {
    if (!p.error.empty()) {
      absl::StrAppend(&md, "| ", p.name, " | failed: ", p.error, " | | | | |\n");
      continue;
    }
    absl::StrAppend(
        &md, absl::StrFormat("| %s | %s | %.2fx | %s | %s | %s |\n", p.name, Rate(p.events_per_s),
                             p.events_per_s > 0 ? engine / p.events_per_s : 0.0,
                             p.latency ? Rate(p.latency->offered_per_s) : "-",
                             p.latency ? absl::StrFormat("%.1f", p.latency->p99_ms) : "-",
                             p.engine_same ? absl::StrFormat("%.1f", p.engine_same->p99_ms) : "-"));
  }
  return md;
}

// One row of the targets table.
void TargetRow(std::string* md, const std::string& target, const std::string& measured,
               const std::string& verdict) {
  absl::StrAppend(md, "| ", target, " | ", measured, " | ", verdict, " |\n");
}

// The throughput targets: against the baseline, the peers and the null
// pipeline.
void ThroughputTargets(const Results& r, std::string* md) {
  const double engine = MedianCatchUp(r.catch_up);
  const double null = MedianCatchUp(r.null_catch_up);
  constexpr double kBaseline = 23'600;
  TargetRow(md, absl::StrFormat("catch-up ≥ 4x %s = %s", Rate(kBaseline), Rate(4 * kBaseline)),
            Rate(engine), Verdict(engine, 4 * kBaseline, true));
  for (const auto& [name, want] : {std::pair<const char*, double>{"kafka-streams", 2.0},
                                   std::pair<const char*, double>{"postgres", 0.8}}) {
    const PeerResult* p = PeerNamed(r, name);
    const std::string target =
        absl::StrFormat("catch-up ≥ %.1fx the %s peer (same run)", want, name);
    if (p == nullptr) {
      TargetRow(md, target, "not measured", "not measured");
    } else {
      TargetRow(md, target,
                absl::StrFormat("%.2fx (%s vs %s)", engine / p->events_per_s, Rate(engine),
                                Rate(p->events_per_s)),
                Verdict(engine / p->events_per_s, want, true));
    }
  }
  if (null > 0) {
    TargetRow(md, "catch-up ≥ 70% of the null pipeline (same run)",
              absl::StrFormat("%.1f%% (%s vs %s)", 100 * engine / null, Rate(engine), Rate(null)),
              Verdict(engine / null, 0.7, true));
  } else {
    TargetRow(md, "catch-up ≥ 70% of the null pipeline (same run)", "not measured", "not measured");
  }
}

// The latency targets: p99 at a quarter of the catch-up rate, and against
// the kafka-streams peer.
void LatencyTargets(const Results& r, std::string* md) {
  const double engine = MedianCatchUp(r.catch_up);
  const std::string p99_target =
      absl::StrFormat("p99 ≤ 100 ms at 25%% of the catch-up rate (%s)", Rate(engine / 4));
  if (const LatencyRun* l = Nearest(r.latency, engine / 4)) {
    TargetRow(md, p99_target,
              absl::StrFormat("%.1f ms%s", l->p99_ms, l->steady ? "" : " (never caught up)"),
              Verdict(l->p99_ms, 100, false));
  } else {
    TargetRow(md, p99_target, "not measured (--rates without 0.25)", "not measured");
  }
  const PeerResult* ks = PeerNamed(r, "kafka-streams");
  if (ks != nullptr && ks->latency && ks->engine_same) {
    TargetRow(md,
              absl::StrFormat("p99 below the kafka-streams peer's at its half rate (%s)",
                              Rate(ks->latency->offered_per_s)),
              absl::StrFormat("%.1f vs %.1f ms", ks->engine_same->p99_ms, ks->latency->p99_ms),
              Verdict(ks->engine_same->p99_ms, ks->latency->p99_ms, false));
  } else {
    TargetRow(md, "p99 below the kafka-streams peer's at its half rate", "not measured",
              "not measured");
  }
}

// Recovery, and the long run: the trend and the memory of every catch-up
// run, the bytes on disk.
void RecoveryAndLongRunTargets(const Results& r, std::string* md) {
  if (r.recovery_s) {
    TargetRow(md, "recovery after kill -9 ≤ 3 s", absl::StrFormat("%.2f s", *r.recovery_s),
              Verdict(*r.recovery_s, 3, false));
  } else {
    TargetRow(md, "recovery after kill -9 ≤ 3 s",
              r.recovery_error.empty() ? "not measured" : "failed",
              r.recovery_error.empty() ? "not measured" : "missed");
  }
  double worst = 0;
  int64_t rss = 0;
  bool trend = false;
  for (const auto& c : r.catch_up) {
    const Trend t = TrendOf(c);
    if (t.first_tenth_per_s > 0) worst = trend ? std::min(worst, t.ratio()) : t.ratio();
    trend = trend || t.first_tenth_per_s > 0;
    rss = std::max(rss, c.peak_rss_bytes);
  }
  TargetRow(
      md,
      absl::StrFormat("last tenth of a catch-up ≥ 80%% of its first tenth (%d events)", r.events),
      trend ? absl::StrFormat("%.0f%% (worst run)", 100 * worst) : "not measured (runs under 2 s)",
      trend ? Verdict(worst, 0.8, true) : "not measured");
  TargetRow(md, "peak RSS ≤ 1 GiB (worst catch-up run)", Mib(rss),
            Verdict(static_cast<double>(rss), 1 << 30, false));
  TargetRow(md, "bytes on disk per event (after compaction)",
            absl::StrFormat("%.0f", r.bytes_on_disk_per_event), "reported");
}

// The targets of issue 11 (2-core machine, outputs on, --durability=process).
std::string TargetsTable(const Results& r) {
  std::string md = "\n## Targets (issue 11)\n\n| target | measured | verdict |\n|---|---|---|\n";
  ThroughputTargets(r, &md);
  LatencyTargets(r, &md);
  RecoveryAndLongRunTargets(r, &md);
  return md;
}

// A figure of every restore run: its median and the runs.
std::vector<double> RestoreFigure(const RestoreResult& r, double RestoreRun::*field) {
  std::vector<double> v;
  for (const RestoreRun& run : r.runs) v.push_back(run.*field);
  return v;
}

std::string Seconds(const std::vector<double>& v) {
  std::vector<std::string> parts;
  for (double x : v) parts.push_back(absl::StrFormat("%.2f", x));
  return absl::StrJoin(parts, ", ");
}

std::string JsonRestore(const RestoreResult& r) {
  std::vector<std::string> runs;
  for (const RestoreRun& x : r.runs) {
    runs.push_back(absl::StrCat(
        "{\"restored_s\":", Num(x.restored_s), ",\"restore_max_s\":", Num(x.restore_max_s),
        ",\"restore_sum_s\":", Num(x.restore_sum_s), ",\"first_output_s\":", Num(x.first_output_s),
        ",\"caught_up_s\":", Num(x.caught_up_s),
        ",\"kill_to_first_output_s\":", Num(x.kill_to_first_output_s),
        ",\"reapplied_records\":", x.reapplied_records, ",\"applied_records\":", x.applied_records,
        ",\"wipe_s\":", Num(x.wipe_s), ",\"restored_partitions\":", x.restored_partitions, "}"));
  }
  std::vector<std::string> offsets;
  for (int64_t o : r.backup_offsets) offsets.push_back(absl::StrCat(o));
  auto median = [&](double RestoreRun::*f) { return Num(Median(RestoreFigure(r, f))); };
  return absl::StrCat(
      "{\"backlog_records\":", r.backlog_records, ",\"tail_records\":", r.tail_records,
      ",\"probe_records\":", r.probe_records, ",\"drain_s\":", Num(r.drain_s),
      ",\"backup_stop_s\":", Num(r.backup_stop_s), ",\"backup_max_s\":", Num(r.backup_max_s),
      ",\"backup_sum_s\":", Num(r.backup_sum_s), ",\"backups\":", r.backups,
      ",\"backup_dir_bytes\":", r.backup_dir_bytes, ",\"backup_files\":", r.backup_files,
      ",\"store_bytes\":", r.store_bytes, ",\"backup_offsets\":[", absl::StrJoin(offsets, ","),
      "],\"restored_s_median\":", median(&RestoreRun::restored_s),
      ",\"restore_max_s_median\":", median(&RestoreRun::restore_max_s),
      ",\"first_output_s_median\":", median(&RestoreRun::first_output_s),
      ",\"caught_up_s_median\":", median(&RestoreRun::caught_up_s),
      ",\"kill_to_first_output_s_median\":", median(&RestoreRun::kill_to_first_output_s),
      ",\"runs\":[", absl::StrJoin(runs, ","), "],\"incremental_stop_s\":",
      Num(r.incremental_stop_s), ",\"incremental_max_s\":", Num(r.incremental_max_s),
      ",\"backup_dir_bytes_after\":", r.backup_dir_bytes_after,
      ",\"restore_error\":", JsonString(r.error), "}");
}

// "## Restore after a lost host": the backups, then each figure's median
// over the restore runs, with the runs.
std::string RestoreSection(const RestoreResult& r) {
  std::string md =
      "\n## Restore after a lost host\n\n"
      "A `loyaltyd run --backup-dir` applies a backlog and is stopped (SIGTERM: every partition "
      "is revoked and backed up); restarted on the same data directory, it applies a tail of "
      "records that no backup holds, and is killed with -9; its data directory is deleted. A new "
      "`loyaltyd run` with an empty data directory, the same backup directory and the same "
      "instance id restores every partition from its newest backup and re-applies the input "
      "from the backups' offsets (its re-derived outputs are skipped by sequence number); a few "
      "records produced after the kill give it outputs of its own to commit. Times of the new "
      "engine are from its start.\n\n| figure | value |\n|---|---|\n";
  if (!r.error.empty()) absl::StrAppend(&md, "| failed | ", r.error, " |\n");
  int64_t covered = 0;
  for (int64_t o : r.backup_offsets) covered += o;
  absl::StrAppend(
      &md,
      absl::StrFormat("| backlog applied by the first engine (start → all applied) | %d records "
                      "in %.2f s |\n",
                      r.backlog_records, r.drain_s),
      absl::StrFormat("| backups on SIGTERM (to the exit; the partitions in parallel) | %.2f s; "
                      "%d backups, the longest %.2f s, together %.2f s |\n",
                      r.backup_stop_s, r.backups, r.backup_max_s, r.backup_sum_s),
      absl::StrFormat("| backup directory (each file once) | **%s** in %d files (the store it "
                      "copies: %s) |\n",
                      Mib1(r.backup_dir_bytes), r.backup_files, Mib1(r.store_bytes)),
      absl::StrFormat("| newest backups continue from (input offsets, all partitions) | %d |\n",
                      covered));
  if (r.runs.empty()) return md;
  auto row = [&](const char* what, double RestoreRun::*f, bool bold) {
    const std::vector<double> v = RestoreFigure(r, f);
    absl::StrAppend(&md, absl::StrFormat("| %s | %s%.2f s%s (runs: %s) |\n", what,
                                         bold ? "**" : "", Median(v), bold ? "**" : "",
                                         Seconds(v)));
  };
  std::vector<std::string> reapplied, applied;
  for (const RestoreRun& x : r.runs) {
    reapplied.push_back(absl::StrCat(x.reapplied_records));
    applied.push_back(absl::StrCat(x.applied_records));
  }
  absl::StrAppend(&md, "| records re-applied (backups' offsets → the input's end at the kill; "
                       "runs) | ", absl::StrJoin(reapplied, ", "), " |\n");
  absl::StrAppend(&md, "| records applied by the new engine (its \"partition restore done\" "
                       "lines: the re-applied and those after the kill; runs) | ",
                  absl::StrJoin(applied, ", "), " |\n");
  row("stores restored (to the last partition's \"restored from a backup\", median)",
      &RestoreRun::restored_s, true);
  row("the longest partition's restore (copy, verify, open; its log line)",
      &RestoreRun::restore_max_s, false);
  row("first committed output of the new engine (median)", &RestoreRun::first_output_s, true);
  row("caught up: all input applied (median)", &RestoreRun::caught_up_s, true);
  row("the kill -9 → first committed output of the new engine (the data directory's deletion "
      "and the records after the kill included)",
      &RestoreRun::kill_to_first_output_s, false);
  if (r.incremental_stop_s > 0) {
    absl::StrAppend(
        &md, absl::StrFormat("| the last restored engine's stop (SIGTERM: incremental backups; "
                             "the longest partition) | %.2f s (%.2f s); the backup directory "
                             "then %s |\n",
                             r.incremental_stop_s, r.incremental_max_s,
                             Mib1(r.backup_dir_bytes_after)));
  }
  return md;
}

}  // namespace

std::string RenderJson(const Results& r) {
  const double engine = MedianCatchUp(r.catch_up);
  const double null = MedianCatchUp(r.null_catch_up);
  std::string out = absl::StrCat(
      "{\"started_utc\":", JsonString(r.started_utc), ",\"seed\":", r.seed,
      ",\"events\":", r.events, ",\"members\":", r.members,
      ",\"zipf_exponent\":", Num(r.zipf_exponent), ",\"records\":", r.records,
      ",\"partitions\":", r.partitions, ",\"workers\":", r.workers,
      ",\"batch_records_max\":", r.batch_records_max,
      ",\"commit_interval_ms\":", r.commit_interval_ms,
      ",\"batch_wait_ms\":", r.batch_wait_ms, ",\"members_cached\":", r.members_cached,
      ",\"block_cache_mb\":", r.block_cache_mb, ",\"memtable_mb\":", r.memtable_mb,
      ",\"runs\":", r.runs,
      ",\"quick\":", r.quick ? "true" : "false", ",\"machine\":", JsonString(r.machine),
      ",\"produce_per_s\":", Num(r.produce_per_s), ",\"shape\":", JsonShape(r.shape));
  absl::StrAppend(&out, ",\"limits\":{\"raw_consume_per_s\":", JsonNumbers(r.raw_consume_per_s),
                  ",\"rocksdb_write_events_per_s\":", JsonNumbers(r.rocksdb_write_per_s),
                  ",\"rocksdb_ops_per_event\":", Num(r.rocksdb_ops_per_event), "}");
  absl::StrAppend(&out, ",\"engine\":{\"catch_up\":", JsonCatchUp(r.catch_up),
                  ",\"catch_up_median_per_s\":", Num(engine),
                  ",\"latency\":", JsonLatencies(r.latency),
                  ",\"bytes_on_disk_per_event\":", Num(r.bytes_on_disk_per_event),
                  ",\"recovery_s\":", r.recovery_s ? Num(*r.recovery_s) : "null",
                  ",\"recovery_error\":", JsonString(r.recovery_error), "}");
  absl::StrAppend(&out, ",\"engine_machine\":{\"catch_up\":", JsonCatchUp(r.catch_up_machine),
                  ",\"latency\":", JsonLatencies(r.latency_machine), "}");
  // After the engine's: a reader taking the first "cpu_s_per_million" gets the engine's.
  absl::StrAppend(&out, ",\"null_pipeline\":{\"catch_up\":", JsonCatchUp(r.null_catch_up),
                  ",\"null_catch_up_median_per_s\":", Num(null),
                  ",\"engine_over_null\":", Num(null > 0 ? engine / null : 0),
                  ",\"batch_records_max\":", r.null_batch_records_max,
                  ",\"null_shape\":", JsonShape(r.null_shape), "}");
  std::vector<std::string> peers;
  for (const auto& p : r.peers) {
    peers.push_back(absl::StrCat(
        "{\"name\":", JsonString(p.name), ",\"events_per_s\":", Num(p.events_per_s),
        ",\"latency\":", p.latency ? JsonLatency(*p.latency) : "null",
        ",\"engine_at_same_rate\":", p.engine_same ? JsonLatency(*p.engine_same) : "null",
        ",\"error\":", JsonString(p.error), "}"));
  }
  absl::StrAppend(&out, ",\"peers\":[", absl::StrJoin(peers, ","), "]");
  absl::StrAppend(&out, ",\"restore\":", r.restore ? JsonRestore(*r.restore) : "null", "}\n");
  return out;
}

std::string RenderMarkdown(const Results& r) {
  std::string md = absl::StrCat(
      "# loyalty-bench results\n\n",
      absl::StrFormat("Started %s UTC on %s. Seed %d; %d events (%d Kafka records with ticks) "
                      "over %d members, Zipf s=%.2f; %d partitions, %d workers, batches up to %d "
                      "records or %d ms of waiting, a transaction per partition at most every "
                      "%d ms; %d member records cached per partition, %d MiB of block cache, "
                      "%d MiB of memtables; %d run(s) per figure%s.\n\n",
                      r.started_utc, r.machine, r.seed, r.events, r.records, r.members,
                      r.zipf_exponent, r.partitions, r.workers, r.batch_records_max,
                      r.batch_wait_ms, r.commit_interval_ms, r.members_cached, r.block_cache_mb,
                      r.memtable_mb, r.runs,
                      r.quick ? " (quick variant: sizes too small for conclusions)" : ""));
  // A restore-only run (--restore=only) has no catch-up: no engine table
  // and no targets.
  const bool engine = !r.catch_up.empty();
  if (engine) {
    absl::StrAppend(&md, "## Engine: exactly-once outputs on, --durability=process\n\n",
                    EngineTable(r));
  }
  if (r.shape.records > 0) absl::StrAppend(&md, ShapeTables(r));
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
    absl::StrAppend(&md, LatencyStagesTable(r.latency));
  }
  if (!r.catch_up_machine.empty() || !r.latency_machine.empty()) {
    std::vector<double> m = RatesOf(r.catch_up_machine);
    absl::StrAppend(&md, "\n## Engine: --durability=machine (WAL fsynced before outputs)\n\n",
                    "catch-up throughput (median): **", Rate(Median(m)), "** (runs: ", Runs(m),
                    ")\n\n");
    if (!r.latency_machine.empty()) absl::StrAppend(&md, latency_table(r.latency_machine));
  }
  if (!r.peers.empty()) absl::StrAppend(&md, PeersTable(r));
  if (r.restore) absl::StrAppend(&md, RestoreSection(*r.restore));
  if (engine) absl::StrAppend(&md, TargetsTable(r));
  return md;
}

namespace {

// Records committed per second in every catch-up run: the engine's (both
// durabilities) and the null pipeline's, dashed.
std::string CatchUpChart(const Results& r) {
  static const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                  "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  std::vector<svg::Series> series;
  auto add = [&](const std::string& name, const CatchUpRun& run, bool dashed) {
    svg::Series s{name, kColors[series.size() % std::size(kColors)], {}, dashed};
    for (double per_s : run.per_second) s.values.push_back(std::llround(per_s));
    series.push_back(std::move(s));
  };
  for (size_t i = 0; i < r.catch_up.size(); ++i) {
    add(absl::StrCat("engine, process, run ", i + 1), r.catch_up[i], false);
  }
  for (size_t i = 0; i < r.catch_up_machine.size(); ++i) {
    add(absl::StrCat("engine, machine, run ", i + 1), r.catch_up_machine[i], false);
  }
  for (size_t i = 0; i < r.null_catch_up.size(); ++i) {
    add(absl::StrCat("null pipeline, run ", i + 1), r.null_catch_up[i], true);
  }
  return svg::LineChart("Catch-up: records committed per second", series,
                        "seconds since the first commit", {0, " records/s"});
}

// p50, p99 and p99.9 of every latency run (the engine's, then the peers'),
// in tenths of a millisecond.
std::string LatencyChart(const Results& r) {
  std::vector<LatencyRun> runs = r.latency;
  runs.insert(runs.end(), r.latency_machine.begin(), r.latency_machine.end());
  for (const auto& p : r.peers) {
    if (p.latency) runs.push_back(*p.latency);
  }
  std::vector<std::string> labels;
  svg::Series p50{"p50", "#2ca02c", {}}, p99{"p99", "#ff7f0e", {}}, p999{"p99.9", "#d62728", {}};
  for (const auto& l : runs) {
    labels.push_back(absl::StrCat(l.who, " @ ", Rate(l.offered_per_s)));
    p50.values.push_back(std::llround(l.p50_ms * 10));
    p99.values.push_back(std::llround(l.p99_ms * 10));
    p999.values.push_back(std::llround(l.p999_ms * 10));
  }
  return svg::BarChart("Latency percentiles by offered rate (ms)", labels, {p50, p99, p999},
                       {1, " ms"});
}

}  // namespace

std::string RenderHtml(const Results& r) {
  return absl::StrCat(
      "<!doctype html><html><head><meta charset='utf-8'><title>loyalty-bench</title>"
      "<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}\n",
      svg::kChartCss, "</style></head><body><h1>loyalty-bench</h1>\n", CatchUpChart(r),
      LatencyChart(r), "<h2>Summary</h2><pre>", HtmlEscape(RenderMarkdown(r)),
      "</pre></body></html>\n");
}

}  // namespace loyalty::bench
