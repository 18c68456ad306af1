// pg_peer: the PostgreSQL peer of loyalty-bench (SPEC §9 (c)).
//
//   bench/peers/postgres/pg.sh start
//   build/bench/peers/postgres/pg_peer --brokers=127.0.0.1:19092 --topic=loyalty.events
//       --program=programs/cafe.textproto --until-end
//
// A Kafka consumer (read_committed) that applies the purchase base earn and
// the category multipliers of the engine (SPEC §6 "Purchase", first stage
// only: no tiers, promotions, lots or rewards) to a PostgreSQL table, one
// transaction per batch of records:
//
//   BEGIN;
//   INSERT INTO balances ... SELECT * FROM unnest($1, $2, $3)
//     ON CONFLICT (program_id, member_id) DO UPDATE SET points = balances.points + EXCLUDED.points;
//   INSERT INTO offsets ... ON CONFLICT (topic, partition) DO UPDATE SET next_offset = ...;
//   COMMIT;
//
// The batch is aggregated per member first, so each member is one row of one
// multi-row upsert. The next offset of each partition is stored in the same
// transaction, and at start the consumer is assigned the stored offsets (not
// the group's), so the table is exactly-once through a kill -9 of this
// process (or of PostgreSQL: a lost commit loses its offsets with it).
//
// Records that do not decode or fail the engine's stateless validation
// (SPEC §7) are counted as rejected, valid events other than purchases as
// skipped; both advance the offsets. There is no event_id de-duplication.
//
// Output: progress on stderr every few seconds; one JSON line on stdout at
// the end (README.md describes every field). Throughput counts from the
// first record consumed to the last commit; latency is, per record, the
// system clock when its COMMIT returned minus its Kafka timestamp.
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cmd/flags.h"
#include "engine/apply/apply.h"
#include "engine/apply/validate.h"
#include "engine/base/status.h"
#include "engine/base/time.h"
#include "engine/program/program.h"
#include "loyalty/v1/events.pb.h"

namespace {

using i128 = __int128;

constexpr char kUsage[] = R"(pg_peer: the PostgreSQL peer of loyalty-bench (SPEC §9 (c))

Consumes the input topic (read_committed) and applies the purchase base earn
and category multipliers to PostgreSQL, one transaction per batch that also
stores the next offset of each partition; restarts from those offsets.

Usage: pg_peer --brokers=HOST:PORT --topic=T [options]

  --brokers=LIST     Kafka bootstrap servers (required)
  --topic=T          the input topic (default loyalty.events)
  --pg=CONNINFO      libpq connection string (default
                     "host=127.0.0.1 port=19992 user=postgres dbname=loyalty",
                     what bench/peers/postgres/pg.sh start serves)
  --program=PATH     program file or directory (default programs/cafe.textproto)
  --batch-size=N     records per transaction at most (default 1000)
  --until-end        exit once everything up to the high watermarks read at
                     start is committed
  --duration-s=N     exit after N seconds (0, the default: no limit)
  --warmup-s=N       leave out of the latency figures the records whose
                     timestamp is within N s of the first record's (default 0)
  --reset            empty the balances and offsets tables first
  --help             this text

Without --until-end or --duration-s it runs until SIGTERM or SIGINT (the
batch in hand is committed first). Progress goes to stderr; one JSON line to
stdout at the end:
  {"peer":"postgres","events":N,"seconds":S,"events_per_s":R,
   "latency_ms":{"p50":..,"p99":..,"p999":..},"batches":B,
   "purchases":P,"skipped":K,"rejected":J}
)";

constexpr char kDefaultConninfo[] = "host=127.0.0.1 port=19992 user=postgres dbname=loyalty";
constexpr int kPollTimeoutMs = 100;
constexpr int64_t kProgressIntervalMs = 2000;
constexpr int64_t kLatencyMsMax = 600'000;  // the histogram's last bucket holds anything later
constexpr int kKafkaTimeoutMs = 10'000;

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------
// PostgreSQL

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;
struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// libpq's last error, without its trailing newline.
std::string PgMessage(PGconn* conn) {
  std::string message = PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

absl::Status PgError(PGconn* conn, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("postgres: ", what, ": ", PgMessage(conn)));
}

// Runs `sql` (no parameters; may hold several statements).
absl::Status Exec(PGconn* conn, const char* sql, absl::string_view what) {
  PgResult r(PQexec(conn, sql));
  const ExecStatusType s = PQresultStatus(r.get());
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) return PgError(conn, what);
  return absl::OkStatus();
}

