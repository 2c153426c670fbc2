// PLACEHOLDER until the block family lands: every function fails loudly.
#include "blocks/ternary_quants.h"
#include "core/error.h"
namespace bitdial {
void dequantize_row_tq1_0(const void*, float*, int64_t) { fail("dequantize_row_tq1_0: not built yet"); }
void quantize_row_tq1_0(const float*, void*, int64_t, const float*) { fail("quantize_row_tq1_0: not built yet"); }
void dequantize_row_tq2_0(const void*, float*, int64_t) { fail("dequantize_row_tq2_0: not built yet"); }
void quantize_row_tq2_0(const float*, void*, int64_t, const float*) { fail("quantize_row_tq2_0: not built yet"); }
}
