//! Tile index files: exact write/read round trips, the GeoParquet `geo` metadata, the
//! errors for damaged and foreign files, and multi-scene loading.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMicrosecondType};
use arrow_schema::{DataType, Field, TimeUnit};
use kestrel::search::geoparquet::{
    self, CHECKSUM_KEY, GEO_KEY, META_KEY, ROW_GROUP_ROWS, StoreError, read_index, read_indexes,
    read_meta, write_index,
};
use kestrel::search::record::{INDEX_FORMAT_VERSION, IndexMeta, TileRecord, TileStatus};
use parquet::file::reader::{FileReader, SerializedFileReader};

const DIM: usize = 512;

pub(super) fn meta(scene: &str) -> IndexMeta {
    IndexMeta {
        format_version: INDEX_FORMAT_VERSION,
        kestrel_version: "0.1.0".into(),
        scene_path: format!("/data/{scene}.SAFE"),
        scene_identity: scene.into(),
        scene_crs_wkt: "PROJCRS[\"WGS 84 / UTM zone 33N\"]".into(),
        scene_epsg: Some(32633),
        model_name: "Llama3-MS-CLIP-Base".into(),
        checkpoint_sha256: "ab".repeat(32),
        preprocess_version: 1,
        bands: [
            "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12",
        ]
        .iter()
        .map(|b| b.to_string())
        .collect(),
        harmonisation: "L2A offset -1000 (baseline 04.00)".into(),
        tile_size: 224,
        stride: 224,
        embed_dim: DIM as u32,
        max_nodata_fraction: 0.5,
        max_cloud_fraction: Some(0.3),
        created_utc: "2026-01-02T03:04:05Z".into(),
        product_id: Some(format!(
            "S2B_MSIL2A_20230823T095559_N0509_R122_T{scene}_20230823T124759"
        )),
        mgrs_tile: Some(scene.into()),
        sensing_time: Some("2023-08-23T09:55:59.024Z".into()),
        precision: Some("f32".into()),
    }
}

/// Deterministic pseudo-random unit vector.
fn embedding(seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut v: Vec<f32> = (0..DIM)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// A 49 x 49 grid (a full 10980 px Sentinel-2 tile at 224 px) or the first `n` tiles of
/// it, with all three statuses, missing cloud fractions and densified rings.
pub(super) fn tiles(scene: &str, n: usize) -> Vec<TileRecord> {
    (0..n)
        .map(|i| {
            let (row, col) = ((i / 49) as u32, (i % 49) as u32);
            let (x0, y0) = (i64::from(col) * 224, i64::from(row) * 224);
            let minx = 300000.0 + x0 as f64 * 10.0;
            let maxy = 5100000.0 - y0 as f64 * 10.0;
            let lonlat = |x: f64, y: f64| {
                [
                    12.0 + (x - 300000.0) / 71234.5 + (y - 5000000.0) * 1.3e-7,
                    45.1 + (y - 5000000.0) / 111111.1 - (x - 300000.0) * 2.1e-7,
                ]
            };
            let (maxx, miny) = (minx + 2240.0, maxy - 2240.0);
            let mut ring = vec![lonlat(minx, maxy), lonlat(minx, miny)];
            if i % 3 == 0 {
                ring.push(lonlat(minx + 1120.0, miny)); // densified edge
            }
            ring.extend([lonlat(maxx, miny), lonlat(maxx, maxy), lonlat(minx, maxy)]);
            let status = match i % 7 {
                3 => TileStatus::SkippedNodata,
                5 => TileStatus::SkippedCloud,
                _ => TileStatus::Embedded,
            };
            TileRecord {
                scene_id: scene.into(),
                row,
                col,
                px_x0: x0,
                px_y0: y0 - 3,
                px_width: 224,
                px_height: if row == 48 { 4 } else { 224 },
                bounds_crs: [minx, miny, maxx, maxy],
                centre_lonlat: lonlat(minx + 1120.0, maxy - 1120.0),
                polygon_wgs84: ring,
                nodata_fraction: (i % 11) as f32 / 11.0,
                cloud_fraction: (i % 4 != 0).then(|| (i % 13) as f32 / 13.0),
                status,
                embedding: (status == TileStatus::Embedded).then(|| embedding(i as u64)),
            }
        })
        .collect()
}

fn assert_names(err: &StoreError, path: &Path) {
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn round_trip_is_exact_across_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.parquet");
    let m = meta("S2A_T33TUL_20240101");
    let ts = tiles(&m.scene_identity, 2 * ROW_GROUP_ROWS + 300);
    write_index(&path, &m, &ts).unwrap();

    let (m2, ts2) = read_index(&path).unwrap();
    assert_eq!(m2, m);
    assert_eq!(ts2.len(), ts.len());
    for (a, b) in ts.iter().zip(&ts2) {
        assert_eq!(a, b, "tile r{} c{}", a.row, a.col);
        // f32 equality is exact here (no NaN); check bits of the embedding too.
        if let (Some(x), Some(y)) = (&a.embedding, &b.embedding) {
            assert!(x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()));
        }
    }
    assert_eq!(read_meta(&path).unwrap(), m);

    let reader = SerializedFileReader::new(fs::File::open(&path).unwrap()).unwrap();
    let groups: Vec<i64> = (0..reader.num_row_groups())
        .map(|g| reader.metadata().row_group(g).num_rows())
        .collect();
    assert_eq!(groups, vec![1024, 1024, 300]);
}

