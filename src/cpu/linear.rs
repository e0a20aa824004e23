//! Linear layers of inference networks as one operation of burn's CPU backend, with the
//! activation after them fused in and a hand-written input gradient.
//!
//! burn flex multiplies by a linear layer's weight `[outputs, inputs]` through a transposed
//! view, which gemm runs well below a row-major operand at our shapes (256×512×512 on 2 threads:
//! 0.65 against 0.47 ms; 64×512×512: 0.41 against 0.15 ms), and it leaves small products to
//! gemm's own threading, which loses to one thread below ~2²⁴ multiply-adds (64×256×256: 0.094
//! against 0.052 ms). Here each layer keeps its weight in both layouts, so the forward pass and
//! the input gradient both multiply by a row-major matrix; rows are split over threads, one
//! gemm call each (each call packs the weight again); and products with a few columns (a
//! critic's logit, a 2-D point's gradient) run as dot products, where gemm has no work to
//! vectorise.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::flex::{contiguous, through_activation, values};
use super::parallel::{for_each_chunk, lane_sum, threads};
use super::pointwise::Pointwise;

#[backend_extension(Flex, Autodiff)]
pub trait DirectLinear: Backend {
    /// `x` `[m, inputs]`; `weight_t` `[inputs, outputs]` and `weight` `[outputs, inputs]` the same
    /// weights in both layouts; `bias` `[outputs]`; `pointwise` the activation fused into the
    /// output `[m, outputs]`.
    fn direct_linear(
        x: FloatTensor<Self>,
        weight_t: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pointwise: Pointwise,
    ) -> FloatTensor<Self>;
}

/// A linear layer's weights in both layouts, and the activation fused into its output.
#[derive(Clone, Debug)]
pub struct PackedLinear {
    weight_t: Tensor<2>,
    weight: Tensor<2>,
    pointwise: Pointwise,
}

impl PackedLinear {
    /// `weight` `[outputs, inputs]`, row-major.
    pub fn new(
        weight: &[f32],
        [outputs, inputs]: [usize; 2],
        pointwise: Pointwise,
        device: &Device,
    ) -> PackedLinear {
        assert_eq!(
            weight.len(),
            outputs * inputs,
            "a linear layer's weight must be [outputs, inputs]"
        );
        let transposed =
            (0..inputs * outputs).map(|i| weight[(i % outputs) * inputs + i / outputs]).collect();
        PackedLinear {
            weight_t: Tensor::from_data(TensorData::new(transposed, [inputs, outputs]), device),
            weight: Tensor::from_data(TensorData::new(weight.to_vec(), [outputs, inputs]), device),
            pointwise,
        }
    }
}

/// `f(x Wᵀ + b)` on the CPU backend (`Ops::on`), `f` the packed activation.
pub fn linear(x: Tensor<2>, weights: &PackedLinear, bias: Tensor<1>) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as DirectLinear>::direct_linear(
        x.into_dispatch(),
        weights.weight_t.clone().into_dispatch(),
        weights.weight.clone().into_dispatch(),
        bias.into_dispatch(),
        weights.pointwise,
    ))
}

/// Below this many output columns a product runs as dot products rather than through gemm.
const DOT_COLUMNS: usize = 8;

/// Rows per parallel task: one gemm call per thread, but none under ~2²⁰ multiply-adds, below
/// which handing work to another thread costs more than it saves.
fn rows_per_task(m: usize, k: usize, n: usize) -> usize {
    let least = (1usize << 20).div_ceil((k * n).max(1));
    m.div_ceil(threads()).max(least).max(1)
}

