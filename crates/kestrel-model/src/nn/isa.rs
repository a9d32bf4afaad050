//! Which CPU kernels this processor can run, detected once per process.
//!
//! - f32 matrix products: AVX-512F (16-lane FMA), AVX2+FMA, or the portable `gemm` path;
//! - bf16 matrix products (`--dtype bf16` on the CPU, f32 accumulation): AMX-BF16 tiles
//!   (`tdpbf16ps`), AVX512-BF16 (`vdpbf16ps`), or none.
//!
//! AMX needs the kernel's permission for the tile state (`arch_prctl(ARCH_REQ_XCOMP_PERM,
//! XFEATURE_XTILEDATA)`, Linux ≥ 5.16); it is asked for once, here, and AMX is only reported
//! when Linux granted it. `KESTREL_CPU_KERNELS=portable|avx2|avx512|avx512bf16|amx` caps what
//! is used (to compare paths on one machine); it never enables what the CPU lacks.

use std::fmt;
use std::sync::OnceLock;

/// The f32 matrix-product kernel, in increasing order of speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum F32Isa {
    /// The `gemm` crate (any CPU, aarch64 included).
    Portable,
    /// Packed 6×16 AVX2+FMA micro-kernel.
    Avx2Fma,
    /// Packed 14×32 AVX-512F micro-kernel.
    Avx512f,
}

/// The bf16 matrix-product kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Bf16Isa {
    /// `vdpbf16ps` on 512-bit registers.
    Avx512Bf16,
    /// AMX tiles, `tdpbf16ps`.
    AmxBf16,
}

/// What this process runs on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CpuKernels {
    pub f32: F32Isa,
    /// `None`: this CPU has no bf16 dot-product instructions (`--dtype bf16` is refused).
    pub bf16: Option<Bf16Isa>,
}

impl F32Isa {
    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::Avx2Fma => "avx2+fma",
            Self::Avx512f => "avx512f",
        }
    }
}

impl Bf16Isa {
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512Bf16 => "avx512-bf16",
            Self::AmxBf16 => "amx-bf16",
        }
    }
}

impl fmt::Display for CpuKernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "f32 {}, bf16 {}",
            self.f32.name(),
            self.bf16.map_or("none", Bf16Isa::name)
        )
    }
}

/// The kernels this process uses (detected on first call, then cached).
pub fn detected() -> CpuKernels {
    static DETECTED: OnceLock<CpuKernels> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        let cap = std::env::var("KESTREL_CPU_KERNELS").ok();
        let k = cap_to(hardware(), cap.as_deref());
        log::info!("CPU kernels: {k}");
        k
    })
}

/// Apply a `KESTREL_CPU_KERNELS` cap to what the hardware has.
fn cap_to(hw: CpuKernels, cap: Option<&str>) -> CpuKernels {
    let (f32_cap, bf16_cap) = match cap.map(str::trim) {
        Some("portable") => (F32Isa::Portable, None),
        Some("avx2") => (F32Isa::Avx2Fma, None),
        Some("avx512") => (F32Isa::Avx512f, None),
        Some("avx512bf16") => (F32Isa::Avx512f, Some(Bf16Isa::Avx512Bf16)),
        _ => (F32Isa::Avx512f, Some(Bf16Isa::AmxBf16)),
    };
    CpuKernels {
        f32: hw.f32.min(f32_cap),
        bf16: match (hw.bf16, bf16_cap) {
            (Some(h), Some(c)) => Some(h.min(c)),
            _ => None,
        },
    }
}

/// Whether this CPU (and OS) can run the f32 kernel `isa` (tests run every such path).
pub fn f32_supported(isa: F32Isa) -> bool {
    hardware().f32 >= isa
}

/// Whether this CPU (and OS) can run the bf16 kernel `isa`.
pub fn bf16_supported(isa: Bf16Isa) -> bool {
    match isa {
        Bf16Isa::Avx512Bf16 => avx512_bf16(),
        Bf16Isa::AmxBf16 => amx_bf16(),
    }
}

/// Everything the hardware offers, uncapped (cached).
fn hardware() -> CpuKernels {
    static HW: OnceLock<CpuKernels> = OnceLock::new();
    *HW.get_or_init(|| CpuKernels {
        f32: if avx512f() {
            F32Isa::Avx512f
        } else if avx2_fma() {
            F32Isa::Avx2Fma
        } else {
            F32Isa::Portable
        },
        bf16: if amx_bf16() {
            Some(Bf16Isa::AmxBf16)
        } else if avx512_bf16() {
            Some(Bf16Isa::Avx512Bf16)
        } else {
            None
        },
    })
}

#[cfg(target_arch = "x86_64")]
fn avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
fn avx512f() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

#[cfg(target_arch = "x86_64")]
fn avx512_bf16() -> bool {
    avx512f() && std::is_x86_feature_detected!("avx512bf16")
}

/// AMX-BF16 and AMX-TILE in CPUID, and Linux granted this process the tile data state.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn amx_bf16() -> bool {
    static AMX: OnceLock<bool> = OnceLock::new();
    *AMX.get_or_init(|| {
        // CPUID leaf 7 sub-leaf 0, EDX: bit 22 AMX-BF16, bit 24 AMX-TILE.
        let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
        let cpu = edx & (1 << 22) != 0 && edx & (1 << 24) != 0;
        // The tile kernels store results with AVX-512 on edge tiles.
        cpu && avx512f() && request_amx_permission()
    })
}

/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`: 0 when the tile state is granted
/// (for the whole process, threads started later included).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_amx_permission() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    // SAFETY: a plain Linux system call that only changes this process's permitted XSAVE
    // features; the registers the `syscall` instruction clobbers (rcx, r11) are declared.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    ret == 0
}

#[cfg(all(target_arch = "x86_64", not(target_os = "linux")))]
fn amx_bf16() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_fma() -> bool {
    false
}
#[cfg(not(target_arch = "x86_64"))]
fn avx512f() -> bool {
    false
}
#[cfg(not(target_arch = "x86_64"))]
fn avx512_bf16() -> bool {
    false
}
#[cfg(not(target_arch = "x86_64"))]
fn amx_bf16() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_never_add_features() {
        let hw = CpuKernels {
            f32: F32Isa::Avx2Fma,
            bf16: None,
        };
        assert_eq!(cap_to(hw, Some("amx")), hw);
        let hw = CpuKernels {
            f32: F32Isa::Avx512f,
            bf16: Some(Bf16Isa::AmxBf16),
        };
        assert_eq!(cap_to(hw, None), hw);
        assert_eq!(
            cap_to(hw, Some("avx2")),
            CpuKernels {
                f32: F32Isa::Avx2Fma,
                bf16: None
            }
        );
        assert_eq!(
            cap_to(hw, Some("avx512bf16")).bf16,
            Some(Bf16Isa::Avx512Bf16)
        );
        println!("this CPU: {}", detected());
    }
}
