#include "model/generate.h"

#include <chrono>

#include "core/error.h"

namespace bitdial {
namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

GenerateStats generate(Session& session, Sampler& sampler, std::span<const int32_t> prompt, int64_t n_predict,
                       const std::function<bool(int32_t)>& on_token, std::vector<float>* prompt_logits) {
  if (prompt.empty()) fail("the prompt has no tokens");
  GenerateStats st;
  st.n_prompt = static_cast<int64_t>(prompt.size());
  const int64_t n_vocab = session.model().hparams().n_vocab;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<float> logits = session.eval(prompt, prompt_logits != nullptr);
  st.prompt_seconds = seconds_since(t0);
  if (prompt_logits != nullptr) {
    *prompt_logits = logits;
    logits.erase(logits.begin(), logits.end() - n_vocab);  // keep the last position's row
  }
  for (const int32_t id : prompt) sampler.accept(id);

  t0 = std::chrono::steady_clock::now();
  while (n_predict < 0 || st.n_generated < n_predict) {
    const int32_t id = sampler.sample(logits);
    sampler.accept(id);
    ++st.n_generated;
    if (!on_token(id) || session.n_past() >= session.n_ctx()) break;
    if (n_predict >= 0 && st.n_generated >= n_predict) break;  // no need to evaluate the last token
    const int32_t one[1] = {id};
    logits = session.eval(one, false);
  }
  st.generate_seconds = seconds_since(t0);
  return st;
}

}  // namespace bitdial
