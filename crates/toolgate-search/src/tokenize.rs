//! Text → search terms: the one tokenizer both the index and the queries use.
//!
//! Words are split on anything that is not a letter or digit and at case changes
//! (`listForRepo` → `list`, `for`, `repo`; `HTTPServer` → `http`, `server`), lowercased,
//! stripped of English stop words, normalized through a small table of API vocabulary
//! (`repo` → `repository`, `remove` → `delete`, `pr` → `pull request`, …) and stemmed
//! (Snowball English, the stemmer tantivy uses: `starred` and `stars` → `star`). Each of
//! these steps is kept because it raised recall on the evaluation set (`eval/`, see
//! `tests/eval.rs`); the figures are in BENCHMARKS.md.
//!
//! Does not own: ranking (`index.rs`) or which texts of a tool are indexed (`doc.rs`).

use rust_stemmers::{Algorithm, Stemmer};

/// Words that carry no meaning for finding an operation (they are in most summaries).
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "any", "are", "as", "at", "be", "been", "by", "can", "do", "does", "for",
    "from", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of",
    "on", "or", "our", "so", "that", "the", "their", "them", "then", "there", "these", "this",
    "those", "to", "was", "we", "were", "what", "when", "which", "who", "will", "with", "you",
    "your", "want", "need", "please", "should", "would", "could", "some", "one", "using", "via",
];

/// API vocabulary with one meaning: abbreviations and verbs that specs and people use for
/// the same operation (applied before stemming, on both sides).
const SYNONYMS: &[(&str, &[&str])] = &[
    ("repo", &["repository"]),
    ("repos", &["repository"]),
    ("org", &["organization"]),
    ("orgs", &["organization"]),
    ("pr", &["pull", "request"]),
    ("prs", &["pull", "request"]),
    ("bug", &["issue"]),
    ("ticket", &["issue"]),
    ("remove", &["delete"]),
    ("erase", &["delete"]),
    ("destroy", &["delete"]),
    ("add", &["create"]),
    ("new", &["create"]),
    ("make", &["create"]),
    ("fetch", &["get"]),
    ("retrieve", &["get"]),
    ("show", &["get"]),
    ("read", &["get"]),
    ("edit", &["update"]),
    ("modify", &["update"]),
    ("change", &["update"]),
    ("enumerate", &["list"]),
    ("config", &["configuration"]),
    ("auth", &["authentication"]),
    ("info", &["information"]),
];

/// Turns text into search terms.
pub struct Tokenizer {
    stemmer: Option<Stemmer>,
    synonyms: bool,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer::new(true, true)
    }
}

impl Tokenizer {
    /// A tokenizer with or without stemming and the synonym table (the evaluation compares
    /// them; the index uses both).
    pub fn new(stem: bool, synonyms: bool) -> Tokenizer {
        Tokenizer {
            stemmer: stem.then(|| Stemmer::create(Algorithm::English)),
            synonyms,
        }
    }

    /// Appends the terms of `text` to `out`.
    pub fn terms_into(&self, text: &str, out: &mut Vec<String>) {
        for word in words(text) {
            let lower = word.to_lowercase();
            if lower.len() < 2 && !lower.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            if STOP_WORDS.contains(&lower.as_str()) {
                continue;
            }
            let replaced = self
                .synonyms
                .then(|| SYNONYMS.iter().find(|(w, _)| *w == lower))
                .flatten();
            match replaced {
                Some((_, to)) => {
                    for t in *to {
                        out.push(self.stem(t));
                    }
                }
                None => out.push(self.stem(&lower)),
            }
        }
    }

    /// The terms of `text`.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.terms_into(text, &mut out);
        out
    }

    fn stem(&self, word: &str) -> String {
        match &self.stemmer {
            Some(s) => s.stem(word).into_owned(),
            None => word.to_owned(),
        }
    }
}

/// The words of `text`: runs of letters and digits, split where the case turns from lower
/// to upper (`listFor`) and before the last capital of a capital run (`HTTPServer`).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .flat_map(split_case)
}

fn split_case(word: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..chars.len() {
        let (at, c) = chars[i];
        let prev = chars[i - 1].1;
        let next_lower = chars.get(i + 1).is_some_and(|(_, n)| n.is_lowercase());
        let boundary = (prev.is_lowercase() && c.is_uppercase())
            || (prev.is_uppercase() && c.is_uppercase() && next_lower);
        if boundary {
            parts.push(&word[start..at]);
            start = at;
        }
    }
    parts.push(&word[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_underscores_and_case_changes() {
        let t = Tokenizer::new(false, false);
        assert_eq!(
            t.terms("issues_listForRepo"),
            ["issues", "list", "repo"].map(String::from)
        );
        assert_eq!(
            t.terms("getHTTPServer v2"),
            ["get", "http", "server", "v2"].map(String::from)
        );
        assert_eq!(
            t.terms("/repos/{owner}/{repo}/pulls"),
            ["repos", "owner", "repo", "pulls"].map(String::from)
        );
    }

    #[test]
    fn stop_words_go_and_stems_meet() {
        let t = Tokenizer::default();
        assert_eq!(t.terms("Star a repository"), t.terms("starred repos"));
        assert_eq!(t.terms("remove the PR"), t.terms("delete pull requests"));
        assert!(t.terms("the of a").is_empty());
    }
}
