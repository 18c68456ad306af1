#include "cmd/demo_outputs.h"

#include <librdkafka/rdkafka.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "connectors/kafka/client.h"
#include "engine/base/status.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty::demo_internal {

using loyalty::v1::Outcome;

absl::StatusOr<OutputCounts> ReadOutputs(const std::string& brokers, const Topics& topics,
                                         int partitions) {
  OutputCounts c;
  for (const std::string& topic : topics.outputs()) c.records[topic] = 0;
  Outcome outcome;
  ReadToEndOptions reader;
  reader.brokers = brokers;
  reader.topics = topics.outputs();
  reader.partitions = partitions;
  reader.group_id = "loyalty-demo-reader";
  reader.timeout_ms = 30'000;
  LOYALTY_RETURN_IF_ERROR(
      ReadToEnd(reader, [&](const rd_kafka_message_t& m) {
        const std::string topic = rd_kafka_topic_name(m.rkt);
        c.records[topic]++;
        if (topic == topics.outcomes) {
          if (!outcome.ParseFromArray(m.payload, static_cast<int>(m.len))) {
            c.outcome_status["(not an Outcome)"]++;
            return;
          }
          for (const auto& change : outcome.tier_changes()) c.tier_changes[change.cause()]++;
          if (outcome.reason() == Outcome::Reason_Name(Outcome::MATURED)) {
            c.matured++;
            return;
          }
          c.outcome_status[Outcome::Status_Name(outcome.status())]++;
          if (outcome.member_id().empty()) c.tick_outcomes++;
          for (const auto& r : outcome.issued_rewards()) {
            c.issued_by_rule[absl::StrCat(
                absl::AsciiStrToLower(loyalty::v1::IssuedReward::Source_Name(r.source())),
                r.rule_id().empty() ? "" : " ", r.rule_id())] += r.count();
          }
          if (outcome.status() == Outcome::IGNORED) c.ignored[outcome.reason()]++;
          if (outcome.status() == Outcome::REJECTED) c.refused[outcome.reason()]++;
        } else if (topic == topics.dlq) {
          // The value is the rejected bytes untouched; the reason is a header
          // (connectors/kafka/publisher.h).
          rd_kafka_headers_t* headers = nullptr;
          const void* value = nullptr;
          size_t size = 0;
          std::string reason = "?";
          if (rd_kafka_message_headers(&m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
              rd_kafka_header_get_last(headers, "loyalty.reason", &value, &size) ==
                  RD_KAFKA_RESP_ERR_NO_ERROR) {
            reason.assign(static_cast<const char*>(value), size);
          }
          c.dlq[reason]++;
        }
      }).status());
  return c;
}

}  // namespace loyalty::demo_internal
