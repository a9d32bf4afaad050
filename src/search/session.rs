//! The search workflow, once, for the viewer and the commands alike: a [`Query`] (text,
//! example tiles, or both) becomes a [`Ranking`] of tiles; class names become a
//! [`Classification`]; either becomes export rows and files. Tiles are a plain slice, so a
//! single scene's index (the viewer) and the tiles of many index files searched together
//! (`kestrel search a.parquet b.parquet`) go through the same code.
//!
//! Embedding a query or building a classifier is one text-tower pass per prompt; scoring is
//! a dot product per tile ([`crate::model::tasks::retrieval`]). The steps are split
//! ([`Query::prepare`] before the tiles exist, [`PreparedQuery::rank`] after) so the CLI can
//! reject a bad query before a long indexing run. Runs on the caller's (worker) thread.

use std::borrow::Borrow;
use std::path::Path;

use crate::export::{self, ClassifiedTile, ExportContext, ExportError, RankedTile};
use crate::model::tasks::retrieval::{self, RefineWeights};
use crate::model::tasks::zeroshot::{Classifier, TemplateSet};
use crate::model::{Embedder, ModelError};
use crate::search::labels::{Label, LabelSet};
use crate::search::probe::{self, LogisticProbe, ProbeError, ProbeOptions};
use crate::search::record::{IndexMeta, TileRecord};

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("type a description or add a positive example tile")]
    NothingToSearch,
    #[error("cannot use the query {text:?}")]
    Query {
        text: String,
        #[source]
        source: ModelError,
    },
    #[error("give at least two class names")]
    TooFewClasses,
    #[error("cannot build the classifier")]
    Classes(#[source] ModelError),
    #[error("{a} and {b} cannot be searched together: {why}")]
    Incompatible { a: String, b: String, why: String },
    #[error(
        "the index {source_name} was built with checkpoint {index_sha}, but the loaded model is {model} ({model_sha}); pass the same --model"
    )]
    OtherCheckpoint {
        /// The index file (or scene) the index came from.
        source_name: String,
        index_sha: String,
        model: String,
        model_sha: String,
    },
    #[error("cannot hash the loaded checkpoint")]
    Checkpoint(#[source] ModelError),
    #[error("no label is on a tile with an embedding ({0})")]
    NoUsableLabels(String),
    #[error("cannot train the probe ({counts})")]
    Probe {
        counts: String,
        #[source]
        source: ProbeError,
    },
}

/// What to search for: a description, example tiles (indices into the searched tiles), or
/// both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub text: String,
    pub positives: Vec<usize>,
    pub negatives: Vec<usize>,
    pub weights: RefineWeights,
}

impl Query {
    /// A text query.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// Embed the text (if any) with `model`.
    pub fn prepare(self, model: &Embedder) -> Result<PreparedQuery, SessionError> {
        let text = self.text.trim().to_owned();
        let mut warning = None;
        let text_embedding = if text.is_empty() {
            None
        } else {
            let mut t = model
                .embed_texts(&[&text])
                .map_err(|source| SessionError::Query {
                    text: text.clone(),
                    source,
                })?;
            let t = t.pop().ok_or_else(|| SessionError::Query {
                text: text.clone(),
                source: ModelError::Internal("no embedding for the query".into()),
            })?;
            warning = t.warning;
            Some(t.embedding)
        };
        if text_embedding.is_none() && self.positives.is_empty() {
            return Err(SessionError::NothingToSearch);
        }
        Ok(PreparedQuery {
            query: Query { text, ..self },
            text_embedding,
            warning,
        })
    }
}

/// A query whose text is embedded.
#[derive(Debug, Clone)]
pub struct PreparedQuery {
    query: Query,
    text_embedding: Option<Vec<f32>>,
    /// Set when the text was truncated to the model's context (as open_clip does).
    warning: Option<String>,
}

