//! How the kernels see a layer: its geometry, its weights packed in blocks of output channels,
//! its padded input planes, its output phases and the plan of reads each tile makes.

use super::fused::Fused;
use crate::cpu::parallel::{for_each_chunk, threads, zeroed};

/// Stride and zero padding of a 2-D convolution, per axis (rows, columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

/// `[batch, channels, height, width]`.
pub type Shape4 = [usize; 4];

/// Where a convolution reads its zero-padded input: the padded planes, the output size, each
/// tap's offset in a padded plane, and each output position's start there (row-major).
pub(super) struct Reads {
    pub(super) padded: Padded,
    pub(super) out: [usize; 2],
    pub(super) taps: Vec<usize>,
    pub(super) starts: Vec<usize>,
}

impl Reads {
    /// `columns` is 1, or the column stride with planes split by column (see `Padded`).
    pub(super) fn of(
        what: &str,
        [h, w]: [usize; 2],
        [kh, kw]: [usize; 2],
        geometry: Geometry,
        columns: usize,
    ) -> Reads {
        let ([sh, sw], [ph, pw]) = (geometry.stride, geometry.padding);
        let (hp, wp) = (h + 2 * ph, w + 2 * pw);
        assert!(
            hp >= kh && wp >= kw,
            "{what}: kernel {kh}×{kw} larger than the padded input {hp}×{wp}"
        );
        assert!(
            columns == 1 || columns == sw,
            "planes are split by the column stride or not at all"
        );
        let (ho, wo) = ((hp - kh) / sh + 1, (wp - kw) / sw + 1);
        let padded = Padded { size: [hp, wp], offset: [ph, pw], split: [1, columns] };
        // Offsets add up: `at(y·sh, x·sw) + at(ky, kx) = at(y·sh + ky, x·sw + kx)` when
        // `columns` is 1 or `sw`.
        Reads {
            padded,
            out: [ho, wo],
            taps: (0..kh).flat_map(|ky| (0..kw).map(move |kx| padded.at(ky, kx))).collect(),
            starts: (0..ho).flat_map(|y| (0..wo).map(move |x| padded.at(y * sh, x * sw))).collect(),
        }
    }

    /// Every output position in row-major order, with its start.
    pub(super) fn template(&self) -> Vec<Position> {
        self.starts.iter().enumerate().map(|(output, &input)| Position { input, output }).collect()
    }
}

/// A sample's zero-padded input planes: `size` (rows, columns) with the input at `offset`. With
/// `split` other than `[1, 1]` each plane is stored as `split[0]·split[1]` planes of every
/// `split[0]`-th row and `split[1]`-th column (row phase major), so that the reads of a strided
/// layer's consecutive outputs are consecutive: the row kernel's planes split by the column
/// stride, and the tiles' by both strides (see `winograd`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Padded {
    pub(super) size: [usize; 2],
    pub(super) offset: [usize; 2],
    pub(super) split: [usize; 2],
}

impl Padded {
    /// The height and width of one plane of a row and column phase.
    pub(super) fn part(&self) -> [usize; 2] {
        [self.size[0].div_ceil(self.split[0]), self.size[1].div_ceil(self.split[1])]
    }

    pub(super) fn plane(&self) -> usize {
        let [height, width] = self.part();
        self.split[0] * self.split[1] * height * width
    }

    /// Where padded row `y`, column `x` lies in a plane.
    pub(super) fn at(&self, y: usize, x: usize) -> usize {
        let ([rows, columns], [height, width]) = (self.split, self.part());
        ((y % rows * columns + x % columns) * height + y / rows) * width + x / columns
    }
}

/// Kernel taps of phase `r` along an axis: k = r, r + s, … below the kernel size.
pub(super) fn phase_taps(kernel: usize, stride: usize, r: usize) -> usize {
    if r >= kernel { 0 } else { (kernel - r).div_ceil(stride) }
}

/// One axis of a transposed convolution: how far its phases reach outside the input.
pub(super) struct Axis {
    pub(super) output: usize,
    pub(super) stride: usize,
    pub(super) padding: usize,
    /// Rows of zeros needed before the input (the most taps any phase has, less one).
    pub(super) lead: usize,
    /// Rows of zeros needed after it.
    pub(super) trail: usize,
}

impl Axis {
    pub(super) fn new(
        input: usize,
        output: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Axis {
        let mut axis = Axis { output, stride, padding, lead: 0, trail: 0 };
        axis.lead =
            (0..stride).map(|r| phase_taps(kernel, stride, r)).max().unwrap_or(1).saturating_sub(1);
        let last = (0..output).map(|y| (y + padding) / stride).max().unwrap_or(0);
        axis.trail = (last + 1).saturating_sub(input);
        axis
    }

    /// The output rows of phase `r` and their `m`: tap t reads input row m − t, which is padded
    /// row m − t + lead.
    pub(super) fn phase(&self, r: usize) -> impl Iterator<Item = (usize, usize)> + Clone + '_ {
        (0..self.output)
            .filter(move |y| (y + self.padding) % self.stride == r)
            .map(move |y| (y, (y + self.padding) / self.stride))
    }
}

/// One output position of a sample: where its first tap reads in the sample's padded input
/// plane, where it writes in an output plane.
#[derive(Clone, Copy, Debug)]
pub(super) struct Position {
    pub(super) input: usize,
    pub(super) output: usize,
}

