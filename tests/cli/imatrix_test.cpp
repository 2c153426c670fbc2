// `bitdial imatrix` end to end on stories260K: an entry for every matrix product with the token count,
// coverage warnings naming underfed weights, and one-line errors (exit 1, no output file) for a text
// shorter than one context, a missing model or a missing output folder.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "model/llama_model.h"
#include "quant/imatrix.h"
#include "test_support.h"

namespace bitdial {
namespace {

using test::count_lines;

constexpr const char* kStory =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "friends. One day, she saw a big red ball under a tree. She ran to the ball and picked it up. Her friend "
    "Tom came over and asked to play too. Lily was happy to share. They played with the ball all day long. "
    "When the sun went down, Lily's mom called her home. She told her mom about the ball and her fun day.\n";


struct Fixture {
  test::TempDir tmp;
  std::string model = test::shared_path("models/stories260K.gguf");
  std::string text = tmp.file("calib.txt"), out = tmp.file("im.gguf");
  Fixture() {
    std::ofstream f(text);
    for (int i = 0; i < 8; ++i) f << kStory;  // ~800 tokens
  }
  test::CommandResult run(const std::string& extra) const {
    return test::run_bitdial("imatrix '" + model + "' --calib '" + text + "' -o '" + out + "' " + extra);
  }
};

TEST(ImatrixCommand, WritesAnEntryForEveryMatrixProduct) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  const test::CommandResult r = f.run("--ctx 64 --chunks 4 --min-tokens 256 -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning:"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("36 weights, 4 chunks x 64 tokens = 256 tokens"), std::string::npos) << r.out;

  const LlamaModel model = LlamaModel::load(f.model);
  const Imatrix im = Imatrix::load(f.out);
  const std::vector<std::string> names = imatrix_weight_names(model);
  ASSERT_EQ(names.size(), 5u * 7u + 1u);  // 5 layers x (q k v o gate up down) + output
  EXPECT_EQ(im.entries.size(), names.size());
  for (const std::string& n : names) {
    const ImatrixEntry* e = im.find(n);
    ASSERT_NE(e, nullptr) << n;
    EXPECT_EQ(e->n_tokens, 256) << n;
    EXPECT_EQ(static_cast<int64_t>(e->sum_sq.size()), model.weight(n)->cols) << n;
    EXPECT_GT(*std::max_element(e->sum_sq.begin(), e->sum_sq.end()), 0.0) << n;
  }
  EXPECT_EQ(im.n_ctx, 64);
  EXPECT_EQ(im.n_chunks, 4);
  EXPECT_EQ(im.calib_source, f.text);
  EXPECT_TRUE(imatrix_model_mismatches(im, model).empty());
}

TEST(ImatrixCommand, WarnsAboutEveryWeightBelowMinTokens) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  const test::CommandResult r = f.run("--ctx 64 --chunks 2 --min-tokens 1000");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + f.out + ": blk.4.ffn_down.weight: only 128 tokens (fewer than 1000)\n"),
            std::string::npos)
      << r.err;
  std::string warnings;
  for (size_t p = r.err.find("warning: "); p != std::string::npos; p = r.err.find("warning: ", p + 1)) warnings += "x";
  EXPECT_EQ(warnings.size(), 36u) << r.err;
  EXPECT_TRUE(std::filesystem::exists(f.out));
}

TEST(ImatrixCommand, TextShorterThanOneContextIsOneLineExit1AndNoFile) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  std::ofstream(f.text) << "Once upon a time";
  const test::CommandResult r = f.run("");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(f.text), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("shorter than one context"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(f.out));
}

TEST(ImatrixCommand, MissingModelOrOutputFolderIsOneLineExit1) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  f.model = f.tmp.file("nope.gguf");
  test::CommandResult r = f.run("--ctx 64");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("nope.gguf"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(f.out));

  Fixture g;
  g.out = g.tmp.file("no/such/dir/im.gguf");
  r = g.run("--ctx 64");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
}

TEST(ImatrixCommand, MissingCalibIsOneLineExit1) {
  BITDIAL_REQUIRE_SHARED();
  Fixture f;
  const test::CommandResult r = test::run_bitdial("imatrix '" + f.model + "' -o '" + f.out + "'");
  EXPECT_EQ(r.exit_code, 1) << r.err;  // cli/cli_util.cpp: parse errors are bad input like any other
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--calib"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bitdial
