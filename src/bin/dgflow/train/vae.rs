//! `dgflow train vae` and `dgflow train corrector`: a model without a discriminator of its own,
//! made refinable by borrowing a GAN's and adding a density-ratio corrector.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::prelude::Device;

use dgflow::bundle::{Bundle, Provenance};
use dgflow::data::cifar::{Cifar, Split};
use dgflow::model::Model;
use dgflow::model::presets::sn_dcgan_critic;
use dgflow::sample::SampleKind;
use dgflow::train::corrector::{CorrectorConfig, CorrectorTrainer};
use dgflow::train::real_data::ImageData;
use dgflow::train::vae::{VaeConfig, VaeTrainer};

use super::args::TrainArgs;
use super::progress::{checkpoint_line, open_log, progress_bar};
use super::resume::{refuse_changed, setting};
use crate::output::write_png;
use dgflow::train::monitor::base_grid;

fn bundle_arg(path: &Option<PathBuf>, flag: &str, what: &str) -> Result<(Bundle, PathBuf)> {
    let path = path.as_ref().with_context(|| format!("{flag} is required: {what}"))?;
    Ok((Bundle::from_dir(path)?, path.clone()))
}

/// Writes `bundle` with its borrowed critic left in the lender's weights file, which the page
/// then fetches (and caches) once for both models.
fn write_sharing_critic(
    bundle: &Bundle,
    out: &std::path::Path,
    lender: &std::path::Path,
) -> Result<()> {
    bundle.write_dir_sharing(out, &[("critic.", lender)])?;
    println!("wrote {} (its critic's weights stay in {})", out.display(), lender.display());
    Ok(())
}

pub fn train_vae(args: &TrainArgs, device: &Device) -> Result<()> {
    let (critic, critic_dir) = bundle_arg(
        &args.critic,
        "--critic",
        "the GAN bundle whose discriminator the VAE borrows, e.g. models/cifar10",
    )?;
    let images = ImageData {
        images: Cifar::load(&args.data.join("cifar-10-batches-bin"), Split::Train)?,
        seed: args.seed,
    };
    let mut trainer = if args.checkpoint.exists() {
        let t = VaeTrainer::load(&args.checkpoint, device)?;
        let c = t.config();
        refuse_changed(
            &args.checkpoint,
            &[
                setting("--latent", c.latent, args.latent),
                setting("--width", c.width, args.width),
                setting("--batch", c.batch, args.batch),
                setting("--lr", c.lr, args.lr),
                setting("--sigma", c.sigma, args.sigma),
                setting("--seed", c.seed, args.seed),
            ],
        )?;
        println!("resuming {} from iteration {}", args.checkpoint.display(), t.iteration());
        t
    } else {
        let config = VaeConfig {
            latent: args.latent,
            width: args.width,
            size: 32,
            batch: args.batch,
            lr: args.lr,
            sigma: args.sigma,
            seed: args.seed,
        };
        VaeTrainer::new(config, device)
    };
    let mut log =
        open_log(args.log.as_deref(), "iteration,reconstruction,kl,negative_elbo,samples")?;
    let bar = progress_bar(trainer.iteration(), args.iterations)?;
    while trainer.iteration() < args.iterations {
        let losses = trainer.step(&images);
        bar.inc(1);
        if trainer.iteration() % args.every == 0 || trainer.iteration() == args.iterations {
            trainer.save(&args.checkpoint)?;
            let path = args.checkpoint.with_extension("png");
            write_png(
                &path,
                &pollster::block_on(base_grid(&trainer.bundle("vae", &critic)?, 64, device))?,
            )?;
            let elbo = losses.reconstruction + losses.kl;
            bar.set_message(format!(
                "−ELBO {elbo:.1} (reconstruction {:.1}, KL {:.1})",
                losses.reconstruction, losses.kl
            ));
            let line = format!(
                "{},{},{},{elbo},{}",
                trainer.iteration(),
                losses.reconstruction,
                losses.kl,
                path.display()
            );
            checkpoint_line(&mut log, &bar, &line)?;
        }
    }
    bar.finish();
    let c = trainer.config();
    let mut bundle = trainer.bundle("cifar10-vae", &critic)?;
    bundle.manifest.description = format!(
        "Convolutional VAE on CIFAR-10 (latent {}, DCGAN decoder of width {}), refined through the borrowed discriminator of {}",
        c.latent, c.width, critic.manifest.name
    );
    bundle.manifest.provenance = Provenance {
        trained_by: format!("dgflow train vae (this repository), {} iterations", trainer.iteration()),
        data: "CIFAR-10 training set (50,000 images), random left-right flips".into(),
        recipe: format!(
            "negative ELBO with a Gaussian likelihood of σ = {} and the N(0, I) prior, Adam lr {} betas (0.9, 0.999), batch {}, seed {}; critic: {}'s discriminator, unchanged",
            c.sigma, c.lr, c.batch, c.seed, critic.manifest.name
        ),
        notes: "Without a corrector its critic estimates log p_data/p_GAN, not log p_data/p_VAE: add one with `dgflow train corrector`.".into(),
    };
    write_sharing_critic(&bundle, &args.out, &critic_dir)
}

