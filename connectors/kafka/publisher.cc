#include "connectors/kafka/publisher.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "connectors/kafka/client.h"
#include "engine/base/bytes.h"
#include "engine/base/status.h"

#ifndef LOYALTY_ENGINE_VERSION
#define LOYALTY_ENGINE_VERSION "unknown"
#endif

namespace loyalty {

using kafka_internal::FromKafka;
using kafka_internal::KafkaHandle;
using kafka_internal::NewClient;
using loyalty::v1::OutboxRecord;

class OutboxPublisher::Impl {
 public:
  KafkaHandle producer;
  KafkaHandle reader;  // read_committed consumer for LastCommittedSeq
  std::string scratch;
};

namespace {

using Clock = std::chrono::steady_clock;

// Takes ownership of `e`; fatal errors (fencing among them) are
// FailedPrecondition, the rest Unavailable.
absl::Status FromTxnError(rd_kafka_error_t* e, const std::string& what) {
  const bool fatal = rd_kafka_error_is_fatal(e);
  absl::Status s = fatal
                       ? absl::FailedPreconditionError(
                             absl::StrCat(what, ": fenced or fatal: ", rd_kafka_error_string(e)))
                       : absl::UnavailableError(absl::StrCat(what, ": ", rd_kafka_error_string(e)));
  rd_kafka_error_destroy(e);
  return s;
}

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

absl::StatusOr<KafkaHandle> NewReader(const std::string& brokers) {
  return NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", brokers},
                                       {"group.id", "loyalty-outbox-reader"},
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
                                         int32_t partition, int timeout_ms) {
  int64_t best = 0;
  for (const std::string& topic : topics.outputs()) {
    LOYALTY_ASSIGN_OR_RETURN(int64_t seq, LastSeqOf(reader, topic, partition, timeout_ms));
    best = std::max(best, seq);
  }
  return best;
}

// Headers of `rec`; the caller owns them until producev takes them.
rd_kafka_headers_t* HeadersOf(const OutboxRecord& rec, const std::string& source_topic) {
  rd_kafka_headers_t* h = rd_kafka_headers_new(rec.has_dlq() ? 8 : 2);
  auto add = [h](const char* name, const std::string& value) {
    rd_kafka_header_add(h, name, -1, value.data(), static_cast<ssize_t>(value.size()));
  };
  add(kHeaderSeq, absl::StrCat(rec.seq()));
  if (rec.has_balance()) add(kHeaderVersion, absl::StrCat(rec.balance().state().version()));
  if (rec.has_dlq()) {
    const auto& d = rec.dlq();
    add(kHeaderReason, loyalty::v1::RejectReason_Name(d.reason()));
    add(kHeaderDetail, d.detail());
    add(kHeaderSourceTopic, source_topic);
    add(kHeaderSourcePartition, absl::StrCat(d.partition()));
    add(kHeaderSourceOffset, absl::StrCat(d.offset()));
    add(kHeaderEngineVersion, LOYALTY_ENGINE_VERSION);
  }
  return h;
}

}  // namespace

OutboxPublisher::OutboxPublisher(const PublisherOptions& options, const std::atomic<bool>* cancel)
    : options_(options), cancel_(cancel), impl_(std::make_unique<Impl>()) {}

OutboxPublisher::~OutboxPublisher() = default;

absl::StatusOr<std::unique_ptr<OutboxPublisher>> OutboxPublisher::Create(
    const PublisherOptions& options, const std::atomic<bool>* cancel) {
  if (options.brokers.empty()) return absl::InvalidArgumentError("brokers are required");
  if (options.transactional_id.empty()) {
    return absl::InvalidArgumentError("transactional_id is required");
  }
  std::unique_ptr<OutboxPublisher> p(new OutboxPublisher(options, cancel));
  LOYALTY_ASSIGN_OR_RETURN(p->impl_->reader, NewReader(options.brokers));
  LOYALTY_RETURN_IF_ERROR(p->Reset());
  return p;
}

absl::Status OutboxPublisher::Reset() {
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      // Only a failure is cancelled: with a healthy broker a stopping engine
      // still publishes what it applied.
      if (cancel_ != nullptr && cancel_->load()) {
        return absl::CancelledError(absl::StrCat("publisher ", options_.transactional_id));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.retry_backoff_ms));
    }
    impl_->producer.reset();  // a producer is never reused after a failure
    const std::string txn_timeout = absl::StrCat(options_.transaction_timeout_ms);
    auto producer = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", options_.brokers},
                                                  {"transactional.id", options_.transactional_id},
                                                  {"transaction.timeout.ms", txn_timeout},
                                                  {"message.timeout.ms", txn_timeout},
                                                  {"linger.ms", "2"},
                                                  // Back-to-back transactions meet
                                                  // CONCURRENT_TRANSACTIONS while the previous
                                                  // one's markers are written; the default
                                                  // 100 ms backoff would set every
                                                  // transaction's floor (KAFKA-5477).
                                                  {"retry.backoff.ms", "10"},
                                                  {"queue.buffering.max.messages", "1000000"},
                                                  {"queue.buffering.max.kbytes", "1048576"},
                                                  // A DLQ record is a rejected input (up to
                                                  // 1 MiB, or more if the input topic allows)
                                                  // plus headers.
                                                  {"message.max.bytes", "16777216"}});
    if (!producer.ok()) return producer.status();  // a configuration error
    impl_->producer = std::move(*producer);
    rd_kafka_error_t* e =
        rd_kafka_init_transactions(impl_->producer.get(), options_.call_timeout_ms);
    absl::Status s;
    if (e != nullptr)
      s = FromTxnError(e, absl::StrCat("init transactions of ", options_.transactional_id));
    if (s.ok()) {
      // The producer learns the output topics' leaders now, not in the first
      // transaction (which would hold up the first batches by a metadata
      // round trip per topic).
      for (const std::string& topic : options_.topics.outputs()) {
        rd_kafka_topic_t* t = rd_kafka_topic_new(impl_->producer.get(), topic.c_str(), nullptr);
        const rd_kafka_metadata_t* md = nullptr;
        if (rd_kafka_metadata(impl_->producer.get(), 0, t, &md, options_.call_timeout_ms) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
          rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(t);
      }
      auto seq = LastCommittedSeq(impl_->reader.get(), options_.topics, options_.partition,
                                  options_.call_timeout_ms);
      if (seq.ok()) {
        AdvancePublished(*seq);
        return absl::OkStatus();
      }
      s = seq.status();
    }
    if (absl::IsFailedPrecondition(s) || absl::IsDataLoss(s)) return s;
    if (options_.log_retries) {
      std::fprintf(stderr, "loyaltyd: partition %d: %s; retrying\n", options_.partition,
                   s.ToString().c_str());
    }
  }
}

