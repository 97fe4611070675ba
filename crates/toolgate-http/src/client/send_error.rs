//! Transport failures: where a request failed, how far it got, and the typed cause.
//!
//! This module owns classifying an error of either client (hyper-util, reqwest) or of reading
//! a body by its cause chain, deciding whether a lost request may be sent again, and the
//! text of a cause chain for messages (without URLs, which may carry query credentials). It
//! does not send anything.

use std::error::Error as StdError;

use http::{HeaderMap, Method};
use toolgate_core::error::Delivery;

use super::{BoxError, MAX_REDIRECTS, is_idempotent};

/// More than [`MAX_REDIRECTS`] same-origin redirects.
#[derive(Debug, thiserror::Error)]
#[error("too many redirects (more than {MAX_REDIRECTS})")]
pub(crate) struct TooManyRedirects;

/// A request that got no (complete) response: where it failed, how far it got, and the
/// underlying error, kept typed for the log (reqwest errors without their URL, which may
/// carry query credentials). The text for a message is [`SendError::detail`].
#[derive(Debug)]
pub struct SendError {
    pub kind: SendErrorKind,
    /// How far the request got.
    pub delivery: Delivery,
    source: Option<BoxError>,
}

/// Where a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendErrorKind {
    /// No connection within `connect_timeout_ms`: nothing was sent.
    ConnectTimeout,
    /// The connection could not be opened (refused, DNS, TLS): nothing was sent.
    Connect,
    /// The connection timed out after it was opened.
    Timeout,
    /// The exchange broke: the connection closed or reset, a malformed response, a broken
    /// body. [`SendError::delivery`] says whether the request may have been sent.
    Failed,
    /// The backend kept redirecting: every request was sent and answered.
    TooManyRedirects,
    /// The URL cannot be sent as an HTTP request target: nothing was sent.
    InvalidUri,
}

impl std::fmt::Display for SendError {
    /// What failed, in one phrase; the causes are in [`StdError::source`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (self.kind, self.delivery) {
            (SendErrorKind::ConnectTimeout, _) => "connecting to the backend timed out",
            (SendErrorKind::Connect, _) => "could not connect to the backend",
            (SendErrorKind::Timeout, _) => "the backend connection timed out",
            (SendErrorKind::Failed, Delivery::NotSent) => {
                "the backend connection closed before the request was sent"
            }
            (SendErrorKind::Failed, Delivery::MaybeSent) => {
                "the backend connection broke before a response arrived"
            }
            (SendErrorKind::Failed, Delivery::Sent) => "the backend response broke off",
            (SendErrorKind::TooManyRedirects, _) => "the backend kept redirecting",
            (SendErrorKind::InvalidUri, _) => "the URL is not a valid HTTP request target",
        })
    }
}

impl StdError for SendError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// What the cause chain of a transport error says.
#[derive(Default)]
struct Traits {
    connect: bool,
    timeout: bool,
    redirects: bool,
    /// hyper gave the request back unwritten (canceled) or the connection was closed
    /// before it was dispatched.
    unsent: bool,
    /// The connection closed or was reset under the request.
    lost: bool,
}

impl Traits {
    fn of(e: &(dyn StdError + 'static)) -> Self {
        let mut t = Traits::default();
        let mut node = Some(e);
        while let Some(err) = node {
            if let Some(r) = err.downcast_ref::<reqwest::Error>() {
                t.connect |= r.is_connect();
                t.timeout |= r.is_timeout();
                t.redirects |= r.is_redirect();
            } else if let Some(l) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
                t.connect |= l.is_connect();
            } else if let Some(h) = err.downcast_ref::<hyper::Error>() {
                t.timeout |= h.is_timeout();
                t.unsent |= h.is_canceled() || h.is_closed();
                t.lost |= h.is_incomplete_message();
            } else if let Some(io) = err.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind as K;
                t.timeout |= io.kind() == K::TimedOut;
                t.lost |= matches!(
                    io.kind(),
                    K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
                );
            } else if err.is::<TooManyRedirects>() {
                t.redirects = true;
            }
            node = err.source();
        }
        t
    }

    /// Kind and delivery of a failure to get a response head.
    fn classify(&self) -> (SendErrorKind, Delivery) {
        if self.connect {
            let kind = if self.timeout {
                SendErrorKind::ConnectTimeout
            } else {
                SendErrorKind::Connect
            };
            (kind, Delivery::NotSent)
        } else if self.redirects {
            (SendErrorKind::TooManyRedirects, Delivery::Sent)
        } else if self.timeout {
            (SendErrorKind::Timeout, Delivery::MaybeSent)
        } else if self.unsent {
            (SendErrorKind::Failed, Delivery::NotSent)
        } else {
            (SendErrorKind::Failed, Delivery::MaybeSent)
        }
    }
}

impl SendError {
    /// A failure of `kind` that got the request as far as `delivery`.
    pub(super) fn new(kind: SendErrorKind, delivery: Delivery, source: BoxError) -> Self {
        SendError {
            kind,
            delivery,
            source: Some(source),
        }
    }

    /// A failure of the hyper-util client (no response head).
    pub(super) fn from_direct(e: hyper_util::client::legacy::Error) -> Self {
        let (kind, delivery) = Traits::of(&e).classify();
        SendError {
            kind,
            delivery,
            source: Some(Box::new(e)),
        }
    }

