// e2e_bench: end-to-end throughput and latency of one KafkaEngine against a
// real broker (deploy/kafka/kafka.sh), with exactly-once outputs on or off.
//
//   e2e_bench --brokers=127.0.0.1:19792 --events=200000 --partitions=8 --outputs=on
//   e2e_bench --brokers=... --rate=5000 --events=100000     # latency at a fixed rate
//
// Backlog mode (--rate=0): the events are produced first, then the engine
// drains them; throughput counts from the first committed batch to the last,
// so that joining the group is not measured. Rate mode: the engine runs
// first and events are produced at --rate per second; latency is, per
// record, from its Kafka timestamp (set when it was produced) to the moment
// its batch is committed (store written and, with outputs on, the Kafka
// transaction committed), leaving out the first --warmup-s seconds. One line of results on stdout,
// progress on stderr.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "connectors/kafka/engine.h"
#include "connectors/kafka/kafka.h"
#include "engine/cmd/flags.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/store_hash.h"

namespace {

constexpr char kUsage[] = R"(e2e_bench: end-to-end throughput and latency of the Kafka engine

Usage: e2e_bench --brokers=HOST:PORT [options]

  --brokers=LIST     a real Kafka broker (required; deploy/kafka/kafka.sh start)
  --events=N         generated events (default 200000)
  --members=N        distinct members (default 100000)
  --partitions=N     partitions of every topic (default 8)
  --workers=N        engine worker threads (default 2)
  --batch-size=N     records per batch at most (default 4096)
  --outputs=on|off   exactly-once outputs (default on)
  --durability=MODE  process (default) or machine
  --rate=N           produce N events/s while the engine runs and measure
                     latency; 0 (default): drain a pre-produced backlog
  --seed=N           stream seed (default 1)
  --warmup-s=N       rate mode: records produced in the first N seconds are
                     not in the latency figures (default 2)
  --help             this text
)";

int Fail(const std::string& message) {
  std::cerr << "e2e_bench: " << message << "\n";
  return 2;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Percentile(std::vector<int64_t>* v, double q) {
  if (v->empty()) return 0;
  const size_t k = std::min(v->size() - 1, static_cast<size_t>(q * static_cast<double>(v->size())));
  std::nth_element(v->begin(), v->begin() + static_cast<std::ptrdiff_t>(k), v->end());
  return static_cast<double>((*v)[k]);
}

}  // namespace

