#include "model/llama_model.h"

#include <limits>
#include <sstream>
#include <utility>

#include "blocks/tensor_codec.h"
#include "blocks/traits.h"
#include "core/error.h"
#include "kernels/packed_rows.h"

namespace bitdial {
namespace {

std::string shape_text(const std::vector<int64_t>& ne) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < ne.size(); ++i) os << (i ? ", " : "") << ne[i];
  os << ']';
  return os.str();
}

// Reads `{arch}.suffix` (or another key) as a positive integer that fits comfortably in int64.
int64_t get_count(const GgufFile& f, const std::string& key) {
  const uint64_t v = f.get_uint(key);
  if (v == 0 || v > (uint64_t{1} << 40)) fail(f.path(), ": key '", key, "' is ", v, ", not a count in [1, 2^40]");
  return static_cast<int64_t>(v);
}

int64_t get_count_or(const GgufFile& f, const std::string& key, int64_t fallback) {
  return f.find(key) == nullptr ? fallback : get_count(f, key);
}

float get_float_or(const GgufFile& f, const std::string& key, float fallback) {
  return f.find(key) == nullptr ? fallback : static_cast<float>(f.get_float(key));
}

class TensorLoader {
 public:
  explicit TensorLoader(const GgufFile& f) : f_(f) {}

  const GgufTensorInfo* find(const std::string& name) const { return f_.find_tensor(name); }

  const GgufTensorInfo& require(const std::string& name, const std::vector<int64_t>& ne) const {
    const GgufTensorInfo* t = f_.find_tensor(name);
    if (t == nullptr) fail(f_.path(), ": missing tensor '", name, "'");
    if (t->ne != ne)
      fail(f_.path(), ": tensor '", name, "' has shape ", shape_text(t->ne), ", expected ", shape_text(ne));
    if (t->type != TensorType::F32 && type_traits(t->type).dequantize_row == nullptr)
      fail(f_.path(), ": tensor '", name, "' has type ", type_name(t->type), ", which bitdial cannot decode");
    return *t;
  }

  // A 2-D weight with ne = {cols, rows}, kept in its stored type.
  WeightView matrix(const std::string& name, int64_t rows, int64_t cols) const {
    return view(require(name, {cols, rows}));
  }

  WeightView view(const GgufTensorInfo& t) const {
    WeightView w;
    w.type = t.type;
    w.data = f_.tensor_data(t);
    w.cols = t.ne[0];
    w.rows = t.n_rows();
    return w;
  }

  // A 1-D tensor (norm weights, biases) decoded to floats.
  std::vector<float> vector(const std::string& name, int64_t n) const {
    const GgufTensorInfo& t = require(name, {n});
    return dequantize_tensor(t.type, f_.tensor_data(t), n, n, f_.path() + ": tensor '" + name + "'");
  }

 private:
  const GgufFile& f_;
};

LlamaHparams read_hparams(const GgufFile& f) {
  LlamaHparams hp;
  hp.arch = f.get_string("general.architecture");
  if (hp.arch == "llama") {
    hp.rope_mode = RopeMode::normal;
  } else if (hp.arch == "qwen2") {
    hp.rope_mode = RopeMode::neox;
  } else {
    fail(f.path(), ": unsupported architecture '", hp.arch, "' (general.architecture); supported: llama, qwen2");
  }
  const std::string a = hp.arch + ".";
  hp.n_embd = get_count(f, a + "embedding_length");
  hp.n_layer = get_count(f, a + "block_count");
  hp.n_ff = get_count(f, a + "feed_forward_length");
  hp.n_head = get_count(f, a + "attention.head_count");
  hp.n_head_kv = get_count_or(f, a + "attention.head_count_kv", hp.n_head);
  hp.n_ctx_train = get_count(f, a + "context_length");
  hp.rms_eps = static_cast<float>(f.get_float(a + "attention.layer_norm_rms_epsilon"));
  if (!(hp.rms_eps > 0.0f && hp.rms_eps < 1.0f))
    fail(f.path(), ": key '", a, "attention.layer_norm_rms_epsilon' is ", hp.rms_eps, ", not in (0, 1)");
  if (hp.n_head % hp.n_head_kv != 0)
    fail(f.path(), ": key '", a, "attention.head_count' (", hp.n_head, ") is not a multiple of '", a,
         "attention.head_count_kv' (", hp.n_head_kv, ")");
  if (f.find(a + "attention.key_length") == nullptr && hp.n_embd % hp.n_head != 0)
    fail(f.path(), ": key '", a, "embedding_length' (", hp.n_embd, ") is not a multiple of '", a, "attention.head_count' (",
         hp.n_head, ")");
  hp.head_dim = get_count_or(f, a + "attention.key_length", hp.n_embd / hp.n_head);
  const int64_t v_len = get_count_or(f, a + "attention.value_length", hp.head_dim);
  if (v_len != hp.head_dim)
    fail(f.path(), ": key '", a, "attention.value_length' (", v_len, ") differs from the key length (", hp.head_dim,
         "); not supported");
  hp.rope_base = get_float_or(f, a + "rope.freq_base", 10000.0f);
  if (!(hp.rope_base > 1.0f)) fail(f.path(), ": key '", a, "rope.freq_base' is ", hp.rope_base, ", not > 1");
  hp.rope_dim = get_count_or(f, a + "rope.dimension_count", hp.head_dim);
  if (hp.rope_dim > hp.head_dim || hp.rope_dim % 2 != 0)
    fail(f.path(), ": key '", a, "rope.dimension_count' is ", hp.rope_dim, ", not even and <= the head size ", hp.head_dim);
  if (const GgufValue* st = f.find(a + "rope.scaling.type")) {
    const std::string type = f.get_string(a + "rope.scaling.type");
    (void)st;
    if (type == "linear") {
      const float factor = static_cast<float>(f.get_float(a + "rope.scaling.factor"));
      if (!(factor >= 1.0f && factor < 1e6f))
        fail(f.path(), ": key '", a, "rope.scaling.factor' is ", factor, ", not in [1, 1e6)");
      hp.rope_freq_scale = 1.0f / factor;
    } else if (type != "none") {
      fail(f.path(), ": key '", a, "rope.scaling.type' is '", type, "'; supported: none, linear");
    }
  } else if (const GgufValue* fac = f.find(a + "rope.scaling.factor")) {
    // Old files give the factor without a type, meaning linear.
    const float factor = static_cast<float>(f.get_float(a + "rope.scaling.factor"));
    (void)fac;
    if (factor > 1.0f && factor < 1e6f) hp.rope_freq_scale = 1.0f / factor;
  }
  return hp;
}

}  // namespace

