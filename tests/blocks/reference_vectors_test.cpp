// Every type against llama.cpp's vectors in ../shared/quant-vectors: decoding is bit-exact, our
// encoder reconstructs each source row at least as well as llama.cpp's (importance-weighted for the
// _imatrix pair), and edge rows never produce NaN or Inf.
#include "codec_checks.h"

namespace bitdial::test {
namespace {

class ReferenceVectorsTest : public ::testing::TestWithParam<CodecCase> {};

TEST_P(ReferenceVectorsTest, DequantizeMatchesLlamaCppBitForBit) {
  BITDIAL_REQUIRE_SHARED();
  const QuantVectors v = load_quant_vectors(GetParam().stem);
  ASSERT_EQ(v.type, GetParam().type);
  expect_decode_bit_exact(v, v.quantized, v.dequantized, "quantized");
}

TEST_P(ReferenceVectorsTest, DequantizeOfImportanceBlocksMatchesLlamaCppBitForBit) {
  BITDIAL_REQUIRE_SHARED();
  const QuantVectors v = load_quant_vectors(GetParam().stem);
  if (!v.has_imatrix) GTEST_SKIP() << "no importance-weighted vectors for " << GetParam().stem;
  expect_decode_bit_exact(v, v.quantized_imatrix, v.dequantized_imatrix, "quantized_imatrix");
}

TEST_P(ReferenceVectorsTest, QuantizeIsAtLeastAsAccurateAsLlamaCppOnEveryRow) {
  BITDIAL_REQUIRE_SHARED();
  expect_quantize_at_least_as_accurate(load_quant_vectors(GetParam().stem), false);
}

TEST_P(ReferenceVectorsTest, ImportanceQuantizeIsAtLeastAsAccurateAsLlamaCppOnEveryRow) {
  BITDIAL_REQUIRE_SHARED();
  const QuantVectors v = load_quant_vectors(GetParam().stem);
  if (!v.has_imatrix) GTEST_SKIP() << "no importance-weighted vectors for " << GetParam().stem;
  expect_quantize_at_least_as_accurate(v, true);
}

TEST_P(ReferenceVectorsTest, EdgeRowsRoundTripToFiniteValues) { expect_edge_rows_finite(GetParam().type); }

// The 16 files in ../shared/quant-vectors (stems as named there).
INSTANTIATE_TEST_SUITE_P(
    Types, ReferenceVectorsTest,
    ::testing::Values(CodecCase{"f16", TensorType::F16}, CodecCase{"bf16", TensorType::BF16}, CodecCase{"q4_0", TensorType::Q4_0},
                      CodecCase{"q4_1", TensorType::Q4_1}, CodecCase{"q5_0", TensorType::Q5_0}, CodecCase{"q5_1", TensorType::Q5_1},
                      CodecCase{"q8_0", TensorType::Q8_0}, CodecCase{"q2_K", TensorType::Q2_K}, CodecCase{"q3_K", TensorType::Q3_K},
                      CodecCase{"q4_K", TensorType::Q4_K}, CodecCase{"q5_K", TensorType::Q5_K}, CodecCase{"q6_K", TensorType::Q6_K},
                      CodecCase{"iq4_nl", TensorType::IQ4_NL}, CodecCase{"iq4_xs", TensorType::IQ4_XS},
                      CodecCase{"tq1_0", TensorType::TQ1_0}, CodecCase{"tq2_0", TensorType::TQ2_0}),
    case_name);

}  // namespace
}  // namespace bitdial::test
