//! OGC WMTS 1.0.0 as a basemap: a service's GetCapabilities document read into the layers
//! Kestrel can draw, each as a tile URL template ([`super::XyzSource`]) with its TileMatrix
//! identifiers by zoom.
//!
//! The map is Web Mercator with the Google/OSM tiling, so a layer is usable when one of its
//! tile matrix sets is that tiling: CRS EPSG:3857 (or an alias), each matrix's top-left
//! corner at (−20037508.34, 20037508.34) and its tile span a power-of-two fraction of the
//! world (the zoom is read from the scale denominator, not from the identifier, which may
//! be `EPSG:3857:5` or `05`). Matrices that are not such a zoom are skipped; a layer with
//! none is listed as unusable with the reason, as QGIS would refuse to draw it unprojected.
//! Tiles are asked for by the layer's REST `ResourceURL` template when it has one, else by
//! KVP GetTile on the operation's GET address. Parsing is pure; [`fetch_layers`] fetches the
//! document (on a worker) with the STAC module's HTTP client.

use std::collections::HashMap;

use super::XyzSource;
use crate::stac::http::percent_encode;

/// Half the Web Mercator world's width, metres.
const HALF_WORLD: f64 = 20_037_508.342_789_244;
/// OGC's standardised rendering pixel, metres.
const PIXEL_M: f64 = 0.000_28;

/// A WMTS layer the map can draw.
#[derive(Debug, Clone, PartialEq)]
pub struct WmtsLayer {
    pub identifier: String,
    pub title: String,
    /// The tile matrix set used.
    pub matrix_set: String,
    /// What tiles are fetched with.
    pub source: XyzSource,
}

/// The usable layers of a capabilities document, and why the others are not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Capabilities {
    /// Where the document was read from.
    pub url: String,
    pub layers: Vec<WmtsLayer>,
    /// `(layer identifier, why it cannot be drawn)`.
    pub unusable: Vec<(String, String)>,
}

impl Capabilities {
    /// The layer named `identifier`, else the first usable one.
    pub fn pick(&self, identifier: Option<&str>) -> Option<&WmtsLayer> {
        identifier
            .and_then(|id| self.layers.iter().find(|l| l.identifier == id))
            .or_else(|| self.layers.first())
    }
}

/// Whether `url` looks like a WMTS GetCapabilities address (rather than a tile template).
pub fn is_capabilities_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    !lower.contains("{z}")
        && !lower.contains("{tilematrix}")
        && (lower.contains("request=getcapabilities")
            || lower
                .split(['?', '#'])
                .next()
                .is_some_and(|p| p.ends_with(".xml")))
}

/// The largest capabilities document read (NASA GIBS's, among the largest, is about 10 MB).
const MAX_CAPABILITIES_BYTES: usize = 64 << 20;

/// Fetch and read the capabilities document at `url` (blocking; run on a worker), through
/// the STAC module's client: a short connect timeout, retries of transient failures, and
/// errors naming the URL and the HTTP status.
pub fn fetch_layers(url: &str) -> Result<Capabilities, String> {
    let http = crate::stac::http::Http::new().map_err(|e| e.to_string())?;
    let bytes = http
        .get_bytes(url, "WMTS capabilities", MAX_CAPABILITIES_BYTES)
        .map_err(|e| format!("{e} (reading the WMTS capabilities)"))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut caps = parse_capabilities(&text, url).map_err(|e| format!("{url}: {e}"))?;
    caps.url = url.to_owned();
    if caps.layers.is_empty() {
        let why: Vec<String> = caps
            .unusable
            .iter()
            .take(3)
            .map(|(l, w)| format!("{l}: {w}"))
            .collect();
        return Err(format!(
            "{url}: no layer of this WMTS is in Web Mercator tiles (GoogleMapsCompatible){}",
            if why.is_empty() {
                " (it lists no layers)".to_owned()
            } else {
                format!(" ({})", why.join("; "))
            }
        ));
    }
    Ok(caps)
}

