// Atomic output: nothing appears under the final name until commit; abandoned writes leave nothing.
#include "core/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "test_support.h"

namespace bitdial {
namespace {

size_t entries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

TEST(AtomicFile, DestinationAppearsOnlyAtCommit) {
  test::TempDir dir;
  const std::string path = dir.file("out.bin");
  AtomicFile f(path);
  f.write("hello");
  EXPECT_FALSE(std::filesystem::exists(path));
  f.commit();
  EXPECT_EQ(read_file(path), "hello");
  EXPECT_EQ(entries(dir.path()), 1u);
}

TEST(AtomicFile, AbandonedWriteLeavesNothingAndKeepsOldFile) {
  test::TempDir dir;
  const std::string path = dir.file("out.bin");
  write_file_atomic(path, "old");
  {
    AtomicFile f(path);
    f.write("new but unfinished");
  }
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(entries(dir.path()), 1u);
}

TEST(AtomicFile, UnwritableFolderIsAnErrorNamingThePath) {
  try {
    AtomicFile f("/nonexistent-dir-bitdial/x.gguf");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-bitdial/x.gguf"), std::string::npos);
  }
}

TEST(ReadFile, MissingFileIsAnErrorNamingThePath) {
  EXPECT_THROW(read_file("/nonexistent-bitdial-file"), Error);
}

}  // namespace
}  // namespace bitdial