LlamaModel LlamaModel::load(const std::string& path) { return from_gguf(GgufFile::open(path)); }

LlamaModel LlamaModel::from_gguf(GgufFile file) {
  LlamaModel m;
  m.file_ = std::move(file);
  const GgufFile& f = m.file_;
  m.hp_ = read_hparams(f);
  LlamaHparams& hp = m.hp_;
  const TensorLoader load(f);

  const GgufTensorInfo* embd = load.find("token_embd.weight");
  if (embd == nullptr) fail(f.path(), ": missing tensor 'token_embd.weight'");
  if (embd->ne.size() != 2 || embd->ne[0] != hp.n_embd)
    fail(f.path(), ": tensor 'token_embd.weight' has shape ", shape_text(embd->ne), ", expected [", hp.n_embd, ", n_vocab]");
  hp.n_vocab = embd->ne[1];
  if (hp.n_vocab <= 0 || hp.n_vocab > std::numeric_limits<int32_t>::max())
    fail(f.path(), ": tensor 'token_embd.weight' has ", hp.n_vocab, " rows, not a vocabulary size");
  m.token_embd_ = load.matrix("token_embd.weight", hp.n_vocab, hp.n_embd);

  const bool biases = hp.arch == "qwen2";
  m.layers_.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t i = 0; i < hp.n_layer; ++i) {
    LlamaLayer& l = m.layers_[static_cast<size_t>(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    l.attn_norm = load.vector(p + "attn_norm.weight", hp.n_embd);
    l.wq = load.matrix(p + "attn_q.weight", hp.q_dim(), hp.n_embd);
    l.wk = load.matrix(p + "attn_k.weight", hp.kv_dim(), hp.n_embd);
    l.wv = load.matrix(p + "attn_v.weight", hp.kv_dim(), hp.n_embd);
    l.wo = load.matrix(p + "attn_output.weight", hp.n_embd, hp.q_dim());
    if (biases) {
      l.bq = load.vector(p + "attn_q.bias", hp.q_dim());
      l.bk = load.vector(p + "attn_k.bias", hp.kv_dim());
      l.bv = load.vector(p + "attn_v.bias", hp.kv_dim());
    }
    l.ffn_norm = load.vector(p + "ffn_norm.weight", hp.n_embd);
    l.w_gate = load.matrix(p + "ffn_gate.weight", hp.n_ff, hp.n_embd);
    l.w_up = load.matrix(p + "ffn_up.weight", hp.n_ff, hp.n_embd);
    l.w_down = load.matrix(p + "ffn_down.weight", hp.n_embd, hp.n_ff);
  }
  m.output_norm_ = load.vector("output_norm.weight", hp.n_embd);
  m.tied_output_ = load.find("output.weight") == nullptr;
  m.output_ = m.tied_output_ ? m.token_embd_ : load.matrix("output.weight", hp.n_vocab, hp.n_embd);
  if (load.find("rope_freqs.weight") != nullptr) m.rope_freqs_ = load.vector("rope_freqs.weight", hp.rope_dim / 2);
  for (const std::string& name : m.weight_names())
    if (name != "token_embd.weight") m.pack(name);
  if (m.tied_output_) m.pack("output.weight");
  return m;
}

void LlamaModel::pack(const std::string& name) {
  WeightView* w = mutable_weight(name);
  std::vector<uint8_t> bytes = pack_for_matmul(*w);
  if (bytes.empty()) {
    w->packed = nullptr;
    packed_.erase(name);
    return;
  }
  auto buf = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  w->packed = buf->data();
  packed_[name] = std::move(buf);
  // matmul reads the packed copy from now on: the mapped rows need not stay resident too (a tied
  // output's rows are token_embd's, which embedding lookups still read).
  if (!(name == "output.weight" && tied_output_))
    file_.drop_resident(w->data, static_cast<size_t>(w->rows / kPackedRows * kPackedRows) * w->row_stride());
}

namespace {

// "blk.<il>.<rest>" with 0 <= il < n_layer -> il and rest; anything else -> -1.
int64_t layer_of(const std::string& name, int64_t n_layer, std::string& rest) {
  if (name.rfind("blk.", 0) != 0) return -1;
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4 || dot - 4 > 9) return -1;
  int64_t il = 0;
  for (size_t i = 4; i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    il = il * 10 + (name[i] - '0');
  }
  if (il >= n_layer || (dot - 4 > 1 && name[4] == '0')) return -1;
  rest = name.substr(dot + 1);
  return il;
}

}  // namespace

