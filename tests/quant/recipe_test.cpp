// Recipe layer: preset rules per layer, the fallback chain and its summary line, override precedence
// and errors, and the general.file_type ids llama.cpp expects.
#include "quant/recipe.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "test_support.h"

namespace bitdial {
namespace {

// A llama-shaped tensor list: n_layer blocks of `embd` wide attention and an ffn of width `ff`.
std::vector<GgufTensorInfo> llama_tensors(int64_t n_layer, int64_t embd, int64_t ff, int64_t vocab, bool tied = false) {
  std::vector<GgufTensorInfo> v;
  const auto add = [&v](std::string name, std::vector<int64_t> ne) {
    GgufTensorInfo t;
    t.name = std::move(name);
    t.type = TensorType::F32;
    t.ne = std::move(ne);
    v.push_back(std::move(t));
  };
  add("token_embd.weight", {embd, vocab});
  for (int64_t i = 0; i < n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    add(p + "attn_norm.weight", {embd});
    add(p + "attn_q.weight", {embd, embd});
    add(p + "attn_k.weight", {embd, embd});
    add(p + "attn_v.weight", {embd, embd});
    add(p + "attn_output.weight", {embd, embd});
    add(p + "ffn_norm.weight", {embd});
    add(p + "ffn_gate.weight", {embd, ff});
    add(p + "ffn_up.weight", {embd, ff});
    add(p + "ffn_down.weight", {ff, embd});
  }
  add("output_norm.weight", {embd});
  if (!tied) add("output.weight", {embd, vocab});
  return v;
}

std::map<std::string, TensorPlan> by_name(const QuantPlan& plan) {
  std::map<std::string, TensorPlan> m;
  for (const TensorPlan& t : plan.tensors) m[t.name] = t;
  return m;
}

QuantPlan plan_of(const std::vector<GgufTensorInfo>& tensors, int64_t n_layer, const std::string& preset,
                  std::vector<TypeOverride> overrides = {}, int64_t n_gqa = 1) {
  QuantRecipe r;
  r.preset = preset;
  r.overrides = std::move(overrides);
  return plan_tensors(tensors, RecipeShape{n_layer, n_gqa}, r);
}

TEST(Recipe, Q4KMGivesAttnVAndFfnDownMoreBitsInTheMoreBitsLayers) {
  // 16 layers: first eighth {0, 1}, last eighth {14, 15}, every third after the first eighth {4, 7, 10, 13}.
  const QuantPlan plan = plan_of(llama_tensors(16, 256, 512, 1024), 16, "q4_k_m");
  const auto m = by_name(plan);
  const std::vector<int> more = {0, 1, 4, 7, 10, 13, 14, 15};
  for (int i = 0; i < 16; ++i) {
    const bool bumped = std::find(more.begin(), more.end(), i) != more.end();
    const std::string p = "blk." + std::to_string(i) + ".";
    EXPECT_EQ(m.at(p + "attn_v.weight").target, bumped ? TensorType::Q6_K : TensorType::Q4_K) << "layer " << i;
    EXPECT_EQ(m.at(p + "ffn_down.weight").target, bumped ? TensorType::Q6_K : TensorType::Q4_K) << "layer " << i;
    EXPECT_EQ(m.at(p + "attn_q.weight").target, TensorType::Q4_K);
    EXPECT_EQ(m.at(p + "ffn_up.weight").target, TensorType::Q4_K);
    EXPECT_EQ(m.at(p + "attn_norm.weight").target, TensorType::F32);
  }
  EXPECT_EQ(m.at("output.weight").target, TensorType::Q6_K);
  EXPECT_EQ(m.at("token_embd.weight").target, TensorType::Q4_K);
  EXPECT_EQ(plan.file_type, 15u);
  EXPECT_EQ(plan.fallback_summary(), "");
  // Between 4 and 5 bits: mostly q4_K (4.5) with some q6_K (6.56).
  EXPECT_GT(plan.bits_per_weight(), 4.5);
  EXPECT_LT(plan.bits_per_weight(), 5.5);
}

TEST(Recipe, SmallVariantsAndLowerPresetsFollowTheirTables) {
  const auto tensors = llama_tensors(16, 256, 512, 1024);
  auto m = by_name(plan_of(tensors, 16, "Q4_K_S"));
  EXPECT_EQ(m.at("blk.3.attn_v.weight").target, TensorType::Q5_K);
  EXPECT_EQ(m.at("blk.4.attn_v.weight").target, TensorType::Q4_K);
  EXPECT_EQ(m.at("blk.1.ffn_down.weight").target, TensorType::Q5_K);  // 16 / 8 = first 2 layers
  EXPECT_EQ(m.at("blk.2.ffn_down.weight").target, TensorType::Q4_K);
  m = by_name(plan_of(tensors, 16, "Q3_K_M"));
  EXPECT_EQ(m.at("blk.1.attn_v.weight").target, TensorType::Q5_K);
  EXPECT_EQ(m.at("blk.2.attn_v.weight").target, TensorType::Q4_K);
  EXPECT_EQ(m.at("blk.0.ffn_down.weight").target, TensorType::Q5_K);  // 16 / 16 = first layer
  EXPECT_EQ(m.at("blk.1.ffn_down.weight").target, TensorType::Q4_K);
  EXPECT_EQ(m.at("blk.5.attn_output.weight").target, TensorType::Q4_K);
  EXPECT_EQ(m.at("blk.5.attn_q.weight").target, TensorType::Q3_K);
  // Q2_K: attn_v q4_K only with >= 4 query heads per K/V head.
  EXPECT_EQ(by_name(plan_of(tensors, 16, "Q2_K", {}, 1)).at("blk.0.attn_v.weight").target, TensorType::Q3_K);
  EXPECT_EQ(by_name(plan_of(tensors, 16, "Q2_K", {}, 4)).at("blk.0.attn_v.weight").target, TensorType::Q4_K);
  // Q8_0 keeps output at q8_0; legacy 4-bit gets a q6_K output.
  EXPECT_EQ(by_name(plan_of(tensors, 16, "Q8_0")).at("output.weight").target, TensorType::Q8_0);
  EXPECT_EQ(by_name(plan_of(tensors, 16, "Q4_0")).at("output.weight").target, TensorType::Q6_K);
  EXPECT_EQ(by_name(plan_of(tensors, 16, "Q4_0")).at("blk.0.ffn_down.weight").target, TensorType::Q4_0);
}

TEST(Recipe, TiedEmbeddingsTakeTheOutputRule) {
  const auto m = by_name(plan_of(llama_tensors(4, 256, 512, 1024, /*tied=*/true), 4, "Q4_K_M"));
  EXPECT_EQ(m.at("token_embd.weight").target, TensorType::Q6_K);
}

TEST(Recipe, FallbackChainPicksTheNearestFittingType) {
  EXPECT_EQ(fitting_type(TensorType::Q4_K, 256), TensorType::Q4_K);
  EXPECT_EQ(fitting_type(TensorType::Q4_K, 64), TensorType::Q5_0);
  EXPECT_EQ(fitting_type(TensorType::Q5_K, 64), TensorType::Q5_1);
  EXPECT_EQ(fitting_type(TensorType::Q6_K, 96), TensorType::Q8_0);
  EXPECT_EQ(fitting_type(TensorType::Q2_K, 64), TensorType::IQ4_NL);
  EXPECT_EQ(fitting_type(TensorType::Q3_K, 64), TensorType::IQ4_NL);
  EXPECT_EQ(fitting_type(TensorType::IQ4_XS, 64), TensorType::IQ4_NL);
  EXPECT_EQ(fitting_type(TensorType::TQ2_0, 32), TensorType::IQ4_NL);
  // 172 = 4 * 43: no 32-value block fits either.
  for (TensorType t : {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q2_K, TensorType::Q8_0, TensorType::Q4_0, TensorType::IQ4_NL})
    EXPECT_EQ(fitting_type(t, 172), TensorType::F16) << type_name(t);
  EXPECT_EQ(fitting_type(TensorType::BF16, 172), TensorType::BF16);
}

TEST(Recipe, FallbacksAreCollectedIntoOneSummaryLine) {
  // stories260K's shape: 64 wide, ffn 172, 5 layers.
  const QuantPlan plan = plan_of(llama_tensors(5, 64, 172, 512), 5, "Q4_K_S");
  const auto m = by_name(plan);
  EXPECT_EQ(m.at("blk.0.ffn_down.weight").target, TensorType::F16);
  EXPECT_TRUE(m.at("blk.0.ffn_down.weight").fallback);
  EXPECT_EQ(m.at("blk.0.ffn_down.weight").requested, TensorType::Q4_K);
  EXPECT_NE(m.at("blk.0.ffn_down.weight").reason.find("172 columns"), std::string::npos);
  EXPECT_EQ(m.at("blk.4.ffn_up.weight").target, TensorType::Q5_0);
  EXPECT_EQ(m.at("output.weight").target, TensorType::Q8_0);
  const std::string s = plan.fallback_summary();
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_EQ(s.rfind("fallback: 37 tensors (", 0), 0u) << s;
  EXPECT_NE(s.find("(5x blk.*.ffn_down.weight 172 columns: q4_K -> f16)"), std::string::npos) << s;
  EXPECT_NE(s.find("(4x blk.*.attn_v.weight 64 columns: q5_K -> q5_1)"), std::string::npos) << s;
  EXPECT_NE(s.find("(blk.4.attn_v.weight 64 columns: q4_K -> q5_0)"), std::string::npos) << s;  // a group of one keeps its name
  EXPECT_NE(s.find("(5x blk.*.ffn_gate.weight 64 columns: q4_K -> q5_0)"), std::string::npos) << s;
  EXPECT_NE(s.find("(output.weight 64 columns: q6_K -> q8_0)"), std::string::npos) << s;
}

TEST(Recipe, OverridesWinInOrderAndExactAssignmentsComeLast) {
  const auto tensors = llama_tensors(4, 256, 512, 1024);
  QuantRecipe r;
  r.preset = "Q4_0";
  r.overrides = {parse_type_override("blk\\.[0-3]\\.ffn_.*=q8_0"), parse_type_override("blk\\.1\\.ffn_up\\.weight=Q5_K")};
  r.exact = {{"blk.2.ffn_gate.weight", TensorType::F16}};
  const auto m = by_name(plan_tensors(tensors, RecipeShape{4, 1}, r));
  EXPECT_EQ(m.at("blk.0.ffn_down.weight").target, TensorType::Q8_0);
  EXPECT_EQ(m.at("blk.1.ffn_up.weight").target, TensorType::Q5_K);  // the later override wins
  EXPECT_EQ(m.at("blk.2.ffn_gate.weight").target, TensorType::F16);  // exact beats both
  EXPECT_EQ(m.at("blk.2.ffn_norm.weight").target, TensorType::F32);  // 1-D untouched by ".*"
  EXPECT_EQ(m.at("blk.2.attn_q.weight").target, TensorType::Q4_0);
  EXPECT_NE(m.at("blk.0.ffn_down.weight").reason.find("override"), std::string::npos);
  // Full match only: "attn_q" alone matches no whole name.
  r.overrides = {parse_type_override("attn_q=q8_0")};
  r.exact.clear();
  EXPECT_NE(test::error_of([&] { plan_tensors(tensors, RecipeShape{4, 1}, r); }).find("matches no matrix"), std::string::npos);
  r.overrides = {parse_type_override("blk\\.9\\..*=q8_0")};
  EXPECT_NE(test::error_of([&] { plan_tensors(tensors, RecipeShape{4, 1}, r); }).find("blk\\.9\\..*=q8_0"), std::string::npos);
}

TEST(Recipe, BadOverridesPresetsAndAssignmentsAreErrors) {
  EXPECT_NE(test::error_of([] { parse_type_override("blk.*=q9_9"); }).find("unknown type 'q9_9'"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_type_override("nothing"); }).find("REGEX=TYPE"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_type_override("blk[=q8_0"); }).find("invalid regular expression"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_type_override("x=iq2_xxs"); }).find("cannot encode"), std::string::npos);
  EXPECT_NE(test::error_of([] { find_quant_preset("Q4_K_X"); }).find("Q4_K_M"), std::string::npos);
  QuantRecipe r;
  r.preset = "Q8_0";
  r.exact = {{"blk.0.attn_norm.weight", TensorType::Q8_0}};
  EXPECT_NE(test::error_of([&] { plan_tensors(llama_tensors(1, 64, 64, 64), RecipeShape{1, 1}, r); }).find("1-D"), std::string::npos);
  r.exact = {{"no.such.weight", TensorType::Q8_0}};
  EXPECT_NE(test::error_of([&] { plan_tensors(llama_tensors(1, 64, 64, 64), RecipeShape{1, 1}, r); }).find("no such tensor"),
            std::string::npos);
  // The '=' split is at the last one, so a regex may itself contain '='.
  EXPECT_EQ(parse_type_override("(?=blk).*=q8_0").pattern, "(?=blk).*");
}

