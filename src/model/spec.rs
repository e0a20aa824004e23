//! The architecture language of a bundle: a network is a list of layers, read from the manifest.
//! One sequential language covers every family we ship (2D MLPs, DCGAN / SN-DCGAN, the residual
//! 1D-conv text GAN), so the loader, the flow and the page need no per-model code.

use serde::{Deserialize, Serialize};

/// One layer. Shapes exclude the batch axis; tensors are channel-first like PyTorch's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
// Unit-like variants are written `Relu {}` because serde's deny_unknown_fields does not reach
// true unit variants of an internally tagged enum.
pub enum Layer {
    /// `y = x Wᵀ + b`, weight `[out, in]` as in PyTorch.
    Linear {
        name: String,
        inputs: usize,
        outputs: usize,
        #[serde(default)]
        spectral_norm: bool,
    },
    /// 2D convolution, weight `[out, in, k, k]`.
    Conv2d {
        name: String,
        inputs: usize,
        outputs: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default)]
        spectral_norm: bool,
    },
    /// 2D transposed convolution, weight `[in, out, k, k]` as in PyTorch.
    ConvTranspose2d {
        name: String,
        inputs: usize,
        outputs: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default)]
        output_padding: usize,
        #[serde(default)]
        spectral_norm: bool,
    },
    /// 1D convolution over `[channels, length]`, weight `[out, in, k]`.
    Conv1d {
        name: String,
        inputs: usize,
        outputs: usize,
        kernel: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default)]
        spectral_norm: bool,
    },
    /// Batch normalisation in inference form (running statistics), over axis 0 of the sample.
    BatchNorm {
        name: String,
        channels: usize,
        #[serde(default = "bn_eps")]
        eps: f32,
    },
    Relu {},
    LeakyRelu {
        slope: f32,
    },
    Tanh {},
    Sigmoid {},
    /// Softmax over the channel axis (axis 0 of the sample), e.g. over the vocabulary.
    Softmax {},
    /// Max pooling over non-overlapping `kernel`×`kernel` windows of an image.
    MaxPool2d {
        kernel: usize,
    },
    /// The mean over every position of an image or sequence: `[C, …]` → `[C]`.
    GlobalAvgPool {},
    /// The sum over every position of an image or sequence: `[C, …]` → `[C]` (the SN-ResNet
    /// discriminator's pooling before its last linear layer).
    GlobalSumPool {},
    /// Nearest-neighbour upsampling of an image: each pixel repeated `factor`×`factor` times, as
    /// PyTorch's `Upsample(scale_factor=factor)` (SN-ResNet's generator blocks use 2).
    Upsample2d {
        factor: usize,
    },
    /// The mean over non-overlapping `kernel`×`kernel` windows of an image whose sides are
    /// multiples of `kernel`, as PyTorch's `AvgPool2d(kernel)`.
    AvgPool2d {
        kernel: usize,
    },
    /// Reshape to `shape` (batch axis excluded).
    Reshape {
        shape: Vec<usize>,
    },
    /// `shortcut(x) + scale · f(x)`, `f` the `layers`: with no shortcut layers (the identity),
    /// the residual blocks of the WGAN-GP language model; with a 1×1 convolution and an
    /// upsampling or pooling there, SN-ResNet-GAN's blocks.
    Residual {
        layers: Vec<Layer>,
        #[serde(default = "unit")]
        scale: f32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        shortcut: Vec<Layer>,
    },
}

fn one() -> usize {
    1
}
fn unit() -> f32 {
    1.0
}
fn bn_eps() -> f32 {
    1e-5
}

/// A parameter tensor a layer needs from the weights file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    /// Inputs feeding each output of the layer (for initialisation); 0 for non-weights.
    pub fan_in: usize,
}

/// A network: the layers applied in order to a sample of `input` shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub layers: Vec<Layer>,
}

