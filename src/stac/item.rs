//! A STAC item as a scene input: [`is_item_source`] tells a path that names an item (an
//! `http(s)://` URL, or a local `.json` file holding a Feature), [`load`] reads it, and
//! [`ItemScene::from_item`] finds its data bands — by the asset keys of Earth Search v1
//! (`blue`, `green`, `red`, `rededge1..3`, `nir`, `nir08`, `nir09`, `coastal`, `swir16`,
//! `swir22`, `scl`) and of Planetary Computer (`B02`…, `SCL`), else by the names in the
//! asset's `eo:bands`/`bands` — skipping the `-jp2` twins with `s3://` hrefs, `visual` and
//! the other non-band assets. Remote assets become GDAL `/vsicurl/` paths read in place
//! (the GDAL options that make that fast are set by `raster::init_gdal`). The BOA offset
//! decision comes from the item's properties: `earthsearch:boa_offset_applied` where
//! present (the truth even where `raster:bands` still lists an offset), else
//! `s2:processing_baseline`.
//!
//! Planetary Computer asset URLs need a SAS token: with `KESTREL_STAC_SIGN` set to a
//! signing endpoint (`https://planetarycomputer.microsoft.com/api/sas/v1/sign`) each asset
//! href is signed (`GET endpoint?href=…` → `{"href": signed}`); without it an asset answering
//! 403 (or an Azure blob URL) is reported as needing signing.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::StacError;
use super::http::{Http, percent_encode};
use super::search;
use crate::raster::bands::{BandRole, S2Band, role_from_text};

/// Environment variable naming the signing endpoint.
pub const SIGN_ENV: &str = "KESTREL_STAC_SIGN";

/// Whether `path` names a STAC item rather than a raster file or folder: an `http(s)://`
/// URL, or an existing `.json` file.
pub fn is_item_source(path: &Path) -> bool {
    let s = path.to_string_lossy();
    if s.starts_with("http://") || s.starts_with("https://") {
        return true;
    }
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("geojson"))
        && path.is_file()
}

/// The URL `source` names, if it is an `http(s)://` one.
fn url_of(source: &Path) -> Option<&str> {
    source
        .to_str()
        .filter(|s| s.starts_with("http://") || s.starts_with("https://"))
}

/// Read an item from a URL or a local file (any path, also one that is not UTF-8).
/// Returns the item and the raw bytes (for the scene identity).
pub fn load(source: impl AsRef<Path>) -> Result<(stac::Item, Vec<u8>), StacError> {
    let path = source.as_ref();
    let bytes = if let Some(url) = url_of(path) {
        let http = Http::new()?;
        let v: Value = http.get_json(url, "item")?;
        serde_json::to_vec(&v).unwrap_or_default()
    } else {
        std::fs::read(path).map_err(|e| StacError::Io {
            path: path.into(),
            detail: e.to_string(),
        })?
    };
    let source = path.to_string_lossy();
    let source = source.as_ref();
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| StacError::NotStac {
        url: source.to_string(),
        what: "item",
        detail: e.to_string(),
    })?;
    if v.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(StacError::NotStac {
            url: source.to_string(),
            what: "item",
            detail: format!(
                "its \"type\" is {}, not \"Feature\"",
                v.get("type").map_or("missing".into(), |t| t.to_string())
            ),
        });
    }
    let item: stac::Item = serde_json::from_value(v).map_err(|e| StacError::NotStac {
        url: source.to_string(),
        what: "item",
        detail: e.to_string(),
    })?;
    Ok((item, bytes))
}

/// One data band of an item.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemBand {
    pub role: BandRole,
    /// The asset key (`nir08`, `B8A`).
    pub key: String,
    /// The asset href made absolute (and signed, when a signing endpoint is set).
    pub href: String,
    /// What GDAL opens: `/vsicurl/URL` or a local path (exactly, also when not UTF-8).
    pub gdal_path: PathBuf,
    pub identified_by: String,
}