absl::StatusOr<PgResult> ExecPrepared(PGconn* conn, const char* name,
                                      const std::vector<const std::string*>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string* p : params) values.push_back(p->c_str());
  PgResult r(PQexecPrepared(conn, name, static_cast<int>(values.size()), values.data(), nullptr,
                            nullptr, 0));
  const ExecStatusType s = PQresultStatus(r.get());
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) return PgError(conn, name);
  return r;
}

// One prepared statement of a transaction and its (text) parameters.
struct Step {
  const char* name;
  std::vector<const std::string*> params;
};

// Runs BEGIN, `steps` and COMMIT in one round trip (libpq pipeline mode), so
// that a batch wakes the backend once instead of once per statement. Any
// error aborts the rest (the transaction is not committed) and is returned;
// the caller gives up the connection then.
absl::Status ExecTransaction(PGconn* conn, const std::vector<Step>& steps) {
  if (PQenterPipelineMode(conn) != 1) return PgError(conn, "pipeline mode");
  auto send_plain = [conn](const char* sql) {
    return PQsendQueryParams(conn, sql, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  };
  bool sent = send_plain("BEGIN");
  for (const Step& step : steps) {
    if (!sent) break;
    std::vector<const char*> values;
    values.reserve(step.params.size());
    for (const std::string* p : step.params) values.push_back(p->c_str());
    sent = PQsendQueryPrepared(conn, step.name, static_cast<int>(values.size()), values.data(),
                               nullptr, nullptr, 0) == 1;
  }
  sent = sent && send_plain("COMMIT") && PQpipelineSync(conn) == 1;
  if (!sent) return PgError(conn, "sending the transaction");
  absl::Status status;
  for (size_t i = 0; i < steps.size() + 2; ++i) {
    const char* what = i == 0 ? "BEGIN" : i <= steps.size() ? steps[i - 1].name : "COMMIT";
    PgResult r(PQgetResult(conn));
    if (r == nullptr) return PgError(conn, what);
    const ExecStatusType s = PQresultStatus(r.get());
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && status.ok()) {
      std::string message = PQresultErrorMessage(r.get());
      while (!message.empty() && message.back() == '\n') message.pop_back();
      status = absl::UnavailableError(absl::StrCat(
          "postgres: ", what, ": ", s == PGRES_PIPELINE_ABORTED ? "aborted" : message));
    }
    PgResult end(PQgetResult(conn));  // NULL: the end of this statement's results
  }
  PgResult sync(PQgetResult(conn));
  if (PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC && status.ok()) {
    status = PgError(conn, "pipeline sync");
  }
  if (status.ok() && PQexitPipelineMode(conn) != 1) status = PgError(conn, "pipeline mode");
  return status;
}

absl::Status Prepare(PGconn* conn, const char* name, const char* sql) {
  PgResult r(PQprepare(conn, name, sql, 0, nullptr));
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) return PgError(conn, name);
  return absl::OkStatus();
}

// Balances are updated in place all the time: a fill factor below 100 keeps
// room on each page for HOT updates (points is not indexed). Ids are opaque
// bytes: the "C" collation compares them with memcmp instead of strcoll.
constexpr char kSchemaSql[] = R"sql(
CREATE TABLE IF NOT EXISTS balances (
  program_id text COLLATE "C" NOT NULL,
  member_id  text COLLATE "C" NOT NULL,
  points     bigint NOT NULL,
  PRIMARY KEY (program_id, member_id)
) WITH (fillfactor = 90);
CREATE TABLE IF NOT EXISTS offsets (
  topic       text COLLATE "C" NOT NULL,
  partition   integer NOT NULL,
  next_offset bigint  NOT NULL,
  PRIMARY KEY (topic, partition)
);
)sql";

// One row per member of the batch (the batch is aggregated first, so no key
// repeats, which ON CONFLICT DO UPDATE requires).
constexpr char kUpsertBalancesSql[] = R"sql(
INSERT INTO balances (program_id, member_id, points)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
ON CONFLICT (program_id, member_id) DO UPDATE SET points = balances.points + EXCLUDED.points
)sql";

constexpr char kUpsertOffsetsSql[] = R"sql(
INSERT INTO offsets (topic, partition, next_offset)
SELECT $1::text, * FROM unnest($2::integer[], $3::bigint[])
ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset
)sql";

