use burn::tensor::activation;
use burn::tensor::module::{conv_transpose2d as burn_conv_transpose2d, conv2d as burn_conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

use super::*;
use crate::cpu::Ops;
use crate::cpu::test_support::{
    Activation, Draws, activations, assert_close, assert_matches_with_all_gradients, host,
};

/// The input gradient of Σ r ⊙ f(x), r random, on the autodiff CPU device.
fn input_gradient(
    x: &Tensor<4>,
    f: impl Fn(Tensor<4>) -> Tensor<4>,
    seed: &Tensor<4>,
) -> Tensor<4> {
    let x = x.clone().autodiff().require_grad();
    let y = f(x.clone());
    let weighted = (y * seed.clone().autodiff()).sum();
    x.grad(&weighted.backward()).expect("x requires a gradient")
}

#[test]
fn conv2d_and_its_input_gradient_match_burns() {
    let device = Device::flex();
    let mut draws = Draws::new(0, &device);
    assert!(Ops::on(&device).is_some() && Ops::on(&device.clone().autodiff()).is_some());
    // The bundled critic's stride-2 4×4 layer, a 3×3 layer, one off every block size, and a
    // stride-1 layer with 16-wide rows (the row kernel: whole vectors of positions).
    let shapes = [
        ([2, 8, 8, 8], 16, 4, 2, 1),
        ([3, 3, 9, 9], 32, 3, 1, 1),
        ([1, 5, 7, 6], 35, 3, 2, 0),
        ([2, 4, 16, 16], 3, 3, 1, 1),
    ];
    for ((x_shape, o, k, stride, padding), (pointwise, activation)) in
        shapes.into_iter().flat_map(|shape| activations().map(|a| (shape, a)))
    {
        let x = draws.normal(x_shape);
        let (weight, bias) = (draws.normal([o, x_shape[1], k, k]), draws.normal([o]));
        let packed =
            PackedConv::conv2d(&host(&weight), weight.dims(), [stride; 2], pointwise, &device);
        let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
        let ours = |x: Tensor<4>| conv2d(x, &packed, bias.clone(), None, [stride; 2], [padding; 2]);
        let burns = |x: Tensor<4>| {
            activation(burn_conv2d(x, weight.clone(), Some(bias.clone()), options.clone()))
        };
        let want = burns(x.clone());
        assert_close(ours(x.clone()), want.clone());
        let seed = draws.normal(want.dims());
        assert_close(input_gradient(&x, ours, &seed), input_gradient(&x, burns, &seed));
    }
}

/// A ReLU on the input, with an activation after or a residual added (a residual block's
/// layers), against burn's ops one by one: the output, and the gradients of Σ r ⊙ f for the
/// input and the residual.
#[test]
fn relu_before_and_residual_after_match_burns() {
    let device = Device::flex();
    let mut draws = Draws::new(0, &device);
    // The row kernel (16-wide rows, the text model's 1×5 kernels) and the channel kernel.
    for (x_shape, k, padding) in [([3, 8, 1, 32], [1, 5], [0, 2]), ([2, 6, 5, 5], [3, 3], [1, 1])] {
        let o = x_shape[1];
        let (x, skip) = (draws.normal(x_shape), draws.normal(x_shape));
        let (weight, bias) = (draws.normal([o, o, k[0], k[1]]), draws.normal([o]));
        let options = ConvOptions::new([1, 1], padding, [1, 1], 1);
        let burns = |x: Tensor<4>, skip: Option<Tensor<4>>, after: Activation| {
            let out = after(burn_conv2d(
                activation::relu(x),
                weight.clone(),
                Some(bias.clone()),
                options.clone(),
            ));
            skip.map_or(out.clone(), |s| out + s)
        };
        for (pointwise, after) in activations::<4>() {
            let packed =
                PackedConv::conv2d(&host(&weight), weight.dims(), [1, 1], pointwise, &device)
                    .after_relu();
            let ours = |x: Tensor<4>| conv2d(x, &packed, bias.clone(), None, [1, 1], padding);
            let want = burns(x.clone(), None, after);
            assert_close(ours(x.clone()), want.clone());
            let seed = draws.normal(want.dims());
            assert_close(
                input_gradient(&x, ours, &seed),
                input_gradient(&x, |x| burns(x, None, after), &seed),
            );
        }
        let packed =
            PackedConv::conv2d(&host(&weight), weight.dims(), [1, 1], Pointwise::Identity, &device)
                .after_relu();
        let ours = |x: Tensor<4>, skip: Tensor<4>| {
            conv2d(x, &packed, bias.clone(), Some(skip), [1, 1], padding)
        };
        let want = burns(x.clone(), Some(skip.clone()), |t| t);
        assert_close(ours(x.clone(), skip.clone()), want.clone());
        let seed = draws.normal(want.dims()).autodiff();
        let gradients = |f: &dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>| {
            let (x, skip) =
                (x.clone().autodiff().require_grad(), skip.clone().autodiff().require_grad());
            let grads = (f(x.clone(), skip.clone()) * seed.clone()).sum().backward();
            (x.grad(&grads).expect("x"), skip.grad(&grads).expect("skip"))
        };
        let (got, want) = (gradients(&ours), gradients(&|x, skip| burns(x, Some(skip), |t| t)));
        assert_close(got.0, want.0);
        assert_close(got.1, want.1);
    }
}

/// the weight and the bias (the activation's derivative scales all three).
/// Each geometry with each fused activation: the output and the gradients for the input,
/// the weight and the bias (the activation's derivative scales all three).
#[test]
fn trained_convolutions_and_all_their_gradients_match_burns() {
    let device = Device::flex();
    let mut draws = Draws::new(0, &device);
    let shapes =
        [([2, 8, 8, 8], 16, 4, 2, 1), ([3, 3, 9, 9], 32, 3, 1, 1), ([1, 5, 7, 6], 35, 3, 2, 0)];
    for ((x_shape, o, k, stride, padding), (pointwise, activation)) in
        shapes.into_iter().flat_map(|shape| activations().map(|a| (shape, a)))
    {
        let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
        assert_matches_with_all_gradients(
            draws.normal(x_shape),
            draws.normal([o, x_shape[1], k, k]),
            draws.normal([o]),
            |x, w, b| conv2d_trained(x, w, b, [stride; 2], [padding; 2], pointwise),
            |x, w, b| activation(burn_conv2d(x, w, Some(b), options.clone())),
        );
    }
    let shapes = [
        ([2, 16, 4, 4], 8, 4, 2, 1, 0),
        ([1, 6, 5, 3], 19, 3, 2, 1, 1),
        ([2, 4, 3, 3], 33, 3, 1, 1, 0),
    ];
    for (([n, c, h, w], o, k, stride, padding, output_padding), (pointwise, activation)) in
        shapes.into_iter().flat_map(|shape| activations().map(|a| (shape, a)))
    {
        let options =
            ConvTransposeOptions::new([stride; 2], [padding; 2], [output_padding; 2], [1, 1], 1);
        let size = |input: usize| (input - 1) * stride + k + output_padding - 2 * padding;
        assert_matches_with_all_gradients(
            draws.normal([n, c, h, w]),
            draws.normal([c, o, k, k]),
            draws.normal([o]),
            |x, wt, b| {
                conv_transpose2d_trained(
                    x,
                    wt,
                    b,
                    [stride; 2],
                    [padding; 2],
                    [size(h), size(w)],
                    pointwise,
                )
            },
            |x, wt, b| activation(burn_conv_transpose2d(x, wt, Some(b), options.clone())),
        );
    }
}

#[test]
fn conv_transpose2d_and_its_input_gradient_match_burns() {
    let device = Device::flex();
    let mut draws = Draws::new(0, &device);
    // The bundled generator's upsampling layers' geometry, with and without output padding.
    let shapes = [
        ([2, 16, 4, 4], 8, 4, 2, 1, 0),
        ([1, 6, 5, 3], 19, 3, 2, 1, 1),
        ([2, 4, 3, 3], 33, 3, 1, 1, 0),
    ];
    for ((x_shape, o, k, stride, padding, output_padding), (pointwise, activation)) in
        shapes.into_iter().flat_map(|shape| activations().map(|a| (shape, a)))
    {
        let x = draws.normal(x_shape);
        let (weight, bias) = (draws.normal([x_shape[1], o, k, k]), draws.normal([o]));
        let options =
            ConvTransposeOptions::new([stride; 2], [padding; 2], [output_padding; 2], [1, 1], 1);
        let burns = |x: Tensor<4>| {
            activation(burn_conv_transpose2d(
                x,
                weight.clone(),
                Some(bias.clone()),
                options.clone(),
            ))
        };
        let want = burns(x.clone());
        let [_, _, ho, wo] = want.dims();
        let packed = PackedConv::conv_transpose2d(
            &host(&weight),
            weight.dims(),
            [stride; 2],
            pointwise,
            &device,
        );
        let ours = |x: Tensor<4>| {
            conv_transpose2d(x, &packed, bias.clone(), [stride; 2], [padding; 2], [ho, wo])
        };
        assert_close(ours(x.clone()), want.clone());
        let seed = draws.normal(want.dims());
        assert_close(input_gradient(&x, ours, &seed), input_gradient(&x, burns, &seed));
    }
}
