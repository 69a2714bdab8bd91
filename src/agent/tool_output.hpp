// Output handling for the PostgreSQL tools the agent runs (initdb,
// pg_basebackup, pg_rewind): the last lines to quote when a tool fails, and
// progress meters that rewrite one line many times a second, logged once a
// second instead.
#pragma once

#include <chrono>
#include <deque>
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

class ProgressLog {
 public:
  explicit ProgressLog(std::string tool) : tool_(std::move(tool)) {}
  void line(std::string_view text) {
    last_ = std::string(text);
    auto now = std::chrono::steady_clock::now();
    if (now - lastLogged_ < std::chrono::seconds(1)) return;
    lastLogged_ = now;
    spdlog::info("{}: {}", tool_, last_);
    last_.clear();
  }
  void finish() {
    if (!last_.empty()) spdlog::info("{}: {}", tool_, last_);
  }

 private:
  std::string tool_;
  std::chrono::steady_clock::time_point lastLogged_{};
  std::string last_;
};

}  // namespace pgswarm::agent
