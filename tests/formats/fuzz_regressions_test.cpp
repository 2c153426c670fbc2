// Inputs the fuzzers once crashed on (tests/formats/regressions/<format>/): each must now be
// rejected with a bitdial::Error, never a crash or a foreign exception.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

namespace bitdial {
namespace {

std::vector<std::filesystem::path> inputs(const std::string& format) {
  std::vector<std::filesystem::path> out;
  const std::filesystem::path dir = std::filesystem::path(BITDIAL_SOURCE_DIR) / "tests/formats/regressions" / format;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint8_t> bytes_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(FuzzRegressions, SafetensorsInputsAreRejectedCleanly) {
  const auto files = inputs("safetensors");
  ASSERT_FALSE(files.empty());
  for (const auto& p : files) {
    const std::vector<uint8_t> b = bytes_of(p);
    EXPECT_THROW(SafetensorsFile::parse(b.data(), b.size(), p.filename().string()), Error) << p;
  }
}

TEST(FuzzRegressions, GgufInputsAreRejectedCleanly) {
  for (const auto& p : inputs("gguf")) {
    const std::vector<uint8_t> b = bytes_of(p);
    EXPECT_THROW(GgufFile::parse(b.data(), b.size(), p.filename().string()), Error) << p;
  }
}

}  // namespace
}  // namespace bitdial
