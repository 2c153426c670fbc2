// The importance matrix (quant/imatrix.h): collected sums of squares equal a direct computation from
// the activations a separate forward pass hands an observer, the GGUF file round-trips and its reader
// rejects foreign or malformed files by name, and coverage / model-mismatch checks name the weight.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "model/activation_observer.h"
#include "model/llama_model.h"
#include "model/session.h"
#include "model/synth.h"
#include "quant/calibration.h"
#include "quant/imatrix.h"
#include "test_support.h"

namespace bitdial {
namespace {

std::string write_tiny(const test::TempDir& dir, const std::string& name, bool tied = false, int64_t n_ff = 96) {
  const std::string path = dir.file(name);
  SynthOverrides shape = test::tiny_synth_shape(kSynthByteVocabMin);
  shape.n_ff = n_ff;
  SynthSpec spec = make_synth_spec("", shape);
  spec.tied_embeddings = tied;
  SynthOptions so;
  so.type = TensorType::F32;
  so.seed = 5;
  so.weight_std = 0.2f;
  write_synth_model(path, spec, synth_byte_vocab(kSynthByteVocabMin), so);
  return path;
}

// 3 chunks of 16 tokens from a fixed pseudo-random sequence.
CalibrationSet tiny_calibration(const LlamaModel& model) {
  std::vector<int32_t> toks;
  for (int32_t i = 0; i < 50; ++i) toks.push_back(4 + (i * 37) % static_cast<int32_t>(model.hparams().n_vocab - 4));
  return calibration_from_tokens(toks, 1, 16, "calib", 0);
}

Imatrix collect(const LlamaModel& model, const CalibrationSet& calib) {
  ImatrixCollector collector(model);
  run_calibration(model, calib, collector, CalibrationRunOptions{.n_seq = 2, .progress = nullptr});
  Imatrix im = collector.result();
  im.calib_source = calib.source;
  im.n_ctx = calib.n_ctx;
  im.n_chunks = static_cast<int64_t>(calib.chunks.size());
  return im;
}

// Per-column sums of squares, in double, of every input one site receives.
struct SumRecorder : ActivationObserver {
  MatmulSite site;
  int64_t layer;
  std::vector<double> sums;
  int64_t tokens = 0;
  SumRecorder(MatmulSite s, int64_t l) : site(s), layer(l) {}
  void on_matmul_input(MatmulSite s, int64_t l, const float* x, int64_t n_tokens, int64_t cols) override {
    if (s != site || (s != MatmulSite::output_in && l != layer)) return;
    sums.resize(static_cast<size_t>(cols), 0.0);
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t c = 0; c < cols; ++c) sums[static_cast<size_t>(c)] += double(x[t * cols + c]) * double(x[t * cols + c]);
    tokens += n_tokens;
  }
};

// The same site's sums from a plain forward pass over each chunk on its own.
SumRecorder direct_sums(const LlamaModel& model, const CalibrationSet& calib, MatmulSite site, int64_t layer) {
  SumRecorder rec(site, layer);
  Session s(model, SessionOptions{.n_ctx = calib.n_ctx});
  s.set_observer(&rec);
  for (const auto& chunk : calib.chunks) {
    s.reset();
    s.eval(chunk, /*all_logits=*/true);
  }
  return rec;
}

void expect_sums_near(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  // Batched and single-sequence passes may round activations differently in the last float bit;
  // a sum of squares then moves by at most a few float epsilons relative to itself.
  int bad = 0;
  for (size_t c = 0; c < want.size(); ++c) {
    const double tol = 16 * 1.2e-7 * std::abs(want[c]) + 1e-12;
    if (std::abs(got[c] - want[c]) > tol) {
      ADD_FAILURE() << what << " column " << c << ": " << got[c] << " vs " << want[c];
      if (++bad > 5) return;
    }
  }
}

TEST(ImatrixEntry, MeanSqDividesByTokensAndIsZeroWithoutTokens) {
  ImatrixEntry e;
  e.sum_sq = {2.0, 8.0, 0.0};
  e.n_tokens = 4;
  EXPECT_EQ(e.mean_sq(), (std::vector<float>{0.5f, 2.0f, 0.0f}));
  e.n_tokens = 0;
  EXPECT_EQ(e.mean_sq(), (std::vector<float>{0.0f, 0.0f, 0.0f}));
}

TEST(ImatrixCollector, SumsEqualDirectComputationAndCountTokens) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_tiny(dir, "m.gguf"));
  const CalibrationSet calib = tiny_calibration(model);
  const Imatrix im = collect(model, calib);
  ASSERT_EQ(calib.n_tokens(), 48);

  const std::vector<std::string> names = imatrix_weight_names(model);
  ASSERT_EQ(names.size(), 2u * 7u + 1u);
  EXPECT_EQ(names.back(), "output.weight");
  EXPECT_EQ(im.entries.size(), names.size());
  for (const std::string& n : names) {
    const ImatrixEntry* e = im.find(n);
    ASSERT_NE(e, nullptr) << n;
    EXPECT_EQ(e->n_tokens, 48) << n;
    EXPECT_EQ(static_cast<int64_t>(e->sum_sq.size()), model.weight(n)->cols) << n;
  }

  const SumRecorder down = direct_sums(model, calib, MatmulSite::ffn_mid, 1);
  EXPECT_EQ(down.tokens, 48);
  expect_sums_near(im.find("blk.1.ffn_down.weight")->sum_sq, down.sums, "blk.1.ffn_down.weight");
  const SumRecorder out = direct_sums(model, calib, MatmulSite::output_in, 0);
  expect_sums_near(im.find("output.weight")->sum_sq, out.sums, "output.weight");
  // q, k and v read one input: identical statistics.
  EXPECT_EQ(im.find("blk.0.attn_q.weight")->sum_sq, im.find("blk.0.attn_v.weight")->sum_sq);
  EXPECT_EQ(im.model.n_ff, 96);
  EXPECT_EQ(im.model_source, model.file().path());
}