impl PreparedQuery {
    /// The query vector of a text-only query (examples need the tiles: [`Self::rank`]).
    pub fn text_vector(&self) -> Option<Vec<f32>> {
        retrieval::combine_query(self.text_embedding.as_deref(), &[], &[], self.query.weights)
    }

    /// The [`Ranking`] of tiles already scored and ordered best first (a streamed search
    /// over shards, [`crate::search::geoparquet::stream`]): tile `i` has `scores[i]`.
    pub fn ranking_of_ordered(&self, scores: &[f32]) -> Ranking {
        Ranking {
            text: self.query.text.clone(),
            examples: String::new(),
            description: self.query.text.clone(),
            scores: scores.iter().map(|s| Some(*s)).collect(),
            ranked: scores.iter().copied().enumerate().collect(),
            warning: self.warning.clone(),
        }
    }

    /// What the user should be told about the query text (it was truncated), if anything.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// Score and rank `tiles` (examples refer to indices into `tiles`): records, or
    /// references to records gathered from several indexes without copying them.
    pub fn rank<T: Borrow<TileRecord>>(&self, tiles: &[T]) -> Result<Ranking, SessionError> {
        let q = &self.query;
        let emb = |i: &usize| tiles.get(*i).and_then(|t| t.borrow().embedding.as_deref());
        let pos: Vec<&[f32]> = q.positives.iter().filter_map(emb).collect();
        let neg: Vec<&[f32]> = q.negatives.iter().filter_map(emb).collect();
        let vector =
            retrieval::combine_query(self.text_embedding.as_deref(), &pos, &neg, q.weights)
                .ok_or(SessionError::NothingToSearch)?;
        let scores = retrieval::score(
            tiles.iter().map(|t| t.borrow().embedding.as_deref()),
            &vector,
        );
        let ranked = retrieval::rank(&scores);
        let examples = describe_examples(tiles, &q.positives, &q.negatives);
        let description = match (q.text.is_empty(), examples.is_empty()) {
            (false, true) => q.text.clone(),
            (true, false) => format!("tiles like {examples}"),
            _ => format!("{} + {examples}", q.text),
        };
        Ok(Ranking {
            text: q.text.clone(),
            examples,
            description,
            scores,
            ranked,
            warning: self.warning.clone(),
        })
    }
}

/// The query by example (Rocchio) that `labels` make on `tiles`: their positive and
/// negative labels as example tiles.
pub fn query_from_labels(labels: &LabelSet, tiles: &[TileRecord], weights: RefineWeights) -> Query {
    let (positives, negatives) = labels.examples(tiles);
    Query {
        text: String::new(),
        positives,
        negatives,
        weights,
    }
}

/// What a probe learns: which label is the positive class, and the fit's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeQuery {
    /// [`Label::Positive`]: `positive` labels against `negative` ones (class labels are
    /// left out). A [`Label::Class`]: that class against every other label.
    pub positive: Label,
    pub options: ProbeOptions,
}

impl Default for ProbeQuery {
    fn default() -> Self {
        Self {
            positive: Label::Positive,
            options: ProbeOptions::default(),
        }
    }
}

/// How the labels were used by a probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeCounts {
    /// Labelled tiles with an embedding, per side.
    pub positives: usize,
    pub negatives: usize,
    /// Labels on tiles without an embedding (skipped for nodata or cloud).
    pub unembedded: usize,
    /// Labels of classes the probe does not use (with [`Label::Positive`]).
    pub unused: usize,
}

impl std::fmt::Display for ProbeCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} positive, {} negative",
            self.positives, self.negatives
        )?;
        if self.unembedded > 0 {
            write!(f, ", {} on tiles without embedding", self.unembedded)?;
        }
        if self.unused > 0 {
            write!(f, ", {} of other classes unused", self.unused)?;
        }
        Ok(())
    }
}

/// A probe fitted to labels, ready to score tiles.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedProbe {
    pub query: ProbeQuery,
    pub counts: ProbeCounts,
    pub model: LogisticProbe,
}