pub fn train_corrector(args: &TrainArgs, device: &Device) -> Result<()> {
    let (gan, gan_dir) = bundle_arg(
        &args.critic,
        "--critic",
        "the GAN whose discriminator the base model borrows, e.g. models/cifar10",
    )?;
    // The base's own critic is replaced by the GAN's, so one it pinned to an earlier GAN is fine.
    let base_dir =
        args.base.as_ref().context("--base is required: the bundle to correct, e.g. the VAE's")?;
    let base = Bundle::from_dir_with_critic_of(base_dir, &gan)?;
    let (b, g) = (&base.manifest, &gan.manifest);
    if b.kind != SampleKind::Image || b.sample_shape != g.sample_shape {
        bail!(
            "the corrector is an image network: --base makes {:?} {:?} samples, --critic {:?} {:?}",
            b.kind,
            b.sample_shape,
            g.kind,
            g.sample_shape
        );
    }
    let size = b.sample_shape[1];
    let mut trainer = if args.checkpoint.exists() {
        let t = CorrectorTrainer::load(&args.checkpoint, device)?;
        let c = &t.state.config;
        refuse_changed(
            &args.checkpoint,
            &[
                setting("--batch", c.batch, args.batch),
                setting("--lr", c.lr, args.lr),
                setting("--beta2", c.beta2, args.beta2),
                setting("--seed", c.seed, args.seed),
            ],
        )?;
        println!("resuming {} from iteration {}", args.checkpoint.display(), t.iteration());
        t
    } else {
        let config = CorrectorConfig {
            network: sn_dcgan_critic(args.width, size),
            sample_shape: b.sample_shape.clone(),
            batch: args.batch,
            lr: args.lr,
            beta1: 0.5,
            beta2: args.beta2,
            seed: args.seed,
        };
        CorrectorTrainer::new(config, device)
    };
    // Samples as refinement sees them: both generators in inference mode, the base without any
    // earlier corrector.
    let (gan_model, base_model) =
        (Model::build(&gan, 0, device), Model::build(&base.without_critic_terms(), 0, device));
    let mut log = open_log(args.log.as_deref(), "iteration,loss,gan_logit,base_logit,accuracy")?;
    let bar = progress_bar(trainer.iteration(), args.iterations)?;
    // Each batch is fresh samples, scored before the update: its accuracy is a held-out one.
    let mut recent: Vec<f32> = Vec::new();
    while trainer.iteration() < args.iterations {
        let losses = trainer.step(&gan_model, &base_model);
        recent.push(losses.accuracy);
        bar.inc(1);
        if trainer.iteration() % args.every == 0 || trainer.iteration() == args.iterations {
            trainer.save(&args.checkpoint)?;
            let accuracy = recent.iter().sum::<f32>() / recent.len() as f32;
            recent.clear();
            bar.set_message(format!(
                "loss {:.3} | accuracy on fresh samples {:.1} %",
                losses.loss,
                100.0 * accuracy
            ));
            let line = format!(
                "{},{},{},{},{accuracy}",
                trainer.iteration(),
                losses.loss,
                losses.positive_logit,
                losses.negative_logit
            );
            checkpoint_line(&mut log, &bar, &line)?;
        }
    }
    bar.finish();
    let c = &trainer.state.config;
    let description = format!(
        "≈ log p_{0}/p_{1}: a logistic classifier between {0}'s samples and this model's",
        g.name, b.name
    );
    // C ≈ log p_GAN/p_base only helps beside the GAN's own D ≈ log p_data/p_GAN: the critic is its.
    let mut bundle = trainer.add_to(&base, &description)?;
    bundle.manifest.provenance.notes = format!(
        "Critic = {}'s discriminator + a corrector (SN-DCGAN, width {}) trained by `dgflow train corrector` for {} iterations: logistic loss, {}'s samples against this model's, Adam lr {} betas ({}, {}), batch {}, seed {}.",
        g.name,
        args.width,
        trainer.iteration(),
        g.name,
        c.lr,
        c.beta1,
        c.beta2,
        c.batch,
        c.seed
    );
    write_sharing_critic(&bundle, &args.out, &gan_dir)
}
