// `bitdial quantize` on the real stories260K model: every preset writes a file our engine loads and
// generates from, with the input's metadata and the two quantization keys; the 172-wide ffn_down
// never fails; dry runs write nothing and predict the exact size; bad input exits 1 with one line;
// the bytes do not depend on the thread count; an interrupted run leaves nothing behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "model/convert.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"
#include "test_support.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;

std::string stories() { return test::shared_path("models/stories260K.gguf"); }

std::vector<char> bytes_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

size_t entries(const std::string& dir) { return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator())); }

size_t lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

// The last position's logits of a short prompt.
std::vector<float> last_logits(const std::string& path) {
  const LlamaModel model = LlamaModel::load(path);
  Session session(model);
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378};  // "<s> Once upon a time"
  return session.eval(prompt, false);
}

struct LogitDiff {
  double rms_ref = 0, rms_diff = 0, max_diff = 0;
  bool same_top1 = false;
};

LogitDiff logit_diff(const std::vector<float>& ref, const std::vector<float>& got) {
  EXPECT_EQ(ref.size(), got.size());
  LogitDiff d;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double e = static_cast<double>(got[i]) - ref[i];
    d.rms_ref += static_cast<double>(ref[i]) * ref[i];
    d.rms_diff += e * e;
    d.max_diff = std::max(d.max_diff, std::fabs(e));
  }
  d.rms_ref = std::sqrt(d.rms_ref / static_cast<double>(ref.size()));
  d.rms_diff = std::sqrt(d.rms_diff / static_cast<double>(ref.size()));
  d.same_top1 = std::max_element(ref.begin(), ref.end()) - ref.begin() == std::max_element(got.begin(), got.end()) - got.begin();
  return d;
}

class QuantizePreset : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantizePreset, WritesALoadableModelWithTheInputsMetadata) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string out = dir.file("out.gguf");
  const test::CommandResult r = test::run_bitdial("quantize " + stories() + " " + out + " --type " + GetParam());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote"), std::string::npos) << r.out;

  const GgufFile in = GgufFile::open(stories());
  const GgufFile q = GgufFile::open(out);
  EXPECT_EQ(q.get_uint("general.file_type"), find_quant_preset(GetParam()).file_type);
  EXPECT_EQ(q.get_uint("general.quantization_version"), 2u);
  // Every input key, in order and byte-identical, plus the two quantization keys at the end.
  ASSERT_EQ(q.metadata().size(), in.metadata().size() + 2);
  for (size_t i = 0; i < in.metadata().size(); ++i) {
    EXPECT_EQ(q.metadata()[i].key, in.metadata()[i].key);
    EXPECT_EQ(q.metadata()[i].value.to_display_string(1u << 20), in.metadata()[i].value.to_display_string(1u << 20))
        << in.metadata()[i].key;
  }
  ASSERT_EQ(q.tensors().size(), in.tensors().size());
  for (const GgufTensorInfo& t : q.tensors()) {
    if (t.ne.size() == 1) {
      EXPECT_EQ(t.type, TensorType::F32) << t.name;
    } else if (t.ne[0] == 172) {
      EXPECT_EQ(t.type, find_quant_preset(GetParam()).base == TensorType::BF16 ? TensorType::BF16 : TensorType::F16)
          << t.name;
    }
  }
  // The dry run's prediction is the real size.
  QuantRecipe recipe;
  recipe.preset = GetParam();
  EXPECT_EQ(plan_model_quantization(in, recipe).file_bytes, fs::file_size(out));

  const test::CommandResult gen = test::run_bitdial("run -m " + out + " -p 'Once upon a time' -n 8 --temp 0");
  EXPECT_EQ(gen.exit_code, 0) << gen.err;
  EXPECT_FALSE(gen.out.empty());
  EXPECT_EQ(entries(dir.path()), 1u);  // no temporaries left
}

