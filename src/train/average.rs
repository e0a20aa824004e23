//! Averaging the trained network's weights over training (an exponential moving average, Yazıcı
//! et al. 2019): a GAN's generator oscillates around a good solution, and the average of its
//! recent iterates samples better than any one of them. The average is what a bundle ships; its
//! batch-norm statistics are measured anew, since the running ones belong to the raw weights.
//!
//! A critic-only fit averages the critic instead: DGflow follows the critic's gradient, and the
//! last iterate of a fit is one point of an oscillation too (measured on cifar10: 800 more
//! fitting steps left DGflow-KL's gain at 0 %, their average gave −12 %). Its spectral-norm
//! vectors are settled anew for the averaged weights, as the statistics are for a generator.

use std::collections::BTreeMap;

use burn::prelude::*;

use crate::bundle::Manifest;
use crate::model::network::{DeviceParams, Network, TrainingState};
use crate::rng::{Noise, Stream};
use crate::train::params::is_trainable;

/// Batches of latents whose batch statistics become the averaged generator's running ones.
pub const STATISTICS_BATCHES: usize = 16;

/// Power iterations that settle an averaged critic's spectral-norm vectors.
pub const SETTLE_ITERATIONS: usize = 50;

/// The network an average covers: the prefix of its tensors' names.
pub fn averaged_network(critic_only: bool) -> &'static str {
    if critic_only { "critic." } else { "generator." }
}

