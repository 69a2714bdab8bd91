// Copy progress in the terminal: see progress.hpp.
#include "shard/progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "common/progress_estimate.hpp"

namespace pgswarm::shard {
namespace {

using namespace std::chrono_literals;
constexpr auto kTtyInterval = 200ms;
constexpr auto kLogInterval = 5s;
constexpr int kBarWidth = 24;

std::string duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f}s", seconds);
  return fmt::format("{}m{:02}s", static_cast<int>(seconds) / 60, static_cast<int>(seconds) % 60);
}

}  // namespace

CopyProgressBar::CopyProgressBar(std::string label, std::int64_t totalRows, std::ostream& out,
                                 bool tty)
    : label_(std::move(label)),
      totalRows_(totalRows),
      out_(out),
      tty_(tty),
      started_(std::chrono::steady_clock::now()),
      lastDrawn_(started_) {}

std::string CopyProgressBar::humanBytes(std::int64_t bytes) {
  constexpr std::array<const char*, 5> kUnits{"B", "kB", "MB", "GB", "TB"};
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1000 && unit + 1 < kUnits.size()) {
    value /= 1000;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string CopyProgressBar::line(const cluster::CopyProgress& progress, bool done) const {
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  auto estimate = estimateProgress(progress.rows, totalRows_, elapsed, done);
  double fraction = totalRows_ > 0 ? estimate.percent.value_or(0) / 100.0 : 1.0;
  int filled = static_cast<int>(fraction * kBarWidth);
  std::string bar = std::string(filled, '#') + std::string(kBarWidth - filled, '.');
  std::string eta = done                  ? "in " + duration(elapsed)
                    : estimate.etaSeconds ? "ETA " + duration(*estimate.etaSeconds)
                                          : "ETA ?";
  return fmt::format("{:<34} [{}] {:3.0f}%  {}/{} rows  {}  {:.0f} rows/s  {}", label_, bar,
                     fraction * 100, progress.rows, totalRows_, humanBytes(progress.bytes),
                     estimate.ratePerSecond, eta);
}

void CopyProgressBar::update(const cluster::CopyProgress& progress) {
  auto now = std::chrono::steady_clock::now();
  if (now - lastDrawn_ < (tty_ ? kTtyInterval : kLogInterval)) return;
  lastDrawn_ = now;
  if (tty_) {
    out_ << "\r" << line(progress, false) << "\x1b[K" << std::flush;
  } else {
    out_ << line(progress, false) << "\n" << std::flush;
  }
}

void CopyProgressBar::finish(const cluster::CopyProgress& progress) {
  out_ << (tty_ ? "\r" : "") << line(progress, true) << (tty_ ? "\x1b[K\n" : "\n") << std::flush;
}

}  // namespace pgswarm::shard
