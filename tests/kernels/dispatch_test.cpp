// ISA selection: detection unless BITDIAL_FORCE_ISA overrides it; bad values are errors.
#include "kernels/dispatch.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace bitdial {
namespace {

TEST(Dispatch, NoOverrideUsesDetection) {
  EXPECT_EQ(choose_isa(nullptr, Isa::Avx2), Isa::Avx2);
  EXPECT_EQ(choose_isa("", Isa::Scalar), Isa::Scalar);
}

TEST(Dispatch, ScalarOverrideWins) { EXPECT_EQ(choose_isa("scalar", Isa::Avx2), Isa::Scalar); }

TEST(Dispatch, ForcingMissingIsaIsAnError) { EXPECT_THROW(choose_isa("avx2", Isa::Scalar), Error); }

TEST(Dispatch, UnknownValueIsAnError) { EXPECT_THROW(choose_isa("avx512", Isa::Avx2), Error); }

TEST(Dispatch, ActiveIsaFollowsEnvironment) {
  const char* forced = std::getenv("BITDIAL_FORCE_ISA");
  if (forced != nullptr && std::string_view(forced) == "scalar") EXPECT_EQ(active_isa(), Isa::Scalar);
  else EXPECT_EQ(active_isa(), detected_isa());
}

}  // namespace
}  // namespace bitdial
