// Process spawning and supervision helpers: see process.hpp.
#include "runtime/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace pgswarm::runtime {
namespace {

// Everything the child needs is prepared before fork(): after fork in a
// threaded program only async-signal-safe calls are allowed.
struct PreparedExec {
  std::vector<std::string> argvStore;
  std::vector<std::string> envStore;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

PreparedExec prepare(const SpawnOptions& options) {
  PreparedExec prepared;
  prepared.argvStore = options.argv;
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    auto eq = text.find('=');
    if (eq != std::string_view::npos) env[std::string(text.substr(0, eq))] = text.substr(eq + 1);
  }
  for (const auto& name : options.unsetEnv) env.erase(name);
  if (options.runAs) {
    env["HOME"] = options.runAs->home;
    env["USER"] = options.runAs->name;
    env["LOGNAME"] = options.runAs->name;
  }
  for (const auto& [name, value] : options.env) env[name] = value;
  for (const auto& [name, value] : env) prepared.envStore.push_back(name + "=" + value);
  for (auto& arg : prepared.argvStore) prepared.argv.push_back(arg.data());
  prepared.argv.push_back(nullptr);
  for (auto& entry : prepared.envStore) prepared.envp.push_back(entry.data());
  prepared.envp.push_back(nullptr);
  return prepared;
}

[[noreturn]] void childFail(int errorPipe) {
  int err = errno;
  (void)!::write(errorPipe, &err, sizeof err);
  ::_exit(127);
}

// Async-signal-safe (plain syscalls): runs between fork and exec. The error
// pipe stays open (it is CLOEXEC) to report a failed exec.
void closeDescriptorsAbove2Except(int keep) {
  constexpr unsigned kFirst = 3;
  unsigned last = ~0U;
  if (keep >= static_cast<int>(kFirst)) {
    auto kept = static_cast<unsigned>(keep);
    if (kept > kFirst) ::close_range(kFirst, kept - 1, 0);
    ::close_range(kept + 1, last, 0);
  } else {
    ::close_range(kFirst, last, 0);
  }
}

// Runs in the child between fork and exec.
[[noreturn]] void execChild(const SpawnOptions& options, PreparedExec& prepared, int outputFd,
                            int errorPipe) {
  if (options.newSession) ::setsid();
  if (options.dieWithParent) ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
  if (outputFd >= 0) {
    ::dup2(outputFd, STDOUT_FILENO);
    ::dup2(outputFd, STDERR_FILENO);
  }
  if (options.closeInheritedFds) closeDescriptorsAbove2Except(errorPipe);
  if (options.runAs) {
    const auto& who = *options.runAs;
    if (::setgroups(who.groups.size(), who.groups.data()) != 0) childFail(errorPipe);
    if (::setgid(who.gid) != 0) childFail(errorPipe);
    if (::setuid(who.uid) != 0) childFail(errorPipe);
  }
  if (!options.workingDir.empty() && ::chdir(options.workingDir.c_str()) != 0) childFail(errorPipe);
  ::execve(prepared.argv[0], prepared.argv.data(), prepared.envp.data());
  childFail(errorPipe);
}

// fork + exec with a CLOEXEC pipe that reports exec failure to the parent,
// so "no such program" is an error here instead of a child exiting 127.
Result<pid_t> forkExec(const SpawnOptions& options, int outputFd) {
  if (options.argv.empty()) return makeError("spawn: empty command");
  PreparedExec prepared = prepare(options);
  int errorPipe[2];
  if (::pipe2(errorPipe, O_CLOEXEC) != 0) return makeError("pipe: {}", std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(errorPipe[0]);
    ::close(errorPipe[1]);
    return makeError("fork: {}", std::strerror(errno));
  }
  if (pid == 0) {
    ::close(errorPipe[0]);
    execChild(options, prepared, outputFd, errorPipe[1]);
  }
  ::close(errorPipe[1]);
  int childErrno = 0;
  ssize_t n = 0;
  do {
    n = ::read(errorPipe[0], &childErrno, sizeof childErrno);
  } while (n < 0 && errno == EINTR);
  ::close(errorPipe[0]);
  if (n == sizeof childErrno) {
    ::waitpid(pid, nullptr, 0);
    return makeError("cannot start {}: {}", options.argv[0], std::strerror(childErrno));
  }
  return pid;
}

ExitStatus decodeWaitStatus(int status) {
  ExitStatus exit;
  if (WIFEXITED(status)) exit.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
  return exit;
}

void splitLines(std::string& pending, const LineHandler& onLine) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    if (pending[i] == '\n' || pending[i] == '\r') {
      if (i > start) onLine(std::string_view(pending).substr(start, i - start));
      start = i + 1;
    }
  }
  pending.erase(0, start);
}

}  // namespace