impl ProbeQuery {
    /// Fit the probe to the labels on `tiles`.
    pub fn train(
        &self,
        labels: &LabelSet,
        tiles: &[TileRecord],
    ) -> Result<TrainedProbe, SessionError> {
        let mut counts = ProbeCounts::default();
        let mut x: Vec<&[f32]> = Vec::new();
        let mut y = Vec::new();
        for (i, label) in labels.on_tiles(tiles) {
            let side = match (&self.positive, label) {
                (Label::Positive, Label::Positive) => true,
                (Label::Positive, Label::Negative) => false,
                (Label::Positive, Label::Class(_)) => {
                    counts.unused += 1;
                    continue;
                }
                (want, got) => want == got,
            };
            let Some(e) = tiles[i].embedding.as_deref() else {
                counts.unembedded += 1;
                continue;
            };
            x.push(e);
            y.push(side);
            if side {
                counts.positives += 1;
            } else {
                counts.negatives += 1;
            }
        }
        if x.is_empty() {
            return Err(SessionError::NoUsableLabels(counts.to_string()));
        }
        let model = probe::fit(&x, &y, &self.options).map_err(|source| SessionError::Probe {
            counts: counts.to_string(),
            source,
        })?;
        Ok(TrainedProbe {
            query: self.clone(),
            counts,
            model,
        })
    }
}

impl TrainedProbe {
    /// Score every tile with the predicted probability; `source` names the labels in the
    /// description and the exports' provenance ("on labels {source}": a file, or
    /// `of SCENE` for a scene's own labels in the viewer).
    pub fn rank(&self, tiles: &[TileRecord], source: &str) -> Ranking {
        let scores: Vec<Option<f32>> = tiles
            .iter()
            .map(|t| t.embedding.as_deref().map(|e| self.model.probability(e)))
            .collect();
        let ranked = retrieval::rank(&scores);
        let against = match &self.query.positive {
            Label::Positive => "negative".to_owned(),
            _ => "other labels".to_owned(),
        };
        let text = format!(
            "linear probe ({} vs {against}) on labels {source}",
            self.query.positive.as_str()
        );
        let examples = format!("{}; L2 penalty {}", self.counts, self.query.options.l2);
        Ranking {
            description: format!("{text}: {examples}"),
            text,
            examples,
            scores,
            ranked,
            warning: None,
        }
    }
}

