// File: bench/workload.cc
#include "bench/workload.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/base/status.h"
#include "loyalty/v1/events.pb.h"

namespace loyalty::bench {
namespace {

constexpr const char* kCategories[] = {"coffee", "pastry", "sandwich", "gift_card", "merch"};
constexpr size_t kRecentOrders = 4096;

void SetTime(int64_t unix_ms, google::protobuf::Timestamp* t) {
  t->set_seconds(unix_ms / 1000);
  t->set_nanos(static_cast<int32_t>(unix_ms % 1000) * 1'000'000);
}

}  // namespace

Workload::Workload(const WorkloadOptions& options) : options_(options), rng_(options.seed) {
  LOYALTY_CHECK(options_.members >= 1 && options_.events >= 0 && options_.partitions >= 1);
  zipf_cdf_.resize(static_cast<size_t>(options_.members));
  double sum = 0;
  for (int64_t k = 0; k < options_.members; ++k) {
    sum += std::pow(static_cast<double>(k + 1), -options_.zipf_exponent);
    zipf_cdf_[static_cast<size_t>(k)] = sum;
  }
  for (double& c : zipf_cdf_) c /= sum;
  recent_orders_.reserve(kRecentOrders);
}

int64_t Workload::total_records() const {
  const int64_t ticks = options_.tick_every > 0 ? options_.events / options_.tick_every : 0;
  return options_.events + ticks * options_.partitions;
}

std::string Workload::Member() {
  const double u = rng_.Unit();
  const auto rank = static_cast<uint64_t>(std::lower_bound(zipf_cdf_.begin(), zipf_cdf_.end(), u) -
                                          zipf_cdf_.begin());
  // Scramble ranks (a bijection: 2654435761 is prime) so that hot members
  // are not all on one partition.
  const auto n = static_cast<uint64_t>(options_.members);
  const uint64_t id = static_cast<uint64_t>(
      (static_cast<unsigned __int128>(std::min<uint64_t>(rank, n - 1)) * 2654435761u) % n);
  return absl::StrCat("m", id);
}

bool Workload::Next(WorkloadRecord* record) {
  record->partition = -1;
  if (pending_ticks_ > 0) {
    loyalty::v1::Event e;
    e.set_event_id(absl::StrCat("tick-", options_.seed, "-", events_done_));
    e.set_program_id(options_.program_id);
    const int64_t now_ms = options_.start_unix_s * 1000 + (events_done_ - 1) * options_.step_ms;
    SetTime(now_ms, e.mutable_occurred_at());
    SetTime(now_ms, e.mutable_tick()->mutable_now());
    record->key.clear();
    record->partition = options_.partitions - pending_ticks_;
    --pending_ticks_;
    e.SerializeToString(&record->value);
    return true;
  }
  if (events_done_ >= options_.events) return false;
  NextEvent(record);
  ++events_done_;
  if (options_.tick_every > 0 && events_done_ % options_.tick_every == 0) {
    pending_ticks_ = options_.partitions;
  }
  return true;
}

// Long on purpose: one branch per kind of event in the mix, in the order of
// WorkloadOptions' shares.
void Workload::NextEvent(WorkloadRecord* record) {
  const int64_t n = events_done_;
  loyalty::v1::Event e;
  e.set_event_id(absl::StrCat("e", options_.seed, "-", n));
  e.set_program_id(options_.program_id);
  std::string member = Member();
  SetTime(options_.start_unix_s * 1000 + n * options_.step_ms, e.mutable_occurred_at());
  e.set_source("pos");

  if (rng_.Permille(options_.bad_permille)) {
    switch (rng_.Uniform(4)) {
      case 0:  // not a protobuf at all
        record->key = member;
        record->value = absl::StrCat("\xff\xff garbage ", n);
        return;
      case 1:
        e.set_program_id("no-such-program");
        break;
      case 2:
        member.clear();
        break;
      default:
        e.mutable_purchase()->set_order_id(absl::StrCat("bad-", n));
        e.mutable_purchase()->set_amount_minor(-100);
        e.mutable_purchase()->set_currency("EUR");
        break;
    }
    if (!e.has_purchase()) e.mutable_engagement()->set_action("like");
    e.set_member_id(member);
    record->key = member;
    e.SerializeToString(&record->value);
    return;
  }

  e.set_member_id(member);
  const int64_t kind = rng_.Uniform(100);
  if (kind < 70 || (kind >= 95 && kind < 98 && recent_orders_.empty())) {
    auto* p = e.mutable_purchase();
    p->set_order_id(absl::StrCat("o", options_.seed, "-", n));
    p->set_currency("EUR");
    p->set_store_id(absl::StrCat("s", rng_.Uniform(50)));
    const int64_t items = 1 + rng_.Uniform(5);
    int64_t total = 0;
    for (int64_t k = 0; k < items; ++k) {
      auto* item = p->add_items();
      item->set_category(kCategories[rng_.Uniform(5)]);
      item->set_sku(absl::StrCat(item->category(), "-", rng_.Uniform(20)));
      item->set_quantity(static_cast<int32_t>(1 + rng_.Uniform(3)));
      item->set_amount_minor(item->quantity() * (150 + rng_.Uniform(750)));
      total += item->amount_minor();
    }
    p->set_amount_minor(total);
    Order o{member, p->order_id(), total};
    if (recent_orders_.size() < kRecentOrders) {
      recent_orders_.push_back(std::move(o));
    } else {
      recent_orders_[recent_next_] = std::move(o);
      recent_next_ = (recent_next_ + 1) % kRecentOrders;
    }
  } else if (kind < 90) {
    auto* g = e.mutable_engagement();
    g->set_action(rng_.Uniform(10) < 7 ? "like" : "review");
    g->set_ref(absl::StrCat("r", rng_.Uniform(1000)));
  } else if (kind < 95) {
    auto* r = e.mutable_redemption();
    if (rng_.Uniform(10) < 7) {
      r->set_reward_id("free-coffee");
    } else {
      r->set_points(100);
    }
  } else if (kind < 98) {
    // A refund of a recent order, by the member who placed it: full or half.
    const Order& o = recent_orders_[static_cast<size_t>(
        rng_.Uniform(static_cast<int64_t>(recent_orders_.size())))];
    e.set_member_id(o.member);
    member = o.member;
    e.mutable_refund()->set_order_id(o.order_id);
    e.mutable_refund()->set_amount_minor(rng_.Uniform(2) ? o.amount_minor : o.amount_minor / 2);
  } else {
    auto* a = e.mutable_adjustment();
    const int64_t points = 1 + rng_.Uniform(100);
    a->set_points(rng_.Uniform(4) ? points : -points);
    a->set_reason("goodwill");
    a->set_operator_id("ops-1");
  }
  record->key = member;
  e.SerializeToString(&record->value);
}

}  // namespace loyalty::bench
