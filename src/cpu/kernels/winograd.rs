//! Winograd's minimal filtering (Lavin & Gray, "Fast Algorithms for Convolutional Neural
//! Networks", 2016), F(m×m, r×r): an m×m block of outputs from an (m+r−1)×(m+r−1) tile of input
//! for (m+r−1)² multiplies per input–output channel pair instead of m²r². For the stride-1 3×3
//! convolutions (and their input gradients) F(4×4, 3×3): 36 instead of 144 (F(2×2, 3×3): 16
//! instead of 36, where the grid is not of 4×4 blocks); for the 2×2 phases of the stride-2
//! transposed convolutions (and the input gradients of the stride-2 convolutions) F(4×4, 2×2):
//! 25 instead of 64 (F(2×2, 2×2): 9 instead of 16). A stride-2 4×4 convolution (or any of 2 or 3
//! taps per stride) is one of 2×2 taps over its input planes split by row and column phase, four
//! times the channels. Each tile of the input is transformed, each of the (m+r−1)² transformed
//! positions is then a 1×1 convolution over channels on the row kernel, and its outputs are
//! transformed back with the bias, activation, residual and gate on the way. This pays where
//! multiplies are the limit: the browser's 4-lane wasm kernels. The larger tiles round more (a
//! few 1e-6 relative, against 1e-7 for the direct kernels; see the tests).

use super::execute::pad;
use super::fused::Fused;
use super::kernel::{Kernel, Tiling};
use super::layout::{Layout, Padded, Plan, Position, Shape4, SharedOut, Target, task_size};
use crate::cpu::parallel::{for_each_index, threads};

/// F(M×M, R×R), `A` = M + R − 1: the input tile goes through Bᵀ down its columns and along its
/// rows (Bᵀ d B), the kernel through G (G g Gᵀ), their product back through Aᵀ (Aᵀ m A). For a
/// correlation: y(i) = Σₖ d(i + k) g(k). From the Toom–Cook interpolation on A − 1 points and ∞
/// (Bᵀ's rows: the coefficients of the products of x − p over all points p but one; G's: a
/// point's powers over the product of its differences to the others; Aᵀ's columns: a point's
/// powers). Bᵀ and Aᵀ are written out as the few additions they factor into: as matrices, in
/// loops the compiler did not unroll, their coefficients cost multiplies and branches.
trait Transform<const A: usize, const R: usize, const M: usize> {
    const KERNEL: [[f32; R]; A];
    /// Bᵀ d, for one line of a tile.
    fn input(d: [Lanes; A]) -> [Lanes; A];
    /// Aᵀ m, for one line of a tile's products.
    fn output(m: [Lanes; A]) -> [Lanes; M];
}

/// F(2×2, 3×3) on the points 0, 1, −1, ∞: Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],
/// Aᵀ = [1 1 1 0; 0 1 −1 −1].
struct F2x3;

