//! The map's background: OpenStreetMap raster tiles, the user's own XYZ tile service
//! (`https://…/{z}/{x}/{y}.png`, e.g. a local tile server or an imagery provider) or tile
//! file (MBTiles / PMTiles, [`tile_file`]), and offline the bundled Natural Earth basemap
//! ([`natural_earth`]: coastlines, borders and places down to regional zoom) or just the
//! 1:110m outlines ([`world`]) and a graticule.
//!
//! walkers' `HttpTiles` fails each request at once when offline and never retries a
//! failed tile while it stays cached, so nothing hangs; we only need to notice that no
//! tile ever arrives and say so once, instead of leaving a blank map unexplained. The
//! fetch warnings walkers logs per tile are filtered out in `main` (no log spam).

pub mod natural_earth;
pub mod tile_file;
pub mod wmts;
pub mod world;

use std::time::{Duration, Instant};

use walkers::sources::{Attribution, OpenStreetMap};
use walkers::{HttpOptions, HttpTiles, TileId, TilePiece, Tiles};

use tile_file::{FileTiles, TileArchive};

/// Which background the user chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub enum BasemapChoice {
    /// OpenStreetMap standard tiles (network).
    #[default]
    OpenStreetMap,
    /// No tiles: plain background and graticule (offline use).
    Plain,
    /// The XYZ tile URL template of the settings ([`XyzSource`]).
    Custom,
    /// The bundled Natural Earth basemap (offline, detail down to regional zoom).
    NaturalEarth,
    /// The MBTiles / PMTiles file of the settings ([`tile_file`]).
    LocalFile,
}

impl BasemapChoice {
    pub fn label(self) -> &'static str {
        match self {
            Self::OpenStreetMap => "OpenStreetMap",
            Self::Plain => "Plain (offline)",
            Self::Custom => "XYZ or WMTS tiles (URL)",
            Self::NaturalEarth => "Natural Earth (offline)",
            Self::LocalFile => "Local tile file",
        }
    }
}

/// Whether tiles are arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasemapHealth {
    /// No network tiles in use.
    Disabled,
    /// Requests made, nothing received yet.
    Waiting,
    /// At least one tile arrived.
    Online,
    /// Requests finished and no tile ever arrived.
    Offline,
}

/// Tiles (from the network or a file) wrapped with a health check.
pub struct Basemap {
    tiles: Option<Box<dyn Tiles>>,
    first_request: Option<Instant>,
    any_tile: bool,
    health: BasemapHealth,
}

/// How long to wait for the first tile before calling the basemap offline. It turns
/// `Online` again as soon as any tile arrives.
const OFFLINE_AFTER: Duration = Duration::from_secs(4);

/// Tiles from a URL template: XYZ (`{z}`, `{x}`, `{y}`, and optionally `{s}`, replaced by
/// `a`) or WMTS REST (`{TileMatrix}`, `{TileRow}`, `{TileCol}`), the TileMatrix identifiers
/// by zoom when a WMTS capabilities document gave them ([`wmts`]), else the zoom number.
#[derive(Debug, Clone, PartialEq)]
pub struct XyzSource {
    pub template: String,
    /// `(zoom, TileMatrix identifier)`, sorted by zoom; empty: every zoom is its number.
    pub matrices: Vec<(u8, String)>,
    pub tile_size: u32,
}

impl XyzSource {
    /// A source for `template`, or why it is not one.
    pub fn new(template: &str) -> Result<XyzSource, String> {
        Self::with_matrices(template, Vec::new(), 256)
    }

