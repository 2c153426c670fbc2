// Shared test helpers: where ../shared lives, skipping when it is absent, temporary folders, and
// running the bitdial binary.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/synth.h"

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

// Lines in a command's output (its newlines), and substring search, for the one-line-error checks.
inline int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// count values drawn from N(0, sigma^2) by std::mt19937(seed): the same values on every platform run.
inline std::vector<float> normal_floats(int64_t count, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& x : v) x = dist(rng);
  return v;
}

// A small llama shape for tests: 64 wide, 2 layers, 4 query heads sharing 2 K/V heads (head 16),
// ffn 96, context 128, vocabulary n_vocab. Fields can be changed before make_synth_spec("", ...).
inline SynthOverrides tiny_synth_shape(int64_t n_vocab) {
  SynthOverrides o;
  o.n_embd = 64;
  o.n_layer = 2;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.n_ff = 96;
  o.n_vocab = n_vocab;
  o.n_ctx = 128;
  return o;
}

// Writes a tiny_synth_shape model with the built-in byte vocabulary to dir/name: F32 weights of standard
// deviation `std`, seeded, so tests that edit or quantize weights start from a known float model.
std::string write_tiny_f32_model(const TempDir& dir, uint64_t seed, float std, const std::string& name = "tiny.gguf");

// The message of the bitdial::Error that f() throws; a test failure and "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a bitdial::Error";
  return "";
}

}  // namespace bitdial::test

// Skips the current test with a clear message when ../shared is missing.
#define BITDIAL_REQUIRE_SHARED()                                                              \
  do {                                                                                        \
    if (::bitdial::test::shared_dir().empty())                                                \
      GTEST_SKIP() << "reference data ../shared not found next to the repository; skipping"; \
  } while (0)
