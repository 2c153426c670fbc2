// PLACEHOLDER until the block family lands: every function fails loudly.
#include "blocks/nonlinear_quants.h"
#include "core/error.h"
namespace bitdial {
void dequantize_row_iq4_nl(const void*, float*, int64_t) { fail("dequantize_row_iq4_nl: not built yet"); }
void quantize_row_iq4_nl(const float*, void*, int64_t, const float*) { fail("quantize_row_iq4_nl: not built yet"); }
void dequantize_row_iq4_xs(const void*, float*, int64_t) { fail("dequantize_row_iq4_xs: not built yet"); }
void quantize_row_iq4_xs(const float*, void*, int64_t, const float*) { fail("quantize_row_iq4_xs: not built yet"); }
}
