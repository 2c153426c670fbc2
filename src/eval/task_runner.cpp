#include "eval/task_runner.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <string_view>

#include <omp.h>

#include "core/error.h"
#include "model/sampler.h"

namespace bitdial {
namespace {

// row (n_vocab) -> log softmax(row)[id], accumulated in double so a long continuation's sum does not
// depend on float rounding order beyond the logits themselves.
double log_prob(const float* row, int64_t n_vocab, int32_t id) {
  double mx = row[0];
  for (int64_t i = 1; i < n_vocab; ++i) mx = std::max(mx, static_cast<double>(row[i]));
  double sum = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - mx);
  return static_cast<double>(row[id]) - mx - std::log(sum);
}

// Index of the largest value, the first one on ties (so predictions are reproducible).
int64_t argmax_of(const std::vector<double>& v) {
  int64_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
  return best;
}

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r\n\f\v");
  return s.substr(b, e - b + 1);
}

bool output_matches(const TaskExample& ex, const std::string& output) {
  switch (ex.match) {
    case MatchKind::exact: return trim(output) == trim(ex.target);
    case MatchKind::contains: return output.find(ex.target) != std::string::npos;
    case MatchKind::regex: return ex.regex.search(output);
  }
  return false;
}

void count(SliceStats& s, const ExampleResult& r) {
  ++s.n;
  if (!r.ok()) {
    ++s.n_errors;
    return;
  }
  if (r.kind == TaskKind::classification) {
    ++s.n_classification;
    s.n_classification_correct += r.correct;
    s.n_classification_correct_norm += r.correct_norm;
    s.n_correct += r.correct;
    s.n_correct_norm += r.correct_norm;
  } else {
    ++s.n_generation;
    s.n_generation_correct += r.correct;
    s.n_correct += r.correct;
    s.n_correct_norm += r.correct;  // generation has no length-normalised variant
  }
}

double ratio(int64_t a, int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

}  // namespace

double SliceStats::accuracy() const { return ratio(n_correct, n_scored()); }
double SliceStats::accuracy_norm() const { return ratio(n_correct_norm, n_scored()); }

void aggregate(TaskReport& report) {
  report.overall = SliceStats{};
  std::map<std::string, SliceStats> by_tag;
  for (const ExampleResult& r : report.examples) {
    count(report.overall, r);
    // A tag listed twice on one example still counts the example once in that slice.
    std::vector<std::string> tags = r.tags;
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    for (const std::string& t : tags) {
      SliceStats& s = by_tag[t];
      s.tag = t;
      count(s, r);
    }
  }
  report.slices.clear();
  for (auto& [tag, s] : by_tag) report.slices.push_back(std::move(s));
}

// Tokenization boundary. Encoding the prompt and the choice separately and concatenating the ids
// would score token sequences the model never saw in training (SentencePiece prefixes a space to
// each encode; BPE merges across the boundary differently). So we encode the whole text
// prompt+choice_prefix+choice once, as lm-evaluation-harness does, and split it where it stops
// agreeing with the encoding of the prompt alone: the tokens after the longest common prefix are
// the continuation. lm-eval instead cuts at the prompt's token count, which mis-splits when the last
// prompt token merges with the start of the choice (a prompt ending in a space); here the merged
// token goes to the continuation, so the context never holds a token that spells part of the
// choice. The cost: in that case the choice's score also covers the last few prompt characters.
ChoiceTokens split_choice_tokens(const std::vector<int32_t>& prompt_tokens, const std::vector<int32_t>& full_tokens) {
  size_t k = 0;
  while (k < prompt_tokens.size() && k < full_tokens.size() && prompt_tokens[k] == full_tokens[k]) ++k;
  ChoiceTokens ct;
  ct.context.assign(full_tokens.begin(), full_tokens.begin() + static_cast<std::ptrdiff_t>(k));
  ct.continuation.assign(full_tokens.begin() + static_cast<std::ptrdiff_t>(k), full_tokens.end());
  return ct;
}

TaskRunner::TaskRunner(const LlamaModel& model, TaskRunOptions options)
    : model_(model), options_(options), tokenizer_(Tokenizer::from_gguf(model.file())) {
  sessions_.push_back(std::make_unique<Session>(model, SessionOptions{.kv_type = options.kv_type, .n_ctx = options.n_ctx}));
}