/// `a` `[m, k]` times `b` `[k, n]`, given both as `b` and as its transpose `b_t` `[n, k]`, all
/// row-major; `finish` runs on each block of output rows once it is computed (while in cache).
fn multiply(
    a: &[f32],
    [m, k]: [usize; 2],
    (b, b_t): (&[f32], &[f32]),
    n: usize,
    finish: impl Fn(&mut [f32]) + Sync + Send,
) -> Vec<f32> {
    assert!(
        a.len() == m * k && b.len() == k * n && b_t.len() == k * n,
        "operands do not match [{m}, {k}] × [{k}, {n}]"
    );
    let mut out = vec![0.0f32; m * n];
    if out.is_empty() {
        return out;
    }
    let rows = rows_per_task(m, k, n);
    for_each_chunk(&mut out, rows * n, |task, block| {
        let r = block.len() / n;
        let a = &a[task * rows * k..][..r * k];
        if n < DOT_COLUMNS {
            for (a_row, out_row) in a.chunks_exact(k).zip(block.chunks_exact_mut(n)) {
                out_row
                    .iter_mut()
                    .zip(b_t.chunks_exact(k))
                    .for_each(|(o, column)| *o = lane_sum(a_row, column, |x, y| x * y));
            }
        } else {
            // SAFETY: `a` holds r × k values, `b` k × n, `block` r × n, each row-major with the
            // strides given; gemm reads and writes nothing else.
            unsafe {
                gemm::gemm(
                    r,
                    n,
                    k,
                    block.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr(),
                    1,
                    k as isize,
                    b.as_ptr(),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        finish(block);
    });
    out
}

fn shape2(t: &FlexTensor) -> [usize; 2] {
    t.layout().shape().dims::<2>()
}

fn forward(
    x: &FlexTensor,
    weight_t: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    pointwise: Pointwise,
) -> FlexTensor {
    let (x, bias) = (contiguous(x), contiguous(bias));
    let ([m, inputs], [_, outputs]) = (shape2(&x), shape2(weight_t));
    let bias = values(&bias);
    let out =
        multiply(values(&x), [m, inputs], (values(weight_t), values(weight)), outputs, |block| {
            for row in block.chunks_exact_mut(outputs) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                pointwise.apply(row);
            }
        });
    FlexTensor::from_data(TensorData::new(out, [m, outputs]))
}

impl DirectLinear for Flex {
    fn direct_linear(
        x: FlexTensor,
        weight_t: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        pointwise: Pointwise,
    ) -> FlexTensor {
        forward(&x, &weight_t, &weight, &bias, pointwise)
    }
}

/// The input gradient: the output's gradient times the fused activation's derivative (read off
/// the output), times the weight `[outputs, inputs]`.
#[derive(Debug)]
struct InputGradient;

impl Backward<Flex, 1> for InputGradient {
    /// The weight in both layouts, and the activation with the forward pass's output.
    type State = (FlexTensor, FlexTensor, Option<(Pointwise, FlexTensor)>);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = contiguous(&grads.consume::<Flex>(&ops.node));
        let Some(node) = node_x else { return };
        let (weight_t, weight, activation) = ops.state;
        let ([m, outputs], [_, inputs]) = (shape2(&grad), shape2(&weight));
        let grad = match activation {
            Some((pointwise, output)) => through_activation(grad, pointwise, &output),
            None => grad,
        };
        let dx = multiply(
            values(&grad),
            [m, outputs],
            (values(&weight), values(&weight_t)),
            inputs,
            |_| {},
        );
        grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, [m, inputs])));
    }
}

impl<C: CheckpointStrategy> DirectLinear for Autodiff<Flex, C> {
    fn direct_linear(
        x: FloatTensor<Self>,
        weight_t: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        pointwise: Pointwise,
    ) -> FloatTensor<Self> {
        let (x, node) = x.into_parts();
        let out =
            forward(&x, weight_t.primitive(), weight.primitive(), bias.primitive(), pointwise);
        match InputGradient.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let activation =
                    (pointwise != Pointwise::Identity).then(|| (pointwise, out.clone()));
                prep.finish((weight_t.into_primitive(), weight.into_primitive(), activation), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_support::{Draws, activations, assert_close, host};

    #[test]
    fn linear_layers_and_their_input_gradients_match_burns() {
        let device = Device::flex();
        let mut draws = Draws::new(0, &device);
        // The 2D toys' first and last layers (dot products one way, gemm the other), a wide
        // layer split over threads, and one row. Weights of scale 1/√inputs, as in a trained or
        // initialised layer: at scale 1 a 512-wide layer's sums reach ±60, and the two products'
        // rounding there comes through tanh's gradient at up to 0.5× the tolerance on this
        // machine's kernels (40 seeds) and at 1.2× on CI's; at 1/√inputs, 0.1× here.
        let shapes = [(64, 2, 512), (64, 512, 1), (300, 96, 80), (1, 33, 17)];
        for ((m, inputs, outputs), (pointwise, activation)) in
            shapes.into_iter().flat_map(|s| activations().map(|a| (s, a)))
        {
            let (x, weight, bias) = (
                draws.normal([m, inputs]),
                draws.normal([outputs, inputs]).div_scalar((inputs as f32).sqrt()),
                draws.normal([outputs]),
            );
            let packed = PackedLinear::new(&host(&weight), [outputs, inputs], pointwise, &device);
            let ours = |x: Tensor<2>| linear(x, &packed, bias.clone());
            let burns = |x: Tensor<2>| {
                activation(x.matmul(weight.clone().transpose()) + bias.clone().unsqueeze::<2>())
            };
            assert_close(ours(x.clone()), burns(x.clone()));
            let seed = draws.normal([m, outputs]).autodiff();
            let gradient = |f: &dyn Fn(Tensor<2>) -> Tensor<2>| {
                let x = x.clone().autodiff().require_grad();
                x.grad(&(f(x.clone()) * seed.clone()).sum().backward())
                    .expect("x requires a gradient")
            };
            assert_close(gradient(&ours), gradient(&burns));
        }
    }
}
