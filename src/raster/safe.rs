//! Sentinel-2 product metadata and names: the processing level, the metadata GDAL 3.6
//! does not expose (processing baseline, quantification value, per-band
//! `BOA_ADD_OFFSET` / `RADIO_ADD_OFFSET` from `MTD_MSIL2A.xml` / `MTD_MSIL1C.xml`), and
//! the baseline and level encoded in product, folder and file names
//! (`S2B_MSIL2A_20230823T095559_N0509_R122_...`). A few fixed tags are read with a
//! tolerant string scan (no XML dependency); pure functions, no GDAL. A leaf of the
//! raster core: it uses only [`super::bands`].

use std::path::Path;

use serde::Serialize;

use super::bands::{BandRole, S2Band};

/// Processing level of the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ProcessingLevel {
    /// Top-of-atmosphere reflectance.
    L1C,
    /// Bottom-of-atmosphere (surface) reflectance.
    L2A,
    Unknown,
}

impl ProcessingLevel {
    pub fn label(self) -> &'static str {
        match self {
            ProcessingLevel::L1C => "L1C",
            ProcessingLevel::L2A => "L2A",
            ProcessingLevel::Unknown => "unknown",
        }
    }
}

/// What Kestrel reads from a product's `MTD_MSIL*.xml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductMetadata {
    pub level: Option<ProcessingLevel>,
    pub product_uri: Option<String>,
    /// Processing baseline as written, e.g. `05.09`.
    pub baseline: Option<String>,
    /// `BOA_QUANTIFICATION_VALUE` (L2A) or `QUANTIFICATION_VALUE` (L1C).
    pub quantification: Option<f64>,
    /// `BOA_ADD_OFFSET` / `RADIO_ADD_OFFSET` per band, keyed by the physical band.
    pub offsets: Vec<(S2Band, f64)>,
    /// The `SPECIAL_VALUE_INDEX` of `NODATA`.
    pub nodata: Option<f64>,
    pub sensing_time: Option<String>,
}

impl ProductMetadata {
    pub fn offset_for(&self, band: S2Band) -> Option<f64> {
        self.offsets
            .iter()
            .find(|(b, _)| *b == band)
            .map(|(_, v)| *v)
    }
}

/// Elements `<tag ...>text</tag>` of a document as (attributes, text) pairs. Namespace
/// prefixes on the tag are not supported (the MTD tags of interest have none).
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        // The next char must end the tag name, so `<BOA_ADD_OFFSET_VALUES_LIST>` is not
        // taken for `<BOA_ADD_OFFSET`.
        let next = after.chars().next();
        if !matches!(next, Some(' ' | '>' | '\t' | '\n' | '\r' | '/')) {
            rest = after;
            continue;
        }
        let Some(gt) = after.find('>') else { break };
        let attrs = &after[..gt];
        if attrs.ends_with('/') {
            out.push((attrs.trim_end_matches('/'), ""));
            rest = &after[gt + 1..];
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push((attrs, body[..end].trim()));
        rest = &body[end + close.len()..];
    }
    out
}

fn first_text(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag)
        .first()
        .map(|(_, t)| t.to_string())
        .filter(|t| !t.is_empty())
}

fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let start = attrs.find(&key)? + key.len();
    let len = attrs[start..].find('"')?;
    Some(&attrs[start..start + len])
}

/// Parse the product-level metadata file (`MTD_MSIL2A.xml` or `MTD_MSIL1C.xml`).
pub fn parse_product_metadata(xml: &str) -> ProductMetadata {
    let mut md = ProductMetadata {
        product_uri: first_text(xml, "PRODUCT_URI"),
        baseline: first_text(xml, "PROCESSING_BASELINE"),
        sensing_time: first_text(xml, "PRODUCT_START_TIME"),
        ..Default::default()
    };
    md.level = match first_text(xml, "PROCESSING_LEVEL").as_deref() {
        Some(l) if l.contains("2A") => Some(ProcessingLevel::L2A),
        Some(l) if l.contains("1C") => Some(ProcessingLevel::L1C),
        _ => None,
    };
    md.quantification = first_text(xml, "BOA_QUANTIFICATION_VALUE")
        .or_else(|| first_text(xml, "QUANTIFICATION_VALUE"))
        .and_then(|t| t.parse().ok());

    // band_id → physical band, from Spectral_Information; the ids follow the 13-band
    // order, which is the fallback when the list is absent.
    let mut id_to_band: Vec<(String, S2Band)> = elements(xml, "Spectral_Information")
        .iter()
        .filter_map(|(a, _)| {
            let id = attr(a, "bandId")?;
            let band = S2Band::from_name(attr(a, "physicalBand")?)?;
            Some((id.to_owned(), band))
        })
        .collect();
    if id_to_band.is_empty() {
        id_to_band = S2Band::ALL
            .iter()
            .enumerate()
            .map(|(i, b)| (i.to_string(), *b))
            .collect();
    }
    for tag in ["BOA_ADD_OFFSET", "RADIO_ADD_OFFSET"] {
        for (a, text) in elements(xml, tag) {
            let (Some(id), Ok(v)) = (attr(a, "band_id"), text.parse::<f64>()) else {
                continue;
            };
            if let Some((_, band)) = id_to_band.iter().find(|(i, _)| i == id) {
                md.offsets.push((*band, v));
            }
        }
    }
    for (_, body) in elements(xml, "Special_Values") {
        if first_text(body, "SPECIAL_VALUE_TEXT").as_deref() == Some("NODATA") {
            md.nodata = first_text(body, "SPECIAL_VALUE_INDEX").and_then(|t| t.parse().ok());
        }
    }
    md
}

