// Training checkpoints: everything needed to resume a run bit for bit (F32 weights, AdamW moments and
// step, data position and RNG words), in a GGUF that is also a complete llama model file, so
// `bitdial inspect` reads it and the weights can be exported without the trainer.
//
// File layout (GGUF v3, written by GgufWriter: atomic, deterministic):
//   keys     general.* / llama.* / tokenizer.* as model/llama_gguf_keys.h writes them (file type F32),
//            bitdial.train.checkpoint_version  u32     kCheckpointVersion
//            bitdial.train.step                u64     optimiser updates applied (AdamWState::step)
//            bitdial.train.seed                u64     TrainProgress::seed
//            bitdial.train.tokens_seen         u64
//            bitdial.train.data_cursor         u64
//            bitdial.train.rng_state           u64[]   the data sampler's RNG words, as the trainer gives them
//            bitdial.train.config_fingerprint  string
//            bitdial.train.no_decay            string[] parameters with Param::decay false
//   tensors  every parameter (F32, GGUF name and order), then per parameter "optim.m.<name>" and
//            "optim.v.<name>" (F32, same shape).
// Keeping the last good checkpoint: a write goes to a temporary name and is renamed over `path` only
// when complete, and is refused before any byte is written when a weight or moment is NaN/Inf. So
// `path` always holds a complete, finite checkpoint; a caller that wants history writes numbered paths
// (ckpt-000100.gguf, ...) and deletes old ones itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/synth.h"
#include "train/optimizer.h"
#include "train/param_set.h"

namespace bitdial {

constexpr uint32_t kCheckpointVersion = 1;

// What the trainer needs, besides weights and optimiser state, to continue exactly where it stopped.
struct TrainProgress {
  uint64_t seed = 0;                // the run's seed
  uint64_t tokens_seen = 0;         // training tokens consumed so far
  uint64_t data_cursor = 0;         // where in the data stream the next batch starts
  std::vector<uint64_t> rng_state;  // the data sampler's RNG state, as integers
  std::string config_fingerprint;   // identifies the training config; the trainer compares it on resume
};

struct TrainCheckpoint {
  ParamSet params;         // values restored, gradients zero, decay flags restored
  AdamWState optim;        // moments and step
  TrainProgress progress;
  SynthVocab vocab;        // the tokenizer.* keys the file carries (source: its path)
};

// Writes a checkpoint of `params` (which must match llama_tensor_layout(params.spec)) and `optim`
// (which must belong to params). Throws bitdial::Error naming the file and tensor, and leaves any
// existing file at `path` untouched, when a parameter or moment is NaN/Inf; also on a layout mismatch,
// a vocabulary whose size differs from spec.n_vocab, or an I/O failure.
void write_checkpoint(const std::string& path, const ParamSet& params, const AdamWState& optim,
                      const TrainProgress& progress, const SynthVocab& vocab);

// Reads a checkpoint and checks it against the shape the run's config expects. Throws bitdial::Error
// naming the file and the first mismatch: a hyperparameter key ("ckpt.gguf: llama.embedding_length is
// 64, config expects 128"), then tensors in file order ("ckpt.gguf: blk.0.attn_q.weight has shape
// 64x64, config expects 128x128"; shapes in GGUF ne order), a missing or extra tensor, a non-F32
// tensor, a missing bitdial.train.* key, another checkpoint version, or a NaN/Inf value.
TrainCheckpoint read_checkpoint(const std::string& path, const SynthSpec& expected);

}  // namespace bitdial
