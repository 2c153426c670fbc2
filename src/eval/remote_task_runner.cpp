#include "eval/remote_task_runner.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "eval/task_match.h"

namespace bitdial {
namespace {

void score_classification(RemoteModel& model, const TaskExample& ex, const TaskHeader& header, ExampleResult& r) {
  const size_t nc = ex.choices.size();
  r.label = ex.label;
  r.choice_logliks.resize(nc);
  r.choice_logliks_norm.resize(nc);
  r.choice_tokens.resize(nc);
  for (size_t i = 0; i < nc; ++i) {
    const std::string& choice = ex.choices[i];
    RemoteModel::ContinuationScore s;
    try {
      // The server tokenizes prompt + prefix + choice as one text and score_continuation keeps the
      // tokens touching the continuation: the same boundary rule as the local runner's common prefix.
      s = model.score_continuation(ex.prompt, header.choice_prefix + choice);
    } catch (const Error& e) {
      fail("choice ", i, " \"", choice, "\": ", e.what());
    }
    r.choice_logliks[i] = s.loglik;
    // Per byte of the choice text, the prefix excluded, as the local runner (lm-eval's acc_norm).
    r.choice_logliks_norm[i] = s.loglik / static_cast<double>(choice.size());
    r.choice_tokens[i] = s.n_tokens;
  }
  decide_classification(r);
}

void score_generation(RemoteModel& model, const TaskExample& ex, ExampleResult& r) {
  const RemoteModel::Generation g = model.generate(ex.prompt, static_cast<int>(ex.max_tokens));
  r.output = g.text;
  // The server's tokens exclude the end-of-generation token the local runner counts: a remote row
  // that stopped early has one token fewer for the same text.
  r.n_generated = static_cast<int64_t>(g.tokens.size());
  double prob_sum = 0;
  for (const double lp : g.token_logprobs) prob_sum += std::exp(lp);
  if (!g.token_logprobs.empty()) {
    r.first_token_prob = std::exp(g.token_logprobs.front());
    r.mean_token_prob = prob_sum / static_cast<double>(g.token_logprobs.size());
  }
  r.correct = generation_matches(ex, r.output);
}

}  // namespace

ExampleResult run_remote_example(RemoteModel& model, const TaskExample& ex, const TaskHeader& header) {
  ExampleResult r;
  r.line = ex.line;
  r.id = ex.id;
  r.tags = ex.tags;
  r.kind = ex.kind;
  try {
    if (ex.kind == TaskKind::classification)
      score_classification(model, ex, header, r);
    else
      score_generation(model, ex, r);
  } catch (const Error& e) {
    return error_row(ex, e.what());
  }
  return r;
}

TaskReport run_remote_task(RemoteModel& model, const TaskFile& file, const std::function<void(size_t, size_t)>& on_progress) {
  model.probe();
  TaskReport report;
  report.task_name = file.header.name;
  const size_t n = file.examples.size();
  report.examples.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    report.examples.push_back(run_remote_example(model, file.examples[i], file.header));
    if (on_progress) on_progress(i + 1, n);
  }
  aggregate(report);
  return report;
}

}  // namespace bitdial
