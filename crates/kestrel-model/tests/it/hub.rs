//! Weights from the Hugging Face hub cache: download, resume with `Range`, size and sha256
//! checks, offline and unreachable errors — against a small HTTP server started in the test
//! (never the real internet), which answers like the hub: a `302` carrying `X-Repo-Commit`,
//! `X-Linked-Etag` (the LFS sha256) and `X-Linked-Size`, then the bytes from a "CDN" path.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;

use kestrel_base::jobs::{CancelToken, NoProgress, Progress};
use kestrel_model::load::hub::{HubError, HubOptions, resolve_or_download};
use sha2::{Digest, Sha256};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const FILE: &str = "Llama3_MS_CLIP_weights.pt";
const REPO: &str = "ibm-esa-geospatial/Llama3-MS-CLIP-base";

#[derive(Clone, Default)]
struct Behaviour {
    /// Answer range requests with the whole file (200).
    ignore_range: bool,
    /// Serve bytes that do not match the advertised hash.
    corrupt: bool,
    /// Close the connection after this many body bytes.
    cut_after: Option<usize>,
}

struct Server {
    endpoint: String,
    /// Request lines and Range headers seen.
    log: Arc<Mutex<Vec<String>>>,
}

fn serve(body: Vec<u8>, behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let sha = hex::encode(Sha256::digest(&body));
    let server_log = log.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            handle(stream, &body, &sha, &behaviour, &server_log);
        }
    });
    Server { endpoint, log }
}

fn handle(mut stream: TcpStream, body: &[u8], sha: &str, b: &Behaviour, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    let mut range_start = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range_start = v.trim().trim_end_matches('-').parse::<usize>().ok();
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    log.lock()
        .unwrap()
        .push(format!("{method} {path} range={range_start:?}"));
    let resolve = format!("/{REPO}/resolve/main/{FILE}");
    let mut served: Vec<u8> = body.to_vec();
    if b.corrupt {
        served[0] ^= 0xff;
    }
    let head = |status: &str, extra: &str, len: usize| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n")
    };
    let response = if path == resolve {
        let extra = format!(
            "Location: /cdn/blob\r\nX-Repo-Commit: {COMMIT}\r\nX-Linked-Etag: \"{sha}\"\r\nX-Linked-Size: {}\r\n",
            body.len()
        );
        head("302 Found", &extra, 0).into_bytes()
    } else if path == "/cdn/blob" {
        let (status, from) = match range_start {
            Some(s) if !b.ignore_range => ("206 Partial Content", s),
            _ => ("200 OK", 0),
        };
        let part = &served[from.min(served.len())..];
        let mut r = head(status, "", part.len()).into_bytes();
        if method == "GET" {
            let n = b.cut_after.map_or(part.len(), |c| c.min(part.len()));
            r.extend_from_slice(&part[..n]);
        }
        r
    } else {
        head("404 Not Found", "", 0).into_bytes()
    };
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}

fn payload() -> Vec<u8> {
    (0..300_000u32)
        .flat_map(|i| (i.wrapping_mul(2_654_435_761) >> 7).to_le_bytes())
        .collect()
}

fn options(cache: &std::path::Path, endpoint: &str) -> HubOptions {
    HubOptions {
        cache_dir: cache.to_path_buf(),
        endpoint: endpoint.to_owned(),
        offline: false,
        repo: REPO.into(),
        filename: FILE.into(),
        revision: "main".into(),
    }
}

fn sha_of(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[test]
fn downloads_into_the_hub_layout_then_uses_the_cache() {
    let body = payload();
    let server = serve(body.clone(), Behaviour::default());
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &server.endpoint);
    let reports = Mutex::new(Vec::<Progress>::new());
    let progress = |p: &Progress| reports.lock().unwrap().push(p.clone());
    let path = resolve_or_download(&opts, &progress, &CancelToken::new()).unwrap();
    let repo_dir = cache
        .path()
        .join("models--ibm-esa-geospatial--Llama3-MS-CLIP-base");
    assert_eq!(path, repo_dir.join("snapshots").join(COMMIT).join(FILE));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    let blob = repo_dir.join("blobs").join(sha_of(&body));
    assert_eq!(std::fs::read(&blob).unwrap(), body);
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );
    #[cfg(unix)]
    assert_eq!(
        std::fs::read_link(&path).unwrap(),
        PathBuf::from("../../blobs").join(sha_of(&body))
    );
    let last = reports.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last.done, last.total),
        (body.len() as u64, body.len() as u64)
    );
    // Second time: straight from the cache, no request.
    let n = server.log.lock().unwrap().len();
    assert_eq!(
        resolve_or_download(&opts, &NoProgress, &CancelToken::new()).unwrap(),
        path
    );
    assert_eq!(server.log.lock().unwrap().len(), n);
    // Offline with the file cached is fine.
    let offline = HubOptions {
        offline: true,
        ..opts
    };
    assert_eq!(
        resolve_or_download(&offline, &NoProgress, &CancelToken::new()).unwrap(),
        path
    );
}

