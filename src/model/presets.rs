//! The architectures of the bundled model families, as manifest layer lists, and freshly
//! initialised bundles of them (the starting point of training, and the tiny models of tests).

use crate::bundle::{Bundle, FORMAT, Latent, Manifest, Prior, Provenance, WeightsRef};
use crate::error::{Error, Result};
use crate::model::network::HostWeights;
use crate::model::spec::{Layer, NetworkSpec, ParamSpec};
use crate::rng::{Noise, Stream};
use crate::sample::SampleKind;

/// Which family, with its size knobs.
#[derive(Debug, Clone, PartialEq)]
pub enum Architecture {
    /// The paper's 2D toys: MLP generator 2 → 256×3 → 2, discriminator 2 → 512×3 → 1.
    Toy2d { hidden_g: usize, hidden_d: usize },
    /// DCGAN generator and the SN-DCGAN discriminator of Miyato et al. 2018, channel widths
    /// scaled by `width` (64 is the published size), for `size`×`size` RGB images (size % 8 == 0).
    Dcgan { latent: usize, width: usize, size: usize },
    /// The ResNet generator and discriminator of Miyato et al. 2018 (SN-ResNet-GAN) for
    /// `size`×`size` RGB images (size % 8 == 0): three upsampling residual blocks of 2·`width`
    /// channels, and the discriminator's optimised first block, a downsampling block and two
    /// plain blocks of `width` channels, global sum pooling and a spectrally normalised linear
    /// layer. `width` 128 is the published CIFAR-10 size (generator 256).
    SnResnet { latent: usize, width: usize, size: usize },
    /// The residual 1D-conv language GAN of Gulrajani et al. 2017 over `length` characters.
    CharCnn { latent: usize, width: usize, length: usize, blocks: usize, vocab: Vec<String> },
}

/// What an architecture decides of its manifest: sample kind, latent size, sample shape, value
/// range, generator, critic and (for text) the vocabulary.
type ManifestParts =
    (SampleKind, usize, Vec<usize>, [f32; 2], NetworkSpec, NetworkSpec, Option<Vec<String>>);

/// The largest channel width multiplier: 64 is the published DCGAN, 512 the text model of
/// WGAN-GP; beyond this the weights alone outgrow a machine's memory.
pub const MAX_WIDTH: usize = 1024;
/// The largest latent, sequence and image sizes an architecture takes, for the same reason.
pub const MAX_LATENT: usize = 4096;
pub const MAX_IMAGE_SIDE: usize = 256;
pub const MAX_LENGTH: usize = 1024;
pub const MAX_BLOCKS: usize = 64;

/// The bundled CIFAR-10 GAN's architecture (`models/cifar10`). The page times its two CPU
/// modules on it with random weights: a step's time depends on the shapes alone.
pub const BUNDLED_CIFAR10: Architecture = Architecture::Dcgan { latent: 128, width: 32, size: 32 };

impl Architecture {
    pub fn toy2d() -> Architecture {
        Architecture::Toy2d { hidden_g: 256, hidden_d: 512 }
    }

