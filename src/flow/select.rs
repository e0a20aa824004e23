//! Selecting samples instead of moving them, the approach DGflow argues against: discriminator
//! rejection sampling (DRS; Azadi et al., ICLR 2019) and MH-GAN (Turner et al., ICML 2019). Both
//! use the critic to accept or reject the generator's own samples, which they deliver untouched.
//!
//! A run has one slot per sample of its batch. Step 0's proposals are the latents every other
//! method starts from; each later step draws one fresh proposal per slot from the seed's proposal
//! stream (the whole batch's worth, whichever slots use theirs, so that a seed reproduces a run)
//! and one uniform per slot from its acceptance stream.
//!
//! * DRS: a slot keeps proposing until one is accepted, with probability σ(F̂(x)),
//!   F̂(x) = d(x) − d* − log(1 − exp(d(x) − d* − ε)) − γ. d* is the largest logit seen, first
//!   from a burn-in batch, then raised whenever a proposal exceeds it; γ shifts F so that the
//!   given percentile of the burn-in batch's F is accepted with probability ½ (as in the MH-GAN
//!   authors' DRS code). With γ = 0 and an exact ratio d = log p_data/p_G this is exact rejection
//!   sampling; DRS's shift trades that exactness for fewer proposals.
//! * MH-GAN: each slot is an independent Metropolis–Hastings chain whose proposals are generator
//!   samples; with D = σ(d̃) the acceptance min(1, (1/D(x) − 1)/(1/D(x′) − 1)) is
//!   min(1, exp(d̃(x′) − d̃(x))), where d̃ is the critic's calibrated logit (see [`Calibration`]).
//!   The chain starts at step 0's proposal, a generator sample, so every slot always delivers.
//!
//! This file holds the host-side bookkeeping only; the flow module evaluates the proposals.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Proposals DRS estimates d* and γ on before its first step (its own seed stream).
pub const DRS_BURN_IN: usize = 256;

/// DRS's ε, as in Azadi et al.'s code: keeps log(1 − exp(d − d* − ε)) finite at d = d*.
pub const DRS_EPSILON: f64 = 1e-8;

/// The percentile of the burn-in batch's F that DRS accepts with probability ½ by default: the
/// MH-GAN authors' DRS code uses the 95th.
pub const DRS_PERCENTILE: f32 = 95.0;

/// Platt scaling of the critic's logit, d̃ = scale · d + shift: the calibration MH-GAN's
/// acceptance assumes (σ(d̃) the probability that a sample is real). Two parameters fitted by
/// logistic regression on held-out real samples against the model's own keep the order of the
/// logits (only a monotone map can) and, unlike isotonic regression (the MH-GAN paper's other
/// choice), stay smooth and extrapolate past the fitted range; the shift cancels in MH-GAN's
/// ratio, the scale sets how sharply it prefers one sample over another.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub scale: f32,
    pub shift: f32,
}

impl Calibration {
    /// The logit as it is: right for a critic that is exactly log p_data/p_G.
    pub const IDENTITY: Calibration = Calibration { scale: 1.0, shift: 0.0 };

    pub fn apply(self, d: f32) -> f32 {
        self.scale * d + self.shift
    }

    /// Platt scaling fitted by Newton's method: the scale and shift minimising the logistic loss
    /// of σ(scale · d + shift) on the logits of real samples (label 1) against generated ones
    /// (label 0), the two sets weighing equally whatever their sizes. Refuses logits that
    /// separate the sets completely, for which no finite calibration exists.
    pub fn fit(real: &[f32], generated: &[f32]) -> std::result::Result<Calibration, String> {
        if real.is_empty() || generated.is_empty() {
            return Err("needs logits of real and of generated samples".into());
        }
        let range = |d: &[f32]| {
            d.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
        };
        let ((real_low, real_high), (generated_low, generated_high)) =
            (range(real), range(generated));
        if generated_high < real_low || real_high < generated_low {
            return Err(format!(
                "the critic's logits separate real from generated samples completely (real {real_low:.2} to {real_high:.2}, generated {generated_low:.2} to {generated_high:.2}): no finite calibration fits; use more samples, or MH-GAN without one"
            ));
        }
        let sets =
            [(real, 1.0, 1.0 / real.len() as f64), (generated, 0.0, 1.0 / generated.len() as f64)];
        let points =
            || sets.iter().flat_map(|&(d, y, w)| d.iter().map(move |&d| (f64::from(d), y, w)));
        let loss = |a: f64, b: f64| logistic_loss(a, b, real, generated);
        let (mut a, mut b) = (1.0f64, 0.0f64);
        let mut current = loss(a, b);
        for _ in 0..100 {
            let (mut g, mut h) = ([0.0f64; 2], [0.0f64; 3]);
            for (d, y, w) in points() {
                let p = 1.0 / (1.0 + (-(a * d + b)).exp());
                g[0] += w * (p - y) * d;
                g[1] += w * (p - y);
                let curvature = w * p * (1.0 - p);
                h[0] += curvature * d * d;
                h[1] += curvature * d;
                h[2] += curvature;
            }
            let det = h[0] * h[2] - h[1] * h[1];
            if !(det.is_finite() && det > 0.0) {
                break;
            }
            let step = [(h[2] * g[0] - h[1] * g[1]) / det, (h[0] * g[1] - h[1] * g[0]) / det];
            // Halve the Newton step until the loss does not rise.
            let mut t = 1.0;
            while t > 1e-6 && loss(a - t * step[0], b - t * step[1]) > current {
                t /= 2.0;
            }
            (a, b) = (a - t * step[0], b - t * step[1]);
            let next = loss(a, b);
            let converged = current - next < 0.5e-12;
            current = next;
            if converged {
                break;
            }
        }
        let fitted = Calibration { scale: a as f32, shift: b as f32 };
        fitted.check()?;
        Ok(fitted)
    }

