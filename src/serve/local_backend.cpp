#include "serve/local_backend.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <span>

#include "core/error.h"
#include "eval/task_runner.h"
#include "model/session.h"
#include "model/session_batch.h"
#include "serve/token_text.h"

namespace bitdial::serve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

// One sequence in the batch: a generation has one, a classification one per choice.
struct LocalBackend::Seq {
  std::unique_ptr<Session> session;
  std::vector<int32_t> tokens;  // everything this sequence evaluates (prompt, or context + choice)
  size_t scored_from = 0;       // classification: first continuation token
  std::vector<int32_t> feed;    // what the next forward pass appends
  bool all_logits = false;      // the next pass needs every fed position's logits (echo, scoring)
  bool prefilled = false;
  bool done = false;
  double loglik = 0;
};

struct LocalBackend::Job {
  GenerationRequest req;
  TokenCallback on_token;
  std::vector<int32_t> prompt;
  std::vector<std::string> stops;
  std::vector<Seq> seqs;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<GeneratedText> text;
  std::vector<TokenLogprob> generated;  // per generated token: id, log-prob, alternatives (texts set at the end)
  int64_t max_new = 0;
  std::string finish_reason;
  GenerationResult result;
  Clock::time_point submitted;
  Clock::time_point deadline = Clock::time_point::max();
  bool first_token = true;
  int64_t echo_chars = 0;  // characters of the echoed prompt

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::exception_ptr error;

  bool classification() const { return !req.choices.empty(); }
};

LocalBackend::LocalBackend(LocalBackendOptions options) : options_(std::move(options)) {
  if (options_.max_batch < 1) fail("backend ", options_.name, ": max_batch must be at least 1");
  model_ = std::make_unique<LlamaModel>(LlamaModel::load(options_.path));
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_gguf(model_->file()));
  if (static_cast<int64_t>(tokenizer_->vocab_size()) != model_->hparams().n_vocab)
    fail(options_.path, ": the tokenizer has ", tokenizer_->vocab_size(), " tokens but token_embd.weight has ",
         model_->hparams().n_vocab, " rows");
  n_ctx_ = options_.n_ctx > 0 ? options_.n_ctx : model_->hparams().n_ctx_train;
  if (n_ctx_ <= 1) fail(options_.path, ": context length ", n_ctx_, " is too small to serve");
  if (!options_.chat_template.empty()) {
    const std::optional<ChatTemplateKind> k = parse_chat_template_name(options_.chat_template);
    if (!k) fail("backend ", options_.name, ": unknown chat_template '", options_.chat_template, "'");
    template_ = *k;
  } else if (const GgufValue* v = model_->file().find("tokenizer.chat_template"); v != nullptr && v->type() == GgufValueType::STRING) {
    template_ = detect_chat_template(v->as_string());
  }
  worker_ = std::thread([this] { worker_loop(); });
}

LocalBackend::~LocalBackend() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

