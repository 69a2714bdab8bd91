// Rate, ETA and percent of a long operation: see progress_estimate.hpp.
#include "common/progress_estimate.hpp"

#include <algorithm>
#include <cmath>

namespace pgswarm {

ProgressEstimate estimateProgress(std::int64_t done, std::int64_t total, double elapsedSeconds,
                                  bool finished) {
  ProgressEstimate out;
  out.ratePerSecond = elapsedSeconds > 0 ? static_cast<double>(done) / elapsedSeconds : 0;
  if (total > 0) {
    out.percent = static_cast<int>(std::clamp<std::int64_t>(done * 100 / total, 0, 100));
  }
  if (!finished && out.ratePerSecond > 0 && total > done) {
    out.etaSeconds = static_cast<double>(total - done) / out.ratePerSecond;
  }
  return out;
}

std::string progressBarText(std::optional<double> percent, int width) {
  int filled =
      percent ? std::clamp(static_cast<int>(std::lround(*percent * width / 100.0)), 0, width) : 0;
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
}

}  // namespace pgswarm
