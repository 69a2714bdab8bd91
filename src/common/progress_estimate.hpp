// Rate, ETA and percent of a long operation from its done and total
// counts (bytes, kB, rows): one rule for every progress pgswarm shows, the
// terminal's copy bars, the dashboard's shard copies and node operations.
// Pure arithmetic; no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace pgswarm {

struct ProgressEstimate {
  double ratePerSecond = 0;  // done / elapsed; 0 before any time passed
  // Seconds left at that rate; none once ended, before a rate exists, or
  // once done passed a total that was only an estimate.
  std::optional<double> etaSeconds;
  std::optional<int> percent;  // 0..100; none without a total
};

[[nodiscard]] ProgressEstimate estimateProgress(std::int64_t done, std::int64_t total,
                                                double elapsedSeconds, bool finished);

// "[#######.............]" for a percent; all dots when it is unknown.
[[nodiscard]] std::string progressBarText(std::optional<double> percent, int width = 20);

}  // namespace pgswarm
