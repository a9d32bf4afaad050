//! STAC on loopback: `rustac serve` (PyPI `rustac`, found next to `$KESTREL_PYTHON`, as
//! `$KESTREL_RUSTAC` or on `PATH`; the search tests skip with a message without it) serving
//! items made here, and the small HTTP/1.1 server of `tests/common/stac_fixture.rs` that
//! honours Range requests, counts the bytes it sends, answers 404 for missing files, can
//! drop the connection mid-body, and can demand a signature with a signing endpoint of its
//! own. The scenes are per-band COGs in the Earth Search layout cut with GDAL from a
//! `../shared/data` chip (20 m bands at 20 m; these tests skip without `../shared`), or
//! from the vendored chip for the signing test.
//!
//! What they assert: search filters (bbox, datetime with an inclusive date-only end, cloud
//! cover filtered on the client since rustac serve declares no query extension), paging,
//! date order, the CLI with a leading-minus bbox; an item opened over HTTP equals the same
//! COGs opened as a local band folder (bands, grids, pixels, radiometry, tiny-model
//! embeddings), its BOA decision from `earthsearch:boa_offset_applied` despite a
//! `raster:bands` offset, SCL cloud fractions; bytes read by opening (headers) and by the
//! first sample; an unreachable API, a 404 asset and a dropped connection give clear errors, and
//! `kestrel index` of the dropping item exits 75 (retry) with nothing left in its `--out-dir`;
//! assets answering 403 say to set `KESTREL_STAC_SIGN`, and with it set to the signing
//! endpoint the item searches to the same scores as the local COGs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::stac_fixture::{
    RangeServer, earth_search_item, free_port, gdal, make_chip_cogs, rustac_serve,
};

use kestrel::jobs::{CancelToken, NoProgress};
use kestrel::model::device::{DevicePreference, Precision};
use kestrel::model::{Embedder, ModelSpec};
use kestrel::raster::read::{ReadRequest, Window};
use kestrel::raster::{BandRole, Scene, SourceKind};
use kestrel::search::index::{IndexOptions, build_index};
use kestrel::stac::{SearchParams, search};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tiny() -> Embedder {
    let spec = ModelSpec {
        checkpoint: Some(repo().join("tests/fixtures/msclip_tiny/msclip_random.safetensors")),
        config: None,
        device: DevicePreference::Cpu,
        precision: Precision::F32,
        ..ModelSpec::default()
    };
    Embedder::load(&spec, &NoProgress, &CancelToken::new()).expect("tiny model")
}

fn open(p: &Path) -> Scene {
    Scene::open(p, &CancelToken::new()).unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
}

/// The chip's COGs in `<tmp>/www/chip/`, its item at `<tmp>/www/<id>.json`, served.
fn served_chip(tmp: &Path, drop_after: u64) -> Option<(RangeServer, PathBuf, String)> {
    let www = tmp.join("www");
    if !make_chip_cogs(
        &repo().join("../shared/data/msclip-examples/637U_59R_1_3.tif"),
        &www.join("chip"),
    ) {
        return None;
    }
    let server = RangeServer::start(www.clone(), drop_after);
    let local = open(&www.join("chip"));
    let b = local.info().bounds_wgs84;
    let item = earth_search_item(
        "S2B_32VNJ_20171030_0_L2A",
        &server.base,
        "chip",
        [b.min_x, b.min_y, b.max_x, b.max_y],
        "2017-10-30T10:32:09Z",
    );
    std::fs::write(www.join("S2B_32VNJ_20171030_0_L2A.json"), item.to_string()).unwrap();
    let url = format!("{}/S2B_32VNJ_20171030_0_L2A.json", server.base);
    Some((server, www, url))
}

// ------------------------------------------------------------------ tests

fn search_item(id: &str, dt: &str, bbox: [f64; 4], cloud: f64) -> Value {
    let [w, s, e, n] = bbox;
    json!({"type": "Feature", "stac_version": "1.0.0", "id": id, "collection": "sentinel-2-l2a",
        "bbox": bbox,
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"datetime": dt, "eo:cloud_cover": cloud, "s2:mgrs_tile": "30UVD",
                       "s2:processing_baseline": "05.10"},
        "links": [], "assets": {}})
}

