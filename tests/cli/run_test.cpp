// `bitdial run`: the greedy continuation of llama.cpp, logits dumps, and one-line errors for bad
// models and prompts.
#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "formats/gguf.h"
#include "test_support.h"

namespace bitdial {
namespace {

using test::count_lines;

std::string line_of(const std::string& path, int n) {
  std::ifstream in(path);
  std::string line;
  for (int i = 0; i < n && std::getline(in, line);) ++i;
  return line;
}


TEST(RunCommand, GreedyContinuationMatchesLlamaCpp) {
  BITDIAL_REQUIRE_SHARED();
  const test::CommandResult r = test::run_bitdial("run -m '" + test::shared_path("models/stories260K.gguf") +
                                                  "' -p 'Once upon a time' -n 48 --temp 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, line_of(test::shared_path("reference/stories260K.greedy.txt"), 3) + "\n");
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos);
}

TEST(RunCommand, SameSeedSameText) {
  BITDIAL_REQUIRE_SHARED();
  const std::string args = "run -m '" + test::shared_path("models/stories260K.gguf") + "' -p 'Once upon a time' -n 24 --temp 1 --seed 5";
  const test::CommandResult a = test::run_bitdial(args), b = test::run_bitdial(args + " -t 1");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(RunCommand, DumpLogitsFollowsReferenceFormat) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir tmp;
  const std::string prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
  const test::CommandResult r = test::run_bitdial("run -m '" + test::shared_path("models/stories260K.gguf") + "' -p '" + prompt +
                                                  "' -n 0 --dump-logits '" + tmp.file("l.txt") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream got(tmp.file("l.txt")), want(test::shared_path("reference/stories260K.logits.txt"));
  std::string g, w;
  std::getline(got, g);
  std::getline(want, w);
  EXPECT_EQ(g, w);  // header
  int lines = 0;
  while (std::getline(want, w)) {
    ASSERT_TRUE(std::getline(got, g)) << "missing line " << lines;
    std::istringstream gs(g), ws(w);
    std::string gp, gt, wp, wt;
    gs >> gp >> gt;
    ws >> wp >> wt;
    EXPECT_EQ(gp + " " + gt, wp + " " + wt);  // position and token columns
    int n = 0;
    double a = 0, b = 0;
    while (ws >> b) {
      ASSERT_TRUE(gs >> a);
      EXPECT_NEAR(a, b, 2e-2) << "line " << lines << " entry " << n;
      ++n;
    }
    EXPECT_EQ(n, 512);
    ++lines;
  }
  EXPECT_EQ(lines, 32);
}

// Copies stories260K with one change: metadata `key` set to `value`, or tensor `drop` left out.
std::string broken_copy(const test::TempDir& tmp, const std::string& key, const std::string& value, const std::string& drop) {
  const GgufFile f = GgufFile::open(test::shared_path("models/stories260K.gguf"));
  GgufWriter w;
  for (const GgufKeyValue& kv : f.metadata()) w.set(kv.key, kv.value);
  if (!key.empty()) w.set(key, GgufValue::string(value));
  for (const GgufTensorInfo& t : f.tensors())
    if (t.name != drop) w.add_tensor(t.name, t.type, t.ne, f.tensor_data(t), t.nbytes);
  const std::string path = tmp.file("broken.gguf");
  w.write(path);
  return path;
}

// stories260K with metadata key `key` removed (value empty) or replaced by a uint32.
std::string edited_copy(const test::TempDir& tmp, const std::string& key, std::optional<uint32_t> value) {
  const GgufFile f = GgufFile::open(test::shared_path("models/stories260K.gguf"));
  GgufWriter w;
  for (const GgufKeyValue& kv : f.metadata())
    if (kv.key != key) w.set(kv.key, kv.value);
  if (value) w.set(key, GgufValue::u32(*value));
  for (const GgufTensorInfo& t : f.tensors()) w.add_tensor(t.name, t.type, t.ne, f.tensor_data(t), t.nbytes);
  const std::string path = tmp.file("edited.gguf");
  w.write(path);
  return path;
}

TEST(RunCommand, MissingMetadataKeyIsOneLineErrorNamingTheKey) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir tmp;
  const test::CommandResult r = test::run_bitdial("run -m '" + edited_copy(tmp, "llama.block_count", std::nullopt) + "' -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("llama.block_count"), std::string::npos) << r.err;
}

TEST(RunCommand, ShapeMismatchIsOneLineErrorNamingTheTensor) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir tmp;
  // 128 wide instead of 64: every weight's shape disagrees; the first checked is named.
  const test::CommandResult r = test::run_bitdial("run -m '" + edited_copy(tmp, "llama.embedding_length", 128) + "' -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("has shape"), std::string::npos) << r.err;
}

TEST(RunCommand, UnknownArchitectureIsOneLineError) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir tmp;
  const std::string path = broken_copy(tmp, "general.architecture", "mamba", "");
  const test::CommandResult r = test::run_bitdial("run -m '" + path + "' -p hi --temp 0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("broken.gguf"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mamba"), std::string::npos) << r.err;
}

TEST(RunCommand, MissingTensorIsOneLineError) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir tmp;
  const std::string path = broken_copy(tmp, "", "", "blk.3.ffn_up.weight");
  const test::CommandResult r = test::run_bitdial("run -m '" + path + "' -p hi --temp 0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("broken.gguf"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("blk.3.ffn_up.weight"), std::string::npos) << r.err;
}

TEST(RunCommand, EmptyPromptIsOneLineError) {
  BITDIAL_REQUIRE_SHARED();
  const test::CommandResult r = test::run_bitdial("run -m '" + test::shared_path("models/stories260K.gguf") + "' -p ''");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("prompt"), std::string::npos) << r.err;
}

TEST(RunCommand, InvalidUtf8PromptIsOneLineError) {
  BITDIAL_REQUIRE_SHARED();
  const test::CommandResult r = test::run_bitdial("run -m '" + test::shared_path("models/stories260K.gguf") + "' -p \"$(printf 'ab\\377')\"");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("invalid UTF-8 at byte 2"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(RunCommand, PromptLongerThanContextIsOneLineErrorBeforeAnyOutput) {
  BITDIAL_REQUIRE_SHARED();
  const test::CommandResult r =
      test::run_bitdial("run -m '" + test::shared_path("models/stories260K.gguf") + "' -c 4 -p 'Once upon a time there was'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("longer than the context of 4"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(RunCommand, MissingModelOptionIsUsageError) {
  const test::CommandResult r = test::run_bitdial("run -p hi");
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace bitdial
