//! Choosing where the model runs. CUDA and Metal are compiled in only with the cargo features
//! `cuda` / `metal`; `auto` tries CUDA, then Metal, then the CPU, and says which it chose
//! and why (so the UI and the CLI can show it).

use candle_core::{DType, Device};

use crate::ModelError;

/// The user's device choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DevicePreference {
    #[default]
    Auto,
    Cpu,
    Cuda,
    Metal,
}

/// The user's precision choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Precision {
    #[default]
    F32,
    F16,
    Bf16,
    /// The fastest precision measured to stay within the accuracy rule on the device
    /// ([`Precision::resolve`]); never stored: every model, cache key and export records
    /// what it resolved to.
    Auto,
}

impl Precision {
    /// The name files and the CLI use: `f32`, `f16`, `bf16` (`auto` before it is resolved).
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
            Self::Auto => "auto",
        }
    }

    /// The tensors' dtype; [`Precision::Auto`] must be [resolved](Precision::resolve) first
    /// (it reads as f32 here).
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 | Self::Auto => DType::F32,
            Self::F16 => DType::F16,
            Self::Bf16 => DType::BF16,
        }
    }

    /// What this precision is on `device`, and for [`Precision::Auto`] why it was chosen.
    ///
    /// `auto` picks bf16 (f32 accumulation; LayerNorm, softmax and the residual stream in
    /// f32) where it was measured to be faster than f32 and its per-block error stays within
    /// 1.5× PyTorch bf16's (`tests/fixtures/bf16_blocks`): on CPUs with AMX-BF16 (2.7× f32 on
    /// a Sapphire Rapids Xeon, 2 threads) or AVX512-BF16 (1.7× on AMD Zen 4 and Zen 5), and on CUDA
    /// (2.3× on an H100). Elsewhere f32: CPUs without a bf16 kernel, and Metal, whose bf16
    /// was never measured.
    pub fn resolve(self, device: &Device) -> (Precision, Option<String>) {
        if self != Self::Auto {
            return (self, None);
        }
        let (p, why) = if device.is_cuda() {
            (Self::Bf16, "bf16 on CUDA (2.3× f32 on an H100)".to_owned())
        } else if device.is_metal() {
            (
                Self::F32,
                "f32 on Metal (bf16 there is unmeasured)".to_owned(),
            )
        } else {
            match crate::nn::isa::detected().bf16 {
                Some(crate::nn::isa::Bf16Isa::AmxBf16) => (
                    Self::Bf16,
                    "bf16 with AMX-BF16 (2.7× f32 on a Sapphire Rapids Xeon)".to_owned(),
                ),
                Some(crate::nn::isa::Bf16Isa::Avx512Bf16) => (
                    Self::Bf16,
                    "bf16 with AVX512-BF16 (1.7× f32 on AMD Zen 4 and Zen 5)".to_owned(),
                ),
                None => (Self::F32, "f32: this CPU has no bf16 kernel".to_owned()),
            }
        };
        (p, Some(format!("auto precision: {why}")))
    }
}

/// Short name of a device ("cpu", "cuda:0", "metal:0").
pub fn device_name(d: &Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda:0".into(),
        Device::Metal(_) => "metal:0".into(),
    }
}

fn try_cuda() -> Result<Device, String> {
    if !candle_core::utils::cuda_is_available() {
        return Err("this build has no CUDA support (build with --features cuda)".into());
    }
    Device::new_cuda(0).map_err(|e| format!("no usable CUDA device: {e}"))
}

fn try_metal() -> Result<Device, String> {
    if !candle_core::utils::metal_is_available() {
        return Err("this build has no Metal support (build with --features metal)".into());
    }
    Device::new_metal(0).map_err(|e| format!("no usable Metal device: {e}"))
}