#[test]
fn rustac_serve_search_filters_pages_and_sorts() {
    let tmp = tempfile::tempdir().unwrap();
    let aber = [-4.2, 52.3, -3.9, 52.5];
    let far = [10.0, 50.0, 10.5, 50.5];
    let items = vec![
        search_item("d-0805-clear", "2023-08-05T11:00:00Z", aber, 3.0),
        search_item("a-0801-clear", "2023-08-01T11:00:00Z", aber, 1.0),
        search_item("c-0803-cloudy", "2023-08-03T11:00:00Z", aber, 80.0),
        search_item("b-0802-clear", "2023-08-02T11:00:00Z", aber, 10.0),
        search_item("e-0804-late", "2023-08-04T23:30:00Z", aber, 5.0),
        search_item("f-0810-after", "2023-08-10T11:00:00Z", aber, 0.0),
        search_item("g-0802-far", "2023-08-02T11:00:00Z", far, 0.0),
    ];
    let Some(api) = rustac_serve(tmp.path(), &items) else {
        return;
    };
    let params = SearchParams {
        api: api.url.clone(),
        collections: vec!["sentinel-2-l2a".into()],
        bbox: Some([-4.1, 52.4, -4.0, 52.45]),
        // date-only END: the whole of 4 August is in, 5 August is out
        datetime: Some("2023-08-01/2023-08-04".into()),
        max_cloud: Some(20.0),
        limit: None,
        page_size: Some(2),
    };
    let out = search(&params, &CancelToken::new()).expect("search");
    let ids: Vec<&str> = out.hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(
        ids,
        ["a-0801-clear", "b-0802-clear", "e-0804-late"],
        "{out:?}"
    );
    // bbox and datetime done by the server (4 items, 2 per page), cloud on the client
    assert_eq!(out.returned, 4, "{out:?}");
    assert!(out.pages >= 2, "{out:?}");
    assert!(
        out.notes.iter().any(|n| n.contains("cloud cover ≤ 20")),
        "{:?}",
        out.notes
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("1 item(s)") && n.contains("cloud cover")),
        "{:?}",
        out.notes
    );
    let h = &out.hits[2];
    assert_eq!(h.datetime.as_deref(), Some("2023-08-04T23:30:00Z"));
    assert_eq!(h.cloud_cover, Some(5.0));
    assert_eq!(h.mgrs_tile.as_deref(), Some("30UVD"));
    assert_eq!(h.processing_baseline.as_deref(), Some("05.10"));
    assert_eq!(h.bbox, Some(aber));
    assert!(h.footprint.is_some());
    // no self link in the item: rustac serve adds its own, which is the item URL
    let href = h.href.as_deref().unwrap();
    assert!(href.starts_with(&api.url), "{href}");

    // limit keeps the earliest after sorting
    let out = search(
        &SearchParams {
            limit: Some(2),
            max_cloud: None,
            ..params.clone()
        },
        &CancelToken::new(),
    )
    .unwrap();
    let ids: Vec<&str> = out.hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["a-0801-clear", "b-0802-clear"]);

    // through the binary, with a leading minus in --bbox
    let bin = env!("CARGO_BIN_EXE_kestrel");
    let o = Command::new(bin)
        .args([
            "stac",
            "search",
            "--api",
            &api.url,
            "--bbox",
            "-4.1,52.4,-4.0,52.45",
            "--datetime",
            "2023-08-01/2023-08-04",
            "--max-cloud",
            "20",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = lines.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a-0801-clear", "b-0802-clear", "e-0804-late"]);
    assert_eq!(lines[0]["cloud_cover"], json!(1.0));
}

#[test]
fn unreachable_api_fails_fast_naming_the_url() {
    let port = free_port(); // bound and released: nothing listens there
    let url = format!("http://127.0.0.1:{port}");
    let t0 = Instant::now();
    let err = search(
        &SearchParams {
            api: url.clone(),
            ..Default::default()
        },
        &CancelToken::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(
        err.contains(&url) && err.contains("could not connect"),
        "{err}"
    );
    let bad = kestrel::stac::parse_interval("2023-08-05/2023-08-01").unwrap_err();
    assert!(bad.to_string().contains("end is before the start"), "{bad}");
    let iv = kestrel::stac::parse_interval("2023-08-01/2023-08-04").unwrap();
    assert_eq!(iv.to_api(), "2023-08-01T00:00:00Z/2023-08-04T23:59:59.999Z");
    assert!(kestrel::stac::parse_bbox("-4.1,52.4,-4.0").is_err());
}

#[test]
fn item_over_http_equals_local_cogs() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((server, www, url)) = served_chip(tmp.path(), u64::MAX) else {
        return;
    };
    let local = open(&www.join("chip"));
    server.reset();
    let remote = open(Path::new(&url));
    let open_bytes = server.bytes();
    let ri = remote.info();
    let li = local.info();
    assert_eq!(ri.source_kind, SourceKind::StacItem);
    assert_eq!(ri.product_id.as_deref(), Some("S2B_32VNJ_20171030_0_L2A"));
    assert_eq!(ri.mgrs_tile.as_deref(), Some("32VNJ"));
    assert_eq!(ri.sensing_time.as_deref(), Some("2017-10-30T10:32:09Z"));
    assert_eq!(ri.baseline.as_deref(), Some("05.09"));
    assert_eq!(format!("{:?}", ri.level), "L2A");
    assert_eq!(ri.roles(), li.roles());
    assert_eq!(ri.roles().len(), 11); // 10 spectral + SCL; no -jp2 twin, no visual
    assert!(ri.roles().contains(&BandRole::Scl));
    assert_eq!(ri.grid, li.grid);
    for (r, l) in ri.bands.iter().zip(&li.bands) {
        assert!(
            r.source
                .to_string_lossy()
                .starts_with("/vsicurl/http://127.0.0.1"),
            "{}",
            r.source.display()
        );
        assert_eq!(r.grid, l.grid);
        assert!(
            r.identified_by.contains("STAC asset key"),
            "{}",
            r.identified_by
        );
    }
    assert!(
        ri.notes.iter().any(|n| n.contains("s3://")),
        "the -jp2 twins are reported: {:?}",
        ri.notes
    );
    // BOA decision: boa_offset_applied wins over the raster:bands offset and baseline 05.09
    assert_eq!(ri.radiometry.offset, 0.0);
    assert_eq!(ri.radiometry.scale_to_10000, 1.0);
    assert!(
        ri.radiometry.reason.contains("boa_offset_applied"),
        "{}",
        ri.radiometry.reason
    );
    assert_eq!(
        ri.open_sample_pixels, None,
        "metadata settles it: no pixel read"
    );
    // the local folder decides the same from its pixels
    assert_eq!(li.radiometry.offset, ri.radiometry.offset);
    assert_eq!(li.radiometry.scale_to_10000, ri.radiometry.scale_to_10000);

    // (bytes: see bytes_read_by_open_and_by_the_first_sample; these COGs are too small)
    eprintln!("chip item open: {open_bytes} bytes");

    // every pixel equal, 20 m bands resampled the same way
    let all: Vec<usize> = (0..ri.bands.len()).collect();
    let req = ReadRequest::full_resolution(all, Window::new(0, 0, 224, 224));
    let a = remote.read(&req, &CancelToken::new()).unwrap();
    let b = local.read(&req, &CancelToken::new()).unwrap();
    for i in 0..ri.bands.len() {
        assert_eq!(a.plane(i), b.plane(i), "band {i}");
    }
    // the tiny model scores: same embeddings, SCL cloud quadrant
    let model = tiny();
    let ia = build_index(
        &remote,
        &model,
        &IndexOptions::default(),
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    let ib = build_index(
        &local,
        &model,
        &IndexOptions::default(),
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(ia.tiles.len(), 1);
    assert_eq!(ia.tiles.len(), ib.tiles.len());
    assert_eq!(ia.tiles[0].cloud_fraction, Some(0.25));
    assert_eq!(ia.tiles[0].cloud_fraction, ib.tiles[0].cloud_fraction);
    let (ea, eb) = (
        ia.tiles[0].embedding.as_ref().unwrap(),
        ib.tiles[0].embedding.as_ref().unwrap(),
    );
    assert_eq!(ea, eb);

    // found by a search on rustac serve and opened from the URL the search gives
    let item: Value =
        serde_json::from_slice(&std::fs::read(www.join("S2B_32VNJ_20171030_0_L2A.json")).unwrap())
            .unwrap();
    let api_dir = tmp.path().join("api");
    std::fs::create_dir_all(&api_dir).unwrap();
    if let Some(api) = rustac_serve(&api_dir, &[item]) {
        let b = ri.bounds_wgs84;
        let out = search(
            &SearchParams {
                api: api.url.clone(),
                bbox: Some([b.min_x, b.min_y, b.max_x, b.max_y]),
                datetime: Some("2017-10-30".into()),
                ..Default::default()
            },
            &CancelToken::new(),
        )
        .unwrap();
        assert_eq!(out.hits.len(), 1, "{out:?}");
        let href = out.hits[0].href.clone().unwrap();
        let via_api = open(Path::new(&href));
        assert_eq!(via_api.info().roles(), ri.roles());
        assert_eq!(via_api.info().product_id, ri.product_id);
    }

    // kestrel info on the URL through the binary
    let o = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["info", &url, "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["source_kind"], json!("stac_item"), "{v}");
}

#[test]
fn bytes_read_by_open_and_by_the_first_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo().join("../shared/data/rsgislib-aberystwyth/sen2_20210527_aber_mosaic.tif");
    if !src.is_file() {
        eprintln!("SKIP: {} is absent (needs ../shared)", src.display());
        return;
    }
    // the ARCSI stack as Earth Search COGs (all at 10 m; overviews, 256 px tiles)
    let www = tmp.path().join("www");
    let dir = www.join("aber");
    std::fs::create_dir_all(&dir).unwrap();
    let order = [
        "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12",
    ];
    for (i, name) in order.iter().enumerate() {
        gdal(&[
            "-q",
            "-of",
            "COG",
            "-b",
            &(i + 1).to_string(),
            "-co",
            "COMPRESS=DEFLATE",
            "-co",
            "BLOCKSIZE=256",
            &src.to_string_lossy(),
            &dir.join(format!("{name}.tif")).to_string_lossy(),
        ]);
    }
    let server = RangeServer::start(www.clone(), u64::MAX);
    let item = earth_search_item(
        "S2A_30UVD_20210527_0_L2A",
        &server.base,
        "aber",
        [-4.1, 52.38, -4.0, 52.44],
        "2021-05-27T11:00:00Z",
    );
    // no SCL for this one
    let mut item = item;
    item["assets"].as_object_mut().unwrap().remove("scl");
    std::fs::write(www.join("aber.json"), item.to_string()).unwrap();
    let total: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    server.reset();
    let scene = open(Path::new(&format!("{}/aber.json", server.base)));
    let open_bytes = server.bytes();
    let open_requests = server.requests();
    // about two a band (10 of them): no directory listing, no probing for side files
    assert!(open_requests <= 22, "open took {open_requests} requests");
    server.reset();
    let sample = kestrel::raster::view::sample(&scene, &CancelToken::new()).unwrap();
    let sample_bytes = server.bytes();
    let requests = server.requests();
    eprintln!(
        "aber: total {total} B; open {open_bytes} B ({:.1} %); first sample {}x{} px: {sample_bytes} B ({:.1} %) in {requests} requests",
        100.0 * open_bytes as f64 / total as f64,
        sample.width,
        sample.height,
        100.0 * sample_bytes as f64 / total as f64
    );
    assert!(open_bytes * 10 < total, "open read {open_bytes} of {total}");
    assert!(
        sample_bytes * 2 < total,
        "the sample read {sample_bytes} of {total}"
    );
}

#[test]
fn missing_asset_and_dropped_connection_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((server, www, _)) = served_chip(tmp.path(), 4000) else {
        return;
    };
    // a 404 asset: red points to a file that is not there
    let mut item: Value =
        serde_json::from_slice(&std::fs::read(www.join("S2B_32VNJ_20171030_0_L2A.json")).unwrap())
            .unwrap();
    let missing = format!("{}/chip/B04_missing.tif", server.base);
    item["assets"]["red"]["href"] = json!(missing);
    std::fs::write(www.join("missing.json"), item.to_string()).unwrap();
    let err = Scene::open(
        Path::new(&format!("{}/missing.json", server.base)),
        &CancelToken::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(&missing) && err.contains("404"), "{err}");

    // a missing item
    let err = Scene::open(
        Path::new(&format!("{}/nope.json", server.base)),
        &CancelToken::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("nope.json") && err.contains("HTTP 404"),
        "{err}"
    );

    // the server drops every answer longer than 4000 bytes after 4000 bytes
    let mut item: Value =
        serde_json::from_slice(&std::fs::read(www.join("S2B_32VNJ_20171030_0_L2A.json")).unwrap())
            .unwrap();
    for (_, a) in item["assets"].as_object_mut().unwrap() {
        let h = a["href"].as_str().unwrap().to_string();
        if let Some(rest) = h.strip_prefix(&server.base) {
            a["href"] = json!(format!("{}/drop{rest}", server.base));
        }
    }
    std::fs::write(www.join("drop.json"), item.to_string()).unwrap();
    let t0 = Instant::now();
    let result = Scene::open(
        Path::new(&format!("{}/drop.json", server.base)),
        &CancelToken::new(),
    )
    .and_then(|s| {
        let all: Vec<usize> = (0..s.bands().len()).collect();
        s.read(
            &ReadRequest::full_resolution(all, Window::new(0, 0, 224, 224)),
            &CancelToken::new(),
        )
        .map(|_| ())
    });
    let err = result
        .expect_err("a dropped connection is an error")
        .to_string();
    eprintln!("dropped: {err} ({:?})", t0.elapsed());
    assert!(
        err.contains("/drop/chip/"),
        "the error names the URL: {err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(60));

    // the same item as a cluster job: exit 75 (transient, retry), the summary line says so,
    // and no shard (nor a temporary) is left in the output folder
    let out_dir = tmp.path().join("shards");
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["index", "--json", "--progress", "none", "--model"])
        .arg(crate::common::fixture(
            "msclip_tiny/msclip_random.safetensors",
        ))
        .arg("--out-dir")
        .arg(&out_dir)
        .arg(format!("{}/drop.json", server.base))
        .env("KESTREL_CACHE_DIR", tmp.path().join("cache"))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(75),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["status"], "failed");
    assert_eq!(line["exit_code"], 75);
    assert_eq!(line["retry"], true);
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing is left behind: {left:?}");
}

/// The score column of a search CSV.
fn csv_scores(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "score")
        .expect("a score column");
    lines
        .map(|l| l.split(',').nth(col).unwrap().to_string())
        .collect()
}

