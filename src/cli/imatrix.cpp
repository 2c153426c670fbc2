// bitdial imatrix MODEL --calib TEXT -o OUT [--ctx N] [--chunks N] [--threads T] [--min-tokens N]
#include <CLI/CLI.hpp>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/error.h"
#include "model/llama_model.h"
#include "quant/calibration.h"
#include "quant/imatrix.h"

namespace bitdial::cli {

int run_imatrix(int argc, char** argv) {
  CLI::App app{
      "Collect the importance matrix of a model: for every matrix product, the mean squared activation\n"
      "of each input column over a calibration text (and the token count), written as a GGUF file in\n"
      "llama.cpp's imatrix layout (docs/imatrix.md). `quantize --imatrix OUT` uses the means as\n"
      "per-column importance weights. The text is cut into chunks of --ctx tokens, each starting with\n"
      "BOS; every position is evaluated, so the output projection sees every token too. A weight that\n"
      "saw fewer than --min-tokens tokens is named in a warning.\n\n"
      "examples:\n"
      "  bitdial imatrix model-f16.gguf --calib wiki.train.txt -o model.imatrix.gguf\n"
      "  bitdial imatrix model-f16.gguf --calib chat-logs.txt --ctx 256 --chunks 100 -o chat.imatrix.gguf",
      "bitdial imatrix"};
  std::string model_path, calib_path, out;
  int64_t n_ctx = 512, max_chunks = 0, min_tokens = 512;
  std::optional<int> threads;
  app.add_option("model", model_path, "GGUF model (full precision gives the truest statistics)")->required();
  app.add_option("--calib", calib_path, "calibration text file (at least --ctx tokens)")->required();
  app.add_option("-o,--output", out, "output imatrix GGUF (written to a temporary name, then renamed)")->required();
  app.add_option("-c,--ctx", n_ctx, "tokens per chunk")->capture_default_str();
  app.add_option("--chunks", max_chunks, "use only the first N chunks (0 = all)")->capture_default_str();
  app.add_option("-t,--threads", threads, "threads (default: all cores)");
  app.add_option("--min-tokens", min_tokens, "warn about any weight that saw fewer tokens")->capture_default_str();
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  if (threads && *threads < 1) fail("-t ", *threads, ": need at least 1 thread");
  if (threads) omp_set_num_threads(*threads);
  if (max_chunks < 0) fail("--chunks ", max_chunks, ": must be >= 0");
  // Fail before the long run, not after it, when the output cannot be written there.
  const std::filesystem::path parent = std::filesystem::absolute(out).parent_path();
  if (!std::filesystem::is_directory(parent)) fail(out, ": output folder ", parent.string(), " does not exist");

  const auto t0 = std::chrono::steady_clock::now();
  const LlamaModel model = LlamaModel::load(model_path);
  const CalibrationSet calib = load_calibration(model, calib_path, n_ctx, max_chunks);
  ImatrixCollector collector(model);
  run_calibration(model, calib, collector, CalibrationRunOptions{.label = "imatrix"});
  Imatrix& im = collector.result();
  im.calib_source = calib_path;
  im.n_ctx = calib.n_ctx;
  im.n_chunks = static_cast<int64_t>(calib.chunks.size());

  for (const std::string& p : imatrix_coverage_problems(im, model, min_tokens))
    std::fprintf(stderr, "warning: %s: %s\n", out.c_str(), p.c_str());
  im.save(out);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s: %zu weights, %lld chunks x %lld tokens = %lld tokens (of %lld in %s), %.2f s\n", out.c_str(),
              im.entries.size(), static_cast<long long>(im.n_chunks), static_cast<long long>(im.n_ctx),
              static_cast<long long>(calib.n_tokens()), static_cast<long long>(calib.n_text_tokens), calib_path.c_str(),
              seconds);
  return 0;
}

}  // namespace bitdial::cli
