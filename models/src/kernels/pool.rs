//! 2×2 stride-2 max-pooling of one contiguous `height × width` f32 plane, keeping the winner of
//! each window as one byte instead of flex's i64 index.
//!
//! The rules are those of Burn's `MaxPool2d` on flex: windows are read top-left, top-right,
//! bottom-left, bottom-right; the first maximum wins a tie, and a NaN always wins (the last NaN
//! of a window, as in PyTorch), so NaN propagates. A last odd row or column belongs to no window
//! and is dropped (floor mode), as `MaxPool2d` without padding does.

/// Code of a window whose output carries no gradient: the fused conv block's ReLU clipped it.
pub const NO_GRADIENT: u8 = 255;

/// Maximum of a window read in order `a, b, c, d`, and its position 0–3.
#[inline(always)]
fn window_max(a: f32, b: f32, c: f32, d: f32) -> (f32, u8) {
    // Selects rather than branches: on real data the comparisons are unpredictable, and a
    // mispredicted branch per window cost more than the rest of the work.
    let (mut max, mut code) = (a, 0);
    for (value, position) in [(b, 1), (c, 2), (d, 3)] {
        let take = (value > max) | value.is_nan();
        max = if take { value } else { max };
        code = if take { position } else { code };
    }
    (max, code)
}

/// Pools `plane` (`width` columns) into `out` and `codes` (`height / 2 × width / 2` each).
///
/// With `RELU`, the pooled value then goes through ReLU: max-pooling and ReLU commute, and a
/// window whose maximum is not positive gets 0 and [`NO_GRADIENT`] (its gradient through ReLU is
/// zero, as Burn's `relu_backward` makes it). NaN passes through ReLU, as in Burn.
#[inline]
pub fn forward_plane<const RELU: bool>(
    plane: &[f32],
    width: usize,
    out: &mut [f32],
    codes: &mut [u8],
) {
    let out_width = width / 2;
    if out_width == 0 {
        return;
    }
    for ((out_row, code_row), rows) in out
        .chunks_exact_mut(out_width)
        .zip(codes.chunks_exact_mut(out_width))
        .zip(plane.chunks_exact(2 * width))
    {
        let (top, bottom) = rows.split_at(width);
        forward_row::<RELU>(top, bottom, out_row, code_row);
    }
}

/// One row of windows: `top` and `bottom` are the two input rows, `out` and `codes` the pooled
/// row (`out.len()` windows).
#[inline]
fn forward_row<const RELU: bool>(top: &[f32], bottom: &[f32], out: &mut [f32], codes: &mut [u8]) {
    let done = simd::forward_row::<RELU>(top, bottom, out, codes);
    scalar_forward_row::<RELU>(
        &top[2 * done..],
        &bottom[2 * done..],
        &mut out[done..],
        &mut codes[done..],
    );
}

fn scalar_forward_row<const RELU: bool>(
    top: &[f32],
    bottom: &[f32],
    out: &mut [f32],
    codes: &mut [u8],
) {
    for (x, (out, code)) in out.iter_mut().zip(codes.iter_mut()).enumerate() {
        let (max, position) =
            window_max(top[2 * x], top[2 * x + 1], bottom[2 * x], bottom[2 * x + 1]);
        let clipped = RELU & !((max > 0.0) | max.is_nan());
        *out = if clipped { 0.0 } else { max };
        *code = if clipped { NO_GRADIENT } else { position };
    }
}

/// The gradient of one pooled plane: writes all of `grad_in` (`height × width`) once, the
/// incoming gradient at each window's winner and zero elsewhere (also in a dropped odd row or
/// column), so `grad_in` needs no clearing first and nothing is scattered.
#[inline]
pub fn backward_plane(grad_out: &[f32], codes: &[u8], width: usize, grad_in: &mut [f32]) {
    let out_width = width / 2;
    let pooled_rows = grad_out.len().checked_div(out_width).unwrap_or(0);
    let (windows, leftover_rows) = grad_in.split_at_mut(pooled_rows * 2 * width);
    leftover_rows.fill(0.0);
    if out_width == 0 {
        return;
    }
    for ((grad_row, code_row), rows) in grad_out
        .chunks_exact(out_width)
        .zip(codes.chunks_exact(out_width))
        .zip(windows.chunks_exact_mut(2 * width))
    {
        let (top, bottom) = rows.split_at_mut(width);
        backward_row(grad_row, code_row, top, bottom);
        if width % 2 == 1 {
            top[width - 1] = 0.0;
            bottom[width - 1] = 0.0;
        }
    }
}

/// One row of windows: writes `2 · grad.len()` elements of each of `top` and `bottom`.
#[inline]
fn backward_row(grad: &[f32], codes: &[u8], top: &mut [f32], bottom: &mut [f32]) {
    let done = simd::backward_row(grad, codes, top, bottom);
    scalar_backward_row(
        &grad[done..],
        &codes[done..],
        &mut top[2 * done..],
        &mut bottom[2 * done..],
    );
}

