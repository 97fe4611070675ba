//! The proxy variables of one backend and the origins they route through a proxy.
//!
//! This module owns reading `ALL_PROXY`/`HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` (from the
//! process or from a map the caller gives) and turning them into hyper-util's matcher and
//! reqwest's proxies, the same rules for both. It does not speak the proxy protocols
//! (reqwest does).

use http::Uri;
use hyper_util::client::proxy::matcher::Matcher;
use url::Url;

/// The proxy variables that decide which origins are reached through a proxy: `ALL_PROXY`,
/// `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (upper case first, then lower case), read as
/// curl and reqwest read them. In a CGI process (`REQUEST_METHOD` set) none applies.
///
/// [`ProxyEnv::from_process`] reads the process environment; tests and embedders pass their
/// own variables with [`ProxyEnv::from_vars`] instead of mutating the environment.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    all: String,
    http: String,
    https: String,
    no: String,
    cgi: bool,
    /// Variables set to something that is not a proxy URL, ignored by both clients.
    ignored: Vec<&'static str>,
}

impl std::fmt::Debug for ProxyEnv {
    /// Says which variables are set, never their values (a proxy URL may carry credentials).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &str| !v.is_empty();
        f.debug_struct("ProxyEnv")
            .field("all", &set(&self.all))
            .field("http", &set(&self.http))
            .field("https", &set(&self.https))
            .field("no", &self.no)
            .field("cgi", &self.cgi)
            .field("ignored", &self.ignored)
            .finish()
    }
}

impl ProxyEnv {
    /// The proxy variables of the process environment.
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The proxy variables among `vars` (name, value pairs; other names are ignored).
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let vars: std::collections::HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.into()))
            .collect();
        Self::from_lookup(|name| vars.get(name).cloned())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut ignored = Vec::new();
        // A proxy value reqwest cannot use is dropped for the matcher too, so that an origin
        // the matcher routes through a proxy is never sent by reqwest without one.
        let mut proxy = |names: [&'static str; 2]| {
            let Some((name, value)) = names.iter().find_map(|n| get(n).map(|v| (*n, v))) else {
                return String::new();
            };
            if value.is_empty() || reqwest::Proxy::all(value.as_str()).is_ok() {
                value
            } else {
                ignored.push(name);
                String::new()
            }
        };
        let all = proxy(["ALL_PROXY", "all_proxy"]);
        let http = proxy(["HTTP_PROXY", "http_proxy"]);
        let https = proxy(["HTTPS_PROXY", "https_proxy"]);
        let no = ["NO_PROXY", "no_proxy"]
            .iter()
            .find_map(|n| get(n))
            .unwrap_or_default();
        ProxyEnv {
            all,
            http,
            https,
            no,
            cgi: get("REQUEST_METHOD").is_some(),
            ignored,
        }
    }

    /// The variables that were set to something that is not a proxy URL (and are ignored).
    pub fn ignored(&self) -> &[&'static str] {
        &self.ignored
    }

    /// The matcher deciding per origin (hyper-util's, the one reqwest uses).
    pub(super) fn matcher(&self) -> Matcher {
        if self.cgi {
            return Matcher::builder().build();
        }
        Matcher::builder()
            .all(self.all.clone())
            .http(self.http.clone())
            .https(self.https.clone())
            .no(self.no.clone())
            .build()
    }

    /// The same rules as reqwest proxies: scheme-specific variables first, `ALL_PROXY` last.
    pub(super) fn reqwest_proxies(&self) -> Vec<reqwest::Proxy> {
        if self.cgi {
            return Vec::new();
        }
        let no = || reqwest::NoProxy::from_string(&self.no);
        let mut proxies = Vec::new();
        if !self.http.is_empty()
            && let Ok(p) = reqwest::Proxy::http(self.http.as_str())
        {
            proxies.push(p.no_proxy(no()));
        }
        if !self.https.is_empty()
            && let Ok(p) = reqwest::Proxy::https(self.https.as_str())
        {
            proxies.push(p.no_proxy(no()));
        }
        if !self.all.is_empty()
            && let Ok(p) = reqwest::Proxy::all(self.all.as_str())
        {
            proxies.push(p.no_proxy(no()));
        }
        proxies
    }
}

/// Whether the proxy variables route `origin` through a proxy (then reqwest carries the
/// requests: it speaks the proxy protocols, CONNECT tunnels and proxy auth).
pub(super) fn is_proxied(proxies: &Matcher, origin: &Url) -> bool {
    match origin.as_str().parse::<Uri>() {
        Ok(uri) => proxies.intercept(&uri).is_some(),
        // Not expressible as a request URI: let reqwest report it as it always did.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_variables_decide_per_origin() {
        let proxies = Matcher::builder()
            .http("http://proxy.internal:3128")
            .no("127.0.0.1, .corp.example")
            .build();
        let proxied = |u: &str| is_proxied(&proxies, &Url::parse(u).unwrap());
        assert!(proxied("http://api.example.com/v1"));
        assert!(!proxied("https://api.example.com/v1"), "no HTTPS_PROXY set");
        assert!(!proxied("http://127.0.0.1:8080/"));
        assert!(!proxied("http://svc.corp.example/"));
        assert!(!is_proxied(
            &Matcher::builder().build(),
            &Url::parse("http://api.example.com/").unwrap()
        ));
    }

    #[test]
    fn proxy_env_reads_upper_then_lower_case_and_hides_values() {
        let env = ProxyEnv::from_vars([
            ("http_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://user:pw@upper:1"),
            ("no_proxy", "127.0.0.1"),
        ]);
        assert_eq!(env.http, "http://user:pw@upper:1");
        assert_eq!(env.no, "127.0.0.1");
        assert!(!format!("{env:?}").contains("pw"), "{env:?}");
        let proxied = |env: &ProxyEnv, u: &str| is_proxied(&env.matcher(), &Url::parse(u).unwrap());
        assert!(proxied(&env, "http://api.example.com/"));
        assert!(!proxied(&env, "http://127.0.0.1:9/"));
        let all = ProxyEnv::from_vars([("ALL_PROXY", "http://p:3128")]);
        assert!(proxied(&all, "https://api.example.com/"));
        // A CGI process ignores the variables (httpoxy).
        let cgi = ProxyEnv::from_vars([("HTTP_PROXY", "http://p:1"), ("REQUEST_METHOD", "GET")]);
        assert!(!proxied(&cgi, "http://api.example.com/"));
        assert!(cgi.reqwest_proxies().is_empty());
        assert_eq!(env.reqwest_proxies().len(), 1);
    }

    #[test]
    fn a_value_that_is_no_proxy_url_is_ignored_by_both_clients() {
        let env = ProxyEnv::from_vars([("HTTP_PROXY", "http://[::1"), ("HTTPS_PROXY", "p:3128")]);
        assert_eq!(env.ignored(), ["HTTP_PROXY"]);
        assert!(!is_proxied(
            &env.matcher(),
            &Url::parse("http://api.example.com/").unwrap()
        ));
        // Without a scheme: http, as curl and reqwest read it.
        assert!(is_proxied(
            &env.matcher(),
            &Url::parse("https://api.example.com/").unwrap()
        ));
        assert_eq!(env.reqwest_proxies().len(), 1);
    }
}