    /// The logistic loss (nats, the two sets weighing equally) of this calibration.
    pub fn loss(self, real: &[f32], generated: &[f32]) -> f64 {
        logistic_loss(f64::from(self.scale), f64::from(self.shift), real, generated)
    }

    /// Refuses what would make MH-GAN's acceptance meaningless.
    pub fn check(self) -> std::result::Result<(), String> {
        if !(self.scale.is_finite() && self.scale > 0.0 && self.shift.is_finite()) {
            return Err(format!(
                "expected a finite scale > 0 and a finite shift, got scale {} and shift {}; refit it with `dgflow calibrate`",
                self.scale, self.shift
            ));
        }
        Ok(())
    }
}

/// The mean logistic loss of σ(a · d + b) on real logits (label 1) and on generated ones
/// (label 0), averaged over the two sets.
fn logistic_loss(a: f64, b: f64, real: &[f32], generated: &[f32]) -> f64 {
    // −log σ(m) for a margin m, without overflow.
    let softplus_of_minus = |m: f64| (-m.abs()).exp().ln_1p() + (-m).max(0.0);
    let mean = |logits: &[f32], sign: f64| {
        logits.iter().map(|&d| softplus_of_minus(sign * (a * f64::from(d) + b))).sum::<f64>()
            / logits.len() as f64
    };
    (mean(real, 1.0) + mean(generated, -1.0)) / 2.0
}

/// DRS's F(d) = d − d* − log(1 − exp(d − d* − ε)) for a logit `d` and the largest seen `d_max`.
pub fn drs_score(d: f32, d_max: f32) -> f64 {
    let delta = f64::from(d) - f64::from(d_max);
    delta - (-(delta - DRS_EPSILON).exp()).ln_1p()
}

/// DRS's acceptance probability σ(F(d) − γ).
pub fn drs_acceptance(d: f32, d_max: f32, shift: f64) -> f64 {
    let f = drs_score(d, d_max) - shift;
    1.0 / (1.0 + (-f).exp())
}

/// MH-GAN's acceptance of `proposal` over the chain's `current` (both raw logits).
pub fn mh_acceptance(current: f32, proposal: f32, calibration: Calibration) -> f64 {
    let log_ratio = f64::from(calibration.apply(proposal)) - f64::from(calibration.apply(current));
    log_ratio.exp().min(1.0)
}

/// The `p`-th percentile (0 < p < 100) of `values`, interpolated linearly between order
/// statistics as NumPy's default does.
pub fn percentile(values: &[f64], p: f32) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = f64::from(p) / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (at - low as f64)
}

/// How a selection run decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// DRS with its largest logit seen and its shift γ.
    Rejection { d_max: f32, shift: f64 },
    /// MH-GAN with the critic's calibration.
    Chain { calibration: Calibration },
}

impl Rule {
    /// DRS's rule from the burn-in batch's logits: d* their largest, γ the `percentile`-th of
    /// their F.
    pub fn rejection(burn_in: &[f32], percentile_of_f: f32) -> Result<Rule> {
        let d_max = burn_in.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if !d_max.is_finite() {
            return Err(Error::Estimate {
                of: "DRS's largest logit d*",
                reason: "the critic gave a non-finite logit on the burn-in batch".into(),
            });
        }
        let scores: Vec<f64> = burn_in.iter().map(|&d| drs_score(d, d_max)).collect();
        Ok(Rule::Rejection { d_max, shift: percentile(&scores, percentile_of_f) })
    }
}

