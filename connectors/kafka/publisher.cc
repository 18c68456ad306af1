#include "connectors/kafka/publisher.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "connectors/kafka/client.h"
#include "connectors/kafka/settings.h"
#include "engine/base/bytes.h"
#include "engine/base/crypto.h"
#include "engine/base/status.h"
#include "engine/log/log.h"

#ifndef LOYALTY_ENGINE_VERSION
#define LOYALTY_ENGINE_VERSION "unknown"
#endif

namespace loyalty {

using kafka_internal::FromKafka;
using kafka_internal::FromTxnError;
using kafka_internal::KafkaHandle;
using kafka_internal::NewClient;

class JournalPublisher::Impl {
 public:
  KafkaHandle producer;
  KafkaHandle reader;                      // read_committed consumer for LastCommittedSeq
  loyalty::v1::DlqRecord dlq;              // headers of the DLQ record being produced
  std::vector<absl::string_view> entries;  // of the outcome being produced (ledger)
};

namespace {

using Clock = std::chrono::steady_clock;

// The largest seq header of the records of topic/partition from the end
// back, reading windows that grow until one holds a committed record.
absl::StatusOr<int64_t> LastSeqOf(rd_kafka_t* reader, const std::string& topic, int32_t partition,
                                  int timeout_ms) {
  int64_t low = 0, high = 0;
  LOYALTY_RETURN_IF_ERROR(FromKafka(
      rd_kafka_query_watermark_offsets(reader, topic.c_str(), partition, &low, &high, timeout_ms),
      absl::StrCat("watermarks of ", topic, "/", partition)));
  if (high <= low) return 0;
  for (int64_t window = 16;; window *= 8) {
    const int64_t start = std::max(low, high - window);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = start;
    rd_kafka_resp_err_t err = rd_kafka_assign(reader, list);
    rd_kafka_topic_partition_list_destroy(list);
    LOYALTY_RETURN_IF_ERROR(FromKafka(err, absl::StrCat("assign ", topic, "/", partition)));
    int64_t best = 0;
    bool done = false;
    absl::Status status;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done && status.ok()) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(reader, 100);
      if (m == nullptr) {
        if (Clock::now() > deadline) {
          status = absl::DeadlineExceededError(
              absl::StrCat("reading the end of ", topic, "/", partition));
        }
        continue;
      }
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        done = true;
      } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = absl::UnavailableError(
            absl::StrCat("reading ", topic, "/", partition, ": ", rd_kafka_message_errstr(m)));
      } else {
        rd_kafka_headers_t* headers = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        int64_t seq = 0;
        if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(headers, kHeaderSeq, &value, &size) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            absl::SimpleAtoi(absl::string_view(static_cast<const char*>(value), size), &seq)) {
          best = std::max(best, seq);
        } else {
          status = absl::DataLossError(absl::StrCat(topic, "/", partition, " offset ", m->offset,
                                                    ": no ", kHeaderSeq, " header"));
        }
        if (m->offset >= high - 1) done = true;
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(reader, nullptr);
    LOYALTY_RETURN_IF_ERROR(status);
    if (best > 0 || start == low) return best;
  }
}

// A producer's message.max.bytes.
int64_t ProducerMaxBytes(rd_kafka_t* rk) {
  char value[32];
  size_t size = sizeof(value);
  int64_t bytes = 0;
  if (rd_kafka_conf_get(rd_kafka_conf(rk), "message.max.bytes", value, &size) != RD_KAFKA_CONF_OK ||
      !absl::SimpleAtoi(value, &bytes)) {
    return 1'000'000;  // librdkafka's default
  }
  return bytes;
}

