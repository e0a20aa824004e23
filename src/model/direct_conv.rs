//! Direct 2-D convolution kernels for the CPU backend, on plain `NCHW` slices.
//!
//! burn flex runs every convolution as im2col + GEMM per sample; on our small maps (4×4 to
//! 32×32) and 3-channel layers that leaves it 2–8× behind PyTorch's oneDNN (bench/RESULTS.md's
//! layer profile). These kernels compute each output directly: a tile of output positions times
//! a block of output channels stays in vector registers while the loop runs over input channels
//! and kernel taps, reading each input value once per tile as a broadcast and each weight vector
//! once per tile. Stride-1 layers whose rows are whole vectors instead keep runs of positions ×
//! a few channels in registers and write `NCHW` rows directly. A transposed convolution runs as
//! one dense convolution per output phase (for stride 2, four 2×2 ones), so it never multiplies
//! by the zeros of an upsampled input.
//!
//! Vectors are AVX-512 or AVX2 + FMA where the CPU has them (chosen at run time), wasm SIMD in
//! the browser's CPU module, and plain arrays elsewhere.

/// Stride and zero padding of a 2-D convolution, per axis (rows, columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

/// `[batch, channels, height, width]`.
pub type Shape4 = [usize; 4];

/// What a convolution does besides its multiply-adds, fused so that none costs a pass of its
/// own: a map on its input as it is read, and on each output value as it is written its
/// channel's bias, a residual, a pointwise function, a gate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fused<'a> {
    pub input: InputMap<&'a [f32]>,
    pub bias: Option<&'a [f32]>,
    /// Added to the output, which it matches in shape: a residual block's skip connection.
    /// Only with the identity `pointwise`.
    pub residual: Option<&'a [f32]>,
    /// The activation that follows the layer.
    pub pointwise: Pointwise,
    /// Output values are zeroed where this tensor of the output's shape is not positive: the
    /// derivative of a ReLU on the input of the operation whose input gradient this is.
    pub gate: Option<&'a [f32]>,
}

/// What a convolution's input goes through as it is read; `O` holds the outputs a derivative
/// is taken at (values here, tensors in `cpu_conv`).
#[derive(Clone, Copy, Debug, Default)]
pub enum InputMap<O> {
    #[default]
    AsIs,
    /// A ReLU (the activation before the layer).
    Relu,
    /// Times the derivative of a pointwise function at its outputs (of the input's shape): the
    /// gradient that an activation fused into a layer passes back, read by the convolution that
    /// gives the layer's input gradient.
    Derivative(Pointwise, O),
}

impl<O> InputMap<O> {
    /// The same map with its outputs held as `f` gives them.
    pub fn map<P>(self, f: impl FnOnce(O) -> P) -> InputMap<P> {
        match self {
            InputMap::AsIs => InputMap::AsIs,
            InputMap::Relu => InputMap::Relu,
            InputMap::Derivative(pointwise, outputs) => InputMap::Derivative(pointwise, f(outputs)),
        }
    }

    pub fn as_ref(&self) -> InputMap<&O> {
        match self {
            InputMap::AsIs => InputMap::AsIs,
            InputMap::Relu => InputMap::Relu,
            InputMap::Derivative(pointwise, outputs) => InputMap::Derivative(*pointwise, outputs),
        }
    }
}

impl<'a> InputMap<&'a [f32]> {
    /// The map on `range` of the input.
    fn slice(self, range: std::ops::Range<usize>) -> InputMap<&'a [f32]> {
        match self {
            InputMap::Derivative(pointwise, outputs) => {
                InputMap::Derivative(pointwise, &outputs[range])
            }
            map => map,
        }
    }

    /// Applies the map to `values`, at `at` in the input.
    fn apply(self, values: &mut [f32], at: usize) {
        match self {
            InputMap::AsIs => {}
            // NaN stays NaN, as in burn's ReLU.
            InputMap::Relu => values.iter_mut().for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v }),
            InputMap::Derivative(pointwise, outputs) => {
                pointwise.scale_gradient(values, &outputs[at..at + values.len()])
            }
        }
    }
}

impl Fused<'_> {
    /// Bias and pointwise function on one position's values of every output channel.
    fn apply_row(&self, row: &mut [f32]) {
        if let Some(bias) = self.bias {
            row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        }
        self.pointwise.apply(row);
    }

    /// Bias and pointwise function on values of output channel `channel`.
    fn apply_channel(&self, values: &mut [f32], channel: usize) {
        let bias = self.bias.map_or(0.0, |bias| bias[channel]);
        values.iter_mut().for_each(|v| *v += bias);
        self.pointwise.apply(values);
    }

    /// Residual and gate on a value at `index` of the output.
    fn finish(&self, value: f32, index: usize) -> f32 {
        let value = self.residual.map_or(value, |r| value + r[index]);
        match self.gate {
            Some(gate) if gate[index] <= 0.0 => 0.0,
            _ => value,
        }
    }

    /// Panics unless residual and gate have the output's length `len`, and a residual comes
    /// with the identity pointwise function.
    fn check(&self, len: usize) {
        assert!(
            self.residual.is_none_or(|r| r.len() == len)
                && self.gate.is_none_or(|g| g.len() == len),
            "a residual or gate does not match the output"
        );
        assert!(
            self.residual.is_none() || self.pointwise == Pointwise::Identity,
            "a residual is added after the pointwise function, which must be the identity"
        );
    }
}

/// An activation fused into a convolution's output.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Pointwise {
    #[default]
    Identity,
    /// x for x > 0, else slope · x; slope ≥ 0 (0 is ReLU), so the output's sign is the input's
    /// and the gradient can be read off the output.
    LeakyRelu(f32),
    Tanh,
}

// Each method matches once and then loops, so that the loops vectorise.
impl Pointwise {
    /// `x ← f(x)`.
    pub fn apply(self, values: &mut [f32]) {
        match self {
            Pointwise::Identity => {}
            Pointwise::LeakyRelu(slope) => {
                values.iter_mut().for_each(|x| *x = if *x > 0.0 { *x } else { slope * *x })
            }
            Pointwise::Tanh => values.iter_mut().for_each(|x| *x = x.tanh()),
        }
    }

    /// `grad ← grad · f′(x)`, from the function's outputs `y = f(x)`.
    fn scale_gradient(self, grad: &mut [f32], outputs: &[f32]) {
        let pairs = grad.iter_mut().zip(outputs);
        match self {
            Pointwise::Identity => {}
            Pointwise::LeakyRelu(slope) => {
                pairs.for_each(|(g, y)| *g = if *y > 0.0 { *g } else { slope * *g })
            }
            Pointwise::Tanh => pairs.for_each(|(g, y)| *g *= 1.0 - y * y),
        }
    }
}

/// `grad` times `f′` at every output `outputs` of `f`, in place (the gradient a fused activation
/// passes back).
pub fn scale_by_derivative(pointwise: Pointwise, grad: &mut [f32], outputs: &[f32]) {
    assert_eq!(grad.len(), outputs.len(), "a gradient must match the output it belongs to");
    let chunk = grad.len().div_ceil(4 * threads()).max(1 << 14);
    for_each_chunk(grad, chunk, |k, part| {
        pointwise.scale_gradient(part, &outputs[k * chunk..][..part.len()])
    });
}

/// Which vector instructions the convolution kernels use here: `avx512`, `avx2` or `portable`
/// (wasm SIMD in the browser's modules).
pub fn kernels_in_use() -> &'static str {
    Kernel::detect().name()
}

/// A convolution's weights `[o, c, kh, kw]` rearranged for the kernels (pack once per layer).
pub fn pack_conv2d(weight: &[f32], [o, c, kh, kw]: Shape4) -> Vec<f32> {
    assert_eq!(weight.len(), o * c * kh * kw, "conv2d weight length does not match its shape");
    pack(o, c, kh * kw, |oc, ic, t| weight[((oc * c + ic) * kh + t / kw) * kw + t % kw])
}

/// A transposed convolution's weights `[c, o, kh, kw]` rearranged for the kernels: one block
/// per output phase (see `conv_transpose2d`).
pub fn pack_conv_transpose2d(
    weight: &[f32],
    [c, o, kh, kw]: Shape4,
    [sh, sw]: [usize; 2],
) -> Vec<f32> {
    assert_eq!(
        weight.len(),
        c * o * kh * kw,
        "conv_transpose2d weight length does not match its shape"
    );
    let mut phases = Vec::new();
    for ry in 0..sh {
        for rx in 0..sw {
            let (ty, tx) = (phase_taps(kh, sh, ry), phase_taps(kw, sw, rx));
            phases.push(pack(o, c, ty * tx, |oc, ic, t| {
                weight[((ic * o + oc) * kh + ry + sh * (t / tx)) * kw + rx + sw * (t % tx)]
            }));
        }
    }
    phases.concat()
}

/// Where a convolution goes in tiles: the side of its taps and its stride, for a square kernel of
/// 2 or 3 taps per stride. A stride-s layer reads its input planes split by row and column phase
/// (see `Padded`) as a stride-1 one of c·s² channels: output (y, x) reads tap (s·a + py,
/// s·b + px) from row y + a, column x + b of the plane of phase (py, px).
fn conv2d_tiles([kh, kw]: [usize; 2], [sh, sw]: [usize; 2]) -> Option<(usize, usize)> {
    (kh == kw && sh == sw && kh.is_multiple_of(sh) && matches!(kh / sh, 2 | 3))
        .then_some((kh / sh, sh))
}

/// The side of a transposed convolution's phases where they go in tiles: all 2×2 or all 3×3.
fn phase_tile_side([kh, kw]: [usize; 2], [sh, sw]: [usize; 2]) -> Option<usize> {
    let side = phase_taps(kh, sh, 0);
    let square = (0..sh).all(|ry| phase_taps(kh, sh, ry) == side)
        && (0..sw).all(|rx| phase_taps(kw, sw, rx) == side);
    (matches!(side, 2 | 3) && square).then_some(side)
}

