#include "eval/remote_text.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <utility>

#include "core/error.h"
#include "core/progress.h"
#include "eval/kld_bound.h"
#include "model/session.h"

namespace bitdial {

namespace {

// SentencePiece byte-fallback tokens ("<0x41>") decode to one byte that an ordinary token may share.
bool is_byte_token(const std::string& text) {
  return text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>';
}

}  // namespace

TokenResolver::TokenResolver(const Tokenizer& tokenizer) : n_vocab_(static_cast<int32_t>(tokenizer.vocab_size())) {
  std::unordered_map<std::string, int> count;  // ordinary tokens per decoded spelling
  for (int32_t id = 0; id < n_vocab_; ++id) {
    text_.emplace(tokenizer.token_text(id), id);  // first id wins if a vocabulary repeats a string
    if (!tokenizer.is_control(id) && !is_byte_token(tokenizer.token_text(id))) ++count[tokenizer.piece(id)];
  }
  // A decoded spelling is trusted when exactly one ordinary token decodes to it (a byte token only when
  // none does): a server spelling tokens as text gives the ordinary token where both exist.
  for (int32_t id = 0; id < n_vocab_; ++id) {
    if (tokenizer.is_control(id)) continue;
    const std::string p = tokenizer.piece(id);
    const auto it = count.find(p);
    const bool byte = is_byte_token(tokenizer.token_text(id));
    if (!p.empty() && (byte ? it == count.end() : it->second == 1)) piece_.emplace(p, id);
  }
}

int32_t TokenResolver::resolve_exact(const std::string& s) const {
  constexpr std::string_view kIdPrefix = "token_id:";
  if (s.size() > kIdPrefix.size() && s.compare(0, kIdPrefix.size(), kIdPrefix) == 0) {
    const std::string digits = s.substr(kIdPrefix.size());
    if (digits.size() <= 9 && std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); })) {
      const int64_t id = std::stoll(digits);
      return id < n_vocab_ ? static_cast<int32_t>(id) : -1;
    }
  }
  const auto it = text_.find(s);
  return it == text_.end() ? -1 : it->second;
}

