#include "quant/awq.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include "blocks/tensor_codec.h"
#include "blocks/traits.h"
#include "core/error.h"

namespace bitdial {
namespace {

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The four per-layer sites AWQ scales, in the order the forward pass feeds them; output_in (the vocabulary
// projection) is handled once after the layers.
constexpr std::array<MatmulSite, 4> kSites{MatmulSite::attn_in, MatmulSite::attn_out, MatmulSite::ffn_in,
                                           MatmulSite::ffn_mid};

const char* site_name(MatmulSite site) {
  switch (site) {
    case MatmulSite::attn_in: return "attn_in";
    case MatmulSite::attn_out: return "attn_out";
    case MatmulSite::ffn_in: return "ffn_in";
    case MatmulSite::ffn_mid: return "ffn_mid";
    case MatmulSite::output_in: return "output_in";
  }
  return "?";
}

// Per site and layer: sum over every calibration token of |x_c| (for s_X, §3.2) and a reservoir sample of
// at most max_tokens input rows (for the output-error objective), seeded per site so the sample does not
// depend on the order other sites are seen in.
struct SiteStats {
  int64_t cols = 0;
  int64_t n_seen = 0;
  std::vector<double> sum_abs;
  std::vector<float> sample;  // (n_kept, cols)
  int64_t n_kept = 0;
  std::mt19937_64 rng;
};

class AwqCollector : public ActivationObserver {
 public:
  // only_layer >= 0: keep the statistics of that layer alone (and of output_in); -1: every layer.
  AwqCollector(int64_t n_layer, int64_t max_tokens, uint64_t seed, int64_t only_layer = -1)
      : max_tokens_(std::max<int64_t>(1, max_tokens)), only_layer_(only_layer) {
    stats_.resize(static_cast<size_t>(n_layer));
    for (int64_t l = 0; l < n_layer; ++l)
      for (size_t s = 0; s < kSites.size(); ++s) stats_[static_cast<size_t>(l)][s].rng.seed(seed + 1000003ull * l + 7919ull * s);
    output_.rng.seed(seed + 1000003ull * n_layer);
  }

  void on_matmul_input(MatmulSite site, int64_t layer, const float* x, int64_t n_tokens, int64_t cols) override {
    BITDIAL_ASSERT(site == MatmulSite::output_in || (layer >= 0 && layer < static_cast<int64_t>(stats_.size())));
    if (site != MatmulSite::output_in && only_layer_ >= 0 && layer != only_layer_) return;
    SiteStats& st = site == MatmulSite::output_in ? output_ : stats_[static_cast<size_t>(layer)][static_cast<size_t>(site)];
    if (st.cols == 0) {
      st.cols = cols;
      st.sum_abs.assign(static_cast<size_t>(cols), 0.0);
    }
    BITDIAL_ASSERT(st.cols == cols);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* row = x + t * cols;
      for (int64_t c = 0; c < cols; ++c) st.sum_abs[static_cast<size_t>(c)] += std::abs(row[c]);
      // Reservoir sampling (Algorithm R): every token seen so far is kept with equal probability.
      int64_t slot = -1;
      if (st.n_kept < max_tokens_) {
        slot = st.n_kept++;
        st.sample.resize(static_cast<size_t>(st.n_kept * cols));
      } else {
        const int64_t j = static_cast<int64_t>(st.rng() % static_cast<uint64_t>(st.n_seen + 1));
        if (j < max_tokens_) slot = j;
      }
      if (slot >= 0) std::copy_n(row, cols, st.sample.begin() + slot * cols);
      ++st.n_seen;
    }
  }

  const SiteStats& stats(int64_t layer, MatmulSite site) const {
    return site == MatmulSite::output_in ? output_ : stats_[static_cast<size_t>(layer)][static_cast<size_t>(site)];
  }

 private:
  int64_t max_tokens_;
  int64_t only_layer_;
  std::vector<std::array<SiteStats, 4>> stats_;
  SiteStats output_;
};

// G = X^T X (cols, cols) over the sampled rows, in double so the error differences the searches compare
// are not lost to rounding.
Eigen::MatrixXd gram_of(const SiteStats& st) {
  Eigen::Map<const RowMatrixF> x(st.sample.data(), st.n_kept, st.cols);
  const Eigen::MatrixXd xd = x.cast<double>();
  return xd.transpose() * xd;
}

AwqMatrix load_matrix(const LlamaModel& model, const std::string& name, const std::map<std::string, TensorType>& types,
                      bool& planned) {
  const WeightView* v = model.weight(name);
  if (v == nullptr) fail("awq: the model has no matrix '", name, "'");
  AwqMatrix m;
  m.name = name;
  m.rows = v->rows;
  m.cols = v->cols;
  m.values = dequantize_tensor(v->type, v->data, v->rows * v->cols, v->cols, name);
  const auto it = types.find(name);
  planned = it != types.end();
  m.type = planned ? it->second : v->type;
  return m;
}

std::vector<float> mean_abs_of(const SiteStats& st) {
  std::vector<float> m(static_cast<size_t>(st.cols));
  for (int64_t c = 0; c < st.cols; ++c)
    m[static_cast<size_t>(c)] = static_cast<float>(st.sum_abs[static_cast<size_t>(c)] / static_cast<double>(st.n_seen));
  return m;
}

// The Gram matrix of the scaled model's input x / s: diag(1/s) G diag(1/s).
Eigen::MatrixXd folded_gram(const Eigen::MatrixXd& gram, std::span<const float> s) {
  const Eigen::Map<const Eigen::VectorXf> sv(s.data(), static_cast<Eigen::Index>(s.size()));
  const Eigen::VectorXd inv = sv.cast<double>().cwiseInverse();
  return inv.asDiagonal() * gram * inv.asDiagonal();
}

void print_report(std::FILE* out, const std::string& what, const std::vector<AwqGroupReport>& reports) {
  std::fprintf(out, "awq: %s:", what.c_str());
  for (const AwqGroupReport& r : reports) {
    if (!r.skipped.empty())
      std::fprintf(out, " %s skipped;", site_name(r.site));
    else
      std::fprintf(out, " %s alpha %.2f err %.3g -> %.3g -> %.3g;", site_name(r.site), r.alpha, r.error_plain, r.error_scaled,
                   r.error_clipped);
  }
  std::fprintf(out, "\n");
}

void scale_columns(AwqMatrix& w, std::span<const float> s) {
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c) w.values[static_cast<size_t>(r * w.cols + c)] *= s[static_cast<size_t>(c)];
}

void divide_row(AwqMatrix& w, int64_t r, float s) {
  for (int64_t c = 0; c < w.cols; ++c) w.values[static_cast<size_t>(r * w.cols + c)] /= s;
}

}  // namespace

