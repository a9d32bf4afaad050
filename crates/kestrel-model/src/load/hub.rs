//! Getting the Llama3-MS-CLIP weights the way users will: from the Hugging Face hub cache
//! (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`, the layout
//! `models--org--name/{blobs,refs,snapshots/<rev>/file}` that `huggingface_hub` writes and
//! reads), downloading into it when missing.
//!
//! Downloads resume from a `blobs/<etag>.incomplete` file with an HTTP `Range` request, report
//! progress, can be cancelled, check the size (`Content-Length` / `X-Linked-Size`) and, when the
//! server gives the LFS sha256 as `X-Linked-Etag`/`ETag`, the hash, and only then rename the
//! blob into place. `HF_HUB_OFFLINE=1` (or no network) gives an error that says how to pass a
//! local file instead. The weights are never bundled with Kestrel.
//!
//! Gated or private repositories: the token of `HF_TOKEN` or the token file `huggingface_hub`
//! writes (`$HF_TOKEN_PATH`, else `$HF_HOME/token`) is sent as `Authorization: Bearer` to the hub
//! only, never to the CDN it redirects to. Two processes never write the same partial file: a
//! download holds an OS file lock on `.locks/models--org--name/<blob>.lock` (the lock
//! `huggingface_hub` takes), and a process that finds it held waits, then uses the finished blob.
//! Files on Xet storage come the same way: the hub's redirect carries `X-Linked-Etag` (the
//! sha256) and `X-Linked-Size`, the bridge's own `ETag`/`X-Xet-Hash` are not the file's hash.
//!
//! Runs on a worker thread (blocking HTTP).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use kestrel_base::jobs::{CancelToken, Progress, ProgressSink};

/// Hugging Face repository of the released model.
pub const LLAMA3_MS_CLIP_REPO: &str = "ibm-esa-geospatial/Llama3-MS-CLIP-base";
/// File name of the released weights in that repository.
pub const LLAMA3_MS_CLIP_FILE: &str = "Llama3_MS_CLIP_weights.pt";
/// The attribution the Llama 3 licence requires wherever the model is offered.
pub const LICENSE_NOTICE: &str = "Built with Meta Llama 3";
/// What a user accepts by downloading the weights (shown where the model is chosen).
pub const LICENSE_SUMMARY: &str = "Llama3-MS-CLIP (IBM and ESA \u{3a6}-lab) was trained on image \
captions generated with Llama 3 (Llama3-LLaVA-Next), which are released under the Meta Llama 3 \
Community License (https://www.llama.com/llama3/license/); that licence asks products built with \
Llama 3 materials to show \"Built with Meta Llama 3\". Read the terms on the model card \
(huggingface.co/ibm-esa-geospatial/Llama3-MS-CLIP-base) before using the weights. Kestrel does not \
ship them: they come from Hugging Face or from a file you choose.";

/// Errors finding or downloading weights. Each says how to continue with a local file.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "{file} is not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE is set; \
         unset it to download, or use a local checkpoint (--model PATH; in the viewer: \
         Checkpoint > Choose…)"
    )]
    Offline { file: String, cache: PathBuf },
    #[error(
        "cannot download {url}: {reason}. Check the network, or download the file yourself \
         and use it as a local checkpoint (--model PATH; in the viewer: Checkpoint > Choose…)"
    )]
    Unreachable { url: String, reason: String },
    #[error("download of {url} failed: {reason}; the partial file is kept to resume later")]
    Interrupted { url: String, reason: String },
    #[error("downloaded {url} but it is corrupt: {reason}; it was deleted, try again")]
    Corrupt { url: String, reason: String },
    #[error("cannot write to the Hugging Face cache {path}: {source}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {path} to download into the Hugging Face cache: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no Hugging Face cache directory (set HF_HUB_CACHE or HF_HOME), pass --model PATH")]
    NoCacheDir,
    #[error("download cancelled")]
    Cancelled,
}

/// A Hugging Face access token; never printed (`Debug` shows only that there is one).
#[derive(Clone, PartialEq, Eq)]
pub struct HubToken(pub String);

impl std::fmt::Debug for HubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HubToken(<redacted>)")
    }
}

