// File: cmd/version.h
// What `--version` prints for every binary: the engine's version, the git
// commit it was built from, the build type, and the versions of the
// libraries that decide its behaviour (librdkafka, RocksDB, protobuf).
#ifndef LOYALTY_CMD_VERSION_H_
#define LOYALTY_CMD_VERSION_H_

#include <string>

#include "absl/strings/string_view.h"

namespace loyalty {

// The project version ("0.1.0").
absl::string_view EngineVersion();
// The commit, "unknown" when built outside a git checkout; "+dirty" marks
// uncommitted changes at configure time.
absl::string_view GitCommit();

// "loyaltyd 0.1.0 (commit 3d83c37, RelWithDebInfo)\nlibrdkafka 2.0.2, ..."
std::string VersionText(absl::string_view binary);

}  // namespace loyalty

#endif  // LOYALTY_CMD_VERSION_H_
