//! What a refinement is asked to do — method, step size η, noise γ, steps, space, seed, batch —
//! with the paper's defaults, a model's recommended step size, the limits, and every check of
//! them. It imports no model code: the bundle format checks a manifest's recommendation with it,
//! and the browser boundary hands the page its defaults and limits from here.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sample::SampleKind;

/// The bounds a refinement's settings are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Flow steps, the paper's 25 included.
    pub max_steps: usize,
    /// Samples refined at once.
    pub max_batch: usize,
    /// The largest step size η (the smallest is any positive one).
    pub max_eta: f32,
    /// The largest noise factor γ (γ = 0 is a flow without noise).
    pub max_gamma: f32,
}

impl Limits {
    /// What the engine accepts: beyond these a run's memory, not its patience, runs out.
    pub const ENGINE: Limits =
        Limits { max_steps: 10_000, max_batch: 4096, max_eta: 10.0, max_gamma: 10.0 };
    /// What the page accepts. It keeps every step's samples to scrub through (200 steps of 256
    /// CIFAR-10 samples are 630 MB of pixels and values) and runs in wasm memory, at most 1 GiB
    /// for the threaded CPU module.
    pub const PAGE: Limits = Limits { max_steps: 200, max_batch: 256, ..Limits::ENGINE };
}

