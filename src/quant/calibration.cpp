#include "quant/calibration.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <span>
#include <sstream>

#include "core/error.h"
#include "core/progress.h"
#include "model/session.h"
#include "model/session_batch.h"
#include "model/tokenizer/tokenizer.h"

namespace bitdial {

CalibrationSet calibration_from_tokens(const std::vector<int32_t>& tokens, int32_t bos, int64_t n_ctx,
                                       const std::string& source, int64_t max_chunks) {
  if (n_ctx < 2) fail(source, ": calibration context ", n_ctx, " is too small (at least 2 tokens)");
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n < n_ctx) fail(source, ": calibration text shorter than one context: ", n, " tokens, n_ctx ", n_ctx);
  CalibrationSet set;
  set.source = source;
  set.n_ctx = n_ctx;
  set.n_text_tokens = n;
  int64_t n_chunks = n / n_ctx;
  if (max_chunks > 0) n_chunks = std::min(n_chunks, max_chunks);
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
    if (bos >= 0) chunk[0] = bos;
    set.chunks.push_back(std::move(chunk));
  }
  return set;
}

CalibrationSet load_calibration(const LlamaModel& model, const std::string& path, int64_t n_ctx, int64_t max_chunks) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot read the calibration text");
  std::stringstream ss;
  ss << in.rdbuf();
  const Tokenizer tok = Tokenizer::from_gguf(model.file());
  const std::vector<int32_t> ids = tok.encode(ss.str(), /*add_bos=*/true);
  // BOS over each chunk's first token exactly when the vocabulary prepends one (as eval's chunks do).
  const int32_t bos = tok.encode("", true).empty() ? -1 : tok.bos();
  return calibration_from_tokens(ids, bos, n_ctx, path, max_chunks);
}

void for_each_calibration_batch(const LlamaModel& model, const CalibrationSet& calib, int64_t n_seq,
                                ActivationObserver* observer,
                                const std::function<void(int64_t, std::vector<float>&)>& on_chunk,
                                const std::function<void(int64_t)>& after_batch) {
  const int64_t n_chunks = static_cast<int64_t>(calib.chunks.size());
  n_seq = std::max<int64_t>(1, n_seq);
  std::vector<std::unique_ptr<Session>> sessions;
  for (int64_t s = 0; s < std::min(n_seq, n_chunks); ++s)
    sessions.push_back(std::make_unique<Session>(model, SessionOptions{.n_ctx = calib.n_ctx}));
  for (int64_t c0 = 0; c0 < n_chunks; c0 += n_seq) {
    const int64_t m = std::min(n_seq, n_chunks - c0);
    std::vector<Session*> ses;
    std::vector<std::span<const int32_t>> toks;
    for (int64_t s = 0; s < m; ++s) {
      sessions[static_cast<size_t>(s)]->reset();
      ses.push_back(sessions[static_cast<size_t>(s)].get());
      toks.emplace_back(calib.chunks[static_cast<size_t>(c0 + s)]);
    }
    ses[0]->set_observer(observer);
    std::vector<std::vector<float>> logits = eval_batch(ses, toks, /*all_logits=*/true);
    ses[0]->set_observer(nullptr);
    if (on_chunk)
      for (int64_t s = 0; s < m; ++s) on_chunk(c0 + s, logits[static_cast<size_t>(s)]);
    if (after_batch) after_batch((c0 + m) * calib.n_ctx);
  }
}

void run_calibration(const LlamaModel& model, const CalibrationSet& calib, ActivationObserver& observer,
                     const CalibrationRunOptions& options) {
  std::unique_ptr<Progress> bar;
  if (options.progress != nullptr)
    bar = std::make_unique<Progress>(options.label, static_cast<size_t>(calib.n_tokens()), options.progress);
  for_each_calibration_batch(model, calib, options.n_seq, &observer, {}, [&](int64_t done) {
    if (bar) bar->update(static_cast<size_t>(done));
  });
  if (bar) bar->finish();
}

}  // namespace bitdial
