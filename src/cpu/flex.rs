//! Between burn flex tensors and the plain slices the kernels work on.

use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

use crate::cpu::kernels;
use crate::cpu::pointwise::Pointwise;

/// A tensor whose storage is its values in order (a copy only when it is a view).
pub(super) fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() { t.clone() } else { t.to_contiguous() }
}

/// A contiguous gradient `grad` times a fused activation's derivative at its outputs `out`: in
/// place where `grad` holds its buffer alone (as one autodiff hands over does).
pub(super) fn through_activation(
    mut grad: FlexTensor,
    pointwise: Pointwise,
    out: &FlexTensor,
) -> FlexTensor {
    let len = values(&grad).len();
    if let Some(storage) = grad.try_storage_mut::<f32>().filter(|storage| storage.len() == len) {
        kernels::scale_by_derivative(pointwise, storage, values(out));
        return grad;
    }
    let mut scaled = values(&grad).to_vec();
    kernels::scale_by_derivative(pointwise, &mut scaled, values(out));
    FlexTensor::from_data(TensorData::new(scaled, grad.layout().shape().clone()))
}

pub(super) fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("direct convolutions take contiguous f32 tensors")
}