/// Samples a plain visit refines on a phone: a 4×4 grid whose tiles are large enough to see at
/// phone width, refined in seconds on a phone's CPU; a desktop and a shared link keep the paper's
/// 64 (or the link's own), and the page's "More samples" is one tap away.
pub const FIRST_LOOK_BATCH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Method {
    #[serde(rename = "dgflow-kl")]
    DgflowKl,
    #[serde(rename = "dgflow-js")]
    DgflowJs,
    #[serde(rename = "dgflow-logd")]
    #[cfg_attr(feature = "cli", value(name = "dgflow-logd"))]
    DgflowLogD,
    #[serde(rename = "ddls")]
    Ddls,
    #[serde(rename = "dot")]
    Dot,
    /// Discriminator rejection sampling: selects, does not move (see [`super::select`]).
    #[serde(rename = "drs")]
    Drs,
    /// MH-GAN: an independent Metropolis–Hastings chain per sample (see [`super::select`]).
    #[serde(rename = "mh-gan")]
    #[cfg_attr(feature = "cli", value(name = "mh-gan"))]
    MhGan,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::DgflowKl,
        Method::DgflowJs,
        Method::DgflowLogD,
        Method::Ddls,
        Method::Dot,
        Method::Drs,
        Method::MhGan,
    ];

    /// The name used on the command line, in URLs and in the worker protocol.
    pub fn name(self) -> &'static str {
        match self {
            Method::DgflowKl => "dgflow-kl",
            Method::DgflowJs => "dgflow-js",
            Method::DgflowLogD => "dgflow-logd",
            Method::Ddls => "ddls",
            Method::Dot => "dot",
            Method::Drs => "drs",
            Method::MhGan => "mh-gan",
        }
    }

    /// Whether the method selects among the generator's samples instead of moving them (η and γ
    /// do not apply; each step is one more proposal per sample).
    pub fn selects(self) -> bool {
        matches!(self, Method::Drs | Method::MhGan)
    }

    pub fn from_name(name: &str) -> Result<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name).ok_or_else(|| {
            Error::parameter(
                "method",
                name,
                format!("expected one of {}", Method::ALL.map(Method::name).join(", ")),
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Space {
    /// Refine z and show G(z): works for every model.
    Latent,
    /// Refine x = G(z₀) directly (images and points; not text, whose samples live on a simplex).
    Data,
}

/// Which steps a trajectory keeps samples for. Logits are kept for every step regardless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// Every step, 0 (before) to the last, so a page can scrub through all of them.
    All,
    /// Step 0, every n-th step and the last.
    Every(usize),
    /// Exactly these steps.
    Steps(Vec<usize>),
}

/// Step settings suited to one model, from its manifest. The step size that works depends on how
/// steep its critic is, so a model can recommend its own instead of the paper's η = 0.1,
/// γ = 0.01.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recommended {
    pub eta: f32,
    pub gamma: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowConfig {
    pub method: Method,
    /// Step size η.
    pub eta: f32,
    /// Noise factor γ (the entropy weight): the noise is √(2ηγ) ξ.
    pub gamma: f32,
    pub steps: usize,
    pub space: Space,
    pub seed: u64,
    pub batch: usize,
    pub keep: Keep,
    /// DRS: the percentile of the burn-in batch's F accepted with probability ½ (its shift γ).
    pub percentile: f32,
}

impl Default for FlowConfig {
    /// The paper's defaults: η = 0.1, γ = 0.01, 25 steps, DGflow-KL in latent space.
    fn default() -> Self {
        FlowConfig {
            method: Method::DgflowKl,
            eta: 0.1,
            gamma: 0.01,
            steps: 25,
            space: Space::Latent,
            seed: 0,
            batch: 64,
            keep: Keep::All,
            percentile: super::select::DRS_PERCENTILE,
        }
    }
}

impl FlowConfig {
    /// The paper's defaults with a model's recommended η and γ, where it has them: what a run
    /// starts from when its settings do not say.
    pub fn for_model(recommended: Option<Recommended>) -> FlowConfig {
        let paper = FlowConfig::default();
        let (eta, gamma) = recommended.map_or((paper.eta, paper.gamma), |r| (r.eta, r.gamma));
        FlowConfig { eta, gamma, ..paper }
    }

    /// Rejects, for samples of `kind`, what would crash, hang or silently produce garbage within
    /// the engine's limits, naming the way back.
    pub fn validate(&self, kind: SampleKind) -> Result<()> {
        self.validate_within(kind, &Limits::ENGINE)
    }

    /// As [`FlowConfig::validate`], within `limits`.
    pub fn validate_within(&self, kind: SampleKind, limits: &Limits) -> Result<()> {
        let Limits { max_steps, max_batch, max_eta, max_gamma } = *limits;
        if !(self.eta.is_finite() && self.eta > 0.0 && self.eta <= max_eta) {
            return Err(Error::parameter(
                "eta",
                self.eta,
                format!("expected a step size in (0, {max_eta}]; the paper uses 0.1"),
            ));
        }
        if !(self.gamma.is_finite() && (0.0..=max_gamma).contains(&self.gamma)) {
            return Err(Error::parameter(
                "gamma",
                self.gamma,
                format!("expected a noise factor in [0, {max_gamma}]; the paper uses 0.01"),
            ));
        }
        if self.steps == 0 || self.steps > max_steps {
            return Err(Error::parameter(
                "steps",
                self.steps,
                format!("expected 1 to {max_steps}; the paper uses 25"),
            ));
        }
        if self.batch == 0 || self.batch > max_batch {
            return Err(Error::parameter(
                "batch",
                self.batch,
                format!("expected 1 to {max_batch} samples; refine more in several runs"),
            ));
        }
        match &self.keep {
            Keep::Every(0) => {
                return Err(Error::parameter("keep", "every 0", "expected every n ≥ 1"));
            }
            Keep::Steps(list) => {
                if let Some(bad) = list.iter().find(|&&s| s > self.steps) {
                    return Err(Error::parameter(
                        "keep",
                        bad,
                        format!("steps to keep must lie in 0..={}", self.steps),
                    ));
                }
            }
            _ => {}
        }
        if !(self.percentile.is_finite() && self.percentile > 0.0 && self.percentile < 100.0) {
            return Err(Error::parameter(
                "percentile",
                self.percentile,
                "expected a percentile strictly between 0 and 100; DRS's authors' code uses 95",
            ));
        }
        if self.space == Space::Data && self.method.selects() {
            return Err(Error::parameter(
                "space",
                "data",
                "DRS and MH-GAN select among the generator's own samples and have no data-space form; use space latent",
            ));
        }
        if self.space == Space::Data && self.method == Method::Ddls {
            return Err(Error::parameter(
                "space",
                "data",
                "DDLS is defined in latent space (its energy includes the latent prior); use space latent",
            ));
        }
        if self.space == Space::Data && !kind.refinable_in_data_space() {
            return Err(Error::parameter(
                "space",
                "data",
                "data space does not apply to text models (their samples are distributions over characters); use space latent",
            ));
        }
        Ok(())
    }

    /// Whether each step adds noise √(2ηγ) ξ: a flow with γ > 0, but not DOT (plain gradient
    /// descent) nor DRS and MH-GAN (which only select).
    pub fn adds_noise(&self) -> bool {
        !self.method.selects() && self.method != Method::Dot && self.gamma > 0.0
    }

    pub fn keeps(&self, step: usize) -> bool {
        match &self.keep {
            Keep::All => true,
            Keep::Every(n) => step.is_multiple_of(*n) || step == self.steps,
            Keep::Steps(list) => list.contains(&step),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_parameters_are_refused_with_a_reason() {
        let cases: [(FlowConfig, &str); 10] = [
            (
                FlowConfig { eta: -0.1, ..FlowConfig::default() },
                "invalid eta = -0.1: expected a step size in (0, 10]",
            ),
            (FlowConfig { eta: f32::NAN, ..FlowConfig::default() }, "invalid eta = NaN"),
            (FlowConfig { gamma: f32::INFINITY, ..FlowConfig::default() }, "invalid gamma = inf"),
            (
                FlowConfig { steps: 0, ..FlowConfig::default() },
                "invalid steps = 0: expected 1 to 10000",
            ),
            (
                FlowConfig { batch: 1_000_000_000, ..FlowConfig::default() },
                "invalid batch = 1000000000: expected 1 to 4096 samples",
            ),
            (
                FlowConfig { keep: Keep::Steps(vec![26]), ..FlowConfig::default() },
                "invalid keep = 26: steps to keep must lie in 0..=25",
            ),
            (
                FlowConfig { method: Method::Ddls, space: Space::Data, ..FlowConfig::default() },
                "DDLS is defined in latent space",
            ),
            (
                FlowConfig { percentile: 100.0, ..FlowConfig::default() },
                "invalid percentile = 100: expected a percentile strictly between 0 and 100",
            ),
            (
                FlowConfig { percentile: f32::NAN, ..FlowConfig::default() },
                "invalid percentile = NaN",
            ),
            (
                FlowConfig { method: Method::MhGan, space: Space::Data, ..FlowConfig::default() },
                "DRS and MH-GAN select among the generator's own samples",
            ),
        ];
        for (config, message) in cases {
            let err = config.validate(SampleKind::Image).unwrap_err().to_string();
            assert!(err.contains(message), "{err:?} should contain {message:?}");
        }
        assert!(Method::from_name("dgflow-kl").is_ok());
        assert!(
            Method::from_name("kl").unwrap_err().to_string().contains(
                "expected one of dgflow-kl, dgflow-js, dgflow-logd, ddls, dot, drs, mh-gan"
            )
        );
    }

    #[test]
    fn text_is_refined_in_latent_space_only() {
        let data = FlowConfig { space: Space::Data, ..FlowConfig::default() };
        let err = data.validate(SampleKind::Text).unwrap_err().to_string();
        assert!(err.contains("invalid space = data") && err.contains("use space latent"), "{err}");
        assert!(
            data.validate(SampleKind::Image).is_ok() && data.validate(SampleKind::Points).is_ok()
        );
        let latent = FlowConfig::default();
        assert!(latent.validate(SampleKind::Text).is_ok());
    }

    #[test]
    fn the_page_accepts_less_than_the_engine() {
        let long = FlowConfig { steps: 201, ..FlowConfig::default() };
        assert!(long.validate(SampleKind::Image).is_ok());
        let err = long.validate_within(SampleKind::Image, &Limits::PAGE).unwrap_err().to_string();
        assert!(err.contains("invalid steps = 201: expected 1 to 200"), "{err}");
        let wide = FlowConfig { batch: 257, ..FlowConfig::default() };
        let err = wide.validate_within(SampleKind::Image, &Limits::PAGE).unwrap_err().to_string();
        assert!(err.contains("invalid batch = 257: expected 1 to 256"), "{err}");
        let largest = FlowConfig { steps: 200, batch: 256, ..FlowConfig::default() };
        assert!(largest.validate_within(SampleKind::Image, &Limits::PAGE).is_ok());
    }

    #[test]
    fn a_models_recommendation_replaces_the_papers_step_size_only() {
        let paper = FlowConfig::for_model(None);
        assert_eq!(paper, FlowConfig::default());
        let steep = FlowConfig::for_model(Some(Recommended { eta: 0.01, gamma: 0.02 }));
        assert_eq!((steep.eta, steep.gamma), (0.01, 0.02));
        assert_eq!(FlowConfig { eta: 0.1, gamma: 0.01, ..steep }, paper);
    }
}
