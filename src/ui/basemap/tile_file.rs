//! The user's own raster basemap from a tile archive on disk: MBTiles (SQLite, read through
//! GDAL's SQLite driver, already a dependency) or PMTiles v3 (a small reader of its header
//! and directories here).
//!
//! Why not walkers' `pmtiles` feature: it adds the `pmtiles` crate with an async tokio
//! reader that reopens the file for every tile, and it cannot tell "not a PMTiles file" or
//! "vector tiles" to the user before the map goes blank; the v3 layout is small (a 127-byte
//! header and varint directories), so one reader here serves both archive kinds through one
//! worker and reports such errors with the file's name.
//!
//! [`TileArchive::open`] runs on a worker (a `Task`); [`FileTiles`] then owns the archive on a
//! thread of its own, which reads and decodes the tiles the map asks for; the UI thread only
//! turns decoded images into textures. Zooms beyond the archive's deepest level show the
//! deepest tile enlarged.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, Sender};
use egui::{ColorImage, Rect, TextureHandle, pos2};
use gdal::vector::LayerAccess as _;
use walkers::sources::Attribution;
use walkers::{Tile, TileId, TilePiece, Tiles};

/// The image format of an archive's tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileFormat {
    Png,
    Jpeg,
    Webp,
}

impl TileFormat {
    fn name(self) -> &'static str {
        match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::Webp => "WebP",
        }
    }
}

/// What kind of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    MbTiles,
    PmTiles,
}

/// An opened tile archive.
pub struct TileArchive {
    pub path: PathBuf,
    pub kind: ArchiveKind,
    pub format: TileFormat,
    pub min_zoom: u8,
    pub max_zoom: u8,
    reader: Reader,
}

enum Reader {
    Mb(gdal::Dataset),
    Pm(PmTiles),
}

impl std::fmt::Debug for TileArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileArchive")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("format", &self.format)
            .field("zooms", &(self.min_zoom..=self.max_zoom))
            .finish()
    }
}

impl TileArchive {
    /// Open `path` as an MBTiles or PMTiles archive of raster tiles; the error names the
    /// file and says what it is instead.
    pub fn open(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let mut head = [0u8; 16];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| format!("{shown}: cannot read it: {e}"))?;
        let r = if head[..n].starts_with(b"PMTiles") {
            PmTiles::open(path).map(|(pm, format, min, max)| Self {
                path: path.to_owned(),
                kind: ArchiveKind::PmTiles,
                format,
                min_zoom: min,
                max_zoom: max,
                reader: Reader::Pm(pm),
            })
        } else if head[..n].starts_with(b"SQLite format 3\0") {
            open_mbtiles(path)
        } else {
            Err("not a tile archive (neither MBTiles nor PMTiles)".into())
        };
        // a damaged header or table can claim any zooms (found by fuzzing)
        let r = r.and_then(|a| {
            if a.min_zoom > a.max_zoom {
                Err(format!(
                    "its zoom levels run from {} down to {} (beyond 30, or reversed)",
                    a.min_zoom, a.max_zoom
                ))
            } else {
                Ok(a)
            }
        });
        r.map_err(|e| format!("{shown}: {e}"))
    }

    /// The bytes of a tile (XYZ numbering, y down), or `None` where the archive has none.
    pub fn tile(&mut self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, String> {
        match &mut self.reader {
            Reader::Pm(pm) => pm.tile(z, x, y),
            Reader::Mb(ds) => {
                // MBTiles rows count from the south (TMS)
                let row = (1u32 << z) - 1 - y;
                let sql = format!(
                    "SELECT hex(tile_data) AS h FROM tiles \
                     WHERE zoom_level = {z} AND tile_column = {x} AND tile_row = {row}"
                );
                let Some(mut rs) = ds
                    .execute_sql(sql, None, gdal::vector::sql::Dialect::DEFAULT)
                    .map_err(|e| e.to_string())?
                else {
                    return Ok(None);
                };
                let hex = rs
                    .features()
                    .next()
                    .and_then(|f| f.field_as_string(0).ok().flatten());
                Ok(hex.map(|h| unhex(&h)))
            }
        }
    }
}

