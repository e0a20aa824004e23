//! A [`NetworkSpec`] turned into tensors on a device, and its forward pass.
//!
//! Weights are plain (non-autodiff) tensors: when the input requires a gradient, burn treats them
//! as constants, so refining computes ∇ with respect to the input only — never weight gradients.

use std::collections::HashMap;

use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::{conv_transpose2d, conv1d, conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};

#[cfg(feature = "cpu")]
use super::cpu_batch_norm;
#[cfg(feature = "cpu")]
use super::cpu_conv;
#[cfg(feature = "cpu")]
use super::cpu_linear;
#[cfg(feature = "cpu")]
use super::cpu_softmax;
#[cfg(feature = "cpu")]
use super::direct_conv::Pointwise;
use super::spec::{Layer, NetworkSpec};
use super::spectral;

/// Host-side weights by full parameter name, as read (and validated) from a bundle.
pub type HostWeights = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Device-side parameters by full name, flattened (shapes come from the spec).
pub type DeviceParams = HashMap<String, Tensor<1>>;

/// What a training-mode pass measured or estimated, to fold into the running state afterwards.
#[derive(Debug, Default)]
pub struct TrainingState {
    /// Batch mean, biased variance and value count of each batch-norm layer, by parameter prefix.
    pub batch_stats: Vec<(String, Tensor<1>, Tensor<1>, usize)>,
    /// Each spectral-norm layer's advanced left singular vector, by parameter name.
    pub sn_vectors: Vec<(String, Tensor<1>)>,
}

/// A network's activations. burn tensors carry their rank in the type, while reshapes in a
/// manifest change it at run time; this enum bridges the two.
#[derive(Clone, Debug)]
pub enum Activation {
    Flat(Tensor<2>),
    Seq(Tensor<3>),
    Image(Tensor<4>),
}

impl Activation {
    /// Reshapes a `[batch, …]` tensor of any supported rank to `[batch] ++ shape`.
    pub fn reshape(self, shape: &[usize]) -> Activation {
        let batch = self.batch();
        match shape.len() {
            1 => Activation::Flat(self.flat().reshape([batch, shape[0]])),
            2 => Activation::Seq(self.flat().reshape([batch, shape[0], shape[1]])),
            _ => Activation::Image(self.flat().reshape([batch, shape[0], shape[1], shape[2]])),
        }
    }

    pub fn batch(&self) -> usize {
        match self {
            Activation::Flat(t) => t.dims()[0],
            Activation::Seq(t) => t.dims()[0],
            Activation::Image(t) => t.dims()[0],
        }
    }

    /// `[batch, everything else]`.
    pub fn flat(self) -> Tensor<2> {
        match self {
            Activation::Flat(t) => t,
            Activation::Seq(t) => t.flatten(1, 2),
            Activation::Image(t) => t.flatten(1, 3),
        }
    }

    fn map(
        self,
        f2: impl FnOnce(Tensor<2>) -> Tensor<2>,
        f3: impl FnOnce(Tensor<3>) -> Tensor<3>,
        f4: impl FnOnce(Tensor<4>) -> Tensor<4>,
    ) -> Activation {
        match self {
            Activation::Flat(t) => Activation::Flat(f2(t)),
            Activation::Seq(t) => Activation::Seq(f3(t)),
            Activation::Image(t) => Activation::Image(f4(t)),
        }
    }

    fn add_scaled(self, other: Activation, scale: f32) -> Activation {
        match (self, other) {
            (Activation::Flat(a), Activation::Flat(b)) => Activation::Flat(a + b.mul_scalar(scale)),
            (Activation::Seq(a), Activation::Seq(b)) => Activation::Seq(a + b.mul_scalar(scale)),
            (Activation::Image(a), Activation::Image(b)) => {
                Activation::Image(a + b.mul_scalar(scale))
            }
            _ => unreachable!("residual shapes are checked when the manifest is validated"),
        }
    }
}

