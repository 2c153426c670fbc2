#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace bitdial::test {

std::string shared_dir() {
  const char* env = std::getenv("BITDIAL_SHARED");
  std::string dir = env != nullptr ? env : BITDIAL_SHARED_DIR;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir + "/models", ec)) return "";
  return dir;
}

std::string shared_path(const std::string& rel) { return shared_dir() + "/" + rel; }

TempDir::TempDir() {
  std::string templ = (std::filesystem::temp_directory_path() / "bitdial-test-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

CommandResult run_bitdial(const std::string& args) {
  TempDir tmp;
  const std::string out = tmp.file("out"), err = tmp.file("err");
  const std::string cmd = std::string("'") + BITDIAL_BINARY + "' " + args + " >'" + out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  CommandResult r{};
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::string write_tiny_f32_model(const TempDir& dir, uint64_t seed, float std, const std::string& name) {
  const std::string path = dir.file(name);
  SynthOptions so;
  so.type = TensorType::F32;
  so.seed = seed;
  so.weight_std = std;
  write_synth_model(path, make_synth_spec("", tiny_synth_shape(kSynthByteVocabMin)), synth_byte_vocab(kSynthByteVocabMin), so);
  return path;
}

}  // namespace bitdial::test
