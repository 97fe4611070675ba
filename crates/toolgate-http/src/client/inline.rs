//! HTTP/1.1 connections to one plain `http://` origin, each driven by the task that sends a
//! request on it.
//!
//! hyper-util's pooled client runs every connection as a task of its own: a request is handed
//! to that task through a channel, its answer comes back through another, and while a response
//! body is still to be read it spawns one more task per request to put the connection back
//! into the pool once the body is done. On a gateway hop that is most of what the HTTP client
//! costs. Here the caller's task polls the connection itself (hyper's connection-level API,
//! `hyper::client::conn::http1`), beside the response and then beside the body; when the body
//! ends, the connection goes back on this origin's idle list, and the next request takes it
//! from there. Nothing is spawned, and there is no pool map to hash into: one [`InlinePool`]
//! per origin, found once when a handler is created.
//!
//! What the pooled client did that this keeps:
//! - `Host` from the URL (its port only when not the scheme's default) and the request target
//!   in origin form;
//! - `TCP_NODELAY`, TCP keepalive, the connect timeout (name resolution included);
//! - idle connections dropped after [`POOL_IDLE_TIMEOUT`](super::POOL_IDLE_TIMEOUT), and a
//!   connection the server closed while idle is noticed before a request is put on it;
//! - a request that a reused connection gives back unwritten is sent on a new connection, as
//!   `retry_canceled_requests` does. Any other failure goes back to the caller, classified,
//!   which decides whether a resend is safe (`client.rs`).
//!
//! Idle connections are nobody's task, so nothing would see a server close one (uvicorn does
//! after 5 s) until the next request to the origin: they would sit half-closed, a socket each,
//! for as long as the origin is not called again. While an origin has idle connections, a
//! sweeper task (one per origin, spawned by the first connection put back, ending once none is
//! left) looks at them every [`SWEEP_INTERVAL`] and drops the closed and the expired ones.
//!
//! A response whose body is dropped before its end closes its connection (what is left of the
//! body would otherwise be read as the next response). TLS origins and HTTP/2 stay on
//! hyper-util's client. Does not own: redirects, resends, the 5xx window (`client.rs`).

use std::future::{Future as _, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;
use toolgate_core::error::Delivery;
use url::{Host, Url};

use super::{POOL_IDLE_TIMEOUT, SendError, SendErrorKind, TCP_KEEPALIVE};

#[cfg(test)]
mod tests;

/// The most idle connections kept per origin; more are closed when they fall idle.
const MAX_IDLE: usize = 256;

/// How often the idle connections of an origin that has some are swept (module docs).
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// One HTTP/1.1 connection: the handle requests are sent with, and the connection itself,
/// polled by whoever holds it. Always boxed ([`Held`]): hyper's connection state is ~700
/// bytes, and it changes hands several times per request (idle list, request, response body,
/// idle list), each a copy of all of it unboxed.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    conn: Connection<TokioIo<TcpStream>, Full<Bytes>>,
}

/// A connection as it is passed around (see [`Conn`]).
type Held = Box<Conn>;

/// An idle connection and since when.
struct Idle {
    conn: Held,
    since: Instant,
}

/// The kept-alive connections to one `http://` origin (module docs).
pub struct InlinePool {
    /// Where to connect.
    host: Host<String>,
    port: u16,
    /// The `Host` header of every request.
    authority: HeaderValue,
    connect_timeout: Duration,
    /// Most recently used last.
    idle: Mutex<Vec<Idle>>,
    /// Whether the sweeper task runs (it does while `idle` is not empty).
    sweeping: AtomicBool,
    sweep_interval: Duration,
}

