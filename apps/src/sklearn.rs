//! The CSV layout scikit-learn ships its small datasets in (breast cancer, iris): a metadata
//! line `n_samples,n_features,class_0_name,class_1_name,…`, then one row per sample with the
//! features followed by the integer class label.

use std::path::Path;

use zoo_models::data::{Examples, Features, TargetData};

use crate::error::LoadError;

/// A labelled dataset with its class names.
#[derive(Debug, Clone)]
pub struct ClassificationData {
    pub examples: Examples,
    pub class_names: Vec<String>,
}

/// Reads a scikit-learn classification CSV, checking it against its own metadata line.
pub fn load_classification_csv(path: &Path) -> Result<ClassificationData, LoadError> {
    let fail = |message: String| LoadError::new(path, message);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| fail(format!("cannot open: {e}")))?;
    let mut records = reader.records();
    let meta = records
        .next()
        .ok_or_else(|| fail("the file is empty".into()))?
        .map_err(|e| fail(e.to_string()))?;
    let number = |field: Option<&str>, what: &str| -> Result<usize, LoadError> {
        field
            .and_then(|f| f.trim().parse().ok())
            .ok_or_else(|| fail(format!("line 1: expected the metadata line `n_samples,n_features,class names…`, {what} is missing or not a number")))
    };
    let n_samples = number(meta.get(0), "n_samples")?;
    let n_features = number(meta.get(1), "n_features")?;
    let class_names: Vec<String> = meta.iter().skip(2).map(|s| s.trim().to_string()).collect();
    if class_names.len() < 2 {
        return Err(fail(
            "line 1: the metadata line names fewer than two classes".into(),
        ));
    }

    let mut values = Vec::with_capacity(n_samples * n_features);
    let mut labels = Vec::with_capacity(n_samples);
    for (i, record) in records.enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| fail(format!("line {line}: {e}")))?;
        if record.len() != n_features + 1 {
            return Err(fail(format!(
                "line {line}: {} fields, expected {} features and a label",
                record.len(),
                n_features
            )));
        }
        for (column, field) in record.iter().take(n_features).enumerate() {
            let value: f32 = field.trim().parse().map_err(|_| {
                fail(format!(
                    "line {line}, column {}: `{field}` is not a number",
                    column + 1
                ))
            })?;
            values.push(value);
        }
        let label = &record[n_features];
        let class = label
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&c| c < class_names.len())
            .ok_or_else(|| {
                fail(format!(
                    "line {line}: label `{label}` is not one of 0..{}",
                    class_names.len()
                ))
            })?;
        labels.push(class);
    }
    if labels.len() != n_samples {
        return Err(fail(format!(
            "the metadata line promises {n_samples} samples but the file has {}",
            labels.len()
        )));
    }
    let features = Features::new(values, n_features).map_err(|e| fail(e.to_string()))?;
    let targets = TargetData::Classes {
        labels,
        n_classes: class_names.len(),
    };
    let examples = Examples::new(features, targets).map_err(|e| fail(e.to_string()))?;
    Ok(ClassificationData {
        examples,
        class_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_features_labels_and_class_names() {
        let f = file("3,2,no,yes\n1.5,2,0\n3,4.25,1\n-1,0,1\n");
        let data = load_classification_csv(f.path()).unwrap();
        assert_eq!(data.class_names, vec!["no", "yes"]);
        assert_eq!(
            data.examples.features.values(),
            &[1.5, 2.0, 3.0, 4.25, -1.0, 0.0]
        );
        assert_eq!(
            data.examples.targets,
            TargetData::Classes {
                labels: vec![0, 1, 1],
                n_classes: 2
            }
        );
    }

    #[test]
    fn bad_files_name_the_file_and_the_line() {
        let cases = [
            ("", "empty"),
            ("2,2,a,b\n1,2,0\n", "promises 2 samples"),
            ("1,2,a,b\n1,0\n", "line 2: 2 fields"),
            ("1,2,a,b\n1,x,0\n", "line 2, column 2: `x` is not a number"),
            ("1,2,a,b\n1,2,5\n", "label `5`"),
            ("x,2,a,b\n", "n_samples"),
        ];
        for (text, expected) in cases {
            let f = file(text);
            let err = load_classification_csv(f.path()).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
            assert!(
                err.contains(&f.path().display().to_string()),
                "{err:?} should name the file"
            );
        }
        let missing = load_classification_csv(Path::new("/no/such/file.csv")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("/no/such/file.csv: cannot open")
        );
    }
}
