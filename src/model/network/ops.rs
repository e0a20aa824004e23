//! A network's ops and how each runs: on the CPU backend's own operations where they run (see
//! `crate::cpu`), else on burn's.

use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::{avg_pool2d, conv_transpose2d, conv1d, conv2d, interpolate, max_pool2d};
use burn::tensor::ops::{
    AvgPoolOptions, ConvOptions, ConvTransposeOptions, InterpolateMode, InterpolateOptions,
    MaxPoolOptions,
};

use super::activation::Activation;
use super::params::TrainingState;
use crate::cpu::{self, Ops, PackedConv, PackedLinear, Pointwise};
use crate::model::spec::Layer;

#[derive(Debug, Clone)]
pub(super) enum Op {
    // `direct`: the weights in both layouts for the CPU backend's linear op (inference on flex;
    // see `cpu`), which then runs the layer and the activation fused into it.
    Linear {
        weight_t: Tensor<2>,
        bias: Tensor<1>,
        direct: Option<PackedLinear>,
    },
    // `direct`: the weights packed for the CPU backend's direct kernels, which then run the
    // layer (inference on flex; see `cpu`). `None` on flex (a network being trained): the
    // kernels run on the weights as they are.
    Conv2d {
        weight: Tensor<4>,
        bias: Tensor<1>,
        stride: usize,
        padding: usize,
        direct: Option<PackedConv>,
    },
    ConvTranspose2d {
        weight: Tensor<4>,
        bias: Tensor<1>,
        stride: usize,
        padding: usize,
        output_padding: usize,
        direct: Option<PackedConv>,
    },
    Conv1d {
        weight: Tensor<3>,
        bias: Tensor<1>,
        padding: usize,
        direct: Option<PackedConv>,
    },
    /// Batch norm folded into one scale and shift per channel.
    Affine {
        scale: Tensor<1>,
        shift: Tensor<1>,
    },
    /// Batch norm in training mode: normalised by the batch's own statistics.
    BatchNorm {
        name: String,
        gamma: Tensor<1>,
        beta: Tensor<1>,
        eps: f32,
    },
    Relu,
    LeakyRelu(f64),
    Tanh,
    Sigmoid,
    Softmax,
    Reshape(Vec<usize>),
    MaxPool2d(usize),
    AvgPool2d(usize),
    Upsample2d(usize),
    GlobalAvgPool,
    GlobalSumPool,
    /// `shortcut(x) + scale · branch(x)`; an empty shortcut is the identity.
    Residual {
        branch: Vec<Op>,
        scale: f32,
        shortcut: Vec<Op>,
    },
    /// A residual block whose branch ends in a convolution, its scale folded into that
    /// convolution's weights and bias, which adds the shortcut's output to its own.
    ConvResidual {
        branch: Vec<Op>,
        shortcut: Vec<Op>,
    },
    /// A convolution or batch norm being trained on the CPU backend's own operations, with the
    /// activation after it fused into its output and its derivative into the gradients.
    Activated(Box<Op>, Pointwise, Ops),
}

pub(super) fn run(ops: &[Op], mut x: Activation, state: &mut TrainingState) -> Activation {
    for op in ops {
        x = apply(op, x, state);
    }
    x
}

