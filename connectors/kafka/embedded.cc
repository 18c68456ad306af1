#include "connectors/kafka/embedded.h"

#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must follow rdkafka.h.
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "connectors/kafka/client.h"
#include "engine/base/status.h"

namespace loyalty {

absl::StatusOr<std::unique_ptr<EmbeddedKafka>> EmbeddedKafka::Start(const Options& options) {
  if (options.brokers < 1 || options.brokers > 16) {
    return absl::InvalidArgumentError("EmbeddedKafka: brokers must be in [1, 16]");
  }
  auto kafka = std::unique_ptr<EmbeddedKafka>(new EmbeddedKafka());
  // The cluster hangs off a client handle: test.mock.num.brokers makes
  // librdkafka start it with the handle (which then talks to it, harmlessly:
  // it never produces).
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [name, value] :
       {std::pair<const char*, std::string>{"client.id", "loyalty-embedded-kafka"},
        {"test.mock.num.brokers", std::to_string(options.brokers)}}) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InternalError(absl::StrCat("EmbeddedKafka: ", name, ": ", err));
    }
  }
  // Its notices (such as "Mock cluster enabled") are librdkafka's info level.
  kafka_internal::ConfigureLogging(conf);
  kafka->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (kafka->rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::UnavailableError(absl::StrCat("EmbeddedKafka: ", err));
  }
  kafka->cluster_ = rd_kafka_handle_mock_cluster(kafka->rk_);
  if (kafka->cluster_ == nullptr) {
    return absl::UnavailableError("EmbeddedKafka: librdkafka could not start its mock cluster");
  }
  kafka->bootstrap_servers_ = rd_kafka_mock_cluster_bootstraps(kafka->cluster_);
  return kafka;
}

EmbeddedKafka::~EmbeddedKafka() {
  // The cluster belongs to the handle and goes with it.
  if (rk_ != nullptr) rd_kafka_destroy(rk_);
}

absl::Status EmbeddedKafka::CreateTopic(const std::string& topic, int partitions) {
  if (partitions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("EmbeddedKafka: topic ", topic, ": partitions must be >= 1"));
  }
  rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    return absl::UnavailableError(
        absl::StrCat("EmbeddedKafka: creating topic ", topic, ": ", rd_kafka_err2str(e)));
  }
  return absl::OkStatus();
}

absl::Status EmbeddedKafka::CreateTopics(const Topics& topics, int partitions) {
  LOYALTY_RETURN_IF_ERROR(CreateTopic(topics.events, partitions));
  for (const std::string& topic : topics.outputs()) {
    LOYALTY_RETURN_IF_ERROR(CreateTopic(topic, partitions));
  }
  return absl::OkStatus();
}

}  // namespace loyalty
