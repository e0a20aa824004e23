//! The flow checked against what can be derived by hand: a Gaussian target whose KL flow has a
//! closed form, a host-side f64 re-implementation of every update with the same noise, finite
//! differences of the gradient, and the baselines' first steps.

use burn::prelude::*;

use super::*;
use crate::model::presets::{Architecture, WeightInit};
use crate::model::{Critic, Generator, Model};
use crate::sample::SampleKind;

fn device() -> Device {
    crate::device::cpu()
}

/// G(z) = z, with latents from N(0, I).
struct Identity(usize);

impl Generator for Identity {
    fn latent_dim(&self) -> usize {
        self.0
    }
    fn prior(&self) -> Prior {
        Prior::STANDARD
    }
    fn sample_kind(&self) -> SampleKind {
        SampleKind::Points
    }
    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        z
    }
}

/// d(x) = −‖x − m‖²/2, so ∇d = m − x: the log-ratio of N(m, I) to a flat density.
struct Quadratic(Vec<f32>);

impl Critic for Quadratic {
    fn logit(&self, x: Tensor<2>) -> Tensor<1> {
        let m =
            Tensor::<1>::from_data(TensorData::new(self.0.clone(), [self.0.len()]), &x.device());
        (x - m.unsqueeze::<2>()).square().sum_dim(1).squeeze_dim::<1>(1).mul_scalar(-0.5)
    }
}

fn run(config: FlowConfig, target: &[f32]) -> Trajectory {
    pollster::block_on(refine(
        Identity(target.len()),
        Quadratic(target.to_vec()),
        config,
        &device(),
    ))
    .unwrap()
}

fn mean_var(values: impl Iterator<Item = f32>) -> (f64, f64) {
    let v: Vec<f64> = values.map(f64::from).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (mean, v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64)
}

#[test]
fn kl_flow_on_a_gaussian_matches_the_closed_form() {
    // x ← x + η(m − x) + √(2ηγ) ξ from x₀ ~ N(0, I):
    // mean_k = m (1 − (1 − η)^k), var_k = (1 − η)^{2k} + 2ηγ Σ_{j<k} (1 − η)^{2j}.
    let (eta, gamma, steps, m) = (0.1f64, 0.5f64, 10, [1.5f32, -2.0]);
    let config = FlowConfig {
        eta: eta as f32,
        gamma: gamma as f32,
        steps,
        batch: 4000,
        seed: 3,
        ..FlowConfig::default()
    };
    let t = run(config, &m);
    for step in &t.steps {
        let k = step.index as i32;
        let samples = step.samples.as_ref().unwrap();
        let decay = (1.0 - eta).powi(k);
        let var = decay * decay
            + 2.0 * eta * gamma * (0..k).map(|j| (1.0 - eta).powi(2 * j)).sum::<f64>();
        for (axis, &target) in m.iter().enumerate() {
            let (mean_hat, var_hat) = mean_var(samples.iter().skip(axis).step_by(2).copied());
            let mean = target as f64 * (1.0 - decay);
            // 5 standard errors: the mean's is √(var/n), the variance's is var·√(2/(n − 1)).
            assert!(
                (mean_hat - mean).abs() < 5.0 * (var / 4000.0).sqrt(),
                "step {k} axis {axis}: mean {mean_hat} vs {mean}"
            );
            assert!(
                (var_hat - var).abs() < 5.0 * var * (2.0f64 / 3999.0).sqrt(),
                "step {k} axis {axis}: var {var_hat} vs {var}"
            );
        }
    }
}

