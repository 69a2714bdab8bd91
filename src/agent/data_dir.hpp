// The agent's hold on its data folder: the lock that keeps a second agent
// away, what the folder holds (nothing, a cluster, something else), its
// creation with the right owner, and the postmaster.pid check that keeps a
// second postmaster away. Never deletes anything it was not told to.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "common/result.hpp"
#include "runtime/process.hpp"

namespace pgswarm::agent {

// flock on <state dir>/pgswarm-agent.lock for the agent's whole life.
class AgentLock {
 public:
  // Fails with a message naming the holder's PID when another agent has it.
  [[nodiscard]] static Result<AgentLock> acquire(const std::string& path,
                                                 const std::string& dataDir);
  AgentLock(AgentLock&& other) noexcept;
  AgentLock& operator=(AgentLock&&) = delete;
  AgentLock(const AgentLock&) = delete;
  ~AgentLock();

 private:
  explicit AgentLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

enum class DataDirKind {
  kMissing,  // no such folder
  kEmpty,    // an empty folder (a fresh volume)
  kCluster,  // holds PG_VERSION: reuse, never initialise over it
  kUnknown,  // holds files but no cluster: refuse to touch it
};

struct DataDirState {
  DataDirKind kind = DataDirKind::kMissing;
  bool standby = false;  // standby.signal present
};

[[nodiscard]] Result<DataDirState> inspectDataDir(const std::string& dataDir);

// Creates the state folder (the data folder's parent) and its missing parents, 0755.
[[nodiscard]] Status createStateDir(const std::string& stateDir);

// Creates `dataDir` (0700, owned by `owner` when given), or fixes the mode and
// owner of an existing empty one. Returns whether it created dataDir.
[[nodiscard]] Result<bool> createDataDir(const std::string& dataDir,
                                         const std::optional<runtime::RunAs>& owner);
// postgres refuses a data folder it does not own; say so before it does.
[[nodiscard]] Status checkDataDirOwner(const std::string& dataDir,
                                       const std::optional<runtime::RunAs>& owner);

// Removes what a failed initialisation left: the folder itself when we
// created it, else only its content (it was empty before we started).
void removeHalfMadeDataDir(const std::string& dataDir, bool weCreatedIt);

// Writes a file atomically with `mode` and hands it to `owner`.
[[nodiscard]] Status writeOwnedFile(const std::string& path, const std::string& content,
                                    mode_t mode, const std::optional<runtime::RunAs>& owner);

// The PID in <dataDir>/postmaster.pid when it is a live postgres process that
// is not `ourChild`: starting another postmaster there must be refused.
[[nodiscard]] std::optional<pid_t> foreignPostmaster(const std::string& dataDir, pid_t ourChild);

// Marks an initialisation in progress, so a run interrupted half-way (agent
// killed during initdb or pg_basebackup) is recognised and redone instead of
// being mistaken for a usable cluster.
class InitMarker {
 public:
  explicit InitMarker(std::string path) : path_(std::move(path)) {}
  [[nodiscard]] bool present() const;
  [[nodiscard]] Status set(const std::string& dataDir) const;
  void clear() const;

 private:
  std::string path_;
};

}  // namespace pgswarm::agent
