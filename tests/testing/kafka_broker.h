// File: tests/testing/kafka_broker.h
// A real Apache Kafka broker for tests, started and stopped through the
// project's script (deploy/kafka/kafka.sh). Tests that claim Kafka behaviour
// use it; they never skip: if the broker cannot start, Start fails loudly.
#ifndef LOYALTY_TESTS_TESTING_KAFKA_BROKER_H_
#define LOYALTY_TESTS_TESTING_KAFKA_BROKER_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace loyalty::testing {

class KafkaBroker {
 public:
  // A broker on 127.0.0.1 with its log in a fresh temporary directory. The
  // first Start() takes `port` (controller on port + 1), or the first free
  // pair of port + 10, port + 20, ... when another run holds it; brokers()
  // names the one taken, and a restart keeps it.
  explicit KafkaBroker(int port);
  ~KafkaBroker();  // stops the broker and removes its directory

  absl::Status Start();
  absl::Status Stop();
  std::string brokers() const;

 private:
  absl::Status Script(const std::string& command);

  int port_;
  bool started_ = false;
  std::string dir_;
};

// Reads every record of every partition of `topic` up to its end
// (read_committed; ReadToEnd of connectors/kafka/client.h, within its default
// 60 s): partition -> values (and keys, when `keys` is given).
absl::StatusOr<std::map<int, std::vector<std::string>>> ReadTopic(
    const std::string& brokers, const std::string& topic,
    std::map<int, std::vector<std::string>>* keys = nullptr);

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_KAFKA_BROKER_H_