/// The update of each DGflow variant, re-derived on the host in f64 with the same seeded noise.
fn host_reference(
    method: Method,
    eta: f64,
    gamma: f64,
    steps: usize,
    m: &[f32],
    batch: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    let dim = m.len();
    let mut x: Vec<f64> = Noise::new(seed, Stream::Latents)
        .normal(batch * dim, 1.0)
        .into_iter()
        .map(f64::from)
        .collect();
    let mut noise = Noise::new(seed, Stream::StepNoise);
    let mut states = vec![x.clone()];
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    for _ in 0..steps {
        let xi = noise.normal(batch * dim, 1.0);
        for i in 0..batch {
            let row = &mut x[i * dim..(i + 1) * dim];
            let d = -0.5 * row.iter().zip(m).map(|(a, &b)| (a - b as f64).powi(2)).sum::<f64>();
            let s = match method {
                Method::DgflowKl => 1.0,
                Method::DgflowJs => sigmoid(d),
                Method::DgflowLogD => sigmoid(-d),
                _ => unreachable!(),
            };
            for (j, v) in row.iter_mut().enumerate() {
                *v += eta * s * (m[j] as f64 - *v)
                    + (2.0 * eta * gamma).sqrt() * xi[i * dim + j] as f64;
            }
        }
        states.push(x.clone());
    }
    states
}

#[test]
fn every_dgflow_variant_follows_its_update_rule_step_by_step() {
    let m = [0.5f32, -1.0, 2.0];
    for method in [Method::DgflowKl, Method::DgflowJs, Method::DgflowLogD] {
        let config = FlowConfig {
            method,
            eta: 0.2,
            gamma: 0.05,
            steps: 12,
            batch: 64,
            seed: 11,
            ..FlowConfig::default()
        };
        let t = run(config, &m);
        let reference = host_reference(method, 0.2, 0.05, 12, &m, 64, 11);
        for (step, expected) in t.steps.iter().zip(&reference) {
            let got = step.latents.as_ref().unwrap();
            let worst =
                got.iter().zip(expected).map(|(&a, b)| (a as f64 - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-4, "{method:?} step {}: max |Δ| = {worst}", step.index);
        }
    }
}

#[test]
fn js_and_logd_scale_the_drift_differently() {
    // Far from m, d ≪ 0: σ(d) ≈ 0 barely moves a sample (JS), σ(−d) ≈ 1 moves it like KL (log D).
    let m = [4.0f32, 0.0];
    let moved = |method| {
        let config = FlowConfig { method, gamma: 0.0, steps: 1, batch: 8, ..FlowConfig::default() };
        let t = run(config, &m);
        let (a, b) = (t.steps[0].latents.as_ref().unwrap(), t.steps[1].latents.as_ref().unwrap());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>()
    };
    let (kl, js, logd) =
        (moved(Method::DgflowKl), moved(Method::DgflowJs), moved(Method::DgflowLogD));
    assert!(js < 0.01 * kl, "JS moved {js}, KL {kl}");
    assert!((logd - kl).abs() < 0.01 * kl, "logD moved {logd}, KL {kl}");
}

#[test]
fn ddls_takes_a_langevin_step_on_prior_plus_critic() {
    // E(z) = ‖z‖²/2 + ‖z − m‖²/2, so without noise z₁ = z₀ + η(m − 2z₀).
    let m = [1.0f32, -0.5];
    let config = FlowConfig {
        method: Method::Ddls,
        eta: 0.1,
        gamma: 0.0,
        steps: 1,
        batch: 16,
        ..FlowConfig::default()
    };
    let t = run(config, &m);
    let (z0, z1) = (t.steps[0].latents.as_ref().unwrap(), t.steps[1].latents.as_ref().unwrap());
    for (i, (a, b)) in z0.iter().zip(z1).enumerate() {
        let expected = a + 0.1 * (m[i % 2] - 2.0 * a);
        assert!((b - expected).abs() < 1e-6, "{b} vs {expected}");
    }
}

/// G(z) = z in the plane, with latents from `prior`.
struct IdentityFrom(Prior);

impl Generator for IdentityFrom {
    fn latent_dim(&self) -> usize {
        2
    }
    fn prior(&self) -> Prior {
        self.0
    }
    fn sample_kind(&self) -> SampleKind {
        SampleKind::Points
    }
    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        z
    }
}

fn run_from(prior: Prior, config: FlowConfig, target: &[f32]) -> Trajectory {
    pollster::block_on(refine(IdentityFrom(prior), Quadratic(target.to_vec()), config, &device()))
        .unwrap()
}

