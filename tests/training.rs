//! GAN training: it learns, it handles every layer kind, and a resumed run is bit-for-bit the
//! same as an uninterrupted one.

use dgflow::data::toy2d::Toy;
use dgflow::model::presets::Architecture;
use dgflow::train::checkpoint;
use dgflow::train::gan::{GanLoss, GanTrainer, TrainConfig};
use dgflow::train::real_data::ToyData;

fn config() -> TrainConfig {
    TrainConfig {
        batch: 64,
        lr_generator: 1e-3,
        lr_critic: 1e-3,
        beta1: 0.5,
        beta2: 0.999,
        critic_steps: 1,
        seed: 4,
        loss: GanLoss::Logistic,
        critic_only: false,
        average_decay: None,
    }
}

fn small_toy() -> dgflow::bundle::Bundle {
    Architecture::Toy2d { hidden_g: 32, hidden_d: 32 }.init_bundle("toy", 1)
}

/// Data: N((1, −0.5), 0.05²) — a target far from where an untrained generator puts its mass.
struct Blob;

impl dgflow::train::real_data::RealData for Blob {
    fn batch(&self, n: usize, iteration: u64) -> Vec<f32> {
        let mut noise = dgflow::rng::Noise::at(9, dgflow::rng::Stream::Data, iteration);
        noise.normal(2 * n, 0.05).chunks(2).flat_map(|p| [1.0 + p[0], -0.5 + p[1]]).collect()
    }
}

fn distance_of_generated_mean(trainer: &GanTrainer) -> f32 {
    use burn::prelude::*;
    use dgflow::model::{Generator, Model};
    let device = dgflow::device::cpu();
    let model = Model::build(&trainer.bundle(), 0, &device);
    let z = dgflow::rng::Noise::new(1, dgflow::rng::Stream::Latents).normal(512 * 2, 1.0);
    let x = model.generate(Tensor::<2>::from_data(TensorData::new(z, [512, 2]), &device));
    let mean = x.mean_dim(0).into_data().try_into_vec::<f32>().unwrap();
    ((mean[0] - 1.0).powi(2) + (mean[1] + 0.5).powi(2)).sqrt()
}

#[test]
fn a_short_run_moves_the_generator_to_the_data() {
    let device = dgflow::device::cpu();
    let mut trainer = GanTrainer::new(&small_toy(), config(), &device);
    let before = distance_of_generated_mean(&trainer);
    let first = trainer.step(&Blob);
    assert!(
        (first.critic - 2.0 * 2f32.ln()).abs() < 0.1,
        "an untrained critic is at chance: {first:?}"
    );
    let mut last = first;
    for _ in 0..300 {
        last = trainer.step(&Blob);
    }
    let after = distance_of_generated_mean(&trainer);
    assert!(
        after < 0.25 * before,
        "generated mean is {before} from the data before, {after} after"
    );
    assert!(last.critic.is_finite() && last.generator.is_finite(), "{last:?}");
}

