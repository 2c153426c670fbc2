// bitdial quantize IN OUT --type T [--override RE=T]... [--imatrix F] [--method rtn|gptq|awq] [--calib F]
//                  [--budget-bpw B | --budget-bytes N] [--dry-run] [--threads N]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "quant/quantize_job.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"

namespace bitdial::cli {
namespace {

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

std::vector<TensorType> parse_type_list(const std::string& list) {
  std::vector<TensorType> types;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, comma - start);
    const std::optional<TensorType> t = type_from_name(name);
    if (!t) fail("--budget-types: '", name, "' is not a tensor type");
    types.push_back(*t);
    start = comma + 1;
  }
  return types;
}

// The solver's table: per group, each candidate's bytes and measured damage, the chosen one marked.
void print_budget(const BudgetReport& b) {
  std::printf("budget: %llu bytes for the matrices; damage = mean KL divergence from the input model over %lld calibration positions%s\n",
              static_cast<unsigned long long>(b.tensor_budget), static_cast<long long>(b.positions),
              b.table_reused ? " (table reused from --budget-table)" : "");
  size_t w = 5;
  for (const BudgetGroup& g : b.table) w = std::max(w, g.name.size());
  for (size_t gi = 0; gi < b.table.size(); ++gi) {
    const BudgetGroup& g = b.table[gi];
    const BudgetOption& c = g.options[b.allocation.choice[gi]];
    std::printf("  %-*s  %-6s %9llu B  %.6f   |", static_cast<int>(w), g.name.c_str(), type_name(c.type),
                static_cast<unsigned long long>(c.bytes), c.damage);
    for (const BudgetOption& o : g.options) std::printf(" %s %.2e", type_name(o.type), o.damage);
    std::printf("\n");
  }
  std::printf("budget: predicted damage %.6f (sum of the chosen rows)", b.predicted);
  if (b.measured) std::printf(", measured %.6f (the written file on the same text)", *b.measured);
  std::printf("\n");
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
          "\nImportance and methods: --imatrix weights each column's rounding error by E[x^2] (bitdial imatrix);\n"
          "--method gptq rounds column by column and spreads the error onto the columns left (Hessian from\n"
          "--calib text); --method awq rescales input channels (folded into the norms) and clips weights.\n"
          "Budgets: --budget-bpw B or --budget-bytes N measure every matrix's damage (mean KL on --calib text)\n"
          "in every candidate type, choose the per-tensor types that minimise the summed damage within the\n"
          "budget, print the allocation, and measure the written file's damage against the prediction.\n"
          "\nexamples:\n"
          "  bitdial quantize model-f16.gguf model-q4_k_m.gguf --type Q4_K_M\n"
          "  bitdial quantize model-f16.gguf out.gguf --type q4_0 --override 'blk\\.[0-3]\\.ffn_down\\.weight=q8_0'\n"
          "  bitdial quantize ./Llama-3.2-1B/ llama-q8_0.gguf --type q8_0 --threads 8\n"
          "  bitdial quantize model-f16.gguf out.gguf --type Q3_K_M --dry-run\n"
          "  bitdial quantize model-f16.gguf out.gguf --type q4_0 --method gptq --calib wiki.txt\n"
          "  bitdial quantize model-f16.gguf out.gguf --type Q4_K_M --imatrix im.gguf --budget-bpw 4.5 --calib wiki.txt",
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
  QuantizeJob job;
  std::string budget_types, budget_group;
  app.add_option("--imatrix", imatrix, "importance matrix from `bitdial imatrix` (weights each column's rounding error)");
  app.add_option("--min-tokens", job.min_imatrix_tokens, "imatrix entries with fewer tokens are used unweighted, with a warning")
      ->capture_default_str();
  app.add_option("--method", method, "rtn (round to nearest) | gptq | awq");
  app.add_option("--calib", calib, "calibration text (gptq, awq, budgets)");
  app.add_option("--ctx", job.calib_ctx, "calibration context: tokens per chunk")->capture_default_str();
  app.add_option("--calib-chunks", job.calib_chunks, "use only the first N calibration chunks (0: all)")->capture_default_str();
  app.add_flag("--act-order", job.gptq.act_order, "gptq: visit columns by decreasing Hessian diagonal");
  app.add_option("--damp", job.gptq.percdamp, "gptq: dampening as a fraction of the mean Hessian diagonal")->capture_default_str();
  std::string gptq_pass;
  app.add_option("--gptq-pass", gptq_pass,
                 "layer: Hessians layer by layer from the partly quantized model (n_layer calibration passes); once: one "
                 "pass over the unquantized model (default: layer up to 200M weights, else once)");
  app.add_option("--budget-bpw", budget_bpw, "fit this many bits per weight on average (tensor data / weights)");
  app.add_option("--budget-bytes", budget_bytes, "fit this output file size in bytes");
  app.add_option("--budget-types", budget_types, "comma-separated candidate types for the solver (default: q2_K..q8_0, f16)");
  app.add_option("--budget-group", budget_group, "tensor | kind: solve per matrix or per kind across layers (default: tensor up to 64 matrices)");
  app.add_option("--budget-chunks", job.budget_chunks, "calibration chunks the damage table is measured on")->capture_default_str();
  app.add_option("--budget-table", job.budget_table_path,
                 "JSON file for the measured damage table: reused when model, text, imatrix and candidates match, else written");
  CLI11_PARSE_OR_RETURN(app, argc, argv);

  if (threads < 0) fail("--threads ", threads, " is negative");
  QuantizeOptions& opt = job.write;
  opt.recipe.preset = find_quant_preset(type).name;
  for (const std::string& o : overrides) opt.recipe.overrides.push_back(parse_type_override(o));
  opt.threads = threads;
  job.gptq.n_threads = threads;
  opt.warn = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  job.in = in;
  job.out = out;
  job.imatrix_path = imatrix;
  job.method = parse_quant_method(method);
  job.calib_path = calib;
  if (app.count("--budget-bpw") > 0) job.budget_bpw = budget_bpw;
  if (app.count("--budget-bytes") > 0) job.budget_bytes = budget_bytes;
  if (!gptq_pass.empty()) {
    if (gptq_pass != "layer" && gptq_pass != "once") fail("--gptq-pass '", gptq_pass, "' is not layer or once");
    job.gptq_sequential = gptq_pass == "layer";
  }
  if (!budget_types.empty()) job.budget_candidates = parse_type_list(budget_types);
  if (!budget_group.empty()) {
    if (budget_group != "tensor" && budget_group != "kind") fail("--budget-group '", budget_group, "' is not tensor or kind");
    job.budget_grouping = budget_group == "tensor" ? BudgetGrouping::tensor : BudgetGrouping::kind;
  }
  if (!calib.empty() && job.method == QuantMethod::rtn && !job.budget_bpw && !job.budget_bytes)
    fail("--calib is only used by --method gptq|awq and budgets; with round to nearest use --imatrix");

  if (dry_run) {
    job.dry_run = true;
    const QuantizeJobResult r = run_quantize_job(job);
    print_table(r.plan);
    if (r.budget) print_budget(*r.budget);
    print_totals(r.plan, "dry run:");
    return 0;
  }

  std::unique_ptr<Progress> progress;
  opt.progress = [&](uint64_t done, uint64_t total) {
    if (!progress) progress = std::make_unique<Progress>("quantize", static_cast<size_t>(total));
    progress->update(static_cast<size_t>(done));
  };
  // First Ctrl-C: the writer stops at the next tensor and deletes its temporary file.
  opt.cancelled = [] { return InterruptGuard::raised(); };
  const auto t0 = std::chrono::steady_clock::now();
  QuantizeJobResult r;
  {
    const InterruptGuard guard;
    r = run_quantize_job(job);
  }
  if (progress) progress->finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!r.method_summary.empty()) std::printf("%s\n", r.method_summary.c_str());
  if (r.budget) print_budget(*r.budget);
  print_totals(r.plan, "wrote");
  std::printf("%s: %.2f s\n", out.c_str(), seconds);
  return 0;
}

}  // namespace bitdial::cli
