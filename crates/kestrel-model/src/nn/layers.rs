//! Transformer building blocks shared by the image and text towers: LayerNorm, Linear
//! (torch `[out, in]` weights, `x·Wᵀ + b`), multi-head self-attention over a fused `[3w, w]`
//! in-projection, and the pre-LN residual block `x + attn(ln_1(x))`, `x + mlp(ln_2(x))`.
//!
//! Every op has two implementations selected per layer at construction:
//! - the *generic* one, plain candle tensor ops, for any device and dtype (CUDA, Metal, CPU);
//! - the *fused* CPU f32 one, which hands contiguous slices to [`crate::nn::kernels`] through
//!   candle custom ops (bias, residual and activation fused into the matrix product,
//!   attention without head permutes).
//!
//! Both compute the same function; tests compare each against the reference.

use std::sync::Arc;

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Device, Layout, Shape, Storage, Tensor,
};

use crate::ModelError;
use crate::load::config::Activation;
use crate::load::weights::Weights;
use crate::nn::kernels::{self, WeightRef};
use crate::nn::matmul::{self, PackedWeights};
use crate::nn::matmul_bf16::PackedBf16;

type CResult<T> = candle_core::Result<T>;

/// LayerNorm epsilon used by open_clip.
pub const LN_EPS: f32 = 1e-5;

/// Run `f` on the contiguous f32 data of a CPU tensor.
fn with_cpu_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> CResult<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(CpuStorage::F32(data)) = &*storage else {
        candle_core::bail!(
            "fused CPU kernel needs an f32 CPU tensor, got {:?}",
            t.dtype()
        );
    };
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg("fused CPU kernel needs a contiguous tensor".into())
    })?;
    Ok(f(&data[start..end]))
}

/// The contiguous f32 slice of a custom-op input.
fn slice_of<'a>(s: &'a CpuStorage, l: &Layout) -> CResult<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        candle_core::bail!("fused CPU kernel needs f32 input");
    };
    let (start, end) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused CPU kernel needs contiguous input".into()))?;
    Ok(&data[start..end])
}

/// Whether layers on this device/dtype use the fused CPU kernels (when allowed): f32, or
/// bf16 where the CPU has a bf16 kernel (the model then runs in f32 with bf16 products).
pub fn fused_available(device: &Device, dtype: DType) -> bool {
    device.is_cpu()
        && (dtype == DType::F32 || (dtype == DType::BF16 && crate::nn::matmul_bf16::available()))
}

/// How a model's layers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exec {
    /// candle ops (any device and dtype).
    Generic,
    /// The fused CPU kernels in f32.
    Fused,
    /// The fused CPU kernels with the linear layers' products in bf16 (f32 accumulation);
    /// activations, LayerNorm, softmax, attention and the residual stream stay f32.
    FusedBf16,
}

impl Exec {
    pub fn fused(self) -> bool {
        self != Self::Generic
    }
}

/// LayerNorm over the last dimension.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
    fused: bool,
}

impl LayerNorm {
    pub fn load(w: &Weights, prefix: &str, exec: Exec) -> Result<Self, ModelError> {
        Self::load_eps(w, prefix, LN_EPS, exec)
    }

    /// With another epsilon (Hugging Face encoders give theirs in the config).
    pub fn load_eps(w: &Weights, prefix: &str, eps: f32, exec: Exec) -> Result<Self, ModelError> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"))?,
            bias: w.get(&format!("{prefix}.bias"))?,
            eps,
            fused: exec.fused(),
        })
    }

    pub fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        if self.fused {
            x.contiguous()?.apply_op1_no_bwd(self)
        } else {
            candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, &self.bias, self.eps)
        }
    }
}

impl CustomOp1 for LayerNorm {
    fn name(&self) -> &'static str {
        "kestrel-layer-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let x = slice_of(s, l)?;
        let dim = l.dims().last().copied().unwrap_or(1);
        let out = with_cpu_f32(&self.weight, |g| {
            with_cpu_f32(&self.bias, |b| kernels::layer_norm(x, dim, g, b, self.eps))
        })??;
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// A linear layer with torch-layout weight `[out, in]`: `y = x·Wᵀ + b`.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: LinearWeight,
    bias: Option<Tensor>,
    out_dim: usize,
}

/// Where a [`Linear`]'s weight lives: a tensor (generic ops, or fused ops on CPUs without
/// AVX2), packed once for the AVX2/AVX-512 kernel, or rounded to bf16 and packed for the
/// bf16 kernel (the tensor is then dropped).
#[derive(Debug, Clone)]
enum LinearWeight {
    Generic(Tensor),
    FusedRaw(Tensor),
    FusedPacked(Arc<PackedWeights>),
    FusedBf16(Arc<PackedBf16>),
}

/// What a [`Linear`] call adds on top of the product.
#[derive(Clone, Copy)]
struct LinearCall<'a> {
    linear: &'a Linear,
    act: Option<Activation>,
}

