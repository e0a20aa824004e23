//! Batch norm in training mode (the batch's own statistics) as one operation of burn's CPU
//! backend, with the activation after it fused in and a hand-written backward pass. burn's runs
//! as a permute, two two-stage means, a square, an affine map and the activation, each a pass
//! over the activations on one thread, and as many again backward: in CIFAR-10 GAN training that
//! was about a third of what the main thread did besides convolutions.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::flex::{contiguous, through_activation, values};
use super::parallel::{channel_sums, for_each_chunk, zeroed};
use super::pointwise::Pointwise;

#[backend_extension(Flex, Autodiff)]
pub trait DirectBatchNorm: Backend {
    /// `x` `[n, c, l]` normalised per channel (axis 1) by the batch's mean and biased variance,
    /// times `gamma` plus `beta` (`[c]`), through `pointwise`; also the mean and the variance
    /// (`[c]`, constants: the output's gradient already accounts for them).
    fn direct_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
        pointwise: Pointwise,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Batch norm of `x` `[n, c, l]` over samples and positions, through `pointwise`, on the CPU
/// backend (`Ops::on`): the output, the batch mean and the biased batch variance.
pub fn batch_norm(
    x: Tensor<3>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f32,
    pointwise: Pointwise,
) -> (Tensor<3>, Tensor<1>, Tensor<1>) {
    let (out, mean, var) = <Dispatch as DirectBatchNorm>::direct_batch_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        eps,
        pointwise,
    );
    (Tensor::from_dispatch(out), Tensor::from_dispatch(mean), Tensor::from_dispatch(var))
}

fn shape3(t: &FlexTensor) -> [usize; 3] {
    t.layout().shape().dims::<3>()
}

/// `f(plane values, channel, plane index)` on every `[l]` plane of a new `[n, c, l]` array, in
/// parallel over groups of planes.
fn planes(shape: [usize; 3], f: impl Fn(&mut [f32], usize, usize) + Sync + Send) -> Vec<f32> {
    let [n, c, l] = shape;
    let mut out = zeroed(n * c * l);
    if out.is_empty() {
        return out;
    }
    // At least ~16k values per task: fewer cost more to hand out than they save.
    let per_task = (1usize << 14).div_ceil(l.max(1));
    for_each_chunk(&mut out, per_task * l, |k, part| {
        for (j, plane) in part.chunks_mut(l).enumerate() {
            let index = k * per_task + j;
            f(plane, index % c, index);
        }
    });
    out
}

/// The output, mean and biased variance.
fn forward(
    x: &[f32],
    [n, c, l]: [usize; 3],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    pointwise: Pointwise,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let count = (n * l) as f32;
    let mean: Vec<f32> =
        channel_sums([n, c, l], x, x, |v, _, _| v).iter().map(|sum| sum / count).collect();
    let var: Vec<f32> = channel_sums([n, c, l], x, x, |v, _, ch| (v - mean[ch]).powi(2))
        .iter()
        .map(|sum| sum / count)
        .collect();
    let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + eps).sqrt()).collect();
    let shift: Vec<f32> = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
    let out = planes([n, c, l], |plane, ch, index| {
        plane.iter_mut().zip(&x[index * l..]).for_each(|(y, x)| *y = x * scale[ch] + shift[ch]);
        pointwise.apply(plane);
    });
    (out, mean, var)
}

impl DirectBatchNorm for Flex {
    fn direct_batch_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        eps: f32,
        pointwise: Pointwise,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (x, gamma, beta) = (contiguous(&x), contiguous(&gamma), contiguous(&beta));
        let shape = shape3(&x);
        let (out, mean, var) =
            forward(values(&x), shape, values(&gamma), values(&beta), eps, pointwise);
        let c = shape[1];
        (
            FlexTensor::from_data(TensorData::new(out, shape)),
            FlexTensor::from_data(TensorData::new(mean, [c])),
            FlexTensor::from_data(TensorData::new(var, [c])),
        )
    }
}

/// The gradients for the input, `gamma` and `beta`, from the output's gradient times the fused
/// activation's derivative, `g`: with x̂ = (x − μ)/σ, dβ = Σ g, dγ = Σ g x̂ and
/// dx = γ/σ · (g − dβ/N − x̂ dγ/N), N values per channel.
#[derive(Debug)]
struct BatchNormGradients;

#[derive(Debug, Clone)]
struct Recorded {
    x: FlexTensor,
    gamma: Vec<f32>,
    mean: Vec<f32>,
    /// 1/σ per channel, σ = √(variance + eps).
    inv_std: Vec<f32>,
    /// The fused activation and the output, off which its derivative is read.
    activation: Option<(Pointwise, FlexTensor)>,
}

