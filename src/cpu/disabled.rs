//! A build without the `cpu` feature (the browser's WebGPU module) has no CPU operations: the
//! same names as `enabled`, on types with no values. [`Ops::on`] never gives one and no packed
//! weights exist, so the networks always take burn's own operations, and every function here
//! is statically unreachable (`match x {}` on a value that cannot exist).

use burn::prelude::*;

use super::pointwise::Pointwise;

/// No device runs the CPU operations in this build.
#[derive(Clone, Copy, Debug)]
pub enum Ops {}

impl Ops {
    pub fn on(_: &Device) -> Option<Ops> {
        None
    }

    pub fn pack_conv2d(
        self,
        _: &[f32],
        _: [usize; 4],
        _: [usize; 2],
        _: Pointwise,
        _: &Device,
    ) -> PackedConv {
        match self {}
    }

    pub fn pack_conv_transpose2d(
        self,
        _: &[f32],
        _: [usize; 4],
        _: [usize; 2],
        _: Pointwise,
        _: &Device,
    ) -> PackedConv {
        match self {}
    }

    pub fn pack_linear(self, _: &[f32], _: [usize; 2], _: Pointwise, _: &Device) -> PackedLinear {
        match self {}
    }

    pub fn conv2d_trained(
        self,
        _: Tensor<4>,
        _: Tensor<4>,
        _: Tensor<1>,
        _: [usize; 2],
        _: [usize; 2],
        _: Pointwise,
    ) -> Tensor<4> {
        match self {}
    }

    #[allow(clippy::too_many_arguments)] // mirrors `enabled::Ops::conv_transpose2d_trained`
    pub fn conv_transpose2d_trained(
        self,
        _: Tensor<4>,
        _: Tensor<4>,
        _: Tensor<1>,
        _: [usize; 2],
        _: [usize; 2],
        _: [usize; 2],
        _: Pointwise,
    ) -> Tensor<4> {
        match self {}
    }

    pub fn batch_norm(
        self,
        _: Tensor<3>,
        _: Tensor<1>,
        _: Tensor<1>,
        _: f32,
        _: Pointwise,
    ) -> (Tensor<3>, Tensor<1>, Tensor<1>) {
        match self {}
    }

    pub fn softmax(self, _: Tensor<3>) -> Tensor<3> {
        match self {}
    }
}

/// No weights are packed in this build.
#[derive(Clone, Debug)]
pub enum PackedConv {}

impl PackedConv {
    pub fn after_relu(self) -> PackedConv {
        match self {}
    }

    pub fn scaled(self, _: f32) -> PackedConv {
        match self {}
    }
}

/// No weights are packed in this build.
#[derive(Clone, Debug)]
pub enum PackedLinear {}

pub fn conv2d(
    _: Tensor<4>,
    weights: &PackedConv,
    _: Tensor<1>,
    _: Option<Tensor<4>>,
    _: [usize; 2],
    _: [usize; 2],
) -> Tensor<4> {
    match *weights {}
}

pub fn conv_transpose2d(
    _: Tensor<4>,
    weights: &PackedConv,
    _: Tensor<1>,
    _: [usize; 2],
    _: [usize; 2],
    _: [usize; 2],
) -> Tensor<4> {
    match *weights {}
}

pub fn linear(_: Tensor<2>, weights: &PackedLinear, _: Tensor<1>) -> Tensor<2> {
    match *weights {}
}
