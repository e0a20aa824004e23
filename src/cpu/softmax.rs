//! Softmax over the channel axis of `[n, c, l]` sequences (the text generator's last layer: a
//! distribution over the vocabulary at every position) as one operation of burn's CPU backend
//! with a hand-written backward pass. burn's own runs as five strided tensor ops and their
//! backward passes: 1.37 ms of a 32 ms text step at batch 64, against PyTorch's 0.19 ms.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::flex::{contiguous, values};
use super::parallel::for_each_chunk;

#[backend_extension(Flex, Autodiff)]
pub trait ChannelSoftmax: Backend {
    /// `x` `[n, c, l]` → at every sample and position, the softmax of its `c` values.
    fn channel_softmax(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Softmax over axis 1 of `x` `[n, c, l]`; the device must be the CPU backend
/// (`Ops::on`).
pub fn softmax(x: Tensor<3>) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as ChannelSoftmax>::channel_softmax(x.into_dispatch()))
}

fn shape3(t: &FlexTensor) -> [usize; 3] {
    t.layout().shape().dims::<3>()
}

/// Values per parallel task: whole samples, at least ~16k values (fewer cost more to hand out
/// than they save).
fn task_len([_, c, l]: [usize; 3]) -> usize {
    (c * l).max(1) * (1usize << 14).div_ceil((c * l).max(1))
}

/// In parallel over samples; each sample's `[c, l]` block is `c` rows of `l` positions, and the
/// loops run along the rows, so that they vectorise over positions.
fn forward(x: &[f32], [n, c, l]: [usize; 3]) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    let task = task_len([n, c, l]);
    for_each_chunk(&mut out, task, |k, part| {
        let (mut max, mut sum) = (vec![0.0f32; l], vec![0.0f32; l]);
        for (xs, ys) in x[k * task..].chunks(c * l).zip(part.chunks_mut(c * l)) {
            max.fill(f32::NEG_INFINITY);
            sum.fill(0.0);
            for row in xs.chunks(l) {
                max.iter_mut().zip(row).for_each(|(m, v)| *m = m.max(*v));
            }
            for (row, exps) in xs.chunks(l).zip(ys.chunks_mut(l)) {
                for (((e, v), m), s) in exps.iter_mut().zip(row).zip(&max).zip(sum.iter_mut()) {
                    *e = negligible_to_zero((v - m).exp());
                    *s += *e;
                }
            }
            sum.iter_mut().for_each(|s| *s = 1.0 / *s);
            for exps in ys.chunks_mut(l) {
                exps.iter_mut().zip(&sum).for_each(|(e, r)| *e = negligible_to_zero(*e * r));
            }
        }
    });
    out
}

/// Probabilities below this are set to 0. A saturated softmax has probabilities far below f32's
/// normal range, and on x86 arithmetic that reads or makes a subnormal value takes a slow path:
/// the trained text model's probabilities are 80 % below 2^-126 at batch 64, and flushing only
/// those still left values whose products in the critic's first convolution and in the
/// generator's gradient came out subnormal (thousands a step in PyTorch's hooks), doubling the
/// step. At each position the largest probability is at least 1/c (2^-8 for the text model's
/// vocabulary, 2^-17 even for 100,000 classes), so one below 2^-64 is at most 2^-47 of it, far
/// below f32's rounding (2^-24), and its products with weights (any above 2^-62) stay normal.
const NEGLIGIBLE: f32 = f32::from_bits((127 - 64) << 23); // 2^-64

/// `p`, or 0 where it is below [`NEGLIGIBLE`] (NaN stays NaN).
#[inline(always)]
fn negligible_to_zero(p: f32) -> f32 {
    if p < NEGLIGIBLE { 0.0 } else { p }
}

/// `v`, or 0 where it is subnormal (NaN stays NaN): a gradient from a probability at
/// [`NEGLIGIBLE`] and a near-zero output gradient could still be.
#[inline(always)]
fn normal_or_zero(v: f32) -> f32 {
    if v.abs() < f32::MIN_POSITIVE { 0.0 } else { v }
}

