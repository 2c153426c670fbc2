#include "model/activation_observer.h"

namespace bitdial {

std::vector<std::string> matmul_site_weights(MatmulSite site, int64_t layer) {
  const std::string p = "blk." + std::to_string(layer) + ".";
  switch (site) {
    case MatmulSite::attn_in: return {p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"};
    case MatmulSite::attn_out: return {p + "attn_output.weight"};
    case MatmulSite::ffn_in: return {p + "ffn_gate.weight", p + "ffn_up.weight"};
    case MatmulSite::ffn_mid: return {p + "ffn_down.weight"};
    case MatmulSite::output_in: return {"output.weight"};
  }
  return {};
}

}  // namespace bitdial
