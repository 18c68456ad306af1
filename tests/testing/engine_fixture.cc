#include "tests/testing/engine_fixture.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "connectors/file/replay.h"
#include "engine/apply/validate.h"
#include "engine/audit/audit.h"
#include "tests/testing/event_gen.h"
#include "tests/testing/output_check.h"
#include "tests/testing/store_hash.h"
#include "tests/testing/test_env.h"

namespace loyalty::testing {

KafkaBroker* EngineTest::broker_ = nullptr;

void ForEachStore(const std::string& data_dir,
                  const std::function<void(int32_t, PartitionStore*)>& fn) {
  auto partitions = ListPartitions(data_dir);
  EXPECT_TRUE(partitions.ok()) << partitions.status();
  if (!partitions.ok()) return;
  for (int32_t p : *partitions) {
    auto store = OpenPartitionReadOnly(PartitionDir(data_dir, p));
    EXPECT_TRUE(store.ok()) << store.status();
    if (store.ok()) fn(p, store->get());
  }
}

namespace {

// partition -> (next offset, directory) of the most advanced store.
std::map<int32_t, std::pair<int64_t, std::string>> Advanced(const std::vector<std::string>& dirs,
                                                            bool expect_readable) {
  std::map<int32_t, std::pair<int64_t, std::string>> best;
  for (const std::string& dir : dirs) {
    auto partitions = ListPartitions(dir);
    if (!partitions.ok()) continue;  // a wiped host
    for (int32_t p : *partitions) {
      auto store = OpenPartitionReadOnly(PartitionDir(dir, p));
      if (expect_readable) {
        EXPECT_TRUE(store.ok()) << store.status();
      }
      if (!store.ok()) continue;
      auto next = (*store)->GetNextOffset();
      if (!next.ok()) continue;
      auto it = best.find(p);
      if (it == best.end() || *next > it->second.first) best[p] = {*next, dir};
    }
  }
  return best;
}

}  // namespace

std::map<int32_t, std::string> MostAdvancedStores(const std::vector<std::string>& data_dirs) {
  std::map<int32_t, std::string> out;
  for (const auto& [p, best] : Advanced(data_dirs, /*expect_readable=*/true)) out[p] = best.second;
  return out;
}

States ReadStates(const std::vector<std::string>& data_dirs) {
  const std::map<int32_t, std::string> chosen = MostAdvancedStores(data_dirs);
  States out;
  for (const std::string& dir : data_dirs) {
    if (!std::filesystem::exists(dir)) continue;
    ForEachStore(dir, [&](int32_t p, PartitionStore* store) {
      auto report = VerifyStore(store);
      EXPECT_TRUE(report.ok() && report->ok()) << "verify failed in " << store->path();
      if (chosen.at(p) != dir) return;
      EXPECT_TRUE(store
                      ->ForEachMember([&](const loyalty::v1::MemberRecord& rec) {
                        const auto& st = rec.state();
                        EXPECT_TRUE(
                            out.emplace(st.program_id() + "/" + st.member_id(), ToJson(st)).second)
                            << st.member_id() << " is in two partitions";
                        return absl::OkStatus();
                      })
                      .ok());
    });
  }
  return out;
}

StoreFacts ReadStoreFacts(const std::vector<std::string>& data_dirs) {
  StoreFacts f;
  for (const auto& [p, dir] : MostAdvancedStores(data_dirs)) {
    auto store = OpenPartitionReadOnly(PartitionDir(dir, p));
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) continue;
    auto meta = (*store)->ReadMeta({});
    EXPECT_TRUE(meta.ok()) << meta.status();
    const int64_t next_seq = meta.ok() ? meta->next_seq : 1;
    if (next_seq > 1) f.last_seq[p] = next_seq - 1;
    EXPECT_TRUE((*store)
                    ->ForEachMember([&](const loyalty::v1::MemberRecord& rec) {
                      const auto& st = rec.state();
                      if (st.version() > 0) {
                        f.version[st.program_id() + "/" + st.member_id()] = st.version();
                      }
                      if (rec.next_entry_seq() > 1) {
                        f.last_entry[st.program_id() + "/" + st.member_id()] =
                            rec.next_entry_seq() - 1;
                      }
                      return absl::OkStatus();
                    })
                    .ok());
  }
  return f;
}

int64_t StoredOffsets(const std::vector<std::string>& data_dirs) {
  int64_t sum = 0;
  for (const auto& [p, best] : Advanced(data_dirs, /*expect_readable=*/false)) {
    sum += best.first;
  }
  return sum;
}

void EngineTest::StartBroker(int port) {
  broker_ = new KafkaBroker(static_cast<int>(EnvInt("LOYALTY_TEST_KAFKA_PORT", port)));
  absl::Status s = broker_->Start();
  ASSERT_TRUE(s.ok()) << "the real Kafka broker is required: " << s;
}

void EngineTest::TearDownTestSuite() {
  delete broker_;
  broker_ = nullptr;
}