/// A convolution: `x` is `[n, c, h, w]`, `packed` the weights `[o, c, kh, kw]` through
/// [`pack_conv2d`]; returns `[n, o, h', w']`.
pub fn conv2d(
    x: &[f32],
    x_shape: Shape4,
    packed: &[f32],
    weight_shape: Shape4,
    fused: Fused,
    geometry: Geometry,
) -> (Vec<f32>, Shape4) {
    let kernel = Kernel::detect();
    conv2d_on(kernel, kernel.tiling(), x, x_shape, packed, weight_shape, fused, geometry)
}

#[allow(clippy::too_many_arguments)]
fn conv2d_on(
    kernel: Kernel,
    tiling: Tiling,
    x: &[f32],
    x_shape: Shape4,
    packed: &[f32],
    weight_shape: Shape4,
    fused: Fused,
    geometry: Geometry,
) -> (Vec<f32>, Shape4) {
    let [n, c, h, w] = x_shape;
    let [o, wc, kh, kw] = weight_shape;
    assert_eq!(c, wc, "conv2d: input has {c} channels, weight expects {wc}");
    assert!(
        packed.len() == c * kh * kw * padded_outputs(o),
        "conv2d: weights not packed by pack_conv2d for {weight_shape:?}"
    );
    // A strided layer reads its input from planes split by column where that makes its rows
    // whole vectors of consecutive reads, for the row kernel (see `Padded`).
    let reads = |columns| Reads::of("conv2d", [h, w], [kh, kw], geometry, columns);
    let split = (geometry.stride[1] > 1)
        .then(|| reads(geometry.stride[1]))
        .map(|split| (split.template(), split));
    let (template, reads) = match split {
        Some((template, split)) if RowPhase::of(&template, kernel.lanes()).is_some() => {
            (template, split)
        }
        _ => {
            let plain = reads(1);
            (plain.template(), plain)
        }
    };
    let [ho, wo] = reads.out;
    let layout = Layout {
        outputs: o,
        padded_outputs: padded_outputs(o),
        padded: reads.padded,
        out_plane: ho * wo,
    };
    if let Some((side, split)) = conv2d_tiles([kh, kw], geometry.stride)
        && tiling != Tiling::Never
        && reads.padded.size.iter().all(|size| size.is_multiple_of(split))
    {
        // Output (y, x) reads from row y, column x on of each plane of a phase; channel
        // (ic, py, px) of those planes has tap (a, b) at tap (s·a + py, s·b + px).
        let layout = Layout { padded: Padded { split: [split; 2], ..reads.padded }, ..layout };
        let taps: Vec<usize> = (0..c * split * split)
            .flat_map(|part| {
                let (ic, py, px) = (part / (split * split), part / split % split, part % split);
                (0..side * side).map(move |t| {
                    (ic * kh + split * (t / side) + py) * kw + split * (t % side) + px
                })
            })
            .collect();
        let phase = TiledPhase {
            rows: (0..ho).map(|y| y * wo).collect(),
            cols: (0..wo).collect(),
            start: 0,
            weights: packed,
            taps: &taps,
        };
        if let Some(out) = winograd::run(side, tiling, kernel, x, x_shape, &layout, fused, &[phase])
        {
            return (out, [n, o, ho, wo]);
        }
    }
    (
        run(
            kernel,
            x,
            [n, c, h, w],
            &layout,
            fused,
            &[Phase { taps: reads.taps, weights: packed, template }],
        ),
        [n, o, ho, wo],
    )
}

/// Where a convolution reads its zero-padded input: the padded planes, the output size, each
/// tap's offset in a padded plane, and each output position's start there (row-major).
struct Reads {
    padded: Padded,
    out: [usize; 2],
    taps: Vec<usize>,
    starts: Vec<usize>,
}

impl Reads {
    /// `columns` is 1, or the column stride with planes split by column (see `Padded`).
    fn of(
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
    fn template(&self) -> Vec<Position> {
        self.starts.iter().enumerate().map(|(output, &input)| Position { input, output }).collect()
    }
}

/// A sample's zero-padded input planes: `size` (rows, columns) with the input at `offset`. With
/// `split` other than `[1, 1]` each plane is stored as `split[0]·split[1]` planes of every
/// `split[0]`-th row and `split[1]`-th column (row phase major), so that the reads of a strided
/// layer's consecutive outputs are consecutive: the row kernel's planes split by the column
/// stride, and the tiles' by both strides (see `winograd`).
#[derive(Clone, Copy, Debug)]
struct Padded {
    size: [usize; 2],
    offset: [usize; 2],
    split: [usize; 2],
}

impl Padded {
    /// The height and width of one plane of a row and column phase.
    fn part(&self) -> [usize; 2] {
        [self.size[0].div_ceil(self.split[0]), self.size[1].div_ceil(self.split[1])]
    }

    fn plane(&self) -> usize {
        let [height, width] = self.part();
        self.split[0] * self.split[1] * height * width
    }

