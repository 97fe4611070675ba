//! An in-memory BM25F index: documents made of a few weighted fields, ranked for a query.
//!
//! BM25F (Robertson, Zaragoza & Taylor, 2004) scores a term once per document from a
//! weighted sum of its per-field frequencies, each normalized by that field's length, so a
//! word in a tool's name counts more than the same word deep in its description without
//! adding up field scores that saturate separately. Postings are sorted by document, so the
//! fields a term matched in one result (the "why") are a binary search away.
//!
//! Does not own: tokenizing (`tokenize.rs`) or what a tool's fields are (`doc.rs`).

use hashbrown::HashMap;

/// The fields of a document, in index order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The tool's name (`issues_create_comment`).
    Name = 0,
    /// Its summary (the spec's `summary`, the MCP `title`).
    Summary = 1,
    /// The head of its description.
    Description = 2,
    /// Its argument names.
    Params = 3,
    /// Its tags (OpenAPI `tags`).
    Tags = 4,
    /// Its HTTP path's literal segments and the verbs of its method.
    Path = 5,
}

/// How many fields a document has.
pub const FIELDS: usize = 6;

impl Field {
    /// Every field, in index order.
    pub const ALL: [Field; FIELDS] = [
        Field::Name,
        Field::Summary,
        Field::Description,
        Field::Params,
        Field::Tags,
        Field::Path,
    ];

    /// The field's name in a search result's explanation.
    pub fn label(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Summary => "summary",
            Field::Description => "description",
            Field::Params => "parameters",
            Field::Tags => "tags",
            Field::Path => "path",
        }
    }
}

/// Ranking parameters: per-field weights and length normalization, and the saturation `k1`.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Weight of each field (by [`Field`] index).
    pub weights: [f32; FIELDS],
    /// Length normalization of each field (0 = none, 1 = full).
    pub b: [f32; FIELDS],
    /// Term-frequency saturation.
    pub k1: f32,
}

impl Default for Params {
    /// Tuned on the evaluation set (`tests/eval.rs`): names and summaries say what an
    /// operation does; descriptions add words but also noise.
    fn default() -> Self {
        Params {
            weights: [3.0, 2.5, 1.0, 0.6, 1.2, 1.2],
            b: [0.75, 0.5, 0.75, 0.5, 0.3, 0.5],
            k1: 1.2,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    /// Frequency of the term in each field (saturating).
    tf: [u8; FIELDS],
}

/// A frozen index over documents `0..len()`.
#[derive(Debug, Default)]
pub struct Index {
    terms: HashMap<Box<str>, Vec<Posting>>,
    lengths: Vec<[u16; FIELDS]>,
    average: [f32; FIELDS],
    params: Params,
}

/// One ranked document.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The document's position.
    pub doc: usize,
    /// Its BM25F score.
    pub score: f32,
}

/// Collects documents; [`IndexBuilder::build`] freezes them.
#[derive(Default)]
pub struct IndexBuilder {
    terms: HashMap<Box<str>, Vec<Posting>>,
    lengths: Vec<[u16; FIELDS]>,
}

impl IndexBuilder {
    /// Adds the next document from its terms, field by field; returns its position.
    pub fn add(&mut self, fields: &[Vec<String>; FIELDS]) -> usize {
        let doc = self.lengths.len();
        let mut lengths = [0u16; FIELDS];
        for (f, terms) in fields.iter().enumerate() {
            lengths[f] = u16::try_from(terms.len()).unwrap_or(u16::MAX);
            for term in terms {
                let postings = match self.terms.get_mut(term.as_str()) {
                    Some(p) => p,
                    None => self.terms.entry(term.as_str().into()).or_default(),
                };
                match postings.last_mut() {
                    // Names and paths repeat their resource (`customers/{customer}`): a
                    // repeat there says nothing more, so they count a term once.
                    Some(p) if p.doc as usize == doc => {
                        if f != Field::Name as usize && f != Field::Path as usize || p.tf[f] == 0 {
                            p.tf[f] = p.tf[f].saturating_add(1);
                        }
                    }
                    _ => {
                        let mut tf = [0u8; FIELDS];
                        tf[f] = 1;
                        postings.push(Posting {
                            doc: doc as u32,
                            tf,
                        });
                    }
                }
            }
        }
        self.lengths.push(lengths);
        doc
    }

