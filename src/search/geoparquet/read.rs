//! Decoding tile index rows through the parquet crate's Arrow reader, by column name and
//! tolerant of how the file was written: Kestrel's format 1 (`list<float>` embedding) and
//! format 2 (`fixed_size_list<float>[N]`), and files other tools rewrote (DuckDB `COPY`,
//! pyarrow) with columns in another order, 32- or 64-bit integers, large or view strings.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema};

use super::wkb::parse_polygon_wkb;
use crate::search::record::{TileRecord, TileStatus};

/// The columns a tile index must have (any order; others are ignored on read).
pub(super) const REQUIRED: [&str; 18] = [
    "geometry",
    "scene_id",
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
    "embedding",
];

/// Why the schema cannot hold a tile index (a missing column, or one of an unusable type).
pub(super) fn check_schema(schema: &Schema) -> Result<(), String> {
    for name in REQUIRED {
        let f = schema
            .field_with_name(name)
            .map_err(|_| format!("no `{name}` column"))?;
        let t = f.data_type();
        let ok = match name {
            "geometry" => is_binary(t),
            "scene_id" | "status" => is_string(t),
            "tile_row" | "tile_col" | "px_x0" | "px_y0" | "px_width" | "px_height" => {
                t.is_integer()
            }
            "embedding" => list_item(t).is_some_and(|i| i.is_floating()),
            _ => t.is_floating(),
        };
        if !ok {
            return Err(format!(
                "column `{name}` is {t}, which a tile index cannot hold"
            ));
        }
    }
    Ok(())
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn list_item(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            Some(f.data_type())
        }
        _ => None,
    }
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, String> {
    b.column_by_name(name)
        .map(|a| a.as_ref())
        .ok_or_else(|| format!("no `{name}` column"))
}

fn null_in(name: &str, row: usize) -> String {
    format!("column `{name}` is null in row {row}")
}

/// A required integer column as i64.
pub(super) fn ints(b: &RecordBatch, name: &str) -> Result<Vec<i64>, String> {
    let a = column(b, name)?;
    let out: Vec<Option<i64>> = match a.data_type() {
        DataType::Int16 => a
            .as_primitive::<Int16Type>()
            .iter()
            .map(|v| v.map(i64::from))
            .collect(),
        DataType::Int32 => a
            .as_primitive::<Int32Type>()
            .iter()
            .map(|v| v.map(i64::from))
            .collect(),
        DataType::Int64 => a.as_primitive::<Int64Type>().iter().collect(),
        DataType::UInt32 => a
            .as_primitive::<UInt32Type>()
            .iter()
            .map(|v| v.map(i64::from))
            .collect(),
        t => return Err(format!("column `{name}` is {t}, not an integer")),
    };
    out.into_iter()
        .enumerate()
        .map(|(i, v)| v.ok_or_else(|| null_in(name, i)))
        .collect()
}

/// A float column as f64 (nulls kept).
fn floats(b: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>, String> {
    let a = column(b, name)?;
    Ok(match a.data_type() {
        DataType::Float32 => a
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.map(f64::from))
            .collect(),
        DataType::Float64 => a.as_primitive::<Float64Type>().iter().collect(),
        t => return Err(format!("column `{name}` is {t}, not a float")),
    })
}

fn required<T>(name: &str, v: Vec<Option<T>>) -> Result<Vec<T>, String> {
    v.into_iter()
        .enumerate()
        .map(|(i, v)| v.ok_or_else(|| null_in(name, i)))
        .collect()
}

/// A string column with its nulls (any of Arrow's three string layouts).
pub(super) fn optional_strings(b: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, String> {
    let a = column(b, name)?;
    let owned = |s: Option<&str>| s.map(str::to_owned);
    Ok(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().iter().map(owned).collect(),
        DataType::LargeUtf8 => a.as_string::<i64>().iter().map(owned).collect(),
        DataType::Utf8View => a.as_string_view().iter().map(owned).collect(),
        t => return Err(format!("column `{name}` is {t}, not a string")),
    })
}

/// A required string column.
pub(super) fn strings(b: &RecordBatch, name: &str) -> Result<Vec<String>, String> {
    required(name, optional_strings(b, name)?)
}