/// What Kestrel takes from an item to open it as a scene.
#[derive(Debug, Clone)]
pub struct ItemScene {
    pub id: String,
    pub self_href: Option<String>,
    pub collection: Option<String>,
    pub bands: Vec<ItemBand>,
    /// RFC 3339.
    pub datetime: Option<String>,
    pub mgrs_tile: Option<String>,
    pub baseline: Option<String>,
    /// `earthsearch:boa_offset_applied`.
    pub boa_offset_applied: Option<bool>,
    /// `raster:bands` scale of the spectral assets (0.0001 for L2A DN).
    pub scale: Option<f64>,
    pub product_type: Option<String>,
    pub cloud_cover: Option<f64>,
    /// Assets that could be bands but were skipped, and why.
    pub notes: Vec<String>,
}

/// The band of an asset key of Earth Search v1 or Planetary Computer.
fn role_from_key(key: &str) -> Option<BandRole> {
    use S2Band::*;
    let b = match key.to_ascii_lowercase().as_str() {
        "coastal" => B01,
        "blue" => B02,
        "green" => B03,
        "red" => B04,
        "rededge1" => B05,
        "rededge2" => B06,
        "rededge3" => B07,
        "nir" => B08,
        "nir08" => B8A,
        "nir09" => B09,
        "cirrus" => B10,
        "swir16" => B11,
        "swir22" => B12,
        "scl" => return Some(BandRole::Scl),
        _ => return S2Band::from_name(&key.to_ascii_uppercase()).map(BandRole::Spectral),
    };
    Some(BandRole::Spectral(b))
}

/// The band named in an asset's `eo:bands` (STAC 1.0) or `bands` (1.1), by B-number or
/// common name.
fn role_from_band_names(asset: &stac::Asset) -> Option<(BandRole, String)> {
    let mut names: Vec<String> = asset.bands.iter().filter_map(|b| b.name.clone()).collect();
    if let Some(eo) = asset
        .additional_fields
        .get("eo:bands")
        .and_then(Value::as_array)
    {
        for b in eo {
            for k in ["name", "common_name"] {
                if let Some(n) = b.get(k).and_then(Value::as_str) {
                    names.push(n.to_string());
                }
            }
        }
    }
    if names.len() > 2 {
        return None; // a multi-band asset (visual), not one band
    }
    names.iter().find_map(|n| {
        role_from_key(n)
            .or_else(|| role_from_text(n).map(|r| r.0))
            .map(|r| (r, n.clone()))
    })
}

/// Resolve a relative href against the item's location (a URL or a file path): the href
/// as text, and what GDAL opens (a local path joined byte for byte, so an item in a folder
/// whose name is not UTF-8 finds its files).
fn absolute_href(href: &str, base: &Path) -> (String, PathBuf) {
    let local = |p: PathBuf| (p.to_string_lossy().into_owned(), p);
    if href.contains("://") || href.starts_with('/') {
        return (href.to_string(), gdal_path(href));
    }
    if let Some(url) = url_of(base) {
        let dir = url.rsplit_once('/').map_or(url, |(d, _)| d);
        let abs = format!("{dir}/{}", href.trim_start_matches("./"));
        let g = gdal_path(&abs);
        return (abs, g);
    }
    let dir = base.parent().unwrap_or(Path::new("."));
    local(dir.join(href.trim_start_matches("./")))
}

/// GDAL's path for an absolute href: `/vsicurl/` for http(s), the path itself for a file
/// (a `file://` URL percent-decoded to bytes, the one way JSON can name a path that is
/// not UTF-8: `file:///data/caf%E9/B04.tif`).
pub fn gdal_path(href: &str) -> PathBuf {
    if href.starts_with("http://") || href.starts_with("https://") {
        format!("/vsicurl/{href}").into()
    } else if let Some(p) = href.strip_prefix("file://") {
        crate::paths::path_from_bytes(percent_decode(p))
    } else {
        href.into()
    }
}

/// `%XX` escapes to bytes; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Sign an href at a Planetary Computer–style endpoint.
fn sign(http: &Http, endpoint: &str, href: &str) -> Result<String, StacError> {
    let url = format!("{endpoint}?href={}", percent_encode(href));
    let v: Value = http.get_json(&url, "signing answer")?;
    v.get("href")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StacError::NotStac {
            url,
            what: "signing answer",
            detail: "no \"href\" in it".into(),
        })
}

