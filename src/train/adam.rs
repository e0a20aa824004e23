//! Adam (Kingma & Ba 2015) on flat device tensors, with its state exposed for checkpoints.

use std::collections::BTreeMap;

use burn::prelude::*;

#[derive(Debug, Clone)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Steps taken, for bias correction.
    pub t: u64,
    /// First and second moments by parameter name.
    pub moments: BTreeMap<String, (Tensor<1>, Tensor<1>)>,
}

impl Adam {
    pub fn new(lr: f32, beta1: f32, beta2: f32) -> Adam {
        Adam { lr, beta1, beta2, eps: 1e-8, t: 0, moments: BTreeMap::new() }
    }

    /// One step: returns the updated parameter (without autodiff) for `name`.
    pub fn update(&mut self, name: &str, param: Tensor<1>, grad: Tensor<1>) -> Tensor<1> {
        let (m, v) =
            self.moments.remove(name).unwrap_or_else(|| (grad.zeros_like(), grad.zeros_like()));
        let m = m.mul_scalar(self.beta1) + grad.clone().mul_scalar(1.0 - self.beta1);
        let v = v.mul_scalar(self.beta2) + grad.square().mul_scalar(1.0 - self.beta2);
        let t = (self.t + 1) as i32;
        let m_hat = m.clone().div_scalar(1.0 - self.beta1.powi(t));
        let v_hat = v.clone().div_scalar(1.0 - self.beta2.powi(t));
        self.moments.insert(name.to_string(), (m, v));
        param.without_autodiff() - m_hat.div(v_hat.sqrt().add_scalar(self.eps)).mul_scalar(self.lr)
    }

    /// Call once after updating every parameter of a step.
    pub fn finish_step(&mut self) {
        self.t += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_a_quadratic() {
        let device = crate::device::cpu();
        let mut adam = Adam::new(0.1, 0.9, 0.999);
        let mut x = Tensor::<1>::from_data(TensorData::new(vec![3.0f32, -2.0], [2]), &device);
        for _ in 0..300 {
            let grad = x.clone().mul_scalar(2.0); // ∇‖x‖²
            x = adam.update("x", x.clone(), grad);
            adam.finish_step();
        }
        let v = x.into_data().try_into_vec::<f32>().unwrap();
        assert!(v.iter().all(|a| a.abs() < 1e-2), "{v:?}");
    }
}
