// The store module: key layout, the batch's staged writes and read overlay,
// the due index scan, the journal encoding, and the refusal of other schemas.
#include "engine/store/store.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "engine/base/bytes.h"
#include "engine/store/journal.h"
#include "engine/store/keys.h"
#include "gtest/gtest.h"

namespace loyalty {
namespace {

using loyalty::v1::Outcome;

std::string TempDir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/store-test-" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

// A member of the program "cafe".
MemberRef Cafe(absl::string_view member_id) {
  return MemberRef{ProgramId("cafe"), MemberId(member_id)};
}

TEST(KeysTest, RoundTripAndOrder) {
  std::string mk;
  keys::AppendMember(&mk, ProgramId("cafe"), MemberId("m1"));
  absl::string_view program, member;
  ASSERT_TRUE(keys::ParseMember(mk, &program, &member));
  EXPECT_EQ(program, "cafe");
  EXPECT_EQ(member, "m1");
  // "m1"'s keys are not a prefix of "m10"'s.
  std::string a, b;
  keys::AppendUnderMember(&a, ProgramId("cafe"), MemberId("m1"), "x");
  keys::AppendUnderMember(&b, ProgramId("cafe"), MemberId("m10"), "x");
  EXPECT_NE(b.rfind(mk + std::string(1, '\0'), 0), 0u);
  int64_t due;
  std::string due_key;  // the views below point into it
  keys::AppendDue(&due_key, ProgramId("cafe"), -5, MemberId("m"));
  ASSERT_TRUE(keys::ParseDue(due_key, &program, &due, &member));
  EXPECT_EQ(due, -5);
  EXPECT_EQ(member, "m");
  std::string z5, a6;
  keys::AppendDue(&z5, ProgramId("cafe"), 5, MemberId("z"));
  keys::AppendDue(&a6, ProgramId("cafe"), 6, MemberId("a"));
  EXPECT_LT(z5, a6);
  std::string j2, j10;
  keys::AppendJournal(&j2, 2);
  keys::AppendJournal(&j10, 10);
  EXPECT_LT(j2, j10);
  int64_t seq = 0;
  ASSERT_TRUE(keys::ParseJournal(j10, &seq));
  EXPECT_EQ(seq, 10);
  std::string v;
  keys::AppendInt(&v, -42);
  EXPECT_EQ(keys::DecodeInt(v), -42);
}

TEST(StoreTest, OpensWritesAndRefusesAForeignSchema) {
  const std::string dir = TempDir("schema");
  {
    auto store = PartitionStore::Open(PartitionDir(dir, 3), StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(*(*store)->GetNextOffset(), 0);
    StoreBatch b(store->get());
    b.SetNextOffset(77);
    ASSERT_TRUE((*store)->Write(&b).ok());
  }
  auto parts = ListPartitions(dir);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(*parts, std::vector<int32_t>{3});
  StoreOptions ro;
  ro.read_only = true;
  {
    auto store = PartitionStore::Open(PartitionDir(dir, 3), ro);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(*(*store)->GetNextOffset(), 77);
    StoreBatch b(store->get());
    b.SetNextOffset(78);
    EXPECT_FALSE((*store)->Write(&b).ok());
  }
  {
    auto store = PartitionStore::Open(PartitionDir(dir, 3), StoreOptions());
    ASSERT_TRUE(store.ok());
    rocksdb::WriteBatch b;
    ASSERT_TRUE(b.Put((*store)->cf(Cf::kMeta), keys::kSchema, "someone-else/9").ok());
    ASSERT_TRUE((*store)->db()->Write(rocksdb::WriteOptions(), &b).ok());
  }
  auto foreign = PartitionStore::Open(PartitionDir(dir, 3), StoreOptions());
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(foreign.status().message(), "someone-else/9"));
  EXPECT_FALSE(ListPartitions(dir + "/missing").ok());
}

TEST(StoreTest, AStoreOfTheOlderSchemaIsRefusedByName) {
  // A schema-2 store: the column families of that time, its tag.
  const std::string dir = TempDir("schema2");
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name :
         {"default", "members", "ledger", "orders", "dedupe", "counters", "due", "outbox"}) {
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir, cfs, &handles, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[0], "schema", "loyalty-ledger/2").ok());
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    delete db;
  }
  auto store = PartitionStore::Open(dir, StoreOptions());
  ASSERT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_TRUE(absl::StrContains(store.status().message(), "\"loyalty-ledger/2\""))
      << store.status();
  EXPECT_TRUE(absl::StrContains(store.status().message(), "loyalty-ledger/3")) << store.status();
}