    /// Where padded row `y`, column `x` lies in a plane.
    fn at(&self, y: usize, x: usize) -> usize {
        let ([rows, columns], [height, width]) = (self.split, self.part());
        ((y % rows * columns + x % columns) * height + y / rows) * width + x / columns
    }
}

/// A transposed convolution: `x` is `[n, c, h, w]`, `packed` the weights `[c, o, kh, kw]`
/// through [`pack_conv_transpose2d`]; the output is `[n, o, out_size[0], out_size[1]]` (which
/// fixes the output padding).
pub fn conv_transpose2d(
    x: &[f32],
    x_shape: Shape4,
    packed: &[f32],
    weight_shape: Shape4,
    fused: Fused,
    geometry: Geometry,
    out_size: [usize; 2],
) -> (Vec<f32>, Shape4) {
    let kernel = Kernel::detect();
    conv_transpose2d_on(
        kernel,
        kernel.tiling(),
        x,
        x_shape,
        packed,
        weight_shape,
        fused,
        geometry,
        out_size,
    )
}

#[allow(clippy::too_many_arguments)]
fn conv_transpose2d_on(
    kernel: Kernel,
    tiling: Tiling,
    x: &[f32],
    x_shape: Shape4,
    packed: &[f32],
    weight_shape: Shape4,
    fused: Fused,
    geometry: Geometry,
    out_size: [usize; 2],
) -> (Vec<f32>, Shape4) {
    let [n, c, h, w] = x_shape;
    let [wc, o, kh, kw] = weight_shape;
    assert_eq!(c, wc, "conv_transpose2d: input has {c} channels, weight expects {wc}");
    let ([sh, sw], [ph, pw]) = (geometry.stride, geometry.padding);
    let [ho, wo] = out_size;
    // Output row Y takes kernel rows ky ≡ (Y + p) mod s, from input row (Y + p − ky) / s. For a
    // phase r = (Y + p) mod s that is input row m − t for ky = r + s·t, with m = ⌊(Y + p) / s⌋:
    // a dense convolution over the input with the phase's taps.
    let rows = Axis::new(h, ho, kh, sh, ph);
    let cols = Axis::new(w, wo, kw, sw, pw);
    let padded = [rows.lead + h + rows.trail, cols.lead + w + cols.trail];
    let opad = padded_outputs(o);
    let layout = Layout {
        outputs: o,
        padded_outputs: opad,
        padded: Padded { size: padded, offset: [rows.lead, cols.lead], split: [1, 1] },
        out_plane: ho * wo,
    };

    let mut phases = Vec::new();
    let mut rest = packed;
    for ry in 0..sh {
        for rx in 0..sw {
            // A phase with no taps (kernel narrower than the stride) still writes its outputs
            // (bias and what else is fused).
            let (ty, tx) = (phase_taps(kh, sh, ry), phase_taps(kw, sw, rx));
            assert!(
                rest.len() >= c * ty * tx * opad,
                "conv_transpose2d: weights not packed by pack_conv_transpose2d for {weight_shape:?}"
            );
            let (weights, next) = rest.split_at(c * ty * tx * opad);
            rest = next;
            phases.push(Phase {
                taps: (0..ty)
                    .flat_map(|a| (0..tx).map(move |b| (rows.lead - a) * padded[1] + cols.lead - b))
                    .collect(),
                weights,
                template: rows
                    .phase(ry)
                    .flat_map(|(y, my)| {
                        cols.phase(rx).map(move |(x, mx)| Position {
                            input: my * padded[1] + mx,
                            output: y * wo + x,
                        })
                    })
                    .collect(),
            });
        }
    }
    assert!(
        rest.is_empty(),
        "conv_transpose2d: weights not packed by pack_conv_transpose2d for {weight_shape:?}"
    );
    if let Some(side) = phase_tile_side([kh, kw], [sh, sw])
        && tiling != Tiling::Never
    {
        // A phase's outputs read consecutive input rows (m) and columns: its first output's block
        // starts side − 1 before its first tap's read, and its tap (a, b) is the correlation's
        // (side − 1 − a, side − 1 − b) (the taps read backwards).
        let taps: Vec<usize> = (0..c)
            .flat_map(|ic| (0..side * side).rev().map(move |t| ic * side * side + t))
            .collect();
        let tiled_phases: Vec<TiledPhase> = (0..sh)
            .flat_map(|ry| (0..sw).map(move |rx| (ry, rx)))
            .zip(&phases)
            .map(|((ry, rx), phase)| {
                let (ys, xs): (Vec<_>, Vec<_>) =
                    (rows.phase(ry).collect(), cols.phase(rx).collect());
                let first = |axis: &[(usize, usize)], lead: usize| {
                    axis.first().map_or(0, |&(_, m)| m + lead + 1 - side)
                };
                let start = first(&ys, rows.lead) * padded[1] + first(&xs, cols.lead);
                TiledPhase {
                    rows: ys.iter().map(|&(y, _)| y * wo).collect(),
                    cols: xs.iter().map(|&(x, _)| x).collect(),
                    start,
                    weights: phase.weights,
                    taps: &taps,
                }
            })
            .collect();
        if let Some(out) =
            winograd::run(side, tiling, kernel, x, x_shape, &layout, fused, &tiled_phases)
        {
            return (out, [n, o, ho, wo]);
        }
    }
    (run(kernel, x, [n, c, h, w], &layout, fused, &phases), [n, o, ho, wo])
}

/// Gradient values per block of a weight gradient's sum (128 KB: in L2 cache, with room).
const WEIGHT_GRADIENT_BLOCK: usize = 1 << 15;

/// Positions per range of a weight gradient's sum, at least: each range adds a partial gradient
/// to write and add up, small next to this many positions' multiply-adds.
const RANGE_POSITIONS: usize = 4096;

/// The gradient of a convolution's weights `[o, c, kh, kw]` (`weight_shape`) from its input `x`
/// `[n, c, h, w]` and the gradient of its output, `grad` `[n, o, h', w']`: for each weight, the
/// sum over samples and output positions of the output's gradient times the input under that
/// tap. The forward kernel computes it with the roles swapped: its positions are the (input
/// channel, tap) pairs, its channels the samples, its taps the output positions, and its weights
/// the output gradient laid out position-major. A transposed convolution's weight gradient is
/// this with `x` and `grad` exchanged (it is the adjoint of that convolution).
pub fn conv2d_weight_gradient(
    x: &[f32],
    x_shape: Shape4,
    grad: &[f32],
    weight_shape: Shape4,
    geometry: Geometry,
) -> Vec<f32> {
    conv2d_weight_gradient_on(Kernel::detect(), x, x_shape, grad, weight_shape, geometry)
}

fn conv2d_weight_gradient_on(
    kernel: Kernel,
    x: &[f32],
    x_shape: Shape4,
    grad: &[f32],
    weight_shape: Shape4,
    geometry: Geometry,
) -> Vec<f32> {
    let [n, c, h, w] = x_shape;
    let [o, wc, kh, kw] = weight_shape;
    assert_eq!(c, wc, "conv2d weight gradient: input has {c} channels, weight expects {wc}");
    assert_eq!(
        x.len(),
        n * c * h * w,
        "conv2d weight gradient: input length does not match its shape"
    );
    let reads = Reads::of("conv2d weight gradient", [h, w], [kh, kw], geometry, 1);
    let out_plane = reads.starts.len();
    assert_eq!(
        grad.len(),
        n * o * out_plane,
        "conv2d weight gradient: output gradient does not match the output's shape"
    );
    let taps = reads.taps.len();
    let mut weight_grad = vec![0.0; o * c * taps];
    if n * out_plane == 0 || weight_grad.is_empty() {
        return weight_grad;
    }
    let plane = reads.padded.plane();
    let input = pad(x, x_shape, &reads.padded, InputMap::AsIs, true);
    let opad = padded_outputs(o);
    let pairs = channel_tap_reads(c, plane, &reads.taps);
    // Where each (sample, output position) starts reading: the sum runs over these.
    let starts = channel_tap_reads(n, c * plane, &reads.starts);
    // The sum runs in blocks of positions whose output-gradient rows (position-major, 128 KB)
    // each task transposes itself and reads while they are in its core's cache: transposed all
    // at once up front (8 MB at a DCGAN critic's first layer) they were streamed through memory
    // twice more, half of that layer's time. Tasks split the positions into up to four ranges,
    // each summed into a partial gradient of its own (as many as the positions alone decide, so
    // that the sum's rounding does not depend on the machine's threads), and the pairs into runs
    // long enough that a block's transpose costs little next to its multiply-adds.
    let block = (WEIGHT_GRADIENT_BLOCK / opad).max(1);
    let blocks = starts.len().div_ceil(block);
    let ranges = (starts.len() / RANGE_POSITIONS).clamp(1, 4);
    let blocks_per_range = blocks.div_ceil(ranges);
    let run_len = (task_size(pairs.len(), starts.len() * opad) * ranges)
        .max(4 * TILE)
        .next_multiple_of(TILE)
        .min(pairs.len().next_multiple_of(TILE));
    let runs = pairs.len().div_ceil(run_len);
    let mut partials = zeroed(ranges * runs * run_len * opad);
    for_each_chunk(&mut partials, run_len * opad, |task, partial| {
        let (range, run) = (task / runs, task % runs);
        let run_pairs = &pairs[run * run_len..((run + 1) * run_len).min(pairs.len())];
        let partial = &mut partial[..run_pairs.len() * opad];
        let mut rows = vec![0.0; block * opad];
        let mut sums = Vec::new();
        for b in range * blocks_per_range..((range + 1) * blocks_per_range).min(blocks) {
            let positions = b * block..((b + 1) * block).min(starts.len());
            let rows = &mut rows[..positions.len() * opad];
            position_major(grad, [o, out_plane], opad, positions.clone(), rows);
            let plan =
                Plan { reads: starts[positions].to_vec(), weights: rows, padded_outputs: opad };
            if b == range * blocks_per_range {
                kernel.gather(&input, &plan, run_pairs, partial);
            } else {
                sums.resize(partial.len(), 0.0);
                kernel.gather(&input, &plan, run_pairs, &mut sums);
                partial.iter_mut().zip(&sums).for_each(|(sum, value)| *sum += value);
            }
        }
    });
    // Row (channel, tap) → weight [o][channel][tap], one output channel per task: written in
    // order (a scatter down the columns on one thread took ~1 ms per layer), each value the sum
    // of the ranges' partial gradients, in range order.
    let per_range = runs * run_len * opad;
    for_each_chunk(&mut weight_grad, c * taps, |oc, row| {
        row.iter_mut().enumerate().for_each(|(pair, value)| {
            let at = pair * opad + oc;
            *value =
                (1..ranges).fold(partials[at], |sum, range| sum + partials[range * per_range + at]);
        })
    });
    weight_grad
}

/// Rows of `rows`, one per position `positions` of the flattened (sample, position) axis of
/// `grad` `[n, o, out_plane]`, each its `o` values (then `opad − o` left as they are), 16
/// positions at a time so that their rows stay in L1 while every channel is written.
fn position_major(
    grad: &[f32],
    [o, out_plane]: [usize; 2],
    opad: usize,
    positions: std::ops::Range<usize>,
    rows: &mut [f32],
) {
    let mut q = positions.start;
    for block in rows.chunks_mut(16 * opad) {
        let mut filled = 0;
        // A block may cross from one sample into the next.
        while filled < block.len() / opad {
            let (sample, p) = (q / out_plane, q % out_plane);
            let len = (block.len() / opad - filled).min(out_plane - p);
            let sample_grad = &grad[sample * o * out_plane..][..o * out_plane];
            for oc in 0..o {
                let from = &sample_grad[oc * out_plane + p..][..len];
                for (row, value) in block[filled * opad..].chunks_exact_mut(opad).zip(from) {
                    row[oc] = *value;
                }
            }
            filled += len;
            q += len;
        }
    }
}

/// Kernel taps of phase `r` along an axis: k = r, r + s, … below the kernel size.
fn phase_taps(kernel: usize, stride: usize, r: usize) -> usize {
    if r >= kernel { 0 } else { (kernel - r).div_ceil(stride) }
}

/// One axis of a transposed convolution: how far its phases reach outside the input.
struct Axis {
    output: usize,
    stride: usize,
    padding: usize,
    /// Rows of zeros needed before the input (the most taps any phase has, less one).
    lead: usize,
    /// Rows of zeros needed after it.
    trail: usize,
}

impl Axis {
    fn new(input: usize, output: usize, kernel: usize, stride: usize, padding: usize) -> Axis {
        let mut axis = Axis { output, stride, padding, lead: 0, trail: 0 };
        axis.lead =
            (0..stride).map(|r| phase_taps(kernel, stride, r)).max().unwrap_or(1).saturating_sub(1);
        let last = (0..output).map(|y| (y + padding) / stride).max().unwrap_or(0);
        axis.trail = (last + 1).saturating_sub(input);
        axis
    }

    /// The output rows of phase `r` and their `m`: tap t reads input row m − t, which is padded
    /// row m − t + lead.
    fn phase(&self, r: usize) -> impl Iterator<Item = (usize, usize)> + Clone + '_ {
        (0..self.output)
            .filter(move |y| (y + self.padding) % self.stride == r)
            .map(move |y| (y, (y + self.padding) / self.stride))
    }
}

/// One output position of a sample: where its first tap reads in the sample's padded input
/// plane, where it writes in an output plane.
#[derive(Clone, Copy, Debug)]
struct Position {
    input: usize,
    output: usize,
}

/// A dense convolution over the padded input covering some of the output positions.
struct Phase<'a> {
    /// Each tap's offset in a padded input plane.
    taps: Vec<usize>,
    /// `[channels][taps][padded outputs]`.
    weights: &'a [f32],
    /// The positions it computes in each sample.
    template: Vec<Position>,
}

/// Shapes shared by every phase of one call.
#[derive(Clone, Copy)]
struct Layout {
    outputs: usize,
    /// See [`padded_outputs`].
    padded_outputs: usize,
    padded: Padded,
    out_plane: usize,
}

/// Output channels rounded up to a whole block: 16 (one AVX-512 vector) for the few-channel
/// layers (RGB out), else 32.
fn padded_outputs(outputs: usize) -> usize {
    let block = if outputs <= 16 { 16 } else { 32 };
    outputs.div_ceil(block) * block
}

