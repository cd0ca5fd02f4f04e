//! A printable model summary in the spirit of Keras' `model.summary()`.

use std::fmt;

use serde::Serialize;

/// One row of a summary: a layer, its output shape (without the batch axis) and its parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerSummary {
    pub name: String,
    pub kind: String,
    pub output_shape: Vec<usize>,
    pub params: usize,
}

impl LayerSummary {
    pub fn new(name: &str, kind: &str, output_shape: Vec<usize>, params: usize) -> Self {
        Self {
            name: name.to_string(),
            kind: kind.to_string(),
            output_shape,
            params,
        }
    }

    /// A dense layer with a bias: `inputs × outputs + outputs` parameters.
    pub fn dense(name: &str, inputs: usize, outputs: usize) -> Self {
        Self::new(name, "Linear", vec![outputs], inputs * outputs + outputs)
    }

    pub fn parameterless(name: &str, kind: &str, output_shape: Vec<usize>) -> Self {
        Self::new(name, kind, output_shape, 0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub model: String,
    pub input_shape: Vec<usize>,
    pub layers: Vec<LayerSummary>,
}

impl Summary {
    pub fn new(model: &str, input_shape: Vec<usize>, layers: Vec<LayerSummary>) -> Self {
        Self {
            model: model.to_string(),
            input_shape,
            layers,
        }
    }

    pub fn total_params(&self) -> usize {
        self.layers.iter().map(|l| l.params).sum()
    }

    pub fn output_shape(&self) -> &[usize] {
        self.layers
            .last()
            .map_or(&self.input_shape, |l| &l.output_shape)
    }
}

fn shape(dims: &[usize]) -> String {
    let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("(batch, {})", dims.join(", "))
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = "-".repeat(78);
        writeln!(
            f,
            "Model: {}  input {}",
            self.model,
            shape(&self.input_shape)
        )?;
        writeln!(f, "{rule}")?;
        writeln!(
            f,
            "{:<18} {:<26} {:<22} {:>9}",
            "Layer", "Type", "Output shape", "Params"
        )?;
        writeln!(f, "{rule}")?;
        for layer in &self.layers {
            writeln!(
                f,
                "{:<18} {:<26} {:<22} {:>9}",
                layer.name,
                layer.kind,
                shape(&layer.output_shape),
                layer.params
            )?;
        }
        writeln!(f, "{rule}")?;
        write!(f, "Total params: {}", self.total_params())
    }
}
