//! The ModifiedResNet image tower (open_clip `ModifiedResNet`, OpenAI's RN50 layout): a stem
//! of three 3×3 convolutions (the first with stride 2) each followed by BatchNorm and ReLU,
//! then a 2×2 average pool; four stages of anti-aliased Bottleneck blocks (1×1, 3×3, an
//! average pool of the stride instead of a strided conv, 1×1 ×4; the shortcut is avg-pool, 1×1
//! conv, BN); and `AttentionPool2d`: the mean token plus the `H·W` tokens get a positional
//! embedding, and token 0 attends to all of them through separate q/k/v projections, then
//! `c_proj`.
//!
//! BatchNorm runs in eval mode from the running statistics. With the fused CPU kernels each
//! BN is folded into its convolution at load time (`w·γ/√(σ²+ε)`, `β − μ·γ/√(σ²+ε)`); the
//! generic path keeps them apart so the taps see the convolution and the BN outputs the
//! oracle lists (`visual.conv1`, `visual.bn1`, …). In f32 with the fused kernels the
//! convolutions run on the packed matmul ([`crate::nn::conv`]: im2col + the same micro-kernel
//! as the ViT's linears); otherwise they are candle's `conv2d`.

use candle_core::{DType, Tensor};

use crate::ModelError;
use crate::load::config::{ClipConfig, ResNetConfig};
use crate::load::weights::Weights;
use crate::nn::conv::PackedConv;
use crate::nn::layers::{Exec, Linear, Tap};

type CResult<T> = candle_core::Result<T>;

/// BatchNorm epsilon (torch's default, which open_clip keeps).
pub const BN_EPS: f64 = 1e-5;

/// A bias-free convolution followed by an eval-mode BatchNorm.
#[derive(Debug, Clone)]
struct ConvBn {
    /// `[out, in, k, k]`; with BN folded in when `folded`.
    weight: Tensor,
    /// Per-channel `[1, out, 1, 1]` scale (`γ/√(σ²+ε)`; unused when folded).
    scale: Tensor,
    /// Per-channel `[1, out, 1, 1]` shift (`β − μ·scale`).
    shift: Tensor,
    padding: usize,
    stride: usize,
    folded: bool,
    /// The folded convolution on the packed f32 matmul (fused f32 path on AVX2/AVX-512).
    packed: Option<PackedConv>,
}

impl ConvBn {
    fn load(
        w: &Weights,
        conv: &str,
        bn: &str,
        padding: usize,
        stride: usize,
        fold: bool,
        pack: bool,
    ) -> Result<Self, ModelError> {
        let weight = w.get(&format!("{conv}.weight"))?;
        let out = weight.dim(0)?;
        let dtype = weight.dtype();
        // The BN statistics in f32 whatever the model dtype (f16 variances lose digits).
        let get = |n: &str| -> Result<Tensor, ModelError> {
            Ok(w.get(&format!("{bn}.{n}"))?.to_dtype(DType::F32)?)
        };
        let (gamma, beta, mean, var) = (
            get("weight")?,
            get("bias")?,
            get("running_mean")?,
            get("running_var")?,
        );
        let scale = (gamma / (var + BN_EPS)?.sqrt()?)?;
        let shift = (beta - (&mean * &scale)?)?;
        let weight = if fold {
            weight
                .to_dtype(DType::F32)?
                .broadcast_mul(&scale.reshape((out, 1, 1, 1))?)?
                .to_dtype(dtype)?
        } else {
            weight
        };
        let packed = if pack && fold && dtype == DType::F32 {
            let (_, inp, k, _) = weight.dims4()?;
            Some(PackedConv::new(
                &weight.flatten_all()?.to_vec1::<f32>()?,
                shift.to_vec1::<f32>()?,
                inp,
                k,
                stride,
                padding,
            ))
        } else {
            None
        };
        Ok(Self {
            weight,
            scale: scale.reshape((1, out, 1, 1))?.to_dtype(dtype)?,
            shift: shift.reshape((1, out, 1, 1))?.to_dtype(dtype)?,
            padding,
            stride,
            folded: fold,
            packed,
        })
    }

    /// `bn(conv(x))`; `taps` names the convolution and BN outputs for the tap (generic path
    /// only: folded layers have no separate convolution output).
    fn forward(&self, x: &Tensor, taps: Option<(&str, &str)>, tap: Tap) -> CResult<Tensor> {
        if let Some(conv) = &self.packed {
            let (b, _, h, w) = x.dims4()?;
            let (y, ho, wo) = conv.forward(&x.flatten_all()?.to_vec1::<f32>()?, b, h, w);
            let y = Tensor::from_vec(y, (b, self.weight.dim(0)?, ho, wo), x.device())?;
            if let Some((_, bn)) = taps {
                tap(bn, &y)?;
            }
            return Ok(y);
        }
        let y = x.conv2d(&self.weight, self.padding, self.stride, 1, 1)?;
        if self.folded {
            let y = y.broadcast_add(&self.shift)?;
            if let Some((_, bn)) = taps {
                tap(bn, &y)?;
            }
            return Ok(y);
        }
        if let Some((conv, _)) = taps {
            tap(conv, &y)?;
        }
        let y = y.broadcast_mul(&self.scale)?.broadcast_add(&self.shift)?;
        if let Some((_, bn)) = taps {
            tap(bn, &y)?;
        }
        Ok(y)
    }
}