fn unhex(h: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    };
    h.as_bytes()
        .chunks_exact(2)
        .map(|p| val(p[0]) << 4 | val(p[1]))
        .collect()
}

/// One text value of a single-row, single-column query.
fn query_text(ds: &gdal::Dataset, sql: &str) -> Option<String> {
    let mut rs = ds
        .execute_sql(sql, None, gdal::vector::sql::Dialect::DEFAULT)
        .ok()??;
    let f = rs.features().next()?;
    f.field_as_string(0).ok().flatten()
}

fn open_mbtiles(path: &Path) -> Result<TileArchive, String> {
    use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
    // the SQLite driver leaves a `.mbtiles` name to the MBTiles driver (raster only in
    // GDAL, no access to the tiles' bytes) unless the name says "SQLITE:"
    let name = path
        .to_str()
        .ok_or("a file name that is not UTF-8, which GDAL cannot open")?;
    let ds = Dataset::open_ex(
        format!("SQLITE:{name}"),
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            allowed_drivers: Some(&["SQLite"]),
            ..DatasetOptions::default()
        },
    )
    .map_err(|e| format!("an SQLite file GDAL cannot open: {e}"))?;
    let Some(n) = query_text(&ds, "SELECT count(*) FROM tiles") else {
        return Err("an SQLite file without a tiles table: not MBTiles".into());
    };
    if n == "0" {
        return Err("an MBTiles archive without tiles".into());
    }
    let meta = |name: &str| {
        query_text(
            &ds,
            &format!("SELECT value FROM metadata WHERE name = '{name}'"),
        )
    };
    let format = match meta("format").as_deref().map(str::to_ascii_lowercase) {
        Some(f) if f == "png" => TileFormat::Png,
        Some(f) if f == "jpg" || f == "jpeg" => TileFormat::Jpeg,
        Some(f) if f == "webp" => TileFormat::Webp,
        Some(f) if f == "pbf" || f == "mvt" => {
            return Err("vector tiles (MVT), which Kestrel cannot draw; a raster \
                        (PNG/JPEG/WebP) archive is needed"
                .into());
        }
        // no or an unknown format: the first tile's bytes tell
        _ => {
            let hex = query_text(
                &ds,
                "SELECT hex(substr(tile_data, 1, 16)) FROM tiles LIMIT 1",
            )
            .unwrap_or_default();
            sniff(&unhex(&hex))?
        }
    };
    let zoom = |sql: &str| query_text(&ds, sql).and_then(|z| z.parse::<u8>().ok());
    let min_zoom = zoom("SELECT min(zoom_level) FROM tiles").unwrap_or(0);
    let max_zoom = zoom("SELECT max(zoom_level) FROM tiles").unwrap_or(min_zoom);
    Ok(TileArchive {
        path: path.to_owned(),
        kind: ArchiveKind::MbTiles,
        format,
        min_zoom,
        max_zoom: max_zoom.min(30),
        reader: Reader::Mb(ds),
    })
}

/// A tile's image format from its first bytes.
fn sniff(b: &[u8]) -> Result<TileFormat, String> {
    if b.starts_with(b"\x89PNG") {
        Ok(TileFormat::Png)
    } else if b.starts_with(b"\xff\xd8") {
        Ok(TileFormat::Jpeg)
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Ok(TileFormat::Webp)
    } else if b.starts_with(b"\x1f\x8b") || b.first() == Some(&0x1a) {
        Err("vector tiles (MVT), which Kestrel cannot draw; a raster (PNG/JPEG/WebP) archive is needed".into())
    } else {
        Err("tiles in a format Kestrel cannot draw".into())
    }
}

/// A PMTiles v3 archive: the header's offsets and the root directory.
struct PmTiles {
    file: File,
    leaf_offset: u64,
    data_offset: u64,
    compression: u8,
    root: Vec<Entry>,
    /// Leaf directories read so far, by offset.
    leaves: HashMap<u64, Vec<Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tile_id: u64,
    offset: u64,
    length: u64,
    run_length: u64,
}

