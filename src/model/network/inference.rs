//! A network built for refinement from validated host weights: each batch norm folded into the
//! convolution before it, spectral norm applied once, and on the CPU activations fused into
//! their layers and weights packed for the kernels.

use burn::prelude::*;

use super::ops::{Op, parameterless_op, pointwise};
use super::params::HostWeights;
use crate::cpu::{Ops, PackedConv, PackedLinear};
use crate::model::spec::Layer;
use crate::model::spectral;

pub(super) fn build_ops(
    layers: &[Layer],
    prefix: &str,
    weights: &HostWeights,
    sn_iterations: usize,
    device: &Device,
) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut rest = layers;
    while !rest.is_empty() {
        let (group, next) = rest.split_at(fused_len(rest, device));
        ops.push(build_op(group, prefix, weights, sn_iterations, device));
        rest = next;
    }
    ops
}

/// How many of `layers`, from the first, an inference network on `device` runs as one op: a
/// convolution takes the batch norm after it (folded into its weights and bias: one scale and
/// shift per output channel either way) and, where the CPU kernels run it, the activation
/// after those (applied to each output value as it is written, its derivative in the input
/// gradient); on the CPU a ReLU before a convolution joins it too (applied as the kernels read
/// their input), and a linear layer takes the activation after it; every other layer is an op
/// of its own.
pub fn fused_len(layers: &[Layer], device: &Device) -> usize {
    if matches!(layers.first(), Some(Layer::Relu {}))
        && matches!(layers.get(1), Some(Layer::Conv2d { .. } | Layer::Conv1d { .. }))
        && Ops::on(device).is_some()
    {
        return 1 + fused_len(&layers[1..], device);
    }
    if matches!(layers.first(), Some(Layer::Linear { .. })) {
        return 1 + usize::from(fuses_activation(layers.get(1), device));
    }
    if !matches!(
        layers.first(),
        Some(Layer::Conv2d { .. } | Layer::ConvTranspose2d { .. } | Layer::Conv1d { .. })
    ) {
        return layers.len().min(1);
    }
    let with_norm = 1 + usize::from(matches!(layers.get(1), Some(Layer::BatchNorm { .. })));
    with_norm + usize::from(fuses_activation(layers.get(with_norm), device))
}

pub(super) fn fuses_activation(layer: Option<&Layer>, device: &Device) -> bool {
    Ops::on(device).is_some() && pointwise(layer).is_some()
}

/// A batch norm at inference: a scale and a shift per channel.
pub(super) fn batch_norm_affine(take: impl Fn(&str) -> Vec<f32>, eps: f32) -> (Vec<f32>, Vec<f32>) {
    let (gamma, beta, mean, var) =
        (take("weight"), take("bias"), take("running_mean"), take("running_var"));
    let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect();
    let shift = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
    (scale, shift)
}

/// Folds a scale and shift per output channel into a layer's weights, laid out
/// `[outer, outputs, inner]`, and its bias.
pub(super) fn fold_affine(
    weight: &mut [f32],
    bias: &mut [f32],
    (scale, shift): &(Vec<f32>, Vec<f32>),
    inner: usize,
) {
    for (block, s) in weight.chunks_mut(inner).zip(scale.iter().cycle()) {
        block.iter_mut().for_each(|w| *w *= s);
    }
    for ((b, s), t) in bias.iter_mut().zip(scale).zip(shift) {
        *b = *b * s + t;
    }
}