bool awq_quantizes(TensorType type, int64_t cols) {
  if (type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16 || type == TensorType::F64) return false;
  const TypeTraits& tr = type_traits(type);
  if (tr.quantize_row == nullptr || tr.dequantize_row == nullptr) return false;
  return cols > 0 && cols % tr.info().block_size == 0;
}

double awq_output_error(const AwqMatrix& w, std::span<const float> stored, const Eigen::MatrixXd& gram,
                        std::span<const float> s, AwqTarget target) {
  const int64_t n = w.rows * w.cols;
  BITDIAL_ASSERT(static_cast<int64_t>(stored.size()) == n && static_cast<int64_t>(w.values.size()) == n);
  BITDIAL_ASSERT(gram.rows() == w.cols && gram.cols() == w.cols);
  BITDIAL_ASSERT(s.empty() || static_cast<int64_t>(s.size()) == w.cols);
  const std::vector<uint8_t> q = quantize_tensor(w.type, stored.data(), n, w.cols, nullptr, w.name);
  const std::vector<float> deq = dequantize_tensor(w.type, q.data(), n, w.cols, w.name);
  // D = W - Q diag(1/s) (rows, cols); error = sum_r d_r^T G d_r.
  RowMatrixD d(w.rows, w.cols);
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c) {
      const size_t i = static_cast<size_t>(r * w.cols + c);
      const double qv = s.empty() ? deq[i] : static_cast<double>(deq[i]) / s[static_cast<size_t>(c)];
      d(r, c) = static_cast<double>(w.values[i]) - qv;
    }
  if (target.empty()) return (d * gram).cwiseProduct(d).sum();
  const Eigen::Map<const RowMatrixF> wf(w.values.data(), w.rows, w.cols);
  const RowMatrixD wd = wf.cast<double>();
  double err = (d * gram).cwiseProduct(d).sum() + 2 * (d * *target.cross).cwiseProduct(wd).sum();
  if (target.delta != nullptr) err += (wd * *target.delta).cwiseProduct(wd).sum();
  return err;
}