impl NetworkSpec {
    /// Whether, in training mode, each sample's output depends on that sample alone (no batch
    /// norm, whose statistics mix the batch): then batches may be run together as one.
    pub fn samples_independent(&self) -> bool {
        fn independent(layers: &[Layer]) -> bool {
            layers.iter().all(|layer| match layer {
                Layer::BatchNorm { .. } => false,
                Layer::Residual { layers, shortcut, .. } => {
                    independent(layers) && independent(shortcut)
                }
                _ => true,
            })
        }
        independent(&self.layers)
    }

    /// Checks every layer against the shape flowing into it and returns the output shape.
    /// Errors name the layer by position and name, so a manifest typo is easy to find.
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        if values_of(input).is_none_or(|n| n > MAX_SAMPLE_VALUES) {
            return Err(format!(
                "its input {input:?} has more than {MAX_SAMPLE_VALUES} values per sample; this engine runs small GANs"
            ));
        }
        propagate(&self.layers, input.to_vec(), "layers")
    }

    /// Multiply-accumulates of one forward pass of one sample of `input` shape, counting the
    /// linear and convolution layers (everything else is comparatively free). `None` if the
    /// shapes do not fit.
    pub fn macs(&self, input: &[usize]) -> Option<u64> {
        count_macs(&self.layers, input.to_vec()).map(|(macs, _)| macs)
    }

    /// Every parameter this network reads, with its expected shape, prefixed by `prefix.`.
    pub fn params(&self, prefix: &str) -> Vec<ParamSpec> {
        let mut out = Vec::new();
        collect_params(&self.layers, prefix, &mut out);
        out
    }
}

/// The most values one sample may have at any layer: 4M (16 MB as f32), far beyond the small
/// GANs this engine runs (CIFAR-10's largest is 256×32×32 = 262,144), and far below what would
/// exhaust a page's memory at its batch limit before anything could say why.
pub const MAX_SAMPLE_VALUES: usize = 1 << 22;

