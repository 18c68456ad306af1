// File: cmd/loyaltyctl_kafka.h
// loyaltyctl's commands that read the cluster: `tail TOPIC` (records as
// JSON lines) and `status` (per partition: applied offset, end, lag, owner,
// last commit). Each returns the process's exit status (0, 1 for an error,
// 2 for bad usage) after printing its output or error.
#ifndef LOYALTY_CMD_LOYALTYCTL_KAFKA_H_
#define LOYALTY_CMD_LOYALTYCTL_KAFKA_H_

#include <string>
#include <vector>

#include "cmd/flags.h"

namespace loyalty {

// `-f` as --follow and `-n N` (or -nN) as --max-records=N: tail's short
// options, rewritten before Flags::Parse (which knows long flags only).
std::vector<std::string> ExpandTailShortOptions(int argc, char** argv);

int TailCommand(const Flags& flags, const std::vector<std::string>& args);
int StatusCommand(const Flags& flags, const std::vector<std::string>& args);

}  // namespace loyalty

#endif  // LOYALTY_CMD_LOYALTYCTL_KAFKA_H_