impl Backward<Flex, 3> for BatchNormGradients {
    type State = Recorded;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = contiguous(&grads.consume::<Flex>(&ops.node));
        let Recorded { x, gamma, mean, inv_std, activation } = ops.state;
        let [n, c, l] = shape3(&x);
        let grad = match activation {
            Some((pointwise, out)) => through_activation(grad, pointwise, &out),
            None => grad,
        };
        let g = values(&grad);
        let x = values(&x);
        let d_beta = channel_sums([n, c, l], g, g, |v, _, _| v);
        let d_gamma = channel_sums([n, c, l], g, x, |g, x, ch| g * (x - mean[ch]) * inv_std[ch]);
        if let Some(node) = node_x {
            let count = (n * l) as f32;
            let dx = planes([n, c, l], |plane, ch, index| {
                let (scale, mean_g, mean_gx) =
                    (gamma[ch] * inv_std[ch], d_beta[ch] / count, d_gamma[ch] / count);
                let (g, x) = (&g[index * l..][..l], &x[index * l..][..l]);
                for ((d, g), x) in plane.iter_mut().zip(g).zip(x) {
                    *d = scale * (g - mean_g - (x - mean[ch]) * inv_std[ch] * mean_gx);
                }
            });
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, [n, c, l])));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(d_gamma, [c])));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(d_beta, [c])));
        }
    }
}

impl<C: CheckpointStrategy> DirectBatchNorm for Autodiff<Flex, C> {
    fn direct_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
        pointwise: Pointwise,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (x, node_x) = x.into_parts();
        let (gamma, node_gamma) = gamma.into_parts();
        let (beta, node_beta) = beta.into_parts();
        let (x, gamma) = (contiguous(&x), contiguous(&gamma));
        let (out, mean, var) =
            Flex::direct_batch_norm(x.clone(), gamma.clone(), beta, eps, pointwise);
        let (mean_values, var_values) = (values(&mean).to_vec(), values(&var));
        let out = match BatchNormGradients
            .prepare::<C>([node_x, node_gamma, node_beta])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let recorded = Recorded {
                    x,
                    gamma: values(&gamma).to_vec(),
                    mean: mean_values,
                    inv_std: var_values.iter().map(|v| 1.0 / (v + eps).sqrt()).collect(),
                    activation: (pointwise != Pointwise::Identity)
                        .then(|| (pointwise, out.clone())),
                };
                prep.finish(recorded, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        // Constants: the output's gradient already accounts for the statistics.
        (out, Self::from_inner(mean), Self::from_inner(var))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_support::{
        Draws, activations, assert_close, assert_matches_with_all_gradients,
    };

    /// burn's ops one by one: the two-pass statistics, the affine map, the activation.
    fn burns(
        x: Tensor<3>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
        eps: f32,
        after: fn(Tensor<3>) -> Tensor<3>,
    ) -> (Tensor<3>, Tensor<1>, Tensor<1>) {
        let [_, c, _] = x.dims();
        let mean = x.clone().mean_dim(2).mean_dim(0); // [1, c, 1]: every sample has l values
        let var = (x.clone() - mean.clone()).square().mean_dim(2).mean_dim(0);
        let normalised = (x - mean.clone()) / var.clone().add_scalar(eps).sqrt();
        let out = after(normalised * gamma.reshape([1, c, 1]) + beta.reshape([1, c, 1]));
        (out, mean.reshape([c]), var.reshape([c]))
    }

    #[test]
    fn batch_norm_and_all_its_gradients_match_burns() {
        let device = Device::flex();
        let mut draws = Draws::new(0, &device);
        // A DCGAN generator's layer (several planes per task), a flat layer (planes of one
        // value) and odd sizes with values off zero (the mean must come out first; far off
        // it, f32 rounding of x itself, ~1e-5 of σ at 40, outweighs the tolerance).
        for (shape, offset) in [([16, 8, 64], 0.0), ([33, 20, 1], 0.5), ([3, 5, 7], 3.0)] {
            let x = draws.normal(shape).add_scalar(offset);
            let (gamma, beta) = (draws.normal([shape[1]]), draws.normal([shape[1]]));
            for (pointwise, after) in activations() {
                let (got, want) = (
                    batch_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5, pointwise),
                    burns(x.clone(), gamma.clone(), beta.clone(), 1e-5, after),
                );
                assert_close(got.1, want.1);
                assert_close(got.2, want.2);
                // The output, and the gradients for x, γ and β.
                assert_matches_with_all_gradients(
                    x.clone(),
                    gamma.clone(),
                    beta.clone(),
                    |x, gamma, beta| batch_norm(x, gamma, beta, 1e-5, pointwise).0,
                    |x, gamma, beta| burns(x, gamma, beta, 1e-5, after).0,
                );
            }
        }
    }
}
