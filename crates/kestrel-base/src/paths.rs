//! Where Kestrel keeps its caches: one root for all of them (tile indexes under `index/`,
//! checkpoint checksums under `sha256/`), `$KESTREL_CACHE_DIR` when it is set and not
//! empty, else the platform cache folder (`~/.cache/kestrel` on Linux). Callers that must
//! not depend on the environment (tests, an app with its own folder) pass a root explicitly.
//!
//! Also the check that an input path is a regular file before it is opened: opening a FIFO
//! blocks until someone writes to it, and a device never ends; and [`path_from_bytes`],
//! for names that come back from C libraries as bytes.

use std::io;
use std::path::{Path, PathBuf};

/// A path from the bytes a C library (GDAL) or a percent-decoded URL gives: any bytes on
/// unix, so a name that is not UTF-8 survives; elsewhere read as UTF-8, lossily.
pub fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt as _;
        PathBuf::from(std::ffi::OsString::from_vec(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The cache root from the environment (see the module docs).
pub fn cache_root() -> PathBuf {
    match std::env::var_os("KESTREL_CACHE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("kestrel"),
    }
}

/// What kind of thing a non-regular path is, for messages ("a FIFO", "a folder").
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_file() {
        return "a regular file";
    }
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    "not a file"
}

/// `Ok` when `path` (links followed) is a regular file; otherwise an `InvalidInput` error
/// saying what it is instead. Call it before opening an input.
pub fn check_regular_file(path: &Path) -> io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "the path is not a regular file (it is {})",
            file_kind(&meta)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_pass_folders_and_missing_paths_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        std::fs::write(&f, b"x").unwrap();
        check_regular_file(&f).unwrap();
        let e = check_regular_file(dir.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            "the path is not a regular file (it is a folder)"
        );
        let e = check_regular_file(&dir.path().join("missing")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