/// `[channels][taps][padded outputs]` from `weight(output, channel, tap)`.
fn pack(
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

/// Runs each phase over every sample's positions at once (so a weight block in cache serves
/// many samples), in parallel over runs of positions. Where the phase's positions form
/// whole-vector runs, on the row kernel, each task padding the samples it reads itself (while
/// they are in its core's cache, and without a parallel pass of its own); else on the channel
/// kernel over the batch padded once, whose position-major rows each run passes through the
/// bias and pointwise function and transposes into `NCHW`.
fn run(
    kernel: Kernel,
    x: &[f32],
    [n, c, h, w]: Shape4,
    layout: &Layout,
    fused: Fused,
    phases: &[Phase],
) -> Vec<f32> {
    assert_eq!(x.len(), n * c * h * w, "input length does not match its shape");
    let plane = layout.padded.plane();
    let (outputs, out_plane, opad) = (layout.outputs, layout.out_plane, layout.padded_outputs);
    let len = n * outputs * out_plane;
    fused.check(len);
    if len == 0 {
        return Vec::new();
    }
    // The phases' positions cover each output position exactly once, so every value is written
    // below and the output need not be zeroed first (a memset was ~2 % of a text step).
    let mut writes = vec![0u32; out_plane];
    phases.iter().flat_map(|phase| &phase.template).for_each(|p| writes[p.output] += 1);
    assert!(
        writes.iter().all(|&count| count == 1),
        "the phases do not write each output position once"
    );
    let mut out = Vec::with_capacity(len);
    let shared = SharedOut(out.as_mut_ptr());
    let mut padded_batch: Option<Vec<f32>> = None;
    assert!(
        phases.iter().flat_map(|phase| &phase.template).all(|p| p.output < out_plane),
        "a position writes outside its plane"
    );
    // Each phase's row runs (where it has them), and the multiply-adds one run costs.
    let row_phases: Vec<Option<(RowPhase, usize)>> = phases
        .iter()
        .map(|phase| {
            RowPhase::of(&phase.template, kernel.lanes())
                .map(|rows| (rows, c * phase.taps.len() * outputs * kernel.lanes()))
        })
        .collect();
    // A phase's row-kernel tasks hold whole samples (large batches) or not.
    let whole: Vec<bool> = row_phases
        .iter()
        .map(|rows| {
            rows.as_ref().is_some_and(|(rows, cost)| {
                task_size(n * rows.runs.len(), *cost) >= rows.runs.len()
            })
        })
        .collect();
    // The runs of `samples` in an input whose first sample is `base`.
    let vectors =
        |rows: &RowPhase, samples: std::ops::Range<usize>, base: usize| -> Vec<Position> {
            samples
                .flat_map(|i| {
                    rows.runs.iter().map(move |r| Position {
                        input: (i - base) * c * plane + r.input,
                        output: i * outputs * out_plane + r.output,
                    })
                })
                .collect()
        };
    let by_samples: Vec<(Plan, &RowPhase, usize)> = phases
        .iter()
        .zip(&row_phases)
        .zip(&whole)
        .filter_map(|((phase, rows), &whole)| {
            rows.as_ref().filter(|_| whole).map(|(rows, cost)| {
                (Plan::new(c, plane, &phase.taps, phase.weights, opad), rows, *cost)
            })
        })
        .collect();
    if !by_samples.is_empty() {
        // One parallel pass over groups of samples, each task padding its samples once (while
        // they are in its core's cache) for every phase it runs on them.
        let work: usize = by_samples.iter().map(|(_, rows, cost)| rows.runs.len() * cost).sum();
        let group = task_size(n, work);
        let sample = c * h * w;
        for_each_index(n.div_ceil(group), |k| {
            let (first, end) = (k * group, ((k + 1) * group).min(n));
            let samples = first * sample..end * sample;
            let input = pad(
                &x[samples.clone()],
                [end - first, c, h, w],
                &layout.padded,
                fused.input.slice(samples),
                false,
            );
            for (plan, rows, _) in &by_samples {
                let target =
                    Target { out: &shared, len, outputs, out_plane, step: rows.step, fused };
                kernel.gather_rows(&input, plan, &vectors(rows, first..end, first), &target);
            }
        });
    }

    for ((phase, rows), &whole) in phases.iter().zip(&row_phases).zip(&whole) {
        let per_sample = phase.template.len();
        if per_sample == 0 || whole {
            continue;
        }
        let plan = Plan::new(c, plane, &phase.taps, phase.weights, opad);
        if let Some((rows, cost)) = rows {
            // Tasks smaller than a sample (small batches) share the batch padded once.
            let input = padded_batch
                .get_or_insert_with(|| pad(x, [n, c, h, w], &layout.padded, fused.input, true));
            let vectors = vectors(rows, 0..n, 0);
            let part = task_size(vectors.len(), *cost);
            let target = Target { out: &shared, len, outputs, out_plane, step: rows.step, fused };
            for_each_index(vectors.len().div_ceil(part), |k| {
                kernel.gather_rows(
                    input,
                    &plan,
                    &vectors[k * part..((k + 1) * part).min(vectors.len())],
                    &target,
                )
            });
            continue;
        }
        let input: &[f32] = padded_batch
            .get_or_insert_with(|| pad(x, [n, c, h, w], &layout.padded, fused.input, true));
        let positions: Vec<usize> = (0..n)
            .flat_map(|i| phase.template.iter().map(move |p| i * c * plane + p.input))
            .collect();
        // Whole tiles keep the kernel's registers full. Each run applies the bias and pointwise
        // function to its rows and transposes them into `out` (with residual and gate) while
        // they are in cache, 16 positions at a time (their rows stay in L1 while every channel
        // is written).
        let run_len =
            task_size(positions.len(), c * phase.taps.len() * opad).next_multiple_of(TILE);
        for_each_index(positions.len().div_ceil(run_len), |k| {
            let first = k * run_len;
            let run = &positions[first..(first + run_len).min(positions.len())];
            let mut rows = vec![0.0; run.len() * opad];
            kernel.gather(input, &plan, run, &mut rows);
            rows.chunks_mut(opad).for_each(|row| fused.apply_row(&mut row[..outputs]));
            for (block_index, block) in rows.chunks(16 * opad).enumerate() {
                let mut targets = [0usize; 16];
                for (r, target) in targets.iter_mut().enumerate().take(block.len() / opad) {
                    let (i, j) = (
                        (first + block_index * 16 + r) / per_sample,
                        (first + block_index * 16 + r) % per_sample,
                    );
                    *target = i * outputs * out_plane + phase.template[j].output;
                }
                for oc in 0..outputs {
                    for (row, target) in block.chunks(opad).zip(targets) {
                        // SAFETY: `target + oc · out_plane` lies in `out` (every template
                        // output is inside its plane, checked above), and each position belongs
                        // to one run, so no two runs write the same value.
                        unsafe {
                            *shared.at(target + oc * out_plane) =
                                fused.finish(row[oc], target + oc * out_plane)
                        };
                    }
                }
            }
        });
    }
    // SAFETY: the phases wrote every value of the capacity (asserted above).
    unsafe { out.set_len(len) };
    out
}

/// `x` `[n, c, h, w]` through `map`, each plane placed in zeroed `padded` planes; in parallel
/// over planes when `parallel` and the batch is large.
fn pad(
    x: &[f32],
    [n, c, h, w]: Shape4,
    padded: &Padded,
    map: InputMap<&[f32]>,
    parallel: bool,
) -> Vec<f32> {
    if let InputMap::Derivative(_, outputs) = map {
        assert_eq!(outputs.len(), x.len(), "an input map's outputs do not match the input");
    }
    let ([hp, wp], [top, left]) = (padded.size, padded.offset);
    assert!(top + h <= hp && left + w <= wp, "the input does not fit its padded plane");
    let plane = padded.plane();
    let mut input = if parallel { zeroed(n * c * plane) } else { vec![0.0; n * c * plane] };
    let copy_plane = |i: usize, to_plane: &mut [f32]| {
        let columns = padded.split[1];
        let mut row = if padded.split == [1, 1] { Vec::new() } else { vec![0.0; w] };
        for y in 0..h {
            let at = (i * h + y) * w;
            let from = &x[at..][..w];
            if padded.split == [1, 1] {
                // Whole vectors at a time, inline: a `memcpy` call per row cost ~2 % of a text step.
                let to = &mut to_plane[padded.at(top + y, left)..][..w];
                let mut blocks = to.chunks_exact_mut(16);
                blocks.by_ref().zip(from.chunks_exact(16)).for_each(|(t, f)| t.copy_from_slice(f));
                blocks.into_remainder().copy_from_slice(from.chunks_exact(16).remainder());
                map.apply(to, at);
            } else {
                // Through a buffer the map applies to, then every `columns`-th value to each
                // plane of columns (of this row's row phase).
                row.copy_from_slice(from);
                map.apply(&mut row, at);
                for r in 0..columns {
                    let first = (r + columns - left % columns) % columns;
                    let to = &mut to_plane[padded.at(top + y, left + first)..];
                    to.iter_mut()
                        .zip(row.iter().skip(first).step_by(columns))
                        .for_each(|(t, v)| *t = *v);
                }
            }
        }
    };
    if parallel && input.len() >= 1 << 16 {
        for_each_chunk(&mut input, plane, copy_plane);
    } else {
        input.chunks_mut(plane).enumerate().for_each(|(i, padded)| copy_plane(i, padded));
    }
    input
}

/// A phase whose positions form runs of `lanes` that are consecutive in the input and a same
/// `step` apart in the output, for the row kernel: layers whose rows are whole vectors, step 1 for
/// a convolution (strided ones through planes split by column), the stride for a transposed
/// convolution's phase.
struct RowPhase {
    /// Where each run starts in a sample.
    runs: Vec<Position>,
    step: usize,
}

impl RowPhase {
    fn of(template: &[Position], lanes: usize) -> Option<RowPhase> {
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
struct Target<'a> {
    out: &'a SharedOut,
    len: usize,
    outputs: usize,
    out_plane: usize,
    /// How far apart a run's outputs are.
    step: usize,
    fused: Fused<'a>,
}

/// The output, written by several runs at once at disjoint positions.
struct SharedOut(*mut f32);

// SAFETY: runs write disjoint indices (see `run`), and `run` outlives them all.
unsafe impl Sync for SharedOut {}
unsafe impl Send for SharedOut {}

impl SharedOut {
    /// A method, not a field access, so that closures capture the whole (Sync) wrapper.
    fn at(&self, index: usize) -> *mut f32 {
        self.0.wrapping_add(index)
    }
}

/// Items per parallel task: a few tasks per thread balance the load, but none under ~2²⁰
/// multiply-adds, below which handing work to another thread costs more than it saves (the
/// text model at batch 1).
fn task_size(items: usize, multiply_adds_per_item: usize) -> usize {
    let least = (1usize << 20).div_ceil(multiply_adds_per_item.max(1));
    items.div_ceil(4 * threads()).max(least).max(1)
}

/// Positions per tile of the widest kernel variant, which runs should be multiples of.
const TILE: usize = 24;

/// What one gather needs besides the input, its positions and its output rows.
struct Plan<'a> {
    /// Where each (channel, tap) pair reads, relative to a position's start: the kernels run one
    /// flat loop over them (the weights are packed in the same order).
    reads: Vec<usize>,
    weights: &'a [f32],
    padded_outputs: usize,
}

impl<'a> Plan<'a> {
    /// For `channels` planes of `plane` values, read at each of `taps`.
    fn new(
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
fn channel_tap_reads(channels: usize, plane: usize, taps: &[usize]) -> Vec<usize> {
    (0..channels).flat_map(|ic| taps.iter().map(move |tap| ic * plane + tap)).collect()
}

#[cfg(any(not(target_family = "wasm"), feature = "threads"))]
pub(super) fn threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(all(target_family = "wasm", not(feature = "threads")))]
pub(super) fn threads() -> usize {
    1
}

#[cfg(any(not(target_family = "wasm"), feature = "threads"))]
pub(super) fn for_each_chunk(
    data: &mut [f32],
    chunk: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    use rayon::prelude::*;
    data.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
}

#[cfg(all(target_family = "wasm", not(feature = "threads")))]
pub(super) fn for_each_chunk(data: &mut [f32], chunk: usize, f: impl Fn(usize, &mut [f32])) {
    data.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
}

/// For each channel of `[n, c, l]` arrays `a` and `b`, Σ `term(a, b, channel)` over the values of
/// its `n` planes: a sum per plane, then over planes (two stages: the mean over 65,536 values
/// per channel of a DCGAN batch needs them to keep its digits); channels in parallel.
pub(super) fn channel_sums(
    [n, c, l]: [usize; 3],
    a: &[f32],
    b: &[f32],
    term: impl Fn(f32, f32, usize) -> f32 + Sync + Send,
) -> Vec<f32> {
    assert!(
        a.len() == n * c * l && b.len() == a.len(),
        "channel sums: arrays do not match their shape"
    );
    let mut sums = vec![0.0; c];
    let plane = |i: usize, ch: usize| (i * c + ch) * l..(i * c + ch + 1) * l;
    for_each_chunk(&mut sums, 1, |ch, sum| {
        sum[0] = (0..n)
            .map(|i| lane_sum(&a[plane(i, ch)], &b[plane(i, ch)], |x, y| term(x, y, ch)))
            .sum()
    });
    sums
}

/// Σ `term(a[j], b[j])` (a dot product, a channel's sums) in 16 partial sums, which run side by
/// side in vectors (one running sum waits on each add in turn: that made batch norm's and the
/// bias gradients' sums a tenth of GAN training).
pub(super) fn lane_sum(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut partial = [0.0f32; LANES];
    let (blocks_a, blocks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f32 =
        blocks_a.remainder().iter().zip(blocks_b.remainder()).map(|(x, y)| term(*x, *y)).sum();
    for (x, y) in blocks_a.zip(blocks_b) {
        for k in 0..LANES {
            partial[k] += term(x[k], y[k]);
        }
    }
    partial.iter().sum::<f32>() + rest
}

/// `len` zeros. Large buffers are zeroed in parallel: the allocator hands back memory freed
/// earlier, which `vec!` clears with a `memset` on one thread (in GAN training, ~20 % of what the
/// main thread did besides handing out work).
#[cfg(any(not(target_family = "wasm"), feature = "threads"))]
pub(super) fn zeroed(len: usize) -> Vec<f32> {
    use rayon::prelude::*;
    if len < 1 << 16 {
        return vec![0.0; len];
    }
    let mut zeros = Vec::with_capacity(len);
    // A `memset` per part (collecting zeros one by one cost more than the memset it replaced).
    zeros.spare_capacity_mut()[..len]
        .par_chunks_mut(1 << 15)
        .for_each(|part| part.fill(std::mem::MaybeUninit::new(0.0)));
    // SAFETY: every value of the first `len` was written above.
    unsafe { zeros.set_len(len) };
    zeros
}

#[cfg(all(target_family = "wasm", not(feature = "threads")))]
pub(super) fn zeroed(len: usize) -> Vec<f32> {
    vec![0.0; len]
}

#[cfg(any(not(target_family = "wasm"), feature = "threads"))]
fn for_each_index(count: usize, f: impl Fn(usize) + Sync + Send) {
    use rayon::prelude::*;
    (0..count).into_par_iter().for_each(f);
}

#[cfg(all(target_family = "wasm", not(feature = "threads")))]
fn for_each_index(count: usize, f: impl Fn(usize)) {
    (0..count).for_each(f);
}

mod winograd;

use winograd::{TiledPhase, Tiling};

/// The vector instructions this CPU offers.
#[derive(Clone, Copy, Debug)]
enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Kernel {
    /// The widest kernels this CPU runs, or narrower ones named by `DGFLOW_CPU_KERNELS`
    /// (`avx2`, `portable`): the bench measures what a CPU without AVX-512 gets.
    fn detect() -> Kernel {
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
    fn available() -> Vec<Kernel> {
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
    fn tiling(self) -> Tiling {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => Tiling::Never,
            _ => Tiling::WherePays,
        }
    }

    fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => "avx512",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// Computes `positions.len()` rows of `plan.padded_outputs` values into `out`.
    fn gather(self, input: &[f32], plan: &Plan, positions: &[usize], out: &mut [f32]) {
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
                Kernel::Portable => portable::gather(input, plan, positions, out),
            }
        }
    }
}

impl Kernel {
    fn lanes(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => 16,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => 8,
            Kernel::Portable => 4,
        }
    }

    /// Computes every output channel of `vectors` (runs of `lanes()` positions) into `target`.
    fn gather_rows(self, input: &[f32], plan: &Plan, vectors: &[Position], target: &Target) {
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
                Kernel::Portable => portable::rows(input, plan, vectors, target),
            }
        }
    }
}

