#include "tests/testing/kafka_broker.h"

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "connectors/kafka/client.h"
#include "engine/base/status.h"
#include "tests/testing/store_hash.h"

namespace loyalty::testing {

KafkaBroker::KafkaBroker(int port) : port_(port), dir_(MakeTempDir(absl::StrCat("kafka-", port))) {}

KafkaBroker::~KafkaBroker() {
  (void)Stop();
  std::filesystem::remove_all(dir_);
}

std::string KafkaBroker::brokers() const { return absl::StrCat("127.0.0.1:", port_); }

absl::Status KafkaBroker::Script(const std::string& command) {
  const char* src = std::getenv("LOYALTY_SOURCE_DIR");
  const std::string cmd = absl::StrCat(src != nullptr ? src : ".", "/deploy/kafka/kafka.sh ",
                                       command, " --port=", port_, " --dir=", dir_);
  int rc = std::system(cmd.c_str());
  if (rc != 0) return absl::UnavailableError(absl::StrCat("`", cmd, "` failed (", rc, ")"));
  return absl::OkStatus();
}

absl::Status KafkaBroker::Start() {
  if (started_) return Script("start");  // a restart keeps the port its clients know
  LOYALTY_RETURN_IF_ERROR(Script("start --find-port"));
  std::ifstream in(dir_ + "/port");
  int port = 0;
  if (!(in >> port) || port <= 0) {
    return absl::InternalError(absl::StrCat(dir_, "/port: kafka.sh did not write the port"));
  }
  port_ = port;
  started_ = true;
  return absl::OkStatus();
}
absl::Status KafkaBroker::Stop() { return Script("stop"); }

absl::StatusOr<std::map<int, std::vector<std::string>>> ReadTopic(
    const std::string& brokers, const std::string& topic,
    std::map<int, std::vector<std::string>>* keys) {
  ReadToEndOptions options;
  options.brokers = brokers;
  options.topics = {topic};
  options.group_id = "loyalty-test-reader";
  std::map<int, std::vector<std::string>> out;
  LOYALTY_RETURN_IF_ERROR(
      ReadToEnd(options, [&](const rd_kafka_message_t& m) {
        out[m.partition].emplace_back(static_cast<const char*>(m.payload), m.len);
        if (keys != nullptr) {
          (*keys)[m.partition].emplace_back(static_cast<const char*>(m.key), m.key_len);
        }
      }).status());
  return out;
}

}  // namespace loyalty::testing
