//! The Adam step in one pass per parameter tensor: both moments, the bias correction and the
//! update, element by element, in place where the tensors are not shared. Burn's `Adam` runs the
//! same arithmetic as a chain of whole-tensor operations, each allocating its result and reading
//! its inputs again (about ten passes over every parameter's size per step). The operations and
//! their order are Burn's, in f32, so the results are the same to the bit.

use rayon::prelude::*;

/// Elements per task: large enough that a task outweighs its scheduling.
const CHUNK: usize = 1 << 14;

/// Adam's hyper-parameters and this step's number (1 on the first step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub time: usize,
    pub learning_rate: f64,
}

/// Updates `param` and its moments from `grad`. On the first step (`first_step`) the moments'
/// previous values are ignored, as Burn starts them from the first gradient.
pub fn step(
    param: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    hyper: AdamStep,
    first_step: bool,
) {
    let n = param.len();
    assert!(
        grad.len() == n && moment_1.len() == n && moment_2.len() == n,
        "adam: the parameter, its gradient and its moments differ in size"
    );
    let factors = Factors::of(hyper, first_step);
    let update = |param: &mut [f32], grad: &[f32], moment_1: &mut [f32], moment_2: &mut [f32]| {
        update_widest(param, grad, moment_1, moment_2, &factors)
    };
    if n < super::ELEMENTWISE_POOL_FROM {
        update(param, grad, moment_1, moment_2);
        return;
    }
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(moment_1.par_chunks_mut(CHUNK))
        .zip(moment_2.par_chunks_mut(CHUNK))
        .for_each(|(((param, grad), moment_1), moment_2)| update(param, grad, moment_1, moment_2));
}

/// [`step`] on some rows only (lazy Adam, `super::row_sparse`): row `rows[i]` of `param` and of
/// the moments, rows of `width` values, takes the step from row `i` of `grads`; the other rows
/// are left as they are.
#[allow(clippy::too_many_arguments)]
pub fn step_rows(
    param: &mut [f32],
    rows: &[usize],
    grads: &[f32],
    width: usize,
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    hyper: AdamStep,
    first_step: bool,
) {
    let n = param.len();
    assert!(
        moment_1.len() == n
            && moment_2.len() == n
            && grads.len() == rows.len() * width
            && rows.iter().all(|&r| (r + 1) * width <= n),
        "adam: the rows do not fit the parameter and its moments"
    );
    let factors = Factors::of(hyper, first_step);
    for (&r, grad) in rows.iter().zip(grads.chunks_exact(width)) {
        let row = r * width..(r + 1) * width;
        update_widest(
            &mut param[row.clone()],
            grad,
            &mut moment_1[row.clone()],
            &mut moment_2[row],
            &factors,
        );
    }
}

/// The step's constants, computed once per tensor.
struct Factors {
    beta_1: f32,
    beta_2: f32,
    factor_1: f32,
    factor_2: f32,
    combined_factor: f32,
    denominator_epsilon: f32,
    learning_rate: f32,
    first_step: bool,
}

impl Factors {
    fn of(hyper: AdamStep, first_step: bool) -> Self {
        let AdamStep {
            beta_1,
            beta_2,
            epsilon,
            ..
        } = hyper;
        let time = hyper.time as i32;
        let bias_correction_2_sqrt = (1.0 - beta_2.powi(time)).sqrt();
        Factors {
            beta_1,
            beta_2,
            factor_1: 1.0 - beta_1,
            factor_2: 1.0 - beta_2,
            combined_factor: bias_correction_2_sqrt / (1.0 - beta_1.powi(time)),
            denominator_epsilon: epsilon * bias_correction_2_sqrt,
            learning_rate: hyper.learning_rate as f32,
            first_step,
        }
    }
}

/// [`update`] compiled for the widest vectors this CPU has. The crate is compiled for the
/// x86-64 baseline (SSE2, four lanes); AVX-512 has sixteen. Rust never fuses a multiply and an
/// add on its own, so every width computes the same bits.
fn update_widest(
    param: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    factors: &Factors,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked on the line above.
        return unsafe { update_avx512(param, grad, moment_1, moment_2, factors) };
    } else if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked on the line above.
        return unsafe { update_avx2(param, grad, moment_1, moment_2, factors) };
    }
    update(param, grad, moment_1, moment_2, factors)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn update_avx512(
    param: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    factors: &Factors,
) {
    update(param, grad, moment_1, moment_2, factors)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn update_avx2(
    param: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    factors: &Factors,
) {
    update(param, grad, moment_1, moment_2, factors)
}

/// Burn's arithmetic, element by element, in Burn's order.
#[inline(always)]
fn update(
    param: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    f: &Factors,
) {
    let moments = param.iter_mut().zip(grad).zip(moment_1).zip(moment_2);
    // Two loops rather than a test per element, so that each vectorises.
    if f.first_step {
        for (((p, &g), m1), m2) in moments {
            *m1 = g * f.factor_1;
            *m2 = (g * g) * f.factor_2;
            *p -= (*m1 * f.combined_factor) / (m2.sqrt() + f.denominator_epsilon) * f.learning_rate;
        }
    } else {
        for (((p, &g), m1), m2) in moments {
            *m1 = *m1 * f.beta_1 + g * f.factor_1;
            *m2 = *m2 * f.beta_2 + (g * g) * f.factor_2;
            *p -= (*m1 * f.combined_factor) / (m2.sqrt() + f.denominator_epsilon) * f.learning_rate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::in_threads;
    use super::*;

    #[test]
    fn the_step_gives_the_same_bits_on_one_thread_and_on_two() {
        // 300,000 elements: enough for the step to run on the pool.
        let n = 300_000;
        let values = |k: f32| (0..n).map(|i| (i as f32 * k).sin()).collect::<Vec<f32>>();
        let hyper = AdamStep {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            time: 3,
            learning_rate: 1e-2,
        };
        let run = |threads| {
            let (mut param, grad, mut m1) = (values(0.1), values(0.7), values(0.3));
            let mut m2: Vec<f32> = values(0.5).iter().map(|v| v.abs()).collect();
            in_threads(threads, || {
                step(&mut param, &grad, &mut m1, &mut m2, hyper, false)
            });
            (param, m1, m2)
        };
        let (one, two) = (run(1), run(2));
        assert_ne!(one.0, values(0.1), "the step moved the parameters");
        assert_eq!(one, two);
    }
}