#[test]
fn every_method_starts_from_the_prior_and_ddls_follows_its_energy() {
    let m = [1.0f32, -0.5];
    let ddls = FlowConfig {
        method: Method::Ddls,
        eta: 0.1,
        gamma: 0.0,
        steps: 1,
        batch: 64,
        ..FlowConfig::default()
    };
    // N(0, σ²I): E(z) = ‖z‖²/(2σ²) + ‖z − m‖²/2, so z₁ = z₀ + η(m − z₀ − z₀/σ²).
    let sigma = 0.5f32;
    let t = run_from(Prior::Normal { sigma }, ddls.clone(), &m);
    let (z0, z1) = (t.steps[0].latents.as_ref().unwrap(), t.steps[1].latents.as_ref().unwrap());
    assert_eq!(z0, &Prior::Normal { sigma }.sample(&mut Noise::new(0, Stream::Latents), 128));
    for (i, (a, b)) in z0.iter().zip(z1).enumerate() {
        let expected = a + 0.1 * (m[i % 2] - a - a / (sigma * sigma));
        assert!((b - expected).abs() < 1e-6, "{b} vs {expected}");
    }
    // uniform(−1, 1)²: a flat prior inside its box, whose walls reflect. With m far outside the
    // box and a long step, every latent hits a wall: z₁ = reflect(z₀ + η(m − z₀)).
    let boxed = Prior::Uniform { low: -1.0, high: 1.0 };
    let far = [5.0f32, -5.0];
    let t = run_from(boxed, FlowConfig { eta: 0.5, ..ddls }, &far);
    let (z0, z1) = (t.steps[0].latents.as_ref().unwrap(), t.steps[1].latents.as_ref().unwrap());
    assert!(z0.iter().all(|&z| boxed.contains(z)), "starting latents in the box");
    for (i, (a, b)) in z0.iter().zip(z1).enumerate() {
        let free = a + 0.5 * (far[i % 2] - a);
        let reflected = if free > 1.0 { 2.0 - free } else { -2.0 - free };
        assert!(
            free.abs() > 1.0 && (b - reflected).abs() < 1e-5,
            "{a} → {b}, expected {reflected}"
        );
    }
    // DGflow has no prior term: its latents may leave the box.
    let kl = FlowConfig {
        method: Method::DgflowKl,
        eta: 0.5,
        gamma: 0.0,
        steps: 1,
        batch: 64,
        ..FlowConfig::default()
    };
    let t = run_from(boxed, kl, &far);
    assert!(t.steps[1].latents.as_ref().unwrap().iter().any(|&z| !boxed.contains(z)));
    // DRS and MH-GAN propose from the prior too.
    let mh = FlowConfig { method: Method::MhGan, steps: 3, batch: 64, ..FlowConfig::default() };
    let t = run_from(boxed, mh, &m);
    assert!(t.steps.iter().all(|s| s.latents.as_ref().unwrap().iter().all(|&z| boxed.contains(z))));
}

