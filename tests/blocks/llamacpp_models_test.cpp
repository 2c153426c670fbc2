// Every tensor of the llama.cpp-quantized stories260K files (q8_0, q5_0, iq4_nl, f16, f32 mixed)
// decodes to finite values close to the F32 original: the decoders work on real llama.cpp output,
// not only on the per-type vectors.
#include <gtest/gtest.h>

#include <cmath>

#include "blocks/tensor_codec.h"
#include "formats/gguf.h"
#include "test_support.h"

namespace bitdial {
namespace {

// Relative RMSE ||dequant - original|| / ||original|| that each type stays under on this model; a
// wrong nibble order or scale would give errors near or above 1.
double max_relative_rmse(TensorType t) {
  switch (t) {
    case TensorType::F32: return 0.0;
    case TensorType::F16: return 1e-3;
    case TensorType::Q8_0: return 0.01;
    case TensorType::Q6_K: return 0.03;
    case TensorType::Q5_0: return 0.06;
    default: return 0.15;  // 4-bit and below
  }
}

void check_file(const std::string& name) {
  const GgufFile ref = GgufFile::open(test::shared_path("models/stories260K.gguf"));
  const GgufFile q = GgufFile::open(test::shared_path("models/" + name));
  ASSERT_EQ(q.tensors().size(), ref.tensors().size());
  for (const GgufTensorInfo& t : q.tensors()) {
    const GgufTensorInfo* r = ref.find_tensor(t.name);
    ASSERT_NE(r, nullptr) << t.name;
    ASSERT_EQ(r->ne, t.ne) << t.name;
    const std::vector<float> got = dequantize_tensor(t.type, q.tensor_data(t), t.n_elements(), t.ne[0], t.name);
    const std::vector<float> want = dequantize_tensor(r->type, ref.tensor_data(*r), r->n_elements(), r->ne[0], r->name);
    double err = 0, norm = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i])) << t.name << " value " << i;
      err += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
      norm += double(want[i]) * want[i];
    }
    const double rel = norm > 0 ? std::sqrt(err / norm) : std::sqrt(err);
    EXPECT_LE(rel, max_relative_rmse(t.type)) << name << " " << t.name << " (" << type_name(t.type) << ")";
  }
}

TEST(LlamaCppModels, Q2KFileDecodesCloseToOriginal) {
  BITDIAL_REQUIRE_SHARED();
  check_file("stories260K-llamacpp-Q2_K.gguf");
}

TEST(LlamaCppModels, Q4KMFileDecodesCloseToOriginal) {
  BITDIAL_REQUIRE_SHARED();
  check_file("stories260K-llamacpp-Q4_K_M.gguf");
}

TEST(LlamaCppModels, Q6KFileDecodesCloseToOriginal) {
  BITDIAL_REQUIRE_SHARED();
  check_file("stories260K-llamacpp-Q6_K.gguf");
}

}  // namespace
}  // namespace bitdial
