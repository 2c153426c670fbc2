#include "eval/evaluation.h"

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/progress.h"
#include "eval/base_url.h"
#include "eval/paired.h"
#include "eval/perplexity.h"
#include "eval/remote_model.h"
#include "eval/remote_text.h"
#include "eval/remote_task_runner.h"
#include "eval/statistics.h"
#include "eval/task_file.h"
#include "eval/task_runner.h"
#include "formats/gguf.h"
#include "model/llama_model.h"
#include "model/tokenizer/tokenizer.h"

namespace bitdial {
namespace {

using json = nlohmann::ordered_json;

json proportion_json(const Proportion& p) { return {{"value", p.p}, {"se", p.se}, {"ci95", {p.lo, p.hi}}, {"k", p.k}, {"n", p.n}}; }

// PPL = exp(mean NLL) with the delta-method error exp(m) * se(m), over per-token NLLs (what
// llama-perplexity prints as "PPL = x +/- y", so the figures compare).
json ppl_json(const std::vector<double>& nll) {
  const MeanStats m = mean_stats(nll);
  const double ppl = std::exp(m.mean);
  return {{"value", ppl}, {"se", ppl * m.se}, {"mean_nll", m.mean}};
}

// Means of each chunk's scored NLLs: tokens within a chunk are correlated, so the PPL ratio's error
// comes from chunk means when there are at least two chunks (per-token otherwise, and said so).
std::vector<double> chunk_means(const std::vector<double>& v, int64_t per_chunk) {
  std::vector<double> out;
  for (size_t i = 0; i + static_cast<size_t>(per_chunk) <= v.size(); i += static_cast<size_t>(per_chunk)) {
    double s = 0;
    for (int64_t j = 0; j < per_chunk; ++j) s += v[i + static_cast<size_t>(j)];
    out.push_back(s / static_cast<double>(per_chunk));
  }
  return out;
}

json text_json(const std::string& file, const TextEvalResult& r) {
  const PositionScores& s = r.scores;
  json j = {{"file", file},
            {"tokens", r.n_tokens},
            {"ctx", r.n_ctx},
            {"chunks", r.plan.n_chunks},
            {"scored_positions", static_cast<int64_t>(s.size())},
            {"ppl", ppl_json(s.nll_cand)}};
  if (r.has_base) {
    j["baseline_ppl"] = ppl_json(s.nll_base);
    const bool per_chunk = r.plan.n_chunks >= 2;
    const PairedRatio ratio = per_chunk ? ppl_ratio(chunk_means(s.nll_base, r.plan.scored_per_chunk),
                                                    chunk_means(s.nll_cand, r.plan.scored_per_chunk))
                                        : ppl_ratio(s.nll_base, s.nll_cand);
    j["ppl_ratio"] = {{"value", ratio.ratio}, {"se", ratio.se}, {"se_from", per_chunk ? "chunk means" : "tokens"}};
    const Distribution kl = summarize(s.kld);
    j["kld"] = {{"mean", kl.mean}, {"se", kl.se},   {"median", kl.median}, {"p90", kl.p90},
                {"p95", kl.p95},   {"p99", kl.p99}, {"p99_9", kl.p999},    {"max", kl.max}};
    // With an endpoint the KL is that of top-K buckets + tail: a lower bound (eval/kld_bound.h).
    j["kld_lower_bound"] = r.kld_lower_bound;
    if (r.kld_lower_bound) {
      j["kld_top_k"] = r.kld_top_k;
      j["kld_known_mass"] = r.kld_known_mass;
      j["unmapped_top_tokens"] = r.unmapped_top_tokens;
    }
    int64_t same = 0;
    for (const uint8_t v : s.same_top1) same += v;
    j["same_top1"] = proportion_json(proportion(same, static_cast<int64_t>(s.size())));
    double ss = 0;
    for (const double d : s.dp) ss += d * d;
    j["rms_dp"] = std::sqrt(ss / static_cast<double>(s.dp.size()));
  }
  j["seconds"] = r.seconds;
  j["tokens_per_second"] = r.tokens_per_second;
  return j;
}

json slice_json(const SliceStats& s) {
  json j = {{"tag", s.tag}, {"n", s.n}, {"errors", s.n_errors}, {"scored", s.n_scored()}};
  // A slice none of whose examples could be scored (every prompt longer than the context) has no
  // accuracy: the key is left out rather than a 0 / 0.
  if (s.n_scored() == 0) return j;
  j["accuracy"] = proportion_json(proportion(s.n_correct, s.n_scored()));
  if (s.n_classification > 0) j["accuracy_norm"] = proportion_json(proportion(s.n_correct_norm, s.n_scored()));
  return j;
}

json report_json(const TaskReport& r) {
  json slices = json::array();
  for (const SliceStats& s : r.slices) slices.push_back(slice_json(s));
  return {{"overall", slice_json(r.overall)}, {"slices", slices}};
}

json paired_slice_json(const PairedSlice& p) {
  return {{"tag", p.tag},
          {"n", p.n},
          {"errors", p.n_errors},
          {"agreement", proportion_json(p.agreement)},
          {"accuracy_baseline", p.accuracy_base},
          {"accuracy_candidate", p.accuracy_cand},
          {"accuracy_delta", {{"value", p.delta.delta}, {"ci95", {p.delta.lo, p.delta.hi}}, {"resamples", p.delta.resamples}, {"seed", p.delta.seed}}},
          {"mcnemar", {{"b_base_right_cand_wrong", p.base_right_cand_wrong}, {"c_base_wrong_cand_right", p.base_wrong_cand_right}, {"p_value", p.mcnemar_p}}},
          {"flipped_to_wrong", p.flipped_to_wrong},
          {"flipped_to_right", p.flipped_to_right}};
}

json example_json(const ExampleResult& e) {
  if (!e.ok()) return {{"error", e.error}};
  json j;
  if (e.kind == TaskKind::classification) {
    j = {{"predicted", e.predicted},          {"predicted_norm", e.predicted_norm}, {"label", e.label},
         {"correct", e.correct},              {"correct_norm", e.correct_norm},     {"confidence", e.confidence},
         {"margin", e.margin},                {"choice_logliks", e.choice_logliks}, {"choice_logliks_norm", e.choice_logliks_norm},
         {"choice_tokens", e.choice_tokens}};
  } else {
    j = {{"output", e.output}, {"correct", e.correct}, {"tokens", e.n_generated}, {"first_token_prob", e.first_token_prob},
         {"mean_token_prob", e.mean_token_prob}};
  }
  return j;
}

// One side of the comparison: a loaded GGUF file or a probed endpoint.
struct Subject {
  std::string label;  // the summary's "model" / "baseline"
  std::unique_ptr<LlamaModel> local;
  std::unique_ptr<RemoteModel> remote;
};

// Loads a GGUF file, or validates an endpoint's address (probe_subject() sends the first request).
Subject open_subject(const std::string& spec, const std::string& name, const std::string& key_env) {
  Subject s;
  if (!is_http_url(spec)) {
    s.local = std::make_unique<LlamaModel>(LlamaModel::load(spec));
    s.label = spec;
    return s;
  }
  if (name.empty()) fail(spec, ": a remote model needs --model-name (the name the server knows it by)");
  s.remote = std::make_unique<RemoteModel>(RemoteModel::connect(spec, name, key_env));
  s.label = s.remote->describe();
  return s;
}

// Fails now, in one line, when an endpoint is down or lacks what the run needs, not after local work:
// text scoring for tasks, token-id prompts with top-K log-probs for texts.
void probe_subject(Subject& s, bool tasks, const Tokenizer* tok, int top_k) {
  if (!s.remote) return;
  if (tasks) s.remote->probe();
  if (tok == nullptr) return;
  std::vector<int32_t> ids = tok->encode("Once upon a time", /*add_bos=*/true);
  if (ids.size() < 2) ids = {0, 0};
  try {
    s.remote->score_tokens(ids, top_k);
  } catch (const Error& e) {
    // A 400/422 here is most often a K above the server's cap; other failures speak for themselves.
    if (std::string(e.what()).find(": HTTP 4") == std::string::npos) throw;
    fail(e.what(), " (probing a token-id prompt with \"logprobs\": ", top_k,
         "; servers cap it: OpenAI 5, vLLM 20 unless --max-logprobs; see --logprobs)");
  }
}

TaskReport run_task(Subject& model, const TaskFile& tf, const EvalOptions& o, const std::string& who) {
  std::optional<Progress> bar;
  if (o.progress != nullptr) bar.emplace(tf.header.name + " (" + who + ")", tf.examples.size(), o.progress);
  auto update = [&](size_t done, size_t) {
    if (bar) bar->update(done);
  };
  TaskReport r;
  if (model.remote) {
    r = run_remote_task(*model.remote, tf, update);
  } else {
    TaskRunner runner(*model.local, {.kv_type = o.kv_type});
    r = runner.run(tf, update);
  }
  if (bar) bar->finish();
  return r;
}

}  // namespace

EvalOutput run_evaluation(const EvalOptions& o) {
  if (o.texts.empty() && o.tasks.empty()) fail("nothing to evaluate: give --text FILE and/or --task FILE.jsonl");
  if (o.n_ctx < 3) fail("--ctx ", o.n_ctx, " is too small (at least 3)");
  if (o.resamples < 1) fail("--resamples ", o.resamples, " must be at least 1");
  const bool remote_cand = is_http_url(o.model), remote_base = !o.baseline.empty() && is_http_url(o.baseline);
  const bool any_local = !remote_cand || (!o.baseline.empty() && !remote_base);
  const bool remote_texts = (remote_cand || remote_base) && !o.texts.empty();
  if (remote_texts && !any_local && o.tokenizer.empty())
    fail("--text with no local GGUF model needs --tokenizer GGUF: token ids are sent to the endpoint, so a file "
         "with the served model's tokenizer must make them");
  if (!o.tokenizer.empty() && (!remote_texts || any_local))
    fail("--tokenizer applies only to --text when every model is a remote endpoint (otherwise the local model's "
         "tokenizer is used)");
  if (o.top_logprobs < 1) fail("--logprobs ", o.top_logprobs, " must be at least 1");
  if (!remote_cand && !remote_base &&
      !(o.model_name.empty() && o.baseline_name.empty() && o.api_key_env.empty() && o.baseline_api_key_env.empty()))
    fail("--model-name, --baseline-name and the API key options apply to remote endpoints (http:// or https://) only");
  // Everything that can be checked is checked before the first forward pass.
  std::vector<TaskFile> task_files;
  for (const std::string& path : o.tasks) task_files.push_back(read_task_file(path));
  std::vector<std::string> text_contents;
  for (const std::string& path : o.texts) text_contents.push_back(read_file(path));
  Subject cand = open_subject(o.model, o.model_name, o.api_key_env);
  std::optional<Subject> base;
  if (!o.baseline.empty()) {
    base = open_subject(o.baseline, o.baseline_name.empty() ? o.model_name : o.baseline_name,
                        o.baseline_api_key_env.empty() ? o.api_key_env : o.baseline_api_key_env);
    // The paired text figures compare distributions over one vocabulary; with an endpoint the token ids
    // sent are checked against its echo instead (evaluate_text_remote).
    if (cand.local && base->local) check_same_vocabulary(*cand.local, *base->local);
  }
  // Texts are tokenized by the local model of the pair (the candidate's first), else by --tokenizer.
  std::optional<Tokenizer> tok;
  if (!o.texts.empty()) {
    if (cand.local) tok.emplace(Tokenizer::from_gguf(cand.local->file()));
    else if (base && base->local) tok.emplace(Tokenizer::from_gguf(base->local->file()));
    else tok.emplace(Tokenizer::from_gguf(GgufFile::open(o.tokenizer)));
  }
  probe_subject(cand, !task_files.empty(), tok ? &*tok : nullptr, o.top_logprobs);
  if (base) probe_subject(*base, !task_files.empty(), tok ? &*tok : nullptr, o.top_logprobs);

  EvalOutput out;
  json& s = out.summary;
  s["model"] = cand.label;
  s["baseline"] = base ? json(base->label) : json(nullptr);
  s["ctx"] = o.n_ctx;
  s["kv_type"] = o.kv_type == KvType::f16 ? "f16" : "f32";
  s["bootstrap"] = {{"resamples", o.resamples}, {"seed", o.seed}};
  s["texts"] = json::array();
  for (size_t i = 0; i < o.texts.size(); ++i) {
    const std::vector<int32_t> tokens = tokenize_for_perplexity(*tok, text_contents[i]);
    if (!cand.remote && !(base && base->remote)) {
      TextEvalOptions to;
      to.n_ctx = o.n_ctx;
      to.bos = chunk_start_token(*tok);
      to.kv_type = o.kv_type;
      to.source = o.texts[i];
      to.progress = o.progress;
      s["texts"].push_back(text_json(o.texts[i], evaluate_text(*cand.local, base ? base->local.get() : nullptr, tokens, to)));
      continue;
    }
    RemoteTextOptions ro;
    ro.n_ctx = o.n_ctx;
    ro.bos = chunk_start_token(*tok);
    ro.top_k = o.top_logprobs;
    ro.kv_type = o.kv_type;
    ro.source = o.texts[i];
    ro.progress = o.progress;
    const TextSide cs{cand.local.get(), cand.remote.get()};
    std::optional<TextSide> bs;
    if (base) bs = TextSide{base->local.get(), base->remote.get()};
    s["texts"].push_back(text_json(o.texts[i], evaluate_text_remote(cs, bs ? &*bs : nullptr, *tok, tokens, ro)));
  }
  s["tasks"] = json::array();
  for (const TaskFile& tf : task_files) {
    const TaskReport rc = run_task(cand, tf, o, "candidate");
    json t = {{"file", tf.path}, {"name", tf.header.name}, {"examples", static_cast<int64_t>(tf.examples.size())},
              {"candidate", report_json(rc)}};
    std::optional<TaskReport> rb;
    if (base) {
      rb = run_task(*base, tf, o, "baseline");
      t["baseline"] = report_json(*rb);
      const PairedReport pr = compare_paired(*rb, rc, o.resamples, o.seed);
      json slices = json::array();
      for (const PairedSlice& p : pr.slices) slices.push_back(paired_slice_json(p));
      t["paired"] = {{"overall", paired_slice_json(pr.overall)}, {"slices", slices}};
    }
    std::vector<json> rows;
    for (size_t i = 0; i < rc.examples.size(); ++i) {
      const ExampleResult& e = rc.examples[i];
      json row = {{"task", tf.header.name}, {"id", e.id}, {"line", e.line}, {"tags", e.tags},
                  {"kind", task_kind_name(e.kind)}, {"candidate", example_json(e)}};
      if (rb) row["baseline"] = example_json(rb->examples[i]);
      rows.push_back(std::move(row));
    }
    out.examples.push_back(std::move(rows));
    s["tasks"].push_back(std::move(t));
  }
  return out;
}

}  // namespace bitdial
