#include "tests/testing/kafka_broker.h"

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "connectors/kafka/kafka.h"
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
  LOYALTY_ASSIGN_OR_RETURN(int partitions, PartitionCount(brokers, topic, 30'000));
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (auto [k, v] : std::map<std::string, std::string>{{"bootstrap.servers", brokers},
                                                        {"group.id", "loyalty-test-reader"},
                                                        {"enable.partition.eof", "true"},
                                                        {"enable.auto.commit", "false"},
                                                        {"isolation.level", "read_committed"}}) {
    LOYALTY_CHECK(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) ==
                  RD_KAFKA_CONF_OK)
        << err;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (rk == nullptr) return absl::InternalError(err);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::map<int, std::vector<std::string>> out;
  int at_end = 0;
  absl::Status status;
  for (int idle = 0; at_end < partitions && idle < 600;) {  // at most 60 s without records
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) {
      ++idle;
      continue;
    }
    idle = 0;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++at_end;
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = absl::UnavailableError(rd_kafka_message_errstr(m));
    } else {
      out[m->partition].emplace_back(static_cast<const char*>(m->payload), m->len);
      if (keys != nullptr) {
        (*keys)[m->partition].emplace_back(static_cast<const char*>(m->key), m->key_len);
      }
    }
    rd_kafka_message_destroy(m);
    if (!status.ok()) break;
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  LOYALTY_RETURN_IF_ERROR(status);
  if (at_end < partitions) return absl::DeadlineExceededError("reading " + topic + " stalled");
  return out;
}

}  // namespace loyalty::testing
