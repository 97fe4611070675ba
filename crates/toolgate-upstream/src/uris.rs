//! How an upstream's resource URIs are served: unchanged, or as `<prefix><uri>` so that two
//! servers' URIs never collide. The prefix is the source name with `_` turned into `-` plus
//! `+` (`my_docs` → `my-docs+file:///a`), which keeps the result a valid URI (a scheme may
//! hold `+` and `-`) and is stripped again before the server is asked.

/// The mapping between served and upstream URIs of one source.
#[derive(Debug, Clone)]
pub(crate) struct UriMap {
    prefix: Option<String>,
}

impl UriMap {
    /// The mapping of source `name`, rewriting or not.
    pub(crate) fn new(name: &str, rewrite: bool) -> Self {
        UriMap {
            prefix: rewrite.then(|| format!("{}+", name.replace('_', "-"))),
        }
    }

    /// The prefix of served URIs, if they are rewritten.
    pub(crate) fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The served form of upstream URI (or URI template) `uri`.
    pub(crate) fn expose(&self, uri: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}{uri}"),
            None => uri.to_owned(),
        }
    }

    /// The upstream form of served URI `uri`.
    pub(crate) fn upstream<'a>(&self, uri: &'a str) -> &'a str {
        match &self.prefix {
            Some(p) => uri.strip_prefix(p.as_str()).unwrap_or(uri),
            None => uri,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_uris_round_trip_and_stay_uris() {
        let m = UriMap::new("my_docs", true);
        let served = m.expose("file:///a/b.txt");
        assert_eq!(served, "my-docs+file:///a/b.txt");
        assert!(url::Url::parse(&served).is_ok());
        assert_eq!(m.upstream(&served), "file:///a/b.txt");
        let plain = UriMap::new("x", false);
        assert_eq!(plain.expose("test://a"), "test://a");
        assert_eq!(plain.upstream("test://a"), "test://a");
    }
}
