//! `$ref` resolution: JSON pointers (`~0`/`~1` escaping, percent-encoded fragments), documents
//! (the root one borrowed, external ones fetched once per compilation through [`Externals`] and
//! shared by its workers), and the registry of named schema definitions (`$defs`).
//!
//! Every referenced schema location gets one def name for the whole compilation (component
//! schemas keep their own name; other locations are named after their last pointer segment,
//! deduplicated in the order they are first met). A worker compiling part of the paths has its
//! own registry; [`Compiler::agrees_on_names`] checks that its names are the ones one registry
//! would have given. Converted defs are memoized per [`Mode`](crate::schema::Mode), so each
//! schema is converted at most twice however many operations use it. Conversion never follows a
//! `$ref` (it only names it), so cycles cannot loop; the per-tool `$defs` closure is a plain
//! graph walk with a visited set.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use indexmap::IndexSet;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::DocumentLoader;
use crate::compiler::Compiler;
use crate::schema::Mode;

/// Escapes one JSON pointer token (`~` → `~0`, `/` → `~1`).
pub fn escape_token(s: &str) -> String {
    if s.contains(['~', '/']) {
        s.replace('~', "~0").replace('/', "~1")
    } else {
        s.to_owned()
    }
}

/// Unescapes one JSON pointer token.
pub fn unescape_token(s: &str) -> Cow<'_, str> {
    if s.contains('~') {
        Cow::Owned(s.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Appends `key` to a JSON pointer.
pub fn child(ptr: &str, key: &str) -> String {
    format!("{ptr}/{}", escape_token(key))
}

/// Turns a `$ref` fragment (after `#`) into a JSON pointer: percent-decoded, `""` or `/...`
/// (`definitions/X`, missing its leading `/`, is read as `/definitions/X`).
pub fn decode_fragment(frag: &str) -> Result<String, String> {
    let dec = percent_decode_str(frag)
        .decode_utf8()
        .map_err(|_| format!("`#{frag}` is not valid percent-encoded UTF-8"))?;
    if dec.is_empty() || dec.starts_with('/') {
        Ok(dec.into_owned())
    } else if dec.contains('/') {
        // `#definitions/Pet`: a JSON pointer missing its leading `/` (no anchor can contain a
        // `/`), a common slip that other resolvers accept too.
        Ok(format!("/{dec}"))
    } else {
        Err(format!(
            "`#{frag}` is a plain-name fragment (anchor); only JSON pointer fragments are supported"
        ))
    }
}

/// JSON pointer lookup without allocating for tokens that need no unescaping (the common case;
/// `serde_json::Value::pointer` allocates twice per token).
pub(crate) trait PointerExt {
    /// The value at JSON pointer `ptr` (`""` is the whole value).
    fn ptr(&self, ptr: &str) -> Option<&Value>;
}

impl PointerExt for Value {
    fn ptr(&self, ptr: &str) -> Option<&Value> {
        if ptr.is_empty() {
            return Some(self);
        }
        let rest = ptr.strip_prefix('/')?;
        let mut cur = self;
        for token in rest.split('/') {
            let token = unescape_token(token);
            let token = token.as_ref();
            cur = match cur {
                Value::Object(m) => m.get(token)?,
                Value::Array(a) => {
                    if token.len() > 1 && token.starts_with('0') {
                        return None;
                    }
                    a.get(token.parse::<usize>().ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }
}

/// A document: the root one is borrowed from the caller, external ones are shared.
#[derive(Clone)]
pub(crate) enum Doc<'a> {
    Borrowed(&'a Value),
    Shared(Arc<Value>),
}

/// The external documents of one compilation: each URI is loaded once, whichever worker asks
/// first, and shared.
pub(crate) struct Externals<'a> {
    loader: &'a dyn DocumentLoader,
    loaded: Mutex<HashMap<String, Result<Arc<Value>, String>>>,
}

impl<'a> Externals<'a> {
    pub(crate) fn new(loader: &'a dyn DocumentLoader) -> Self {
        Externals {
            loader,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The document at `uri` (an absolute URI), or the loader's reason why not.
    fn load(&self, uri: &str) -> Result<Arc<Value>, String> {
        // Held while loading, so a document the other worker is loading is waited for, not
        // loaded twice.
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = loaded.get(uri) {
            return r.clone();
        }
        let r = self.loader.load(uri).map(Arc::new);
        loaded.insert(uri.to_owned(), r.clone());
        r
    }
}

impl Deref for Doc<'_> {
    type Target = Value;
    fn deref(&self) -> &Value {
        match self {
            Doc::Borrowed(v) => v,
            Doc::Shared(v) => v,
        }
    }
}

pub(crate) struct DocEntry<'a> {
    pub uri: Option<String>,
    pub doc: Doc<'a>,
}

/// A location in one of the documents.
pub(crate) type Loc = (usize, String);

/// A def as a worker named it, by location independent of the worker's document numbering.
pub(crate) struct NamedDef {
    /// Whether the location is in the root document.
    pub in_root: bool,
    /// The URI of its document.
    pub uri: Option<String>,
    pub ptr: String,
    pub name: String,
}

/// One named definition.
pub(crate) struct DefInfo {
    pub name: String,
    pub loc: Loc,
}

/// A converted definition and the defs it refers to.
pub(crate) struct DefEntry {
    pub schema: Value,
    pub deps: Vec<usize>,
    /// Size of `schema` as compact JSON, for the per-tool [`MAX_DEFS_BYTES`] budget.
    pub size: usize,
}

/// Largest budget for one tool schema's `$defs`, in bytes of compact JSON. Definitions are taken
/// in breadth-first order from the tool's own schema while they fit; a reference to one that
/// does not fit is replaced by its `type` alone (so the schema only gets more permissive, and
/// every remaining `#/$defs/...` ref still resolves). A root def (referenced from the tool schema
/// itself) that does not fit is kept as such a stub. Without a budget, specs whose every entity
/// links to every other (Microsoft Graph: 11,000 operations, each reaching ~2,600 schemas) need
/// tens of GB, and a tool schema of megabytes is of no use to a model anyway.
pub(crate) const MAX_DEFS_BYTES: usize = 128 * 1024;
/// Smallest per-tool budget, however many tools a spec has.
pub(crate) const MIN_DEFS_BYTES: usize = 8 * 1024;
/// The `$defs` of all tool schemas of one spec together: the per-tool budget is this divided
/// evenly (two schemas per tool), within [`MIN_DEFS_BYTES`]..=[`MAX_DEFS_BYTES`]; so specs up to
/// ~1,000 tools get the full budget and the compiled IR stays in the hundreds of MB at most.
pub(crate) const MAX_SPEC_DEFS_BYTES: usize = 256 * 1024 * 1024;

/// The `$defs` of one tool schema.
pub(crate) struct BuiltDefs {
    /// How many referenced definitions were left out (or stubbed) because of the budget.
    pub cut: usize,
    /// How many definitions the tool schema references in all (transitively, up to the cut).
    pub total: usize,
    /// The budget that applied.
    pub budget: usize,
}

/// What stands in for a definition left out by the budget: its `type`, if it has one.
fn stand_in(schema: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(t) = schema.get("type") {
        out.insert("type".into(), t.clone());
    }
    out
}

/// Replaces every `$ref` to a left-out def inside `v` by that def's stand-in.
fn replace_cut_refs(v: &mut Value, cut: &HashMap<String, Map<String, Value>>) {
    match v {
        Value::Object(m) => {
            let target = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .and_then(|name| cut.get(name));
            if let Some(stand_in) = target {
                m.remove("$ref");
                for (k, x) in stand_in {
                    m.entry(k.clone()).or_insert_with(|| x.clone());
                }
            }
            for x in m.values_mut() {
                replace_cut_refs(x, cut);
            }
        }
        Value::Array(a) => {
            for x in a {
                replace_cut_refs(x, cut);
            }
        }
        _ => {}
    }
}

/// All definitions known so far.
#[derive(Default)]
pub(crate) struct Registry {
    pub defs: Vec<DefInfo>,
    pub by_loc: HashMap<Loc, usize>,
    pub names: HashSet<String>,
    pub reserved: HashMap<String, String>,
    pub memo: HashMap<(usize, Mode), Result<Arc<DefEntry>, String>>,
}

/// Length of `v` as compact JSON, without building the string.
fn json_size(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// The name a def location gets when first registered, given the names taken so far; the
/// second value says whether the name is new (not a reserved component name).
fn fresh_def_name(
    reg: &Registry,
    taken: &HashSet<String>,
    in_root: bool,
    uri: Option<&str>,
    ptr: &str,
) -> (String, bool) {
    let last = ptr
        .rsplit('/')
        .next()
        .map(|t| unescape_token(t).into_owned())
        .unwrap_or_default();
    let is_component = in_root
        && ptr
            .strip_prefix("/components/schemas/")
            .is_some_and(|rest| !rest.contains('/'));
    if is_component && let Some(n) = reg.reserved.get(&last) {
        return (n.clone(), false);
    }
    let base = def_name(if last.is_empty() { "schema" } else { &last });
    let mut candidates = vec![base.clone()];
    if let Some(uri) = uri
        && !in_root
    {
        let stem = uri
            .rsplit('/')
            .next()
            .and_then(|f| f.split('.').next())
            .unwrap_or("ext");
        candidates.push(format!("{}_{base}", def_name(stem)));
    }
    if let Some(c) = candidates.into_iter().find(|c| !taken.contains(c)) {
        return (c, true);
    }
    for n in 2usize.. {
        let c = format!("{base}_{n}");
        if !taken.contains(&c) {
            return (c, true);
        }
    }
    unreachable!("an unbounded counter always finds a free name")
}

/// Sanitizes a def name to characters that need no escaping in a URI fragment.
pub(crate) fn def_name(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "schema".to_owned()
    } else {
        out
    }
}

impl<'a> Compiler<'a> {
    /// The document with index `id` (cheap handle).
    pub(crate) fn doc(&self, id: usize) -> Doc<'a> {
        self.docs[id].doc.clone()
    }

    /// Resolves `reference` as written in document `from`; checks that the target exists.
    pub(crate) fn resolve_ref(&mut self, from: usize, reference: &str) -> Result<Loc, String> {
        let (uri, frag) = match reference.find('#') {
            Some(i) => (&reference[..i], &reference[i + 1..]),
            None => (reference, ""),
        };
        let doc = if uri.is_empty() {
            from
        } else {
            self.load_external(from, uri)?
        };
        let ptr = decode_fragment(frag)?;
        if self.docs[doc].doc.ptr(&ptr).is_none() {
            return Err(format!("`$ref: {reference}` points to nothing"));
        }
        Ok((doc, ptr))
    }

    /// Follows a chain of `$ref`s starting at `loc` until a node without `$ref`.
    pub(crate) fn follow(&mut self, mut loc: Loc) -> Result<Loc, String> {
        for _ in 0..64 {
            let d = self.doc(loc.0);
            let node = d
                .ptr(&loc.1)
                .ok_or_else(|| format!("`#{}` points to nothing", loc.1))?;
            match node.get("$ref") {
                Some(Value::String(r)) => loc = self.resolve_ref(loc.0, r)?,
                Some(_) => return Err(format!("`$ref` at `#{}` is not a string", loc.1)),
                None => return Ok(loc),
            }
        }
        Err(format!(
            "`$ref` chain at `#{}` is circular or too long",
            loc.1
        ))
    }

    fn load_external(&mut self, from: usize, uri: &str) -> Result<usize, String> {
        let resolved = match &self.docs[from].uri {
            Some(base) => match url::Url::parse(base).and_then(|b| b.join(uri)) {
                Ok(u) => u.to_string(),
                Err(_) => uri.to_owned(),
            },
            None => match url::Url::parse(uri) {
                Ok(u) => u.to_string(),
                Err(_) => uri.to_owned(),
            },
        };
        if let Some(r) = self.ext_index.get(&resolved) {
            return r.clone();
        }
        let lower = resolved.to_ascii_lowercase();
        let result = if (lower.starts_with("http://") || lower.starts_with("https://"))
            && !self.opts.allow_remote_refs
        {
            Err(format!(
                "remote `$ref` to `{resolved}` is not allowed; set `allow_remote_refs: true` to fetch it"
            ))
        } else {
            match self.externals.load(&resolved) {
                Ok(v) => {
                    self.docs.push(DocEntry {
                        uri: Some(resolved.clone()),
                        doc: Doc::Shared(v),
                    });
                    Ok(self.docs.len() - 1)
                }
                Err(e) => Err(format!("cannot load `{resolved}`: {e}")),
            }
        };
        self.ext_index.insert(resolved, result.clone());
        result
    }

    /// Reserves the root document's component schema names so they keep their own names.
    pub(crate) fn reserve_component_names(&mut self) {
        let root = self.doc(0);
        if let Some(schemas) = root.ptr("/components/schemas").and_then(Value::as_object) {
            for key in schemas.keys() {
                let mut name = def_name(key);
                let mut n = 2;
                while self.reg.names.contains(&name) {
                    name = format!("{}_{n}", def_name(key));
                    n += 1;
                }
                self.reg.names.insert(name.clone());
                self.reg.reserved.insert(key.clone(), name);
            }
        }
    }

    /// The def id for a schema location, registering it on first use.
    pub(crate) fn def_id(&mut self, loc: Loc) -> usize {
        if let Some(&id) = self.reg.by_loc.get(&loc) {
            return id;
        }
        let (name, new) = fresh_def_name(
            &self.reg,
            &self.reg.names,
            loc.0 == 0,
            self.docs[loc.0].uri.as_deref(),
            &loc.1,
        );
        if new {
            self.reg.names.insert(name.clone());
        }
        self.reg.defs.push(DefInfo {
            name,
            loc: loc.clone(),
        });
        let id = self.reg.defs.len() - 1;
        self.reg.by_loc.insert(loc, id);
        id
    }

    /// The defs this compiler named, in the order it met them.
    pub(crate) fn named_defs(&self) -> Vec<NamedDef> {
        self.reg
            .defs
            .iter()
            .map(|d| NamedDef {
                in_root: d.loc.0 == 0,
                uri: self.docs[d.loc.0].uri.clone(),
                ptr: d.loc.1.clone(),
                name: d.name.clone(),
            })
            .collect()
    }

    /// Whether a worker that compiled the paths after this compiler's, starting from the same
    /// reserved names, named every def as this compiler would have if it had gone on to
    /// compile those paths itself: a def this compiler knows must have its name, and a new one
    /// the name it would get next. (Names go to locations in the order they are first met,
    /// and the worker met its new ones in the order this compiler would have.) Changes
    /// nothing.
    pub(crate) fn agrees_on_names(&self, theirs: &[NamedDef]) -> bool {
        let mut taken: Option<HashSet<String>> = None;
        for d in theirs {
            let doc = if d.in_root {
                Some(0)
            } else {
                (1..self.docs.len()).find(|&i| self.docs[i].uri == d.uri)
            };
            let known = doc.and_then(|i| self.reg.by_loc.get(&(i, d.ptr.clone())));
            if let Some(&id) = known {
                if self.reg.defs[id].name != d.name {
                    return false;
                }
                continue;
            }
            let taken = taken.get_or_insert_with(|| self.reg.names.clone());
            let (name, new) = fresh_def_name(&self.reg, taken, d.in_root, d.uri.as_deref(), &d.ptr);
            if name != d.name {
                return false;
            }
            if new {
                taken.insert(name);
            }
        }
        true
    }

    /// The converted schema of def `id` in `mode` (memoized).
    pub(crate) fn def_entry(&mut self, id: usize, mode: Mode) -> Result<Arc<DefEntry>, String> {
        if let Some(r) = self.reg.memo.get(&(id, mode)) {
            return r.clone();
        }
        let (doc_id, ptr) = self.reg.defs[id].loc.clone();
        let d = self.doc(doc_id);
        let result = match d.ptr(&ptr) {
            Some(node) => {
                let mut deps = IndexSet::new();
                self.convert_schema(node, doc_id, mode, &mut deps)
                    .map(|schema| {
                        let size = json_size(&schema);
                        Arc::new(DefEntry {
                            schema,
                            deps: deps.into_iter().collect(),
                            size,
                        })
                    })
                    .map_err(|e| format!("in schema `#{ptr}`: {e}"))
            }
            None => Err(format!("`#{ptr}` points to nothing")),
        };
        self.reg.memo.insert((id, mode), result.clone());
        result
    }

    /// Adds the `$defs` of a tool schema: the transitive closure of `roots` (the defs `schema`
    /// refers to), taken breadth-first within the spec's per-tool budget (see
    /// [`MAX_DEFS_BYTES`]); refs to defs left out, in `schema` too, become their stand-ins.
    pub(crate) fn add_defs(
        &mut self,
        schema: &mut Map<String, Value>,
        roots: &IndexSet<usize>,
        mode: Mode,
        cap: usize,
    ) -> Result<BuiltDefs, String> {
        let mut seen: HashSet<usize> = roots.iter().copied().collect();
        let mut queue: VecDeque<usize> = roots.iter().copied().collect();
        let mut kept = Vec::new();
        let mut cut: HashMap<String, Map<String, Value>> = HashMap::new();
        let limit = self.defs_budget.min(cap);
        let mut budget = limit;
        while let Some(id) = queue.pop_front() {
            let entry = self.def_entry(id, mode)?;
            // `"name":schema,` in the `$defs` object.
            let cost = entry.size + self.reg.defs[id].name.len() + 4;
            if cost > budget {
                // Nothing more is expanded once one def does not fit: breadth-first order then
                // keeps the defs nearest to the tool's own schema.
                budget = 0;
                cut.insert(self.reg.defs[id].name.clone(), stand_in(&entry.schema));
                continue;
            }
            budget -= cost;
            for &dep in &entry.deps {
                if seen.insert(dep) {
                    queue.push_back(dep);
                }
            }
            kept.push((id, entry));
        }
        let total = kept.len() + cut.len();
        let mut entries: Vec<(&str, Value)> = Vec::with_capacity(kept.len() + roots.len());
        for (id, entry) in &kept {
            let mut schema = entry.schema.clone();
            if !cut.is_empty()
                && entry
                    .deps
                    .iter()
                    .any(|d| cut.contains_key(&self.reg.defs[*d].name))
            {
                replace_cut_refs(&mut schema, &cut);
            }
            entries.push((&self.reg.defs[*id].name, schema));
        }
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut defs = Map::with_capacity(entries.len());
        for (name, def) in entries {
            defs.insert(name.to_owned(), def);
        }
        if roots
            .iter()
            .any(|r| cut.contains_key(&self.reg.defs[*r].name))
        {
            for v in schema.values_mut() {
                replace_cut_refs(v, &cut);
            }
        }
        if !defs.is_empty() {
            schema.insert("$defs".into(), Value::Object(defs));
        }
        Ok(BuiltDefs {
            cut: cut.len(),
            total,
            budget: limit,
        })
    }

    /// `#/$defs/<name>` for def `id`.
    pub(crate) fn def_ref(&self, id: usize) -> String {
        format!("#/$defs/{}", self.reg.defs[id].name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_round_trip() {
        assert_eq!(escape_token("/users/{id}~x"), "~1users~1{id}~0x");
        assert_eq!(unescape_token("~1users~1{id}~0x"), "/users/{id}~x");
        // `~01` is `~1` literally, not `/`.
        assert_eq!(unescape_token("~01"), "~1");
        assert_eq!(child("/paths", "/a/b"), "/paths/~1a~1b");
    }

    #[test]
    fn pointer_lookup_matches_serde_json() {
        let v = serde_json::json!({"paths": {"/a/{b}": {"get": [1, {"x~y": 2}]}}});
        for p in [
            "",
            "/paths",
            "/paths/~1a~1{b}/get/1/x~0y",
            "/paths/~1a~1{b}/get/01",
            "/nope",
        ] {
            assert_eq!(v.ptr(p), v.pointer(p), "{p}");
        }
    }

    #[test]
    fn fragments_are_percent_decoded() {
        assert_eq!(
            decode_fragment("/paths/~1users~1%7Bid%7D/get").unwrap(),
            "/paths/~1users~1{id}/get"
        );
        assert_eq!(decode_fragment("").unwrap(), "");
        assert!(decode_fragment("anchor").is_err());
    }

    #[test]
    fn fragment_missing_leading_slash_is_a_pointer() {
        // Regression (prance's recursion_limit.yaml): `#definitions/Recursive` was rejected as an
        // anchor, dropping the output schema.
        assert_eq!(
            decode_fragment("definitions/Recursive").unwrap(),
            "/definitions/Recursive"
        );
    }

    #[test]
    fn def_names_are_fragment_safe() {
        assert_eq!(def_name("Foo Bar/baz"), "Foo_Bar_baz");
        assert_eq!(def_name("simple-user"), "simple-user");
    }
}