impl Transform<4, 3, 2> for F2x3 {
    const KERNEL: [[f32; 3]; 4] =
        [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
    #[inline(always)]
    fn input([d0, d1, d2, d3]: [Lanes; 4]) -> [Lanes; 4] {
        [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
    }
    #[inline(always)]
    fn output([m0, m1, m2, m3]: [Lanes; 4]) -> [Lanes; 2] {
        [m0 + m1 + m2, m1 - m2 - m3]
    }
}

/// F(2×2, 2×2) on the points 0, 1, ∞: Bᵀ = [1 −1 0; 0 1 0; 0 −1 1], Aᵀ = [1 1 0; 0 1 1];
/// integer coefficients, so both transforms are exact.
struct F2x2;

impl Transform<3, 2, 2> for F2x2 {
    const KERNEL: [[f32; 2]; 3] = [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    #[inline(always)]
    fn input([d0, d1, d2]: [Lanes; 3]) -> [Lanes; 3] {
        [d0 - d1, d1, d2 - d1]
    }
    #[inline(always)]
    fn output([m0, m1, m2]: [Lanes; 3]) -> [Lanes; 2] {
        [m0 + m1, m1 + m2]
    }
}

/// F(4×4, 3×3) on the points 0, ±1, ±2, ∞ (Lavin & Gray's): Bᵀ = [4 0 −5 0 1 0;
/// 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
/// Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
struct F4x3;

impl Transform<6, 3, 4> for F4x3 {
    const KERNEL: [[f32; 3]; 6] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    #[inline(always)]
    fn input([d0, d1, d2, d3, d4, d5]: [Lanes; 6]) -> [Lanes; 6] {
        let (sum, difference) = ((d1 + d2) * 4.0, (d1 - d2) * 4.0);
        let (odd, even) = ((d3 - d1) * 2.0, d4 - d2);
        [
            d0 * 4.0 - d2 * 5.0 + d4,
            d4 + d3 - sum,
            d4 - d3 + difference,
            even + odd,
            even - odd,
            d1 * 4.0 - d3 * 5.0 + d5,
        ]
    }
    #[inline(always)]
    fn output([m0, m1, m2, m3, m4, m5]: [Lanes; 6]) -> [Lanes; 4] {
        let (a, b, c, e) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
        [m0 + a + c, b + e * 2.0, a + c * 4.0, b + e * 8.0 + m5]
    }
}

/// F(4×4, 2×2) on the points 0, ±1, 2, ∞ (of the sets of small points tried, the one that
/// rounded least with the fewest terms): Bᵀ = [2 −1 −2 1 0; 0 −2 −1 1 0; 0 2 −3 1 0;
/// 0 −1 0 1 0; 0 2 −1 −2 1], Aᵀ = [1 1 1 1 0; 0 1 −1 2 0; 0 1 1 4 0; 0 1 −1 8 1].
struct F4x2;

impl Transform<5, 2, 4> for F4x2 {
    const KERNEL: [[f32; 2]; 5] =
        [[0.5, 0.0], [-0.5, -0.5], [-1.0 / 6.0, 1.0 / 6.0], [1.0 / 6.0, 1.0 / 3.0], [0.0, 1.0]];
    #[inline(always)]
    fn input([d0, d1, d2, d3, d4]: [Lanes; 5]) -> [Lanes; 5] {
        let (b, a) = (d3 - d1, d3 - d2);
        [(d0 - d2) * 2.0 + b, a - d1 * 2.0, a + (d1 - d2) * 2.0, b, d4 - d2 - b * 2.0]
    }
    #[inline(always)]
    fn output([m0, m1, m2, m3, m4]: [Lanes; 5]) -> [Lanes; 4] {
        let (a, b) = (m1 + m2, m1 - m2);
        [m0 + a + m3, b + m3 * 2.0, a + m3 * 4.0, b + m3 * 8.0 + m4]
    }
}

/// Tiles transformed at a time: a vector of them on every kernel, each transform a few
/// vector additions.
const CHUNK: usize = 16;

/// One value of each of [`CHUNK`] tiles, added and scaled lane by lane.
#[derive(Clone, Copy)]
struct Lanes([f32; CHUNK]);

impl Lanes {
    const ZERO: Lanes = Lanes([0.0; CHUNK]);
}

impl std::ops::Add for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn add(self, other: Lanes) -> Lanes {
        Lanes(std::array::from_fn(|i| self.0[i] + other.0[i]))
    }
}

impl std::ops::Sub for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn sub(self, other: Lanes) -> Lanes {
        Lanes(std::array::from_fn(|i| self.0[i] - other.0[i]))
    }
}

impl std::ops::Mul<f32> for Lanes {
    type Output = Lanes;
    #[inline(always)]
    fn mul(self, factor: f32) -> Lanes {
        Lanes(self.0.map(|value| value * factor))
    }
}

/// `line` down the columns of `x` (A×A tiles) and then along the rows of the result, into `out`.
/// In place, as arrays this size returned by value are copied through memory.
#[inline(always)]
fn both_ways<const A: usize, const B: usize>(
    line: impl Fn([Lanes; A]) -> [Lanes; B],
    x: &[[Lanes; A]; A],
    half: &mut [[Lanes; A]; B],
    out: &mut [[Lanes; B]; B],
) {
    for col in 0..A {
        let column = line(std::array::from_fn(|a| x[a][col]));
        for (row, value) in half.iter_mut().zip(column) {
            row[col] = value;
        }
    }
    for (half, out) in half.iter().zip(out.iter_mut()) {
        *out = line(*half);
    }
}

/// A phase of a convolution (all of a stride-1 one, or one of a transposed one's) whose outputs
/// form a grid, each output reading the R×R input block one row and one column on from its
/// neighbour's.
pub(super) struct TiledPhase<'a> {
    /// Each grid row's offset in an output plane (its row times the plane's width).
    pub rows: Vec<usize>,
    /// Each grid column's column in an output plane.
    pub cols: Vec<usize>,
    /// Where the first output's block starts in a padded input plane.
    pub start: usize,
    /// The weights as the direct kernels take them, rows of padded outputs.
    pub weights: &'a [f32],
    /// Which of those rows is tap (a, b) of each channel the tiles read, `[channels][R][R]`.
    pub taps: &'a [usize],
}

