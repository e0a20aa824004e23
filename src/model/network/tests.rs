use burn::tensor::module;

use burn::tensor::activation;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

use super::ops::Op;
use super::*;
use crate::model::spec::Layer;
use crate::rng::{Noise, Stream};

/// Weights drawn from U[low, high) from the test's seeded stream, so a failure reproduces.
fn uniform(noise: &mut Noise, shape: &[usize], (low, high): (f32, f32)) -> (Vec<usize>, Vec<f32>) {
    let values = noise.uniform(shape.iter().product());
    (shape.to_vec(), values.into_iter().map(|u| low + (high - low) * u).collect())
}

fn normal<const D: usize>(noise: &mut Noise, shape: [usize; D], device: &Device) -> Tensor<D> {
    let values = noise.normal(shape.iter().product(), 1.0);
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn tensor<const D: usize>((shape, values): &(Vec<usize>, Vec<f32>), device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device)
}

/// `network` gives what `one_by_one` gives at `x`: the output, and the gradient of
/// Σ seed ⊙ output with respect to the input, within 1e-5 of the largest value (or of 1).
fn assert_matches_one_by_one(
    network: &Network,
    one_by_one: &dyn Fn(Tensor<2>) -> Tensor<2>,
    x: Tensor<2>,
    seed: Tensor<2>,
) {
    let seed = seed.autodiff();
    let gradient = |f: &dyn Fn(Tensor<2>) -> Tensor<2>| {
        let x = x.clone().autodiff().require_grad();
        let y = f(x.clone());
        let grad =
            x.grad(&(y.clone() * seed.clone()).sum().backward()).expect("x requires a gradient");
        (y.without_autodiff(), grad)
    };
    let (got, got_grad) = gradient(&|x| network.forward_flat(x));
    let (want, want_grad) = gradient(one_by_one);
    for (got, want) in [(got, want), (got_grad, want_grad)] {
        let error = (got - want.clone()).abs().max().into_scalar::<f32>();
        let scale = want.abs().max().into_scalar::<f32>().max(1.0);
        assert!(error <= 1e-5 * scale, "max difference {error} (values up to {scale})");
    }
}

/// A batch norm folded into the convolution before it, and activations fused into their
/// convolutions' outputs (on the CPU kernels), give what the layers give one by one: the
/// output, and the gradient with respect to the input.
#[test]
fn folded_and_fused_layers_match_the_layers_one_by_one() {
    let device = Device::flex();
    let mut noise = Noise::new(0, Stream::Data);
    let layers: Vec<Layer> = serde_json::from_str(
        r#"[
            {"op": "conv_transpose2d", "name": "up", "inputs": 4, "outputs": 6, "kernel": 4, "stride": 2, "padding": 1},
            {"op": "batch_norm", "name": "bn", "channels": 6, "eps": 1e-5},
            {"op": "relu"},
            {"op": "conv2d", "name": "mid", "inputs": 6, "outputs": 5, "kernel": 3, "padding": 1},
            {"op": "leaky_relu", "slope": 0.2},
            {"op": "conv2d", "name": "out", "inputs": 5, "outputs": 3, "kernel": 3, "padding": 1},
            {"op": "tanh"}
        ]"#,
    )
    .expect("a valid spec");
    let lens: Vec<usize> = [0, 3, 5].iter().map(|&i| fused_len(&layers[i..], &device)).collect();
    assert_eq!(lens, [3, 2, 2], "each convolution takes its batch norm and activation");

    // Weights small enough that the tanh does not saturate (its gradient then says little).
    let mut weights = HostWeights::new();
    let (small, variance) = ((-0.3, 0.3), (0.5, 1.5));
    for (name, shape, range) in [
        ("up.weight", vec![4, 6, 4, 4], small),
        ("up.bias", vec![6], small),
        ("bn.weight", vec![6], small),
        ("bn.bias", vec![6], small),
        ("bn.running_mean", vec![6], small),
        ("bn.running_var", vec![6], variance),
        ("mid.weight", vec![5, 6, 3, 3], small),
        ("mid.bias", vec![5], small),
        ("out.weight", vec![3, 5, 3, 3], small),
        ("out.bias", vec![3], small),
    ] {
        weights.insert(format!("g.{name}"), uniform(&mut noise, &shape, range));
    }
    let network = Network::build(&NetworkSpec { layers }, &[4, 5, 5], "g", &weights, 0, &device);
    let w = |name: &str| weights[&format!("g.{name}")].clone();
    let channel = |name: &str| tensor::<1>(&w(name), &device).unsqueeze_dims::<4>(&[0, 2, 3]);
    let one_by_one = |x: Tensor<4>| {
        let y = module::conv_transpose2d(
            x,
            tensor(&w("up.weight"), &device),
            Some(tensor(&w("up.bias"), &device)),
            ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1),
        );
        let y = (y - channel("bn.running_mean"))
            / channel("bn.running_var").add_scalar(1e-5).sqrt()
            * channel("bn.weight")
            + channel("bn.bias");
        let y = module::conv2d(
            activation::relu(y),
            tensor(&w("mid.weight"), &device),
            Some(tensor(&w("mid.bias"), &device)),
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        );
        let y = module::conv2d(
            activation::leaky_relu(y, 0.2),
            tensor(&w("out.weight"), &device),
            Some(tensor(&w("out.bias"), &device)),
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        );
        activation::tanh(y).flatten::<2>(1, 3)
    };

    let x = normal(&mut noise, [3, 4 * 5 * 5], &device);
    let seed = normal(&mut noise, [3, 3 * 10 * 10], &device);
    assert_matches_one_by_one(&network, &|x| one_by_one(x.reshape([3, 4, 5, 5])), x, seed);
}

