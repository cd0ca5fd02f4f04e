//! Metrics as plain functions over predictions and targets (as in linfa and scikit-learn).

use serde::{Deserialize, Serialize};

/// Fraction of predictions equal to the targets.
pub fn accuracy(predicted: &[usize], actual: &[usize]) -> f64 {
    assert_eq!(predicted.len(), actual.len(), "accuracy: length mismatch");
    if actual.is_empty() {
        return 0.0;
    }
    let correct = predicted.iter().zip(actual).filter(|(p, a)| p == a).count();
    correct as f64 / actual.len() as f64
}

/// `matrix[actual][predicted]` counts, as scikit-learn's `confusion_matrix`.
pub fn confusion_matrix(
    predicted: &[usize],
    actual: &[usize],
    n_classes: usize,
) -> Vec<Vec<usize>> {
    assert_eq!(
        predicted.len(),
        actual.len(),
        "confusion_matrix: length mismatch"
    );
    let mut matrix = vec![vec![0; n_classes]; n_classes];
    for (&p, &a) in predicted.iter().zip(actual) {
        matrix[a][p] += 1;
    }
    matrix
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of examples whose true class is this one.
    pub support: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1 scores.
    pub macro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[actual][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    // scikit-learn's `zero_division=0`: a class never predicted (or never present) scores 0.
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Accuracy, per-class precision/recall/F1, macro-F1 and the confusion matrix.
pub fn classification_report(
    predicted: &[usize],
    actual: &[usize],
    n_classes: usize,
) -> ClassificationReport {
    let confusion = confusion_matrix(predicted, actual, n_classes);
    let per_class: Vec<ClassMetrics> = (0..n_classes)
        .map(|c| {
            let true_positives = confusion[c][c];
            let predicted_c: usize = confusion.iter().map(|row| row[c]).sum();
            let support: usize = confusion[c].iter().sum();
            let precision = ratio(true_positives, predicted_c);
            let recall = ratio(true_positives, support);
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            ClassMetrics {
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let macro_f1 = per_class.iter().map(|m| m.f1).sum::<f64>() / n_classes as f64;
    ClassificationReport {
        accuracy: accuracy(predicted, actual),
        macro_f1,
        per_class,
        confusion,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    pub mse: f64,
    pub mae: f64,
    /// Coefficient of determination, averaged over outputs (scikit-learn's `uniform_average`).
    pub r2: f64,
}

/// MSE, MAE and R² over row-major `[examples, n_outputs]` predictions and targets.
pub fn regression_report(predicted: &[f32], actual: &[f32], n_outputs: usize) -> RegressionReport {
    assert_eq!(
        predicted.len(),
        actual.len(),
        "regression_report: length mismatch"
    );
    let n = actual.len() as f64;
    let errors = predicted
        .iter()
        .zip(actual)
        .map(|(p, a)| *p as f64 - *a as f64);
    let mse = errors.clone().map(|e| e * e).sum::<f64>() / n;
    let mae = errors.map(f64::abs).sum::<f64>() / n;
    let r2 = (0..n_outputs)
        .map(|o| {
            let column = |v: &[f32]| {
                v.iter()
                    .skip(o)
                    .step_by(n_outputs)
                    .map(|x| *x as f64)
                    .collect::<Vec<_>>()
            };
            r2_score(&column(predicted), &column(actual))
        })
        .sum::<f64>()
        / n_outputs as f64;
    RegressionReport { mse, mae, r2 }
}

/// `1 - SS_res / SS_tot`; a constant target gives 1 for a perfect fit and 0 otherwise, as in
/// scikit-learn.
pub fn r2_score(predicted: &[f64], actual: &[f64]) -> f64 {
    let mean = actual.iter().sum::<f64>() / actual.len() as f64;
    let ss_res: f64 = predicted
        .iter()
        .zip(actual)
        .map(|(p, a)| (a - p).powi(2))
        .sum();
    let ss_tot: f64 = actual.iter().map(|a| (a - mean).powi(2)).sum();
    if ss_tot == 0.0 {
        if ss_res == 0.0 { 1.0 } else { 0.0 }
    } else {
        1.0 - ss_res / ss_tot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_report_matches_hand_counts() {
        // actual:    0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let actual = [0, 0, 0, 1, 1, 2];
        let predicted = [0, 0, 1, 1, 2, 2];
        let report = classification_report(&predicted, &actual, 3);
        assert_eq!(
            report.confusion,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        assert!((report.accuracy - 4.0 / 6.0).abs() < 1e-12);
        let c0 = &report.per_class[0];
        assert_eq!((c0.precision, c0.support), (1.0, 3));
        assert!((c0.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((c0.f1 - 0.8).abs() < 1e-12);
        let c1 = &report.per_class[1];
        assert_eq!((c1.precision, c1.recall, c1.f1), (0.5, 0.5, 0.5));
        let c2 = &report.per_class[2];
        assert!((c2.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((report.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn class_never_predicted_scores_zero() {
        let report = classification_report(&[0, 0], &[0, 1], 2);
        assert_eq!(report.per_class[1].precision, 0.0);
        assert_eq!(report.per_class[1].f1, 0.0);
    }

    #[test]
    fn regression_report_matches_hand_computation() {
        let actual = [1.0, 2.0, 3.0, 4.0];
        let predicted = [1.5, 2.0, 2.0, 4.0];
        let report = regression_report(&predicted, &actual, 1);
        assert!((report.mse - (0.25 + 1.0) / 4.0).abs() < 1e-9);
        assert!((report.mae - 1.5 / 4.0).abs() < 1e-9);
        // SS_tot = 5, SS_res = 1.25
        assert!((report.r2 - 0.75).abs() < 1e-9);
    }

    #[test]
    fn r2_averages_over_outputs() {
        // Output 0 predicted perfectly (R² = 1), output 1 by its mean (R² = 0).
        let actual = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0];
        let predicted = [1.0, 20.0, 2.0, 20.0, 3.0, 20.0];
        assert!((regression_report(&predicted, &actual, 2).r2 - 0.5).abs() < 1e-9);
    }
}