int main(int argc, char** argv) {
  using loyalty::Flags;
  auto flags = Flags::Parse(argc, argv, 1,
                            {"brokers", "events", "members", "partitions", "workers", "batch-size",
                             "outputs", "durability", "rate", "seed", "warmup-s", "help"},
                            {"help"});
  if (!flags.ok()) return Fail(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  auto brokers = flags->Require("brokers");
  auto events = flags->GetInt("events", 200'000);
  auto members = flags->GetInt("members", 100'000);
  auto partitions = flags->GetInt("partitions", 8);
  auto workers = flags->GetInt("workers", 2);
  auto batch = flags->GetInt("batch-size", 4096);
  auto rate = flags->GetInt("rate", 0);
  auto seed = flags->GetInt("seed", 1);
  for (const absl::Status& s :
       {brokers.status(), events.status(), members.status(), partitions.status(), workers.status(),
        batch.status(), rate.status(), seed.status()}) {
    if (!s.ok()) return Fail(std::string(s.message()));
  }
  const std::string outputs = flags->Get("outputs", "on");
  const std::string durability = flags->Get("durability", "process");
  if (outputs != "on" && outputs != "off") return Fail("--outputs: use on or off");
  if (durability != "process" && durability != "machine") {
    return Fail("--durability: use process or machine");
  }

  const std::string root = loyalty::testing::MakeTempDir("e2e_bench");
  loyalty::ProgramSet programs = loyalty::testing::WriteAndLoadTestPrograms(root);
  loyalty::testing::GeneratorOptions g;
  g.seed = static_cast<uint64_t>(*seed);
  g.events = *events;
  g.members = *members;
  const std::vector<std::string> lines = loyalty::testing::GenerateStream(g).lines;

  loyalty::Topics topics;
  const std::string prefix = absl::StrCat("bench-", getpid(), "-", NowMs());
  topics.events = prefix + ".events";
  topics.balances = prefix + ".balances";
  topics.ledger = prefix + ".ledger";
  topics.outcomes = prefix + ".outcomes";
  topics.dlq = prefix + ".dlq";
  if (absl::Status s =
          loyalty::EnsureTopics(*brokers, topics, static_cast<int>(*partitions), 30'000);
      !s.ok()) {
    return Fail(s.ToString());
  }
  loyalty::ProduceOptions po;
  po.brokers = *brokers;
  po.topic = topics.events;
  auto produce = [&](int64_t per_second) -> absl::StatusOr<loyalty::ProduceStats> {
    auto producer = loyalty::LineProducer::Open(po);
    if (!producer.ok()) return producer.status();
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < lines.size(); ++i) {
      if (per_second > 0 && i % 64 == 0) {
        std::this_thread::sleep_until(
            start + std::chrono::microseconds(static_cast<int64_t>(i) * 1'000'000 / per_second));
      }
      absl::Status s = (*producer)->Add(lines[i], static_cast<int64_t>(i) + 1);
      if (!s.ok()) return s;
    }
    return (*producer)->Finish();
  };

  std::mutex mu;
  std::vector<int64_t> latencies_ms;
  std::atomic<int64_t> committed{0};
  std::atomic<int64_t> measure_from_ms{0};  // records produced before: warm-up
  int64_t first_commit_ms = 0, last_commit_ms = 0;
  loyalty::KafkaEngine::Options o;
  o.brokers = *brokers;
  o.topics = topics;
  o.group_id = prefix + ".group";
  o.data_dir = root + "/data";
  o.workers = static_cast<int>(*workers);
  o.batch_records_max = *batch;
  o.outputs_enabled = outputs == "on";
  o.sync_writes = durability == "machine";
  o.on_committed = [&](int32_t, const std::vector<int64_t>& timestamps) {
    const int64_t now = NowMs();
    std::lock_guard<std::mutex> lock(mu);
    if (first_commit_ms == 0) first_commit_ms = now;
    last_commit_ms = now;
    for (int64_t ts : timestamps) {
      if (ts >= measure_from_ms.load()) latencies_ms.push_back(now - ts);
    }
    committed.fetch_add(static_cast<int64_t>(timestamps.size()));
  };

  int64_t records = 0;
  if (*rate == 0) {
    std::fprintf(stderr, "e2e_bench: producing %zu lines as a backlog\n", lines.size());
    auto stats = produce(0);
    if (!stats.ok()) return Fail(stats.status().ToString());
    records = stats->records;
  }
  auto engine = loyalty::KafkaEngine::Create(&programs, o);
  if (!engine.ok()) return Fail(engine.status().ToString());
  std::atomic<bool> stop{false};
  absl::Status result;
  std::thread runner([&] { result = (*engine)->Run(stop); });
  if (*rate > 0) {
    while ((*engine)->owned_partitions() < *partitions) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::fprintf(stderr, "e2e_bench: producing %zu lines at %lld/s\n", lines.size(),
                 static_cast<long long>(*rate));
    auto warmup = flags->GetInt("warmup-s", 2);
    if (!warmup.ok()) return Fail(std::string(warmup.status().message()));
    measure_from_ms = NowMs() + *warmup * 1000;
    auto stats = produce(*rate);
    if (!stats.ok()) return Fail(stats.status().ToString());
    records = stats->records;
  }
  const bool tty = isatty(STDERR_FILENO) != 0;
  for (int i = 0; committed.load() < records && result.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (tty && i % 5 == 0) {
      std::fprintf(stderr, "\re2e_bench: %lld of %lld records committed   ",
                   static_cast<long long>(committed.load()), static_cast<long long>(records));
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  stop = true;
  runner.join();
  if (!result.ok()) return Fail(result.ToString());
  std::lock_guard<std::mutex> lock(mu);
  const double seconds = std::max<int64_t>(1, last_commit_ms - first_commit_ms) / 1000.0;
  std::printf(
      "mode=%s outputs=%s durability=%s partitions=%lld records=%lld seconds=%.2f "
      "records_per_s=%.0f transactions=%lld p50_ms=%.0f p99_ms=%.0f p999_ms=%.0f\n",
      *rate == 0 ? "backlog" : absl::StrCat("rate-", *rate).c_str(), outputs.c_str(),
      durability.c_str(), static_cast<long long>(*partitions), static_cast<long long>(records),
      seconds, static_cast<double>(records) / seconds,
      static_cast<long long>((*engine)->output_transactions()), Percentile(&latencies_ms, 0.5),
      Percentile(&latencies_ms, 0.99), Percentile(&latencies_ms, 0.999));
  engine->reset();
  std::filesystem::remove_all(root);
  return 0;
}
