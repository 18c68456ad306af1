// File: connectors/file/replay.h
// `loyaltyd replay`: the apply path fed from a JSON Lines file, offset = line
// number, so a re-run applies nothing new.
#ifndef LOYALTY_CONNECTORS_FILE_REPLAY_H_
#define LOYALTY_CONNECTORS_FILE_REPLAY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/program/program.h"
#include "rocksdb/env.h"

namespace loyalty {

struct ReplayOptions {
  std::string data_dir;       // required
  std::string events_path;    // required: JSON Lines
  std::string dlq_path;       // optional: one JSON object per rejected line
  std::string outcomes_path;  // optional: one Outcome per line (proto3 JSON)
  int32_t partition = 0;      // the store written: <data_dir>/p-NNNN
  // Lines per atomic write. Default: 4096.
  int64_t batch_size = 4096;
  // fsync the WAL with every batch. Default: false.
  bool sync_writes = false;
  // Print progress to stderr (a terminal line refreshed twice a second).
  bool progress = false;
  // Stop after this many lines (for restart tests). Default: no limit.
  int64_t lines_max = INT64_MAX;
  // Environment of the store's file I/O (tests inject faults). Default:
  // nullptr, RocksDB's default.
  rocksdb::Env* env = nullptr;
};

struct ReplayStats {
  int64_t lines = 0;    // non-blank lines read
  int64_t applied = 0;  // reached the apply path
  int64_t duplicates = 0;
  int64_t rejected = 0;  // DLQ
  int64_t skipped = 0;   // applied by an earlier run
  double seconds = 0;
};

absl::StatusOr<ReplayStats> RunReplay(const ProgramSet& programs, const ReplayOptions& options);

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_FILE_REPLAY_H_
