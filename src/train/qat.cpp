#include "train/qat.h"

#include <cstring>

#include "core/error.h"
#include "core/sha256.h"
#include "quant/imatrix.h"
#include "train/token_stream.h"

namespace bitdial {

QatSpec parse_qat_section(const YamlFields& c, const YAML::Node& n) {
  if (!n.IsMap()) c.bad(n, "'qat' must be a mapping: {type: q2_K} or {preset: Q3_K_M} [, imatrix: FILE]");
  c.keys(n, "qat", {"type", "preset", "imatrix", "min_imatrix_tokens"});
  QatSpec s;
  const YAML::Node type = n["type"], preset = n["preset"];
  if (type && preset) c.bad(preset, "'qat' takes either 'type' (one type for every matrix) or 'preset', not both");
  if (!type && !preset) c.bad(n, "'qat' needs 'type' (e.g. q2_K: every matrix) or 'preset' (e.g. Q3_K_M)");
  if (type) {
    const std::string name = c.str(type, "qat.type");
    s.type = type_from_name(name);
    if (!s.type) c.bad(type, "'qat.type': unknown tensor type '" + name + "' (q2_K, q3_K, q4_K, q4_0, iq4_nl, ...)");
  } else {
    s.preset = c.str(preset, "qat.preset");
    try {
      s.preset = find_quant_preset(s.preset).name;
    } catch (const Error& e) {
      c.bad(preset, concat("'qat.preset': ", e.what()));
    }
  }
  if (const YAML::Node im = n["imatrix"]) s.imatrix = c.existing(im, "qat.imatrix");
  if (const YAML::Node m = n["min_imatrix_tokens"]) s.min_imatrix_tokens = c.integer(m, "qat.min_imatrix_tokens", 1);
  return s;
}

QatConfig load_qat_config(const std::string& path) {
  ExtendedTrainConfig ext = load_extended_train_config(path, {"qat", "distill"});
  QatConfig cfg;
  if (!ext.sections.contains("qat"))
    fail(path, ": missing 'qat:' section ({type: q2_K} or {preset: Q3_K_M}; see bitdial qat --help)");
  if (ext.train.init.empty())
    fail(path, ": qat fine-tunes a trained model: set model.init to its GGUF (the model section's shape keys "
         "start from random weights)");
  if (ext.train.lines.contains("output.type"))
    fail(ext.train.where("output.type"), ": output.type does not apply to qat: the model is exported in the qat "
         "section's types");
  cfg.qat = parse_qat_section(ext.fields, ext.sections["qat"]);
  if (ext.sections.contains("distill")) cfg.distill = parse_distill_section(ext.fields, ext.sections["distill"]);
  cfg.train = std::move(ext.train);
  return cfg;
}

FakeQuantPlan make_qat_plan(const ParamSet& params, const QatSpec& spec, std::vector<std::string>* warnings) {
  FakeQuantPlan plan = spec.type ? fake_quant_plan(params, *spec.type) : fake_quant_plan(params, spec.preset);
  if (spec.imatrix.empty()) return plan;
  const Imatrix im = Imatrix::load(spec.imatrix);
  if (im.model.known()) {
    const SynthSpec& s = params.spec;
    const auto differs = [&](const char* what, int64_t theirs, int64_t mine) {
      if (theirs != 0 && theirs != mine)
        fail(spec.imatrix, ": collected on a model with ", what, " ", theirs, ", the model being trained has ", mine);
    };
    if (im.model.arch != s.arch)
      fail(spec.imatrix, ": collected on a '", im.model.arch, "' model, the model being trained is '", s.arch, "'");
    differs("n_embd", im.model.n_embd, s.n_embd);
    differs("n_layer", im.model.n_layer, s.n_layer);
    differs("n_ff", im.model.n_ff, s.n_ff);
    differs("n_vocab", im.model.n_vocab, s.n_vocab);
  }
  std::vector<std::string> unweighted = set_fake_quant_importance(plan, im, spec.min_imatrix_tokens, spec.imatrix);
  if (warnings != nullptr)
    for (std::string& line : unweighted) warnings->push_back(spec.imatrix + ": " + line);
  return plan;
}

QatResult run_qat(const TrainRun& run, const FakeQuantPlan& plan, TrainHooks hooks, const ProgressSink& sink) {
  if (hooks.transform) fail("qat: the hooks already carry a weight transform; QAT sets its own");
  check_fake_quant_plan(plan, run.params, "qat");

  // The target and the importance weights decide what is trained: a resume must find them unchanged.
  std::string importance;
  for (const FakeQuantTensor& t : plan.tensors) {
    importance += t.name + '\0';
    importance.append(reinterpret_cast<const char*>(t.importance.data()), t.importance.size() * sizeof(float));
  }
  TrainRun r = run;
  r.fingerprint += concat(" qat=", plan.name, " qat_importance=", sha256_hex(importance).substr(0, 16));
  r.output_path.clear();  // exported below, in the plan's types
  hooks.transform = make_fake_quant(plan);

  QatResult out;
  if (!run.heldout_ids.empty()) {
    TrainWorkspace ws;
    const TrainSettings& t = run.settings;
    out.float_heldout_loss =
        heldout_loss(run.params, heldout_batches(run.heldout_ids, t.seq_len, t.batch / t.grad_accum, t.eval_tokens), ws);
  }
  out.train = run_training(r, hooks, sink);
  if (!out.train.interrupted && !run.output_path.empty())
    out.exported = export_fake_quant_gguf(run.output_path, out.train.params, run.vocab, plan,
                                          run.export_options.description);
  return out;
}

}  // namespace bitdial