#[test]
fn a_run_given_its_latents_and_noise_is_replayed_exactly_and_wrong_lengths_are_refused() {
    let m = [1.0f32, -0.5];
    let device = device();
    let config =
        FlowConfig { eta: 0.1, gamma: 0.5, steps: 3, batch: 8, seed: 4, ..FlowConfig::default() };
    let mut first = pollster::block_on(Refiner::new(
        Identity(2),
        Quadratic(m.to_vec()),
        config.clone(),
        &device,
    ))
    .unwrap();
    let start = first.start().to_vec();
    let (mut steps, mut noise) = (Vec::new(), Vec::new());
    while let Some(step) = pollster::block_on(first.next_step()).unwrap() {
        noise.extend_from_slice(first.added_noise().unwrap_or_default());
        steps.push(step);
    }
    assert_eq!(noise.len(), 3 * 8 * 2);
    // Another seed, given what the first run drew: the same run, bit for bit.
    let given = Given { latents: Some(start.clone()), noise: Some(noise.clone()) };
    let other = FlowConfig { seed: 99, ..config.clone() };
    let replay =
        Refiner::with_given(Identity(2), Quadratic(m.to_vec()), other.clone(), given, &device);
    let mut replay = pollster::block_on(replay).unwrap();
    for step in &steps {
        let again = pollster::block_on(replay.next_step()).unwrap().unwrap();
        assert_eq!(
            (&again.latents, &again.logits),
            (&step.latents, &step.logits),
            "step {}",
            step.index
        );
    }
    // Without the noise, the other seed's noise: another run from the same start.
    let given = Given { latents: Some(start.clone()), noise: None };
    let t = Refiner::with_given(Identity(2), Quadratic(m.to_vec()), other.clone(), given, &device);
    let mut t = pollster::block_on(t).unwrap();
    assert_eq!(pollster::block_on(t.next_step()).unwrap().unwrap().latents, steps[0].latents);
    assert_ne!(pollster::block_on(t.next_step()).unwrap().unwrap().latents, steps[1].latents);

    let refused = |given: Given, config: &FlowConfig| {
        let r =
            Refiner::with_given(Identity(2), Quadratic(m.to_vec()), config.clone(), given, &device);
        pollster::block_on(r).err().expect("refused").to_string()
    };
    let e = refused(Given { latents: Some(start[..15].to_vec()), noise: None }, &config);
    assert!(e.contains("latents") && e.contains("15 values") && e.contains("8 × 2 = 16"), "{e}");
    let e = refused(Given { latents: None, noise: Some(noise[..40].to_vec()) }, &config);
    assert!(e.contains("noise") && e.contains("3 × 8 × 2 = 48"), "{e}");
    let mut nan = start.clone();
    nan[3] = f32::NAN;
    assert!(
        refused(Given { latents: Some(nan), noise: None }, &config)
            .contains("value 3 is not finite")
    );
    let quiet = FlowConfig { gamma: 0.0, ..config };
    let e = refused(Given { latents: None, noise: Some(noise) }, &quiet);
    assert!(e.contains("adds no noise"), "{e}");
}

#[test]
fn dot_takes_a_transport_step_with_the_estimated_lipschitz_constant() {
    let m = [1.0f32, -0.5];
    let config = FlowConfig {
        method: Method::Dot,
        eta: 0.1,
        gamma: 0.3,
        steps: 2,
        batch: 16,
        seed: 5,
        ..FlowConfig::default()
    };
    let refiner = pollster::block_on(Refiner::new(
        Identity(2),
        Quadratic(m.to_vec()),
        config.clone(),
        &device(),
    ))
    .unwrap();
    // k_eff from the calibration draw, recomputed on the host.
    let calib = Noise::new(5, Stream::Calibration).normal(DOT_CALIBRATION * 2, 1.0);
    let logits: Vec<f32> =
        calib.chunks(2).map(|p| -0.5 * ((p[0] - m[0]).powi(2) + (p[1] - m[1]).powi(2))).collect();
    let k = dot::effective_lipschitz(&calib, &logits, 2).unwrap();
    assert!((refiner.k_eff() - k).abs() < 1e-4 * k, "{} vs {k}", refiner.k_eff());

    // First step from z = z₀: the offset is δ·1, whose unit vector is 1/√2; γ is ignored.
    let t = run(config, &m);
    let (z0, z1) = (t.steps[0].latents.as_ref().unwrap(), t.steps[1].latents.as_ref().unwrap());
    for (i, (a, b)) in z0.iter().zip(z1).enumerate() {
        let expected = a + 0.1 * ((m[i % 2] - a) / k - std::f32::consts::FRAC_1_SQRT_2);
        assert!((b - expected).abs() < 1e-5, "{b} vs {expected}");
    }
}

fn tiny_dcgan() -> Model {
    let bundle = Architecture::Dcgan { latent: 6, width: 2, size: 8 }.init_bundle_with(
        "tiny",
        WeightInit::HeNormal,
        4,
    );
    Model::build(&bundle, 3, &device())
}