#[test]
fn empty_index_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.parquet");
    let m = meta("empty");
    write_index(&path, &m, &[]).unwrap();
    let (m2, ts) = read_index(&path).unwrap();
    assert_eq!((m2, ts.len()), (m, 0));
}

fn key_values(path: &Path) -> Vec<(String, String)> {
    let reader = SerializedFileReader::new(fs::File::open(path).unwrap()).unwrap();
    reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn geo_metadata_and_schema_follow_geoparquet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("geo.parquet");
    let m = meta("geo");
    let ts = tiles("geo", 60);
    write_index(&path, &m, &ts).unwrap();

    let kvs = key_values(&path);
    let get = |k: &str| kvs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let geo: serde_json::Value = serde_json::from_str(&get(GEO_KEY).unwrap()).unwrap();
    assert_eq!(geo["version"], "1.1.0");
    assert_eq!(geo["primary_column"], "geometry");
    let col = &geo["columns"]["geometry"];
    assert_eq!(col["encoding"], "WKB");
    assert_eq!(col["geometry_types"], serde_json::json!(["Polygon"]));
    assert!(
        col.get("crs").is_none(),
        "crs omitted = OGC:CRS84 (lon/lat)"
    );
    let pts: Vec<[f64; 2]> = ts.iter().flat_map(|t| t.polygon_wgs84.clone()).collect();
    let expect = [
        pts.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min),
        pts.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min),
        pts.iter().map(|p| p[0]).fold(f64::NEG_INFINITY, f64::max),
        pts.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max),
    ];
    // serde_json's parser may be 1 ulp off; the text itself must be the exact value.
    let bbox_text = format!("{:?}", expect.map(|v| v.to_string())).replace(['"', ' '], "");
    assert!(
        get(GEO_KEY)
            .unwrap()
            .contains(&format!("\"bbox\":{bbox_text}")),
        "{}",
        get(GEO_KEY).unwrap()
    );
    assert_eq!(
        get(GEO_KEY).unwrap(),
        geoparquet::geo_metadata(&ts).to_string()
    );

    let kestrel: IndexMeta = serde_json::from_str(&get(META_KEY).unwrap()).unwrap();
    assert_eq!(kestrel, m);
    assert_eq!(
        get(CHECKSUM_KEY).unwrap(),
        geoparquet::content_sha256(&get(META_KEY).unwrap(), &ts)
    );

    // The covering column is declared for the geometry.
    assert_eq!(
        col["covering"]["bbox"],
        serde_json::json!({"xmin": ["bbox", "xmin"], "ymin": ["bbox", "ymin"],
                           "xmax": ["bbox", "xmax"], "ymax": ["bbox", "ymax"]})
    );

    // Column names, and the 3-level list for the embedding.
    let reader = SerializedFileReader::new(fs::File::open(&path).unwrap()).unwrap();
    assert!(
        reader
            .metadata()
            .file_metadata()
            .created_by()
            .unwrap()
            .starts_with("kestrel ")
    );
    let schema = reader.metadata().file_metadata().schema_descr();
    let names: Vec<String> = (0..schema.num_columns())
        .map(|i| schema.column(i).path().string())
        .collect();
    assert_eq!(
        names,
        [
            "geometry",
            "bbox.xmin",
            "bbox.ymin",
            "bbox.xmax",
            "bbox.ymax",
            "scene_id",
            "product_id",
            "mgrs_tile",
            "datetime",
            "tile_row",
            "tile_col",
            "px_x0",
            "px_y0",
            "px_width",
            "px_height",
            "crs_minx",
            "crs_miny",
            "crs_maxx",
            "crs_maxy",
            "centre_lon",
            "centre_lat",
            "nodata_fraction",
            "cloud_fraction",
            "status",
            "embedding.list.element",
        ]
    );
    let emb = schema.column(names.len() - 1);
    assert_eq!((emb.max_def_level(), emb.max_rep_level()), (2, 1));
    let root = schema.root_schema();
    let group = root
        .get_fields()
        .iter()
        .find(|f| f.name() == "embedding")
        .unwrap();
    assert_eq!(
        group.get_basic_info().converted_type(),
        parquet::basic::ConvertedType::LIST
    );

    // What Arrow readers see: a fixed-size list, the bbox struct, values per row.
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        fs::File::open(&path).unwrap(),
    )
    .unwrap();
    let arrow = b.schema().clone();
    assert_eq!(
        arrow.field_with_name("embedding").unwrap().data_type(),
        &DataType::FixedSizeList(
            Arc::new(Field::new("element", DataType::Float32, false)),
            DIM as i32
        )
    );
    assert_eq!(
        arrow.field_with_name("datetime").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let batches: Vec<_> = b.build().unwrap().map(Result::unwrap).collect();
    let batch = &batches[0];
    let bbox = batch.column_by_name("bbox").unwrap().as_struct();
    let xmin = bbox
        .column_by_name("xmin")
        .unwrap()
        .as_primitive::<Float64Type>();
    let ymax = bbox
        .column_by_name("ymax")
        .unwrap()
        .as_primitive::<Float64Type>();
    for (i, t) in ts.iter().take(batch.num_rows()).enumerate() {
        let [x0, _, _, y1] = t.bounds_wgs84().unwrap();
        assert_eq!((xmin.value(i), ymax.value(i)), (x0, y1));
    }
    let dt = batch
        .column_by_name("datetime")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    // date -u -d 2023-08-23T09:55:59.024Z +%s%6N
    assert_eq!(dt.value(0), 1_692_784_559_024_000);
    let product = batch
        .column_by_name("product_id")
        .unwrap()
        .as_string::<i32>();
    assert_eq!(product.value(0), m.product_id.as_deref().unwrap());
    let tile = batch
        .column_by_name("mgrs_tile")
        .unwrap()
        .as_string::<i32>();
    assert_eq!(tile.value(3), "geo");
}

