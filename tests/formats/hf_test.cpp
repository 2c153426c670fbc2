#include "formats/hf.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "core/atomic_file.h"
#include "core/error.h"
#include "formats/hf_tokenizer.h"
#include "test_support.h"

namespace bitdial {
namespace {

using nlohmann::json;
using test::TempDir;

}  // namespace

// Readable failure output: the hparams as the config.json they would write.
void PrintTo(const ModelHparams& hp, std::ostream* os) { *os << hparams_to_hf_config(hp).dump(); }

namespace {

// Shapes of public checkpoints' config.json files (values as those files state them).
json llama3_config() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
    "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
    "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "vocab_size": 128256, "tie_word_embeddings": true, "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009], "torch_dtype": "bfloat16"})");
}

json mistral_config() {
  return json::parse(R"({
    "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "sliding_window": null, "vocab_size": 32768,
    "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"})");
}

json qwen2_config() {
  return json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
    "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "use_sliding_window": false, "sliding_window": 32768,
    "vocab_size": 151936, "tie_word_embeddings": true, "bos_token_id": 151643, "eos_token_id": 151643})");
}

TEST(HfConfig, Llama3ConfigMapsToLlamaHparamsWithLlama3RopeScaling) {
  const ModelHparams hp = hparams_from_hf_config(llama3_config(), "config.json");
  EXPECT_EQ(hp.arch, "llama");
  EXPECT_EQ(hp.embedding_length, 2048u);
  EXPECT_EQ(hp.block_count, 16u);
  EXPECT_EQ(hp.feed_forward_length, 8192u);
  EXPECT_EQ(hp.head_count, 32u);
  EXPECT_EQ(hp.head_count_kv, 8u);
  EXPECT_EQ(hp.head_dim, 64u);
  EXPECT_EQ(hp.rope_dimension_count, 64u);
  EXPECT_EQ(hp.context_length, 131072u);
  EXPECT_FLOAT_EQ(hp.rope_freq_base, 500000.0f);
  EXPECT_FLOAT_EQ(hp.rms_norm_eps, 1e-5f);
  EXPECT_EQ(hp.rope_scaling_type, "llama3");
  EXPECT_FLOAT_EQ(hp.rope_scaling_factor, 32.0f);
  EXPECT_FLOAT_EQ(hp.rope_low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(hp.rope_high_freq_factor, 4.0f);
  EXPECT_EQ(hp.rope_original_context_length, 8192u);
  EXPECT_EQ(hp.vocab_size, 128256u);
  EXPECT_TRUE(hp.tie_word_embeddings);
  EXPECT_EQ(hp.bos_token_id, 128000u);
  EXPECT_EQ(hp.eos_token_id, 128001u);  // the first of the list
}

TEST(HfConfig, MistralConfigMapsToLlamaArch) {
  const ModelHparams hp = hparams_from_hf_config(mistral_config(), "config.json");
  EXPECT_EQ(hp.arch, "llama");
  EXPECT_EQ(hp.hf_architecture, "MistralForCausalLM");
  EXPECT_EQ(hp.head_dim, 128u);
  EXPECT_EQ(hp.head_count_kv, 8u);
  EXPECT_FLOAT_EQ(hp.rope_freq_base, 1e6f);
  EXPECT_TRUE(hp.rope_scaling_type.empty());
  EXPECT_FALSE(hp.tie_word_embeddings);
}

TEST(HfConfig, Qwen2ConfigMapsToQwen2ArchWithTiedEmbeddings) {
  const ModelHparams hp = hparams_from_hf_config(qwen2_config(), "config.json");
  EXPECT_EQ(hp.arch, "qwen2");
  EXPECT_EQ(hp.head_count, 14u);
  EXPECT_EQ(hp.head_dim, 64u);
  EXPECT_FLOAT_EQ(hp.rms_norm_eps, 1e-6f);
  EXPECT_TRUE(hp.tie_word_embeddings);
  EXPECT_EQ(hp.vocab_size, 151936u);
}

TEST(HfConfig, HparamsRoundTripThroughConfigJson) {
  for (const json& c : {llama3_config(), mistral_config(), qwen2_config()}) {
    const ModelHparams hp = hparams_from_hf_config(c, "config.json");
    const json written = json::parse(hparams_to_hf_config(hp).dump());
    EXPECT_EQ(hparams_from_hf_config(written, "written"), hp) << c.dump();
  }
}

TEST(HfConfig, HparamsRoundTripThroughGgufMetadata) {
  for (const json& c : {mistral_config(), qwen2_config()}) {
    ModelHparams hp = hparams_from_hf_config(c, "config.json");
    hp.name = "test-model";
    GgufWriter w;
    hparams_to_gguf(hp, w);
    w.set("tokenizer.ggml.bos_token_id", GgufValue::u32(*hp.bos_token_id));
    w.set("tokenizer.ggml.eos_token_id", GgufValue::u32(*hp.eos_token_id));
    const std::vector<float> out(4, 0.0f);
    if (!hp.tie_word_embeddings)
      w.add_tensor("output.weight", TensorType::F32, {4}, reinterpret_cast<const uint8_t*>(out.data()), 16);
    const std::vector<uint8_t> bytes = w.to_bytes();
    const GgufFile f = GgufFile::parse(bytes.data(), bytes.size(), "mem.gguf");
    ModelHparams back = hparams_from_gguf(f);
    back.hf_architecture = hp.hf_architecture;  // GGUF records "llama" for Mistral too
    EXPECT_EQ(back, hp) << c.dump();
    EXPECT_EQ(f.get_uint(hp.arch + ".context_length"), hp.context_length);
    EXPECT_EQ(f.get(hp.arch + ".attention.layer_norm_rms_epsilon").type(), GgufValueType::FLOAT32);
  }
}

TEST(HfConfig, MissingRequiredKeyNamesFileAndKey) {
  json c = mistral_config();
  c.erase("hidden_size");
  const std::string msg = test::error_of([&] { hparams_from_hf_config(c, "/m/config.json"); });
  EXPECT_NE(msg.find("/m/config.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("key 'hidden_size'"), std::string::npos) << msg;
}

TEST(HfConfig, UnsupportedArchitectureIsNamed) {
  json c = mistral_config();
  c["architectures"] = {"GPTNeoXForCausalLM"};
  const std::string msg = test::error_of([&] { hparams_from_hf_config(c, "config.json"); });
  EXPECT_NE(msg.find("GPTNeoXForCausalLM"), std::string::npos) << msg;
}

TEST(HfTensorNames, EveryTableNameMapsBothWays) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
      {"blk.3.attn_q.weight", "model.layers.3.self_attn.q_proj.weight"},
      {"blk.3.attn_q.bias", "model.layers.3.self_attn.q_proj.bias"},
      {"blk.12.attn_k.weight", "model.layers.12.self_attn.k_proj.weight"},
      {"blk.12.attn_v.bias", "model.layers.12.self_attn.v_proj.bias"},
      {"blk.1.attn_output.weight", "model.layers.1.self_attn.o_proj.weight"},
      {"blk.1.ffn_norm.weight", "model.layers.1.post_attention_layernorm.weight"},
      {"blk.7.ffn_gate.weight", "model.layers.7.mlp.gate_proj.weight"},
      {"blk.7.ffn_up.weight", "model.layers.7.mlp.up_proj.weight"},
      {"blk.7.ffn_down.weight", "model.layers.7.mlp.down_proj.weight"},
  };
  for (const auto& [gguf, hf] : pairs) {
    const auto to_hf = gguf_to_hf_tensor_name(gguf);
    ASSERT_TRUE(to_hf.has_value()) << gguf;
    EXPECT_EQ(to_hf->name, hf);
    const auto to_gguf = hf_to_gguf_tensor_name(hf);
    ASSERT_TRUE(to_gguf.has_value()) << hf;
    EXPECT_EQ(to_gguf->name, gguf);
  }
  EXPECT_EQ(hf_to_gguf_tensor_name("model.layers.2.self_attn.q_proj.weight")->permute, RopePermute::q);
  EXPECT_EQ(hf_to_gguf_tensor_name("model.layers.2.self_attn.k_proj.weight")->permute, RopePermute::k);
  EXPECT_EQ(hf_to_gguf_tensor_name("model.layers.2.self_attn.v_proj.weight")->permute, RopePermute::none);
}

TEST(HfTensorNames, NamesOutsideTheTableDoNotMap) {
  for (const char* name : {"blk.x.attn_q.weight", "blk.1.attn_q", "blk.1.attn_qq.weight", "token_embd.weights",
                           "model.layers.1.self_attn.rotary_emb.inv_freq", "model.embed_tokens.weight.extra"}) {
    EXPECT_FALSE(gguf_to_hf_tensor_name(name).has_value()) << name;
    EXPECT_FALSE(hf_to_gguf_tensor_name(name).has_value()) << name;
  }
}

TEST(RopePermutation, HfToGgufInterleavesTheTwoHalvesOfEachHead) {
  // One head of 4 rows [r0 r1 r2 r3]: HF pairs (r0, r2), (r1, r3); GGUF stores them adjacent.
  const std::vector<uint8_t> rows = {0, 1, 2, 3, 10, 11, 12, 13};  // 2 heads, 1-byte rows
  EXPECT_EQ(permute_rope_rows(rows.data(), 8, 1, 2, true), (std::vector<uint8_t>{0, 2, 1, 3, 10, 12, 11, 13}));
}

TEST(RopePermutation, GgufToHfUndoesHfToGguf) {
  std::mt19937 rng(21);
  for (const auto& [heads, hd, row_bytes] : {std::tuple{8u, 8, 4u}, std::tuple{4u, 16, 6u}, std::tuple{1u, 6, 3u}}) {
    const int64_t rows = heads * hd;
    std::vector<uint8_t> w(rows * row_bytes);
    for (auto& b : w) b = static_cast<uint8_t>(rng());
    const auto permuted = permute_rope_rows(w.data(), rows, row_bytes, heads, true);
    EXPECT_NE(permuted, w);
    EXPECT_EQ(permute_rope_rows(permuted.data(), rows, row_bytes, heads, false), w);
  }
}

TEST(RopePermutation, RowsThatAreNotHeadsTimesEvenSizeAreRejected) {
  const std::vector<uint8_t> rows(6);
  EXPECT_THROW(permute_rope_rows(rows.data(), 6, 1, 4, true), Error);
  EXPECT_THROW(permute_rope_rows(rows.data(), 6, 1, 2, true), Error);  // head size 3 is odd
}

TEST(RopeScaling, Llama3FactorsKeepHighFrequenciesAndSlowLowOnes) {
  const ModelHparams hp = hparams_from_hf_config(llama3_config(), "config.json");
  const std::vector<float> f = llama3_rope_freq_factors(hp);
  ASSERT_EQ(f.size(), 32u);
  EXPECT_FLOAT_EQ(f.front(), 1.0f);
  EXPECT_FLOAT_EQ(f.back(), 32.0f);
  for (size_t i = 1; i < f.size(); ++i) EXPECT_GE(f[i], f[i - 1]);
}

// ---- tokenizer ------------------------------------------------------------------------------

GgufTokenizer read_back(const GgufTokenizer& tok, const TempDir& dir, bool keep_spm_model = true) {
  write_hf_tokenizer(tok, dir.path(), 2048);
  if (!keep_spm_model) std::filesystem::remove(dir.file("tokenizer.model"));
  return read_hf_tokenizer(dir.path());
}

TEST(HfTokenizer, SpmVocabRoundTripsThroughTokenizerFiles) {
  BITDIAL_REQUIRE_SHARED();
  const GgufFile f = GgufFile::open(test::shared_path("models/stories260K.gguf"));
  const GgufTokenizer tok = tokenizer_from_gguf(f);
  ASSERT_EQ(tok.model, "llama");
  ASSERT_EQ(tok.tokens.size(), 512u);
  TempDir dir;
  const GgufTokenizer back = read_back(tok, dir);
  EXPECT_EQ(back.tokens, tok.tokens);
  EXPECT_EQ(back.token_types, tok.token_types);
  EXPECT_EQ(back.bos_id, tok.bos_id);
  EXPECT_EQ(back.unk_id, tok.unk_id);
  EXPECT_EQ(back, tok);  // scores compared bit for bit (the vocab holds a -0.0)
}

TEST(HfTokenizer, SpmTokenizerJsonIsAByteFallbackBpeWithDerivedMerges) {
  BITDIAL_REQUIRE_SHARED();
  const GgufTokenizer tok = tokenizer_from_gguf(GgufFile::open(test::shared_path("models/stories260K.gguf")));
  const json j = json::parse(tokenizer_to_hf_files(tok).at("tokenizer.json"));
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["model"]["byte_fallback"], true);
  EXPECT_EQ(j["model"]["unk_token"], "<unk>");
  EXPECT_EQ(j["model"]["vocab"].size(), 512u);
  ASSERT_FALSE(j["model"]["merges"].empty());
  EXPECT_EQ(j["model"]["merges"][0], "\xe2\x96\x81 t");  // "▁t" is the best-scored merged piece
  EXPECT_EQ(j["added_tokens"].size(), 3u);               // <unk>, <s>, </s>
}