/// `positive r3c4 r5c6; negative r1c1` (empty without examples).
fn describe_examples<T: Borrow<TileRecord>>(
    tiles: &[T],
    positives: &[usize],
    negatives: &[usize],
) -> String {
    let names = |set: &[usize]| {
        set.iter()
            .filter_map(|i| {
                tiles.get(*i).map(|t| {
                    let t = t.borrow();
                    format!("r{}c{}", t.row, t.col)
                })
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut parts = Vec::new();
    if !positives.is_empty() {
        parts.push(format!("positive {}", names(positives)));
    }
    if !negatives.is_empty() {
        parts.push(format!("negative {}", names(negatives)));
    }
    parts.join("; ")
}

/// Every tile scored for a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// The query text (empty for a pure query by example).
    pub text: String,
    /// The example tiles used, e.g. `positive r3c4 r5c6; negative r1c1`.
    pub examples: String,
    /// One line for people: the text, the examples, or both.
    pub description: String,
    /// Per tile, in tile order (`None`: no embedding).
    pub scores: Vec<Option<f32>>,
    /// `(tile, score)`, best first; ties keep tile order.
    pub ranked: Vec<(usize, f32)>,
    /// What the user should know about the query (its text was truncated to the model's
    /// context, as open_clip does).
    pub warning: Option<String>,
}

/// One ranking over the tiles of several scenes (the viewer's "all open scenes"): the
/// scenes' tiles concatenated in the order given, ranked as one list, and each scene's part
/// of it as a ranking over that scene's own tiles (same scores, so heatmaps compare).
#[derive(Debug, Clone, PartialEq)]
pub struct RankingAcross {
    /// Over the concatenated tiles.
    pub all: Ranking,
    /// Where each scene's tiles start in the concatenation.
    pub offsets: Vec<usize>,
    /// Each scene's part, indexed by its own tiles.
    pub parts: Vec<Ranking>,
}

impl RankingAcross {
    /// Rank `scenes`' tiles together for `query`, whose example tiles are indices into the
    /// concatenation (see [`Self::offsets_of`]).
    pub fn rank(query: &PreparedQuery, scenes: &[&[TileRecord]]) -> Result<Self, SessionError> {
        let offsets = Self::offsets_of(scenes);
        let tiles: Vec<&TileRecord> = scenes.iter().flat_map(|s| s.iter()).collect();
        let all = query.rank(&tiles)?;
        let parts = scenes
            .iter()
            .zip(&offsets)
            .map(|(s, &off)| {
                let range = off..off + s.len();
                Ranking {
                    scores: all.scores[range.clone()].to_vec(),
                    ranked: all
                        .ranked
                        .iter()
                        .filter(|(i, _)| range.contains(i))
                        .map(|&(i, v)| (i - off, v))
                        .collect(),
                    ..all.clone()
                }
            })
            .collect();
        Ok(Self {
            all,
            offsets,
            parts,
        })
    }

    /// Where each scene's tiles start in the concatenation.
    pub fn offsets_of(scenes: &[&[TileRecord]]) -> Vec<usize> {
        scenes
            .iter()
            .scan(0, |n, s| {
                let off = *n;
                *n += s.len();
                Some(off)
            })
            .collect()
    }

    /// The scene (position in the order given) and its tile of a concatenated index.
    pub fn locate(&self, i: usize) -> Option<(usize, usize)> {
        let k = self.offsets.iter().rposition(|&off| off <= i)?;
        let tile = i - self.offsets[k];
        (tile < self.parts[k].scores.len()).then_some((k, tile))
    }
}

impl Ranking {
    /// Lowest and highest score (for colour ramps).
    pub fn score_range(&self) -> (f32, f32) {
        let lo = self.ranked.last().map_or(0.0, |x| x.1);
        let hi = self.ranked.first().map_or(1.0, |x| x.1);
        (lo, hi)
    }

    /// The ranked tiles scoring at least `threshold`, at most `top` of them.
    pub fn visible(&self, threshold: f32, top: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        self.ranked
            .iter()
            .copied()
            .filter(move |(_, s)| *s >= threshold)
            .take(top)
    }
}

/// Export rows (1-based ranks) of `ranked` `(tile, score)` pairs.
pub fn ranked_rows<'a>(tiles: &'a [TileRecord], ranked: &[(usize, f32)]) -> Vec<RankedTile<'a>> {
    ranked
        .iter()
        .enumerate()
        .filter_map(|(k, &(i, score))| {
            Some(RankedTile {
                rank: k + 1,
                score,
                tile: tiles.get(i)?,
            })
        })
        .collect()
}

/// Zero-shot probabilities of every tile.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub classes: Vec<String>,
    /// Per tile, in tile order (`None`: no embedding).
    pub probs: Vec<Option<Vec<f32>>>,
}

/// Build a zero-shot classifier (one text-tower pass per prompt).
pub fn classifier(
    model: &Embedder,
    classes: &[String],
    templates: TemplateSet,
) -> Result<Classifier, SessionError> {
    if classes.len() < 2 {
        return Err(SessionError::TooFewClasses);
    }
    model
        .classifier(classes, templates)
        .map_err(SessionError::Classes)
}

/// Classify every tile.
pub fn classify(classifier: &Classifier, tiles: &[TileRecord]) -> Classification {
    Classification {
        classes: classifier.classes.clone(),
        probs: tiles
            .iter()
            .map(|t| t.embedding.as_deref().map(|e| classifier.probs(e)))
            .collect(),
    }
}