int32_t TokenResolver::resolve(const std::string& s) const {
  const int32_t id = resolve_exact(s);
  if (id >= 0) return id;
  const auto it = piece_.find(s);
  return it == piece_.end() ? -1 : it->second;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double mean(const std::vector<double>& v) {
  double s = 0;
  for (const double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

// What one side says about one scored position. Local: the whole logit row. Remote: the echoed entry
// of the actual token, with the top-K strings resolved to ids.
struct SideAt {
  double nll = 0;
  int32_t top1 = -1;          // argmax (local) or the endpoint's top-1 entry; -1: unknown token
  std::string top1_text;      // remote: the top-1 entry as spelled by the endpoint
  const float* logits = nullptr;  // local: (n_vocab) row
  double log_z = 0;
  std::vector<std::pair<int32_t, double>> known;  // remote: distinct (id, log-prob), actual token first
  double logp(int32_t id) const { return static_cast<double>(logits[id]) - log_z; }
};

SideAt local_at(const float* x, int64_t n_vocab, int32_t target) {
  SideAt s;
  s.logits = x;
  int64_t arg = 0;
  for (int64_t i = 1; i < n_vocab; ++i)
    if (x[i] > x[arg]) arg = i;
  double sum = 0;  // log-sum-exp around the max, in double, as score_position does
  for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(x[i]) - x[arg]);
  s.log_z = x[arg] + std::log(sum);
  s.top1 = static_cast<int32_t>(arg);
  s.nll = s.log_z - static_cast<double>(x[target]);
  return s;
}

SideAt remote_at(const RemoteModel::TokenLogprob& e, int32_t target, int32_t n_vocab, const TokenResolver& res,
                 const std::string& url, int64_t chunk, int64_t pos, int64_t& unmapped) {
  if (!e.logprob) fail(url, ": chunk ", chunk, " token ", pos, " came back without a log-prob");
  if (e.top.empty())
    fail(url, ": chunk ", chunk, " token ", pos, " came back without top_logprobs (does the endpoint honour \"logprobs\"?)");
  SideAt s;
  s.nll = -*e.logprob;
  s.known.emplace_back(target, *e.logprob);
  for (const auto& [text, lp] : e.top) {
    const int32_t id = res.resolve(text);
    if (id < 0 || id >= n_vocab) {
      ++unmapped;
      continue;
    }
    if (std::none_of(s.known.begin(), s.known.end(), [id](const auto& k) { return k.first == id; })) s.known.emplace_back(id, lp);
  }
  s.top1_text = e.top.front().first;
  s.top1 = res.resolve(s.top1_text);
  return s;
}

bool same_top1(const SideAt& c, const SideAt& b) {
  if (c.top1 >= 0 && b.top1 >= 0) return c.top1 == b.top1;
  // Two endpoints whose top-1 strings no local token matches can still be compared as spelled.
  return c.logits == nullptr && b.logits == nullptr && c.top1_text == b.top1_text;
}

// Buckets: the remote side's known tokens (both remote: those known on both), each side's log-prob.
CoarseKl kl_bound(const SideAt& c, const SideAt& b) {
  std::vector<double> lb, lc;
  if (c.logits != nullptr) {
    for (const auto& [id, lp] : b.known) lb.push_back(lp), lc.push_back(c.logp(id));
  } else if (b.logits != nullptr) {
    for (const auto& [id, lp] : c.known) lc.push_back(lp), lb.push_back(b.logp(id));
  } else {
    for (const auto& [id, lp] : b.known) {
      const auto it = std::find_if(c.known.begin(), c.known.end(), [id](const auto& k) { return k.first == id; });
      if (it == c.known.end()) continue;
      lb.push_back(lp);
      lc.push_back(it->second);
    }
  }
  return coarse_kld(lb, lc);
}

// A definite mismatch (the echoed string is another token's own spelling) means the endpoint's
// vocabulary is not the local one; spellings that resolve to nothing are left alone.
void check_echo(const RemoteModel::TextLogprobs& lp, const std::vector<int32_t>& chunk, const TokenResolver& res,
                const Tokenizer& tok, const std::string& url, int64_t c) {
  for (size_t i = 1; i < chunk.size(); ++i) {
    const int32_t id = res.resolve_exact(lp.tokens[i].token);
    if (id >= 0 && id != chunk[i])
      fail(url, ": chunk ", c, " token ", i, " was sent as id ", chunk[i], " (\"", tok.token_text(chunk[i]),
           "\") but echoed as \"", lp.tokens[i].token, "\" (id ", id,
           " in the local tokenizer): the endpoint uses another vocabulary");
  }
}

struct Reply {
  RemoteModel::TextLogprobs lp;
  double seconds = 0;
};

std::future<Reply> ask(RemoteModel* m, const std::vector<int32_t>& chunk, int top_k) {
  return std::async(std::launch::async, [m, &chunk, top_k] {
    const auto t0 = Clock::now();
    Reply r{m->score_tokens(chunk, top_k), 0};
    r.seconds = seconds_since(t0);
    return r;
  });
}

}  // namespace

TextEvalResult evaluate_text_remote(TextSide cand, const TextSide* base, const Tokenizer& tokenizer,
                                    const std::vector<int32_t>& tokens, const RemoteTextOptions& options) {
  const auto t_start = Clock::now();
  BITDIAL_ASSERT((cand.local == nullptr) != (cand.remote == nullptr));
  BITDIAL_ASSERT(base == nullptr || (base->local == nullptr) != (base->remote == nullptr));
  BITDIAL_ASSERT(cand.remote != nullptr || (base != nullptr && base->remote != nullptr));
  const int64_t n_ctx = options.n_ctx;
  const ChunkPlan plan = chunk_plan(static_cast<int64_t>(tokens.size()), n_ctx, options.source);
  if (options.top_k < 1) fail("--logprobs ", options.top_k, " must be at least 1");
  if (options.n_batch < 1) fail("batch size ", options.n_batch, " must be positive");
  const int32_t n_vocab = static_cast<int32_t>(tokenizer.vocab_size());
  const LlamaModel* local = cand.local != nullptr ? cand.local : base != nullptr ? base->local : nullptr;
  if (local != nullptr && local->hparams().n_vocab != n_vocab)
    fail(local->file().path(), ": the model has ", local->hparams().n_vocab, " logits per position but its tokenizer ",
         n_vocab, " tokens");
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      fail(options.source, ": token ", i, " has id ", tokens[i], ", outside the vocabulary of ", n_vocab);
  const TokenResolver res(tokenizer);

  TextEvalResult r;
  r.plan = plan;
  r.n_ctx = n_ctx;
  r.n_tokens = static_cast<int64_t>(tokens.size());
  r.n_tokens_evaluated = plan.n_chunks * n_ctx;
  r.has_base = base != nullptr;
  r.kld_lower_bound = r.has_base;
  r.kld_top_k = r.has_base ? options.top_k : 0;
  PositionScores& sc = r.scores;
  double known_mass_sum = 0;

  std::optional<Session> session;
  if (local != nullptr) session.emplace(*local, SessionOptions{.kv_type = options.kv_type, .n_ctx = n_ctx});
  std::unique_ptr<Progress> bar;
  if (options.progress != nullptr)
    bar = std::make_unique<Progress>(base != nullptr ? "perplexity+kld (remote)" : "perplexity (remote)",
                                     static_cast<size_t>(plan.n_chunks), options.progress);

  std::vector<int32_t> chunk(static_cast<size_t>(n_ctx));
  for (int64_t c = 0; c < plan.n_chunks; ++c) {
    std::copy_n(tokens.begin() + c * n_ctx, n_ctx, chunk.begin());
    if (options.bos >= 0) chunk[0] = options.bos;
    // Endpoints work while the local model builds its cache over the unscored first half.
    std::future<Reply> fc, fb;
    if (cand.remote != nullptr) fc = ask(cand.remote, chunk, options.top_k);
    if (base != nullptr && base->remote != nullptr) fb = ask(base->remote, chunk, options.top_k);
    double local_seconds = 0;
    if (session) {
      const auto t0 = Clock::now();
      session->reset();
      session->eval(std::span<const int32_t>(chunk.data(), static_cast<size_t>(plan.first)), false);
      local_seconds += seconds_since(t0);
    }
    std::optional<Reply> rc, rb;
    if (fc.valid()) rc = fc.get();
    if (fb.valid()) rb = fb.get();
    if (rc) check_echo(rc->lp, chunk, res, tokenizer, cand.remote->base_url() + "/completions", c);
    if (rb) check_echo(rb->lp, chunk, res, tokenizer, base->remote->base_url() + "/completions", c);

    for (int64_t b0 = plan.first; b0 < n_ctx - 1;) {
      const int64_t end = std::min(n_ctx - 1, b0 + options.n_batch);
      std::vector<float> logits;
      if (session) {
        const auto t0 = Clock::now();
        logits = session->eval(std::span<const int32_t>(chunk.data() + b0, static_cast<size_t>(end - b0)), true);
        local_seconds += seconds_since(t0);
      }
      for (int64_t j = b0; j < end; ++j) {
        const int32_t target = chunk[static_cast<size_t>(j + 1)];
        auto side = [&](const TextSide& s, const std::optional<Reply>& reply) {
          if (s.local != nullptr) return local_at(logits.data() + (j - b0) * n_vocab, n_vocab, target);
          return remote_at(reply->lp.tokens[static_cast<size_t>(j + 1)], target, n_vocab, res,
                           s.remote->base_url() + "/completions", c, j + 1, r.unmapped_top_tokens);
        };
        const SideAt sc_c = side(cand, rc);
        sc.nll_cand.push_back(sc_c.nll);
        if (base == nullptr) continue;
        const SideAt sc_b = side(*base, rb);
        sc.nll_base.push_back(sc_b.nll);
        sc.dp.push_back(std::exp(-sc_c.nll) - std::exp(-sc_b.nll));
        sc.same_top1.push_back(same_top1(sc_c, sc_b) ? 1 : 0);
        const CoarseKl kl = kl_bound(sc_c, sc_b);
        sc.kld.push_back(kl.kld);
        known_mass_sum += kl.known_mass;
      }
      b0 = end;
    }
    r.seconds_cand += cand.local != nullptr ? local_seconds : rc->seconds;
    if (base != nullptr) r.seconds_base += base->local != nullptr ? local_seconds : rb->seconds;
    if (bar) bar->update(static_cast<size_t>(c + 1));
  }
  if (bar) bar->finish();

  r.ppl_cand = std::exp(mean(sc.nll_cand));
  if (base != nullptr) {
    r.ppl_base = std::exp(mean(sc.nll_base));
    r.kld_known_mass = sc.kld.empty() ? 0.0 : known_mass_sum / static_cast<double>(sc.kld.size());
  }
  r.seconds = seconds_since(t_start);
  r.tokens_per_second = r.seconds_cand > 0 ? static_cast<double>(r.n_tokens_evaluated) / r.seconds_cand : 0.0;
  return r;
}

}  // namespace bitdial