pub(super) fn apply(op: &Op, x: Activation, state: &mut TrainingState) -> Activation {
    match (op, x) {
        (Op::Linear { weight_t, bias, direct }, Activation::Flat(t)) => {
            Activation::Flat(match direct {
                Some(packed) => cpu::linear(t, packed, bias.clone()),
                None => t.matmul(weight_t.clone()) + bias.clone().unsqueeze::<2>(),
            })
        }
        (Op::Conv2d { weight, bias, stride, padding, direct }, Activation::Image(t)) => {
            Activation::Image(convolve(
                t,
                weight.clone(),
                bias.clone(),
                [*stride; 2],
                [*padding; 2],
                direct,
                None,
            ))
        }
        (
            Op::ConvTranspose2d { weight, bias, stride, padding, output_padding, direct },
            Activation::Image(t),
        ) => {
            let out_size = transposed_size(&t, weight, *stride, *padding, *output_padding);
            let (strides, paddings) = ([*stride; 2], [*padding; 2]);
            Activation::Image(match direct {
                Some(packed) => {
                    cpu::conv_transpose2d(t, packed, bias.clone(), strides, paddings, out_size)
                }
                None => match Ops::on(&t.device()) {
                    Some(ops) => ops.conv_transpose2d_trained(
                        t,
                        weight.clone(),
                        bias.clone(),
                        strides,
                        paddings,
                        out_size,
                        Pointwise::Identity,
                    ),
                    None => {
                        let options = ConvTransposeOptions::new(
                            strides,
                            paddings,
                            [*output_padding; 2],
                            [1, 1],
                            1,
                        );
                        conv_transpose2d(t, weight.clone(), Some(bias.clone()), options)
                    }
                },
            })
        }
        (op @ Op::Conv1d { .. }, x) => convolve_adding(op, x, None),
        (Op::Affine { scale, shift }, x) => {
            let (s, b) = (scale.clone(), shift.clone());
            let (s2, b2, s3, b3) = (s.clone(), b.clone(), s.clone(), b.clone());
            x.map(
                |t| t * s2.unsqueeze::<2>() + b2.unsqueeze::<2>(),
                |t| t * s3.unsqueeze_dims::<3>(&[0, 2]) + b3.unsqueeze_dims::<3>(&[0, 2]),
                |t| t * s.unsqueeze_dims::<4>(&[0, 2, 3]) + b.unsqueeze_dims::<4>(&[0, 2, 3]),
            )
        }
        (Op::BatchNorm { name, gamma, beta, eps }, x) => {
            if let Some(ops) = Ops::on(&gamma.device()) {
                return direct_batch_norm(
                    ops,
                    name,
                    gamma,
                    beta,
                    *eps,
                    Pointwise::Identity,
                    x,
                    state,
                );
            }
            let (normalised, mean, var, count) = batch_norm(x, gamma.clone(), beta.clone(), *eps);
            state.batch_stats.push((name.clone(), mean, var, count));
            normalised
        }
        (Op::Relu, x) => x.map(activation::relu, activation::relu, activation::relu),
        (Op::LeakyRelu(slope), x) => {
            let s = *slope;
            x.map(|t| leaky_relu(t, s), |t| leaky_relu(t, s), |t| leaky_relu(t, s))
        }
        (Op::Tanh, x) => x.map(activation::tanh, activation::tanh, activation::tanh),
        (Op::Sigmoid, x) => x.map(activation::sigmoid, activation::sigmoid, activation::sigmoid),
        (Op::Softmax, x) => softmax_channels(x),
        (Op::Reshape(shape), x) => x.reshape(shape),
        (Op::MaxPool2d(k), Activation::Image(t)) => {
            Activation::Image(max_pool2d(t, MaxPoolOptions::new([*k; 2])))
        }
        (Op::GlobalAvgPool, Activation::Image(t)) => {
            let [n, c, h, w] = t.dims();
            Activation::Flat(t.reshape([n, c, h * w]).mean_dim(2).reshape([n, c]))
        }
        (Op::GlobalAvgPool, Activation::Seq(t)) => {
            let [n, c, _] = t.dims();
            Activation::Flat(t.mean_dim(2).reshape([n, c]))
        }
        (Op::GlobalSumPool, Activation::Image(t)) => {
            let [n, c, h, w] = t.dims();
            Activation::Flat(t.reshape([n, c, h * w]).sum_dim(2).reshape([n, c]))
        }
        (Op::GlobalSumPool, Activation::Seq(t)) => {
            let [n, c, _] = t.dims();
            Activation::Flat(t.sum_dim(2).reshape([n, c]))
        }
        (Op::AvgPool2d(k), Activation::Image(t)) => {
            Activation::Image(avg_pool2d(t, AvgPoolOptions::new([*k; 2])))
        }
        (Op::Upsample2d(factor), Activation::Image(t)) => {
            let [_, _, h, w] = t.dims();
            // PyTorch's nearest: source pixel ⌊out · in / out_size⌋ (no corner alignment).
            let options = InterpolateOptions::new(InterpolateMode::Nearest)
                .with_align_corners(false)
                .with_output_size([h * factor, w * factor]);
            Activation::Image(interpolate(t, options))
        }
        (Op::Residual { branch, scale, shortcut }, x) => {
            let out = run(branch, x.clone(), state);
            run(shortcut, x, state).add_scaled(out, *scale)
        }
        (Op::ConvResidual { branch, shortcut }, x) => {
            let (last, first) = branch.split_last().expect("a residual branch has layers");
            let out = run(first, x.clone(), state);
            convolve_adding(last, out, Some(run(shortcut, x, state)))
        }
        (Op::Activated(op, pointwise, ops), x) => match (&**op, x) {
            (Op::Conv2d { weight, bias, stride, padding, .. }, Activation::Image(t)) => {
                Activation::Image(ops.conv2d_trained(
                    t,
                    weight.clone(),
                    bias.clone(),
                    [*stride; 2],
                    [*padding; 2],
                    *pointwise,
                ))
            }
            (
                Op::ConvTranspose2d { weight, bias, stride, padding, output_padding, .. },
                Activation::Image(t),
            ) => {
                let out_size = transposed_size(&t, weight, *stride, *padding, *output_padding);
                Activation::Image(ops.conv_transpose2d_trained(
                    t,
                    weight.clone(),
                    bias.clone(),
                    [*stride; 2],
                    [*padding; 2],
                    out_size,
                    *pointwise,
                ))
            }
            (Op::BatchNorm { name, gamma, beta, eps }, x) => {
                direct_batch_norm(*ops, name, gamma, beta, *eps, *pointwise, x, state)
            }
            (op, x) => unreachable!("layer {op:?} with a fused activation got input {x:?}"),
        },
        (op, x) => unreachable!("layer {op:?} got input {x:?}; shapes are validated at load"),
    }
}

