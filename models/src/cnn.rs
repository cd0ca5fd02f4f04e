//! A small convolutional network: 2–3 blocks of conv 3×3 ("same" padding) → ReLU → max-pool 2×2,
//! then a dense head. Works for any channels × height × width of at least 8×8: 28×28 digits,
//! 8×8 digits, 13×40 MFCC matrices.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

use crate::batch::Inputs;
use crate::config::{ConfigError, ensure};
use crate::conv;
use crate::summary::{LayerSummary, Summary};

#[derive(Config, Debug, PartialEq)]
pub struct SmallCnnConfig {
    /// Input channels (1 for grayscale, 3 for RGB).
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Width of the output layer (one logit per class, or 1 for a binary task).
    pub n_outputs: usize,
    /// Output channels of each conv block; two or three blocks.
    #[config(default = "vec![16, 32]")]
    pub conv_channels: Vec<usize>,
    /// Width of the dense layer between the conv blocks and the output.
    #[config(default = 128)]
    pub hidden: usize,
    /// Dropout probability before the output layer; 0 disables it.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// One conv block: conv 3×3 with "same" padding, ReLU, max-pool 2×2.
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub conv: Conv2d,
    pub activation: Relu,
    pub pool: MaxPool2d,
}

#[derive(Module, Debug)]
pub struct SmallCnn {
    pub blocks: Vec<ConvBlock>,
    pub hidden: Linear,
    pub activation: Relu,
    pub dropout: Dropout,
    pub output: Linear,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl SmallCnnConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(self.channels > 0, "cnn: channels must be at least 1")?;
        ensure(
            self.height >= 8 && self.width >= 8,
            format!(
                "cnn: input must be at least 8x8, got {}x{}",
                self.height, self.width
            ),
        )?;
        ensure(
            (2..=3).contains(&self.conv_channels.len()),
            format!("cnn: 2 or 3 conv blocks, got {}", self.conv_channels.len()),
        )?;
        ensure(
            !self.conv_channels.contains(&0),
            "cnn: conv channels must be at least 1",
        )?;
        ensure(self.hidden > 0, "cnn: hidden size must be at least 1")?;
        ensure(self.n_outputs > 0, "cnn: n_outputs must be at least 1")?;
        ensure(
            (0.0..1.0).contains(&self.dropout),
            format!("cnn: dropout must be in [0, 1), got {}", self.dropout),
        )
    }

    /// Number of input features: the flattened channels × height × width.
    pub fn n_inputs(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// `[channels, height, width]` after each block.
    fn block_shapes(&self) -> Vec<[usize; 3]> {
        let (mut h, mut w) = (self.height, self.width);
        self.conv_channels
            .iter()
            .map(|&c| {
                (h, w) = (h / 2, w / 2);
                [c, h, w]
            })
            .collect()
    }

    fn flat_size(&self) -> usize {
        let last =
            self.block_shapes()
                .last()
                .copied()
                .unwrap_or([self.channels, self.height, self.width]);
        last.iter().product()
    }

    pub fn init(&self, device: &Device) -> SmallCnn {
        let ins = std::iter::once(self.channels).chain(self.conv_channels.iter().copied());
        let blocks = ins
            .zip(self.conv_channels.iter().copied())
            .map(|(i, o)| ConvBlock {
                conv: Conv2dConfig::new([i, o], [3, 3])
                    .with_padding(PaddingConfig2d::Same)
                    .init(device),
                activation: Relu::new(),
                pool: MaxPool2dConfig::new([2, 2]).init(),
            })
            .collect();
        SmallCnn {
            blocks,
            hidden: LinearConfig::new(self.flat_size(), self.hidden).init(device),
            activation: Relu::new(),
            dropout: DropoutConfig::new(self.dropout).init(),
            output: LinearConfig::new(self.hidden, self.n_outputs).init(device),
            channels: self.channels,
            height: self.height,
            width: self.width,
        }
    }

    pub fn summary(&self) -> Summary {
        let mut layers = Vec::new();
        let mut in_channels = self.channels;
        let (mut h, mut w) = (self.height, self.width);
        for (k, [c, ph, pw]) in self.block_shapes().into_iter().enumerate() {
            layers.push(LayerSummary::new(
                &format!("blocks.{k}.conv"),
                "Conv2d 3x3 same + ReLU",
                vec![c, h, w],
                in_channels * c * 9 + c,
            ));
            layers.push(LayerSummary::parameterless(
                &format!("blocks.{k}.pool"),
                "MaxPool2d 2x2",
                vec![c, ph, pw],
            ));
            (in_channels, h, w) = (c, ph, pw);
        }
        layers.push(LayerSummary::parameterless(
            "flatten",
            "Flatten",
            vec![self.flat_size()],
        ));
        layers.push(LayerSummary::dense("hidden", self.flat_size(), self.hidden));
        layers.push(LayerSummary::parameterless(
            "relu",
            "Activation",
            vec![self.hidden],
        ));
        if self.dropout > 0.0 {
            layers.push(LayerSummary::parameterless(
                &format!("dropout({})", self.dropout),
                "Dropout",
                vec![self.hidden],
            ));
        }
        layers.push(LayerSummary::dense("output", self.hidden, self.n_outputs));
        Summary::new(
            "SmallCnn",
            vec![self.channels, self.height, self.width],
            layers,
        )
    }
}

impl ConvBlock {
    /// `[batch, in channels, h, w]` → `[batch, out channels, h/2, w/2]`. On flex the zoo's fused
    /// kernel does the whole block in one operation (`kernels`); elsewhere Burn's layers do.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        #[cfg(feature = "flex")]
        if let Some(out) = crate::kernels::conv_block(&self.conv, &x) {
            return out;
        }
        self.layers_forward(x)
    }

    /// The block by Burn's layers, whatever the backend: the reference the kernels are tested
    /// against, and the path of every backend but flex.
    pub fn layers_forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pool
            .forward(self.activation.forward(conv::forward(&self.conv, x)))
    }
}

impl SmallCnn {
    /// `[batch, channels·height·width]` (row-major C, H, W) → `[batch, n_outputs]`.
    ///
    /// The input arrives flat so that every model of the zoo shares one batch layout (sparse
    /// rows are made dense first).
    pub fn forward(&self, input: impl Into<Inputs>) -> Tensor<2> {
        let input = input.into().into_dense();
        let [batch, _] = input.dims();
        self.forward_images(input.reshape([batch, self.channels, self.height, self.width]))
    }

    /// `[batch, channels, height, width]` → `[batch, n_outputs]`: [`Self::forward`] once the
    /// rows are images (what the ONNX export takes).
    pub fn forward_images(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        let x = self.hidden_layer(x.flatten(1, 3));
        crate::sparse::dense_layer(&self.output, Inputs::Dense(x))
    }

    /// The dense hidden layer with its ReLU and dropout: on flex the zoo's fused dense kernel
    /// (`kernels::dense`), elsewhere Burn's layers.
    fn hidden_layer(&self, x: Tensor<2>) -> Tensor<2> {
        #[cfg(feature = "flex")]
        if let Some(y) = crate::kernels::dense(&self.hidden, &x, true, Some(&self.dropout)) {
            return y;
        }
        self.dropout
            .forward(self.activation.forward(self.hidden.forward(x)))
    }
}
