// File: cmd/demo.h
// `loyaltyd demo`: a self-contained tour of the engine. It starts the
// embedded broker (connectors/kafka/embedded.h, librdkafka's mock cluster),
// creates the topics, loads the café program (programs/cafe.textproto,
// compiled into the binary), generates a seeded coffee-shop stream (members
// buying coffees and pastries in EUR, reviews, redemptions, refunds, a VIP
// plan, a few resent and a few bad events, a tick every night), produces it,
// runs the Kafka engine in-process until every record is applied, and prints
// a summary a person can read: what was sent, what the engine did with it
// (from its output topics), members, tiers, points, the top members and one
// member's history, and an audit of the stores.
//
//   DemoOptions options;                  // everything has a default
//   LOYALTY_RETURN_IF_ERROR(RunDemo(options));
//
// The same seed gives the same stream, so the same summary. The embedded
// broker keeps nothing and does not filter aborted transactions: the demo
// shows the engine working, it is no evidence of exactly-once delivery.
//
// Thread-compatible; one demo per process at a time.
#ifndef LOYALTY_CMD_DEMO_H_
#define LOYALTY_CMD_DEMO_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"

namespace loyalty {

struct DemoOptions {
  // Program file or directory. The stream names the program "cafe" if the
  // set has it, else the first program, and uses its currency. Default:
  // empty, the café compiled into the binary.
  std::string program_path;
  // Where the partition stores go. It must not hold a ledger already (the
  // embedded broker starts empty, so stored offsets would not match).
  // Default: empty, a temporary directory removed at the end.
  std::string data_dir;
  // Seed of the generated stream. Default: 1.
  uint64_t seed = 1;
  // Members of the café. Default: 300.
  int members = 300;
  // Days of trading, from Monday 2025-03-03. Default: 42 (six weeks).
  int days = 42;
  // Visits on a weekday (weekends: two thirds). Default: 120.
  int visits_per_day = 120;
  // Partitions of every topic. Default: 4.
  int partitions = 4;
  // Engine worker threads. Default: 2.
  int workers = 2;
  // Give up if the engine has not applied everything by then.
  // Default: 120 s.
  int timeout_ms = 120'000;
  // Where the story and the summary go. Default: stdout.
  FILE* out = stdout;
};

// Runs the demo. Errors: InvalidArgument for bad options or a bad program,
// FailedPrecondition for a data_dir that holds a ledger, Unavailable for
// broker failures, DeadlineExceeded after timeout_ms.
absl::Status RunDemo(const DemoOptions& options);

}  // namespace loyalty

#endif  // LOYALTY_CMD_DEMO_H_