/// On the CPU a ReLU joins the convolution after it, and a residual block whose branch ends
/// in a convolution adds its skip in that convolution (its scale folded into the weights):
/// the text networks' blocks, and one ending in an activation, match the layers one by one.
#[test]
fn residual_blocks_fuse_and_match_the_layers_one_by_one() {
    let device = Device::flex();
    let mut noise = Noise::new(0, Stream::Data);
    let block = r#"{"op": "residual", "scale": 0.3, "layers": [
            {"op": "relu"},
            {"op": "conv1d", "name": "a", "inputs": 8, "outputs": 8, "kernel": 5, "padding": 2},
            {"op": "relu"},
            {"op": "conv1d", "name": "b", "inputs": 8, "outputs": 8, "kernel": 5, "padding": 2}
        ]}"#;
    let layers: Vec<Layer> = serde_json::from_str(&format!(
        r#"[
            {{"op": "conv1d", "name": "in", "inputs": 3, "outputs": 8, "kernel": 1, "padding": 0}},
            {block},
            {{"op": "residual", "scale": 0.5, "layers": [
                {{"op": "conv1d", "name": "c", "inputs": 8, "outputs": 8, "kernel": 3, "padding": 1}},
                {{"op": "tanh"}}
            ]}}
        ]"#
    ))
    .expect("a valid spec");
    let Layer::Residual { layers: inner, .. } = &layers[1] else {
        unreachable!("the block is a residual")
    };
    let lens: Vec<usize> = [0, 2].iter().map(|&i| fused_len(&inner[i..], &device)).collect();
    assert_eq!(lens, [3, 2], "a ReLU joins the convolution after it");

    let mut weights = HostWeights::new();
    for (name, shape) in [
        ("in.weight", vec![8, 3, 1]),
        ("in.bias", vec![8]),
        ("a.weight", vec![8, 8, 5]),
        ("a.bias", vec![8]),
        ("b.weight", vec![8, 8, 5]),
        ("b.bias", vec![8]),
        ("c.weight", vec![8, 8, 3]),
        ("c.bias", vec![8]),
    ] {
        weights.insert(format!("d.{name}"), uniform(&mut noise, &shape, (-0.3, 0.3)));
    }
    let network = Network::build(&NetworkSpec { layers }, &[3, 32], "d", &weights, 0, &device);
    assert!(
        matches!(&network.ops[1..], [Op::ConvResidual { .. }, Op::Residual { .. }]),
        "the first block's skip is fused, the second's is not"
    );
    let conv = |x: Tensor<3>, name: &str, padding: usize| {
        let (w, b) = (
            tensor(&weights[&format!("d.{name}.weight")], &device),
            tensor(&weights[&format!("d.{name}.bias")], &device),
        );
        module::conv1d(x, w, Some(b), ConvOptions::new([1], [padding], [1], 1))
    };
    let one_by_one = |x: Tensor<3>| {
        let y = conv(x, "in", 0);
        let y = y.clone()
            + conv(activation::relu(conv(activation::relu(y), "a", 2)), "b", 2).mul_scalar(0.3);
        let y = y.clone() + activation::tanh(conv(y, "c", 1)).mul_scalar(0.5);
        y.flatten::<2>(1, 2)
    };
    let x = normal(&mut noise, [5, 3 * 32], &device);
    let seed = normal(&mut noise, [5, 8 * 32], &device);
    assert_matches_one_by_one(&network, &|x| one_by_one(x.reshape([5, 3, 32])), x, seed);
}