INSTANTIATE_TEST_SUITE_P(Stories260K, QuantizePreset,
                         ::testing::Values("Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1", "Q4_K_M", "Q4_K_S", "Q4_0", "Q4_1",
                                           "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "IQ4_NL", "IQ4_XS", "TQ2_0", "F16", "bf16"));

// llama.cpp's own Q2_K, Q4_K_M and Q6_K files of the same model: our recipe (rules + fallbacks) picks
// the very same type for every tensor.
TEST(Quantize, PlansMatchLlamaCppsTypeChoicesOnStories260K) {
  BITDIAL_REQUIRE_SHARED();
  const GgufFile in = GgufFile::open(stories());
  for (const char* preset : {"Q2_K", "Q4_K_M", "Q6_K"}) {
    const GgufFile ref = GgufFile::open(test::shared_path(std::string("models/stories260K-llamacpp-") + preset + ".gguf"));
    QuantRecipe recipe;
    recipe.preset = preset;
    const QuantPlan plan = plan_model_quantization(in, recipe);
    EXPECT_EQ(plan.file_type, ref.get_uint("general.file_type")) << preset;
    for (const TensorPlan& t : plan.tensors) {
      const GgufTensorInfo* r = ref.find_tensor(t.name);
      ASSERT_NE(r, nullptr) << t.name;
      EXPECT_EQ(type_name(t.target), std::string(type_name(r->type))) << preset << " " << t.name;
    }
  }
}

TEST(Quantize, DryRunPrintsThePlanAndWritesNothing) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string out = dir.file("out.gguf");
  const test::CommandResult r = test::run_bitdial("quantize " + stories() + " " + out + " --type q4_k_m --dry-run");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(entries(dir.path()), 0u);
  EXPECT_NE(r.out.find("blk.0.ffn_down.weight"), std::string::npos);
  EXPECT_NE(r.out.find("f32 -> f16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fallback: "), std::string::npos);
  const test::CommandResult w = test::run_bitdial("quantize " + stories() + " " + out + " --type q4_k_m");
  ASSERT_EQ(w.exit_code, 0) << w.err;
  // The size the dry run printed is the size written.
  EXPECT_NE(r.out.find(" " + std::to_string(fs::file_size(out)) + " bytes"), std::string::npos) << r.out;
  EXPECT_EQ(lines(w.out), 3u) << w.out;  // totals, fallback line, wall time
}

TEST(Quantize, Q8_0LogitsStayCloseToF32) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string out = dir.file("q8.gguf");
  ASSERT_EQ(test::run_bitdial("quantize " + stories() + " " + out + " --type Q8_0").exit_code, 0);
  const LogitDiff d = logit_diff(last_logits(stories()), last_logits(out));
  std::printf("q8_0 vs f32: rms logit %.4f, rms diff %.4f, max diff %.4f\n", d.rms_ref, d.rms_diff, d.max_diff);
  // q8_0 weights (and the q8_0 activations the kernels dot them with) carry ~8 bits: the logits move
  // by about 1 % of their spread and the top token stays.
  EXPECT_LT(d.rms_diff, 0.03 * d.rms_ref);
  EXPECT_TRUE(d.same_top1);
  EXPECT_GT(d.max_diff, 0.0);  // it did quantize
}

TEST(Quantize, OutputBytesDoNotDependOnTheThreadCount) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  for (const char* type : {"Q4_K_M", "Q2_K"}) {
    const std::string a = dir.file(std::string(type) + "-1.gguf"), b = dir.file(std::string(type) + "-2.gguf");
    ASSERT_EQ(test::run_bitdial("quantize " + stories() + " " + a + " --type " + type + " --threads 1").exit_code, 0);
    ASSERT_EQ(test::run_bitdial("quantize " + stories() + " " + b + " --type " + type + " --threads 2").exit_code, 0);
    EXPECT_EQ(bytes_of(a), bytes_of(b)) << type;
  }
}

TEST(Quantize, BadInputExitsOneWithOneLineAndWritesNothing) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string out = dir.file("out.gguf");
  const std::string base = "quantize " + stories() + " " + out;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {base + " --type Q4_K_X", "unknown type 'Q4_K_X'"},
      {base + " --type Q4_0 --override 'blk\\.9\\..*=q8_0'", "matches no matrix"},
      {base + " --type Q4_0 --override 'blk\\..*=q9_0'", "unknown type 'q9_0'"},
      {base + " --type Q4_0 --override 'blk[=q8_0'", "invalid regular expression"},
      {base + " --type Q4_0 --method gptq", "--method gptq needs calibration text: --calib FILE"},
      {base + " --type Q4_0 --method slow", "--method 'slow' is not rtn, gptq or awq"},
      {base + " --type Q4_0 --budget-bpw 4.5", "a size budget needs calibration text"},
      {base + " --type Q4_0 --budget-bpw 4.5 --budget-bytes 9 --calib x.txt", "not both"},
      {"quantize " + dir.file("missing.gguf") + " " + out + " --type Q4_0", "no such file"},
      {"quantize " + stories() + " --type Q4_0", "OUT"},
  };
  for (const auto& [args, message] : cases) {
    const test::CommandResult r = test::run_bitdial(args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_EQ(lines(r.err), 1u) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << "\n" << r.err;
  }
  EXPECT_EQ(entries(dir.path()), 0u);
}

