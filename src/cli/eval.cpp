// bitdial eval --model M [--baseline B] [--text F]... [--task F.jsonl]... [--ctx N] [--json] [-o DIR]
//              [--model-name NAME] [--baseline-name NAME] [--api-key-env VAR] [--baseline-api-key-env VAR]
//              [--tokenizer GGUF] [--logprobs K]
#include <CLI/CLI.hpp>
#include <omp.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "eval/evaluation.h"

namespace bitdial::cli {
namespace {

// DIR/summary.json and DIR/<task>.examples.jsonl, each written atomically.
void write_outputs(const std::string& dir, const EvalOutput& out) {
  std::filesystem::create_directories(dir);
  write_file_atomic((std::filesystem::path(dir) / "summary.json").string(), json_text(out.summary) + "\n");
  for (size_t i = 0; i < out.examples.size(); ++i) {
    std::string lines;
    for (const auto& row : out.examples[i]) lines += row.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    const std::string name = out.summary["tasks"][i]["name"].get<std::string>();
    write_file_atomic((std::filesystem::path(dir) / (name + ".examples.jsonl")).string(), lines);
  }
}

}  // namespace

int run_eval(int argc, char** argv) {
  CLI::App app{
      "Measure a model on your own data, against the baseline when given.\n"
      "Texts (--text): perplexity in llama-perplexity's convention (chunks of --ctx tokens starting with\n"
      "BOS, second half scored); with --baseline also the KL divergence KL(baseline || candidate) per\n"
      "scored position (mean ± se, median, p90/p95/p99/p99.9, max), same top-1 token, RMS change of the\n"
      "correct token's probability and PPL(candidate)/PPL(baseline); both models run side by side, so\n"
      "memory does not grow with the text.\n"
      "Tasks (--task, JSONL, docs/eval.md): classification by choice log-likelihood (raw and per byte),\n"
      "generation by exact / contains / regex match; accuracy with 95 % Wilson intervals overall and per\n"
      "tag; with --baseline the paired comparison: agreement, flipped examples both ways, accuracy delta\n"
      "with a seeded bootstrap 95 % interval and McNemar's exact p-value.\n"
      "Remote models: --model / --baseline may be an OpenAI-compatible endpoint (http(s)://host/v1, e.g.\n"
      "vLLM, llama-server) scored through /v1/completions with echo + log-probs. Tasks send text; --text\n"
      "sends each chunk as token ids made by the local model of the pair (or --tokenizer GGUF when both\n"
      "are remote) and asks for the top --logprobs K log-probs per position: PPL, PPL ratio, same top-1\n"
      "and Δp stay exact, KL becomes the KL of top-K buckets + one tail bucket, a lower bound on the true\n"
      "KL (reported as \"KL (top-K bound)\", kld_lower_bound in --json).\n"
      "Local models evaluate several perplexity chunks, and all choices of an example, per forward pass.\n\n"
      "examples:\n"
      "  bitdial eval --model q4.gguf --baseline f16.gguf --text wiki.txt --task intents.jsonl\n"
      "  bitdial eval --model q4.gguf --task intents.jsonl --json > eval.json\n"
      "  bitdial eval --model q4.gguf --baseline f16.gguf --task intents.jsonl -o eval-q4\n"
      "  bitdial eval --model http://gpu-box:8000/v1 --model-name llama-70b-awq --baseline f16.gguf \\\n"
      "               --task intents.jsonl --api-key-env VLLM_API_KEY\n"
      "  bitdial eval --model http://gpu-box:8000/v1 --model-name llama-70b-awq --baseline f16.gguf \\\n"
      "               --text wiki.txt --logprobs 20\n"
      "  bitdial eval --model http://a:8000/v1 --model-name q4 --baseline http://b:8000/v1 --baseline-name f16 \\\n"
      "               --text wiki.txt --tokenizer f16-vocab.gguf",
      "bitdial eval"};
  EvalOptions opt;
  std::optional<int> threads;
  std::string kv_type = "f16", out_dir;
  bool json = false;
  app.add_option("-m,--model", opt.model, "candidate: GGUF model or http(s)://host/v1 endpoint")->required();
  app.add_option("-b,--baseline", opt.baseline, "baseline (full precision): GGUF model or http(s)://host/v1 endpoint");
  app.add_option("--model-name", opt.model_name, "name the endpoint serves the candidate under (remote only)");
  app.add_option("--baseline-name", opt.baseline_name, "the baseline endpoint's model name (default: --model-name)");
  app.add_option("--api-key-env", opt.api_key_env, "environment variable holding the candidate endpoint's API key");
  app.add_option("--baseline-api-key-env", opt.baseline_api_key_env,
                 "environment variable holding the baseline endpoint's API key (default: --api-key-env)");
  app.add_option("--text", opt.texts, "text file for perplexity / KL divergence (repeatable)");
  app.add_option("--tokenizer", opt.tokenizer,
                 "GGUF whose tokenizer makes the token ids sent to endpoints (--text when both models are remote)");
  app.add_option("--logprobs", opt.top_logprobs,
                 "top log-probs asked per position for --text with an endpoint (KL bound); OpenAI caps 5, vLLM 20")
      ->capture_default_str();
  app.add_option("--task", opt.tasks, "task JSONL file (repeatable)");
  app.add_option("-c,--ctx", opt.n_ctx, "perplexity chunk length in tokens")->capture_default_str();
  app.add_option("-t,--threads", threads, "threads (default: all cores)");
  app.add_option("--kv-type", kv_type, "KV cache type")->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
  app.add_option("--resamples", opt.resamples, "bootstrap resamples of the accuracy delta")->capture_default_str();
  app.add_option("--seed", opt.seed, "bootstrap seed")->capture_default_str();
  app.add_flag("--json", json, "print the JSON summary (docs/eval.md) instead of the table");
  app.add_option("-o,--out-dir", out_dir, "also write DIR/summary.json and DIR/<task>.examples.jsonl");
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  if (threads && *threads < 1) fail("-t ", *threads, ": need at least 1 thread");
  if (threads) omp_set_num_threads(*threads);
  opt.kv_type = kv_type == "f32" ? KvType::f32 : KvType::f16;

  const EvalOutput out = run_evaluation(opt);
  if (!out_dir.empty()) write_outputs(out_dir, out);
  if (json) std::printf("%s\n", json_text(out.summary).c_str());
  else std::fputs(render_eval_table(out.summary).c_str(), stdout);
  return 0;
}

}  // namespace bitdial::cli
