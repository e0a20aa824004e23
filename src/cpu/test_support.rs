//! Helpers shared by the CPU operations' tests: random tensors, comparisons with burn's own ops
//! (the output and every gradient) and the activations the operations fuse.

use burn::prelude::*;
use burn::tensor::activation;

use super::pointwise::Pointwise;
use crate::rng::{Noise, Stream};

/// Standard-normal tensors drawn from a fixed seed, so that a comparison that fails once fails on
/// every run and can be looked into (burn's `Tensor::random` draws anew each run).
pub(super) struct Draws {
    noise: Noise,
    device: Device,
}

impl Draws {
    pub(super) fn new(seed: u64, device: &Device) -> Draws {
        Draws { noise: Noise::new(seed, Stream::Data), device: device.clone() }
    }

    pub(super) fn normal<const D: usize>(&mut self, shape: [usize; D]) -> Tensor<D> {
        let values = self.noise.normal(shape.iter().product(), 1.0);
        Tensor::from_data(TensorData::new(values, shape), &self.device)
    }
}

pub(super) fn host<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone().into_data().try_into_vec::<f32>().expect("f32 values")
}

/// Within 1e-5 of the largest value (or of 1); compared on the host, where a NaN fails
/// (burn's `max` skips it).
pub(super) fn assert_close<const D: usize>(got: Tensor<D>, want: Tensor<D>) {
    assert_eq!(got.dims(), want.dims());
    let (got, want) = (host(&got), host(&want));
    let scale = want.iter().fold(1.0f32, |m, w| m.max(w.abs()));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * scale,
            "element {i}: {g}, burn's op gives {w} (values up to {scale})"
        );
    }
}

/// burn's op for an activation, on tensors of rank `D`.
pub(super) type Activation<const D: usize = 4> = fn(Tensor<D>) -> Tensor<D>;

/// Every activation the CPU operations fuse, and burn's own op for it.
pub(super) fn activations<const D: usize>() -> [(Pointwise, Activation<D>); 4] {
    [
        (Pointwise::Identity, |t| t),
        (Pointwise::LeakyRelu(0.0), activation::relu),
        (Pointwise::LeakyRelu(0.2), |t| activation::leaky_relu(t, 0.2)),
        (Pointwise::Tanh, activation::tanh),
    ]
}

/// Checks `ours` against `burns` at (x, w, b): the output, and the gradients of Σ r ⊙ f for
/// x, w and b (r random) on the autodiff CPU device.
pub(super) fn assert_matches_with_all_gradients<const D: usize, const W: usize>(
    x: Tensor<D>,
    weight: Tensor<W>,
    bias: Tensor<1>,
    ours: impl Fn(Tensor<D>, Tensor<W>, Tensor<1>) -> Tensor<D>,
    burns: impl Fn(Tensor<D>, Tensor<W>, Tensor<1>) -> Tensor<D>,
) {
    let want = burns(x.clone(), weight.clone(), bias.clone());
    assert_close(ours(x.clone(), weight.clone(), bias.clone()), want.clone());
    let seed = Draws::new(1, &x.device()).normal(want.dims()).autodiff();
    let gradients = |f: &dyn Fn(Tensor<D>, Tensor<W>, Tensor<1>) -> Tensor<D>| {
        let (x, weight, bias) = (
            x.clone().autodiff().require_grad(),
            weight.clone().autodiff().require_grad(),
            bias.clone().autodiff().require_grad(),
        );
        let grads = (f(x.clone(), weight.clone(), bias.clone()) * seed.clone()).sum().backward();
        (
            x.grad(&grads).expect("x"),
            weight.grad(&grads).expect("weight"),
            bias.grad(&grads).expect("bias"),
        )
    };
    let (got, want) = (gradients(&ours), gradients(&burns));
    assert_close(got.0, want.0);
    assert_close(got.1, want.1);
    assert_close(got.2, want.2);
}