/// Where to look for and fetch a file.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Hub cache root (the folder holding `models--…`).
    pub cache_dir: PathBuf,
    /// Server, `https://huggingface.co` unless `HF_ENDPOINT` says otherwise.
    pub endpoint: String,
    pub offline: bool,
    pub repo: String,
    pub filename: String,
    pub revision: String,
    /// Sent to the hub (not to the CDN it redirects to); [`default_token`] by default.
    pub token: Option<HubToken>,
}

/// The user's token as `huggingface_hub` finds it: `HF_TOKEN` (or the older
/// `HUGGING_FACE_HUB_TOKEN`), else the token file `$HF_TOKEN_PATH`, else `$HF_HOME/token`
/// (`HF_HOME` defaulting to `$XDG_CACHE_HOME/huggingface`, `~/.cache/huggingface`), which
/// `hf auth login` writes.
pub fn default_token() -> Option<HubToken> {
    token_from(&|k| std::env::var(k).ok(), dirs::home_dir())
}

/// [`default_token`] with the environment read through `env` and the home folder given.
fn token_from(env: &dyn Fn(&str) -> Option<String>, home: Option<PathBuf>) -> Option<HubToken> {
    let env = |k: &str| {
        env(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(t) = env("HF_TOKEN").or_else(|| env("HUGGING_FACE_HUB_TOKEN")) {
        return Some(HubToken(t));
    }
    let path = env("HF_TOKEN_PATH")
        .map(PathBuf::from)
        .or_else(|| hf_home(&|k| env(k).map(PathBuf::from), home).map(|h| h.join("token")))?;
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .map(HubToken)
}

/// `huggingface_hub`'s home folder: `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else
/// `~/.cache/huggingface` (the cache and the token file live under it).
fn hf_home(env: &dyn Fn(&str) -> Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    env("HF_HOME")
        .or_else(|| env("XDG_CACHE_HOME").map(|c| c.join("huggingface")))
        .or_else(|| home.map(|h| h.join(".cache").join("huggingface")))
}

/// The hub cache root from the environment, as `huggingface_hub` resolves it.
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("HF_HUB_CACHE").or_else(|| hf_home(&env, dirs::home_dir()).map(|h| h.join("hub")))
}

fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

impl HubOptions {
    /// The released Llama3-MS-CLIP weights, with cache, endpoint and offline mode from the
    /// environment.
    pub fn llama3_ms_clip() -> Result<Self, HubError> {
        Ok(Self::llama3_ms_clip_in(
            default_cache_dir().ok_or(HubError::NoCacheDir)?,
        ))
    }

    /// As [`Self::llama3_ms_clip`], with the hub cache in `cache_dir`.
    pub fn llama3_ms_clip_in(cache_dir: PathBuf) -> Self {
        Self {
            cache_dir,
            endpoint: std::env::var("HF_ENDPOINT")
                .ok()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "https://huggingface.co".into()),
            offline: env_flag("HF_HUB_OFFLINE"),
            repo: LLAMA3_MS_CLIP_REPO.into(),
            filename: LLAMA3_MS_CLIP_FILE.into(),
            revision: "main".into(),
            token: default_token(),
        }
    }

    /// `models--org--name` folder of the repository in the cache.
    pub fn repo_dir(&self) -> PathBuf {
        self.cache_dir
            .join(format!("models--{}", self.repo.replace('/', "--")))
    }

    /// The URL the file is served from.
    pub fn url(&self) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint.trim_end_matches('/'),
            self.repo,
            self.revision,
            self.filename
        )
    }

    /// The cached file for the revision, if present.
    pub fn cached(&self) -> Option<PathBuf> {
        let dir = self.repo_dir();
        let commit = std::fs::read_to_string(dir.join("refs").join(&self.revision))
            .ok()
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| self.revision.clone());
        let p = dir.join("snapshots").join(commit).join(&self.filename);
        if p.is_file() {
            return Some(p);
        }
        // A snapshot written by another tool under another ref name.
        let snaps = std::fs::read_dir(dir.join("snapshots")).ok()?;
        snaps
            .filter_map(Result::ok)
            .map(|e| e.path().join(&self.filename))
            .find(|p| p.is_file())
    }
}