/// Processing baseline `(major, minor)` from `05.09` or `N0509`.
pub fn parse_baseline(s: &str) -> Option<(u32, u32)> {
    let s = s.trim().trim_start_matches('N');
    if let Some((a, b)) = s.split_once('.') {
        return Some((a.parse().ok()?, b.parse().ok()?));
    }
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) {
        return Some((s[..2].parse().ok()?, s[2..].parse().ok()?));
    }
    None
}

/// Baseline `NXXYY` token of an ESA product or granule name (`..._N0509_R122_...`,
/// `..._N05.09`), as `XX.YY`.
/// The Sentinel-2 product id and MGRS tile in a product, granule or file name
/// (`S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759.SAFE` →
/// `S2B_MSIL2A_…_20230823T124759`, `34UCF`); `None` for names that do not follow the
/// naming convention.
pub fn product_identity(name: &str) -> (Option<String>, Option<String>) {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = base
        .strip_suffix(".SAFE")
        .or_else(|| base.strip_suffix(".safe"))
        .unwrap_or(base);
    let mgrs = stem
        .split(['_', '.', '-'])
        .find(|t| {
            let b = t.as_bytes();
            b.len() == 6
                && b[0] == b'T'
                && b[1].is_ascii_digit()
                && b[2].is_ascii_digit()
                && b[3..].iter().all(u8::is_ascii_uppercase)
        })
        .map(|t| t[1..].to_string());
    let is_product = stem.len() > 10
        && stem.starts_with("S2")
        && (stem[3..].starts_with("_MSIL2A_") || stem[3..].starts_with("_MSIL1C_"));
    (is_product.then(|| stem.to_string()), mgrs)
}

pub fn baseline_from_name(name: &str) -> Option<String> {
    for t in name.split(['_', '.', '/', '-']) {
        if t.len() == 5
            && t.starts_with('N')
            && t[1..].bytes().all(|b| b.is_ascii_digit())
            && let Some((a, b)) = parse_baseline(t)
        {
            return Some(format!("{a:02}.{b:02}"));
        }
    }
    // `..._N05.09` in datastrip/granule identifiers
    if let Some(pos) = name.find("_N")
        && let Some(cand) = name.get(pos + 2..pos + 7)
        && let Some((a, b)) = parse_baseline(cand)
        && cand.contains('.')
    {
        return Some(format!("{a:02}.{b:02}"));
    }
    None
}

/// Processing level named by a product, folder or file name: `MSIL2A`, `_L2A`, `l2a`.
pub fn level_from_name(name: &str) -> Option<ProcessingLevel> {
    let up = name.to_ascii_uppercase();
    for t in up.split(|c: char| !c.is_ascii_alphanumeric()) {
        match t {
            "MSIL2A" | "L2A" | "S2MSI2A" => return Some(ProcessingLevel::L2A),
            "MSIL1C" | "L1C" | "S2MSI1C" => return Some(ProcessingLevel::L1C),
            _ => {}
        }
    }
    None
}

/// True when a baseline string is at least 04.00, the start of the +1000 offset.
pub fn baseline_has_offset(baseline: &str) -> Option<bool> {
    parse_baseline(baseline).map(|(major, _)| major >= 4)
}

/// The last component of a path as text (the whole path when there is none).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Names to look for level/baseline hints in: the file or folder and up to 3 parents.
fn name_hints(path: &Path) -> Vec<(String, &'static str)> {
    let mut out = vec![(file_name(path), "name")];
    for (i, p) in path.ancestors().skip(1).take(3).enumerate() {
        if let Some(n) = p.file_name() {
            out.push((
                n.to_string_lossy().into_owned(),
                if i == 0 {
                    "folder name"
                } else {
                    "ancestor folder name"
                },
            ));
        }
    }
    out
}

/// The processing level named by the path (the file or folder and up to 3 parents), else
/// implied by the band set (SCL: L2A; B10: L1C; 12 confirmed spectral bands: L2A), with
/// the reason in words.
pub(crate) fn level_decision(
    path: &Path,
    roles: &[BandRole],
    confirmed: bool,
) -> (ProcessingLevel, String) {
    for (name, what) in name_hints(path) {
        if let Some(l) = level_from_name(&name) {
            return (l, format!("the {what} {name:?} says {}", l.label()));
        }
    }
    if roles.contains(&BandRole::Scl) {
        return (ProcessingLevel::L2A, "it has an SCL layer".into());
    }
    if roles.contains(&BandRole::Spectral(S2Band::B10)) {
        return (
            ProcessingLevel::L1C,
            "it has B10 (cirrus), which L2A products drop".into(),
        );
    }
    let spectral = roles.iter().filter(|r| r.spectral().is_some()).count();
    if confirmed && spectral == 12 {
        return (
            ProcessingLevel::L2A,
            "12 spectral bands without B10: the L2A band set".into(),
        );
    }
    (
        ProcessingLevel::Unknown,
        "nothing in the names or the band set says L1C or L2A".into(),
    )
}