double TaskRunner::continuation_loglik(const std::vector<int32_t>& context, const std::vector<int32_t>& continuation) {
  return continuation_loglik_in(*sessions_[0], context, continuation);
}

double TaskRunner::continuation_loglik_in(Session& session, const std::vector<int32_t>& context,
                                          const std::vector<int32_t>& continuation) const {
  if (context.empty()) fail("no context token to predict the choice from (the tokenizer adds no BOS and the prompt is empty)");
  if (continuation.empty()) fail("the choice adds no token after the prompt");
  std::vector<int32_t> seq = context;
  seq.insert(seq.end(), continuation.begin(), continuation.end());
  const int64_t n = static_cast<int64_t>(seq.size());
  if (n > session.n_ctx())
    fail("prompt and choice take ", n, " tokens; the context holds ", session.n_ctx());
  session.reset();
  const std::vector<float> logits = session.eval(seq, true);  // (n, n_vocab)
  const int64_t n_vocab = model_.hparams().n_vocab;
  const int64_t k = static_cast<int64_t>(context.size());
  double sum = 0;
  // The logits at position j - 1 predict token j.
  for (int64_t j = k; j < n; ++j) sum += log_prob(logits.data() + (j - 1) * n_vocab, n_vocab, seq[static_cast<size_t>(j)]);
  return sum;
}

void TaskRunner::score_classification(Session& s, const TaskExample& ex, const TaskHeader& header,
                                      ExampleResult& r) const {
  const std::vector<int32_t> prompt_tokens = tokenizer_.encode(ex.prompt, true);
  const size_t nc = ex.choices.size();
  r.label = ex.label;
  r.choice_logliks.resize(nc);
  r.choice_logliks_norm.resize(nc);
  r.choice_tokens.resize(nc);
  for (size_t i = 0; i < nc; ++i) {
    const std::string& choice = ex.choices[i];
    const ChoiceTokens ct = split_choice_tokens(prompt_tokens, tokenizer_.encode(ex.prompt + header.choice_prefix + choice, true));
    try {
      r.choice_logliks[i] = continuation_loglik_in(s, ct.context, ct.continuation);
    } catch (const Error& e) {
      fail("choice ", i, " \"", choice, "\": ", e.what());
    }
    // Per byte of the choice text (the delimiter excluded), as lm-evaluation-harness's acc_norm divides
    // by the choice's length: longer choices are not penalised for having more tokens.
    r.choice_logliks_norm[i] = r.choice_logliks[i] / static_cast<double>(choice.size());
    r.choice_tokens[i] = static_cast<int64_t>(ct.continuation.size());
  }
  r.predicted = argmax_of(r.choice_logliks);
  r.predicted_norm = argmax_of(r.choice_logliks_norm);
  r.correct = r.predicted == r.label;
  r.correct_norm = r.predicted_norm == r.label;

  // Confidence: the choices' log-likelihoods as a distribution over the choices only.
  const double mx = r.choice_logliks[static_cast<size_t>(r.predicted)];
  std::vector<double> p(nc);
  double z = 0;
  for (size_t i = 0; i < nc; ++i) z += p[i] = std::exp(r.choice_logliks[i] - mx);
  double runner_up = 0;
  for (size_t i = 0; i < nc; ++i) {
    p[i] /= z;
    if (static_cast<int64_t>(i) != r.predicted) runner_up = std::max(runner_up, p[i]);
  }
  r.confidence = p[static_cast<size_t>(r.predicted)];
  r.margin = r.confidence - runner_up;
}

