//! The model module's error type: one enum that wraps the per-area errors (config,
//! checkpoint, preprocessing, download) and names what was wrong with which input.

use crate::load::checkpoint::CheckpointError;
use crate::load::config::{ConfigError, UnsupportedTower};
use crate::load::hub::HubError;
use crate::tasks::preprocess::PreprocessError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("unsupported model: {0}")]
    Tower(#[from] UnsupportedTower),
    #[error("{0}")]
    Device(String),
    #[error("invalid input: {0}")]
    Input(String),
    #[error("model computation failed: {0}")]
    Compute(Box<candle_core::Error>),
    #[error("cancelled")]
    Cancelled,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<candle_core::Error> for ModelError {
    fn from(e: candle_core::Error) -> Self {
        Self::Compute(Box::new(e))
    }
}

impl From<kestrel_base::jobs::Cancelled> for ModelError {
    fn from(_: kestrel_base::jobs::Cancelled) -> Self {
        Self::Cancelled
    }
}
