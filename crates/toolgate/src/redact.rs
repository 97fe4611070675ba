//! The last line of defence against printing a secret: every value the configuration took from
//! `${VAR}` interpolation, every value of a credential-named key, and the credentials carried
//! by URLs are registered here, and
//! everything the binary prints (errors, `check-config` and `inspect` output, log lines through
//! [`Scrubbing`], panic messages) is scrubbed of them, each occurrence replaced by
//! [`REDACTED`].
//!
//! The first line of defence is structural: configuration errors never print values that came
//! from the environment or sit under credential-named keys (see `config`). This module does
//! not decide what is secret beyond [`is_credential_name`]; it only hides what it was given.
//!
//! Values shorter than [`MIN_SECRET_LEN`] characters are not scrubbed: interpolated ports
//! (`8080`), log levels (`info`, `debug`) and booleans would otherwise be masked in every line
//! that happens to contain them. A credential that short is not protecting anything; it is
//! still kept out of configuration errors by the structural rule.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::sync::RwLock;

use aho_corasick::{AhoCorasick, MatchKind};
use tracing_subscriber::fmt::MakeWriter;

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Values with fewer characters than this are not scrubbed (see the module docs).
pub const MIN_SECRET_LEN: usize = 6;

/// Words that make a key or parameter name a credential (matched on the name's words, case
/// and `-`/`_` insensitive: `X-Api-Key`, `client_secret`, `accessToken`).
const CREDENTIAL_WORDS: &[&str] = &[
    "apikey",
    "auth",
    "authorization",
    "bearer",
    "cookie",
    "credential",
    "credentials",
    "jwt",
    "passphrase",
    "passwd",
    "password",
    "pwd",
    "secret",
    "sig",
    "signature",
    "token",
];

/// Words before `key` that make it a credential (`api_key`, `x-auth-key`); `key` alone is one
/// too, while `output_wrap_key` is not.
const KEY_QUALIFIERS: &[&str] = &[
    "access",
    "api",
    "auth",
    "client",
    "encryption",
    "master",
    "private",
    "secret",
    "signing",
    "subscription",
    "x",
];

/// Last words that make a name describe a credential rather than hold one: `token_url` is
/// where a token is fetched, `client_id` and `api_key_name` are not secret.
const NOT_A_VALUE: &[&str] = &[
    "endpoint", "file", "header", "id", "in", "location", "method", "mode", "ms", "name", "param",
    "path", "scheme", "seconds", "type", "uri", "url",
];

/// Whether `name` (a configuration key, header or query parameter name) holds a credential:
/// one of its words (split at `_`, `-`, `.` and lower-to-upper case changes) is a credential
/// word such as `token`, `password`, `secret`, `authorization` or `cookie`, or it is `key`
/// alone or qualified (`api_key`, `X-Api-Key`, `apikey`); unless its last word says it names
/// or locates the credential (`token_url`, `client_id`, `api_key_name`).
pub fn is_credential_name(name: &str) -> bool {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if matches!(c, '_' | '-' | '.' | ' ') {
            words.push(std::mem::take(&mut current));
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    words.push(current);
    words.retain(|w| !w.is_empty());
    if words
        .last()
        .is_some_and(|w| NOT_A_VALUE.contains(&w.as_str()))
        && words.len() > 1
    {
        return false;
    }
    words.iter().enumerate().any(|(i, w)| {
        CREDENTIAL_WORDS.contains(&w.as_str())
            || (w == "key" && (i == 0 || KEY_QUALIFIERS.contains(&words[i - 1].as_str())))
    })
}

/// A set of secret values and a matcher replacing them.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    values: BTreeSet<String>,
    matcher: Option<AhoCorasick>,
}

impl Redactor {
    /// An empty redactor (scrubs nothing).
    pub const fn new() -> Self {
        Redactor {
            values: BTreeSet::new(),
            matcher: None,
        }
    }

    /// Adds secret values (and the forms they take when JSON-escaped or percent-encoded);
    /// values shorter than [`MIN_SECRET_LEN`] are ignored.
    pub fn extend<I, S>(&mut self, values: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let before = self.values.len();
        for value in values {
            let value = value.as_ref();
            if value.chars().count() < MIN_SECRET_LEN {
                continue;
            }
            self.values.extend(encoded_forms(value));
        }
        if self.values.len() != before {
            // Leftmost-longest: a secret that contains another is replaced whole.
            self.matcher = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&self.values)
                .ok();
        }
    }

    /// Whether nothing is scrubbed.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret replaced by [`REDACTED`] (borrowed when there is none).
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.matcher {
            Some(m) if m.is_match(text) => {
                Cow::Owned(m.replace_all(text, &vec![REDACTED; m.patterns_len()]))
            }
            _ => Cow::Borrowed(text),
        }
    }
}

/// `value` as written, JSON-escaped (JSON log lines) and percent-encoded (URLs).
fn encoded_forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_owned()];
    let json = serde_json::to_string(value).unwrap_or_default();
    if let Some(inner) = json.strip_prefix('"').and_then(|j| j.strip_suffix('"')) {
        forms.push(inner.to_owned());
    }
    forms.push(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
    forms.push(
        url::form_urlencoded::byte_serialize(value.as_bytes())
            .collect::<String>()
            .replace('+', "%20"),
    );
    forms.sort();
    forms.dedup();
    forms.retain(|f| !f.is_empty());
    forms
}

/// The process-wide redactor used by everything the binary prints.
static GLOBAL: RwLock<Redactor> = RwLock::new(Redactor::new());

/// Registers secret values with the process-wide redactor (see [`Redactor::extend`]).
pub fn register<I, S>(values: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut global = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    global.extend(values);
}