    /// A source for a WMTS `template` whose zooms have the TileMatrix identifiers
    /// `matrices`, tiles `tile_size` pixels wide.
    pub fn with_matrices(
        template: &str,
        matrices: Vec<(u8, String)>,
        tile_size: u32,
    ) -> Result<XyzSource, String> {
        let t = template.trim();
        if !(t.starts_with("http://") || t.starts_with("https://")) {
            return Err(format!("{t:?}: a tile URL starts with http:// or https://"));
        }
        let has = |parts: &[&str]| parts.iter().all(|p| t.contains(p));
        if !has(&["{z}", "{x}", "{y}"]) && !has(&["{TileMatrix}", "{TileRow}", "{TileCol}"]) {
            return Err(format!(
                "{t:?}: an XYZ tile URL needs {{z}}, {{x}} and {{y}} (a WMTS one \
                 {{TileMatrix}}, {{TileRow}} and {{TileCol}}, or give its GetCapabilities URL)"
            ));
        }
        Ok(XyzSource {
            template: t.to_owned(),
            matrices,
            tile_size,
        })
    }

    /// The TileMatrix identifier of `zoom`.
    fn matrix(&self, zoom: u8) -> String {
        if self.matrices.is_empty() {
            return zoom.to_string();
        }
        self.matrices
            .iter()
            .find(|(z, _)| *z == zoom)
            .map_or_else(|| zoom.to_string(), |(_, id)| id.clone())
    }
}

impl walkers::sources::TileSource for XyzSource {
    fn tile_url(&self, tile_id: TileId) -> String {
        let (x, y) = (tile_id.x.to_string(), tile_id.y.to_string());
        self.template
            .replace("{z}", &tile_id.zoom.to_string())
            .replace("{x}", &x)
            .replace("{y}", &y)
            .replace("{s}", "a")
            .replace("{TileMatrix}", &self.matrix(tile_id.zoom))
            .replace("{TileRow}", &y)
            .replace("{TileCol}", &x)
    }

    fn attribution(&self) -> Attribution {
        Attribution {
            text: "tiles from the URL set in View › Basemap",
            url: "",
            logo_light: None,
            logo_dark: None,
        }
    }

    fn tile_size(&self) -> u32 {
        self.tile_size
    }

    /// The deepest WMTS matrix (walkers enlarges its tiles past it), else OSM's 19.
    fn max_zoom(&self) -> u8 {
        self.matrices.last().map_or(19, |(z, _)| *z)
    }
}

impl Basemap {
    /// The background `choice`; `xyz` is the URL template [`BasemapChoice::Custom`] uses
    /// (an invalid one shows no tiles); [`BasemapChoice::LocalFile`] is made with
    /// [`Basemap::from_file`], here it shows no tiles.
    pub fn new(choice: BasemapChoice, xyz: &str, ctx: &egui::Context) -> Self {
        let tiles: Option<Box<dyn Tiles>> = match choice {
            BasemapChoice::Plain | BasemapChoice::NaturalEarth | BasemapChoice::LocalFile => None,
            BasemapChoice::Custom => XyzSource::new(xyz).ok().map(|s| http_tiles(s, ctx)),
            BasemapChoice::OpenStreetMap => {
                let options = HttpOptions {
                    cache: dirs::cache_dir().map(|d| d.join("kestrel").join("tiles")),
                    ..HttpOptions::default()
                };
                Some(Box::new(HttpTiles::with_options(
                    OpenStreetMap,
                    options,
                    ctx.clone(),
                )))
            }
        };
        Self::with_tiles(tiles)
    }

    /// Tiles of a URL template or WMTS layer ([`BasemapChoice::Custom`]).
    pub fn from_source(source: XyzSource, ctx: &egui::Context) -> Self {
        Self::with_tiles(Some(http_tiles(source, ctx)))
    }

    /// Tiles from an opened archive ([`BasemapChoice::LocalFile`]).
    pub fn from_file(archive: TileArchive, ctx: &egui::Context) -> Self {
        Self::with_tiles(Some(Box::new(FileTiles::new(archive, ctx))))
    }

    fn with_tiles(tiles: Option<Box<dyn Tiles>>) -> Self {
        let health = if tiles.is_some() {
            BasemapHealth::Waiting
        } else {
            BasemapHealth::Disabled
        };
        Self {
            tiles,
            first_request: None,
            any_tile: false,
            health,
        }
    }

