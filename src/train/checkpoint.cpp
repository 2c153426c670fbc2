#include "train/checkpoint.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "core/error.h"
#include "formats/gguf.h"
#include "model/llama_gguf_keys.h"
#include "train/model_export.h"

namespace bitdial {
namespace {

const std::string kPrefix = "bitdial.train.";

std::string moment_name(char which, const std::string& param) { return std::string("optim.") + which + "." + param; }

void add_f32(GgufWriter& w, const std::string& name, const std::vector<int64_t>& ne, const std::vector<float>& values) {
  w.add_tensor(name, TensorType::F32, ne, reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(float));
}

void refuse_nonfinite(const std::string& path, const std::string& tensor, const std::vector<float>& values) {
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      fail(path, ": checkpoint not written (the previous one is kept): ", tensor, " is ", values[i], " at element ", i);
}

// --- reading -------------------------------------------------------------------------------------

const GgufValue& key_of(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) fail(f.path(), ": key ", key, " missing (not a bitdial training checkpoint of this shape?)");
  return *v;
}

uint64_t uint_key(const GgufFile& f, const std::string& key) {
  const GgufValue& v = key_of(f, key);
  if (!v.is_integer()) fail(f.path(), ": key ", key, " is a ", gguf_value_type_name(v.type()), ", not an integer");
  try {
    return v.as_uint();
  } catch (const Error& e) {
    fail(f.path(), ": key ", key, ": ", e.what());
  }
}

const std::string& string_key(const GgufFile& f, const std::string& key) {
  const GgufValue& v = key_of(f, key);
  if (v.type() != GgufValueType::STRING) fail(f.path(), ": key ", key, " is a ", gguf_value_type_name(v.type()), ", not a string");
  return v.as_string();
}

const GgufArray& array_key(const GgufFile& f, const std::string& key, GgufValueType elem) {
  const GgufValue& v = key_of(f, key);
  if (v.type() != GgufValueType::ARRAY || v.as_array().elem_type != elem)
    fail(f.path(), ": key ", key, " is not an array of ", gguf_value_type_name(elem));
  return v.as_array();
}

// The {arch}.* hyperparameters must equal the expected spec's.
void check_hparams(const GgufFile& f, const SynthSpec& s) {
  const std::string arch = string_key(f, "general.architecture");
  if (arch != s.arch) fail(f.path(), ": general.architecture is ", arch, ", config expects ", s.arch);
  const std::pair<const char*, int64_t> dims[] = {
      {"vocab_size", s.n_vocab},           {"context_length", s.n_ctx},
      {"embedding_length", s.n_embd},      {"block_count", s.n_layer},
      {"feed_forward_length", s.n_ff},     {"attention.head_count", s.n_head},
      {"attention.head_count_kv", s.n_head_kv}};
  for (const auto& [suffix, want] : dims) {
    const std::string key = arch + "." + suffix;
    const uint64_t got = uint_key(f, key);
    if (got != static_cast<uint64_t>(want)) fail(f.path(), ": ", key, " is ", got, ", config expects ", want);
  }
  const std::pair<const char*, float> reals[] = {{"attention.layer_norm_rms_epsilon", s.rms_eps}, {"rope.freq_base", s.rope_base}};
  for (const auto& [suffix, want] : reals) {
    const std::string key = arch + "." + suffix;
    const GgufValue& v = key_of(f, key);
    if (!v.is_float()) fail(f.path(), ": key ", key, " is a ", gguf_value_type_name(v.type()), ", not a float");
    const float got = static_cast<float>(v.as_float());
    if (got != want) fail(f.path(), ": ", key, " is ", got, ", config expects ", want);
  }
}

// A tensor the config expects: present, F32, of shape `ne`, finite. Returns its values.
std::vector<float> read_f32(const GgufFile& f, const std::string& name, const std::vector<int64_t>& ne) {
  const GgufTensorInfo* t = f.find_tensor(name);
  if (t == nullptr) fail(f.path(), ": tensor ", name, " missing (config expects ", format_ne(ne), ")");
  if (t->ne != ne) fail(f.path(), ": ", name, " has shape ", format_ne(t->ne), ", config expects ", format_ne(ne));
  if (t->type != TensorType::F32) fail(f.path(), ": ", name, " is ", type_name(t->type), ", a checkpoint holds f32");
  std::vector<float> values(static_cast<size_t>(t->n_elements()));
  std::memcpy(values.data(), f.tensor_data(*t), values.size() * sizeof(float));
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) fail(f.path(), ": ", name, " is ", values[i], " at element ", i);
  return values;
}

}  // namespace

