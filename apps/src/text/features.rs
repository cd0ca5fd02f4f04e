//! Text to numbers: lower-casing, Unicode-aware tokenisation, word and character n-grams, a
//! vocabulary pruned by document frequency, and TF-IDF weighting with the formulas of
//! scikit-learn's `TfidfVectorizer` (smooth IDF, optional sublinear TF, L2-normalised rows).
//! The fitted vectorizer is saved in `model.json`, so `predict` rebuilds exactly the same
//! columns. Rows are sparse (term ids and weights): a text touches a few hundred of the
//! vocabulary's columns, and the models' first layer takes sparse rows as they are.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use zoo_models::data::{DataError, Inputs};
use zoo_models::dataset::FeatureSource;
use zoo_models::prelude::Device;
use zoo_models::sparse::{SparseBatch, SparseFeatures};

/// How texts become terms and terms become columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TfidfConfig {
    /// Word n-gram lengths, inclusive: `(1, 2)` takes single words and pairs.
    pub word_ngrams: (usize, usize),
    /// Character n-gram lengths within words (padded with a space each side, as
    /// scikit-learn's `char_wb`), or none.
    pub char_ngrams: Option<(usize, usize)>,
    /// Keep terms found in at least this many training texts.
    pub min_df: usize,
    /// Keep at most this many terms, the most frequent (by document frequency) first.
    pub max_features: usize,
    /// Use `1 + ln(tf)` instead of the raw count.
    pub sublinear_tf: bool,
}

impl Default for TfidfConfig {
    fn default() -> Self {
        Self {
            word_ngrams: (1, 2),
            char_ngrams: None,
            min_df: 2,
            max_features: 100_000,
            sublinear_tf: true,
        }
    }
}

impl TfidfConfig {
    pub fn validate(&self) -> Result<(), String> {
        let valid = |(low, high): (usize, usize)| low >= 1 && low <= high;
        if !valid(self.word_ngrams) {
            return Err(format!(
                "word n-grams {:?}: need 1 <= min <= max",
                self.word_ngrams
            ));
        }
        if let Some(range) = self.char_ngrams
            && !valid(range)
        {
            return Err(format!("character n-grams {range:?}: need 1 <= min <= max"));
        }
        if self.min_df == 0 || self.max_features == 0 {
            return Err("min-df and max-features must be at least 1".into());
        }
        Ok(())
    }

    /// The terms of a text, with repeats: words are maximal runs of Unicode letters and digits,
    /// lower-cased; word n-grams join words with a space, character n-grams start with `#`
    /// (neither can occur inside a word, so the three kinds never collide).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut terms = Vec::new();
        // No n-gram is longer than the text: a range up to 10¹⁸ (from a hand-edited
        // model.json) must not loop that long.
        let (low, high) = self.word_ngrams;
        for n in low..=high.min(words.len()) {
            terms.extend(words.windows(n).map(|gram| gram.join(" ")));
        }
        if let Some((low, high)) = self.char_ngrams {
            for word in &words {
                let padded: Vec<char> = format!(" {word} ").chars().collect();
                for n in low..=high.min(padded.len()) {
                    terms.extend(
                        padded
                            .windows(n)
                            .map(|g| format!("#{}", g.iter().collect::<String>())),
                    );
                }
            }
        }
        terms
    }
}

/// A fitted TF-IDF vectorizer: the vocabulary (column order) and each term's IDF. It is saved
/// without its term index, which loading rebuilds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "SavedVectorizer", into = "SavedVectorizer")]
pub struct TfidfVectorizer {
    pub config: TfidfConfig,
    pub vocabulary: Vec<String>,
    pub idf: Vec<f32>,
    index: HashMap<String, usize>,
}

/// What `model.json` holds of a vectorizer.
#[derive(Clone, Serialize, Deserialize)]
struct SavedVectorizer {
    config: TfidfConfig,
    vocabulary: Vec<String>,
    idf: Vec<f32>,
}

impl From<SavedVectorizer> for TfidfVectorizer {
    fn from(saved: SavedVectorizer) -> Self {
        Self::new(saved.config, saved.vocabulary, saved.idf)
    }
}

