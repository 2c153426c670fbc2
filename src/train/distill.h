// Knowledge distillation (`bitdial distill`; Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a
// Neural Network"): the training loop (train/train_loop.h) with a teacher model's logits on every
// micro-batch as soft targets for the student, mixed with the hard next-token loss (train/loss.h).
// Also the config shared by `bitdial distill` and `bitdial qat`: a `bitdial train` config plus their
// own top-level sections.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/yaml_fields.h"
#include "train/loss.h"
#include "train/param_set.h"
#include "train/train_config.h"
#include "train/train_loop.h"

namespace bitdial {

// The config's `distill:` section: {teacher: MODEL.gguf, temperature: T, hard_weight: A}.
struct DistillSpec {
  std::string teacher;     // absolute path of the teacher GGUF
  DistillWeights weights;  // temperature > 0 (default 1), hard_weight in [0, 1] (default 0)
};

// Parses a `distill:` mapping; relative paths against c.dir. Throws bitdial::Error "<file>:<line>: ..."
// for an unknown key, a missing teacher, a file that does not exist, or a value out of range.
DistillSpec parse_distill_section(const YamlFields& c, const YAML::Node& n);

// A `bitdial train` config (train/train_config.h, every key and check unchanged) with extra top-level
// sections the train parser does not know. `sections` holds the extra sections present, by name.
struct ExtendedTrainConfig {
  TrainConfig train;
  std::map<std::string, YAML::Node> sections;
  YamlFields fields;  // file and folder, for parsing the sections with file:line messages
};

// Reads `path` with load_train_config; the sections named in `extra` ("qat", "distill") are allowed
// and returned as nodes. Throws bitdial::Error as load_train_config.
ExtendedTrainConfig load_extended_train_config(const std::string& path, const std::vector<std::string>& extra);

// The config of `bitdial distill`: a `bitdial train` config (the student: a fresh shape or model.init)
// with a `distill:` section. A `qat:` section is refused with a pointer to `bitdial qat`, which takes
// a distill section for a quantized student.
struct DistillConfig {
  TrainConfig train;
  DistillSpec distill;
};
DistillConfig load_distill_config(const std::string& path);

// A teacher: weights decoded to floats (any type the engine reads) and what identifies it in a
// checkpoint's fingerprint.
struct Teacher {
  std::shared_ptr<const ParamSet> params;  // no gradient buffers
  std::string identity;                    // "teacher.gguf:123456" (file name and bytes)
};

// Loads the teacher and checks it against the student's vocabulary: the same size and, when both carry
// tokenizer.ggml.tokens, the same token texts (else its logits mean other tokens). Throws bitdial::Error
// naming the file and the first differing token.
Teacher load_teacher(const std::string& path, const SynthVocab& student_vocab);

// The TrainHooks::teacher callback: the teacher's forward_logits on exactly the student's batch. The
// teacher is shared, not copied; it runs on the calling thread (OpenMP inside) with its own workspace.
// Throws bitdial::Error from forward_logits (e.g. a batch longer than the teacher's context).
std::function<void(const TrainBatch&, std::vector<float>&)> make_teacher_logits(std::shared_ptr<const ParamSet> teacher);

// Wires a teacher into a run: hooks.teacher = make_teacher_logits(teacher.params), hooks.distill =
// weights, and the teacher's identity and the weights appended to run.fingerprint, so a resume with
// another teacher or other weights is refused. Other hooks (a QAT transform) are left alone. Throws
// bitdial::Error for invalid weights, a teacher whose vocabulary size differs from the student's or
// whose context is shorter than settings.seq_len.
void add_teacher(TrainRun& run, TrainHooks& hooks, const Teacher& teacher, const DistillWeights& weights);

// add_teacher, then run_training. Errors as both.
TrainResult run_distill(const TrainRun& run, const Teacher& teacher, const DistillWeights& weights,
                        TrainHooks hooks = {}, const ProgressSink& sink = {});

}  // namespace bitdial