TEST(StoreBatchTest, ReadsSeeTheBatchsOwnWritesAndTheLastWriteWins) {
  const std::string dir = TempDir("overlay");
  auto store = PartitionStore::Open(dir, StoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  const MemberRef m = Cafe("m1");
  StoreBatch batch(store->get());
  std::string digest;
  EXPECT_FALSE(*batch.GetDedupe(m, "e1", &digest));
  batch.PutDedupe(m, "e1", "digest-one-16byt");
  batch.PutDedupe(m, "e1", "digest-two-16byt");
  EXPECT_TRUE(*batch.GetDedupe(m, "e1", &digest));
  EXPECT_EQ(digest, "digest-two-16byt");
  EXPECT_EQ(*batch.GetCounter(m, "c"), 0);
  batch.PutCounter(m, "c", 3);
  batch.PutCounter(m, "c", 4);
  EXPECT_EQ(*batch.GetCounter(m, "c"), 4);
  loyalty::v1::OrderRecord order;
  order.set_amount_minor(500);
  batch.PutOrder(m, "o1", order);
  loyalty::v1::OrderRecord read;
  ASSERT_TRUE(*batch.GetOrder(m, "o1", &read));
  EXPECT_EQ(read.amount_minor(), 500);
  batch.SetNextOffset(5);
  WriteShape shape;
  ASSERT_TRUE((*store)->Write(&batch, &shape).ok());
  EXPECT_TRUE(batch.empty());
  // Two writes of a key reach RocksDB as one.
  EXPECT_EQ(shape.puts[static_cast<int>(Cf::kDedupe)], 1);
  EXPECT_EQ(shape.puts[static_cast<int>(Cf::kCounters)], 1);
  EXPECT_EQ(shape.puts[static_cast<int>(Cf::kOrders)], 1);
  EXPECT_EQ(shape.value_bytes[static_cast<int>(Cf::kDedupe)], 16);
  // A new batch reads the store.
  digest.clear();
  EXPECT_TRUE(*batch.GetDedupe(m, "e1", &digest));
  EXPECT_EQ(digest, "digest-two-16byt");
  EXPECT_EQ(*batch.GetCounter(m, "c"), 4);
  EXPECT_EQ(*(*store)->GetCounter(m, "c"), 4);
  EXPECT_EQ(*(*store)->GetNextOffset(), 5);
}

TEST(StoreBatchTest, DueScansMergeTheBatchWithTheStoreInBoundedPasses) {
  const std::string dir = TempDir("due");
  auto store = PartitionStore::Open(dir, StoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  StoreBatch batch(store->get());
  batch.PutDue(Cafe("a"), 10);
  batch.PutDue(Cafe("b"), 20);
  batch.PutDue(Cafe("c"), 30);
  batch.PutDue(MemberRef{ProgramId("other"), MemberId("x")}, 15);
  ASSERT_TRUE((*store)->Write(&batch).ok());
  // This batch: b leaves, d arrives between a and c, e after the range.
  batch.DeleteDue(Cafe("b"), 20);
  batch.PutDue(Cafe("d"), 25);
  batch.PutDue(Cafe("e"), 41);
  std::vector<std::string> members;
  std::string cursor;
  ASSERT_TRUE(batch.ScanDue(ProgramId("cafe"), 0, 40, 2, &cursor, &members).ok());
  EXPECT_EQ(members, (std::vector<std::string>{"a", "d"}));
  ASSERT_TRUE(batch.ScanDue(ProgramId("cafe"), 0, 40, 2, &cursor, &members).ok());
  EXPECT_EQ(members, (std::vector<std::string>{"a", "d", "c"}));
  ASSERT_TRUE(batch.ScanDue(ProgramId("cafe"), 0, 40, 2, &cursor, &members).ok());
  EXPECT_EQ(members.size(), 3u);
  EXPECT_TRUE(*(*store)->HasDue(Cafe("b"), 20));  // not written yet
}

TEST(JournalTest, WriterBytesAreAJournalBatchAndReadBack) {
  Outcome outcome;
  outcome.set_event_id("e1");
  outcome.set_program_id("cafe");
  outcome.set_member_id("m1");
  outcome.set_status(Outcome::APPLIED);
  outcome.set_points(7);
  for (int i = 1; i <= 2; ++i) {
    auto* e = outcome.add_entries();
    e->set_seq(i);
    e->set_points(i * 3);
  }
  loyalty::v1::MemberState state;
  state.set_program_id("cafe");
  state.set_member_id("m1");
  state.set_version(3);
  (*state.mutable_stamps())["b-card"] = 2;
  (*state.mutable_stamps())["a-card"] = 1;
  loyalty::v1::DlqRecord dlq;
  dlq.set_raw(std::string("\xff\0raw", 5));
  dlq.set_reason(loyalty::v1::MALFORMED);
  JournalWriter w;
  w.AddOutcome(7, outcome);
  w.AddBalance(8, state, "e1");
  w.AddDlq(9, dlq);
  EXPECT_EQ(w.first_seq(), 7);
  EXPECT_EQ(w.last_seq(), 9);

  // The generated parser reads the same records.
  loyalty::v1::JournalBatch parsed;
  ASSERT_TRUE(parsed.ParseFromString(w.bytes()));
  ASSERT_EQ(parsed.records_size(), 3);
  EXPECT_EQ(parsed.records(0).seq(), 7);
  EXPECT_EQ(parsed.records(0).key(), "cafe/m1");
  EXPECT_EQ(parsed.records(0).outcome().entries_size(), 2);
  EXPECT_EQ(parsed.records(1).balance().state().stamps().at("a-card"), 1);
  EXPECT_EQ(parsed.records(1).balance().cause_event_id(), "e1");
  EXPECT_EQ(parsed.records(1).version(), 3);
  EXPECT_EQ(parsed.records(2).dlq().raw(), dlq.raw());
  EXPECT_TRUE(parsed.records(2).key().empty());
  // And the bytes are the generated code's deterministic serialization.
  EXPECT_EQ(SerializeDeterministic(parsed), w.bytes());

  std::vector<JournalRecordView> views;
  ASSERT_TRUE(ReadJournalBatch(w.bytes(), &views).ok());
  ASSERT_EQ(views.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(views[i].seq, w.records()[i].seq);
    EXPECT_EQ(views[i].kind, w.records()[i].kind);
    EXPECT_EQ(views[i].key, w.records()[i].key);
    EXPECT_EQ(views[i].value, w.records()[i].value);
    EXPECT_EQ(views[i].version, w.records()[i].version);
  }
  EXPECT_EQ(views[1].version, 3);
  std::vector<absl::string_view> entries;
  ASSERT_TRUE(OutcomeEntries(views[0].value, &entries).ok());
  ASSERT_EQ(entries.size(), 2u);
  loyalty::v1::LedgerEntry entry;
  ASSERT_TRUE(entry.ParseFromArray(entries[1].data(), static_cast<int>(entries[1].size())));
  EXPECT_EQ(entry.points(), 6);
  absl::string_view raw;
  ASSERT_TRUE(DlqRaw(views[2].value, &raw).ok());
  EXPECT_EQ(raw, dlq.raw());
  // Damaged bytes are DataLoss, not a crash.
  views.clear();
  EXPECT_EQ(ReadJournalBatch(w.bytes().substr(0, w.bytes().size() - 3), &views).code(),
            absl::StatusCode::kDataLoss);
}

TEST(JournalTest, TheStoreReadsRecordsAfterASeqAcrossBatches) {
  const std::string dir = TempDir("journal");
  auto store = PartitionStore::Open(dir, StoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  StoreBatch batch(store->get());
  JournalWriter w;
  int64_t seq = 1;
  for (int b = 0; b < 3; ++b) {
    w.Clear();
    for (int i = 0; i < 4; ++i) {
      Outcome o;
      o.set_event_id("e" + std::to_string(seq));
      o.set_program_id("cafe");
      o.set_member_id(i % 2 == 0 ? "m1" : "m2");
      o.add_entries()->set_points(seq);
      w.AddOutcome(seq++, o);
    }
    batch.PutJournal(w.first_seq(), w.bytes());
    ASSERT_TRUE((*store)->Write(&batch).ok());
  }
  std::vector<int64_t> seqs;
  ASSERT_TRUE((*store)
                  ->ForEachJournalRecord(6,
                                         [&](const JournalRecordView& r) {
                                           seqs.push_back(r.seq);
                                           return absl::OkStatus();
                                         })
                  .ok());
  EXPECT_EQ(seqs, (std::vector<int64_t>{7, 8, 9, 10, 11, 12}));
  int64_t sum = 0;
  ASSERT_TRUE((*store)
                  ->ForEachEntryOf(Cafe("m2"),
                                   [&](const loyalty::v1::LedgerEntry& e) {
                                     sum += e.points();
                                     return absl::OkStatus();
                                   })
                  .ok());
  EXPECT_EQ(sum, 2 + 4 + 6 + 8 + 10 + 12);
}

// Checkpoints of a store that another handle writes, flushes and compacts
// meanwhile (as a running engine does): each is one consistent moment (the
// offset and the counter written in the same batch agree), however often
// the store moved under a copy.
TEST(CheckpointTest, ConsistentWhileTheStoreIsWrittenFlushedAndCompacted) {
  const std::string dir = TempDir("ckpt-src");
  const std::string out = TempDir("ckpt-out");
  std::filesystem::create_directories(out);
  auto store = PartitionStore::Open(dir, StoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> written{0};
  std::thread writer([&] {
    StoreBatch batch(store->get());
    for (int64_t i = 1; !stop.load(); ++i) {
      batch.PutCounter(Cafe("m"), "n", i);
      batch.PutJournal(i, std::string(200, 'x'));
      batch.SetNextOffset(i);
      ASSERT_TRUE((*store)->Write(&batch).ok());
      written.store(i);
      if (i % 150 == 0) {  // every family: the WAL they shared is then deleted
        std::vector<rocksdb::ColumnFamilyHandle*> all;
        for (int f = 0; f < static_cast<int>(Cf::kCount); ++f) {
          all.push_back((*store)->cf(static_cast<Cf>(f)));
        }
        ASSERT_TRUE((*store)->db()->Flush(rocksdb::FlushOptions(), all).ok());
      }
      if (i % 600 == 0) {
        ASSERT_TRUE((*store)
                        ->db()
                        ->CompactRange(rocksdb::CompactRangeOptions(), (*store)->cf(Cf::kJournal),
                                       nullptr, nullptr)
                        .ok());
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  while (written.load() < 100) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int copies = 0;
  for (int k = 0; k < 8; ++k) {
    const std::string to = out + "/c" + std::to_string(k);
    auto c = CheckpointPartition(dir, to);
    ASSERT_TRUE(c.ok()) << c.status();
    copies += c->attempts;
    auto copy = OpenPartitionReadOnly(to);
    ASSERT_TRUE(copy.ok()) << copy.status();
    auto next = (*copy)->GetNextOffset();
    auto counter = (*copy)->GetCounter(Cafe("m"), "n");
    ASSERT_TRUE(next.ok() && counter.ok());
    EXPECT_EQ(*next, c->next_offset);
    EXPECT_GT(*next, 0);
    EXPECT_EQ(*counter, *next) << "a checkpoint split a batch";
    int64_t journal = 0;
    ASSERT_TRUE((*copy)->ForEachJournalBatch(0, [&](absl::string_view) {
      ++journal;
      return absl::OkStatus();
    }).ok());
    EXPECT_EQ(journal, *next) << "a checkpoint lost or split journal values";
  }
  stop.store(true);
  writer.join();
  std::fprintf(stderr, "8 checkpoints took %d copies\n", copies);
  EXPECT_TRUE(CheckpointPartition(dir, out + "/c0").status().code() ==
              absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::IsNotFound(CheckpointPartition(out + "/none", out + "/c9").status()));
}

}  // namespace
}  // namespace loyalty

namespace loyalty {
namespace {

// The input source: recorded once (the first source is adopted), the same
// topic passes, another topic or a file is refused naming both; a file
// source round-trips through its stored form, path with ':' included.
TEST(InputSourceTest, ClaimAdoptsTheFirstAndRefusesAnother) {
  const std::string dir = TempDir("source");
  auto store = PartitionStore::Open(dir, StoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  auto none = (*store)->GetSource();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE((*store)->ClaimSource(InputSource::Kafka("loyalty.events")).ok());
  EXPECT_TRUE((*store)->ClaimSource(InputSource::Kafka("loyalty.events")).ok());
  const absl::Status other = (*store)->ClaimSource(InputSource::Kafka("other.events"));
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(other.message(), dir)) << other;
  EXPECT_TRUE(absl::StrContains(other.message(), "kafka:loyalty.events")) << other;
  EXPECT_TRUE(absl::StrContains(other.message(), "not of kafka:other.events")) << other;

  InputSource file;
  file.kind = InputSource::Kind::kFile;
  file.name = "/data/in:put.jsonl";
  file.offset_base = 2090;
  file.prefix_bytes = 12345;
  file.prefix_sha256 = std::string(64, 'a');
  StoreBatch batch(store->get());
  batch.SetSource(file);
  ASSERT_TRUE((*store)->Write(&batch).ok());
  auto read = (*store)->GetSource();
  ASSERT_TRUE(read.ok() && read->has_value()) << read.status();
  EXPECT_TRUE(**read == file) << (*read)->Encode();
  EXPECT_FALSE((*store)->ClaimSource(InputSource::Kafka("loyalty.events")).ok());
  EXPECT_FALSE(InputSource::Decode("file:1:2:short:x").ok());
  EXPECT_FALSE(InputSource::Decode("ftp:x").ok());
  EXPECT_TRUE(IsSourceKey(Cf::kMeta, "source"));
  EXPECT_FALSE(IsSourceKey(Cf::kMembers, "source"));
}

// A data dir in the way of a store: the path and the cause, no exception.
TEST(MakeDirectoryTest, ARegularFileInTheWayIsNamed) {
  const std::string dir = TempDir("make-dir");
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/file";
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  const absl::Status s = MakeDirectory(file + "/p-0000");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), file + ": not a directory (it is a regular file)"))
      << s;
  auto store = PartitionStore::Open(file, StoreOptions());
  EXPECT_FALSE(store.ok());
  EXPECT_TRUE(absl::StrContains(store.status().message(), "regular file")) << store.status();
  EXPECT_TRUE(MakeDirectory(dir + "/a/b").ok());
}

// Program versions: recorded with a batch, read back in (program,
// effective_from) order, and provenance rather than state.
TEST(ProgramVersionsTest, RecordsAreReadBackAndAreProvenance) {
  const std::string dir = TempDir("program-versions");
  auto store = PartitionStore::Open(dir, StoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  auto none = (*store)->AppliedVersions();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  EXPECT_EQ((*store)->GetAppliedTimeMax(ProgramId("cafe")).value(), std::nullopt);

  StoreBatch batch(store->get());
  batch.RecordProgramVersion(
      {"cafe", "2027-q1", std::string(64, 'b'), "2027-01-01T00:00:00Z", 1'798'761'600'000'000'000});
  batch.RecordProgramVersion({"cafe", "1", std::string(64, 'a'), "", INT64_MIN});
  batch.RecordProgramVersion({"bistro", "v", std::string(64, 'c'), "", INT64_MIN});
  batch.SetAppliedTimeMax(ProgramId("cafe"), 1'800'000'000'000'000'000);
  ASSERT_TRUE((*store)->Write(&batch).ok());

  auto applied = (*store)->AppliedVersions();
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_EQ(applied->size(), 3u);
  EXPECT_EQ((*applied)[0].program_id, "bistro");
  EXPECT_EQ((*applied)[1].version, "1");  // the base first: by effective_from
  EXPECT_EQ((*applied)[1].hash, std::string(64, 'a'));
  EXPECT_EQ((*applied)[1].effective_from_ns, INT64_MIN);
  EXPECT_EQ((*applied)[2].version, "2027-q1");
  EXPECT_EQ((*applied)[2].effective_from, "2027-01-01T00:00:00Z");
  EXPECT_EQ((*applied)[2].effective_from_ns, 1'798'761'600'000'000'000);
  EXPECT_EQ((*store)->GetAppliedTimeMax(ProgramId("cafe")).value(), 1'800'000'000'000'000'000);
  EXPECT_EQ((*store)->GetAppliedTimeMax(ProgramId("bistro")).value(), std::nullopt);

  // Every key of the two kinds is provenance; nothing else is.
  int provenance = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      (*store)->db()->NewIterator(rocksdb::ReadOptions(), (*store)->cf(Cf::kMeta)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    if (IsProvenanceKey(Cf::kMeta, key)) ++provenance;
  }
  EXPECT_EQ(provenance, 4);
  EXPECT_TRUE(IsProvenanceKey(Cf::kMeta, "source"));
  EXPECT_FALSE(IsProvenanceKey(Cf::kMeta, "schema"));
  EXPECT_FALSE(IsProvenanceKey(Cf::kMeta, "next_offset"));
  EXPECT_FALSE(IsProvenanceKey(Cf::kMeta, std::string("tick\0cafe", 9)));
  EXPECT_FALSE(IsProvenanceKey(Cf::kMeta, "versions"));
  EXPECT_FALSE(IsProvenanceKey(Cf::kMembers, std::string("version\0cafe\0001", 14)));
}

}  // namespace
}  // namespace loyalty
