//! The direct convolution kernels (`direct_conv`) as operations of burn's CPU backend, flex:
//! a backend extension with hand-written backward passes. Networks built for inference on the
//! CPU run on weights packed once, with the input gradient only (all refinement needs);
//! networks being trained pack their weights on every call and get weight and bias gradients
//! too. The WebGPU backend keeps burn's own convolutions.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::direct_conv::{self, Fused, Geometry, InputMap, Pointwise, Shape4};

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

/// Whether the direct kernels run on `device`: burn's CPU backend, with or without autodiff.
pub fn available(device: &Device) -> bool {
    matches!(device.clone().inner().as_dispatch(), DispatchDevice::Flex(_))
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
        let forward = direct_conv::pack_conv2d(weight, shape);
        let input_gradient = direct_conv::pack_conv_transpose2d(weight, shape, stride);
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
        let forward = direct_conv::pack_conv_transpose2d(weight, shape, stride);
        let input_gradient = direct_conv::pack_conv2d(weight, shape);
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
enum Direction {
    Conv2d,
    ConvTranspose2d { out_size: [usize; 2] },
}

impl Direction {
    /// The weights packed for this operation.
    fn pack(self, weight: &[f32], shape: Shape4, stride: [usize; 2]) -> Vec<f32> {
        match self {
            Direction::Conv2d => direct_conv::pack_conv2d(weight, shape),
            Direction::ConvTranspose2d { .. } => {
                direct_conv::pack_conv_transpose2d(weight, shape, stride)
            }
        }
    }

    /// The operation whose run gives this one's input gradient, for an input of `input_size`.
    fn reversed(self, input_size: [usize; 2]) -> Direction {
        match self {
            Direction::Conv2d => Direction::ConvTranspose2d { out_size: input_size },
            Direction::ConvTranspose2d { .. } => Direction::Conv2d,
        }
    }

    /// Runs on `x` with weights packed by [`Direction::pack`] and what `extras` fuses into it.
    fn run(
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
                direct_conv::conv2d(values(&x), shape4(&x), packed, weight_shape, fused, geometry)
            }
            Direction::ConvTranspose2d { out_size } => direct_conv::conv_transpose2d(
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
struct Extras<'a> {
    input: InputMap<&'a FlexTensor>,
    bias: Option<&'a FlexTensor>,
    residual: Option<&'a FlexTensor>,
    pointwise: Pointwise,
    gate: Option<&'a FlexTensor>,
}

/// The input map of an operation with a ReLU on its input, or none.
fn input_map<'a>(relu: bool) -> InputMap<&'a FlexTensor> {
    if relu { InputMap::Relu } else { InputMap::AsIs }
}

/// A trained operation's forward pass: the weights packed for this call.
fn trained_forward(
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

/// A tensor whose storage is its values in order (a copy only when it is a view).
pub(super) fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() { t.clone() } else { t.to_contiguous() }
}

/// A contiguous gradient `grad` times a fused activation's derivative at its outputs `out`: in
/// place where `grad` holds its buffer alone (as one autodiff hands over does).
pub(super) fn through_activation(
    mut grad: FlexTensor,
    pointwise: Pointwise,
    out: &FlexTensor,
) -> FlexTensor {
    let len = values(&grad).len();
    if let Some(storage) = grad.try_storage_mut::<f32>().filter(|storage| storage.len() == len) {
        direct_conv::scale_by_derivative(pointwise, storage, values(out));
        return grad;
    }
    let mut scaled = values(&grad).to_vec();
    direct_conv::scale_by_derivative(pointwise, &mut scaled, values(out));
    FlexTensor::from_data(TensorData::new(scaled, grad.layout().shape().clone()))
}

pub(super) fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("direct convolutions take contiguous f32 tensors")
}

fn shape4(t: &FlexTensor) -> Shape4 {
    t.layout().shape().dims::<4>()
}

/// What an operation on packed weights keeps for its input gradient: the weights packed for
/// the operation the other way round, and what to undo of what it fused.
#[derive(Debug, Clone)]
struct Recorded {
    packed: FlexTensor,
    weight_shape: Shape4,
    geometry: Geometry,
    reverse: Direction,
    /// The fused activation and the output, off which its derivative is read.
    activation: Option<(Pointwise, FlexTensor)>,
    /// The input, where a ReLU on it was fused (its derivative gates the gradient).
    relu_input: Option<FlexTensor>,
}

impl Recorded {
    /// The input's gradient from the output's: times the fused activation's derivative (as the
    /// operation the other way round reads it), through that operation, gated by the input
    /// ReLU's derivative.
    fn input_gradient(self, grad: FlexTensor) -> FlexTensor {
        let input = self
            .activation
            .as_ref()
            .map_or(InputMap::AsIs, |(pointwise, output)| InputMap::Derivative(*pointwise, output));
        let extras = Extras { input, gate: self.relu_input.as_ref(), ..Extras::default() };
        self.reverse.run(&grad, values(&self.packed), self.weight_shape, extras, self.geometry)
    }
}

/// The input gradient of an operation on packed weights.
#[derive(Debug)]
struct InputGradient;

impl Backward<Flex, 1> for InputGradient {
    type State = Recorded;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, ops.state.input_gradient(grad));
        }
    }
}

