// File: cmd/explain_draw.h
// `loyaltyctl explain-draw`: why did (or didn't) an event win a random reward?
// For every random reward rule of the event's program it shows whether the
// rule applies to the event, the draw u mod 1,000,000 (SPEC §6), the
// threshold (probability_ppm) and the result; with a data directory also the
// wins the member was paid that local day against the rule's daily cap.
//
//   LOYALTY_ASSIGN_OR_RETURN(std::string text, ExplainDraw(programs, line, data_dir));
#ifndef LOYALTY_CMD_EXPLAIN_DRAW_H_
#define LOYALTY_CMD_EXPLAIN_DRAW_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/program/program.h"

namespace loyalty {

// `event_json` is one JSON Lines event (proto3 JSON). `data_dir` may be empty
// (no daily-cap counts). Errors name what is wrong with the event.
absl::StatusOr<std::string> ExplainDraw(const ProgramSet& programs, const std::string& event_json,
                                        const std::string& data_dir);

// The line of `path` whose event_id is `event_id` (the first one). NotFound
// names the file.
absl::StatusOr<std::string> FindEventLine(const std::string& path, const std::string& event_id);

}  // namespace loyalty

#endif  // LOYALTY_CMD_EXPLAIN_DRAW_H_
