//! Hyper-parameter validation: configs are checked before anything is built or trained.

/// A hyper-parameter that cannot work, with a message saying which one and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

pub(crate) fn ensure(condition: bool, message: impl Into<String>) -> Result<(), ConfigError> {
    if condition {
        Ok(())
    } else {
        Err(ConfigError(message.into()))
    }
}