/// Checks ∇_z d(G(z)) from one KL step against central differences of the model's logit,
/// within 0.5 % of the largest component plus what f32 rounding of the logits leaves a
/// difference to resolve. `h` is small enough that no ReLU kink falls inside ±h and the
/// truncation error is below that, large enough for f32. Measured with these seeds: the toy
/// within 0.34 % (its floor 0.40 %; at h = 3e-3 a kink puts one coordinate 2.9 % off), the text
/// networks 0.015 %, the DCGAN 0.015 % (floor 1.3 %).
fn check_gradient(model: &Model, h: f32) {
    let (batch, dim) = (3, model.latent_dim());
    // With η = 1 and γ = 0 one KL step moves z by exactly ∇_z d(G(z)).
    let config =
        FlowConfig { eta: 1.0, gamma: 0.0, steps: 1, batch, seed: 2, ..FlowConfig::default() };
    let t = pollster::block_on(refine(model, model, config, &device())).unwrap();
    let (z0, z1) = (t.steps[0].latents.clone().unwrap(), t.steps[1].latents.clone().unwrap());
    let grad: Vec<f32> = z1.iter().zip(&z0).map(|(a, b)| a - b).collect();
    let logit_at = |z: &[f32]| -> Vec<f32> {
        let z = Tensor::<2>::from_data(TensorData::new(z.to_vec(), [batch, dim]), &device());
        pollster::block_on(read(model.logit(model.generate(z)))).unwrap()
    };
    let scale = grad.iter().fold(0f32, |a, g| a.max(g.abs()));
    let largest_logit = t.steps[0].logits.iter().fold(0f32, |a, d| a.max(d.abs()));
    // f32 rounding of the two logits bounds what a central difference can resolve.
    let floor = 8.0 * f32::EPSILON * largest_logit.max(1.0) / h;
    assert!(scale > 10.0 * floor, "gradient {scale} too small to check against differences");
    for j in 0..z0.len() {
        let (mut plus, mut minus) = (z0.clone(), z0.clone());
        plus[j] += h;
        minus[j] -= h;
        let fd = (logit_at(&plus)[j / dim] - logit_at(&minus)[j / dim]) / (2.0 * h);
        assert!(
            (fd - grad[j]).abs() < 5e-3 * scale + floor,
            "coordinate {j}: finite difference {fd} vs gradient {}",
            grad[j]
        );
    }
}

/// Untrained spectral-normalised critics are so contracting that their gradients drown in f32
/// rounding; without the normalisation (which only rescales weights at load) they are O(1).
fn without_spectral_norm(mut bundle: crate::bundle::Bundle) -> Model {
    use crate::model::spec::Layer;
    fn clear(layers: &mut [Layer]) {
        for layer in layers {
            match layer {
                Layer::Linear { spectral_norm, .. }
                | Layer::Conv2d { spectral_norm, .. }
                | Layer::Conv1d { spectral_norm, .. } => *spectral_norm = false,
                Layer::Residual { layers, .. } => clear(layers),
                _ => {}
            }
        }
    }
    clear(&mut bundle.manifest.critic.layers);
    bundle.weights.retain(|name, _| !name.ends_with(".u"));
    Model::build(&bundle, 0, &device())
}

#[test]
fn latent_gradient_matches_finite_differences_through_real_networks() {
    check_gradient(&without_spectral_norm(Architecture::toy2d().init_bundle("toy", 1)), 3e-4);
    let text = Architecture::CharCnn {
        latent: 8,
        width: 6,
        length: 5,
        blocks: 2,
        vocab: ["a", "b", " "].map(String::from).to_vec(),
    };
    check_gradient(&without_spectral_norm(text.init_bundle("text", 2)), 3e-3);
    check_gradient(
        &without_spectral_norm(
            Architecture::Dcgan { latent: 6, width: 2, size: 8 }.init_bundle_with(
                "tiny",
                WeightInit::HeNormal,
                4,
            ),
        ),
        3e-3,
    );
}

#[test]
fn small_steps_raise_the_mean_logit_as_much_as_the_gradient_predicts() {
    // With γ = 0 a KL step moves z by Δz = η∇d, so to first order each logit rises by
    // ∇d·Δz = |Δz|²/η: the rise must match that (not merely be positive), up to the O(η²)
    // curvature term (measured within 1.2 % here).
    let eta = 0.05;
    let model = tiny_dcgan();
    let config = FlowConfig { eta, gamma: 0.0, steps: 5, batch: 16, ..FlowConfig::default() };
    let t = pollster::block_on(refine(&model, &model, config, &device())).unwrap();
    for pair in t.steps.windows(2) {
        let (before, after) =
            (pair[0].latents.as_ref().unwrap(), pair[1].latents.as_ref().unwrap());
        let moved: f64 = before.iter().zip(after).map(|(a, b)| ((b - a) as f64).powi(2)).sum();
        let predicted = moved / eta as f64 / 16.0;
        let rose = (pair[1].mean_logit() - pair[0].mean_logit()) as f64;
        assert!(
            predicted > 0.0 && (rose - predicted).abs() < 0.05 * predicted,
            "step {}: the mean logit rose {rose}, the gradient predicts {predicted}",
            pair[1].index
        );
    }
}