LocalBackend::Stats LocalBackend::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::shared_ptr<LocalBackend::Job> LocalBackend::prepare(const GenerationRequest& request, const TokenCallback& on_token) const {
  auto job = std::make_shared<Job>();
  job->req = request;
  job->on_token = on_token;
  job->stops = request.stop;
  const Tokenizer& tok = *tokenizer_;
  const int64_t n_vocab = model_->hparams().n_vocab;
  if (request.chat) {
    const std::string bos = tok.bos() >= 0 ? tok.token_text(tok.bos()) : "";
    const std::string eos = tok.eos() >= 0 ? tok.token_text(tok.eos()) : "";
    const RenderedChat chat = render_chat(template_, request.messages, bos, eos);
    // Template markers are special tokens; the users' own text in them was rendered verbatim.
    job->prompt = tok.encode(chat.prompt, chat.add_bos, /*parse_special=*/true);
    job->stops.insert(job->stops.end(), chat.stop.begin(), chat.stop.end());
  } else if (!request.prompt_ids.empty()) {
    for (size_t i = 0; i < request.prompt_ids.size(); ++i)
      if (request.prompt_ids[i] < 0 || request.prompt_ids[i] >= n_vocab)
        throw InvalidRequest("prompt", concat("prompt[", i, "] = ", request.prompt_ids[i], " is not a token id of ",
                                              name(), " (vocabulary of ", n_vocab, ")"));
    job->prompt = request.prompt_ids;
  } else {
    job->prompt = tok.encode(request.prompt, /*add_bos=*/true);
  }
  if (job->prompt.empty()) throw InvalidRequest("prompt", "the prompt produced no tokens");
  const int64_t n_prompt = static_cast<int64_t>(job->prompt.size());

  if (job->classification()) {
    for (size_t i = 0; i < request.choices.size(); ++i) {
      ChoiceTokens ct = split_choice_tokens(job->prompt, tok.encode(request.prompt + request.choices[i], true));
      if (ct.continuation.empty())
        throw InvalidRequest("choices", concat("choice ", i, " \"", request.choices[i], "\" adds no token to the prompt"));
      if (ct.context.empty()) throw InvalidRequest("prompt", "the prompt has no token before the choice to condition on");
      Seq s;
      s.scored_from = ct.context.size();
      s.tokens = std::move(ct.context);
      s.tokens.insert(s.tokens.end(), ct.continuation.begin(), ct.continuation.end());
      if (static_cast<int64_t>(s.tokens.size()) > n_ctx_)
        throw InvalidRequest("prompt", concat("prompt + choice ", i, " is ", s.tokens.size(), " tokens; ", name(),
                                              " holds ", n_ctx_, " per request"));
      s.all_logits = true;
      s.feed = s.tokens;
      job->seqs.push_back(std::move(s));
    }
    return job;
  }

  if (n_prompt > n_ctx_ || (n_prompt == n_ctx_ && request.max_tokens > 0))
    throw InvalidRequest("prompt", concat("the prompt is ", n_prompt, " tokens; ", name(), " holds ", n_ctx_,
                                          " per request, prompt and answer together"));
  job->max_new = std::min<int64_t>(request.max_tokens, n_ctx_ - n_prompt);
  Seq s;
  s.tokens = job->prompt;
  s.feed = job->prompt;
  s.all_logits = request.echo;
  job->seqs.push_back(std::move(s));
  SamplerParams sp = request.sampling;
  if (sp.seed == 0) sp.seed = std::random_device{}();
  job->sampler = std::make_unique<Sampler>(sp);
  job->text = std::make_unique<GeneratedText>(job->stops);
  return job;
}

GenerationResult LocalBackend::generate(const GenerationRequest& request, const TokenCallback& on_token) {
  std::shared_ptr<Job> job = prepare(request, on_token);
  job->submitted = Clock::now();
  if (request.timeout_s > 0)
    job->deadline = job->submitted + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(request.timeout_s));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) throw BackendError(503, name() + " is shutting down");
    if (queue_.size() >= options_.max_queue)
      throw BackendError(503, concat(name(), " is overloaded: ", queue_.size(), " requests waiting"));
    queue_.push_back(job);
  }
  wake_.notify_one();
  std::unique_lock<std::mutex> lock(job->mu);
  job->cv.wait(lock, [&] { return job->finished; });
  if (job->error) std::rethrow_exception(job->error);
  return std::move(job->result);
}

void LocalBackend::worker_loop() {
  // OpenMP's thread count is per thread: set it on the worker, which runs every forward pass.
  if (options_.threads > 0) omp_set_num_threads(options_.threads);
  for (;;) {
    std::deque<std::shared_ptr<Job>> incoming;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !active_.empty(); });
      if (stopping_ && queue_.empty() && active_.empty()) return;
      admit(queue_);
    }
    step();
  }
}

// Called with mu_ held: moves queued jobs into the batch while it has room.
void LocalBackend::admit(std::deque<std::shared_ptr<Job>>& queue) {
  size_t seqs = 0;
  for (const auto& j : active_) seqs += j->seqs.size();
  int64_t prefill = 0;
  while (!queue.empty()) {
    const std::shared_ptr<Job>& j = queue.front();
    int64_t tokens = 0;
    for (const Seq& s : j->seqs) tokens += static_cast<int64_t>(s.feed.size());
    const bool empty_batch = active_.empty();
    if (!empty_batch && (seqs + j->seqs.size() > static_cast<size_t>(options_.max_batch) ||
                         prefill + tokens > options_.max_prefill_tokens))
      break;
    for (Seq& s : j->seqs) {
      const int64_t positions = static_cast<int64_t>(s.tokens.size()) + j->max_new;
      s.session = std::make_unique<Session>(*model_, SessionOptions{.kv_type = options_.kv_type,
                                                                   .n_ctx = std::min(n_ctx_, std::max<int64_t>(positions, 1))});
    }
    seqs += j->seqs.size();
    prefill += tokens;
    active_.push_back(j);
    queue.pop_front();
    if (options_.max_batch == 1) break;
  }
}

