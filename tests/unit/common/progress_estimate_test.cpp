// The one rate/ETA/percent rule of every progress display.
#include "common/progress_estimate.hpp"

#include <gtest/gtest.h>

namespace pgswarm {
namespace {

TEST(ProgressEstimate, RateEtaAndPercentOfARunningOperation) {
  auto estimate = estimateProgress(2500, 10000, 5.0, false);
  EXPECT_DOUBLE_EQ(estimate.ratePerSecond, 500.0);
  ASSERT_TRUE(estimate.etaSeconds);
  EXPECT_DOUBLE_EQ(*estimate.etaSeconds, 15.0);
  ASSERT_TRUE(estimate.percent);
  EXPECT_EQ(*estimate.percent, 25);
}

TEST(ProgressEstimate, NoEtaBeforeARateOrOnceEndedOrPastTheTotal) {
  EXPECT_FALSE(estimateProgress(0, 100, 3.0, false).etaSeconds) << "no rate yet";
  EXPECT_FALSE(estimateProgress(50, 100, 0.0, false).etaSeconds) << "no time passed";
  EXPECT_FALSE(estimateProgress(50, 100, 2.0, true).etaSeconds) << "ended";
  auto past = estimateProgress(120, 100, 2.0, false);
  EXPECT_FALSE(past.etaSeconds) << "the total was an estimate";
  EXPECT_EQ(past.percent, 100) << "capped";
}

TEST(ProgressEstimate, NoPercentWithoutATotal) {
  auto estimate = estimateProgress(300, 0, 3.0, false);
  EXPECT_FALSE(estimate.percent);
  EXPECT_FALSE(estimate.etaSeconds);
  EXPECT_DOUBLE_EQ(estimate.ratePerSecond, 100.0);
}

}  // namespace
}  // namespace pgswarm
