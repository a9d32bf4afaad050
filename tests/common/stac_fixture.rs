//! Test servers and scenes for STAC, shared by the integration tests (`tests/it`) and the
//! UI tests (`tests/ui`), each of which includes this file as a module: a small HTTP/1.1
//! file server on loopback that honours Range requests, counts the bytes it sends, answers
//! 404 for missing files and can drop the connection mid-body; `rustac serve` (PyPI
//! `rustac`) over items made here; per-band COGs in the Earth Search layout cut from a
//! MajorTOM chip, and an Earth Search v1–style item for them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

// ------------------------------------------------------------------ range server

/// A tiny HTTP/1.1 file server on 127.0.0.1: GET and HEAD, single `Range: bytes=a-b`,
/// 404 for missing files, `Connection: close`. Paths under `/drop/` send the headers of
/// the whole answer and then close after `drop_after` body bytes when the answer is longer.
/// The query a [`RangeServer::start_signed`] server wants on every file.
pub const SIGNATURE: &str = "sig=kestrel-test";

/// `%XX` escapes decoded (the signing endpoint's `href` parameter).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct RangeServer {
    pub base: String,
    sent: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
}

impl RangeServer {
    pub fn start(root: PathBuf, drop_after: u64) -> RangeServer {
        Self::start_with(root, drop_after, false)
    }

    /// A server whose files answer 403 unless the query carries [`SIGNATURE`], with a
    /// Planetary Computer–style signing endpoint at `/api/sas/v1/sign?href=…` that
    /// answers `{"href": "<href>?<SIGNATURE>"}`.
    pub fn start_signed(root: PathBuf) -> RangeServer {
        Self::start_with(root, u64::MAX, true)
    }

    fn start_with(root: PathBuf, drop_after: u64, signed: bool) -> RangeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let (s, r) = (sent.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, s, r) = (root.clone(), s.clone(), r.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &root, &s, &r, drop_after, signed);
                });
            }
        });
        RangeServer {
            base,
            sent,
            requests,
        }
    }

    pub fn reset(&self) {
        self.sent.store(0, Ordering::SeqCst);
        self.requests.store(0, Ordering::SeqCst);
    }

    /// Body bytes sent since the start (or the last reset).
    pub fn bytes(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Requests answered since the start (or the last reset).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve_one(
    mut stream: TcpStream,
    root: &Path,
    sent: &AtomicU64,
    requests: &AtomicU64,
    drop_after: u64,
    signed: bool,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut range: Option<String> = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_string());
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let (path_part, query) = target.split_once('?').unwrap_or((&target, ""));
    if signed {
        if path_part == "/api/sas/v1/sign" {
            let href = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("href="))
                .map(percent_decode)
                .unwrap_or_default();
            let body = json!({"href": format!("{href}?{SIGNATURE}"), "msft:expiry": "2099-01-01T00:00:00Z"})
                .to_string();
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return Ok(());
        }
        if !query.split('&').any(|kv| kv == SIGNATURE) && !path_part.ends_with(".json") {
            let body = b"AuthenticationFailed";
            write!(
                stream,
                "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            if method != "HEAD" {
                stream.write_all(body)?;
            }
            return Ok(());
        }
    }
    let dropping = path_part.starts_with("/drop/");
    let rel = path_part
        .trim_start_matches("/drop/")
        .trim_start_matches('/');
    let file = root.join(rel);
    let Ok(data) = std::fs::read(&file) else {
        let body = b"not found";
        write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        if method != "HEAD" {
            stream.write_all(body)?;
        }
        return Ok(());
    };
    let len = data.len() as u64;
    let (status, start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(spec) if !spec.contains(',') => {
            let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
            let (start, end) = if a.is_empty() {
                let n: u64 = b.parse().unwrap_or(0);
                (len.saturating_sub(n), len - 1)
            } else {
                let s: u64 = a.parse().unwrap_or(0);
                let e: u64 = if b.is_empty() {
                    len - 1
                } else {
                    b.parse::<u64>().unwrap_or(len - 1).min(len - 1)
                };
                (s, e)
            };
            if start >= len {
                write!(
                    stream,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )?;
                return Ok(());
            }
            (206, start, end)
        }
        _ => (200, 0, len.saturating_sub(1)),
    };
    let n = end + 1 - start;
    let ctype = match rel.rsplit_once('.').map(|(_, e)| e) {
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "image/tiff",
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {ctype}\r\nContent-Length: {n}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n",
        status,
        if status == 206 {
            "Partial Content"
        } else {
            "OK"
        }
    );
    if status == 206 {
        head.push_str(&format!("Content-Range: bytes {start}-{end}/{len}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if method == "HEAD" {
        return Ok(());
    }
    let body = &data[start as usize..=end as usize];
    let body = if dropping && n > drop_after {
        &body[..drop_after as usize]
    } else {
        body
    };
    stream.write_all(body)?;
    sent.fetch_add(body.len() as u64, Ordering::SeqCst);
    stream.flush()?;
    if dropping && n > drop_after {
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
    Ok(())
}

// ------------------------------------------------------------------ rustac serve

pub fn rustac_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("KESTREL_RUSTAC") {
        return Some(PathBuf::from(p));
    }
    if let Ok(py) = std::env::var("KESTREL_PYTHON") {
        let p = Path::new(&py).with_file_name("rustac");
        if p.is_file() {
            return Some(p);
        }
    }
    let ok = Command::new("rustac")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| PathBuf::from("rustac"))
}