// A topic's max.message.bytes, by DescribeConfigs (needs the
// DescribeConfigs permission on the topic).
absl::StatusOr<int64_t> TopicMaxBytes(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_DescribeConfigs(rk, &resource, 1, nullptr, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, timeout_ms);
  absl::StatusOr<int64_t> out = absl::DeadlineExceededError(
      absl::StrCat("describing ", topic, ": no answer in ", timeout_ms, " ms"));
  if (event != nullptr) {
    const rd_kafka_DescribeConfigs_result_t* result = rd_kafka_event_DescribeConfigs_result(event);
    size_t count = 0;
    const rd_kafka_ConfigResource_t** resources =
        result != nullptr ? rd_kafka_DescribeConfigs_result_resources(result, &count) : nullptr;
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      out = absl::UnavailableError(
          absl::StrCat("describing ", topic, ": ", rd_kafka_event_error_string(event)));
    } else if (count != 1 ||
               rd_kafka_ConfigResource_error(resources[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      out = absl::UnavailableError(absl::StrCat(
          "describing ", topic, ": ",
          count == 1 ? rd_kafka_ConfigResource_error_string(resources[0]) : "no result"));
    } else {
      size_t n = 0;
      const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(resources[0], &n);
      out = absl::NotFoundError(absl::StrCat(topic, " has no max.message.bytes"));
      for (size_t i = 0; i < n; ++i) {
        int64_t bytes = 0;
        const char* value = rd_kafka_ConfigEntry_value(entries[i]);
        if (std::strcmp(rd_kafka_ConfigEntry_name(entries[i]), "max.message.bytes") == 0 &&
            value != nullptr && absl::SimpleAtoi(value, &bytes)) {
          out = bytes;
        }
      }
    }
    rd_kafka_event_destroy(event);
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_ConfigResource_destroy(resource);
  return out;
}

absl::StatusOr<KafkaHandle> NewReader(const KafkaCluster& brokers, const std::string& group_id) {
  return NewClient(RD_KAFKA_CONSUMER, brokers,
                   {{"group.id", group_id},
                    {"enable.auto.commit", "false"},
                    {"enable.partition.eof", "true"},
                    // The end of a transactional topic is a
                    // commit marker, never delivered: the
                    // read ends at EOF, which is a fetch
                    // that finds nothing and so waits the
                    // broker's full fetch.wait.max.ms
                    // (500 ms by default) per topic, four
                    // topics per partition at a restart.
                    {"fetch.wait.max.ms", "10"},
                    // Retention moving the log start
                    // under us is an error, never a
                    // silent jump to the end.
                    {"auto.offset.reset", "error"},
                    {"isolation.level", "read_committed"}});
}

absl::StatusOr<int64_t> LastCommittedSeq(rd_kafka_t* reader, const Topics& topics,
                                         const OutputSet& outputs, int32_t partition,
                                         int timeout_ms) {
  int64_t best = 0;
  for (const std::string& topic : topics.published(outputs)) {
    LOYALTY_ASSIGN_OR_RETURN(int64_t seq, LastSeqOf(reader, topic, partition, timeout_ms));
    best = std::max(best, seq);
  }
  return best;
}

// "123" without allocating.
absl::string_view Decimal(int64_t v, char (&buf)[24]) {
  char* end = absl::numbers_internal::FastIntToBuffer(v, buf);
  return absl::string_view(buf, static_cast<size_t>(end - buf));
}

}  // namespace

JournalPublisher::JournalPublisher(const PublisherOptions& options, const std::atomic<bool>* cancel)
    : options_(options), cancel_(cancel), impl_(std::make_unique<Impl>()) {}

JournalPublisher::~JournalPublisher() = default;

absl::StatusOr<std::unique_ptr<JournalPublisher>> JournalPublisher::Create(
    const PublisherOptions& options, const std::atomic<bool>* cancel) {
  if (options.brokers.bootstrap_servers.empty())
    return absl::InvalidArgumentError("brokers are required");
  if (options.transactional_id.empty()) {
    return absl::InvalidArgumentError("transactional_id is required");
  }
  std::unique_ptr<JournalPublisher> p(new JournalPublisher(options, cancel));
  LOYALTY_ASSIGN_OR_RETURN(p->impl_->reader, NewReader(options.brokers, options.reader_group_id));
  LOYALTY_RETURN_IF_ERROR(p->Reset());
  return p;
}

absl::Status JournalPublisher::Reset() {
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      // Only a failure is cancelled: with a healthy broker a stopping engine
      // still publishes what it applied.
      if (GiveUp()) {
        return absl::CancelledError(absl::StrCat("publisher ", options_.transactional_id));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.retry_backoff_ms));
    }
    impl_->producer.reset();  // a producer is never reused after a failure
    auto producer = NewClient(RD_KAFKA_PRODUCER, options_.brokers,
                              kafka_internal::PublisherProducerSettings(
                                  options_.transactional_id, options_.transaction_timeout_ms));
    if (!producer.ok()) return producer.status();  // a configuration error
    impl_->producer = std::move(*producer);
    rd_kafka_error_t* e = rd_kafka_init_transactions(impl_->producer.get(), CallTimeoutMs());
    absl::Status s;
    if (e != nullptr)
      s = FromTxnError(e, absl::StrCat("init transactions of ", options_.transactional_id));
    // A DLQ record over the producer's limit is cut to fit (SPEC §7).
    if (s.ok()) producer_max_bytes_ = ProducerMaxBytes(impl_->producer.get());
    if (s.ok()) {
      // The producer learns the output topics' leaders now, not in the first
      // transaction (which would hold up the first batches by a metadata
      // round trip per topic).
      for (const std::string& topic : options_.topics.outputs()) {
        rd_kafka_topic_t* t = rd_kafka_topic_new(impl_->producer.get(), topic.c_str(), nullptr);
        const rd_kafka_metadata_t* md = nullptr;
        if (rd_kafka_metadata(impl_->producer.get(), 0, t, &md, CallTimeoutMs()) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(t);
      }
      auto seq = LastCommittedSeq(impl_->reader.get(), options_.topics, options_.outputs,
                                  options_.partition, CallTimeoutMs());
      if (seq.ok()) {
        AdvancePublished(*seq);
        return absl::OkStatus();
      }
      s = seq.status();
    }
    if (absl::IsFailedPrecondition(s) || absl::IsDataLoss(s)) return s;
    if (options_.log_retries) {
      log::Warn("publisher start failed; retrying",
                {{"partition", options_.partition}, {"cause", s.ToString()}});
    }
  }
}