impl TiledPhase<'_> {
    /// Tiles per sample, of `m`×`m` outputs.
    fn tiles(&self, m: usize) -> usize {
        self.rows.len() / m * (self.cols.len() / m)
    }

    /// Whether the grid is of whole `m`×`m` blocks.
    fn fits(&self, m: usize) -> bool {
        !self.rows.is_empty()
            && !self.cols.is_empty()
            && self.rows.len().is_multiple_of(m)
            && self.cols.len().is_multiple_of(m)
    }
}

/// Tiles per sample of the phase with fewest.
fn fewest_tiles(phases: &[TiledPhase], m: usize) -> usize {
    phases.iter().map(|phase| phase.tiles(m)).min().unwrap_or(0)
}

/// `out` = Σ `coefficients[k]` · `rows(k)`, for a constant row of a transform: inlined, a zero
/// costs nothing and ±1 no multiply (sums start at −0, which adding leaves exact).
#[inline(always)]
fn combine<'a, const N: usize>(
    coefficients: &[f32; N],
    rows: impl Fn(usize) -> &'a [f32],
    out: &mut [f32],
) {
    out.fill(-0.0);
    for (k, &coefficient) in coefficients.iter().enumerate() {
        if coefficient != 0.0 {
            out.iter_mut().zip(rows(k)).for_each(|(sum, value)| *sum += coefficient * value);
        }
    }
}

/// The kernel as the tiles' 1×1 convolutions take it, `[A²][channels][padded outputs]`: G g Gᵀ
/// of each channel's R×R taps, vectors over the outputs. Done on each call (where tiles pay, a
/// small part of the layer's work) rather than packed with the weights: each tile size would need
/// its own copy, 2.25 to 6.25 times the size of the weights.
fn transform_kernel<const A: usize, const R: usize, const M: usize, T: Transform<A, R, M>>(
    phase: &TiledPhase,
    channels: usize,
    opad: usize,
) -> Vec<f32> {
    assert_eq!(
        phase.taps.len(),
        channels * R * R,
        "a tiled phase's taps do not match its channels"
    );
    assert!(
        phase.taps.iter().all(|&row| (row + 1) * opad <= phase.weights.len()),
        "a tap lies outside the weights"
    );
    let mut transformed = Vec::with_capacity(A * A * channels * opad);
    let shared = SharedOut(transformed.as_mut_ptr());
    for_each_index(channels, |ic| {
        let tap =
            |a: usize, b: usize| &phase.weights[phase.taps[(ic * R + a) * R + b] * opad..][..opad];
        // G g, then (G g) Gᵀ.
        let mut half = vec![0.0; A * R * opad];
        for (p, coefficients) in T::KERNEL.iter().enumerate() {
            for b in 0..R {
                combine(coefficients, |a| tap(a, b), &mut half[(p * R + b) * opad..][..opad]);
            }
        }
        let mut row = vec![0.0; opad];
        for p in 0..A {
            for (q, coefficients) in T::KERNEL.iter().enumerate() {
                combine(coefficients, |b| &half[(p * R + b) * opad..][..opad], &mut row);
                // SAFETY: position p·A + q, channel ic: a row of the capacity that only this
                // task writes.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        row.as_ptr(),
                        shared.at(((p * A + q) * channels + ic) * opad),
                        opad,
                    )
                };
            }
        }
    });
    // SAFETY: every (position, channel) row was written above.
    unsafe { transformed.set_len(A * A * channels * opad) };
    transformed
}

/// Input and output channels a layer needs for tiles to pay.
const FEWEST_CHANNELS: usize = 16;

/// Bytes of transformed tiles (inputs and products) one task aims to keep in cache.
const GROUP_BYTES: usize = 1 << 19;

/// Tiles one task gives each 1×1 convolution, at least, in vectors: the kernels keep several
/// vectors of positions in registers, and a block they cannot fill is work thrown away.
const FEWEST_TILE_VECTORS: usize = 12;

