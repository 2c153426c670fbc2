// `bitdial synth` from the command line: an atomic write, a model `run` and `tokenize` accept, the
// tokenizer copied from --vocab, and one-line errors for bad flags.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "formats/gguf.h"
#include "test_support.h"

namespace bitdial {
namespace {

using test::count_lines;

using test::run_bitdial;

const std::string kTiny = " --n-embd 64 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 96 --n-vocab 400 --n-ctx 128";


void expect_one_line_error(const test::CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(SynthCli, TinyModelIsWrittenAtomically) {
  test::TempDir dir;
  const auto r = run_bitdial("synth" + kTiny + " -o '" + dir.file("m.gguf") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote"), std::string::npos) << r.out;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"m.gguf"});  // no temporary left behind
  EXPECT_EQ(GgufFile::open(dir.file("m.gguf")).get_uint("llama.block_count"), 2u);
}

TEST(SynthCli, SynthModelRunsAndTokenizesAscii) {
  test::TempDir dir;
  ASSERT_EQ(run_bitdial("synth" + kTiny + " --type q8_0 -o '" + dir.file("m.gguf") + "'").exit_code, 0);
  const auto run = run_bitdial("run -m '" + dir.file("m.gguf") + "' -p 'Hello there' -n 4 --temp 0 -t 1");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out.rfind("<s> Hello there", 0), 0u) << run.out;
  const auto tok = run_bitdial("tokenize -m '" + dir.file("m.gguf") + "' 'Hi!' --ids");
  ASSERT_EQ(tok.exit_code, 0) << tok.err;
  EXPECT_EQ(tok.out, "1 259 299 332 260\n");  // <s>, U+2581, 'H', 'i', '!'
}

TEST(SynthCli, VocabFromStories260KCopiesTheTokenizer) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string src = test::shared_path("models/stories260K.gguf");
  const auto r = run_bitdial("synth --n-embd 64 --n-layer 1 --n-head 4 --n-ff 96 --vocab '" + src + "' -o '" + dir.file("m.gguf") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("n_vocab: 512"), std::string::npos) << r.err;
  const auto a = run_bitdial("tokenize -m '" + dir.file("m.gguf") + "' 'Once upon a time' --ids");
  const auto b = run_bitdial("tokenize -m '" + src + "' 'Once upon a time' --ids");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  const GgufFile f = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(f.find_tensor("token_embd.weight")->ne[1], 512);
}

TEST(SynthCli, VocabSizeConflictingWithNVocabIsOneLineError) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  expect_one_line_error(run_bitdial("synth" + kTiny + " --vocab '" + test::shared_path("models/stories260K.gguf") + "' -o '" +
                                    dir.file("m.gguf") + "'"),
                        "--n-vocab 400");
}

TEST(SynthCli, UnknownTypeIsOneLineError) {
  test::TempDir dir;
  expect_one_line_error(run_bitdial("synth" + kTiny + " --type q9_9 -o '" + dir.file("m.gguf") + "'"), "'q9_9'");
}

TEST(SynthCli, TypeWithoutEncoderIsOneLineError) {
  test::TempDir dir;
  expect_one_line_error(run_bitdial("synth" + kTiny + " --type iq2_xxs -o '" + dir.file("m.gguf") + "'"), "iq2_xxs");
}

TEST(SynthCli, UnknownPresetIsOneLineError) {
  test::TempDir dir;
  expect_one_line_error(run_bitdial("synth --preset llama-99b -o '" + dir.file("m.gguf") + "'"), "llama-99b");
}

TEST(SynthCli, ZeroLayersIsOneLineError) {
  test::TempDir dir;
  expect_one_line_error(run_bitdial("synth --preset llama-1b --n-layer 0 -o '" + dir.file("m.gguf") + "'"), "--n-layer");
}

TEST(SynthCli, MissingOutputFolderIsOneLineErrorAndWritesNothing) {
  test::TempDir dir;
  expect_one_line_error(run_bitdial("synth" + kTiny + " -o '" + dir.file("no/such/m.gguf") + "'"), "no/such/m.gguf");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(SynthCli, MissingVocabFileIsOneLineError) {
  test::TempDir dir;
  expect_one_line_error(run_bitdial("synth" + kTiny + " --vocab /nonexistent.gguf -o '" + dir.file("m.gguf") + "'"),
                        "/nonexistent.gguf");
}

TEST(SynthCli, UnknownOptionIsOneLineError) {
  expect_one_line_error(run_bitdial("synth --preset llama-1b -o x.gguf --layers 3"), "--layers");
}

}  // namespace
}  // namespace bitdial