std::vector<float> awq_scales(std::span<const float> mean_abs, double alpha) {
  std::vector<float> s(mean_abs.size(), 1.0f);
  if (mean_abs.empty() || alpha == 0) return s;
  const float top = *std::max_element(mean_abs.begin(), mean_abs.end());
  if (!(top > 0)) return s;
  // Channels that never fire would get s -> 0 and blow up 1/s in the fold; floor them well below the rest.
  const double floor = static_cast<double>(top) * 1e-4;
  double lo = std::numeric_limits<double>::max(), hi = 0;
  std::vector<double> raw(mean_abs.size());
  for (size_t c = 0; c < mean_abs.size(); ++c) {
    raw[c] = std::pow(std::max(static_cast<double>(mean_abs[c]), floor), alpha);
    lo = std::min(lo, raw[c]);
    hi = std::max(hi, raw[c]);
  }
  // Centre the scales on 1 geometrically: the fold divides by them, so neither side should drift far.
  const double norm = std::sqrt(lo * hi);
  for (size_t c = 0; c < s.size(); ++c) s[c] = static_cast<float>(raw[c] / norm);
  return s;
}

AwqScaleSearch awq_search_scales(std::span<const AwqMatrix> group, std::span<const float> mean_abs,
                                 const Eigen::MatrixXd& gram, const AwqOptions& options, AwqTarget target) {
  if (group.empty()) fail("awq: scale search over an empty group");
  const int64_t cols = static_cast<int64_t>(mean_abs.size());
  for (const AwqMatrix& w : group) {
    if (w.cols != cols) fail("awq: ", w.name, " has ", w.cols, " columns, the activations ", cols);
    if (!awq_quantizes(w.type, w.cols)) fail("awq: ", w.name, ": type ", type_name(w.type), " is not searched");
  }
  std::vector<double> alphas;
  if (options.alpha >= 0) {
    alphas = {0.0, options.alpha};
  } else {
    const int n = std::max(2, options.n_grid);
    for (int i = 0; i < n; ++i) alphas.push_back(static_cast<double>(i) / (n - 1));
  }
  AwqScaleSearch out;
  out.error = std::numeric_limits<double>::infinity();
  std::vector<float> stored;
  for (size_t i = 0; i < alphas.size(); ++i) {
    const std::vector<float> s = awq_scales(mean_abs, alphas[i]);
    double err = 0;
    for (const AwqMatrix& w : group) {
      stored = w.values;
      for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t c = 0; c < cols; ++c) stored[static_cast<size_t>(r * cols + c)] *= s[static_cast<size_t>(c)];
      err += awq_output_error(w, stored, gram, s, target);
    }
    out.errors.push_back(err);
    // A fixed alpha is taken as given; a searched one must beat every smaller alpha strictly.
    const bool take = options.alpha >= 0 ? i + 1 == alphas.size() : err < out.error;
    if (take) {
      out.error = err;
      out.alpha = alphas[i];
      out.scales = s;
    }
  }
  out.error_plain = out.errors[0];
  return out;
}