/// `Bottleneck`: 1×1, 3×3, avg-pool(stride), 1×1 (×4), plus the shortcut, then ReLU.
#[derive(Debug, Clone)]
struct Bottleneck {
    c1: ConvBn,
    c2: ConvBn,
    c3: ConvBn,
    downsample: Option<ConvBn>,
    stride: usize,
}

impl Bottleneck {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let none = &mut crate::clip::no_tap;
        let out = self.c1.forward(x, None, none)?.relu()?;
        let out = self.c2.forward(&out, None, none)?.relu()?;
        let out = pool(&out, self.stride)?;
        let out = self.c3.forward(&out, None, none)?;
        let identity = match &self.downsample {
            Some(d) => d.forward(&pool(x, self.stride)?, None, none)?,
            None => x.clone(),
        };
        (out + identity)?.relu()
    }
}

/// `AvgPool2d(k)` (stride k); identity for k = 1.
fn pool(x: &Tensor, k: usize) -> CResult<Tensor> {
    if k > 1 {
        x.avg_pool2d(k)
    } else {
        Ok(x.clone())
    }
}

/// `AttentionPool2d` with open_clip's separate `q_proj`, `k_proj`, `v_proj` and `c_proj`.
#[derive(Debug, Clone)]
struct AttentionPool {
    positional_embedding: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    c: Linear,
    heads: usize,
}

