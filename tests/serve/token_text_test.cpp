// Generated text as it streams: stop strings cut it, prefixes of stop strings and unfinished UTF-8
// characters are held back, and token boundaries survive the cut.
#include <gtest/gtest.h>

#include "serve/token_text.h"

namespace bitdial::serve {
namespace {

TEST(GeneratedText, StopStringCutsTheTextWhereItBegins) {
  GeneratedText t({"\nUser:"});
  EXPECT_FALSE(t.append("Hello"));
  EXPECT_FALSE(t.append(" there\nUs"));
  EXPECT_TRUE(t.append("er: hi"));
  EXPECT_EQ(t.text(), "Hello there");
  ASSERT_EQ(t.count(), 2u);
  EXPECT_EQ(t.token_bytes(1), " there");
}

TEST(GeneratedText, PrefixOfAStopStringIsHeldBackUntilSettled) {
  GeneratedText t({"END"});
  t.append("abc E");
  EXPECT_EQ(t.take_ready(false), "abc ");
  t.append("N");
  EXPECT_EQ(t.take_ready(false), "");
  t.append("x");  // "ENx" is not "END": release it
  EXPECT_EQ(t.take_ready(false), "ENx");
}

TEST(GeneratedText, UnfinishedUtf8CharacterIsHeldBack) {
  GeneratedText t({});
  t.append("caf\xC3");
  EXPECT_EQ(t.take_ready(false), "caf");
  t.append("\xA9!");
  EXPECT_EQ(t.take_ready(false), "\xC3\xA9!");
}

TEST(GeneratedText, FinishReleasesEverythingKept) {
  GeneratedText t({"STOP"});
  t.append("abc ST");
  EXPECT_EQ(t.take_ready(false), "abc ");
  EXPECT_EQ(t.take_ready(true), "ST");
}

TEST(GeneratedText, TokenWhollyInsideTheStopStringIsDropped) {
  GeneratedText t({"##"});
  t.append("a");
  t.append("#");
  EXPECT_TRUE(t.append("#"));
  EXPECT_EQ(t.text(), "a");
  EXPECT_EQ(t.count(), 1u);
}

TEST(TokenText, TopLogprobsAreSortedWithTiesToTheLowerId) {
  const float row[] = {1.0f, 3.0f, 3.0f, 0.5f};
  const LogSoftmax ls = log_softmax_of(row, 4);
  const auto top = top_logprobs(row, 4, 3, ls);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);
  EXPECT_EQ(top[1].first, 2);
  EXPECT_EQ(top[2].first, 0);
  EXPECT_NEAR(top[0].second, 3.0 - ls.max - ls.log_sum, 1e-12);
}

TEST(TokenText, Utf8CharsCountsCodePoints) { EXPECT_EQ(utf8_chars("h\xC3\xA9llo\xE2\x82\xAC"), 6); }

}  // namespace
}  // namespace bitdial::serve
