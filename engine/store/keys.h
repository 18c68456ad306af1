// File: engine/store/keys.h
// The key layout of a partition's RocksDB keyspace, private to the store
// module (store.h asks and answers typed questions; nothing else builds a
// key). One RocksDB database per input partition (so that a partition's
// state can move between processes); inside it one column family per kind
// of data:
//
//   column family  key                                        value
//   -------------  -----------------------------------------  --------------------------
//   default        "next_offset"                              BE64o next input offset
//                  "tick" \0 program                          BE64o largest Tick.now (ns)
//                  "next_seq"                                 BE64o next output seq
//                  "published_through"                        BE64o last seq committed to Kafka
//                  "schema"                                   "loyalty-ledger/3"
//                  "caller" \0 name                           a caller's own metadata
//                  "source"                                   InputSource::Encode(): where
//                                                             the input comes from
//                  "version" \0 program \0 version            ProgramVersionRecord: a program
//                                                             version applied here
//                  "applied_t" \0 program                     BE64o largest effective time
//                                                             applied (ns)
//   members        program \0 member                          MemberRecord
//   journal        BE64 first seq of the batch                JournalBatch (append-only)
//   orders         program \0 member \0 order_id              OrderRecord
//   dedupe         program \0 member \0 event_id              16 bytes of SHA-256(event)
//   counters       program \0 member \0 name                  BE64o value
//   due            program \0 BE64o due_ns member             "" (at most one per member)
//
// BE64 = 8 bytes big-endian; BE64o = BE64 of the value with its sign bit
// flipped, so that signed values sort numerically. Ids never contain \0
// (validation refuses control characters), so \0 separates them unambiguously
// and "program \0 member \0" is a prefix of exactly one member's keys. Ticks
// dedupe under member "". Values are deterministic protobuf serializations.
//
// Builders append to `out` (callers reuse one buffer: no allocation per key).
#ifndef LOYALTY_ENGINE_STORE_KEYS_H_
#define LOYALTY_ENGINE_STORE_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/base/ids.h"

namespace loyalty::keys {

inline constexpr char kNextOffset[] = "next_offset";
inline constexpr char kNextSeq[] = "next_seq";
inline constexpr char kPublishedThrough[] = "published_through";
inline constexpr char kSchema[] = "schema";
// Where the partition's input comes from (store.h, InputSource). Not part
// of the applied state: the same input gives the same state whatever its
// source, so state digests leave it out (IsSourceKey).
inline constexpr char kSource[] = "source";
// /3: lots by day, the journal instead of the per-member ledger and the
// outbox, the lower-bound due index (issue 11). A /2 store would be read
// with the wrong lots and no journal, so it is refused.
inline constexpr char kSchemaValue[] = "loyalty-ledger/3";
// The program versions applied and the largest effective time applied, per
// program (store.h, AppliedProgramVersion). Provenance like the source:
// state digests leave them out (IsProvenanceKey). Stores written before
// they were recorded simply lack them (no schema change).
inline constexpr char kProgramVersionPrefix[] = "version";
inline constexpr char kAppliedTimePrefix[] = "applied_t";

// program \0 member
void AppendMember(std::string* out, ProgramId program_id, MemberId member_id);
// program \0 member \0 suffix (orders, dedupe, counters)
void AppendUnderMember(std::string* out, ProgramId program_id, MemberId member_id,
                       absl::string_view suffix);
void AppendTick(std::string* out, ProgramId program_id);
void AppendCaller(std::string* out, absl::string_view name);
void AppendDue(std::string* out, ProgramId program_id, int64_t due_ns, MemberId member_id);
void AppendJournal(std::string* out, int64_t first_seq);
// "version" \0 program \0 version
void AppendProgramVersion(std::string* out, ProgramId program_id, absl::string_view version);
// "version" \0: the prefix of every program version key.
void AppendProgramVersionPrefix(std::string* out);
// "applied_t" \0 program
void AppendAppliedTime(std::string* out, ProgramId program_id);

// Splits a member key into program and member. False if malformed.
bool ParseMember(absl::string_view key, absl::string_view* program_id,
                 absl::string_view* member_id);
// Splits a due key. False if malformed.
bool ParseDue(absl::string_view key, absl::string_view* program_id, int64_t* due_ns,
              absl::string_view* member_id);
// Splits a program version key. False if malformed.
bool ParseProgramVersion(absl::string_view key, absl::string_view* program_id,
                         absl::string_view* version);
// The first seq of a journal key. False if malformed.
bool ParseJournal(absl::string_view key, int64_t* first_seq);

void AppendInt(std::string* out, int64_t v);  // BE64o
// REQUIRES: v.size() == 8.
int64_t DecodeInt(absl::string_view v);

}  // namespace loyalty::keys

#endif  // LOYALTY_ENGINE_STORE_KEYS_H_
