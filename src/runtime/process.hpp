// Child processes for the supervisor and the local-cluster commands: spawn
// (optionally as an unprivileged user, detached, with output to a log file),
// run to completion with output split into lines, and check or stop a PID.
// Knows nothing about PostgreSQL; never signals a process it cannot name.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace pgswarm::runtime {

// An OS account to run children as (postgres refuses to run as root).
struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string home;
};

// The account named `user` when this process is root; nullopt when it is not
// (children then simply inherit our identity).
[[nodiscard]] Result<std::optional<RunAs>> runAsWhenRoot(const std::string& user);

struct SpawnOptions {
  std::vector<std::string> argv;           // argv[0] is the program path
  std::map<std::string, std::string> env;  // set on top of our environment
  std::vector<std::string> unsetEnv;       // removed from the inherited environment
  std::optional<RunAs> runAs;
  std::string outputPath;      // stdout+stderr appended here; empty: inherit
  bool newSession = false;     // setsid(): survives our terminal closing
  bool dieWithParent = false;  // PR_SET_PDEATHSIG SIGTERM
  std::string workingDir;
  // Close every descriptor above stderr in the child: libraries that open
  // sockets without CLOEXEC (cpp-httplib) must not leak them into a
  // long-lived child such as a postmaster.
  bool closeInheritedFds = false;
};

[[nodiscard]] Result<pid_t> spawnProcess(const SpawnOptions& options);

struct ExitStatus {
  int code = -1;   // exit code when the child exited
  int signal = 0;  // terminating signal when it was killed
  [[nodiscard]] bool success() const { return signal == 0 && code == 0; }
  [[nodiscard]] std::string describe() const;
};

// Runs to completion; stdout and stderr are merged and delivered line by line
// ('\n' or '\r' ends a line, so progress meters arrive as they update).
// `outputPath` in options is ignored.
using LineHandler = std::function<void(std::string_view line)>;
[[nodiscard]] Result<ExitStatus> runProcess(const SpawnOptions& options, const LineHandler& onLine);

// Non-blocking reap of our own child: nullopt while it still runs.
[[nodiscard]] std::optional<ExitStatus> reapChild(pid_t pid);

// Non-blocking reap of whichever child has exited (a container's PID 1 must
// also collect orphans reparented to it): nullopt when none has.
struct ReapedChild {
  pid_t pid = 0;
  ExitStatus status;
};
[[nodiscard]] std::optional<ReapedChild> reapAnyChild();

[[nodiscard]] bool processAlive(pid_t pid);
// /proc/<pid>/cmdline with NULs turned to spaces; empty when gone.
[[nodiscard]] std::string processCommandLine(pid_t pid);

// SIGTERM (or `signal`), wait up to `grace`, then SIGKILL; true once gone.
// Works for children (reaped) and for unrelated processes (polled).
bool stopProcess(pid_t pid, std::chrono::milliseconds grace, int signal = 15);

}  // namespace pgswarm::runtime