bool JournalPublisher::GiveUp() {
  if (cancel_ == nullptr || !cancel_->load()) return false;
  const auto now = Clock::now();
  if (!cancel_seen_.has_value()) cancel_seen_ = now;
  return now - *cancel_seen_ >= std::chrono::milliseconds(options_.cancel_grace_ms);
}

absl::Status JournalPublisher::TryPublish(absl::Span<const JournalRecordView> records) {
  absl::Status s = TryPublishOnce(records);
  // A fence (or another fatal error) raised by a response in the middle of
  // the transaction makes later calls fail with generic errors: look at the
  // producer's fatal state, so that a fenced zombie never re-initialises
  // and fences the new owner in turn.
  char reason[512];
  const rd_kafka_resp_err_t fatal =
      rd_kafka_fatal_error(impl_->producer.get(), reason, sizeof(reason));
  if (!s.ok() && fatal != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::FailedPreconditionError(absl::StrCat("producer ", options_.transactional_id,
                                                      " fenced or failed fatally: ", reason));
  }
  return s;
}

absl::Status JournalPublisher::Produce(const std::string& topic, int64_t seq, absl::string_view key,
                                       absl::string_view value, rd_kafka_headers_t* headers) {
  rd_kafka_t* rk = impl_->producer.get();
  for (;;) {
    // No copy: the journal's bytes outlive the transaction (Publish's
    // contract), and librdkafka frees nothing it did not allocate.
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(options_.partition),
        RD_KAFKA_V_MSGFLAGS(0),
        RD_KAFKA_V_KEY(key.empty() ? nullptr : const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      records_in_txn_++;
      bytes_in_txn_ += static_cast<int64_t>(value.size());
      return absl::OkStatus();
    }
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
      rd_kafka_headers_destroy(headers);  // not taken on failure
      // Retrying cannot help: stop with a clear error (docs/kafka.md).
      return absl::FailedPreconditionError(absl::StrCat("output record ", seq, " of ", value.size(),
                                                        " bytes is too large for ", topic,
                                                        " (raise the producer's message.max.bytes: "
                                                        "-X producer.message.max.bytes=N)"));
    }
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_headers_destroy(headers);
      return FromKafka(err, absl::StrCat("produce to ", topic, "/", options_.partition));
    }
    rd_kafka_poll(rk, 10);  // the headers stay ours until a producev takes them
  }
}

absl::Status JournalPublisher::TryPublishOnce(absl::Span<const JournalRecordView> records) {
  rd_kafka_error_t* e = rd_kafka_begin_transaction(impl_->producer.get());
  if (e != nullptr) return FromTxnError(e, "begin transaction");
  records_in_txn_ = bytes_in_txn_ = 0;
  char seq_buf[24];
  for (const JournalRecordView& rec : records) {
    if (rec.seq <= published_seq_) continue;
    const absl::string_view seq = Decimal(rec.seq, seq_buf);
    switch (rec.kind) {
      case JournalKind::kOutcome:
        LOYALTY_RETURN_IF_ERROR(ProduceOutcome(rec, seq));
        break;
      case JournalKind::kBalance:
        LOYALTY_RETURN_IF_ERROR(ProduceBalance(rec, seq));
        break;
      case JournalKind::kDlq:
        LOYALTY_RETURN_IF_ERROR(ProduceDlq(rec, seq));
        break;
    }
  }
  return CommitTransaction();
}