impl PmTiles {
    fn open(path: &Path) -> Result<(Self, TileFormat, u8, u8), String> {
        let mut file = File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
        let mut h = [0u8; 127];
        file.read_exact(&mut h)
            .map_err(|_| "a PMTiles file too short for its header".to_string())?;
        if h[7] != 3 {
            return Err(format!("PMTiles version {}, Kestrel reads version 3", h[7]));
        }
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        let (root_offset, root_length) = (u64_at(8), u64_at(16));
        let (leaf_offset, data_offset) = (u64_at(40), u64_at(56));
        let compression = h[97];
        let tile_compression = h[98];
        let format = match h[99] {
            2 => TileFormat::Png,
            3 => TileFormat::Jpeg,
            4 => TileFormat::Webp,
            1 => {
                return Err("vector tiles (MVT), which Kestrel cannot draw; a raster \
                            (PNG/JPEG/WebP) archive is needed"
                    .into());
            }
            t => return Err(format!("tile type {t}, which Kestrel cannot draw")),
        };
        if tile_compression > 1 {
            return Err(format!(
                "its {} tiles are compressed ({}), which raster archives are not",
                format.name(),
                compression_name(tile_compression)
            ));
        }
        let (min_zoom, max_zoom) = (h[100], h[101].min(30));
        let mut pm = PmTiles {
            file,
            leaf_offset,
            data_offset,
            compression,
            root: Vec::new(),
            leaves: HashMap::new(),
        };
        pm.root = pm.directory(root_offset, root_length)?;
        Ok((pm, format, min_zoom, max_zoom))
    }

    fn read(&mut self, offset: u64, length: u64) -> Result<Vec<u8>, String> {
        if length > 64 << 20 {
            return Err(format!("a directory or tile of {length} bytes"));
        }
        let mut buf = vec![0u8; length as usize];
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| format!("cannot read {length} bytes at {offset}: {e}"))?;
        Ok(buf)
    }

    fn directory(&mut self, offset: u64, length: u64) -> Result<Vec<Entry>, String> {
        let raw = self.read(offset, length)?;
        let data = match self.compression {
            0 | 1 => raw,
            2 => {
                // a directory is a few bytes per tile run: past this it is a gzip bomb
                const MAX_DIRECTORY: u64 = 64 << 20;
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&raw[..])
                    .take(MAX_DIRECTORY + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("a directory that does not decompress: {e}"))?;
                if out.len() as u64 > MAX_DIRECTORY {
                    return Err(format!(
                        "a directory that decompresses to more than {} MB",
                        MAX_DIRECTORY >> 20
                    ));
                }
                out
            }
            c => {
                return Err(format!(
                    "directories compressed with {}, Kestrel reads gzip or none",
                    compression_name(c)
                ));
            }
        };
        parse_directory(&data).ok_or_else(|| "a damaged PMTiles directory".to_string())
    }

    fn tile(&mut self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, String> {
        let id = tile_id(z, x, y);
        let mut dir = self.root.clone();
        // the spec allows a few levels of leaf directories
        for _ in 0..4 {
            let Some(e) = find(&dir, id) else {
                return Ok(None);
            };
            if e.run_length > 0 {
                return self.read(self.data_offset + e.offset, e.length).map(Some);
            }
            let at = self.leaf_offset + e.offset;
            if !self.leaves.contains_key(&at) {
                let leaf = self.directory(at, e.length)?;
                if self.leaves.len() > 256 {
                    self.leaves.clear();
                }
                self.leaves.insert(at, leaf);
            }
            dir = self.leaves[&at].clone();
        }
        Ok(None)
    }
}

fn compression_name(c: u8) -> &'static str {
    match c {
        2 => "gzip",
        3 => "brotli",
        4 => "zstd",
        _ => "an unknown method",
    }
}

