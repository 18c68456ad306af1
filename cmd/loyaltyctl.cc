// loyaltyctl: inspect and audit a Loyalty Ledger data directory and its
// Kafka topics.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "cmd/explain_draw.h"
#include "cmd/flags.h"
#include "cmd/kafka_flags.h"
#include "cmd/log_flags.h"
#include "cmd/loyaltyctl_backup.h"
#include "cmd/loyaltyctl_kafka.h"
#include "cmd/version.h"
#include "connectors/kafka/kafka.h"
#include "engine/audit/audit.h"
#include "engine/base/status.h"
#include "engine/base/time.h"
#include "engine/program/program.h"
#include "engine/report/report.h"
#include "engine/store/store.h"

namespace {

constexpr char kUsage[] = R"(loyaltyctl: inspect and audit a Loyalty Ledger data directory and its topics

Usage:
  loyaltyctl --data-dir=DIR balance MEMBER [--program-id=ID]
  loyaltyctl --data-dir=DIR history MEMBER [--program-id=ID]
  loyaltyctl --data-dir=DIR dump
  loyaltyctl --data-dir=DIR verify
  loyaltyctl --data-dir=DIR checkpoint OUT_DIR
  loyaltyctl --data-dir=DIR --backup-dir=DIR backup [--partition=P] [--backups-kept=N]
  loyaltyctl --backup-dir=DIR backups [--partition=P] [--format=text|json]
  loyaltyctl --data-dir=DIR --backup-dir=DIR restore [--partition=P [--backup-id=N]] [--force]
  loyaltyctl --data-dir=DIR report --program=PATH [--program-id=ID] [--format=text|json]
             [--as-of=RFC3339] [--chart=FILE.html]
  loyaltyctl --brokers=HOST:PORT create-topics [--partitions=N] [--replication-factor=N]
             [--min-insync-replicas=M]
  loyaltyctl --brokers=HOST:PORT produce FILE.jsonl
  loyaltyctl --brokers=HOST:PORT tick --now=RFC3339 --program=PATH
  loyaltyctl --brokers=HOST:PORT tail TOPIC [-f] [-n N] [--from=beginning|end]
             [--partition=P] [--type=T]
  loyaltyctl --brokers=HOST:PORT status [--data-dir=DIR] [--group=ID] [--format=text|json]
  loyaltyctl --program=PATH explain-draw (--event=JSON | --events=FILE --event-id=ID)
             [--data-dir=DIR]

Commands:
  balance MEMBER   the member's state (proto3 JSON, proto field names)
  history MEMBER   the member's ledger entries, one JSON object per line
  dump             every member's state, one JSON object per line, in
                   partition then (program, member) order
  verify           recompute every member from its ledger entries and check
                   the ledger invariants; exit status 1 on any mismatch
  checkpoint OUT   a RocksDB checkpoint of every partition store into
                   OUT/p-NNNN (OUT must not exist, or be empty): a data
                   directory of its own (verify, loyaltyd run/replay continue
                   from it). Hard links where OUT is on the same filesystem.
                   Works while the engine runs: each store is copied through
                   a read-only handle, and copied again if the engine flushed
                   or compacted it meanwhile; each partition is consistent at
                   its own moment (docs/operations.md, "Tools")
  backup           an incremental backup of every partition store of
                   --data-dir (or --partition's) into --backup-dir/p-NNNN,
                   as loyaltyd run --backup-dir takes them (RocksDB
                   BackupEngine, table files shared between backups);
                   works while the engine runs (a read-only copy, like
                   checkpoint); prunes to --backups-kept (default 8)
  backups          list the backups of --backup-dir: partition, id, when,
                   the input offset and output seq it continues from, size,
                   files, who took it, and the program versions applied
  restore          restore each partition's newest backup (the one with the
                   largest offset; or --backup-id of --partition) into
                   --data-dir/p-NNNN, replacing what is there; refuses a
                   store an engine holds, and one ahead of the backup unless
                   --force. loyaltyd run then re-applies the input from the
                   backup's offset; its outputs were published already and
                   are skipped (docs/operations.md, "Backups and restores")
  report           the KPI report of every program of --program (or of
                   --program-id): members, active members, repeat-purchase
                   and churn rates, spend per member, NPS, tiers, points
                   issued/redeemed/expired, breakage, liability by expiry
                   month, points per partner, points per month
                   (docs/report.md defines each figure)
  create-topics    create the input and output topics with N partitions each
                   (default 8; balances compacted), with the names of the
                   --*-topic flags; existing ones are kept (not altered) if
                   their partition count matches
  produce FILE     produce a JSON Lines file to the input topic: events as
                   binary protobuf keyed by member_id, ticks to every
                   partition, lines that are no Event (unchanged) or have no
                   member_id spread by line number (the engine's DLQ takes
                   them)
  tick             produce a Tick at --now to every partition, for each
                   program of --program
  tail TOPIC       print the records of TOPIC, read read_committed (aborted
                   and open transactions never show), one JSON object per
                   line: topic, partition, offset, timestamp (RFC 3339), key,
                   headers (name -> value), value. Values are decoded by the
                   topic: the --events-topic as loyalty.v1.Event, outcomes
                   as Outcome, balances as BalanceUpdate, ledger as
                   LedgerEntry (proto3 JSON), the DLQ as text; a value or
                   key that is not UTF-8 is "value_base64"/"key_base64".
                   Stops at the end of the topic, or after -n records; -f
                   keeps following until SIGINT or SIGTERM
  status           per partition of the input topic: the applied offset
                   (from the stores of --data-dir when given, which works
                   while the engine runs; else the offsets the engine
                   commits to its group every 5 s), the end offset, the lag,
                   the group member that owns it, and the last commit (the
                   timestamp of the partition's last committed outcome)
  explain-draw     for one event, each random reward rule of its program:
                   whether it applies, the draw (0..999999), the threshold
                   (probability_ppm) and the result; with --data-dir also the
                   wins paid to the member that local day against the cap

Options:
  --data-dir=DIR     the ledger's data directory (required by the commands
                     that read the stores; optional for status)
  --program-id=ID    the member's program, when the directory holds several;
                     for report, the one program to report
  --program=PATH     program file or directory; checked when given; required
                     by report
  --format=F         report and status output: text (default) or json (one
                     JSON object)
  --as-of=RFC3339    report: the end of the activity and churn windows
                     (default: the latest effective time in the stores)
  --chart=FILE.html  report: also write a self-contained HTML page of charts
  --brokers=LIST     Kafka bootstrap servers (create-topics, produce, tick,
                     tail, status)
  --events-topic=T   the input topic (default loyalty.events)
  --balances-topic=T, --ledger-topic=T, --outcomes-topic=T, --dlq-topic=T
                     the output topics, for create-topics, tail's decoding
                     and status (default loyalty.balances, loyalty.ledger,
                     loyalty.outcomes, loyalty.dlq)
  --partitions=N     partitions per topic for create-topics (default 8)
  --replication-factor=N
                     create-topics: copies of each partition (default 1);
                     the broker refuses more than it has brokers
  --min-insync-replicas=M
                     create-topics: the topics' min.insync.replicas, at most
                     the replication factor (default: the broker's)
  -f, --follow       tail: keep reading at the end
  -n N, --max-records=N
                     tail: stop after N records
  --from=WHERE       tail: beginning (default) or end (only new records)
  --partition=P      tail: one partition (default all)
  --type=T           tail: decode values as event, outcome, balance, ledger,
                     dlq or raw (default: by the topic's name; raw for a
                     topic that is none of the configured ones)
  --backup-dir=DIR   backup, backups, restore: the backup directory
  --backup-id=N      restore: this backup of --partition (default: newest)
  --force            restore: replace a store that is ahead of the backup
  --group=ID         status: the engine's consumer group (default
                     loyalty-engine)
  --now=RFC3339      the tick's time
  --event=JSON       explain-draw: the event as one JSON line
  --events=FILE      explain-draw: a JSON Lines file to find --event-id in
  --event-id=ID      explain-draw: the event to explain
  -X KEY=VALUE       a librdkafka property for the Kafka commands' clients
                     (repeatable; consumer. or producer. for one side), e.g.
                     -X security.protocol=SASL_SSL (docs/security.md)
  --config=FILE      flags from a file, "name = value" lines and
                     "kafka.<property> = value" lines; a loyaltyd config
                     file works too (its engine-only names are skipped).
                     Flags also come from LOYALTY_<FLAG> variables
                     (precedence: flag, environment, file; loyaltyd --help)
  --log-format=F     logfmt (default) or json, for log lines (librdkafka's)
  --log-level=L      debug, info (default), warn or error
  --version          the version, commit, build type and library versions
  --help             this text

Exit status: 0 on success, 1 on a failed check or an I/O error, 2 on bad usage.
)";

using loyalty::PartitionStore;

int Fail(int code, const std::string& message) {
  std::cerr << "loyaltyctl: " << message << "\n";
  return code;
}

struct Stores {
  std::vector<std::unique_ptr<PartitionStore>> open;
};

absl::StatusOr<Stores> OpenAll(const std::string& data_dir) {
  auto opened = loyalty::OpenDataDir(data_dir);
  if (!opened.ok()) return opened.status();
  Stores stores;
  for (auto& [partition, store] : *opened) stores.open.push_back(std::move(store));
  return stores;
}

// The program of `member_id`: --program-id, or the only program that has it.
absl::StatusOr<std::pair<PartitionStore*, std::string>> FindMember(Stores& stores,
                                                                   const std::string& member_id,
                                                                   const std::string& program_id) {
  std::set<std::string> found_in;
  PartitionStore* where = nullptr;
  std::string program;
  for (auto& store : stores.open) {
    absl::Status s =
        loyalty::ForEachCheckedMember(store.get(), [&](const loyalty::v1::MemberRecord& rec) {
          if (rec.state().member_id() == member_id &&
              (program_id.empty() || rec.state().program_id() == program_id)) {
            found_in.insert(rec.state().program_id());
            where = store.get();
            program = rec.state().program_id();
          }
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
  }
  if (found_in.empty()) return absl::NotFoundError(absl::StrCat("no member \"", member_id, "\""));
  if (found_in.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("member \"", member_id, "\" is in several programs; pass --program-id"));
  }
  return std::make_pair(where, program);
}

// report: the KPI report (engine/report/report.h).
int ReportCommand(const loyalty::Flags& flags, const std::vector<std::string>& args) {
  if (args.size() != 1) return Fail(2, "report takes no arguments");
  auto data_dir = flags.Require("data-dir");
  if (!data_dir.ok()) return Fail(2, std::string(data_dir.status().message()));
  auto program_path = flags.Require("program");
  if (!program_path.ok()) return Fail(2, std::string(program_path.status().message()));
  const std::string format = flags.Get("format", "text");
  if (format != "text" && format != "json") {
    return Fail(2, absl::StrCat("--format must be text or json, not \"", format, "\""));
  }
  loyalty::ReportOptions options;
  options.program_id = flags.Get("program-id");
  if (flags.Has("as-of")) {
    auto as_of = loyalty::ParseRfc3339(flags.Get("as-of"));
    if (!as_of.ok()) return Fail(2, absl::StrCat("--as-of: ", as_of.status().message()));
    options.as_of_ns = *as_of;
  }
  if (isatty(STDERR_FILENO)) {
    options.progress = [](const loyalty::ReportProgress& p) {
      std::cerr << "report: " << p.partition_path << " (" << p.partitions_done << "/"
                << p.partitions_total << "): " << p.members << " members, " << p.ledger_entries
                << " ledger entries\n";
    };
  }
  auto programs = loyalty::LoadPrograms(*program_path);
  if (!programs.ok()) return Fail(1, std::string(programs.status().message()));
  if (!options.program_id.empty() && programs->Find(options.program_id) == nullptr) {
    return Fail(2, absl::StrCat("--program-id: no program \"", options.program_id, "\" in ",
                                *program_path));
  }
  auto report = loyalty::BuildReport(*data_dir, *programs, options);
  if (!report.ok()) return Fail(1, std::string(report.status().message()));
  if (flags.Has("chart")) {
    const std::string chart = flags.Get("chart");
    std::ofstream out(chart, std::ios::binary | std::ios::trunc);
    if (out) out << loyalty::FormatReportChartHtml(*report);
    out.close();
    if (!out) {
      return Fail(1, absl::StrCat(chart, ": cannot write the chart: ", std::strerror(errno)));
    }
    std::cerr << "report: chart written to " << chart << "\n";
  }
  std::cout << (format == "json" ? loyalty::FormatReportJson(*report)
                                 : loyalty::FormatReportText(*report));
  std::cout.flush();
  return std::cout ? 0 : Fail(1, "cannot write the report to stdout");
}

// --replication-factor and --min-insync-replicas, checked.
absl::StatusOr<loyalty::TopicOptions> TopicOptionsFromFlags(const loyalty::Flags& flags) {
  loyalty::TopicOptions options;
  auto rf = flags.GetInt("replication-factor", 1);
  if (!rf.ok()) return rf.status();
  auto isr = flags.GetInt("min-insync-replicas", 0);
  if (!isr.ok()) return isr.status();
  if (flags.Has("min-insync-replicas") && *isr < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--min-insync-replicas must be at least 1, not ", *isr));
  }
  if (*rf < INT32_MIN || *rf > INT32_MAX || *isr > INT32_MAX) {
    return absl::InvalidArgumentError("--replication-factor and --min-insync-replicas are small numbers");
  }
  options.replication_factor = static_cast<int>(*rf);
  options.min_insync_replicas = static_cast<int>(*isr);
  LOYALTY_RETURN_IF_ERROR(options.Check());
  return options;
}

// create-topics, produce, tick: the commands that talk to Kafka.
int KafkaCommand(const loyalty::Flags& flags, const std::vector<std::string>& args) {
  const std::string& command = args[0];
  auto brokers = flags.Require("brokers");
  if (!brokers.ok()) return Fail(2, std::string(brokers.status().message()));
  auto cluster = loyalty::ClusterFromFlags(flags, *brokers);
  if (!cluster.ok()) return Fail(2, std::string(cluster.status().message()));
  const loyalty::Topics topics = loyalty::TopicsFromFlags(flags);
  if (command == "create-topics") {
    auto partitions = flags.GetIntIn("partitions", 8, 1, 10'000);
    if (!partitions.ok()) return Fail(2, std::string(partitions.status().message()));
    auto topic_options = TopicOptionsFromFlags(flags);
    if (!topic_options.ok()) return Fail(2, std::string(topic_options.status().message()));
    absl::Status s = loyalty::EnsureTopics(*cluster, topics, static_cast<int>(*partitions), 30'000,
                                           *topic_options);
    if (!s.ok()) return Fail(1, std::string(s.message()));
    std::cout << "topics ready: " << topics.events;
    for (const auto& t : topics.outputs()) std::cout << ", " << t;
    std::cout << " (" << *partitions << " partitions each, replication factor "
              << topic_options->replication_factor;
    if (topic_options->min_insync_replicas > 0) {
      std::cout << ", min.insync.replicas " << topic_options->min_insync_replicas;
    }
    std::cout << ")\n";
    return 0;
  }
  loyalty::ProduceOptions options;
  options.brokers = *cluster;
  options.topic = topics.events;
  options.progress = isatty(STDERR_FILENO);
  absl::StatusOr<loyalty::ProduceStats> stats;
  if (command == "produce") {
    if (args.size() != 2) return Fail(2, "produce takes one FILE.jsonl");
    options.path = args[1];
    stats = loyalty::ProduceFile(options);
  } else {  // tick
    if (args.size() != 1) return Fail(2, "tick takes no arguments");
    auto now = flags.Require("now");
    auto program = flags.Require("program");
    if (!now.ok() || !program.ok()) {
      return Fail(2, std::string((!now.ok() ? now : program).status().message()));
    }
    auto ns = loyalty::ParseRfc3339(*now);
    if (!ns.ok()) return Fail(2, absl::StrCat("--now: ", ns.status().message()));
    auto programs = loyalty::LoadPrograms(*program);
    if (!programs.ok()) return Fail(1, std::string(programs.status().message()));
    std::vector<std::string> lines;
    const std::string when = loyalty::FormatRfc3339(*ns);
    for (const std::string& id : programs->ids()) {
      lines.push_back(absl::StrCat("{\"event_id\":\"tick-", when, "-", id, "\",\"program_id\":\"",
                                   id, "\",\"occurred_at\":\"", when, "\",\"tick\":{\"now\":\"",
                                   when, "\"}}"));
    }
    stats = loyalty::ProduceLines(options, lines);
  }
  if (!stats.ok()) return Fail(1, std::string(stats.status().message()));
  std::cerr << command << ": " << stats->lines << " lines: " << stats->events
            << " events keyed by member, " << stats->ticks << " ticks to every partition, "
            << stats->unkeyed << " lines without a member key (for the DLQ); " << stats->records
            << " records delivered to " << options.topic << "\n";
  return 0;
}

int ExplainDrawCommand(const loyalty::Flags& flags) {
  if (flags.positional().size() != 1) return Fail(2, "explain-draw takes no arguments");
  auto program_path = flags.Require("program");
  if (!program_path.ok()) return Fail(2, std::string(program_path.status().message()));
  std::string line = flags.Get("event");
  if (line.empty()) {
    if (!flags.Has("events") || !flags.Has("event-id")) {
      return Fail(2, "explain-draw needs --event=JSON, or --events=FILE with --event-id=ID");
    }
    auto found = loyalty::FindEventLine(flags.Get("events"), flags.Get("event-id"));
    if (!found.ok()) return Fail(1, std::string(found.status().message()));
    line = *found;
  }
  auto programs = loyalty::LoadPrograms(*program_path);
  if (!programs.ok()) return Fail(1, std::string(programs.status().message()));
  auto text = loyalty::ExplainDraw(*programs, line, flags.Get("data-dir"));
  if (!text.ok()) return Fail(1, std::string(text.status().message()));
  std::cout << *text;
  return 0;
}

// balance and history: one member, found in whichever store holds it.
int MemberCommand(const loyalty::Flags& flags, const std::string& command,
                  const std::string& member_id, Stores& stores) {
  auto found = FindMember(stores, member_id, flags.Get("program-id"));
  if (!found.ok()) return Fail(1, std::string(found.status().message()));
  auto [store, program] = *found;
  const loyalty::MemberRef member{loyalty::ProgramId(program), loyalty::MemberId(member_id)};
  if (command == "balance") {
    loyalty::v1::MemberRecord rec;
    auto found_record = loyalty::GetCheckedMember(store, member, &rec);
    if (!found_record.ok()) return Fail(1, std::string(found_record.status().message()));
    if (!*found_record) return Fail(1, "member vanished while reading");
    std::cout << loyalty::ToJson(rec.state()) << "\n";
    return 0;
  }
  // The journal is in sequence order, not by member: a scan of it.
  absl::Status s = store->ForEachEntryOf(member, [](const loyalty::v1::LedgerEntry& e) {
    std::cout << loyalty::ToJson(e) << "\n";
    return absl::OkStatus();
  });
  return s.ok() ? 0 : Fail(1, std::string(s.message()));
}

int DumpCommand(Stores& stores) {
  for (auto& store : stores.open) {
    absl::Status s =
        loyalty::ForEachCheckedMember(store.get(), [](const loyalty::v1::MemberRecord& rec) {
          std::cout << loyalty::ToJson(rec.state()) << "\n";
          return absl::OkStatus();
        });
    if (!s.ok()) return Fail(1, std::string(s.message()));
  }
  return 0;
}

int VerifyCommand(Stores& stores) {
  int64_t problems = 0;
  for (auto& store : stores.open) {
    auto report = loyalty::VerifyStore(store.get());
    if (!report.ok()) return Fail(1, std::string(report.status().message()));
    for (const std::string& p : report->problems) std::cout << "MISMATCH " << p << "\n";
    if (report->problems_total > static_cast<int64_t>(report->problems.size())) {
      std::cout << "... and " << report->problems_total - report->problems.size() << " more\n";
    }
    std::cerr << "verify: " << store->path() << ": " << report->members << " members, "
              << report->entries << " ledger entries, "
              << (report->ok() ? "OK" : absl::StrCat(report->problems_total, " problems")) << "\n";
    problems += report->problems_total;
  }
  if (problems > 0) {
    std::cout << "verify FAILED: " << problems << " problems\n";
    return 1;
  }
  std::cout << "verify OK\n";
  return 0;
}

// checkpoint OUT_DIR: every partition store copied (engine/store's
// CheckpointDataDir says how, and why it may run beside the engine).
int CheckpointCommand(const loyalty::Flags& flags, const std::vector<std::string>& args) {
  if (args.size() != 2) return Fail(2, "checkpoint takes one OUT_DIR");
  auto data_dir = flags.Require("data-dir");
  if (!data_dir.ok()) return Fail(2, std::string(data_dir.status().message()));
  auto done = loyalty::CheckpointDataDir(*data_dir, args[1]);
  if (!done.ok()) return Fail(1, std::string(done.status().message()));
  for (const loyalty::PartitionCheckpoint& c : *done) {
    std::cout << c.dir << ": next offset " << c.next_offset << ", next output seq " << c.next_seq
              << (c.store_in_use ? absl::StrCat(" (copied while in use, ", c.attempts,
                                                c.attempts == 1 ? " copy)" : " copies)")
                                 : "")
              << "\n";
  }
  std::cout << "checkpoint of " << done->size() << " partition" << (done->size() == 1 ? "" : "s")
            << " written to " << args[1] << "\n";
  return 0;
}

// balance, history, dump and verify: the commands that read the stores.
int StoreCommand(const loyalty::Flags& flags, const std::vector<std::string>& args) {
  const std::string& command = args[0];
  auto data_dir = flags.Require("data-dir");
  if (!data_dir.ok()) return Fail(2, std::string(data_dir.status().message()));
  if (flags.Has("program")) {
    auto programs = loyalty::LoadPrograms(flags.Get("program"));
    if (!programs.ok()) return Fail(1, std::string(programs.status().message()));
  }
  const bool needs_member = command == "balance" || command == "history";
  if (args.size() != (needs_member ? 2u : 1u)) {
    return Fail(2, needs_member ? absl::StrCat(command, " takes one MEMBER")
                                : absl::StrCat(command, " takes no arguments"));
  }
  auto stores = OpenAll(*data_dir);
  if (!stores.ok()) return Fail(1, std::string(stores.status().message()));
  if (needs_member) return MemberCommand(flags, command, args[1], *stores);
  if (command == "dump") return DumpCommand(*stores);
  return VerifyCommand(*stores);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--version") {
      std::cout << loyalty::VersionText("loyaltyctl");
      return 0;
    }
  }
  std::vector<std::string> expanded = loyalty::ExpandTailShortOptions(argc, argv);
  std::vector<char*> args_v;
  for (std::string& a : expanded) args_v.push_back(a.data());
  auto flags = loyalty::Flags::Parse(
      static_cast<int>(args_v.size()), args_v.data(), 1,
      {"data-dir",     "program-id",     "program",      "brokers",
       "events-topic", "balances-topic", "ledger-topic", "outcomes-topic",
       "dlq-topic",    "partitions",     "now",          "event",
       "events",       "event-id",       "format",       "as-of",
       "chart",        "log-format",     "log-level",    "help",
       "follow",       "max-records",    "from",         "partition",
       "type",         "group",          "replication-factor", "min-insync-replicas",
       "backup-dir",   "backup-id",      "backups-kept", "force"},
      {"help", "follow", "force"}, loyalty::EngineRunFlags());
  if (!flags.ok()) return Fail(2, std::string(flags.status().message()));
  if (absl::Status s = loyalty::ConfigureLogFromFlags(*flags); !s.ok()) {
    return Fail(2, std::string(s.message()));
  }
  if (flags->Has("help") || argc < 2) {
    (flags->Has("help") ? std::cout : std::cerr) << kUsage;
    return flags->Has("help") ? 0 : 2;
  }
  const auto& args = flags->positional();
  if (args.empty()) return Fail(2, "no command (see --help)");
  const std::string& command = args[0];
  if (command == "create-topics" || command == "produce" || command == "tick") {
    return KafkaCommand(*flags, args);
  }
  if (command == "tail") return loyalty::TailCommand(*flags, args);
  if (command == "status") return loyalty::StatusCommand(*flags, args);
  if (command == "checkpoint") return CheckpointCommand(*flags, args);
  if (command == "backup") return loyalty::BackupCommand(*flags, args);
  if (command == "backups") return loyalty::BackupsCommand(*flags, args);
  if (command == "restore") return loyalty::RestoreCommand(*flags, args);
  if (command == "report") return ReportCommand(*flags, args);
  if (command == "explain-draw") return ExplainDrawCommand(*flags);
  const std::set<std::string> commands = {"balance", "history", "dump", "verify"};
  if (commands.count(command) == 0) {
    return Fail(2, absl::StrCat("unknown command \"", command, "\" (see --help)"));
  }
  return StoreCommand(*flags, args);
}
