//! `kestrel stac search`: items of a STAC API in an area and a date range, sorted by date,
//! one line each (or JSON lines), with what the client had to filter itself on stderr.

use clap::{Args, Subcommand};

use crate::jobs::CancelToken;
use crate::stac::{SearchParams, parse_bbox, search};

#[derive(Debug, Args)]
pub struct StacArgs {
    #[command(subcommand)]
    pub command: StacCommand,
}

#[derive(Debug, Subcommand)]
pub enum StacCommand {
    /// Find items (id, date, cloud cover, MGRS tile, baseline, footprint) in an area and dates.
    Search(StacSearchArgs),
}

#[derive(Debug, Args)]
pub struct StacSearchArgs {
    /// The STAC API's landing page URL.
    #[arg(long)]
    pub api: String,
    /// Collection id (repeatable).
    #[arg(long = "collection", default_value = "sentinel-2-l2a")]
    pub collections: Vec<String>,
    /// Area W,S,E,N in degrees (a leading minus works: --bbox -4.1,52.4,-4.0,52.5).
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// START/END: dates (an END date is inclusive) or RFC 3339 times; `..` for an open end.
    #[arg(long)]
    pub datetime: Option<String>,
    /// Largest cloud cover kept, percent.
    #[arg(long)]
    pub max_cloud: Option<f64>,
    /// Most items printed (the earliest).
    #[arg(long, value_parser = |s: &str| super::count(s, crate::stac::search::MAX_ITEMS))]
    pub limit: Option<usize>,
    /// JSON lines, one per item (with the footprint geometry).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &StacArgs) -> anyhow::Result<()> {
    match &args.command {
        StacCommand::Search(a) => run_search(a),
    }
}

fn run_search(a: &StacSearchArgs) -> anyhow::Result<()> {
    let params = SearchParams {
        api: a.api.clone(),
        collections: a.collections.clone(),
        bbox: a.bbox.as_deref().map(parse_bbox).transpose()?,
        datetime: a.datetime.clone(),
        max_cloud: a.max_cloud,
        limit: a.limit,
        page_size: None,
    };
    let out = search(&params, &CancelToken::new())?;
    for n in &out.notes {
        eprintln!("note: {n}");
    }
    eprintln!(
        "{} item(s) from {} page(s) ({} returned by the server)",
        out.hits.len(),
        out.pages,
        out.returned
    );
    for h in &out.hits {
        if a.json {
            println!("{}", serde_json::to_string(h)?);
        } else {
            let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            println!(
                "{}\t{}\tcloud {}\ttile {}\tbaseline {}\t{}",
                opt(&h.datetime),
                h.id,
                h.cloud_cover.map_or("-".into(), |c| format!("{c:.1} %")),
                opt(&h.mgrs_tile),
                opt(&h.processing_baseline),
                opt(&h.href)
            );
        }
    }
    Ok(())
}