/// The slots of a selection run: what each holds now, and whether it was accepted.
#[derive(Debug, Clone)]
pub struct Slots {
    pub rule: Rule,
    /// `[batch, latent_dim]`: the latent of the sample each slot shows.
    pub latents: Vec<f32>,
    /// `[batch, sample_len]`: the sample each slot shows.
    pub samples: Vec<f32>,
    /// The critic's raw logit of each shown sample.
    pub logits: Vec<f32>,
    /// DRS: the slot holds an accepted proposal (the others show their latest rejected one).
    /// MH-GAN: the chain accepted this step's proposal (otherwise it stayed where it was).
    pub accepted: Vec<bool>,
    latent_dim: usize,
    sample_len: usize,
}

/// One step's proposals for some slots: rows in the order of `slots`.
pub struct Proposals<'a> {
    pub slots: &'a [usize],
    pub latents: &'a [f32],
    pub samples: &'a [f32],
    pub logits: &'a [f32],
}

impl Slots {
    /// Slots showing step 0's proposals, of which DRS accepts some (`uniforms`: one per slot);
    /// MH-GAN's chains start there.
    pub fn start(rule: Rule, first: Proposals, uniforms: &[f32]) -> Slots {
        let batch = first.slots.len();
        let mut slots = Slots {
            rule,
            latent_dim: first.latents.len() / batch,
            sample_len: first.samples.len() / batch,
            latents: first.latents.to_vec(),
            samples: first.samples.to_vec(),
            logits: first.logits.to_vec(),
            accepted: vec![false; batch],
        };
        if let Rule::Rejection { .. } = rule {
            slots.judge(first, uniforms);
        }
        slots
    }

    /// The slots that take a proposal at the next step: DRS's not yet accepted, every chain.
    pub fn proposing(&self) -> Vec<usize> {
        match self.rule {
            Rule::Rejection { .. } => {
                (0..self.logits.len()).filter(|&i| !self.accepted[i]).collect()
            }
            Rule::Chain { .. } => (0..self.logits.len()).collect(),
        }
    }

    /// How many samples the slots deliver now: DRS's accepted ones, every chain.
    pub fn delivered(&self) -> usize {
        match self.rule {
            Rule::Rejection { .. } => self.accepted.iter().filter(|&&a| a).count(),
            Rule::Chain { .. } => self.logits.len(),
        }
    }

