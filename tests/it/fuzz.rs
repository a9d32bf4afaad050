//! Fuzz targets for the parsers of Kestrel's own files: the GeoParquet tile index reader
//! (footer, `kestrel` metadata, schema, WKB, embeddings, content digest), STAC item
//! reading (`stac::item::load` and `ItemScene::from_item`), the PMTiles basemap reader
//! (header, gzip'd varint directories, tiles) and the WMTS capabilities reader. Each must return a value or an
//! error naming the file for any input: never panic or hang. (The model files and the
//! tokenizer have theirs in `crates/kestrel-model/tests/it/fuzz.rs`, which also says how
//! the engine, bolero on stable Rust, is run longer.)
//!
//! Under `cargo test` each target runs for about one second on random inputs after
//! replaying the inputs kept under `tests/it/__fuzz__/<target>/corpus`. Index files are
//! mutations of a real index (bytes replaced, cut, a region zeroed), biased towards the
//! footer where the metadata lives; items are built from the fields Kestrel reads.

use std::sync::atomic::{AtomicU64, Ordering};

use kestrel::search::geoparquet::{read_index, read_meta, write_index};
use kestrel::stac::item::{ItemScene, load};
use kestrel::ui::basemap::tile_file::TileArchive;
use kestrel::ui::basemap::wmts::parse_capabilities;
use serde_json::{Value, json};

use super::geoparquet_roundtrip::{meta, tiles};