constexpr char kSelectOffsetsSql[] =
    "SELECT partition, next_offset FROM offsets WHERE topic = $1::text";

// Appends `s` as one quoted element of a PostgreSQL array literal.
void AppendArrayText(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

// ---------------------------------------------------------------------------
// The earn

// The engine's own base earn (loyalty::BaseEarn, engine/apply/apply.h),
// bounded as the engine bounds an event's earn.
int64_t PurchaseEarn(const loyalty::CompiledProgram& program, const loyalty::v1::Purchase& p) {
  const i128 points = loyalty::BaseEarn(program, p);
  LOYALTY_CHECK(points >= 0 && points <= loyalty::kPointsPerEventMax) << "earn out of bounds";
  return static_cast<int64_t>(points);
}

// ---------------------------------------------------------------------------
// Latency: a histogram of whole milliseconds (Kafka timestamps are in ms).

class LatencyHistogram {
 public:
  LatencyHistogram() : counts_(kLatencyMsMax + 1, 0) {}
  void Add(int64_t ms) {
    ++counts_[static_cast<size_t>(std::clamp<int64_t>(ms, 0, kLatencyMsMax))];
    ++total_;
  }
  // The smallest latency with at least q of the samples at or below it.
  int64_t Percentile(double q) const {
    if (total_ == 0) return 0;
    const int64_t rank =
        std::max<int64_t>(1, static_cast<int64_t>(q * static_cast<double>(total_) + 0.999999999));
    int64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return static_cast<int64_t>(i);
    }
    return kLatencyMsMax;
  }

 private:
  std::vector<int64_t> counts_;
  int64_t total_ = 0;
};

// ---------------------------------------------------------------------------
// Kafka

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};

absl::Status KafkaError(rd_kafka_resp_err_t err, absl::string_view what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("kafka: ", what, ": ", rd_kafka_err2str(err)));
}

absl::StatusOr<KafkaHandle> NewConsumer(const std::string& brokers) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The group id is only a name: offsets are assigned from PostgreSQL and
  // never committed to Kafka.
  // clang-format off
  const std::vector<std::pair<const char*, const char*>> settings = {
      {"bootstrap.servers", brokers.c_str()},
      {"group.id", "loyalty-pg-peer"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"isolation.level", "read_committed"},
      {"enable.partition.eof", "true"},
      {"auto.offset.reset", "earliest"},
  };
  // clang-format on
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka: ", name, ": ", errstr));
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("kafka: ", errstr));
  }
  rd_kafka_poll_set_consumer(rk);
  return KafkaHandle(rk);
}