absl::Status JournalPublisher::ProduceOutcome(const JournalRecordView& rec, absl::string_view seq) {
  const Topics& t = options_.topics;
  if (options_.outputs.outcomes) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, kHeaderSeq, -1, seq.data(), static_cast<ssize_t>(seq.size()));
    LOYALTY_RETURN_IF_ERROR(Produce(t.outcomes, rec.seq, rec.key, rec.value, h));
  }
  if (options_.outputs.ledger) {
    std::vector<absl::string_view>& entries = impl_->entries;
    entries.clear();
    LOYALTY_RETURN_IF_ERROR(OutcomeEntries(rec.value, &entries));
    for (absl::string_view entry : entries) {
      rd_kafka_headers_t* h = rd_kafka_headers_new(1);
      rd_kafka_header_add(h, kHeaderSeq, -1, seq.data(), static_cast<ssize_t>(seq.size()));
      LOYALTY_RETURN_IF_ERROR(Produce(t.ledger, rec.seq, rec.key, entry, h));
    }
  }
  return absl::OkStatus();
}

absl::Status JournalPublisher::ProduceBalance(const JournalRecordView& rec, absl::string_view seq) {
  if (!options_.outputs.balances) return absl::OkStatus();
  char num_buf[24];
  rd_kafka_headers_t* h = rd_kafka_headers_new(2);
  rd_kafka_header_add(h, kHeaderSeq, -1, seq.data(), static_cast<ssize_t>(seq.size()));
  const absl::string_view version = Decimal(rec.version, num_buf);
  rd_kafka_header_add(h, kHeaderVersion, -1, version.data(), static_cast<ssize_t>(version.size()));
  return Produce(options_.topics.balances, rec.seq, rec.key, rec.value, h);
}

absl::Status JournalPublisher::ProduceDlq(const JournalRecordView& rec, absl::string_view seq) {
  if (!options_.outputs.dlq) return absl::OkStatus();
  loyalty::v1::DlqRecord& dlq = impl_->dlq;
  if (!dlq.ParseFromArray(rec.value.data(), static_cast<int>(rec.value.size()))) {
    return absl::DataLossError(absl::StrCat("journal DLQ record ", rec.seq, " is unreadable"));
  }
  char num_buf[24];
  rd_kafka_headers_t* h = rd_kafka_headers_new(8);
  auto add = [h](const char* name, absl::string_view value) {
    rd_kafka_header_add(h, name, -1, value.data(), static_cast<ssize_t>(value.size()));
  };
  add(kHeaderSeq, seq);
  add(kHeaderReason, loyalty::v1::RejectReason_Name(dlq.reason()));
  add(kHeaderDetail, dlq.detail());
  add(kHeaderSourceTopic, options_.topics.events);
  add(kHeaderSourcePartition, Decimal(dlq.partition(), num_buf));
  add(kHeaderSourceOffset, Decimal(dlq.offset(), num_buf));
  add(kHeaderEngineVersion, LOYALTY_ENGINE_VERSION);
  // The value is a view of the raw bytes inside the journal (the parsed copy
  // is reused by the next DLQ record).
  absl::string_view raw;
  LOYALTY_RETURN_IF_ERROR(DlqRaw(rec.value, &raw));
  int64_t headers_bytes = 0;
  for (size_t i = 0;; ++i) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    if (rd_kafka_header_get_all(h, i, &name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) break;
    headers_bytes += static_cast<int64_t>(std::strlen(name) + size);
  }
  // Both headers added below, with room for their values.
  headers_bytes +=
      static_cast<int64_t>(sizeof(kHeaderOriginalSize) + 20 + sizeof(kHeaderOriginalSha256) + 64);
  if (static_cast<int64_t>(raw.size()) + headers_bytes > kDlqTopicDefaultMaxBytes &&
      !dlq_topic_described_) {
    // Larger than any topic's default limit: the DLQ topic's own limit
    // decides, asked once (the common, smaller records never ask, and the
    // embedded mock broker, which does not answer DescribeConfigs, is never
    // asked for them).
    dlq_topic_described_ = true;
    auto topic_max = TopicMaxBytes(impl_->producer.get(), options_.topics.dlq, CallTimeoutMs());
    if (topic_max.ok()) {
      dlq_topic_max_bytes_ = *topic_max;
    } else {
      log::Warn(
          "DLQ topic limit unknown: a DLQ record is cut to the producer's "
          "message.max.bytes only",
          {{"partition", options_.partition},
           {"topic", options_.topics.dlq},
           {"cause", topic_max.status().ToString()}});
    }
  }
  const int64_t max_bytes = DlqValueMaxBytes(headers_bytes);
  if (static_cast<int64_t>(raw.size()) > max_bytes) {
    // Too large for the DLQ topic: published cut to fit, saying what it was,
    // so that the partition never stalls on it.
    add(kHeaderOriginalSize, Decimal(static_cast<int64_t>(raw.size()), num_buf));
    add(kHeaderOriginalSha256, HexDigest(Sha256(raw)));
    raw = raw.substr(0, static_cast<size_t>(std::max<int64_t>(0, max_bytes)));
  }
  return Produce(options_.topics.dlq, rec.seq, {}, raw, h);
}

