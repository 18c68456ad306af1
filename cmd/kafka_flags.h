// File: cmd/kafka_flags.h
// The topic flags that loyaltyd and loyaltyctl share: --events-topic and
// the output topic flags over the SPEC §2 defaults.
#ifndef LOYALTY_CMD_KAFKA_FLAGS_H_
#define LOYALTY_CMD_KAFKA_FLAGS_H_

#include "connectors/kafka/kafka.h"
#include "cmd/flags.h"

namespace loyalty {

inline Topics TopicsFromFlags(const Flags& flags) {
  Topics t;
  t.events = flags.Get("events-topic", t.events);
  t.balances = flags.Get("balances-topic", t.balances);
  t.ledger = flags.Get("ledger-topic", t.ledger);
  t.outcomes = flags.Get("outcomes-topic", t.outcomes);
  t.dlq = flags.Get("dlq-topic", t.dlq);
  return t;
}

}  // namespace loyalty

#endif  // LOYALTY_CMD_KAFKA_FLAGS_H_
