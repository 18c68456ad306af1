// File: engine/store/keys.h
// The key layout of a partition's RocksDB keyspace. One RocksDB database per
// input partition (so that a partition's state can move between processes);
// inside it one column family per kind of data:
//
//   column family  key                                        value
//   -------------  -----------------------------------------  --------------------------
//   default        "next_offset"                              BE64o next input offset
//                  "tick" \0 program                          BE64o largest Tick.now (ns)
//                  "outbox_next_seq"                          BE64o next outbox sequence
//                  "outbox_published_through"                 BE64o last seq committed to Kafka
//                  "schema"                                   "loyalty-ledger/2"
//                  "caller" \0 name                           a caller's own metadata
//   members        program \0 member                          MemberRecord
//   ledger         program \0 member \0 BE64 seq              LedgerEntry  (append-only)
//   orders         program \0 member \0 order_id              OrderRecord
//   dedupe         program \0 member \0 event_id              16 bytes of SHA-256(event)
//   counters       program \0 member \0 name                  BE64o value
//   due            program \0 BE64o due_ns member             "" (one per member with lots)
//   outbox         BE64 seq                                   OutboxRecord (append-only)
//
// BE64 = 8 bytes big-endian; BE64o = BE64 of the value with its sign bit
// flipped, so that signed values sort numerically. Ids never contain \0
// (validation refuses control characters), so \0 separates them unambiguously
// and "program \0 member \0" is a prefix of exactly one member's keys. Ticks
// dedupe under member "". Values are deterministic protobuf serializations.
#ifndef LOYALTY_ENGINE_STORE_KEYS_H_
#define LOYALTY_ENGINE_STORE_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace loyalty::keys {

inline constexpr char kNextOffset[] = "next_offset";
inline constexpr char kOutboxNextSeq[] = "outbox_next_seq";
inline constexpr char kOutboxPublishedThrough[] = "outbox_published_through";
inline constexpr char kSchema[] = "schema";
// /2: member records carry tier month buckets and the paid tier (issue 4); a
// /1 store would open with neither, so it is refused.
inline constexpr char kSchemaValue[] = "loyalty-ledger/2";

std::string Member(absl::string_view program_id, absl::string_view member_id);
// Keys under a member: member_key \0 suffix.
std::string UnderMember(absl::string_view member_key, absl::string_view suffix);
std::string Ledger(absl::string_view member_key, int64_t seq);
// Prefix of all ledger keys of a member.
std::string LedgerPrefix(absl::string_view member_key);
std::string Tick(absl::string_view program_id);
// Metadata a caller commits with a batch (Partition::PreCommit).
std::string Caller(absl::string_view name);
std::string Due(absl::string_view program_id, int64_t due_ns, absl::string_view member_id);
// Prefix of all due keys of a program.
std::string DuePrefix(absl::string_view program_id);
std::string Outbox(int64_t seq);

// Splits a member key into program and member. False if malformed.
bool ParseMember(absl::string_view key, absl::string_view* program_id,
                 absl::string_view* member_id);
// Splits a due key. False if malformed.
bool ParseDue(absl::string_view key, absl::string_view* program_id, int64_t* due_ns,
              absl::string_view* member_id);

std::string EncodeInt(int64_t v);  // BE64o
// REQUIRES: v.size() == 8.
int64_t DecodeInt(absl::string_view v);

}  // namespace loyalty::keys

#endif  // LOYALTY_ENGINE_STORE_KEYS_H_
