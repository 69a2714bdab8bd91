// Progress of the PostgreSQL tools the agent runs: see tool_output.hpp.
#include "agent/tool_output.hpp"

#include <charconv>

namespace pgswarm::agent {
namespace {

std::optional<std::int64_t> number(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<std::pair<std::int64_t, std::int64_t>> parseKbProgress(std::string_view line) {
  auto unit = line.find(" kB (");
  if (unit == std::string_view::npos) return std::nullopt;
  auto figures = line.substr(0, unit);
  auto start = figures.find_last_of(' ');
  figures = start == std::string_view::npos ? figures : figures.substr(start + 1);
  auto slash = figures.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto done = number(figures.substr(0, slash));
  auto total = number(figures.substr(slash + 1));
  if (!done || !total) return std::nullopt;
  return std::pair{*done, *total};
}

ProgressLog::ProgressLog(std::string tool, ProgressReport report)
    : tool_(std::move(tool)), report_(std::move(report)) {
  progress_.tool = tool_;
  progress_.started = progress_.updated = std::chrono::system_clock::now();
  if (report_) report_(progress_);
}

void ProgressLog::line(std::string_view text) {
  if (auto figures = parseKbProgress(text)) {
    progress_.doneKb = figures->first;
    progress_.totalKb = figures->second;
    progress_.updated = std::chrono::system_clock::now();
    if (report_) report_(progress_);
  }
  last_ = std::string(text);
  auto now = std::chrono::steady_clock::now();
  if (now - lastLogged_ < std::chrono::seconds(1)) return;
  lastLogged_ = now;
  spdlog::info("{}: {}", tool_, last_);
  last_.clear();
}

void ProgressLog::finish(bool succeeded) {
  if (!last_.empty()) spdlog::info("{}: {}", tool_, last_);
  progress_.finished = true;
  progress_.succeeded = succeeded;
  progress_.updated = std::chrono::system_clock::now();
  if (report_) report_(progress_);
}

}  // namespace pgswarm::agent