/// A shard written by Kestrel before format 2 (`list<float>` embedding, no `bbox`, no
/// precision), vendored as written by that build from the tiny model and a chip: it
/// still reads, digest checked.
#[test]
fn format_1_shards_still_read() {
    let path = crate::common::repo().join("tests/fixtures/index_v1/282D_485L_3_3.parquet");
    let (m, ts) = read_index(&path).unwrap();
    assert_eq!(m.format_version, 1);
    assert_eq!(m.precision, None);
    assert_eq!(m.embed_dim, 32);
    assert_eq!(ts.len(), 1);
    let e = ts[0].embedding.as_ref().unwrap();
    assert_eq!(e.len(), 32);
    let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    let kvs = key_values(&path);
    let get = |k: &str| kvs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(
        get(CHECKSUM_KEY).unwrap(),
        geoparquet::content_sha256(&get(META_KEY).unwrap(), &ts)
    );
}

/// Rewrite a shard's rows through Arrow as another tool would: `created_by` not Kestrel's,
/// the metadata given (the digest dropped or carried over), only the rows in `keep`.
fn rewrite(src: &Path, dst: &Path, drop_digest: bool, keep: std::ops::Range<usize>) {
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    let kvs: Vec<KeyValue> = key_values(src)
        .into_iter()
        .filter(|(k, _)| k != "ARROW:schema" && !(drop_digest && k == CHECKSUM_KEY))
        .map(|(k, v)| KeyValue::new(k, v))
        .collect();
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        fs::File::open(src).unwrap(),
    )
    .unwrap();
    let schema = b.schema().clone();
    let props = WriterProperties::builder()
        .set_created_by("parquet-cpp-arrow version 26.0.1".into())
        .set_key_value_metadata(Some(kvs))
        .build();
    let mut w = ArrowWriter::try_new(fs::File::create(dst).unwrap(), schema, Some(props)).unwrap();
    let mut row = 0;
    for batch in b.build().unwrap() {
        let batch = batch.unwrap();
        let (first, n) = (row, batch.num_rows());
        row += n;
        let lo = keep.start.clamp(first, first + n);
        let hi = keep.end.clamp(first, first + n);
        w.write(&batch.slice(lo - first, hi - lo)).unwrap();
    }
    w.close().unwrap();
}