/// The gradients of an operation on packed weights with a residual added to its output: the
/// input's as for [`InputGradient`], and the residual's, the output's gradient itself.
#[derive(Debug)]
struct ResidualGradients;

impl Backward<Flex, 2> for ResidualGradients {
    type State = Recorded;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_residual] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_residual {
            grads.register::<Flex>(node.id, grad.clone());
        }
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, ops.state.input_gradient(grad));
        }
    }
}

/// An operation on weights packed once (`packed` for it, `packed_grad` for its input gradient)
/// and what it fuses, recorded with its gradients where the input or the residual is tracked.
#[allow(clippy::too_many_arguments)]
fn on_packed<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    packed: FloatTensor<Autodiff<Flex, C>>,
    packed_grad: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
    residual: Option<FloatTensor<Autodiff<Flex, C>>>,
    weight_shape: Shape4,
    geometry: Geometry,
    direction: Direction,
    (input_relu, pointwise): (bool, Pointwise),
) -> FloatTensor<Autodiff<Flex, C>> {
    let (x, node) = x.into_parts();
    let residual = residual.map(|r| r.into_parts());
    let extras = Extras {
        input: input_map(input_relu),
        bias: Some(bias.primitive()),
        residual: residual.as_ref().map(|(r, _)| r),
        pointwise,
        ..Extras::default()
    };
    let out = direction.run(&x, values(packed.primitive()), weight_shape, extras, geometry);
    let [_, _, h, w] = shape4(&x);
    let recorded = |out: &FlexTensor| Recorded {
        packed: packed_grad.clone().into_primitive(),
        weight_shape,
        geometry,
        reverse: direction.reversed([h, w]),
        activation: (pointwise != Pointwise::Identity).then(|| (pointwise, out.clone())),
        relu_input: input_relu.then(|| x.clone()),
    };
    match residual {
        Some((_, residual_node)) => {
            match ResidualGradients.prepare::<C>([node, residual_node]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => prep.finish(recorded(&out), out),
                OpsKind::UnTracked(prep) => prep.finish(out),
            }
        }
        None => match InputGradient.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(recorded(&out), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        },
    }
}

/// The backward pass of a trained operation: the output's gradient times the fused activation's
/// derivative (read off the output), and from that the gradients for the input (the operation
/// the other way round, as for [`InputGradient`], on the weights packed now), the weight
/// (`direct_conv::conv2d_weight_gradient`; for a transposed convolution with the input and the
/// output's gradient exchanged) and the bias (summed over samples and positions).
#[derive(Debug)]
struct TrainedGradients;

