// The LLaMA forward pass against llama.cpp's logits for stories260K (every position, every vocab
// entry), and its internal consistency: F16 vs F32 KV cache, one batch vs one token at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "core/error.h"
#include "model/session.h"
#include "test_support.h"

namespace bitdial {
namespace {

struct ReferenceLogits {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits;  // (n_tokens, n_vocab)
};

ReferenceLogits read_reference(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  ReferenceLogits ref;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    int64_t pos = 0;
    int32_t tok = 0;
    ls >> pos >> tok;
    EXPECT_EQ(pos, static_cast<int64_t>(ref.tokens.size()));
    ref.tokens.push_back(tok);
    std::vector<float> row;
    float f = 0;
    while (ls >> f) row.push_back(f);
    ref.logits.push_back(std::move(row));
  }
  return ref;
}

struct Deviation {
  double max_abs = 0;
  int64_t pos = -1, id = -1;
};

Deviation max_deviation(const std::vector<float>& got, const std::vector<std::vector<float>>& want) {
  Deviation dev;
  for (size_t t = 0; t < want.size(); ++t) {
    for (size_t i = 0; i < want[t].size(); ++i) {
      const double dlt = std::fabs(static_cast<double>(got[t * want[t].size() + i]) - want[t][i]);
      if (!(dlt <= dev.max_abs)) dev = {dlt, static_cast<int64_t>(t), static_cast<int64_t>(i)};
    }
  }
  return dev;
}

// Returns the max deviation from llama.cpp and checks the greedy choice agrees at every position.
Deviation compare_with_reference(KvType kv_type, double tol) {
  const ReferenceLogits ref = read_reference(test::shared_path("reference/stories260K.logits.txt"));
  EXPECT_EQ(ref.tokens.size(), 32u);
  const LlamaModel model = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  const size_t V = static_cast<size_t>(model.hparams().n_vocab);
  EXPECT_EQ(ref.logits[0].size(), V);
  Session s(model, {.kv_type = kv_type});
  const std::vector<float> logits = s.eval(ref.tokens, /*all_logits=*/true);
  EXPECT_EQ(logits.size(), ref.tokens.size() * V);
  const Deviation dev = max_deviation(logits, ref.logits);
  std::printf("max |logit - llama.cpp| = %.3g at position %lld, token %lld (kv %s)\n", dev.max_abs,
              static_cast<long long>(dev.pos), static_cast<long long>(dev.id), kv_type == KvType::f16 ? "f16" : "f32");
  for (size_t t = 0; t < ref.tokens.size(); ++t) {
    const std::vector<float> row(logits.begin() + t * V, logits.begin() + (t + 1) * V);
    const Deviation d = max_deviation(row, {ref.logits[t]});
    EXPECT_LE(d.max_abs, tol) << "position " << t << ": worst token " << d.id;
    const auto top = [](const auto& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
    EXPECT_EQ(top(row), top(ref.logits[t])) << "greedy choice differs at position " << t;
  }
  return dev;
}

// The reference was made with llama.cpp's default F16 cache. With ours we follow its roundings (q and
// the attention probabilities to fp16, its summation orders, its RMSNorm arithmetic) and stay
// within the 1e-3 at every position (measured 9.7e-4, at position 27).
TEST(LlamaForward, F16CacheWithin1e3OfLlamaCppLogitsEveryPosition) {
  BITDIAL_REQUIRE_SHARED();
  compare_with_reference(KvType::f16, 1e-3);
}

// An F32 cache skips the fp16 roundings the reference contains, so it differs from it by their
// effect (measured 1.35e-2); it agrees with a double-precision forward pass to < 1e-5 (oracle test).
TEST(LlamaForward, F32CacheWithinFp16RoundingOfLlamaCppLogits) {
  BITDIAL_REQUIRE_SHARED();
  compare_with_reference(KvType::f32, 2e-2);
}

std::vector<int32_t> reference_tokens() { return read_reference(test::shared_path("reference/stories260K.logits.txt")).tokens; }

// A prompt in one batch and the same prompt one token at a time through the KV cache: each output
// element is computed by the same operations in the same order either way (matmul dots each row
// against each token separately; attention reads the same cached values), so they are bit-identical.
TEST(LlamaForward, BatchedPromptEqualsOneTokenAtATime) {
  BITDIAL_REQUIRE_SHARED();
  const LlamaModel model = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  const std::vector<int32_t> toks = reference_tokens();
  for (const KvType kv : {KvType::f16, KvType::f32}) {
    Session batched(model, {.kv_type = kv}), single(model, {.kv_type = kv});
    const std::vector<float> all = batched.eval(toks, true);
    std::vector<float> one_by_one;
    for (const int32_t id : toks) {
      const std::vector<float> l = single.eval(std::span<const int32_t>(&id, 1), false);
      one_by_one.insert(one_by_one.end(), l.begin(), l.end());
    }
    EXPECT_EQ(all, one_by_one);
    EXPECT_EQ(batched.n_past(), static_cast<int64_t>(toks.size()));
    // last-only logits equal the last row of all logits
    Session last(model, {.kv_type = kv});
    const std::vector<float> l = last.eval(toks, false);
    EXPECT_TRUE(std::equal(l.begin(), l.end(), all.end() - static_cast<std::ptrdiff_t>(l.size())));
  }
}

// F16 vs F32 cache: storing K and V in half precision perturbs each by at most u = 2^-11 relative.
// Through attention (scores q.k scaled by 1/sqrt(d), a convex mix of values) and 5 residual layers,
// the logit change is empirically ~2.5 u max|logit| (0.0128 for stories260K); this is a heuristic
// bound, not a proof: 4 u max|logit|.
TEST(LlamaForward, F16CacheCloseToF32Cache) {
  BITDIAL_REQUIRE_SHARED();
  const LlamaModel model = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  const std::vector<int32_t> toks = reference_tokens();
  Session s16(model, {.kv_type = KvType::f16}), s32(model, {.kv_type = KvType::f32});
  const std::vector<float> a = s16.eval(toks, true), b = s32.eval(toks, true);
  double scale = 0, worst = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  const double tol = 4.0 * std::ldexp(1.0, -11) * scale;
  std::printf("max |f16 cache - f32 cache| = %.3g (tolerance %.3g)\n", worst, tol);
  EXPECT_LE(worst, tol);
  EXPECT_GT(worst, 0.0);  // the F16 path really rounds
}

TEST(LlamaForward, EvalRejectsBadTokensAndContextOverflow) {
  BITDIAL_REQUIRE_SHARED();
  const LlamaModel model = LlamaModel::load(test::shared_path("models/stories260K.gguf"));
  Session s(model, {.n_ctx = 4});
  EXPECT_THROW(s.eval(std::vector<int32_t>{1, 512}, false), Error);
  EXPECT_THROW(s.eval(std::vector<int32_t>{}, false), Error);
  EXPECT_EQ(s.n_past(), 0);
  s.eval(std::vector<int32_t>{1, 2, 3}, false);
  EXPECT_THROW(s.eval(std::vector<int32_t>{4, 5}, false), Error);
  s.reset();
  EXPECT_EQ(s.n_past(), 0);
}

}  // namespace
}  // namespace bitdial