/// Shards another writer rewrote have no Kestrel digest to trust: with the digest dropped,
/// or carried over although rows were filtered out, they read when their columns and
/// `kestrel` metadata are right. A Kestrel-written file whose digest is gone is refused.
#[test]
fn rewritten_shards_read_without_a_kestrel_digest() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.parquet");
    let m = meta("rw");
    let ts = tiles("rw", 30);
    write_index(&src, &m, &ts).unwrap();

    let copied = dir.path().join("copied.parquet");
    rewrite(&src, &copied, true, 0..ts.len());
    assert_eq!(read_index(&copied).unwrap(), (m.clone(), ts.clone()));

    let filtered = dir.path().join("filtered.parquet");
    rewrite(&src, &filtered, false, 7..19);
    let keep: Vec<TileRecord> = ts[7..19].to_vec();
    let (m2, ts2) = read_index(&filtered).unwrap();
    assert_eq!((m2, ts2), (m.clone(), keep));

    // Kestrel's own writer, digest removed: damage, not a rewrite.
    let bytes = fs::read(&src).unwrap();
    let key = CHECKSUM_KEY.as_bytes();
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap();
    let mut b = bytes.clone();
    b[at] = b'K';
    let nodigest = dir.path().join("nodigest.parquet");
    fs::write(&nodigest, &b).unwrap();
    let e = read_index(&nodigest).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains(CHECKSUM_KEY), "{e}");
}

