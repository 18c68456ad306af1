// File: engine/store/journal.h
// The journal: a partition's output records, one value of the `journal`
// column family per batch, and the ledger of record. A value is a
// loyalty.v1.JournalBatch in protobuf wire format (anyone can parse it with
// the generated code); this file writes it without building a message per
// record and reads it without parsing one, because the bytes of each record
// are exactly the Kafka value that is published.
//
//   JournalWriter w;
//   w.AddOutcome(seq++, outcome);                    // key program_id/member_id
//   w.AddBalance(seq++, member.state(), event_id);   // a BalanceUpdate's bytes
//   store_batch.PutJournal(w.first_seq(), w.bytes());
//   for (const JournalRecordView& r : w.records()) Publish(r.key, r.value);
//
//   LOYALTY_RETURN_IF_ERROR(ReadJournalBatch(value, &views));   // after a restart
//
// Encoding of one value (field numbers of ledger.proto):
//   JournalBatch  := { 0x0a varint(len(record)) record }*
//   record        := 0x08 varint(seq) 0x12 varint(len) key
//                    (0x1a outcome | 0x22 balance | 0x2a dlq: varint(len) bytes)
//                    [0x30 varint(version), balances only]
// Messages are serialized deterministically (map entries sorted), so a
// re-derived batch has the same bytes.
//
// Thread-compatible.
#ifndef LOYALTY_ENGINE_STORE_JOURNAL_H_
#define LOYALTY_ENGINE_STORE_JOURNAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "loyalty/v1/ledger.pb.h"

namespace loyalty {

// Which output topic a record goes to (its JournalRecord field number).
enum class JournalKind : uint8_t {
  kOutcome = 3,
  kBalance = 4,
  kDlq = 5,
};

// One record of a journal value; the views point into the value's bytes.
struct JournalRecordView {
  int64_t seq = 0;
  JournalKind kind = JournalKind::kOutcome;
  absl::string_view key;    // the Kafka key; empty for DLQ records
  absl::string_view value;  // the serialized Outcome, BalanceUpdate or DlqRecord
  int64_t version = 0;      // balances: the member's version
};

class JournalWriter {
 public:
  // Forgets the records (keeping the buffers' capacity).
  void Clear();

  // Outcome of an event or a tick (key program_id/member_id, or program_id/
  // for a tick).
  void AddOutcome(int64_t seq, const loyalty::v1::Outcome& outcome);
  // The BalanceUpdate {state, cause_event_id}, written from the member's
  // state without copying it.
  void AddBalance(int64_t seq, const loyalty::v1::MemberState& state,
                  absl::string_view cause_event_id);
  void AddDlq(int64_t seq, const loyalty::v1::DlqRecord& dlq);

  bool empty() const { return placed_.empty(); }
  size_t size() const { return placed_.size(); }
  int64_t first_seq() const { return placed_.empty() ? 0 : placed_.front().seq; }
  int64_t last_seq() const { return placed_.empty() ? 0 : placed_.back().seq; }
  // The journal value: a serialized JournalBatch.
  const std::string& bytes() const { return bytes_; }
  // Views into bytes(), seq ascending. Valid until the next Add or Clear.
  const std::vector<JournalRecordView>& records() const;

 private:
  struct Placed {
    int64_t seq;
    JournalKind kind;
    uint32_t key_at, key_size, value_at, value_size;
    int64_t version;
  };
  // Appends a record whose key is `key` and whose message bytes are in
  // scratch_.
  void Append(int64_t seq, JournalKind kind, absl::string_view key, int64_t version);

  std::string bytes_;
  std::string scratch_;  // the record's message, then copied into bytes_
  std::string key_;
  std::vector<Placed> placed_;
  mutable std::vector<JournalRecordView> records_;
  mutable bool views_stale_ = false;
};

// Appends the records of journal value `value` to `out` (views into
// `value`). DataLoss if the bytes are not a JournalBatch of this encoding.
absl::Status ReadJournalBatch(absl::string_view value, std::vector<JournalRecordView>* out);

// The ledger entries inside a serialized Outcome, as views of their bytes
// (each one a serialized LedgerEntry: the records of `loyalty.ledger`).
absl::Status OutcomeEntries(absl::string_view outcome, std::vector<absl::string_view>* out);

// The raw input bytes inside a serialized DlqRecord, as a view.
absl::Status DlqRaw(absl::string_view dlq, absl::string_view* raw);

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_STORE_JOURNAL_H_
