#include "cmd/loyaltyctl_backup.h"

#include <unistd.h>

#include <iostream>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "cmd/version.h"
#include "engine/store/backup.h"
#include "engine/store/store.h"
#include "google/protobuf/util/json_util.h"

namespace loyalty {
namespace {

int Fail(int code, const std::string& message) {
  std::cerr << "loyaltyctl: " << message << "\n";
  return code;
}

std::string Mib(uint64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

// The partitions a command works on: --partition, or `all`.
absl::StatusOr<std::vector<int32_t>> Partitions(const Flags& flags,
                                                const std::vector<int32_t>& all) {
  if (!flags.Has("partition")) return all;
  auto p = flags.GetIntIn("partition", 0, 0, 1'000'000);
  if (!p.ok()) return p.status();
  return std::vector<int32_t>{static_cast<int32_t>(*p)};
}

std::string Host() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "unknown";
  return host;
}

}  // namespace

int BackupCommand(const Flags& flags, const std::vector<std::string>& args) {
  if (args.size() != 1) return Fail(2, "backup takes no arguments");
  auto data_dir = flags.Require("data-dir");
  if (!data_dir.ok()) return Fail(2, std::string(data_dir.status().message()));
  BackupOptions options;
  auto backup_dir = flags.Require("backup-dir");
  if (!backup_dir.ok()) return Fail(2, std::string(backup_dir.status().message()));
  options.backup_dir = *backup_dir;
  auto kept = flags.GetIntIn("backups-kept", options.backups_kept, 1, 10'000);
  if (!kept.ok()) return Fail(2, std::string(kept.status().message()));
  options.backups_kept = static_cast<int>(*kept);
  options.taken_by = "loyaltyctl@" + Host();
  options.engine_version = std::string(EngineVersion());
  auto all = ListPartitions(*data_dir);
  if (!all.ok()) return Fail(1, std::string(all.status().message()));
  auto partitions = Partitions(flags, *all);
  if (!partitions.ok()) return Fail(2, std::string(partitions.status().message()));
  if (partitions->empty()) return Fail(1, *data_dir + ": no partition stores (p-NNNN)");
  for (int32_t p : *partitions) {
    // Its own staging name: an engine backing up the same store uses
    // .backup-p-NNNN.
    const std::string staging = absl::StrCat(*data_dir, "/.ctl-backup",
                                             PartitionDir("", p).substr(1));
    auto b = BackupPartitionDir(PartitionDir(*data_dir, p), p, staging, options);
    if (!b.ok()) return Fail(1, std::string(b.status().message()));
    std::cout << PartitionBackupDir(options.backup_dir, p) << ": backup " << b->id
              << ", next offset " << b->meta.next_offset() << ", next output seq "
              << b->meta.next_seq() << ", " << Mib(b->size_bytes) << " in " << b->files
              << " files\n";
  }
  std::cout << "backed up " << partitions->size() << " partition"
            << (partitions->size() == 1 ? "" : "s") << " into " << options.backup_dir << "\n";
  return 0;
}

int BackupsCommand(const Flags& flags, const std::vector<std::string>& args) {
  if (args.size() != 1) return Fail(2, "backups takes no arguments");
  auto backup_dir = flags.Require("backup-dir");
  if (!backup_dir.ok()) return Fail(2, std::string(backup_dir.status().message()));
  const std::string format = flags.Get("format", "text");
  if (format != "text" && format != "json") return Fail(2, "--format must be text or json");
  auto all = ListBackedUpPartitions(*backup_dir);
  if (!all.ok()) return Fail(1, std::string(all.status().message()));
  auto partitions = Partitions(flags, *all);
  if (!partitions.ok()) return Fail(2, std::string(partitions.status().message()));
  if (format == "text") {
    std::cout << absl::StrFormat("%-9s %5s  %-20s %12s %12s %10s %5s  %s\n", "partition", "id",
                                 "taken (UTC)", "next_offset", "next_seq", "size", "files",
                                 "taken by");
  }
  int64_t listed = 0;
  for (int32_t p : *partitions) {
    auto list = ListBackups(*backup_dir, p);
    if (!list.ok()) return Fail(1, std::string(list.status().message()));
    for (const BackupInfo& b : *list) {
      ++listed;
      const std::string taken = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                                 absl::FromUnixSeconds(b.created_unix_s),
                                                 absl::UTCTimeZone());
      if (format == "json") {
        std::string meta;
        google::protobuf::util::JsonPrintOptions print;
        print.always_print_primitive_fields = true;
        print.preserve_proto_field_names = true;
        if (!google::protobuf::util::MessageToJsonString(b.meta, &meta, print).ok()) meta = "{}";
        std::cout << "{\"partition\":" << p << ",\"id\":" << b.id << ",\"taken\":\"" << taken
                  << "\",\"size_bytes\":" << b.size_bytes << ",\"files\":" << b.files
                  << ",\"metadata\":" << meta << "}\n";
        continue;
      }
      std::cout << absl::StrFormat("%-9d %5d  %-20s %12d %12d %10s %5d  %s\n", p, b.id, taken,
                                   b.meta.next_offset(), b.meta.next_seq(), Mib(b.size_bytes),
                                   b.files, b.meta.taken_by());
      for (const auto& v : b.meta.program_versions()) {
        std::cout << "          program " << v.program_id() << " version " << v.version()
                  << (v.effective_from().empty() ? "" : " from " + v.effective_from())
                  << " sha256 " << v.hash().substr(0, 16) << "\n";
      }
    }
  }
  if (format == "text" && listed == 0) std::cout << "(no backups in " << *backup_dir << ")\n";
  return 0;
}

int RestoreCommand(const Flags& flags, const std::vector<std::string>& args) {
  if (args.size() != 1) return Fail(2, "restore takes no arguments");
  auto data_dir = flags.Require("data-dir");
  if (!data_dir.ok()) return Fail(2, std::string(data_dir.status().message()));
  auto backup_dir = flags.Require("backup-dir");
  if (!backup_dir.ok()) return Fail(2, std::string(backup_dir.status().message()));
  auto id = flags.GetIntIn("backup-id", 1, 1, UINT32_MAX);
  if (!id.ok()) return Fail(2, std::string(id.status().message()));
  if (flags.Has("backup-id") && !flags.Has("partition")) {
    return Fail(2, "--backup-id needs --partition (ids are per partition)");
  }
  auto all = ListBackedUpPartitions(*backup_dir);
  if (!all.ok()) return Fail(1, std::string(all.status().message()));
  auto partitions = Partitions(flags, *all);
  if (!partitions.ok()) return Fail(2, std::string(partitions.status().message()));
  if (partitions->empty()) return Fail(1, *backup_dir + ": no backups (p-NNNN)");
  for (int32_t p : *partitions) {
    const std::string dir = PartitionDir(*data_dir, p);
    const uint32_t wanted = flags.Has("backup-id") ? static_cast<uint32_t>(*id) : 0;
    std::optional<BackupInfo> chosen;
    if (wanted == 0) {
      auto newest = NewestBackup(*backup_dir, p);
      if (!newest.ok()) return Fail(1, std::string(newest.status().message()));
      chosen = *newest;
    } else {
      auto list = ListBackups(*backup_dir, p);
      if (!list.ok()) return Fail(1, std::string(list.status().message()));
      for (const BackupInfo& b : *list) {
        if (b.id == wanted) chosen = b;
      }
    }
    if (!chosen.has_value()) {
      return Fail(1, absl::StrCat(PartitionBackupDir(*backup_dir, p), ": partition ", p,
                                  wanted == 0 ? " has no backup" : " has no backup " + std::to_string(wanted)));
    }
    // The store must not be in use, and is replaced only if it is not
    // ahead of the backup, or when told to.
    {
      std::optional<int64_t> current;
      StoreOptions o;
      o.create_if_missing = false;
      auto store = PartitionStore::Open(dir, o);
      if (store.ok()) {
        auto next = (*store)->GetNextOffset();
        if (next.ok()) current = *next;
      } else if (absl::StrContains(store.status().message(), "lock")) {
        return Fail(1, absl::StrCat(dir, ": in use (an engine holds it); stop it first"));
      }
      if (current.has_value() && *current > chosen->meta.next_offset() && !flags.Has("force")) {
        return Fail(1, absl::StrCat(dir, " has applied the input up to offset ", *current,
                                    ", ahead of backup ", chosen->id, " (offset ",
                                    chosen->meta.next_offset(),
                                    "); an engine would re-apply from there: pass --force to "
                                    "replace it anyway"));
      }
    }
    auto r = RestorePartition(*backup_dir, p, chosen->id, dir);
    if (!r.ok()) return Fail(1, std::string(r.status().message()));
    std::cout << dir << ": restored backup " << r->id << ", next offset "
              << r->meta.next_offset() << ", next output seq " << r->meta.next_seq() << "\n";
  }
  std::cout << "restored " << partitions->size() << " partition"
            << (partitions->size() == 1 ? "" : "s") << " into " << *data_dir
            << "; loyaltyd run re-applies the input from each backup's offset\n";
  return 0;
}

}  // namespace loyalty