#[test]
fn assets_behind_a_signing_endpoint() {
    // the vendored chip, so this runs without ../shared
    let tmp = tempfile::tempdir().unwrap();
    let www = tmp.path().join("www");
    let chip = repo().join("tests/fixtures/chips/637U_59R_1_3.tif");
    assert!(make_chip_cogs(&chip, &www.join("chip")));
    let server = RangeServer::start_signed(www.clone());
    let local = open(&www.join("chip"));
    let b = local.info().bounds_wgs84;
    let id = "S2A_32VNJ_20171030_0_L2A_SIGNED";
    let item = earth_search_item(
        id,
        &server.base,
        "chip",
        [b.min_x, b.min_y, b.max_x, b.max_y],
        "2017-10-30T10:32:09Z",
    );
    std::fs::write(www.join(format!("{id}.json")), item.to_string()).unwrap();
    let url = format!("{}/{id}.json", server.base);
    let cache = tmp.path().join("cache");
    let run = |sign: Option<&str>, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kestrel"));
        cmd.args(args)
            .env("KESTREL_CACHE_DIR", &cache)
            .env("HF_HUB_OFFLINE", "1")
            .env_remove("KESTREL_STAC_SIGN");
        if let Some(s) = sign {
            cmd.env("KESTREL_STAC_SIGN", s);
        }
        cmd.output().unwrap()
    };

    // unsigned: the asset answers 403 and the error says what to set
    let out = run(None, &["info", &url]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for needle in [
        "need signing",
        "HTTP 403",
        "KESTREL_STAC_SIGN",
        &format!("{}/chip/", server.base),
    ] {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }

    // signed at the endpoint: the item opens and searches as the local COGs do
    let endpoint = format!("{}/api/sas/v1/sign", server.base);
    let out = run(Some(&endpoint), &["info", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Bands (11)"), "ten bands and SCL: {text}");
    let model = repo().join("tests/fixtures/msclip_tiny/msclip_random.safetensors");
    let model = model.to_string_lossy();
    let (signed_csv, local_csv) = (tmp.path().join("signed.csv"), tmp.path().join("local.csv"));
    let chip_dir = www.join("chip").to_string_lossy().into_owned();
    for (scene, csv) in [(url.as_str(), &signed_csv), (chip_dir.as_str(), &local_csv)] {
        let out = run(
            Some(&endpoint),
            &[
                "search",
                "--model",
                &model,
                "--query",
                "fields",
                "--top",
                "5",
                "--csv",
                &csv.to_string_lossy(),
                scene,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (signed, local) = (csv_scores(&signed_csv), csv_scores(&local_csv));
    assert!(!signed.is_empty());
    assert_eq!(
        signed, local,
        "the signed item's scores are the local COGs' scores"
    );
}
