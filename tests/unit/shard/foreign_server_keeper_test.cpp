// The statement that re-points a shard node's foreign server after its
// group failed over (pure): only what differs, quoted, ADD for a missing
// option.
#include "shard/foreign_server_keeper.hpp"

#include <gtest/gtest.h>

namespace pgswarm::shard {
namespace {

const std::map<std::string, std::string> kCreated{
    {"host", "10.0.0.1"}, {"port", "5432"}, {"dbname", "app"}, {"fetch_size", "10000"}};

TEST(RepointStatement, NothingWhenTheServerAlreadyPointsThere) {
  EXPECT_EQ(repointStatement("pgswarm_shard1", kCreated, "10.0.0.1", 5432), std::nullopt);
}

TEST(RepointStatement, SetsBothOptionsOnAFailover) {
  EXPECT_EQ(repointStatement("pgswarm_shard1", kCreated, "10.0.0.2", 5433),
            R"(ALTER SERVER "pgswarm_shard1" OPTIONS (SET host E'10.0.0.2', SET port E'5433'))");
}

TEST(RepointStatement, SetsOnlyWhatDiffers) {
  EXPECT_EQ(repointStatement("pgswarm_shard1", kCreated, "10.0.0.1", 5433),
            R"(ALTER SERVER "pgswarm_shard1" OPTIONS (SET port E'5433'))");
  EXPECT_EQ(repointStatement("pgswarm_shard1", kCreated, "db-b", 5432),
            R"(ALTER SERVER "pgswarm_shard1" OPTIONS (SET host E'db-b'))");
}

TEST(RepointStatement, AddsAnOptionTheServerLacks) {
  EXPECT_EQ(repointStatement("pgswarm_shard1", {{"dbname", "app"}}, "h", 6000),
            R"(ALTER SERVER "pgswarm_shard1" OPTIONS (ADD host E'h', ADD port E'6000'))");
}

TEST(RepointStatement, QuotesTheServerNameAndTheHost) {
  EXPECT_EQ(repointStatement("pgswarm_Shard\"1", kCreated, "it's\\", 5432),
            R"(ALTER SERVER "pgswarm_Shard""1" OPTIONS (SET host E'it''s\\'))");
}

}  // namespace
}  // namespace pgswarm::shard