/// Batch norm with batch statistics on the CPU backend's own operation, through `pointwise`;
/// records the statistics in `state`.
#[allow(clippy::too_many_arguments)] // a batch norm's parameters and the pass's state
pub(super) fn direct_batch_norm(
    ops: Ops,
    name: &str,
    gamma: &Tensor<1>,
    beta: &Tensor<1>,
    eps: f32,
    pointwise: Pointwise,
    x: Activation,
    state: &mut TrainingState,
) -> Activation {
    let dims = match &x {
        Activation::Flat(t) => t.dims().to_vec(),
        Activation::Seq(t) => t.dims().to_vec(),
        Activation::Image(t) => t.dims().to_vec(),
    };
    let (n, c, positions) = (dims[0], dims[1], dims[2..].iter().product::<usize>());
    let (out, mean, var) = ops.batch_norm(
        x.flat().reshape([n, c, positions]),
        gamma.clone(),
        beta.clone(),
        eps,
        pointwise,
    );
    state.batch_stats.push((name.to_string(), mean, var, n * positions));
    Activation::Flat(out.reshape([n, c * positions])).reshape(&dims[1..])
}

/// The output size of a transposed convolution of `weight` `[c, o, kh, kw]` on `x`.
pub(super) fn transposed_size(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    stride: usize,
    padding: usize,
    output_padding: usize,
) -> [usize; 2] {
    let ([_, _, h, w], [_, _, kh, kw]) = (x.dims(), weight.dims());
    let size = |n: usize, k: usize| (n - 1) * stride + k + output_padding - 2 * padding;
    [size(h, kh), size(w, kw)]
}

/// A convolution op (2-D or 1-D) on `x`, plus `residual` (of the output's shape) if given.
pub(super) fn convolve_adding(op: &Op, x: Activation, residual: Option<Activation>) -> Activation {
    match (op, x, residual) {
        (Op::Conv2d { weight, bias, stride, padding, direct }, Activation::Image(t), residual) => {
            let residual = residual.map(|r| match r {
                Activation::Image(r) => r,
                r => unreachable!("residual {r:?} of an image; shapes are validated at load"),
            });
            Activation::Image(convolve(
                t,
                weight.clone(),
                bias.clone(),
                [*stride; 2],
                [*padding; 2],
                direct,
                residual,
            ))
        }
        (Op::Conv1d { weight, bias, padding, direct }, Activation::Seq(t), residual) => {
            let residual = residual.map(|r| match r {
                Activation::Seq(r) => r,
                r => unreachable!("residual {r:?} of a sequence; shapes are validated at load"),
            });
            if direct.is_some() || Ops::on(&t.device()).is_some() {
                // A row of a 2-D convolution: one-row images, 1×k kernels.
                let residual = residual.map(|r| r.unsqueeze_dim(2));
                let out = convolve(
                    t.unsqueeze_dim(2),
                    weight.clone().unsqueeze_dim(2),
                    bias.clone(),
                    [1, 1],
                    [0, *padding],
                    direct,
                    residual,
                );
                return Activation::Seq(out.squeeze_dim(2));
            }
            Activation::Seq(plus(
                conv1d(
                    t,
                    weight.clone(),
                    Some(bias.clone()),
                    ConvOptions::new([1], [*padding], [1], 1),
                ),
                residual,
            ))
        }
        (op, x, _) => unreachable!("layer {op:?} got input {x:?}; shapes are validated at load"),
    }
}

/// A 2-D convolution, on the CPU backend's direct kernels where it runs on the CPU, plus
/// `residual` if given.
pub(super) fn convolve(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
    direct: &Option<PackedConv>,
    residual: Option<Tensor<4>>,
) -> Tensor<4> {
    match direct {
        Some(packed) => cpu::conv2d(x, packed, bias, residual, stride, padding),
        None => {
            let out = match Ops::on(&x.device()) {
                Some(ops) => {
                    ops.conv2d_trained(x, weight, bias, stride, padding, Pointwise::Identity)
                }
                None => conv2d(x, weight, Some(bias), ConvOptions::new(stride, padding, [1, 1], 1)),
            };
            plus(out, residual)
        }
    }
}

