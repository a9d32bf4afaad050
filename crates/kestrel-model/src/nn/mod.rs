//! Network building blocks and CPU kernels: the transformer [`layers`] (generic candle ops on
//! any device, fused on the CPU), the fused element-wise [`kernels`], the packed matrix
//! products ([`matmul`] f32, [`matmul_bf16`] AMX-BF16 and AVX512-BF16), the CPU feature detection ([`isa`]) that
//! picks among them once per process, and the allocator tuning they rely on.

pub(crate) mod alloc_tune;
#[cfg(target_arch = "x86_64")]
mod bf16_dp;
pub mod conv;
pub mod isa;
pub mod kernels;
pub mod layers;
pub mod matmul;
pub mod matmul_bf16;
#[cfg(target_arch = "x86_64")]
mod simd256;
#[cfg(target_arch = "x86_64")]
mod simd512;