/// Registers the credentials a URL carries: the password of its user info, and the values of
/// query parameters named like credentials (`?api_key=…`, `?token=…`). Not a URL: nothing.
pub fn register_url(text: &str) {
    register(url_credentials(text));
}

/// The credentials carried by `text` if it is an absolute URL (see [`register_url`]), raw and
/// percent-decoded.
pub fn url_credentials(text: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(text) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if let Some(password) = url.password() {
        found.push(password.to_owned());
        if let Ok(decoded) = percent_decode(password) {
            found.push(decoded);
        }
    }
    if let Some(query) = url.query() {
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if is_credential_name(name) && !value.is_empty() {
                found.push(value.to_owned());
            }
        }
        for (name, value) in url.query_pairs() {
            if is_credential_name(&name) && !value.is_empty() {
                found.push(value.into_owned());
            }
        }
    }
    found
}

fn percent_decode(text: &str) -> Result<String, std::str::Utf8Error> {
    let bytes: Vec<u8> = url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned().into_bytes())
        .unwrap_or_default();
    std::str::from_utf8(&bytes).map(str::to_owned)
}

/// `text` scrubbed by the process-wide redactor.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let global = GLOBAL.read().unwrap_or_else(|e| e.into_inner());
    if global.is_empty() {
        return Cow::Borrowed(text);
    }
    match global.scrub(text) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// Prints `text` and a newline on stdout, scrubbed.
pub fn println(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(scrub(text).as_bytes());
    let _ = out.write_all(b"\n");
}

/// Prints `text` and a newline on stderr, scrubbed.
pub fn eprintln(text: &str) {
    let mut out = io::stderr().lock();
    let _ = out.write_all(scrub(text).as_bytes());
    let _ = out.write_all(b"\n");
}

/// A [`MakeWriter`] that scrubs each log event before it reaches the inner writer: the event
/// is collected whole (a secret split across two `write` calls is still found) and written
/// scrubbed when the event's writer is dropped.
#[derive(Debug, Clone)]
pub struct Scrubbing<M>(pub M);

impl<'a, M> MakeWriter<'a> for Scrubbing<M>
where
    M: MakeWriter<'a>,
{
    type Writer = ScrubbedEvent<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedEvent {
            buffer: Vec::new(),
            inner: self.0.make_writer(),
        }
    }
}

/// One log event being written through [`Scrubbing`].
#[derive(Debug)]
pub struct ScrubbedEvent<W: Write> {
    buffer: Vec<u8>,
    inner: W,
}

impl<W: Write> Write for ScrubbedEvent<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for ScrubbedEvent<W> {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buffer);
        let _ = self.inner.write_all(scrub(&text).as_bytes());
        let _ = self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_are_recognised_by_their_words() {
        for yes in [
            "token",
            "Token",
            "client_secret",
            "api_key",
            "apiKey",
            "X-Api-Key",
            "apikey",
            "password",
            "Authorization",
            "Cookie",
            "access_token",
            "accessToken",
            "refresh-token",
            "sig",
            "key",
            "X-Auth-Key",
        ] {
            assert!(is_credential_name(yes), "{yes}");
        }
        for no in [
            "name",
            "bind",
            "username",
            "client_id",
            "timeout_ms",
            "tokenizer",
            "keyboard",
            "monkey",
            "page",
            "X-Tenant",
            "output_wrap_key",
            "token_url",
            "session_mode",
            "api_key_name",
        ] {
            assert!(!is_credential_name(no), "{no}");
        }
    }

    #[test]
    fn every_occurrence_and_encoding_of_a_secret_is_replaced() {
        let mut r = Redactor::new();
        r.extend(["s3cr3t value/\"x\"", "abc", "hunter22"]);
        let text = r#"a s3cr3t value/"x" b s3cr3t+value%2F%22x%22 c s3cr3t value/\"x\" d hunter22hunter22 e abc"#;
        let out = r.scrub(text);
        assert_eq!(
            out,
            "a [redacted] b [redacted] c [redacted] d [redacted][redacted] e abc"
        );
        assert!(matches!(r.scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_values_are_not_scrubbed() {
        let mut r = Redactor::new();
        r.extend(["8080", "info", "12345"]);
        assert!(r.is_empty());
        assert_eq!(
            r.scrub("listening on 8080 at info"),
            "listening on 8080 at info"
        );
    }

    #[test]
    fn the_longest_secret_wins_when_one_contains_another() {
        let mut r = Redactor::new();
        r.extend(["secret", "secret-and-more"]);
        assert_eq!(r.scrub("x secret-and-more y"), "x [redacted] y");
    }

    #[test]
    fn url_credentials_are_the_password_and_credential_named_query_values() {
        let found =
            url_credentials("https://user:p%40ssw0rd@host/x?page=2&api_key=k3y-v4lue&q=hello");
        assert!(found.contains(&"p%40ssw0rd".to_owned()), "{found:?}");
        assert!(found.contains(&"p@ssw0rd".to_owned()), "{found:?}");
        assert!(found.contains(&"k3y-v4lue".to_owned()), "{found:?}");
        assert!(
            !found
                .iter()
                .any(|f| f == "hello" || f == "2" || f == "user"),
            "{found:?}"
        );
        assert!(url_credentials("./spec.yaml").is_empty());
    }

    #[test]
    fn log_events_are_scrubbed_whole_even_when_written_in_pieces() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        register(["log-line-secret-4711"]);
        let sink = Sink::default();
        let make = Scrubbing({
            let sink = sink.clone();
            move || sink.clone()
        });
        {
            let mut w = make.make_writer();
            w.write_all(b"token=log-line-").unwrap();
            w.write_all(b"secret-4711 done\n").unwrap();
        }
        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(written, "token=[redacted] done\n");
    }
}
