//! Adam as Burn's `Adam` computes it, its step on flex fused into one pass per parameter tensor
//! (`kernels::adam_step`) where the kernels apply, lazily on the rows a batch touches for a
//! sparse layer's weight (`kernels::row_sparse_updates`), and Burn's own step everywhere else. Its
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
        {
            let (beta_1, beta_2, epsilon) = self.hyper;
            let hyper = crate::kernels::AdamStep {
                beta_1,
                beta_2,
                epsilon,
                time: 0,
                learning_rate,
            };
            // A sparse layer's weight inside `kernels::row_sparse_updates`: lazy Adam.
            if let Some(rows) = crate::kernels::take_row_gradient(&grad) {
                let momentum = state.map(|s| s.momentum);
                let (tensor, momentum) =
                    crate::kernels::adam_step_rows(tensor, rows, momentum, hyper);
                return (tensor, Some(AdamState::new(momentum)));
            }
            if crate::kernels::adam_applies(&tensor, &grad, state.as_ref().map(|s| &s.momentum)) {
                let (tensor, momentum) =
                    crate::kernels::adam_step(tensor, grad, state.map(|s| s.momentum), hyper);
                return (tensor, Some(AdamState::new(momentum)));
            }
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

    /// One Adam step of `layer` on sparse rows (30 terms), the loss the outputs' squared sum;
    /// lazy inside `kernels::row_sparse_updates`.
    fn sparse_step(
        optimizer: &mut ModuleOptimizer,
        layer: Linear,
        rows: &[&[(u32, f32)]],
        lazy: bool,
    ) -> Linear {
        let device = layer.devices()[0].clone();
        let mut batch = crate::sparse::SparseBatch::new(30);
        for row in rows {
            batch.push_row(row.iter().copied());
        }
        let update = || {
            let out = crate::sparse::linear(&layer, batch.to_device(&device));
            let grads = GradientsParams::from_grads(out.powf_scalar(2.0).sum().backward(), &layer);
            optimizer.step(0.05, layer.clone(), grads)
        };
        if lazy {
            crate::kernels::row_sparse_updates(update)
        } else {
            update()
        }
    }

    fn weight_row(layer: &Linear, row: usize) -> Vec<f32> {
        let values = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let width = layer.weight.dims()[1];
        values[row * width..(row + 1) * width].to_vec()
    }

    #[test]
    fn sparse_rows_take_lazy_adam_steps() {
        let device = BackendKind::Flex.device().unwrap().autodiff();
        device.seed(5);
        let layer = LinearConfig::new(30, 4).init(&device);
        // Terms 1, 7 and 9, then 7 and 20.
        let first: [&[(u32, f32)]; 2] = [&[(1, 0.5), (7, 1.0)], &[(9, -2.0), (7, 0.25)]];
        let second: [&[(u32, f32)]; 1] = [&[(7, 1.5), (20, -1.0)]];
        let (mut lazy, mut dense) = (zoo_adam(), zoo_adam());
        let lazy_1 = sparse_step(&mut lazy, layer.clone(), &first, true);
        let dense_1 = sparse_step(&mut dense, layer.clone(), &first, false);
        // The first step is Adam's: rows without gradient have no momentum yet.
        assert_eq!(weights(&lazy_1), weights(&dense_1));
        assert_ne!(weight_row(&lazy_1, 9), weight_row(&layer, 9), "row 9 moved");
        let lazy_2 = sparse_step(&mut lazy, lazy_1.clone(), &second, true);
        let dense_2 = sparse_step(&mut dense, dense_1, &second, false);
        for row in 0..30 {
            let (lazily, densely) = (weight_row(&lazy_2, row), weight_row(&dense_2, row));
            if row == 1 || row == 9 {
                // In the first batch, not in the second: dense Adam goes on moving them by
                // their momentum; lazy Adam leaves them (and their moments) alone.
                assert_eq!(lazily, weight_row(&lazy_1, row), "row {row}");
                assert_ne!(densely, lazily, "row {row}");
            } else {
                // In the second batch (7, 20: the same moments either way) or in neither.
                assert_eq!(lazily, densely, "row {row}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "row-sparse gradients the optimizer did not apply")]
    fn a_row_sparse_gradient_nothing_applies_is_an_error() {
        let device = BackendKind::Flex.device().unwrap().autodiff();
        let layer = LinearConfig::new(30, 4).init(&device);
        let mut batch = crate::sparse::SparseBatch::new(30);
        batch.push_row([(3, 1.0)]);
        crate::kernels::row_sparse_updates(|| {
            let out = crate::sparse::linear(&layer, batch.to_device(&device));
            // Gradients computed and dropped: no optimizer took the sparse rows.
            drop(out.sum().backward());
        });
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
