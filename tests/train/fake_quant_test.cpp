// Fake quantization for QAT (train/fake_quant.h): plans follow the quantize recipe and the exporter's
// fallbacks, effective weights lie on the type's grid, gradients pass straight through bit for bit, the
// exported GGUF decodes to exactly the weights that were trained, and a QAT fine-tune at q2_K beats
// round-to-nearest quantization of the same model.
#include "train/fake_quant.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "blocks/traits.h"
#include "formats/gguf.h"
#include "model/llama_model.h"
#include "quant/quantize_model.h"
#include "test_support.h"
#include "train/init_params.h"
#include "train/model_export.h"
#include "train/optimizer.h"

namespace bitdial {
namespace {

// Rows of 256 (one k-quant super-block) except ffn_down, whose rows of n_ff = 288 are 9 blocks of 32
// but no whole 256-block: k types fall back there. 4 query heads share 1 K/V head (grouped-query ratio
// 4, which the Q2_K preset's attn_v rule looks at).
SynthSpec kquant_spec(bool tied = false, int64_t n_ff = 288, int64_t n_layer = 2) {
  SynthSpec s;
  s.name = "tiny-qat";
  s.n_embd = 256;
  s.n_layer = n_layer;
  s.n_head = 4;
  s.n_head_kv = 1;
  s.n_ff = n_ff;
  s.n_vocab = kSynthByteVocabMin;
  s.n_ctx = 64;
  s.tied_embeddings = tied;
  return s;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

size_t count_differing(const std::vector<float>& a, const std::vector<float>& b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}

std::vector<float> fake_quantized(const FakeQuantPlan& plan, const Param& p) {
  std::vector<float> v = p.value;
  fake_quantize(*plan.find(p.name), v);
  return v;
}

// The matrices of an exported file as the engine decodes them, as a ParamSet.
ParamSet load_exported(const std::string& path) { return params_from_model(LlamaModel::load(path)); }

// Every matrix of `exported` equals the fake-quantized master, bit for bit; norms are the masters'.
void expect_export_equals_fake_quant(const ParamSet& master, const FakeQuantPlan& plan, const ParamSet& exported) {
  ASSERT_EQ(master.params.size(), exported.params.size());
  for (size_t i = 0; i < master.params.size(); ++i) {
    const Param& p = master.params[i];
    ASSERT_EQ(p.name, exported.params[i].name);
    const std::vector<float> want = p.shape.size() == 2 ? fake_quantized(plan, p) : p.value;
    EXPECT_TRUE(same_bits(want, exported.params[i].value))
        << p.name << " (" << (p.shape.size() == 2 ? type_name(plan.find(p.name)->type) : "f32") << "): "
        << count_differing(want, exported.params[i].value) << " of " << want.size() << " values differ";
  }
}

TEST(FakeQuantPlan, OneTypeCoversEveryMatrixAndFallsBackLikeTheExporter) {
  const ParamSet ps = init_params(kquant_spec(), 1, 0.05f);
  const FakeQuantPlan plan = fake_quant_plan(ps, TensorType::Q2_K);
  EXPECT_EQ(plan.name, "q2_K");
  EXPECT_EQ(plan.file_type, 10u);
  size_t matrices = 0;
  for (const Param& p : ps.params) {
    if (p.shape.size() != 2) {
      EXPECT_EQ(plan.find(p.name), nullptr) << p.name;
      continue;
    }
    ++matrices;
    const FakeQuantTensor* t = plan.find(p.name);
    ASSERT_NE(t, nullptr) << p.name;
    EXPECT_EQ(t->row_len, p.shape[0]);
    EXPECT_EQ(t->rows, p.shape[1]);
    EXPECT_EQ(t->type, p.name.ends_with("ffn_down.weight") ? TensorType::IQ4_NL : TensorType::Q2_K) << p.name;
  }
  EXPECT_EQ(plan.tensors.size(), matrices);

  // The exporter reports the same fallbacks.
  test::TempDir dir;
  ModelExportOptions opt;
  opt.type = TensorType::Q2_K;
  const ModelExportResult r = export_llama_gguf(dir.file("m.gguf"), ps, synth_byte_vocab(kSynthByteVocabMin), opt);
  std::vector<std::string> want;
  for (const std::string& f : r.fallbacks) want.push_back(f.substr(0, f.find(':')) + ": q2_K -> " + f.substr(f.find(": ") + 2));
  EXPECT_EQ(plan.fallbacks(), want);
  EXPECT_EQ(plan.fallbacks().size(), 2u);  // one ffn_down per layer
}

TEST(FakeQuantPlan, PresetGivesTheTypesTheQuantizeRecipeWrites) {
  for (const bool tied : {false, true}) {
    for (const char* preset : {"Q2_K", "Q3_K_M", "q4_k_m", "Q4_0"}) {
      const ParamSet ps = init_params(kquant_spec(tied), 2, 0.05f);
      const FakeQuantPlan plan = fake_quant_plan(ps, preset);
      // What `bitdial quantize --type PRESET` plans for the F32 export of the same parameters.
      test::TempDir dir;
      ModelExportOptions opt;
      opt.type = TensorType::F32;
      export_llama_gguf(dir.file("f32.gguf"), ps, synth_byte_vocab(kSynthByteVocabMin), opt);
      QuantRecipe recipe;
      recipe.preset = preset;
      const QuantPlan qp = plan_model_quantization(GgufFile::open(dir.file("f32.gguf")), recipe);
      EXPECT_EQ(plan.file_type, qp.file_type) << preset;
      size_t compared = 0;
      for (const TensorPlan& t : qp.tensors) {
        if (t.ne.size() != 2) continue;
        const FakeQuantTensor* f = plan.find(t.name);
        ASSERT_NE(f, nullptr) << preset << " " << t.name;
        EXPECT_EQ(f->type, t.target) << preset << " " << t.name;
        EXPECT_EQ(f->requested, t.requested) << preset << " " << t.name;
        ++compared;
      }
      EXPECT_EQ(compared, plan.tensors.size());
    }
  }
  // Spot checks of the rules themselves, so a recipe and a plan that agree on nonsense still fail.
  const ParamSet ps = init_params(kquant_spec(), 2, 0.05f);
  const FakeQuantPlan q2 = fake_quant_plan(ps, "Q2_K");
  EXPECT_EQ(q2.find("output.weight")->type, TensorType::Q6_K);
  EXPECT_EQ(q2.find("blk.1.attn_v.weight")->type, TensorType::Q4_K);  // grouped-query ratio 4
  EXPECT_EQ(q2.find("blk.0.attn_q.weight")->type, TensorType::Q2_K);
  EXPECT_EQ(q2.find("blk.0.ffn_down.weight")->requested, TensorType::Q3_K);
  EXPECT_EQ(q2.find("blk.0.ffn_down.weight")->type, TensorType::IQ4_NL);  // 288 columns
  const ParamSet tied = init_params(kquant_spec(true), 2, 0.05f);
  EXPECT_EQ(fake_quant_plan(tied, "Q3_K_M").find("token_embd.weight")->type, TensorType::Q6_K);  // it is the output
}

TEST(FakeQuantPlan, UnknownNamesAndUnencodableTypesAreErrors) {
  const ParamSet ps = init_params(kquant_spec(), 1, 0.05f);
  std::string msg = test::error_of([&] { fake_quant_plan(ps, "Q2_X"); });
  EXPECT_NE(msg.find("'Q2_X'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Q3_K_M"), std::string::npos) << msg;  // lists the presets
  // A type with a decoder but no encoder in bitdial cannot be trained against.
  for (TensorType t : {TensorType::F32, TensorType::Q8_0, TensorType::IQ2_XXS, TensorType::Q8_K}) {
    const TypeTraits& tr = type_traits(t);
    if (tr.quantize_row != nullptr && tr.dequantize_row != nullptr) continue;
    msg = test::error_of([&] { fake_quant_plan(ps, t); });
    EXPECT_NE(msg.find(type_name(t)), std::string::npos) << msg;
  }
  // A name that is a type but no preset plans that type everywhere.
  EXPECT_EQ(fake_quant_plan(ps, "q4_K").find("output.weight")->type, TensorType::Q4_K);
}

TEST(FakeQuant, ResultDoesNotDependOnTheThreadCount) {
  const ParamSet ps = init_params(kquant_spec(), 3, 0.05f);
  const FakeQuantPlan plan = fake_quant_plan(ps, TensorType::Q3_K);
  const Param& p = *ps.find("token_embd.weight");
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> one = fake_quantized(plan, p);
  omp_set_num_threads(3);
  const std::vector<float> three = fake_quantized(plan, p);
  omp_set_num_threads(saved);
  EXPECT_TRUE(same_bits(one, three));
  EXPECT_GT(count_differing(one, p.value), p.value.size() / 2);  // it did quantize
}

TEST(FakeQuant, ValuesThatAreNotWholeRowsAreRejected) {
  FakeQuantTensor t{"w", 256, 2, TensorType::Q4_K, TensorType::Q4_K, "", {}};
  std::vector<float> v(300, 0.5f);
  const std::string msg = test::error_of([&] { fake_quantize(t, v); });
  EXPECT_NE(msg.find("w: 300 values"), std::string::npos) << msg;
}

// Effective weights are decoded blocks of the type, so they lie on its grid by construction. Whether
// quantizing them a second time returns them unchanged (dequantize(quantize(e)) == e) depends on the
// type's scale search. Measured (docs/qat.md): q4_0, q8_0, q3_K and iq4_nl give the same values back (q4_0
// and q3_K may flip the sign of a zero); q2_K, q4_K and q6_K re-search their scales and mins and move
// some values, by far less than the first quantization's error.
struct GridCase {
  TensorType type;
  bool idempotent;  // dequantize(quantize(effective)) == effective, value for value (-0 == +0)
};

class FakeQuantGrid : public testing::TestWithParam<GridCase> {};

TEST_P(FakeQuantGrid, EffectiveWeightsAreOnTheGridOfTheType) {
  const GridCase c = GetParam();
  const int64_t row_len = 256, rows = 64;
  FakeQuantTensor t{"w", row_len, rows, c.type, c.type, "", {}};
  // Gaussian weights, and the same with every 97th weight an outlier 8x larger (what trained matrices have).
  std::vector<float> heavy = test::normal_floats(row_len * rows, 0.05f, 12);
  for (size_t i = 0; i < heavy.size(); i += 97) heavy[i] *= 8.0f;
  for (const std::vector<float>& w : {test::normal_floats(row_len * rows, 0.05f, 11), heavy}) {
    std::vector<float> e = w;
    fake_quantize(t, e);
    EXPECT_GT(count_differing(e, w), w.size() / 2);

    // Re-encoding the effective weights.
    std::vector<float> e2 = e;
    fake_quantize(t, e2);
    size_t moved = 0;  // by value: a zero may come back with the other sign (bitwise different, same weight)
    double err1 = 0, err2 = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      moved += e[i] != e2[i];
      err1 += (double(w[i]) - e[i]) * (double(w[i]) - e[i]);
      err2 += (double(e[i]) - e2[i]) * (double(e[i]) - e2[i]);
    }
    std::printf("%s: re-quantizing moves %zu of %zu effective values; squared error %.3g of the first pass's\n",
                type_name(c.type), moved, e.size(), err2 / err1);
    if (c.idempotent) {
      EXPECT_EQ(moved, 0u) << type_name(c.type) << ": " << moved << " of " << e.size() << " values moved";
    } else {
      // Not a fixed point, but close to one: the second pass's error is far below the first's.
      EXPECT_LT(err2, 0.05 * err1) << type_name(c.type);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, FakeQuantGrid,
                         testing::Values(GridCase{TensorType::Q4_0, true}, GridCase{TensorType::Q8_0, true},
                                         GridCase{TensorType::Q2_K, false}, GridCase{TensorType::Q3_K, true},
                                         GridCase{TensorType::Q4_K, false}, GridCase{TensorType::Q6_K, false},
                                         GridCase{TensorType::IQ4_NL, true}),
                         [](const testing::TestParamInfo<GridCase>& i) { return std::string(type_name(i.param.type)); });

TEST(FakeQuant, GradientPassesStraightThroughBitForBit) {
  const SynthSpec spec = kquant_spec(false, 256, 1);
  ParamSet master = init_params(spec, 5, 0.05f);
  const ParamSet before = master;
  const FakeQuantPlan plan = fake_quant_plan(master, "Q3_K_M");
  TrainBatch batch;
  batch.n_seq = 2;
  batch.seq_len = 8;
  for (int i = 0; i < 16; ++i) batch.tokens.push_back(3 + (i * 37) % 300);
  for (int i = 0; i < 16; ++i) batch.targets.push_back(i % 8 == 7 ? kIgnoreTarget : batch.tokens[i + 1]);

  TrainWorkspace ws;
  const double loss_qat = forward_backward(master, batch, {}, ws, make_fake_quant(plan));
  ParamSet copy = before;
  for (Param& p : copy.params)
    if (p.shape.size() == 2) p.value = fake_quantized(plan, p);
  const double loss_copy = forward_backward(copy, batch, {}, ws);
  EXPECT_EQ(loss_qat, loss_copy);
  for (size_t i = 0; i < master.params.size(); ++i) {
    EXPECT_TRUE(same_bits(master.params[i].value, before.params[i].value)) << master.params[i].name;
    EXPECT_TRUE(same_bits(master.params[i].grad, copy.params[i].grad)) << master.params[i].name;
  }
  ParamSet plain = before;
  EXPECT_NE(forward_backward(plain, batch, {}, ws), loss_qat);

  // A plan made for another shape (ffn_down rows of 512) is refused, naming the matrix.
  const WeightTransform wrong = make_fake_quant(fake_quant_plan(init_params(kquant_spec(false, 512, 1), 1, 0.05f), TensorType::Q4_K));
  ParamSet mine = before;
  const std::string msg = test::error_of([&] { forward_backward(mine, batch, {}, ws, wrong); });
  EXPECT_NE(msg.find("ffn_down.weight has rows of 256"), std::string::npos) << msg;
}

// The exporter writes what was trained: each type's one-type export (export_llama_gguf) and preset
// exports (export_fake_quant_gguf, also with importance weights) decode to the fake-quantized masters.
TEST(FakeQuantExport, OneTypeExportDecodesToTheFakeQuantizedWeights) {
  for (TensorType type : {TensorType::Q4_0, TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K}) {
    const ParamSet ps = init_params(kquant_spec(), 4, 0.05f);
    const FakeQuantPlan plan = fake_quant_plan(ps, type);
    test::TempDir dir;
    ModelExportOptions opt;
    opt.type = type;
    export_llama_gguf(dir.file("m.gguf"), ps, synth_byte_vocab(kSynthByteVocabMin), opt);
    SCOPED_TRACE(type_name(type));
    expect_export_equals_fake_quant(ps, plan, load_exported(dir.file("m.gguf")));

    // The plan's own export writes the same tensor bytes as export_llama_gguf.
    export_fake_quant_gguf(dir.file("p.gguf"), ps, synth_byte_vocab(kSynthByteVocabMin), plan);
    const GgufFile a = GgufFile::open(dir.file("m.gguf")), b = GgufFile::open(dir.file("p.gguf"));
    ASSERT_EQ(a.tensors().size(), b.tensors().size());
    for (size_t i = 0; i < a.tensors().size(); ++i) {
      const GgufTensorInfo &ta = a.tensors()[i], &tb = b.tensors()[i];
      EXPECT_EQ(ta.type, tb.type) << ta.name;
      ASSERT_EQ(ta.nbytes, tb.nbytes) << ta.name;
      EXPECT_EQ(0, std::memcmp(a.tensor_data(ta), b.tensor_data(tb), ta.nbytes)) << ta.name;
    }
    EXPECT_EQ(b.get_uint("general.file_type"), plan.file_type);
  }
}

TEST(FakeQuantExport, PresetExportWithImportanceDecodesToTheFakeQuantizedWeights) {
  for (const bool tied : {false, true}) {
    for (const char* preset : {"Q3_K_M", "Q2_K"}) {
      for (const bool weighted : {false, true}) {
        const ParamSet ps = init_params(kquant_spec(tied), 6, 0.05f);
        FakeQuantPlan plan = fake_quant_plan(ps, preset);
        if (weighted) {
          // Column weights of a few orders of magnitude, as activations give.
          Imatrix im;
          uint32_t seed = 100;
          for (const FakeQuantTensor& t : plan.tensors) {
            if (t.name == "token_embd.weight" && !tied) continue;  // a lookup: no imatrix entry
            ImatrixEntry& e = im.entries[t.name];
            for (float v : test::normal_floats(t.row_len, 1.0f, seed++)) e.sum_sq.push_back(std::exp(2.0 * v) * 10.0);
            e.n_tokens = 10;
          }
          const std::vector<std::string> unweighted = set_fake_quant_importance(plan, im, 1, "im.gguf");
          EXPECT_EQ(unweighted.size(), tied ? 0u : 1u);
        }
        SCOPED_TRACE(std::string(preset) + (tied ? " tied" : "") + (weighted ? " weighted" : ""));
        test::TempDir dir;
        const FakeQuantExportResult r = export_fake_quant_gguf(dir.file("m.gguf"), ps, synth_byte_vocab(kSynthByteVocabMin), plan);
        EXPECT_FALSE(std::filesystem::exists(dir.file("m.gguf.qat-f32.tmp")));
        EXPECT_EQ(r.plan.file_type, find_quant_preset(preset).file_type);
        const GgufFile f = GgufFile::open(dir.file("m.gguf"));
        for (const FakeQuantTensor& t : plan.tensors) EXPECT_EQ(f.find_tensor(t.name)->type, t.type) << t.name;
        expect_export_equals_fake_quant(ps, plan, load_exported(dir.file("m.gguf")));
      }
    }
  }
}

TEST(FakeQuantExport, ImportanceChangesTheEncodingAndBadImatrixEntriesAreErrors) {
  const ParamSet ps = init_params(kquant_spec(), 6, 0.05f);
  FakeQuantPlan plan = fake_quant_plan(ps, TensorType::Q3_K);
  Imatrix im;
  ImatrixEntry& e = im.entries["blk.0.attn_q.weight"];
  for (float v : test::normal_floats(256, 1.0f, 5)) e.sum_sq.push_back(std::exp(3.0 * v));
  e.n_tokens = 4;
  EXPECT_EQ(set_fake_quant_importance(plan, im, 5, "im.gguf").size(), plan.tensors.size());  // too few tokens
  EXPECT_TRUE(plan.find("blk.0.attn_q.weight")->importance.empty());
  set_fake_quant_importance(plan, im, 1, "im.gguf");
  const Param& q = *ps.find("blk.0.attn_q.weight");
  const FakeQuantPlan plain = fake_quant_plan(ps, TensorType::Q3_K);
  EXPECT_GT(count_differing(fake_quantized(plan, q), fake_quantized(plain, q)), 0u);

  im.entries["blk.0.attn_q.weight"].sum_sq.resize(128);
  std::string msg = test::error_of([&] { set_fake_quant_importance(plan, im, 1, "im.gguf"); });
  EXPECT_NE(msg.find("im.gguf: entry 'blk.0.attn_q.weight' has 128 columns"), std::string::npos) << msg;
  im.entries.clear();
  im.entries["blk.9.attn_q.weight"].sum_sq.assign(256, 1.0);
  msg = test::error_of([&] { set_fake_quant_importance(plan, im, 1, "im.gguf"); });
  EXPECT_NE(msg.find("blk.9.attn_q.weight"), std::string::npos) << msg;
}

// A seeded pseudo-random text of 600 letters from a 12-letter alphabet, as the built-in vocabulary's
// byte tokens (id 3 + byte): nothing to learn but the text itself, so a model fitted to it uses its
// weights densely and q2_K's rounding costs loss. n_seq windows of seq_len spread evenly over it;
// every position predicts the next letter.
TrainBatch text_batch(int64_t n_seq, int64_t seq_len) {
  std::mt19937 rng(5);
  std::string text;
  for (int i = 0; i < 600; ++i) text.push_back(static_cast<char>('a' + rng() % 12));
  const int64_t span = static_cast<int64_t>(text.size()) - seq_len - 1;
  TrainBatch b;
  b.n_seq = n_seq;
  b.seq_len = seq_len;
  for (int64_t s = 0; s < n_seq; ++s) {
    const int64_t start = s * span / (n_seq - 1);
    for (int64_t i = 0; i < seq_len; ++i) {
      b.tokens.push_back(3 + static_cast<unsigned char>(text[static_cast<size_t>(start + i)]));
      b.targets.push_back(3 + static_cast<unsigned char>(text[static_cast<size_t>(start + i + 1)]));
    }
  }
  return b;
}

// `steps` AdamW updates on one batch (full-batch training), the pass on transformed weights when
// `transform` is given. Returns the loss of the last pass.
double fit(ParamSet& ps, const TrainBatch& batch, int steps, double lr, const WeightTransform& transform = {}) {
  AdamWState state = make_adamw_state(ps);
  const AdamWConfig config;
  TrainWorkspace ws;
  double loss = 0;
  for (int i = 0; i < steps; ++i) {
    ps.zero_grads();
    loss = forward_backward(ps, batch, {}, ws, transform);
    clip_grad_norm(ps, 1.0);
    adamw_step(ps, state, config, lr);
  }
  return loss;
}

// Cross-entropy of the model in `path` (decoded by the engine's loader) on the batch.
double exported_loss(const std::string& path, const TrainBatch& batch) {
  const ParamSet ps = load_exported(path);
  TrainWorkspace ws;
  return forward_loss(ps, batch, {}, ws).loss;
}

// Quantization-aware fine-tuning at q2_K (every matrix, token_embd and output included) recovers most
// of what round-to-nearest q2_K loses on a model fitted to a short text; the same number of plain
// fine-tuning steps does not.
TEST(FakeQuantTraining, QatAtQ2KBeatsRoundToNearestOfTheSameModel) {
  // One layer; ffn_down (rows of 64) falls back to iq4_nl, every other matrix is q2_K.
  const SynthSpec spec = kquant_spec(false, 64, 1);
  const TrainBatch batch = text_batch(6, 48);
  ParamSet base = init_params(spec, 21, 0.02f);
  fit(base, batch, 60, 5e-3);
  TrainWorkspace ws;
  const double float_loss = forward_loss(base, batch, {}, ws).loss;

  const FakeQuantPlan plan = fake_quant_plan(base, TensorType::Q2_K);
  test::TempDir dir;
  const SynthVocab vocab = synth_byte_vocab(kSynthByteVocabMin);
  const auto export_q2k = [&](const ParamSet& ps, const std::string& name) {
    ModelExportOptions opt;
    opt.type = TensorType::Q2_K;
    export_llama_gguf(dir.file(name), ps, vocab, opt);
    return exported_loss(dir.file(name), batch);
  };
  const double rtn_loss = export_q2k(base, "rtn.gguf");

  ParamSet qat = base;
  const double qat_train_loss = fit(qat, batch, 20, 1e-3, make_fake_quant(plan));
  const double qat_loss = export_q2k(qat, "qat.gguf");
  ParamSet plain = base;
  fit(plain, batch, 20, 1e-3);
  const double plain_loss = export_q2k(plain, "plain.gguf");

  std::printf("float %.4f  q2_K: rtn %.4f  plain fine-tune %.4f  qat %.4f (qat training pass %.4f)\n", float_loss,
              rtn_loss, plain_loss, qat_loss, qat_train_loss);
  EXPECT_LT(float_loss, 0.5) << "the base model did not fit the text; the comparison would prove nothing";
  EXPECT_GT(rtn_loss, float_loss + 0.1) << "q2_K must hurt the base model for QAT to have something to recover";
  EXPECT_LT(qat_loss, rtn_loss - 0.5 * (rtn_loss - float_loss));
  EXPECT_LT(qat_loss, plain_loss);
}

}  // namespace
}  // namespace bitdial