void EngineTest::SetUp() {
  ASSERT_NE(broker_, nullptr);
  const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  root_ = MakeTempDir(name);
  programs_ = WriteAndLoadTestPrograms(root_);
  topics_.events = name + ".events";
  topics_.balances = name + ".balances";
  topics_.ledger = name + ".ledger";
  topics_.outcomes = name + ".outcomes";
  topics_.dlq = name + ".dlq";
  ASSERT_TRUE(EnsureTopics(broker_->brokers(), topics_, partitions_, 30'000).ok());
}

void EngineTest::TearDown() { std::filesystem::remove_all(root_); }

std::vector<std::string> EngineTest::MakeStream(uint64_t seed, int64_t events) {
  GeneratorOptions g;
  g.seed = seed;
  g.events = events;
  g.members = 400;
  g.tick_every = 700;
  GeneratedStream stream = GenerateStream(g);
  std::vector<std::string> lines = std::move(stream.lines);
  WriteLines(root_ + "/events.jsonl", lines);
  if (versioned_cafe_) {
    // The version restates the program with its earn rate doubled and a
    // reward added, from the middle line's time on.
    std::smatch at;
    const std::regex occurred("\"occurred_at\":\"([^\"]+)\"");
    for (size_t i = lines.size() / 2; i < lines.size() && cafe_version_from_.empty(); ++i) {
      if (std::regex_search(lines[i], at, occurred)) cafe_version_from_ = at[1].str();
    }
    EXPECT_FALSE(cafe_version_from_.empty());
    std::string v2 = CafeProgramText();
    const std::string earn = "earn { points: 1 per_minor: 100 }";
    EXPECT_NE(v2.find(earn), std::string::npos);
    v2.replace(v2.find(earn), earn.size(),
               "earn { points: 2 per_minor: 100 }\n"
               "    rewards { reward_id: \"v2-only\" cost_points: 5 }");
    std::ofstream(root_ + "/cafe.textproto")
        << CafeProgramText() << "\nversions {\n  version: \"2\"\n  effective_from: \""
        << cafe_version_from_ << "\"\n  program {\n" << v2 << "\n  }\n}\n";
    auto loaded = LoadPrograms(root_);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    if (loaded.ok()) programs_ = std::move(*loaded);
  }
  ReplayOptions r;
  r.data_dir = root_ + "/replay";
  r.events_path = root_ + "/events.jsonl";
  r.dlq_path = root_ + "/replay-dlq.jsonl";
  EXPECT_TRUE(RunReplay(programs_, r).ok());
  // DLQ records expected on Kafka: one per bad line, except that a bad
  // Tick is sent to every partition and rejected by each.
  bad_by_reason_.clear();
  std::ifstream dlq(r.dlq_path);
  const std::regex line_reason(R"re("line":"?(\d+)"?,"reason":"([A-Z_]+)")re");
  int64_t total = 0;
  for (std::string l; std::getline(dlq, l);) {
    std::smatch m;
    if (!std::regex_search(l, m, line_reason)) {
      ADD_FAILURE() << "unexpected replay DLQ line " << l;
      continue;
    }
    loyalty::v1::Event e;
    const std::string& text = lines.at(std::stoul(m[1].str()) - 1);
    const Rejection decoded = DecodeEvent(text, InputFormat::kJson, &e);
    const bool tick = (decoded.ok() || decoded.reason == loyalty::v1::OVERSIZED) && e.has_tick();
    bad_by_reason_[m[2].str()] += tick ? partitions_ : 1;
    ++total;
  }
  EXPECT_EQ(total, stream.bad_lines);
  return lines;
}

int64_t EngineTest::Produce(const std::vector<std::string>& lines, size_t from, size_t to) {
  ProduceOptions o;
  o.brokers = broker_->brokers();
  o.topic = topics_.events;
  auto stats = ProduceLines(o, std::vector<std::string>(lines.begin() + from, lines.begin() + to));
  EXPECT_TRUE(stats.ok()) << stats.status();
  return stats.ok() ? stats->records : 0;
}

int64_t EngineTest::EndOffsetTotal() {
  auto ends = EndOffsets(broker_->brokers(), topics_.events, 10'000);
  EXPECT_TRUE(ends.ok()) << ends.status();
  int64_t total = 0;
  if (ends.ok()) {
    for (int64_t e : *ends) total += e;
  }
  return total;
}

std::vector<std::string> EngineTest::LoyaltydArgs(const std::vector<std::string>& extra) const {
  const char* bin = std::getenv("LOYALTY_BINARY_DIR");
  std::vector<std::string> args = {std::string(bin != nullptr ? bin : ".") + "/cmd/loyaltyd",
                                   "run",
                                   "--quiet",
                                   "--brokers=" + broker_->brokers(),
                                   "--program=" + root_,
                                   "--events-topic=" + topics_.events,
                                   "--balances-topic=" + topics_.balances,
                                   "--ledger-topic=" + topics_.ledger,
                                   "--outcomes-topic=" + topics_.outcomes,
                                   "--dlq-topic=" + topics_.dlq,
                                   "--group=" + topics_.events + ".group",
                                   "--session-timeout-ms=6000"};
  bool data_dir = false;
  for (const std::string& e : extra) data_dir |= e.rfind("--data-dir=", 0) == 0;
  if (!data_dir) args.push_back("--data-dir=" + root_ + "/data");
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

void EngineTest::ExpectOutputsExactlyOnce(const std::vector<std::string>& data_dirs, bool ledger) {
  auto check = CheckOutputs(broker_->brokers(), topics_);
  ASSERT_TRUE(check.ok()) << check.status();
  for (const std::string& p : check->problems) ADD_FAILURE() << p;
  const StoreFacts facts = ReadStoreFacts(data_dirs);
  EXPECT_EQ(check->last_seq, facts.last_seq) << "output records not published";
  EXPECT_EQ(check->last_version, facts.version) << "balances behind the stores";
  EXPECT_EQ(check->last_entry, facts.last_entry) << "ledger entries behind the stores";
  EXPECT_GT(check->entries, 0);
  EXPECT_EQ(check->dlq_by_reason, bad_by_reason_);
  EXPECT_EQ(check->records[topics_.ledger], ledger ? check->entries : 0);
}

void EngineTest::ExpectExactlyOnce(const std::vector<std::string>& data_dirs, bool ledger) {
  EXPECT_EQ(ReadStates(data_dirs), ReadStates(root_ + "/replay"));
  ExpectOutputsExactlyOnce(data_dirs, ledger);
}

}  // namespace loyalty::testing