fn scalar_backward_row(grad: &[f32], codes: &[u8], top: &mut [f32], bottom: &mut [f32]) {
    for (x, (&grad, &code)) in grad.iter().zip(codes).enumerate() {
        let at = |position: u8| if code == position { grad } else { 0.0 };
        top[2 * x] = at(0);
        top[2 * x + 1] = at(1);
        bottom[2 * x] = at(2);
        bottom[2 * x + 1] = at(3);
    }
}

/// Eight windows at a time with AVX2 where the CPU has it (checked at run time, so the binary
/// stays portable), the same rules as the scalar loops. Each function returns how many windows
/// of the row it did: all of them with AVX2, none without (the scalar loops then do the row).
/// The scalar loops compile to branches on the comparisons, which real data mispredicts: they
/// took about 11 ns a window on one thread, these about 1 ns (measured on the MFCC CNN's first
/// pooling, README "Performance").
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    use super::NO_GRADIENT;

    pub fn forward_row<const RELU: bool>(
        top: &[f32],
        bottom: &[f32],
        out: &mut [f32],
        codes: &mut [u8],
    ) -> usize {
        if !is_x86_feature_detected!("avx2") {
            return 0;
        }
        // SAFETY: the CPU has AVX2 (checked above).
        unsafe { forward_row_avx2::<RELU>(top, bottom, out, codes) }
    }

    pub fn backward_row(grad: &[f32], codes: &[u8], top: &mut [f32], bottom: &mut [f32]) -> usize {
        if !is_x86_feature_detected!("avx2") {
            return 0;
        }
        // SAFETY: the CPU has AVX2 (checked above).
        unsafe { backward_row_avx2(grad, codes, top, bottom) }
    }

    /// Lanes of `v` selected where `condition` is all ones: as in [`super::window_max`],
    /// `v > max` or `v` is NaN.
    #[target_feature(enable = "avx2")]
    fn takes(v: __m256, max: __m256) -> __m256 {
        _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_GT_OQ>(v, max),
            _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
        )
    }

    /// 16 consecutive floats from `p` split into the 8 at even and the 8 at odd positions.
    ///
    /// # Safety
    /// `p` must point to 16 readable floats.
    #[target_feature(enable = "avx2")]
    unsafe fn deinterleave(p: *const f32) -> (__m256, __m256) {
        // SAFETY: 16 readable floats, by the caller's promise.
        let (lo, hi) = unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) };
        // Per 128-bit lane: [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6]; then 64-bit pieces 0, 2, 1, 3.
        let even = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
        let odd = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
        let order = |v: __m256| {
            _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
        };
        (order(even), order(odd))
    }

    /// Stores `even` and `odd` interleaved as 16 consecutive floats at `p`.
    ///
    /// # Safety
    /// `p` must point to 16 writable floats.
    #[target_feature(enable = "avx2")]
    unsafe fn interleave(p: *mut f32, even: __m256, odd: __m256) {
        let lo = _mm256_unpacklo_ps(even, odd); // [e0 o0 e1 o1 | e4 o4 e5 o5]
        let hi = _mm256_unpackhi_ps(even, odd); // [e2 o2 e3 o3 | e6 o6 e7 o7]
        // SAFETY: 16 writable floats, by the caller's promise.
        unsafe {
            _mm256_storeu_ps(p, _mm256_permute2f128_ps::<0x20>(lo, hi));
            _mm256_storeu_ps(p.add(8), _mm256_permute2f128_ps::<0x31>(lo, hi));
        }
    }

    /// Eight windows: the rows of 16 floats at `top` and `bottom` → 8 outputs and 8 codes.
    ///
    /// # Safety
    /// `top` and `bottom` must point to 16 readable floats, `out` to 8 writable floats and
    /// `codes` to 8 writable bytes.
    #[target_feature(enable = "avx2")]
    unsafe fn forward8<const RELU: bool>(
        top: *const f32,
        bottom: *const f32,
        out: *mut f32,
        codes: *mut u8,
    ) {
        // SAFETY: 16 readable floats each, by the caller's promise.
        let ((a, b), (c, d)) = unsafe { (deinterleave(top), deinterleave(bottom)) };
        let (mut max, mut code) = (a, _mm256_setzero_si256());
        for (v, position) in [(b, 1), (c, 2), (d, 3)] {
            let take = takes(v, max);
            max = _mm256_blendv_ps(max, v, take);
            code = _mm256_blendv_epi8(code, _mm256_set1_epi32(position), _mm256_castps_si256(take));
        }
        if RELU {
            let keep = takes(max, _mm256_setzero_ps());
            max = _mm256_and_ps(max, keep);
            code = _mm256_blendv_epi8(
                _mm256_set1_epi32(NO_GRADIENT.into()),
                code,
                _mm256_castps_si256(keep),
            );
        }
        let words = _mm_packus_epi32(
            _mm256_castsi256_si128(code),
            _mm256_extracti128_si256::<1>(code),
        );
        // SAFETY: 8 writable floats and 8 writable bytes, by the caller's promise.
        unsafe {
            _mm256_storeu_ps(out, max);
            _mm_storel_epi64(codes.cast(), _mm_packus_epi16(words, words));
        }
    }

    /// Eight windows' gradients: 8 gradients and codes → rows of 16 floats at `top` and `bottom`.
    ///
    /// # Safety
    /// `grad` must point to 8 readable floats, `codes` to 8 readable bytes, `top` and `bottom`
    /// to 16 writable floats.
    #[target_feature(enable = "avx2")]
    unsafe fn backward8(grad: *const f32, codes: *const u8, top: *mut f32, bottom: *mut f32) {
        // SAFETY: 8 readable floats and bytes, by the caller's promise.
        let (g, code) = unsafe {
            (
                _mm256_loadu_ps(grad),
                _mm256_cvtepu8_epi32(_mm_loadl_epi64(codes.cast())),
            )
        };
        let [a, b, c, d] = [0, 1, 2, 3].map(|position| {
            let hit = _mm256_cmpeq_epi32(code, _mm256_set1_epi32(position));
            _mm256_and_ps(g, _mm256_castsi256_ps(hit))
        });
        // SAFETY: 16 writable floats each, by the caller's promise.
        unsafe {
            interleave(top, a, b);
            interleave(bottom, c, d);
        }
    }

    /// All `out.len()` windows; a last partial group of 8 goes through zero-padded copies.
    #[target_feature(enable = "avx2")]
    fn forward_row_avx2<const RELU: bool>(
        top: &[f32],
        bottom: &[f32],
        out: &mut [f32],
        codes: &mut [u8],
    ) -> usize {
        let windows = out.len();
        assert!(codes.len() >= windows && top.len() >= 2 * windows && bottom.len() >= 2 * windows);
        let full = windows / 8 * 8;
        for x in (0..full).step_by(8) {
            // SAFETY: x + 8 <= windows: 16 floats of each row, 8 outputs and codes.
            unsafe {
                forward8::<RELU>(
                    top.as_ptr().add(2 * x),
                    bottom.as_ptr().add(2 * x),
                    out.as_mut_ptr().add(x),
                    codes.as_mut_ptr().add(x),
                )
            }
        }
        let rest = windows - full;
        if rest > 0 {
            let (mut top_part, mut bottom_part) = ([0.0; 16], [0.0; 16]);
            top_part[..2 * rest].copy_from_slice(&top[2 * full..2 * windows]);
            bottom_part[..2 * rest].copy_from_slice(&bottom[2 * full..2 * windows]);
            let (mut out_part, mut codes_part) = ([0.0; 8], [0; 8]);
            // SAFETY: local arrays of 16, 16, 8 and 8 elements.
            unsafe {
                forward8::<RELU>(
                    top_part.as_ptr(),
                    bottom_part.as_ptr(),
                    out_part.as_mut_ptr(),
                    codes_part.as_mut_ptr(),
                )
            }
            out[full..].copy_from_slice(&out_part[..rest]);
            codes[full..windows].copy_from_slice(&codes_part[..rest]);
        }
        windows
    }

    /// All `grad.len()` windows; a last partial group of 8 goes through zero-padded copies.
    #[target_feature(enable = "avx2")]
    fn backward_row_avx2(grad: &[f32], codes: &[u8], top: &mut [f32], bottom: &mut [f32]) -> usize {
        let windows = grad.len();
        assert!(codes.len() >= windows && top.len() >= 2 * windows && bottom.len() >= 2 * windows);
        let full = windows / 8 * 8;
        for x in (0..full).step_by(8) {
            // SAFETY: x + 8 <= windows: 8 gradients and codes, 16 floats of each row.
            unsafe {
                backward8(
                    grad.as_ptr().add(x),
                    codes.as_ptr().add(x),
                    top.as_mut_ptr().add(2 * x),
                    bottom.as_mut_ptr().add(2 * x),
                )
            }
        }
        let rest = windows - full;
        if rest > 0 {
            let (mut grad_part, mut codes_part) = ([0.0; 8], [0; 8]);
            grad_part[..rest].copy_from_slice(&grad[full..]);
            codes_part[..rest].copy_from_slice(&codes[full..windows]);
            let (mut top_part, mut bottom_part) = ([0.0; 16], [0.0; 16]);
            // SAFETY: local arrays of 8, 8, 16 and 16 elements.
            unsafe {
                backward8(
                    grad_part.as_ptr(),
                    codes_part.as_ptr(),
                    top_part.as_mut_ptr(),
                    bottom_part.as_mut_ptr(),
                )
            }
            top[2 * full..2 * windows].copy_from_slice(&top_part[..2 * rest]);
            bottom[2 * full..2 * windows].copy_from_slice(&bottom_part[..2 * rest]);
        }
        windows
    }
}

