#include "eval/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <span>

#include "core/error.h"
#include "core/progress.h"
#include "model/session_batch.h"

namespace bitdial {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Max, argmax and log of the softmax normaliser of one logit row: log p(i) = x[i] - log_z.
struct RowStats {
  double log_z = 0;
  int64_t argmax = 0;
};

RowStats row_stats(const float* x, int64_t n) {
  int64_t arg = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[arg]) arg = i;
  const double max = x[arg];
  // Subtracting the max keeps every exp() <= 1, so the sum cannot overflow whatever the logit scale.
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
  return {max + std::log(sum), arg};
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (const double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

}  // namespace

ChunkPlan chunk_plan(int64_t n_tokens, int64_t n_ctx, const std::string& source) {
  // n_ctx = 3 is the smallest context that scores a position (j = 1 predicting token 2).
  if (n_ctx < 3) fail(source, ": context size ", n_ctx, " too small: perplexity needs n_ctx >= 3");
  if (n_tokens < n_ctx)
    fail(source, ": text shorter than one chunk: ", n_tokens, " tokens, n_ctx ", n_ctx);
  ChunkPlan p;
  p.n_chunks = n_tokens / n_ctx;
  p.first = n_ctx / 2;
  p.scored_per_chunk = n_ctx - 1 - p.first;
  return p;
}

PositionScore score_position(const float* logits_cand, const float* logits_base, int64_t n_vocab, int32_t target) {
  BITDIAL_ASSERT(n_vocab > 0 && target >= 0 && target < n_vocab);
  PositionScore s;
  const RowStats c = row_stats(logits_cand, n_vocab);
  s.nll_cand = c.log_z - static_cast<double>(logits_cand[target]);
  if (logits_base == nullptr) return s;

  const RowStats b = row_stats(logits_base, n_vocab);
  s.nll_base = b.log_z - static_cast<double>(logits_base[target]);
  s.same_top1 = c.argmax == b.argmax;
  s.dp = std::exp(-s.nll_cand) - std::exp(-s.nll_base);
  double kld = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    const double log_pb = static_cast<double>(logits_base[i]) - b.log_z;
    const double log_pc = static_cast<double>(logits_cand[i]) - c.log_z;
    kld += std::exp(log_pb) * (log_pb - log_pc);
  }
  s.kld = kld;
  return s;
}

std::vector<int32_t> tokenize_for_perplexity(const Tokenizer& tokenizer, const std::string& text) {
  return tokenizer.encode(text, /*add_bos=*/true);
}

int32_t chunk_start_token(const Tokenizer& tokenizer) {
  // encode() prepends BOS exactly when the vocabulary asks for it (tokenizer.ggml.add_bos_token or the
  // tokenizer model's default), so an empty text tells us without re-reading that rule here.
  const std::vector<int32_t> ids = tokenizer.encode("", /*add_bos=*/true);
  return ids.empty() ? -1 : tokenizer.bos();
}

void check_same_vocabulary(const LlamaModel& cand, const LlamaModel& base) {
  const std::string& pc = cand.file().path();
  const std::string& pb = base.file().path();
  const int64_t nc = cand.hparams().n_vocab, nb = base.hparams().n_vocab;
  if (nc != nb)
    fail("baseline with a different vocabulary: ", pc, " has ", nc, " tokens, ", pb, " has ", nb);
  const Tokenizer tc = Tokenizer::from_gguf(cand.file());
  const Tokenizer tb = Tokenizer::from_gguf(base.file());
  if (tc.vocab_size() != tb.vocab_size())
    fail("baseline with a different vocabulary: ", pc, " lists ", tc.vocab_size(), " tokens, ", pb, " lists ",
         tb.vocab_size());
  // Same size is not enough: two tokenizers of one size can map ids to different strings, and then the
  // same id means different text to the two models. Comparing every string is O(n_vocab), negligible.
  for (size_t i = 0; i < tc.vocab_size(); ++i) {
    const int32_t id = static_cast<int32_t>(i);
    if (tc.token_text(id) != tb.token_text(id))
      fail("baseline with a different vocabulary: token ", id, " is \"", tc.token_text(id), "\" in ", pc, " but \"",
           tb.token_text(id), "\" in ", pb);
  }
}

