#include "quant/quantize_model.h"

#include <omp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "blocks/traits.h"
#include "core/error.h"
#include "model/convert.h"

namespace bitdial {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kQuantizationVersion = 2;  // ggml's block layout generation; llama.cpp checks it

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Bytes GgufWriter emits for a value's payload (after its type tag).
uint64_t payload_bytes(const GgufValue& v) {
  switch (v.type()) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16:
    case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
    case GgufValueType::FLOAT64: return 8;
    case GgufValueType::STRING: return 8 + v.as_string().size();
    case GgufValueType::ARRAY: {
      uint64_t n = 4 + 8;
      for (const GgufValue& item : v.as_array().items) n += payload_bytes(item);
      return n;
    }
  }
  fail("gguf: value type ", static_cast<uint32_t>(v.type()), " has no size");
}

// The exact size of the GGUF file (layout in formats/gguf.h) these keys and planned tensors make.
uint64_t gguf_file_bytes(const std::vector<GgufKeyValue>& kv, const std::vector<TensorPlan>& tensors) {
  uint64_t align = 32;
  for (const GgufKeyValue& e : kv)
    if (e.key == "general.alignment") align = static_cast<uint64_t>(e.value.as_int());
  uint64_t n = 4 + 4 + 8 + 8;  // magic, version, n_tensors, n_kv
  for (const GgufKeyValue& e : kv) n += 8 + e.key.size() + 4 + payload_bytes(e.value);
  for (const TensorPlan& t : tensors) n += 8 + t.name.size() + 4 + 8 * t.ne.size() + 4 + 8;
  n = align_up(n, align);
  for (const TensorPlan& t : tensors) n += align_up(t.bytes, align);
  return n;
}

bool is_float(TensorType t) { return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16; }

// Rejects a method result or importance vector that does not fit the plan before any file is opened.
void check_inputs(const GgufFile& in, const QuantPlan& plan, const QuantizeOptions& opt) {
  if (plan.tensors.size() != in.tensors().size()) fail("quantize: the plan has ", plan.tensors.size(), " tensors, the model ", in.tensors().size());
  std::map<std::string, const TensorPlan*> by_name;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    if (plan.tensors[i].name != in.tensors()[i].name || plan.tensors[i].ne != in.tensors()[i].ne)
      fail("quantize: plan entry ", i, " ('", plan.tensors[i].name, "') does not match the model's tensor '", in.tensors()[i].name, "'");
    by_name[plan.tensors[i].name] = &plan.tensors[i];
  }
  const auto find = [&](const std::string& name, const char* what) -> const TensorPlan& {
    auto it = by_name.find(name);
    if (it == by_name.end()) fail(what, " for '", name, "': the model has no such tensor");
    return *it->second;
  };
  if (opt.method != nullptr) {
    for (const auto& [name, bytes] : opt.method->encoded) {
      const TensorPlan& t = find(name, "method result");
      if (bytes.size() != t.bytes)
        fail("method result for '", name, "': ", bytes.size(), " encoded bytes, its planned type ", type_name(t.target), " needs ", t.bytes);
    }
    for (const auto& [name, values] : opt.method->floats) {
      const TensorPlan& t = find(name, "method result");
      if (static_cast<int64_t>(values.size()) != t.n_elements())
        fail("method result for '", name, "': ", values.size(), " values, the tensor has ", t.n_elements());
    }
  }
  for (const auto& [name, w] : opt.importance) {
    auto it = by_name.find(name);
    if (it == by_name.end()) continue;  // an imatrix may cover weights this file does not have
    if (static_cast<int64_t>(w.size()) != it->second->ne[0])
      fail("importance vector for '", name, "': ", w.size(), " columns, the tensor has ", it->second->ne[0]);
  }
}

// One output tensor: rows decoded from the mapped input (or taken from a method's floats) and encoded
// in parallel, each thread with its own row buffer. Rows are independent, so the bytes are the same
// for every thread count.
std::vector<uint8_t> produce_tensor(const GgufFile& in, const GgufTensorInfo& info, const TensorPlan& t, const QuantizeOptions& opt) {
  const float* replaced = nullptr;
  if (opt.method != nullptr) {
    if (auto it = opt.method->encoded.find(t.name); it != opt.method->encoded.end()) return it->second;
    if (auto it = opt.method->floats.find(t.name); it != opt.method->floats.end()) replaced = it->second.data();
  }
  const uint8_t* src = in.tensor_data(info);
  if (replaced == nullptr && t.target == info.type) return std::vector<uint8_t>(src, src + info.nbytes);

  const float* importance = nullptr;
  if (auto it = opt.importance.find(t.name); it != opt.importance.end() && !is_float(t.target)) importance = it->second.data();
  const int64_t cols = t.ne.empty() ? 1 : t.ne[0];
  const int64_t rows = t.n_elements() / cols;
  const TypeTraits& from = type_traits(info.type);
  const TypeTraits& to = type_traits(t.target);
  BITDIAL_ASSERT(to.quantize_row != nullptr && (replaced != nullptr || from.dequantize_row != nullptr));
  const size_t in_rb = row_bytes(info.type, cols);
  const size_t out_rb = row_bytes(t.target, cols);
  std::vector<uint8_t> out(out_rb * static_cast<size_t>(rows));
  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> row(replaced == nullptr ? static_cast<size_t>(cols) : 0);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = nullptr;
      if (replaced != nullptr) {
        x = replaced + r * cols;
      } else {
        from.dequantize_row(src + static_cast<size_t>(r) * in_rb, row.data(), cols);
        x = row.data();
      }
      to.quantize_row(x, out.data() + static_cast<size_t>(r) * out_rb, cols, importance);
    }
  }
  return out;
}