    /// A failure of an inline connection (`inline.rs`; no response head).
    pub(super) fn from_hyper(e: hyper::Error) -> Self {
        let (kind, delivery) = Traits::of(&e).classify();
        SendError {
            kind,
            delivery,
            source: Some(Box::new(e)),
        }
    }

    /// A failure of the reqwest client (no response head).
    pub(super) fn from_reqwest(e: reqwest::Error) -> Self {
        let (kind, delivery) = Traits::of(&e).classify();
        SendError {
            kind,
            delivery,
            source: Some(Box::new(e.without_url())),
        }
    }

    /// A failure while reading the body of a response whose head arrived: the backend got
    /// the request and answered.
    pub(crate) fn body(e: BoxError) -> Self {
        let kind = if Traits::of(&*e).timeout {
            SendErrorKind::Timeout
        } else {
            SendErrorKind::Failed
        };
        let source = match e.downcast::<reqwest::Error>() {
            Ok(r) => Box::new(r.without_url()) as BoxError,
            Err(other) => other,
        };
        SendError {
            kind,
            delivery: Delivery::Sent,
            source: Some(source),
        }
    }

    /// Whether sending the request again on a new connection is safe and may help: nothing
    /// was sent, or the connection was lost under an idempotent request before any response.
    pub(super) fn may_resend(&self, method: &Method, headers: &HeaderMap) -> bool {
        if self.kind != SendErrorKind::Failed {
            return false;
        }
        match self.delivery {
            Delivery::NotSent => true,
            Delivery::MaybeSent => {
                is_idempotent(method, headers)
                    && self.source.as_deref().is_some_and(|e| Traits::of(e).lost)
            }
            Delivery::Sent => false,
        }
    }

    /// The cause chain for a message: deduplicated, without reqwest's own texts.
    pub fn detail(&self) -> String {
        match &self.source {
            Some(e) => error_chain(&**e),
            None => self.to_string(),
        }
    }
}

/// The cause chain of an error, without reqwest's own messages (they end with the URL, which
/// may carry query credentials).
pub(crate) fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut node = Some(e);
    while let Some(err) = node {
        if !err.is::<reqwest::Error>() {
            let text = err.to_string();
            if !parts.contains(&text) {
                parts.push(text);
            }
        }
        node = err.source();
    }
    if !parts.is_empty() {
        return parts.join(": ");
    }
    match e.downcast_ref::<reqwest::Error>() {
        Some(r) if r.is_timeout() => "timed out".into(),
        Some(r) if r.is_body() || r.is_decode() => "the response body could not be read".into(),
        _ => "the request failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn causes_decide_kind_and_delivery() {
        #[derive(Debug, thiserror::Error)]
        #[error("tcp connect error")]
        struct Wrapper(#[source] std::io::Error);
        let io = |k| std::io::Error::new(k, "x");
        let classify = |e: &(dyn StdError + 'static)| Traits::of(e).classify();
        assert_eq!(
            classify(&Wrapper(io(std::io::ErrorKind::TimedOut))),
            (SendErrorKind::Timeout, Delivery::MaybeSent)
        );
        // A reset without a connect error around it happened on an open connection.
        assert_eq!(
            classify(&io(std::io::ErrorKind::ConnectionReset)),
            (SendErrorKind::Failed, Delivery::MaybeSent)
        );
        assert!(Traits::of(&io(std::io::ErrorKind::ConnectionReset)).lost);
        assert!(!Traits::of(&io(std::io::ErrorKind::InvalidData)).lost);
        assert_eq!(
            classify(&TooManyRedirects),
            (SendErrorKind::TooManyRedirects, Delivery::Sent)
        );
    }

    #[test]
    fn only_safe_requests_are_resent() {
        let lost = |delivery| SendError {
            kind: SendErrorKind::Failed,
            delivery,
            source: Some(Box::new(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            ))),
        };
        let none = HeaderMap::new();
        for m in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(lost(Delivery::MaybeSent).may_resend(&m, &none), "{m}");
        }
        assert!(!lost(Delivery::MaybeSent).may_resend(&Method::POST, &none));
        assert!(!lost(Delivery::MaybeSent).may_resend(&Method::PATCH, &none));
        let mut keyed = HeaderMap::new();
        keyed.insert("idempotency-key", HeaderValue::from_static("k1"));
        assert!(lost(Delivery::MaybeSent).may_resend(&Method::POST, &keyed));
        // Nothing sent: any method.
        assert!(lost(Delivery::NotSent).may_resend(&Method::POST, &none));
        // A response arrived: never.
        assert!(!lost(Delivery::Sent).may_resend(&Method::GET, &none));
        // Not a lost connection (e.g. a malformed response): never for a maybe-sent request.
        let malformed = SendError {
            kind: SendErrorKind::Failed,
            delivery: Delivery::MaybeSent,
            source: Some(Box::new(std::io::Error::from(
                std::io::ErrorKind::InvalidData,
            ))),
        };
        assert!(!malformed.may_resend(&Method::GET, &none));
        let refused = SendError {
            kind: SendErrorKind::Connect,
            delivery: Delivery::NotSent,
            source: None,
        };
        assert!(
            !refused.may_resend(&Method::GET, &none),
            "the backend is down"
        );
    }
}
