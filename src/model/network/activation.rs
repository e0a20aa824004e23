//! The values flowing through a network, of the rank its layers give them.

use burn::prelude::*;

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

    pub(super) fn map(
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

    pub(super) fn add_scaled(self, other: Activation, scale: f32) -> Activation {
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