void TaskRunner::score_generation(Session& session, const TaskExample& ex, ExampleResult& r) const {
  const std::vector<int32_t> prompt = tokenizer_.encode(ex.prompt, true);
  if (prompt.empty()) fail("the prompt has no tokens");
  if (static_cast<int64_t>(prompt.size()) > session.n_ctx())
    fail("the prompt takes ", prompt.size(), " tokens; the context holds ", session.n_ctx());
  const int64_t n_vocab = model_.hparams().n_vocab;
  session.reset();
  std::vector<float> logits = session.eval(prompt, false);  // (1, n_vocab)
  double prob_sum = 0;
  // Greedy decoding (the argmax, first on ties, as Sampler does at temperature 0) written out here
  // because the probability of each chosen token is part of the result.
  while (true) {
    const int32_t id = argmax(logits);
    const double p = std::exp(log_prob(logits.data(), n_vocab, id));
    if (r.n_generated == 0) r.first_token_prob = p;
    prob_sum += p;
    ++r.n_generated;
    if (tokenizer_.is_eog(id)) break;
    r.output += tokenizer_.piece(id);
    if (r.n_generated >= ex.max_tokens || session.n_past() >= session.n_ctx()) break;
    const int32_t one[1] = {id};
    logits = session.eval(one, false);
  }
  r.mean_token_prob = prob_sum / static_cast<double>(r.n_generated);
  r.correct = output_matches(ex, r.output);
}

ExampleResult TaskRunner::run_example(const TaskExample& ex, const TaskHeader& header) {
  return run_example_in(*sessions_[0], ex, header);
}

ExampleResult TaskRunner::run_example_in(Session& s, const TaskExample& ex, const TaskHeader& header) const {
  ExampleResult r;
  r.line = ex.line;
  r.id = ex.id;
  r.tags = ex.tags;
  r.kind = ex.kind;
  try {
    if (ex.kind == TaskKind::classification)
      score_classification(s, ex, header, r);
    else
      score_generation(s, ex, r);
  } catch (const Error& e) {
    // Keep only the identity of a failed row so no half-filled score is mistaken for a result.
    ExampleResult failed;
    failed.line = r.line;
    failed.id = r.id;
    failed.tags = r.tags;
    failed.kind = r.kind;
    failed.label = ex.label;
    failed.error = e.what();
    return failed;
  }
  return r;
}

bool TaskRunner::parallel_over_examples(int n_threads) const {
  using P = TaskRunOptions::Parallel;
  if (options_.parallel != P::auto_) return options_.parallel == P::examples;
  const double cache_bytes = static_cast<double>(sessions_[0]->n_ctx()) * 2.0 *  // K and V
                             static_cast<double>(model_.hparams().n_layer * model_.hparams().kv_dim()) *
                             (options_.kv_type == KvType::f16 ? 2.0 : 4.0);
  return n_threads > 1 && cache_bytes * n_threads <= 256.0 * 1024 * 1024;
}

TaskReport TaskRunner::run(const TaskFile& file, const std::function<void(size_t, size_t)>& on_progress) {
  TaskReport report;
  report.task_name = file.header.name;
  const size_t n = file.examples.size();
  report.examples.resize(n);
  const int n_threads = omp_get_max_threads();
  if (!parallel_over_examples(n_threads)) {
    for (size_t i = 0; i < n; ++i) {
      report.examples[i] = run_example_in(*sessions_[0], file.examples[i], file.header);
      if (on_progress) on_progress(i + 1, n);
    }
  } else {
    while (sessions_.size() < static_cast<size_t>(n_threads))
      sessions_.push_back(std::make_unique<Session>(
          model_, SessionOptions{.kv_type = options_.kv_type, .n_ctx = options_.n_ctx}));
    size_t done = 0;
    std::exception_ptr failure;  // an exception must not leave an OpenMP region; rethrown below
#pragma omp parallel num_threads(n_threads)
    {
      Session& s = *sessions_[static_cast<size_t>(omp_get_thread_num())];
      // The engine's own parallel regions, nested in this one, run on this thread alone.
      omp_set_num_threads(1);
#pragma omp for schedule(dynamic)
      for (size_t i = 0; i < n; ++i) {
        try {
          report.examples[i] = run_example_in(s, file.examples[i], file.header);
        } catch (...) {
#pragma omp critical(task_runner_failure)
          if (!failure) failure = std::current_exception();
        }
#pragma omp critical(task_runner_progress)
        {
          ++done;
          if (on_progress) on_progress(done, n);
        }
      }
    }
    if (failure) std::rethrow_exception(failure);
  }
  aggregate(report);
  return report;
}

}  // namespace bitdial