impl From<TfidfVectorizer> for SavedVectorizer {
    fn from(vectorizer: TfidfVectorizer) -> Self {
        Self {
            config: vectorizer.config,
            vocabulary: vectorizer.vocabulary,
            idf: vectorizer.idf,
        }
    }
}

/// A term's key while counting document frequencies: a 64-bit hash, so that counting over a
/// large corpus holds about 17 bytes per distinct term (a hash table entry) rather than the
/// term itself. Two terms of one corpus share a key with odds of about n² / 2⁶⁵ (below 1e-5
/// for 10 million distinct terms).
fn term_key(term: &str) -> u64 {
    // SipHash with fixed keys: the same key for the same term in every run.
    let mut hasher = std::hash::DefaultHasher::new();
    term.hash(&mut hasher);
    hasher.finish()
}

impl TfidfVectorizer {
    /// Learns the vocabulary and IDF table from the training texts, in two passes over them:
    /// document frequencies by term key, then the kept terms' spellings.
    pub fn fit(config: TfidfConfig, texts: &[&str]) -> Result<Self, String> {
        config.validate()?;
        let mut document_frequency: HashMap<u64, u32> = HashMap::new();
        for text in texts {
            let mut keys: Vec<u64> = config.terms(text).iter().map(|t| term_key(t)).collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                *document_frequency.entry(key).or_default() += 1;
            }
        }
        let mut frequencies: Vec<u32> = document_frequency
            .values()
            .copied()
            .filter(|&df| df as usize >= config.min_df)
            .collect();
        if frequencies.is_empty() {
            return Err(format!(
                "no term occurs in at least {} training texts; lower --min-df",
                config.min_df
            ));
        }
        // The document frequency of the last term that fits under max_features: every term
        // above it is kept, and ties at it are settled by spelling below.
        let cut = frequencies.len().min(config.max_features) - 1;
        let threshold = *frequencies.select_nth_unstable_by(cut, |a, b| b.cmp(a)).1;
        let candidates: HashMap<u64, u32> = document_frequency
            .into_iter()
            .filter(|&(_, df)| df >= threshold)
            .collect();
        let mut spelled: HashMap<u64, String> = HashMap::with_capacity(candidates.len());
        for text in texts {
            if spelled.len() == candidates.len() {
                break;
            }
            for term in config.terms(text) {
                let key = term_key(&term);
                if candidates.contains_key(&key) {
                    spelled.entry(key).or_insert(term);
                }
            }
        }
        let mut kept: Vec<(String, usize)> = spelled
            .into_iter()
            .map(|(key, term)| (term, candidates[&key] as usize))
            .collect();
        // Most frequent first, ties by term, so the cut at max_features is deterministic.
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(config.max_features);
        // Columns in term order, as scikit-learn.
        let by_term: BTreeMap<String, usize> = kept.into_iter().collect();
        let n = texts.len() as f64;
        let idf = by_term
            .values()
            .map(|&df| (((1.0 + n) / (1.0 + df as f64)).ln() + 1.0) as f32)
            .collect();
        Ok(Self::new(config, by_term.into_keys().collect(), idf))
    }

    fn new(config: TfidfConfig, vocabulary: Vec<String>, idf: Vec<f32>) -> Self {
        let index = vocabulary
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i))
            .collect();
        Self {
            config,
            vocabulary,
            idf,
            index,
        }
    }

    pub fn n_features(&self) -> usize {
        self.vocabulary.len()
    }

    /// The TF-IDF row of one text as (column, value) pairs in column order; empty when the
    /// text has no known term.
    pub fn sparse_row(&self, text: &str) -> Vec<(u32, f32)> {
        let mut counts: BTreeMap<u32, f32> = BTreeMap::new();
        for term in self.config.terms(text) {
            if let Some(&column) = self.index.get(&term) {
                *counts.entry(column as u32).or_default() += 1.0;
            }
        }
        let mut row: Vec<(u32, f32)> = counts
            .into_iter()
            .map(|(column, count)| {
                let tf = if self.config.sublinear_tf {
                    1.0 + count.ln()
                } else {
                    count
                };
                (column, tf * self.idf[column as usize])
            })
            .collect();
        let norm = row.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|(_, v)| *v /= norm);
        }
        row
    }

    /// The TF-IDF row of one text with its zeros.
    pub fn row(&self, text: &str) -> Vec<f32> {
        let mut row = vec![0.0f32; self.vocabulary.len()];
        for (column, value) in self.sparse_row(text) {
            row[column as usize] = value;
        }
        row
    }

    /// The TF-IDF rows of many texts, computed in parallel, kept sparse.
    pub fn transform<S: AsRef<str> + Sync>(&self, texts: &[S]) -> SparseFeatures {
        let rows: Vec<Vec<(u32, f32)>> = texts
            .par_iter()
            .map(|text| self.sparse_row(text.as_ref()))
            .collect();
        let mut features = SparseFeatures::new(self.n_features()).expect("a non-empty vocabulary");
        for row in rows {
            features
                .push_row(row)
                .expect("TF-IDF values are finite and in range");
        }
        features
    }
}