/// Elsewhere the scalar loops do all the work.
#[cfg(not(target_arch = "x86_64"))]
mod simd {
    pub fn forward_row<const RELU: bool>(
        _: &[f32],
        _: &[f32],
        _: &mut [f32],
        _: &mut [u8],
    ) -> usize {
        0
    }

    pub fn backward_row(_: &[f32], _: &[u8], _: &mut [f32], _: &mut [f32]) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of 1 to 40 windows from a few values, so that ties, NaN and non-positive windows
    /// are common.
    fn rows(seed: u64) -> impl Iterator<Item = (Vec<f32>, Vec<f32>)> {
        let mut state = seed;
        let mut value = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            [f32::NAN, -1.0, 0.0, 0.5, 1.0, 2.0][(state >> 33) as usize % 6]
        };
        (1..=40).map(move |windows| {
            let top = (0..2 * windows).map(|_| value()).collect();
            let bottom = (0..2 * windows).map(|_| value()).collect();
            (top, bottom)
        })
    }

    fn same_floats(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()) && a.len() == b.len()
    }

    type ForwardRow = fn(&[f32], &[f32], &mut [f32], &mut [u8]);
    type BackwardRow = fn(&[f32], &[u8], &mut [f32], &mut [f32]);

    #[test]
    fn vector_rows_equal_scalar_rows() {
        for (top, bottom) in rows(1) {
            let windows = top.len() / 2;
            let grad: Vec<f32> = (0..windows).map(|x| x as f32 + 0.5).collect();
            for relu in [false, true] {
                let forward = |row: ForwardRow| {
                    let (mut out, mut codes) = (vec![9.0; windows], vec![9; windows]);
                    row(&top, &bottom, &mut out, &mut codes);
                    (out, codes)
                };
                let (vector, scalar) = if relu {
                    (
                        forward(forward_row::<true>),
                        forward(scalar_forward_row::<true>),
                    )
                } else {
                    (
                        forward(forward_row::<false>),
                        forward(scalar_forward_row::<false>),
                    )
                };
                assert!(
                    same_floats(&vector.0, &scalar.0),
                    "{windows} windows, relu {relu}"
                );
                assert_eq!(vector.1, scalar.1, "{windows} windows, relu {relu}");
                let backward = |row: BackwardRow| {
                    let (mut top, mut bottom) = (vec![9.0; 2 * windows], vec![9.0; 2 * windows]);
                    row(&grad, &vector.1, &mut top, &mut bottom);
                    (top, bottom)
                };
                assert_eq!(backward(backward_row), backward(scalar_backward_row));
            }
        }
    }

    #[test]
    fn ties_go_to_the_first_maximum_and_nan_to_the_last_nan() {
        assert_eq!(window_max(1.0, 1.0, 1.0, 1.0), (1.0, 0));
        assert_eq!(window_max(0.0, 2.0, 1.0, 2.0), (2.0, 1));
        let (max, code) = window_max(f32::NAN, 5.0, f32::NAN, 1.0);
        assert!(max.is_nan());
        assert_eq!(code, 2);
    }

    #[test]
    fn odd_sizes_drop_the_last_row_and_column_in_both_directions() {
        // 3×3 plane: one window (rows 0–1, columns 0–1); row 2 and column 2 are dropped.
        let plane = [1.0, 4.0, 9.0, 3.0, 2.0, 9.0, 9.0, 9.0, 9.0];
        let (mut out, mut codes) = ([0.0], [0]);
        forward_plane::<false>(&plane, 3, &mut out, &mut codes);
        assert_eq!((out, codes), ([4.0], [1]));
        let mut grad_in = [7.0; 9];
        backward_plane(&[0.5], &codes, 3, &mut grad_in);
        assert_eq!(grad_in, [0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn relu_clips_non_positive_windows_and_stops_their_gradient() {
        let plane = [-1.0, -2.0, 0.0, 3.0, -3.0, -4.0, 0.0, f32::NAN];
        let (mut out, mut codes) = ([9.0; 2], [9; 2]);
        forward_plane::<true>(&plane, 4, &mut out, &mut codes);
        assert_eq!(out[0], 0.0);
        assert_eq!(codes[0], NO_GRADIENT);
        assert!(out[1].is_nan());
        assert_eq!(codes[1], 3);
        let mut grad_in = [7.0; 8];
        backward_plane(&[1.0, 2.0], &codes, 4, &mut grad_in);
        assert_eq!(grad_in, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]);
    }
}