/// Whether an href looks like it needs a SAS token (Azure blob storage without one).
pub fn looks_unsigned_azure(href: &str) -> bool {
    href.contains(".blob.core.windows.net/") && !href.contains("sig=")
}

impl ItemScene {
    /// The data bands and properties of `item`, read from `source` (its URL or file).
    /// `sign_endpoint`: sign every remote asset href there first.
    pub fn from_item(
        item: &stac::Item,
        source: impl AsRef<Path>,
        sign_endpoint: Option<&str>,
    ) -> Result<ItemScene, StacError> {
        let source = source.as_ref();
        let mut bands: Vec<ItemBand> = Vec::new();
        let mut notes = Vec::new();
        let mut scale = None;
        let http = match sign_endpoint {
            Some(_) => Some(Http::new()?),
            None => None,
        };
        let mut jp2_twins = Vec::new();
        for (key, asset) in &item.assets {
            let lower = key.to_ascii_lowercase();
            if lower.ends_with("-jp2") {
                jp2_twins.push(format!("{key} ({})", asset.href));
                continue;
            }
            if lower == "visual" || lower.starts_with("visual") {
                continue;
            }
            let Some((role, why)) = role_from_key(key)
                .map(|r| (r, format!("STAC asset key {key:?}")))
                .or_else(|| {
                    role_from_band_names(asset)
                        .map(|(r, n)| (r, format!("STAC asset {key:?} (band name {n:?})")))
                })
            else {
                continue;
            };
            if asset.href.starts_with("s3://") {
                notes.push(format!(
                    "asset {key:?} skipped: its href is s3:// ({}), which is not read here",
                    asset.href
                ));
                continue;
            }
            if bands.iter().any(|b| b.role == role) {
                continue;
            }
            let (mut href, mut gdal) = absolute_href(&asset.href, source);
            if let (Some(ep), Some(http)) = (sign_endpoint, &http)
                && href.starts_with("http")
            {
                href = sign(http, ep, &href)?;
                gdal = gdal_path(&href);
            }
            if scale.is_none() && role.spectral().is_some() {
                scale = asset
                    .additional_fields
                    .get("raster:bands")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(|b| b.get("scale"))
                    .and_then(Value::as_f64);
            }
            bands.push(ItemBand {
                role,
                key: key.clone(),
                gdal_path: gdal,
                href,
                identified_by: why,
            });
        }
        if !jp2_twins.is_empty() {
            // Earth Search lists every band twice; the JP2 copies are not data bands here.
            notes.push(format!(
                "{} JPEG 2000 twin asset(s) skipped (the COG assets are read): {}",
                jp2_twins.len(),
                jp2_twins.join(", ")
            ));
        }
        let p = &item.properties.additional_fields;
        let boa_offset_applied = p
            .get("earthsearch:boa_offset_applied")
            .and_then(Value::as_bool);
        let product_type = p
            .get("s2:product_type")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(ItemScene {
            id: item.id.clone(),
            self_href: search::self_href(item),
            collection: item.collection.clone(),
            bands,
            datetime: item
                .properties
                .datetime
                .or(item.properties.start_datetime)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            mgrs_tile: search::mgrs_tile(item),
            baseline: search::processing_baseline(item),
            boa_offset_applied,
            scale,
            product_type,
            cloud_cover: search::cloud_cover(item),
            notes,
        })
    }

