// A shard command's copy figures across its copies: what its row in
// pgswarm.operations says (the recorder writes them; this is its arithmetic).
#include "shard/shard_operations.hpp"

#include <gtest/gtest.h>

namespace pgswarm::shard {
namespace {

TEST(CopyTally, CopiesOfAPhaseAddUp) {
  CopyTally tally;
  tally.start(1000);
  tally.copied({.rows = 200, .bytes = 20000});
  EXPECT_EQ(tally.rowsDone(), 200);
  EXPECT_EQ(tally.bytesDone(), 20000);
  tally.ended({.rows = 400, .bytes = 40000});   // the first partition's copy
  tally.copied({.rows = 100, .bytes = 10000});  // the second one's, under way
  EXPECT_EQ(tally.rowsDone(), 500);
  EXPECT_EQ(tally.bytesDone(), 50000);
  EXPECT_EQ(tally.rowsTotal(), 1000);
  // 100 bytes a row so far: the stream's size, extrapolated.
  EXPECT_EQ(tally.bytesTotal(), 100000);
}

TEST(CopyTally, ANewPhaseStartsFromNothing) {
  CopyTally tally;
  tally.start(10);
  tally.ended({.rows = 10, .bytes = 999});
  tally.start(4);  // a recopy
  EXPECT_EQ(tally.rowsDone(), 0);
  EXPECT_EQ(tally.bytesDone(), 0);
  EXPECT_EQ(tally.rowsTotal(), 4);
  EXPECT_EQ(tally.bytesTotal(), 0) << "nothing to extrapolate from";
}

TEST(CopyTally, RowsWrittenDuringTheCopyGrowTheTotal) {
  CopyTally tally;
  tally.start(100);
  tally.copied({.rows = 130, .bytes = 1300});
  EXPECT_EQ(tally.rowsTotal(), 130) << "never below what is done";
  EXPECT_EQ(tally.bytesTotal(), 1300);
}

}  // namespace
}  // namespace pgswarm::shard