#[test]
fn resumes_a_partial_download_with_range() {
    let body = payload();
    let server = serve(body.clone(), Behaviour::default());
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &server.endpoint);
    let blobs = opts.repo_dir().join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(
        blobs.join(format!("{}.incomplete", sha_of(&body))),
        &body[..100_000],
    )
    .unwrap();
    let path = resolve_or_download(&opts, &NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
    let log = server.log.lock().unwrap().clone();
    assert!(
        log.iter().any(|l| l == "GET /cdn/blob range=Some(100000)"),
        "{log:?}"
    );
}

#[test]
fn restarts_when_the_server_ignores_range() {
    let body = payload();
    let server = serve(
        body.clone(),
        Behaviour {
            ignore_range: true,
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &server.endpoint);
    let blobs = opts.repo_dir().join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    // A partial file whose bytes are wrong must not survive a full restart.
    std::fs::write(
        blobs.join(format!("{}.incomplete", sha_of(&body))),
        vec![7u8; 5000],
    )
    .unwrap();
    let path = resolve_or_download(&opts, &NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
}

#[test]
fn interrupted_download_keeps_the_part_and_a_retry_finishes() {
    let body = payload();
    let cut = serve(
        body.clone(),
        Behaviour {
            cut_after: Some(400_000),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let err = resolve_or_download(
        &options(cache.path(), &cut.endpoint),
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(
        matches!(err, HubError::Interrupted { .. } | HubError::Corrupt { .. }),
        "{err}"
    );
    let good = serve(body.clone(), Behaviour::default());
    let opts = options(cache.path(), &good.endpoint);
    let partial = opts
        .repo_dir()
        .join("blobs")
        .join(format!("{}.incomplete", sha_of(&body)));
    if let HubError::Interrupted { .. } = err {
        assert_eq!(std::fs::metadata(&partial).unwrap().len(), 400_000);
    }
    let path = resolve_or_download(&opts, &NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
    assert!(!partial.exists());
}

#[test]
fn corrupt_download_is_rejected_and_removed() {
    let body = payload();
    let server = serve(
        body.clone(),
        Behaviour {
            corrupt: true,
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &server.endpoint);
    let err = resolve_or_download(&opts, &NoProgress, &CancelToken::new()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, HubError::Corrupt { .. }), "{msg}");
    assert!(msg.contains(&sha_of(&body)), "{msg}");
    let blobs = opts.repo_dir().join("blobs");
    assert_eq!(
        std::fs::read_dir(&blobs).unwrap().count(),
        0,
        "left files in {}",
        blobs.display()
    );
    assert!(opts.cached().is_none());
}

#[test]
fn offline_unreachable_and_cancelled_errors_say_what_to_do() {
    let cache = tempfile::tempdir().unwrap();
    let offline = HubOptions {
        offline: true,
        ..options(cache.path(), "http://127.0.0.1:9")
    };
    let e = resolve_or_download(&offline, &NoProgress, &CancelToken::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("HF_HUB_OFFLINE") && e.contains("--model PATH"),
        "{e}"
    );

    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = resolve_or_download(
        &options(cache.path(), &endpoint),
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(matches!(e, HubError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("--model PATH"), "{e}");

    let server = serve(payload(), Behaviour::default());
    let cancel = CancelToken::new();
    cancel.cancel();
    let e = resolve_or_download(
        &options(cache.path(), &server.endpoint),
        &NoProgress,
        &cancel,
    )
    .unwrap_err();
    assert!(matches!(e, HubError::Cancelled), "{e}");
}
