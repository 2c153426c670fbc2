// bitdial bench -m MODEL [-p 512] [-n 128] [-t THREADS] [-r REPS] [--json]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <string>

#include "bench/bench.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/error.h"
#include "model/llama_model.h"

namespace bitdial::cli {

int run_bench(int argc, char** argv) {
  CLI::App app{
      "Measure a model's speed like llama-bench: pp = one batch of -p random tokens from an empty cache,\n"
      "tg = -n single-token steps from an empty cache; each test warmed up once, then timed -r times\n"
      "(t/s: median ± sample standard deviation). Also: peak resident memory, this machine's memory\n"
      "read bandwidth (all -t threads streaming a buffer far larger than the cache), and decode\n"
      "efficiency = weight bytes read per generated token x tg t/s / bandwidth, per tg repetition against\n"
      "the bandwidth probed just before it (median reported). For f32/f16/bf16 models on the avx2 path,\n"
      "prompt compute efficiency = FLOPs per prompt token x pp t/s / this machine's FP32 multiply-add\n"
      "peak, per pp repetition against the peak probed just before it.\n\n"
      "examples:\n"
      "  bitdial bench -m llama-1b-q4_0.gguf\n"
      "  bitdial bench -m model.gguf -p 512 -n 128 -t 8 -r 3\n"
      "  bitdial bench -m model.gguf -p 64 -n 16 --json > bench.json",
      "bitdial bench"};
  std::string model_path;
  BenchOptions opt;
  std::optional<int> threads;
  uint64_t bandwidth_mib = opt.bandwidth_bytes >> 20;
  bool json = false;
  app.add_option("-m,--model", model_path, "GGUF model file")->required();
  app.add_option("-p,--n-prompt", opt.n_prompt, "tokens in the prompt-processing test")->capture_default_str();
  app.add_option("-n,--n-gen", opt.n_gen, "tokens in the generation test")->capture_default_str();
  app.add_option("-t,--threads", threads, "threads (default: all cores)");
  app.add_option("-r,--repetitions", opt.reps, "timed repetitions of each test")->capture_default_str();
  app.add_option("--bandwidth-mib", bandwidth_mib, "size of the bandwidth probe's buffer in MiB")->capture_default_str();
  app.add_flag("--json", json, "print a JSON object (docs/bench.md) instead of the table");
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  if (threads && *threads < 1) fail("-t ", *threads, ": need at least 1 thread");
  if (bandwidth_mib < 1 || bandwidth_mib > (uint64_t{1} << 20)) fail("--bandwidth-mib ", bandwidth_mib, " is not in [1, 1048576]");
  opt.threads = threads.value_or(0);
  opt.bandwidth_bytes = bandwidth_mib << 20;
  validate_bench_options(opt);  // before loading a model that may take a while

  const LlamaModel model = LlamaModel::load(model_path);
  const BenchResult r = run_benchmark(model, opt);
  if (json) std::printf("%s\n", json_text(bench_result_json(r)).c_str());
  else std::fputs(bench_result_table(r).c_str(), stdout);
  return 0;
}

}  // namespace bitdial::cli