void LocalBackend::step() {
  const Tokenizer& tok = *tokenizer_;
  const int64_t n_vocab = model_->hparams().n_vocab;
  const Clock::time_point now = Clock::now();
  for (const auto& j : std::vector<std::shared_ptr<Job>>(active_))
    if (now > j->deadline)
      fail_job(j, std::make_exception_ptr(BackendError(
                      504, concat(name(), " did not finish within ", j->req.timeout_s, " s (", j->generated.size(), " tokens generated)"))));

  // Two passes at most: sequences that need every position's logits, and the rest.
  for (const bool all : {true, false}) {
    std::vector<Session*> sessions;
    std::vector<std::span<const int32_t>> tokens;
    std::vector<std::pair<std::shared_ptr<Job>, Seq*>> owners;
    for (const auto& j : active_)
      for (Seq& s : j->seqs)
        if (!s.done && !s.feed.empty() && s.all_logits == all) {
          sessions.push_back(s.session.get());
          tokens.emplace_back(s.feed);
          owners.emplace_back(j, &s);
        }
    if (sessions.empty()) continue;
    std::vector<std::vector<float>> logits;
    try {
      logits = eval_batch(sessions, tokens, all);
    } catch (...) {
      const std::exception_ptr e = std::current_exception();
      for (auto& [j, s] : owners) fail_job(j, e);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.steps;
      stats_.sequence_steps += static_cast<int64_t>(sessions.size());
      stats_.max_sequences = std::max<int64_t>(stats_.max_sequences, static_cast<int64_t>(sessions.size()));
    }
    for (size_t q = 0; q < owners.size(); ++q) {
      const std::shared_ptr<Job>& job = owners[q].first;
      Seq& s = *owners[q].second;
      if (job->finished) continue;
      const std::vector<float>& rows = logits[q];
      const int64_t n_fed = static_cast<int64_t>(s.feed.size());
      const int64_t base = s.session->n_past() - n_fed;  // position of the first fed token
      s.feed.clear();
      try {
        if (job->classification()) {
          // Row r holds the logits at position base + r, which predict the token after it.
          for (size_t t = std::max<size_t>(s.scored_from, 1); t < s.tokens.size(); ++t) {
            const float* row = rows.data() + (static_cast<int64_t>(t) - 1 - base) * n_vocab;
            s.loglik += log_softmax_of(row, n_vocab).at(row[s.tokens[t]]);
          }
          s.done = true;
          if (std::all_of(job->seqs.begin(), job->seqs.end(), [](const Seq& x) { return x.done; })) finish(job);
          continue;
        }
        const float* last = rows.data() + (all ? (n_fed - 1) * n_vocab : 0);
        if (!s.prefilled) {
          s.prefilled = true;
          for (const int32_t id : job->prompt) job->sampler->accept(id);
          if (job->req.echo) {
            const std::vector<std::string> texts = prompt_token_texts(tok, job->prompt, job->req.prompt_ids.empty());
            int64_t offset = 0;
            for (size_t t = 0; t < job->prompt.size(); ++t) {
              TokenLogprob p;
              p.id = job->prompt[t];
              p.text = texts[t];
              p.text_offset = offset;
              offset += utf8_chars(texts[t]);
              if (t > 0) {
                const float* row = rows.data() + (static_cast<int64_t>(t) - 1) * n_vocab;
                const LogSoftmax ls = log_softmax_of(row, n_vocab);
                p.logprob = ls.at(row[p.id]);
                for (const auto& [id, lp] : top_logprobs(row, n_vocab, job->req.logprobs, ls))
                  p.top.emplace_back(tok.is_control(id) ? tok.token_text(id) : tok.piece(id), lp);
              }
              job->result.prompt_tokens.push_back(std::move(p));
            }
            job->echo_chars = offset;
          }
          if (job->max_new <= 0) {
            job->finish_reason = "length";
            finish(job);
            continue;
          }
        }
        // Sample the next token from the last row.
        const std::span<const float> row(last, static_cast<size_t>(n_vocab));
        const int32_t id = job->sampler->sample(row);
        job->sampler->accept(id);
        const LogSoftmax ls = log_softmax_of(last, n_vocab);
        TokenLogprob info;
        info.id = id;
        info.logprob = ls.at(last[id]);
        for (const auto& [alt, lp] : top_logprobs(last, n_vocab, job->req.logprobs, ls))
          info.top.emplace_back(tok.is_control(alt) ? tok.token_text(alt) : tok.piece(alt), lp);
        if (tok.is_eog(id)) {
          job->finish_reason = "stop";
          finish(job);
          continue;
        }
        const bool stopped = job->text->append(tok.is_control(id) ? std::string() : tok.piece(id));
        job->generated.push_back(info);
        if (job->first_token) {
          job->first_token = false;
          job->result.time_to_first_token_s = seconds_between(job->submitted, Clock::now());
        }
        if (job->req.stream && job->on_token) {
          // A held-back byte or a stop-string prefix can make one callback carry several tokens' text.
          TokenLogprob delta = info;
          delta.text = job->text->take_ready(stopped);
          if (!delta.text.empty() && !job->on_token(delta)) {
            job->finish_reason = "cancelled";
            finish(job);
            continue;
          }
        }
        const int64_t n_gen = static_cast<int64_t>(job->generated.size());
        if (stopped || n_gen >= job->max_new || s.session->n_past() >= s.session->n_ctx()) {
          job->finish_reason = stopped ? "stop" : "length";
          finish(job);
          continue;
        }
        s.feed.assign(1, id);
      } catch (...) {
        fail_job(job, std::current_exception());
      }
    }
  }
  std::erase_if(active_, [](const std::shared_ptr<Job>& j) { return j->finished; });
}

