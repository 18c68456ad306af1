// File: bench/workload.h
// The SPEC §9 benchmark workload, generated deterministically from a seed:
// 70% purchases with 1-5 line items, 20% engagements, 5% redemptions, 3%
// refunds, 2% adjustments, a tick to every partition every `tick_every`
// events, members Zipf-distributed over `members` ids (scrambled, so that
// the hot members spread over the partitions), and bad records at
// `bad_permille`. Records are binary loyalty.v1.Event keyed by member_id,
// as commerce systems publish them.
//
//   Workload w(WorkloadOptions{.seed = 7, .events = 1'000'000});
//   WorkloadRecord r;
//   while (w.Next(&r)) Produce(r);
//
// The same options give the same records, byte for byte.
#ifndef LOYALTY_BENCH_WORKLOAD_H_
#define LOYALTY_BENCH_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tests/testing/rng.h"

namespace loyalty::bench {

struct WorkloadOptions {
  uint64_t seed = 1;
  // Events (ticks not counted). Default: 10^7, as SPEC §9.
  int64_t events = 10'000'000;
  // Distinct member ids the Zipf draw ranges over. Default: 10^6.
  int64_t members = 1'000'000;
  // Zipf exponent; 0.99 is YCSB's. Default: 0.99.
  double zipf_exponent = 0.99;
  // Bad records per thousand events (undecodable bytes, unknown program,
  // missing member, negative amount), for the DLQ. Default: 10 (1%).
  int bad_permille = 10;
  // A tick to every partition after this many events (0: none).
  // Default: 10,000.
  int64_t tick_every = 10'000;
  // Input partitions (ticks go to each). Default: 8.
  int partitions = 8;
  // Program of every event; the café of programs/cafe.textproto.
  std::string program_id = "cafe";
  // Event time of the first event (Unix seconds) and its step per event.
  // Default: 2026-03-02T08:00:00Z, 1 s.
  int64_t start_unix_s = 1772438400;
  int64_t step_ms = 1000;
};

struct WorkloadRecord {
  std::string key;         // member_id; empty for ticks
  std::string value;       // binary loyalty.v1.Event (or garbage, if bad)
  int32_t partition = -1;  // -1: by key (the producer's partitioner); else this one
};

class Workload {
 public:
  explicit Workload(const WorkloadOptions& options);

  // The next record; false once all events (and their ticks) are out.
  bool Next(WorkloadRecord* record);

  // Kafka records the whole workload produces: events + ticks x partitions.
  int64_t total_records() const;

 private:
  std::string Member();
  void NextEvent(WorkloadRecord* record);

  WorkloadOptions options_;
  testing::Rng rng_;
  std::vector<double> zipf_cdf_;
  int64_t events_done_ = 0;
  int pending_ticks_ = 0;  // partitions still to get the current tick
  struct Order {
    std::string member;
    std::string order_id;
    int64_t amount_minor;
  };
  std::vector<Order> recent_orders_;  // ring for refunds
  size_t recent_next_ = 0;
};

}  // namespace loyalty::bench

#endif  // LOYALTY_BENCH_WORKLOAD_H_