/// Samples per task: enough to fill [`GROUP_BYTES`] and [`FEWEST_TILE_VECTORS`] (the
/// transformed positions' 1×1 convolutions then reuse each weight across more tiles), at
/// least one, and few enough for every thread to get work. `channels` are the tiles' (see
/// [`tiled_planes`]), in tiles of `m`×`m` outputs from A×A inputs.
fn group_size<const A: usize, const M: usize>(
    kernel: Kernel,
    n: usize,
    channels: usize,
    layout: &Layout,
    phases: &[TiledPhase],
) -> usize {
    let tiles = fewest_tiles(phases, M).max(1);
    let bytes = A * A * tiles * (channels + layout.outputs) * 4;
    let work = phases
        .iter()
        .map(|phase| phase.tiles(M) * A * A * channels * layout.outputs)
        .sum::<usize>();
    let filled = (FEWEST_TILE_VECTORS * kernel.lanes()).div_ceil(tiles);
    (GROUP_BYTES / bytes).max(filled).clamp(1, task_size(n, work))
}

/// The channels and the plane the tiles read in `c` padded planes split as `padded` says (a
/// strided convolution's, see `conv2d_tiles`): each plane of a row and column phase is a
/// channel, padded already.
fn tiled_planes(c: usize, padded: &Padded) -> (usize, Padded) {
    let [rows, columns] = padded.split;
    assert!(
        padded.size[0].is_multiple_of(rows) && padded.size[1].is_multiple_of(columns),
        "tiles read planes split into parts of one size"
    );
    (c * rows * columns, Padded { size: padded.part(), offset: [0, 0], split: [1, 1] })
}

/// Like `run`, for phases of `side`×`side` taps that go in tiles (`x` `[n, c, h, w]` padded by
/// `layout`): of 4×4 outputs where every grid is of whole 4×4 blocks and they pay, else of 2×2;
/// `None` where neither fits or `tiling` finds they do not pay: unless every thread gets a group
/// of samples (the direct kernels, which split samples, keep every core busy), it has
/// [`FEWEST_CHANNELS`] and its batch [`FEWEST_TILE_VECTORS`].
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    side: usize,
    tiling: Tiling,
    kernel: Kernel,
    x: &[f32],
    shape: Shape4,
    layout: &Layout,
    fused: Fused,
    phases: &[TiledPhase],
) -> Option<Vec<f32>> {
    fn pays<const A: usize, const M: usize>(
        kernel: Kernel,
        tiling: Tiling,
        [n, c, ..]: Shape4,
        layout: &Layout,
        phases: &[TiledPhase],
    ) -> bool {
        let (c, _) = tiled_planes(c, &layout.padded);
        let fits = !phases.is_empty() && phases.iter().all(|phase| phase.fits(M));
        fits && match tiling {
            Tiling::Never => false,
            Tiling::WherePays => {
                // Few channels leave the transforms as much work as the products saved, and
                // too few tiles in the batch leave the kernels' blocks part empty.
                let wide = c >= FEWEST_CHANNELS && layout.outputs >= FEWEST_CHANNELS;
                let tiles = n * fewest_tiles(phases, M);
                let filled = tiles >= FEWEST_TILE_VECTORS * kernel.lanes();
                wide && filled
                    && (threads() == 1
                        || n.div_ceil(group_size::<A, M>(kernel, n, c, layout, phases))
                            >= threads())
            }
            #[cfg(test)]
            Tiling::WhereItFits => true,
        }
    }
    let tiled = |large: bool| match (side, large) {
        (2, true) => pays::<5, 4>(kernel, tiling, shape, layout, phases)
            .then(|| run_with::<5, 2, 4, F4x2>(kernel, x, shape, layout, fused, phases)),
        (2, false) => pays::<3, 2>(kernel, tiling, shape, layout, phases)
            .then(|| run_with::<3, 2, 2, F2x2>(kernel, x, shape, layout, fused, phases)),
        (3, true) => pays::<6, 4>(kernel, tiling, shape, layout, phases)
            .then(|| run_with::<6, 3, 4, F4x3>(kernel, x, shape, layout, fused, phases)),
        (3, false) => pays::<4, 2>(kernel, tiling, shape, layout, phases)
            .then(|| run_with::<4, 3, 2, F2x3>(kernel, x, shape, layout, fused, phases)),
        _ => panic!("no tiles for {side}×{side} taps"),
    };
    tiled(true).or_else(|| tiled(false))
}