absl::StatusOr<int> PartitionCount(rd_kafka_t* rk, const std::string& topic) {
  std::unique_ptr<rd_kafka_topic_t, TopicDeleter> rkt(
      rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  const rd_kafka_metadata_t* md = nullptr;
  LOYALTY_RETURN_IF_ERROR(
      KafkaError(rd_kafka_metadata(rk, 0, rkt.get(), &md, kKafkaTimeoutMs), "metadata"));
  absl::StatusOr<int> result;
  if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR ||
      md->topics[0].partition_cnt == 0) {
    result = absl::NotFoundError(absl::StrCat(
        "--topic=", topic, ": no such topic on the broker (",
        md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "no metadata", ")"));
  } else {
    result = md->topics[0].partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  return result;
}

// ---------------------------------------------------------------------------
// The peer

struct Options {
  std::string brokers;
  std::string topic = "loyalty.events";
  std::string conninfo = kDefaultConninfo;
  std::string program_path = "programs/cafe.textproto";
  int64_t batch_records_max = 1000;
  bool until_end = false;
  int64_t duration_s = 0;  // 0: no limit
  int64_t warmup_s = 0;
  bool reset = false;
};

struct Results {
  int64_t events = 0;  // records committed in this run
  int64_t purchases = 0;
  int64_t skipped = 0;   // valid events other than purchases
  int64_t rejected = 0;  // undecodable or invalid (SPEC §7, stateless checks)
  int64_t batches = 0;
  int64_t first_consumed_steady_ms = 0;
  int64_t last_commit_steady_ms = 0;
  LatencyHistogram latency;
};

class Peer {
 public:
  Peer(Options options, loyalty::ProgramSet programs)
      : options_(std::move(options)), programs_(std::move(programs)) {}

  absl::Status Run(Results* results);

 private:
  absl::Status OpenPostgres();
  absl::Status OpenKafka();
  // Applies the records in hand and the offsets in `pending_` in one
  // transaction.
  absl::Status CommitBatch(Results* results);
  bool Done() const;

  Options options_;
  loyalty::ProgramSet programs_;
  PgConn pg_;
  KafkaHandle rk_;
  int partitions_ = 0;
  std::vector<int64_t> committed_;  // next offset per partition, as stored
  std::vector<int64_t> pending_;    // next offset per partition after the batch in hand
  std::vector<int64_t> watermark_;  // --until-end: high watermarks read at start
  // The batch in hand: earn per (program_id, member_id), record timestamps.
  std::map<std::pair<std::string, std::string>, int64_t> earn_;
  std::vector<int64_t> timestamps_ms_;
  int64_t first_timestamp_ms_ = -1;
};

absl::Status Peer::OpenPostgres() {
  pg_.reset(PQconnectdb(options_.conninfo.c_str()));
  if (PQstatus(pg_.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("--pg=", options_.conninfo, ": cannot connect: ", PgMessage(pg_.get())));
  }
  // No NOTICEs on stderr for CREATE TABLE IF NOT EXISTS.
  LOYALTY_RETURN_IF_ERROR(
      Exec(pg_.get(), "SET client_min_messages TO warning", "client_min_messages"));
  LOYALTY_RETURN_IF_ERROR(Exec(pg_.get(), kSchemaSql, "create tables"));
  if (options_.reset) {
    LOYALTY_RETURN_IF_ERROR(Exec(pg_.get(), "TRUNCATE balances, offsets", "reset"));
  }
  LOYALTY_RETURN_IF_ERROR(Prepare(pg_.get(), "upsert_balances", kUpsertBalancesSql));
  LOYALTY_RETURN_IF_ERROR(Prepare(pg_.get(), "upsert_offsets", kUpsertOffsetsSql));
  LOYALTY_RETURN_IF_ERROR(Prepare(pg_.get(), "select_offsets", kSelectOffsetsSql));
  return absl::OkStatus();
}

absl::Status Peer::OpenKafka() {
  LOYALTY_ASSIGN_OR_RETURN(rk_, NewConsumer(options_.brokers));
  LOYALTY_ASSIGN_OR_RETURN(partitions_, PartitionCount(rk_.get(), options_.topic));
  committed_.assign(static_cast<size_t>(partitions_), 0);
  LOYALTY_ASSIGN_OR_RETURN(PgResult stored,
                           ExecPrepared(pg_.get(), "select_offsets", {&options_.topic}));
  for (int row = 0; row < PQntuples(stored.get()); ++row) {
    const int p = std::atoi(PQgetvalue(stored.get(), row, 0));
    const int64_t next = std::atoll(PQgetvalue(stored.get(), row, 1));
    if (p < 0 || p >= partitions_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "offsets table has partition ", p, " of ", options_.topic, ", which has only ",
          partitions_, " partitions (a recreated topic? run with --reset)"));
    }
    committed_[static_cast<size_t>(p)] = next;
  }
  pending_ = committed_;
  if (options_.until_end) {
    watermark_.assign(static_cast<size_t>(partitions_), 0);
    for (int p = 0; p < partitions_; ++p) {
      int64_t low = 0, high = 0;
      LOYALTY_RETURN_IF_ERROR(
          KafkaError(rd_kafka_query_watermark_offsets(rk_.get(), options_.topic.c_str(), p, &low,
                                                      &high, kKafkaTimeoutMs),
                     absl::StrCat("watermarks of partition ", p)));
      watermark_[static_cast<size_t>(p)] = high;
    }
  }
  std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter> list(
      rd_kafka_topic_partition_list_new(partitions_));
  for (int p = 0; p < partitions_; ++p) {
    rd_kafka_topic_partition_t* tp =
        rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), p);
    const int64_t next = committed_[static_cast<size_t>(p)];
    tp->offset = next > 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
  }
  return KafkaError(rd_kafka_assign(rk_.get(), list.get()), "assign");
}

bool Peer::Done() const {
  if (!options_.until_end) return false;
  for (int p = 0; p < partitions_; ++p) {
    if (committed_[static_cast<size_t>(p)] < watermark_[static_cast<size_t>(p)]) return false;
  }
  return true;
}