AwqClipSearch awq_search_clip(AwqMatrix& w, const Eigen::MatrixXd& gram, const AwqOptions& options, AwqTarget target) {
  if (!awq_quantizes(w.type, w.cols)) fail("awq: ", w.name, ": type ", type_name(w.type), " is not clipped");
  BITDIAL_ASSERT(gram.rows() == w.cols && gram.cols() == w.cols);
  const TypeTraits& tr = type_traits(w.type);
  const int64_t bs = tr.info().block_size, nb = w.cols / bs, cols = w.cols;
  const std::vector<float> original = w.values;
  AwqClipSearch out;
  out.error_before = awq_output_error(w, original, gram, {}, target);
  out.blocks = w.rows * nb;
  std::vector<double> ratios;
  const int n = std::max(1, options.n_clip);
  for (int i = 0; i < n; ++i) ratios.push_back(n == 1 ? 1.0 : 1.0 - (1.0 - options.min_clip_ratio) * i / (n - 1));
  int64_t clipped = 0;
  double ratio_sum = 0;
#pragma omp parallel for schedule(dynamic) reduction(+ : clipped, ratio_sum)
  for (int64_t r = 0; r < w.rows; ++r) {
    const float* wr = original.data() + r * cols;
    float* out_row = w.values.data() + r * cols;
    std::vector<uint8_t> buf(row_bytes(w.type, bs));
    std::vector<float> cand(static_cast<size_t>(bs)), deq(static_cast<size_t>(bs));
    std::vector<uint8_t> row_q(row_bytes(w.type, cols));
    std::vector<float> row_deq(static_cast<size_t>(cols));
    tr.quantize_row(wr, row_q.data(), cols, nullptr);
    tr.dequantize_row(row_q.data(), row_deq.data(), cols);
    // d = w - q for the row as encoded now; gd = G d, kept current as blocks change.
    Eigen::VectorXd d(cols);
    for (int64_t c = 0; c < cols; ++c) d(c) = static_cast<double>(wr[c]) - row_deq[static_cast<size_t>(c)];
    // With a float target the row error gains 2 d^T C w (w fixed): fold C w into gd.
    Eigen::VectorXd gd = gram * d;
    if (!target.empty()) {
      Eigen::VectorXd wv(cols);
      for (int64_t c = 0; c < cols; ++c) wv(c) = wr[c];
      gd += *target.cross * wv;
    }
    std::vector<double> chosen(static_cast<size_t>(nb), 1.0);
    Eigen::VectorXd db(bs);
    for (int pass = 0; pass < std::max(1, options.clip_passes); ++pass) {
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t c0 = b * bs;
        const auto gbb = gram.block(c0, c0, bs, bs);
        // The row error as a function of this block's residual e (others fixed):
        // e^T G_bb e + 2 e^T h + const, with h = (G d)_b - G_bb d_b.
        const Eigen::VectorXd h = gd.segment(c0, bs) - gbb * d.segment(c0, bs);
        const Eigen::VectorXd cur = d.segment(c0, bs);
        double best = cur.dot(gbb * cur) + 2 * cur.dot(h);
        double best_ratio = chosen[static_cast<size_t>(b)];
        Eigen::VectorXd best_d = cur;
        float amax = 0;
        for (int64_t c = 0; c < bs; ++c) amax = std::max(amax, std::abs(wr[c0 + c]));
        for (const double ratio : ratios) {
          const float lim = static_cast<float>(ratio * amax);
          for (int64_t c = 0; c < bs; ++c) cand[static_cast<size_t>(c)] = std::clamp(wr[c0 + c], -lim, lim);
          tr.quantize_row(cand.data(), buf.data(), bs, nullptr);
          tr.dequantize_row(buf.data(), deq.data(), bs);
          for (int64_t c = 0; c < bs; ++c) db(c) = static_cast<double>(wr[c0 + c]) - deq[static_cast<size_t>(c)];
          const double e = db.dot(gbb * db) + 2 * db.dot(h);
          if (e < best) {
            best = e;
            best_ratio = ratio;
            best_d = db;
          }
        }
        if (best_ratio != chosen[static_cast<size_t>(b)]) {
          gd += gram.middleCols(c0, bs) * (best_d - cur);
          d.segment(c0, bs) = best_d;
          chosen[static_cast<size_t>(b)] = best_ratio;
        }
      }
    }
    for (int64_t b = 0; b < nb; ++b) {
      const double ratio = chosen[static_cast<size_t>(b)];
      float amax = 0;
      for (int64_t c = 0; c < bs; ++c) amax = std::max(amax, std::abs(wr[b * bs + c]));
      const float lim = static_cast<float>(ratio * amax);
      for (int64_t c = 0; c < bs; ++c) out_row[b * bs + c] = ratio < 1 ? std::clamp(wr[b * bs + c], -lim, lim) : wr[b * bs + c];
      clipped += ratio < 1 ? 1 : 0;
      ratio_sum += ratio;
    }
  }
  out.blocks_clipped = clipped;
  out.mean_ratio = out.blocks > 0 ? ratio_sum / static_cast<double>(out.blocks) : 1.0;
  AwqMatrix reference = w;
  reference.values = original;
  out.error_after = awq_output_error(reference, w.values, gram, {}, target);
  return out;
}

