// File: tests/testing/command.h
// Running the project's binaries from tests: a shell command's exit code and
// its stdout and stderr together.
//
//   CommandResult r = Sh(Bin("loyaltyctl") + " --help");
//   EXPECT_EQ(r.exit_code, 0) << r.output;
#ifndef LOYALTY_TESTS_TESTING_COMMAND_H_
#define LOYALTY_TESTS_TESTING_COMMAND_H_

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace loyalty::testing {

// A binary of the build tree: <LOYALTY_BINARY_DIR>/<dir>/<name> (ctest sets
// LOYALTY_BINARY_DIR; "." otherwise), e.g. Bin("loyaltyctl"),
// Bin("loyalty-gen", "tests/testing").
inline std::string Bin(const std::string& name, const std::string& dir = "cmd") {
  const char* root = std::getenv("LOYALTY_BINARY_DIR");
  return std::string(root != nullptr ? root : ".") + "/" + dir + "/" + name;
}

struct CommandResult {
  int exit_code = -1;  // -1 if it could not run or did not exit normally
  std::string output;  // stdout and stderr
};

inline CommandResult Sh(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Starts args[0] with `args` in a child process (no shell), its stderr
// appended to `stderr_path` when given; returns its pid (-1 if fork
// failed). The caller waits for it (waitpid).
inline pid_t Spawn(const std::vector<std::string>& args, const std::string& stderr_path = "") {
  pid_t pid = fork();
  if (pid == 0) {
    if (!stderr_path.empty()) {
      const int fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace loyalty::testing

#endif  // LOYALTY_TESTS_TESTING_COMMAND_H_
