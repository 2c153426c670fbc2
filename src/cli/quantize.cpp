// bitdial quantize IN OUT --type T [--override RE=T]... [--dry-run] [--threads N]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"

namespace bitdial::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

// First Ctrl-C: ask the writer to stop at the next tensor (it then deletes its temporary file);
// a second one kills the process the default way.
extern "C" void on_interrupt(int sig) {
  g_interrupted = 1;
  std::signal(sig, SIG_DFL);
}

std::string presets_help() {
  std::string s = "presets (--type, case-insensitive; general.file_type in brackets):\n";
  char line[320];
  for (const QuantPreset& p : quant_presets()) {
    std::snprintf(line, sizeof line, "  %-7s [%2u] %s\n", p.name, p.file_type, p.description);
    s += line;
  }
  return s;
}

std::string shape_text(const std::vector<int64_t>& ne) {
  std::string s;
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? " x " : "") + std::to_string(ne[i]);
  return s;
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// "q5_0 29, f32 11, f16 5, q8_0 3": tensors per output type, most first.
std::string type_counts(const QuantPlan& plan) {
  std::map<std::string, size_t> counts;
  for (const TensorPlan& t : plan.tensors) ++counts[type_name(t.target)];
  std::vector<std::pair<std::string, size_t>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string s;
  for (const auto& [name, n] : v) s += (s.empty() ? "" : ", ") + name + " " + std::to_string(n);
  return s;
}

void print_table(const QuantPlan& plan) {
  size_t w = 4;
  for (const TensorPlan& t : plan.tensors) w = std::max(w, t.name.size());
  std::printf("%-*s  %-14s  %-16s %10s %6s  %s\n", static_cast<int>(w), "name", "shape", "type", "bytes", "bpw", "note");
  for (const TensorPlan& t : plan.tensors) {
    const std::string types = std::string(type_name(t.source)) + " -> " + type_name(t.target);
    const double bpw = 8.0 * static_cast<double>(t.bytes) / static_cast<double>(t.n_elements());
    std::printf("%-*s  %-14s  %-16s %10llu %6.2f  %s\n", static_cast<int>(w), t.name.c_str(), shape_text(t.ne).c_str(),
                types.c_str(), static_cast<unsigned long long>(t.bytes), bpw, t.reason.c_str());
  }
}

void print_totals(const QuantPlan& plan, const char* verb) {
  std::printf("%s %s (general.file_type %u): %zu tensors, %llu weights, %llu bytes (%s), %.3f bits per weight; types: %s\n",
              verb, plan.preset.c_str(), plan.file_type, plan.tensors.size(), static_cast<unsigned long long>(plan.n_elements),
              static_cast<unsigned long long>(plan.file_bytes), mib(plan.file_bytes).c_str(), plan.bits_per_weight(),
              type_counts(plan).c_str());
  const std::string fb = plan.fallback_summary();
  if (!fb.empty()) std::printf("%s\n", fb.c_str());
}

}  // namespace

