//! The direct convolution kernels (`cpu::kernels`) as operations of burn's CPU backend, flex:
//! a backend extension with hand-written backward passes. Networks built for inference on the
//! CPU run on weights packed once, with the input gradient only (all refinement needs);
//! networks being trained pack their weights on every call and get weight and bias gradients
//! too. The WebGPU backend keeps burn's own convolutions.
//!
//! `mod.rs` declares the operation and packs weights; `forward` runs it on flex, `backward` is
//! its autodiff (the input gradient from packed weights; weight and bias gradients in training).

mod backward;
mod forward;
#[cfg(test)]
mod tests;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::cpu::kernels;
use crate::cpu::pointwise::Pointwise;

#[backend_extension(Flex, Autodiff)]
pub trait DirectConv: Backend {
    /// `x` `[n, c, h, w]`, through a ReLU first if `input_relu`; `packed` and `packed_grad` the
    /// weights `[o, c, kh, kw]` (`weight_shape`) as [`PackedConv::conv2d`] packs them; `bias`
    /// `[o]`; `pointwise` the activation fused into the output.
    #[allow(clippy::too_many_arguments)]
    fn direct_conv2d(
        x: FloatTensor<Self>,
        packed: FloatTensor<Self>,
        packed_grad: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        weight_shape: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
        input_relu: bool,
        pointwise: Pointwise,
    ) -> FloatTensor<Self>;
    /// `direct_conv2d` without an activation after it, plus `residual` (of the output's shape).
    #[allow(clippy::too_many_arguments)]
    fn direct_conv2d_adding(
        x: FloatTensor<Self>,
        packed: FloatTensor<Self>,
        packed_grad: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        weight_shape: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
        input_relu: bool,
    ) -> FloatTensor<Self>;
    /// `x` `[n, c, h, w]`; `packed` and `packed_grad` the weights `[c, o, kh, kw]` as
    /// [`PackedConv::conv_transpose2d`] packs them; `bias` `[o]`; output `[n, o, out_size]`
    /// through the activation `pointwise`.
    #[allow(clippy::too_many_arguments)]
    fn direct_conv_transpose2d(
        x: FloatTensor<Self>,
        packed: FloatTensor<Self>,
        packed_grad: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        weight_shape: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
        out_size: [usize; 2],
        pointwise: Pointwise,
    ) -> FloatTensor<Self>;
    /// A convolution being trained: `weight` `[o, c, kh, kw]` as it is, with gradients for the
    /// input, the weight and the bias; `pointwise` the activation fused into the output.
    fn direct_conv2d_trained(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        pointwise: Pointwise,
    ) -> FloatTensor<Self>;
    /// A transposed convolution being trained: `weight` `[c, o, kh, kw]`, output `[n, o, out_size]`.
    #[allow(clippy::too_many_arguments)]
    fn direct_conv_transpose2d_trained(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        out_size: [usize; 2],
        pointwise: Pointwise,
    ) -> FloatTensor<Self>;
}

/// A convolution layer's weights, packed once for the direct kernels: for the forward pass and
/// for the input gradient (the transposed operation); and the activations fused into it.
#[derive(Clone, Debug)]
pub struct PackedConv {
    forward: Tensor<1>,
    input_gradient: Tensor<1>,
    weight_shape: [usize; 4],
    pointwise: Pointwise,
    /// A ReLU on the input (the activation before the layer); convolutions only.
    input_relu: bool,
}

impl PackedConv {
    /// The weights `[o, c, kh, kw]` of a convolution with this stride. Its input gradient is the
    /// transposed convolution with the same array read as `[in = o, out = c, kh, kw]`.
    pub fn conv2d(
        weight: &[f32],
        shape: [usize; 4],
        stride: [usize; 2],
        pointwise: Pointwise,
        device: &Device,
    ) -> PackedConv {
        let forward = kernels::pack_conv2d(weight, shape);
        let input_gradient = kernels::pack_conv_transpose2d(weight, shape, stride);
        PackedConv {
            forward: vector(forward, device),
            input_gradient: vector(input_gradient, device),
            weight_shape: shape,
            pointwise,
            input_relu: false,
        }
    }

