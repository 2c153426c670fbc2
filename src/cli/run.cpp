// bitdial run -m MODEL -p TEXT [-n N] [sampling options] [--dump-logits FILE] [-t THREADS]
#include <CLI/CLI.hpp>
#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "model/generate.h"
#include "model/llama_model.h"
#include "model/sampler.h"
#include "model/session.h"
#include "model/tokenizer/tokenizer.h"
#include "model/tokenizer/utf8.h"

namespace bitdial::cli {
namespace {

// What a token prints as: its bytes, or for control tokens (BOS, ...) their vocabulary text.
std::string display_piece(const Tokenizer& tok, int32_t id) {
  return tok.is_control(id) ? tok.token_text(id) : tok.piece(id);
}

// One line per prompt position: "pos token logit_0 ... logit_{V-1}" after a "#" header line.
void dump_logits(const std::string& path, const std::string& model_path, const std::string& prompt,
                 const std::vector<int32_t>& tokens, const std::vector<float>& logits, int64_t n_vocab) {
  AtomicFile out(path);
  std::string line = "# model=" + std::filesystem::path(model_path).filename().string() + " n_vocab=" + std::to_string(n_vocab) +
                     " n_tokens=" + std::to_string(tokens.size()) + " prompt=" + prompt + "\n";
  out.write(line);
  char num[32];
  for (size_t t = 0; t < tokens.size(); ++t) {
    line = std::to_string(t) + " " + std::to_string(tokens[t]);
    for (int64_t i = 0; i < n_vocab; ++i) {
      std::snprintf(num, sizeof num, " %g", logits[t * static_cast<size_t>(n_vocab) + static_cast<size_t>(i)]);
      line += num;
    }
    line += '\n';
    out.write(line);
  }
  out.commit();
}

}  // namespace

int run_run(int argc, char** argv) {
  CLI::App app{
      "Generate text with a LLaMA-family GGUF model (llama, qwen2). Prints the prompt followed by the\n"
      "generated text on stdout (control tokens such as BOS shown as their text), timings on stderr.\n"
      "Sampling: repetition penalty, then --temp 0 is greedy (argmax); otherwise top-k, temperature,\n"
      "top-p and min-p filter the distribution and a token is drawn with the seeded generator, so the\n"
      "same --seed gives the same text.\n\n"
      "examples:\n"
      "  bitdial run -m stories260K.gguf -p \"Once upon a time\" -n 48 --temp 0\n"
      "  bitdial run -m model.gguf -p \"Hello\" --temp 0.7 --top-p 0.9 --seed 42 -t 8\n"
      "  bitdial run -m model.gguf -p \"The quick brown fox\" -n 0 --dump-logits logits.txt",
      "bitdial run"};
  std::string model_path, prompt, dump_path, kv_type = "f16";
  int64_t n_predict = 64;
  int threads = 0;
  int64_t n_ctx = 0;
  SamplerParams sp;
  std::optional<uint64_t> seed;
  app.add_option("-m,--model", model_path, "GGUF model file")->required();
  app.add_option("-p,--prompt", prompt, "prompt text (BOS is added when the vocabulary asks for it)")->required();
  app.add_option("-n,--n-predict", n_predict, "tokens to generate (-1: until end of generation or full context)")
      ->capture_default_str();
  app.add_option("--temp", sp.temperature, "temperature; 0 = greedy")->capture_default_str();
  app.add_option("--top-k", sp.top_k, "keep the K most likely tokens (0 = all)")->capture_default_str();
  app.add_option("--top-p", sp.top_p, "nucleus: smallest set with probability >= P (1 = off)")->capture_default_str();
  app.add_option("--min-p", sp.min_p, "drop tokens below P x the top probability (0 = off)")->capture_default_str();
  app.add_option("--repeat-penalty", sp.repeat_penalty, "penalty for tokens among the last --repeat-last-n (1 = off)")
      ->capture_default_str();
  app.add_option("--repeat-last-n", sp.repeat_last_n, "window of the repetition penalty")->capture_default_str();
  app.add_option("--seed", seed, "random seed (default: random, printed on stderr)");
  app.add_option("--dump-logits", dump_path, "write every prompt position's logits to FILE");
  app.add_option("-t,--threads", threads, "threads (default: all cores)");
  app.add_option("-c,--ctx-size", n_ctx, "context size (0 = the model's)")->capture_default_str();
  app.add_option("--kv-type", kv_type, "KV cache type")->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  if (prompt.empty()) fail("the prompt (-p) is empty");
  if (const std::optional<size_t> bad = utf8_find_invalid(prompt)) fail("the prompt (-p): invalid UTF-8 at byte ", *bad);
  if (threads < 0) fail("--threads ", threads, " is negative");
  if (threads > 0) omp_set_num_threads(threads);
  sp.seed = seed ? *seed : std::random_device{}();

  const LlamaModel model = LlamaModel::load(model_path);
  const Tokenizer tok = Tokenizer::from_gguf(model.file());
  const std::vector<int32_t> tokens = tok.encode(prompt, /*add_bos=*/true);
  if (tokens.empty()) fail("the prompt produced no tokens");
  if (static_cast<int64_t>(tok.vocab_size()) != model.hparams().n_vocab)
    fail(model_path, ": the tokenizer has ", tok.vocab_size(), " tokens but token_embd.weight has ", model.hparams().n_vocab, " rows");

  Session session(model, {.kv_type = kv_type == "f32" ? KvType::f32 : KvType::f16, .n_ctx = n_ctx});
  if (static_cast<int64_t>(tokens.size()) > session.n_ctx())
    fail("the prompt is ", tokens.size(), " tokens, longer than the context of ", session.n_ctx(), " (raise -c/--ctx-size)");
  Sampler sampler(sp);
  // Printed only once the inputs are known good, so an error stays one line.
  if (!seed && sp.temperature > 0.0f) std::fprintf(stderr, "seed: %llu\n", static_cast<unsigned long long>(sp.seed));
  for (const int32_t id : tokens) std::fputs(display_piece(tok, id).c_str(), stdout);
  std::fflush(stdout);

  std::vector<float> prompt_logits;
  const GenerateStats st = generate(
      session, sampler, tokens, n_predict,
      [&](int32_t id) {
        if (tok.is_eog(id)) return false;
        std::fputs(tok.piece(id).c_str(), stdout);
        std::fflush(stdout);
        return true;
      },
      dump_path.empty() ? nullptr : &prompt_logits);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  if (!dump_path.empty()) dump_logits(dump_path, model_path, prompt, tokens, prompt_logits, model.hparams().n_vocab);

  auto rate = [](int64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  std::fprintf(stderr, "prompt: %lld tokens in %.1f ms (%.1f tokens/s)\n", static_cast<long long>(st.n_prompt),
               st.prompt_seconds * 1e3, rate(st.n_prompt, st.prompt_seconds));
  std::fprintf(stderr, "generate: %lld tokens in %.1f ms (%.1f tokens/s)\n", static_cast<long long>(st.n_generated),
               st.generate_seconds * 1e3, rate(st.n_generated, st.generate_seconds));
  return 0;
}

}  // namespace bitdial::cli