TEST(Quantize, OverridesApplyAndHelpNamesThePresets) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string out = dir.file("out.gguf");
  const test::CommandResult r = test::run_bitdial("quantize " + stories() + " " + out +
                                                  " --type Q4_0 --override 'blk\\.[0-2]\\.attn_.*=q8_0' --override "
                                                  "'blk\\.2\\.attn_q\\.weight=F16'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const GgufFile q = GgufFile::open(out);
  EXPECT_EQ(q.find_tensor("blk.0.attn_v.weight")->type, TensorType::Q8_0);
  EXPECT_EQ(q.find_tensor("blk.2.attn_q.weight")->type, TensorType::F16);
  EXPECT_EQ(q.find_tensor("blk.3.attn_v.weight")->type, TensorType::Q4_0);
  EXPECT_EQ(q.find_tensor("blk.2.attn_norm.weight")->type, TensorType::F32);
  const test::CommandResult h = test::run_bitdial("quantize --help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("Q4_K_M"), std::string::npos);
  EXPECT_NE(h.out.find("--budget-bpw"), std::string::npos);
}

TEST(Quantize, RequantizingWarnsAndStillWorks) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string q8 = dir.file("q8.gguf"), q4 = dir.file("q4.gguf");
  ASSERT_EQ(test::run_bitdial("quantize " + stories() + " " + q8 + " --type Q8_0").exit_code, 0);
  const test::CommandResult r = test::run_bitdial("quantize " + q8 + " " + q4 + " --type Q4_0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("already quantized"), std::string::npos) << r.err;
  EXPECT_NO_THROW(LlamaModel::load(q4));
}

TEST(Quantize, CancelledRunLeavesNoFile) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  QuantizeOptions opt;
  opt.recipe.preset = "Q4_K_M";
  int polls = 0;
  opt.cancelled = [&polls] { return ++polls > 3; };  // "Ctrl-C" during the fourth tensor
  const std::string msg = test::error_of([&] { quantize_model(stories(), dir.file("out.gguf"), opt); });
  EXPECT_NE(msg.find("interrupted"), std::string::npos) << msg;
  EXPECT_EQ(entries(dir.path()), 0u);
}

TEST(Quantize, SafetensorsInputIsConvertedThroughATemporaryGguf) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const std::string hf = dir.file("hf");
  convert_model(stories(), hf);
  std::vector<std::string> warnings;
  QuantizeOptions opt;
  opt.recipe.preset = "Q8_0";
  opt.warn = [&warnings](const std::string& w) { warnings.push_back(w); };
  const QuantizeResult r = quantize_model(hf, dir.file("out.gguf"), opt);
  EXPECT_EQ(r.converted_from, hf);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("temporary"), std::string::npos);
  EXPECT_EQ(entries(dir.path()), 2u);  // hf/ and out.gguf: the temporary GGUF is gone
  const LogitDiff d = logit_diff(last_logits(stories()), last_logits(dir.file("out.gguf")));
  EXPECT_LT(d.rms_diff, 0.03 * d.rms_ref);
  EXPECT_TRUE(d.same_top1);
}

TEST(Quantize, MethodResultsAndImportanceReachTheWriter) {
  BITDIAL_REQUIRE_SHARED();
  test::TempDir dir;
  const GgufFile in = GgufFile::open(stories());
  QuantRecipe recipe;
  recipe.preset = "Q4_0";
  const QuantPlan plan = plan_model_quantization(in, recipe);
  MethodResult method;
  const TensorPlan* q = nullptr;
  for (const TensorPlan& t : plan.tensors)
    if (t.name == "blk.0.attn_q.weight") q = &t;
  ASSERT_NE(q, nullptr);
  method.encoded["blk.0.attn_q.weight"] = std::vector<uint8_t>(q->bytes, 0x11);
  method.floats["blk.0.attn_norm.weight"] = std::vector<float>(64, 0.5f);
  QuantizeOptions opt;
  opt.method = &method;
  std::vector<float> w(64, 1.0f);
  w[0] = 1000.0f;  // column 0 matters most
  opt.importance["blk.0.attn_k.weight"] = w;
  write_quantized_model(in, plan, dir.file("m.gguf"), opt);
  opt.method = nullptr;
  opt.importance.clear();
  write_quantized_model(in, plan, dir.file("plain.gguf"), opt);

  const GgufFile m = GgufFile::open(dir.file("m.gguf")), p = GgufFile::open(dir.file("plain.gguf"));
  const auto data = [](const GgufFile& f, const char* name) {
    const GgufTensorInfo* t = f.find_tensor(name);
    return std::vector<uint8_t>(f.tensor_data(*t), f.tensor_data(*t) + t->nbytes);
  };
  EXPECT_EQ(data(m, "blk.0.attn_q.weight"), std::vector<uint8_t>(q->bytes, 0x11));
  const std::vector<uint8_t> norm = data(m, "blk.0.attn_norm.weight");
  float first = 0;
  std::memcpy(&first, norm.data(), sizeof first);
  EXPECT_EQ(first, 0.5f);
  EXPECT_NE(data(m, "blk.0.attn_k.weight"), data(p, "blk.0.attn_k.weight"));
  EXPECT_EQ(data(m, "blk.1.attn_k.weight"), data(p, "blk.1.attn_k.weight"));

  method.floats["blk.0.attn_norm.weight"] = std::vector<float>(3, 0.5f);
  opt.method = &method;
  EXPECT_NE(test::error_of([&] { write_quantized_model(in, plan, dir.file("bad.gguf"), opt); }).find("3 values"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("bad.gguf")));
}

}  // namespace
}  // namespace bitdial