/// Read a WMTS 1.0.0 capabilities document; `base` is where it came from (for KVP
/// addresses the document leaves out).
pub fn parse_capabilities(xml: &str, base: &str) -> Result<Capabilities, String> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| format!("not an XML capabilities document: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "Capabilities" {
        let what = if root.tag_name().name().contains("Exception") {
            format!(
                "the server answered with an exception: {}",
                text_of(root).trim()
            )
        } else {
            format!(
                "not WMTS capabilities (the document is <{}>)",
                root.tag_name().name()
            )
        };
        return Err(what);
    }
    let contents = child(root, "Contents").ok_or("WMTS capabilities without <Contents>")?;
    let sets: HashMap<String, MatrixSet> = children(contents, "TileMatrixSet")
        .filter_map(MatrixSet::read)
        .map(|s| (s.identifier.clone(), s))
        .collect();
    let kvp = kvp_address(root).unwrap_or_else(|| base.split('?').next().unwrap_or(base).into());

    let mut caps = Capabilities::default();
    for layer in children(contents, "Layer") {
        let Some(id) = child_text(layer, "Identifier") else {
            continue;
        };
        let title = child_text(layer, "Title").unwrap_or_else(|| id.clone());
        match read_layer(layer, &id, &sets, &kvp) {
            Ok((matrix_set, source)) => caps.layers.push(WmtsLayer {
                identifier: id,
                title,
                matrix_set,
                source,
            }),
            Err(why) => caps.unusable.push((id, why)),
        }
    }
    Ok(caps)
}

/// One usable layer: its Web Mercator matrix set and the tile template.
fn read_layer(
    layer: roxmltree::Node,
    id: &str,
    sets: &HashMap<String, MatrixSet>,
    kvp: &str,
) -> Result<(String, XyzSource), String> {
    let linked: Vec<String> = children(layer, "TileMatrixSetLink")
        .filter_map(|l| child_text(l, "TileMatrixSet"))
        .collect();
    let mut why = format!(
        "its tile matrix sets ({}) are not Web Mercator",
        linked.join(", ")
    );
    let set = linked
        .iter()
        .filter_map(|name| sets.get(name))
        .find(|s| match s.web_mercator() {
            Ok(_) => true,
            Err(w) => {
                why = format!("tile matrix set {}: {w}", s.identifier);
                false
            }
        })
        .ok_or(why)?;
    let matrices = set.web_mercator()?;
    let tile_size = matrices[0].2;
    let style = children(layer, "Style")
        .find(|s| s.attribute("isDefault") == Some("true"))
        .or_else(|| child(layer, "Style"))
        .and_then(|s| child_text(s, "Identifier"))
        .unwrap_or_else(|| "default".into());
    // dimensions (TIME, ...) at their defaults
    let dimensions: Vec<(String, String)> = children(layer, "Dimension")
        .filter_map(|d| Some((child_text(d, "Identifier")?, child_text(d, "Default")?)))
        .collect();
    let formats: Vec<String> = children(layer, "Format")
        .filter_map(|f| f.text().map(|t| t.trim().to_owned()))
        .collect();
    // PNG or JPEG preferred, then WebP; a layer of vector tiles is not a basemap
    let rank = |f: &str| match f {
        f if f.contains("png") => 0,
        f if f.contains("jpeg") || f.contains("jpg") => 1,
        f if f.contains("webp") => 2,
        _ => 9,
    };
    let rest: Option<(String, String)> = children(layer, "ResourceURL")
        .filter(|r| r.attribute("resourceType") == Some("tile"))
        .filter_map(|r| {
            Some((
                r.attribute("format")?.to_owned(),
                r.attribute("template")?.to_owned(),
            ))
        })
        .min_by_key(|(f, _)| rank(f.as_str()));
    let template = match rest {
        Some((kind, _)) if rank(kind.as_str()) == 9 => {
            return Err(format!("its tiles are {kind}, not PNG, JPEG or WebP"));
        }
        Some((_, t)) => t,
        None => {
            let format = formats
                .iter()
                .min_by_key(|f| rank(f.as_str()))
                .filter(|f| rank(f.as_str()) < 9)
                .ok_or_else(|| format!("no PNG, JPEG or WebP format ({})", formats.join(", ")))?;
            let sep = if kvp.contains('?') {
                if kvp.ends_with('?') || kvp.ends_with('&') {
                    ""
                } else {
                    "&"
                }
            } else {
                "?"
            };
            format!(
                "{kvp}{sep}SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={}&STYLE={}\
                 &TILEMATRIXSET={}&TILEMATRIX={{TileMatrix}}&TILEROW={{TileRow}}\
                 &TILECOL={{TileCol}}&FORMAT={}",
                percent_encode(id),
                percent_encode(&style),
                percent_encode(&set.identifier),
                percent_encode(format)
            )
        }
    };
    let mut template = template
        .replace("{TileMatrixSet}", &set.identifier)
        .replace("{Style}", &style)
        .replace("{style}", &style);
    for (k, v) in &dimensions {
        template = template.replace(&format!("{{{k}}}"), v);
    }
    let source = XyzSource::with_matrices(
        &template,
        matrices
            .iter()
            .map(|(z, ident, _)| (*z, ident.clone()))
            .collect(),
        tile_size,
    )?;
    Ok((set.identifier.clone(), source))
}