fn binaries(b: &RecordBatch, name: &str) -> Result<Vec<Vec<u8>>, String> {
    let a = column(b, name)?;
    let v: Vec<Option<Vec<u8>>> = match a.data_type() {
        DataType::Binary => a
            .as_binary::<i32>()
            .iter()
            .map(|s| s.map(<[u8]>::to_vec))
            .collect(),
        DataType::LargeBinary => a
            .as_binary::<i64>()
            .iter()
            .map(|s| s.map(<[u8]>::to_vec))
            .collect(),
        DataType::BinaryView => a
            .as_binary_view()
            .iter()
            .map(|s| s.map(<[u8]>::to_vec))
            .collect(),
        t => return Err(format!("column `{name}` is {t}, not binary")),
    };
    required(name, v)
}

/// The `embedding` column: one optional vector per row, from a variable or fixed-size
/// list of 32- or 64-bit floats. A null inside a vector is an error.
pub(super) fn embeddings(b: &RecordBatch) -> Result<Vec<Option<Vec<f32>>>, String> {
    let a = column(b, "embedding")?;
    let rows: Vec<Option<std::sync::Arc<dyn Array>>> = match a.data_type() {
        DataType::List(_) => a.as_list::<i32>().iter().collect(),
        DataType::LargeList(_) => a.as_list::<i64>().iter().collect(),
        DataType::FixedSizeList(_, _) => a.as_fixed_size_list().iter().collect(),
        t => return Err(format!("column `embedding` is {t}, not a list")),
    };
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            let Some(v) = row else { return Ok(None) };
            if v.null_count() > 0 {
                return Err(format!("embedding of row {i} has null values"));
            }
            Ok(Some(match v.data_type() {
                DataType::Float32 => v.as_primitive::<Float32Type>().values().to_vec(),
                DataType::Float64 => v
                    .as_primitive::<Float64Type>()
                    .values()
                    .iter()
                    .map(|x| *x as f32)
                    .collect(),
                t => return Err(format!("embedding values are {t}, not floats")),
            }))
        })
        .collect()
}

/// Call `f(row, values)` for every non-null embedding of a batch, without copying the
/// values of 32-bit float lists (the streaming search's inner loop).
pub(super) fn for_each_embedding(
    b: &RecordBatch,
    mut f: impl FnMut(usize, &[f32]) -> Result<(), String>,
) -> Result<(), String> {
    let a = column(b, "embedding")?;
    let f32_values = |v: &dyn Array| -> Option<Vec<f32>> {
        match v.data_type() {
            DataType::Float64 => Some(
                v.as_primitive::<Float64Type>()
                    .values()
                    .iter()
                    .map(|x| *x as f32)
                    .collect(),
            ),
            _ => None,
        }
    };
    let (values, offsets): (&dyn Array, Vec<(usize, usize)>) = match a.data_type() {
        DataType::FixedSizeList(_, n) => {
            let l = a.as_fixed_size_list();
            let n = *n as usize;
            (
                l.values().as_ref(),
                (0..l.len()).map(|i| (i * n, n)).collect(),
            )
        }
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let o = l.value_offsets();
            (
                l.values().as_ref(),
                o.windows(2)
                    .map(|w| (w[0] as usize, (w[1] - w[0]) as usize))
                    .collect(),
            )
        }
        DataType::LargeList(_) => {
            let l = a.as_list::<i64>();
            let o = l.value_offsets();
            (
                l.values().as_ref(),
                o.windows(2)
                    .map(|w| (w[0] as usize, (w[1] - w[0]) as usize))
                    .collect(),
            )
        }
        t => return Err(format!("column `embedding` is {t}, not a list")),
    };
    if values.null_count() > 0 {
        // a null inside a (non-null) row is an error; nulls under null rows are padding
        for (i, (start, len)) in offsets.iter().enumerate() {
            if a.is_valid(i) && (0..*len).any(|k| values.is_null(start + k)) {
                return Err(format!("embedding of row {i} has null values"));
            }
        }
    }
    let converted = f32_values(values);
    let flat: &[f32] = match (&converted, values.data_type()) {
        (Some(v), _) => v,
        (None, DataType::Float32) => values.as_primitive::<Float32Type>().values(),
        (None, t) => return Err(format!("embedding values are {t}, not floats")),
    };
    for (i, (start, len)) in offsets.into_iter().enumerate() {
        if a.is_valid(i) {
            let row = flat
                .get(start..start + len)
                .ok_or_else(|| format!("embedding of row {i} is out of bounds"))?;
            f(i, row)?;
        }
    }
    Ok(())
}

