//! Which vector kernels run: the one place that chooses, by the CPU's features at run time (or
//! `DGFLOW_CPU_KERNELS`), and dispatches to them.

use super::layout::{Plan, Position, Target};

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use super::portable as four_lanes;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::wasm as four_lanes;
#[cfg(target_arch = "x86_64")]
use super::x86;

/// Where a convolution goes in tiles instead of the direct kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tiling {
    Never,
    /// Where its shape allows and every thread gets a group of samples.
    WherePays,
    /// Wherever its shape allows: the tests, which check the tiles on shapes the rule skips.
    #[cfg(test)]
    WhereItFits,
}

/// The vector instructions this CPU offers.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Kernel {
    /// The widest kernels this CPU runs, or narrower ones named by `DGFLOW_CPU_KERNELS`
    /// (`avx2`, `portable`): the bench measures what a CPU without AVX-512 gets.
    pub(super) fn detect() -> Kernel {
        static CHOSEN: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let available = Kernel::available();
            let name = std::env::var("DGFLOW_CPU_KERNELS").unwrap_or_default();
            if name.is_empty() {
                return available[0];
            }
            available.iter().copied().find(|kernel| kernel.name() == name).unwrap_or_else(|| {
                let names: Vec<_> = available.iter().map(|kernel| kernel.name()).collect();
                eprintln!(
                    "DGFLOW_CPU_KERNELS={name}: this CPU runs only {}; using {}",
                    names.join(", "),
                    names[0]
                );
                available[0]
            })
        })
    }

    /// The kernels this CPU runs, widest first.
    pub(super) fn available() -> Vec<Kernel> {
        let mut kernels = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                kernels.push(Kernel::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                kernels.push(Kernel::Avx2);
            }
        }
        kernels.push(Kernel::Portable);
        kernels
    }

    /// Whether convolutions go in Winograd tiles where their shape allows: wherever the kernels
    /// are bound by their multiplies (wasm's four lanes without a fused multiply-add, the portable
    /// kernels, AVX2's eight), not with AVX-512, whose 16 lanes keep up with the tiles' transforms.
    /// A cifar10 step at batch 64 on 2 threads here, direct against tiles, interleaved: AVX-512
    /// 121–134 against 141–181 ms, AVX2 181–206 against 157–184 ms, portable 379–395 against
    /// 305–326 ms.
    pub(super) fn tiling(self) -> Tiling {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => Tiling::Never,
            _ => Tiling::WherePays,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => "avx512",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// Computes `positions.len()` rows of `plan.padded_outputs` values into `out`.
    pub(super) fn gather(self, input: &[f32], plan: &Plan, positions: &[usize], out: &mut [f32]) {
        let opad = plan.padded_outputs;
        assert!(
            opad.is_multiple_of(16) && plan.weights.len() == plan.reads.len() * opad,
            "weights are not packed for this plan"
        );
        assert!(out.len() == positions.len() * opad, "output rows do not match the positions");
        let reach = plan.reads.iter().max().copied().unwrap_or(0);
        assert!(
            positions.iter().all(|p| p + reach < input.len()),
            "a position reads outside the input"
        );
        // SAFETY: the asserts above bound every read and write the kernels make; the x86
        // variants run only where `detect` found their instructions.
        unsafe {
            match self {
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 if opad.is_multiple_of(64) => {
                    x86::gather_avx512_widest(input, plan, positions, out)
                }
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 if opad.is_multiple_of(32) => {
                    x86::gather_avx512_wide(input, plan, positions, out)
                }
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 => x86::gather_avx512_narrow(input, plan, positions, out),
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2 => x86::gather_avx2(input, plan, positions, out),
                Kernel::Portable => four_lanes::gather(input, plan, positions, out),
            }
        }
    }
}

impl Kernel {
    pub(super) fn lanes(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => 16,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => 8,
            Kernel::Portable => 4,
        }
    }

    /// Computes every output channel of `vectors` (runs of `lanes()` positions) into `target`.
    pub(super) fn gather_rows(
        self,
        input: &[f32],
        plan: &Plan,
        vectors: &[Position],
        target: &Target,
    ) {
        let (opad, lanes) = (plan.padded_outputs, self.lanes());
        assert!(
            opad.is_multiple_of(16)
                && opad >= target.outputs
                && plan.weights.len() == plan.reads.len() * opad,
            "weights are not packed for this plan"
        );
        let reach = plan.reads.iter().max().copied().unwrap_or(0) + lanes - 1;
        assert!(
            vectors.iter().all(|v| v.input + reach < input.len()),
            "a run reads outside the input"
        );
        let last = target.outputs.saturating_sub(1) * target.out_plane + (lanes - 1) * target.step;
        assert!(
            vectors.iter().all(|v| v.output + last < target.len),
            "a run writes outside the output"
        );
        // SAFETY: as in `gather`, and runs of different calls write disjoint outputs.
        unsafe {
            match self {
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 if target.outputs <= 4 => {
                    x86::rows_avx512_narrow(input, plan, vectors, target)
                }
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 => x86::rows_avx512_wide(input, plan, vectors, target),
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2 => x86::rows_avx2(input, plan, vectors, target),
                Kernel::Portable => four_lanes::rows(input, plan, vectors, target),
            }
        }
    }
}