TEST(HfTokenizer, SpmVocabFromTokenizerJsonAloneRestoresTokensAndTypes) {
  BITDIAL_REQUIRE_SHARED();
  const GgufTokenizer tok = tokenizer_from_gguf(GgufFile::open(test::shared_path("models/stories260K.gguf")));
  TempDir dir;
  const GgufTokenizer back = read_back(tok, dir, false);
  EXPECT_EQ(back.tokens, tok.tokens);
  EXPECT_EQ(back.token_types, tok.token_types);
  EXPECT_EQ(back.scores, tok.scores);  // == on floats: -0.0 equals 0.0 here
}

TEST(HfTokenizer, ByteLevelBpeVocabRoundTripsThroughTokenizerJson) {
  BITDIAL_REQUIRE_SHARED();
  const GgufTokenizer tok = tokenizer_from_gguf(GgufFile::open(test::shared_path("tokenizer-vectors/ggml-vocab-gpt-2.gguf")));
  ASSERT_EQ(tok.model, "gpt2");
  ASSERT_EQ(tok.merges.size(), 50000u);
  TempDir dir;
  const auto files = tokenizer_to_hf_files(tok);
  EXPECT_EQ(files.count("tokenizer.model"), 0u);
  const GgufTokenizer back = read_back(tok, dir);
  EXPECT_EQ(back.tokens, tok.tokens);
  EXPECT_EQ(back.merges, tok.merges);
  EXPECT_EQ(back.token_types, tok.token_types);
  EXPECT_EQ(back.bos_id, 50256u);
  EXPECT_EQ(back, tok);
}

TEST(HfTokenizer, TruncatedSentencePieceModelNamesFileAndByte) {
  GgufTokenizer tok;
  tok.model = "llama";
  tok.tokens = {"<unk>", "a", "b", "ab"};
  tok.scores = {0, -1, -2, -3};
  tok.token_types = {2, 1, 1, 1};
  const std::string bytes = tokenizer_to_hf_files(tok).at("tokenizer.model");
  const std::string msg = test::error_of([&] { spm_model_from_bytes(bytes.substr(0, bytes.size() / 2), "tokenizer.model"); });
  EXPECT_NE(msg.find("tokenizer.model"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at byte"), std::string::npos) << msg;
}

}  // namespace
}  // namespace bitdial
