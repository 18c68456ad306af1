#include "cmd/version.h"

#include <google/protobuf/stubs/common.h>
#include <librdkafka/rdkafka.h>
#include <rocksdb/version.h>

#include "absl/strings/str_cat.h"

namespace loyalty {

absl::string_view EngineVersion() { return LOYALTY_VERSION; }
absl::string_view GitCommit() { return LOYALTY_GIT_COMMIT; }

std::string VersionText(absl::string_view binary) {
  return absl::StrCat(binary, " ", EngineVersion(), " (commit ", GitCommit(), ", ",
                      LOYALTY_BUILD_TYPE, " build)\nlibrdkafka ", rd_kafka_version_str(),
                      ", RocksDB ", rocksdb::GetRocksVersionAsString(), ", protobuf ",
                      google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION), "\n");
}

}  // namespace loyalty