// Hands the pages of a finished input tensor back to the OS, so the mapping's resident part stays
// about one tensor instead of growing to the whole input. MADV_PAGEOUT only reclaims (clean file
// pages are dropped and re-read if touched again; anonymous memory would be swapped, never lost), so
// it is safe whatever backs the GgufFile; where the kernel lacks it the call fails and nothing changes.
void release_pages(const uint8_t* data, size_t n) {
#ifdef MADV_PAGEOUT
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
#endif
}

bool has_gguf_magic(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  f.read(magic, 4);
  return f.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}


}  // namespace

GgufInput::GgufInput(const std::string& in, const std::string& out, const QuantizeOptions& opt) {
  std::error_code ec;
  if (!fs::exists(in, ec)) fail(in, ": no such file or folder");
  if (!fs::is_directory(in, ec) && has_gguf_magic(in)) {
    file_ = std::make_unique<GgufFile>(GgufFile::open(in));
    return;
  }
  temp_ = out + ".src-tmp.gguf";
  if (opt.warn) opt.warn(concat(in, " is not a GGUF: converting it to the temporary ", temp_, " first (removed afterwards)"));
  try {
    convert_model(in, temp_, {});
    file_ = std::make_unique<GgufFile>(GgufFile::open(temp_));
  } catch (...) {
    fs::remove(temp_, ec);
    throw;
  }
  converted_from_ = in;
}

GgufInput::~GgufInput() {
  file_.reset();  // unmap before removing
  std::error_code ec;
  if (!temp_.empty()) fs::remove(temp_, ec);
}

std::vector<GgufKeyValue> quantized_metadata(const GgufFile& in, uint32_t file_type) {
  std::vector<GgufKeyValue> kv = in.metadata();
  const auto set = [&kv](const std::string& key, GgufValue v) {
    for (GgufKeyValue& e : kv) {
      if (e.key == key) {
        e.value = std::move(v);
        return;
      }
    }
    kv.push_back({key, std::move(v)});
  };
  set("general.quantization_version", GgufValue::u32(kQuantizationVersion));
  set("general.file_type", GgufValue::u32(file_type));
  return kv;
}

QuantPlan plan_model_quantization(const GgufFile& in, const QuantRecipe& recipe) {
  QuantPlan plan = plan_tensors(in.tensors(), recipe_shape_of(in), recipe);
  plan.file_bytes = gguf_file_bytes(quantized_metadata(in, plan.file_type), plan.tensors);
  return plan;
}

QuantizeResult write_quantized_model(const GgufFile& in, const QuantPlan& plan, const std::string& out, const QuantizeOptions& opt) {
  check_inputs(in, plan, opt);
  if (opt.warn && plan.requantized > 0)
    opt.warn(concat("warning: ", plan.requantized, " tensors of ", in.path(),
                    " are already quantized; they are decoded and encoded again, so their errors add up "
                    "(quantize from the f16/f32 original when you can)"));
  GgufWriter w;
  w.set_version(3);
  for (const GgufKeyValue& kv : quantized_metadata(in, plan.file_type)) w.set(kv.key, kv.value);

  auto done = std::make_shared<uint64_t>(0);
  const uint64_t total = plan.n_elements;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const TensorPlan& t = plan.tensors[i];
    const GgufTensorInfo& info = in.tensors()[i];
    w.add_tensor_lazy(t.name, t.target, t.ne, [&in, &info, &t, &opt, done, total] {
      if (opt.cancelled && opt.cancelled()) fail("interrupted before tensor '", t.name, "'; no output written");
      std::vector<uint8_t> bytes = produce_tensor(in, info, t, opt);
      release_pages(in.tensor_data(info), info.nbytes);
      *done += static_cast<uint64_t>(t.n_elements());
      if (opt.progress) opt.progress(*done, total);
      return bytes;
    });
  }
  w.write(out);

  QuantizeResult r;
  r.plan = plan;
  std::error_code ec;
  r.file_bytes = fs::file_size(out, ec);
  return r;
}

QuantPlan plan_model_quantization(const std::string& in, const std::string& out, const QuantizeOptions& opt) {
  const GgufInput input(in, out, opt);
  return plan_model_quantization(input.file(), opt.recipe);
}

QuantizeResult quantize_model(const std::string& in, const std::string& out, const QuantizeOptions& opt) {
  const GgufInput input(in, out, opt);
  const QuantPlan plan = plan_model_quantization(input.file(), opt.recipe);
  QuantizeResult r = write_quantized_model(input.file(), plan, out, opt);
  r.converted_from = input.converted_from();
  return r;
}

}  // namespace bitdial
