//! DRS and MH-GAN through the stepper, on a model whose density ratio is known in closed form:
//! G(z) = 2z with z ~ N(0, I₂), so p_G = N(0, 4I), and a critic that is exactly
//! log N(x; 0, I) − log N(x; 0, 4I) = −3‖x‖²/8 + 2 ln 2. The target N(0, I) makes u = ‖x‖²
//! exponential with mean 2, and the generator's u exponential with mean 8; each test compares
//! the delivered samples' u with its expected distribution by a Kolmogorov–Smirnov statistic,
//! against the 1 % critical value 1.63/√n for n samples (fixed seeds, so a pass is repeatable).

use burn::prelude::*;

use super::select::{Calibration, Proposals, Rule, drs_acceptance};
use super::*;
use crate::model::{Critic, Generator};
use crate::rng::{Noise, Stream};
use crate::sample::SampleKind;

fn device() -> Device {
    crate::device::cpu()
}

/// G(z) = 2z in two dimensions.
struct Doubling;

impl Generator for Doubling {
    fn latent_dim(&self) -> usize {
        2
    }
    fn prior(&self) -> Prior {
        Prior::STANDARD
    }
    fn sample_kind(&self) -> SampleKind {
        SampleKind::Points
    }
    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        z.mul_scalar(2.0)
    }
}

/// d(x) = log N(x; 0, I) − log N(x; 0, 4I), with a calibration to report.
struct ExactRatio(Calibration);

impl Critic for ExactRatio {
    fn logit(&self, x: Tensor<2>) -> Tensor<1> {
        x.square().sum_dim(1).squeeze_dim::<1>(1).mul_scalar(-3.0 / 8.0).add_scalar(4f32.ln())
    }
    fn calibration(&self) -> Calibration {
        self.0
    }
}

fn selection(method: Method, batch: usize, steps: usize, seed: u64) -> (Vec<Step>, Option<Rule>) {
    let config = FlowConfig { method, batch, steps, seed, ..FlowConfig::default() };
    let critic = ExactRatio(Calibration::IDENTITY);
    pollster::block_on(async {
        let mut refiner = Refiner::new(Doubling, critic, config, &device()).await.unwrap();
        let mut steps = Vec::new();
        while let Some(step) = refiner.next_step().await.unwrap() {
            steps.push(step);
        }
        (steps, refiner.rule())
    })
}

/// ‖x‖² of each delivered sample of `step`.
fn delivered_u(step: &Step) -> Vec<f64> {
    let samples = step.samples.as_ref().unwrap();
    let accepted = step.accepted.as_ref().unwrap();
    samples
        .chunks(2)
        .zip(accepted)
        .filter(|(_, a)| **a || step.delivered == accepted.len())
        .map(|(x, _)| f64::from(x[0] * x[0] + x[1] * x[1]))
        .collect()
}

/// The largest gap between the empirical CDF of `values` and `cdf`.
fn kolmogorov_smirnov(values: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted.iter().enumerate().fold(0.0, |worst, (i, &u)| {
        let c = cdf(u);
        worst.max((c - i as f64 / n).abs()).max(((i + 1) as f64 / n - c).abs())
    })
}

fn critical(n: usize) -> f64 {
    1.63 / (n as f64).sqrt()
}

#[test]
fn drs_delivers_the_generator_reweighted_by_its_acceptance() {
    // Whatever d* and γ the run estimated, an accepted sample's u has density ∝ p_G(u) a(u),
    // with p_G(u) = e^{−u/8}/8 and a(u) = σ(F(d(u)) − γ): integrated here on a fine grid.
    let (steps, rule) = selection(Method::Drs, 3000, 40, 11);
    let Some(Rule::Rejection { d_max, shift }) = rule else { panic!("DRS has a rejection rule") };
    let d = |u: f64| (-3.0 / 8.0 * u + 4f64.ln()) as f32;
    let weight = |u: f64| (-u / 8.0).exp() / 8.0 * drs_acceptance(d(u), d_max, shift);
    let h = 1e-3;
    let grid: Vec<f64> = (0..200_000).map(|i| (i as f64 + 0.5) * h).collect();
    let mut cumulative = Vec::with_capacity(grid.len());
    let mut total = 0.0;
    for &u in &grid {
        total += weight(u) * h;
        cumulative.push(total);
    }
    let cdf = |u: f64| cumulative[((u / h) as usize).min(grid.len() - 1)] / total;
    let last = steps.last().unwrap();
    let u = delivered_u(last);
    assert!(u.len() > 2500, "40 proposals leave few slots empty: {} of 3000 delivered", u.len());
    // d* rises during the run only by what the burn-in missed (the mode's logit is 2 ln 2).
    assert!((f64::from(d_max) - 4f64.ln()).abs() < 0.05, "d* = {d_max}");
    let ks = kolmogorov_smirnov(&u, cdf);
    assert!(ks < critical(u.len()), "KS {ks:.4} against {:.4}", critical(u.len()));
    // And the generator's own distribution is far off: the test can tell.
    let base = kolmogorov_smirnov(&u, |u| 1.0 - (-u / 8.0).exp());
    assert!(base > 10.0 * critical(u.len()), "KS against p_G only {base:.4}");
}