/// What a trained operation keeps for its backward pass: its input and weight, and the fused
/// activation with the output.
type TrainedState = (FlexTensor, FlexTensor, Geometry, Direction, Option<(Pointwise, FlexTensor)>);

impl Backward<Flex, 3> for TrainedGradients {
    type State = TrainedState;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = contiguous(&grads.consume::<Flex>(&ops.node));
        let (x, weight, geometry, direction, activation) = ops.state;
        let grad = match activation {
            Some((pointwise, out)) => through_activation(grad, pointwise, &out),
            None => grad,
        };
        let (x, weight) = (contiguous(&x), contiguous(&weight));
        let (x_shape, weight_shape, grad_shape) = (shape4(&x), shape4(&weight), shape4(&grad));
        if let Some(node) = node_x {
            let [_, _, h, w] = x_shape;
            let reverse = direction.reversed([h, w]);
            let packed = reverse.pack(values(&weight), weight_shape, geometry.stride);
            grads.register::<Flex>(
                node.id,
                reverse.run(&grad, &packed, weight_shape, Extras::default(), geometry),
            );
        }
        if let Some(node) = node_weight {
            let weight_grad = match direction {
                Direction::Conv2d => direct_conv::conv2d_weight_gradient(
                    values(&x),
                    x_shape,
                    values(&grad),
                    weight_shape,
                    geometry,
                ),
                Direction::ConvTranspose2d { .. } => direct_conv::conv2d_weight_gradient(
                    values(&grad),
                    grad_shape,
                    values(&x),
                    weight_shape,
                    geometry,
                ),
            };
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(weight_grad, weight_shape)),
            );
        }
        if let Some(node) = node_bias {
            let [n, o, h, w] = grad_shape;
            let grad = values(&grad);
            let bias_grad = direct_conv::channel_sums([n, o, h * w], grad, grad, |v, _, _| v);
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(bias_grad, [o])));
        }
    }
}

