//! `dgflow train classifier`: the CIFAR-10 classifier behind the image metrics.

use anyhow::Result;
use burn::prelude::Device;

use super::args::TrainArgs;
use super::progress::{checkpoint_line, open_log, progress_bar};
use super::resume::{refuse_changed, setting};
use dgflow::data::cifar::{Cifar, Split};
use dgflow::metrics::classifier::Classifier;
use dgflow::train::classifier_trainer::{ClassifierConfig, ClassifierTrainer};

/// `dgflow train classifier`: the reference feature network of the image metrics.
pub fn train_classifier(args: &TrainArgs, device: &Device) -> Result<()> {
    let cifar_dir = args.data.join("cifar-10-batches-bin");
    let (train, test) =
        (Cifar::load(&cifar_dir, Split::Train)?, Cifar::load(&cifar_dir, Split::Test)?);
    let mut trainer = if args.checkpoint.exists() {
        let t = ClassifierTrainer::load(&args.checkpoint, device)?;
        let c = &t.config;
        refuse_changed(
            &args.checkpoint,
            &[
                setting("--batch", c.batch, args.batch),
                setting("--lr", c.peak_lr, args.lr),
                // The learning-rate schedule spans the run's length.
                setting("--iterations", c.total_steps, args.iterations),
                setting("--seed", c.seed, args.seed),
            ],
        )?;
        println!("resuming {} from step {}", args.checkpoint.display(), t.step);
        t
    } else {
        let config = ClassifierConfig {
            batch: args.batch,
            peak_lr: args.lr,
            total_steps: args.iterations,
            weight_decay: 0.05,
            label_smoothing: 0.1,
            shift: 4,
            seed: args.seed,
        };
        ClassifierTrainer::fresh(args.width, config, device)
    };
    let mut log =
        open_log(args.log.as_deref(), "step,loss,batch_accuracy,learning_rate,test_accuracy")?;
    let bar = progress_bar(trainer.step, args.iterations)?;
    let mut accuracy = f32::NAN;
    while trainer.step < args.iterations {
        let (loss, batch_accuracy) = trainer.train_step(&train);
        bar.inc(1);
        if trainer.step % args.every == 0 || trainer.step == args.iterations {
            trainer.save(&args.checkpoint)?;
            accuracy = trainer.accuracy(&test)?;
            let line = format!(
                "{},{loss},{batch_accuracy},{},{accuracy}",
                trainer.step,
                trainer.learning_rate()
            );
            bar.set_message(format!("loss {loss:.3} | test accuracy {:.2} %", 100.0 * accuracy));
            checkpoint_line(&mut log, &bar, &line)?;
        }
    }
    bar.finish();
    if accuracy.is_nan() {
        accuracy = trainer.accuracy(&test)?;
    }
    let manifest = trainer.finished_manifest(accuracy);
    Classifier::write_dir(&manifest, &trainer.host_weights(), &args.out)?;
    println!("wrote {} (test accuracy {:.2} %)", args.out.display(), 100.0 * accuracy);
    Ok(())
}