/// `x`, plus the residual if there is one.
pub(super) fn plus<const D: usize>(x: Tensor<D>, residual: Option<Tensor<D>>) -> Tensor<D> {
    match residual {
        Some(r) => x + r,
        None => x,
    }
}

/// Softmax over the channels (axis 1), on the CPU backend's fused operation for sequences.
pub(super) fn softmax_channels(x: Activation) -> Activation {
    match x {
        Activation::Seq(t) => match Ops::on(&t.device()) {
            Some(ops) => Activation::Seq(ops.softmax(t)),
            None => Activation::Seq(activation::softmax(t, 1)),
        },
        x => x.map(
            |t| activation::softmax(t, 1),
            |t| activation::softmax(t, 1),
            |t| activation::softmax(t, 1),
        ),
    }
}

/// LeakyReLU as relu(x)·(1 − slope) + slope·x: the same values (to rounding) and gradient as
/// burn's `leaky_relu`, whose mask-and-select forward and backward cost more (1.19× faster
/// cifar10 refinement steps natively, measured side by side).
pub(super) fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    activation::relu(x.clone()).mul_scalar(1.0 - slope) + x.mul_scalar(slope)
}

/// Normalises over every axis but the channels (axis 1); returns the output, batch mean, biased
/// batch variance and the number of values per channel.
pub(super) fn batch_norm(
    x: Activation,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f32,
) -> (Activation, Tensor<1>, Tensor<1>, usize) {
    // Move channels last and flatten the rest: [values, channels].
    let (rows, channels) = match &x {
        Activation::Flat(t) => (t.clone(), t.dims()[1]),
        Activation::Seq(t) => {
            let c = t.dims()[1];
            (t.clone().swap_dims(1, 2).reshape([-1, c as i64]), c)
        }
        Activation::Image(t) => {
            let c = t.dims()[1];
            (t.clone().permute([0, 2, 3, 1]).reshape([-1, c as i64]), c)
        }
    };
    let count = rows.dims()[0];
    let mean = column_mean(rows.clone()); // [1, C]
    let var = column_mean((rows - mean.clone()).square());
    let scale = gamma / var.clone().add_scalar(eps).sqrt().reshape([channels]);
    let shift = beta - mean.clone().reshape([channels]) * scale.clone();
    let out = apply(&Op::Affine { scale, shift }, x, &mut TrainingState::default());
    (out, mean.reshape([channels]), var.reshape([channels]), count)
}

/// The mean of each column of `[n, c]`, summed in two stages (√n blocks of √n rows): burn's
/// reductions add sequentially, and over the 65,536 values per channel of a DCGAN batch that loses
/// digits: the generator's images came out ~10× further from exact than PyTorch's, and a critic's
/// gradients amplify that (measured by tests/reference/parity.py).
pub(super) fn column_mean(rows: Tensor<2>) -> Tensor<2> {
    let [n, c] = rows.dims();
    let block = (1..=n.isqrt()).rev().find(|k| n % k == 0).unwrap_or(1);
    rows.reshape([n / block, block, c]).mean_dim(1).mean_dim(0).reshape([1, c])
}

/// The kernels' form of an activation layer, for those they fuse (a leaky ReLU's slope must be
/// non-negative, so that its output's sign gives its derivative).
pub(super) fn pointwise(layer: Option<&Layer>) -> Option<Pointwise> {
    match layer? {
        Layer::Relu {} => Some(Pointwise::LeakyRelu(0.0)),
        Layer::LeakyRelu { slope } if *slope >= 0.0 => Some(Pointwise::LeakyRelu(*slope)),
        Layer::Tanh {} => Some(Pointwise::Tanh),
        _ => None,
    }
}

pub(super) fn parameterless_op(layer: &Layer) -> Op {
    match layer {
        Layer::Relu {} => Op::Relu,
        Layer::LeakyRelu { slope } => Op::LeakyRelu(*slope as f64),
        Layer::Tanh {} => Op::Tanh,
        Layer::Sigmoid {} => Op::Sigmoid,
        Layer::Softmax {} => Op::Softmax,
        Layer::Reshape { shape } => Op::Reshape(shape.clone()),
        Layer::MaxPool2d { kernel } => Op::MaxPool2d(*kernel),
        Layer::AvgPool2d { kernel } => Op::AvgPool2d(*kernel),
        Layer::Upsample2d { factor } => Op::Upsample2d(*factor),
        Layer::GlobalAvgPool {} => Op::GlobalAvgPool,
        Layer::GlobalSumPool {} => Op::GlobalSumPool,
        _ => unreachable!("layers with parameters are built by their own arm"),
    }
}