pub struct Rustac {
    child: Child,
    pub url: String,
}

impl Drop for Rustac {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `rustac serve` over these items (one collection, `sentinel-2-l2a`), or `None` (skip).
pub fn rustac_serve(dir: &Path, items: &[Value]) -> Option<Rustac> {
    let Some(bin) = rustac_binary() else {
        eprintln!(
            "SKIP: rustac not found (pip install rustac==0.9.18, packaging/requirements-interop.txt; \
             or set KESTREL_RUSTAC / KESTREL_PYTHON)"
        );
        return None;
    };
    let coll = json!({"type": "Collection", "stac_version": "1.0.0", "id": "sentinel-2-l2a",
        "description": "test", "license": "proprietary",
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                   "temporal": {"interval": [[null, null]]}}, "links": []});
    std::fs::write(dir.join("collection.json"), coll.to_string()).unwrap();
    let fc = json!({"type": "FeatureCollection", "features": items});
    std::fs::write(dir.join("items.json"), fc.to_string()).unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(&bin)
        .args(["serve", "collection.json", "items.json", "--addr", &addr])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rustac serve");
    let server = Rustac {
        child,
        url: format!("http://{addr}"),
    };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        if TcpStream::connect(&addr).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("rustac serve did not listen on {addr} within 20 s");
}

// ------------------------------------------------------------------ scenes