absl::Status OutboxPublisher::TryPublish(absl::Span<const OutboxRecord> records) {
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

absl::Status OutboxPublisher::TryPublishOnce(absl::Span<const OutboxRecord> records) {
  rd_kafka_t* rk = impl_->producer.get();
  rd_kafka_error_t* e = rd_kafka_begin_transaction(rk);
  if (e != nullptr) return FromTxnError(e, "begin transaction");
  const Topics& t = options_.topics;
  std::string& value = impl_->scratch;
  for (const OutboxRecord& rec : records) {
    if (rec.seq() <= published_seq_) continue;
    const std::string* topic = nullptr;
    std::string key;
    switch (rec.record_case()) {
      case OutboxRecord::kBalance:
        topic = &t.balances;
        key = absl::StrCat(rec.balance().state().program_id(), "/",
                           rec.balance().state().member_id());
        SerializeDeterministicTo(rec.balance(), &value);
        break;
      case OutboxRecord::kEntry:
        topic = &t.ledger;
        key = absl::StrCat(rec.entry().program_id(), "/", rec.entry().member_id());
        SerializeDeterministicTo(rec.entry(), &value);
        break;
      case OutboxRecord::kOutcome:
        topic = &t.outcomes;
        key = absl::StrCat(rec.outcome().program_id(), "/", rec.outcome().member_id());
        SerializeDeterministicTo(rec.outcome(), &value);
        break;
      case OutboxRecord::kDlq:
        topic = &t.dlq;
        value = rec.dlq().raw();
        break;
      case OutboxRecord::RECORD_NOT_SET:
        LOYALTY_CHECK(false) << "outbox record " << rec.seq() << " is empty";
    }
    for (;;) {
      rd_kafka_headers_t* headers = HeadersOf(rec, t.events);
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC(topic->c_str()), RD_KAFKA_V_PARTITION(options_.partition),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
          RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_HEADERS(headers),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      rd_kafka_headers_destroy(headers);  // not taken on failure
      if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        // Retrying cannot help: stop with a clear error (docs/kafka.md).
        return absl::FailedPreconditionError(
            absl::StrCat("output record ", rec.seq(), " of ", value.size(),
                         " bytes is too large for ", *topic, " (raise its max.message.bytes)"));
      }
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return FromKafka(err, absl::StrCat("produce to ", *topic, "/", options_.partition));
      }
      rd_kafka_poll(rk, 10);
    }
  }
  for (int attempt = 0;; ++attempt) {
    e = rd_kafka_commit_transaction(rk, options_.call_timeout_ms);
    if (e == nullptr) return absl::OkStatus();
    // A retriable failure (a timeout) may be retried with the same call;
    // anything else, and a commit that keeps timing out, needs a new producer.
    if (!rd_kafka_error_is_retriable(e) || attempt >= 2 || rd_kafka_error_is_fatal(e)) {
      return FromTxnError(e, "commit transaction");
    }
    rd_kafka_error_destroy(e);
  }
}

absl::Status OutboxPublisher::Publish(absl::Span<const OutboxRecord> records) {
  int64_t last = 0;
  for (const OutboxRecord& rec : records) {
    LOYALTY_CHECK(rec.seq() > last) << "outbox sequence " << rec.seq() << " after " << last;
    last = rec.seq();
  }
  if (last <= published_seq_) return absl::OkStatus();
  for (;;) {
    absl::Status s = TryPublish(records);
    if (s.ok()) {
      published_seq_ = last;
      return s;
    }
    if (absl::IsFailedPrecondition(s)) return s;
    if (cancel_ != nullptr && cancel_->load()) {
      return absl::CancelledError(
          absl::StrCat("publisher ", options_.transactional_id, ": ", s.message()));
    }
    if (options_.log_retries) {
      std::fprintf(stderr, "loyaltyd: partition %d: %s; retrying with a new producer\n",
                   options_.partition, s.ToString().c_str());
    }
    LOYALTY_RETURN_IF_ERROR(Reset());
    if (last <= published_seq_) return absl::OkStatus();  // that commit did land
  }
}

}  // namespace loyalty