/// On the CPU a linear layer takes the activation after it, and the MLP gives what its
/// layers give one by one: the output and the input gradient.
#[test]
fn linear_layers_fuse_their_activations_and_match_the_layers_one_by_one() {
    let device = Device::flex();
    let mut noise = Noise::new(0, Stream::Data);
    let layers: Vec<Layer> = serde_json::from_str(
        r#"[
            {"op": "linear", "name": "fc1", "inputs": 2, "outputs": 48},
            {"op": "leaky_relu", "slope": 0.2},
            {"op": "linear", "name": "fc2", "inputs": 48, "outputs": 40},
            {"op": "relu"},
            {"op": "linear", "name": "out", "inputs": 40, "outputs": 1}
        ]"#,
    )
    .expect("a valid spec");
    let lens: Vec<usize> = [0, 2, 4].iter().map(|&i| fused_len(&layers[i..], &device)).collect();
    assert_eq!(lens, [2, 2, 1], "each linear layer takes the activation after it");

    let mut weights = HostWeights::new();
    for (name, shape) in [
        ("fc1.weight", vec![48, 2]),
        ("fc1.bias", vec![48]),
        ("fc2.weight", vec![40, 48]),
        ("fc2.bias", vec![40]),
        ("out.weight", vec![1, 40]),
        ("out.bias", vec![1]),
    ] {
        weights.insert(format!("d.{name}"), uniform(&mut noise, &shape, (-0.5, 0.5)));
    }
    let network = Network::build(&NetworkSpec { layers }, &[2], "d", &weights, 0, &device);
    let w = |name: &str| tensor::<2>(&weights[&format!("d.{name}.weight")], &device).transpose();
    let b = |name: &str| tensor::<1>(&weights[&format!("d.{name}.bias")], &device).unsqueeze::<2>();
    let one_by_one = |x: Tensor<2>| {
        let y = activation::leaky_relu(x.matmul(w("fc1")) + b("fc1"), 0.2);
        let y = activation::relu(y.matmul(w("fc2")) + b("fc2"));
        y.matmul(w("out")) + b("out")
    };
    let x = normal(&mut noise, [70, 2], &device);
    // The gradient of the outputs' sum.
    assert_matches_one_by_one(&network, &one_by_one, x, Tensor::ones([70, 1], &device));
}

