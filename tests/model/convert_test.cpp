#include "model/convert.h"

#include "blocks/tensor_codec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/hf.h"
#include "formats/hf_tokenizer.h"
#include "formats/safetensors.h"
#include "test_support.h"

namespace bitdial {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

std::vector<uint8_t> bytes_of(const GgufFile& f, const GgufTensorInfo& t) {
  return {f.tensor_data(t), f.tensor_data(t) + t.nbytes};
}

std::vector<uint8_t> bytes_of(const SafetensorsModel& m, const StTensorInfo& t) {
  return {m.tensor_data(t), m.tensor_data(t) + t.nbytes};
}

std::vector<uint8_t> random_f32(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<uint8_t> out(n * 4);
  for (size_t i = 0; i < n; ++i) {
    const float v = dist(rng);
    std::memcpy(&out[i * 4], &v, 4);
  }
  return out;
}

TEST(ConvertModel, Stories260KRoundTripsThroughHfFolderWithIdenticalTensorsHparamsAndTokenizer) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  const std::string src = test::shared_path("models/stories260K.gguf");
  const std::string folder = dir.file("hf");
  const std::string back = dir.file("back.gguf");
  convert_model(src, folder);
  convert_model(folder, back);

  const GgufFile a = GgufFile::open(src);
  const GgufFile b = GgufFile::open(back);
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const GgufTensorInfo& ta : a.tensors()) {
    const GgufTensorInfo* tb = b.find_tensor(ta.name);
    ASSERT_NE(tb, nullptr) << ta.name;
    EXPECT_EQ(tb->type, ta.type) << ta.name;
    EXPECT_EQ(tb->ne, ta.ne) << ta.name;
    EXPECT_TRUE(bytes_of(a, ta) == bytes_of(b, *tb)) << ta.name << ": tensor bytes differ";
  }
  EXPECT_EQ(hparams_from_gguf(b), hparams_from_gguf(a));
  EXPECT_TRUE(tokenizer_from_gguf(b) == tokenizer_from_gguf(a));
  EXPECT_EQ(b.get_string("general.architecture"), "llama");
  EXPECT_EQ(b.get_uint("general.file_type"), 0u);
}

TEST(ConvertModel, GgufToFolderWritesHfNamesConfigAndUnpermutedQk) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  const std::string src = test::shared_path("models/stories260K.gguf");
  convert_model(src, dir.file("hf"));
  for (const char* name : {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer.model",
                           "tokenizer_config.json", "special_tokens_map.json"})
    EXPECT_TRUE(fs::exists(dir.file("hf/") + name)) << name;
  const nlohmann::json config = nlohmann::json::parse(read_file(dir.file("hf/config.json")));
  EXPECT_EQ(config["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(config["num_key_value_heads"], 4);
  EXPECT_EQ(config["torch_dtype"], "float32");

  const GgufFile g = GgufFile::open(src);
  const SafetensorsModel m = SafetensorsModel::open(dir.file("hf"));
  const StTensorInfo* k = m.find_tensor("model.layers.2.self_attn.k_proj.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (std::vector<int64_t>{32, 64}));  // [rows, cols]: GGUF ne {64, 32} reversed
  const GgufTensorInfo* gk = g.find_tensor("blk.2.attn_k.weight");
  EXPECT_EQ(bytes_of(m, *k), permute_rope_rows(g.tensor_data(*gk), 32, 64 * 4, 4, false));
  const StTensorInfo* v = m.find_tensor("model.layers.2.self_attn.v_proj.weight");
  EXPECT_EQ(bytes_of(m, *v), bytes_of(g, *g.find_tensor("blk.2.attn_v.weight")));
}

TEST(ConvertModel, QuantizedGgufToSafetensorsFileDequantizesToF32ByDefault) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  const std::string src = test::shared_path("models/stories260K-llamacpp-Q4_K_M.gguf");
  convert_model(src, dir.file("q.safetensors"));
  const GgufFile g = GgufFile::open(src);
  const SafetensorsModel m = SafetensorsModel::open(dir.file("q.safetensors"));
  EXPECT_EQ(m.metadata().at("general.architecture"), "llama");
  EXPECT_EQ(m.metadata().at("format"), "pt");
  ASSERT_EQ(m.tensors().size(), g.tensors().size());
  for (const GgufTensorInfo& t : g.tensors()) {
    const StTensorInfo* s = m.find_tensor(t.name);  // GGUF names kept in a single file
    ASSERT_NE(s, nullptr) << t.name;
    const bool is_float = t.type == TensorType::F32 || t.type == TensorType::F16;
    EXPECT_EQ(s->dtype, t.type == TensorType::F16 ? StDtype::F16 : StDtype::F32) << t.name;
    EXPECT_EQ(s->shape, std::vector<int64_t>(t.ne.rbegin(), t.ne.rend())) << t.name;
    const std::vector<uint8_t> expect =
        is_float ? bytes_of(g, t) : convert_tensor_bytes(t.type, TensorType::F32, g.tensor_data(t), t.n_elements(), t.ne[0], t.name);
    EXPECT_TRUE(bytes_of(m, *s) == expect) << t.name;
  }
}

TEST(ConvertModel, RequestedTypeAppliesToEveryFloatTensor) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  ConvertOptions opt;
  opt.out_type = parse_convert_type("BF16");
  convert_model(test::shared_path("models/stories260K-llamacpp-Q4_K_M.gguf"), dir.file("q.safetensors"), opt);
  const SafetensorsModel m = SafetensorsModel::open(dir.file("q.safetensors"));
  for (const StTensorInfo& t : m.tensors()) EXPECT_EQ(t.dtype, StDtype::BF16) << t.name;
}