impl AttentionPool {
    fn forward(&self, x: &Tensor, tap: Tap) -> CResult<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        // [b, c, h, w] → [b, h·w, c] (row-major tokens), mean token first, plus positions.
        let tokens = x.reshape((b, c, h * w))?.transpose(1, 2)?;
        let mean = tokens.mean_keepdim(1)?;
        let x = Tensor::cat(&[&mean, &tokens], 1)?
            .broadcast_add(&self.positional_embedding)?
            .contiguous()?;
        tap("visual.attnpool.tokens_with_pos", &x)?;
        let l = h * w + 1;
        let hd = c / self.heads;
        // Only token 0's output is used: one query per image.
        let q = self.q.forward(&x.narrow(1, 0, 1)?, None, None)?;
        let k = self.k.forward(&x, None, None)?;
        let v = self.v.forward(&x, None, None)?;
        let q = q.reshape((b, self.heads, hd))?.unsqueeze(2)?.contiguous()?;
        let k = k
            .reshape((b, l, self.heads, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let v = v
            .reshape((b, l, self.heads, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        tap("visual.attnpool.query0_attn_weights", &probs.squeeze(2)?)?;
        let out = probs.matmul(&v)?.reshape((b, c))?;
        let out = self.c.forward(&out, None, None)?;
        tap("visual.attnpool", &out)?;
        Ok(out)
    }
}

/// The whole tower.
#[derive(Debug, Clone)]
pub struct ModifiedResNet {
    cfg: ResNetConfig,
    in_channels: usize,
    stem: [ConvBn; 3],
    stages: Vec<Vec<Bottleneck>>,
    attnpool: AttentionPool,
}

impl ModifiedResNet {
    pub fn load(
        w: &Weights,
        cfg: &ResNetConfig,
        in_channels: usize,
        exec: Exec,
    ) -> Result<Self, ModelError> {
        let fold = exec.fused();
        // f32 convolutions on the packed matmul where this CPU has it
        let pack = exec == Exec::Fused && crate::nn::matmul::available();
        let stem = |i: usize, stride| {
            ConvBn::load(
                w,
                &format!("visual.conv{i}"),
                &format!("visual.bn{i}"),
                1,
                stride,
                fold,
                pack,
            )
        };
        let stem = [stem(1, 2)?, stem(2, 1)?, stem(3, 1)?];
        let mut stages = Vec::with_capacity(4);
        for (s, &blocks) in cfg.layers.iter().enumerate() {
            let stride = if s == 0 { 1 } else { 2 };
            let mut v = Vec::with_capacity(blocks);
            for i in 0..blocks {
                let p = format!("visual.layer{}.{i}", s + 1);
                let cb = |n: usize, pad| {
                    ConvBn::load(
                        w,
                        &format!("{p}.conv{n}"),
                        &format!("{p}.bn{n}"),
                        pad,
                        1,
                        fold,
                        pack,
                    )
                };
                let downsample = if i == 0 {
                    Some(ConvBn::load(
                        w,
                        &format!("{p}.downsample.0"),
                        &format!("{p}.downsample.1"),
                        0,
                        1,
                        fold,
                        pack,
                    )?)
                } else {
                    None
                };
                v.push(Bottleneck {
                    c1: cb(1, 0)?,
                    c2: cb(2, 1)?,
                    c3: cb(3, 0)?,
                    downsample,
                    stride: if i == 0 { stride } else { 1 },
                });
            }
            stages.push(v);
        }
        let lin = |n: &str| Linear::load(w, &format!("visual.attnpool.{n}"), true, exec);
        let attnpool = AttentionPool {
            positional_embedding: w.get("visual.attnpool.positional_embedding")?,
            q: lin("q_proj")?,
            k: lin("k_proj")?,
            v: lin("v_proj")?,
            c: lin("c_proj")?,
            heads: cfg.heads,
        };
        Ok(Self {
            cfg: cfg.clone(),
            in_channels,
            stem,
            stages,
            attnpool,
        })
    }

    pub fn config(&self) -> &ResNetConfig {
        &self.cfg
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// `[batch, channels, size, size]` → unnormalised embeddings `[batch, embed_dim]`.
    /// `tap` sees the oracle's intermediates: the stem (`visual.conv1`/`bn1`/…/`avgpool`;
    /// the convolution outputs only on the generic path), every block `visual.layerK.i`,
    /// `visual.attnpool.tokens_with_pos`, the attention weights of the query (all heads,
    /// `visual.attnpool.query0_attn_weights`) and `visual.attnpool`.
    pub fn forward(&self, x: &Tensor, tap: Tap) -> CResult<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let s = self.cfg.image_size;
        if c != self.in_channels || h != s || w != s {
            candle_core::bail!(
                "image batch has shape [{b}, {c}, {h}, {w}], the model takes [N, {}, {s}, {s}]",
                self.in_channels
            );
        }
        let mut x = x.clone();
        for (i, cb) in self.stem.iter().enumerate() {
            let (conv, bn) = (
                format!("visual.conv{}", i + 1),
                format!("visual.bn{}", i + 1),
            );
            x = cb.forward(&x, Some((&conv, &bn)), tap)?.relu()?;
        }
        x = x.avg_pool2d(2)?;
        tap("visual.avgpool", &x)?;
        for (s, blocks) in self.stages.iter().enumerate() {
            for (i, block) in blocks.iter().enumerate() {
                x = block.forward(&x)?;
                tap(&format!("visual.layer{}.{i}", s + 1), &x)?;
            }
        }
        self.attnpool.forward(&x, tap)
    }
}

/// The ModifiedResNet's parameters in open_clip's state-dict order, with shapes. The
/// BatchNorm `num_batches_tracked` counters (int64) are not parameters and not listed: a
/// checkpoint may carry them or not.
pub fn expected_shapes(cfg: &ClipConfig, r: &ResNetConfig, push: &mut dyn FnMut(String, &[usize])) {
    let conv_bn = |conv: &str,
                   bn: &str,
                   out: usize,
                   inp: usize,
                   k: usize,
                   push: &mut dyn FnMut(String, &[usize])| {
        push(format!("{conv}.weight"), &[out, inp, k, k]);
        for n in ["weight", "bias", "running_mean", "running_var"] {
            push(format!("{bn}.{n}"), &[out]);
        }
    };
    let w = r.width;
    conv_bn(
        "visual.conv1",
        "visual.bn1",
        w / 2,
        cfg.in_channels,
        3,
        push,
    );
    conv_bn("visual.conv2", "visual.bn2", w / 2, w / 2, 3, push);
    conv_bn("visual.conv3", "visual.bn3", w, w / 2, 3, push);
    let mut inplanes = w;
    for (s, &blocks) in r.layers.iter().enumerate() {
        let planes = w << s;
        for i in 0..blocks {
            let p = format!("visual.layer{}.{i}", s + 1);
            conv_bn(
                &format!("{p}.conv1"),
                &format!("{p}.bn1"),
                planes,
                inplanes,
                1,
                push,
            );
            conv_bn(
                &format!("{p}.conv2"),
                &format!("{p}.bn2"),
                planes,
                planes,
                3,
                push,
            );
            conv_bn(
                &format!("{p}.conv3"),
                &format!("{p}.bn3"),
                planes * 4,
                planes,
                1,
                push,
            );
            if i == 0 {
                conv_bn(
                    &format!("{p}.downsample.0"),
                    &format!("{p}.downsample.1"),
                    planes * 4,
                    inplanes,
                    1,
                    push,
                );
            }
            inplanes = planes * 4;
        }
    }
    let f = r.feature_dim();
    push(
        "visual.attnpool.positional_embedding".into(),
        &[r.grid() * r.grid() + 1, f],
    );
    for n in ["k_proj", "q_proj", "v_proj"] {
        push(format!("visual.attnpool.{n}.weight"), &[f, f]);
        push(format!("visual.attnpool.{n}.bias"), &[f]);
    }
    push("visual.attnpool.c_proj.weight".into(), &[cfg.embed_dim, f]);
    push("visual.attnpool.c_proj.bias".into(), &[cfg.embed_dim]);
}

/// How many tensors [`expected_shapes`] lists (saturating).
pub fn expected_tensor_count(r: &ResNetConfig) -> usize {
    // 5 per conv+BN: 3 in the stem, 3 per block, 1 more (the shortcut) per stage; 9 in the pool.
    let blocks = r.layers.iter().fold(0usize, |a, &l| a.saturating_add(l));
    blocks
        .saturating_mul(15)
        .saturating_add(r.layers.len() * 5)
        .saturating_add(15 + 9)
}
