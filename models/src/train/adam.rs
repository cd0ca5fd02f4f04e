//! Adam as Burn's `Adam` computes it, its step on flex fused into one pass per parameter tensor
//! (`kernels::adam_step`) where the kernels apply, and Burn's own step everywhere else. Its
//! state is Burn's `AdamState`, so checkpoints are the same either way and resume across
//! versions and backends.

use burn::optim::{AdamConfig, AdamState, LearningRate, Optimizer};
use burn::prelude::*;

#[derive(Clone)]
pub(crate) struct Adam {
    burn: burn::optim::Adam,
    #[cfg_attr(not(feature = "flex"), allow(dead_code))]
    hyper: (f32, f32, f32),
}

impl Adam {
    pub(crate) fn new(beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        Adam {
            burn: AdamConfig::new()
                .with_beta_1(beta_1)
                .with_beta_2(beta_2)
                .with_epsilon(epsilon)
                .build(),
            hyper: (beta_1, beta_2, epsilon),
        }
    }
}

impl Optimizer for Adam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        learning_rate: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        #[cfg(feature = "flex")]
        if crate::kernels::adam_applies(&tensor, &grad, state.as_ref().map(|s| &s.momentum)) {
            let (beta_1, beta_2, epsilon) = self.hyper;
            let hyper = crate::kernels::AdamStep {
                beta_1,
                beta_2,
                epsilon,
                time: 0,
                learning_rate,
            };
            let (tensor, momentum) =
                crate::kernels::adam_step(tensor, grad, state.map(|s| s.momentum), hyper);
            return (tensor, Some(AdamState::new(momentum)));
        }
        self.burn.step(learning_rate, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        burn::optim::Adam::to_device(state, device)
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, ModuleOptimizer};

    use super::*;
    use crate::backend::BackendKind;

    fn burn_adam() -> ModuleOptimizer {
        AdamConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.999)
            .with_epsilon(1e-7)
            .init()
    }

    fn zoo_adam() -> ModuleOptimizer {
        ModuleOptimizer::from(Adam::new(0.9, 0.999, 1e-7))
    }

    /// A layer with odd sizes and the gradient of a fixed loss at it; steps at a large learning
    /// rate, so that every step moves every weight.
    fn step(optimizer: &mut ModuleOptimizer, layer: Linear, k: usize) -> Linear {
        let device = layer.devices()[0].clone();
        let x = Tensor::<2>::from_data(
            TensorData::new(
                (0..21)
                    .map(|i| ((i * (k + 3)) as f32).sin())
                    .collect::<Vec<_>>(),
                [3, 7],
            ),
            &device,
        );
        let loss = layer.forward(x).powf_scalar(2.0).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        optimizer.step(0.05, layer, grads)
    }

    fn weights(layer: &Linear) -> Vec<f32> {
        let mut values = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
        values.extend(
            layer
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
        values
    }

    #[test]
    fn the_fused_step_gives_burns_adam_to_the_bit_and_shares_its_checkpoints() {
        let device = BackendKind::Flex.device().unwrap().autodiff();
        device.seed(3);
        let layer = LinearConfig::new(7, 5).init(&device);
        let weight = layer.weight.val().inner();
        assert!(
            crate::kernels::adam_applies(&weight, &weight, None),
            "the fused step runs on flex"
        );
        let (mut burn, mut zoo) = (burn_adam(), zoo_adam());
        let (mut by_burn, mut by_zoo) = (layer.clone(), layer);
        for k in 0..4 {
            by_burn = step(&mut burn, by_burn, k);
            by_zoo = step(&mut zoo, by_zoo, k);
            assert_eq!(weights(&by_burn), weights(&by_zoo), "step {k}");
        }
        // The fused optimizer's state resumes in Burn's Adam, and the other way round.
        let (mut burn_resumed, mut zoo_resumed) = (
            burn_adam().load_record(zoo.to_record()),
            zoo_adam().load_record(burn.to_record()),
        );
        let after_burn = step(&mut burn_resumed, by_zoo.clone(), 4);
        let after_zoo = step(&mut zoo_resumed, by_burn, 4);
        assert_eq!(weights(&after_burn), weights(&after_zoo));
        assert_ne!(
            weights(&after_zoo),
            weights(&by_zoo),
            "the step moved the weights"
        );
    }

    #[cfg(feature = "ndarray")]
    #[test]
    fn the_fused_step_on_flex_follows_burns_adam_on_ndarray() {
        let flex = BackendKind::Flex.device().unwrap().autodiff();
        let ndarray = BackendKind::Ndarray.device().unwrap().autodiff();
        flex.seed(4);
        let on_flex = LinearConfig::new(7, 5).init(&flex);
        let mut on_ndarray = on_flex.clone().fork(&ndarray);
        let (mut fused, mut burn) = (zoo_adam(), burn_adam());
        let mut on_flex = on_flex;
        for k in 0..4 {
            on_flex = step(&mut fused, on_flex, k);
            on_ndarray = step(&mut burn, on_ndarray, k);
        }
        for (a, b) in weights(&on_flex).iter().zip(weights(&on_ndarray)) {
            assert!((a - b).abs() <= 1e-5, "{a} on flex, {b} on ndarray");
        }
    }
}
