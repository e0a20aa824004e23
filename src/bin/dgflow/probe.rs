//! `dgflow probe`: a bundle's samples, critic logits and their gradient with respect to the
//! latents at given latents, as safetensors, so that another implementation of the same model
//! (PyTorch, the exporter's check) can be compared value by value.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use safetensors::Dtype;

use crate::arrays;
use dgflow::bundle::Bundle;
use dgflow::device::{self, Backend};
use dgflow::flow::probe::probe as probe_model;
use dgflow::model::Model;

#[derive(clap::Args)]
pub struct ProbeArgs {
    /// Bundle directory (holding manifest.json).
    #[arg(long)]
    pub model: PathBuf,
    /// The latents: a .npy or safetensors file of shape [n, latent dimension] (a tensor named
    /// `latents` or `z0`, or the only one).
    #[arg(long)]
    pub latents: PathBuf,
    /// Where to write `latents` [n, d], `samples` [n, …sample shape], `logits` [n] and
    /// `gradient` [n, d] (f32 safetensors).
    #[arg(long, default_value = "probe.safetensors")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub device: Backend,
}

pub fn probe(args: ProbeArgs) -> Result<()> {
    let bundle = Bundle::from_dir(&args.model)?;
    let m = &bundle.manifest;
    let dim = m.latent.dim;
    let array = arrays::read_any(&args.latents, "--latents", &["latents", "z0"])?;
    let n = array.values.len() / dim;
    let fits = match array.shape.as_slice() {
        [rows, cols] => *cols == dim && *rows > 0,
        [len] => *len > 0 && len % dim == 0,
        _ => false,
    };
    if !fits {
        bail!(
            "--latents in {} has shape {:?}; {} needs [n, {dim}]",
            args.latents.display(),
            array.shape,
            m.name
        );
    }
    if let Some(i) = array.values.iter().position(|v| !v.is_finite()) {
        bail!("--latents in {}: value {i} is not finite", args.latents.display());
    }
    let device = pollster::block_on(device::open(args.device))?;
    let model = Model::build(&bundle, 0, &device);
    let p = pollster::block_on(probe_model(&model, &model, array.values.clone(), &device))?;
    let sample_shape: Vec<usize> =
        std::iter::once(n).chain(m.sample_shape.iter().copied()).collect();
    let tensors = [
        ("latents", vec![n, dim], &array.values),
        ("samples", sample_shape, &p.samples),
        ("logits", vec![n], &p.logits),
        ("gradient", vec![n, dim], &p.gradient),
    ];
    let bytes: Vec<(&str, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, values)| {
            (name, shape, values.iter().flat_map(|v| v.to_le_bytes()).collect())
        })
        .collect();
    let views = bytes.iter().map(|(name, shape, b)| {
        let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), b);
        (*name, view.expect("sizes match"))
    });
    let data = safetensors::serialize(views, None).context("serialising the probe")?;
    std::fs::write(&args.out, data).with_context(|| format!("writing {}", args.out.display()))?;
    let mean = p.logits.iter().sum::<f32>() / n as f32;
    println!("{n} latents through {}: mean logit {mean:.4}; wrote {}", m.name, args.out.display());
    Ok(())
}
