//! `kernels::set_enabled` acts on the whole process, so it is tested in a process of its own.
#![cfg(feature = "flex")]

use burn::prelude::*;
use zoo_models::backend::BackendKind;
use zoo_models::cnn::SmallCnnConfig;
use zoo_models::kernels;

#[test]
fn switched_off_the_kernels_leave_the_cnn_to_burns_layers() {
    let device = BackendKind::Flex.device().unwrap();
    let cnn = SmallCnnConfig::new(1, 8, 8, 3).init(&device);
    let image = Tensor::<4>::random([2, 1, 8, 8], burn::tensor::Distribution::Default, &device);
    let conv = &cnn.blocks[0].conv;
    assert!(kernels::enabled(), "on by default");
    assert!(kernels::conv_block(conv, &image).is_some());
    let with_kernels = cnn.forward(image.clone().flatten(1, 3));

    kernels::set_enabled(false);
    assert!(kernels::conv_block(conv, &image).is_none());
    assert!(kernels::max_pool2x2(&image).is_none());
    let with_layers = cnn.forward(image.clone().flatten(1, 3));
    let difference = (with_kernels - with_layers)
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(difference < 1e-5, "the two paths differ by {difference}");

    kernels::set_enabled(true);
    assert!(kernels::conv_block(conv, &image).is_some());
}