/// The entry holding tile `id`: the last one at or before it, if its run covers `id` (or it
/// points at a leaf directory).
fn find(dir: &[Entry], id: u64) -> Option<Entry> {
    let i = dir.partition_point(|e| e.tile_id <= id).checked_sub(1)?;
    let e = dir[i];
    (e.run_length == 0 || id < e.tile_id + e.run_length).then_some(e)
}

fn parse_directory(data: &[u8]) -> Option<Vec<Entry>> {
    let mut at = 0usize;
    let mut varint = || {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *data.get(at)?;
            at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    let n = usize::try_from(varint()?).ok()?;
    if n > data.len() {
        return None;
    }
    let mut entries = vec![
        Entry {
            tile_id: 0,
            offset: 0,
            length: 0,
            run_length: 0
        };
        n
    ];
    let mut last = 0u64;
    for e in entries.iter_mut() {
        last = last.checked_add(varint()?)?;
        e.tile_id = last;
    }
    for e in entries.iter_mut() {
        e.run_length = varint()?;
    }
    for e in entries.iter_mut() {
        e.length = varint()?;
    }
    for i in 0..n {
        let v = varint()?;
        entries[i].offset = if v == 0 && i > 0 {
            entries[i - 1].offset + entries[i - 1].length
        } else {
            v.checked_sub(1)?
        };
    }
    Some(entries)
}

/// PMTiles' tile id: the tiles of all lower zooms, then the Hilbert curve index in `z`.
pub fn tile_id(z: u8, x: u32, y: u32) -> u64 {
    let mut acc: u64 = ((1u64 << (2 * u32::from(z))) - 1) / 3;
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    let mut s: u64 = if z == 0 { 0 } else { 1 << (z - 1) };
    while s > 0 {
        let rx = u64::from(x & s > 0);
        let ry = u64::from(y & s > 0);
        acc += s * s * ((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                x = s.wrapping_sub(1).wrapping_sub(x);
                y = s.wrapping_sub(1).wrapping_sub(y);
            }
            std::mem::swap(&mut x, &mut y);
        }
        s >>= 1;
    }
    acc
}

/// What the tile thread sends back.
enum Loaded {
    Image(TileId, ColorImage),
    Missing(TileId),
    Failed(TileId, String),
}

/// Textures kept; beyond this the cache starts over (a few screens of 256 px tiles).
const MAX_TEXTURES: usize = 512;

/// Tiles from a [`TileArchive`], read and decoded on a thread of their own.
pub struct FileTiles {
    path: PathBuf,
    max_zoom: u8,
    min_zoom: u8,
    requests: Sender<TileId>,
    loaded: Receiver<Loaded>,
    textures: HashMap<TileId, TextureHandle>,
    pending: HashSet<TileId>,
    missing: HashSet<TileId>,
    ctx: egui::Context,
    /// The first tile error, for the status bar.
    pub error: Option<String>,
}

impl FileTiles {
    pub fn new(archive: TileArchive, ctx: &egui::Context) -> Self {
        let (req_tx, req_rx) = crossbeam_channel::unbounded::<TileId>();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let wake = crate::ui::task::repainter(ctx);
        let path = archive.path.clone();
        let (min_zoom, max_zoom) = (archive.min_zoom, archive.max_zoom);
        let mut archive = archive;
        let spawned = std::thread::Builder::new()
            .name("kestrel-tile-file".into())
            .spawn(move || {
                // ends when the FileTiles (the sender) is dropped
                for id in req_rx {
                    let msg = match archive.tile(id.zoom, id.x, id.y) {
                        Ok(Some(bytes)) => match decode(&bytes) {
                            Ok(img) => Loaded::Image(id, img),
                            Err(e) => Loaded::Failed(id, e),
                        },
                        Ok(None) => Loaded::Missing(id),
                        Err(e) => Loaded::Failed(id, e),
                    };
                    if done_tx.send(msg).is_err() {
                        break;
                    }
                    wake();
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start the tile reader: {e}");
        }
        Self {
            path,
            max_zoom,
            min_zoom,
            requests: req_tx,
            loaded: done_rx,
            textures: HashMap::new(),
            pending: HashSet::new(),
            missing: HashSet::new(),
            ctx: ctx.clone(),
            error: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn receive(&mut self) {
        while let Ok(msg) = self.loaded.try_recv() {
            match msg {
                Loaded::Image(id, img) => {
                    self.pending.remove(&id);
                    if self.textures.len() >= MAX_TEXTURES {
                        self.textures.clear();
                    }
                    let tex = self.ctx.load_texture(
                        format!("tile-file-{}-{}-{}", id.zoom, id.x, id.y),
                        img,
                        egui::TextureOptions::LINEAR,
                    );
                    self.textures.insert(id, tex);
                }
                Loaded::Missing(id) => {
                    self.pending.remove(&id);
                    self.missing.insert(id);
                }
                Loaded::Failed(id, e) => {
                    self.pending.remove(&id);
                    self.missing.insert(id);
                    if self.error.is_none() {
                        log::warn!("{}: tile {id:?}: {e}", self.path.display());
                        self.error = Some(format!("{}: {e}", self.path.display()));
                    }
                }
            }
        }
    }
}

/// A tile's bytes to an image (PNG, JPEG or WebP).
fn decode(bytes: &[u8]) -> Result<ColorImage, String> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| format!("a tile that does not decode: {e}"))?
        .to_rgba8();
    Ok(ColorImage::from_rgba_unmultiplied(
        [img.width() as usize, img.height() as usize],
        img.as_raw(),
    ))
}

impl Tiles for FileTiles {
    fn at(&mut self, tile_id: TileId) -> Option<TilePiece> {
        self.receive();
        if tile_id.zoom < self.min_zoom {
            return None;
        }
        // beyond the deepest level: a part of the deepest tile, enlarged
        let (id, uv) = if tile_id.zoom > self.max_zoom {
            let d = tile_id.zoom - self.max_zoom;
            let k = 1u32 << d;
            let parent = TileId {
                x: tile_id.x >> d,
                y: tile_id.y >> d,
                zoom: self.max_zoom,
            };
            let (fx, fy) = ((tile_id.x % k) as f32, (tile_id.y % k) as f32);
            let s = 1.0 / k as f32;
            (
                parent,
                Rect::from_min_max(pos2(fx * s, fy * s), pos2((fx + 1.0) * s, (fy + 1.0) * s)),
            )
        } else {
            (tile_id, Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)))
        };
        if let Some(t) = self.textures.get(&id) {
            return Some(TilePiece::new(Tile::Raster(t.clone()), uv));
        }
        if !self.missing.contains(&id) && self.pending.insert(id) {
            let _ = self.requests.send(id);
        }
        None
    }

    fn attribution(&self) -> Attribution {
        Attribution {
            text: "tiles from the local file set in View › Basemap",
            url: "",
            logo_light: None,
            logo_dark: None,
        }
    }

    fn tile_size(&self) -> u32 {
        256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmtiles_tile_ids_follow_the_spec() {
        // values of the PyPI `pmtiles` package (3.8.1), the reference implementation
        assert_eq!(tile_id(0, 0, 0), 0);
        assert_eq!(tile_id(1, 0, 0), 1);
        assert_eq!(tile_id(1, 0, 1), 2);
        assert_eq!(tile_id(1, 1, 1), 3);
        assert_eq!(tile_id(1, 1, 0), 4);
        assert_eq!(tile_id(2, 0, 0), 5);
        assert_eq!(tile_id(3, 5, 2), 76);
        assert_eq!(tile_id(12, 3423, 1763), 19_078_479);
    }

    #[test]
    fn what_is_not_a_tile_archive_is_refused_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("kestrel-tilefile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("notes.pmtiles");
        std::fs::write(&p, b"hello, not tiles").unwrap();
        let e = TileArchive::open(&p).unwrap_err();
        assert!(
            e.contains("notes.pmtiles") && e.contains("not a tile archive"),
            "{e}"
        );
        let e = TileArchive::open(&dir.join("absent.mbtiles")).unwrap_err();
        assert!(
            e.contains("absent.mbtiles") && e.contains("cannot read"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