    /// Rejects sizes that cannot be built (or not in memory), naming the size and its range.
    pub fn validate(&self) -> Result<()> {
        let within = |name: &'static str, value: usize, low: usize, high: usize, why: &str| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(Error::parameter(name, value, format!("expected {low} to {high}{why}")))
            }
        };
        match self {
            Architecture::Toy2d { hidden_g, hidden_d } => {
                within("hidden units", *hidden_g, 1, 8 * MAX_WIDTH, "")?;
                within("hidden units", *hidden_d, 1, 8 * MAX_WIDTH, "")
            }
            Architecture::SnResnet { latent, width, size } => {
                within("latent", *latent, 1, MAX_LATENT, "")?;
                within("width", *width, 1, MAX_WIDTH, " (128 is the published SN-ResNet)")?;
                within("size", *size, 8, MAX_IMAGE_SIDE, ", a multiple of 8 (32 for CIFAR-10)")?;
                if size % 8 != 0 {
                    return Err(Error::parameter("size", size, "expected a multiple of 8"));
                }
                Ok(())
            }
            Architecture::Dcgan { latent, width, size } => {
                within("latent", *latent, 1, MAX_LATENT, "")?;
                within("width", *width, 1, MAX_WIDTH, " (64 is the published DCGAN)")?;
                within("size", *size, 8, MAX_IMAGE_SIDE, ", a multiple of 8 (32 for CIFAR-10)")?;
                if !size.is_multiple_of(8) {
                    return Err(Error::parameter(
                        "size",
                        size,
                        "expected a multiple of 8: the generator doubles 4×-smaller maps three times",
                    ));
                }
                Ok(())
            }
            Architecture::CharCnn { latent, width, length, blocks, vocab } => {
                within("latent", *latent, 1, MAX_LATENT, "")?;
                within("width", *width, 1, MAX_WIDTH, " (512 is WGAN-GP's)")?;
                within("length", *length, 1, MAX_LENGTH, " characters")?;
                within("blocks", *blocks, 1, MAX_BLOCKS, " residual blocks (WGAN-GP has 5)")?;
                within("vocabulary", vocab.len(), 2, MAX_LATENT, " characters")
            }
        }
    }

    fn manifest_parts(&self) -> ManifestParts {
        match self {
            Architecture::Toy2d { hidden_g, hidden_d } => {
                let (g, d) = (*hidden_g, *hidden_d);
                let generator = vec![
                    linear("fc1", 2, g, false),
                    Layer::Relu {},
                    linear("fc2", g, g, false),
                    Layer::Relu {},
                    linear("fc3", g, g, false),
                    Layer::Relu {},
                    linear("out", g, 2, false),
                ];
                let critic = vec![
                    linear("fc1", 2, d, true),
                    leaky(),
                    linear("fc2", d, d, true),
                    leaky(),
                    linear("fc3", d, d, true),
                    leaky(),
                    linear("out", d, 1, false),
                ];
                (SampleKind::Points, 2, vec![2], [-2.0, 2.0], net(generator), net(critic), None)
            }
            Architecture::Dcgan { latent, width, size } => {
                let (generator, critic) =
                    (dcgan_generator(*latent, *width, *size), sn_dcgan_critic(*width, *size));
                (
                    SampleKind::Image,
                    *latent,
                    vec![3, *size, *size],
                    [-1.0, 1.0],
                    generator,
                    critic,
                    None,
                )
            }
            Architecture::SnResnet { latent, width, size } => (
                SampleKind::Image,
                *latent,
                vec![3, *size, *size],
                [-1.0, 1.0],
                sn_resnet_generator(*latent, 2 * width, *size),
                sn_resnet_critic(*width),
                None,
            ),
            Architecture::CharCnn { latent, width, length, blocks, vocab } => {
                let (w, l, v) = (*width, *length, vocab.len());
                let block = |prefix: &str, i: usize, sn: bool| Layer::Residual {
                    layers: vec![
                        Layer::Relu {},
                        conv1d(&format!("{prefix}{i}a"), w, w, 5, 2, sn),
                        Layer::Relu {},
                        conv1d(&format!("{prefix}{i}b"), w, w, 5, 2, sn),
                    ],
                    scale: 0.3,
                    shortcut: Vec::new(),
                };
                let mut generator =
                    vec![linear("fc", *latent, w * l, false), Layer::Reshape { shape: vec![w, l] }];
                generator.extend((0..*blocks).map(|i| block("res", i + 1, false)));
                generator.push(conv1d("out", w, v, 1, 0, false));
                generator.push(Layer::Softmax {});
                let mut critic = vec![conv1d("in", v, w, 1, 0, true)];
                critic.extend((0..*blocks).map(|i| block("res", i + 1, true)));
                critic.push(Layer::Reshape { shape: vec![w * l] });
                critic.push(linear("out", w * l, 1, true));
                (
                    SampleKind::Text,
                    *latent,
                    vec![v, l],
                    [0.0, 1.0],
                    net(generator),
                    net(critic),
                    Some(vocab.clone()),
                )
            }
        }
    }

    /// A bundle of this architecture with freshly initialised weights (N(0, 0.02²) for DCGAN as in
    /// its paper and SN-GAN's code, He-normal otherwise; zero biases, identity batch norm, random
    /// unit spectral-norm vectors).
    pub fn init_bundle(&self, name: &str, seed: u64) -> Bundle {
        let init = match self {
            Architecture::Dcgan { .. } => WeightInit::Normal(0.02),
            Architecture::Toy2d { .. }
            | Architecture::CharCnn { .. }
            | Architecture::SnResnet { .. } => WeightInit::HeNormal,
        };
        self.init_bundle_with(name, init, seed)
    }

    /// Like `init_bundle`, with the weights drawn as `init` says (tests use He-normal to get O(1)
    /// logits and gradients from untrained networks; DCGAN's 0.02 gives ~1e-10).
    pub fn init_bundle_with(&self, name: &str, init: WeightInit, seed: u64) -> Bundle {
        let (kind, latent_dim, sample_shape, value_range, generator, critic, vocab) =
            self.manifest_parts();
        let weights = init_weights(
            generator.params("generator").into_iter().chain(critic.params("critic")),
            init,
            seed,
        );
        let manifest = Manifest {
            format: FORMAT.into(),
            name: name.into(),
            description: format!("untrained {name}: randomly initialised weights (seed {seed})"),
            kind,
            latent: Latent { dim: latent_dim, prior: Prior::STANDARD },
            sample_shape,
            value_range,
            vocab,
            toy: None,
            generator,
            critic,
            critic_terms: Vec::new(),
            weights: WeightsRef {
                file: "weights.safetensors".into(),
                sha256: String::new(),
                encoding: Default::default(),
            },
            shared_weights: Vec::new(),
            recommended: None,
            calibration: None,
            provenance: Provenance {
                trained_by: "not trained".into(),
                data: "none".into(),
                recipe: format!("{self:?}"),
                notes: String::new(),
            },
        };
        Bundle { manifest, weights }
    }
}

