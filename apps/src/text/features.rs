//! Text to numbers: lower-casing, Unicode-aware tokenisation, word and character n-grams, a
//! vocabulary pruned by document frequency, and TF-IDF weighting with the formulas of
//! scikit-learn's `TfidfVectorizer` (smooth IDF, optional sublinear TF, L2-normalised rows).
//! The fitted vectorizer is saved in `model.json`, so `predict` rebuilds exactly the same
//! columns.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use zoo_models::data::Features;

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
            char_ngrams: Some((2, 4)),
            min_df: 2,
            max_features: 20_000,
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
        let (low, high) = self.word_ngrams;
        for n in low..=high {
            terms.extend(words.windows(n).map(|gram| gram.join(" ")));
        }
        if let Some((low, high)) = self.char_ngrams {
            for word in &words {
                let padded: Vec<char> = format!(" {word} ").chars().collect();
                for n in low..=high {
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

impl TfidfVectorizer {
    /// Learns the vocabulary and IDF table from the training texts.
    pub fn fit(config: TfidfConfig, texts: &[String]) -> Result<Self, String> {
        config.validate()?;
        let mut document_frequency: HashMap<String, usize> = HashMap::new();
        for text in texts {
            let mut terms = config.terms(text);
            terms.sort_unstable();
            terms.dedup();
            for term in terms {
                *document_frequency.entry(term).or_default() += 1;
            }
        }
        let mut kept: Vec<(String, usize)> = document_frequency
            .into_iter()
            .filter(|(_, df)| *df >= config.min_df)
            .collect();
        // Most frequent first, ties by term, so the cut at max_features is deterministic.
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(config.max_features);
        if kept.is_empty() {
            return Err(format!(
                "no term occurs in at least {} training texts; lower --min-df",
                config.min_df
            ));
        }
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

    /// The TF-IDF row of one text; all zeros when it has no known term.
    pub fn row(&self, text: &str) -> Vec<f32> {
        let mut row = vec![0.0f32; self.vocabulary.len()];
        for term in self.config.terms(text) {
            if let Some(&column) = self.index.get(&term) {
                row[column] += 1.0;
            }
        }
        for (value, idf) in row.iter_mut().zip(&self.idf) {
            if *value > 0.0 {
                let tf = if self.config.sublinear_tf {
                    1.0 + value.ln()
                } else {
                    *value
                };
                *value = tf * idf;
            }
        }
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
        row
    }

    /// The TF-IDF matrix of many texts, one dense row each.
    pub fn transform(&self, texts: &[String]) -> Features {
        let values = texts.iter().flat_map(|t| self.row(t)).collect();
        Features::new(values, self.n_features()).expect("finite TF-IDF values in whole rows")
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
    }

    #[test]
    fn vocabulary_and_idf_match_scikit_learn() {
        // TfidfVectorizer(min_df=2, smooth_idf=True, norm=None) on these three texts keeps
        // `the` (df 3) and `cat` (df 2): idf = ln(4/4) + 1 = 1 and ln(4/3) + 1.
        let texts = ["the cat sat", "the cat ran", "the dog"].map(String::from);
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
        let texts = ["a b c", "a b", "a"].map(String::from);
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
    fn a_saved_vectorizer_gives_the_same_rows() {
        let texts = ["free prize now", "call me now", "free call"].map(String::from);
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
