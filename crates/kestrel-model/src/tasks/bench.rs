//! Timing the towers with random weights (no checkpoint needed): image-tower throughput for
//! a batch and text-tower latency for one typical query, with and without end-of-text
//! truncation. Used by `kestrel bench-model` and `packaging/bench/torch_msclip.py`.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};

use crate::ModelError;
use crate::clip::{ClipModel, Kernels, no_tap};
use crate::load::config::ClipConfig;
use crate::load::weights::Weights;

/// What to time.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub batch: usize,
    /// Timed repetitions (after one warm-up); medians are reported.
    pub iters: usize,
    pub images: bool,
    /// Also time the text tower over the whole context (what PyTorch computes).
    pub full_context: bool,
    pub kernels: Kernels,
}

/// Timings: medians, and the best run (on a shared machine the least disturbed one).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub model: String,
    pub fused_kernels: bool,
    /// What this CPU runs (detected once), e.g. "f32 avx512f, bf16 amx-bf16".
    pub cpu_kernels: String,
    /// The matrix-product path this model uses, e.g. "cpu bf16 amx-bf16".
    pub matmul_kernel: String,
    pub threads: usize,
    pub batch: usize,
    pub image_batch_s: Option<f64>,
    pub image_img_per_s: Option<f64>,
    pub image_img_per_s_best: Option<f64>,
    /// Images per second of process CPU time (Linux): with every core busy this times the
    /// thread count is the throughput of an otherwise idle machine.
    pub image_img_per_cpu_s: Option<f64>,
    /// On a GPU: throughput with the batch already on the device (no host upload).
    pub image_img_per_s_on_device: Option<f64>,
    pub text_query_tokens: usize,
    pub text_query_ms: f64,
    pub text_query_ms_best: f64,
    pub text_full_context_ms: Option<f64>,
    pub weights_s: f64,
}

/// The benchmark query "a satellite image of a river" as open_clip ids (8 with start/end).
pub const BENCH_QUERY_IDS: [u32; 8] = [49406, 320, 10316, 2867, 539, 320, 2473, 49407];

/// The benchmark query as one id row for the model's text tower, its token count, and the
/// row for the "whole context" timing (the same row for the causal tower, which is then run
/// untruncated; a row of context-length real tokens for the Hugging Face tower, which never
/// computes padding).
fn bench_query_rows(cfg: &ClipConfig) -> Result<(Vec<u32>, usize, Vec<u32>), ModelError> {
    if let Some(h) = cfg.hf_text() {
        let enc = h.encoder().map_err(ModelError::Unsupported)?;
        let ctx = h.context_length;
        let pad = enc.pad_token_id;
        let vocab = enc.vocab_size.max(8) as u32;
        // <s>=0 and </s>=2 as in XLM-R; the words are any ids that are not special.
        let word = |id: u32| 4 + id % (vocab - 4);
        let n = BENCH_QUERY_IDS.len().min(ctx);
        let mut ids = vec![pad; ctx];
        for (i, id) in BENCH_QUERY_IDS[..n].iter().enumerate() {
            ids[i] = match i {
                0 => 0,
                i if i + 1 == n => 2,
                _ => word(*id),
            };
        }
        let mut full: Vec<u32> = (0..ctx as u32).map(|i| word(i * 7919)).collect();
        full[0] = 0;
        full[ctx - 1] = 2;
        return Ok((ids, n, full));
    }
    let text = cfg.text_transformer()?;
    let mut ids = vec![0u32; text.context_length];
    let n = BENCH_QUERY_IDS.len().min(ids.len());
    // With a small (test) vocabulary, keep ids valid and the end token the largest.
    let top = text.vocab_size.saturating_sub(1).max(1) as u32;
    for (i, id) in BENCH_QUERY_IDS[..n].iter().enumerate() {
        ids[i] = if i + 1 == n { top } else { id % top };
    }
    Ok((ids.clone(), n, ids))
}

/// User + system CPU time of this process (Linux `/proc/self/stat`, clock ticks of 10 ms).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// (median, minimum) of timings.
fn median_min(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0])
}

pub fn run(
    cfg: &ClipConfig,
    device: &Device,
    dtype: DType,
    opts: &BenchOptions,
) -> Result<BenchReport, ModelError> {
    let t0 = Instant::now();
    let weights = Weights::random(cfg, 0, device, dtype)?;
    let model = ClipModel::new(cfg, &weights, opts.kernels)?;
    let weights_s = t0.elapsed().as_secs_f64();
    let batch = opts.batch.max(1);
    let iters = opts.iters.max(1);

    let (mut image_batch_s, mut image_img_per_s, mut image_img_per_s_best) = (None, None, None);
    let mut image_img_per_s_on_device = None;
    let mut image_img_per_cpu_s = None;
    if opts.images {
        // Deterministic values in [-1, 1) standing in for normalised pixels.
        let pixels: Vec<f32> = (0..batch * model.image_len())
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        model.encode_images(&pixels, batch)?;
        let mut times = Vec::with_capacity(iters);
        let cpu0 = process_cpu_seconds();
        for _ in 0..iters {
            let t = Instant::now();
            model.encode_images(&pixels, batch)?;
            times.push(t.elapsed().as_secs_f64());
        }
        if let (Some(c0), Some(c1)) = (cpu0, process_cpu_seconds())
            && c1 > c0
        {
            image_img_per_cpu_s = Some((batch * iters) as f64 / (c1 - c0));
        }
        let (med, best) = median_min(times);
        image_batch_s = Some(med);
        image_img_per_s = Some(batch as f64 / med);
        image_img_per_s_best = Some(batch as f64 / best);
        if !device.is_cpu() {
            let s = model.vision().image_size();
            let shape = (batch, cfg.in_channels, s, s);
            let x = Tensor::from_slice(&pixels, shape, device)?.to_dtype(dtype)?;
            model.encode_image_tensor(&x, &mut no_tap)?;
            let mut times = Vec::with_capacity(iters);
            for _ in 0..iters {
                device.synchronize()?;
                let t = Instant::now();
                // Ends with the copy of the embeddings to the host, which synchronises.
                model.encode_image_tensor(&x, &mut no_tap)?;
                times.push(t.elapsed().as_secs_f64());
            }
            image_img_per_s_on_device = Some(batch as f64 / median_min(times).0);
        }
    }

    let (ids, n, full_ids) = bench_query_rows(cfg)?;
    let runs = iters * 10;
    let time_text = |ids: &[u32], truncate: bool| -> Result<(f64, f64), ModelError> {
        model.encode_token_ids_with(&[ids], truncate, &mut no_tap)?;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            model.encode_token_ids_with(&[ids], truncate, &mut no_tap)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(median_min(times))
    };
    let (text_query_ms, text_query_ms_best) = time_text(&ids, true)?;
    let text_full_context_ms = if opts.full_context {
        Some(time_text(&full_ids, false)?.0)
    } else {
        None
    };
    Ok(BenchReport {
        model: cfg.name.clone(),
        fused_kernels: model.uses_fused_kernels(),
        cpu_kernels: crate::nn::isa::detected().to_string(),
        matmul_kernel: model.matmul_kernel(),
        threads: rayon::current_num_threads(),
        batch,
        image_batch_s,
        image_img_per_s,
        image_img_per_s_best,
        image_img_per_cpu_s,
        image_img_per_s_on_device,
        text_query_tokens: n,
        text_query_ms,
        text_query_ms_best,
        text_full_context_ms,
        weights_s,
    })
}