/// The averaged trainable tensors of the network under `prefix`, by parameter name.
pub fn start(params: &DeviceParams, prefix: &str) -> DeviceParams {
    params
        .iter()
        .filter(|(k, _)| k.starts_with(prefix) && is_trainable(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Whether `average` holds the critic's weights (a critic-only fit's) rather than the generator's.
pub fn covers_critic(average: &DeviceParams) -> bool {
    average.keys().next().is_some_and(|k| k.starts_with("critic."))
}

/// One step of the average towards the current weights: a ← decay·a + (1 − decay)·w.
pub fn update(average: &mut DeviceParams, params: &DeviceParams, decay: f32) {
    for (name, a) in average.iter_mut() {
        *a = a.clone().mul_scalar(decay) + params[name].clone().mul_scalar(1.0 - decay);
    }
}

/// `params` with the generator's weights replaced by `average`, and each batch-norm layer's
/// running mean and variance set to the averaged generator's own over `batches` batches of `n`
/// latents (fixed by `seed`, so the result is reproducible).
pub fn averaged_params(
    manifest: &Manifest,
    params: &DeviceParams,
    average: &DeviceParams,
    n: usize,
    batches: usize,
    seed: u64,
) -> DeviceParams {
    let mut out = params.clone();
    out.extend(average.iter().map(|(k, v)| (k.clone(), v.clone())));
    let latent = manifest.latent.dim;
    let device = average.values().next().expect("a generator has weights").device();
    // per layer: Σ count·mean, Σ count·(var + mean²), Σ count
    let mut sums: BTreeMap<String, (Tensor<1>, Tensor<1>, usize)> = BTreeMap::new();
    for batch in 0..batches {
        let mut noise = Noise::at(seed, Stream::Statistics, batch as u64);
        let z = manifest.latent.prior.sample(&mut noise, n * latent);
        let mut state = TrainingState::default();
        let generator =
            Network::training(&manifest.generator, &[latent], "generator", &out, &mut state);
        generator.forward_recording(
            Tensor::<2>::from_data(TensorData::new(z, [n, latent]), &device),
            &mut state,
        );
        for (layer, mean, var, count) in state.batch_stats {
            let c = count as f32;
            let (m, s) = (mean.clone().mul_scalar(c), (var + mean.clone() * mean).mul_scalar(c));
            let entry = sums.entry(layer).or_insert_with(|| (m.zeros_like(), s.zeros_like(), 0));
            *entry = (entry.0.clone() + m, entry.1.clone() + s, entry.2 + count);
        }
    }
    for (layer, (sum, sum_squares, count)) in sums {
        let mean = sum.div_scalar(count as f32);
        let var = sum_squares.div_scalar(count as f32) - mean.clone() * mean.clone();
        out.insert(format!("{layer}.running_mean"), mean);
        out.insert(format!("{layer}.running_var"), var);
    }
    out
}

/// `params` with the critic's weights replaced by `average`, each spectral-norm vector advanced
/// by `SETTLE_ITERATIONS` power iterations on the averaged weights (the raw critic's vectors
/// only approximate them).
pub fn critic_averaged_params(
    manifest: &Manifest,
    params: &DeviceParams,
    average: &DeviceParams,
) -> DeviceParams {
    let mut out = params.clone();
    out.extend(average.iter().map(|(k, v)| (k.clone(), v.clone())));
    let device = average.values().next().expect("a critic has weights").device();
    // A training-mode pass advances every spectral-norm vector by one power iteration, whatever the input.
    let input = Tensor::<2>::zeros([1, manifest.sample_shape.iter().product::<usize>()], &device);
    for _ in 0..SETTLE_ITERATIONS {
        let mut state = TrainingState::default();
        Network::training(&manifest.critic, &manifest.sample_shape, "critic", &out, &mut state)
            .forward_recording(input.clone(), &mut state);
        out.extend(state.sn_vectors);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::presets::Architecture;
    use crate::train::params::{device_params, host_params};

    /// A tiny DCGAN's bundle and its weights on the CPU.
    fn tiny_gan() -> (crate::bundle::Bundle, DeviceParams) {
        let bundle = Architecture::Dcgan { latent: 4, width: 1, size: 8 }.init_bundle("t", 1);
        let params = device_params(&bundle.weights, &crate::device::cpu());
        (bundle, params)
    }

    fn values(t: &Tensor<1>) -> Vec<f32> {
        t.clone().into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn the_average_moves_by_one_minus_decay_and_covers_only_generator_weights() {
        let (_, params) = tiny_gan();
        let mut average = start(&params, averaged_network(false));
        assert!(!covers_critic(&average));
        assert!(average.keys().all(|k| k.starts_with("generator.")
            && !k.ends_with("running_mean")
            && !k.ends_with("running_var")));
        assert!(average.contains_key("generator.bn0.weight"));
        let name = "generator.fc.weight";
        let doubled: DeviceParams =
            params.iter().map(|(k, v)| (k.clone(), v.clone().mul_scalar(2.0))).collect();
        update(&mut average, &doubled, 0.9);
        for (a, w) in values(&average[name]).iter().zip(values(&params[name])) {
            assert!((a - 1.1 * w).abs() <= 1e-6 * w.abs().max(1e-3), "{a} vs 1.1·{w}");
        }
    }

    #[test]
    fn averaged_statistics_are_the_generators_own_batch_statistics() {
        let (bundle, params) = tiny_gan();
        let average = start(&params, averaged_network(false));
        // One batch: the running statistics are exactly that batch's mean and biased variance.
        let out = averaged_params(&bundle.manifest, &params, &average, 32, 1, 5);
        let z = Noise::at(5, Stream::Statistics, 0).normal(32 * 4, 1.0);
        let mut state = TrainingState::default();
        let generator =
            Network::training(&bundle.manifest.generator, &[4], "generator", &params, &mut state);
        generator.forward_recording(
            Tensor::<2>::from_data(TensorData::new(z, [32, 4]), &crate::device::cpu()),
            &mut state,
        );
        let (layer, mean, var, _) = state.batch_stats[0].clone();
        let close = |a: Vec<f32>, b: Vec<f32>| {
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-4 * (1.0 + y.abs()))
        };
        assert!(close(values(&out[&format!("{layer}.running_mean")]), values(&mean)));
        assert!(close(values(&out[&format!("{layer}.running_var")]), values(&var)));
        // Pooled over batches, the statistics are those of all their samples together.
        let pooled = averaged_params(&bundle.manifest, &params, &average, 16, 2, 5);
        let weights = host_params(&pooled, bundle.manifest.params());
        assert!(weights.values().all(|(_, v)| v.iter().all(|x| x.is_finite())));
        assert_ne!(
            values(&pooled[&format!("{layer}.running_mean")]),
            values(&params[&format!("{layer}.running_mean")])
        );
    }

    #[test]
    fn an_averaged_critic_ships_its_average_with_settled_spectral_norm_vectors() {
        let (bundle, params) = tiny_gan();
        let mut average = start(&params, averaged_network(true));
        assert!(covers_critic(&average) && average.keys().all(|k| is_trainable(k)));
        let doubled: DeviceParams =
            params.iter().map(|(k, v)| (k.clone(), v.clone().mul_scalar(2.0))).collect();
        update(&mut average, &doubled, 0.5);
        let out = critic_averaged_params(&bundle.manifest, &params, &average);
        assert_eq!(values(&out["critic.conv1.weight"]), values(&average["critic.conv1.weight"]));
        assert_eq!(values(&out["generator.fc.weight"]), values(&params["generator.fc.weight"]));
        // Settled: σ = ‖W v‖ from the shipped u is where many more power iterations take it,
        // which the initial vectors are not.
        let sigma = |weights: &DeviceParams, u_name: &str, iterations: usize| {
            let weight_name = u_name.replace(".u", ".weight");
            let (mut w, mut u) = (values(&weights[&weight_name]), values(&weights[u_name]));
            crate::model::spectral::normalise(&mut w, u.len(), &mut u, iterations)
        };
        let vectors: Vec<&String> =
            out.keys().filter(|k| k.starts_with("critic.") && k.ends_with(".u")).collect();
        assert!(vectors.len() > 1);
        let settled = |weights: &DeviceParams, u: &str| {
            (sigma(weights, u, 0) - sigma(weights, u, 1000)).abs() <= 1e-4 * sigma(weights, u, 1000)
        };
        assert!(vectors.iter().all(|u| settled(&out, u)));
        let raw: DeviceParams =
            params.iter().map(|(k, v)| (k.clone(), average.get(k).unwrap_or(v).clone())).collect();
        assert!(!vectors.iter().all(|u| settled(&raw, u)));
    }
}
