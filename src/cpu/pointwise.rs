//! An activation in the form the CPU operations fuse into a layer: applied to each value as a
//! kernel writes it, its derivative read off the outputs in the backward pass. Named by the
//! networks in every build; computed only where the CPU operations exist.

/// An activation fused into a layer's output.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Pointwise {
    #[default]
    Identity,
    /// x for x > 0, else slope · x; slope ≥ 0 (0 is ReLU), so the output's sign is the input's
    /// and the gradient can be read off the output.
    LeakyRelu(f32),
    Tanh,
}

#[cfg(feature = "cpu")]
// Each method matches once and then loops, so that the loops vectorise.
impl Pointwise {
    /// `x ← f(x)`.
    pub fn apply(self, values: &mut [f32]) {
        match self {
            Pointwise::Identity => {}
            Pointwise::LeakyRelu(slope) => {
                values.iter_mut().for_each(|x| *x = if *x > 0.0 { *x } else { slope * *x })
            }
            Pointwise::Tanh => values.iter_mut().for_each(|x| *x = x.tanh()),
        }
    }

    /// `grad ← grad · f′(x)`, from the function's outputs `y = f(x)`.
    pub(super) fn scale_gradient(self, grad: &mut [f32], outputs: &[f32]) {
        let pairs = grad.iter_mut().zip(outputs);
        match self {
            Pointwise::Identity => {}
            Pointwise::LeakyRelu(slope) => {
                pairs.for_each(|(g, y)| *g = if *y > 0.0 { *g } else { slope * *g })
            }
            Pointwise::Tanh => pairs.for_each(|(g, y)| *g *= 1.0 - y * y),
        }
    }
}