void write_checkpoint(const std::string& path, const ParamSet& params, const AdamWState& optim,
                      const TrainProgress& progress, const SynthVocab& vocab) {
  check_param_layout(params, path);
  check_adamw_state(optim, params);
  // Every check before GgufWriter::write: a refused checkpoint never touches the file at `path`.
  for (size_t i = 0; i < params.params.size(); ++i) {
    const Param& p = params.params[i];
    refuse_nonfinite(path, p.name, p.value);
    refuse_nonfinite(path, moment_name('m', p.name), optim.m[i]);
    refuse_nonfinite(path, moment_name('v', p.name), optim.v[i]);
  }

  GgufWriter w;
  set_llama_keys(w, params.spec, vocab, TensorType::F32,
                 "bitdial training checkpoint (step " + std::to_string(optim.step) + ")");
  w.set(kPrefix + "checkpoint_version", GgufValue::u32(kCheckpointVersion));
  w.set(kPrefix + "step", GgufValue::u64(static_cast<uint64_t>(optim.step)));
  w.set(kPrefix + "seed", GgufValue::u64(progress.seed));
  w.set(kPrefix + "tokens_seen", GgufValue::u64(progress.tokens_seen));
  w.set(kPrefix + "data_cursor", GgufValue::u64(progress.data_cursor));
  std::vector<GgufValue> rng;
  for (uint64_t x : progress.rng_state) rng.push_back(GgufValue::u64(x));
  w.set(kPrefix + "rng_state", GgufValue::array(GgufValueType::UINT64, std::move(rng)));
  w.set(kPrefix + "config_fingerprint", GgufValue::string(progress.config_fingerprint));
  std::vector<std::string> no_decay;
  for (const Param& p : params.params)
    if (!p.decay) no_decay.push_back(p.name);
  w.set(kPrefix + "no_decay", GgufValue::string_array(no_decay));

  for (const Param& p : params.params) add_f32(w, p.name, p.shape, p.value);
  for (size_t i = 0; i < params.params.size(); ++i) {
    const Param& p = params.params[i];
    add_f32(w, moment_name('m', p.name), p.shape, optim.m[i]);
    add_f32(w, moment_name('v', p.name), p.shape, optim.v[i]);
  }
  w.write(path);
}

TrainCheckpoint read_checkpoint(const std::string& path, const SynthSpec& expected) {
  const GgufFile f = GgufFile::open(path);
  const uint64_t version = uint_key(f, kPrefix + "checkpoint_version");
  if (version != kCheckpointVersion)
    fail(path, ": checkpoint version ", version, ", this bitdial reads version ", kCheckpointVersion);
  check_hparams(f, expected);

  TrainCheckpoint ck;
  ck.params.spec = expected;
  const std::vector<LlamaTensorShape> layout = llama_tensor_layout(expected);
  std::set<std::string, std::less<>> known;
  for (const LlamaTensorShape& t : layout) {
    Param p;
    p.name = t.name;
    p.shape = t.ne;
    p.value = read_f32(f, t.name, t.ne);
    p.grad.assign(p.value.size(), 0.0f);
    ck.params.params.push_back(std::move(p));
    known.insert(t.name);
  }
  for (const LlamaTensorShape& t : layout) {
    ck.optim.m.push_back(read_f32(f, moment_name('m', t.name), t.ne));
    ck.optim.v.push_back(read_f32(f, moment_name('v', t.name), t.ne));
    known.insert(moment_name('m', t.name));
    known.insert(moment_name('v', t.name));
  }
  for (const GgufTensorInfo& t : f.tensors())
    if (!known.contains(t.name)) fail(path, ": tensor ", t.name, " is not part of the model the config describes");

  const uint64_t step = uint_key(f, kPrefix + "step");
  if (step > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail(path, ": ", kPrefix, "step ", step, " is out of range");
  ck.optim.step = static_cast<int64_t>(step);
  ck.progress.seed = uint_key(f, kPrefix + "seed");
  ck.progress.tokens_seen = uint_key(f, kPrefix + "tokens_seen");
  ck.progress.data_cursor = uint_key(f, kPrefix + "data_cursor");
  for (const GgufValue& x : array_key(f, kPrefix + "rng_state", GgufValueType::UINT64).items)
    ck.progress.rng_state.push_back(x.as_uint());
  ck.progress.config_fingerprint = string_key(f, kPrefix + "config_fingerprint");
  for (const GgufValue& name : array_key(f, kPrefix + "no_decay", GgufValueType::STRING).items) {
    Param* p = ck.params.find(name.as_string());
    if (p == nullptr) fail(path, ": ", kPrefix, "no_decay names ", name.as_string(), ", which is not a parameter");
    p->decay = false;
  }

  ck.vocab = synth_vocab_from_gguf(path);
  if (ck.vocab.size != expected.n_vocab)
    fail(path, ": tokenizer has ", ck.vocab.size, " tokens, config expects ", expected.n_vocab);
  return ck;
}

}  // namespace bitdial