/// Stored TF-IDF values up to which a set of texts is vectorised once and held in memory (8
/// bytes per value: 512 MiB); larger sets are vectorised batch by batch ([`TextRows`]).
pub const IN_MEMORY_VALUES: usize = 64 << 20;

/// Texts whose TF-IDF rows are computed when a batch asks for them, in the data loader's
/// worker: memory holds the texts, not their rows.
pub struct TextRows {
    pub vectorizer: Arc<TfidfVectorizer>,
    pub texts: Arc<Vec<String>>,
}

impl FeatureSource for TextRows {
    fn len(&self) -> usize {
        self.texts.len()
    }

    fn n_features(&self) -> usize {
        self.vectorizer.n_features()
    }

    fn inputs(&self, indices: &[usize], device: &Device) -> Result<Inputs, DataError> {
        let rows: Vec<Vec<(u32, f32)>> = indices
            .par_iter()
            .map(|&i| self.vectorizer.sparse_row(&self.texts[i]))
            .collect();
        let mut batch = SparseBatch::new(self.n_features());
        rows.into_iter().for_each(|row| batch.push_row(row));
        Ok(Inputs::Sparse(batch.to_device(device)))
    }
}

/// The TF-IDF rows of `texts` as a feature source: held in memory when they take at most
/// `in_memory_values` stored values (estimated from the first 1,000 texts; the app uses
/// [`IN_MEMORY_VALUES`]), else computed per batch. Returns the source and whether it is held
/// in memory.
pub fn text_features(
    vectorizer: Arc<TfidfVectorizer>,
    texts: Arc<Vec<String>>,
    in_memory_values: usize,
) -> (Arc<dyn FeatureSource>, bool) {
    let sample = &texts[..texts.len().min(1000)];
    let sampled: usize = sample
        .par_iter()
        .map(|t| vectorizer.sparse_row(t).len())
        .sum();
    let estimate = sampled as f64 / sample.len().max(1) as f64 * texts.len() as f64;
    if estimate <= in_memory_values as f64 {
        (Arc::new(vectorizer.transform(&texts)), true)
    } else {
        (Arc::new(TextRows { vectorizer, texts }), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_only(ngrams: (usize, usize), min_df: usize) -> TfidfConfig {
        TfidfConfig {
            word_ngrams: ngrams,
            char_ngrams: None,
            min_df,
            max_features: 100,
            sublinear_tf: false,
        }
    }

    #[test]
    fn tokens_are_lower_cased_unicode_words() {
        let config = words_only((1, 2), 1);
        assert_eq!(
            config.terms("Grüße, WORLD! ça-va 42x"),
            [
                "grüße",
                "world",
                "ça",
                "va",
                "42x",
                "grüße world",
                "world ça",
                "ça va",
                "va 42x"
            ]
        );
        let chars = TfidfConfig {
            word_ngrams: (1, 1),
            char_ngrams: Some((3, 3)),
            ..words_only((1, 1), 1)
        };
        assert_eq!(chars.terms("Hi"), ["hi", "# hi", "#hi "]);
        // Ranges far longer than any text (a hand-edited model.json) end with the text.
        let endless = TfidfConfig {
            char_ngrams: Some((3, usize::MAX)),
            ..words_only((2, usize::MAX), 1)
        };
        assert_eq!(endless.terms("a b"), ["a b", "# a ", "# b "]);
    }

    #[test]
    fn vocabulary_and_idf_match_scikit_learn() {
        // TfidfVectorizer(min_df=2, smooth_idf=True, norm=None) on these three texts keeps
        // `the` (df 3) and `cat` (df 2): idf = ln(4/4) + 1 = 1 and ln(4/3) + 1.
        let texts = ["the cat sat", "the cat ran", "the dog"];
        let vectorizer = TfidfVectorizer::fit(words_only((1, 1), 2), &texts).unwrap();
        assert_eq!(vectorizer.vocabulary, ["cat", "the"]);
        assert_eq!(vectorizer.idf[1], 1.0);
        assert!((vectorizer.idf[0] - (1.0 + (4.0f32 / 3.0).ln())).abs() < 1e-6);

        // "the cat the": tf (cat 1, the 2) × idf, L2-normalised.
        let row = vectorizer.row("The cat, the!");
        let raw = [1.0 + (4.0f32 / 3.0).ln(), 2.0];
        let norm = (raw[0] * raw[0] + raw[1] * raw[1]).sqrt();
        assert!((row[0] - raw[0] / norm).abs() < 1e-6 && (row[1] - raw[1] / norm).abs() < 1e-6);
        assert_eq!(vectorizer.row("unknown words only"), [0.0, 0.0]);
    }

    #[test]
    fn max_features_keeps_the_most_frequent_terms() {
        let texts = ["a b c", "a b", "a"];
        let config = TfidfConfig {
            max_features: 2,
            ..words_only((1, 1), 1)
        };
        let vectorizer = TfidfVectorizer::fit(config, &texts).unwrap();
        assert_eq!(vectorizer.vocabulary, ["a", "b"]);
        let err = TfidfVectorizer::fit(words_only((1, 1), 5), &texts).unwrap_err();
        assert!(err.contains("lower --min-df"), "{err}");
    }

    #[test]
    fn rows_computed_per_batch_equal_the_rows_held_in_memory() {
        let texts: Vec<String> = [
            "free prize now",
            "call me now",
            "free call",
            "unknown words",
        ]
        .map(String::from)
        .into();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectorizer = Arc::new(TfidfVectorizer::fit(words_only((1, 2), 1), &refs).unwrap());
        let texts = Arc::new(texts);
        let (in_memory, held) = text_features(vectorizer.clone(), texts.clone(), 1000);
        let (per_batch, not_held) = text_features(vectorizer.clone(), texts.clone(), 0);
        assert!(held && !not_held);
        let device = zoo_models::backend::BackendKind::default_for_build()
            .device()
            .unwrap();
        let rows = [3, 0, 2];
        let dense = |source: &Arc<dyn FeatureSource>| {
            source
                .inputs(&rows, &device)
                .unwrap()
                .into_dense()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let expected: Vec<f32> = rows
            .iter()
            .flat_map(|&i| vectorizer.row(&texts[i]))
            .collect();
        assert_eq!(dense(&in_memory), expected);
        assert_eq!(dense(&per_batch), expected);
        assert!(expected.iter().any(|&v| v > 0.0));
    }

    #[test]
    fn a_saved_vectorizer_gives_the_same_rows() {
        let texts = ["free prize now", "call me now", "free call"];
        let vectorizer = TfidfVectorizer::fit(TfidfConfig::default(), &texts).unwrap();
        let json = serde_json::to_string(&vectorizer).unwrap();
        assert!(!json.contains("index"), "the index is rebuilt, not saved");
        let restored: TfidfVectorizer = serde_json::from_str(&json).unwrap();
        assert_eq!(
            restored.row("free call now"),
            vectorizer.row("free call now")
        );
        assert!(restored.row("free call now").iter().any(|&v| v > 0.0));
    }
}