TEST(ImatrixCollector, TiedModelOutputStatisticsGoToTokenEmbd) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_tiny(dir, "tied.gguf", /*tied=*/true));
  const Imatrix im = collect(model, tiny_calibration(model));
  EXPECT_EQ(im.find("output.weight"), nullptr);
  ASSERT_NE(im.find("token_embd.weight"), nullptr);
  EXPECT_EQ(im.find("token_embd.weight")->n_tokens, 48);
  EXPECT_TRUE(imatrix_model_mismatches(im, model).empty());
}

TEST(Imatrix, SaveLoadRoundTripKeepsFloatSumsCountsAndMetadata) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_tiny(dir, "m.gguf"));
  const Imatrix im = collect(model, tiny_calibration(model));
  const std::string path = dir.file("im.gguf");
  im.save(path);
  const Imatrix back = Imatrix::load(path);
  EXPECT_EQ(back.calib_source, "calib");
  EXPECT_EQ(back.model_source, im.model_source);
  EXPECT_EQ(back.n_ctx, 16);
  EXPECT_EQ(back.n_chunks, 3);
  EXPECT_EQ(back.model.arch, im.model.arch);
  EXPECT_EQ(back.model.n_embd, 64);
  EXPECT_EQ(back.model.n_layer, 2);
  EXPECT_EQ(back.model.n_vocab, kSynthByteVocabMin);
  ASSERT_EQ(back.entries.size(), im.entries.size());
  for (const auto& [name, e] : im.entries) {
    const ImatrixEntry* b = back.find(name);
    ASSERT_NE(b, nullptr) << name;
    EXPECT_EQ(b->n_tokens, e.n_tokens) << name;
    ASSERT_EQ(b->sum_sq.size(), e.sum_sq.size()) << name;
    // The file stores F32: the loaded sums are exactly the float-rounded accumulators.
    for (size_t c = 0; c < e.sum_sq.size(); ++c)
      ASSERT_EQ(b->sum_sq[c], static_cast<double>(static_cast<float>(e.sum_sq[c]))) << name << " column " << c;
  }
  // And the saved layout is llama.cpp's: <weight>.in_sum2 (cols, 1) and <weight>.counts (1, 1), f32.
  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.get_string("general.type"), "imatrix");
  EXPECT_EQ(f.get_uint("imatrix.chunk_count"), 3u);
  EXPECT_EQ(f.get_uint("imatrix.chunk_size"), 16u);
  const GgufTensorInfo* t = f.find_tensor("blk.1.ffn_down.weight.in_sum2");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ne, (std::vector<int64_t>{96, 1}));
  ASSERT_NE(f.find_tensor("blk.1.ffn_down.weight.counts"), nullptr);
  EXPECT_EQ(f.find_tensor("blk.1.ffn_down.weight.counts")->ne, (std::vector<int64_t>{1, 1}));
}

TEST(Imatrix, LoadRejectsAModelFile) {
  test::TempDir dir;
  const std::string model = write_tiny(dir, "m.gguf");
  const std::string msg = test::error_of([&] { Imatrix::load(model); });
  EXPECT_NE(msg.find(model), std::string::npos) << msg;
  EXPECT_NE(msg.find("not an imatrix file"), std::string::npos) << msg;
}

