// The memory planner: parameter counts, shapes (published configs and the scaling rule), weight bytes
// from bits / presets / files, the KV cache formula, overhead, and fit on catalogue rows — including
// DESIGN.md's seed table for a 70B model.
#include <gtest/gtest.h>

#include <cmath>

#include "decide/memory_plan.h"
#include "formats/gguf.h"
#include "quant/quantize_model.h"
#include "test_support.h"

namespace bitdial {
namespace {

TEST(MemoryPlan, ParamCountsParseUnitSuffixes) {
  EXPECT_EQ(parse_param_count("70B"), 70'000'000'000u);
  EXPECT_EQ(parse_param_count("6.7b"), 6'700'000'000u);
  EXPECT_EQ(parse_param_count("500M"), 500'000'000u);
  EXPECT_EQ(parse_param_count("1.5T"), 1'500'000'000'000u);
  EXPECT_EQ(parse_param_count("7000000000"), 7'000'000'000u);
  EXPECT_EQ(parse_param_count("7e9"), 7'000'000'000u);
}

TEST(MemoryPlan, UnknownUnitSuffixIsAnError) {
  const std::string msg = test::error_of([] { parse_param_count("70Q"); });
  EXPECT_NE(msg.find("unknown unit suffix 'Q'"), std::string::npos) << msg;
  EXPECT_NE(test::error_of([] { parse_param_count("B70"); }).find("not a number"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_param_count("-7B"); }).find("[1, 1e15]"), std::string::npos);
}

TEST(MemoryPlan, SeedTableWeightsFallOutOfBitsTimesParams) {
  // DESIGN.md "Figures from the seeds": 70B at 32 / 16 / 8 / 4 bits = 280 / 140 / 70 / 35 GB (1e9 bytes).
  const uint64_t p = parse_param_count("70B");
  EXPECT_EQ(weights_from_bits(p, 32).bytes, 280'000'000'000u);
  EXPECT_EQ(weights_from_bits(p, 16).bytes, 140'000'000'000u);
  EXPECT_EQ(weights_from_bits(p, 8).bytes, 70'000'000'000u);
  EXPECT_EQ(weights_from_bits(p, 4).bytes, 35'000'000'000u);
}

TEST(MemoryPlan, Int4SeventyBDoesNotFitOnOneRtx4090) {
  const uint64_t p = parse_param_count("70B");
  const MemoryPlan plan = plan_memory(shape_for_params(p), weights_from_bits(p, 4), MemoryOptions{});
  const HardwareCatalog cat = load_hardware_catalog();
  const auto fits = fit_catalog(plan, cat);
  bool seen = false;
  for (const HardwareFit& f : fits) {
    if (f.name != "RTX-4090") continue;
    seen = true;
    EXPECT_FALSE(f.fits_one);  // 35 GB of weights alone exceed 24 GiB
    EXPECT_GE(f.devices, 2);
    EXPECT_DOUBLE_EQ(f.dollars_per_hour, double(f.devices) * cat.get("RTX-4090").dollars_per_hour);
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(devices_to_fit(plan.total_bytes, cat.get("A100-80GB")), 1);
}

TEST(MemoryPlan, Int8SeventyBFitsOnOneA100_80GBAtDefaultContext) {
  const uint64_t p = parse_param_count("70B");
  const MemoryPlan plan = plan_memory(shape_for_params(p), weights_from_bits(p, 8), MemoryOptions{});
  EXPECT_LE(plan.total_bytes, load_hardware_catalog().get("A100-80GB").memory_bytes());
  EXPECT_GT(plan.total_bytes, load_hardware_catalog().get("A100-40GB").memory_bytes());
}

TEST(MemoryPlan, PublishedShapeIsUsedNearItsNominalSize) {
  const ModelShape s = shape_for_params(parse_param_count("70B"));
  EXPECT_NE(s.from.find("Llama 3.1 70B"), std::string::npos) << s.from;
  EXPECT_EQ(s.n_layer, 80);
  EXPECT_EQ(s.n_head_kv, 8);
  EXPECT_EQ(s.head_dim, 128);
  EXPECT_NEAR(double(s.params), 70.55e9, 0.01e9);  // the published model's own count
  EXPECT_NE(shape_for_params(parse_param_count("7B")).from.find("Llama 2 7B"), std::string::npos);
  EXPECT_NE(shape_for_params(parse_param_count("8B")).from.find("Llama 3.1 8B"), std::string::npos);
}

TEST(MemoryPlan, OtherSizesUseTheScalingRuleWithinTenPercent) {
  const uint64_t p = parse_param_count("20B");
  const ModelShape s = shape_for_params(p);
  EXPECT_NE(s.from.find("scaling rule"), std::string::npos) << s.from;
  EXPECT_NEAR(double(s.params) / double(p), 1.0, 0.1);
  EXPECT_EQ(s.head_dim, 128);
  EXPECT_EQ(s.n_embd % 128, 0);
}

TEST(MemoryPlan, KvCacheFollowsTheFormula) {
  const ModelShape s = shape_for_params(parse_param_count("70B"));
  // n_layer x 2 x n_ctx x batch x n_kv_heads x head_dim x 2 bytes
  EXPECT_EQ(kv_cache_bytes(s, 8192, 16, KvElement::f16), uint64_t{80} * 2 * 8192 * 16 * 8 * 128 * 2);
  EXPECT_EQ(kv_cache_bytes(s, 8192, 16, KvElement::q8_0), uint64_t{80} * 2 * 8192 * 16 * 8 * 128 * 34 / 32);
  EXPECT_EQ(kv_bytes_per_token(s, KvElement::f16), uint64_t{80} * 2 * 8 * 128 * 2);
}

TEST(MemoryPlan, TotalIsWeightsPlusKvCachePlusOverhead) {
  const uint64_t p = parse_param_count("8B");
  MemoryOptions o;
  o.context = 2048;
  o.batch = 4;
  const MemoryPlan plan = plan_memory(shape_for_params(p), weights_from_bits(p, 16), o);
  EXPECT_EQ(plan.overhead_bytes, plan.runtime_bytes + plan.compute_buffer_bytes);
  EXPECT_EQ(plan.total_bytes, plan.weights.bytes + plan.kv_cache_bytes + plan.overhead_bytes);
  EXPECT_EQ(plan.kv_cache_bytes, kv_cache_bytes(plan.shape, 2048, 4, KvElement::f16));
  EXPECT_GT(plan.compute_buffer_bytes, 0u);
}

TEST(MemoryPlan, BadContextOrBatchNamesTheFlag) {
  MemoryOptions o;
  o.context = 0;
  EXPECT_NE(test::error_of([&] { validate_memory_options(o); }).find("--context"), std::string::npos);
  o.context = 1;
  o.batch = 0;
  EXPECT_NE(test::error_of([&] { validate_memory_options(o); }).find("--batch"), std::string::npos);
  EXPECT_NE(test::error_of([] { parse_kv_element("q4_0"); }).find("--kv"), std::string::npos);
}

TEST(MemoryPlan, PresetOnAShapeGivesItsPlannedBitsPerWeight) {
  const uint64_t p = parse_param_count("70B");
  const ModelShape s = shape_for_params(p);
  const WeightEstimate q4 = weights_from_preset(s, p, "Q4_K_M");
  EXPECT_GT(q4.bits_per_weight, 4.5);  // q4_K is 4.5 bpw; q6_K rows raise it
  EXPECT_LT(q4.bits_per_weight, 5.0);
  EXPECT_EQ(q4.bytes, static_cast<uint64_t>(std::llround(double(p) * q4.bits_per_weight / 8)));
  const double q8 = weights_from_preset(s, p, "Q8_0").bits_per_weight;  // q8_0 matrices, f32 norms
  EXPECT_GT(q8, 8.5);
  EXPECT_LT(q8, 8.51);
  EXPECT_NE(test::error_of([&] { weights_from_preset(s, p, "Q9"); }).find("Q9"), std::string::npos);
}

TEST(MemoryPlan, FileShapeAndExactPresetBytesComeFromTheFile) {
  test::TempDir dir;
  const GgufFile file = GgufFile::open(test::write_tiny_f32_model(dir, 1, 0.02f));
  const ModelShape s = shape_from_gguf(file);
  EXPECT_EQ(s.n_layer, 2);
  EXPECT_EQ(s.n_embd, 64);
  EXPECT_EQ(s.n_head, 4);
  EXPECT_EQ(s.n_head_kv, 2);
  EXPECT_EQ(s.head_dim, 16);
  uint64_t stored = 0, elements = 0;
  for (const GgufTensorInfo& t : file.tensors()) stored += t.nbytes, elements += uint64_t(t.n_elements());
  EXPECT_EQ(s.params, elements);
  EXPECT_EQ(weights_from_file(file, std::nullopt).bytes, stored);
  QuantRecipe r;
  r.preset = "Q8_0";
  EXPECT_EQ(weights_from_file(file, std::string("Q8_0")).bytes, plan_model_quantization(file, r).tensor_bytes);
}

TEST(MemoryPlan, JsonCarriesTheDocumentedKeys) {
  const uint64_t p = parse_param_count("70B");
  const MemoryPlan plan = plan_memory(shape_for_params(p), weights_from_bits(p, 4), MemoryOptions{});
  const auto j = memory_plan_json(plan, fit_catalog(plan, load_hardware_catalog()));
  EXPECT_EQ(j["schema"], "bitdial.plan/1");
  EXPECT_EQ(j["weights"]["bytes"], 35'000'000'000u);
  EXPECT_EQ(j["total_bytes"], plan.total_bytes);
  EXPECT_EQ(j["kv_cache"]["context"], 4096);
  EXPECT_EQ(j["hardware"].size(), load_hardware_catalog().rows().size());
  EXPECT_TRUE(j["hardware"][0].contains("fits_one"));
}

}  // namespace
}  // namespace bitdial