/// The number of values of `shape`, or `None` past `usize`.
pub fn values_of(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

fn propagate(layers: &[Layer], mut shape: Vec<usize>, path: &str) -> Result<Vec<usize>, String> {
    for (i, layer) in layers.iter().enumerate() {
        let at = format!("{path}[{i}]");
        shape = layer_output(layer, &shape, &at)?;
        if values_of(&shape).is_none_or(|n| n > MAX_SAMPLE_VALUES) {
            return Err(format!(
                "{at} gives shape {shape:?}, more than {MAX_SAMPLE_VALUES} values per sample; this engine runs small GANs"
            ));
        }
    }
    Ok(shape)
}

fn layer_output(layer: &Layer, shape: &[usize], at: &str) -> Result<Vec<usize>, String> {
    let expect = |rank: usize, channels: usize, what: &str| -> Result<(), String> {
        if shape.len() != rank || shape[0] != channels {
            Err(format!(
                "{at} ({what}) expects an input of rank {rank} with {channels} channels first, got shape {shape:?}"
            ))
        } else {
            Ok(())
        }
    };
    let positive = |v: usize, what: &str| -> Result<(), String> {
        if v == 0 { Err(format!("{at}: {what} must be positive")) } else { Ok(()) }
    };
    match layer {
        Layer::Linear { inputs, outputs, name, .. } => {
            positive(*outputs, "outputs")?;
            expect(1, *inputs, &format!("linear `{name}`"))?;
            Ok(vec![*outputs])
        }
        Layer::Conv2d { inputs, outputs, kernel, stride, padding, name, .. } => {
            expect(3, *inputs, &format!("conv2d `{name}`"))?;
            positive(*outputs, "outputs")?;
            positive(*stride, "stride")?;
            let out = |n: usize| -> Result<usize, String> {
                padding
                    .checked_mul(2)
                    .and_then(|p| p.checked_add(n))
                    .and_then(|padded| padded.checked_sub(*kernel))
                    .map(|v| v / stride + 1)
                    .ok_or_else(|| format!("{at}: kernel {kernel} larger than padded input {n}"))
            };
            Ok(vec![*outputs, out(shape[1])?, out(shape[2])?])
        }
        Layer::ConvTranspose2d {
            inputs,
            outputs,
            kernel,
            stride,
            padding,
            output_padding,
            name,
            ..
        } => {
            expect(3, *inputs, &format!("conv_transpose2d `{name}`"))?;
            positive(*outputs, "outputs")?;
            positive(*stride, "stride")?;
            let out = |n: usize| -> Result<usize, String> {
                n.checked_sub(1)
                    .and_then(|v| v.checked_mul(*stride))
                    .and_then(|v| v.checked_add(*kernel))
                    .and_then(|v| v.checked_add(*output_padding))
                    .and_then(|v| v.checked_sub(padding.checked_mul(2)?))
                    .filter(|&v| v > 0)
                    .ok_or_else(|| {
                        format!("{at}: padding {padding} leaves no output, or the sizes overflow")
                    })
            };
            Ok(vec![*outputs, out(shape[1])?, out(shape[2])?])
        }
        Layer::Conv1d { inputs, outputs, kernel, padding, name, .. } => {
            expect(2, *inputs, &format!("conv1d `{name}`"))?;
            positive(*outputs, "outputs")?;
            let len = padding
                .checked_mul(2)
                .and_then(|p| p.checked_add(shape[1]))
                .and_then(|padded| padded.checked_sub(*kernel))
                .map(|v| v + 1)
                .ok_or_else(|| {
                    format!("{at}: kernel {kernel} larger than padded input {}", shape[1])
                })?;
            Ok(vec![*outputs, len])
        }
        Layer::BatchNorm { channels, name, eps } => {
            if shape.is_empty() || shape[0] != *channels {
                return Err(format!(
                    "{at} (batch_norm `{name}`) expects {channels} channels first, got shape {shape:?}"
                ));
            }
            if !(eps.is_finite() && *eps > 0.0) {
                return Err(format!("{at}: eps must be positive, got {eps}"));
            }
            Ok(shape.to_vec())
        }
        Layer::Relu {} | Layer::Tanh {} | Layer::Sigmoid {} | Layer::Softmax {} => {
            Ok(shape.to_vec())
        }
        Layer::MaxPool2d { kernel } => {
            positive(*kernel, "kernel")?;
            if shape.len() != 3 || shape[1] < *kernel || shape[2] < *kernel {
                return Err(format!(
                    "{at} (max_pool2d) expects an image of at least {kernel}×{kernel}, got shape {shape:?}"
                ));
            }
            Ok(vec![shape[0], shape[1] / kernel, shape[2] / kernel])
        }
        Layer::GlobalAvgPool {} | Layer::GlobalSumPool {} => {
            if shape.len() < 2 {
                return Err(format!(
                    "{at} (global pooling) expects an image or a sequence, got shape {shape:?}"
                ));
            }
            Ok(vec![shape[0]])
        }
        Layer::Upsample2d { factor } => {
            positive(*factor, "factor")?;
            if shape.len() != 3 {
                return Err(format!("{at} (upsample2d) expects an image, got shape {shape:?}"));
            }
            let grow = |n: usize| {
                n.checked_mul(*factor)
                    .ok_or_else(|| format!("{at}: upsampling {shape:?} by {factor} is too large"))
            };
            Ok(vec![shape[0], grow(shape[1])?, grow(shape[2])?])
        }
        Layer::AvgPool2d { kernel } => {
            positive(*kernel, "kernel")?;
            if shape.len() != 3
                || !shape[1].is_multiple_of(*kernel)
                || !shape[2].is_multiple_of(*kernel)
            {
                return Err(format!(
                    "{at} (avg_pool2d) expects an image whose sides are multiples of {kernel}, got shape {shape:?}"
                ));
            }
            Ok(vec![shape[0], shape[1] / kernel, shape[2] / kernel])
        }
        Layer::LeakyRelu { slope } => {
            if slope.is_finite() {
                Ok(shape.to_vec())
            } else {
                Err(format!("{at}: slope must be finite"))
            }
        }
        Layer::Reshape { shape: to } => {
            let (from_n, to_n) = (values_of(shape), values_of(to));
            if to.is_empty() || to.len() > 3 || to_n.is_none() || from_n != to_n {
                let from_n = from_n.unwrap_or(usize::MAX);
                return Err(format!(
                    "{at}: cannot reshape {shape:?} ({from_n} values) to {to:?} (rank 1 to 3 allowed)"
                ));
            }
            Ok(to.clone())
        }
        Layer::Residual { layers, scale, shortcut } => {
            if !scale.is_finite() {
                return Err(format!("{at}: residual scale must be finite"));
            }
            let inner = propagate(layers, shape.to_vec(), &format!("{at}.layers"))?;
            let skipped = propagate(shortcut, shape.to_vec(), &format!("{at}.shortcut"))?;
            if inner != skipped {
                return Err(format!(
                    "{at}: residual branch maps {shape:?} to {inner:?} but its shortcut to {skipped:?}; they must match"
                ));
            }
            Ok(inner)
        }
    }
}

fn count_macs(layers: &[Layer], mut shape: Vec<usize>) -> Option<(u64, Vec<usize>)> {
    // Products of sizes, `None` past u64 (only for shapes no valid manifest has).
    let product = |sizes: &[usize]| sizes.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
    let mut total = 0u64;
    for layer in layers {
        let out = layer_output(layer, &shape, "").ok()?;
        let macs = match layer {
            Layer::Linear { inputs, outputs, .. } => product(&[*inputs, *outputs])?,
            Layer::Conv2d { inputs, kernel, .. } => {
                product(&[&out[..], &[*inputs, *kernel, *kernel]].concat())?
            }
            // Every input pixel scatters into k×k outputs of every output channel.
            Layer::ConvTranspose2d { outputs, kernel, .. } => {
                product(&[&shape[..], &[*outputs, *kernel, *kernel]].concat())?
            }
            Layer::Conv1d { inputs, kernel, .. } => {
                product(&[&out[..], &[*inputs, *kernel]].concat())?
            }
            Layer::Residual { layers, shortcut, .. } => count_macs(layers, shape.clone())?
                .0
                .checked_add(count_macs(shortcut, shape.clone())?.0)?,
            _ => 0,
        };
        total = total.checked_add(macs)?;
        shape = out;
    }
    Some((total, shape))
}

fn collect_params(layers: &[Layer], prefix: &str, out: &mut Vec<ParamSpec>) {
    for layer in layers {
        let mut push = |layer: &str, field: &str, shape: Vec<usize>, fan_in: usize| {
            out.push(ParamSpec { name: format!("{prefix}.{layer}.{field}"), shape, fan_in });
        };
        match layer {
            Layer::Linear { name, inputs, outputs, spectral_norm } => {
                push(name, "weight", vec![*outputs, *inputs], *inputs);
                push(name, "bias", vec![*outputs], 0);
                if *spectral_norm {
                    push(name, "u", vec![*outputs], 0);
                }
            }
            Layer::Conv2d { name, inputs, outputs, kernel, spectral_norm, .. } => {
                push(
                    name,
                    "weight",
                    vec![*outputs, *inputs, *kernel, *kernel],
                    inputs.saturating_mul(kernel.saturating_mul(*kernel)),
                );
                push(name, "bias", vec![*outputs], 0);
                if *spectral_norm {
                    push(name, "u", vec![*outputs], 0);
                }
            }
            Layer::ConvTranspose2d {
                name, inputs, outputs, kernel, stride, spectral_norm, ..
            } => {
                // Each output pixel sees about (k / stride)² positions of every input channel.
                push(
                    name,
                    "weight",
                    vec![*inputs, *outputs, *kernel, *kernel],
                    inputs.saturating_mul((kernel / stride).max(1).saturating_pow(2)),
                );
                push(name, "bias", vec![*outputs], 0);
                if *spectral_norm {
                    // PyTorch's spectral_norm takes dim 1 (the output channels) as the rows here.
                    push(name, "u", vec![*outputs], 0);
                }
            }
            Layer::Conv1d { name, inputs, outputs, kernel, spectral_norm, .. } => {
                push(
                    name,
                    "weight",
                    vec![*outputs, *inputs, *kernel],
                    inputs.saturating_mul(*kernel),
                );
                push(name, "bias", vec![*outputs], 0);
                if *spectral_norm {
                    push(name, "u", vec![*outputs], 0);
                }
            }
            Layer::BatchNorm { name, channels, .. } => {
                for field in ["weight", "bias", "running_mean", "running_var"] {
                    push(name, field, vec![*channels], 0);
                }
            }
            Layer::Residual { layers, shortcut, .. } => {
                collect_params(layers, prefix, out);
                collect_params(shortcut, prefix, out);
            }
            Layer::Relu {}
            | Layer::LeakyRelu { .. }
            | Layer::Tanh {}
            | Layer::Sigmoid {}
            | Layer::Softmax {}
            | Layer::Reshape { .. }
            | Layer::MaxPool2d { .. }
            | Layer::GlobalAvgPool {}
            | Layer::GlobalSumPool {}
            | Layer::Upsample2d { .. }
            | Layer::AvgPool2d { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dcgan_head() -> NetworkSpec {
        serde_json::from_str(
            r#"{"layers":[
                {"op":"linear","name":"fc","inputs":8,"outputs":64},
                {"op":"reshape","shape":[16,2,2]},
                {"op":"batch_norm","name":"bn","channels":16},
                {"op":"relu"},
                {"op":"conv_transpose2d","name":"up","inputs":16,"outputs":3,"kernel":4,"stride":2,"padding":1},
                {"op":"tanh"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn shapes_follow_pytorch_conventions() {
        assert_eq!(dcgan_head().output_shape(&[8]).unwrap(), vec![3, 4, 4]);
        let conv = NetworkSpec {
            layers: vec![Layer::Conv2d {
                name: "c".into(),
                inputs: 3,
                outputs: 5,
                kernel: 4,
                stride: 2,
                padding: 1,
                spectral_norm: true,
            }],
        };
        assert_eq!(conv.output_shape(&[3, 32, 32]).unwrap(), vec![5, 16, 16]);
    }

    #[test]
    fn batch_norm_anywhere_makes_samples_depend_on_each_other() {
        assert!(!dcgan_head().samples_independent());
        let nested: NetworkSpec = serde_json::from_str(
            r#"{"layers":[{"op":"residual","layers":[{"op":"batch_norm","name":"bn","channels":4},{"op":"relu"}]}]}"#,
        )
        .unwrap();
        assert!(!nested.samples_independent());
        let critic: NetworkSpec = serde_json::from_str(
            r#"{"layers":[{"op":"conv2d","name":"c","inputs":3,"outputs":4,"kernel":3,"padding":1},{"op":"leaky_relu","slope":0.2},
                          {"op":"residual","layers":[{"op":"relu"}]}]}"#,
        )
        .unwrap();
        assert!(critic.samples_independent());
    }

    #[test]
    fn macs_count_linear_and_convolution_work() {
        // fc: 8·64; up: each of 16·2·2 input values scatters into 4·4 outputs of 3 channels.
        assert_eq!(dcgan_head().macs(&[8]), Some(8 * 64 + 16 * 4 * 3 * 16));
        let conv: NetworkSpec = serde_json::from_str(
            r#"{"layers":[{"op":"conv2d","name":"c","inputs":3,"outputs":5,"kernel":4,"stride":2,"padding":1},
                          {"op":"residual","layers":[{"op":"conv2d","name":"r","inputs":5,"outputs":5,"kernel":3,"padding":1}]}]}"#,
        )
        .unwrap();
        assert_eq!(conv.macs(&[3, 32, 32]), Some(16 * 16 * 5 * 3 * 16 + 16 * 16 * 5 * 5 * 9));
        assert_eq!(conv.macs(&[4, 32, 32]), None);
    }

    #[test]
    fn shape_errors_name_the_layer() {
        let err = dcgan_head().output_shape(&[7]).unwrap_err();
        assert!(err.contains("layers[0]") && err.contains("linear `fc`"), "{err}");
        let bad: NetworkSpec =
            serde_json::from_str(r#"{"layers":[{"op":"reshape","shape":[3,3]}]}"#).unwrap();
        assert!(bad.output_shape(&[8]).unwrap_err().contains("cannot reshape"));
    }

    #[test]
    fn params_list_every_tensor_with_its_shape() {
        let names: Vec<_> = dcgan_head().params("generator").into_iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "generator.fc.weight",
                "generator.fc.bias",
                "generator.bn.weight",
                "generator.bn.bias",
                "generator.bn.running_mean",
                "generator.bn.running_var",
                "generator.up.weight",
                "generator.up.bias"
            ]
        );
    }

    #[test]
    fn unknown_ops_and_fields_are_rejected() {
        let err = serde_json::from_str::<NetworkSpec>(r#"{"layers":[{"op":"gelu"}]}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `gelu`"), "{err}");
        let err =
            serde_json::from_str::<NetworkSpec>(r#"{"layers":[{"op":"relu","x":1}]}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn resnet_layers_check_their_input_and_name_where_it_fails() {
        let spec = |json: &str| serde_json::from_str::<NetworkSpec>(json).unwrap();
        let block = spec(
            r#"{"layers":[{"op":"residual","layers":[
                {"op":"upsample2d","factor":2},
                {"op":"conv2d","name":"c","inputs":2,"outputs":4,"kernel":3,"padding":1}],
              "shortcut":[{"op":"upsample2d","factor":2},{"op":"conv2d","name":"s","inputs":2,"outputs":4,"kernel":1}]},
              {"op":"avg_pool2d","kernel":2},{"op":"global_sum_pool"}]}"#,
        );
        assert_eq!(block.output_shape(&[2, 3, 5]).unwrap(), [4]);
        assert_eq!(block.params("g").iter().filter(|p| p.name.ends_with(".weight")).count(), 2);
        assert_eq!(block.macs(&[2, 3, 5]), Some(6 * 10 * (4 * 2 * 9 + 4 * 2)));
        let err = block.output_shape(&[2, 3]).unwrap_err();
        assert!(err.contains("layers[0].layers[0] (upsample2d) expects an image"), "{err}");
        let pooled = spec(r#"{"layers":[{"op":"avg_pool2d","kernel":2}]}"#);
        let err = pooled.output_shape(&[2, 5, 4]).unwrap_err();
        assert!(err.contains("multiples of 2"), "{err}");
        let uneven = spec(
            r#"{"layers":[{"op":"residual","layers":[{"op":"relu"}],"shortcut":[{"op":"avg_pool2d","kernel":2}]}]}"#,
        );
        let err = uneven.output_shape(&[2, 4, 4]).unwrap_err();
        assert!(err.contains("maps [2, 4, 4] to [2, 4, 4] but its shortcut to [2, 2, 2]"), "{err}");
        let huge = spec(r#"{"layers":[{"op":"upsample2d","factor":100000}]}"#);
        let err = huge.output_shape(&[1, 4, 4]).unwrap_err();
        assert!(err.contains("layers[0] gives shape [1, 400000, 400000], more than"), "{err}");
    }
}
