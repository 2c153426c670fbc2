// How sure a backend was of its answer, as one number in [0, 1]: the cascade router escalates a
// request to the next model when the confidence is below the route's threshold, so the measure must
// match the one `bitdial sweep` used when it recommended that threshold.
#pragma once

#include <string>

#include "serve/generation.h"

namespace bitdial::serve {

enum class ConfidenceKind {
  mean_token_probability,      // mean of exp(logprob) over the generated tokens
  min_token_probability,       // the least likely generated token
  token_probability_quantile,  // a low quantile of the token probabilities (robust to one odd token)
  choice_probability,          // classification: softmax probability of the answered choice
  choice_margin,               // classification: its lead over the runner-up
  mixed,                       // choice_probability for classification, mean_token_probability otherwise
};

struct ConfidenceSpec {
  ConfidenceKind kind = ConfidenceKind::mixed;
  double quantile = 0.1;  // token_probability_quantile only, in [0, 1]
};

// `name` is the enum value spelled as above ("mean_token_probability", ...). Unknown names, and a
// quantile outside [0, 1] for token_probability_quantile, raise bitdial::Error (listing valid names).
ConfidenceSpec parse_confidence(const std::string& name, double quantile);
std::string confidence_name(ConfidenceKind kind);

// The confidence of `result`, in [0, 1].
// - Token kinds read exp(logprob) of result.tokens; tokens without a log-prob (an upstream that did not
//   report them) are skipped. With no token probabilities at all the answer is 1.0: nothing was
//   generated, so nothing was unsure, and a cascade does not escalate an empty answer (which an
//   escalation would rarely change). Routers that need token confidence from an upstream must ask it
//   for logprobs.
// - token_probability_quantile is nearest-rank: the ceil(q * n)-th smallest probability (the smallest
//   for q = 0, the largest for q = 1).
// - Choice kinds read result.choice_probability / choice_margin and mean something only for a
//   classification (result.chosen >= 0); for a generation they fall back to mean_token_probability.
// - mixed reproduces `bitdial sweep` (decide/sweep_results.cpp cascade_examples_from_rows): choice
//   probability for classification, mean token probability (eval/task_runner.cpp mean_token_prob) for
//   generation.
double confidence_of(const GenerationResult& result, const ConfidenceSpec& spec);

}  // namespace bitdial::serve