/// The cached file, or download it (progress on `progress`, cancellable).
pub fn resolve_or_download(
    opts: &HubOptions,
    progress: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<PathBuf, HubError> {
    if let Some(p) = opts.cached() {
        return Ok(p);
    }
    if opts.offline {
        return Err(HubError::Offline {
            file: format!("{}/{}", opts.repo, opts.filename),
            cache: opts.cache_dir.clone(),
        });
    }
    download(opts, progress, cancel)
}

/// What the server says about the file before the transfer.
#[derive(Debug, Default)]
struct Meta {
    commit: Option<String>,
    etag: Option<String>,
    size: Option<u64>,
    location: String,
}

fn header(resp: &reqwest::blocking::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

fn clean_etag(e: &str) -> String {
    e.trim_start_matches("W/").trim_matches('"').to_owned()
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn client(follow_redirects: bool) -> Result<reqwest::blocking::Client, String> {
    let policy = if follow_redirects {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::blocking::Client::builder()
        .redirect(policy)
        .connect_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("kestrel/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// The token goes to the hub's own host only (scheme, host and port of the endpoint): a
/// redirect to a CDN or a Xet bridge carries its own signature, and must not see the token.
fn with_token(
    req: reqwest::blocking::RequestBuilder,
    url: &str,
    opts: &HubOptions,
) -> reqwest::blocking::RequestBuilder {
    let origin = |u: &str| {
        reqwest::Url::parse(u).ok().map(|u| {
            (
                u.scheme().to_owned(),
                u.host_str().map(str::to_owned),
                u.port_or_known_default(),
            )
        })
    };
    match &opts.token {
        Some(HubToken(t)) if origin(url).is_some() && origin(url) == origin(&opts.endpoint) => {
            req.bearer_auth(t)
        }
        _ => req,
    }
}

/// HEAD the resolve URL without following the redirect (the hub puts the commit, LFS hash and
/// size on the redirect), then follow relative redirects as `huggingface_hub` does.
fn fetch_meta(url: &str, opts: &HubOptions) -> Result<Meta, HubError> {
    let unreachable = |reason: String| HubError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    let c = client(false).map_err(unreachable)?;
    let mut current = url.to_owned();
    let mut meta = Meta::default();
    for _ in 0..5 {
        let resp = with_token(c.head(&current), &current, opts)
            .send()
            .map_err(|e| unreachable(e.to_string()))?;
        meta.commit = meta.commit.or_else(|| header(&resp, "x-repo-commit"));
        // The hub's `X-Linked-Etag` is the file's sha256 (LFS and Xet alike); a plain
        // `ETag` is only used when the hub gives no linked one.
        meta.etag = meta
            .etag
            .or_else(|| header(&resp, "x-linked-etag"))
            .or_else(|| header(&resp, "etag"))
            .map(|e| clean_etag(&e));
        meta.size = meta
            .size
            .or_else(|| header(&resp, "x-linked-size").and_then(|s| s.parse().ok()));
        let status = resp.status();
        if status.is_redirection() {
            let loc = header(&resp, "location")
                .ok_or_else(|| unreachable("redirect without Location".into()))?;
            let next = reqwest::Url::parse(&current)
                .and_then(|base| base.join(&loc))
                .map_err(|e| unreachable(format!("bad redirect {loc}: {e}")))?;
            // An absolute redirect to another host is the CDN: download from there.
            let same_host = reqwest::Url::parse(&current)
                .ok()
                .map(|u| u.host_str().map(str::to_owned))
                == Some(next.host_str().map(str::to_owned));
            current = next.to_string();
            if !same_host {
                break;
            }
            continue;
        }
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 | 403 if opts.token.is_some() => {
                    " (a Hugging Face token was sent: it may lack access to this repository, \
                     or the repository's licence is not yet accepted on huggingface.co)"
                }
                401 | 403 => {
                    " (the repository may be gated or private: accept its licence on \
                     huggingface.co, then set HF_TOKEN or run `hf auth login`)"
                }
                404 => " (no such file)",
                _ => "",
            };
            return Err(unreachable(format!("server answered {status}{hint}")));
        }
        meta.size = meta
            .size
            .or_else(|| header(&resp, "content-length").and_then(|s| s.parse().ok()));
        break;
    }
    meta.location = current;
    Ok(meta)
}

/// An exclusive OS lock on a download's lock file, held while the partial file is written
/// and the blob linked; released when dropped (and by the OS when the process dies, so a
/// killed download never blocks the next one).
struct DownloadLock {
    _file: File,
}

impl DownloadLock {
    /// Take the lock, waiting (cancellably, with progress) while another process holds it.
    fn acquire(
        path: &Path,
        what: &str,
        progress: &dyn ProgressSink,
        cancel: &CancelToken,
    ) -> Result<Self, HubError> {
        let lock_err = |source| HubError::Lock {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(lock_err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(lock_err)?;
        let started = Instant::now();
        let mut last_report: Option<Instant> = None;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(lock_err(e)),
            }
            if cancel.is_cancelled() {
                return Err(HubError::Cancelled);
            }
            if last_report.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
                last_report = Some(Instant::now());
                progress.report(&Progress {
                    label: format!("waiting for another download of {what}"),
                    done: 0,
                    total: 0,
                    elapsed_secs: started.elapsed().as_secs_f64(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Download into the cache (resuming a previous partial download) and return the snapshot path.
pub fn download(
    opts: &HubOptions,
    progress: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<PathBuf, HubError> {
    let url = opts.url();
    let meta = fetch_meta(&url, opts)?;
    let repo_dir = opts.repo_dir();
    let blobs = repo_dir.join("blobs");
    let cache_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HubError::Cache { path, source }
    };
    std::fs::create_dir_all(&blobs).map_err(cache_err(&blobs))?;
    let blob_name = meta
        .etag
        .clone()
        .filter(|e| !e.is_empty() && !e.contains(['/', '\\']))
        .unwrap_or_else(|| format!("{}.download", opts.filename));
    let blob = blobs.join(&blob_name);
    let expected_sha = meta
        .etag
        .clone()
        .filter(|e| is_sha256_hex(e))
        .map(|e| e.to_lowercase());

    // `huggingface_hub`'s lock file for this blob: no two downloaders (of Kestrel or of
    // Python) append to one partial file; whoever waited finds the blob ready.
    let lock_path = opts
        .cache_dir
        .join(".locks")
        .join(repo_dir.file_name().unwrap_or_default())
        .join(format!("{blob_name}.lock"));
    let _lock = DownloadLock::acquire(&lock_path, &opts.filename, progress, cancel)?;
    let ready = std::fs::metadata(&blob).is_ok_and(|m| meta.size.is_none_or(|s| m.len() == s));
    if !ready {
        let partial = blobs.join(format!("{blob_name}.incomplete"));
        transfer(&meta, &url, opts, &partial, progress, cancel)?;
        let len = std::fs::metadata(&partial)
            .map_err(cache_err(&partial))?
            .len();
        if let Some(size) = meta.size
            && len != size
        {
            let _ = std::fs::remove_file(&partial);
            return Err(HubError::Corrupt {
                url,
                reason: format!("got {len} bytes, expected {size}"),
            });
        }
        if let Some(want) = &expected_sha {
            let got = sha256_of(&partial, cancel).map_err(cache_err(&partial))?;
            if &got != want {
                let _ = std::fs::remove_file(&partial);
                return Err(HubError::Corrupt {
                    url,
                    reason: format!("sha256 {got}, the hub says {want}"),
                });
            }
        }
        std::fs::rename(&partial, &blob).map_err(cache_err(&blob))?;
    }

    let rev_name = meta.commit.clone().unwrap_or_else(|| opts.revision.clone());
    let snap_dir = repo_dir.join("snapshots").join(&rev_name);
    std::fs::create_dir_all(&snap_dir).map_err(cache_err(&snap_dir))?;
    let snap = snap_dir.join(&opts.filename);
    if !snap.is_file() {
        let _ = std::fs::remove_file(&snap);
        link_blob(&blob_name, &blob, &snap).map_err(cache_err(&snap))?;
    }
    if let Some(commit) = &meta.commit {
        let refs = repo_dir.join("refs");
        std::fs::create_dir_all(&refs).map_err(cache_err(&refs))?;
        let r = refs.join(&opts.revision);
        kestrel_base::atomic::write_bytes_atomic(&r, commit.as_bytes()).map_err(|e| {
            HubError::Cache {
                path: e.path,
                source: e.source,
            }
        })?;
    }
    Ok(snap)
}

#[cfg(unix)]
fn link_blob(blob_name: &str, _blob: &Path, snap: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(Path::new("../../blobs").join(blob_name), snap)
}

#[cfg(not(unix))]
fn link_blob(_blob_name: &str, blob: &Path, snap: &Path) -> std::io::Result<()> {
    std::fs::hard_link(blob, snap).or_else(|_| std::fs::copy(blob, snap).map(|_| ()))
}

fn sha256_of(path: &Path, cancel: &CancelToken) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if cancel.is_cancelled() {
            return Err(std::io::Error::other("cancelled"));
        }
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// GET `meta.location` into `partial`, resuming from its current length.
fn transfer(
    meta: &Meta,
    url: &str,
    opts: &HubOptions,
    partial: &Path,
    progress: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<(), HubError> {
    let (location, size) = (meta.location.as_str(), meta.size);
    let interrupted = |reason: String| HubError::Interrupted {
        url: url.to_owned(),
        reason,
    };
    let have = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
    if size.is_some_and(|s| have == s) {
        return Ok(());
    }
    let c = client(true).map_err(|reason| HubError::Unreachable {
        url: url.to_owned(),
        reason,
    })?;
    // reqwest drops the Authorization header itself on a redirect to another host.
    let mut req = with_token(c.get(location), location, opts);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let mut resp = req.send().map_err(|e| HubError::Unreachable {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let status = resp.status().as_u16();
    let (opened, mut done) = match status {
        206 if have > 0 => {
            let f = OpenOptions::new().append(true).open(partial);
            (f, have)
        }
        200 => (File::create(partial), 0),
        416 if size.is_none_or(|s| have >= s) => return Ok(()),
        _ => {
            return Err(HubError::Unreachable {
                url: url.to_owned(),
                reason: format!("server answered {}", resp.status()),
            });
        }
    };
    let mut file = opened.map_err(|source| HubError::Cache {
        path: partial.to_path_buf(),
        source,
    })?;
    let total = size.unwrap_or_else(|| resp.content_length().map_or(0, |n| n + done));
    let started = Instant::now();
    let mut buf = vec![0u8; 1 << 16];
    let mut last_report = Instant::now() - Duration::from_secs(1);
    loop {
        if cancel.is_cancelled() {
            let _ = file.flush();
            return Err(HubError::Cancelled);
        }
        let n = resp
            .read(&mut buf)
            .map_err(|e| interrupted(e.to_string()))?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])
            .map_err(|source| HubError::Cache {
                path: partial.to_path_buf(),
                source,
            })?;
        done += n as u64;
        if last_report.elapsed() >= Duration::from_millis(200) {
            last_report = Instant::now();
            progress.report(&Progress {
                label: format!("downloading {}", url.rsplit('/').next().unwrap_or(url)),
                done,
                total,
                elapsed_secs: started.elapsed().as_secs_f64(),
            });
        }
    }
    file.sync_all().map_err(|source| HubError::Cache {
        path: partial.to_path_buf(),
        source,
    })?;
    progress.report(&Progress {
        label: "download complete".into(),
        done,
        total: total.max(done),
        elapsed_secs: started.elapsed().as_secs_f64(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment of exactly these variables.
    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_token_comes_from_the_environment_then_the_token_file() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let tok = |t: &str| Some(HubToken(t.to_owned()));
        let find = |pairs: &[(&str, &str)]| token_from(&env_of(pairs), Some(home.clone()));
        assert_eq!(find(&[]), None);
        // `hf auth login` writes ~/.cache/huggingface/token (trailing newline and all).
        let file = home.join(".cache/huggingface/token");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "hf_from_file\n").unwrap();
        assert_eq!(find(&[]), tok("hf_from_file"));
        assert_eq!(find(&[("HF_TOKEN", " hf_env ")]), tok("hf_env"));
        assert_eq!(find(&[("HUGGING_FACE_HUB_TOKEN", "hf_old")]), tok("hf_old"));
        // An empty HF_TOKEN is no token: the file is used.
        assert_eq!(find(&[("HF_TOKEN", "")]), tok("hf_from_file"));
        // HF_HOME moves the token file; HF_TOKEN_PATH names it.
        let other = tmp.path().join("hf-home");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("token"), "hf_home").unwrap();
        let other_s = other.display().to_string();
        assert_eq!(find(&[("HF_HOME", &other_s)]), tok("hf_home"));
        let nowhere = other.join("nowhere").display().to_string();
        assert_eq!(find(&[("HF_TOKEN_PATH", &nowhere)]), None);
        // Never printed.
        assert_eq!(
            format!("{:?}", tok("hf_secret")),
            "Some(HubToken(<redacted>))"
        );
    }
}
