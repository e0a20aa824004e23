//! The convolution operation on flex: packed weights (inference) or weights packed on each call
//! (training), through the direct kernels.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

use super::DirectConv;
use crate::cpu::flex::{contiguous, values};
use crate::cpu::kernels::{self, Fused, Geometry, InputMap, Shape4};
use crate::cpu::pointwise::Pointwise;

impl DirectConv for Flex {
    fn direct_conv2d(
        x: FlexTensor,
        packed: FlexTensor,
        _: FlexTensor,
        bias: FlexTensor,
        weight_shape: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
        input_relu: bool,
        pointwise: Pointwise,
    ) -> FlexTensor {
        let extras = Extras {
            input: input_map(input_relu),
            bias: Some(&bias),
            pointwise,
            ..Extras::default()
        };
        Direction::Conv2d.run(
            &x,
            values(&packed),
            weight_shape,
            extras,
            Geometry { stride, padding },
        )
    }

    fn direct_conv2d_adding(
        x: FlexTensor,
        packed: FlexTensor,
        _: FlexTensor,
        bias: FlexTensor,
        residual: FlexTensor,
        weight_shape: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
        input_relu: bool,
    ) -> FlexTensor {
        let extras = Extras {
            input: input_map(input_relu),
            bias: Some(&bias),
            residual: Some(&residual),
            ..Extras::default()
        };
        Direction::Conv2d.run(
            &x,
            values(&packed),
            weight_shape,
            extras,
            Geometry { stride, padding },
        )
    }

    fn direct_conv_transpose2d(
        x: FlexTensor,
        packed: FlexTensor,
        _: FlexTensor,
        bias: FlexTensor,
        weight_shape: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
        out_size: [usize; 2],
        pointwise: Pointwise,
    ) -> FlexTensor {
        let extras = Extras { bias: Some(&bias), pointwise, ..Extras::default() };
        Direction::ConvTranspose2d { out_size }.run(
            &x,
            values(&packed),
            weight_shape,
            extras,
            Geometry { stride, padding },
        )
    }

    fn direct_conv2d_trained(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: [usize; 2],
        padding: [usize; 2],
        pointwise: Pointwise,
    ) -> FlexTensor {
        trained_forward(
            &x,
            &weight,
            &bias,
            Geometry { stride, padding },
            Direction::Conv2d,
            pointwise,
        )
    }

    fn direct_conv_transpose2d_trained(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: [usize; 2],
        padding: [usize; 2],
        out_size: [usize; 2],
        pointwise: Pointwise,
    ) -> FlexTensor {
        trained_forward(
            &x,
            &weight,
            &bias,
            Geometry { stride, padding },
            Direction::ConvTranspose2d { out_size },
            pointwise,
        )
    }
}

/// Which way a direct operation runs: a convolution, or a transposed convolution to `out_size`.
/// Either one's input gradient is the other run on the same weight array ([`Direction::reversed`]):
/// a convolution's is the transposed convolution of the gradient back to the input's size; a
/// transposed convolution's is the convolution of the gradient (`[c, o, …]` read as
/// `[out, in, …]`), which lands on the input's size.
#[derive(Clone, Copy, Debug)]
pub(super) enum Direction {
    Conv2d,
    ConvTranspose2d { out_size: [usize; 2] },
}

impl Direction {
    /// The weights packed for this operation.
    pub(super) fn pack(self, weight: &[f32], shape: Shape4, stride: [usize; 2]) -> Vec<f32> {
        match self {
            Direction::Conv2d => kernels::pack_conv2d(weight, shape),
            Direction::ConvTranspose2d { .. } => {
                kernels::pack_conv_transpose2d(weight, shape, stride)
            }
        }
    }

    /// The operation whose run gives this one's input gradient, for an input of `input_size`.
    pub(super) fn reversed(self, input_size: [usize; 2]) -> Direction {
        match self {
            Direction::Conv2d => Direction::ConvTranspose2d { out_size: input_size },
            Direction::ConvTranspose2d { .. } => Direction::Conv2d,
        }
    }

    /// Runs on `x` with weights packed by [`Direction::pack`] and what `extras` fuses into it.
    pub(super) fn run(
        self,
        x: &FlexTensor,
        packed: &[f32],
        weight_shape: Shape4,
        extras: Extras,
        geometry: Geometry,
    ) -> FlexTensor {
        let x = contiguous(x);
        let [bias, residual, gate] =
            [extras.bias, extras.residual, extras.gate].map(|t| t.map(contiguous));
        let input = extras.input.map(contiguous);
        let fused = Fused {
            input: input.as_ref().map(values),
            bias: bias.as_ref().map(values),
            residual: residual.as_ref().map(values),
            pointwise: extras.pointwise,
            gate: gate.as_ref().map(values),
        };
        let (out, shape) = match self {
            Direction::Conv2d => {
                kernels::conv2d(values(&x), shape4(&x), packed, weight_shape, fused, geometry)
            }
            Direction::ConvTranspose2d { out_size } => kernels::conv_transpose2d(
                values(&x),
                shape4(&x),
                packed,
                weight_shape,
                fused,
                geometry,
                out_size,
            ),
        };
        FlexTensor::from_data(TensorData::new(out, shape))
    }
}

/// What an operation fuses into itself, as tensors (see [`Fused`]).
#[derive(Clone, Copy, Default)]
pub(super) struct Extras<'a> {
    pub(super) input: InputMap<&'a FlexTensor>,
    pub(super) bias: Option<&'a FlexTensor>,
    pub(super) residual: Option<&'a FlexTensor>,
    pub(super) pointwise: Pointwise,
    pub(super) gate: Option<&'a FlexTensor>,
}

/// The input map of an operation with a ReLU on its input, or none.
pub(super) fn input_map<'a>(relu: bool) -> InputMap<&'a FlexTensor> {
    if relu { InputMap::Relu } else { InputMap::AsIs }
}

/// A trained operation's forward pass: the weights packed for this call.
pub(super) fn trained_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    geometry: Geometry,
    direction: Direction,
    pointwise: Pointwise,
) -> FlexTensor {
    let weight = contiguous(weight);
    let shape = shape4(&weight);
    let extras = Extras { bias: Some(bias), pointwise, ..Extras::default() };
    direction.run(
        x,
        &direction.pack(values(&weight), shape, geometry.stride),
        shape,
        extras,
        geometry,
    )
}

pub(super) fn shape4(t: &FlexTensor) -> Shape4 {
    t.layout().shape().dims::<4>()
}
