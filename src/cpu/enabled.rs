//! The CPU operations of a build with the `cpu` feature, on the devices that run them.

use burn::backend::DispatchDevice;
use burn::prelude::*;

use super::pointwise::Pointwise;
use super::{batch_norm, conv, linear, softmax};

/// Proof that the CPU operations run on a device: [`Ops::on`] gives one for a flex device.
#[derive(Clone, Copy, Debug)]
pub struct Ops {
    _on_flex: (),
}

impl Ops {
    /// The operations, if `device` is burn's CPU backend (with or without autodiff).
    pub fn on(device: &Device) -> Option<Ops> {
        matches!(device.clone().inner().as_dispatch(), DispatchDevice::Flex(_))
            .then_some(Ops { _on_flex: () })
    }

    /// A convolution's weights `[o, c, kh, kw]`, packed once for inference.
    pub fn pack_conv2d(
        self,
        weight: &[f32],
        shape: [usize; 4],
        stride: [usize; 2],
        pointwise: Pointwise,
        device: &Device,
    ) -> conv::PackedConv {
        conv::PackedConv::conv2d(weight, shape, stride, pointwise, device)
    }

    /// A transposed convolution's weights `[c, o, kh, kw]`, packed once for inference.
    pub fn pack_conv_transpose2d(
        self,
        weight: &[f32],
        shape: [usize; 4],
        stride: [usize; 2],
        pointwise: Pointwise,
        device: &Device,
    ) -> conv::PackedConv {
        conv::PackedConv::conv_transpose2d(weight, shape, stride, pointwise, device)
    }

    /// A linear layer's weights `[outputs, inputs]`, kept in both layouts for inference.
    pub fn pack_linear(
        self,
        weight: &[f32],
        shape: [usize; 2],
        pointwise: Pointwise,
        device: &Device,
    ) -> linear::PackedLinear {
        linear::PackedLinear::new(weight, shape, pointwise, device)
    }

    /// A convolution on weights as they are (a network being trained), through `pointwise`.
    pub fn conv2d_trained(
        self,
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Tensor<1>,
        stride: [usize; 2],
        padding: [usize; 2],
        pointwise: Pointwise,
    ) -> Tensor<4> {
        conv::conv2d_trained(x, weight, bias, stride, padding, pointwise)
    }

    /// A transposed convolution on weights as they are, through `pointwise`.
    #[allow(clippy::too_many_arguments)] // the layer's geometry, as burn's own op takes it
    pub fn conv_transpose2d_trained(
        self,
        x: Tensor<4>,
        weight: Tensor<4>,
        bias: Tensor<1>,
        stride: [usize; 2],
        padding: [usize; 2],
        out_size: [usize; 2],
        pointwise: Pointwise,
    ) -> Tensor<4> {
        conv::conv_transpose2d_trained(x, weight, bias, stride, padding, out_size, pointwise)
    }

    /// Batch norm with batch statistics over `[n, c, positions]`, through `pointwise`: the
    /// output, the batch mean and the biased batch variance.
    pub fn batch_norm(
        self,
        x: Tensor<3>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
        eps: f32,
        pointwise: Pointwise,
    ) -> (Tensor<3>, Tensor<1>, Tensor<1>) {
        batch_norm::batch_norm(x, gamma, beta, eps, pointwise)
    }

    /// Softmax over the channels (axis 1) of `[n, c, length]`.
    pub fn softmax(self, x: Tensor<3>) -> Tensor<3> {
        softmax::softmax(x)
    }
}
