//! A network built for a training step: parameters that may take gradients, spectral norm in the
//! graph, batch norm on batch statistics, activations fused where the CPU operations run.

use burn::prelude::*;

use super::ops::{Op, parameterless_op, pointwise};
use super::params::{DeviceParams, TrainingState};
use crate::cpu::Ops;
use crate::model::spec::Layer;

/// A network being trained, with each convolution and batch norm that runs on the CPU backend's
/// own operations taking the activation after it (as [`fused_len`] fuses them for inference):
/// burn's activation ops would make two more passes over the output, and several over its
/// gradient, on one thread.
/// `ops` are `layers` built one for one.
pub(super) fn fuse_trained_activations(layers: &[Layer], ops: Vec<Op>) -> Vec<Op> {
    let mut fused = Vec::with_capacity(ops.len());
    // Each op with the layer after it.
    let mut ops = ops.into_iter().zip(layers.iter().skip(1).map(Some).chain([None]));
    while let Some((op, next)) = ops.next() {
        let on_kernels = match &op {
            Op::Conv2d { weight, .. } | Op::ConvTranspose2d { weight, .. } => {
                Ops::on(&weight.device())
            }
            Op::BatchNorm { gamma, .. } => Ops::on(&gamma.device()),
            _ => None,
        };
        match (pointwise(next), on_kernels) {
            (Some(pointwise), Some(cpu_ops)) => {
                ops.next();
                fused.push(Op::Activated(Box::new(op), pointwise, cpu_ops));
            }
            _ => fused.push(op),
        }
    }
    fused
}

pub(super) fn training_op(
    layer: &Layer,
    prefix: &str,
    params: &DeviceParams,
    state: &mut TrainingState,
) -> Op {
    let get = |layer: &str, field: &str| -> Tensor<1> {
        params
            .get(&format!("{prefix}.{layer}.{field}"))
            .cloned()
            .expect("every parameter of the spec is initialised")
    };
    let sn = |w: Tensor<2>, name: &str, enabled: bool, state: &mut TrainingState| -> Tensor<2> {
        if enabled {
            spectral_normalised(w, &get(name, "u"), &format!("{prefix}.{name}.u"), state)
        } else {
            w
        }
    };
    match layer {
        Layer::Linear { name, inputs, outputs, spectral_norm } => {
            let w =
                sn(get(name, "weight").reshape([*outputs, *inputs]), name, *spectral_norm, state);
            Op::Linear { weight_t: w.transpose(), bias: get(name, "bias"), direct: None }
        }
        Layer::Conv2d { name, inputs, outputs, kernel, stride, padding, spectral_norm } => {
            let w = sn(
                get(name, "weight").reshape([*outputs, inputs * kernel * kernel]),
                name,
                *spectral_norm,
                state,
            );
            Op::Conv2d {
                weight: w.reshape([*outputs, *inputs, *kernel, *kernel]),
                bias: get(name, "bias"),
                stride: *stride,
                padding: *padding,
                direct: None,
            }
        }
        Layer::ConvTranspose2d {
            name,
            inputs,
            outputs,
            kernel,
            stride,
            padding,
            output_padding,
            spectral_norm,
        } => {
            // Rows are the output channels (axis 1), as in PyTorch.
            let rows =
                get(name, "weight").reshape([*inputs, *outputs, *kernel, *kernel]).swap_dims(0, 1);
            let rows =
                sn(rows.reshape([*outputs, inputs * kernel * kernel]), name, *spectral_norm, state);
            let weight = rows.reshape([*outputs, *inputs, *kernel, *kernel]).swap_dims(0, 1);
            Op::ConvTranspose2d {
                weight,
                bias: get(name, "bias"),
                stride: *stride,
                padding: *padding,
                output_padding: *output_padding,
                direct: None,
            }
        }
        Layer::Conv1d { name, inputs, outputs, kernel, padding, spectral_norm } => {
            let w = sn(
                get(name, "weight").reshape([*outputs, inputs * kernel]),
                name,
                *spectral_norm,
                state,
            );
            Op::Conv1d {
                weight: w.reshape([*outputs, *inputs, *kernel]),
                bias: get(name, "bias"),
                padding: *padding,
                direct: None,
            }
        }
        Layer::BatchNorm { name, eps, .. } => Op::BatchNorm {
            name: format!("{prefix}.{name}"),
            gamma: get(name, "weight"),
            beta: get(name, "bias"),
            eps: *eps,
        },
        Layer::Residual { layers, scale, shortcut } => {
            let mut build = |layers: &[Layer]| -> Vec<Op> {
                layers.iter().map(|l| training_op(l, prefix, params, state)).collect()
            };
            Op::Residual { branch: build(layers), scale: *scale, shortcut: build(shortcut) }
        }
        other => parameterless_op(other),
    }
}

/// W / σ(W) in the graph, σ = uᵀWv with u and v held constant; records the advanced u.
pub(super) fn spectral_normalised(
    w: Tensor<2>,
    u: &Tensor<1>,
    u_name: &str,
    state: &mut TrainingState,
) -> Tensor<2> {
    let plain = w.clone().without_autodiff();
    let v =
        unit(plain.clone().transpose().matmul(u.clone().without_autodiff().unsqueeze_dim::<2>(1)));
    let u_next = unit(plain.matmul(v.clone()));
    let sigma = (u_next.clone() * w.clone().matmul(v)).sum();
    state.sn_vectors.push((u_name.to_string(), u_next.squeeze_dim::<1>(1)));
    w / sigma.unsqueeze::<2>()
}

/// Column vector scaled to unit length (PyTorch's eps = 1e-12 keeps zero at zero).
pub(super) fn unit(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum().sqrt().clamp_min(1e-12);
    x / norm.unsqueeze::<2>()
}