TEST(ConvertModel, HfFolderToGgufWithF16KeepsNormsInF32AndSetsFileType) {
  BITDIAL_REQUIRE_SHARED();
  TempDir dir;
  convert_model(test::shared_path("models/stories260K.gguf"), dir.file("hf"));
  ConvertOptions opt;
  opt.out_type = TensorType::F16;
  convert_model(dir.file("hf"), dir.file("m.gguf"), opt);
  const GgufFile g = GgufFile::open(dir.file("m.gguf"));
  EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->type, TensorType::F16);
  EXPECT_EQ(g.find_tensor("blk.0.attn_norm.weight")->type, TensorType::F32);
  EXPECT_EQ(g.get_uint("general.file_type"), 1u);
}

TEST(ConvertModel, SafetensorsWithoutConfigIsCopiedRawWithReversedShapes) {
  TempDir dir;
  const auto w = random_f32(3 * 8, 31);
  SafetensorsWriter sw;
  sw.add_tensor("encoder.proj", StDtype::F32, {3, 8}, w);
  sw.write(dir.file("x.safetensors"));
  convert_model(dir.file("x.safetensors"), dir.file("x.gguf"));
  const GgufFile g = GgufFile::open(dir.file("x.gguf"));
  const GgufTensorInfo* t = g.find_tensor("encoder.proj");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ne, (std::vector<int64_t>{8, 3}));
  EXPECT_EQ(bytes_of(g, *t), w);
}

TEST(ConvertModel, BrokenInputRaisesErrorNamingFileAndLeavesNoOutput) {
  TempDir dir;
  std::string bad(8, '\0');
  bad[0] = 100;  // header length 100 in a 8-byte file
  write_file_atomic(dir.file("bad.safetensors"), bad);
  try {
    convert_model(dir.file("bad.safetensors"), dir.file("out.gguf"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.file("bad.safetensors")), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("at byte 0"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir.file("out.gguf")));
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename(), "bad.safetensors") << "left behind: " << entry.path();
}

TEST(ConvertModel, UnmappableTensorInLlamaFolderIsNamed) {
  TempDir dir;
  SafetensorsWriter sw;
  sw.add_tensor("model.layers.0.mystery.weight", StDtype::F32, {2}, random_f32(2, 32));
  sw.write(dir.file("model.safetensors"));
  write_file_atomic(dir.file("config.json"), R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 8,
    "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 32,
    "vocab_size": 4})");
  try {
    convert_model(dir.path(), dir.file("m.gguf"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("key 'model.layers.0.mystery.weight'"), std::string::npos) << e.what();
  }
}

TEST(ConvertModel, UnknownTypeNameIsRejected) { EXPECT_THROW(parse_convert_type("q4_0"), Error); }

}  // namespace
}  // namespace bitdial