impl std::fmt::Debug for InlinePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlinePool")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl InlinePool {
    /// The pool of `origin`'s scheme, host and port; `None` unless it is an `http://` URL
    /// with a host.
    pub fn new(origin: &Url, connect_timeout: Duration) -> Option<Self> {
        if origin.scheme() != "http" {
            return None;
        }
        let host = origin.host()?.to_owned();
        let port = origin.port_or_known_default()?;
        let authority = match origin.port() {
            Some(port) => format!("{}:{port}", origin.host_str()?),
            None => origin.host_str()?.to_owned(),
        };
        Some(InlinePool {
            host,
            port,
            authority: HeaderValue::try_from(authority).ok()?,
            connect_timeout,
            idle: Mutex::new(Vec::new()),
            sweeping: AtomicBool::new(false),
            sweep_interval: SWEEP_INTERVAL,
        })
    }

    /// Sends `request` (its URI absolute, on this origin) and returns the response head; the
    /// body holds the connection until it ends. `fresh`: on a new connection, which is closed
    /// afterwards rather than kept.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Full<Bytes>>,
        fresh: bool,
    ) -> Result<Response<InlineBody>, SendError> {
        origin_form(request.uri_mut());
        request
            .headers_mut()
            .entry(HOST)
            .or_insert_with(|| self.authority.clone());
        let mut reuse = !fresh;
        loop {
            let idle = if reuse { self.checkout() } else { None };
            // After a reused connection gave the request back, only a new one.
            reuse = false;
            let (mut conn, reused) = match idle {
                Some(conn) => (conn, true),
                None => (self.connect().await?, false),
            };
            let Conn { sender, conn: io } = &mut *conn;
            let mut answer = pin!(sender.try_send_request(request));
            let mut closed = false;
            let answer = poll_fn(|cx| {
                if !closed && io.poll_without_shutdown(cx).is_ready() {
                    closed = true;
                }
                answer.as_mut().poll(cx)
            })
            .await;
            match answer {
                Ok(response) => {
                    let held = (!closed).then_some(conn);
                    let pool = (!fresh).then(|| self.clone());
                    return Ok(response.map(|body| InlineBody {
                        body,
                        conn: held,
                        pool,
                    }));
                }
                Err(mut e) => match e.take_message() {
                    // Never written: a reused connection the server had closed.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(SendError::from_hyper(e.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection that is still open and ready for a request,
    /// dropping the expired and the closed ones.
    fn checkout(&self) -> Option<Held> {
        loop {
            let mut conn = self.pop_idle()?;
            // With a waker that does nothing: polled, an idle connection asks for its next
            // request, and handing the request over would then wake the task that polled it,
            // and so poll the caller's whole future once more, for nothing. `send` polls the
            // connection with the task's waker right after.
            if conn.is_open(&mut Context::from_waker(Waker::noop())) && conn.sender.is_ready() {
                return Some(conn);
            }
        }
    }

    /// The most recently used idle connection, after dropping the expired ones.
    fn pop_idle(&self) -> Option<Held> {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let expired = idle
            .iter()
            .take_while(|i| now.duration_since(i.since) >= POOL_IDLE_TIMEOUT)
            .count();
        idle.drain(..expired);
        idle.pop().map(|i| i.conn)
    }

    /// Puts `conn` back on the idle list, and starts the sweeper if it does not run.
    fn put(self: &Arc<Self>, conn: Held) {
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() >= MAX_IDLE {
                return;
            }
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
        // After the push: a sweeper that found the list empty has said so under its lock.
        if !self.sweeping.load(Ordering::Relaxed) && !self.sweeping.swap(true, Ordering::AcqRel) {
            // `put` runs in a body polled on the runtime; without one, no sweeper (the next
            // request still drops what is closed or expired).
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(sweeper(Arc::downgrade(self)));
                }
                Err(_) => self.sweeping.store(false, Ordering::Release),
            }
        }
    }

    /// Drops the expired idle connections and those the server closed; whether any is left.
    /// When none is, the sweeper is marked stopped under the same lock `put` pushes under.
    fn sweep(&self) -> bool {
        let now = Instant::now();
        let mut noop = Context::from_waker(Waker::noop());
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain_mut(|i| {
            now.duration_since(i.since) < POOL_IDLE_TIMEOUT && i.conn.is_open(&mut noop)
        });
        if idle.is_empty() {
            self.sweeping.store(false, Ordering::Release);
            return false;
        }
        true
    }

    /// A new connection, within the connect timeout.
    async fn connect(&self) -> Result<Held, SendError> {
        let opening = async {
            let tcp = match &self.host {
                Host::Domain(name) => TcpStream::connect((name.as_str(), self.port)).await?,
                Host::Ipv4(ip) => TcpStream::connect((*ip, self.port)).await?,
                Host::Ipv6(ip) => TcpStream::connect((*ip, self.port)).await?,
            };
            tcp.set_nodelay(true)?;
            let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
            socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive)?;
            Ok::<_, std::io::Error>(tcp)
        };
        let tcp = match tokio::time::timeout(self.connect_timeout, opening).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                return Err(SendError::new(
                    SendErrorKind::Connect,
                    Delivery::NotSent,
                    Box::new(e),
                ));
            }
            Err(_) => {
                return Err(SendError::new(
                    SendErrorKind::ConnectTimeout,
                    Delivery::NotSent,
                    Box::new(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "operation timed out",
                    )),
                ));
            }
        };
        // An HTTP/1 handshake exchanges nothing: it only sets the connection up.
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| SendError::new(SendErrorKind::Connect, Delivery::NotSent, Box::new(e)))?;
        Ok(Box::new(Conn { sender, conn }))
    }
}

