// Output handling for the PostgreSQL tools the agent runs (initdb,
// pg_basebackup, pg_rewind): the last lines to quote when a tool fails, and
// progress meters that rewrite one line many times a second, logged once a
// second instead and reported to the agent's /status (the dashboard shows
// them).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace pgswarm::agent {

class OutputTail {
 public:
  static constexpr std::size_t kLines = 12;
  void add(std::string_view line) {
    lines_.emplace_back(line);
    if (lines_.size() > kLines) lines_.pop_front();
  }
  [[nodiscard]] std::string text() const {
    std::string out;
    for (const auto& line : lines_) out += (out.empty() ? "" : "\n") + line;
    return out.empty() ? "(no output)" : out;
  }

 private:
  std::deque<std::string> lines_;
};

// A long tool run as its --progress lines tell it (pg_basebackup,
// pg_rewind): kept after it ended, until the next one starts.
struct ToolProgress {
  std::string tool;
  std::int64_t doneKb = 0;
  std::int64_t totalKb = 0;  // 0 until the tool has said
  std::chrono::system_clock::time_point started{};
  std::chrono::system_clock::time_point updated{};
  bool finished = false;
  bool succeeded = false;
};

// "done/total kB" from a progress line ("  3875/37913 kB (10%), 0/1
// tablespace", "1234/5678 kB (21%) copied"); nullopt for any other line.
[[nodiscard]] std::optional<std::pair<std::int64_t, std::int64_t>> parseKbProgress(
    std::string_view line);

using ProgressReport = std::function<void(const ToolProgress&)>;

class ProgressLog {
 public:
  explicit ProgressLog(std::string tool, ProgressReport report = {});
  void line(std::string_view text);
  void finish(bool succeeded);

 private:
  std::string tool_;
  ProgressReport report_;
  ToolProgress progress_;
  std::chrono::steady_clock::time_point lastLogged_{};
  std::string last_;
};

}  // namespace pgswarm::agent