#[test]
fn damaged_and_foreign_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    let m = meta("dmg");
    write_index(&good, &m, &tiles("dmg", 40)).unwrap();
    let bytes = fs::read(&good).unwrap();

    let truncated = dir.path().join("truncated.parquet");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_index(&truncated).unwrap_err();
    assert!(matches!(e, StoreError::Truncated { .. }), "{e}");
    assert_names(&e, &truncated);
    assert!(matches!(
        read_meta(&truncated),
        Err(StoreError::Truncated { .. })
    ));

    let text = dir.path().join("notes.parquet");
    fs::write(&text, "rank,score\n1,0.5\n").unwrap();
    let e = read_index(&text).unwrap_err();
    assert!(matches!(e, StoreError::NotParquet { .. }), "{e}");
    assert_names(&e, &text);

    let empty = dir.path().join("empty.parquet");
    fs::write(&empty, b"").unwrap();
    assert!(matches!(
        read_meta(&empty),
        Err(StoreError::NotParquet { .. })
    ));

    let missing = dir.path().join("missing.parquet");
    let e = read_meta(&missing).unwrap_err();
    assert!(matches!(e, StoreError::Read { .. }), "{e}");
    assert_names(&e, &missing);

    // A valid Parquet file that is not a tile index.
    let foreign = dir.path().join("foreign.parquet");
    write_plain_parquet(&foreign, None);
    let e = read_meta(&foreign).unwrap_err();
    assert!(matches!(e, StoreError::Foreign { .. }), "{e}");
    assert_names(&e, &foreign);

    // A tile index from a newer Kestrel.
    let newer = dir.path().join("newer.parquet");
    let mut json = serde_json::to_value(&m).unwrap();
    json["format_version"] = serde_json::json!(INDEX_FORMAT_VERSION + 1);
    write_plain_parquet(&newer, Some(json.to_string()));
    let e = read_meta(&newer).unwrap_err();
    assert!(
        matches!(e, StoreError::UnsupportedVersion { found, .. } if found == u64::from(INDEX_FORMAT_VERSION) + 1),
        "{e}"
    );

    // Right metadata, wrong columns.
    let wrong = dir.path().join("wrong_schema.parquet");
    write_plain_parquet(&wrong, Some(serde_json::to_string(&m).unwrap()));
    let e = read_meta(&wrong).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
}

/// One INT32 column `x`, optionally with a `kestrel` key.
fn write_plain_parquet(path: &Path, kestrel: Option<String>) {
    use parquet::data_type::Int32Type;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type("message m { REQUIRED INT32 x; }").unwrap(),
    );
    let props = WriterProperties::builder()
        .set_key_value_metadata(kestrel.map(|v| vec![KeyValue::new(META_KEY.to_owned(), v)]))
        .build();
    let file = fs::File::create(path).unwrap();
    let mut w = SerializedFileWriter::new(file, schema, Arc::new(props)).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<Int32Type>()
        .write_batch(&[1, 2, 3], None, None)
        .unwrap();
    col.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
}

/// Flip bytes of a valid file (sampled over the data pages, every 7th byte of the
/// footer, two bit patterns each) and cut it at sampled lengths: every read either fails
/// with a `StoreError` naming the file or returns exactly the original data (the content
/// digest makes silent damage visible). Never a panic, although the parquet crate panics
/// on some damaged footers (those come back as "the Parquet decoder failed").
#[test]
fn damaged_bytes_never_yield_wrong_data_or_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    let m = meta("flip");
    let ts = tiles("flip", 5);
    write_index(&good, &m, &ts).unwrap();
    let bytes = fs::read(&good).unwrap();
    let n = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    let footer_start = n - 8 - footer_len;
    let positions = (4..footer_start)
        .step_by(footer_start / 150)
        .chain((footer_start..n).step_by(7));
    let bad = dir.path().join("bad.parquet");
    let (mut refused, mut intact, mut caught) = (0, 0, 0);
    let mut check = |b: &[u8], what: String| {
        fs::write(&bad, b).unwrap();
        let got = std::panic::catch_unwind(|| read_index(&bad))
            .unwrap_or_else(|_| panic!("read_index panicked: {what}"));
        match got {
            Ok((m2, ts2)) => {
                assert!(m2 == m && ts2 == ts, "{what}: data changed");
                intact += 1;
            }
            Err(e) => {
                assert_names(&e, &bad);
                caught += usize::from(e.to_string().contains("the Parquet decoder failed"));
                refused += 1;
            }
        }
    };
    for pos in positions {
        for bits in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[pos] ^= bits;
            check(&b, format!("byte {pos} ^ {bits:#x}"));
        }
    }
    for len in (0..n).step_by(n / 50) {
        check(&bytes[..len], format!("cut at {len}"));
    }
    println!(
        "damaged reads: {refused} refused ({caught} of them parquet-crate panics caught), \
         {intact} unaffected"
    );
    assert!(refused > 0);
}

