//! The convolution operation under autodiff: hand-written backward passes, so that the
//! gradients run on the direct kernels too.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::TensorData;

use super::DirectConv;
use super::forward::{Direction, Extras, input_map, shape4, trained_forward};
use crate::cpu::flex::{contiguous, through_activation, values};
use crate::cpu::kernels::{self, Geometry, InputMap, Shape4};
use crate::cpu::pointwise::Pointwise;

/// What an operation on packed weights keeps for its input gradient: the weights packed for
/// the operation the other way round, and what to undo of what it fused.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    pub(super) packed: FlexTensor,
    pub(super) weight_shape: Shape4,
    pub(super) geometry: Geometry,
    pub(super) reverse: Direction,
    /// The fused activation and the output, off which its derivative is read.
    pub(super) activation: Option<(Pointwise, FlexTensor)>,
    /// The input, where a ReLU on it was fused (its derivative gates the gradient).
    pub(super) relu_input: Option<FlexTensor>,
}

impl Recorded {
    /// The input's gradient from the output's: times the fused activation's derivative (as the
    /// operation the other way round reads it), through that operation, gated by the input
    /// ReLU's derivative.
    pub(super) fn input_gradient(self, grad: FlexTensor) -> FlexTensor {
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
pub(super) struct InputGradient;

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
pub(super) struct ResidualGradients;

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
pub(super) fn on_packed<C: CheckpointStrategy>(
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
/// (`kernels::conv2d_weight_gradient`; for a transposed convolution with the input and the
/// output's gradient exchanged) and the bias (summed over samples and positions).
#[derive(Debug)]
pub(super) struct TrainedGradients;

/// What a trained operation keeps for its backward pass: its input and weight, and the fused
/// activation with the output.
pub(super) type TrainedState =
    (FlexTensor, FlexTensor, Geometry, Direction, Option<(Pointwise, FlexTensor)>);

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
                Direction::Conv2d => kernels::conv2d_weight_gradient(
                    values(&x),
                    x_shape,
                    values(&grad),
                    weight_shape,
                    geometry,
                ),
                Direction::ConvTranspose2d { .. } => kernels::conv2d_weight_gradient(
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
            let bias_grad =
                crate::cpu::parallel::channel_sums([n, o, h * w], grad, grad, |v, _, _| v);
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(bias_grad, [o])));
        }
    }
}

pub(super) fn trained<C: CheckpointStrategy>(
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
