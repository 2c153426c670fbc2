#include "eval/task_runner.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <map>
#include <string_view>

#include <omp.h>

#include "core/error.h"
#include "eval/task_match.h"
#include "model/ops.h"
#include "model/sampler.h"
#include "model/session_batch.h"

namespace bitdial {
namespace {

// row (n_vocab) -> log softmax(row)[id], accumulated in double so a long continuation's sum does not
// depend on float rounding order beyond the logits themselves.
double log_prob(const float* row, int64_t n_vocab, int32_t id) { return log_softmax_of(row, n_vocab).at(row[id]); }

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

// context + continuation as one sequence; throws when either is empty or the two overflow n_ctx.
std::vector<int32_t> joined_sequence(const ChoiceTokens& p, int64_t n_ctx) {
  if (p.context.empty()) fail("no context token to predict the choice from (the tokenizer adds no BOS and the prompt is empty)");
  if (p.continuation.empty()) fail("the choice adds no token after the prompt");
  std::vector<int32_t> seq = p.context;
  seq.insert(seq.end(), p.continuation.begin(), p.continuation.end());
  const int64_t n = static_cast<int64_t>(seq.size());
  if (n > n_ctx) fail("prompt and choice take ", n, " tokens; the context holds ", n_ctx);
  return seq;
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
  workers_.emplace_back();
  workers_[0].full = std::make_unique<Session>(model, SessionOptions{.kv_type = options.kv_type, .n_ctx = options.n_ctx});
}

double TaskRunner::cache_bytes(int64_t n_ctx) const {
  return static_cast<double>(n_ctx) * 2.0 *  // K and V
         static_cast<double>(model_.hparams().n_layer * model_.hparams().kv_dim()) *
         (options_.kv_type == KvType::f16 ? 2.0 : 4.0);
}

double TaskRunner::continuation_loglik(const std::vector<int32_t>& context, const std::vector<int32_t>& continuation) {
  return continuation_logliks(workers_[0], {ChoiceTokens{context, continuation}})[0];
}

std::vector<double> TaskRunner::continuation_logliks(Worker& w, const std::vector<ChoiceTokens>& pairs) const {
  const size_t n_pairs = pairs.size();
  std::vector<std::vector<int32_t>> seqs(n_pairs);
  int64_t longest = 0;
  for (size_t i = 0; i < n_pairs; ++i) {
    seqs[i] = joined_sequence(pairs[i], context_size());
    longest = std::max(longest, static_cast<int64_t>(seqs[i].size()));
  }
  // Sessions just big enough for this example (positions rounded up to a power of two >= 64, so later
  // examples mostly reuse them), as many as the pairs while their caches stay within 256 MiB. Results
  // do not depend on a cache's size: attention reads only the positions written.
  int64_t n_ctx = 64;
  while (n_ctx < longest) n_ctx *= 2;
  n_ctx = std::min(n_ctx, context_size());
  const size_t fit = static_cast<size_t>(std::max(1.0, std::floor(256.0 * 1024 * 1024 / cache_bytes(n_ctx))));
  const size_t n_batch = std::min(n_pairs, fit);
  if (w.choices.size() > n_batch) w.choices.resize(n_batch);
  for (auto& s : w.choices)
    if (s->n_ctx() < longest) s = std::make_unique<Session>(model_, SessionOptions{.kv_type = options_.kv_type, .n_ctx = n_ctx});
  while (w.choices.size() < n_batch)
    w.choices.push_back(std::make_unique<Session>(model_, SessionOptions{.kv_type = options_.kv_type, .n_ctx = n_ctx}));

  const int64_t n_vocab = model_.hparams().n_vocab;
  std::vector<double> sums(n_pairs, 0.0);
  for (size_t g0 = 0; g0 < n_pairs; g0 += n_batch) {
    const size_t m = std::min(n_batch, n_pairs - g0);
    // The choices repeat the prompt: its tokens before the first scored position go through the model
    // once, in the first session, and the others copy them from its cache. Each token's result does not
    // depend on how the sequence is cut into forward passes (kernels/matmul.h; tests/model's
    // BatchedPromptEqualsOneTokenAtATime), so the scores are bitwise those of whole sequences.
    size_t shared = 0;
    if (m > 1) {
      shared = pairs[g0].context.size() - 1;  // logits from the last context token onward are needed
      for (size_t i = 1; i < m; ++i) {
        const std::vector<int32_t>& a = seqs[g0];
        const std::vector<int32_t>& b = seqs[g0 + i];
        shared = std::min(shared, pairs[g0 + i].context.size() - 1);
        size_t same = 0;
        while (same < shared && a[same] == b[same]) ++same;
        shared = same;
      }
    }
    std::vector<Session*> sessions(m);
    std::vector<std::span<const int32_t>> tokens(m);
    for (size_t i = 0; i < m; ++i) {
      sessions[i] = w.choices[i].get();
      tokens[i] = std::span<const int32_t>(seqs[g0 + i]).subspan(shared);
    }
    sessions[0]->reset();
    if (shared > 0) (void)sessions[0]->eval(std::span<const int32_t>(seqs[g0]).first(shared), false);
    for (size_t i = 1; i < m; ++i) sessions[i]->copy_prefix(*sessions[0], static_cast<int64_t>(shared));
    const std::vector<std::vector<float>> logits = eval_batch(sessions, tokens, true);  // row r: position shared + r
    for (size_t i = 0; i < m; ++i) {
      const std::vector<int32_t>& seq = seqs[g0 + i];
      const int64_t n = static_cast<int64_t>(seq.size()), k = static_cast<int64_t>(pairs[g0 + i].context.size());
      const int64_t first = static_cast<int64_t>(shared);
      // The logits at position j - 1 predict token j.
      double sum = 0;
      for (int64_t j = k; j < n; ++j)
        sum += log_prob(logits[i].data() + (j - 1 - first) * n_vocab, n_vocab, seq[static_cast<size_t>(j)]);
      sums[g0 + i] = sum;
    }
  }
  return sums;
}

void TaskRunner::score_classification(Worker& w, const TaskExample& ex, const TaskHeader& header,
                                      ExampleResult& r) const {
  const std::vector<int32_t> prompt_tokens = tokenizer_.encode(ex.prompt, true);
  const size_t nc = ex.choices.size();
  r.label = ex.label;
  r.choice_logliks_norm.resize(nc);
  r.choice_tokens.resize(nc);
  std::vector<ChoiceTokens> pairs(nc);
  for (size_t i = 0; i < nc; ++i) {
    const std::string& choice = ex.choices[i];
    pairs[i] = split_choice_tokens(prompt_tokens, tokenizer_.encode(ex.prompt + header.choice_prefix + choice, true));
    try {
      // Checked one by one before the batch, so an error names the choice it is about.
      (void)joined_sequence(pairs[i], context_size());
    } catch (const Error& e) {
      fail("choice ", i, " \"", choice, "\": ", e.what());
    }
    r.choice_tokens[i] = static_cast<int64_t>(pairs[i].continuation.size());
  }
  // All choices in one forward pass.
  r.choice_logliks = continuation_logliks(w, pairs);
  for (size_t i = 0; i < nc; ++i)
    // Per byte of the choice text (the delimiter excluded), as lm-evaluation-harness's acc_norm divides
    // by the choice's length: longer choices are not penalised for having more tokens.
    r.choice_logliks_norm[i] = r.choice_logliks[i] / static_cast<double>(ex.choices[i].size());
  decide_classification(r);
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
  r.correct = generation_matches(ex, r.output);
}

ExampleResult TaskRunner::run_example(const TaskExample& ex, const TaskHeader& header) {
  return run_example_in(workers_[0], ex, header);
}

ExampleResult TaskRunner::run_example_in(Worker& w, const TaskExample& ex, const TaskHeader& header) const {
  ExampleResult r = error_row(ex, "");
  try {
    if (ex.kind == TaskKind::classification)
      score_classification(w, ex, header, r);
    else
      score_generation(*w.full, ex, r);
  } catch (const Error& e) {
    // Only the identity of a failed row is kept, so no half-filled score is mistaken for a result.
    return error_row(ex, e.what());
  }
  return r;
}

bool TaskRunner::parallel_over_examples(int n_threads) const {
  using P = TaskRunOptions::Parallel;
  if (options_.parallel != P::auto_) return options_.parallel == P::examples;
  return n_threads > 1 && cache_bytes(context_size()) * n_threads <= 256.0 * 1024 * 1024;
}

TaskReport TaskRunner::run(const TaskFile& file, const std::function<void(size_t, size_t)>& on_progress) {
  TaskReport report;
  report.task_name = file.header.name;
  const size_t n = file.examples.size();
  report.examples.resize(n);
  const int n_threads = omp_get_max_threads();
  if (!parallel_over_examples(n_threads)) {
    for (size_t i = 0; i < n; ++i) {
      report.examples[i] = run_example_in(workers_[0], file.examples[i], file.header);
      if (on_progress) on_progress(i + 1, n);
    }
  } else {
    while (workers_.size() < static_cast<size_t>(n_threads)) {
      workers_.emplace_back();
      workers_.back().full = std::make_unique<Session>(
          model_, SessionOptions{.kv_type = options_.kv_type, .n_ctx = options_.n_ctx});
    }
    size_t done = 0;
    std::exception_ptr failure;  // an exception must not leave an OpenMP region; rethrown below
#pragma omp parallel num_threads(n_threads)
    {
      Worker& w = workers_[static_cast<size_t>(omp_get_thread_num())];
      // The engine's own parallel regions, nested in this one, run on this thread alone.
      omp_set_num_threads(1);
#pragma omp for schedule(dynamic)
      for (size_t i = 0; i < n; ++i) {
        try {
          report.examples[i] = run_example_in(w, file.examples[i], file.header);
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
