#include "train/train_config.h"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/yaml_fields.h"

namespace bitdial {

namespace fs = std::filesystem;

namespace {

// Reads one section's keys, remembering the line of each under "<section>.<key>".
struct Section {
  const YamlFields& c;
  TrainConfig& cfg;
  YAML::Node node;
  std::string name;

  // The value node of `key`, or an undefined node; records its line.
  YAML::Node get(const char* key) const {
    YAML::Node n = node[key];
    if (n) cfg.lines[name + "." + key] = yaml_where(c.file, n);
    return n;
  }
  void integer(const char* key, int64_t& out, int64_t lo) const {
    if (const YAML::Node n = get(key)) out = c.integer(n, name + "." + key, lo);
  }
  // A finite number in [lo, hi]; `open_lo` makes lo itself invalid.
  void number(const char* key, double& out, double lo, double hi, bool open_lo = false) const {
    const YAML::Node n = get(key);
    if (!n) return;
    const double v = c.num(n, name + "." + key);
    const bool low = open_lo ? !(v > lo) : !(v >= lo);
    if (!std::isfinite(v) || low || v > hi)
      c.bad(n, concat("'", name, ".", key, "' must be in ", open_lo ? "(" : "[", lo, ", ", hi, "], not ", v));
    out = v;
  }
  std::string path_of(const char* key) const {
    const YAML::Node n = get(key);
    return c.existing(n, name + "." + key);
  }
  std::vector<std::string> paths_of(const char* key) const {
    const YAML::Node n = get(key);
    std::vector<std::string> out;
    if (n.IsSequence() && n.size() == 0) c.bad(n, "'" + name + "." + key + "' is an empty list");
    if (n.IsScalar()) return {c.existing(n, name + "." + key)};
    if (!n.IsSequence()) c.bad(n, "'" + name + "." + key + "' must be a file or a list of files");
    for (const auto& e : n) out.push_back(c.existing(e, name + "." + key));
    return out;
  }
};

void parse_model(const YamlFields& c, TrainConfig& cfg, const YAML::Node& n) {
  c.keys(n, "model",
         {"init", "name", "n_embd", "n_layer", "n_head", "n_head_kv", "n_ff", "n_ctx", "rope_base", "rms_eps",
          "tied_embeddings", "init_std"});
  cfg.lines["model"] = yaml_where(c.file, n);
  const Section s{c, cfg, n, "model"};
  if (n["init"]) {
    for (const char* k : {"name", "n_embd", "n_layer", "n_head", "n_head_kv", "n_ff", "n_ctx", "rope_base", "rms_eps",
                          "tied_embeddings", "init_std"})
      if (n[k]) c.bad(n[k], concat("'model.", k, "' cannot be combined with 'model.init' (the shape comes from the model file)"));
    cfg.init = s.path_of("init");
    return;
  }
  for (const char* k : {"n_embd", "n_layer", "n_head", "n_ff"})
    if (!n[k]) c.bad(n, concat("model: missing '", k, "' (give n_embd, n_layer, n_head and n_ff, or init: MODEL.gguf)"));
  SynthSpec& spec = cfg.spec;
  if (const YAML::Node v = s.get("name")) spec.name = c.str(v, "model.name");
  s.integer("n_embd", spec.n_embd, 1);
  s.integer("n_layer", spec.n_layer, 1);
  s.integer("n_head", spec.n_head, 1);
  spec.n_head_kv = spec.n_head;
  s.integer("n_head_kv", spec.n_head_kv, 1);
  s.integer("n_ff", spec.n_ff, 1);
  s.integer("n_ctx", spec.n_ctx, 1);
  double rope = spec.rope_base, eps = spec.rms_eps, init_std = cfg.init_std;
  s.number("rope_base", rope, 0, 1e12, true);
  s.number("rms_eps", eps, 0, 1, true);
  s.number("init_std", init_std, 0, 10, true);
  spec.rope_base = static_cast<float>(rope);
  spec.rms_eps = static_cast<float>(eps);
  cfg.init_std = static_cast<float>(init_std);
  if (const YAML::Node v = s.get("tied_embeddings")) spec.tied_embeddings = c.boolean(v, "model.tied_embeddings");
}

void parse_tokenizer(const YamlFields& c, TrainConfig& cfg, const YAML::Node& n) {
  cfg.tokenizer_given = true;
  cfg.lines["tokenizer"] = yaml_where(c.file, n);
  const char* forms = "byte, bpe, {bpe: {vocab_size: N}} or {from: MODEL.gguf}";
  if (n.IsScalar()) {
    const std::string v = n.as<std::string>();
    if (v == "byte") cfg.tokenizer = TrainTokenizerKind::byte;
    else if (v == "bpe") cfg.tokenizer = TrainTokenizerKind::bpe;
    else c.bad(n, concat("'tokenizer' must be ", forms, ", not '", v, "'"));
    return;
  }
  c.keys(n, "tokenizer", {"bpe", "from"});
  if (n.size() != 1) c.bad(n, concat("'tokenizer' must be exactly one of ", forms));
  const Section s{c, cfg, n, "tokenizer"};
  if (const YAML::Node b = s.get("bpe")) {
    cfg.tokenizer = TrainTokenizerKind::bpe;
    if (b.IsNull()) return;
    c.keys(b, "tokenizer.bpe", {"vocab_size"});
    Section{c, cfg, b, "tokenizer.bpe"}.integer("vocab_size", cfg.bpe_vocab_size, 257);
    return;
  }
  cfg.tokenizer = TrainTokenizerKind::from_model;
  cfg.tokenizer_from = s.path_of("from");
}

void parse_data(const YamlFields& c, TrainConfig& cfg, const YAML::Node& n) {
  c.keys(n, "data", {"text", "tasks", "heldout", "split"});
  const Section s{c, cfg, n, "data"};
  if (n["text"]) cfg.text = s.paths_of("text");
  if (n["tasks"]) {
    if (!n["tasks"].IsScalar()) c.bad(n["tasks"], "'data.tasks' must be one task file (JSONL)");
    cfg.tasks = s.path_of("tasks");
  }
  if (n["heldout"]) cfg.heldout = s.paths_of("heldout");
  if (const YAML::Node v = s.get("split")) {
    const std::string m = c.str(v, "data.split");
    if (m == "blank_lines") cfg.split = TrainSplit::blank_lines;
    else if (m == "file") cfg.split = TrainSplit::file;
    else c.bad(v, "'data.split' must be blank_lines or file, not '" + m + "'");
  }
  if (cfg.text.empty() && cfg.tasks.empty()) c.bad(n, "data: give 'text' (training text files) or 'tasks' (a task file), or both");
}

void parse_train(const YamlFields& c, TrainConfig& cfg, const YAML::Node& n) {
  c.keys(n, "train",
         {"steps", "batch", "seq_len", "grad_accum", "lr", "min_lr", "warmup", "weight_decay", "beta1", "beta2", "clip",
          "seed", "threads", "eval_every", "eval_tokens", "checkpoint_every"});
  const Section s{c, cfg, n, "train"};
  s.integer("steps", cfg.steps, 1);
  s.integer("batch", cfg.batch, 1);
  s.integer("seq_len", cfg.seq_len, 2);
  s.integer("grad_accum", cfg.grad_accum, 1);
  s.number("lr", cfg.lr, 0, 1e300, true);
  if (n["min_lr"]) {
    double v = 0;
    s.number("min_lr", v, 0, 1e300);
    cfg.min_lr = v;
  }
  s.integer("warmup", cfg.warmup, 0);
  s.number("weight_decay", cfg.weight_decay, 0, 1e300);
  s.number("beta1", cfg.beta1, 0, 1);
  s.number("beta2", cfg.beta2, 0, 1);
  if (cfg.beta1 >= 1) c.bad(n["beta1"], "'train.beta1' must be below 1 (the moments would never move)");
  if (cfg.beta2 >= 1) c.bad(n["beta2"], "'train.beta2' must be below 1 (the moments would never move)");
  s.number("clip", cfg.clip, 0, 1e300);
  int64_t seed = 0;
  if (n["seed"]) {
    s.integer("seed", seed, 0);
    cfg.seed = static_cast<uint64_t>(seed);
  }
  int64_t threads = 0;
  s.integer("threads", threads, 0);
  if (threads > 4096) c.bad(n["threads"], concat("'train.threads' ", threads, " is more than 4096"));
  cfg.threads = static_cast<int>(threads);
  s.integer("eval_every", cfg.eval_every, 0);
  s.integer("eval_tokens", cfg.eval_tokens, 1);
  s.integer("checkpoint_every", cfg.checkpoint_every, 0);
  if (cfg.min_lr && *cfg.min_lr > cfg.lr)
    c.bad(n["min_lr"], concat("'train.min_lr' ", *cfg.min_lr, " is above 'train.lr' ", cfg.lr));
  if (cfg.warmup > cfg.steps)
    c.bad(n["warmup"] ? n["warmup"] : n, concat("'train.warmup' ", cfg.warmup, " is more than 'train.steps' ", cfg.steps));
  if (cfg.batch % cfg.grad_accum != 0)
    c.bad(n["grad_accum"] ? n["grad_accum"] : n,
          concat("'train.batch' ", cfg.batch, " is not a multiple of 'train.grad_accum' ", cfg.grad_accum,
                 " (each update's batch is split into grad_accum equal micro-batches)"));
}

// An output path: its folder must exist; returned absolute.
std::string output_path(const YamlFields& c, const YAML::Node& n, const std::string& key) {
  const std::string s = c.str(n, key);
  if (s.empty()) c.bad(n, "'" + key + "' is empty");
  fs::path p(s);
  if (p.is_relative()) p = c.dir / p;
  p = fs::absolute(p).lexically_normal();
  if (!fs::is_directory(p.parent_path())) c.bad(n, "'" + key + "': folder " + p.parent_path().string() + " does not exist");
  return p.string();
}

void parse_output(const YamlFields& c, TrainConfig& cfg, const YAML::Node& n) {
  c.keys(n, "output", {"model", "type", "checkpoint"});
  const Section s{c, cfg, n, "output"};
  if (!n["model"]) c.bad(n, "output: missing 'model' (the GGUF file the trained model is exported to)");
  cfg.output_model = output_path(c, s.get("model"), "output.model");
  if (const YAML::Node v = s.get("type")) {
    const std::string t = c.str(v, "output.type");
    const std::optional<TensorType> type = type_from_name(t);
    if (!type) c.bad(v, "'output.type' '" + t + "' is not a tensor type (f32, f16, bf16, q8_0, q4_0, q4_K, ...)");
    cfg.output_type = *type;
  }
  if (const YAML::Node v = s.get("checkpoint")) {
    cfg.output_checkpoint = output_path(c, v, "output.checkpoint");
  } else {
    fs::path p(cfg.output_model);
    if (p.extension() == ".gguf") p.replace_extension();
    cfg.output_checkpoint = p.string() + ".ckpt.gguf";
  }
  if (cfg.output_checkpoint == cfg.output_model)
    c.bad(n, "'output.checkpoint' and 'output.model' are the same file");
}

}  // namespace

std::string TrainConfig::where(const std::string& key) const {
  const auto it = lines.find(key);
  return it != lines.end() ? it->second : path;
}

const char* train_tokenizer_name(TrainTokenizerKind kind) {
  switch (kind) {
    case TrainTokenizerKind::byte: return "byte";
    case TrainTokenizerKind::bpe: return "bpe";
    case TrainTokenizerKind::from_model: return "from";
  }
  return "?";
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& extra_sections,
                              std::map<std::string, YAML::Node>* extra) {
  TrainConfig cfg;
  cfg.path = path;
  const std::string bytes = read_file(path);
  YAML::Node root;
  try {
    root = YAML::Load(bytes);
  } catch (const YAML::Exception& e) {
    fail(path, ":", e.mark.line + 1, ": YAML syntax: ", e.msg);
  }
  if (!root.IsMap()) fail(path, ": the config must be a YAML mapping (model:, tokenizer:, data:, train:, output:)");
  const YamlFields c{path, fs::path(path).parent_path()};
  for (const auto& kv : root) {
    const std::string k = kv.first.as<std::string>();
    if (std::find(extra_sections.begin(), extra_sections.end(), k) == extra_sections.end()) continue;
    if (extra != nullptr) (*extra)[k] = kv.second;
    root.remove(k);
  }
  c.keys(root, "the config", {"model", "tokenizer", "data", "train", "output"});
  for (const char* k : {"model", "data", "output"})
    if (!root[k]) fail(path, ": missing '", k, ":' section (see bitdial train --help)");
  cfg.spec.name = fs::path(path).stem().string();
  parse_model(c, cfg, root["model"]);
  if (root["tokenizer"]) parse_tokenizer(c, cfg, root["tokenizer"]);
  parse_data(c, cfg, root["data"]);
  if (root["train"]) parse_train(c, cfg, root["train"]);
  parse_output(c, cfg, root["output"]);
  return cfg;
}

}  // namespace bitdial