    /// Freezes the index with ranking `params`.
    pub fn build(self, params: Params) -> Index {
        let n = self.lengths.len().max(1) as f32;
        let mut average = [0f32; FIELDS];
        for l in &self.lengths {
            for f in 0..FIELDS {
                average[f] += f32::from(l[f]);
            }
        }
        for a in &mut average {
            *a = (*a / n).max(1.0);
        }
        let mut terms = self.terms;
        terms.shrink_to_fit();
        Index {
            terms,
            lengths: self.lengths,
            average,
            params,
        }
    }
}

impl Index {
    /// Starts an index.
    pub fn builder() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// How many documents it holds.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// How many distinct terms it holds.
    pub fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// Approximate heap bytes of the postings and lengths (for the benchmark figures).
    pub fn heap_bytes(&self) -> usize {
        let postings: usize = self
            .terms
            .iter()
            .map(|(k, v)| k.len() + v.capacity() * size_of::<Posting>() + 40)
            .sum();
        postings + self.lengths.capacity() * size_of::<[u16; FIELDS]>()
    }

    /// The documents matching any of `terms` for which `admit` holds, best first, at most
    /// `limit` (ties broken by position, so results are deterministic).
    pub fn search(
        &self,
        terms: &[String],
        limit: usize,
        admit: impl Fn(usize) -> bool,
    ) -> Vec<Scored> {
        let mut scores = vec![0f32; self.len()];
        let mut touched: Vec<u32> = Vec::new();
        let n = self.len() as f32;
        let mut seen: Vec<&str> = Vec::with_capacity(terms.len());
        for term in terms {
            if seen.contains(&term.as_str()) {
                continue;
            }
            seen.push(term);
            let Some(postings) = self.terms.get(term.as_str()) else {
                continue;
            };
            let df = postings.len() as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for p in postings {
                let tf = self.weighted_tf(p);
                let s = &mut scores[p.doc as usize];
                if *s == 0.0 {
                    touched.push(p.doc);
                }
                *s += idf * tf / (self.params.k1 + tf);
            }
        }
        let mut ranked: Vec<Scored> = touched
            .into_iter()
            .map(|d| d as usize)
            .filter(|&d| admit(d))
            .map(|doc| Scored {
                doc,
                score: scores[doc],
            })
            .collect();
        ranked.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
        ranked.truncate(limit);
        ranked
    }

    /// The fields of document `doc` in which `term` occurs.
    pub fn fields_of(&self, term: &str, doc: usize) -> Vec<Field> {
        let Some(postings) = self.terms.get(term) else {
            return Vec::new();
        };
        match postings.binary_search_by_key(&(doc as u32), |p| p.doc) {
            Ok(i) => Field::ALL
                .into_iter()
                .filter(|f| postings[i].tf[*f as usize] > 0)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The BM25F pseudo-frequency of a posting: weighted, length-normalized field counts.
    fn weighted_tf(&self, p: &Posting) -> f32 {
        let lengths = &self.lengths[p.doc as usize];
        let mut sum = 0.0;
        for (f, (&tf, &len)) in p.tf.iter().zip(lengths).enumerate() {
            if tf == 0 {
                continue;
            }
            let b = self.params.b[f];
            let norm = 1.0 - b + b * f32::from(len) / self.average[f];
            sum += self.params.weights[f] * f32::from(tf) / norm;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, summary: &str) -> [Vec<String>; FIELDS] {
        let split = |s: &str| {
            s.split(' ')
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect()
        };
        [split(name), split(summary), vec![], vec![], vec![], vec![]]
    }

    #[test]
    fn a_name_match_outranks_a_summary_match_and_rare_terms_count_more() {
        let mut b = Index::builder();
        b.add(&doc("issue list", "list issue"));
        b.add(&doc("comment create", "create issue comment"));
        b.add(&doc("issue comment", "create comment"));
        let index = b.build(Params::default());
        let hits = index.search(&["comment".into(), "issue".into()], 10, |_| true);
        assert_eq!(hits.len(), 3);
        assert_eq!(hits[0].doc, 2, "{hits:?}");
        assert_eq!(
            index.fields_of("issue", 1),
            vec![Field::Summary],
            "the explanation names the field"
        );
        assert!(index.fields_of("issue", 7).is_empty());
    }

    #[test]
    fn refused_documents_are_never_returned_and_limits_hold() {
        let mut b = Index::builder();
        for _ in 0..5 {
            b.add(&doc("repo get", ""));
        }
        let index = b.build(Params::default());
        let hits = index.search(&["repo".into()], 2, |d| d != 0);
        assert_eq!(
            hits.iter().map(|h| h.doc).collect::<Vec<_>>(),
            vec![1, 2],
            "ties by position, doc 0 refused, 2 at most"
        );
        assert!(index.search(&["nothing".into()], 10, |_| true).is_empty());
    }
}