absl::Status Peer::CommitBatch(Results* results) {
  std::string programs = "{", members = "{", points = "{";
  for (const auto& [key, earned] : earn_) {  // sorted: rows are locked in key order
    if (programs.size() > 1) {
      programs.push_back(',');
      members.push_back(',');
      points.push_back(',');
    }
    AppendArrayText(&programs, key.first);
    AppendArrayText(&members, key.second);
    absl::StrAppend(&points, earned);
  }
  programs.push_back('}');
  members.push_back('}');
  points.push_back('}');
  std::string partitions = "{", offsets = "{";
  for (int p = 0; p < partitions_; ++p) {
    const size_t i = static_cast<size_t>(p);
    if (pending_[i] == committed_[i]) continue;
    if (partitions.size() > 1) {
      partitions.push_back(',');
      offsets.push_back(',');
    }
    absl::StrAppend(&partitions, p);
    absl::StrAppend(&offsets, pending_[i]);
  }
  partitions.push_back('}');
  offsets.push_back('}');

  std::vector<Step> steps;
  if (!earn_.empty()) steps.push_back({"upsert_balances", {&programs, &members, &points}});
  if (partitions.size() > 2) {
    steps.push_back({"upsert_offsets", {&options_.topic, &partitions, &offsets}});
  }
  LOYALTY_RETURN_IF_ERROR(ExecTransaction(pg_.get(), steps));
  const int64_t now_ms = loyalty::WallMs();
  results->last_commit_steady_ms = SteadyNowMs();
  const int64_t measure_from_ms = first_timestamp_ms_ + options_.warmup_s * 1000;
  for (int64_t ts : timestamps_ms_) {
    if (ts >= measure_from_ms) results->latency.Add(now_ms - ts);
  }
  results->events += static_cast<int64_t>(timestamps_ms_.size());
  ++results->batches;
  committed_ = pending_;
  earn_.clear();
  timestamps_ms_.clear();
  return absl::OkStatus();
}

// Long on purpose: the peer's consume loop as the peer's README describes
// it (poll, batch, commit, stop), kept in one place so it can be compared
// with the engine's.
absl::Status Peer::Run(Results* results) {
  LOYALTY_RETURN_IF_ERROR(OpenPostgres());
  LOYALTY_RETURN_IF_ERROR(OpenKafka());
  const int64_t start_ms = SteadyNowMs();
  const int64_t end_ms =
      options_.duration_s > 0 ? start_ms + options_.duration_s * 1000 : INT64_MAX;
  int64_t progress_at_ms = start_ms + kProgressIntervalMs;
  int64_t progress_events = 0;
  loyalty::v1::Event event;
  absl::Status status;
  while (status.ok() && !g_stop.load() && !Done() && SteadyNowMs() < end_ms) {
    // Gather a batch: wait for the first record, then take what is at hand.
    int64_t records = 0;
    int timeout_ms = kPollTimeoutMs;
    while (records < options_.batch_records_max) {
      std::unique_ptr<rd_kafka_message_t, MessageDeleter> m(
          rd_kafka_consumer_poll(rk_.get(), timeout_ms));
      if (m == nullptr) break;
      const size_t p = static_cast<size_t>(m->partition);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        // Everything below m->offset is consumed, transaction markers and
        // aborted records included.
        if (p < pending_.size()) pending_[p] = std::max(pending_[p], m->offset);
        timeout_ms = 0;
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        char reason[512];
        if (rd_kafka_fatal_error(rk_.get(), reason, sizeof(reason)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
          status = absl::UnavailableError(absl::StrCat("kafka: fatal: ", reason));
          break;
        }
        std::fprintf(stderr, "pg_peer: kafka: %s\n", rd_kafka_message_errstr(m.get()));
        continue;
      }
      if (p >= pending_.size()) continue;
      timeout_ms = 0;
      if (results->first_consumed_steady_ms == 0) results->first_consumed_steady_ms = SteadyNowMs();
      ++records;
      pending_[p] = m->offset + 1;
      rd_kafka_timestamp_type_t ts_type;
      const int64_t ts = rd_kafka_message_timestamp(m.get(), &ts_type);
      if (first_timestamp_ms_ < 0) first_timestamp_ms_ = ts;
      timestamps_ms_.push_back(ts);
      loyalty::Rejection r =
          loyalty::DecodeEvent(absl::string_view(static_cast<const char*>(m->payload), m->len),
                               loyalty::InputFormat::kBinary, &event);
      if (r.ok()) r = loyalty::ValidateEvent(event, programs_);
      if (!r.ok()) {
        ++results->rejected;
        continue;
      }
      if (!event.has_purchase()) {
        ++results->skipped;
        continue;
      }
      ++results->purchases;
      const loyalty::CompiledProgram* program = programs_.Find(event.program_id());
      earn_[{event.program_id(), event.member_id()}] += PurchaseEarn(*program, event.purchase());
    }
    if (!status.ok()) break;
    if (records > 0 || pending_ != committed_) status = CommitBatch(results);
    const int64_t now_ms = SteadyNowMs();
    if (now_ms >= progress_at_ms) {
      const double rate = static_cast<double>(results->events - progress_events) * 1000.0 /
                          static_cast<double>(now_ms - progress_at_ms + kProgressIntervalMs);
      std::fprintf(stderr, "pg_peer: %lld records committed in %lld batches, %.0f records/s\n",
                   static_cast<long long>(results->events),
                   static_cast<long long>(results->batches), rate);
      progress_events = results->events;
      progress_at_ms = now_ms + kProgressIntervalMs;
    }
  }
  rd_kafka_consumer_close(rk_.get());
  return status;
}

