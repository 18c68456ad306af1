#include "engine/store/journal.h"

#include "absl/strings/str_cat.h"
#include "engine/base/bytes.h"
#include "engine/base/status.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace loyalty {
namespace {

using google::protobuf::internal::WireFormatLite;

constexpr uint8_t kTag(int field, WireFormatLite::WireType type) {
  return static_cast<uint8_t>((field << 3) | type);
}
constexpr uint8_t kBatchRecordTag = kTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
constexpr uint8_t kSeqTag = kTag(1, WireFormatLite::WIRETYPE_VARINT);
constexpr uint8_t kKeyTag = kTag(2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
constexpr uint8_t kVersionTag = kTag(6, WireFormatLite::WIRETYPE_VARINT);
// BalanceUpdate: state = 1, cause_event_id = 2.
constexpr uint8_t kStateTag = kTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
constexpr uint8_t kCauseTag = kTag(2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
// Outcome.entries = 14.
constexpr int kOutcomeEntriesField = 14;

size_t VarintSize(uint64_t v) { return google::protobuf::io::CodedOutputStream::VarintSize64(v); }

void AppendVarint(std::string* out, uint64_t v) {
  uint8_t buf[10];
  uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

void AppendMemberKey(absl::string_view program_id, absl::string_view member_id,
                     std::string* out) {
  out->clear();
  out->append(program_id.data(), program_id.size());
  out->push_back('/');
  out->append(member_id.data(), member_id.size());
}

}  // namespace

void JournalWriter::Clear() {
  bytes_.clear();
  placed_.clear();
  records_.clear();
  views_stale_ = false;
}

void JournalWriter::Append(int64_t seq, JournalKind kind, absl::string_view key,
                           int64_t version) {
  LOYALTY_CHECK(seq > 0 && (placed_.empty() || seq > placed_.back().seq))
      << "journal seq " << seq << " after " << (placed_.empty() ? 0 : placed_.back().seq);
  const uint64_t useq = static_cast<uint64_t>(seq);
  size_t record = 1 + VarintSize(useq);
  if (!key.empty()) record += 1 + VarintSize(key.size()) + key.size();
  record += 1 + VarintSize(scratch_.size()) + scratch_.size();
  if (version != 0) record += 1 + VarintSize(static_cast<uint64_t>(version));
  bytes_.push_back(static_cast<char>(kBatchRecordTag));
  AppendVarint(&bytes_, record);
  bytes_.push_back(static_cast<char>(kSeqTag));
  AppendVarint(&bytes_, useq);
  Placed p{seq, kind, 0, 0, 0, 0, version};
  if (!key.empty()) {
    bytes_.push_back(static_cast<char>(kKeyTag));
    AppendVarint(&bytes_, key.size());
    p.key_at = static_cast<uint32_t>(bytes_.size());
    p.key_size = static_cast<uint32_t>(key.size());
    bytes_.append(key.data(), key.size());
  }
  bytes_.push_back(static_cast<char>(kTag(static_cast<int>(kind),
                                          WireFormatLite::WIRETYPE_LENGTH_DELIMITED)));
  AppendVarint(&bytes_, scratch_.size());
  p.value_at = static_cast<uint32_t>(bytes_.size());
  p.value_size = static_cast<uint32_t>(scratch_.size());
  bytes_.append(scratch_);
  if (version != 0) {
    bytes_.push_back(static_cast<char>(kVersionTag));
    AppendVarint(&bytes_, static_cast<uint64_t>(version));
  }
  LOYALTY_CHECK(bytes_.size() < UINT32_MAX) << "journal value over 4 GiB";
  placed_.push_back(p);
  views_stale_ = true;
}

void JournalWriter::AddOutcome(int64_t seq, const loyalty::v1::Outcome& outcome) {
  scratch_.clear();
  AppendDeterministicWithCachedSize(outcome, outcome.ByteSizeLong(), &scratch_);
  AppendMemberKey(outcome.program_id(), outcome.member_id(), &key_);
  Append(seq, JournalKind::kOutcome, key_, 0);
}

void JournalWriter::AddBalance(int64_t seq, const loyalty::v1::MemberState& state,
                               absl::string_view cause_event_id) {
  scratch_.clear();
  const size_t state_size = state.ByteSizeLong();
  scratch_.push_back(static_cast<char>(kStateTag));
  AppendVarint(&scratch_, state_size);
  AppendDeterministicWithCachedSize(state, state_size, &scratch_);
  if (!cause_event_id.empty()) {
    scratch_.push_back(static_cast<char>(kCauseTag));
    AppendVarint(&scratch_, cause_event_id.size());
    scratch_.append(cause_event_id.data(), cause_event_id.size());
  }
  AppendMemberKey(state.program_id(), state.member_id(), &key_);
  Append(seq, JournalKind::kBalance, key_, state.version());
}

void JournalWriter::AddDlq(int64_t seq, const loyalty::v1::DlqRecord& dlq) {
  scratch_.clear();
  AppendDeterministicWithCachedSize(dlq, dlq.ByteSizeLong(), &scratch_);
  Append(seq, JournalKind::kDlq, {}, 0);
}

const std::vector<JournalRecordView>& JournalWriter::records() const {
  if (views_stale_) {
    records_.clear();
    records_.reserve(placed_.size());
    for (const Placed& p : placed_) {
      JournalRecordView v;
      v.seq = p.seq;
      v.kind = p.kind;
      v.key = absl::string_view(bytes_.data() + p.key_at, p.key_size);
      v.value = absl::string_view(bytes_.data() + p.value_at, p.value_size);
      v.version = p.version;
      records_.push_back(v);
    }
    views_stale_ = false;
  }
  return records_;
}

absl::Status ReadJournalBatch(absl::string_view value, std::vector<JournalRecordView>* out) {
  const auto* data = reinterpret_cast<const uint8_t*>(value.data());
  google::protobuf::io::CodedInputStream in(data, static_cast<int>(value.size()));
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat("journal value: ", what, " at byte ", in.CurrentPosition()));
  };
  auto view = [&](uint32_t size) {
    return absl::string_view(value.data() + in.CurrentPosition(), size);
  };
  while (!in.ExpectAtEnd()) {
    uint32_t size = 0;
    if (in.ReadTag() != kBatchRecordTag || !in.ReadVarint32(&size)) return bad("no record");
    const auto limit = in.PushLimit(static_cast<int>(size));
    JournalRecordView r;
    bool has_value = false;
    while (uint32_t tag = in.ReadTag()) {
      uint32_t len = 0;
      uint64_t v = 0;
      switch (tag) {
        case kSeqTag:
          if (!in.ReadVarint64(&v)) return bad("bad seq");
          r.seq = static_cast<int64_t>(v);
          break;
        case kVersionTag:
          if (!in.ReadVarint64(&v)) return bad("bad version");
          r.version = static_cast<int64_t>(v);
          break;
        case kKeyTag:
          if (!in.ReadVarint32(&len) || len > static_cast<uint32_t>(in.BytesUntilLimit())) {
            return bad("bad key");
          }
          r.key = view(len);
          in.Skip(static_cast<int>(len));
          break;
        case kTag(3, WireFormatLite::WIRETYPE_LENGTH_DELIMITED):
        case kTag(4, WireFormatLite::WIRETYPE_LENGTH_DELIMITED):
        case kTag(5, WireFormatLite::WIRETYPE_LENGTH_DELIMITED):
          if (!in.ReadVarint32(&len) || len > static_cast<uint32_t>(in.BytesUntilLimit())) {
            return bad("bad record body");
          }
          r.kind = static_cast<JournalKind>(tag >> 3);
          r.value = view(len);
          has_value = true;
          in.Skip(static_cast<int>(len));
          break;
        default:
          return bad(absl::StrCat("unexpected tag ", tag));
      }
    }
    if (!in.ConsumedEntireMessage() || r.seq <= 0 || !has_value) return bad("incomplete record");
    in.PopLimit(limit);
    if (!out->empty() && out->back().seq >= r.seq) return bad("seq not ascending");
    out->push_back(r);
  }
  return absl::OkStatus();
}

namespace {

// Views of every length-delimited field `field` of the message in `bytes`.
absl::Status FieldViews(absl::string_view bytes, int field, absl::string_view what,
                        std::vector<absl::string_view>* out) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  google::protobuf::io::CodedInputStream in(data, static_cast<int>(bytes.size()));
  while (uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) == field &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t len = 0;
      if (!in.ReadVarint32(&len) || len > bytes.size() - in.CurrentPosition()) {
        return absl::DataLossError(absl::StrCat(what, ": bad field ", field));
      }
      out->push_back(bytes.substr(in.CurrentPosition(), len));
      in.Skip(static_cast<int>(len));
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return absl::DataLossError(absl::StrCat(what, ": malformed"));
    }
  }
  if (!in.ConsumedEntireMessage()) return absl::DataLossError(absl::StrCat(what, ": malformed"));
  return absl::OkStatus();
}

}  // namespace

absl::Status OutcomeEntries(absl::string_view outcome, std::vector<absl::string_view>* out) {
  return FieldViews(outcome, kOutcomeEntriesField, "outcome", out);
}

absl::Status DlqRaw(absl::string_view dlq, absl::string_view* raw) {
  std::vector<absl::string_view> found;
  LOYALTY_RETURN_IF_ERROR(FieldViews(dlq, /*raw=*/1, "DLQ record", &found));
  // proto3 bytes: the last occurrence wins; absent means empty.
  *raw = found.empty() ? absl::string_view() : found.back();
  return absl::OkStatus();
}

}  // namespace loyalty
