#include "quant/quantize_job.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <regex>

#include "core/error.h"
#include "blocks/traits.h"
#include "core/progress.h"
#include "model/llama_model.h"
#include "quant/budget_table.h"
#include "quant/calibration.h"
#include "quant/imatrix.h"

namespace bitdial {
namespace {

const char* method_name(QuantMethod m) {
  switch (m) {
    case QuantMethod::rtn: return "rtn";
    case QuantMethod::gptq: return "gptq";
    case QuantMethod::awq: return "awq";
  }
  return "?";
}

// Matrices the solver may retype: 2-D tensors the model multiplies by, minus those a user override fixes.
std::vector<std::string> adjustable_tensors(const QuantPlan& plan, const LlamaModel& model, const QuantRecipe& recipe) {
  std::vector<std::regex> fixed;
  for (const TypeOverride& o : recipe.overrides) fixed.emplace_back(o.pattern, std::regex::ECMAScript);
  std::vector<std::string> names;
  for (const TensorPlan& t : plan.tensors) {
    if (t.ne.size() != 2 || model.weight(t.name) == nullptr) continue;
    bool overridden = false;
    for (const std::regex& re : fixed) overridden = overridden || std::regex_match(t.name, re);
    if (!overridden) names.push_back(t.name);
  }
  return names;
}

// Solves the budget, writes the chosen types into recipe.exact and re-plans until the planned file fits
// (alignment padding can add a few bytes the solver does not see).
BudgetReport solve_and_plan(const QuantizeJob& job, const GgufFile& file, LlamaModel& work, const KlReference& ref,
                            QuantizeOptions& opt, QuantPlan& plan) {
  const LlamaModel& model = work;
  const std::vector<std::string> names = adjustable_tensors(plan, model, opt.recipe);
  if (names.empty()) fail("budget: no matrix is left for the solver to choose a type for (all fixed by --override)");
  uint64_t fixed = 0;
  for (const TensorPlan& t : plan.tensors)
    if (std::find(names.begin(), names.end(), t.name) == names.end()) fixed += t.bytes;
  const uint64_t overhead = plan.file_bytes - plan.tensor_bytes;

  // Bytes the adjustable matrices may take in total.
  int64_t tensor_budget = 0;
  std::string what;
  if (job.budget_bpw) {
    if (!(*job.budget_bpw > 0)) fail("--budget-bpw ", *job.budget_bpw, " is not a positive number of bits");
    tensor_budget = static_cast<int64_t>(std::floor(*job.budget_bpw * static_cast<double>(plan.n_elements) / 8.0)) -
                    static_cast<int64_t>(fixed);
    what = concat("--budget-bpw ", *job.budget_bpw);
  } else {
    tensor_budget = static_cast<int64_t>(*job.budget_bytes) - static_cast<int64_t>(overhead + fixed);
    what = concat("--budget-bytes ", *job.budget_bytes);
  }
  if (tensor_budget <= 0)
    fail(what, " leaves no room for the matrices: the file's metadata and fixed tensors already take ", overhead + fixed, " bytes");

  // The smallest size every adjustable matrix can take, checked before the (long) measurement.
  uint64_t smallest = 0;
  for (const std::string& n : names) {
    const WeightView* w = model.weight(n);
    uint64_t best = UINT64_MAX;
    for (const TensorType t : job.budget_candidates)
      if (type_traits(t).quantize_row != nullptr && w->cols % type_info(t).block_size == 0)
        best = std::min<uint64_t>(best, static_cast<uint64_t>(w->rows) * row_bytes(t, w->cols));
    if (best == UINT64_MAX) fail("budget: none of the candidate types can hold '", n, "' (rows of ", w->cols, " values)");
    smallest += best;
  }
  if (smallest > static_cast<uint64_t>(tensor_budget))
    fail(what, " is below the smallest possible size: the matrices need at least ", smallest, " bytes in the candidate types, ",
         tensor_budget, " are left after metadata and fixed tensors (", overhead + fixed, " bytes)");

  BudgetReport rep;
  SensitivityOptions so;
  so.candidates = job.budget_candidates;
  so.grouping = job.budget_grouping.value_or(names.size() <= 64 ? BudgetGrouping::tensor : BudgetGrouping::kind);
  so.importance = &opt.importance;
  std::unique_ptr<Progress> bar;
  if (job.log != nullptr)
    so.progress = [&](size_t done, size_t total) {
      if (!bar) bar = std::make_unique<Progress>("budget: measure", total, job.log);
      bar->update(done);
    };
  std::string cands;
  for (const TensorType t : so.candidates) cands += (cands.empty() ? "" : ",") + std::string(type_name(t));
  const BudgetTableKey key{file_identity(job.in), file_identity(job.calib_path), job.calib_ctx, ref.n_chunks(),
                           file_identity(job.imatrix_path), so.grouping == BudgetGrouping::tensor ? "tensor" : "kind",
                           cands, ref.n_positions()};
  std::optional<std::vector<BudgetGroup>> cached;
  if (!job.budget_table_path.empty()) cached = load_budget_table(job.budget_table_path, key);
  if (cached) {
    rep.table = std::move(*cached);
    rep.table_reused = true;
  } else {
    rep.table = measure_sensitivity(work, ref, names, so);
    if (bar) bar->finish();
    if (!job.budget_table_path.empty()) save_budget_table(job.budget_table_path, key, rep.table);
  }
  rep.positions = ref.n_positions();

  const QuantRecipe base_recipe = opt.recipe;
  for (int attempt = 0; attempt < 8; ++attempt) {
    try {
      rep.allocation = solve_budget(rep.table, static_cast<uint64_t>(tensor_budget));
    } catch (const Error& e) {
      fail(what, ": ", e.what());
    }
    opt.recipe = base_recipe;
    for (size_t g = 0; g < rep.table.size(); ++g)
      for (const std::string& t : rep.table[g].tensors) opt.recipe.exact[t] = rep.table[g].options[rep.allocation.choice[g]].type;
    plan = plan_model_quantization(file, opt.recipe);
    const bool fits = job.budget_bpw ? plan.bits_per_weight() <= *job.budget_bpw : plan.file_bytes <= *job.budget_bytes;
    if (fits) break;
    // Padding or rounding pushed it over: tighten by the excess (at least one block) and solve again.
    const uint64_t excess = job.budget_bpw
                                ? static_cast<uint64_t>(std::ceil((plan.bits_per_weight() - *job.budget_bpw) *
                                                                  static_cast<double>(plan.n_elements) / 8.0))
                                : plan.file_bytes - *job.budget_bytes;
    tensor_budget -= static_cast<int64_t>(std::max<uint64_t>(excess, 32));
    if (tensor_budget <= 0 || attempt == 7) fail(what, ": no allocation fits once alignment padding is counted");
  }
  rep.tensor_budget = static_cast<uint64_t>(tensor_budget);
  rep.predicted = rep.allocation.damage;
  return rep;
}

}  // namespace

QuantMethod parse_quant_method(const std::string& name) {
  if (name == "rtn") return QuantMethod::rtn;
  if (name == "gptq") return QuantMethod::gptq;
  if (name == "awq") return QuantMethod::awq;
  fail("--method '", name, "' is not rtn, gptq or awq");
}

std::vector<TensorType> default_budget_candidates() {
  using T = TensorType;
  return {T::Q2_K, T::Q3_K, T::IQ4_NL, T::IQ4_XS, T::Q4_0, T::Q4_1, T::Q4_K, T::Q5_0,
          T::Q5_1, T::Q5_K, T::Q6_K, T::Q8_0, T::F16};
}

QuantizeJobResult run_quantize_job(const QuantizeJob& job) {
  QuantizeJobResult r;
  QuantizeOptions opt = job.write;
  const auto warn = [&](const std::string& line) {
    r.warnings.push_back(line);
    if (opt.warn) opt.warn(line);
  };
  const bool budget = job.budget_bpw.has_value() || job.budget_bytes.has_value();
  if (job.budget_bpw && job.budget_bytes) fail("give --budget-bpw or --budget-bytes, not both");
  const bool needs_calib = budget || job.method != QuantMethod::rtn;
  if (needs_calib && job.calib_path.empty())
    fail(budget ? "a size budget" : concat("--method ", method_name(job.method)), " needs calibration text: --calib FILE");

  const GgufInput input(job.in, job.out, opt);
  std::unique_ptr<LlamaModel> model;
  if (needs_calib || !job.imatrix_path.empty()) model = std::make_unique<LlamaModel>(LlamaModel::load(input.file().path()));

  if (!job.imatrix_path.empty()) {
    const Imatrix im = Imatrix::load(job.imatrix_path);
    check_imatrix_for_model(im, *model, job.imatrix_path);
    for (const std::string& p : imatrix_coverage_problems(im, *model, job.min_imatrix_tokens))
      warn(concat("warning: ", job.imatrix_path, ": ", p, " (quantized without importance weights)"));
    for (const auto& [name, e] : im.entries)
      if (e.n_tokens >= job.min_imatrix_tokens) opt.importance[name] = e.mean_sq();
  }

  QuantPlan plan = plan_model_quantization(input.file(), opt.recipe);
  CalibrationSet calib;
  if (needs_calib) calib = load_calibration(*model, job.calib_path, job.calib_ctx, job.calib_chunks);

  std::unique_ptr<CalibrationSet> budget_calib;
  std::unique_ptr<KlReference> reference;
  if (budget) {
    budget_calib = std::make_unique<CalibrationSet>(calib);
    if (job.budget_chunks > 0 && static_cast<int64_t>(budget_calib->chunks.size()) > job.budget_chunks)
      budget_calib->chunks.resize(static_cast<size_t>(job.budget_chunks));
    reference = std::make_unique<KlReference>(*model, *budget_calib);
    LlamaModel work = LlamaModel::load(input.file().path());
    r.budget = solve_and_plan(job, input.file(), work, *reference, opt, plan);
  }

  MethodResult method;
  if (job.method != QuantMethod::rtn) {
    std::map<std::string, TensorType> types;
    for (const TensorPlan& t : plan.tensors)
      if (t.ne.size() == 2) types[t.name] = t.target;
    if (job.method == QuantMethod::gptq) {
      GptqOptions g = job.gptq;
      g.progress = job.log;
      g.sequential = job.gptq_sequential.value_or(plan.n_elements <= QuantizeJob::kGptqSequentialMaxWeights);
      method = run_gptq(*model, calib, types, g);
      r.method_summary = concat("gptq: ", method.encoded.size(), " matrices rounded with error feedback on ", calib.n_tokens(),
                                " calibration tokens, Hessians ", g.sequential ? "layer by layer" : "from one pass",
                                " (others: round to nearest)");
    } else {
      AwqOptions a = job.awq;
      a.progress = job.log;
      method = run_awq(*model, calib, types, a);
      // AWQ searched its scales against the plain encoding; importance weights would change what is written.
      for (const auto& [name, values] : method.floats) opt.importance.erase(name);
      r.method_summary = concat("awq: ", method.floats.size(), " tensors rescaled or folded on ", calib.n_tokens(),
                                " calibration tokens");
    }
    opt.method = &method;
  }

  r.plan = plan;
  if (job.dry_run) return r;
  const QuantizeResult w = write_quantized_model(input.file(), plan, job.out, opt);
  r.file_bytes = w.file_bytes;
  r.plan.file_bytes = w.file_bytes;
  if (r.budget) {
    const LlamaModel written = LlamaModel::load(job.out);
    r.budget->measured = reference->mean_kl(written);
  }
  return r;
}

}  // namespace bitdial