/// One op from a group of layers [`fused_len`] formed: the first, and for a convolution the
/// ReLU before it, and the batch norm and activation that follow it.
pub(super) fn build_op(
    group: &[Layer],
    prefix: &str,
    weights: &HostWeights,
    sn_iterations: usize,
    device: &Device,
) -> Op {
    if let [Layer::Relu {}, conv, ..] = group {
        return match build_op(&group[1..], prefix, weights, sn_iterations, device) {
            Op::Conv2d { weight, bias, stride, padding, direct: Some(packed) } => {
                Op::Conv2d { weight, bias, stride, padding, direct: Some(packed.after_relu()) }
            }
            Op::Conv1d { weight, bias, padding, direct: Some(packed) } => {
                Op::Conv1d { weight, bias, padding, direct: Some(packed.after_relu()) }
            }
            _ => unreachable!(
                "a ReLU joins a convolution {conv:?} only where the direct kernels run it"
            ),
        };
    }
    // Every name and shape below was checked against the spec by `bundle::validate`.
    let take = |layer: &str, field: &str| -> (Vec<usize>, Vec<f32>) {
        weights
            .get(&format!("{prefix}.{layer}.{field}"))
            .cloned()
            .expect("validated parameter present")
    };
    let vec1 = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), device);
    let norm = match group.get(1) {
        Some(Layer::BatchNorm { name, eps, .. }) => {
            Some(batch_norm_affine(|field| take(name, field).1, *eps))
        }
        _ => None,
    };
    let activation = group.get(1 + usize::from(norm.is_some()));
    // The bias with the batch norm folded into it and the weights (laid out `[outer, outputs,
    // inner]`).
    let folded_bias = |name: &str, weight: &mut [f32], inner: usize| -> Tensor<1> {
        let mut bias = take(name, "bias").1;
        if let Some(affine) = &norm {
            fold_affine(weight, &mut bias, affine, inner);
        }
        vec1(bias)
    };
    let weight_with_sn = |name: &str, sn: bool, rows_first: bool| -> (Vec<usize>, Vec<f32>) {
        let (shape, mut w) = take(name, "weight");
        if sn {
            let (_, mut u) = take(name, "u");
            if rows_first {
                spectral::normalise(&mut w, shape[0], &mut u, sn_iterations);
            } else {
                let mut swapped = spectral::swap_first_axes(&w, shape[0], shape[1]);
                spectral::normalise(&mut swapped, shape[1], &mut u, sn_iterations);
                w = spectral::swap_first_axes(&swapped, shape[1], shape[0]);
            }
        }
        (shape, w)
    };
    match &group[0] {
        Layer::Linear { name, inputs, outputs, spectral_norm } => {
            let (_, w) = weight_with_sn(name, *spectral_norm, true);
            let direct = pack_linear(&w, [*outputs, *inputs], activation, device);
            let weight = Tensor::<2>::from_data(TensorData::new(w, [*outputs, *inputs]), device);
            Op::Linear { weight_t: weight.transpose(), bias: vec1(take(name, "bias").1), direct }
        }
        Layer::Conv2d { name, stride, padding, spectral_norm, .. } => {
            let (shape, mut w) = weight_with_sn(name, *spectral_norm, true);
            let bias = folded_bias(name, &mut w, shape[1] * shape[2] * shape[3]);
            let direct = pack_conv2d(
                &w,
                [shape[0], shape[1], shape[2], shape[3]],
                [*stride; 2],
                activation,
                device,
            );
            let weight = Tensor::<4>::from_data(TensorData::new(w, shape), device);
            Op::Conv2d { weight, bias, stride: *stride, padding: *padding, direct }
        }
        Layer::ConvTranspose2d { name, stride, padding, output_padding, spectral_norm, .. } => {
            let (shape, mut w) = weight_with_sn(name, *spectral_norm, false);
            let bias = folded_bias(name, &mut w, shape[2] * shape[3]);
            let direct = pack_conv_transpose2d(
                &w,
                [shape[0], shape[1], shape[2], shape[3]],
                [*stride; 2],
                activation,
                device,
            );
            let weight = Tensor::<4>::from_data(TensorData::new(w, shape), device);
            Op::ConvTranspose2d {
                weight,
                bias,
                stride: *stride,
                padding: *padding,
                output_padding: *output_padding,
                direct,
            }
        }
        Layer::Conv1d { name, padding, spectral_norm, .. } => {
            let (shape, mut w) = weight_with_sn(name, *spectral_norm, true);
            let bias = folded_bias(name, &mut w, shape[1] * shape[2]);
            let direct =
                pack_conv2d(&w, [shape[0], shape[1], 1, shape[2]], [1, 1], activation, device);
            let weight = Tensor::<3>::from_data(TensorData::new(w, shape), device);
            Op::Conv1d { weight, bias, padding: *padding, direct }
        }
        Layer::BatchNorm { name, eps, .. } => {
            let (scale, shift) = batch_norm_affine(|field| take(name, field).1, *eps);
            Op::Affine { scale: vec1(scale), shift: vec1(shift) }
        }
        Layer::Residual { layers, scale, shortcut } => {
            let mut branch = build_ops(layers, prefix, weights, sn_iterations, device);
            let shortcut = build_ops(shortcut, prefix, weights, sn_iterations, device);
            match (layers.last(), branch.pop()) {
                (Some(Layer::Conv2d { .. } | Layer::Conv1d { .. }), Some(last)) => {
                    branch.push(scaled(last, *scale));
                    Op::ConvResidual { branch, shortcut }
                }
                (_, last) => {
                    branch.extend(last);
                    Op::Residual { branch, scale: *scale, shortcut }
                }
            }
        }
        other => parameterless_op(other),
    }
}

/// A convolution op with its weights and bias times `factor`.
pub(super) fn scaled(op: Op, factor: f32) -> Op {
    let direct = |d: Option<PackedConv>| d.map(|packed| packed.scaled(factor));
    match op {
        Op::Conv2d { weight, bias, stride, padding, direct: d } => Op::Conv2d {
            weight: weight.mul_scalar(factor),
            bias: bias.mul_scalar(factor),
            stride,
            padding,
            direct: direct(d),
        },
        Op::Conv1d { weight, bias, padding, direct: d } => Op::Conv1d {
            weight: weight.mul_scalar(factor),
            bias: bias.mul_scalar(factor),
            padding,
            direct: direct(d),
        },
        op => unreachable!("only convolutions are scaled, not {op:?}"),
    }
}

// Weights built for inference are f32 constants, which the direct kernels take: packed once
// here where they run on `device`, with the activation fused into the layer (if any).
pub(super) fn pack_conv2d(
    weight: &[f32],
    shape: [usize; 4],
    stride: [usize; 2],
    activation: Option<&Layer>,
    device: &Device,
) -> Option<PackedConv> {
    let pointwise = pointwise(activation).unwrap_or_default();
    Ops::on(device).map(|ops| ops.pack_conv2d(weight, shape, stride, pointwise, device))
}

pub(super) fn pack_conv_transpose2d(
    weight: &[f32],
    shape: [usize; 4],
    stride: [usize; 2],
    activation: Option<&Layer>,
    device: &Device,
) -> Option<PackedConv> {
    let pointwise = pointwise(activation).unwrap_or_default();
    Ops::on(device).map(|ops| ops.pack_conv_transpose2d(weight, shape, stride, pointwise, device))
}

pub(super) fn pack_linear(
    weight: &[f32],
    shape: [usize; 2],
    activation: Option<&Layer>,
    device: &Device,
) -> Option<PackedLinear> {
    let pointwise = pointwise(activation).unwrap_or_default();
    Ops::on(device).map(|ops| ops.pack_linear(weight, shape, pointwise, device))
}