/// The input gradient from the output `y` and its gradient `g`: `y ⊙ (g − Σ_c g ⊙ y)`.
fn backward(y: &[f32], g: &[f32], [n, c, l]: [usize; 3]) -> Vec<f32> {
    let mut dx = vec![0.0; y.len()];
    let task = task_len([n, c, l]);
    for_each_chunk(&mut dx, task, |k, part| {
        let mut dot = vec![0.0f32; l];
        for ((ys, gs), dxs) in
            y[k * task..].chunks(c * l).zip(g[k * task..].chunks(c * l)).zip(part.chunks_mut(c * l))
        {
            dot.fill(0.0);
            for (yr, gr) in ys.chunks(l).zip(gs.chunks(l)) {
                dot.iter_mut().zip(yr).zip(gr).for_each(|((d, y), g)| *d += y * g);
            }
            for ((yr, gr), dr) in ys.chunks(l).zip(gs.chunks(l)).zip(dxs.chunks_mut(l)) {
                for (((d, y), g), s) in dr.iter_mut().zip(yr).zip(gr).zip(&dot) {
                    *d = normal_or_zero(y * (g - s));
                }
            }
        }
    });
    dx
}

impl ChannelSoftmax for Flex {
    fn channel_softmax(x: FlexTensor) -> FlexTensor {
        let x = contiguous(&x);
        let shape = shape3(&x);
        FlexTensor::from_data(TensorData::new(forward(values(&x), shape), shape))
    }
}

#[derive(Debug)]
struct SoftmaxGradient;

impl Backward<Flex, 1> for SoftmaxGradient {
    /// The forward pass's output.
    type State = FlexTensor;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = contiguous(&grads.consume::<Flex>(&ops.node));
        if let Some(node) = node_x {
            let shape = shape3(&ops.state);
            let dx = backward(values(&ops.state), values(&grad), shape);
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
    }
}

impl<C: CheckpointStrategy> ChannelSoftmax for Autodiff<Flex, C> {
    fn channel_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (x, node) = x.into_parts();
        let out = Flex::channel_softmax(x);
        match SoftmaxGradient.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(out.clone(), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::activation;

    use super::*;
    use crate::cpu::test_support::{Draws, assert_close};

    #[test]
    fn softmax_and_its_input_gradient_match_burns() {
        let device = Device::flex();
        let mut draws = Draws::new(0, &device);
        // The text model's shape at a batch of three parallel tasks (the last one short), odd
        // sizes, and large logits (the maximum must be subtracted; most probabilities then fall
        // below NEGLIGIBLE, and must come out as 0).
        for (shape, scale) in [([20, 64, 32], 3.0), ([2, 5, 7], 1.0), ([1, 9, 3], 60.0)] {
            let x = draws.normal(shape).mul_scalar(scale);
            assert_close(softmax(x.clone()), activation::softmax(x.clone(), 1));
            let seed = draws.normal(shape).autodiff();
            let gradient = |f: fn(Tensor<3>) -> Tensor<3>| {
                let x = x.clone().autodiff().require_grad();
                let grads = (f(x.clone()) * seed.clone()).sum().backward();
                x.grad(&grads).expect("x requires a gradient")
            };
            assert_close(gradient(softmax), gradient(|t| activation::softmax(t, 1)));
            let host = |t: Tensor<3>| t.into_data().try_into_vec::<f32>().expect("f32 values");
            for p in host(softmax(x.clone())) {
                assert!(p == 0.0 || p >= NEGLIGIBLE, "negligible {p:e} (logits of scale {scale})");
            }
            for value in host(gradient(softmax)) {
                assert!(
                    value == 0.0 || value.abs() >= f32::MIN_POSITIVE,
                    "subnormal {value:e} (logits of scale {scale})"
                );
            }
        }
    }
}
