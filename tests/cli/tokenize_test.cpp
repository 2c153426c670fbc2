// `bitdial tokenize`: output formats, BOS handling and one-line errors with exit code 1.
#include <gtest/gtest.h>

#include <fstream>

#include "test_support.h"

namespace bitdial {
namespace {

using test::run_bitdial;

std::string stories() { return test::shared_path("models/stories260K.gguf"); }

TEST(TokenizeCommand, PrintsIdsOnOneLineWithBos) {
  BITDIAL_REQUIRE_SHARED();
  const auto r = run_bitdial("tokenize -m '" + stories() + "' --ids 'Once upon a time'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("1 ", 0), 0u) << r.out;
  const auto nobos = run_bitdial("tokenize -m '" + stories() + "' --ids --no-bos 'Once upon a time'");
  ASSERT_EQ(nobos.exit_code, 0) << nobos.err;
  EXPECT_EQ("1 " + nobos.out, r.out);
}

TEST(TokenizeCommand, PrintsOneTokenPerLineWithQuotedPieces) {
  BITDIAL_REQUIRE_SHARED();
  const auto r = run_bitdial("tokenize -m '" + stories() + "' 'Once'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("1\t'<s>'\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\t' Once'\n"), std::string::npos) << r.out;
}

TEST(TokenizeCommand, InvalidUtf8InFileIsAnErrorNamingTheOffset) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  std::ofstream(dir.file("bad.txt"), std::ios::binary) << "ab\xff";
  const auto r = run_bitdial("tokenize -m '" + stories() + "' --file '" + dir.file("bad.txt") + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.txt: invalid UTF-8 at byte 2"), std::string::npos) << r.err;
}

TEST(TokenizeCommand, MissingFilesAndNonVocabulariesAreUserErrors) {
  BITDIAL_REQUIRE_SHARED();
  EXPECT_EQ(run_bitdial("tokenize -m /nonexistent/model.gguf hi").exit_code, 1);
  EXPECT_EQ(run_bitdial("tokenize -m '" + stories() + "' --file /nonexistent/text.txt").exit_code, 1);
  const auto r = run_bitdial("tokenize -m '" + test::shared_path("quant-vectors/bf16.gguf") + "' hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tokenizer.ggml.model"), std::string::npos) << r.err;
}

TEST(TokenizeCommand, NeedsExactlyOneInput) {
  BITDIAL_REQUIRE_SHARED();
  EXPECT_EQ(run_bitdial("tokenize -m '" + stories() + "'").exit_code, 1);
  EXPECT_EQ(run_bitdial("tokenize -m '" + stories() + "' hi --file x").exit_code, 1);
}

}  // namespace
}  // namespace bitdial
