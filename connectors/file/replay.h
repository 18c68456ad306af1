// File: connectors/file/replay.h
// `loyaltyd replay`: the apply path fed from a JSON Lines file, offset = line
// number, so a re-run applies nothing new.
//
// The store records its input source (engine/store/store.h, InputSource):
// for a file, the length and SHA-256 of the prefix applied so far. A run
// continues the recorded file if the given file starts with those bytes
// (the same file, perhaps grown longer); a store of a Kafka topic is
// refused; another file is refused unless `continue_with_new_file`, which
// numbers its lines after the last offset applied (line n = offset
// last + n). A store from before sources were recorded adopts the file it
// is given.
#ifndef LOYALTY_CONNECTORS_FILE_REPLAY_H_
#define LOYALTY_CONNECTORS_FILE_REPLAY_H_

#include <cstdint>
#include <map>
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
  // Apply `events_path` after the lines of another file already applied:
  // its line n gets offset (last offset applied) + n. Ignored when the file
  // is the one the store was last fed (a re-run continues it). Default:
  // false (another file is refused).
  bool continue_with_new_file = false;
  // Environment of the store's file I/O (tests inject faults). Default:
  // nullptr, RocksDB's default.
  rocksdb::Env* env = nullptr;
};

struct ReplayStats {
  int64_t lines = 0;    // non-blank lines read
  int64_t applied = 0;  // reached the apply path
  int64_t duplicates = 0;
  int64_t rejected = 0;  // DLQ
  std::map<std::string, int64_t> rejected_by_reason;  // DLQ, by reason code
  int64_t skipped = 0;   // applied by an earlier run
  double seconds = 0;
  int64_t offset_base = 0;  // line n of the file was offset offset_base + n
  // How the file relates to the store's recorded source, when worth saying
  // (a new file continuing another, a source adopted); empty otherwise.
  std::string source_note;
};

absl::StatusOr<ReplayStats> RunReplay(const ProgramSet& programs, const ReplayOptions& options);

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_FILE_REPLAY_H_