#[test]
fn a_seed_reproduces_a_run_and_another_seed_does_not() {
    let model = tiny_dcgan();
    let config = FlowConfig { steps: 3, batch: 4, seed: 9, ..FlowConfig::default() };
    let a = pollster::block_on(refine(&model, &model, config.clone(), &device())).unwrap();
    let b = pollster::block_on(refine(&model, &model, config.clone(), &device())).unwrap();
    assert_eq!(a.steps, b.steps);
    let c =
        pollster::block_on(refine(&model, &model, FlowConfig { seed: 10, ..config }, &device()))
            .unwrap();
    assert_ne!(a.steps[3].samples, c.steps[3].samples);
}

#[test]
fn data_space_refines_samples_and_keep_selects_steps() {
    let model = tiny_dcgan();
    let config = FlowConfig {
        space: Space::Data,
        steps: 4,
        batch: 2,
        keep: Keep::Every(3),
        ..FlowConfig::default()
    };
    let t = pollster::block_on(refine(&model, &model, config, &device())).unwrap();
    let kept: Vec<usize> =
        t.steps.iter().filter(|s| s.samples.is_some()).map(|s| s.index).collect();
    assert_eq!(kept, [0, 3, 4]);
    assert!(t.steps.iter().all(|s| s.latents.is_none() && s.logits.len() == 2));
    // Data space moves the samples themselves: with G the identity, x₀ = z₀ and every step
    // follows the update rule the latent flow follows, noise for noise.
    let m = [0.5f32, -1.0, 2.0];
    let config = FlowConfig {
        space: Space::Data,
        eta: 0.2,
        gamma: 0.05,
        steps: 6,
        batch: 16,
        seed: 5,
        ..FlowConfig::default()
    };
    let t = run(config, &m);
    let reference = host_reference(Method::DgflowKl, 0.2, 0.05, 6, &m, 16, 5);
    for (step, expected) in t.steps.iter().zip(&reference) {
        let got = step.samples.as_ref().unwrap();
        let worst =
            got.iter().zip(expected).map(|(&a, b)| (a as f64 - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "data space, step {}: max |Δ| = {worst}", step.index);
    }
}

#[test]
fn a_diverging_flow_stops_with_a_clear_error() {
    // η = 10 on a steep quadratic overshoots geometrically until the logits overflow.
    let config =
        FlowConfig { eta: 10.0, gamma: 0.0, steps: 200, batch: 2, ..FlowConfig::default() };
    let err = pollster::block_on(refine(Identity(2), Quadratic(vec![0.0, 0.0]), config, &device()))
        .unwrap_err();
    assert!(matches!(err, crate::Error::Diverged { .. }), "{err:?}");
    assert!(err.to_string().contains("the flow diverged at step"), "{err}");
}

#[test]
fn a_probe_gives_the_samples_logits_and_their_latent_gradient() {
    // G(z) = z and d(x) = −‖x − m‖²/2: ∇_z d = m − z.
    let m = [1.0f32, -0.5];
    let z = vec![0.0f32, 0.0, 2.0, 1.0, -1.0, 0.5];
    let p = pollster::block_on(probe::probe(
        &Identity(2),
        &Quadratic(m.to_vec()),
        z.clone(),
        &device(),
    ))
    .unwrap();
    assert_eq!(p.samples, z);
    let logits: Vec<f32> =
        z.chunks(2).map(|x| -((x[0] - m[0]).powi(2) + (x[1] - m[1]).powi(2)) / 2.0).collect();
    assert_eq!(p.logits, logits);
    let gradient: Vec<f32> = z.iter().enumerate().map(|(i, v)| m[i % 2] - v).collect();
    assert_eq!(p.gradient, gradient);
}