/// A dense convolution over the padded input covering some of the output positions.
pub(super) struct Phase<'a> {
    /// Each tap's offset in a padded input plane.
    pub(super) taps: Vec<usize>,
    /// `[channels][taps][padded outputs]`.
    pub(super) weights: &'a [f32],
    /// The positions it computes in each sample.
    pub(super) template: Vec<Position>,
}

/// Shapes shared by every phase of one call.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    pub(super) outputs: usize,
    /// See [`padded_outputs`].
    pub(super) padded_outputs: usize,
    pub(super) padded: Padded,
    pub(super) out_plane: usize,
}

/// Output channels rounded up to a whole block: 16 (one AVX-512 vector) for the few-channel
/// layers (RGB out), else 32.
pub(super) fn padded_outputs(outputs: usize) -> usize {
    let block = if outputs <= 16 { 16 } else { 32 };
    outputs.div_ceil(block) * block
}

/// `[channels][taps][padded outputs]` from `weight(output, channel, tap)`.
pub(super) fn pack(
    outputs: usize,
    channels: usize,
    taps: usize,
    weight: impl Fn(usize, usize, usize) -> f32 + Sync + Send,
) -> Vec<f32> {
    let stride = padded_outputs(outputs);
    let mut packed = zeroed(channels * taps * stride);
    if packed.is_empty() {
        return packed;
    }
    // In parallel over channels: a network being trained packs its weights on every call.
    for_each_chunk(&mut packed, taps * stride, |ic, block| {
        for (t, row) in block.chunks_mut(stride).enumerate() {
            for (oc, value) in row[..outputs].iter_mut().enumerate() {
                *value = weight(oc, ic, t);
            }
        }
    });
    packed
}

/// A phase whose positions form runs of `lanes` that are consecutive in the input and a same
/// `step` apart in the output, for the row kernel: layers whose rows are whole vectors, step 1 for
/// a convolution (strided ones through planes split by column), the stride for a transposed
/// convolution's phase.
pub(super) struct RowPhase {
    /// Where each run starts in a sample.
    pub(super) runs: Vec<Position>,
    pub(super) step: usize,
}

impl RowPhase {
    pub(super) fn of(template: &[Position], lanes: usize) -> Option<RowPhase> {
        if template.len() < lanes || !template.len().is_multiple_of(lanes) {
            return None;
        }
        let step = template[1].output.checked_sub(template[0].output).filter(|&step| step > 0)?;
        let even = |run: &[Position]| {
            run.windows(2)
                .all(|p| p[1].input == p[0].input + 1 && p[1].output == p[0].output + step)
        };
        template
            .chunks(lanes)
            .all(even)
            .then(|| RowPhase { runs: template.iter().step_by(lanes).copied().collect(), step })
    }
}

/// Where the row kernel writes: `NCHW` output through the shared pointer, and what each value
/// gets on the way.
pub(super) struct Target<'a> {
    pub(super) out: &'a SharedOut,
    pub(super) len: usize,
    pub(super) outputs: usize,
    pub(super) out_plane: usize,
    /// How far apart a run's outputs are.
    pub(super) step: usize,
    pub(super) fused: Fused<'a>,
}

/// The output, written by several runs at once at disjoint positions.
pub(super) struct SharedOut(pub(super) *mut f32);

// SAFETY: runs write disjoint indices (see `run`), and `run` outlives them all.
unsafe impl Sync for SharedOut {}

unsafe impl Send for SharedOut {}

impl SharedOut {
    /// A method, not a field access, so that closures capture the whole (Sync) wrapper.
    pub(super) fn at(&self, index: usize) -> *mut f32 {
        self.0.wrapping_add(index)
    }
}

/// Items per parallel task: a few tasks per thread balance the load, but none under ~2²⁰
/// multiply-adds, below which handing work to another thread costs more than it saves (the
/// text model at batch 1).
pub(super) fn task_size(items: usize, multiply_adds_per_item: usize) -> usize {
    let least = (1usize << 20).div_ceil(multiply_adds_per_item.max(1));
    items.div_ceil(4 * threads()).max(least).max(1)
}

/// Positions per tile of the widest kernel variant, which runs should be multiples of.
pub(super) const TILE: usize = 24;

/// What one gather needs besides the input, its positions and its output rows.
pub(super) struct Plan<'a> {
    /// Where each (channel, tap) pair reads, relative to a position's start: the kernels run one
    /// flat loop over them (the weights are packed in the same order).
    pub(super) reads: Vec<usize>,
    pub(super) weights: &'a [f32],
    pub(super) padded_outputs: usize,
}

impl<'a> Plan<'a> {
    /// For `channels` planes of `plane` values, read at each of `taps`.
    pub(super) fn new(
        channels: usize,
        plane: usize,
        taps: &[usize],
        weights: &'a [f32],
        padded_outputs: usize,
    ) -> Plan<'a> {
        Plan { reads: channel_tap_reads(channels, plane, taps), weights, padded_outputs }
    }
}

/// Where each (channel, tap) pair reads in `channels` planes of `plane` values, channel-major.
pub(super) fn channel_tap_reads(channels: usize, plane: usize, taps: &[usize]) -> Vec<usize> {
    (0..channels).flat_map(|ic| taps.iter().map(move |tap| ic * plane + tap)).collect()
}