Result<std::optional<RunAs>> runAsWhenRoot(const std::string& user) {
  if (::geteuid() != 0) return std::optional<RunAs>{};
  if (user.empty())
    return makeError("running as root needs an unprivileged user to run postgres as");
  struct passwd* entry = ::getpwnam(user.c_str());
  if (entry == nullptr) return makeError("no such OS user '{}' to run postgres as", user);
  if (entry->pw_uid == 0)
    return makeError("OS user '{}' is root; postgres refuses to run as root", user);
  RunAs who{user, entry->pw_uid, entry->pw_gid, {}, entry->pw_dir};
  int count = 32;
  who.groups.resize(static_cast<std::size_t>(count));
  if (::getgrouplist(user.c_str(), who.gid, who.groups.data(), &count) < 0) {
    who.groups.resize(static_cast<std::size_t>(count));
    ::getgrouplist(user.c_str(), who.gid, who.groups.data(), &count);
  }
  who.groups.resize(static_cast<std::size_t>(count));
  return std::optional<RunAs>{std::move(who)};
}

std::string ExitStatus::describe() const {
  if (signal != 0)
    return "killed by signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
  return "exit code " + std::to_string(code);
}

Result<pid_t> spawnProcess(const SpawnOptions& options) {
  int outputFd = -1;
  if (!options.outputPath.empty()) {
    outputFd = ::open(options.outputPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (outputFd < 0)
      return makeError("cannot open log '{}': {}", options.outputPath, std::strerror(errno));
    if (options.runAs) (void)!::fchown(outputFd, options.runAs->uid, options.runAs->gid);
  }
  auto pid = forkExec(options, outputFd);
  if (outputFd >= 0) ::close(outputFd);
  return pid;
}

Result<ExitStatus> runProcess(const SpawnOptions& options, const LineHandler& onLine) {
  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC) != 0) return makeError("pipe: {}", std::strerror(errno));
  SpawnOptions childOptions = options;
  childOptions.outputPath.clear();
  auto pid = forkExec(childOptions, pipeFds[1]);
  ::close(pipeFds[1]);
  if (!pid) {
    ::close(pipeFds[0]);
    return pid.error();
  }
  std::string pending;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(pipeFds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    splitLines(pending, onLine);
  }
  ::close(pipeFds[0]);
  if (!pending.empty()) onLine(pending);
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0) {
    if (errno != EINTR) return makeError("waitpid: {}", std::strerror(errno));
  }
  return decodeWaitStatus(status);
}

std::optional<ExitStatus> reapChild(pid_t pid) {
  int status = 0;
  pid_t got = ::waitpid(pid, &status, WNOHANG);
  if (got == pid) return decodeWaitStatus(status);
  if (got < 0 && errno == ECHILD) return ExitStatus{};  // already reaped elsewhere
  return std::nullopt;
}

std::optional<ReapedChild> reapAnyChild() {
  int status = 0;
  pid_t got = ::waitpid(-1, &status, WNOHANG);
  if (got <= 0) return std::nullopt;
  return ReapedChild{got, decodeWaitStatus(status)};
}

bool processAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  // A zombie still answers kill(0); it is not alive for our purposes.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';
}

std::string processCommandLine(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  std::string text = content.str();
  for (char& c : text) {
    if (c == '\0') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

bool stopProcess(pid_t pid, std::chrono::milliseconds grace, int signal) {
  if (pid <= 0) return true;
  auto gone = [pid] {
    (void)reapChild(pid);
    return !processAlive(pid);
  };
  if (gone()) return true;
  ::kill(pid, signal);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (gone()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  for (int i = 0; i < 250; ++i) {
    if (gone()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace pgswarm::runtime