int Fail(const std::string& message, int code = 2) {
  std::cerr << "pg_peer: " << message << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  auto flags = loyalty::Flags::Parse(argc, argv, 1,
                                     {"brokers", "topic", "pg", "program", "batch-size",
                                      "until-end", "duration-s", "warmup-s", "reset", "help"},
                                     {"until-end", "reset", "help"});
  if (!flags.ok()) return Fail(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!flags->positional().empty()) {
    return Fail(absl::StrCat("unexpected argument '", flags->positional()[0], "' (see --help)"));
  }
  Options o;
  auto brokers = flags->Require("brokers");
  auto batch = flags->GetInt("batch-size", o.batch_records_max);
  auto duration = flags->GetInt("duration-s", 0);
  auto warmup = flags->GetInt("warmup-s", 0);
  for (const absl::Status& s :
       {brokers.status(), batch.status(), duration.status(), warmup.status()}) {
    if (!s.ok()) return Fail(std::string(s.message()));
  }
  o.brokers = *brokers;
  o.topic = flags->Get("topic", o.topic);
  o.conninfo = flags->Get("pg", o.conninfo);
  o.program_path = flags->Get("program", o.program_path);
  o.batch_records_max = *batch;
  o.duration_s = *duration;
  o.warmup_s = *warmup;
  o.until_end = flags->Get("until-end") == "true";
  o.reset = flags->Get("reset") == "true";
  if (o.topic.empty()) return Fail("--topic: must not be empty");
  if (o.batch_records_max < 1 || o.batch_records_max > 1'000'000) {
    return Fail(absl::StrCat("--batch-size=", o.batch_records_max, ": use 1..1000000"));
  }
  if (o.duration_s < 0) return Fail(absl::StrCat("--duration-s=", o.duration_s, ": must be >= 0"));
  if (o.warmup_s < 0) return Fail(absl::StrCat("--warmup-s=", o.warmup_s, ": must be >= 0"));
  auto programs = loyalty::LoadPrograms(o.program_path);
  if (!programs.ok()) {
    return Fail(absl::StrCat("--program=", o.program_path, ": ", programs.status().message()));
  }

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  Results results;
  Peer peer(std::move(o), std::move(*programs));
  if (absl::Status s = peer.Run(&results); !s.ok()) return Fail(s.ToString(), 1);

  const double seconds =
      results.events == 0
          ? 0.0
          : static_cast<double>(results.last_commit_steady_ms - results.first_consumed_steady_ms) /
                1000.0;
  const double rate = seconds > 0 ? static_cast<double>(results.events) / seconds : 0.0;
  std::cout << absl::StrFormat(
                   "{\"peer\":\"postgres\",\"events\":%d,\"seconds\":%.3f,\"events_per_s\":%.0f,"
                   "\"latency_ms\":{\"p50\":%d,\"p99\":%d,\"p999\":%d},\"batches\":%d,"
                   "\"purchases\":%d,\"skipped\":%d,\"rejected\":%d}",
                   results.events, seconds, rate, results.latency.Percentile(0.50),
                   results.latency.Percentile(0.99), results.latency.Percentile(0.999),
                   results.batches, results.purchases, results.skipped, results.rejected)
            << std::endl;
  return 0;
}
