//! Weights from the Hugging Face hub cache: download, resume with `Range`, size and sha256
//! checks, offline and unreachable errors, tokens for gated repositories, Xet-style
//! redirects and two processes downloading at once — against a small HTTP server started in
//! the test (never the real internet), which answers like the hub: a `302` carrying
//! `X-Repo-Commit`, `X-Linked-Etag` (the LFS sha256) and `X-Linked-Size`, then the bytes from
//! a "CDN" path (or, as Xet storage does, from a bridge on another host).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use kestrel_base::jobs::{CancelToken, NoProgress, Progress};
use kestrel_model::load::hub::{HubError, HubOptions, HubToken, resolve_or_download};
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
    /// Send the body in 64 KiB pieces with this pause between them.
    slow: Option<Duration>,
    /// The resolve URL answers 401 unless this bearer token comes with it.
    require_token: Option<String>,
    /// Answer like a file on Xet storage: an absolute redirect to a bridge on another host
    /// name (`localhost` for the `127.0.0.1` endpoint) with `X-Xet-Hash` and `Link` headers;
    /// the bridge's own `ETag` is the Xet hash, not the sha256.
    xet: bool,
}

const XET_HASH: &str = "5a3c9a0e1f2b7d4c8e6f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";

struct Server {
    endpoint: String,
    /// Request lines and Range headers seen (with ` auth` when a bearer token came).
    log: Arc<Mutex<Vec<String>>>,
}

fn serve(body: Vec<u8>, behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let sha = hex::encode(Sha256::digest(&body));
    let server_log = log.clone();
    let body = Arc::new(body);
    let behaviour = Arc::new(behaviour);
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (body, sha, b, log) = (
                body.clone(),
                sha.clone(),
                behaviour.clone(),
                server_log.clone(),
            );
            // One thread a connection: a slow transfer does not hold up other clients.
            thread::spawn(move || handle(stream, &body, &sha, &b, &log, port));
        }
    });
    Server { endpoint, log }
}

