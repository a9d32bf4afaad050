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
}

impl Precision {
    /// The name files and the CLI use: `f32`, `f16`, `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        }
    }

    pub fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::Bf16 => DType::BF16,
        }
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
            Ok((
                Device::Cpu,
                format!("CPU with {threads} threads (auto: {cuda}; {metal})"),
            ))
        }
    }
}

/// Check a precision is usable on a device: f16 only on GPUs, bf16 on GPUs and on CPUs with
/// a bf16 kernel (AMX-BF16 or AVX512-BF16; see [`crate::nn::isa`]), where the model runs in f32 with the linear
/// layers' products in bf16.
pub fn check_precision(device: &Device, precision: Precision) -> Result<DType, ModelError> {
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
            why.contains("no CUDA support") && why.contains("no Metal support"),
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
}