MethodResult run_awq(const LlamaModel& model, const CalibrationSet& calib, const std::map<std::string, TensorType>& types,
                     const AwqOptions& options, AwqReport* report) {
  const LlamaHparams& hp = model.hparams();
  if (calib.chunks.empty()) fail("awq: ", calib.source, ": no calibration chunks");
  const bool seq = options.sequential;
  const bool fp_target = seq && options.fp_target;
  const bool split = seq && options.split_layers;
  const std::string n_pass = std::to_string((split ? 2 : 1) * hp.n_layer + 1);
  auto calibrate = [&](const LlamaModel& m, AwqCollector& c, const std::string& label) {
    run_calibration(m, calib, c, CalibrationRunOptions{.n_seq = options.n_seq, .progress = options.progress, .label = label});
  };
  // The float model's statistics: everything in one-pass mode, the float target X_fp in sequential mode.
  std::unique_ptr<AwqCollector> floats;
  if (!seq || fp_target) {
    floats = std::make_unique<AwqCollector>(hp.n_layer, options.max_tokens, options.seed);
    calibrate(model, *floats, seq ? "awq float" : "awq");
  }
  // Sequential: `work` holds the AWQ-scaled, quantized layers done so far (as the writer will encode them).
  std::optional<LlamaModel> work;
  if (seq) work.emplace(model);
  std::unique_ptr<AwqCollector> current;
  auto stats_for = [&](int64_t il, const std::string& label) -> const AwqCollector& {
    if (!seq) return *floats;
    current = std::make_unique<AwqCollector>(hp.n_layer, options.max_tokens, options.seed, il);
    calibrate(*work, *current, label);
    return *current;
  };
  // The float-target matrices C = X^T (X_fp - X) and E = (X_fp - X)^T (X_fp - X) over the sampled rows;
  // the reservoir of both runs keeps the same token positions (same seed, same token stream).
  auto target_of = [&](const SiteStats& q, const SiteStats& f, Eigen::MatrixXd& cross, Eigen::MatrixXd& delta) {
    BITDIAL_ASSERT(q.n_seen == f.n_seen && q.n_kept == f.n_kept && q.cols == f.cols);
    Eigen::Map<const RowMatrixF> xq(q.sample.data(), q.n_kept, q.cols), xf(f.sample.data(), f.n_kept, f.cols);
    const Eigen::MatrixXd x = xq.cast<double>();
    const Eigen::MatrixXd dx = xf.cast<double>() - x;
    cross = x.transpose() * dx;
    delta = dx.transpose() * dx;
  };

  MethodResult result;
  const int64_t group = hp.n_head / hp.n_head_kv, hd = hp.head_dim;
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LlamaLayer& layer = model.layers()[static_cast<size_t>(il)];
    const std::string p = "blk." + std::to_string(il) + ".";
    std::map<std::string, AwqMatrix> mats;
    std::map<std::string, bool> planned;
    for (const MatmulSite site : kSites)
      for (const std::string& name : matmul_site_weights(site, il)) mats[name] = load_matrix(model, name, types, planned[name]);
    std::vector<float> attn_norm = layer.attn_norm, ffn_norm = layer.ffn_norm, bv = layer.bv;
    struct Scaled {
      std::vector<std::string> searched;
      std::vector<float> s;
      Eigen::MatrixXd gram, cross, delta;
      size_t report_index;
    };
    std::vector<Scaled> scaled;
    std::vector<AwqGroupReport> reports;
    // Sequential (split): the attention half and the FFN half get a calibration pass each, so ffn_in and
    // ffn_mid see layer il's quantized attention. The folds stay within a half (v in attn_in and attn_out's
    // target; up in ffn_in and ffn_mid's), so each half is finished (clipped, applied) before the next.
    const int n_half = split ? 2 : 1;
    for (int half = 0; half < n_half; ++half) {
      scaled.clear();
      const AwqCollector& collector = stats_for(il, "awq " + std::to_string(n_half * il + half + 1) + "/" + n_pass);
      const std::vector<MatmulSite> half_sites = n_half == 1 ? std::vector<MatmulSite>(kSites.begin(), kSites.end())
                                                           : std::vector<MatmulSite>(kSites.begin() + 2 * half, kSites.begin() + 2 * half + 2);
      bool attn_norm_changed = false, ffn_norm_changed = false, bv_changed = false;
      std::set<std::string> changed;

      for (const MatmulSite site : half_sites) {
        AwqGroupReport rep;
        rep.layer = il;
        rep.site = site;
        const std::vector<std::string> names = matmul_site_weights(site, il);
        const SiteStats& st = collector.stats(il, site);
        const std::string fold_into = site == MatmulSite::attn_out ? p + "attn_v.weight" : site == MatmulSite::ffn_mid ? p + "ffn_up.weight" : "";
        for (const std::string& n : names)
          if (planned[n] && awq_quantizes(mats[n].type, mats[n].cols)) rep.searched.push_back(n);
        for (const std::string& n : names)
          if (!planned[n]) rep.skipped = n + " has no planned type";
        if (!fold_into.empty() && !planned[fold_into]) rep.skipped = fold_into + " (the fold target) has no planned type";
        if (rep.searched.empty() && rep.skipped.empty()) rep.skipped = "no matrix planned as a block type that fits its rows";
        if (st.n_seen == 0 && rep.skipped.empty()) rep.skipped = "no calibration activations";
        if (!rep.skipped.empty()) {
          rep.searched.clear();
          reports.push_back(rep);
          continue;
        }
        std::vector<float> mean_abs = mean_abs_of(st);
        if (site == MatmulSite::attn_out && group > 1) {
          // GQA: v row (kvh, d) feeds output column (h, d) of every query head h in kvh's group, so the fold
          // needs one scale per shared channel: tie the group's magnitudes to their mean.
          for (int64_t kvh = 0; kvh < hp.n_head_kv; ++kvh)
            for (int64_t dd = 0; dd < hd; ++dd) {
              double m = 0;
              for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) m += mean_abs[static_cast<size_t>(h * hd + dd)];
              for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) mean_abs[static_cast<size_t>(h * hd + dd)] = static_cast<float>(m / group);
            }
        }
        Eigen::MatrixXd gram = gram_of(st), cross, delta;
        AwqTarget target;
        if (fp_target) {
          target_of(st, floats->stats(il, site), cross, delta);
          target = AwqTarget{&cross, &delta};
        }
        std::vector<AwqMatrix> members;
        for (const std::string& n : rep.searched) members.push_back(mats[n]);
        const AwqScaleSearch found = awq_search_scales(members, mean_abs, gram, options, target);
        rep.alpha = found.alpha;
        rep.error_plain = found.error_plain;
        rep.error_scaled = rep.error_clipped = found.error;
        const std::vector<float>& s = found.scales;
        // Fold (§3.2): W x = (W diag(s)) (x / s); every matrix reading the input is scaled, the producer divided.
        for (const std::string& n : names) {
          scale_columns(mats[n], s);
          changed.insert(n);
        }
        switch (site) {
          case MatmulSite::attn_in:
            for (size_t c = 0; c < attn_norm.size(); ++c) attn_norm[c] /= s[c];
            attn_norm_changed = true;
            break;
          case MatmulSite::ffn_in:
            for (size_t c = 0; c < ffn_norm.size(); ++c) ffn_norm[c] /= s[c];
            ffn_norm_changed = true;
            break;
          case MatmulSite::attn_out:
            // Row j = (kvh, d) of v produces output column (kvh * group, d) (and its tied siblings).
            for (int64_t j = 0; j < hp.kv_dim(); ++j) {
              const float sj = s[static_cast<size_t>((j / hd) * group * hd + j % hd)];
              divide_row(mats[fold_into], j, sj);
              if (!bv.empty()) {
                bv[static_cast<size_t>(j)] /= sj;
                bv_changed = true;
              }
            }
            changed.insert(fold_into);
            break;
          case MatmulSite::ffn_mid:
            // Up's output channel c multiplies down's input c through silu(gate) * up.
            for (int64_t c = 0; c < hp.n_ff; ++c) divide_row(mats[fold_into], c, s[static_cast<size_t>(c)]);
            changed.insert(fold_into);
            break;
          case MatmulSite::output_in: break;
        }
        scaled.push_back(Scaled{rep.searched, s, std::move(gram), std::move(cross), std::move(delta), reports.size()});
        reports.push_back(rep);
      }

      // Clipping (§3.3) on the final float weights, after every fold of the layer (v and up rows are divided
      // by later groups), against the input the scaled model feeds them: x / s, so G becomes G ./ (s s^T).
      if (options.clip) {
        for (Scaled& g : scaled) {
          const Eigen::MatrixXd gf = folded_gram(g.gram, g.s);
          Eigen::MatrixXd cf, df;
          AwqTarget target;
          if (g.cross.size() > 0) {
            cf = folded_gram(g.cross, g.s);
            df = folded_gram(g.delta, g.s);
            target = AwqTarget{&cf, &df};
          }
          double err = 0;
          for (const std::string& n : g.searched) err += awq_search_clip(mats[n], gf, options, target).error_after;
          reports[g.report_index].error_clipped = err;
        }
      }

      MethodResult done;
      for (const std::string& n : changed) done.floats[n] = std::move(mats[n].values);
      if (attn_norm_changed) done.floats[p + "attn_norm.weight"] = std::move(attn_norm);
      if (ffn_norm_changed) done.floats[p + "ffn_norm.weight"] = std::move(ffn_norm);
      if (bv_changed) done.floats[p + "attn_v.bias"] = std::move(bv);
      if (seq) awq_apply(*work, done, types);
      for (auto& [n, v] : done.floats) result.floats[n] = std::move(v);
    }
    if (options.progress != nullptr) print_report(options.progress, "layer " + std::to_string(il), reports);
    if (report != nullptr) report->groups.insert(report->groups.end(), reports.begin(), reports.end());
  }

  // The vocabulary projection reads rms_norm(x) * output_norm, so its scales fold into output_norm just as
  // attn_in's fold into attn_norm. The paper keeps this layer in 16 bits; a plan that quantizes it gains
  // the same way. A tied output is token_embd, whose rows are also the input embeddings: left alone.
  if (options.output) {
    AwqGroupReport rep;
    rep.layer = hp.n_layer;
    rep.site = MatmulSite::output_in;
    const std::string name = "output.weight";
    const auto planned = types.find(name);
    if (model.output().data == model.token_embd().data)
      rep.skipped = "output.weight is token_embd (tied)";
    else if (planned == types.end() || !awq_quantizes(planned->second, hp.n_embd))
      rep.skipped = "output.weight is not planned as a block type that fits its rows";
    // Sequential: one more pass, through every scaled and quantized layer (only when there is a search).
    const AwqCollector* collector = rep.skipped.empty() ? &stats_for(hp.n_layer, "awq " + n_pass + "/" + n_pass) : nullptr;
    if (rep.skipped.empty() && collector->stats(hp.n_layer, MatmulSite::output_in).n_seen == 0) rep.skipped = "no calibration activations";
    if (rep.skipped.empty()) {
      const SiteStats& st = collector->stats(hp.n_layer, MatmulSite::output_in);
      bool known = false;
      AwqMatrix w = load_matrix(model, name, types, known);
      rep.searched = {name};
      const Eigen::MatrixXd gram = gram_of(st);
      Eigen::MatrixXd cross, delta;
      AwqTarget target;
      if (fp_target) {
        target_of(st, floats->stats(hp.n_layer, MatmulSite::output_in), cross, delta);
        target = AwqTarget{&cross, &delta};
      }
      const AwqScaleSearch found = awq_search_scales(std::span<const AwqMatrix>(&w, 1), mean_abs_of(st), gram, options, target);
      rep.alpha = found.alpha;
      rep.error_plain = found.error_plain;
      rep.error_scaled = rep.error_clipped = found.error;
      scale_columns(w, found.scales);
      std::vector<float> norm = model.output_norm();
      for (size_t c = 0; c < norm.size(); ++c) norm[c] /= found.scales[c];
      if (options.clip) {
        Eigen::MatrixXd cf, df;
        if (fp_target) {
          cf = folded_gram(cross, found.scales);
          df = folded_gram(delta, found.scales);
          target = AwqTarget{&cf, &df};
        }
        rep.error_clipped = awq_search_clip(w, folded_gram(gram, found.scales), options, target).error_after;
      }
      result.floats[name] = std::move(w.values);
      result.floats["output_norm.weight"] = std::move(norm);
    }
    if (options.progress != nullptr) print_report(options.progress, "output", {rep});
    if (report != nullptr) report->groups.push_back(rep);
  }
  return result;
}

void awq_apply(LlamaModel& model, const MethodResult& result, const std::map<std::string, TensorType>& types) {
  auto planned = [&](const std::string& name) {
    const auto it = types.find(name);
    if (it == types.end()) fail("awq: no planned type for '", name, "'");
    return it->second;
  };
  for (const auto& [name, bytes] : result.encoded) model.replace_weight(name, planned(name), bytes);
  for (const auto& [name, values] : result.floats) {
    if (const WeightView* w = model.weight(name); w != nullptr) {
      const int64_t n = w->rows * w->cols;
      if (static_cast<int64_t>(values.size()) != n) fail("awq: ", name, ": ", values.size(), " values for a ", w->rows, "x", w->cols, " matrix");
      const TensorType type = planned(name);
      const int64_t cols = w->cols;
      model.replace_weight(name, type, quantize_tensor(type, values.data(), n, cols, nullptr, name));
      continue;
    }
    std::vector<float>* v = model.vector(name);
    if (v == nullptr) fail("awq: the model has no tensor '", name, "'");
    if (v->size() != values.size()) fail("awq: ", name, ": ", values.size(), " values for a vector of ", v->size());
    *v = values;
  }
}

}  // namespace bitdial
