// `bitdial bench` from the command line: the documented --json fields on a tiny synthetic model,
// the llama-bench style table, and one-line errors for bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace bitdial {
namespace {

using test::count_lines;

using test::run_bitdial;


// A tiny random model in dir; the bench options keep every run well under a second.
std::string tiny_model(const test::TempDir& dir) {
  const std::string path = dir.file("tiny.gguf");
  const auto r = run_bitdial("synth --n-embd 64 --n-layer 2 --n-head 4 --n-ff 96 --n-vocab 400 --type q8_0 -o '" + path + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return path;
}

const std::string kFast = " -p 8 -n 4 -r 2 -t 1 --bandwidth-mib 16";

void expect_one_line_error(const test::CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(BenchCli, JsonHasTheDocumentedFields) {
  test::TempDir dir;
  const auto r = run_bitdial("bench -m '" + tiny_model(dir) + "'" + kFast + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"]["arch"], "llama");
  EXPECT_EQ(j["model"]["type"], "q8_0");
  EXPECT_GT(j["model"]["bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(j["model"]["params"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["reps"], 2);
  EXPECT_EQ(j["pp"]["test"], "pp8");
  EXPECT_EQ(j["tg"]["test"], "tg4");
  for (const char* test : {"pp", "tg"}) {
    const auto& s = j[test]["tokens_per_s"];
    EXPECT_GT(s["median"].get<double>(), 0.0) << test;
    EXPECT_LE(s["min"].get<double>(), s["median"].get<double>()) << test;
    EXPECT_GE(s["max"].get<double>(), s["median"].get<double>()) << test;
    EXPECT_EQ(s["samples"].size(), 2u) << test;
    EXPECT_TRUE(s.contains("stddev")) << test;
    EXPECT_TRUE(s.contains("mean")) << test;
  }
  EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(j["bandwidth"]["bytes_per_s"].get<double>(), 0.0);
  EXPECT_EQ(j["bandwidth"]["buffer_bytes"].get<uint64_t>(), uint64_t{16} << 20);
  EXPECT_GT(j["weight_bytes_per_token"].get<uint64_t>(), 0u);
  EXPECT_GT(j["decode_efficiency"].get<double>(), 0.0);
}

TEST(BenchCli, TableHasPpAndTgRowsAndBandwidthLines) {
  test::TempDir dir;
  const auto r = run_bitdial("bench -m '" + tiny_model(dir) + "'" + kFast);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(" pp8 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" tg4 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("memory read bandwidth:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("peak RSS:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decode efficiency:"), std::string::npos) << r.out;
}

TEST(BenchCli, ZeroPromptIsOneLineError) {
  expect_one_line_error(run_bitdial("bench -m any.gguf -p 0"), "-p 0");
}

TEST(BenchCli, NegativeGenerationIsOneLineError) {
  expect_one_line_error(run_bitdial("bench -m any.gguf -n -3"), "-n -3");
}

TEST(BenchCli, ZeroThreadsIsOneLineError) {
  expect_one_line_error(run_bitdial("bench -m any.gguf -t 0"), "-t 0");
}

TEST(BenchCli, ZeroRepetitionsIsOneLineError) {
  expect_one_line_error(run_bitdial("bench -m any.gguf -r 0"), "-r 0");
}

TEST(BenchCli, MissingModelFileIsOneLineError) {
  expect_one_line_error(run_bitdial("bench -m /nonexistent/model.gguf" + kFast), "/nonexistent/model.gguf");
}

TEST(BenchCli, NonGgufModelIsOneLineError) {
  test::TempDir dir;
  const std::string path = dir.file("not.gguf");
  std::FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("not a gguf file at all", f);
  std::fclose(f);
  expect_one_line_error(run_bitdial("bench -m '" + path + "'" + kFast), "not.gguf");
}

TEST(BenchCli, UnknownOptionIsOneLineError) {
  expect_one_line_error(run_bitdial("bench -m any.gguf --bogus"), "--bogus");
}

}  // namespace
}  // namespace bitdial