pub fn gdal(args: &[&str]) {
    let out = Command::new("gdal_translate")
        .args(args)
        .output()
        .expect("gdal_translate");
    assert!(
        out.status.success(),
        "gdal_translate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Earth Search key, file name, 1-based band in the MajorTOM 12-band chip, 20 m?
pub const CHIP_BANDS: [(&str, &str, usize, bool); 10] = [
    ("blue", "B02", 2, false),
    ("green", "B03", 3, false),
    ("red", "B04", 4, false),
    ("rededge1", "B05", 5, true),
    ("rededge2", "B06", 6, true),
    ("rededge3", "B07", 7, true),
    ("nir", "B08", 8, false),
    ("nir08", "B8A", 9, true),
    ("swir16", "B11", 11, true),
    ("swir22", "B12", 12, true),
];

/// Per-band COGs of the MajorTOM chip `src` (a 12-band GeoTIFF) in `dir` (10 m bands at
/// 10 m, 20 m bands averaged to 20 m) plus an SCL COG at 20 m whose top-left quadrant is
/// cloud (9) and the rest vegetation (4). Returns false (skip, with a message) when `src`
/// is absent.
pub fn make_chip_cogs(src: &Path, dir: &Path) -> bool {
    if !src.is_file() {
        eprintln!("SKIP: {} is absent (needs ../shared)", src.display());
        return false;
    }
    std::fs::create_dir_all(dir).unwrap();
    let s = src.to_string_lossy().into_owned();
    for (_, name, b, is20) in CHIP_BANDS {
        let out = dir.join(format!("{name}.tif"));
        let o = out.to_string_lossy().into_owned();
        let bs = b.to_string();
        let mut args = vec![
            "-q",
            "-of",
            "COG",
            "-b",
            &bs,
            "-co",
            "COMPRESS=DEFLATE",
            "-co",
            "BLOCKSIZE=128",
        ];
        if is20 {
            args.extend(["-tr", "20", "20", "-r", "average"]);
        }
        args.extend([s.as_str(), o.as_str()]);
        gdal(&args);
    }
    // SCL: 112 x 112 at 20 m, quadrant of cloud
    let b04 = dir.join("B04.tif");
    let scl_vrt = dir.join("scl_src.tif");
    gdal(&[
        "-q",
        "-ot",
        "Byte",
        "-tr",
        "20",
        "20",
        "-scale",
        "0",
        "100000",
        "4",
        "4",
        &b04.to_string_lossy(),
        &scl_vrt.to_string_lossy(),
    ]);
    {
        let ds = gdal::Dataset::open_ex(
            &scl_vrt,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE,
                ..Default::default()
            },
        )
        .unwrap();
        let mut band = ds.rasterband(1).unwrap();
        let (w, h) = band.size();
        let mut v = vec![4u8; w * h];
        for y in 0..h / 2 {
            for x in 0..w / 2 {
                v[y * w + x] = 9;
            }
        }
        let mut buf = gdal::raster::Buffer::new((w, h), v);
        band.write((0, 0), (w, h), &mut buf).unwrap();
    }
    gdal(&[
        "-q",
        "-of",
        "COG",
        "-co",
        "COMPRESS=DEFLATE",
        &scl_vrt.to_string_lossy(),
        &dir.join("SCL.tif").to_string_lossy(),
    ]);
    std::fs::remove_file(&scl_vrt).unwrap();
    true
}

/// An Earth Search v1–style item for the COGs under `base/<folder>/`, with `-jp2` twins
/// on s3://, a `visual` asset, and `raster:bands` listing the −0.1 offset that
/// `earthsearch:boa_offset_applied: true` overrides.
pub fn earth_search_item(id: &str, base: &str, folder: &str, bounds: [f64; 4], dt: &str) -> Value {
    let mut assets = serde_json::Map::new();
    for (key, name, _, is20) in CHIP_BANDS {
        assets.insert(
            key.into(),
            json!({"href": format!("{base}/{folder}/{name}.tif"),
                   "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                   "roles": ["data", "reflectance"],
                   "eo:bands": [{"name": key, "common_name": key}],
                   "gsd": if is20 { 20 } else { 10 },
                   "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 0.0001,
                                     "offset": -0.1}]}),
        );
        assets.insert(
            format!("{key}-jp2"),
            json!({"href": format!("s3://sentinel-s2-l2a/tiles/{name}.jp2"),
                   "type": "image/jp2", "roles": ["data"],
                   "eo:bands": [{"name": key}]}),
        );
    }
    assets.insert(
        "scl".into(),
        json!({"href": format!("{base}/{folder}/SCL.tif"), "roles": ["data"]}),
    );
    assets.insert(
        "visual".into(),
        json!({"href": format!("{base}/{folder}/B04.tif"), "roles": ["visual"],
               "eo:bands": [{"name": "red"}, {"name": "green"}, {"name": "blue"}]}),
    );
    assets.insert(
        "thumbnail".into(),
        json!({"href": format!("{base}/{folder}/thumb.png"), "roles": ["thumbnail"]}),
    );
    let [w, s, e, n] = bounds;
    json!({
        "type": "Feature", "stac_version": "1.0.0", "id": id, "collection": "sentinel-2-l2a",
        "bbox": [w, s, e, n],
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"datetime": dt, "eo:cloud_cover": 12.5, "s2:mgrs_tile": "32VNJ",
                       "s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": true,
                       "s2:product_type": "S2MSI2A"},
        "links": [{"rel": "self", "href": format!("{base}/{id}.json")}],
        "assets": assets
    })
}
