//! Where Kestrel keeps its caches: one root for all of them (tile indexes under `index/`,
//! checkpoint checksums under `sha256/`), `$KESTREL_CACHE_DIR` when it is set and not
//! empty, else the platform cache folder (`~/.cache/kestrel` on Linux). Callers that must
//! not depend on the environment (tests, an app with its own folder) pass a root explicitly.

use std::path::PathBuf;

/// The cache root from the environment (see the module docs).
pub fn cache_root() -> PathBuf {
    match std::env::var_os("KESTREL_CACHE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("kestrel"),
    }
}