/// Pick a device. Returns it and a sentence saying why.
pub fn select_device(pref: DevicePreference) -> Result<(Device, String), ModelError> {
    match pref {
        DevicePreference::Cpu => Ok((Device::Cpu, "CPU (requested)".into())),
        DevicePreference::Cuda => try_cuda()
            .map(|d| (d, "CUDA device 0 (requested)".into()))
            .map_err(|e| ModelError::Device(format!("--device cuda: {e}"))),
        DevicePreference::Metal => try_metal()
            .map(|d| (d, "Metal device 0 (requested)".into()))
            .map_err(|e| ModelError::Device(format!("--device metal: {e}"))),
        DevicePreference::Auto => {
            let cuda = match try_cuda() {
                Ok(d) => return Ok((d, "CUDA device 0 (auto: CUDA is available)".into())),
                Err(e) => e,
            };
            let metal = match try_metal() {
                Ok(d) => {
                    return Ok((
                        d,
                        "Metal device 0 (auto: no CUDA, Metal is available)".into(),
                    ));
                }
                Err(e) => e,
            };
            let threads = rayon::current_num_threads();
            // the usual case said briefly; a GPU that is built in but failed, in full
            let why = if !candle_core::utils::cuda_is_available()
                && !candle_core::utils::metal_is_available()
            {
                "this build has no CUDA or Metal support; build with --features cuda or metal"
                    .to_owned()
            } else {
                format!("{cuda}; {metal}")
            };
            Ok((
                Device::Cpu,
                format!("CPU with {threads} threads (auto: {why})"),
            ))
        }
    }
}

/// Check a precision is usable on a device: f16 only on GPUs, bf16 on GPUs and on CPUs with
/// a bf16 kernel (AMX-BF16 or AVX512-BF16; see [`crate::nn::isa`]), where the model runs in f32 with the linear
/// layers' products in bf16.
pub fn check_precision(device: &Device, precision: Precision) -> Result<DType, ModelError> {
    let (precision, _) = precision.resolve(device);
    if device.is_cpu() {
        let k = crate::nn::isa::detected();
        match precision {
            Precision::F32 => {}
            Precision::Bf16 if crate::nn::matmul_bf16::available() => {}
            Precision::Bf16 => {
                return Err(ModelError::Device(format!(
                    "bf16 on the CPU needs AMX-BF16 or AVX512-BF16 (this CPU's kernels: {k}); use --dtype f32"
                )));
            }
            Precision::F16 => {
                return Err(ModelError::Device(
                    "F16 runs only on a GPU; use --dtype f32 (or bf16) on the CPU".into(),
                ));
            }
            Precision::Auto => unreachable!("resolved above"),
        }
    }
    Ok(precision.dtype())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_build_falls_back_to_cpu_and_explains() {
        let (d, why) = select_device(DevicePreference::Auto).unwrap();
        if cfg!(any(feature = "cuda", feature = "metal")) {
            return;
        }
        assert!(d.is_cpu());
        assert!(
            why.contains("no CUDA or Metal support") && why.contains("--features cuda"),
            "{why}"
        );
        let e = select_device(DevicePreference::Cuda)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--features cuda"), "{e}");
        assert!(check_precision(&Device::Cpu, Precision::F16).is_err());
        assert_eq!(
            check_precision(&Device::Cpu, Precision::Bf16).is_ok(),
            crate::nn::matmul_bf16::available()
        );
        assert_eq!(
            check_precision(&Device::Cpu, Precision::F32).unwrap(),
            DType::F32
        );
    }

    #[test]
    fn auto_precision_resolves_by_the_cpu_and_says_why() {
        let (p, why) = Precision::Auto.resolve(&Device::Cpu);
        let why = why.unwrap();
        let want = match crate::nn::isa::detected().bf16 {
            Some(_) => Precision::Bf16,
            None => Precision::F32,
        };
        assert_eq!(p, want, "{why}");
        assert!(why.starts_with("auto precision: "), "{why}");
        assert!(check_precision(&Device::Cpu, Precision::Auto).is_ok());
        assert_eq!(
            Precision::Bf16.resolve(&Device::Cpu),
            (Precision::Bf16, None)
        );
    }
}
