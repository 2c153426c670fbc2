// Where a training run's parameters come from: fresh random weights of a llama shape (training from
// scratch), or every tensor of a loaded model decoded to floats (quantization-aware fine-tuning and
// distillation start from a trained GGUF). Names, shapes and order are model/llama_gguf_keys.h's
// llama_tensor_layout, i.e. exactly what the engine (model/llama_model.cpp) reads.
#pragma once

#include <cstdint>

#include "model/llama_model.h"
#include "model/synth.h"
#include "train/param_set.h"

namespace bitdial {

// Every tensor of `spec` (arch "llama"): matrices drawn from N(0, std^2), norms all 1 with
// Param::decay false; gradients zero. Each matrix row has its own generator seeded from (seed, tensor
// index, row), so the values depend on the seed only, never on the thread count. Throws bitdial::Error
// for an invalid spec, an arch other than "llama", or a negative or non-finite std.
ParamSet init_params(const SynthSpec& spec, uint64_t seed, float std = 0.02f);

// The model's tensors decoded to floats (any stored type with a row decoder; replaced weights as
// replaced), gradients zero, and the SynthSpec filled from its hyperparameters (general.name, n_ctx =
// the training context length, tied_embeddings when the file has no output.weight). Throws
// bitdial::Error naming the file when the arch is not "llama" or the model uses what the trainer does
// not model: a head size other than n_embd / n_head, partial or scaled rotary embeddings, rope
// frequency factors.
ParamSet params_from_model(const LlamaModel& model);

}  // namespace bitdial