#[test]
fn the_wasserstein_loss_also_learns_and_critic_only_training_freezes_the_generator() {
    let device = dgflow::device::cpu();
    let mut trainer = GanTrainer::new(
        &small_toy(),
        TrainConfig { loss: GanLoss::Wasserstein, ..config() },
        &device,
    );
    let before = distance_of_generated_mean(&trainer);
    for _ in 0..300 {
        trainer.step(&Blob);
    }
    let after = distance_of_generated_mean(&trainer);
    assert!(after < 0.5 * before, "generated mean is {before} from the data before, {after} after");

    let generator = |t: &GanTrainer| {
        t.host_weights()
            .into_iter()
            .filter(|(k, _)| k.starts_with("generator."))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let critic_out = |t: &GanTrainer| t.host_weights()["critic.out.weight"].1.clone();
    let (g0, c0) = (generator(&trainer), critic_out(&trainer));
    trainer.config =
        TrainConfig { loss: GanLoss::Logistic, critic_only: true, ..trainer.config.clone() };
    let losses = trainer.step(&Blob);
    assert!(losses.generator.is_nan() && losses.critic.is_finite());
    assert_eq!(generator(&trainer), g0, "the generator is frozen");
    assert_ne!(critic_out(&trainer), c0, "the critic learns");
}

#[test]
fn every_layer_kind_trains_without_nan() {
    let device = dgflow::device::cpu();
    for arch in [
        Architecture::Dcgan { latent: 4, width: 1, size: 8 },
        Architecture::CharCnn {
            latent: 4,
            width: 4,
            length: 3,
            blocks: 1,
            vocab: ["a", "b"].map(String::from).to_vec(),
        },
    ] {
        let bundle = arch.init_bundle("t", 2);
        let len: usize = bundle.manifest.sample_shape.iter().product();
        struct Flat(usize);
        impl dgflow::train::real_data::RealData for Flat {
            fn batch(&self, n: usize, iteration: u64) -> Vec<f32> {
                (0..n * self.0).map(|i| ((i as u64 + iteration) % 7) as f32 / 7.0).collect()
            }
        }
        let mut trainer = GanTrainer::new(&bundle, TrainConfig { batch: 4, ..config() }, &device);
        for _ in 0..2 {
            let losses = trainer.step(&Flat(len));
            assert!(
                losses.critic.is_finite() && losses.generator.is_finite(),
                "{arch:?}: {losses:?}"
            );
        }
        let weights = trainer.host_weights();
        assert!(weights.values().all(|(_, v)| v.iter().all(|x| x.is_finite())));
        // running statistics moved away from their initial (0, 1)
        if let Some((_, mean)) = weights.get("generator.bn0.running_mean") {
            assert!(mean.iter().any(|&m| m != 0.0));
        }
    }
}

#[test]
fn a_resumed_run_continues_bit_for_bit() {
    let device = dgflow::device::cpu();
    let data = ToyData { toy: Toy::SwissRoll, seed: 2 };
    // with and without a weight average (the generator's; a critic-only fit's critic's), which the checkpoint carries
    let averaged = TrainConfig { average_decay: Some(0.9), ..config() };
    for config in [config(), averaged.clone(), TrainConfig { critic_only: true, ..averaged }] {
        let mut straight = GanTrainer::new(&small_toy(), config.clone(), &device);
        for _ in 0..6 {
            straight.step(&data);
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.ckpt");
        let mut first = GanTrainer::new(&small_toy(), config.clone(), &device);
        for _ in 0..3 {
            first.step(&data);
        }
        checkpoint::save(&first, &path).unwrap();
        drop(first);
        let mut resumed = checkpoint::load(&path, &device).unwrap();
        assert_eq!(resumed.iteration, 3);
        for _ in 0..3 {
            resumed.step(&data);
        }
        assert_eq!(straight.host_weights(), resumed.host_weights());
        assert_eq!(
            straight.bundle().weights,
            resumed.bundle().weights,
            "the shipped (averaged) weights too"
        );
    }
}

#[test]
fn the_averaged_generator_ships_and_the_critic_fits_it() {
    let device = dgflow::device::cpu();
    let mut trainer = GanTrainer::new(&small_toy(), config(), &device);
    for _ in 0..20 {
        trainer.step(&Blob);
    }
    trainer.start_average(0.5);
    for _ in 0..20 {
        trainer.step(&Blob);
    }
    let generator = |w: dgflow::model::network::HostWeights| {
        w.into_iter()
            .filter(|(k, _)| k.starts_with("generator."))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let shipped = generator(trainer.bundle().weights);
    assert_ne!(
        shipped,
        generator(trainer.host_weights()),
        "the bundle holds the average, not the last iterate"
    );

    trainer.adopt_average();
    trainer.config.critic_only = true;
    assert_eq!(
        generator(trainer.host_weights()),
        shipped,
        "the critic-only stage trains against the shipped generator"
    );
    trainer.step(&Blob);
    assert_eq!(generator(trainer.bundle().weights), shipped);

    // Averaging the critic over its fit: the bundle ships the critic's average, the generator as it was.
    let critic = |w: dgflow::model::network::HostWeights| {
        w.into_iter()
            .filter(|(k, _)| k.starts_with("critic.") && !k.ends_with(".u"))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    trainer.start_average(0.5);
    assert!(!trainer.averages_generator());
    for _ in 0..5 {
        trainer.step(&Blob);
    }
    let bundle = trainer.bundle().weights;
    assert_eq!(generator(bundle.clone()), shipped);
    assert_ne!(
        critic(bundle),
        critic(trainer.host_weights()),
        "the bundle holds the critic's average"
    );
}

#[test]
fn a_checkpoint_says_which_network_its_average_covers() {
    // A critic-only fit written before critics were averaged carries the generator's average.
    let device = dgflow::device::cpu();
    let mut trainer = GanTrainer::new(
        &small_toy(),
        TrainConfig { average_decay: Some(0.9), ..config() },
        &device,
    );
    trainer.step(&Blob);
    trainer.config.critic_only = true;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.ckpt");
    checkpoint::save(&trainer, &path).unwrap();
    let resumed = checkpoint::load(&path, &device).unwrap();
    assert!(resumed.averages_generator());
    assert_eq!(resumed.bundle().weights, trainer.bundle().weights);
}

/// Autodiff's weight gradients through training-mode convolutions (transposed and strided),
/// batch norm and linear layers agree with central finite differences of the same loss.
#[test]
fn weight_gradients_match_finite_differences() {
    use burn::prelude::*;
    use dgflow::model::network::{DeviceParams, Network, TrainingState};
    use dgflow::model::spec::{Layer, NetworkSpec};
    let device = dgflow::device::cpu();
    let conv = |name: &str, inputs, outputs, kernel, stride, padding, sn| Layer::Conv2d {
        name: name.into(),
        inputs,
        outputs,
        kernel,
        stride,
        padding,
        spectral_norm: sn,
    };
    let spec = NetworkSpec {
        layers: vec![
            Layer::ConvTranspose2d {
                name: "up".into(),
                inputs: 2,
                outputs: 3,
                kernel: 4,
                stride: 2,
                padding: 1,
                output_padding: 0,
                spectral_norm: false,
            },
            Layer::BatchNorm { name: "bn".into(), channels: 3, eps: 1e-5 },
            Layer::LeakyRelu { slope: 0.2 },
            // No spectral norm here: its power iteration moves with W, which autodiff (like PyTorch)
            // deliberately treats as constant, so finite differences would differ by design.
            conv("down", 3, 2, 4, 2, 1, false),
            Layer::Reshape { shape: vec![2 * 9] },
            Layer::Linear { name: "out".into(), inputs: 18, outputs: 1, spectral_norm: false },
        ],
    };
    let input_shape = [2, 3, 3];
    let weights = dgflow::model::presets::init_weights(
        spec.params("n"),
        dgflow::model::presets::WeightInit::HeNormal,
        3,
    );
    let x = dgflow::rng::Noise::new(4, dgflow::rng::Stream::Data).normal(4 * 18, 1.0);
    let loss = |params: &DeviceParams| -> Tensor<1> {
        let mut state = TrainingState::default();
        let net = Network::training(&spec, &input_shape, "n", params, &mut state);
        let y =
            net.forward_flat(Tensor::<2>::from_data(TensorData::new(x.clone(), [4, 18]), &device));
        (y.clone() * y).sum()
    };
    let to_device = |w: &dgflow::model::network::HostWeights, grad: Option<&str>| -> DeviceParams {
        w.iter()
            .map(|(k, (_, v))| {
                let t = Tensor::<1>::from_data(TensorData::new(v.clone(), [v.len()]), &device);
                (k.clone(), if Some(k.as_str()) == grad { t.autodiff().require_grad() } else { t })
            })
            .collect()
    };
    let value = |p: &DeviceParams| {
        loss(p).without_autodiff().into_data().try_into_vec::<f32>().unwrap()[0] as f64
    };
    for name in ["n.up.weight", "n.bn.weight", "n.down.weight", "n.out.weight"] {
        let params = to_device(&weights, Some(name));
        let grads = loss(&params).backward();
        let analytic =
            params[name].grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
        for i in [0, analytic.len() / 2, analytic.len() - 1] {
            let eps = 1e-2;
            let nudged = |d: f32| {
                let mut w = weights.clone();
                w.get_mut(name).unwrap().1[i] += d;
                value(&to_device(&w, None))
            };
            let numeric = (nudged(eps) - nudged(-eps)) / (2.0 * eps as f64);
            let scale = numeric.abs().max(analytic[i].abs() as f64).max(1e-2);
            assert!(
                (numeric - analytic[i] as f64).abs() / scale < 2e-2,
                "{name}[{i}]: autodiff {} vs finite difference {numeric}",
                analytic[i]
            );
        }
    }
}