fn run_with<const A: usize, const R: usize, const M: usize, T: Transform<A, R, M>>(
    kernel: Kernel,
    x: &[f32],
    [n, c, h, w]: Shape4,
    layout: &Layout,
    fused: Fused,
    phases: &[TiledPhase],
) -> Vec<f32> {
    assert_eq!(x.len(), n * c * h * w, "input length does not match its shape");
    let (outputs, out_plane, opad) = (layout.outputs, layout.out_plane, layout.padded_outputs);
    let len = n * outputs * out_plane;
    fused.check(len);
    if len == 0 {
        return Vec::new();
    }
    let (channels, planes) = tiled_planes(c, &layout.padded);
    let [hp, wp] = planes.size;
    let mut writes = vec![0u32; out_plane];
    for phase in phases {
        assert!(phase.fits(M), "a tiled phase's grid is not of whole tiles");
        // The last tile's last read: R − 1 rows and columns past the last output's first.
        let (top, left) = (phase.start / wp, phase.start % wp);
        assert!(
            top + phase.rows.len() + R - 1 <= hp && left + phase.cols.len() + R - 1 <= wp,
            "a tile reads outside the padded plane"
        );
        phase.rows.iter().for_each(|row| phase.cols.iter().for_each(|col| writes[row + col] += 1));
    }
    assert!(
        writes.iter().all(|&count| count == 1),
        "the phases do not write each output position once"
    );
    let kernels: Vec<Vec<f32>> =
        phases.iter().map(|phase| transform_kernel::<A, R, M, T>(phase, channels, opad)).collect();

    let mut out = Vec::with_capacity(len);
    let shared = SharedOut(out.as_mut_ptr());
    let group = group_size::<A, M>(kernel, n, channels, layout, phases);
    let sample = c * h * w;
    for_each_index(n.div_ceil(group), |k| {
        let samples = k * group..((k + 1) * group).min(n);
        let values = samples.start * sample..samples.end * sample;
        let input = pad(
            &x[values.clone()],
            [samples.len(), c, h, w],
            &layout.padded,
            fused.input.slice(values),
            false,
        );
        for (phase, weights) in phases.iter().zip(&kernels) {
            let tiles =
                (samples.len() * phase.tiles(M)).next_multiple_of(CHUNK.max(kernel.lanes()));
            let transformed = transform_input::<A, R, M, T>(
                &input,
                channels,
                samples.len(),
                tiles,
                &planes,
                phase,
            );
            // One 1×1 convolution over channels per position, `[A²][outputs][tiles]`.
            let mut products: Vec<f32> = vec![0.0; A * A * outputs * tiles];
            let runs: Vec<Position> = (0..tiles)
                .step_by(kernel.lanes())
                .map(|t| Position { input: t, output: t })
                .collect();
            for (position, out) in products.chunks_mut(outputs * tiles).enumerate() {
                // Channel ic of a position is a plane of `tiles` values, read at one tap.
                let plan = Plan::new(
                    channels,
                    tiles,
                    &[0],
                    &weights[position * channels * opad..][..channels * opad],
                    opad,
                );
                let target = Target {
                    out: &SharedOut(out.as_mut_ptr()),
                    len: out.len(),
                    outputs,
                    out_plane: tiles,
                    step: 1,
                    fused: Fused::default(),
                };
                kernel.gather_rows(
                    &transformed[position * channels * tiles..][..channels * tiles],
                    &plan,
                    &runs,
                    &target,
                );
            }
            transform_output::<A, R, M, T>(
                &products,
                tiles,
                samples.clone(),
                phase,
                layout,
                fused,
                &shared,
            );
        }
    });
    // SAFETY: the phases wrote every value of the capacity (asserted above).
    unsafe { out.set_len(len) };
    out
}

/// Each tile's first read in its padded plane, tiles row by row.
fn corners(phase: &TiledPhase, width: usize, m: usize) -> impl Iterator<Item = usize> {
    let (tile_rows, tile_cols) = (phase.rows.len() / m, phase.cols.len() / m);
    (0..tile_rows)
        .flat_map(move |ti| (0..tile_cols).map(move |tj| phase.start + m * (ti * width + tj)))
}

