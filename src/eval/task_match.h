// Scoring rules shared by every task runner (local engine, remote endpoint), so an example's row means
// the same whichever model produced the log-likelihoods or the text.
#pragma once

#include <string>

#include "eval/task_file.h"
#include "eval/task_runner.h"

namespace bitdial {

// Generation: exact (both sides trimmed of whitespace), contains, or regex searched anywhere.
bool generation_matches(const TaskExample& ex, const std::string& output);

// Classification, from r.choice_logliks, r.choice_logliks_norm and r.label: predicted and
// predicted_norm (argmax, first on ties), correct, correct_norm, and confidence / margin (softmax
// over the raw log-likelihoods: probability of the prediction and its lead over the runner-up).
void decide_classification(ExampleResult& r);

// The row of an example that could not be scored: identity, label and the message, no half-filled score.
ExampleResult error_row(const TaskExample& ex, const std::string& message);

}  // namespace bitdial