/// How convolution and linear weights start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightInit {
    /// N(0, 2/fan_in) (He et al. 2015).
    HeNormal,
    /// N(0, std²) whatever the fan-in: DCGAN's and SN-GAN's 0.02. With Adam, whose steps are
    /// about lr in absolute size, small weights make each step a larger relative change; the
    /// same SN-DCGAN recipe that collapsed from He-normal weights (PyTorch and ours alike, 1,000
    /// iterations) trained from N(0, 0.02²).
    Normal(f32),
}

/// Fresh values for `params`, drawn in order from the seed's weight stream: convolution and
/// linear weights as `init` says, zero biases, identity batch norm, random unit SN vectors.
pub fn init_weights(
    params: impl IntoIterator<Item = ParamSpec>,
    init: WeightInit,
    seed: u64,
) -> HostWeights {
    let mut rng = Noise::new(seed, Stream::Weights);
    let mut weights = HostWeights::new();
    for p in params {
        let n: usize = p.shape.iter().product();
        let field = p.name.rsplit('.').next().expect("parameter names have a field");
        let values = match field {
            "weight" if p.shape.len() == 1 => vec![1.0; n],
            "weight" => match init {
                WeightInit::HeNormal => rng.normal(n, (2.0 / p.fan_in as f32).sqrt()),
                WeightInit::Normal(std) => rng.normal(n, std),
            },
            "running_var" => vec![1.0; n],
            "u" => {
                let u = rng.normal(n, 1.0);
                let norm = u.iter().map(|x| x * x).sum::<f32>().sqrt();
                u.into_iter().map(|x| x / norm).collect()
            }
            _ => vec![0.0; n],
        };
        weights.insert(p.name, (p.shape, values));
    }
    weights
}

/// DCGAN's generator: linear z → 8w×s/8×s/8, three stride-2 transposed convolutions with batch
/// norm and ReLU, a 3×3 convolution to RGB and tanh. Also the VAE's decoder.
pub fn dcgan_generator(latent: usize, width: usize, size: usize) -> NetworkSpec {
    let (w, s0) = (width, size / 8);
    let mut layers = vec![
        linear("fc", latent, 8 * w * s0 * s0, false),
        Layer::Reshape { shape: vec![8 * w, s0, s0] },
        batch_norm("bn0", 8 * w),
        Layer::Relu {},
    ];
    for (i, (cin, cout)) in [(8 * w, 4 * w), (4 * w, 2 * w), (2 * w, w)].into_iter().enumerate() {
        layers.push(Layer::ConvTranspose2d {
            name: format!("up{}", i + 1),
            inputs: cin,
            outputs: cout,
            kernel: 4,
            stride: 2,
            padding: 1,
            output_padding: 0,
            spectral_norm: false,
        });
        layers.push(batch_norm(&format!("bn{}", i + 1), cout));
        layers.push(Layer::Relu {});
    }
    layers.push(conv2d("out", w, 3, 3, 1, 1));
    layers.push(Layer::Tanh {});
    net(layers)
}

