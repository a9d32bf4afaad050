//! Errors of the STAC client: each names the URL (or file) and what went wrong, in words
//! a user can act on (could not connect, the HTTP status, not a STAC document).

use std::path::PathBuf;

use crate::jobs::Cancelled;

#[derive(Debug, thiserror::Error)]
pub enum StacError {
    #[error("{url}: could not connect ({detail})")]
    Connect { url: String, detail: String },

    #[error("{url}: no answer within {secs} s")]
    Timeout { url: String, secs: u64 },

    #[error("{url}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        url: String,
        status: u16,
        body: String,
    },

    #[error("{url}: the connection failed while reading ({detail})")]
    Transfer { url: String, detail: String },

    #[error("{url}: not a STAC {what}: {detail}")]
    NotStac {
        url: String,
        what: &'static str,
        detail: String,
    },

    #[error("{url}: unusable {what}: {detail}")]
    BadContent {
        url: String,
        what: &'static str,
        detail: String,
    },

    #[error("{}: cannot read it: {detail}", path.display())]
    Io { path: PathBuf, detail: String },

    #[error("{url}: its assets need signing ({detail})")]
    NeedsSigning { url: String, detail: String },

    #[error("invalid search: {0}")]
    InvalidSearch(String),

    #[error("cancelled")]
    Cancelled(#[from] Cancelled),
}
