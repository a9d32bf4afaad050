//! Atomic file writes: write to a temporary file in the destination directory, flush,
//! then rename over the target and sync the directory, so a crash or a full disk never
//! leaves a half-written file where the user's previous one was.
//!
//! The new file gets the permissions of the file it replaces, else those of any newly
//! created file (0666 less the umask). Temporary files are named
//! `.kestrel-tmp-<pid>-<nanos>-<n>` and are held under an exclusive lock
//! ([`File::try_lock`], released by the OS when the process dies) until renamed; a
//! process killed mid-write leaves one behind, which [`remove_stale_temp_files`] removes
//! once nobody holds its lock (never a live write's file, in this process or another).
//!
//! For the crash-safety tests, `KESTREL_TEST_WRITE_PAUSE_MS` makes [`write_atomic`]
//! stop for that long halfway through writing the temporary file (and
//! [`write_atomic_via_path`] before its rename), so a kill lands mid-write; it is not
//! meant for normal use.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Prefix of the temporary files of [`write_atomic`].
pub const TEMP_PREFIX: &str = ".kestrel-tmp-";

/// Name of the lock file inside a temporary folder of [`write_atomic_via_path`].
const DIR_LOCK: &str = ".kestrel-lock";

/// A temporary file or folder younger than this is never removed: between its creation
/// and its lock there is a moment when it is not yet locked. Longer than the coarsest
/// file-time resolution (2 s) and usual clock skew.
pub const TEMP_GRACE: Duration = Duration::from_secs(5);

/// Environment variable: pause this many milliseconds halfway through writing a
/// temporary file (crash-safety tests only).
pub const PAUSE_ENV: &str = "KESTREL_TEST_WRITE_PAUSE_MS";

/// Error of an atomic write, naming the destination.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct AtomicWriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Removes the temporary file unless it was renamed into place.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Create a new temporary file in `dir` with the mode a normally created file gets, and
/// lock it (where the filesystem has locks) so [`remove_stale_temp_files`] leaves it.
fn create_temp(dir: &Path) -> io::Result<(File, PathBuf)> {
    let (file, p) = create_unique(dir, |p| {
        OpenOptions::new().write(true).create_new(true).open(p)
    })?;
    // a new file nobody else has opened: the lock is free, or locks are unsupported here
    // (then only the age rule of `remove_stale_temp_files` applies)
    let _ = file.try_lock();
    Ok((file, p))
}

