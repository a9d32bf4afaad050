//! Keep the fused CPU path's large, short-lived buffers out of fresh pages.
//!
//! Every op of the image tower allocates its output (candle owns it), 5–20 MB at batch 8.
//! glibc serves blocks above its mmap threshold with a fresh `mmap` and unmaps them on
//! `free`, and trims the heap top beyond its trim threshold, so each of those buffers was
//! page-faulted and zeroed by the kernel again on every layer: `clear_page_erms` took 22%
//! of the bf16 image tower's CPU time (perf). Raising both thresholds once (the mmap one
//! to glibc's ceiling, 32 MiB on 64-bit) lets freed blocks be reused; the price is that the
//! process keeps its peak heap after a batch instead of returning it to the system.
//!
//! Only on Linux with glibc; `KESTREL_KEEP_MALLOC=1` leaves the allocator alone.

/// Raise glibc's mmap and trim thresholds (once per process).
pub fn tune_for_fused_cpu() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if std::env::var_os("KESTREL_KEEP_MALLOC").is_some_and(|v| v == "1") {
                return;
            }
            unsafe extern "C" {
                fn mallopt(param: i32, value: i32) -> i32;
            }
            const M_TRIM_THRESHOLD: i32 = -1;
            const M_MMAP_THRESHOLD: i32 = -3;
            // SAFETY: mallopt only changes glibc's allocation policy; both values are in
            // the ranges it accepts (it returns 0 and changes nothing otherwise).
            let ok = unsafe {
                mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
                    && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1
            };
            log::debug!("malloc thresholds raised for the fused CPU kernels: {ok}");
        });
    }
}
