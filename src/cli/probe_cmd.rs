//! `kestrel probe`: train a linear probe (L2-regularised logistic regression,
//! [`crate::search::probe`]) on the labelled tiles of scenes or index files and score every
//! tile with its predicted probability. The exports have `kestrel search`'s columns; the
//! provenance columns name the labels file and the label counts.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use serde_json::json;

use super::IndexArgs;
use super::common::{check_input, check_outputs};
use super::search_cmds::{check_inputs, collect, exports};
use crate::search::labels::{self, Label};
use crate::search::probe::ProbeOptions;
use crate::search::session::{self, ExportFormat, ProbeQuery};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub index: IndexArgs,
    /// Labels: Kestrel's labels GeoJSON (features with scene_id, tile_row, tile_col,
    /// label), or any vector file (GeoJSON, GeoPackage, ...) of points / polygons with a
    /// `label` field, which label the tiles they touch.
    #[arg(long)]
    pub labels: PathBuf,
    /// The positive class: `positive` (against the `negative` labels) or a class name
    /// (against every other label).
    #[arg(long, default_value = "positive")]
    pub positive: String,
    /// L2 penalty λ on the probe's weights.
    #[arg(long, default_value_t = 1e-2, value_parser = positive_number)]
    pub l2: f64,
    /// List and export only the best N tiles (default: every tile with an embedding).
    #[arg(long, value_parser = |s: &str| super::count(s, usize::MAX))]
    pub top: Option<usize>,
    /// Write the scores as CSV (search's columns; `score` is the probability).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write the scores as a GeoJSON FeatureCollection.
    #[arg(long)]
    pub geojson: Option<PathBuf>,
    /// Write the results as a GeoPackage (layer `results`, EPSG:4326 tile polygons).
    #[arg(long)]
    pub gpkg: Option<PathBuf>,
    /// Print JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Scenes, or tile index files (.parquet) from `kestrel index --out`.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

fn positive_number(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("must be a positive number, got {s}")),
    }
}

pub fn run(args: &ProbeArgs) -> anyhow::Result<()> {
    let positive = Label::parse(&args.positive)
        .with_context(|| "--positive is empty: give `positive` or a class name".to_string())?;
    if positive == Label::Negative {
        anyhow::bail!("--positive negative: name the class to find (`positive` or a class name)");
    }
    check_inputs(&args.inputs)?;
    check_input(&args.labels, false)?;
    let mut inputs: Vec<&Path> = args.inputs.iter().map(PathBuf::as_path).collect();
    inputs.push(&args.labels);
    check_outputs(exports(&args.csv, &args.geojson, &args.gpkg), &inputs)?;
    let model = super::model_cmds::load_embedder(&args.index.model)?;
    let (metas, tiles) = collect(&args.inputs, &args.index, &model)?;
    let labels_file = args.labels.display().to_string();
    let labels = labels::read_labels(&args.labels, &tiles)?;
    let query = ProbeQuery {
        positive,
        options: ProbeOptions {
            l2: args.l2,
            ..ProbeOptions::default()
        },
    };
    let trained = query
        .train(&labels, &tiles)
        .with_context(|| format!("the labels file {labels_file}"))?;
    eprintln!(
        "kestrel: probe trained on {labels_file}: {} ({} iterations{})",
        trained.counts,
        trained.model.iterations,
        if trained.model.converged {
            ""
        } else {
            ", not converged"
        }
    );
    let ranking = trained.rank(&tiles, &labels_file);
    let top: Vec<(usize, f32)> = ranking
        .visible(f32::NEG_INFINITY, args.top.unwrap_or(usize::MAX))
        .collect();
    for (path, format) in [
        (&args.csv, ExportFormat::Csv),
        (&args.geojson, ExportFormat::GeoJson),
        (&args.gpkg, ExportFormat::Gpkg),
    ] {
        if let Some(p) = path {
            session::export_ranking(p, format, &metas, &tiles, &ranking, &top)?;
            eprintln!("kestrel: wrote {}", p.display());
        }
    }
    for r in session::ranked_rows(&tiles, &top) {
        let t = r.tile;
        if args.json {
            println!(
                "{}",
                json!({"rank": r.rank, "score": r.score, "scene_id": t.scene_id, "row": t.row, "col": t.col,
                       "centre_lon": t.centre_lonlat[0], "centre_lat": t.centre_lonlat[1]})
            );
        } else {
            println!(
                "{:>4}  {:.4}  r{:<3} c{:<3}  {:.5}, {:.5}",
                r.rank, r.score, t.row, t.col, t.centre_lonlat[1], t.centre_lonlat[0]
            );
        }
    }
    Ok(())
}
