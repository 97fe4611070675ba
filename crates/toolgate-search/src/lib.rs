//! Ranked search over a catalog's tools, for toolgate's meta-tool mode (`search_tools`).
//!
//! A [`ToolIndex`] is built once per catalog version from each tool's [`ToolDoc`] (name split
//! at `_` and case changes, summary, description head, argument names, tags, path segments
//! and method verbs) and answers a natural-language query with the best matches and, for
//! each, which query words matched in which fields. Ranking is BM25F (`index.rs`) over the
//! terms of one tokenizer (`tokenize.rs`). A query that is exactly a tool's name puts that
//! tool first.
//!
//! Pure and synchronous: no I/O, no catalog or authorization types. The caller passes which
//! positions the caller may see (`admit`), so a hidden tool is never scored into a result.
//! Caching the index per catalog and serving the meta-tools is `toolgate-policy::meta`'s.
//!
//! Why hand-written rather than a crate: see `docs/large-apis.md` ("Search"): the `bm25`
//! crate has one field (no name/summary weights), no per-result explanation and no filter
//! during ranking; `tantivy` is a disk-oriented engine two orders of magnitude bigger than
//! this for 1,223 short documents.

pub mod doc;
pub mod index;
pub mod tokenize;

pub use doc::ToolDoc;
pub use index::{FIELDS, Field, Index, Params};
pub use tokenize::Tokenizer;

use hashbrown::HashMap;

/// A search over the tools of one catalog version.
pub struct ToolIndex {
    index: Index,
    tokenizer: Tokenizer,
    summaries: Vec<Box<str>>,
    names: HashMap<Box<str>, usize>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The tool's position in the documents the index was built from.
    pub position: usize,
    /// Its score (higher is better; comparable within one query only).
    pub score: f32,
    /// Why it matched: each query word that matched, with the fields it matched in
    /// (`issue: name, summary`); `name` alone when the query was the tool's name.
    pub why: String,
}

impl ToolIndex {
    /// Indexes `docs` (positions are their order) with the default tokenizer and ranking.
    pub fn build(docs: impl IntoIterator<Item = ToolDoc>) -> ToolIndex {
        ToolIndex::build_with(docs, Tokenizer::default(), Params::default())
    }

    /// [`ToolIndex::build`] with a given tokenizer and ranking (the evaluation compares them).
    pub fn build_with(
        docs: impl IntoIterator<Item = ToolDoc>,
        tokenizer: Tokenizer,
        params: Params,
    ) -> ToolIndex {
        let mut builder = Index::builder();
        let mut summaries = Vec::new();
        let mut names = HashMap::new();
        for doc in docs {
            let fields: [Vec<String>; FIELDS] = [
                tokenizer.terms(&doc.name),
                tokenizer.terms(doc.title.as_deref().unwrap_or("")),
                tokenizer.terms(&doc.description),
                tokenizer.terms(&doc.params.join(" ")),
                tokenizer.terms(&doc.tags.join(" ")),
                tokenizer.terms(&doc.path_text()),
            ];
            let position = builder.add(&fields);
            names.insert(Box::from(doc.name.as_str()), position);
            summaries.push(doc.summary().into_boxed_str());
        }
        ToolIndex {
            index: builder.build(params),
            tokenizer,
            summaries,
            names,
        }
    }

    /// How many tools it holds.
    pub fn len(&self) -> usize {
        self.summaries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.summaries.is_empty()
    }

    /// The underlying index (sizes for the benchmark figures).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The one-line summary of the tool at `position`.
    pub fn summary(&self, position: usize) -> &str {
        self.summaries.get(position).map_or("", |s| s)
    }

    /// The best `limit` tools for `query` among those `admit` lets through, best first.
    pub fn search(&self, query: &str, limit: usize, admit: impl Fn(usize) -> bool) -> Vec<Match> {
        if limit == 0 {
            return Vec::new();
        }
        let exact = self.names.get(query.trim()).copied().filter(|&p| admit(p));
        let words: Vec<(&str, Vec<String>)> = query
            .split(|c: char| !c.is_alphanumeric() && c != '_' && c != '-')
            .filter(|w| !w.is_empty())
            .map(|w| (w, self.tokenizer.terms(w)))
            .filter(|(_, t)| !t.is_empty())
            .collect();
        let terms: Vec<String> = words.iter().flat_map(|(_, t)| t.iter().cloned()).collect();
        let mut matches: Vec<Match> = Vec::with_capacity(limit);
        if let Some(p) = exact {
            matches.push(Match {
                position: p,
                score: f32::INFINITY,
                why: "name".to_owned(),
            });
        }
        for hit in self
            .index
            .search(&terms, limit, |d| admit(d) && Some(d) != exact)
        {
            if matches.len() == limit {
                break;
            }
            matches.push(Match {
                position: hit.doc,
                score: hit.score,
                why: self.why(&words, hit.doc),
            });
        }
        matches
    }

    /// Which query words matched document `doc`, and where.
    fn why(&self, words: &[(&str, Vec<String>)], doc: usize) -> String {
        let mut parts: Vec<String> = Vec::new();
        for (word, terms) in words {
            let mut fields: Vec<Field> = Vec::new();
            for t in terms {
                for f in self.index.fields_of(t, doc) {
                    if !fields.contains(&f) {
                        fields.push(f);
                    }
                }
            }
            if fields.is_empty() {
                continue;
            }
            fields.sort_by_key(|f| *f as usize);
            let word = word.to_lowercase();
            if parts.iter().any(|p| p.starts_with(&format!("{word}:"))) {
                continue;
            }
            let labels: Vec<&str> = fields.iter().map(|f| f.label()).collect();
            parts.push(format!("{word}: {}", labels.join(", ")));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs() -> Vec<ToolDoc> {
        let d = |name: &str, title: &str, method: &str, path: &str| ToolDoc {
            name: name.into(),
            title: Some(title.into()),
            method: Some(method.into()),
            path: Some(path.into()),
            ..ToolDoc::default()
        };
        vec![
            d(
                "issues_list_for_repo",
                "List repository issues",
                "GET",
                "/repos/{owner}/{repo}/issues",
            ),
            d(
                "issues_create_comment",
                "Create an issue comment",
                "POST",
                "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            ),
            d(
                "repos_delete",
                "Delete a repository",
                "DELETE",
                "/repos/{owner}/{repo}",
            ),
            d(
                "activity_star_repo_for_authenticated_user",
                "Star a repository for the authenticated user",
                "PUT",
                "/user/starred/{owner}/{repo}",
            ),
        ]
    }

    #[test]
    fn natural_language_finds_the_operation_and_says_why() {
        let index = ToolIndex::build(docs());
        let hits = index.search("comment on an issue", 3, |_| true);
        assert_eq!(hits[0].position, 1, "{hits:?}");
        assert!(
            hits[0].why.contains("comment: name, summary, path"),
            "{}",
            hits[0].why
        );
        assert_eq!(index.search("remove a repo", 1, |_| true)[0].position, 2);
        assert_eq!(index.search("starring repos", 1, |_| true)[0].position, 3);
    }

    #[test]
    fn an_exact_name_comes_first_unless_hidden() {
        let index = ToolIndex::build(docs());
        let hits = index.search("repos_delete", 2, |_| true);
        assert_eq!(hits[0].position, 2);
        assert_eq!(hits[0].why, "name");
        let hidden = index.search("repos_delete", 4, |p| p != 2);
        assert!(hidden.iter().all(|m| m.position != 2), "{hidden:?}");
        assert!(index.search("anything", 0, |_| true).is_empty());
        assert!(index.search("", 5, |_| true).is_empty());
    }
}
