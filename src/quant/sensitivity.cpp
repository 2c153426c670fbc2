#include "quant/sensitivity.h"

#include <algorithm>
#include <memory>
#include <span>

#include "blocks/tensor_codec.h"
#include "blocks/traits.h"
#include "core/error.h"
#include "eval/perplexity.h"

namespace bitdial {
namespace {

// "blk.12.ffn_down.weight" -> "ffn_down"; "output.weight" -> "output".
std::string kind_of(const std::string& name) {
  std::string rest = name;
  if (rest.rfind("blk.", 0) == 0) {
    const size_t dot = rest.find('.', 4);
    rest = dot == std::string::npos ? rest : rest.substr(dot + 1);
  }
  const size_t dot = rest.rfind(".weight");
  return dot == std::string::npos ? rest : rest.substr(0, dot);
}

}  // namespace

KlReference::KlReference(const LlamaModel& base, const CalibrationSet& calib, int64_t n_seq)
    : calib_(calib), n_seq_(std::max<int64_t>(1, n_seq)), n_vocab_(base.hparams().n_vocab) {
  if (calib.chunks.empty()) fail(calib.source, ": no calibration chunks");
  logits_.resize(calib.chunks.size());
  for_each_calibration_batch(base, calib, n_seq_, nullptr,
                             [&](int64_t c, std::vector<float>& l) { logits_[static_cast<size_t>(c)] = std::move(l); });
}

uint64_t KlReference::bytes() const {
  uint64_t b = 0;
  for (const auto& l : logits_) b += l.size() * sizeof(float);
  return b;
}

double KlReference::mean_kl(const LlamaModel& cand) const {
  if (cand.hparams().n_vocab != n_vocab_) fail("KL reference: the candidate's vocabulary differs from the baseline's");
  double sum = 0;
  for_each_calibration_batch(cand, calib_, n_seq_, nullptr, [&](int64_t c, std::vector<float>& l) {
    const std::vector<float>& b = logits_[static_cast<size_t>(c)];
    for (int64_t j = 0; j < calib_.n_ctx; ++j) {
      const size_t row = static_cast<size_t>(j * n_vocab_);
      sum += score_position(l.data() + row, b.data() + row, n_vocab_, 0).kld;
    }
  });
  return sum / static_cast<double>(n_positions());
}

std::vector<uint8_t> encode_weight(const LlamaModel& model, const std::string& name, TensorType type,
                                   const std::vector<float>* importance) {
  const WeightView* w = model.weight(name);
  if (w == nullptr) fail(model.file().path(), ": no matrix '", name, "'");
  const int64_t n = w->rows * w->cols;
  const std::vector<float> values = dequantize_tensor(w->type, w->data, n, w->cols, name);
  const float* imp = importance != nullptr && static_cast<int64_t>(importance->size()) == w->cols ? importance->data() : nullptr;
  return quantize_tensor(type, values.data(), n, w->cols, imp, name);
}

std::vector<BudgetGroup> measure_sensitivity(LlamaModel& work, const KlReference& reference,
                                             const std::vector<std::string>& tensors, const SensitivityOptions& options) {
  // Groups in first-appearance order.
  std::vector<BudgetGroup> groups;
  for (const std::string& t : tensors) {
    if (work.weight(t) == nullptr) fail(work.file().path(), ": no matrix '", t, "'");
    const std::string label = options.grouping == BudgetGrouping::kind ? kind_of(t) : t;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const BudgetGroup& g) { return g.name == label; });
    if (it == groups.end()) {
      groups.push_back(BudgetGroup{label, {}, {}});
      it = groups.end() - 1;
    }
    it->tensors.push_back(t);
  }
  // Candidates every tensor of the group can hold.
  std::vector<std::vector<TensorType>> fits(groups.size());
  size_t total = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const TensorType type : options.candidates) {
      if (type_traits(type).quantize_row == nullptr || type_traits(type).dequantize_row == nullptr) continue;
      bool ok = true;
      for (const std::string& t : groups[g].tensors) ok = ok && work.weight(t)->cols % type_info(type).block_size == 0;
      if (ok) fits[g].push_back(type);
    }
    if (fits[g].empty()) fail("budget: none of the candidate types can hold '", groups[g].tensors[0], "' (rows of ",
                              work.weight(groups[g].tensors[0])->cols, " values)");
    total += fits[g].size();
  }

  size_t done = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    // The originals, to put back after each measurement.
    std::vector<std::pair<TensorType, std::vector<uint8_t>>> original;
    for (const std::string& t : groups[g].tensors) {
      const WeightView* w = work.weight(t);
      original.emplace_back(w->type, std::vector<uint8_t>(w->data, w->data + w->rows * w->row_stride()));
    }
    for (const TensorType type : fits[g]) {
      BudgetOption opt;
      opt.type = type;
      for (size_t i = 0; i < groups[g].tensors.size(); ++i) {
        const std::string& t = groups[g].tensors[i];
        const std::vector<float>* imp = nullptr;
        if (options.importance != nullptr) {
          const auto it = options.importance->find(t);
          if (it != options.importance->end()) imp = &it->second;
        }
        std::vector<uint8_t> bytes;
        if (type == original[i].first) bytes = original[i].second;
        else bytes = encode_weight(work, t, type, imp);
        opt.bytes += bytes.size();
        work.replace_weight(t, type, std::move(bytes));
      }
      opt.damage = std::max(0.0, reference.mean_kl(work));
      groups[g].options.push_back(opt);
      for (size_t i = 0; i < groups[g].tensors.size(); ++i)
        work.replace_weight(groups[g].tensors[i], original[i].first, original[i].second);
      if (options.progress) options.progress(++done, total);
    }
  }
  return groups;
}

}  // namespace bitdial