/// Bᵀ d B for every tile of a phase in `samples` samples of `c` padded planes: `[A²][c][tiles]`,
/// each sample's tiles row by row, then tiles that repeat the first up to `tiles`.
fn transform_input<const A: usize, const R: usize, const M: usize, T: Transform<A, R, M>>(
    input: &[f32],
    c: usize,
    samples: usize,
    tiles: usize,
    padded: &Padded,
    phase: &TiledPhase,
) -> Vec<f32> {
    let (plane, width) = (padded.plane(), padded.size[1]);
    let corners: Vec<usize> = corners(phase, width, M).collect();
    let count = samples * corners.len();
    assert!(
        count <= tiles && tiles.is_multiple_of(CHUNK) && input.len() == samples * c * plane,
        "tiles do not match their input"
    );
    // Each tile's first read in channel 0 of its sample.
    let starts: Vec<usize> = (0..tiles)
        .map(|t| {
            if t < count {
                t / corners.len() * c * plane + corners[t % corners.len()]
            } else {
                corners[0]
            }
        })
        .collect();
    // The last read of any tile lies inside its plane (`run_with` asserted it of every corner).
    assert!(
        corners.iter().all(|&corner| corner + (A - 1) * (width + 1) < plane),
        "a tile reads outside its plane"
    );
    let mut transformed = vec![0.0; A * A * c * tiles];
    let (mut d, mut half, mut v) =
        ([[Lanes::ZERO; A]; A], [[Lanes::ZERO; A]; A], [[Lanes::ZERO; A]; A]);
    for ic in 0..c {
        for first in (0..tiles).step_by(CHUNK) {
            let starts: &[usize; CHUNK] = starts[first..][..CHUNK].try_into().unwrap();
            for (a, row) in d.iter_mut().enumerate() {
                for (b, values) in row.iter_mut().enumerate() {
                    for (value, start) in values.0.iter_mut().zip(starts) {
                        // SAFETY: start + ic·plane + a·width + b lies in sample
                        // start / (c·plane)'s plane ic (asserted above).
                        *value =
                            unsafe { *input.get_unchecked(start + ic * plane + a * width + b) };
                    }
                }
            }
            both_ways(T::input, &d, &mut half, &mut v);
            for (p, row) in v.iter().enumerate() {
                for (q, values) in row.iter().enumerate() {
                    transformed[((p * A + q) * c + ic) * tiles + first..][..CHUNK]
                        .copy_from_slice(&values.0);
                }
            }
        }
    }
    transformed
}

/// Aᵀ m A for every tile's products `[A²][outputs][tiles]`: its M×M outputs, through the bias,
/// pointwise function, residual and gate, into `out` (`NCHW`).
#[allow(clippy::too_many_arguments)]
fn transform_output<const A: usize, const R: usize, const M: usize, T: Transform<A, R, M>>(
    products: &[f32],
    tiles: usize,
    samples: std::ops::Range<usize>,
    phase: &TiledPhase,
    layout: &Layout,
    fused: Fused,
    out: &SharedOut,
) {
    let (outputs, out_plane) = (layout.outputs, layout.out_plane);
    let tile_cols = phase.cols.len() / M;
    // Where each tile's outputs go in channel 0.
    let per_sample = phase.tiles(M);
    let targets: Vec<[[usize; M]; M]> = samples
        .flat_map(|sample| {
            (0..per_sample).map(move |tile| {
                let (ti, tj) = (tile / tile_cols, tile % tile_cols);
                std::array::from_fn(|u| {
                    std::array::from_fn(|v| {
                        sample * outputs * out_plane
                            + phase.rows[M * ti + u]
                            + phase.cols[M * tj + v]
                    })
                })
            })
        })
        .collect();
    assert!(
        targets.len() <= tiles && products.len() == A * A * outputs * tiles,
        "products do not match their tiles"
    );
    let (mut m, mut half, mut block) =
        ([[Lanes::ZERO; A]; A], [[Lanes::ZERO; A]; M], [[Lanes::ZERO; M]; M]);
    for oc in 0..outputs {
        for (first, targets) in (0..tiles).step_by(CHUNK).zip(targets.chunks(CHUNK)) {
            for (p, row) in m.iter_mut().enumerate() {
                for (q, values) in row.iter_mut().enumerate() {
                    values.0.copy_from_slice(
                        &products[((p * A + q) * outputs + oc) * tiles + first..][..CHUNK],
                    );
                }
            }
            both_ways(T::output, &m, &mut half, &mut block);
            for (u, row) in block.iter_mut().enumerate() {
                for (v, values) in row.iter_mut().enumerate() {
                    fused.apply_channel(&mut values.0, oc);
                    for (value, target) in values.0.iter().zip(targets) {
                        let index = target[u][v] + oc * out_plane;
                        // SAFETY: inside the output (sample < n, channel < outputs, position <
                        // out_plane: `run_with` counted every position's writes in a vector of
                        // that length), and each position belongs to one tile of one phase,
                        // computed by one task.
                        unsafe { *out.at(index) = fused.finish(*value, index) };
                    }
                }
            }
        }
    }
}
