// Runs a task file's examples on a model behind an OpenAI-compatible endpoint, with the local
// TaskRunner's semantics (eval/task_match.h), so remote and local rows aggregate and pair alike.
#pragma once

#include <cstddef>
#include <functional>

#include "eval/remote_model.h"
#include "eval/task_file.h"
#include "eval/task_runner.h"

namespace bitdial {

// Classification: each choice scored as score_continuation(prompt, choice_prefix + choice), normalised
// per byte of the choice; generation: generate(prompt, max_tokens), first / mean token probability from
// the returned log-probs (0 when the server sends none). Probes the endpoint first, so an unreachable
// one or one without log-probs throws instead of turning every row into the same error; after that a
// failed request (HTTP 500, bad body) is an error row for its example only. Then aggregate().
// Examples go one request at a time, in file order; on_progress(done, total) after each.
TaskReport run_remote_task(RemoteModel& model, const TaskFile& file,
                           const std::function<void(size_t, size_t)>& on_progress = nullptr);

// One example (exposed for tests); a bitdial::Error becomes an error row.
ExampleResult run_remote_example(RemoteModel& model, const TaskExample& ex, const TaskHeader& header);

}  // namespace bitdial
