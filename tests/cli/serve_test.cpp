// `bitdial serve` as a process: it starts from a YAML config or flags, answers over HTTP, stops
// gracefully on SIGTERM with every event written, `--status` summarises the database, and bad
// configs or flags are one-line errors with exit code 1.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include "test_support.h"

namespace bitdial::test {
namespace {

std::string stories() { return shared_path("models/stories260K.gguf"); }

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Starts `bitdial serve ARGS --port 0` in the background; port() parses the "listening on" line.
class ServeProcess {
 public:
  ServeProcess(const TempDir& dir, const std::string& args) : log_(dir.file("serve.log")) {
    pid_ = fork();
    if (pid_ == 0) {
      const std::string cmd = std::string("exec '") + BITDIAL_BINARY + "' serve " + args + " --port 0 -t 1 2>'" + log_ + "'";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
      _exit(127);
    }
    const std::regex re("listening on http://127\\.0\\.0\\.1:([0-9]+)/v1");
    for (int i = 0; i < 3000 && port_ == 0; ++i) {
      std::smatch m;
      const std::string text = slurp(log_);
      if (std::regex_search(text, m, re)) port_ = std::stoi(m[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  std::string log() const { return slurp(log_); }
  // SIGTERM, then the exit code (-1 when it did not exit within 30 s).
  int terminate() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 3000; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST(CliServe, ConfigFileServesAndSigtermStopsWithEveryEventWritten) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  write(dir.file("serve.yaml"), "backends:\n  - name: small\n    model: " + stories() + "\n  - name: big\n    model: " + stories() +
                                    "\nroutes:\n  - name: default\n    primary: small\n    fallback: big\n"
                                    "    cascade:\n      confidence: mean_token_probability\n      threshold: 0.2\n"
                                    "db: events.db\n");
  ServeProcess p(dir, dir.file("serve.yaml"));
  ASSERT_GT(p.port(), 0) << p.log();
  httplib::Client c("127.0.0.1", p.port());
  for (int i = 0; i < 5; ++i) {
    const auto res = c.Post("/v1/completions", R"({"prompt":"Once upon a time","max_tokens":4})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
  }
  EXPECT_EQ(p.terminate(), 0) << p.log();
  const CommandResult s = run_bitdial("serve --status " + dir.file("events.db"));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("5"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("small"), std::string::npos) << s.out;
}

TEST(CliServe, FlagsServeWithoutAConfigFile) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  ServeProcess p(dir, "-m " + stories() + " --db " + dir.file("ev.db"));
  ASSERT_GT(p.port(), 0) << p.log();
  httplib::Client c("127.0.0.1", p.port());
  const auto res = c.Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("primary"), std::string::npos);
  EXPECT_EQ(p.terminate(), 0);
}

TEST(CliServe, UnknownConfigKeyNamesTheFileAndLine) {
  TempDir dir;
  write(dir.file("serve.yaml"), "backends:\n  - name: a\n    modle: x.gguf\nroutes: []\n");
  const CommandResult r = run_bitdial("serve " + dir.file("serve.yaml"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("serve.yaml:3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("modle"), std::string::npos) << r.err;
}

TEST(CliServe, RouteToAnUnknownBackendIsAnError) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  write(dir.file("serve.yaml"), "backends:\n  - name: a\n    model: " + stories() + "\nroutes:\n  - name: default\n    primary: b\n");
  const CommandResult r = run_bitdial("serve " + dir.file("serve.yaml"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("'b' is not a backend"), std::string::npos) << r.err;
}

TEST(CliServe, CascadeWithoutFallbackIsAnError) {
  BITDIAL_REQUIRE_SHARED();
  const CommandResult r = run_bitdial("serve -m " + stories() + " --cascade-threshold 0.5");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--fallback"), std::string::npos) << r.err;
}

TEST(CliServe, StatusOfAMissingDatabaseIsAnError) {
  TempDir dir;
  const CommandResult r = run_bitdial("serve --status " + dir.file("none.db"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("none.db"), std::string::npos) << r.err;
}

TEST(CliServe, ApiKeyEnvThatIsUnsetIsAnError) {
  BITDIAL_REQUIRE_SHARED();
  const CommandResult r = run_bitdial("serve -m " + stories() + " --api-key-env BITDIAL_TEST_NO_SUCH_VAR");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("BITDIAL_TEST_NO_SUCH_VAR"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bitdial::test