/// Sweeps `pool`'s idle connections every interval until none is left or the pool is gone.
async fn sweeper(pool: Weak<InlinePool>) {
    loop {
        let Some(interval) = pool.upgrade().map(|p| p.sweep_interval) else {
            return;
        };
        tokio::time::sleep(interval).await;
        match pool.upgrade() {
            Some(pool) if pool.sweep() => {}
            _ => return,
        }
    }
}

impl Conn {
    /// Reads what the server sent while the connection was idle; `false` once that closed
    /// it (or was anything but a close: an idle connection owes nothing).
    fn is_open(&mut self, cx: &mut Context<'_>) -> bool {
        self.conn.poll_without_shutdown(cx).is_pending()
    }
}

/// The target of a request on its own connection: the path and query (hyper-util's rule).
fn origin_form(uri: &mut Uri) {
    let path = match uri.path_and_query() {
        Some(path) if path.as_str() != "/" => {
            let mut parts = http::uri::Parts::default();
            parts.path_and_query = Some(path.clone());
            Uri::from_parts(parts).unwrap_or_default()
        }
        _ => Uri::default(),
    };
    *uri = path;
}

/// A response body read on its connection, which it polls too, and puts back into its pool
/// once the body has ended.
pub struct InlineBody {
    body: Incoming,
    /// Until the body ends; `None` once the connection closed.
    conn: Option<Held>,
    /// Where the connection goes back; `None` for a fresh connection (closed after use).
    pool: Option<Arc<InlinePool>>,
}

impl std::fmt::Debug for InlineBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineBody").finish_non_exhaustive()
    }
}

impl Body for InlineBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        // The body first: the connection hands over what it read only once the body asked
        // for it, and then the connection, which does so (or reads more), and the body again.
        // The other order would leave the hand-over to the next poll of the whole task.
        let mut frame = Pin::new(&mut this.body).poll_frame(cx);
        if frame.is_pending() {
            if let Some(conn) = &mut this.conn
                && conn.conn.poll_without_shutdown(cx).is_ready()
            {
                this.conn = None;
            }
            frame = Pin::new(&mut this.body).poll_frame(cx);
        }
        let ended = match &frame {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => this.body.is_end_stream(),
            Poll::Ready(Some(Err(_))) => {
                this.conn = None;
                false
            }
            Poll::Pending => false,
        };
        if ended
            && let Some(conn) = this.conn.take()
            && let Some(pool) = &this.pool
        {
            pool.put(conn);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