/// SN-ResNet-GAN's blocks: a generator block (batch norm, ReLU, ×2 nearest upsampling,
/// convolutions, beside an upsampling 1×1-convolution shortcut, its skip fused into the last
/// convolution), a discriminator block (ending in 2×2 average pooling, beside a 1×1 convolution
/// and pooling) and global sum pooling give what the layers give one by one, written here
/// with reshapes (nearest upsampling as repetition, pooling as a mean over windows): the output
/// and the input gradient.
#[test]
fn resnet_blocks_with_shortcuts_upsampling_and_pooling_match_the_layers_one_by_one() {
    let device = Device::flex();
    let mut noise = Noise::new(0, Stream::Data);
    let layers: Vec<Layer> = serde_json::from_str(
        r#"[
            {"op": "residual", "layers": [
                {"op": "batch_norm", "name": "bn", "channels": 4},
                {"op": "relu"},
                {"op": "upsample2d", "factor": 2},
                {"op": "conv2d", "name": "g1", "inputs": 4, "outputs": 4, "kernel": 3, "padding": 1},
                {"op": "relu"},
                {"op": "conv2d", "name": "g2", "inputs": 4, "outputs": 4, "kernel": 3, "padding": 1}
            ], "shortcut": [
                {"op": "upsample2d", "factor": 2},
                {"op": "conv2d", "name": "gs", "inputs": 4, "outputs": 4, "kernel": 1}
            ]},
            {"op": "residual", "layers": [
                {"op": "relu"},
                {"op": "conv2d", "name": "d1", "inputs": 4, "outputs": 6, "kernel": 3, "padding": 1},
                {"op": "relu"},
                {"op": "conv2d", "name": "d2", "inputs": 6, "outputs": 6, "kernel": 3, "padding": 1},
                {"op": "avg_pool2d", "kernel": 2}
            ], "shortcut": [
                {"op": "conv2d", "name": "ds", "inputs": 4, "outputs": 6, "kernel": 1},
                {"op": "avg_pool2d", "kernel": 2}
            ]},
            {"op": "relu"},
            {"op": "global_sum_pool"},
            {"op": "linear", "name": "out", "inputs": 6, "outputs": 2}
        ]"#,
    )
    .expect("a valid spec");
    let spec = NetworkSpec { layers };
    assert_eq!(spec.output_shape(&[4, 3, 5]).unwrap(), [2]);
    let mut weights = HostWeights::new();
    let convs = [
        ("g1", 4, 4, 3),
        ("g2", 4, 4, 3),
        ("gs", 4, 4, 1),
        ("d1", 6, 4, 3),
        ("d2", 6, 6, 3),
        ("ds", 6, 4, 1),
    ];
    for (name, cout, cin, k) in convs {
        weights.insert(
            format!("n.{name}.weight"),
            uniform(&mut noise, &[cout, cin, k, k], (-0.3, 0.3)),
        );
        weights.insert(format!("n.{name}.bias"), uniform(&mut noise, &[cout], (-0.1, 0.1)));
    }
    weights.insert("n.out.weight".into(), uniform(&mut noise, &[2, 6], (-0.3, 0.3)));
    weights.insert("n.out.bias".into(), uniform(&mut noise, &[2], (-0.1, 0.1)));
    for (field, range) in [
        ("weight", (0.5, 1.5)),
        ("bias", (-0.2, 0.2)),
        ("running_mean", (-0.2, 0.2)),
        ("running_var", (0.5, 1.5)),
    ] {
        weights.insert(format!("n.bn.{field}"), uniform(&mut noise, &[4], range));
    }
    let network = Network::build(&spec, &[4, 3, 5], "n", &weights, 0, &device);
    assert!(
        matches!(&network.ops[..2], [Op::ConvResidual { .. }, Op::Residual { .. }]),
        "the generator block's shortcut is added in its last convolution"
    );
    let w = |name: &str| tensor::<4>(&weights[&format!("n.{name}.weight")], &device);
    let b = |name: &str| tensor::<1>(&weights[&format!("n.{name}.bias")], &device);
    let conv = |x: Tensor<4>, name: &str, padding: usize| {
        module::conv2d(x, w(name), Some(b(name)), ConvOptions::new([1, 1], [padding; 2], [1, 1], 1))
    };
    let upsample = |x: Tensor<4>| {
        let [n, c, h, wd] = x.dims();
        x.reshape([n, c, h, 1, wd, 1]).expand([n, c, h, 2, wd, 2]).reshape([n, c, 2 * h, 2 * wd])
    };
    let pool = |x: Tensor<4>| {
        let [n, c, h, wd] = x.dims();
        x.reshape([n, c, h / 2, 2, wd / 2, 2]).mean_dim(5).mean_dim(3).reshape([
            n,
            c,
            h / 2,
            wd / 2,
        ])
    };
    let vec =
        |name: &str| tensor::<1>(&weights[&format!("n.bn.{name}")], &device).reshape([1, 4, 1, 1]);
    let bn = |x: Tensor<4>| {
        (x - vec("running_mean")) / vec("running_var").add_scalar(1e-5).sqrt() * vec("weight")
            + vec("bias")
    };
    let one_by_one = |x: Tensor<4>| {
        let g = conv(
            activation::relu(conv(upsample(activation::relu(bn(x.clone()))), "g1", 1)),
            "g2",
            1,
        );
        let x = g + conv(upsample(x), "gs", 0);
        let d = pool(conv(activation::relu(conv(activation::relu(x.clone()), "d1", 1)), "d2", 1));
        let x = d + pool(conv(x, "ds", 0));
        let [n, c, h, wd] = x.dims();
        let pooled = activation::relu(x).reshape([n, c, h * wd]).sum_dim(2).reshape([n, c]);
        pooled.matmul(tensor::<2>(&weights["n.out.weight"], &device).transpose())
            + b("out").unsqueeze()
    };
    let x = normal(&mut noise, [3, 4 * 3 * 5], &device);
    let seed = normal(&mut noise, [3, 2], &device);
    assert_matches_one_by_one(&network, &|x| one_by_one(x.reshape([3, 4, 3, 5])), x, seed);
}