#[test]
fn invalid_records_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx.parquet");
    let m = meta("inv");
    let good = tiles("inv", 8);
    write_index(&path, &m, &good).unwrap();
    let before = fs::read(&path).unwrap();

    let check = |ts: Vec<TileRecord>, needle: &str| {
        let e = write_index(&path, &m, &ts).unwrap_err();
        assert!(matches!(e, StoreError::InvalidTile { .. }), "{e}");
        assert!(e.to_string().contains(needle), "{e}");
        assert_names(&e, &path);
        assert_eq!(fs::read(&path).unwrap(), before, "old file kept");
    };
    let mut ts = good.clone();
    ts[2].embedding = None;
    check(ts, "without embedding");
    let mut ts = good.clone();
    ts[3].embedding = Some(vec![0.0; 4]);
    check(ts, "carries an embedding");
    let mut ts = good.clone();
    ts[1].embedding.as_mut().unwrap().pop();
    check(ts, "511 values");
    let mut ts = good.clone();
    ts[0].polygon_wgs84.pop();
    check(ts, "closed ring");
    let mut ts = good.clone();
    ts[4].scene_id = "other".into();
    check(ts, "other");
    let mut ts = good.clone();
    ts[6].embedding.as_mut().unwrap()[7] = f32::NAN;
    check(ts, "non-finite");

    let e = write_index(&dir.path().join("no/such/dir/x.parquet"), &m, &good).unwrap_err();
    assert!(matches!(e, StoreError::Write { .. }), "{e}");
    assert!(e.to_string().contains("no/such/dir/x.parquet"), "{e}");
}

fn write_scene(dir: &Path, scene: &str, n: usize, edit: impl FnOnce(&mut IndexMeta)) -> PathBuf {
    let mut m = meta(scene);
    edit(&mut m);
    let p = dir.join(format!("{scene}.parquet"));
    write_index(&p, &m, &tiles(scene, n)).unwrap();
    p
}

#[test]
fn many_scenes_load_together_when_compatible() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_scene(dir.path(), "A", 50, |_| {});
    let b = write_scene(dir.path(), "B", 70, |m| {
        m.scene_epsg = Some(32634);
        m.harmonisation = "L1C, no offset".into();
    });
    let all = read_indexes(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].path.clone(), all[0].tiles.len()), (a.clone(), 50));
    assert_eq!((all[1].path.clone(), all[1].tiles.len()), (b.clone(), 70));
    assert_eq!(all[1].meta.scene_epsg, Some(32634));
    assert_eq!(all[1].tiles, tiles("B", 70));

    let c = write_scene(dir.path(), "C", 10, |m| {
        m.checkpoint_sha256 = "cd".repeat(32)
    });
    let e = read_indexes(&[a.clone(), b.clone(), c.clone()]).unwrap_err();
    assert!(matches!(e, StoreError::Incompatible { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("A.parquet") && msg.contains("C.parquet"),
        "{msg}"
    );
    assert!(msg.contains("checkpoint"), "{msg}");

    let d = write_scene(dir.path(), "D", 10, |_| {});
    let e2 = write_scene(dir.path(), "E", 10, |m| m.preprocess_version = 2);
    let e = read_indexes(&[d, e2]).unwrap_err();
    assert!(e.to_string().contains("preprocess version 1 vs 2"), "{e}");

    let a_copy = dir.path().join("A-copy.parquet");
    fs::copy(&a, &a_copy).unwrap();
    let e = read_indexes(&[a, b, a_copy]).unwrap_err();
    assert!(e.to_string().contains("both hold scene \"A\""), "{e}");
}

/// Size and speed for a full Sentinel-2 tile (2 401 tiles x 512 floats). Prints, asserts
/// only correctness. Run: `cargo test --test geoparquet_roundtrip -- --ignored --nocapture`
/// (`KESTREL_KEEP_INDEX=PATH` keeps the file).
#[test]
#[ignore = "measurement; run by hand"]
fn measure_full_scene_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.parquet");
    let m = meta("full");
    let mut ts = tiles("full", 49 * 49);
    for (i, t) in ts.iter_mut().enumerate() {
        // All embedded, as in a cloud-free scene: the largest file.
        t.status = TileStatus::Embedded;
        t.embedding = Some(embedding(i as u64));
    }
    let raw = ts.len() * DIM * 4;
    let t0 = std::time::Instant::now();
    write_index(&path, &m, &ts).unwrap();
    let write_s = t0.elapsed().as_secs_f64();
    let size = fs::metadata(&path).unwrap().len();
    let t1 = std::time::Instant::now();
    let (_, back) = read_index(&path).unwrap();
    let read_s = t1.elapsed().as_secs_f64();
    let t2 = std::time::Instant::now();
    let _ = read_meta(&path).unwrap();
    let meta_s = t2.elapsed().as_secs_f64();
    assert_eq!(back, ts);
    if let Some(keep) = std::env::var_os("KESTREL_KEEP_INDEX") {
        // For checking the file by hand with DuckDB / GeoPandas.
        fs::copy(&path, &keep).unwrap();
    }
    println!(
        "{} tiles x {DIM} f32: write {:.1} ms, read {:.1} ms, read_meta {:.2} ms, file {:.2} MB \
         ({:.3} of the {:.2} MB of raw embeddings)",
        ts.len(),
        write_s * 1e3,
        read_s * 1e3,
        meta_s * 1e3,
        size as f64 / 1e6,
        size as f64 / raw as f64,
        raw as f64 / 1e6
    );
}