std::vector<uint8_t> f32s(std::vector<float> v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// One broken fixture per reader check: the message must name the file, the tensor and the fault.
TEST(Imatrix, LoadRejectsMalformedEntriesNamingTheTensor) {
  test::TempDir dir;
  struct Case {
    const char* what;
    std::function<void(GgufWriter&)> build;
    std::vector<std::string> expect;  // substrings of the message
  };
  const std::string w = "blk.0.attn_q.weight";
  const std::vector<Case> cases = {
      {"sums without counts", [&](GgufWriter& g) { g.add_tensor(w + ".in_sum2", TensorType::F32, {2, 1}, f32s({1, 2})); },
       {w + ".in_sum2", w + ".counts"}},
      {"counts without sums", [&](GgufWriter& g) { g.add_tensor(w + ".counts", TensorType::F32, {1, 1}, f32s({3})); },
       {w + ".counts", "no matching"}},
      {"negative sum",
       [&](GgufWriter& g) {
         g.add_tensor(w + ".in_sum2", TensorType::F32, {2, 1}, f32s({1, -2}));
         g.add_tensor(w + ".counts", TensorType::F32, {1, 1}, f32s({3}));
       },
       {w + ".in_sum2", "column 1"}},
      {"fractional count",
       [&](GgufWriter& g) {
         g.add_tensor(w + ".in_sum2", TensorType::F32, {2, 1}, f32s({1, 2}));
         g.add_tensor(w + ".counts", TensorType::F32, {1, 1}, f32s({2.5f}));
       },
       {w + ".counts", "whole number"}},
      {"two counts",
       [&](GgufWriter& g) {
         g.add_tensor(w + ".in_sum2", TensorType::F32, {2, 1}, f32s({1, 2}));
         g.add_tensor(w + ".counts", TensorType::F32, {2, 1}, f32s({3, 3}));
       },
       {w + ".counts", "one f32 token count"}},
      {"expert stack",
       [&](GgufWriter& g) {
         g.add_tensor(w + ".in_sum2", TensorType::F32, {2, 2}, f32s({1, 2, 3, 4}));
         g.add_tensor(w + ".counts", TensorType::F32, {1, 2}, f32s({3, 3}));
       },
       {w + ".in_sum2", "expert stack"}},
      {"stray tensor", [&](GgufWriter& g) { g.add_tensor("token_embd.weight", TensorType::F32, {2, 1}, f32s({1, 2})); },
       {"token_embd.weight", "not part of an imatrix entry"}},
      {"no entries", [](GgufWriter&) {}, {"no entries"}},
  };
  for (const Case& c : cases) {
    GgufWriter g;
    g.set("general.type", GgufValue::string("imatrix"));
    c.build(g);
    const std::string path = dir.file(std::string("bad-") + std::to_string(&c - cases.data()) + ".gguf");
    g.write(path);
    const std::string msg = test::error_of([&] { Imatrix::load(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << c.what << ": " << msg;
    for (const std::string& s : c.expect) EXPECT_NE(msg.find(s), std::string::npos) << c.what << ": " << msg;
  }
}

TEST(ImatrixCoverage, NamesMissingAndUnderfedWeights) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_tiny(dir, "m.gguf"));
  Imatrix im = collect(model, tiny_calibration(model));
  EXPECT_TRUE(imatrix_coverage_problems(im, model, 48).empty());
  im.entries.erase("blk.1.ffn_down.weight");
  im.entries["blk.0.ffn_up.weight"].n_tokens = 0;
  EXPECT_EQ(imatrix_coverage_problems(im, model, 1),
            (std::vector<std::string>{"blk.0.ffn_up.weight: no activations", "blk.1.ffn_down.weight: no activations"}));
  const std::vector<std::string> few = imatrix_coverage_problems(im, model, 49);
  EXPECT_EQ(few.size(), 15u);
  EXPECT_EQ(few.front(), "blk.0.attn_q.weight: only 48 tokens (fewer than 49)");
}

TEST(ImatrixCheck, MatchingModelPassesAndMismatchesNameFileAndTensor) {
  test::TempDir dir;
  const LlamaModel model = LlamaModel::load(write_tiny(dir, "m.gguf"));
  const Imatrix im = collect(model, tiny_calibration(model));
  EXPECT_TRUE(imatrix_model_mismatches(im, model).empty());
  check_imatrix_for_model(im, model, "im.gguf");

  // Wrong model: another feed-forward width changes the identity and the ffn_down columns.
  const LlamaModel other = LlamaModel::load(write_tiny(dir, "other.gguf", false, 128));
  const std::string msg = test::error_of([&] { check_imatrix_for_model(im, other, "im.gguf"); });
  EXPECT_NE(msg.find("im.gguf: does not match model " + other.file().path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("n_ff 96"), std::string::npos) << msg;
  const std::vector<std::string> all = imatrix_model_mismatches(im, other);
  EXPECT_NE(std::find(all.begin(), all.end(), "entry 'blk.0.ffn_down.weight': 96 columns, the model's matrix has 128"),
            all.end());

  Imatrix extra = im;
  extra.entries["blk.7.attn_q.weight"] = ImatrixEntry{{1.0}, 1};
  extra.entries.erase("blk.1.attn_k.weight");
  EXPECT_EQ(imatrix_model_mismatches(extra, model),
            (std::vector<std::string>{"entry 'blk.7.attn_q.weight': the model has no matrix product by that name",
                                      "no entry for 'blk.1.attn_k.weight'"}));
}

}  // namespace
}  // namespace bitdial