/// The row kernel: `NO` output channels × `NXV` runs of positions in registers, each run one
/// vector; writes `NCHW` rows directly.
///
/// # Safety
/// `Kernel::gather_rows`'s checks must hold, and `V`'s instructions must be available.
#[inline(always)]
unsafe fn gather_rows<V: Vector, const NO: usize, const NXV: usize>(
    input: &[f32],
    plan: &Plan,
    vectors: &[Position],
    target: &Target,
) {
    let (opad, reads) = (plan.padded_outputs, &plan.reads);
    let x = input.as_ptr();
    // A last block reaching past the padded outputs (the relaxed wasm module's three channels
    // at a time against 32) reads its weights from a zero-padded copy: the packed rows' last one
    // has no successor.
    let mut tail: Vec<f32>;
    for ob in (0..target.outputs).step_by(NO) {
        let (w, stride) = if ob + NO > opad {
            tail = plan
                .weights
                .chunks(opad)
                .flat_map(|row| (ob..ob + NO).map(|o| row.get(o).copied().unwrap_or(0.0)))
                .collect();
            (tail.as_ptr(), NO)
        } else {
            (unsafe { plan.weights.as_ptr().add(ob) }, opad)
        };
        for tile in vectors.chunks(NXV) {
            let mut starts = [0usize; NXV];
            for (j, slot) in starts.iter_mut().enumerate() {
                *slot = tile[j.min(tile.len() - 1)].input;
            }
            let mut acc = [[unsafe { V::zero() }; NXV]; NO];
            for (k, &read) in reads.iter().enumerate() {
                let (xt, wt) = unsafe { (x.add(read), w.add(k * stride)) };
                let mut xv = [unsafe { V::zero() }; NXV];
                for (j, slot) in xv.iter_mut().enumerate() {
                    *slot = unsafe { V::load(xt.add(starts[j])) };
                }
                for (o, row) in acc.iter_mut().enumerate() {
                    let wv = unsafe { V::splat(*wt.add(o)) };
                    for (j, a) in row.iter_mut().enumerate() {
                        *a = unsafe { V::mul_add(xv[j], wv, *a) };
                    }
                }
            }
            let one = unsafe { V::splat(1.0) };
            let fused = target.fused;
            for (o, row) in acc.iter().enumerate().take(target.outputs - ob) {
                let b = unsafe { V::splat(fused.bias.map_or(0.0, |b| b[ob + o])) };
                for (value, run) in row.iter().zip(tile) {
                    let index = run.output + (ob + o) * target.out_plane;
                    let at = target.out.at(index);
                    let mut vector = unsafe { V::mul_add(*value, one, b) };
                    if target.step > 1 {
                        // A transposed convolution's phase: every step-th output, one by one.
                        let mut lanes = [0.0f32; 16];
                        unsafe { vector.store(lanes.as_mut_ptr()) };
                        for (l, lane) in lanes[..V::LANES].iter().enumerate() {
                            let mut value = [*lane];
                            fused.pointwise.apply(&mut value);
                            let index = index + l * target.step;
                            // SAFETY: inside the output (checked by `Kernel::gather_rows`),
                            // and only this run writes it.
                            unsafe { *target.out.at(index) = fused.finish(value[0], index) };
                        }
                        continue;
                    }
                    if let Some(residual) = fused.residual {
                        // SAFETY: `residual` has the output's length (`Fused::check`).
                        vector = unsafe {
                            V::mul_add(V::load(residual.as_ptr().add(index)), one, vector)
                        };
                    }
                    unsafe { vector.store(at) };
                    // SAFETY: the vector just stored, which only this run writes.
                    let stored = unsafe { std::slice::from_raw_parts_mut(at, V::LANES) };
                    fused.pointwise.apply(stored);
                    if let Some(gate) = fused.gate {
                        stored
                            .iter_mut()
                            .zip(&gate[index..index + V::LANES])
                            .for_each(|(v, g)| *v = if *g > 0.0 { *v } else { 0.0 });
                    }
                }
            }
        }
    }
}