/// The processing baseline named by the path, with where it was found.
pub(crate) fn baseline_hint(path: &Path) -> Option<(String, String)> {
    name_hints(path).into_iter().find_map(|(name, what)| {
        baseline_from_name(&name).map(|b| (b, format!("the {what} {name}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_identity_from_names() {
        let (id, tile) = product_identity(
            "/d/S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759.SAFE",
        );
        assert_eq!(
            id.as_deref(),
            Some("S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759")
        );
        assert_eq!(tile.as_deref(), Some("34UCF"));
        let (id, tile) = product_identity("T31UFU_20240101T105000_B04_10m.jp2");
        assert_eq!((id, tile.as_deref()), (None, Some("31UFU")));
        assert_eq!(product_identity("scene.tif"), (None, None));
        assert_eq!(product_identity("TABLE_T1_x.tif"), (None, None));
    }

    const MTD: &str = r#"<?xml version="1.0"?>
<n1:Level-2A_User_Product>
  <PRODUCT_URI>S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759.SAFE</PRODUCT_URI>
  <PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
  <PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>
  <Special_Values>
    <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
    <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
  </Special_Values>
  <Special_Values>
    <SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>
    <SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>
  </Special_Values>
  <QUANTIFICATION_VALUES_LIST>
    <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
    <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>
  </QUANTIFICATION_VALUES_LIST>
  <BOA_ADD_OFFSET_VALUES_LIST>
    <BOA_ADD_OFFSET band_id="0">-1000</BOA_ADD_OFFSET>
    <BOA_ADD_OFFSET band_id="8">-999</BOA_ADD_OFFSET>
  </BOA_ADD_OFFSET_VALUES_LIST>
  <Spectral_Information bandId="0" physicalBand="B1"><RESOLUTION>60</RESOLUTION></Spectral_Information>
  <Spectral_Information bandId="8" physicalBand="B8A"><RESOLUTION>20</RESOLUTION></Spectral_Information>
</n1:Level-2A_User_Product>"#;

    #[test]
    fn reads_offsets_baseline_and_nodata() {
        let md = parse_product_metadata(MTD);
        assert_eq!(md.level, Some(ProcessingLevel::L2A));
        assert_eq!(md.baseline.as_deref(), Some("05.09"));
        assert_eq!(md.quantification, Some(10000.0));
        assert_eq!(md.nodata, Some(0.0));
        assert_eq!(md.offset_for(S2Band::B01), Some(-1000.0));
        assert_eq!(md.offset_for(S2Band::B8A), Some(-999.0));
        assert_eq!(md.offset_for(S2Band::B02), None);
    }

    #[test]
    fn reads_l1c_radio_offsets() {
        let xml = r#"<n1:Level-1C_User_Product>
  <PROCESSING_LEVEL>Level-1C</PROCESSING_LEVEL>
  <PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>
  <QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>
  <Radiometric_Offset_List>
    <RADIO_ADD_OFFSET band_id="10">-1000</RADIO_ADD_OFFSET>
  </Radiometric_Offset_List>
</n1:Level-1C_User_Product>"#;
        let md = parse_product_metadata(xml);
        assert_eq!(md.level, Some(ProcessingLevel::L1C));
        assert_eq!(md.quantification, Some(10000.0));
        // No Spectral_Information: band ids follow the 13-band order (10 = B10).
        assert_eq!(md.offsets, vec![(S2Band::B10, -1000.0)]);
    }

    #[test]
    fn baselines_and_levels_from_names() {
        let name = "S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759.SAFE";
        assert_eq!(baseline_from_name(name).as_deref(), Some("05.09"));
        assert_eq!(level_from_name(name), Some(ProcessingLevel::L2A));
        assert_eq!(
            baseline_from_name("S2B_OPER_MSI_L2A_DS_2BPS_20230823T124759_S20230823T095553_N05.09")
                .as_deref(),
            Some("05.09")
        );
        assert_eq!(baseline_from_name("T33UUU_20170216T102101_B02.jp2"), None);
        assert_eq!(
            level_from_name("T33UUU_20170216_L1C"),
            Some(ProcessingLevel::L1C)
        );
        assert_eq!(level_from_name("20231217.tif"), None);
        assert_eq!(baseline_has_offset("05.09"), Some(true));
        assert_eq!(baseline_has_offset("04.00"), Some(true));
        assert_eq!(baseline_has_offset("02.08"), Some(false));
        assert_eq!(parse_baseline("N0204"), Some((2, 4)));
    }
}