fn handle(
    mut stream: TcpStream,
    body: &[u8],
    sha: &str,
    b: &Behaviour,
    log: &Mutex<Vec<String>>,
    port: u16,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    reader.read_line(&mut request).unwrap();
    let mut range_start = None;
    let mut bearer = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range_start = v.trim().trim_end_matches('-').parse::<usize>().ok();
        }
        if line
            .to_ascii_lowercase()
            .starts_with("authorization: bearer ")
        {
            bearer = Some(line["authorization: bearer ".len()..].trim().to_owned());
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let auth = if bearer.is_some() { " auth" } else { "" };
    log.lock()
        .unwrap()
        .push(format!("{method} {path} range={range_start:?}{auth}"));
    let resolve = format!("/{REPO}/resolve/main/{FILE}");
    let mut served: Vec<u8> = body.to_vec();
    if b.corrupt {
        served[0] ^= 0xff;
    }
    let head = |status: &str, extra: &str, len: usize| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n")
    };
    let token_ok = b.require_token.is_none() || b.require_token == bearer;
    let bridge = "/xet-bridge-us/blob?X-Xet-Signed=1";
    let response = if path == resolve && !token_ok {
        head("401 Unauthorized", "", 0).into_bytes()
    } else if path == resolve && b.xet {
        let extra = format!(
            "Location: http://localhost:{port}{bridge}\r\nX-Repo-Commit: {COMMIT}\r\n\
             X-Linked-Etag: \"{sha}\"\r\nX-Linked-Size: {}\r\nETag: \"{XET_HASH}\"\r\n\
             X-Xet-Hash: {XET_HASH}\r\nLink: <http://127.0.0.1:{port}/api/models/{REPO}/xet-read-token/{COMMIT}>; \
             rel=\"xet-auth\", <http://localhost:{port}/reconstruction/{XET_HASH}>; \
             rel=\"xet-reconstruction-info\"\r\n",
            body.len()
        );
        head("302 Found", &extra, 0).into_bytes()
    } else if path == resolve {
        let extra = format!(
            "Location: /cdn/blob\r\nX-Repo-Commit: {COMMIT}\r\nX-Linked-Etag: \"{sha}\"\r\nX-Linked-Size: {}\r\n",
            body.len()
        );
        head("302 Found", &extra, 0).into_bytes()
    } else if path == "/cdn/blob" || path == bridge {
        let (status, from) = match range_start {
            Some(s) if !b.ignore_range => ("206 Partial Content", s),
            _ => ("200 OK", 0),
        };
        let part = &served[from.min(served.len())..];
        let extra = if path == bridge {
            format!("ETag: \"{XET_HASH}\"\r\nX-Xet-Hash: {XET_HASH}\r\nAccept-Ranges: bytes\r\n")
        } else {
            String::new()
        };
        let mut r = head(status, &extra, part.len()).into_bytes();
        if method == "GET" {
            let n = b.cut_after.map_or(part.len(), |c| c.min(part.len()));
            if let Some(pause) = b.slow {
                let _ = stream.write_all(&r);
                for piece in part[..n].chunks(1 << 16) {
                    thread::sleep(pause);
                    if stream.write_all(piece).is_err() {
                        return;
                    }
                }
                let _ = stream.flush();
                return;
            }
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
        token: None,
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

fn log_of(server: &Server) -> Vec<String> {
    server.log.lock().unwrap().clone()
}

#[test]
fn a_token_goes_to_the_hub_and_never_to_the_bridge() {
    let body = payload();
    let server = serve(
        body.clone(),
        Behaviour {
            require_token: Some("hf_test_token".into()),
            xet: true,
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    // Gated, no token: the error says what to do.
    let e = resolve_or_download(
        &options(cache.path(), &server.endpoint),
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("401") && e.contains("HF_TOKEN") && e.contains("--model PATH"),
        "{e}"
    );
    // A wrong token: the error says the token was sent.
    let wrong = HubOptions {
        token: Some(HubToken("hf_wrong".into())),
        ..options(cache.path(), &server.endpoint)
    };
    let e = resolve_or_download(&wrong, &NoProgress, &CancelToken::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("401") && e.contains("token was sent"), "{e}");
    assert!(!e.contains("hf_wrong"), "the token is in the message: {e}");
    // The right one: downloaded; the hub saw the token, the bridge (another host) did not.
    let opts = HubOptions {
        token: Some(HubToken("hf_test_token".into())),
        ..options(cache.path(), &server.endpoint)
    };
    let path = resolve_or_download(&opts, &NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
    let log = log_of(&server);
    let resolve = format!("HEAD /{REPO}/resolve/main/{FILE} range=None auth");
    assert!(log.contains(&resolve), "{log:?}");
    let bridge: Vec<_> = log
        .iter()
        .filter(|l| l.contains("/xet-bridge-us/"))
        .collect();
    assert_eq!(
        bridge,
        ["GET /xet-bridge-us/blob?X-Xet-Signed=1 range=None"],
        "{log:?}"
    );
}

#[test]
fn a_file_on_xet_storage_comes_from_the_bridge_checked_by_its_sha256() {
    let body = payload();
    let server = serve(
        body.clone(),
        Behaviour {
            xet: true,
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), &server.endpoint);
    // A partial download resumes from the bridge with Range.
    let blobs = opts.repo_dir().join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(
        blobs.join(format!("{}.incomplete", sha_of(&body))),
        &body[..70_000],
    )
    .unwrap();
    let path = resolve_or_download(&opts, &NoProgress, &CancelToken::new()).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    // The blob is named by the linked sha256, not by the bridge's ETag (the Xet hash).
    assert!(blobs.join(sha_of(&body)).is_file());
    assert!(!blobs.join(XET_HASH).exists());
    assert_eq!(
        path,
        opts.repo_dir().join("snapshots").join(COMMIT).join(FILE)
    );
    let log = log_of(&server);
    assert!(
        log.iter()
            .any(|l| l == "GET /xet-bridge-us/blob?X-Xet-Signed=1 range=Some(70000)"),
        "{log:?}"
    );

    // Bytes that do not hash to the linked sha256 are refused, whatever the bridge's ETag.
    let bad = serve(
        body.clone(),
        Behaviour {
            xet: true,
            corrupt: true,
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let e = resolve_or_download(
        &options(cache.path(), &bad.endpoint),
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(matches!(e, HubError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains(&sha_of(&body)), "{e}");
}

/// Set by [`two_processes_download_the_file_once`] for its children: `CACHE|ENDPOINT`.
const CHILD_ENV: &str = "KESTREL_HUB_TEST_CHILD";

/// Not a test of its own: the child process of [`two_processes_download_the_file_once`],
/// which downloads into the cache its parent names and prints the path and the progress
/// labels it saw.
#[test]
#[ignore = "run as a child process by two_processes_download_the_file_once"]
fn hub_download_child() {
    let spec = std::env::var(CHILD_ENV).expect("run by two_processes_download_the_file_once");
    let (cache, endpoint) = spec.split_once('|').unwrap();
    let labels = Mutex::new(Vec::<String>::new());
    let progress = |p: &Progress| {
        let mut l = labels.lock().unwrap();
        if l.last() != Some(&p.label) {
            l.push(p.label.clone());
        }
    };
    let path = resolve_or_download(
        &options(std::path::Path::new(cache), endpoint),
        &progress,
        &CancelToken::new(),
    )
    .unwrap();
    println!("PATH {}", path.display());
    for l in labels.lock().unwrap().iter() {
        println!("LABEL {l}");
    }
}

#[test]
fn two_processes_download_the_file_once() {
    let body = payload();
    // About a second of transfer, so the second process arrives while the first writes.
    let server = serve(
        body.clone(),
        Behaviour {
            slow: Some(Duration::from_millis(50)),
            ..Default::default()
        },
    );
    let cache = tempfile::tempdir().unwrap();
    let me = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&me)
                .args([
                    "--exact",
                    "hub::hub_download_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(
                    CHILD_ENV,
                    format!("{}|{}", cache.path().display(), server.endpoint),
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            text
        })
        .collect();
    let paths: Vec<&str> = outs
        .iter()
        .map(|o| {
            o.lines()
                // libtest prints "test NAME ... " before the test's own first line.
                .find_map(|l| l.split_once("PATH ").map(|(_, path)| path))
                .unwrap_or_else(|| panic!("a child printed no path: {o}"))
        })
        .collect();
    assert_eq!(paths[0], paths[1]);
    assert_eq!(std::fs::read(paths[0]).unwrap(), body);
    // One transfer: the body was fetched once, and never with a Range (no second writer
    // appended to, or resumed, the first one's partial file).
    let log = log_of(&server);
    let gets: Vec<_> = log.iter().filter(|l| l.starts_with("GET ")).collect();
    assert_eq!(gets, ["GET /cdn/blob range=None"], "{log:?}");
    // And one of them waited for the other.
    assert!(
        outs.iter()
            .any(|o| o.contains(&format!("LABEL waiting for another download of {FILE}"))),
        "{outs:?}"
    );
    let blobs = cache
        .path()
        .join("models--ibm-esa-geospatial--Llama3-MS-CLIP-base/blobs");
    let names: Vec<_> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [sha_of(&body)]);
}