TextEvalResult evaluate_text(const LlamaModel& cand, const LlamaModel* base, const std::vector<int32_t>& tokens,
                             const TextEvalOptions& options) {
  const auto t_start = Clock::now();
  const int64_t n_ctx = options.n_ctx;
  const ChunkPlan plan = chunk_plan(static_cast<int64_t>(tokens.size()), n_ctx, options.source);
  if (options.n_batch < 1) fail("batch size ", options.n_batch, " must be positive");
  if (options.n_seq < 1) fail("chunks per batch ", options.n_seq, " must be positive");
  if (base != nullptr) check_same_vocabulary(cand, *base);
  const int64_t n_vocab = cand.hparams().n_vocab;
  if (options.bos >= n_vocab) fail(options.source, ": BOS id ", options.bos, " outside the vocabulary of ", n_vocab);
  // Checked up front: the last token of a chunk is only a target and never passes through Session::eval.
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      fail(options.source, ": token ", i, " has id ", tokens[i], ", outside the vocabulary of ", n_vocab);

  TextEvalResult r;
  r.plan = plan;
  r.n_ctx = n_ctx;
  r.n_tokens = static_cast<int64_t>(tokens.size());
  r.n_tokens_evaluated = plan.n_chunks * n_ctx;
  r.has_base = base != nullptr;
  PositionScores& sc = r.scores;
  // Filled by index: the chunks of one batch finish together, not in text order.
  const size_t n_pos = static_cast<size_t>(plan.n_positions());
  sc.nll_cand.resize(n_pos);
  if (base != nullptr) {
    sc.nll_base.resize(n_pos);
    sc.kld.resize(n_pos);
    sc.dp.resize(n_pos);
    sc.same_top1.resize(n_pos);
  }

  // n_seq sessions per model, one per chunk of a batch.
  const int64_t n_seq = std::min(options.n_seq, plan.n_chunks);
  const SessionOptions so{.kv_type = options.kv_type, .n_ctx = n_ctx};
  std::vector<std::unique_ptr<Session>> own_cand, own_base;
  std::vector<Session*> s_cand, s_base;
  for (int64_t i = 0; i < n_seq; ++i) {
    own_cand.push_back(std::make_unique<Session>(cand, so));
    s_cand.push_back(own_cand.back().get());
    if (base == nullptr) continue;
    own_base.push_back(std::make_unique<Session>(*base, so));
    s_base.push_back(own_base.back().get());
  }

  // Runs one forward pass on a model and adds its time to the model's clock.
  auto timed_eval = [](std::span<Session* const> s, std::span<const std::span<const int32_t>> batch, bool all_logits,
                       double& clock) {
    const auto t0 = Clock::now();
    std::vector<std::vector<float>> logits = eval_batch(s, batch, all_logits);
    clock += seconds_since(t0);
    return logits;
  };

  std::unique_ptr<Progress> bar;
  if (options.progress != nullptr)
    bar = std::make_unique<Progress>(base != nullptr ? "perplexity+kld" : "perplexity", static_cast<size_t>(plan.n_chunks),
                                     options.progress);

  std::vector<std::vector<int32_t>> chunks(static_cast<size_t>(n_seq), std::vector<int32_t>(static_cast<size_t>(n_ctx)));
  std::vector<std::span<const int32_t>> batch(static_cast<size_t>(n_seq));
  for (int64_t c0 = 0; c0 < plan.n_chunks; c0 += n_seq) {
    const int64_t m = std::min(n_seq, plan.n_chunks - c0);  // chunks c0 .. c0 + m - 1 in this batch
    for (int64_t i = 0; i < m; ++i) {
      std::vector<int32_t>& chunk = chunks[static_cast<size_t>(i)];
      std::copy_n(tokens.begin() + (c0 + i) * n_ctx, n_ctx, chunk.begin());
      if (options.bos >= 0) chunk[0] = options.bos;
      s_cand[static_cast<size_t>(i)]->reset();
      if (base != nullptr) s_base[static_cast<size_t>(i)]->reset();
    }
    const std::span<Session* const> cand_batch(s_cand.data(), static_cast<size_t>(m));
    const std::span<Session* const> base_batch(s_base.data(), base != nullptr ? static_cast<size_t>(m) : 0);
    const std::span<const std::span<const int32_t>> token_batch(batch.data(), static_cast<size_t>(m));

    // Positions [0, first) only build the cache: their logits are never scored, so ask for none. The last
    // token is only a target; it is never fed. Scored positions go in batches of at most n_batch per chunk,
    // which bounds the logits held at once to n_seq x n_batch x n_vocab per model.
    for (int64_t b0 = 0; b0 < n_ctx - 1;) {
      const bool scored = b0 >= plan.first;
      const int64_t end = std::min(scored ? n_ctx - 1 : plan.first, b0 + options.n_batch);
      for (int64_t i = 0; i < m; ++i)
        batch[static_cast<size_t>(i)] = std::span<const int32_t>(chunks[static_cast<size_t>(i)].data() + b0, static_cast<size_t>(end - b0));
      const std::vector<std::vector<float>> lc = timed_eval(cand_batch, token_batch, scored, r.seconds_cand);
      std::vector<std::vector<float>> lb;
      if (base != nullptr) lb = timed_eval(base_batch, token_batch, scored, r.seconds_base);
      if (scored) {
        for (int64_t i = 0; i < m; ++i) {
          const std::vector<int32_t>& chunk = chunks[static_cast<size_t>(i)];
          for (int64_t j = b0; j < end; ++j) {
            const size_t row = static_cast<size_t>((j - b0) * n_vocab);
            const float* base_row = base != nullptr ? lb[static_cast<size_t>(i)].data() + row : nullptr;
            const PositionScore p = score_position(lc[static_cast<size_t>(i)].data() + row, base_row, n_vocab, chunk[static_cast<size_t>(j + 1)]);
            const size_t at = static_cast<size_t>((c0 + i) * plan.scored_per_chunk + (j - plan.first));
            sc.nll_cand[at] = p.nll_cand;
            if (base == nullptr) continue;
            sc.nll_base[at] = p.nll_base;
            sc.kld[at] = p.kld;
            sc.dp[at] = p.dp;
            sc.same_top1[at] = p.same_top1 ? 1 : 0;
          }
        }
      }
      b0 = end;
    }
    if (bar) bar->update(static_cast<size_t>(c0 + m));
  }
  if (bar) bar->finish();

  r.ppl_cand = std::exp(mean(sc.nll_cand));
  if (base != nullptr) r.ppl_base = std::exp(mean(sc.nll_base));
  r.seconds = seconds_since(t_start);
  r.tokens_per_second = r.seconds_cand > 0 ? static_cast<double>(r.n_tokens_evaluated) / r.seconds_cand : 0.0;
  return r;
}

}  // namespace bitdial
