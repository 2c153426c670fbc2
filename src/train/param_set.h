// The trainable parameters of a small LLaMA-family model: named float tensors with their gradients,
// in GGUF order and under GGUF names, so the forward/backward pass, the optimiser, checkpoints and the
// exported model all walk one list. The model's shape is a SynthSpec (model/synth.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/synth.h"

namespace bitdial {

struct Param {
  std::string name;            // GGUF tensor name: "token_embd.weight", "blk.0.attn_q.weight", ...
  std::vector<int64_t> shape;  // GGUF ne order: shape[0] is the row length (contiguous)
  std::vector<float> value;    // numel() floats, row-major with rows of shape[0]
  std::vector<float> grad;     // same size as value; accumulated by backward, cleared by zero_grads
  bool decay = true;           // AdamW weight decay applies (matrices); norms and biases: false

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

struct ParamSet {
  SynthSpec spec;             // the shape these parameters belong to
  std::vector<Param> params;  // GGUF order: token_embd, then per layer, then output_norm, output

  // The parameter by GGUF name, or null.
  Param* find(const std::string& name);
  const Param* find(const std::string& name) const;
  void zero_grads();
  int64_t numel() const;  // parameters in all tensors
};

}  // namespace bitdial