#[cfg(feature = "cpu")]
type Direct = Option<cpu_conv::PackedConv>;
/// Without the CPU backend there are no direct kernels: always `None`.
#[cfg(not(feature = "cpu"))]
type Direct = Option<std::convert::Infallible>;

#[cfg(feature = "cpu")]
type DirectLinear = Option<cpu_linear::PackedLinear>;
#[cfg(not(feature = "cpu"))]
type DirectLinear = Option<std::convert::Infallible>;

#[derive(Debug, Clone)]
enum Op {
    // `direct`: the weights in both layouts for the CPU backend's linear op (inference on flex;
    // see `cpu_linear`), which then runs the layer and the activation fused into it.
    Linear {
        weight_t: Tensor<2>,
        bias: Tensor<1>,
        direct: DirectLinear,
    },
    // `direct`: the weights packed for the CPU backend's direct kernels, which then run the
    // layer (inference on flex; see `cpu_conv`). `None` on flex (a network being trained): the
    // kernels run on the weights as they are.
    Conv2d {
        weight: Tensor<4>,
        bias: Tensor<1>,
        stride: usize,
        padding: usize,
        direct: Direct,
    },
    ConvTranspose2d {
        weight: Tensor<4>,
        bias: Tensor<1>,
        stride: usize,
        padding: usize,
        output_padding: usize,
        direct: Direct,
    },
    Conv1d {
        weight: Tensor<3>,
        bias: Tensor<1>,
        padding: usize,
        direct: Direct,
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
    GlobalAvgPool,
    Residual(Vec<Op>, f32),
    /// A residual block whose branch ends in a convolution, its scale folded into that
    /// convolution's weights and bias, which adds the block's input to its output.
    ConvResidual(Vec<Op>),
    /// A convolution or batch norm being trained on the CPU backend's own operations, with the
    /// activation after it fused into its output and its derivative into the gradients.
    #[cfg(feature = "cpu")]
    Activated(Box<Op>, Pointwise),
}

/// A network ready to run on one device.
#[derive(Debug, Clone)]
pub struct Network {
    ops: Vec<Op>,
    input_shape: Vec<usize>,
}

impl Network {
    /// Builds `spec` from validated host weights named `prefix.<layer>.<field>`.
    /// `sn_iterations` extra power iterations refine every spectral-norm estimate (thermalising).
    /// A convolution's batch norm is folded into its weights, and on the CPU backend the
    /// activation after them is fused into its output (see [`fused_len`]).
    pub fn build(
        spec: &NetworkSpec,
        input_shape: &[usize],
        prefix: &str,
        weights: &HostWeights,
        sn_iterations: usize,
        device: &Device,
    ) -> Network {
        let ops = build_ops(&spec.layers, prefix, weights, sn_iterations, device);
        Network { ops, input_shape: input_shape.to_vec() }
    }

    /// Builds `spec` for a training step from device parameters, which may require gradients.
    /// Spectral norm is computed in the graph (σ = uᵀWv with u, v constants, as PyTorch does,
    /// advancing u by one power iteration) and batch norm uses batch statistics; both record
    /// their new state in `state`.
    pub fn training(
        spec: &NetworkSpec,
        input_shape: &[usize],
        prefix: &str,
        params: &DeviceParams,
        state: &mut TrainingState,
    ) -> Network {
        let ops = spec.layers.iter().map(|l| training_op(l, prefix, params, state)).collect();
        #[cfg(feature = "cpu")]
        let ops = fuse_trained_activations(&spec.layers, ops);
        Network { ops, input_shape: input_shape.to_vec() }
    }

    /// Runs on `[batch, prod(input_shape)]` and returns `[batch, prod(output shape)]`.
    pub fn forward_flat(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_recording(x, &mut TrainingState::default())
    }