/// Counts a target's executions and prints the count when dropped (seen with
/// `--nocapture`).
struct Runs(&'static str, AtomicU64, std::time::Instant);

impl Runs {
    fn new(name: &'static str) -> Self {
        Runs(name, AtomicU64::new(0), std::time::Instant::now())
    }
    fn tick(&self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Runs {
    fn drop(&mut self) {
        eprintln!(
            "fuzz {}: {} executions in {:.1} s",
            self.0,
            self.1.load(Ordering::Relaxed),
            self.2.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn fuzz_geoparquet_index() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    write_index(&good, &meta("33UUU"), &tiles("33UUU", 20)).unwrap();
    let base = std::fs::read(&good).unwrap();
    let p = dir.path().join("fuzz.parquet");
    let name = p.display().to_string();
    let runs = Runs::new("geoparquet_index");
    bolero::check!()
        .with_type::<(Vec<(u32, u8, bool)>, Option<u32>, Option<(u32, u16)>)>()
        .for_each(|(edits, cut, zeroed)| {
            runs.tick();
            let mut b = base.clone();
            let n = b.len();
            for &(at, x, in_footer) in edits {
                // half the edits land in the last 4 KiB: footer, metadata, Arrow schema
                let i = if in_footer {
                    n - 1 - (at as usize % 4096.min(n))
                } else {
                    at as usize % n
                };
                b[i] = x;
            }
            if let Some((at, len)) = zeroed {
                let start = *at as usize % n;
                let end = (start + usize::from(*len)).min(n);
                b[start..end].fill(0);
            }
            if let Some(c) = cut {
                b.truncate(*c as usize % (n + 1));
            }
            std::fs::write(&p, &b).unwrap();
            if let Err(e) = read_meta(&p) {
                assert!(e.to_string().contains(&name), "{e}");
            }
            match read_index(&p) {
                Ok((m, t)) => {
                    // what read_index promises of what it returns
                    let dim = m.embed_dim as usize;
                    assert!(
                        t.iter()
                            .all(|t| t.embedding.as_ref().is_none_or(|e| e.len() == dim))
                    );
                }
                Err(e) => assert!(e.to_string().contains(&name), "{e}"),
            }
        });
}

/// Asset keys Kestrel looks at (and some it must skip), hrefs of every kind.
const KEYS: [&str; 14] = [
    "blue",
    "B02",
    "red",
    "nir08",
    "scl",
    "SCL",
    "visual",
    "blue-jp2",
    "B8A",
    "thumbnail",
    "coastal",
    "rededge1",
    "",
    "B99",
];
const HREFS: [&str; 8] = [
    "./B02.tif",
    "https://example.invalid/B04.tif",
    "s3://bucket/B08.jp2",
    "",
    "../../x.tif",
    "/abs/path.tif",
    "https://x.blob.core.windows.net/c/B11.tif?st=1",
    "%zz\u{0}\u{fffd}",
];

/// A JSON value of the kind `kind`, for a property or field.
fn odd(kind: u8, n: i64) -> Value {
    match kind % 8 {
        0 => json!(n),
        1 => json!(n as f64 / 3.0),
        2 => json!(format!("{n}")),
        3 => json!("2023-08-23T09:55:59Z"),
        4 => Value::Null,
        5 => json!(n % 2 == 0),
        6 => json!([n]),
        _ => json!({"scale": n as f64 * 1e-4, "offset": -0.1}),
    }
}

const PROPS: [&str; 8] = [
    "datetime",
    "start_datetime",
    "eo:cloud_cover",
    "s2:processing_baseline",
    "earthsearch:boa_offset_applied",
    "s2:product_type",
    "s2:mgrs_tile",
    "mgrs:utm_zone",
];

#[test]
fn fuzz_stac_item() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("item.json");
    let source = p.display().to_string();
    let runs = Runs::new("stac_item");
    type Asset = (u8, u8, Option<(u8, i64)>, Option<String>);
    bolero::check!()
        .with_type::<(Vec<Asset>, Vec<(u8, u8, i64)>, Option<String>, bool)>()
        .for_each(|(assets, props, raw, featureless)| {
            runs.tick();
            let bytes = match raw {
                // arbitrary text: mostly not JSON
                Some(text) if text.len() % 3 == 0 => text.clone().into_bytes(),
                _ => {
                    let mut a = serde_json::Map::new();
                    for (key, href, extra, band_name) in assets {
                        let mut asset = json!({"href": HREFS[usize::from(*href) % HREFS.len()]});
                        if let Some((kind, n)) = extra {
                            asset["raster:bands"] = json!([odd(*kind, *n)]);
                        }
                        if let Some(b) = band_name {
                            asset["eo:bands"] = json!([{"name": b}]);
                            asset["bands"] = json!([{"name": b}]);
                        }
                        let key = match band_name {
                            Some(b) if key % 5 == 0 => b.clone(),
                            _ => KEYS[usize::from(*key) % KEYS.len()].to_owned(),
                        };
                        a.insert(key, asset);
                    }
                    let mut properties = json!({"datetime": "2023-08-23T09:55:59Z"});
                    for &(k, kind, n) in props {
                        properties[PROPS[usize::from(k) % PROPS.len()]] = odd(kind, n);
                    }
                    let item = json!({
                        "type": if *featureless { "FeatureCollection" } else { "Feature" },
                        "stac_version": "1.0.0",
                        "id": raw.clone().unwrap_or_else(|| "S2B_T33UUU".into()),
                        "geometry": null,
                        "properties": properties,
                        "links": [],
                        "assets": a,
                    });
                    serde_json::to_vec(&item).unwrap()
                }
            };
            std::fs::write(&p, &bytes).unwrap();
            match load(&source) {
                Ok((item, _)) => match ItemScene::from_item(&item, &source, None) {
                    Ok(scene) => {
                        let roles: Vec<_> = scene.bands.iter().map(|b| b.role).collect();
                        for (i, r) in roles.iter().enumerate() {
                            assert!(!roles[..i].contains(r), "one asset per band: {roles:?}");
                        }
                        assert!(scene.bands.iter().all(|b| !b.href.starts_with("s3://")));
                    }
                    Err(e) => assert!(!e.to_string().is_empty()),
                },
                Err(e) => assert!(e.to_string().contains(&source), "{e}"),
            }
        });
}

/// Byte edits of `base`: `(position, value)` pairs (half of them in the first `head`
/// bytes), then an optional cut.
fn mutate(base: &[u8], head: usize, edits: &[(u32, u8, bool)], cut: Option<u32>) -> Vec<u8> {
    let mut b = base.to_vec();
    let n = b.len();
    for &(at, x, in_head) in edits {
        let i = if in_head {
            at as usize % head.min(n)
        } else {
            at as usize % n
        };
        b[i] = x;
    }
    if let Some(c) = cut {
        b.truncate(c as usize % (n + 1));
    }
    b
}

#[test]
fn fuzz_pmtiles() {
    // a real v3 archive written by the PyPI pmtiles package (gzip'd directories)
    let base =
        std::fs::read(super::common::repo().join("tests/fixtures/basemap/solid.pmtiles")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fuzz.pmtiles");
    let name = p.display().to_string();
    let runs = Runs::new("pmtiles");
    bolero::check!()
        .with_type::<(Vec<(u32, u8, bool)>, Option<u32>, Vec<(u8, u32, u32)>)>()
        .for_each(|(edits, cut, tiles)| {
            runs.tick();
            // half the edits in the 127-byte header and the root directory after it
            std::fs::write(&p, mutate(&base, 512, edits, *cut)).unwrap();
            match TileArchive::open(&p) {
                Ok(mut a) => {
                    assert!(a.min_zoom <= 30 && a.max_zoom <= 30);
                    for &(z, x, y) in tiles.iter().take(8) {
                        let z = z % 31;
                        let side = 1u32 << z;
                        // a tile that cannot be read is an error, never a panic
                        let _ = a.tile(z, x % side, y % side);
                    }
                }
                Err(e) => assert!(e.contains(&name), "{e}"),
            }
        });
}

/// A small WMTS capabilities document to mutate (a REST layer, a KVP layer, a matrix set).
const CAPABILITIES: &str = r#"<?xml version="1.0"?>
<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1"
 xmlns:xlink="http://www.w3.org/1999/xlink" version="1.0.0">
<ows:OperationsMetadata><ows:Operation name="GetTile"><ows:DCP><ows:HTTP>
<ows:Get xlink:href="https://h/wmts?"><ows:Constraint name="GetEncoding"><ows:AllowedValues>
<ows:Value>KVP</ows:Value></ows:AllowedValues></ows:Constraint></ows:Get></ows:HTTP></ows:DCP>
</ows:Operation></ows:OperationsMetadata><Contents>
<Layer><ows:Title>A</ows:Title><ows:Identifier>a</ows:Identifier><Format>image/png</Format>
<Style isDefault="true"><ows:Identifier>s</ows:Identifier></Style>
<Dimension><ows:Identifier>Time</ows:Identifier><Default>2024</Default></Dimension>
<TileMatrixSetLink><TileMatrixSet>g</TileMatrixSet></TileMatrixSetLink>
<ResourceURL format="image/png" resourceType="tile" template="https://h/{Time}/{TileMatrix}/{TileRow}/{TileCol}.png"/></Layer>
<Layer><ows:Identifier>b</ows:Identifier><Format>image/jpeg</Format>
<TileMatrixSetLink><TileMatrixSet>g</TileMatrixSet></TileMatrixSetLink></Layer>
<TileMatrixSet><ows:Identifier>g</ows:Identifier><ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS>
<TileMatrix><ows:Identifier>0</ows:Identifier><ScaleDenominator>559082264.0287178</ScaleDenominator>
<TopLeftCorner>-20037508.3427892 20037508.3427892</TopLeftCorner><TileWidth>256</TileWidth><TileHeight>256</TileHeight></TileMatrix>
<TileMatrix><ows:Identifier>1</ows:Identifier><ScaleDenominator>279541132.0143589</ScaleDenominator>
<TopLeftCorner>-20037508.3427892 20037508.3427892</TopLeftCorner><TileWidth>256</TileWidth><TileHeight>256</TileHeight></TileMatrix>
</TileMatrixSet></Contents></Capabilities>"#;

#[test]
fn fuzz_wmts_capabilities() {
    use walkers::sources::TileSource as _;
    // the unmutated document reads, so the mutations start from something that parses
    assert_eq!(
        parse_capabilities(CAPABILITIES, "u").unwrap().layers.len(),
        2
    );
    let runs = Runs::new("wmts_capabilities");
    bolero::check!()
        .with_type::<(Vec<(u32, u8, bool)>, Option<u32>, Option<String>)>()
        .for_each(|(edits, cut, raw)| {
            runs.tick();
            let bytes = match raw {
                Some(text) if text.len() % 2 == 0 => text.clone().into_bytes(),
                _ => mutate(CAPABILITIES.as_bytes(), 1200, edits, *cut),
            };
            let text = String::from_utf8_lossy(&bytes);
            match parse_capabilities(&text, "https://h/caps.xml") {
                Ok(c) => {
                    for l in &c.layers {
                        // every usable layer makes tile URLs at every zoom
                        for z in [0u8, 1, 5, 19] {
                            let url = l.source.tile_url(walkers::TileId {
                                x: 1,
                                y: 0,
                                zoom: z,
                            });
                            assert!(url.starts_with("http"), "{url}");
                        }
                        assert!(l.source.max_zoom() <= 24);
                    }
                }
                Err(e) => assert!(!e.is_empty()),
            }
        });
}
