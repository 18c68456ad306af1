// File: cmd/loyaltyctl_backup.h
// loyaltyctl's backup commands (SPEC §10, engine/store/backup.h): `backup`
// (every partition store of --data-dir into --backup-dir, beside a running
// engine), `backups` (list them) and `restore` (into --data-dir, with no
// engine holding the stores). Each returns the process's exit status (0, 1
// for an error, 2 for bad usage) after printing its output or error.
#ifndef LOYALTY_CMD_LOYALTYCTL_BACKUP_H_
#define LOYALTY_CMD_LOYALTYCTL_BACKUP_H_

#include <string>
#include <vector>

#include "cmd/flags.h"

namespace loyalty {

int BackupCommand(const Flags& flags, const std::vector<std::string>& args);
int BackupsCommand(const Flags& flags, const std::vector<std::string>& args);
int RestoreCommand(const Flags& flags, const std::vector<std::string>& args);

}  // namespace loyalty

#endif  // LOYALTY_CMD_LOYALTYCTL_BACKUP_H_