/// SN-ResNet-GAN's generator (Miyato et al. 2018, after Gulrajani et al. 2017): a linear layer
/// to `channels`×s/8×s/8, three blocks of BN, ReLU, ×2 nearest upsampling, 3×3 convolution, BN,
/// ReLU, 3×3 convolution beside a shortcut of upsampling and a 1×1 convolution, then BN, ReLU,
/// a 3×3 convolution to RGB and tanh.
pub fn sn_resnet_generator(latent: usize, channels: usize, size: usize) -> NetworkSpec {
    let (c, s0) = (channels, size / 8);
    let mut layers =
        vec![linear("fc", latent, c * s0 * s0, false), Layer::Reshape { shape: vec![c, s0, s0] }];
    let up = || Layer::Upsample2d { factor: 2 };
    for b in 1..=3 {
        let name = |part: &str| format!("b{b}_{part}");
        layers.push(Layer::Residual {
            layers: vec![
                batch_norm(&name("bn1"), c),
                Layer::Relu {},
                up(),
                conv2d(&name("conv1"), c, c, 3, 1, 1),
                batch_norm(&name("bn2"), c),
                Layer::Relu {},
                conv2d(&name("conv2"), c, c, 3, 1, 1),
            ],
            scale: 1.0,
            shortcut: vec![up(), conv2d(&name("shortcut"), c, c, 1, 1, 0)],
        });
    }
    layers.extend([
        batch_norm("bn_out", c),
        Layer::Relu {},
        conv2d("out", c, 3, 3, 1, 1),
        Layer::Tanh {},
    ]);
    net(layers)
}

/// SN-ResNet-GAN's discriminator (Miyato et al. 2018): the optimised first block (3×3
/// convolution, ReLU, 3×3 convolution, 2×2 average pooling, beside pooling and a 1×1
/// convolution), a downsampling block (ReLU, convolution, ReLU, convolution, pooling, beside a
/// 1×1 convolution and pooling), two blocks at that size with identity shortcuts, then ReLU,
/// global sum pooling and a linear layer to one logit, every weight spectrally normalised.
pub fn sn_resnet_critic(channels: usize) -> NetworkSpec {
    let c = channels;
    let sn = |mut layer: Layer| {
        if let Layer::Conv2d { spectral_norm, .. } | Layer::Linear { spectral_norm, .. } =
            &mut layer
        {
            *spectral_norm = true;
        }
        layer
    };
    let conv = |name: String, cin, cout, k| sn(conv2d(&name, cin, cout, k, 1, k / 2));
    let pool = || Layer::AvgPool2d { kernel: 2 };
    let mut layers = vec![Layer::Residual {
        layers: vec![
            conv("b1_conv1".into(), 3, c, 3),
            Layer::Relu {},
            conv("b1_conv2".into(), c, c, 3),
            pool(),
        ],
        scale: 1.0,
        shortcut: vec![pool(), conv("b1_shortcut".into(), 3, c, 1)],
    }];
    for b in 2..=4 {
        let name = |part: &str| format!("b{b}_{part}");
        let mut branch = vec![
            Layer::Relu {},
            conv(name("conv1"), c, c, 3),
            Layer::Relu {},
            conv(name("conv2"), c, c, 3),
        ];
        let shortcut = if b == 2 {
            branch.push(pool());
            vec![conv(name("shortcut"), c, c, 1), pool()]
        } else {
            Vec::new()
        };
        layers.push(Layer::Residual { layers: branch, scale: 1.0, shortcut });
    }
    layers.extend([Layer::Relu {}, Layer::GlobalSumPool {}, sn(linear("out", c, 1, false))]);
    net(layers)
}

/// The SN-DCGAN discriminator of Miyato et al. 2018: seven spectrally normalised convolutions with
/// LeakyReLU 0.2 and a spectrally normalised linear layer to one logit. Also the VAE's corrector.
pub fn sn_dcgan_critic(width: usize, size: usize) -> NetworkSpec {
    let (w, s0) = (width, size / 8);
    let mut layers = Vec::new();
    let plan = [
        (3, w, 3, 1),
        (w, w, 4, 2),
        (w, 2 * w, 3, 1),
        (2 * w, 2 * w, 4, 2),
        (2 * w, 4 * w, 3, 1),
        (4 * w, 4 * w, 4, 2),
        (4 * w, 8 * w, 3, 1),
    ];
    for (i, (cin, cout, k, stride)) in plan.into_iter().enumerate() {
        let mut conv = conv2d(&format!("conv{}", i + 1), cin, cout, k, stride, 1);
        if let Layer::Conv2d { spectral_norm, .. } = &mut conv {
            *spectral_norm = true;
        }
        layers.push(conv);
        layers.push(leaky());
    }
    layers.push(Layer::Reshape { shape: vec![8 * w * s0 * s0] });
    layers.push(linear("out", 8 * w * s0 * s0, 1, true));
    net(layers)
}