/// The pause of [`PAUSE_ENV`], if set.
fn test_pause() -> Option<Duration> {
    let ms: u64 = std::env::var(PAUSE_ENV).ok()?.trim().parse().ok()?;
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// A writer that, once, writes half of a write, flushes it to the file and sleeps
/// ([`PAUSE_ENV`]): the temporary file is then visibly half-written.
struct PauseHalfway<W: Write> {
    inner: W,
    pause: Option<Duration>,
}

impl<W: Write> Write for PauseHalfway<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.pause {
            Some(d) if buf.len() >= 2 => {
                self.pause = None;
                let n = self.inner.write(&buf[..buf.len() / 2])?;
                self.inner.flush()?;
                std::thread::sleep(d);
                Ok(n)
            }
            _ => self.inner.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Create a new, uniquely named temporary entry in `dir` with `create` (which must fail
/// with `AlreadyExists` when the name is taken).
fn create_unique<T>(
    dir: &Path,
    create: impl Fn(&Path) -> io::Result<T>,
) -> io::Result<(T, PathBuf)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = dir.join(format!(
            "{TEMP_PREFIX}{}-{nanos:08x}-{n}",
            std::process::id()
        ));
        match create(&p) {
            Ok(f) => return Ok((f, p)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1_000_000 => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Write a file atomically. `fill` writes the whole content to the given writer.
///
/// The temporary file lives next to `path` (same filesystem, so the rename is atomic)
/// and is removed if `fill` or the rename fails. Errors name `path`, never the temporary
/// file.
pub fn write_atomic<F>(path: &Path, fill: F) -> Result<(), AtomicWriteError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let wrap = |source: io::Error| AtomicWriteError {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // the permissions of the file being replaced (std creates the temporary file with
    // 0666 less the umask, as any new file)
    let keep = std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.permissions());
    let (mut file, tmp) = create_temp(&dir).map_err(wrap)?;
    let mut guard = TempGuard(Some(tmp.clone()));
    {
        let mut buf = io::BufWriter::new(&mut file);
        match test_pause() {
            None => fill(&mut buf).map_err(wrap)?,
            pause => fill(&mut PauseHalfway {
                inner: &mut buf,
                pause,
            })
            .map_err(wrap)?,
        }
        buf.flush().map_err(wrap)?;
    }
    if let Some(perm) = keep {
        file.set_permissions(perm).map_err(wrap)?;
    }
    file.sync_all().map_err(wrap)?;
    // On unix the file stays open (and locked) through the rename, so its temporary name
    // is never unlocked; elsewhere it is closed first, and `TEMP_GRACE` covers the moment.
    #[cfg(not(unix))]
    drop(file);
    std::fs::rename(&tmp, path).map_err(wrap)?;
    guard.0 = None;
    #[cfg(unix)]
    drop(file);
    sync_dir(&dir).map_err(wrap)
}

/// Write a file atomically through a library that creates files by path (GDAL): `fill`
/// creates the whole file at the path it is given, inside a new temporary folder next to
/// `path`; that file is then renamed onto `path` and the folder removed (also on failure).
/// Errors name `path`.
pub fn write_atomic_via_path<F>(path: &Path, fill: F) -> Result<(), AtomicWriteError>
where
    F: FnOnce(&Path) -> io::Result<()>,
{
    struct DirGuard(PathBuf);
    impl Drop for DirGuard {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let wrap = |source: io::Error| AtomicWriteError {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let ((), tmp_dir) = create_unique(&dir, |p| std::fs::create_dir(p)).map_err(wrap)?;
    let _guard = DirGuard(tmp_dir.clone());
    // held while the library writes, so `remove_stale_temp_files` leaves the folder
    let lock = File::create(tmp_dir.join(DIR_LOCK)).map_err(wrap)?;
    let _ = lock.try_lock();
    let tmp = tmp_dir.join(path.file_name().unwrap_or_else(|| "out".as_ref()));
    fill(&tmp).map_err(wrap)?;
    if let Some(d) = test_pause() {
        std::thread::sleep(d);
    }
    std::fs::rename(&tmp, path).map_err(wrap)?;
    sync_dir(&dir).map_err(wrap)
}

/// Make a rename in `dir` durable. Filesystems that cannot sync a directory say so with
/// `EINVAL`/unsupported; that is not an error of the write.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        match File::open(dir).and_then(|d| d.sync_all()) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
                ) =>
            {
                Ok(())
            }
            r => r,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Whether nobody holds the lock of `lock_file`: `Some(true)` free (its writer is gone),
/// `Some(false)` held (a live write), `None` when the filesystem cannot tell.
fn lock_is_free(lock_file: &Path) -> Option<bool> {
    let f = File::open(lock_file).ok()?;
    match f.try_lock() {
        Ok(()) => Some(true),
        Err(std::fs::TryLockError::WouldBlock) => Some(false),
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

/// The pid in a temporary name `.kestrel-tmp-<pid>-...`.
fn pid_of(name: &str) -> Option<u32> {
    name.strip_prefix(TEMP_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Remove the temporary files and folders of this module (`.kestrel-tmp-*`) in `dir`
/// that were left by a process killed mid-write: those whose lock nobody holds (the OS
/// drops a dead process's locks), at least [`TEMP_GRACE`] old. Where the filesystem has
/// no locks, and for names of this process (whose locks it cannot see on every
/// filesystem), only those last modified more than `older_than` ago. A live write's
/// temporary file is never removed. Returns how many were removed; errors are ignored.
pub fn remove_stale_temp_files(dir: &Path, older_than: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(TEMP_PREFIX) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let age = meta
            .modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or(Duration::ZERO);
        if age < TEMP_GRACE {
            continue;
        }
        let path = entry.path();
        let lock_file = if meta.is_dir() {
            path.join(DIR_LOCK)
        } else if meta.is_file() {
            path.clone()
        } else {
            continue;
        };
        let ours = pid_of(&name) == Some(std::process::id());
        let free = if ours {
            None
        } else if meta.is_dir() && !lock_file.exists() {
            Some(true) // killed before it made its lock file
        } else {
            lock_is_free(&lock_file)
        };
        let stale = match free {
            Some(free) => free,
            None => age > older_than,
        };
        if !stale {
            continue;
        }
        let gone = if meta.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Convenience: write a byte slice atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), AtomicWriteError> {
    write_atomic(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        write_bytes_atomic(&p, b"first").unwrap();
        write_bytes_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn via_path_replaces_the_file_and_a_failure_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.gpkg");
        write_bytes_atomic(&p, b"old").unwrap();
        let e = write_atomic_via_path(&p, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(io::Error::other("driver failed"))
        })
        .unwrap_err();
        assert_eq!(e.path, p);
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        write_atomic_via_path(&p, |tmp| std::fs::write(tmp, b"new")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary folder is left: {names:?}");
    }

    #[test]
    fn failed_fill_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keep.txt");
        write_bytes_atomic(&p, b"precious").unwrap();
        let err = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("keep.txt"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"precious");
    }

    #[test]
    fn unwritable_dir_names_the_path_not_the_temp_file() {
        let err = write_bytes_atomic(Path::new("/nonexistent-dir/x.csv"), b"x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot write /nonexistent-dir/x.csv: No such file or directory (os error 2)"
        );
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    #[test]
    fn new_files_get_the_default_mode_and_replaced_files_keep_theirs() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        // what any file this process creates gets (0666 less the umask)
        let probe = dir.path().join("probe");
        File::create(&probe).unwrap();
        let default = mode(&probe);
        let p = dir.path().join("new.csv");
        write_bytes_atomic(&p, b"x").unwrap();
        assert_eq!(mode(&p), default);
        assert_ne!(default, 0o600, "the test needs a umask other than 077");
        let q = dir.path().join("shared.csv");
        std::fs::write(&q, b"old").unwrap();
        std::fs::set_permissions(&q, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_bytes_atomic(&q, b"new").unwrap();
        assert_eq!(mode(&q), 0o640);
        assert_eq!(std::fs::read(&q).unwrap(), b"new");
    }

    #[test]
    fn only_old_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(7200);
        let touch = |name: &str, mtime: Option<SystemTime>| {
            let p = dir.path().join(name);
            let f = File::create(&p).unwrap();
            if let Some(t) = mtime {
                f.set_modified(t).unwrap();
            }
            p
        };
        let stale = touch(".kestrel-tmp-123-abc-0", Some(old));
        let fresh = touch(".kestrel-tmp-456-def-1", None);
        let other = touch("scene-0123.parquet", Some(old));
        let hidden = touch(".other-tmp", Some(old));
        let n = remove_stale_temp_files(dir.path(), Duration::from_secs(3600));
        assert_eq!(n, 1);
        assert!(!stale.exists());
        assert!(fresh.exists() && other.exists() && hidden.exists());
        assert_eq!(
            remove_stale_temp_files(&dir.path().join("missing"), Duration::ZERO),
            0
        );
    }

    /// A temporary file or folder, `age` old.
    fn aged(p: &Path, age: Duration) {
        let t = SystemTime::now() - age;
        let f = File::open(p).unwrap();
        f.set_modified(t).unwrap();
    }

    #[test]
    fn locked_temp_files_are_kept_and_unlocked_ones_go_after_the_grace() {
        let dir = tempfile::tempdir().unwrap();
        let minute = Duration::from_secs(60);
        let hour = Duration::from_secs(3600);
        // a dead writer's file (pid 1 is never this test), a minute old: no lock, removed
        let dead = dir.path().join(".kestrel-tmp-1-00-0");
        std::fs::write(&dead, b"half").unwrap();
        aged(&dead, minute);
        // a live writer's, locked through another handle, two hours old: kept
        let live = dir.path().join(".kestrel-tmp-2-00-0");
        std::fs::write(&live, b"half").unwrap();
        aged(&live, 2 * hour);
        let holder = File::open(&live).unwrap();
        holder.lock().unwrap();
        // an unlocked one just created (it may be about to be locked): kept
        let young = dir.path().join(".kestrel-tmp-3-00-0");
        std::fs::write(&young, b"").unwrap();
        // this process's own, a minute old: only the age rule applies, kept
        let ours = dir
            .path()
            .join(format!(".kestrel-tmp-{}-00-0", std::process::id()));
        std::fs::write(&ours, b"").unwrap();
        aged(&ours, minute);
        // a folder of write_atomic_via_path whose writer died, and a live one
        let dead_dir = dir.path().join(".kestrel-tmp-4-00-0");
        std::fs::create_dir(&dead_dir).unwrap();
        std::fs::write(dead_dir.join("out.gpkg"), b"half").unwrap();
        std::fs::write(dead_dir.join(DIR_LOCK), b"").unwrap();
        aged(&dead_dir, minute);
        let live_dir = dir.path().join(".kestrel-tmp-5-00-0");
        std::fs::create_dir(&live_dir).unwrap();
        let dir_holder = File::create(live_dir.join(DIR_LOCK)).unwrap();
        dir_holder.lock().unwrap();
        aged(&live_dir, minute);
        assert_eq!(remove_stale_temp_files(dir.path(), hour), 2);
        assert!(!dead.exists() && !dead_dir.exists());
        assert!(live.exists() && young.exists() && ours.exists() && live_dir.exists());
        // once the live writers are gone, their files go too
        drop((holder, dir_holder));
        assert_eq!(remove_stale_temp_files(dir.path(), hour), 2);
        assert!(!live.exists() && !live_dir.exists());
        assert!(young.exists() && ours.exists());
    }

    #[test]
    fn a_write_holds_its_temp_file_locked_until_the_rename() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        write_atomic(&p, |w| {
            let tmp: Vec<PathBuf> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            assert_eq!(tmp.len(), 1, "{tmp:?}");
            assert_eq!(lock_is_free(&tmp[0]), Some(false), "not locked");
            w.write_all(b"x")
        })
        .unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        write_atomic_via_path(&dir.path().join("out.gpkg"), |tmp| {
            let lock = tmp.parent().unwrap().join(DIR_LOCK);
            assert_eq!(lock_is_free(&lock), Some(false), "folder not locked");
            std::fs::write(tmp, b"y")
        })
        .unwrap();
        assert_eq!(pid_of(".kestrel-tmp-4242-0a-7"), Some(4242));
        assert_eq!(pid_of(".kestrel-tmp-Xy12ab"), None);
    }
}
