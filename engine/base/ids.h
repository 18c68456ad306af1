// File: engine/base/ids.h
// Strong types for the ids that key a member's data. A program id and a
// member id are both strings: with plain string_views, `Lookup(member,
// program)` compiles and reads another member's keys (or none). These types
// make the compiler refuse the swap.
//
//   const MemberRef ref{ProgramId(event.program_id()), MemberId(event.member_id())};
//   keys::AppendMember(&key, ref.program_id, ref.member_id);
//
// Views: they do not own the bytes, like absl::string_view, and cost the
// same to pass. The constructor is explicit so that a string never becomes
// an id without saying which.
#ifndef LOYALTY_ENGINE_BASE_IDS_H_
#define LOYALTY_ENGINE_BASE_IDS_H_

#include <ostream>

#include "absl/strings/string_view.h"

namespace loyalty {

template <typename Tag>
class IdView {
 public:
  constexpr explicit IdView(absl::string_view value) : value_(value) {}

  constexpr absl::string_view value() const { return value_; }
  constexpr bool empty() const { return value_.empty(); }

  friend constexpr bool operator==(IdView a, IdView b) { return a.value_ == b.value_; }
  friend std::ostream& operator<<(std::ostream& os, IdView id) { return os << id.value_; }

 private:
  absl::string_view value_;
};

using ProgramId = IdView<struct ProgramIdTag>;
using MemberId = IdView<struct MemberIdTag>;

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_BASE_IDS_H_
