// `bitdial convert` from the command line: the round trip a user runs, and one-line errors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "formats/gguf.h"
#include "test_support.h"

namespace bitdial {
namespace {

using test::run_bitdial;
using test::shared_path;

TEST(ConvertCli, GgufToFolderAndBackKeepsEveryTensorByte) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string src = shared_path("models/stories260K.gguf");
  auto r = run_bitdial("convert '" + src + "' '" + dir.file("hf") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("hf/config.json")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("hf/tokenizer.json")));
  r = run_bitdial("convert '" + dir.file("hf") + "' '" + dir.file("back.gguf") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const GgufFile a = GgufFile::open(src), b = GgufFile::open(dir.file("back.gguf"));
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const GgufTensorInfo& ta : a.tensors()) {
    const GgufTensorInfo* tb = b.find_tensor(ta.name);
    ASSERT_NE(tb, nullptr) << ta.name;
    EXPECT_EQ(tb->ne, ta.ne) << ta.name;
    ASSERT_EQ(tb->nbytes, ta.nbytes) << ta.name;
    EXPECT_EQ(std::memcmp(a.tensor_data(ta), b.tensor_data(*tb), ta.nbytes), 0) << ta.name;
  }
}

TEST(ConvertCli, QuantizedGgufToF32SafetensorsSucceeds) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const auto r = run_bitdial("convert '" + shared_path("models/stories260K-llamacpp-Q4_K_M.gguf") + "' '" + dir.file("w.safetensors") +
                             "' --type f32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto i = run_bitdial("inspect --json '" + dir.file("w.safetensors") + "'");
  ASSERT_EQ(i.exit_code, 0) << i.err;
  EXPECT_NE(i.out.find("\"type\": \"f32\""), std::string::npos);
  EXPECT_EQ(i.out.find("\"type\": \"f16\""), std::string::npos);
  EXPECT_EQ(i.out.find("general.file_type"), std::string::npos);
}

TEST(ConvertCli, UnknownTypeIsExitOneNamingTheValue) {
  const auto r = run_bitdial("convert a.gguf b.safetensors --type q4_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("'q4_0'"), std::string::npos) << r.err;
}

TEST(ConvertCli, MissingInputIsExitOneAndWritesNothing) {
  test::TempDir dir;
  const auto r = run_bitdial("convert /nonexistent.gguf '" + dir.file("o.safetensors") + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.gguf"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(ConvertCli, MissingArgumentsIsUsageError) { EXPECT_EQ(run_bitdial("convert").exit_code, 1); }

}  // namespace
}  // namespace bitdial
