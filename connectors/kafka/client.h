// File: connectors/kafka/client.h
// Internal to connectors/kafka: owning librdkafka handles and error
// conversion shared by the producer, the engine and the publisher.
#ifndef LOYALTY_CONNECTORS_KAFKA_CLIENT_H_
#define LOYALTY_CONNECTORS_KAFKA_CLIENT_H_

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace loyalty::kafka_internal {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

using Settings = std::vector<std::pair<std::string, std::string>>;

// A client of `type` with `settings` (name, value); `on_delivery` is the
// producer's per-message delivery callback, if any.
absl::StatusOr<KafkaHandle> NewClient(rd_kafka_type_t type, const Settings& settings,
                                      void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*,
                                                          void*) = nullptr);

// OK for RD_KAFKA_RESP_ERR_NO_ERROR, else Unavailable naming `what`.
absl::Status FromKafka(rd_kafka_resp_err_t err, absl::string_view what);

}  // namespace loyalty::kafka_internal

#endif  // LOYALTY_CONNECTORS_KAFKA_CLIENT_H_