int64_t JournalPublisher::DlqValueMaxBytes(int64_t headers_bytes) const {
  // The record's framing: the batch header (61 bytes), the record's varints
  // and each header's lengths, well under this.
  constexpr int64_t kFramingBytes = 1024;
  int64_t limit = producer_max_bytes_ > 0 ? producer_max_bytes_ : 1'000'000;
  if (dlq_topic_max_bytes_ > 0) limit = std::min(limit, dlq_topic_max_bytes_);
  return limit - headers_bytes - kFramingBytes;
}

absl::Status JournalPublisher::CommitTransaction() {
  for (int attempt = 0;; ++attempt) {
    rd_kafka_error_t* e = rd_kafka_commit_transaction(impl_->producer.get(), CallTimeoutMs());
    if (e == nullptr) return absl::OkStatus();
    // A retriable failure (a timeout) may be retried with the same call;
    // anything else, and a commit that keeps timing out, needs a new producer.
    if (!rd_kafka_error_is_retriable(e) || attempt >= 2 || rd_kafka_error_is_fatal(e)) {
      return FromTxnError(e, "commit transaction");
    }
    rd_kafka_error_destroy(e);
  }
}

absl::Status JournalPublisher::Publish(absl::Span<const JournalRecordView> records) {
  int64_t last = 0;
  bool any = false;  // a record of a published topic above published_seq_
  const OutputSet& out = options_.outputs;
  for (const JournalRecordView& rec : records) {
    LOYALTY_CHECK(rec.seq > last) << "output sequence " << rec.seq << " after " << last;
    last = rec.seq;
    if (rec.seq <= published_seq_) continue;
    switch (rec.kind) {
      case JournalKind::kOutcome:
        any = any || out.outcomes || out.ledger;
        break;
      case JournalKind::kBalance:
        any = any || out.balances;
        break;
      case JournalKind::kDlq:
        any = any || out.dlq;
        break;
    }
  }
  if (last <= published_seq_) return absl::OkStatus();
  if (!any) {
    // Only records of topics not published (or no entries for the ledger):
    // nothing to commit.
    published_seq_ = last;
    return absl::OkStatus();
  }
  for (;;) {
    absl::Status s = TryPublish(records);
    if (s.ok()) {
      published_seq_ = last;
      records_published_ += records_in_txn_;
      bytes_published_ += bytes_in_txn_;
      return s;
    }
    if (absl::IsFailedPrecondition(s) || absl::IsDataLoss(s)) return s;
    if (GiveUp()) return Abandon(s);
    if (options_.log_retries) {
      log::Warn("publish failed; retrying with a new producer",
                {{"partition", options_.partition}, {"cause", s.ToString()}});
    }
    // The pause the docs promise between attempts: Reset's first attempt
    // usually succeeds at once (the producer starts), so without it a
    // transaction the broker keeps refusing was retried in a tight loop.
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.retry_backoff_ms));
    absl::Status reset = Reset();
    if (absl::IsCancelled(reset)) return Abandon(s);
    LOYALTY_RETURN_IF_ERROR(reset);
    if (last <= published_seq_) return absl::OkStatus();  // that commit did land
  }
}

absl::Status JournalPublisher::Abandon(const absl::Status& cause) {
  if (options_.log_retries) {
    log::Warn("publishing abandoned: the rest stays in the journal for the next owner",
              {{"partition", options_.partition},
               {"cause", cause.ToString()},
               {"from_seq", published_seq_ + 1}});
  }
  return absl::CancelledError(
      absl::StrCat("publisher ", options_.transactional_id, ": ", cause.message()));
}

int JournalPublisher::CallTimeoutMs() const {
  if (!cancel_seen_.has_value()) return options_.call_timeout_ms;
  // Stopping: no call outlives the grace by more than a short wait.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      *cancel_seen_ + std::chrono::milliseconds(options_.cancel_grace_ms) - Clock::now());
  return static_cast<int>(
      std::min<int64_t>(options_.call_timeout_ms, std::max<int64_t>(left.count(), 1'000)));
}

}  // namespace loyalty