/// The streamed search over many shards (embedding column only, a heap, several files at
/// once) gives exactly the in-memory ranking of all their tiles: same tiles, order (ties
/// by file, then row) and scores, for several k and thread counts.
#[test]
fn streamed_top_k_equals_the_in_memory_ranking() {
    use kestrel::model::tasks::retrieval;
    use kestrel::search::geoparquet::stream::search_shards;
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (k, n) in [1500usize, 30, 0, 700, 2].iter().enumerate() {
        let scene = format!("S{k}");
        let mut ts = tiles(&scene, *n);
        // exact ties across files: tile 0 of every shard has the same embedding
        if let Some(t) = ts.first_mut() {
            t.embedding = Some(embedding(424242));
        }
        let p = dir.path().join(format!("{scene}.parquet"));
        write_index(&p, &meta(&scene), &ts).unwrap();
        paths.push(p);
    }
    let query = embedding(424242);
    let all: Vec<TileRecord> = read_indexes(&paths)
        .unwrap()
        .into_iter()
        .flat_map(|ix| ix.tiles)
        .collect();
    let scores = retrieval::score(all.iter().map(|t| t.embedding.as_deref()), &query);
    let ranked = retrieval::rank(&scores);
    for (k, threads) in [(1, 1), (20, 3), (5000, 2)] {
        let found = search_shards(&paths, &query, k, threads).unwrap();
        assert_eq!(found.metas.len(), paths.len());
        assert_eq!(found.scored as usize, ranked.len());
        let want: Vec<(TileRecord, f32)> = ranked
            .iter()
            .take(k)
            .map(|(i, s)| (all[*i].clone(), *s))
            .collect();
        assert_eq!(found.hits.len(), want.len());
        for (got, want) in found.hits.iter().zip(&want) {
            assert_eq!(
                (&got.0.scene_id, got.0.row, got.0.col, got.1),
                (&want.0.scene_id, want.0.row, want.0.col, want.1)
            );
            assert_eq!(got.0, want.0);
        }
    }
    // the tied tiles come first, in file order
    let top = search_shards(&paths, &query, 4, 2).unwrap();
    let ids: Vec<&str> = top.hits.iter().map(|h| h.0.scene_id.as_str()).collect();
    assert_eq!(ids, ["S0", "S1", "S3", "S4"]);
}
