//! `Host` and `Origin` validation (DNS-rebinding protection), applied before anything else on
//! the MCP endpoint.
//!
//! The rules mirror rmcp's streamable HTTP server, which applies the same lists again behind
//! this check: a `Host` matches an entry by name (case-insensitive, brackets around IPv6
//! ignored) and by port when the entry names one; an `Origin` (when present) must match an
//! entry's scheme and host, and its port (`:*` = any port; no port in the entry = any port).

use http::{HeaderMap, Uri};

/// Pre-parsed allowlists.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    hosts: Option<Vec<(String, Option<u16>)>>,
    origins: Vec<AllowedOrigin>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedOrigin {
    Null,
    Tuple {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
}

fn normalize_host(host: &str) -> String {
    host.trim_matches(['[', ']']).to_ascii_lowercase()
}

fn parse_origin(value: &str) -> Option<(String, String, Option<u16>)> {
    let uri = Uri::try_from(value.trim()).ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    Some((
        scheme,
        normalize_host(authority.host()),
        authority.port_u16(),
    ))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl OriginPolicy {
    /// Parses the allowlists. An empty `hosts` list accepts any `Host`.
    pub fn new(hosts: &[String], origins: &[String]) -> Self {
        let hosts = (!hosts.is_empty()).then(|| {
            hosts
                .iter()
                .filter_map(|h| {
                    let h = h.trim();
                    if h.is_empty() {
                        return None;
                    }
                    match http::uri::Authority::try_from(h) {
                        Ok(a) => Some((normalize_host(a.host()), a.port_u16())),
                        Err(_) => Some((normalize_host(h), None)),
                    }
                })
                .collect()
        });
        let origins = origins
            .iter()
            .filter_map(|o| {
                let o = o.trim();
                if o.eq_ignore_ascii_case("null") {
                    return Some(AllowedOrigin::Null);
                }
                let (base, any_port) = match o.strip_suffix(":*") {
                    Some(b) => (b, true),
                    None => (o, false),
                };
                let (scheme, host, port) = parse_origin(base)?;
                Some(AllowedOrigin::Tuple {
                    scheme,
                    host,
                    port: if any_port { None } else { port },
                })
            })
            .collect();
        OriginPolicy { hosts, origins }
    }

    /// `Ok` when the request's `Host` and `Origin` are allowed; `Err` says which is not.
    pub fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), &'static str> {
        if let Some(hosts) = &self.hosts {
            let authority = headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .and_then(|h| http::uri::Authority::try_from(h).ok())
                .or_else(|| uri.authority().cloned());
            let Some(authority) = authority else {
                return Err("Forbidden: missing Host header");
            };
            let host = normalize_host(authority.host());
            let port = authority.port_u16();
            let ok = hosts
                .iter()
                .any(|(h, p)| *h == host && p.is_none_or(|p| Some(p) == port));
            if !ok {
                return Err("Forbidden: Host header is not allowed");
            }
        }
        if let Some(origin) = headers.get(http::header::ORIGIN) {
            let value = origin.to_str().unwrap_or_default();
            let ok = if value.trim().eq_ignore_ascii_case("null") {
                self.origins.contains(&AllowedOrigin::Null)
            } else {
                match parse_origin(value) {
                    None => false,
                    Some((scheme, host, port)) => self.origins.iter().any(|a| match a {
                        AllowedOrigin::Null => false,
                        AllowedOrigin::Tuple {
                            scheme: s,
                            host: h,
                            port: p,
                        } => {
                            *s == scheme
                                && *h == host
                                && p.is_none_or(|p| {
                                    Some(p) == port.or_else(|| default_port(&scheme))
                                })
                        }
                    }),
                }
            };
            if !ok {
                return Err("Forbidden: Origin is not allowed");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{default_allowed_hosts, default_allowed_origins};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn loopback_defaults_accept_local_and_refuse_foreign_names() {
        let p = OriginPolicy::new(&default_allowed_hosts(), &default_allowed_origins());
        let uri: Uri = "/mcp".parse().unwrap();
        assert!(
            p.check(&uri, &headers(&[("host", "127.0.0.1:8080")]))
                .is_ok()
        );
        assert!(p.check(&uri, &headers(&[("host", "localhost")])).is_ok());
        assert!(p.check(&uri, &headers(&[("host", "[::1]:9000")])).is_ok());
        assert!(
            p.check(&uri, &headers(&[("host", "evil.example.com")]))
                .is_err()
        );
        assert!(
            p.check(&uri, &headers(&[("host", "localhost.evil.com")]))
                .is_err()
        );
        assert!(p.check(&uri, &headers(&[])).is_err());
        let with_origin = |o: &str| headers(&[("host", "localhost:8080"), ("origin", o)]);
        assert!(p.check(&uri, &with_origin("http://localhost:3000")).is_ok());
        assert!(
            p.check(&uri, &with_origin("http://evil.example.com"))
                .is_err()
        );
        assert!(p.check(&uri, &with_origin("null")).is_err());
        assert!(p.check(&uri, &with_origin("garbage")).is_err());
    }

    #[test]
    fn explicit_ports_and_empty_host_list() {
        let p = OriginPolicy::new(
            &["api.example.com:443".to_owned()],
            &["https://app.example.com".to_owned()],
        );
        let uri: Uri = "/mcp".parse().unwrap();
        assert!(
            p.check(&uri, &headers(&[("host", "api.example.com:443")]))
                .is_ok()
        );
        assert!(
            p.check(&uri, &headers(&[("host", "api.example.com:8443")]))
                .is_err()
        );
        let any = OriginPolicy::new(&[], &[]);
        assert!(any.check(&uri, &headers(&[("host", "whatever")])).is_ok());
        assert!(
            any.check(&uri, &headers(&[("host", "x"), ("origin", "http://a")]))
                .is_err()
        );
    }
}