void LocalBackend::finish(const std::shared_ptr<Job>& job) {
  GenerationResult& r = job->result;
  r.n_prompt_tokens = static_cast<int64_t>(job->prompt.size());
  if (job->classification()) {
    const size_t nc = job->seqs.size();
    r.choice_logliks.resize(nc);
    for (size_t i = 0; i < nc; ++i) r.choice_logliks[i] = job->seqs[i].loglik;
    size_t best = 0;
    for (size_t i = 1; i < nc; ++i)
      if (r.choice_logliks[i] > r.choice_logliks[best]) best = i;
    double z = 0, runner_up = 0;
    for (size_t i = 0; i < nc; ++i) z += std::exp(r.choice_logliks[i] - r.choice_logliks[best]);
    for (size_t i = 0; i < nc; ++i)
      if (i != best) runner_up = std::max(runner_up, std::exp(r.choice_logliks[i] - r.choice_logliks[best]) / z);
    r.chosen = static_cast<int64_t>(best);
    r.choice_probability = 1.0 / z;
    r.choice_margin = r.choice_probability - runner_up;
    r.text = job->req.choices[best];
    r.finish_reason = "stop";
    r.n_completion_tokens = static_cast<int64_t>(job->seqs[best].tokens.size() - job->seqs[best].scored_from);
    r.time_to_first_token_s = seconds_between(job->submitted, Clock::now());
  } else {
    GeneratedText& text = *job->text;
    if (job->req.stream && job->on_token && job->finish_reason != "cancelled") {
      const std::string rest = text.take_ready(true);
      if (!rest.empty() && !job->generated.empty()) {
        TokenLogprob delta = job->generated.back();
        delta.text = rest;
        (void)job->on_token(delta);
      }
    }
    r.text = text.text();
    r.finish_reason = job->finish_reason;
    const int64_t offset0 = job->echo_chars;  // offsets count into the returned text, echoed prompt first
    for (size_t i = 0; i < text.count(); ++i) {
      TokenLogprob t = job->generated[i];
      t.text = text.token_bytes(i);
      t.text_offset = offset0 + utf8_chars(text.text().substr(0, text.token_start(i)));
      r.tokens.push_back(std::move(t));
    }
    r.n_completion_tokens = static_cast<int64_t>(job->generated.size());
  }
  r.total_s = seconds_between(job->submitted, Clock::now());
  for (Seq& s : job->seqs) s.session.reset();  // the KV cache goes back now, not when the caller wakes
  {
    std::lock_guard<std::mutex> lock(job->mu);
    job->finished = true;
  }
  job->cv.notify_all();
}

void LocalBackend::fail_job(const std::shared_ptr<Job>& job, std::exception_ptr e) {
  for (Seq& s : job->seqs) s.session.reset();
  {
    std::lock_guard<std::mutex> lock(job->mu);
    if (job->finished) return;
    job->error = e;
    job->finished = true;
  }
  job->cv.notify_all();
}

}  // namespace bitdial::serve
