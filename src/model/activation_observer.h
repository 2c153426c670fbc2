// A hook into the forward pass for calibration: the quantizer (imatrix, GPTQ Hessians, AWQ scales)
// sees the input of every matrix product as the model runs its calibration text. Several weights
// read one input (q/k/v share the attention input, gate/up the feed-forward input), so the hook is
// called once per distinct input with the site, and matmul_site_weights names the weights it feeds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bitdial {

enum class MatmulSite {
  attn_in,   // rms_norm(x) * attn_norm -> attn_q, attn_k, attn_v    (cols n_embd)
  attn_out,  // attention output         -> attn_output              (cols q_dim)
  ffn_in,    // rms_norm(x) * ffn_norm   -> ffn_gate, ffn_up         (cols n_embd)
  ffn_mid,   // silu(gate) * up          -> ffn_down                 (cols n_ff)
  output_in, // rms_norm(x) * output_norm -> output                  (cols n_embd; logit rows only)
};

// The GGUF names of the weights a site feeds in `layer` (layer is ignored for output_in:
// "output.weight", which is token_embd.weight for tied models — the caller decides).
std::vector<std::string> matmul_site_weights(MatmulSite site, int64_t layer);

class ActivationObserver {
 public:
  virtual ~ActivationObserver() = default;
  // x: (n_tokens, cols) row-major, the exact floats the matrix product receives (before any 8-bit
  // activation conversion). Called from the forward pass's thread, in layer order.
  virtual void on_matmul_input(MatmulSite site, int64_t layer, const float* x, int64_t n_tokens, int64_t cols) = 0;
};

}  // namespace bitdial