    /// Level 2A when the collection or product type says so.
    pub fn is_l2a(&self) -> Option<bool> {
        let text = format!(
            "{} {}",
            self.collection.as_deref().unwrap_or(""),
            self.product_type.as_deref().unwrap_or("")
        )
        .to_ascii_lowercase();
        if text.contains("l2a") || text.contains("msi2a") {
            Some(true)
        } else if text.contains("l1c") || text.contains("msi1c") {
            Some(false)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(assets: Value, props: Value) -> stac::Item {
        serde_json::from_value(json!({
            "type": "Feature", "stac_version": "1.0.0", "id": "x", "collection": "sentinel-2-l2a",
            "geometry": null, "properties": props, "links": [], "assets": assets
        }))
        .unwrap()
    }

    #[test]
    fn planetary_computer_keys_and_eo_bands_names() {
        let it = item(
            json!({
                "B02": {"href": "https://pc.blob.core.windows.net/a/B02_10m.tif"},
                "B8A": {"href": "https://pc.blob.core.windows.net/a/B8A_20m.tif"},
                "SCL": {"href": "https://pc.blob.core.windows.net/a/SCL_20m.tif"},
                "visual": {"href": "https://pc.blob.core.windows.net/a/TCI.tif"},
                "band-x": {"href": "rel/x.tif", "eo:bands": [{"name": "B11", "common_name": "swir16"}]},
                "preview": {"href": "https://pc/a/p.png"}
            }),
            json!({"datetime": "2023-08-23T10:00:00Z", "s2:mgrs_tile": "34UCF",
                   "s2:processing_baseline": "05.09", "s2:product_type": "S2MSI2A"}),
        );
        let s = ItemScene::from_item(&it, "https://pc/api/items/x", None).unwrap();
        let roles: Vec<String> = s.bands.iter().map(|b| b.role.to_string()).collect();
        assert_eq!(roles, ["B02", "B8A", "SCL", "B11"]);
        assert_eq!(s.bands[3].href, "https://pc/api/items/rel/x.tif");
        assert_eq!(
            s.bands[0].gdal_path,
            Path::new("/vsicurl/https://pc.blob.core.windows.net/a/B02_10m.tif")
        );
        assert!(looks_unsigned_azure(&s.bands[0].href));
        assert_eq!(s.mgrs_tile.as_deref(), Some("34UCF"));
        assert_eq!(s.baseline.as_deref(), Some("05.09"));
        assert_eq!(s.boa_offset_applied, None);
        assert_eq!(s.is_l2a(), Some(true));
    }

    #[test]
    fn earth_search_keys_skip_jp2_twins_and_read_the_boa_flag() {
        let it = item(
            json!({
                "red": {"href": "./B04.tif", "raster:bands": [{"scale": 0.0001, "offset": -0.1}]},
                "red-jp2": {"href": "s3://bucket/B04.jp2", "eo:bands": [{"name": "red"}]},
                "nir08": {"href": "s3://bucket/B8A.tif"},
                "scl": {"href": "/data/SCL.tif"}
            }),
            json!({"datetime": "2023-08-23T10:00:00Z", "earthsearch:boa_offset_applied": true,
                   "mgrs:utm_zone": 9, "mgrs:latitude_band": "U", "mgrs:grid_square": "WA"}),
        );
        let s = ItemScene::from_item(&it, "/items/x.json", None).unwrap();
        let roles: Vec<String> = s.bands.iter().map(|b| b.role.to_string()).collect();
        assert_eq!(roles, ["B04", "SCL"]);
        assert_eq!(s.bands[0].gdal_path, Path::new("/items/B04.tif"));
        assert_eq!(s.bands[1].gdal_path, Path::new("/data/SCL.tif"));
        assert_eq!(s.scale, Some(0.0001));
        assert_eq!(s.boa_offset_applied, Some(true));
        assert_eq!(s.mgrs_tile.as_deref(), Some("09UWA"));
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("nir08") && n.contains("s3://")),
            "{:?}",
            s.notes
        );
    }

    #[cfg(unix)]
    #[test]
    fn local_hrefs_keep_the_bytes_of_a_folder_that_is_not_utf8() {
        use std::os::unix::ffi::OsStrExt as _;
        let it = item(
            json!({
                "red": {"href": "./B04.tif"},
                "green": {"href": "file:///d/caf%E9/B03.tif"},
                "blue": {"href": "file:///d/100%/B02.tif"}
            }),
            json!({"datetime": "2023-08-23T10:00:00Z"}),
        );
        let base = Path::new(std::ffi::OsStr::from_bytes(b"/d/caf\xe9/item.json"));
        let s = ItemScene::from_item(&it, base, None).unwrap();
        let path = |role: &str| {
            let b = s.bands.iter().find(|b| b.role.to_string() == role).unwrap();
            b.gdal_path.as_os_str().as_bytes().to_vec()
        };
        assert_eq!(path("B04"), b"/d/caf\xe9/B04.tif");
        assert_eq!(path("B03"), b"/d/caf\xe9/B03.tif");
        assert_eq!(path("B02"), b"/d/100%/B02.tif", "a bare % stays");
    }
}