int run_quantize(int argc, char** argv) {
  CLI::App app{
      "Quantize a model: every matrix gets the type its preset's rules give it (norms and biases stay f32),\n"
      "then --override changes any tensor. A type whose block does not divide a tensor's row length falls\n"
      "back to the nearest type that does (f16 when none) and one summary line says so. All metadata\n"
      "(tokenizer included) is copied; general.file_type and general.quantization_version are set.\n"
      "The input is memory-mapped and the output written one tensor at a time to a temporary name,\n"
      "renamed when complete (Ctrl-C leaves nothing). A safetensors file or Hugging Face folder is first\n"
      "converted to a temporary GGUF next to OUT. Details: docs/quantize.md.\n\n" +
          presets_help() +
          "\nNot built yet (accepted by the parser, rejected with a message): --imatrix, --method gptq|awq,\n"
          "--calib, --budget-bpw, --budget-bytes.\n"
          "\nexamples:\n"
          "  bitdial quantize model-f16.gguf model-q4_k_m.gguf --type Q4_K_M\n"
          "  bitdial quantize model-f16.gguf out.gguf --type q4_0 --override 'blk\\.[0-3]\\.ffn_down\\.weight=q8_0'\n"
          "  bitdial quantize ./Llama-3.2-1B/ llama-q8_0.gguf --type q8_0 --threads 8\n"
          "  bitdial quantize model-f16.gguf out.gguf --type Q3_K_M --dry-run",
      "bitdial quantize"};
  std::string in, out, type, imatrix, method = "rtn", calib;
  std::vector<std::string> overrides;
  bool dry_run = false;
  int threads = 0;
  double budget_bpw = 0.0;
  uint64_t budget_bytes = 0;
  app.add_option("IN", in, "GGUF file, .safetensors file or Hugging Face folder")->required();
  app.add_option("OUT", out, "output GGUF file")->required();
  app.add_option("--type", type, "preset (see the list above)")->required();
  app.add_option("--override", overrides, "REGEX=TYPE: tensors whose whole name matches get TYPE (repeatable; later wins)");
  app.add_flag("--dry-run", dry_run, "print the per-tensor plan, output size and bits per weight; write nothing");
  app.add_option("--threads,-t", threads, "threads (default: all cores); the output bytes do not depend on it");
  app.add_option("--imatrix", imatrix, "importance matrix from `bitdial imatrix` (not built yet)");
  app.add_option("--method", method, "rtn (round to nearest) | gptq | awq (gptq and awq not built yet)");
  app.add_option("--calib", calib, "calibration text for --method gptq|awq (not built yet)");
  app.add_option("--budget-bpw", budget_bpw, "average bits per weight to fit (not built yet)");
  app.add_option("--budget-bytes", budget_bytes, "output bytes to fit (not built yet)");
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  const auto not_built = [](const char* flag) { fail(flag, " is not built yet (this build quantizes with --method rtn only)"); };
  if (!imatrix.empty()) not_built("--imatrix");
  if (method != "rtn") {
    if (method != "gptq" && method != "awq") fail("--method '", method, "' is not rtn, gptq or awq");
    not_built(method == "gptq" ? "--method gptq" : "--method awq");
  }
  if (!calib.empty()) not_built("--calib");
  if (app.count("--budget-bpw") > 0) not_built("--budget-bpw");
  if (app.count("--budget-bytes") > 0) not_built("--budget-bytes");
  if (threads < 0) fail("--threads ", threads, " is negative");

  QuantizeOptions opt;
  opt.recipe.preset = find_quant_preset(type).name;
  for (const std::string& o : overrides) opt.recipe.overrides.push_back(parse_type_override(o));
  opt.threads = threads;
  opt.warn = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };

  if (dry_run) {
    const QuantPlan plan = plan_model_quantization(in, out, opt);
    print_table(plan);
    print_totals(plan, "dry run:");
    return 0;
  }

  std::unique_ptr<Progress> progress;
  opt.progress = [&](uint64_t done, uint64_t total) {
    if (!progress) progress = std::make_unique<Progress>("quantize", static_cast<size_t>(total));
    progress->update(static_cast<size_t>(done));
  };
  g_interrupted = 0;
  opt.cancelled = [] { return g_interrupted != 0; };
  auto old_int = std::signal(SIGINT, on_interrupt);
  auto old_term = std::signal(SIGTERM, on_interrupt);
  const auto restore = [&] {
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
  };
  const auto t0 = std::chrono::steady_clock::now();
  QuantizeResult r;
  try {
    r = quantize_model(in, out, opt);
  } catch (...) {
    restore();
    throw;
  }
  restore();
  if (progress) progress->finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.plan.file_bytes = r.file_bytes;
  print_totals(r.plan, "wrote");
  std::printf("%s: %.2f s\n", out.c_str(), seconds);
  return 0;
}

}  // namespace bitdial::cli