impl Classification {
    /// The most probable class of tile `i`.
    pub fn top(&self, i: usize) -> Option<usize> {
        self.probs.get(i)?.as_deref().and_then(retrieval::argmax)
    }

    /// Export rows: every tile with an embedding.
    pub fn rows<'a>(&self, tiles: &'a [TileRecord]) -> Vec<ClassifiedTile<'a>> {
        tiles
            .iter()
            .zip(&self.probs)
            .filter_map(|(tile, p)| {
                let probs = p.clone()?;
                let top = retrieval::argmax(&probs)?;
                Some(ClassifiedTile { tile, probs, top })
            })
            .collect()
    }

    /// Tiles per class, in class order.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for i in 0..self.probs.len() {
            if let Some(k) = self.top(i) {
                counts[k] += 1;
            }
        }
        counts
    }
}

/// Check that indexes can be searched together and with `model`: same model, bands and
/// tiling (the first index is the reference) and the loaded checkpoint. `sources[i]` says
/// where `metas[i]` came from (the index file given, or the scene); errors name it, else
/// the scene the index was built from.
pub fn check_indexes(
    metas: &[IndexMeta],
    sources: &[String],
    model: &Embedder,
) -> Result<(), SessionError> {
    let name = |i: usize| {
        sources
            .get(i)
            .cloned()
            .unwrap_or_else(|| metas[i].scene_path.clone())
    };
    let Some((a, rest)) = metas.split_first() else {
        return Ok(());
    };
    for (i, b) in rest.iter().enumerate() {
        if let Some(why) = a.incompatibility(b) {
            return Err(SessionError::Incompatible {
                a: name(0),
                b: name(i + 1),
                why,
            });
        }
    }
    let sha = model
        .checkpoint_sha256()
        .map_err(SessionError::Checkpoint)?;
    if a.checkpoint_sha256 != sha {
        return Err(SessionError::OtherCheckpoint {
            source_name: name(0),
            index_sha: a.checkpoint_sha256.clone(),
            model: model.model_name().to_owned(),
            model_sha: sha,
        });
    }
    Ok(())
}

/// The file formats results export to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    GeoJson,
    /// GeoPackage (through GDAL).
    Gpkg,
}

impl ExportFormat {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::GeoJson => "geojson",
            ExportFormat::Gpkg => "gpkg",
        }
    }
}

/// Write ranked tiles (`ranked`: the rows to keep, e.g. [`Ranking::visible`]) of a
/// ranking over `tiles` from the indexes `metas`.
pub fn export_ranking(
    path: &Path,
    format: ExportFormat,
    metas: &[IndexMeta],
    tiles: &[TileRecord],
    ranking: &Ranking,
    ranked: &[(usize, f32)],
) -> Result<(), ExportError> {
    let ctx =
        ExportContext::from_metas(metas).with_query(ranking.text.clone(), ranking.examples.clone());
    let rows = ranked_rows(tiles, ranked);
    match format {
        ExportFormat::Csv => export::write_ranked_csv(path, &ctx, &rows),
        ExportFormat::GeoJson => export::write_ranked_geojson(path, &ctx, &rows),
        ExportFormat::Gpkg => export::write_ranked_gpkg(path, &ctx, &rows),
    }
}

/// Write every classified tile.
pub fn export_classification(
    path: &Path,
    format: ExportFormat,
    metas: &[IndexMeta],
    tiles: &[TileRecord],
    classes: &Classification,
) -> Result<(), ExportError> {
    let ctx = ExportContext::from_metas(metas).with_query(classes.classes.join(", "), "");
    let rows = classes.rows(tiles);
    match format {
        ExportFormat::Csv => export::write_classes_csv(path, &ctx, &classes.classes, &rows),
        ExportFormat::GeoJson => export::write_classes_geojson(path, &ctx, &classes.classes, &rows),
        ExportFormat::Gpkg => export::write_classes_gpkg(path, &ctx, &classes.classes, &rows),
    }
}