    /// Accepts or rejects one step's proposals (`uniforms`: one per slot of the batch).
    pub fn judge(&mut self, proposals: Proposals, uniforms: &[f32]) {
        if let Rule::Chain { .. } = self.rule {
            self.accepted.fill(false);
        }
        // DRS raises d* before judging, as its algorithm does with each new batch.
        if let Rule::Rejection { d_max, .. } = &mut self.rule {
            *d_max = proposals.logits.iter().copied().fold(*d_max, f32::max);
        }
        let (dim, len) = (self.latent_dim, self.sample_len);
        for (row, &slot) in proposals.slots.iter().enumerate() {
            let proposal = proposals.logits[row];
            let p = match self.rule {
                Rule::Rejection { d_max, shift } => drs_acceptance(proposal, d_max, shift),
                Rule::Chain { calibration } => {
                    mh_acceptance(self.logits[slot], proposal, calibration)
                }
            };
            let accept = f64::from(uniforms[slot]) < p;
            // DRS shows a slot's latest proposal, accepted or not; a chain moves only on accept.
            if accept || matches!(self.rule, Rule::Rejection { .. }) {
                self.latents[slot * dim..(slot + 1) * dim]
                    .copy_from_slice(&proposals.latents[row * dim..(row + 1) * dim]);
                self.samples[slot * len..(slot + 1) * len]
                    .copy_from_slice(&proposals.samples[row * len..(row + 1) * len]);
                self.logits[slot] = proposal;
            }
            self.accepted[slot] = accept;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drs_without_shift_accepts_with_the_density_ratio() {
        // σ(F(d)) = exp(d − d*) up to ε: exact rejection sampling from the ratio exp(d).
        for d in [-6.0f32, -2.0, -0.5, 0.0, 0.9] {
            let p = drs_acceptance(d, 1.0, 0.0);
            let exact = f64::from(d - 1.0).exp();
            assert!((p - exact).abs() < 1e-6, "d {d}: {p} against {exact}");
        }
        assert!((drs_acceptance(1.0, 1.0, 0.0) - 1.0).abs() < 1e-6);
        // A positive shift accepts less, a negative one more.
        assert!(drs_acceptance(-1.0, 1.0, 1.0) < drs_acceptance(-1.0, 1.0, 0.0));
        assert!(drs_acceptance(-1.0, 1.0, -1.0) > drs_acceptance(-1.0, 1.0, 0.0));
    }

    #[test]
    fn mh_acceptance_is_the_calibrated_odds_ratio() {
        // (1/D(x) − 1)/(1/D(x′) − 1) with D = σ(d̃) is exp(d̃′ − d̃).
        let c = Calibration { scale: 0.5, shift: 3.0 };
        let (d, d2) = (1.0f32, 0.2f32);
        let odds = |d: f32| {
            let big_d = 1.0 / (1.0 + (-f64::from(c.apply(d))).exp());
            1.0 / big_d - 1.0
        };
        let p = mh_acceptance(d, d2, c);
        assert!((p - odds(d) / odds(d2)).abs() < 1e-9, "{p}");
        assert_eq!(mh_acceptance(d2, d, c), 1.0, "a better proposal is always taken");
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [3.0, 1.0, 4.0, 1.0, 5.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert!((percentile(&v, 95.0) - 4.8).abs() < 1e-12);
        assert!((percentile(&v, 10.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn drs_slots_keep_proposing_until_accepted_and_chains_move_only_on_acceptance() {
        let rule = Rule::Rejection { d_max: 0.0, shift: 0.0 };
        let first = Proposals {
            slots: &[0, 1],
            latents: &[0.0, 1.0],
            samples: &[10.0, 11.0],
            logits: &[0.0, -50.0],
        };
        // Slot 0 sits at d*: always accepted; slot 1 almost never.
        let mut slots = Slots::start(rule, first, &[0.5, 0.5]);
        assert_eq!(
            (slots.accepted.clone(), slots.proposing(), slots.delivered()),
            (vec![true, false], vec![1], 1)
        );
        let next = Proposals { slots: &[1], latents: &[2.0], samples: &[12.0], logits: &[-60.0] };
        slots.judge(next, &[0.5, 0.5]);
        assert_eq!(
            (slots.latents.clone(), slots.samples.clone()),
            (vec![0.0, 2.0], vec![10.0, 12.0])
        );
        assert_eq!(slots.logits, vec![0.0, -60.0]);

        let chain = Rule::Chain { calibration: Calibration::IDENTITY };
        let first = Proposals {
            slots: &[0, 1],
            latents: &[0.0, 1.0],
            samples: &[10.0, 11.0],
            logits: &[0.0, 0.0],
        };
        let mut chains = Slots::start(chain, first, &[0.0, 0.0]);
        assert_eq!(chains.accepted, vec![false, false], "a chain's start is not an acceptance");
        // Slot 0's proposal is far worse (rejected), slot 1's better (accepted).
        let next = Proposals {
            slots: &[0, 1],
            latents: &[5.0, 6.0],
            samples: &[15.0, 16.0],
            logits: &[-40.0, 1.0],
        };
        chains.judge(next, &[0.5, 0.5]);
        assert_eq!(chains.accepted, vec![false, true]);
        assert_eq!(
            (chains.latents.clone(), chains.logits.clone()),
            (vec![0.0, 6.0], vec![0.0, 1.0])
        );
        assert_eq!((chains.proposing(), chains.delivered()), (vec![0, 1], 2));
    }

    #[test]
    fn platt_scaling_recovers_a_miscalibrated_critic() {
        // Real x ~ N(0, I₂), generated x ~ N(0, 4I); the exact log ratio is r(x) = −3‖x‖²/8 +
        // 2 ln 2, and this critic reports d = r/2 + 1. The balanced posterior σ(r) = σ(2d − 2).
        let mut noise = crate::rng::Noise::new(4, crate::rng::Stream::Data);
        let critic = |x: &[f32]| (-3.0 / 8.0 * (x[0] * x[0] + x[1] * x[1]) + 4f32.ln()) / 2.0 + 1.0;
        let real: Vec<f32> = noise.normal(40_000, 1.0).chunks(2).map(critic).collect();
        let generated: Vec<f32> = noise.normal(40_000, 2.0).chunks(2).map(critic).collect();
        let fitted = Calibration::fit(&real, &generated).unwrap();
        assert!(
            (fitted.scale - 2.0).abs() < 0.06 && (fitted.shift + 2.0).abs() < 0.1,
            "{fitted:?}"
        );
        assert!(fitted.loss(&real, &generated) < Calibration::IDENTITY.loss(&real, &generated));
        // Logits that tell the sets apart perfectly have no finite calibration.
        let err = Calibration::fit(&[5.0, 6.0, 7.0], &[-5.0, -6.0]).unwrap_err();
        assert!(err.contains("separate real from generated samples completely"), "{err}");
        assert!(Calibration::fit(&[], &[1.0]).is_err());
    }

    #[test]
    fn calibrations_that_break_the_ratio_are_refused() {
        assert!(Calibration::IDENTITY.check().is_ok());
        let flat = Calibration { scale: 0.0, shift: 0.0 }.check().unwrap_err();
        assert!(flat.contains("scale > 0") && flat.contains("dgflow calibrate"), "{flat}");
        assert!(Calibration { scale: 1.0, shift: f32::NAN }.check().is_err());
    }
}