/// A vector of `LANES` f32 — the few operations the kernel needs.
trait Vector: Copy {
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn splat(value: f32) -> Self;
    unsafe fn load(from: *const f32) -> Self;
    /// `a · b + c`.
    unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self;
    unsafe fn store(self, to: *mut f32);
}

/// The kernel: `NX` output positions × `NV` vectors of output channels in registers, summing
/// over input channels and taps; each position's row gets `padded_outputs` values.
///
/// # Safety
/// `Kernel::gather`'s checks must hold, and `V`'s instructions must be available.
#[inline(always)]
unsafe fn gather<V: Vector, const NV: usize, const NX: usize>(
    input: &[f32],
    plan: &Plan,
    positions: &[usize],
    out: &mut [f32],
) {
    let opad = plan.padded_outputs;
    let (x, w, y) = (input.as_ptr(), plan.weights.as_ptr(), out.as_mut_ptr());
    let reads = &plan.reads;
    for ob in (0..opad).step_by(NV * V::LANES) {
        for (tile_index, tile) in positions.chunks(NX).enumerate() {
            let mut offsets = [0usize; NX];
            for (j, slot) in offsets.iter_mut().enumerate() {
                *slot = tile[j.min(tile.len() - 1)];
            }
            let mut acc = [[unsafe { V::zero() }; NV]; NX];
            for (k, &read) in reads.iter().enumerate() {
                let xt = unsafe { x.add(read) };
                let wt = unsafe { w.add(k * opad + ob) };
                let mut wv = [unsafe { V::zero() }; NV];
                for (v, slot) in wv.iter_mut().enumerate() {
                    *slot = unsafe { V::load(wt.add(v * V::LANES)) };
                }
                for j in 0..NX {
                    let xv = unsafe { V::splat(*xt.add(offsets[j])) };
                    for v in 0..NV {
                        acc[j][v] = unsafe { V::mul_add(xv, wv[v], acc[j][v]) };
                    }
                }
            }
            for (j, row) in acc.iter().enumerate().take(tile.len()) {
                let dst = unsafe { y.add((tile_index * NX + j) * opad + ob) };
                for (v, value) in row.iter().enumerate() {
                    unsafe { value.store(dst.add(v * V::LANES)) };
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Plan, Position, Target, Vector, gather, gather_rows};

    impl Vector for __m512 {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn zero() -> Self {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(value: f32) -> Self {
            unsafe { _mm512_set1_ps(value) }
        }
        #[inline(always)]
        unsafe fn load(from: *const f32) -> Self {
            unsafe { _mm512_loadu_ps(from) }
        }
        #[inline(always)]
        unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn store(self, to: *mut f32) {
            unsafe { _mm512_storeu_ps(to, self) }
        }
    }

    impl Vector for __m256 {
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> Self {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(value: f32) -> Self {
            unsafe { _mm256_set1_ps(value) }
        }
        #[inline(always)]
        unsafe fn load(from: *const f32) -> Self {
            unsafe { _mm256_loadu_ps(from) }
        }
        #[inline(always)]
        unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn store(self, to: *mut f32) {
            unsafe { _mm256_storeu_ps(to, self) }
        }
    }

    /// 6 positions × 64 channels: 24 of the 32 vector registers accumulate, and each step
    /// loads 4 weight vectors and 6 inputs for 24 multiply-adds (`wide`: 2 and 8 for 16).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gather_avx512_widest(
        input: &[f32],
        plan: &Plan,
        positions: &[usize],
        out: &mut [f32],
    ) {
        unsafe { gather::<__m512, 4, 6>(input, plan, positions, out) }
    }

    /// 8 positions × 32 channels: 16 of the 32 vector registers accumulate.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gather_avx512_wide(
        input: &[f32],
        plan: &Plan,
        positions: &[usize],
        out: &mut [f32],
    ) {
        unsafe { gather::<__m512, 2, 8>(input, plan, positions, out) }
    }

    /// 24 positions × 16 channels, for layers with few outputs.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gather_avx512_narrow(
        input: &[f32],
        plan: &Plan,
        positions: &[usize],
        out: &mut [f32],
    ) {
        unsafe { gather::<__m512, 1, 24>(input, plan, positions, out) }
    }

    /// 8 channels × 3 runs of 16 positions: 24 accumulators.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rows_avx512_wide(
        input: &[f32],
        plan: &Plan,
        vectors: &[Position],
        target: &Target,
    ) {
        unsafe { gather_rows::<__m512, 8, 3>(input, plan, vectors, target) }
    }

    /// 4 channels × 6 runs, for layers with at most four outputs (RGB out).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn rows_avx512_narrow(
        input: &[f32],
        plan: &Plan,
        vectors: &[Position],
        target: &Target,
    ) {
        unsafe { gather_rows::<__m512, 4, 6>(input, plan, vectors, target) }
    }

    /// 4 channels × 3 runs of 8 positions: 12 accumulators.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn rows_avx2(
        input: &[f32],
        plan: &Plan,
        vectors: &[Position],
        target: &Target,
    ) {
        unsafe { gather_rows::<__m256, 4, 3>(input, plan, vectors, target) }
    }

    /// 6 positions × 2 vectors: 12 of the 16 vector registers accumulate.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gather_avx2(
        input: &[f32],
        plan: &Plan,
        positions: &[usize],
        out: &mut [f32],
    ) {
        unsafe { gather::<__m256, 2, 6>(input, plan, positions, out) }
    }
}

/// wasm SIMD (the browser's CPU modules are built with `simd128`): four lanes. With the
/// `relaxed-simd` feature (the modules for browsers that validate relaxed SIMD) a multiply-add is
/// `f32x4.relaxed_madd`, one fused instruction where the CPU has one (x86 FMA, Arm `fmla`): in
/// Chromium on this machine a CIFAR-10 step took ~20 % less than with a multiply and an add.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod portable {
    use core::arch::wasm32::*;

    use super::{Plan, Position, Target, Vector};

    impl Vector for v128 {
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> Self {
            f32x4_splat(0.0)
        }
        #[inline(always)]
        unsafe fn splat(value: f32) -> Self {
            f32x4_splat(value)
        }
        #[inline(always)]
        unsafe fn load(from: *const f32) -> Self {
            unsafe { v128_load(from.cast()) }
        }
        #[inline(always)]
        unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
            #[cfg(feature = "relaxed-simd")]
            return f32x4_relaxed_madd(a, b, c);
            #[cfg(not(feature = "relaxed-simd"))]
            return f32x4_add(f32x4_mul(a, b), c);
        }
        #[inline(always)]
        unsafe fn store(self, to: *mut f32) {
            unsafe { v128_store(to.cast(), self) }
        }
    }

    // Tiles sized for V8 on x86, which leaves 15 vector registers for the accumulators, the
    // weights, the inputs and (without a fused multiply-add) the product: measured in Chromium,
    // 4 positions × 2 vectors beat 6 × 2 (which spills) by ~8 %. The row kernel's 3 channels ×
    // 3 runs was best with `relaxed_madd`; with a multiply and an add it spills an accumulator
    // on every tap, and 4 channels × 2 runs made a CIFAR-10 step 2–4 % faster in V8 (no change
    // measured in JavaScriptCore, Safari's engine, which runs this module).
    #[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
    pub(super) unsafe fn gather(input: &[f32], plan: &Plan, positions: &[usize], out: &mut [f32]) {
        unsafe { super::gather::<v128, 2, 4>(input, plan, positions, out) }
    }

    #[cfg(feature = "relaxed-simd")]
    #[target_feature(enable = "relaxed-simd")]
    pub(super) unsafe fn rows(input: &[f32], plan: &Plan, vectors: &[Position], target: &Target) {
        unsafe { super::gather_rows::<v128, 3, 3>(input, plan, vectors, target) }
    }

    #[cfg(not(feature = "relaxed-simd"))]
    pub(super) unsafe fn rows(input: &[f32], plan: &Plan, vectors: &[Position], target: &Target) {
        unsafe { super::gather_rows::<v128, 4, 2>(input, plan, vectors, target) }
    }
}