    /// Like `forward_flat`, recording training-mode batch statistics in `state`.
    pub fn forward_recording(&self, x: Tensor<2>, state: &mut TrainingState) -> Tensor<2> {
        let input = Activation::Flat(x).reshape(&self.input_shape);
        run(&self.ops, input, state).flat()
    }
}

fn run(ops: &[Op], mut x: Activation, state: &mut TrainingState) -> Activation {
    for op in ops {
        x = apply(op, x, state);
    }
    x
}

fn apply(op: &Op, x: Activation, state: &mut TrainingState) -> Activation {
    match (op, x) {
        (Op::Linear { weight_t, bias, direct }, Activation::Flat(t)) => {
            #[cfg(feature = "cpu")]
            if let Some(packed) = direct {
                return Activation::Flat(cpu_linear::linear(t, packed, bias.clone()));
            }
            #[cfg(not(feature = "cpu"))]
            let _ = direct;
            Activation::Flat(t.matmul(weight_t.clone()) + bias.clone().unsqueeze::<2>())
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
            #[cfg(feature = "cpu")]
            if direct_kernels(direct, &t.device()) {
                let out_size = transposed_size(&t, weight, *stride, *padding, *output_padding);
                let (stride, padding) = ([*stride; 2], [*padding; 2]);
                return Activation::Image(match direct {
                    Some(packed) => cpu_conv::conv_transpose2d(
                        t,
                        packed,
                        bias.clone(),
                        stride,
                        padding,
                        out_size,
                    ),
                    None => cpu_conv::conv_transpose2d_trained(
                        t,
                        weight.clone(),
                        bias.clone(),
                        stride,
                        padding,
                        out_size,
                        Pointwise::Identity,
                    ),
                });
            }
            #[cfg(not(feature = "cpu"))]
            let _ = direct;
            let options = ConvTransposeOptions::new(
                [*stride; 2],
                [*padding; 2],
                [*output_padding; 2],
                [1, 1],
                1,
            );
            Activation::Image(conv_transpose2d(t, weight.clone(), Some(bias.clone()), options))
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
            #[cfg(feature = "cpu")]
            if cpu_conv::available(&gamma.device()) {
                return direct_batch_norm(name, gamma, beta, *eps, Pointwise::Identity, x, state);
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
        (Op::Residual(inner, scale), x) => {
            let branch = run(inner, x.clone(), state);
            x.add_scaled(branch, *scale)
        }
        (Op::ConvResidual(inner), x) => {
            let (last, first) = inner.split_last().expect("a residual branch has layers");
            let branch = run(first, x.clone(), state);
            convolve_adding(last, branch, Some(x))
        }
        #[cfg(feature = "cpu")]
        (Op::Activated(op, pointwise), x) => match (&**op, x) {
            (Op::Conv2d { weight, bias, stride, padding, .. }, Activation::Image(t)) => {
                Activation::Image(cpu_conv::conv2d_trained(
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
                Activation::Image(cpu_conv::conv_transpose2d_trained(
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
                direct_batch_norm(name, gamma, beta, *eps, *pointwise, x, state)
            }
            (op, x) => unreachable!("layer {op:?} with a fused activation got input {x:?}"),
        },
        (op, x) => unreachable!("layer {op:?} got input {x:?}; shapes are validated at load"),
    }
}

/// Batch norm with batch statistics on the CPU backend's own operation, through `pointwise`;
/// records the statistics in `state`.
#[cfg(feature = "cpu")]
fn direct_batch_norm(
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
    let (out, mean, var) = cpu_batch_norm::batch_norm(
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
#[cfg(feature = "cpu")]
fn transposed_size(
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

/// A network being trained, with each convolution and batch norm that runs on the CPU backend's
/// own operations taking the activation after it (as [`fused_len`] fuses them for inference):
/// burn's activation ops would make two more passes over the output, and several over its
/// gradient, on one thread.
/// `ops` are `layers` built one for one.
#[cfg(feature = "cpu")]
fn fuse_trained_activations(layers: &[Layer], ops: Vec<Op>) -> Vec<Op> {
    let mut fused = Vec::with_capacity(ops.len());
    // Each op with the layer after it.
    let mut ops = ops.into_iter().zip(layers.iter().skip(1).map(Some).chain([None]));
    while let Some((op, next)) = ops.next() {
        let on_kernels = match &op {
            Op::Conv2d { weight, .. } | Op::ConvTranspose2d { weight, .. } => {
                cpu_conv::available(&weight.device())
            }
            Op::BatchNorm { gamma, .. } => cpu_conv::available(&gamma.device()),
            _ => false,
        };
        match pointwise(next) {
            Some(pointwise) if on_kernels => {
                ops.next();
                fused.push(Op::Activated(Box::new(op), pointwise));
            }
            _ => fused.push(op),
        }
    }
    fused
}

/// Whether a convolution runs on the CPU backend's direct kernels: on weights packed for them,
/// or (a network being trained) on its weights as they are.
#[cfg(feature = "cpu")]
fn direct_kernels(direct: &Direct, device: &Device) -> bool {
    direct.is_some() || cpu_conv::available(device)
}

#[cfg(not(feature = "cpu"))]
fn direct_kernels(_: &Direct, _: &Device) -> bool {
    false
}

/// A convolution op (2-D or 1-D) on `x`, plus `residual` (of the output's shape) if given.
fn convolve_adding(op: &Op, x: Activation, residual: Option<Activation>) -> Activation {
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
            if direct_kernels(direct, &t.device()) {
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
fn convolve(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
    direct: &Direct,
    residual: Option<Tensor<4>>,
) -> Tensor<4> {
    #[cfg(feature = "cpu")]
    if direct_kernels(direct, &x.device()) {
        return match direct {
            Some(packed) => cpu_conv::conv2d(x, packed, bias, residual, stride, padding),
            None => plus(
                cpu_conv::conv2d_trained(x, weight, bias, stride, padding, Pointwise::Identity),
                residual,
            ),
        };
    }
    #[cfg(not(feature = "cpu"))]
    let _ = direct;
    plus(conv2d(x, weight, Some(bias), ConvOptions::new(stride, padding, [1, 1], 1)), residual)
}

/// `x`, plus the residual if there is one.
fn plus<const D: usize>(x: Tensor<D>, residual: Option<Tensor<D>>) -> Tensor<D> {
    match residual {
        Some(r) => x + r,
        None => x,
    }
}

/// Softmax over the channels (axis 1), on the CPU backend's fused operation for sequences.
fn softmax_channels(x: Activation) -> Activation {
    match x {
        #[cfg(feature = "cpu")]
        Activation::Seq(t) if cpu_conv::available(&t.device()) => {
            Activation::Seq(cpu_softmax::softmax(t))
        }
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
fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    activation::relu(x.clone()).mul_scalar(1.0 - slope) + x.mul_scalar(slope)
}

/// Normalises over every axis but the channels (axis 1); returns the output, batch mean, biased
/// batch variance and the number of values per channel.
fn batch_norm(
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
fn column_mean(rows: Tensor<2>) -> Tensor<2> {
    let [n, c] = rows.dims();
    let block = (1..=n.isqrt()).rev().find(|k| n % k == 0).unwrap_or(1);
    rows.reshape([n / block, block, c]).mean_dim(1).mean_dim(0).reshape([1, c])
}

fn training_op(
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
        Layer::Residual { layers, scale } => Op::Residual(
            layers.iter().map(|l| training_op(l, prefix, params, state)).collect(),
            *scale,
        ),
        other => parameterless_op(other),
    }
}

/// W / σ(W) in the graph, σ = uᵀWv with u and v held constant; records the advanced u.
fn spectral_normalised(
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
fn unit(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum().sqrt().clamp_min(1e-12);
    x / norm.unsqueeze::<2>()
}

fn build_ops(
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
        && direct_kernels(&None, device)
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

#[cfg(feature = "cpu")]
fn fuses_activation(layer: Option<&Layer>, device: &Device) -> bool {
    cpu_conv::available(device) && pointwise(layer).is_some()
}

#[cfg(not(feature = "cpu"))]
fn fuses_activation(_: Option<&Layer>, _: &Device) -> bool {
    false
}

/// The kernels' form of an activation layer, for those they fuse (a leaky ReLU's slope must be
/// non-negative, so that its output's sign gives its derivative).
#[cfg(feature = "cpu")]
fn pointwise(layer: Option<&Layer>) -> Option<Pointwise> {
    match layer? {
        Layer::Relu {} => Some(Pointwise::LeakyRelu(0.0)),
        Layer::LeakyRelu { slope } if *slope >= 0.0 => Some(Pointwise::LeakyRelu(*slope)),
        Layer::Tanh {} => Some(Pointwise::Tanh),
        _ => None,
    }
}

/// A batch norm at inference: a scale and a shift per channel.
fn batch_norm_affine(take: impl Fn(&str) -> Vec<f32>, eps: f32) -> (Vec<f32>, Vec<f32>) {
    let (gamma, beta, mean, var) =
        (take("weight"), take("bias"), take("running_mean"), take("running_var"));
    let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect();
    let shift = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
    (scale, shift)
}

/// Folds a scale and shift per output channel into a layer's weights, laid out
/// `[outer, outputs, inner]`, and its bias.
fn fold_affine(
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
fn build_op(
    group: &[Layer],
    prefix: &str,
    weights: &HostWeights,
    sn_iterations: usize,
    device: &Device,
) -> Op {
    #[cfg(feature = "cpu")]
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
        Layer::Residual { layers, scale } => {
            let mut ops = build_ops(layers, prefix, weights, sn_iterations, device);
            match (layers.last(), ops.pop()) {
                (Some(Layer::Conv2d { .. } | Layer::Conv1d { .. }), Some(last)) => {
                    ops.push(scaled(last, *scale));
                    Op::ConvResidual(ops)
                }
                (_, last) => {
                    ops.extend(last);
                    Op::Residual(ops, *scale)
                }
            }
        }
        other => parameterless_op(other),
    }
}

/// A convolution op with its weights and bias times `factor`.
fn scaled(op: Op, factor: f32) -> Op {
    #[cfg(feature = "cpu")]
    let direct = |d: Direct| d.map(|packed| packed.scaled(factor));
    #[cfg(not(feature = "cpu"))]
    let direct = |d: Direct| d;
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
#[cfg(feature = "cpu")]
fn pack_conv2d(
    weight: &[f32],
    shape: [usize; 4],
    stride: [usize; 2],
    activation: Option<&Layer>,
    device: &Device,
) -> Direct {
    let pointwise = pointwise(activation).unwrap_or_default();
    cpu_conv::available(device)
        .then(|| cpu_conv::PackedConv::conv2d(weight, shape, stride, pointwise, device))
}

#[cfg(feature = "cpu")]
fn pack_conv_transpose2d(
    weight: &[f32],
    shape: [usize; 4],
    stride: [usize; 2],
    activation: Option<&Layer>,
    device: &Device,
) -> Direct {
    let pointwise = pointwise(activation).unwrap_or_default();
    cpu_conv::available(device)
        .then(|| cpu_conv::PackedConv::conv_transpose2d(weight, shape, stride, pointwise, device))
}

#[cfg(feature = "cpu")]
fn pack_linear(
    weight: &[f32],
    shape: [usize; 2],
    activation: Option<&Layer>,
    device: &Device,
) -> DirectLinear {
    let pointwise = pointwise(activation).unwrap_or_default();
    cpu_conv::available(device)
        .then(|| cpu_linear::PackedLinear::new(weight, shape, pointwise, device))
}

#[cfg(not(feature = "cpu"))]
fn pack_linear(_: &[f32], _: [usize; 2], _: Option<&Layer>, _: &Device) -> DirectLinear {
    None
}

#[cfg(not(feature = "cpu"))]
fn pack_conv2d(_: &[f32], _: [usize; 4], _: [usize; 2], _: Option<&Layer>, _: &Device) -> Direct {
    None
}

#[cfg(not(feature = "cpu"))]
fn pack_conv_transpose2d(
    _: &[f32],
    _: [usize; 4],
    _: [usize; 2],
    _: Option<&Layer>,
    _: &Device,
) -> Direct {
    None
}

fn parameterless_op(layer: &Layer) -> Op {
    match layer {
        Layer::Relu {} => Op::Relu,
        Layer::LeakyRelu { slope } => Op::LeakyRelu(*slope as f64),
        Layer::Tanh {} => Op::Tanh,
        Layer::Sigmoid {} => Op::Sigmoid,
        Layer::Softmax {} => Op::Softmax,
        Layer::Reshape { shape } => Op::Reshape(shape.clone()),
        Layer::MaxPool2d { kernel } => Op::MaxPool2d(*kernel),
        Layer::GlobalAvgPool {} => Op::GlobalAvgPool,
        _ => unreachable!("layers with parameters are built by their own arm"),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;
    use burn::tensor::module;

    use super::*;

    fn random(shape: &[usize], (low, high): (f64, f64), device: &Device) -> (Vec<usize>, Vec<f32>) {
        let t = Tensor::<1>::random(
            [shape.iter().product::<usize>()],
            Distribution::Uniform(low, high),
            device,
        );
        (shape.to_vec(), t.into_data().try_into_vec::<f32>().expect("f32 values"))
    }

    fn tensor<const D: usize>(
        (shape, values): &(Vec<usize>, Vec<f32>),
        device: &Device,
    ) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device)
    }

    /// `network` gives what `one_by_one` gives at `x`: the output, and the gradient of
    /// Σ seed ⊙ output with respect to the input, within 1e-5 of the largest value (or of 1).
    fn assert_matches_one_by_one(
        network: &Network,
        one_by_one: &dyn Fn(Tensor<2>) -> Tensor<2>,
        x: Tensor<2>,
        seed: Tensor<2>,
    ) {
        let seed = seed.autodiff();
        let gradient = |f: &dyn Fn(Tensor<2>) -> Tensor<2>| {
            let x = x.clone().autodiff().require_grad();
            let y = f(x.clone());
            let grad = x
                .grad(&(y.clone() * seed.clone()).sum().backward())
                .expect("x requires a gradient");
            (y.without_autodiff(), grad)
        };
        let (got, got_grad) = gradient(&|x| network.forward_flat(x));
        let (want, want_grad) = gradient(one_by_one);
        for (got, want) in [(got, want), (got_grad, want_grad)] {
            let error = (got - want.clone()).abs().max().into_scalar::<f32>();
            let scale = want.abs().max().into_scalar::<f32>().max(1.0);
            assert!(error <= 1e-5 * scale, "max difference {error} (values up to {scale})");
        }
    }

    /// A batch norm folded into the convolution before it, and activations fused into their
    /// convolutions' outputs (on the CPU kernels), give what the layers give one by one: the
    /// output, and the gradient with respect to the input.
    #[test]
    fn folded_and_fused_layers_match_the_layers_one_by_one() {
        let device = Device::flex();
        let layers: Vec<Layer> = serde_json::from_str(
            r#"[
                {"op": "conv_transpose2d", "name": "up", "inputs": 4, "outputs": 6, "kernel": 4, "stride": 2, "padding": 1},
                {"op": "batch_norm", "name": "bn", "channels": 6, "eps": 1e-5},
                {"op": "relu"},
                {"op": "conv2d", "name": "mid", "inputs": 6, "outputs": 5, "kernel": 3, "padding": 1},
                {"op": "leaky_relu", "slope": 0.2},
                {"op": "conv2d", "name": "out", "inputs": 5, "outputs": 3, "kernel": 3, "padding": 1},
                {"op": "tanh"}
            ]"#,
        )
        .expect("a valid spec");
        let lens: Vec<usize> =
            [0, 3, 5].iter().map(|&i| fused_len(&layers[i..], &device)).collect();
        assert_eq!(lens, [3, 2, 2], "each convolution takes its batch norm and activation");

        // Weights small enough that the tanh does not saturate (its gradient then says little).
        let mut weights = HostWeights::new();
        let (small, variance) = ((-0.3, 0.3), (0.5, 1.5));
        for (name, shape, range) in [
            ("up.weight", vec![4, 6, 4, 4], small),
            ("up.bias", vec![6], small),
            ("bn.weight", vec![6], small),
            ("bn.bias", vec![6], small),
            ("bn.running_mean", vec![6], small),
            ("bn.running_var", vec![6], variance),
            ("mid.weight", vec![5, 6, 3, 3], small),
            ("mid.bias", vec![5], small),
            ("out.weight", vec![3, 5, 3, 3], small),
            ("out.bias", vec![3], small),
        ] {
            weights.insert(format!("g.{name}"), random(&shape, range, &device));
        }
        let network =
            Network::build(&NetworkSpec { layers }, &[4, 5, 5], "g", &weights, 0, &device);
        let w = |name: &str| weights[&format!("g.{name}")].clone();
        let channel = |name: &str| tensor::<1>(&w(name), &device).unsqueeze_dims::<4>(&[0, 2, 3]);
        let one_by_one = |x: Tensor<4>| {
            let y = module::conv_transpose2d(
                x,
                tensor(&w("up.weight"), &device),
                Some(tensor(&w("up.bias"), &device)),
                ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1),
            );
            let y = (y - channel("bn.running_mean"))
                / channel("bn.running_var").add_scalar(1e-5).sqrt()
                * channel("bn.weight")
                + channel("bn.bias");
            let y = module::conv2d(
                activation::relu(y),
                tensor(&w("mid.weight"), &device),
                Some(tensor(&w("mid.bias"), &device)),
                ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
            );
            let y = module::conv2d(
                activation::leaky_relu(y, 0.2),
                tensor(&w("out.weight"), &device),
                Some(tensor(&w("out.bias"), &device)),
                ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
            );
            activation::tanh(y).flatten::<2>(1, 3)
        };

        let x = Tensor::<2>::random([3, 4 * 5 * 5], Distribution::Normal(0.0, 1.0), &device);
        let seed = Tensor::<2>::random([3, 3 * 10 * 10], Distribution::Normal(0.0, 1.0), &device);
        assert_matches_one_by_one(&network, &|x| one_by_one(x.reshape([3, 4, 5, 5])), x, seed);
    }

    /// On the CPU a ReLU joins the convolution after it, and a residual block whose branch ends
    /// in a convolution adds its skip in that convolution (its scale folded into the weights):
    /// the text networks' blocks, and one ending in an activation, match the layers one by one.
    #[test]
    fn residual_blocks_fuse_and_match_the_layers_one_by_one() {
        let device = Device::flex();
        let block = r#"{"op": "residual", "scale": 0.3, "layers": [
                {"op": "relu"},
                {"op": "conv1d", "name": "a", "inputs": 8, "outputs": 8, "kernel": 5, "padding": 2},
                {"op": "relu"},
                {"op": "conv1d", "name": "b", "inputs": 8, "outputs": 8, "kernel": 5, "padding": 2}
            ]}"#;
        let layers: Vec<Layer> = serde_json::from_str(&format!(
            r#"[
                {{"op": "conv1d", "name": "in", "inputs": 3, "outputs": 8, "kernel": 1, "padding": 0}},
                {block},
                {{"op": "residual", "scale": 0.5, "layers": [
                    {{"op": "conv1d", "name": "c", "inputs": 8, "outputs": 8, "kernel": 3, "padding": 1}},
                    {{"op": "tanh"}}
                ]}}
            ]"#
        ))
        .expect("a valid spec");
        let Layer::Residual { layers: inner, .. } = &layers[1] else {
            unreachable!("the block is a residual")
        };
        let lens: Vec<usize> = [0, 2].iter().map(|&i| fused_len(&inner[i..], &device)).collect();
        assert_eq!(lens, [3, 2], "a ReLU joins the convolution after it");

        let mut weights = HostWeights::new();
        for (name, shape) in [
            ("in.weight", vec![8, 3, 1]),
            ("in.bias", vec![8]),
            ("a.weight", vec![8, 8, 5]),
            ("a.bias", vec![8]),
            ("b.weight", vec![8, 8, 5]),
            ("b.bias", vec![8]),
            ("c.weight", vec![8, 8, 3]),
            ("c.bias", vec![8]),
        ] {
            weights.insert(format!("d.{name}"), random(&shape, (-0.3, 0.3), &device));
        }
        let network = Network::build(&NetworkSpec { layers }, &[3, 32], "d", &weights, 0, &device);
        assert!(
            matches!(&network.ops[1..], [Op::ConvResidual(_), Op::Residual(_, _)]),
            "the first block's skip is fused, the second's is not"
        );
        let conv = |x: Tensor<3>, name: &str, padding: usize| {
            let (w, b) = (
                tensor(&weights[&format!("d.{name}.weight")], &device),
                tensor(&weights[&format!("d.{name}.bias")], &device),
            );
            module::conv1d(x, w, Some(b), ConvOptions::new([1], [padding], [1], 1))
        };
        let one_by_one = |x: Tensor<3>| {
            let y = conv(x, "in", 0);
            let y = y.clone()
                + conv(activation::relu(conv(activation::relu(y), "a", 2)), "b", 2).mul_scalar(0.3);
            let y = y.clone() + activation::tanh(conv(y, "c", 1)).mul_scalar(0.5);
            y.flatten::<2>(1, 2)
        };
        let x = Tensor::<2>::random([5, 3 * 32], Distribution::Normal(0.0, 1.0), &device);
        let seed = Tensor::<2>::random([5, 8 * 32], Distribution::Normal(0.0, 1.0), &device);
        assert_matches_one_by_one(&network, &|x| one_by_one(x.reshape([5, 3, 32])), x, seed);
    }

    /// On the CPU a linear layer takes the activation after it, and the MLP gives what its
    /// layers give one by one: the output and the input gradient.
    #[test]
    fn linear_layers_fuse_their_activations_and_match_the_layers_one_by_one() {
        let device = Device::flex();
        let layers: Vec<Layer> = serde_json::from_str(
            r#"[
                {"op": "linear", "name": "fc1", "inputs": 2, "outputs": 48},
                {"op": "leaky_relu", "slope": 0.2},
                {"op": "linear", "name": "fc2", "inputs": 48, "outputs": 40},
                {"op": "relu"},
                {"op": "linear", "name": "out", "inputs": 40, "outputs": 1}
            ]"#,
        )
        .expect("a valid spec");
        let lens: Vec<usize> =
            [0, 2, 4].iter().map(|&i| fused_len(&layers[i..], &device)).collect();
        assert_eq!(lens, [2, 2, 1], "each linear layer takes the activation after it");

        let mut weights = HostWeights::new();
        for (name, shape) in [
            ("fc1.weight", vec![48, 2]),
            ("fc1.bias", vec![48]),
            ("fc2.weight", vec![40, 48]),
            ("fc2.bias", vec![40]),
            ("out.weight", vec![1, 40]),
            ("out.bias", vec![1]),
        ] {
            weights.insert(format!("d.{name}"), random(&shape, (-0.5, 0.5), &device));
        }
        let network = Network::build(&NetworkSpec { layers }, &[2], "d", &weights, 0, &device);
        let w =
            |name: &str| tensor::<2>(&weights[&format!("d.{name}.weight")], &device).transpose();
        let b =
            |name: &str| tensor::<1>(&weights[&format!("d.{name}.bias")], &device).unsqueeze::<2>();
        let one_by_one = |x: Tensor<2>| {
            let y = activation::leaky_relu(x.matmul(w("fc1")) + b("fc1"), 0.2);
            let y = activation::relu(y.matmul(w("fc2")) + b("fc2"));
            y.matmul(w("out")) + b("out")
        };
        let x = Tensor::<2>::random([70, 2], Distribution::Normal(0.0, 1.0), &device);
        // The gradient of the outputs' sum.
        assert_matches_one_by_one(&network, &one_by_one, x, Tensor::ones([70, 1], &device));
    }
}
