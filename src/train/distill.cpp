#include "train/distill.h"

#include <cmath>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "model/llama_model.h"
#include "train/init_params.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;

// One word for a fingerprint (its words are space-separated key=value pairs).
std::string fingerprint_word(std::string s) {
  for (char& c : s)
    if (c == ' ' || c == '\t' || c == '\n') c = '_';
  return s;
}

// The token texts of a vocabulary, or empty when it carries none.
std::vector<std::string> token_texts(const SynthVocab& vocab) {
  std::vector<std::string> out;
  for (const GgufKeyValue& kv : vocab.keys)
    if (kv.key == "tokenizer.ggml.tokens" && kv.value.type() == GgufValueType::ARRAY)
      for (const GgufValue& v : kv.value.as_array().items) out.push_back(v.type() == GgufValueType::STRING ? v.as_string() : "");
  return out;
}

void check_weights(const DistillWeights& w, const std::string& what) {
  if (!(w.temperature > 0.0f) || !std::isfinite(w.temperature))
    fail(what, ": distill.temperature must be a positive number, not ", w.temperature);
  if (!(w.hard_weight >= 0.0f && w.hard_weight <= 1.0f))
    fail(what, ": distill.hard_weight must be in [0, 1], not ", w.hard_weight);
}

}  // namespace

DistillSpec parse_distill_section(const YamlFields& c, const YAML::Node& n) {
  if (!n.IsMap()) c.bad(n, "'distill' must be a mapping {teacher: MODEL.gguf, temperature: T, hard_weight: A}");
  c.keys(n, "distill", {"teacher", "temperature", "hard_weight"});
  DistillSpec s;
  if (!n["teacher"]) c.bad(n, "'distill.teacher' is required: the teacher model (a GGUF with the student's tokenizer)");
  s.teacher = c.existing(n["teacher"], "distill.teacher");
  if (const YAML::Node t = n["temperature"]) {
    const double v = c.num(t, "distill.temperature");
    // Hinton et al. use 1-20; far beyond that both distributions are uniform and the term carries nothing.
    if (!(v > 0.0 && v <= 100.0)) c.bad(t, concat("'distill.temperature' must be in (0, 100], not ", v));
    s.weights.temperature = static_cast<float>(v);
  }
  if (const YAML::Node a = n["hard_weight"]) {
    const double v = c.num(a, "distill.hard_weight");
    if (!(v >= 0.0 && v <= 1.0)) c.bad(a, concat("'distill.hard_weight' must be in [0, 1], not ", v));
    s.weights.hard_weight = static_cast<float>(v);
  }
  return s;
}

ExtendedTrainConfig load_extended_train_config(const std::string& path, const std::vector<std::string>& extra) {
  ExtendedTrainConfig out;
  out.fields = YamlFields{path, fs::path(path).parent_path()};
  out.train = load_train_config(path, extra, &out.sections);
  return out;
}

DistillConfig load_distill_config(const std::string& path) {
  ExtendedTrainConfig ext = load_extended_train_config(path, {"distill", "qat"});
  if (ext.sections.contains("qat"))
    fail(yaml_where(path, ext.sections["qat"]), ": a qat: section belongs to `bitdial qat` (which also takes this "
         "distill: section, to distill into a quantized student)");
  if (!ext.sections.contains("distill"))
    fail(path, ": missing 'distill:' section ({teacher: MODEL.gguf, temperature: T, hard_weight: A}; see bitdial distill --help)");
  DistillConfig cfg;
  cfg.distill = parse_distill_section(ext.fields, ext.sections["distill"]);
  cfg.train = std::move(ext.train);
  return cfg;
}

Teacher load_teacher(const std::string& path, const SynthVocab& student_vocab) {
  Teacher t;
  ParamSet params = params_from_model(LlamaModel::load(path));
  for (Param& p : params.params) std::vector<float>().swap(p.grad);  // the teacher is never trained
  if (params.spec.n_vocab != student_vocab.size)
    fail(path, ": the teacher has a vocabulary of ", params.spec.n_vocab, " tokens, the student's tokenizer (",
         student_vocab.source, ") ", student_vocab.size);
  const std::vector<std::string> mine = token_texts(synth_vocab_from_gguf(path)), theirs = token_texts(student_vocab);
  if (!mine.empty() && !theirs.empty())
    for (size_t i = 0; i < mine.size() && i < theirs.size(); ++i)
      if (mine[i] != theirs[i])
        fail(path, ": the teacher's token ", i, " is '", mine[i], "', the student's (", student_vocab.source, ") '",
             theirs[i], "': distillation needs the same tokenizer");
  std::error_code ec;
  const uintmax_t bytes = fs::file_size(path, ec);
  t.identity = concat(fs::path(path).filename().string(), ":", ec ? 0 : bytes);
  t.params = std::make_shared<const ParamSet>(std::move(params));
  return t;
}

std::function<void(const TrainBatch&, std::vector<float>&)> make_teacher_logits(std::shared_ptr<const ParamSet> teacher) {
  BITDIAL_ASSERT(teacher != nullptr);
  auto ws = std::make_shared<TrainWorkspace>();
  return [teacher, ws](const TrainBatch& batch, std::vector<float>& logits) {
    logits = forward_logits(*teacher, batch, *ws);
  };
}

void add_teacher(TrainRun& run, TrainHooks& hooks, const Teacher& teacher, const DistillWeights& weights) {
  BITDIAL_ASSERT(teacher.params != nullptr);
  check_weights(weights, "distill");
  const SynthSpec& ts = teacher.params->spec;
  if (ts.n_vocab != run.params.spec.n_vocab)
    fail("distill: the teacher (", teacher.identity, ") has ", ts.n_vocab, " tokens, the student ", run.params.spec.n_vocab);
  if (ts.n_ctx < run.settings.seq_len)
    fail("distill: the teacher (", teacher.identity, ") has a context of ", ts.n_ctx, " tokens, shorter than seq_len ",
         run.settings.seq_len);
  run.fingerprint += concat(" distill_teacher=", fingerprint_word(teacher.identity), " distill_temperature=",
                            weights.temperature, " distill_hard_weight=", weights.hard_weight);
  hooks.teacher = make_teacher_logits(teacher.params);
  hooks.distill = weights;
}

TrainResult run_distill(const TrainRun& run, const Teacher& teacher, const DistillWeights& weights, TrainHooks hooks,
                        const ProgressSink& sink) {
  TrainRun r = run;
  add_teacher(r, hooks, teacher, weights);
  return run_training(r, hooks, sink);
}

}  // namespace bitdial