/// Plain arrays of four, for other CPUs (LLVM vectorises them where it can), in tile shapes
/// the wasm modules use (the relaxed-SIMD row kernel's, whose blocks of 3 channels end past 32
/// outputs): the native tests then run the kernels the browser runs.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod portable {
    use super::{Plan, Position, Target, Vector};

    #[derive(Clone, Copy)]
    struct Lanes4([f32; 4]);

    impl Vector for Lanes4 {
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> Self {
            Lanes4([0.0; 4])
        }
        #[inline(always)]
        unsafe fn splat(value: f32) -> Self {
            Lanes4([value; 4])
        }
        #[inline(always)]
        unsafe fn load(from: *const f32) -> Self {
            Lanes4(unsafe { from.cast::<[f32; 4]>().read_unaligned() })
        }
        #[inline(always)]
        unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
            Lanes4(std::array::from_fn(|i| a.0[i] * b.0[i] + c.0[i]))
        }
        #[inline(always)]
        unsafe fn store(self, to: *mut f32) {
            unsafe { to.cast::<[f32; 4]>().write_unaligned(self.0) }
        }
    }

    pub(super) unsafe fn gather(input: &[f32], plan: &Plan, positions: &[usize], out: &mut [f32]) {
        unsafe { super::gather::<Lanes4, 2, 4>(input, plan, positions, out) }
    }

    pub(super) unsafe fn rows(input: &[f32], plan: &Plan, vectors: &[Position], target: &Target) {
        unsafe { super::gather_rows::<Lanes4, 3, 3>(input, plan, vectors, target) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one multiply-add at a time.
    fn naive_conv2d(
        x: &[f32],
        [n, c, h, w]: Shape4,
        weight: &[f32],
        [o, _, kh, kw]: Shape4,
        bias: &[f32],
        g: Geometry,
    ) -> Vec<f32> {
        let ([sh, sw], [ph, pw]) = (g.stride, g.padding);
        let (ho, wo) = ((h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1);
        let mut out = vec![0.0; n * o * ho * wo];
        for b in 0..n {
            for oc in 0..o {
                for y in 0..ho {
                    for xo in 0..wo {
                        let mut sum = bias[oc] as f64;
                        for ic in 0..c {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let (iy, ix) = (
                                        (y * sh + ky) as isize - ph as isize,
                                        (xo * sw + kx) as isize - pw as isize,
                                    );
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w
                                    {
                                        sum += (x
                                            [((b * c + ic) * h + iy as usize) * w + ix as usize]
                                            * weight[((oc * c + ic) * kh + ky) * kw + kx])
                                            as f64;
                                    }
                                }
                            }
                        }
                        out[((b * o + oc) * ho + y) * wo + xo] = sum as f32;
                    }
                }
            }
        }
        out
    }

    /// Scatters every input value through the kernel, the transposed convolution's definition.
    fn naive_conv_transpose2d(
        x: &[f32],
        [n, c, h, w]: Shape4,
        weight: &[f32],
        [_, o, kh, kw]: Shape4,
        bias: &[f32],
        g: Geometry,
        [ho, wo]: [usize; 2],
    ) -> Vec<f32> {
        let ([sh, sw], [ph, pw]) = (g.stride, g.padding);
        let mut out = vec![0.0f64; n * o * ho * wo];
        for b in 0..n {
            for oc in 0..o {
                out[(b * o + oc) * ho * wo..][..ho * wo]
                    .iter_mut()
                    .for_each(|v| *v = bias[oc] as f64);
            }
            for ic in 0..c {
                for iy in 0..h {
                    for ix in 0..w {
                        for oc in 0..o {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let (y, xo) = (
                                        (iy * sh + ky) as isize - ph as isize,
                                        (ix * sw + kx) as isize - pw as isize,
                                    );
                                    if y >= 0 && xo >= 0 && (y as usize) < ho && (xo as usize) < wo
                                    {
                                        out[((b * o + oc) * ho + y as usize) * wo + xo as usize] +=
                                            (x[((b * c + ic) * h + iy) * w + ix]
                                                * weight[((ic * o + oc) * kh + ky) * kw + kx])
                                                as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out.into_iter().map(|v| v as f32).collect()
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "element {i}: {a} vs {b}");
        }
    }

    // Shapes of the bundled models' layers and awkward ones: channel counts off the 32-block,
    // odd sizes, stride 2 with and without an exact fit, kernels wider than the input.
    // Rows of 16 and 32 take the row kernel on every vector width (stride 1), the others the
    // channel kernel.
    const CONVS: [(Shape4, [usize; 3], [usize; 2]); 10] = [
        ([2, 5, 6, 32], [20, 3, 1], [1, 1]),
        ([1, 8, 4, 16], [3, 3, 1], [1, 1]),
        ([2, 3, 8, 8], [32, 3, 1], [1, 1]),
        ([2, 32, 8, 8], [3, 3, 1], [1, 1]),
        ([1, 5, 9, 7], [33, 4, 2], [2, 1]),
        ([3, 16, 4, 4], [40, 3, 1], [1, 1]),
        ([2, 7, 5, 5], [9, 4, 2], [0, 2]),
        ([1, 4, 1, 12], [6, 5, 1], [0, 2]),
        ([2, 9, 6, 6], [64, 1, 1], [0, 0]),
        ([1, 2, 3, 3], [1, 3, 3], [2, 2]),
    ];

    #[test]
    fn conv2d_matches_the_definition() {
        for (i, &([n, c, h, w], [o, k, s], [p, q])) in CONVS.iter().enumerate() {
            let kh = if h == 1 { 1 } else { k };
            let g = Geometry {
                stride: [if h == 1 { 1 } else { s }, s],
                padding: [if h == 1 { 0 } else { p }, q],
            };
            let (x, weight, bias) = (
                values(n * c * h * w, i as u32),
                values(o * c * kh * k, 100 + i as u32),
                values(o, 200 + i as u32),
            );
            let (got, shape) = conv2d(
                &x,
                [n, c, h, w],
                &pack_conv2d(&weight, [o, c, kh, k]),
                [o, c, kh, k],
                Fused { bias: Some(&bias), ..Default::default() },
                g,
            );
            let want = naive_conv2d(&x, [n, c, h, w], &weight, [o, c, kh, k], &bias, g);
            assert_eq!(shape[0..2], [n, o]);
            assert_close(&got, &want);
        }
    }

    #[test]
    fn conv_transpose2d_matches_the_definition() {
        for (i, &([n, c, h, w], [o, k, s], [p, q])) in CONVS.iter().enumerate() {
            let kh = if h == 1 { 1 } else { k };
            let g = Geometry {
                stride: [if h == 1 { 1 } else { s }, s],
                padding: [if h == 1 { 0 } else { p.min(kh - 1) }, q.min(k - 1)],
            };
            for extra in 0..g.stride[1] {
                let out_size = [
                    (h - 1) * g.stride[0] + kh - 2 * g.padding[0],
                    (w - 1) * g.stride[1] + k - 2 * g.padding[1] + extra,
                ];
                let (x, weight, bias) = (
                    values(n * c * h * w, i as u32),
                    values(c * o * kh * k, 100 + i as u32),
                    values(o, 200 + i as u32),
                );
                let (got, shape) = conv_transpose2d(
                    &x,
                    [n, c, h, w],
                    &pack_conv_transpose2d(&weight, [c, o, kh, k], g.stride),
                    [c, o, kh, k],
                    Fused { bias: Some(&bias), ..Default::default() },
                    g,
                    out_size,
                );
                let want = naive_conv_transpose2d(
                    &x,
                    [n, c, h, w],
                    &weight,
                    [c, o, kh, k],
                    &bias,
                    g,
                    out_size,
                );
                assert_eq!(shape, [n, o, out_size[0], out_size[1]]);
                assert_close(&got, &want);
            }
        }
    }

    fn naive_conv2d_weight_gradient(
        x: &[f32],
        [n, c, h, w]: Shape4,
        grad: &[f32],
        [o, _, kh, kw]: Shape4,
        g: Geometry,
    ) -> Vec<f32> {
        let ([sh, sw], [ph, pw]) = (g.stride, g.padding);
        let (ho, wo) = ((h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1);
        let mut out = vec![0.0; o * c * kh * kw];
        for oc in 0..o {
            for ic in 0..c {
                for ky in 0..kh {
                    for kx in 0..kw {
                        let mut sum = 0.0f64;
                        for b in 0..n {
                            for y in 0..ho {
                                for xo in 0..wo {
                                    let (iy, ix) = (
                                        (y * sh + ky) as isize - ph as isize,
                                        (xo * sw + kx) as isize - pw as isize,
                                    );
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w
                                    {
                                        sum += (x
                                            [((b * c + ic) * h + iy as usize) * w + ix as usize]
                                            * grad[((b * o + oc) * ho + y) * wo + xo])
                                            as f64;
                                    }
                                }
                            }
                        }
                        out[((oc * c + ic) * kh + ky) * kw + kx] = sum as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn conv2d_weight_gradient_matches_the_definition_on_every_vector_width() {
        for (i, &([n, c, h, w], [o, k, s], [p, q])) in CONVS.iter().enumerate() {
            let kh = if h == 1 { 1 } else { k };
            let g = Geometry {
                stride: [if h == 1 { 1 } else { s }, s],
                padding: [if h == 1 { 0 } else { p }, q],
            };
            let (ho, wo) = (
                (h + 2 * g.padding[0] - kh) / g.stride[0] + 1,
                (w + 2 * g.padding[1] - k) / g.stride[1] + 1,
            );
            let (x, grad) =
                (values(n * c * h * w, i as u32), values(n * o * ho * wo, 300 + i as u32));
            let want = naive_conv2d_weight_gradient(&x, [n, c, h, w], &grad, [o, c, kh, k], g);
            for kernel in Kernel::available() {
                assert_close(
                    &conv2d_weight_gradient_on(kernel, &x, [n, c, h, w], &grad, [o, c, kh, k], g),
                    &want,
                );
            }
        }
    }

    /// Enough samples and positions for the sum to run in blocks (the last one short, some
    /// crossing from one sample into the next) in two ranges, and enough (channel, tap) pairs
    /// for two runs of them.
    #[test]
    fn a_weight_gradient_summed_in_blocks_matches_the_definition() {
        let ([n, c, h, w], o, g) =
            ([40, 12, 14, 15], 40, Geometry { stride: [1, 1], padding: [1, 1] });
        assert!(c * 9 > 4 * TILE, "{} pairs make one run", c * 9);
        let reads = n * h * w;
        let block = WEIGHT_GRADIENT_BLOCK / padded_outputs(o);
        assert!(
            reads > block && !reads.is_multiple_of(block),
            "{reads} reads in blocks of {block}"
        );
        assert!(reads >= 2 * RANGE_POSITIONS, "{reads} reads make one range");
        let (x, grad) = (values(n * c * h * w, 7), values(n * o * h * w, 8));
        let want = naive_conv2d_weight_gradient(&x, [n, c, h, w], &grad, [o, c, 3, 3], g);
        for kernel in Kernel::available() {
            assert_close(
                &conv2d_weight_gradient_on(kernel, &x, [n, c, h, w], &grad, [o, c, 3, 3], g),
                &want,
            );
        }
    }

    /// Many small samples: the row kernel's tasks then pad the samples they read themselves,
    /// and start and end inside samples.
    #[test]
    fn tasks_of_whole_samples_match_the_definition() {
        let (shape, g) = ([24, 16, 4, 16], Geometry { stride: [1, 1], padding: [1, 1] });
        let (x, weight, bias) =
            (values(shape.iter().product(), 4), values(32 * 16 * 9, 5), values(32, 6));
        let want = naive_conv2d(&x, shape, &weight, [32, 16, 3, 3], &bias, g);
        for kernel in Kernel::available() {
            let (got, _) = conv2d_on(
                kernel,
                Tiling::Never,
                &x,
                shape,
                &pack_conv2d(&weight, [32, 16, 3, 3]),
                [32, 16, 3, 3],
                Fused { bias: Some(&bias), ..Default::default() },
                g,
            );
            assert_close(&got, &want);
        }
    }

    /// A convolution with a ReLU before, a leaky ReLU after and a gate, and the transposed
    /// convolution of the same geometry with its input times tanh's derivative and a residual
    /// after (everything `Fused` does on the way in and out), against the definitions on every
    /// vector width; the transposed convolution's output size is its input's `stride` times
    /// (no output padding). Returns the convolution's output shape.
    fn check_fused_layers(
        tiling: Tiling,
        [n, c, h, w]: Shape4,
        o: usize,
        k: usize,
        g: Geometry,
        seed: u32,
    ) -> Shape4 {
        let leaky = Pointwise::LeakyRelu(0.2);
        let x = values(n * c * h * w, seed);
        let relu: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
        let (weight, bias) = (values(o * c * k * k, seed + 1), values(o, seed + 2));
        let mut want = naive_conv2d(&relu, [n, c, h, w], &weight, [o, c, k, k], &bias, g);
        let gate = values(want.len(), seed + 3);
        leaky.apply(&mut want);
        want.iter_mut().zip(&gate).for_each(|(v, g)| *v = if *g > 0.0 { *v } else { 0.0 });
        let fused = Fused {
            input: InputMap::Relu,
            bias: Some(&bias),
            pointwise: leaky,
            gate: Some(&gate),
            ..Default::default()
        };
        let packed = pack_conv2d(&weight, [o, c, k, k]);
        let mut shape = [0; 4];
        for kernel in Kernel::available() {
            let (got, got_shape) =
                conv2d_on(kernel, tiling, &x, [n, c, h, w], &packed, [o, c, k, k], fused, g);
            assert_close(&got, &want);
            shape = got_shape;
        }

        let ([sh, sw], [ph, pw]) = (g.stride, g.padding);
        let out_size = [(h - 1) * sh + k - 2 * ph, (w - 1) * sw + k - 2 * pw];
        let tanh_outputs = values(x.len(), seed + 4);
        let scaled: Vec<f32> =
            x.iter().zip(&tanh_outputs).map(|(v, y)| v * (1.0 - y * y)).collect();
        let weight = values(c * o * k * k, seed + 5);
        let mut want = naive_conv_transpose2d(
            &scaled,
            [n, c, h, w],
            &weight,
            [c, o, k, k],
            &bias,
            g,
            out_size,
        );
        let residual = values(want.len(), seed + 6);
        want.iter_mut().zip(&residual).for_each(|(v, r)| *v += r);
        let fused = Fused {
            input: InputMap::Derivative(Pointwise::Tanh, &tanh_outputs),
            bias: Some(&bias),
            residual: Some(&residual),
            ..Default::default()
        };
        let packed = pack_conv_transpose2d(&weight, [c, o, k, k], g.stride);
        for kernel in Kernel::available() {
            assert_close(
                &conv_transpose2d_on(
                    kernel,
                    tiling,
                    &x,
                    [n, c, h, w],
                    &packed,
                    [c, o, k, k],
                    fused,
                    g,
                    out_size,
                )
                .0,
                &want,
            );
        }
        shape
    }

    /// Strided layers whose rows are whole vectors on some kernels: a convolution then reads
    /// planes split by column, and a transposed convolution's phases write every other output.
    #[test]
    fn strided_rows_match_the_definition_on_every_vector_width() {
        for (i, (shape, k)) in
            [([2, 6, 8, 32], 4), ([2, 5, 6, 16], 3), ([3, 4, 4, 8], 4), ([1, 3, 4, 4], 4)]
                .into_iter()
                .enumerate()
        {
            check_fused_layers(
                Tiling::Never,
                shape,
                7 + i,
                k,
                Geometry { stride: [2, 2], padding: [1, 1] },
                10 * i as u32,
            );
        }
    }

    /// Layers in Winograd tiles on every vector width, in blocks of 4×4 outputs where their grid
    /// allows and else of 2×2: stride-1 3×3 and 2×2 convolutions, stride-2 4×4 and 6×6 ones (2×2
    /// and 3×3 taps per phase), and the transposed convolutions whose phases are all 3×3 or all
    /// 2×2 (the input gradients of those); channel counts that end a block of outputs early, one
    /// tile per phase, RGB out, a strided layer on an odd input (whose padded planes do not split
    /// evenly: not in tiles).
    #[test]
    fn tiles_match_the_definition_on_every_vector_width() {
        // (input, outputs, kernel, stride, padding), and the blocks the convolution and the
        // transposed convolution go in.
        type Case = (Shape4, usize, usize, usize, usize, [Option<usize>; 2]);
        let cases: [Case; 12] = [
            ([2, 5, 6, 8], 20, 3, 1, 1, [Some(2), Some(2)]),
            ([3, 32, 4, 4], 40, 3, 1, 1, [Some(4), Some(4)]),
            ([1, 32, 8, 8], 3, 3, 1, 1, [Some(4), Some(4)]),
            ([1, 4, 5, 7], 6, 2, 1, 0, [Some(2), Some(2)]),
            ([2, 6, 4, 4], 7, 4, 2, 1, [Some(2), Some(4)]),
            ([1, 16, 2, 2], 33, 4, 2, 1, [None, Some(2)]),
            ([2, 9, 4, 6], 16, 3, 1, 2, [Some(2), Some(2)]),
            ([2, 5, 8, 12], 9, 4, 2, 1, [Some(2), Some(4)]),
            ([1, 3, 8, 4], 17, 6, 2, 2, [Some(2), Some(4)]),
            ([1, 4, 7, 7], 5, 4, 2, 0, [None, Some(4)]),
            ([2, 4, 8, 8], 6, 4, 2, 1, [Some(4), Some(4)]),
            ([1, 3, 16, 8], 5, 6, 2, 2, [Some(4), Some(4)]),
        ];
        let blocks = |grid: [usize; 2]| {
            [4, 2]
                .into_iter()
                .find(|m| grid.iter().all(|size| *size > 0 && size.is_multiple_of(*m)))
        };
        for (i, ([n, c, h, w], o, k, stride, padding, want)) in cases.into_iter().enumerate() {
            let g = Geometry { stride: [stride; 2], padding: [padding; 2] };
            let shape =
                check_fused_layers(Tiling::WhereItFits, [n, c, h, w], o, k, g, 20 * i as u32);
            let padded = [h + 2 * padding, w + 2 * padding];
            let split = padded.iter().all(|p| p.is_multiple_of(stride));
            let conv = blocks([shape[2], shape[3]])
                .filter(|_| conv2d_tiles([k, k], g.stride).is_some() && split);
            // A transposed convolution's phases: its output over the stride.
            let phase = [h, w].map(|size| ((size - 1) * stride + k - 2 * padding) / stride);
            let transposed = blocks(phase).filter(|_| phase_tile_side([k, k], g.stride).is_some());
            assert_eq!([conv, transposed], want, "case {i}'s layers go in other blocks");
        }
    }

    #[test]
    fn every_vector_width_gives_the_same_result() {
        let g = Geometry { stride: [1, 1], padding: [1, 1] };
        // 40 outputs take the wide variants, 12 and 3 the narrow ones; 7×7 maps the channel
        // kernel, 16×16 the row kernel; 32 outputs in blocks of 3 (the relaxed wasm row
        // kernel's, and the portable one's) end in a block past the padded outputs.
        for (o, size) in [(40, 7), (12, 7), (40, 16), (3, 16), (32, 16)] {
            let shape = [3, 32, size, size];
            let (x, weight, bias) =
                (values(shape.iter().product(), 1), values(o * 32 * 9, 2), values(o, 3));
            let want = naive_conv2d(&x, shape, &weight, [o, 32, 3, 3], &bias, g);
            for kernel in Kernel::available() {
                let (got, _) = conv2d_on(
                    kernel,
                    Tiling::Never,
                    &x,
                    shape,
                    &pack_conv2d(&weight, [o, 32, 3, 3]),
                    [o, 32, 3, 3],
                    Fused { bias: Some(&bias), ..Default::default() },
                    g,
                );
                assert_close(&got, &want);
            }
        }
    }
}