impl Linear {
    pub fn load(w: &Weights, prefix: &str, bias: bool, exec: Exec) -> Result<Self, ModelError> {
        let b = if bias {
            Some(w.get(&format!("{prefix}.bias"))?)
        } else {
            None
        };
        Self::from_tensors(w.get(&format!("{prefix}.weight"))?, b, exec)
    }

    /// From explicit tensors (`weight` `[out, in]`).
    pub fn from_tensors(
        weight: Tensor,
        bias: Option<Tensor>,
        exec: Exec,
    ) -> Result<Self, ModelError> {
        let (out_dim, in_dim) = weight.dims2()?;
        let weight = if !exec.fused() {
            LinearWeight::Generic(weight)
        } else if exec == Exec::FusedBf16 {
            let data = weight
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            LinearWeight::FusedBf16(Arc::new(PackedBf16::pack(&data, out_dim, in_dim)))
        } else if matmul::available() {
            let data = weight.flatten_all()?.to_vec1::<f32>()?;
            LinearWeight::FusedPacked(Arc::new(PackedWeights::pack(&data, out_dim, in_dim)))
        } else {
            LinearWeight::FusedRaw(weight.contiguous()?)
        };
        Ok(Self {
            weight,
            bias,
            out_dim,
        })
    }

    /// `act(residual + x·Wᵀ + b)` over the last dimension of `x`.
    pub fn forward(
        &self,
        x: &Tensor,
        residual: Option<&Tensor>,
        act: Option<Activation>,
    ) -> CResult<Tensor> {
        let weight = match &self.weight {
            LinearWeight::Generic(w) => w,
            LinearWeight::FusedRaw(_)
            | LinearWeight::FusedPacked(_)
            | LinearWeight::FusedBf16(_) => {
                let call = LinearCall { linear: self, act };
                let x = x.contiguous()?;
                return match residual {
                    Some(r) => x.apply_op2_no_bwd(&r.contiguous()?, &call),
                    None => x.apply_op1_no_bwd(&call),
                };
            }
        };
        let dims = x.dims().to_vec();
        let k = dims.last().copied().unwrap_or(1);
        let rows = x.elem_count() / k.max(1);
        let mut y = x.reshape((rows, k))?.matmul(&weight.t()?)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        let mut out_dims = dims;
        if let Some(last) = out_dims.last_mut() {
            *last = self.out_dim;
        }
        let mut y = y.reshape(out_dims)?;
        if let Some(r) = residual {
            y = (y + r)?;
        }
        match act {
            None => Ok(y),
            Some(Activation::Gelu) => y.gelu_erf(),
            Some(Activation::QuickGelu) => &y * candle_nn::ops::sigmoid(&(&y * 1.702)?)?,
        }
    }
}

impl LinearCall<'_> {
    fn run(&self, x: &[f32], l: &Layout, residual: Option<&[f32]>) -> CResult<(CpuStorage, Shape)> {
        let k = l.dims().last().copied().unwrap_or(1);
        let rows = x.len() / k.max(1);
        let n = self.linear.out_dim;
        let with_bias = |w: WeightRef| -> CResult<Vec<f32>> {
            match &self.linear.bias {
                Some(b) => with_cpu_f32(b, |b| {
                    kernels::linear(x, rows, k, w, n, Some(b), residual, self.act)
                }),
                None => Ok(kernels::linear(x, rows, k, w, n, None, residual, self.act)),
            }
        };
        let out = match &self.linear.weight {
            LinearWeight::FusedPacked(p) => with_bias(WeightRef::Packed(p))?,
            LinearWeight::FusedBf16(p) => with_bias(WeightRef::Bf16(p))?,
            LinearWeight::FusedRaw(t) | LinearWeight::Generic(t) => {
                with_cpu_f32(t, |w| with_bias(WeightRef::Raw(w)))??
            }
        };
        let mut dims = l.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = n;
        }
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

impl CustomOp1 for LinearCall<'_> {
    fn name(&self) -> &'static str {
        "kestrel-linear"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        self.run(slice_of(s, l)?, l, None)
    }
}

impl CustomOp2 for LinearCall<'_> {
    fn name(&self) -> &'static str {
        "kestrel-linear-residual"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let residual = slice_of(s2, l2)?;
        self.run(slice_of(s1, l1)?, l1, Some(residual))
    }
}

/// Multi-head self-attention with open_clip's fused in-projection (`attn.in_proj_*`, q,k,v
/// order) and `attn.out_proj`.
#[derive(Debug, Clone)]
pub struct Attention {
    in_proj: Linear,
    out_proj: Linear,
    heads: usize,
    fused: bool,
}

/// The attention core as a custom op on `qkv` `[batch, seq, 3w]`.
struct AttentionCore {
    heads: usize,
    causal: bool,
}

impl CustomOp1 for AttentionCore {
    fn name(&self) -> &'static str {
        "kestrel-attention"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let qkv = slice_of(s, l)?;
        let (batch, seq, w3) = l.shape().dims3()?;
        let width = w3 / 3;
        let out = kernels::attention(qkv, batch, seq, width, self.heads, self.causal);
        Ok((CpuStorage::F32(out), Shape::from((batch, seq, width))))
    }
}