    /// The same convolution with a ReLU on its input.
    pub fn after_relu(self) -> PackedConv {
        PackedConv { input_relu: true, ..self }
    }

    /// The weights times `factor` (a residual branch's scale, folded into its last layer).
    pub fn scaled(self, factor: f32) -> PackedConv {
        PackedConv {
            forward: self.forward.mul_scalar(factor),
            input_gradient: self.input_gradient.mul_scalar(factor),
            ..self
        }
    }

    /// The weights `[c, o, kh, kw]` of a transposed convolution with this stride. Its input
    /// gradient is the convolution with the same array read as `[out = c, in = o, kh, kw]`.
    pub fn conv_transpose2d(
        weight: &[f32],
        shape: [usize; 4],
        stride: [usize; 2],
        pointwise: Pointwise,
        device: &Device,
    ) -> PackedConv {
        let forward = kernels::pack_conv_transpose2d(weight, shape, stride);
        let input_gradient = kernels::pack_conv2d(weight, shape);
        PackedConv {
            forward: vector(forward, device),
            input_gradient: vector(input_gradient, device),
            weight_shape: shape,
            pointwise,
            input_relu: false,
        }
    }
}

fn vector(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [len]), device)
}

/// A 2-D convolution on the direct kernels (the device must be [`available`]), through the
/// activations packed with the weights, plus `residual` (of the output's shape) if given.
pub fn conv2d(
    x: Tensor<4>,
    weights: &PackedConv,
    bias: Tensor<1>,
    residual: Option<Tensor<4>>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor<4> {
    let (x, forward, gradient, bias) = (
        x.into_dispatch(),
        weights.forward.clone().into_dispatch(),
        weights.input_gradient.clone().into_dispatch(),
        bias.into_dispatch(),
    );
    let (shape, relu) = (weights.weight_shape, weights.input_relu);
    Tensor::from_dispatch(match residual {
        Some(r) => {
            assert_eq!(
                weights.pointwise,
                Pointwise::Identity,
                "a residual is added to a convolution without an activation after it"
            );
            <Dispatch as DirectConv>::direct_conv2d_adding(
                x,
                forward,
                gradient,
                bias,
                r.into_dispatch(),
                shape,
                stride,
                padding,
                relu,
            )
        }
        None => <Dispatch as DirectConv>::direct_conv2d(
            x,
            forward,
            gradient,
            bias,
            shape,
            stride,
            padding,
            relu,
            weights.pointwise,
        ),
    })
}

/// A 2-D convolution being trained, on the direct kernels (the device must be [`available`]),
/// through the activation `pointwise`.
pub fn conv2d_trained(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
    pointwise: Pointwise,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as DirectConv>::direct_conv2d_trained(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
        pointwise,
    ))
}

/// A 2-D transposed convolution being trained, on the direct kernels (the device must be
/// [`available`]), through the activation `pointwise`.
pub fn conv_transpose2d_trained(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
    out_size: [usize; 2],
    pointwise: Pointwise,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as DirectConv>::direct_conv_transpose2d_trained(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
        out_size,
        pointwise,
    ))
}

/// A 2-D transposed convolution on the direct kernels (the device must be [`available`]),
/// through the activation packed with the weights.
pub fn conv_transpose2d(
    x: Tensor<4>,
    weights: &PackedConv,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
    out_size: [usize; 2],
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as DirectConv>::direct_conv_transpose2d(
        x.into_dispatch(),
        weights.forward.clone().into_dispatch(),
        weights.input_gradient.clone().into_dispatch(),
        bias.into_dispatch(),
        weights.weight_shape,
        stride,
        padding,
        out_size,
        weights.pointwise,
    ))
}
