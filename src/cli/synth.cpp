// bitdial synth --preset NAME -o OUT.gguf [--type T] [--vocab VOCAB.gguf] [--seed S] [--n-embd N ...]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "model/synth.h"

namespace bitdial::cli {
namespace {

std::string params_text(uint64_t n) {
  char buf[32];
  const double p = static_cast<double>(n);
  if (p >= 1e9) std::snprintf(buf, sizeof buf, "%.2f B", p / 1e9);
  else if (p >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M", p / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1f K", p / 1e3);
  return buf;
}

std::string presets_help() {
  std::string s = "presets:\n";
  char line[256];
  for (const SynthPreset& p : synth_presets()) {
    const SynthSpec& m = p.spec;
    std::snprintf(line, sizeof line, "  %-11s %s shape: %s, %lld dim, %lld layers, %lld/%lld heads, ffn %lld, vocab %lld, ctx %lld\n",
                  p.name, p.shape_of, m.arch.c_str(), static_cast<long long>(m.n_embd), static_cast<long long>(m.n_layer),
                  static_cast<long long>(m.n_head), static_cast<long long>(m.n_head_kv), static_cast<long long>(m.n_ff),
                  static_cast<long long>(m.n_vocab), static_cast<long long>(m.n_ctx));
    s += line;
  }
  return s;
}

}  // namespace

int run_synth(int argc, char** argv) {
  CLI::App app{
      "Write a random-weight model with a real model's shape (llama GGUF), for speed and memory work\n"
      "without a download. Weights are seeded and deterministic: the same options give the same bytes.\n"
      "Matrices (token_embd and output included) get --type; norms stay f32. The tokenizer is copied\n"
      "from --vocab (every tokenizer.* key; n_vocab follows its size) or is a built-in byte-level one.\n"
      "Without --preset, give --n-embd, --n-layer, --n-head and --n-ff.\n\n" +
          presets_help() +
          "\nexamples:\n"
          "  bitdial synth --preset llama-1b -o llama-1b-f16.gguf\n"
          "  bitdial synth --preset llama-7b --type q4_0 -o llama-7b-q4_0.gguf --seed 7\n"
          "  bitdial synth --preset llama-1b --vocab tinyllama.gguf --type q8_0 -o tl-q8_0.gguf\n"
          "  bitdial synth --n-embd 256 --n-layer 4 --n-head 8 --n-ff 688 --n-vocab 512 -o tiny.gguf",
      "bitdial synth"};
  std::string preset, out, type_text = "f16", vocab_path;
  uint64_t seed = 0;
  SynthOverrides ov;
  app.add_option("--preset", preset, "model shape (see the list above)");
  app.add_option("-o,--output", out, "output GGUF file (written to a temporary name, then renamed)")->required();
  app.add_option("--type", type_text, "matrix type: f32, f16, bf16 or a quantized type (q4_0, q8_0, q4_K, ...)")
      ->capture_default_str();
  app.add_option("--vocab", vocab_path, "GGUF whose tokenizer.* keys to copy (a model or a vocab-only file)");
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--n-embd", ov.n_embd, "model width");
  app.add_option("--n-layer", ov.n_layer, "layers");
  app.add_option("--n-head", ov.n_head, "query heads");
  app.add_option("--n-head-kv", ov.n_head_kv, "key/value heads (default: the preset's, or --n-head)");
  app.add_option("--n-ff", ov.n_ff, "feed-forward width");
  app.add_option("--n-vocab", ov.n_vocab, "vocabulary size (with --vocab: must match it)");
  app.add_option("--n-ctx", ov.n_ctx, "training context length written to the file");
  app.add_option("--rope-base", ov.rope_base, "rope frequency base");
  app.add_option("--rms-eps", ov.rms_eps, "RMS norm epsilon");
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  const std::optional<TensorType> type = type_from_name(type_text);
  if (!type) fail("--type '", type_text, "' is not a tensor type (f32, f16, bf16, q4_0, q8_0, q4_K, ...)");
  SynthSpec spec = make_synth_spec(preset, ov);
  SynthVocab vocab;
  if (!vocab_path.empty()) {
    vocab = synth_vocab_from_gguf(vocab_path);
    const int64_t preset_vocab = spec.n_vocab;
    if (synth_adopt_vocab_size(spec, vocab, ov.n_vocab.has_value()))
      std::fprintf(stderr, "n_vocab: %lld (the vocabulary of %s) instead of %lld\n", static_cast<long long>(spec.n_vocab),
                   vocab_path.c_str(), static_cast<long long>(preset_vocab));
  } else {
    vocab = synth_byte_vocab(spec.n_vocab);
  }

  SynthOptions opt;
  opt.type = *type;
  opt.seed = seed;
  std::unique_ptr<Progress> progress;
  opt.progress = [&](uint64_t done, uint64_t total) {
    if (!progress) progress = std::make_unique<Progress>("synth", static_cast<size_t>(total));
    progress->update(static_cast<size_t>(done));
  };
  const auto t0 = std::chrono::steady_clock::now();
  const SynthResult r = write_synth_model(out, spec, vocab, opt);
  if (progress) progress->finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (!r.fallbacks.empty())
    std::fprintf(stderr, "%zu matrices have rows that are not whole %s blocks and got another type (first: %s)\n",
                 r.fallbacks.size(), type_name(*type), r.fallbacks.front().c_str());
  std::printf("wrote %s: %s (%s, %lld dim, %lld layers, %lld/%lld heads, ffn %lld, vocab %lld from %s), %s, %s params, "
              "%llu bytes, %zu tensors, %.1f s\n",
              out.c_str(), spec.name.c_str(), spec.arch.c_str(), static_cast<long long>(spec.n_embd),
              static_cast<long long>(spec.n_layer), static_cast<long long>(spec.n_head), static_cast<long long>(spec.n_head_kv),
              static_cast<long long>(spec.n_ff), static_cast<long long>(spec.n_vocab), vocab.source.c_str(), type_name(*type),
              params_text(r.params).c_str(), static_cast<unsigned long long>(r.file_bytes), r.tensors, seconds);
  return 0;
}

}  // namespace bitdial::cli
