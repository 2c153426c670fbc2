// Shared test helpers: where ../shared lives, skipping when it is absent, temporary folders, and
// running the bitdial binary.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace bitdial::test {

// Path of the reference data folder (../shared next to the repository), or "" when absent.
std::string shared_dir();

// Path under shared_dir(); the calling test should use BITDIAL_REQUIRE_SHARED first.
std::string shared_path(const std::string& rel);

// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the built bitdial binary with a shell-quoted argument string.
CommandResult run_bitdial(const std::string& args);

}  // namespace bitdial::test

// Skips the current test with a clear message when ../shared is missing.
#define BITDIAL_REQUIRE_SHARED()                                                              \
  do {                                                                                        \
    if (::bitdial::test::shared_dir().empty())                                                \
      GTEST_SKIP() << "reference data ../shared not found next to the repository; skipping"; \
  } while (0)
