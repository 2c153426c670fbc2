// The generation loop shared by `bitdial run`, serving and tests: evaluate the prompt in one batch,
// then sample and feed back one token at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "model/sampler.h"
#include "model/session.h"

namespace bitdial {

struct GenerateStats {
  int64_t n_prompt = 0;
  int64_t n_generated = 0;
  double prompt_seconds = 0;
  double generate_seconds = 0;
};

// prompt (n_prompt) -> up to n_predict new tokens appended to `session` (n_predict < 0: until the
// context is full). Every prompt token goes through sampler.accept(); each new token is passed to
// on_token, and generation stops after it when on_token returns false (end of generation) or the
// context is full. prompt_logits, when not null, receives (n_prompt, n_vocab) logits.
GenerateStats generate(Session& session, Sampler& sampler, std::span<const int32_t> prompt, int64_t n_predict,
                       const std::function<bool(int32_t)>& on_token, std::vector<float>* prompt_logits = nullptr);

}  // namespace bitdial
