//! What a layer applies as the kernels read their input and write their output: a ReLU on the
//! input, the bias, an activation, a residual and a gate on the output, and the activations'
//! derivatives in the backward pass.

use crate::cpu::parallel::{for_each_chunk, threads};
use crate::cpu::pointwise::Pointwise;

/// What a convolution does besides its multiply-adds, fused so that none costs a pass of its
/// own: a map on its input as it is read, and on each output value as it is written its
/// channel's bias, a residual, a pointwise function, a gate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fused<'a> {
    pub input: InputMap<&'a [f32]>,
    pub bias: Option<&'a [f32]>,
    /// Added to the output, which it matches in shape: a residual block's skip connection.
    /// Only with the identity `pointwise`.
    pub residual: Option<&'a [f32]>,
    /// The activation that follows the layer.
    pub pointwise: Pointwise,
    /// Output values are zeroed where this tensor of the output's shape is not positive: the
    /// derivative of a ReLU on the input of the operation whose input gradient this is.
    pub gate: Option<&'a [f32]>,
}

/// What a convolution's input goes through as it is read; `O` holds the outputs a derivative
/// is taken at (values here, tensors in `cpu::conv`).
#[derive(Clone, Copy, Debug, Default)]
pub enum InputMap<O> {
    #[default]
    AsIs,
    /// A ReLU (the activation before the layer).
    Relu,
    /// Times the derivative of a pointwise function at its outputs (of the input's shape): the
    /// gradient that an activation fused into a layer passes back, read by the convolution that
    /// gives the layer's input gradient.
    Derivative(Pointwise, O),
}

impl<O> InputMap<O> {
    /// The same map with its outputs held as `f` gives them.
    pub fn map<P>(self, f: impl FnOnce(O) -> P) -> InputMap<P> {
        match self {
            InputMap::AsIs => InputMap::AsIs,
            InputMap::Relu => InputMap::Relu,
            InputMap::Derivative(pointwise, outputs) => InputMap::Derivative(pointwise, f(outputs)),
        }
    }

    pub fn as_ref(&self) -> InputMap<&O> {
        match self {
            InputMap::AsIs => InputMap::AsIs,
            InputMap::Relu => InputMap::Relu,
            InputMap::Derivative(pointwise, outputs) => InputMap::Derivative(*pointwise, outputs),
        }
    }
}

impl<'a> InputMap<&'a [f32]> {
    /// The map on `range` of the input.
    pub(super) fn slice(self, range: std::ops::Range<usize>) -> InputMap<&'a [f32]> {
        match self {
            InputMap::Derivative(pointwise, outputs) => {
                InputMap::Derivative(pointwise, &outputs[range])
            }
            map => map,
        }
    }

    /// Applies the map to `values`, at `at` in the input.
    pub(super) fn apply(self, values: &mut [f32], at: usize) {
        match self {
            InputMap::AsIs => {}
            // NaN stays NaN, as in burn's ReLU.
            InputMap::Relu => values.iter_mut().for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v }),
            InputMap::Derivative(pointwise, outputs) => {
                pointwise.scale_gradient(values, &outputs[at..at + values.len()])
            }
        }
    }
}

impl Fused<'_> {
    /// Bias and pointwise function on one position's values of every output channel.
    pub(super) fn apply_row(&self, row: &mut [f32]) {
        if let Some(bias) = self.bias {
            row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        }
        self.pointwise.apply(row);
    }

    /// Bias and pointwise function on values of output channel `channel`.
    pub(super) fn apply_channel(&self, values: &mut [f32], channel: usize) {
        let bias = self.bias.map_or(0.0, |bias| bias[channel]);
        values.iter_mut().for_each(|v| *v += bias);
        self.pointwise.apply(values);
    }

    /// Residual and gate on a value at `index` of the output.
    pub(super) fn finish(&self, value: f32, index: usize) -> f32 {
        let value = self.residual.map_or(value, |r| value + r[index]);
        match self.gate {
            Some(gate) if gate[index] <= 0.0 => 0.0,
            _ => value,
        }
    }

    /// Panics unless residual and gate have the output's length `len`, and a residual comes
    /// with the identity pointwise function.
    pub(super) fn check(&self, len: usize) {
        assert!(
            self.residual.is_none_or(|r| r.len() == len)
                && self.gate.is_none_or(|g| g.len() == len),
            "a residual or gate does not match the output"
        );
        assert!(
            self.residual.is_none() || self.pointwise == Pointwise::Identity,
            "a residual is added after the pointwise function, which must be the identity"
        );
    }
}

/// `grad` times `f′` at every output `outputs` of `f`, in place (the gradient a fused activation
/// passes back).
pub fn scale_by_derivative(pointwise: Pointwise, grad: &mut [f32], outputs: &[f32]) {
    assert_eq!(grad.len(), outputs.len(), "a gradient must match the output it belongs to");
    let chunk = grad.len().div_ceil(4 * threads()).max(1 << 14);
    for_each_chunk(grad, chunk, |k, part| {
        pointwise.scale_gradient(part, &outputs[k * chunk..][..part.len()])
    });
}
