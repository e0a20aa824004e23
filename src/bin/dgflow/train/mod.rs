//! `dgflow train RECIPE`: the loop, its progress and its files; what each recipe trains on and
//! with lives in the library (`dgflow::train::recipe`). Every run checkpoints, resumes bit for
//! bit, logs to CSV and writes a bundle at the end.

mod args;
mod classifier;
mod progress;
mod resume;
mod vae;

pub use args::TrainArgs;

use anyhow::{Context, Result};

use crate::output::write_png;
use crate::record;
use dgflow::device;
use dgflow::train::checkpoint;
use dgflow::train::gan::TrainConfig;
use dgflow::train::monitor::{ImageScore, Monitor, Preview};
use dgflow::train::recipe::{Continuation, GanOptions, Recipe, continue_run};
use progress::{checkpoint_line, open_log, progress_bar};
use resume::{refuse_changed, setting};

pub fn train(args: TrainArgs) -> Result<()> {
    let device = device::cpu();
    match args.recipe {
        Recipe::Classifier => return classifier::train_classifier(&args, &device),
        Recipe::Vae => return vae::train_vae(&args, &device),
        Recipe::Corrector => return vae::train_corrector(&args, &device),
        _ => {}
    }
    // Before the training data, so that a missing classifier fails fast; a critic-only fit leaves
    // the samples as they are.
    let image_score = match (args.recipe, args.critic_only) {
        (Recipe::Cifar10, false) => Some(Box::new(
            ImageScore::load(&args.classifier, &args.data, &device).with_context(|| {
                format!(
                    "the training log scores samples in the features of the CIFAR-10 classifier {} (pass its folder with --classifier)",
                    args.classifier.display()
                )
            })?,
        )),
        _ => None,
    };
    let options = GanOptions {
        data: &args.data,
        width: args.width,
        blocks: args.blocks,
        networks: args.arch,
        seed: args.seed,
    };
    let recipe = args.recipe.gan(&options)?;
    let monitor = match args.recipe.toy() {
        Some(toy) => Monitor::toy(toy, args.seed),
        None if args.recipe == Recipe::Text => Monitor::Text { held_out: recipe.held_out.clone() },
        None => Monitor::Image { score: image_score },
    };
    let lr_critic = args.lr_critic.unwrap_or(args.lr);
    let mut trainer = if args.checkpoint.exists() {
        let mut trainer = checkpoint::load(&args.checkpoint, &device)?;
        let c = &trainer.config;
        refuse_changed(
            &args.checkpoint,
            &[
                setting("--batch", c.batch, args.batch),
                setting("--lr", c.lr_generator, args.lr),
                setting("--lr-critic", c.lr_critic, lr_critic),
                setting("--beta2", c.beta2, args.beta2),
                setting("--critic-steps", c.critic_steps, args.critic_steps),
                setting("--seed", c.seed, args.seed),
            ],
        )?;
        println!("resuming {} from iteration {}", args.checkpoint.display(), trainer.iteration);
        if let Some(dir) = &args.init {
            println!(
                "(--init {} applies to a new run only: the checkpoint's weights go on)",
                dir.display()
            );
        }
        let next =
            Continuation { loss: args.loss, critic_only: args.critic_only, average: args.average };
        for stage in continue_run(&mut trainer, next, &args.checkpoint)? {
            println!("{stage}");
        }
        trainer
    } else {
        let config = TrainConfig {
            batch: args.batch,
            lr_generator: args.lr,
            lr_critic,
            beta1: 0.5,
            beta2: args.beta2,
            critic_steps: args.critic_steps,
            seed: args.seed,
            loss: args.loss,
            critic_only: args.critic_only,
            average_decay: args.average,
        };
        if let Some(dir) = &args.init {
            println!("starting from the weights of {}", dir.display());
        }
        recipe.start(config, args.init.as_deref(), &device)?
    };
    let mut log = open_log(
        args.log.as_deref(),
        "iteration,critic_loss,generator_loss,real_logit,fake_logit,eval",
    )?;
    let bar = progress_bar(trainer.iteration, args.iterations)?;
    let mut record = args
        .record
        .as_ref()
        .map(|_| record::TrainRecord::new(trainer.host_weights(), trainer.iteration));
    if record.is_some() {
        trainer.trace = Some(Vec::new());
    }
    while trainer.iteration < args.iterations {
        let inputs = trainer.inputs(recipe.data.as_ref());
        let iteration = trainer.iteration;
        let losses = trainer.step_on(inputs.clone());
        if let Some(r) = record.as_mut() {
            r.push(
                iteration,
                &inputs,
                &losses,
                trainer.trace.replace(Vec::new()).unwrap_or_default(),
            );
        }
        bar.inc(1);
        if trainer.iteration % args.every == 0 || trainer.iteration == args.iterations {
            checkpoint::save(&trainer, &args.checkpoint)?;
            let report = pollster::block_on(monitor.report(&trainer.bundle(), &device))?;
            let mut score = report.summary;
            match report.preview {
                Some(Preview::Grid(grid)) => {
                    let path = args.checkpoint.with_extension("png");
                    write_png(&path, &grid)?;
                    let samples = format!("samples in {}", path.display());
                    score = if score.is_empty() { samples } else { format!("{score}; {samples}") };
                }
                Some(Preview::Lines(lines)) => {
                    let path = args.checkpoint.with_extension("txt");
                    std::fs::write(&path, lines)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                None => {}
            }
            bar.set_message(format!("D {:.3} G {:.3} | {score}", losses.critic, losses.generator));
            let line = format!(
                "{},{},{},{},{},{score}",
                trainer.iteration,
                losses.critic,
                losses.generator,
                losses.real_logit,
                losses.fake_logit
            );
            checkpoint_line(&mut log, &bar, &line)?;
        }
    }
    bar.finish();
    if let (Some(r), Some(path)) = (record, &args.record) {
        r.write(path, trainer.host_weights(), &trainer.config, &trainer.manifest)?;
        println!("wrote {}", path.display());
    }
    recipe.finished_bundle(&trainer).write_dir(&args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