#[test]
fn mh_gan_chains_reach_the_data_distribution() {
    // An independent Metropolis–Hastings chain with the exact ratio leaves N(0, I) invariant
    // and forgets its start at least as fast as (1 − 1/max ratio)^k = 0.75^k: 1e-5 after 40.
    let (steps, _) = selection(Method::MhGan, 3000, 40, 12);
    let u = delivered_u(steps.last().unwrap());
    assert_eq!(u.len(), 3000, "every chain delivers");
    let ks = kolmogorov_smirnov(&u, |u| 1.0 - (-u / 2.0).exp());
    assert!(ks < critical(u.len()), "KS {ks:.4} against {:.4}", critical(u.len()));
    // Step 0 is the generator itself.
    let start = delivered_u(&steps[0]);
    let ks = kolmogorov_smirnov(&start, |u| 1.0 - (-u / 8.0).exp());
    assert!(ks < critical(start.len()), "step 0: KS {ks:.4}");
}

#[test]
fn selection_starts_from_the_latents_every_flow_starts_from_and_a_seed_reproduces_it() {
    let flow = selection(Method::DgflowKl, 8, 2, 5).0;
    for method in [Method::Drs, Method::MhGan] {
        let (a, _) = selection(method, 8, 6, 5);
        assert_eq!(a[0].latents, flow[0].latents, "{method:?}: step 0's proposals");
        assert_eq!(a, selection(method, 8, 6, 5).0, "{method:?}: the same seed, the same run");
        assert_ne!(a, selection(method, 8, 6, 6).0, "{method:?}: another seed, another run");
        // Slots that have accepted keep what they accepted; the others take new proposals.
        assert!(a.iter().skip(1).any(|s| s.latents != a[0].latents), "{method:?} never moved");
    }
}

#[test]
fn every_step_counts_what_it_spent() {
    let b = 8u64;
    let flow = selection(Method::DgflowKl, 8, 5, 1).0;
    for (k, step) in flow.iter().enumerate() {
        let k = k as u64;
        // Each step evaluates the batch; all but the last also take its gradient.
        let backward = if k == 5 { 5 * b } else { (k + 1) * b };
        assert_eq!(step.spent, Spent { generator: (k + 1) * b, critic: (k + 1) * b, backward });
        assert_eq!(step.delivered, 8);
    }
    let (drs, _) = selection(Method::Drs, 8, 12, 2);
    let mut expected = (select::DRS_BURN_IN as u64) + b;
    assert_eq!(drs[0].spent.critic, expected);
    for pair in drs.windows(2) {
        // Only the slots without an accepted sample propose again.
        expected += b - pair[0].delivered as u64;
        assert_eq!(pair[1].spent, Spent { generator: expected, critic: expected, backward: 0 });
        assert!(pair[1].delivered >= pair[0].delivered, "DRS never gives back a sample");
    }
    let (chains, _) = selection(Method::MhGan, 8, 4, 3);
    for (k, step) in chains.iter().enumerate() {
        let evaluated = (k as u64 + 1) * b;
        assert_eq!(step.spent, Spent { generator: evaluated, critic: evaluated, backward: 0 });
        assert_eq!(step.spent.per_sample(step.delivered), (k + 1) as f64);
    }
}

#[test]
fn mh_gan_follows_the_critics_calibration() {
    // A steeper calibration prefers high logits more sharply: the chains concentrate nearer the
    // mode. Scale 2 makes the target ∝ p_G · ratio², i.e. N(0, (4/7) I): E u = 8/7.
    let config = FlowConfig {
        method: Method::MhGan,
        batch: 3000,
        steps: 40,
        seed: 13,
        ..FlowConfig::default()
    };
    let critic = ExactRatio(Calibration { scale: 2.0, shift: -1.0 });
    let t = pollster::block_on(refine(Doubling, critic, config, &device())).unwrap();
    let u = delivered_u(t.steps.last().unwrap());
    let ks = kolmogorov_smirnov(&u, |u| 1.0 - (-u * 7.0 / 8.0).exp());
    assert!(ks < critical(u.len()), "KS {ks:.4} against {:.4}", critical(u.len()));
}

#[test]
fn drs_without_a_shift_is_exact_rejection_sampling() {
    // With γ = 0 and d* the true largest logit (2 ln 2, at the mode), σ(F) = exp(d − d*):
    // every slot's first accepted proposal is a draw from N(0, I).
    let logit = |x: &[f32]| -3.0 / 8.0 * (x[0] * x[0] + x[1] * x[1]) + 4f32.ln();
    let (mut proposals, mut coins) =
        (Noise::new(21, Stream::Proposals), Noise::new(21, Stream::Acceptance));
    let mut propose = |slots: &[usize]| {
        let latents = proposals.normal(2 * slots.len(), 1.0);
        let samples: Vec<f32> = latents.iter().map(|z| 2.0 * z).collect();
        let logits: Vec<f32> = samples.chunks(2).map(logit).collect();
        (latents, samples, logits)
    };
    let n = 3000;
    let all: Vec<usize> = (0..n).collect();
    let (latents, samples, logits) = propose(&all);
    let first = Proposals { slots: &all, latents: &latents, samples: &samples, logits: &logits };
    let rule = Rule::Rejection { d_max: 4f32.ln(), shift: 0.0 };
    let mut slots = select::Slots::start(rule, first, &coins.uniform(n));
    // One in four proposals is accepted: 60 rounds leave a slot empty with odds 0.75⁶⁰.
    for _ in 0..60 {
        let proposing = slots.proposing();
        let (latents, samples, logits) = propose(&proposing);
        let next =
            Proposals { slots: &proposing, latents: &latents, samples: &samples, logits: &logits };
        slots.judge(next, &coins.uniform(n));
    }
    assert_eq!(slots.delivered(), n);
    let u: Vec<f64> =
        slots.samples.chunks(2).map(|x| f64::from(x[0] * x[0] + x[1] * x[1])).collect();
    let ks = kolmogorov_smirnov(&u, |u| 1.0 - (-u / 2.0).exp());
    assert!(ks < critical(n), "KS {ks:.4} against {:.4}", critical(n));
}