impl Attention {
    pub fn load(w: &Weights, prefix: &str, heads: usize, exec: Exec) -> Result<Self, ModelError> {
        let in_proj = Linear::from_tensors(
            w.get(&format!("{prefix}.in_proj_weight"))?,
            Some(w.get(&format!("{prefix}.in_proj_bias"))?),
            exec,
        )?;
        let out_proj = Linear::load(w, &format!("{prefix}.out_proj"), true, exec)?;
        Ok(Self {
            in_proj,
            out_proj,
            heads,
            fused: exec.fused(),
        })
    }

    /// From an in-projection (`[3w, w]`, rows q, k, v) and an out-projection, e.g. a
    /// Hugging Face encoder's separate query/key/value layers stacked.
    pub fn from_linears(in_proj: Linear, out_proj: Linear, heads: usize, exec: Exec) -> Self {
        Self {
            in_proj,
            out_proj,
            heads,
            fused: exec.fused(),
        }
    }

    /// `residual + out_proj(attention(in_proj(x)))` for `x` `[batch, seq, w]`.
    pub fn forward(&self, x: &Tensor, residual: &Tensor, causal: bool) -> CResult<Tensor> {
        let qkv = self.in_proj.forward(x, None, None)?;
        let core = if self.fused {
            qkv.apply_op1_no_bwd(&AttentionCore {
                heads: self.heads,
                causal,
            })?
        } else {
            self.generic_core(&qkv, causal)?
        };
        self.out_proj.forward(&core, Some(residual), None)
    }

    fn generic_core(&self, qkv: &Tensor, causal: bool) -> CResult<Tensor> {
        let (b, l, w3) = qkv.dims3()?;
        let w = w3 / 3;
        let hd = w / self.heads;
        let qkv = qkv
            .reshape((b, l, 3, self.heads, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scale = 1.0 / (hd as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?;
        if causal {
            let mask: Vec<f32> = (0..l)
                .flat_map(|i| (0..l).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
                .collect();
            let mask = Tensor::from_vec(mask, (l, l), qkv.device())?.to_dtype(scores.dtype())?;
            scores = scores.broadcast_add(&mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, l, w))
    }
}

/// open_clip's `ResidualAttentionBlock` (pre-LN, no layer scale).
#[derive(Debug, Clone)]
pub struct ResidualBlock {
    ln_1: LayerNorm,
    attn: Attention,
    ln_2: LayerNorm,
    c_fc: Linear,
    c_proj: Linear,
    act: Activation,
}

impl ResidualBlock {
    pub fn load(
        w: &Weights,
        prefix: &str,
        heads: usize,
        act: Activation,
        exec: Exec,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            ln_1: LayerNorm::load(w, &format!("{prefix}.ln_1"), exec)?,
            attn: Attention::load(w, &format!("{prefix}.attn"), heads, exec)?,
            ln_2: LayerNorm::load(w, &format!("{prefix}.ln_2"), exec)?,
            c_fc: Linear::load(w, &format!("{prefix}.mlp.c_fc"), true, exec)?,
            c_proj: Linear::load(w, &format!("{prefix}.mlp.c_proj"), true, exec)?,
            act,
        })
    }

    pub fn forward(&self, x: &Tensor, causal: bool) -> CResult<Tensor> {
        let x = self.attn.forward(&self.ln_1.forward(x)?, x, causal)?;
        let h = self
            .c_fc
            .forward(&self.ln_2.forward(&x)?, None, Some(self.act))?;
        self.c_proj.forward(&h, Some(&x), None)
    }
}

/// Receives named intermediate activations (names as in the oracle's `intermediates`).
pub type Tap<'a> = &'a mut dyn FnMut(&str, &Tensor) -> CResult<()>;

/// A stack of residual blocks.
#[derive(Debug, Clone)]
pub struct Transformer {
    blocks: Vec<ResidualBlock>,
}

impl Transformer {
    pub fn load(
        w: &Weights,
        prefix: &str,
        layers: usize,
        heads: usize,
        act: Activation,
        exec: Exec,
    ) -> Result<Self, ModelError> {
        let blocks = (0..layers)
            .map(|i| ResidualBlock::load(w, &format!("{prefix}.resblocks.{i}"), heads, act, exec))
            .collect::<Result<_, _>>()?;
        Ok(Self { blocks })
    }

    pub fn blocks(&self) -> &[ResidualBlock] {
        &self.blocks
    }

    /// Run all blocks; `tap` sees each block's output as `{tap_prefix}.resblocks.{i}`.
    pub fn forward(&self, x: &Tensor, causal: bool, tap_prefix: &str, tap: Tap) -> CResult<Tensor> {
        let mut x = x.clone();
        for (i, b) in self.blocks.iter().enumerate() {
            x = b.forward(&x, causal)?;
            tap(&format!("{tap_prefix}.resblocks.{i}"), &x)?;
        }
        Ok(x)
    }
}