/// A `<TileMatrixSet>`: its CRS and matrices.
struct MatrixSet {
    identifier: String,
    crs: String,
    matrices: Vec<TileMatrix>,
}

/// A `<TileMatrix>`.
struct TileMatrix {
    identifier: String,
    scale_denominator: f64,
    /// As written: (easting, northing) for EPSG:3857, though some servers swap them.
    top_left: (f64, f64),
    tile_width: u32,
    tile_height: u32,
}

impl MatrixSet {
    fn read(node: roxmltree::Node) -> Option<MatrixSet> {
        let identifier = child_text(node, "Identifier")?;
        let crs = child_text(node, "SupportedCRS").unwrap_or_default();
        let matrices = children(node, "TileMatrix")
            .filter_map(|m| {
                let id = child_text(m, "Identifier")?;
                let scale: f64 = child_text(m, "ScaleDenominator")?.trim().parse().ok()?;
                let corner = child_text(m, "TopLeftCorner")?;
                let mut xy = corner.split_whitespace().map(|v| v.parse::<f64>());
                let (a, b) = (xy.next()?.ok()?, xy.next()?.ok()?);
                let w: u32 = child_text(m, "TileWidth")?.trim().parse().ok()?;
                let h: u32 = child_text(m, "TileHeight")?.trim().parse().ok()?;
                Some(TileMatrix {
                    identifier: id,
                    scale_denominator: scale,
                    top_left: (a, b),
                    tile_width: w,
                    tile_height: h,
                })
            })
            .collect();
        Some(MatrixSet {
            identifier,
            crs,
            matrices,
        })
    }

    /// `(zoom, identifier, tile size)` of each matrix that is a Google/OSM zoom level, or
    /// why the set is not Web Mercator tiling.
    fn web_mercator(&self) -> Result<Vec<(u8, String, u32)>, String> {
        let crs = self.crs.to_ascii_lowercase();
        if !["3857", "900913", "102100", "102113", "3785"]
            .iter()
            .any(|code| crs.ends_with(code))
        {
            return Err(format!("CRS {} is not Web Mercator (EPSG:3857)", self.crs));
        }
        let mut out: Vec<(u8, String, u32)> = Vec::new();
        for m in &self.matrices {
            let (a, b) = m.top_left;
            let w = m.tile_width;
            // EPSG:3857 is easting, northing; some servers write them the other way round
            let corner_ok =
                |x: f64, y: f64| (x + HALF_WORLD).abs() < 1.0 && (y - HALF_WORLD).abs() < 1.0;
            if w != m.tile_height || !(corner_ok(a, b) || corner_ok(b, a)) {
                continue;
            }
            let span = m.scale_denominator * PIXEL_M * f64::from(w);
            let z = (2.0 * HALF_WORLD / span).log2();
            if (z - z.round()).abs() > 1e-3 || !(0.0..=24.0).contains(&z.round()) {
                continue;
            }
            out.push((z.round() as u8, m.identifier.clone(), w));
        }
        out.sort_by_key(|m| m.0);
        out.dedup_by_key(|m| m.0);
        let Some(first) = out.first() else {
            return Err("none of its matrices is a Google/OSM zoom level".into());
        };
        if out.iter().any(|m| m.2 != first.2) {
            return Err("its matrices mix tile sizes".into());
        }
        Ok(out)
    }
}