fn trained<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
    geometry: Geometry,
    direction: Direction,
    pointwise: Pointwise,
) -> FloatTensor<Autodiff<Flex, C>> {
    let (x, node_x) = x.into_parts();
    let (weight, node_weight) = weight.into_parts();
    let (bias, node_bias) = bias.into_parts();
    let out = trained_forward(&x, &weight, &bias, geometry, direction, pointwise);
    match TrainedGradients.prepare::<C>([node_x, node_weight, node_bias]).compute_bound().stateful()
    {
        OpsKind::Tracked(prep) => {
            let activation = (pointwise != Pointwise::Identity).then(|| (pointwise, out.clone()));
            prep.finish((x, weight, geometry, direction, activation), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

impl<C: CheckpointStrategy> DirectConv for Autodiff<Flex, C> {
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
    ) -> FloatTensor<Self> {
        on_packed::<C>(
            x,
            packed,
            packed_grad,
            bias,
            None,
            weight_shape,
            Geometry { stride, padding },
            Direction::Conv2d,
            (input_relu, pointwise),
        )
    }

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
    ) -> FloatTensor<Self> {
        on_packed::<C>(
            x,
            packed,
            packed_grad,
            bias,
            Some(residual),
            weight_shape,
            Geometry { stride, padding },
            Direction::Conv2d,
            (input_relu, Pointwise::Identity),
        )
    }

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
    ) -> FloatTensor<Self> {
        on_packed::<C>(
            x,
            packed,
            packed_grad,
            bias,
            None,
            weight_shape,
            Geometry { stride, padding },
            Direction::ConvTranspose2d { out_size },
            (false, pointwise),
        )
    }

    fn direct_conv2d_trained(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        pointwise: Pointwise,
    ) -> FloatTensor<Self> {
        trained::<C>(x, weight, bias, Geometry { stride, padding }, Direction::Conv2d, pointwise)
    }

    fn direct_conv_transpose2d_trained(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        out_size: [usize; 2],
        pointwise: Pointwise,
    ) -> FloatTensor<Self> {
        trained::<C>(
            x,
            weight,
            bias,
            Geometry { stride, padding },
            Direction::ConvTranspose2d { out_size },
            pointwise,
        )
    }
}

#[cfg(test)]
pub(super) mod tests {
    use burn::tensor::module::{conv_transpose2d as burn_conv_transpose2d, conv2d as burn_conv2d};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
    use burn::tensor::{Distribution, activation};

    use super::*;

    pub(in crate::model) fn random<const D: usize>(
        shape: [usize; D],
        device: &Device,
    ) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    pub(in crate::model) fn host<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
        t.clone().into_data().try_into_vec::<f32>().expect("f32 values")
    }

    /// Within 1e-5 of the largest value (or of 1); compared on the host, where a NaN fails
    /// (burn's `max` skips it).
    pub(in crate::model) fn assert_close<const D: usize>(got: Tensor<D>, want: Tensor<D>) {
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

    /// The input gradient of Σ r ⊙ f(x), r random, on the autodiff CPU device.
    fn input_gradient(
        x: &Tensor<4>,
        f: impl Fn(Tensor<4>) -> Tensor<4>,
        seed: &Tensor<4>,
    ) -> Tensor<4> {
        let x = x.clone().autodiff().require_grad();
        let y = f(x.clone());
        let weighted = (y * seed.clone().autodiff()).sum();
        x.grad(&weighted.backward()).expect("x requires a gradient")
    }

    /// burn's op for an activation, on tensors of rank `D`.
    type Activation<const D: usize = 4> = fn(Tensor<D>) -> Tensor<D>;

    /// Every activation the CPU operations fuse, and burn's own op for it.
    pub(in crate::model) fn activations<const D: usize>() -> [(Pointwise, Activation<D>); 4] {
        [
            (Pointwise::Identity, |t| t),
            (Pointwise::LeakyRelu(0.0), activation::relu),
            (Pointwise::LeakyRelu(0.2), |t| activation::leaky_relu(t, 0.2)),
            (Pointwise::Tanh, activation::tanh),
        ]
    }

    #[test]
    fn conv2d_and_its_input_gradient_match_burns() {
        let device = Device::flex();
        assert!(available(&device) && available(&device.clone().autodiff()));
        // The bundled critic's stride-2 4×4 layer, a 3×3 layer, one off every block size, and a
        // stride-1 layer with 16-wide rows (the row kernel: whole vectors of positions).
        let shapes = [
            ([2, 8, 8, 8], 16, 4, 2, 1),
            ([3, 3, 9, 9], 32, 3, 1, 1),
            ([1, 5, 7, 6], 35, 3, 2, 0),
            ([2, 4, 16, 16], 3, 3, 1, 1),
        ];
        for ((x_shape, o, k, stride, padding), (pointwise, activation)) in
            shapes.into_iter().flat_map(|shape| activations().map(|a| (shape, a)))
        {
            let x = random(x_shape, &device);
            let (weight, bias) = (random([o, x_shape[1], k, k], &device), random([o], &device));
            let packed =
                PackedConv::conv2d(&host(&weight), weight.dims(), [stride; 2], pointwise, &device);
            let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
            let ours =
                |x: Tensor<4>| conv2d(x, &packed, bias.clone(), None, [stride; 2], [padding; 2]);
            let burns = |x: Tensor<4>| {
                activation(burn_conv2d(x, weight.clone(), Some(bias.clone()), options.clone()))
            };
            let want = burns(x.clone());
            assert_close(ours(x.clone()), want.clone());
            let seed = random(want.dims(), &device);
            assert_close(input_gradient(&x, ours, &seed), input_gradient(&x, burns, &seed));
        }
    }

    /// A ReLU on the input, with an activation after or a residual added (a residual block's
    /// layers), against burn's ops one by one: the output, and the gradients of Σ r ⊙ f for the
    /// input and the residual.
    #[test]
    fn relu_before_and_residual_after_match_burns() {
        let device = Device::flex();
        // The row kernel (16-wide rows, the text model's 1×5 kernels) and the channel kernel.
        for (x_shape, k, padding) in
            [([3, 8, 1, 32], [1, 5], [0, 2]), ([2, 6, 5, 5], [3, 3], [1, 1])]
        {
            let o = x_shape[1];
            let (x, skip) = (random(x_shape, &device), random(x_shape, &device));
            let (weight, bias) = (random([o, o, k[0], k[1]], &device), random([o], &device));
            let options = ConvOptions::new([1, 1], padding, [1, 1], 1);
            let burns = |x: Tensor<4>, skip: Option<Tensor<4>>, after: Activation| {
                let out = after(burn_conv2d(
                    activation::relu(x),
                    weight.clone(),
                    Some(bias.clone()),
                    options.clone(),
                ));
                skip.map_or(out.clone(), |s| out + s)
            };
            for (pointwise, after) in activations::<4>() {
                let packed =
                    PackedConv::conv2d(&host(&weight), weight.dims(), [1, 1], pointwise, &device)
                        .after_relu();
                let ours = |x: Tensor<4>| conv2d(x, &packed, bias.clone(), None, [1, 1], padding);
                let want = burns(x.clone(), None, after);
                assert_close(ours(x.clone()), want.clone());
                let seed = random(want.dims(), &device);
                assert_close(
                    input_gradient(&x, ours, &seed),
                    input_gradient(&x, |x| burns(x, None, after), &seed),
                );
            }
            let packed = PackedConv::conv2d(
                &host(&weight),
                weight.dims(),
                [1, 1],
                Pointwise::Identity,
                &device,
            )
            .after_relu();
            let ours = |x: Tensor<4>, skip: Tensor<4>| {
                conv2d(x, &packed, bias.clone(), Some(skip), [1, 1], padding)
            };
            let want = burns(x.clone(), Some(skip.clone()), |t| t);
            assert_close(ours(x.clone(), skip.clone()), want.clone());
            let seed = random(want.dims(), &device).autodiff();
            let gradients = |f: &dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>| {
                let (x, skip) =
                    (x.clone().autodiff().require_grad(), skip.clone().autodiff().require_grad());
                let grads = (f(x.clone(), skip.clone()) * seed.clone()).sum().backward();
                (x.grad(&grads).expect("x"), skip.grad(&grads).expect("skip"))
            };
            let (got, want) = (gradients(&ours), gradients(&|x, skip| burns(x, Some(skip), |t| t)));
            assert_close(got.0, want.0);
            assert_close(got.1, want.1);
        }
    }

    /// Checks `ours` against `burns` at (x, w, b): the output, and the gradients of Σ r ⊙ f for
    /// x, w and b (r random) on the autodiff CPU device.
    pub(in crate::model) fn assert_matches_with_all_gradients<const D: usize, const W: usize>(
        x: Tensor<D>,
        weight: Tensor<W>,
        bias: Tensor<1>,
        ours: impl Fn(Tensor<D>, Tensor<W>, Tensor<1>) -> Tensor<D>,
        burns: impl Fn(Tensor<D>, Tensor<W>, Tensor<1>) -> Tensor<D>,
    ) {
        let want = burns(x.clone(), weight.clone(), bias.clone());
        assert_close(ours(x.clone(), weight.clone(), bias.clone()), want.clone());
        let seed = random(want.dims(), &x.device()).autodiff();
        let gradients = |f: &dyn Fn(Tensor<D>, Tensor<W>, Tensor<1>) -> Tensor<D>| {
            let (x, weight, bias) = (
                x.clone().autodiff().require_grad(),
                weight.clone().autodiff().require_grad(),
                bias.clone().autodiff().require_grad(),
            );
            let grads =
                (f(x.clone(), weight.clone(), bias.clone()) * seed.clone()).sum().backward();
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

    /// Each geometry with each fused activation: the output and the gradients for the input,
    /// the weight and the bias (the activation's derivative scales all three).
    #[test]
    fn trained_convolutions_and_all_their_gradients_match_burns() {
        let device = Device::flex();
        let shapes =
            [([2, 8, 8, 8], 16, 4, 2, 1), ([3, 3, 9, 9], 32, 3, 1, 1), ([1, 5, 7, 6], 35, 3, 2, 0)];
        for ((x_shape, o, k, stride, padding), (pointwise, activation)) in
            shapes.into_iter().flat_map(|shape| activations().map(|a| (shape, a)))
        {
            let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
            assert_matches_with_all_gradients(
                random(x_shape, &device),
                random([o, x_shape[1], k, k], &device),
                random([o], &device),
                |x, w, b| conv2d_trained(x, w, b, [stride; 2], [padding; 2], pointwise),
                |x, w, b| activation(burn_conv2d(x, w, Some(b), options.clone())),
            );
        }
        let shapes = [
            ([2, 16, 4, 4], 8, 4, 2, 1, 0),
            ([1, 6, 5, 3], 19, 3, 2, 1, 1),
            ([2, 4, 3, 3], 33, 3, 1, 1, 0),
        ];
        for (([n, c, h, w], o, k, stride, padding, output_padding), (pointwise, activation)) in
            shapes.into_iter().flat_map(|shape| activations().map(|a| (shape, a)))
        {
            let options = ConvTransposeOptions::new(
                [stride; 2],
                [padding; 2],
                [output_padding; 2],
                [1, 1],
                1,
            );
            let size = |input: usize| (input - 1) * stride + k + output_padding - 2 * padding;
            assert_matches_with_all_gradients(
                random([n, c, h, w], &device),
                random([c, o, k, k], &device),
                random([o], &device),
                |x, wt, b| {
                    conv_transpose2d_trained(
                        x,
                        wt,
                        b,
                        [stride; 2],
                        [padding; 2],
                        [size(h), size(w)],
                        pointwise,
                    )
                },
                |x, wt, b| activation(burn_conv_transpose2d(x, wt, Some(b), options.clone())),
            );
        }
    }

    #[test]
    fn conv_transpose2d_and_its_input_gradient_match_burns() {
        let device = Device::flex();
        // The bundled generator's upsampling layers' geometry, with and without output padding.
        let shapes = [
            ([2, 16, 4, 4], 8, 4, 2, 1, 0),
            ([1, 6, 5, 3], 19, 3, 2, 1, 1),
            ([2, 4, 3, 3], 33, 3, 1, 1, 0),
        ];
        for ((x_shape, o, k, stride, padding, output_padding), (pointwise, activation)) in
            shapes.into_iter().flat_map(|shape| activations().map(|a| (shape, a)))
        {
            let x = random(x_shape, &device);
            let (weight, bias) = (random([x_shape[1], o, k, k], &device), random([o], &device));
            let options = ConvTransposeOptions::new(
                [stride; 2],
                [padding; 2],
                [output_padding; 2],
                [1, 1],
                1,
            );
            let burns = |x: Tensor<4>| {
                activation(burn_conv_transpose2d(
                    x,
                    weight.clone(),
                    Some(bias.clone()),
                    options.clone(),
                ))
            };
            let want = burns(x.clone());
            let [_, _, ho, wo] = want.dims();
            let packed = PackedConv::conv_transpose2d(
                &host(&weight),
                weight.dims(),
                [stride; 2],
                pointwise,
                &device,
            );
            let ours = |x: Tensor<4>| {
                conv_transpose2d(x, &packed, bias.clone(), [stride; 2], [padding; 2], [ho, wo])
            };
            assert_close(ours(x.clone()), want.clone());
            let seed = random(want.dims(), &device);
            assert_close(input_gradient(&x, ours, &seed), input_gradient(&x, burns, &seed));
        }
    }
}
