// Sticky A/B assignment: the hash is FNV-1a 64 (reproducible elsewhere), the same key always lands in
// the same arm, and the candidate's share over many keys matches the configured percent.
#include "serve/ab_split.h"

#include <gtest/gtest.h>

#include <string>

namespace bitdial::serve {
namespace {

TEST(AbSplit, StableHashIsFnv1a64) {
  // Published FNV-1a 64 test vectors.
  EXPECT_EQ(stable_hash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(stable_hash("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(stable_hash("foobar"), 0x85944171f73967e8ull);
}

TEST(AbSplit, BucketIsTheHashOfRouteSeparatorAndKey) {
  const std::string joined = std::string("chat") + '\x1f' + "user-7";
  const uint64_t bucket = stable_hash(joined) % 10000;
  // Exactly at the bucket's boundary: in with a threshold one above it, out at the bucket itself.
  EXPECT_TRUE(in_candidate_arm("chat", "user-7", (static_cast<double>(bucket) + 1) / 100));
  EXPECT_FALSE(in_candidate_arm("chat", "user-7", static_cast<double>(bucket) / 100));
}

TEST(AbSplit, SameKeyAlwaysGetsTheSameArm) {
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "user-" + std::to_string(i);
    const bool first = in_candidate_arm("route", key, 37.5);
    for (int rep = 0; rep < 3; ++rep) EXPECT_EQ(in_candidate_arm("route", key, 37.5), first);
  }
}

TEST(AbSplit, ShareOverManyKeysIsWithinOnePointFiveOfTenPercent) {
  int in = 0;
  constexpr int kKeys = 20000;
  for (int i = 0; i < kKeys; ++i) in += in_candidate_arm("chat", "user-" + std::to_string(i), 10);
  const double share = 100.0 * in / kKeys;
  EXPECT_NEAR(share, 10.0, 1.5);
}

TEST(AbSplit, ZeroPercentSendsNobodyToTheCandidate) {
  for (int i = 0; i < 5000; ++i) EXPECT_FALSE(in_candidate_arm("chat", "u" + std::to_string(i), 0));
}

TEST(AbSplit, HundredPercentSendsEverybodyToTheCandidate) {
  for (int i = 0; i < 5000; ++i) EXPECT_TRUE(in_candidate_arm("chat", "u" + std::to_string(i), 100));
}

TEST(AbSplit, LargerPercentKeepsEveryoneAlreadyInTheCandidateArm) {
  // Raising the rollout from 10 % to 30 % only adds users; nobody flips back to the baseline.
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "u" + std::to_string(i);
    if (in_candidate_arm("chat", key, 10)) EXPECT_TRUE(in_candidate_arm("chat", key, 30));
  }
}

}  // namespace
}  // namespace bitdial::serve
