#include "train/train_model.h"

#include "core/error.h"

namespace bitdial {
namespace {

// The float tensors a pass reads: each parameter's values, or for a matrix under a transform, its
// transformed copy in the workspace.
ModelTensors<float> bind_values(const ParamSet& ps, const ModelParamIds& ids, TrainWorkspace& ws,
                                const WeightTransform& transform, const char* what) {
  ModelTensors<float> m;
  m.spec = &ps.spec;
  m.ids = &ids;
  m.values.resize(ps.params.size());
  ws.effective.resize(ps.params.size());
  for (size_t i = 0; i < ps.params.size(); ++i) {
    const Param& p = ps.params[i];
    std::vector<float>& eff = ws.effective[i];
    if (!transform || p.shape.size() != 2) {
      eff.clear();
      m.values[i] = p.value.data();
      continue;
    }
    eff.assign(p.value.begin(), p.value.end());
    transform(p, eff);
    if (static_cast<int64_t>(eff.size()) != p.numel())
      fail(what, ": the weight transform left ", eff.size(), " values in '", p.name, "', which has ", p.numel());
    m.values[i] = eff.data();
  }
  return m;
}

}  // namespace

double forward_backward(ParamSet& params, const TrainBatch& batch, const LossSpec& loss, TrainWorkspace& ws,
                        const WeightTransform& transform) {
  constexpr const char* what = "forward_backward";
  const ModelParamIds ids = model_param_ids(params);
  validate_train_batch(params.spec, batch, &loss, what);
  ModelTensors<float> m = bind_values(params, ids, ws, transform, what);
  m.grads.resize(params.params.size());
  for (size_t i = 0; i < params.params.size(); ++i) {
    Param& p = params.params[i];
    if (p.grad.empty()) p.grad.assign(static_cast<size_t>(p.numel()), 0.0f);
    if (static_cast<int64_t>(p.grad.size()) != p.numel())
      fail(what, ": parameter '", p.name, "' has ", p.grad.size(), " gradient values for ", p.numel(), " weights");
    m.grads[i] = p.grad.data();
  }
  model_forward(m, batch, ws.activations);
  return model_loss_backward(m, batch, loss, ws.activations, true).loss;
}

std::vector<float> forward_logits(const ParamSet& params, const TrainBatch& batch, TrainWorkspace& ws,
                                  const WeightTransform& transform) {
  constexpr const char* what = "forward_logits";
  const ModelParamIds ids = model_param_ids(params);
  validate_train_batch(params.spec, batch, nullptr, what);
  const ModelTensors<float> m = bind_values(params, ids, ws, transform, what);
  model_forward(m, batch, ws.activations);
  return ws.activations.logits;
}

LossValue forward_loss(const ParamSet& params, const TrainBatch& batch, const LossSpec& loss, TrainWorkspace& ws,
                       const WeightTransform& transform) {
  constexpr const char* what = "forward_loss";
  const ModelParamIds ids = model_param_ids(params);
  validate_train_batch(params.spec, batch, &loss, what);
  const ModelTensors<float> m = bind_values(params, ids, ws, transform, what);
  model_forward(m, batch, ws.activations);
  return model_loss_backward(m, batch, loss, ws.activations, false);
}

}  // namespace bitdial