/// The GET address of the GetTile operation where it allows KVP.
fn kvp_address(root: roxmltree::Node) -> Option<String> {
    let ops = child(root, "OperationsMetadata")?;
    let get_tile = children(ops, "Operation").find(|o| o.attribute("name") == Some("GetTile"))?;
    get_tile
        .descendants()
        .filter(|n| n.tag_name().name() == "Get")
        .find(|g| {
            let values: Vec<&str> = g
                .descendants()
                .filter(|n| n.tag_name().name() == "Value")
                .filter_map(|n| n.text())
                .collect();
            values.is_empty() || values.iter().any(|v| v.trim().eq_ignore_ascii_case("KVP"))
        })
        .and_then(|g| {
            g.attributes()
                .find(|a| a.name() == "href")
                .map(|a| a.value().to_owned())
        })
}

fn child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &'static str,
) -> Option<roxmltree::Node<'a, 'i>> {
    children(node, name).next()
}

fn children<'a, 'i: 'a>(
    node: roxmltree::Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> + 'a {
    node.children()
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

fn child_text(node: roxmltree::Node, name: &'static str) -> Option<String> {
    child(node, name)
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn text_of(node: roxmltree::Node) -> String {
    node.descendants()
        .filter_map(|n| n.is_text().then(|| n.text()).flatten())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkers::TileId;
    use walkers::sources::TileSource as _;

    /// Google-tiling matrices `z0..=z1`, identifiers `prefix{z}`.
    fn google(prefix: &str, z0: u8, z1: u8, swap: bool) -> String {
        (z0..=z1)
            .map(|z| {
                let scale = 559_082_264.028_717_8 / f64::from(1u32 << z);
                let corner = if swap {
                    "20037508.3427892 -20037508.3427892"
                } else {
                    "-20037508.3427892 20037508.3427892"
                };
                format!(
                    "<TileMatrix><ows:Identifier>{prefix}{z}</ows:Identifier>\
                     <ScaleDenominator>{scale}</ScaleDenominator>\
                     <TopLeftCorner>{corner}</TopLeftCorner><TileWidth>256</TileWidth>\
                     <TileHeight>256</TileHeight><MatrixWidth>{n}</MatrixWidth>\
                     <MatrixHeight>{n}</MatrixHeight></TileMatrix>",
                    n = 1u32 << z
                )
            })
            .collect()
    }

    fn caps(layers: &str, sets: &str) -> String {
        format!(
            r#"<?xml version="1.0"?>
<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1"
  xmlns:xlink="http://www.w3.org/1999/xlink" version="1.0.0">
 <ows:OperationsMetadata>
  <ows:Operation name="GetTile"><ows:DCP><ows:HTTP>
   <ows:Get xlink:href="https://wmts.example/service?"><ows:Constraint name="GetEncoding">
    <ows:AllowedValues><ows:Value>KVP</ows:Value></ows:AllowedValues></ows:Constraint></ows:Get>
  </ows:HTTP></ows:DCP></ows:Operation>
 </ows:OperationsMetadata>
 <Contents>{layers}{sets}</Contents>
</Capabilities>"#
        )
    }

    const UTM_SET: &str = "<TileMatrixSet><ows:Identifier>UTM33</ows:Identifier>\
        <ows:SupportedCRS>urn:ogc:def:crs:EPSG::25833</ows:SupportedCRS>\
        <TileMatrix><ows:Identifier>0</ows:Identifier><ScaleDenominator>1000</ScaleDenominator>\
        <TopLeftCorner>0 0</TopLeftCorner><TileWidth>256</TileWidth><TileHeight>256</TileHeight>\
        </TileMatrix></TileMatrixSet>";

    fn tile(z: u8, x: u32, y: u32) -> TileId {
        TileId { x, y, zoom: z }
    }

    #[test]
    fn a_rest_layer_fills_matrix_ids_by_zoom_and_its_style_and_time() {
        let set = format!(
            "<TileMatrixSet><ows:Identifier>g</ows:Identifier>\
             <ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS>{}</TileMatrixSet>",
            google("EPSG:3857:", 2, 12, false)
        );
        let layer = r#"<Layer><ows:Title>Ortho</ows:Title><ows:Identifier>ortho</ows:Identifier>
            <Style isDefault="true"><ows:Identifier>natural</ows:Identifier></Style>
            <Format>image/jpeg</Format>
            <Dimension><ows:Identifier>Time</ows:Identifier><Default>2024</Default></Dimension>
            <TileMatrixSetLink><TileMatrixSet>UTM33</TileMatrixSet></TileMatrixSetLink>
            <TileMatrixSetLink><TileMatrixSet>g</TileMatrixSet></TileMatrixSetLink>
            <ResourceURL format="image/jpeg" resourceType="tile"
              template="https://t.example/{Style}/{Time}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.jpg"/>
            </Layer>"#;
        let c = parse_capabilities(&caps(layer, &(set + UTM_SET)), "https://x/caps.xml").unwrap();
        assert!(c.unusable.is_empty(), "{:?}", c.unusable);
        let l = c.pick(None).unwrap();
        assert_eq!(
            (l.identifier.as_str(), l.title.as_str()),
            ("ortho", "Ortho")
        );
        assert_eq!(l.matrix_set, "g");
        assert_eq!(
            l.source.tile_url(tile(7, 68, 42)),
            "https://t.example/natural/2024/g/EPSG:3857:7/42/68.jpg",
            "row is y, column is x"
        );
        assert_eq!(l.source.max_zoom(), 12);
    }

    #[test]
    fn a_kvp_layer_asks_get_tile_and_matrix_zooms_come_from_scales() {
        // identifiers that are not zoom numbers, corner written northing first
        let set = format!(
            "<TileMatrixSet><ows:Identifier>GoogleMapsCompatible</ows:Identifier>\
             <ows:SupportedCRS>EPSG:900913</ows:SupportedCRS>{}</TileMatrixSet>",
            google("L0", 0, 9, true)
        );
        let layers = "<Layer><ows:Identifier>a b</ows:Identifier>\
            <Format>image/png</Format><Format>application/vnd.mapbox-vector-tile</Format>\
            <TileMatrixSetLink><TileMatrixSet>GoogleMapsCompatible</TileMatrixSet></TileMatrixSetLink></Layer>\
            <Layer><ows:Identifier>utm-only</ows:Identifier><Format>image/png</Format>\
            <TileMatrixSetLink><TileMatrixSet>UTM33</TileMatrixSet></TileMatrixSetLink></Layer>\
            <Layer><ows:Identifier>vector</ows:Identifier>\
            <TileMatrixSetLink><TileMatrixSet>GoogleMapsCompatible</TileMatrixSet></TileMatrixSetLink>\
            <ResourceURL format=\"application/vnd.mapbox-vector-tile\" resourceType=\"tile\" template=\"https://v/{TileMatrix}/{TileCol}/{TileRow}.pbf\"/></Layer>";
        let c = parse_capabilities(&caps(layers, &(set + UTM_SET)), "https://x").unwrap();
        assert_eq!(c.layers.len(), 1);
        let l = &c.layers[0];
        assert_eq!(l.title, "a b", "no title: the identifier");
        assert_eq!(
            l.source.tile_url(tile(3, 5, 2)),
            "https://wmts.example/service?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=a%20b\
             &STYLE=default&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=L03&TILEROW=2&TILECOL=5\
             &FORMAT=image%2Fpng"
        );
        let why: HashMap<_, _> = c.unusable.iter().cloned().collect();
        assert!(why["utm-only"].contains("not Web Mercator"), "{why:?}");
        assert!(why["vector"].contains("vector-tile"), "{why:?}");
    }

    #[test]
    fn what_is_not_capabilities_says_so() {
        let e = parse_capabilities("<html><body>hi</body></html>", "u").unwrap_err();
        assert!(e.contains("not WMTS capabilities"), "{e}");
        let e = parse_capabilities(
            "<ows:ExceptionReport xmlns:ows='o'><ows:Exception><ows:ExceptionText>bad layer\
             </ows:ExceptionText></ows:Exception></ows:ExceptionReport>",
            "u",
        )
        .unwrap_err();
        assert!(e.contains("exception") && e.contains("bad layer"), "{e}");
        assert!(parse_capabilities("{\"json\": 1}", "u").is_err());
        assert!(is_capabilities_url(
            "https://h/wmts?SERVICE=WMTS&request=GetCapabilities"
        ));
        assert!(is_capabilities_url("https://h/1.0.0/WMTSCapabilities.xml"));
        assert!(!is_capabilities_url("https://h/{z}/{x}/{y}.png"));
    }
}