/// The columns derived from the tiles and the metadata (format 2: `bbox`, `product_id`,
/// `mgrs_tile`, `datetime`), where present, hold what they derive from. The content digest
/// covers the sources, so with this a damaged derived column is caught too.
pub(super) fn check_derived(
    b: &RecordBatch,
    tiles: &[TileRecord],
    meta: &crate::search::record::IndexMeta,
) -> Result<(), String> {
    if let Some(a) = b.column_by_name("bbox") {
        let st = a
            .as_struct_opt()
            .ok_or_else(|| format!("column `bbox` is {}, not a struct", a.data_type()))?;
        let parts: Vec<Vec<Option<f64>>> = ["xmin", "ymin", "xmax", "ymax"]
            .iter()
            .map(|k| {
                let c = st
                    .column_by_name(k)
                    .ok_or_else(|| format!("`bbox` has no `{k}`"))?;
                match c.data_type() {
                    DataType::Float64 => Ok(c.as_primitive::<Float64Type>().iter().collect()),
                    t => Err(format!("`bbox.{k}` is {t}, not a double")),
                }
            })
            .collect::<Result<_, String>>()?;
        for (i, t) in tiles.iter().enumerate() {
            let want = t.bounds_wgs84().map(|b| b.map(Some));
            let got = [parts[0][i], parts[1][i], parts[2][i], parts[3][i]];
            if want != Some(got) {
                return Err(format!(
                    "bbox of tile row {} col {} is {got:?}, its polygon spans {want:?}",
                    t.row, t.col
                ));
            }
        }
    }
    for (name, want) in [
        ("product_id", &meta.product_id),
        ("mgrs_tile", &meta.mgrs_tile),
    ] {
        if b.column_by_name(name).is_some() {
            let got = optional_strings(b, name)?;
            if let Some(bad) = got.iter().find(|g| *g != want) {
                return Err(format!(
                    "column `{name}` holds {bad:?}, the metadata says {want:?}"
                ));
            }
        }
    }
    if let Some(a) = b.column_by_name("datetime") {
        let want = meta.sensing_time.as_deref().and_then(super::unix_micros);
        let got: Vec<Option<i64>> = match a.data_type() {
            DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, _) => a
                .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                .iter()
                .collect(),
            t => return Err(format!("column `datetime` is {t}, not a timestamp")),
        };
        if let Some(bad) = got.iter().find(|g| **g != want) {
            return Err(format!(
                "column `datetime` holds {bad:?} µs, the metadata says {want:?}"
            ));
        }
    }
    Ok(())
}

/// Every tile of one record batch.
pub(super) fn decode_batch(b: &RecordBatch, out: &mut Vec<TileRecord>) -> Result<(), String> {
    let rows = b.num_rows();
    let geometry = binaries(b, "geometry")?;
    let scene_id = strings(b, "scene_id")?;
    let int_cols: Vec<Vec<i64>> = [
        "tile_row",
        "tile_col",
        "px_x0",
        "px_y0",
        "px_width",
        "px_height",
    ]
    .iter()
    .map(|n| ints(b, n))
    .collect::<Result<_, _>>()?;
    let f64_cols: Vec<Vec<f64>> = [
        "crs_minx",
        "crs_miny",
        "crs_maxx",
        "crs_maxy",
        "centre_lon",
        "centre_lat",
    ]
    .iter()
    .map(|n| floats(b, n).and_then(|v| required(n, v)))
    .collect::<Result<_, _>>()?;
    let nodata = required("nodata_fraction", floats(b, "nodata_fraction")?)?;
    let cloud = floats(b, "cloud_fraction")?;
    let status = strings(b, "status")?;
    let embedding = embeddings(b)?;
    let u32_of =
        |v: i64, what: &str| u32::try_from(v).map_err(|_| format!("{what} {v} is out of range"));
    for (i, embedding) in embedding.into_iter().enumerate().take(rows) {
        let status = status[i].parse::<TileStatus>().map_err(|e| e.to_string())?;
        out.push(TileRecord {
            scene_id: scene_id[i].clone(),
            row: u32_of(int_cols[0][i], "tile_row")?,
            col: u32_of(int_cols[1][i], "tile_col")?,
            px_x0: int_cols[2][i],
            px_y0: int_cols[3][i],
            px_width: u32_of(int_cols[4][i], "px_width")?,
            px_height: u32_of(int_cols[5][i], "px_height")?,
            bounds_crs: [
                f64_cols[0][i],
                f64_cols[1][i],
                f64_cols[2][i],
                f64_cols[3][i],
            ],
            polygon_wgs84: parse_polygon_wkb(&geometry[i])?,
            centre_lonlat: [f64_cols[4][i], f64_cols[5][i]],
            nodata_fraction: nodata[i] as f32,
            cloud_fraction: cloud[i].map(|c| c as f32),
            status,
            embedding,
        });
    }
    Ok(())
}
