// Shared startup parameter sets: equal sets share one copy while a holder
// lives, different sets never do, and sets nobody holds are forgotten.
#include "pool/parameter_sets.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgswarm::pool {
namespace {

Parameters withApp(const std::string& app) {
  return {{"user", "alice"}, {"database", "shop"}, {"application_name", app}};
}

TEST(ParameterSets, EqualSetsShareOneCopy) {
  ParameterSets sets;
  auto first = sets.intern(withApp("web"));
  auto second = sets.intern(withApp("web"));
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(*first, withApp("web"));
}

TEST(ParameterSets, DifferentSetsAreKeptApart) {
  ParameterSets sets;
  auto web = sets.intern(withApp("web"));
  auto batch = sets.intern(withApp("batch"));
  EXPECT_NE(web.get(), batch.get());
  EXPECT_EQ(*batch, withApp("batch"));
  // Same pairs in another order are another startup packet.
  auto reordered =
      sets.intern({{"database", "shop"}, {"user", "alice"}, {"application_name", "web"}});
  EXPECT_NE(reordered.get(), web.get());
}

TEST(ParameterSets, ASetWithoutHoldersIsMadeAgain) {
  ParameterSets sets;
  std::weak_ptr<const Parameters> first = sets.intern(withApp("web"));
  EXPECT_TRUE(first.expired());  // nobody held it: the interner keeps no copy alive
  auto again = sets.intern(withApp("web"));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(*again, withApp("web"));
  EXPECT_EQ(sets.intern(withApp("web")).get(), again.get());
}

TEST(ParameterSets, SetsNobodyHoldsAreForgotten) {
  ParameterSets sets;
  std::vector<std::shared_ptr<const Parameters>> held;
  for (int i = 0; i < 1000; ++i) {
    auto set = sets.intern(withApp("app" + std::to_string(i)));
    if (i % 10 == 0) held.push_back(set);
  }
  // The sweeps keep the map within twice the live sets (and its floor).
  EXPECT_LE(sets.size(), std::max<std::size_t>(64, 2 * held.size()) + 1);
  for (const auto& set : held) EXPECT_EQ(sets.intern(Parameters(*set)).get(), set.get());
}

}  // namespace
}  // namespace pgswarm::pool