    /// Whether tiles are asked for at all (a custom URL that is not one asks for none).
    pub fn has_tiles(&self) -> bool {
        self.tiles.is_some()
    }

    pub fn health(&self) -> BasemapHealth {
        self.health
    }

    /// The tile source for walkers, if any.
    pub fn tiles_mut(&mut self) -> Option<&mut dyn Tiles> {
        if self.tiles.is_some() {
            Some(self as &mut dyn Tiles)
        } else {
            None
        }
    }

    /// Attribution to draw on the map (OSM requires it to be visible).
    pub fn attribution(&self) -> Option<Attribution> {
        self.tiles.as_ref().map(|t| t.attribution())
    }

    /// Update the health state; call once per frame after the map was drawn.
    pub fn update_health(&mut self) {
        if self.tiles.is_none() {
            self.health = BasemapHealth::Disabled;
            return;
        };
        self.health = if self.any_tile {
            BasemapHealth::Online
        } else {
            // Requests may fail at once (no route) or hang until a TCP timeout (DNS black
            // hole), so judge by time: nothing arrived a few seconds after the first request.
            match self.first_request {
                Some(t0) if t0.elapsed() > OFFLINE_AFTER => BasemapHealth::Offline,
                _ => BasemapHealth::Waiting,
            }
        };
    }
}

impl Tiles for Basemap {
    fn at(&mut self, tile_id: TileId) -> Option<TilePiece> {
        let tiles = self.tiles.as_mut()?;
        self.first_request.get_or_insert_with(Instant::now);
        let piece = tiles.at(tile_id);
        self.any_tile |= piece.is_some();
        piece
    }

    fn attribution(&self) -> Attribution {
        match &self.tiles {
            Some(t) => t.attribution(),
            None => Attribution {
                text: "",
                url: "",
                logo_light: None,
                logo_dark: None,
            },
        }
    }

    fn tile_size(&self) -> u32 {
        self.tiles.as_ref().map_or(256, |t| t.tile_size())
    }

    fn stats(&self) -> walkers::Stats {
        self.tiles.as_ref().map(|t| t.stats()).unwrap_or_default()
    }
}

/// walkers' HTTP tiles for `source`, with a tile cache of their own per template (and WMTS
/// matrices); none for a server on this machine (nothing to save, and tests leave nothing
/// behind).
fn http_tiles(source: XyzSource, ctx: &egui::Context) -> Box<dyn Tiles> {
    let mut name = source.template.clone();
    if !source.matrices.is_empty() {
        name.push_str(&format!("{:?}", source.matrices));
    }
    let key = format!("{:016x}", fnv1a(name.as_bytes()));
    let local = ["://127.0.0.1", "://localhost", "://[::1]"]
        .iter()
        .any(|h| source.template.contains(h));
    let options = HttpOptions {
        cache: dirs::cache_dir()
            .filter(|_| !local)
            .map(|d| d.join("kestrel").join("tiles-xyz").join(key)),
        ..HttpOptions::default()
    };
    Box::new(HttpTiles::with_options(source, options, ctx.clone()))
}

/// FNV-1a, to name a tile cache folder after its URL template.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkers::sources::TileSource as _;

    #[test]
    fn xyz_templates_fill_in_the_tile_and_refuse_what_is_not_one() {
        let s = XyzSource::new(" https://{s}.tile.example/{z}/{x}/{y}.png ").unwrap();
        let url = s.tile_url(TileId {
            x: 17,
            y: 11,
            zoom: 5,
        });
        assert_eq!(url, "https://a.tile.example/5/17/11.png");
        assert!(XyzSource::new("file:///tiles/{z}/{x}/{y}.png").is_err());
        let e = XyzSource::new("https://tile.example/{z}/{x}.png").unwrap_err();
        assert!(e.contains("{y}"), "{e}");
    }
}
