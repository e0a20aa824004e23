//! Parameters being trained, shared by every trainer: host weights onto the device and back,
//! marked for gradients, moved by Adam, and a training pass's batch-norm statistics and
//! spectral-norm vectors folded in.

use burn::prelude::*;
use burn::tensor::Gradients;

use super::adam::Adam;
use crate::model::network::{DeviceParams, HostWeights, TrainingState};
use crate::model::spec::ParamSpec;

/// Batch-norm running averages move this far towards each batch (PyTorch's momentum).
const BN_MOMENTUM: f32 = 0.1;

/// Running statistics and spectral-norm vectors are state, not learned by gradient.
pub fn is_trainable(name: &str) -> bool {
    !(name.ends_with(".u") || name.ends_with(".running_mean") || name.ends_with(".running_var"))
}

/// Host weights as flat device tensors (shapes come from the spec), as every trainer holds them.
pub fn device_params(weights: &HostWeights, device: &Device) -> DeviceParams {
    weights
        .iter()
        .map(|(name, (_, v))| {
            (name.clone(), Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), device))
        })
        .collect()
}

/// `params` with the trainable tensors under `prefix` ("" for all) marked as requiring gradients.
pub fn with_grad(params: &DeviceParams, prefix: &str) -> DeviceParams {
    params
        .iter()
        .map(|(k, v)| {
            let t = if k.starts_with(prefix) && is_trainable(k) {
                v.clone().autodiff().require_grad()
            } else {
                v.clone()
            };
            (k.clone(), t)
        })
        .collect()
}

/// The tensors `specs` name, read back from the device with their shapes.
pub fn host_params(
    params: &DeviceParams,
    specs: impl IntoIterator<Item = ParamSpec>,
) -> HostWeights {
    specs
        .into_iter()
        .map(|p| {
            let values =
                params[&p.name].clone().into_data().try_into_vec::<f32>().expect("f32 parameters");
            (p.name, (p.shape, values))
        })
        .collect()
}

/// One Adam step on every trainable tensor under `prefix`, from gradients of `graph_params`.
pub fn descend(
    params: &mut DeviceParams,
    adam: &mut Adam,
    graph_params: &DeviceParams,
    grads: &Gradients,
    prefix: &str,
) {
    for (name, p) in graph_params.iter().filter(|(k, _)| k.starts_with(prefix) && is_trainable(k)) {
        let grad = p.grad(grads).expect("parameters under the prefix require gradients");
        params.insert(name.clone(), adam.update(name, p.clone(), grad));
    }
    adam.finish_step();
}

/// Folds a pass's batch statistics into the running averages and keeps advanced SN vectors.
pub fn apply_state(params: &mut DeviceParams, state: TrainingState) {
    for (name, u) in state.sn_vectors {
        params.insert(name, u.without_autodiff());
    }
    for (prefix, mean, var, count) in state.batch_stats {
        let (mean_key, var_key) =
            (format!("{prefix}.running_mean"), format!("{prefix}.running_var"));
        let keep = 1.0 - BN_MOMENTUM;
        let old_mean = params[&mean_key].clone();
        let old_var = params[&var_key].clone();
        // PyTorch keeps the unbiased variance in its running average.
        let n = count as f32;
        let unbiased = var.without_autodiff().mul_scalar(n / (n - 1.0).max(1.0));
        params.insert(
            mean_key,
            old_mean.mul_scalar(keep) + mean.without_autodiff().mul_scalar(BN_MOMENTUM),
        );
        params.insert(var_key, old_var.mul_scalar(keep) + unbiased.mul_scalar(BN_MOMENTUM));
    }
}

pub fn scalar(t: Tensor<1>) -> f32 {
    t.without_autodiff().into_data().try_into_vec::<f32>().expect("f32 scalar")[0]
}
