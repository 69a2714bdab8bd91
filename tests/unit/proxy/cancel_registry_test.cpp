// The cancel-key map: keys are unique and random, a cancel finds a target
// only while the client is attached to a server, and a wrong key finds nothing.
#include "proxy/cancel_registry.hpp"

#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>

namespace pgswarm::proxy {
namespace {

std::shared_ptr<const CancelTarget> target(std::int32_t pid) {
  return std::make_shared<const CancelTarget>(
      CancelTarget{pool::ServerAddress{"127.0.0.1", 5432}, pid, pid * 7});
}

TEST(CancelRegistry, AssignedKeysAreUniqueAndFarFromRealPids) {
  CancelRegistry registry;
  std::set<CancelKey> keys;
  for (int i = 0; i < 1000; ++i) {
    auto registration = registry.add(0);
    EXPECT_GT(registration.key.pid, 0x7fff0000);
    EXPECT_TRUE(keys.insert(registration.key).second);
  }
  EXPECT_EQ(registry.size(), 1000U);
  // Secrets come from the kernel's random source: not one value for all.
  std::set<std::int32_t> secrets;
  for (const auto& key : keys) secrets.insert(key.secret);
  EXPECT_GT(secrets.size(), 990U);
}

TEST(CancelRegistry, SessionModeKeepsTheBackendPid) {
  CancelRegistry registry;
  auto registration = registry.add(4242);
  EXPECT_EQ(registration.key.pid, 4242);
}

TEST(CancelRegistry, FindsATargetOnlyWhileAttached) {
  CancelRegistry registry;
  auto registration = registry.add(0);
  EXPECT_FALSE(registry.find(registration.key));
  registration.slot->attach(target(99));
  auto found = registry.find(registration.key);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->backendPid, 99);
  EXPECT_EQ(found->backendSecret, 693);
  registration.slot->detach();
  EXPECT_FALSE(registry.find(registration.key));
}

TEST(CancelRegistry, AWrongKeyFindsNothing) {
  CancelRegistry registry;
  auto registration = registry.add(0);
  registration.slot->attach(target(1));
  CancelKey wrongSecret{registration.key.pid, registration.key.secret ^ 1};
  CancelKey wrongPid{registration.key.pid - 1, registration.key.secret};
  EXPECT_FALSE(registry.find(wrongSecret));
  EXPECT_FALSE(registry.find(wrongPid));
}

TEST(CancelRegistry, RemovedKeysFindNothing) {
  CancelRegistry registry;
  auto registration = registry.add(0);
  registration.slot->attach(target(5));
  registry.remove(registration.key);
  EXPECT_FALSE(registry.find(registration.key));
  EXPECT_EQ(registry.size(), 0U);
}

// A canceller on another worker may hold the target while the client
// detaches (or its server connection goes): the target it found stays whole.
TEST(CancelRegistry, AFoundTargetOutlivesDetach) {
  CancelRegistry registry;
  auto registration = registry.add(0);
  registration.slot->attach(target(8));
  auto found = registry.find(registration.key);
  registration.slot->detach();
  registry.remove(registration.key);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->backendPid, 8);
  EXPECT_EQ(found->address.host, "127.0.0.1");
}

// Attach and detach race with finds on other threads (ThreadSanitizer and
// ASan builds see any tear or use after free).
TEST(CancelRegistry, FindsRaceAttachAndDetach) {
  CancelRegistry registry;
  auto registration = registry.add(0);
  std::atomic<bool> done{false};
  std::thread finder([&] {
    while (!done.load()) {
      if (auto found = registry.find(registration.key)) {
        EXPECT_EQ(found->backendSecret, 7 * found->backendPid);
      }
    }
  });
  for (int i = 1; i <= 20000; ++i) {
    registration.slot->attach(target(i));
    registration.slot->detach();
  }
  done = true;
  finder.join();
}

}  // namespace
}  // namespace pgswarm::proxy
