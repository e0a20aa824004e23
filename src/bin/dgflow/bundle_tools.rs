//! The bundle tools: `dgflow info` describes a bundle, `dgflow init` writes a freshly initialised
//! one of a built-in architecture, `dgflow pack` rewrites its weights in another encoding.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::flags;
use clap::ValueEnum;

use dgflow::bundle::{Bundle, Encoding};
use dgflow::device;
use dgflow::metrics::classifier::{self, Classifier};
use dgflow::model::presets::Architecture;

#[derive(clap::Args)]
pub struct InitArgs {
    #[arg(long, value_enum)]
    pub arch: ArchArg,
    /// Output bundle directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Bundle name written in the manifest (defaults to the directory name).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, allow_negative_numbers = true, default_value_t = 0, value_parser = flags::at_least(0))]
    pub seed: u64,
    /// Channel-width multiplier (dcgan: 64 is the published size; snresnet: the discriminator's
    /// channels, 128 published, the generator's twice that; charcnn: residual channels).
    #[arg(long, allow_negative_numbers = true, default_value_t = 8)]
    pub width: usize,
    #[arg(long, allow_negative_numbers = true, default_value_t = 128)]
    pub latent: usize,
    /// Image side (dcgan, snresnet: a multiple of 8) or sequence length (charcnn).
    #[arg(long, allow_negative_numbers = true, default_value_t = 32)]
    pub size: usize,
    /// Characters of the vocabulary (charcnn).
    #[arg(long, default_value = " abcdefghijklmnopqrstuvwxyz.,'")]
    pub vocab: String,
}

#[derive(Copy, Clone, ValueEnum)]
pub enum ArchArg {
    Toy2d,
    Dcgan,
    Snresnet,
    Charcnn,
}

pub fn info(dir: &Path) -> Result<()> {
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap_or_default();
    let format = serde_json::from_slice::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|m| m["format"].as_str().map(String::from));
    if format.as_deref() == Some(classifier::FORMAT) {
        let c = Classifier::load(dir, &device::cpu())?;
        let m = &c.manifest;
        println!("{} — {}", m.name, m.description);
        println!(
            "kind:        classifier ({}), input {:?}, {} classes: {}",
            classifier::FORMAT,
            m.input_shape,
            m.classes.len(),
            m.classes.join(", ")
        );
        println!(
            "features:    {} layers to {} features (the space of our image metrics)",
            m.features.layers.len(),
            c.feature_dim
        );
        if let Some(a) = m.test_accuracy {
            println!("accuracy:    {:.2} % on the CIFAR-10 test split", 100.0 * a);
        }
        println!("trained by:  {}", m.provenance.trained_by);
        println!("recipe:      {}", m.provenance.recipe);
        return Ok(());
    }
    let bundle = Bundle::from_dir(dir)?;
    let m = &bundle.manifest;
    let count = |prefix: &str| -> usize {
        bundle
            .weights
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, (_, v))| v.len())
            .sum()
    };
    println!("{} — {}", m.name, m.description);
    println!(
        "kind:        {:?}, sample shape {:?}, values in [{}, {}]",
        m.kind, m.sample_shape, m.value_range[0], m.value_range[1]
    );
    println!("latent:      {} dimensions, prior {}", m.latent.dim, m.latent.prior);
    println!(
        "generator:   {} layers, {} parameters",
        m.generator.layers.len(),
        count("generator.")
    );
    println!("critic:      {} layers, {} parameters", m.critic.layers.len(), count("critic."));
    for term in &m.critic_terms {
        println!(
            "  + {}: {} layers, {} parameters — {}",
            term.name,
            term.network.layers.len(),
            count(&format!("{}.", term.name)),
            term.description
        );
    }
    if let Some(vocab) = &m.vocab {
        println!("vocabulary:  {} characters: {:?}", vocab.len(), vocab.concat());
    }
    println!("weights:     {} (sha256 {})", m.weights.file, m.weights.sha256);
    println!("trained by:  {}", m.provenance.trained_by);
    println!("data:        {}", m.provenance.data);
    if !m.provenance.recipe.is_empty() {
        println!("recipe:      {}", m.provenance.recipe);
    }
    if let Some(r) = m.recommended {
        println!(
            "recommended: η = {}, γ = {} (the paper's defaults are η = 0.1, γ = 0.01)",
            r.eta, r.gamma
        );
    }
    Ok(())
}

pub fn pack(dir: &Path, encoding: Encoding) -> Result<()> {
    let mut bundle = Bundle::from_dir(dir)?;
    let file = dir.join(&bundle.manifest.weights.file);
    let before = std::fs::metadata(&file)?.len();
    bundle.manifest.weights.encoding = encoding;
    let shares: Vec<(String, PathBuf)> = bundle
        .manifest
        .shared_weights
        .iter()
        .map(|s| {
            (
                s.prefix.clone(),
                dir.join(&s.file).parent().expect("a file has a folder").to_path_buf(),
            )
        })
        .collect();
    let shares: Vec<(&str, &Path)> =
        shares.iter().map(|(p, d)| (p.as_str(), d.as_path())).collect();
    bundle.write_dir_sharing(dir, &shares)?;
    let after = std::fs::metadata(&file)?.len();
    let max_change = Bundle::from_dir(dir)?
        .weights
        .iter()
        .map(|(k, (_, v))| {
            v.iter().zip(&bundle.weights[k].1).fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        })
        .fold(0f32, f32::max);
    println!(
        "wrote {} as {encoding:?}: {before} → {after} bytes; largest change of a weight {max_change:.2e}",
        file.display()
    );
    Ok(())
}

pub fn init(args: InitArgs) -> Result<()> {
    let arch = match args.arch {
        ArchArg::Toy2d => Architecture::toy2d(),
        ArchArg::Dcgan => {
            Architecture::Dcgan { latent: args.latent, width: args.width, size: args.size }
        }
        ArchArg::Snresnet => {
            Architecture::SnResnet { latent: args.latent, width: args.width, size: args.size }
        }
        ArchArg::Charcnn => Architecture::CharCnn {
            latent: args.latent,
            width: args.width,
            length: args.size,
            blocks: 5,
            vocab: args.vocab.chars().map(String::from).collect(),
        },
    };
    arch.validate()?;
    let name = args.name.unwrap_or_else(|| {
        args.out.file_name().map_or("model".into(), |n| n.to_string_lossy().into_owned())
    });
    arch.init_bundle(&name, args.seed).write_dir(&args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
