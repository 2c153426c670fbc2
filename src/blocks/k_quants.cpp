// PLACEHOLDER until the block family lands: every function fails loudly.
#include "blocks/k_quants.h"
#include "core/error.h"
namespace bitdial {
void dequantize_row_q2_k(const void*, float*, int64_t) { fail("dequantize_row_q2_k: not built yet"); }
void quantize_row_q2_k(const float*, void*, int64_t, const float*) { fail("quantize_row_q2_k: not built yet"); }
void dequantize_row_q3_k(const void*, float*, int64_t) { fail("dequantize_row_q3_k: not built yet"); }
void quantize_row_q3_k(const float*, void*, int64_t, const float*) { fail("quantize_row_q3_k: not built yet"); }
void dequantize_row_q4_k(const void*, float*, int64_t) { fail("dequantize_row_q4_k: not built yet"); }
void quantize_row_q4_k(const float*, void*, int64_t, const float*) { fail("quantize_row_q4_k: not built yet"); }
void dequantize_row_q5_k(const void*, float*, int64_t) { fail("dequantize_row_q5_k: not built yet"); }
void quantize_row_q5_k(const float*, void*, int64_t, const float*) { fail("quantize_row_q5_k: not built yet"); }
void dequantize_row_q6_k(const void*, float*, int64_t) { fail("dequantize_row_q6_k: not built yet"); }
void quantize_row_q6_k(const float*, void*, int64_t, const float*) { fail("quantize_row_q6_k: not built yet"); }
}
