// Data folder lock, inspection and creation: see data_dir.hpp.
#include "agent/data_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/files.hpp"

namespace pgswarm::agent {
namespace {

namespace fs = std::filesystem;

std::string firstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

Result<AgentLock> AgentLock::acquire(const std::string& path, const std::string& dataDir) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return makeError("cannot open lock file '{}': {}", path, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int saved = errno;
    ::close(fd);
    if (saved != EWOULDBLOCK) return makeError("cannot lock '{}': {}", path, std::strerror(saved));
    auto holder = firstLine(path);
    return makeError(
        "another pgswarm node agent{} already runs on data folder '{}' (lock '{}' "
        "is held); refusing to start a second one",
        holder.empty() ? "" : " (pid " + holder + ")", dataDir, path);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    spdlog::warn("cannot write our pid into '{}': {}", path, std::strerror(errno));
  }
  return AgentLock(fd);
}

AgentLock::AgentLock(AgentLock&& other) noexcept : fd_(other.fd_) {
  other.fd_ = -1;
}

AgentLock::~AgentLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

Result<DataDirState> inspectDataDir(const std::string& dataDir) {
  std::error_code ec;
  auto status = fs::status(dataDir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return makeError("cannot inspect data folder '{}': {}", dataDir, ec.message());
  }
  if (!fs::exists(status)) return DataDirState{};
  if (!fs::is_directory(status)) return makeError("data folder '{}' is not a folder", dataDir);
  DataDirState state;
  if (fs::exists(fs::path(dataDir) / "PG_VERSION", ec)) {
    state.kind = DataDirKind::kCluster;
    state.standby = fs::exists(fs::path(dataDir) / "standby.signal", ec);
    return state;
  }
  bool empty = fs::is_empty(dataDir, ec);
  if (ec) return makeError("cannot read data folder '{}': {}", dataDir, ec.message());
  state.kind = empty ? DataDirKind::kEmpty : DataDirKind::kUnknown;
  return state;
}

Status createStateDir(const std::string& stateDir) {
  std::error_code ec;
  fs::create_directories(stateDir, ec);
  if (ec) return makeError("cannot create folder '{}': {}", stateDir, ec.message());
  return Ok{};
}

Result<bool> createDataDir(const std::string& dataDir, const std::optional<runtime::RunAs>& owner) {
  std::error_code ec;
  bool created = fs::create_directory(dataDir, ec);
  if (ec) return makeError("cannot create data folder '{}': {}", dataDir, ec.message());
  if (::chmod(dataDir.c_str(), 0700) != 0) {
    return makeError("cannot chmod data folder '{}': {}", dataDir, std::strerror(errno));
  }
  if (owner && ::chown(dataDir.c_str(), owner->uid, owner->gid) != 0) {
    return makeError("cannot hand data folder '{}' to {}: {}", dataDir, owner->name,
                     std::strerror(errno));
  }
  return created;
}

Status checkDataDirOwner(const std::string& dataDir, const std::optional<runtime::RunAs>& owner) {
  struct stat info {};
  if (::stat(dataDir.c_str(), &info) != 0) {
    return makeError("cannot stat data folder '{}': {}", dataDir, std::strerror(errno));
  }
  uid_t expected = owner ? owner->uid : ::geteuid();
  if (info.st_uid == expected) return Ok{};
  return makeError(
      "data folder '{}' is owned by uid {}, but postgres runs as {} (uid {}) and "
      "refuses a folder it does not own; chown it or set --run-as",
      dataDir, info.st_uid, owner ? owner->name : "this user", expected);
}

void removeHalfMadeDataDir(const std::string& dataDir, bool weCreatedIt) {
  std::error_code ec;
  if (weCreatedIt) {
    fs::remove_all(dataDir, ec);
  } else {
    for (const auto& entry : fs::directory_iterator(dataDir, ec)) fs::remove_all(entry.path(), ec);
  }
  if (ec) spdlog::warn("could not fully remove the half-made '{}': {}", dataDir, ec.message());
}

Status writeOwnedFile(const std::string& path, const std::string& content, mode_t mode,
                      const std::optional<runtime::RunAs>& owner) {
  if (auto written = writeFileAtomic(path, content, mode); !written) return written;
  if (owner && ::chown(path.c_str(), owner->uid, owner->gid) != 0) {
    return makeError("cannot hand '{}' to {}: {}", path, owner->name, std::strerror(errno));
  }
  return Ok{};
}

std::optional<pid_t> foreignPostmaster(const std::string& dataDir, pid_t ourChild) {
  std::ifstream in(dataDir + "/postmaster.pid");
  std::string pidLine;
  std::string dirLine;
  if (!std::getline(in, pidLine) || !std::getline(in, dirLine)) return std::nullopt;
  pid_t pid = 0;
  try {
    pid = static_cast<pid_t>(std::stol(pidLine));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  // A stale file may name a recycled PID (in a container even our own).
  if (pid <= 0 || pid == ourChild || pid == ::getpid() || !runtime::processAlive(pid)) {
    return std::nullopt;
  }
  auto cmdline = runtime::processCommandLine(pid);
  if (cmdline.find("postgres") == std::string::npos &&
      cmdline.find("postmaster") == std::string::npos) {
    return std::nullopt;
  }
  return pid;
}

bool InitMarker::present() const {
  std::error_code ec;
  return fs::exists(path_, ec);
}

Status InitMarker::set(const std::string& dataDir) const {
  return writeFileAtomic(path_, dataDir + "\n", 0644);
}

void InitMarker::clear() const {
  std::error_code ec;
  fs::remove(path_, ec);
}

}  // namespace pgswarm::agent