WeightView* LlamaModel::mutable_weight(const std::string& name) {
  if (name == "token_embd.weight") return &token_embd_;
  if (name == "output.weight") return &output_;
  std::string rest;
  const int64_t il = layer_of(name, hp_.n_layer, rest);
  if (il < 0) return nullptr;
  LlamaLayer& l = layers_[static_cast<size_t>(il)];
  if (rest == "attn_q.weight") return &l.wq;
  if (rest == "attn_k.weight") return &l.wk;
  if (rest == "attn_v.weight") return &l.wv;
  if (rest == "attn_output.weight") return &l.wo;
  if (rest == "ffn_gate.weight") return &l.w_gate;
  if (rest == "ffn_up.weight") return &l.w_up;
  if (rest == "ffn_down.weight") return &l.w_down;
  return nullptr;
}

const WeightView* LlamaModel::weight(const std::string& name) const {
  return const_cast<LlamaModel*>(this)->mutable_weight(name);
}

std::vector<std::string> LlamaModel::weight_names() const {
  std::vector<std::string> names{"token_embd.weight"};
  for (int64_t il = 0; il < hp_.n_layer; ++il)
    for (const char* w : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"})
      names.push_back("blk." + std::to_string(il) + "." + w + ".weight");
  if (!tied_output_) names.push_back("output.weight");
  return names;
}

void LlamaModel::replace_weight(const std::string& name, TensorType type, std::vector<uint8_t> bytes) {
  WeightView* w = mutable_weight(name);
  if (w == nullptr || (name == "output.weight" && tied_output_))
    fail(file_.path(), ": replace_weight: the model has no matrix '", name, "'");
  if (type_traits(type).dequantize_row == nullptr)
    fail(file_.path(), ": replace_weight '", name, "': bitdial cannot decode type ", type_info(type).name);
  if (w->cols % type_info(type).block_size != 0)
    fail(file_.path(), ": replace_weight '", name, "': rows of ", w->cols, " values do not fit blocks of ",
         type_info(type).block_size, " (", type_info(type).name, ")");
  const size_t want = static_cast<size_t>(w->rows) * row_bytes(type, w->cols);
  if (bytes.size() != want)
    fail(file_.path(), ": replace_weight '", name, "': ", bytes.size(), " bytes given, ", want, " expected");
  auto buf = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  w->type = type;
  w->data = buf->data();
  owned_[name] = std::move(buf);
  if (name != "token_embd.weight") pack(name);
  if (name == "token_embd.weight" && tied_output_) {
    output_ = token_embd_;
    pack("output.weight");
  }
}

std::vector<float>* LlamaModel::vector(const std::string& name) {
  if (name == "output_norm.weight") return &output_norm_;
  std::string rest;
  const int64_t il = layer_of(name, hp_.n_layer, rest);
  if (il < 0) return nullptr;
  LlamaLayer& l = layers_[static_cast<size_t>(il)];
  std::vector<float>* v = nullptr;
  if (rest == "attn_norm.weight") v = &l.attn_norm;
  if (rest == "ffn_norm.weight") v = &l.ffn_norm;
  if (rest == "attn_q.bias") v = &l.bq;
  if (rest == "attn_k.bias") v = &l.bk;
  if (rest == "attn_v.bias") v = &l.bv;
  return v != nullptr && !v->empty() ? v : nullptr;
}

void LlamaModel::embed(int32_t id, float* out) const {
  BITDIAL_ASSERT(id >= 0 && id < hp_.n_vocab);
  const uint8_t* row = token_embd_.row(id);
  if (token_embd_.type == TensorType::F32) {
    const float* src = reinterpret_cast<const float*>(row);
    for (int64_t i = 0; i < hp_.n_embd; ++i) out[i] = src[i];
  } else {
    type_traits(token_embd_.type).dequantize_row(row, out, hp_.n_embd);
  }
}

}  // namespace bitdial
