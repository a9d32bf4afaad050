//! `kestrel compare A.csv B.csv`: how two rankings of the same scene agree — typically two
//! models asked the same query (`kestrel search --model-id … --csv`, or the viewer's
//! exports): the shared tiles of their top-N, the Jaccard index and Spearman's ρ over the
//! tiles both list ([`crate::search::agreement`], the viewer's comparison).

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::common::check_input;
use crate::export::read_ranked_csv;
use crate::search::agreement::Agreement;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Compare the top N of each ranking (by their `rank` column).
    #[arg(long, default_value_t = 20, value_parser = |s: &str| super::count(s, usize::MAX))]
    pub top: usize,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Ranking A: a ranked CSV export.
    pub a: PathBuf,
    /// Ranking B: a ranked CSV export of the same scene.
    pub b: PathBuf,
}

pub fn run(args: &CompareArgs) -> anyhow::Result<()> {
    check_input(&args.a, false)?;
    check_input(&args.b, false)?;
    let a = read_ranked_csv(&args.a)?;
    let b = read_ranked_csv(&args.b)?;
    let g = Agreement::of(&a.tiles, &b.tiles, args.top);
    if g.common == 0 && !a.tiles.is_empty() && !b.tiles.is_empty() {
        eprintln!(
            "kestrel compare: warning: {} and {} have no tile in common (other scenes, or \
             other tilings?)",
            args.a.display(),
            args.b.display()
        );
    }
    if args.json {
        let shared: Vec<_> = g
            .shared
            .iter()
            .map(|s| {
                json!({
                    "tile": s.label, "scene_id": s.key.scene_id,
                    "px_x0": s.key.px_x0, "px_y0": s.key.px_y0,
                    "rank_a": s.rank_a, "rank_b": s.rank_b,
                })
            })
            .collect();
        let side = |r: &crate::export::RankedCsv, path: &PathBuf, top: usize| {
            json!({ "file": path.display().to_string(), "model_name": r.model_name,
                    "query": r.query, "rows": r.tiles.len(), "top": top })
        };
        println!(
            "{}",
            json!({
                "n": g.n,
                "a": side(&a, &args.a, g.top_a),
                "b": side(&b, &args.b, g.top_b),
                "shared": shared,
                "jaccard": g.jaccard,
                "spearman": g.spearman,
                "common": g.common,
            })
        );
    } else {
        println!(
            "A: {} ({}, query {:?})",
            args.a.display(),
            a.model_name,
            a.query
        );
        println!(
            "B: {} ({}, query {:?})",
            args.b.display(),
            b.model_name,
            b.query
        );
        println!("{}", g.summary());
        for s in &g.shared {
            println!("  {}  #{} in A, #{} in B", s.label, s.rank_a, s.rank_b);
        }
    }
    Ok(())
}