TEST(Recipe, PresetsCarryLlamaCppFileTypeIds) {
  const std::map<std::string, uint32_t> expected = {
      {"F16", 1},    {"Q4_0", 2},    {"Q4_1", 3},    {"Q8_0", 7},    {"Q5_0", 8},    {"Q5_1", 9},  {"Q2_K", 10},
      {"Q3_K_S", 11}, {"Q3_K_M", 12}, {"Q3_K_L", 13}, {"Q4_K_S", 14}, {"Q4_K_M", 15}, {"Q5_K_S", 16}, {"Q5_K_M", 17},
      {"Q6_K", 18},  {"IQ4_NL", 25}, {"IQ4_XS", 30}, {"BF16", 32},   {"TQ2_0", 37}};
  EXPECT_EQ(quant_presets().size(), expected.size());
  for (const auto& [name, id] : expected) {
    EXPECT_EQ(find_quant_preset(name).file_type, id) << name;
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_STREQ(find_quant_preset(lower).name, name.c_str());
  }
}

TEST(Recipe, SizesAndBitsPerWeightAddUp) {
  const QuantPlan plan = plan_of(llama_tensors(2, 256, 512, 1024), 2, "Q8_0");
  uint64_t bytes = 0, n = 0;
  for (const TensorPlan& t : plan.tensors) {
    EXPECT_EQ(t.bytes, tensor_nbytes(t.target, t.ne, t.name));
    bytes += t.bytes;
    n += static_cast<uint64_t>(t.n_elements());
  }
  EXPECT_EQ(plan.tensor_bytes, bytes);
  EXPECT_EQ(plan.n_elements, n);
  EXPECT_DOUBLE_EQ(plan.bits_per_weight(), 8.0 * static_cast<double>(bytes) / static_cast<double>(n));
}

}  // namespace
}  // namespace bitdial