/// The VAE's encoder: three stride-2 4×4 convolutions (w, 2w, 4w channels) with batch norm and
/// LeakyReLU 0.2, then a linear layer to the posterior's mean and log-variance (2 × latent).
pub fn vae_encoder(latent: usize, width: usize, size: usize) -> NetworkSpec {
    let (w, s0) = (width, size / 8);
    let mut layers = Vec::new();
    for (i, (cin, cout)) in [(3, w), (w, 2 * w), (2 * w, 4 * w)].into_iter().enumerate() {
        layers.push(conv2d(&format!("conv{}", i + 1), cin, cout, 4, 2, 1));
        layers.push(batch_norm(&format!("bn{}", i + 1), cout));
        layers.push(leaky());
    }
    layers.push(Layer::Reshape { shape: vec![4 * w * s0 * s0] });
    layers.push(linear("posterior", 4 * w * s0 * s0, 2 * latent, false));
    net(layers)
}

fn net(layers: Vec<Layer>) -> NetworkSpec {
    NetworkSpec { layers }
}
fn linear(name: &str, inputs: usize, outputs: usize, spectral_norm: bool) -> Layer {
    Layer::Linear { name: name.into(), inputs, outputs, spectral_norm }
}
fn conv2d(
    name: &str,
    inputs: usize,
    outputs: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Layer {
    Layer::Conv2d {
        name: name.into(),
        inputs,
        outputs,
        kernel,
        stride,
        padding,
        spectral_norm: false,
    }
}
fn conv1d(
    name: &str,
    inputs: usize,
    outputs: usize,
    kernel: usize,
    padding: usize,
    spectral_norm: bool,
) -> Layer {
    Layer::Conv1d { name: name.into(), inputs, outputs, kernel, padding, spectral_norm }
}
fn batch_norm(name: &str, channels: usize) -> Layer {
    Layer::BatchNorm { name: name.into(), channels, eps: 1e-5 }
}
fn leaky() -> Layer {
    Layer::LeakyRelu { slope: 0.2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_that_cannot_be_built_are_refused_by_name() {
        let dcgan = |latent, width, size| Architecture::Dcgan { latent, width, size }.validate();
        assert!(dcgan(128, 32, 32).is_ok());
        let message = |r: Result<()>| r.unwrap_err().to_string();
        assert!(message(dcgan(128, 0, 32)).contains("invalid width = 0: expected 1 to 1024"));
        assert!(message(dcgan(128, 1_000_000, 32)).contains("invalid width = 1000000"));
        assert!(message(dcgan(0, 8, 32)).contains("invalid latent = 0"));
        assert!(message(dcgan(8, 8, 12)).contains("invalid size = 12: expected a multiple of 8"));
        let text = |length, blocks| {
            let vocab = vec!["a".to_string(), "b".to_string()];
            Architecture::CharCnn { latent: 8, width: 8, length, blocks, vocab }.validate()
        };
        assert!(text(32, 5).is_ok());
        assert!(message(text(0, 5)).contains("invalid length = 0"));
        assert!(message(text(32, 1000)).contains("invalid blocks = 1000: expected 1 to 64"));
    }

    fn all() -> Vec<Architecture> {
        vec![
            Architecture::toy2d(),
            Architecture::Dcgan { latent: 16, width: 4, size: 16 },
            Architecture::SnResnet { latent: 16, width: 4, size: 16 },
            Architecture::CharCnn {
                latent: 8,
                width: 6,
                length: 5,
                blocks: 2,
                vocab: ["a", "b", " "].map(String::from).to_vec(),
            },
        ]
    }

    #[test]
    fn every_preset_makes_a_valid_manifest() {
        for arch in all() {
            // As written, with the digest of its weights.
            let (json, _) = arch.init_bundle("t", 1).to_files();
            let err = Manifest::parse(&json, "t").err();
            assert!(err.is_none(), "{arch:?}: {err:?}");
        }
    }

    #[test]
    fn the_timing_model_has_the_bundled_cifar10_shapes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/cifar10/manifest.json");
        let bundled = Manifest::parse(&std::fs::read(path).unwrap(), "cifar10").unwrap();
        let timing = BUNDLED_CIFAR10.init_bundle("timing", 0).manifest;
        assert_eq!(timing.latent, bundled.latent);
        assert_eq!(timing.sample_shape, bundled.sample_shape);
        assert_eq!(timing.generator, bundled.generator);
        assert_eq!(timing.critic, bundled.critic);
    }

    #[test]
    fn dcgan_has_seven_sn_convolutions_and_an_sn_linear() {
        let (.., critic, _) =
            Architecture::Dcgan { latent: 128, width: 64, size: 32 }.manifest_parts();
        let sn_convs = critic
            .layers
            .iter()
            .filter(|l| matches!(l, Layer::Conv2d { spectral_norm: true, .. }))
            .count();
        assert_eq!(sn_convs, 7);
        assert!(matches!(
            critic.layers.last(),
            Some(Layer::Linear { spectral_norm: true, outputs: 1, .. })
        ));
    }
}
