//! The inline connections against a hand-written HTTP/1.1 server on 127.0.0.1, which records
//! every connection it accepts and every request head it reads.

use std::sync::{Arc, Mutex};

use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// The request heads each accepted connection read, in order.
type Seen = Arc<Mutex<Vec<Vec<String>>>>;

/// How the test server answers a request of a connection.
enum Reply {
    Answer(&'static [u8]),
    /// Answers, then closes the connection without saying so.
    AnswerThenClose(&'static [u8]),
    /// Closes the connection without answering.
    Close,
    /// Answers, then closes the connection 100 ms later (once it is idle on the client).
    AnswerThenCloseLater(&'static [u8]),
}

/// The reply to the `n`th request (from 0) of a connection.
type Script = fn(usize) -> Reply;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// Reads one request head and its `content-length` body; the head, or `None` at EOF.
async fn read_request(conn: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if conn.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).await.ok()?;
    Some(head)
}

/// A server on 127.0.0.1 answering each connection's requests as `script` says.
async fn server(script: Script) -> (Url, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let seen = Seen::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let index = {
                let mut seen = record.lock().unwrap();
                seen.push(Vec::new());
                seen.len() - 1
            };
            let record = record.clone();
            tokio::spawn(async move {
                for n in 0.. {
                    let Some(head) = read_request(&mut conn).await else {
                        return;
                    };
                    record.lock().unwrap()[index].push(head);
                    match script(n) {
                        Reply::Answer(answer) => conn.write_all(answer).await.unwrap(),
                        Reply::AnswerThenClose(answer) => {
                            conn.write_all(answer).await.unwrap();
                            return;
                        }
                        Reply::Close => return,
                        Reply::AnswerThenCloseLater(answer) => {
                            conn.write_all(answer).await.unwrap();
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, seen)
}

fn pool(url: &Url) -> Arc<InlinePool> {
    Arc::new(InlinePool::new(url, Duration::from_secs(5)).unwrap())
}

fn post(url: &Url, path: &str) -> Request<Full<Bytes>> {
    Request::post(format!("{}{path}", url.as_str().trim_end_matches('/')))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap()
}

async fn text(response: Response<InlineBody>) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn requests_in_turn_share_one_connection_with_host_and_origin_form() {
    let (url, seen) = server(|_| Reply::Answer(OK)).await;
    let pool = pool(&url);
    for path in ["/a?x=1", "/b", ""] {
        let response = pool.send(post(&url, path), false).await.unwrap();
        assert_eq!(text(response).await, "ok");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one connection: {seen:?}");
    let lines: Vec<&str> = seen[0].iter().map(|h| h.lines().next().unwrap()).collect();
    assert_eq!(
        lines,
        [
            "POST /a?x=1 HTTP/1.1",
            "POST /b HTTP/1.1",
            "POST / HTTP/1.1"
        ]
    );
    let port = url.port().unwrap();
    assert!(
        seen[0][0].contains(&format!("host: 127.0.0.1:{port}\r\n")),
        "{}",
        seen[0][0]
    );
}

#[tokio::test]
async fn concurrent_requests_open_a_connection_each_and_keep_them() {
    let (url, seen) = server(|_| Reply::Answer(OK)).await;
    let pool = pool(&url);
    let (a, b) = tokio::join!(pool.send(post(&url, "/a"), false), async {
        pool.send(post(&url, "/b"), false).await
    });
    let (a, b) = tokio::join!(text(a.unwrap()), text(b.unwrap()));
    assert_eq!((a.as_str(), b.as_str()), ("ok", "ok"));
    assert_eq!(pool.idle.lock().unwrap().len(), 2);
    for _ in 0..3 {
        text(pool.send(post(&url, "/c"), false).await.unwrap()).await;
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_not_used() {
    let (url, seen) = server(|_| Reply::AnswerThenClose(OK)).await;
    let pool = pool(&url);
    text(pool.send(post(&url, "/a"), false).await.unwrap()).await;
    // Time for the close to arrive.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let response = pool.send(post(&url, "/b"), false).await.unwrap();
    assert_eq!(text(response).await, "ok");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].len(), 1);
}

#[tokio::test]
async fn a_request_lost_after_it_was_written_is_an_error_that_says_so() {
    // Answers the first request of a connection, reads the second and closes unanswered.
    let (url, _) = server(|n| {
        if n == 0 {
            Reply::Answer(OK)
        } else {
            Reply::Close
        }
    })
    .await;
    let pool = pool(&url);
    text(pool.send(post(&url, "/a"), false).await.unwrap()).await;
    // Sent at once, before the server's close can be seen: it is written, then lost.
    let error = pool.send(post(&url, "/b"), false).await.unwrap_err();
    assert_eq!(error.kind, SendErrorKind::Failed);
    assert_eq!(error.delivery, Delivery::MaybeSent, "{error:?}");
}

#[tokio::test]
async fn a_body_dropped_before_its_end_closes_its_connection() {
    const LONG: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234";
    let (url, seen) = server(|n| Reply::Answer(if n == 0 { LONG } else { OK })).await;
    let pool = pool(&url);
    let response = pool.send(post(&url, "/a"), false).await.unwrap();
    drop(response);
    assert!(pool.idle.lock().unwrap().is_empty());
    // The new connection's first answer is the short one again: only its head is read.
    let response = pool.send(post(&url, "/b"), false).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_fresh_request_takes_a_new_connection_and_does_not_keep_it() {
    let (url, seen) = server(|_| Reply::Answer(OK)).await;
    let pool = pool(&url);
    text(pool.send(post(&url, "/a"), false).await.unwrap()).await;
    text(pool.send(post(&url, "/b"), true).await.unwrap()).await;
    assert_eq!(pool.idle.lock().unwrap().len(), 1);
    text(pool.send(post(&url, "/c"), false).await.unwrap()).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].len(), 2, "the pooled connection served /a and /c");
}

#[tokio::test]
async fn connection_close_is_honoured() {
    const CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok";
    let (url, seen) = server(|_| Reply::Answer(CLOSE)).await;
    let pool = pool(&url);
    for _ in 0..2 {
        assert_eq!(
            text(pool.send(post(&url, "/"), false).await.unwrap()).await,
            "ok"
        );
    }
    assert!(pool.idle.lock().unwrap().is_empty());
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_and_nothing_was_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let error = pool(&url).send(post(&url, "/"), false).await.unwrap_err();
    assert_eq!(error.kind, SendErrorKind::Connect);
    assert_eq!(error.delivery, Delivery::NotSent);
}

#[test]
fn the_host_header_has_the_port_only_when_it_is_not_the_default() {
    let authority = |u: &str| {
        InlinePool::new(&Url::parse(u).unwrap(), Duration::from_secs(1))
            .unwrap()
            .authority
    };
    assert_eq!(authority("http://api.test/x"), "api.test");
    assert_eq!(authority("http://api.test:80/x"), "api.test");
    assert_eq!(authority("http://api.test:8080/x"), "api.test:8080");
    assert_eq!(authority("http://[::1]:9/x"), "[::1]:9");
    assert!(InlinePool::new(&Url::parse("https://api.test/").unwrap(), Duration::ZERO).is_none());
}

#[tokio::test]
async fn idle_connections_expire() {
    let (url, seen) = server(|_| Reply::Answer(OK)).await;
    let pool = pool(&url);
    text(pool.send(post(&url, "/a"), false).await.unwrap()).await;
    for idle in pool.idle.lock().unwrap().iter_mut() {
        idle.since = Instant::now()
            .checked_sub(POOL_IDLE_TIMEOUT + Duration::from_secs(1))
            .unwrap();
    }
    text(pool.send(post(&url, "/b"), false).await.unwrap()).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].len(), 1);
}

/// A pool whose idle connections are swept every 10 ms.
fn swept_pool(url: &Url) -> Arc<InlinePool> {
    Arc::new(InlinePool {
        sweep_interval: Duration::from_millis(10),
        ..InlinePool::new(url, Duration::from_secs(5)).unwrap()
    })
}

/// Waits up to 5 s for the pool to have `n` idle connections.
async fn idle_becomes(pool: &InlinePool, n: usize) {
    for _ in 0..500 {
        if pool.idle.lock().unwrap().len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{} idle connections after 5 s, expected {n}",
        pool.idle.lock().unwrap().len()
    );
}

#[tokio::test]
async fn a_connection_the_server_closes_while_idle_is_dropped_without_another_request() {
    let (url, _) = server(|_| Reply::AnswerThenCloseLater(OK)).await;
    let pool = swept_pool(&url);
    text(pool.send(post(&url, "/a"), false).await.unwrap()).await;
    assert_eq!(pool.idle.lock().unwrap().len(), 1);
    idle_becomes(&pool, 0).await;
    assert!(
        !pool.sweeping.load(Ordering::Acquire),
        "the sweeper stops once nothing is idle"
    );
}

#[tokio::test]
async fn the_sweeper_keeps_open_connections_drops_expired_ones_and_comes_back() {
    let (url, seen) = server(|_| Reply::Answer(OK)).await;
    let pool = swept_pool(&url);
    text(pool.send(post(&url, "/a"), false).await.unwrap()).await;
    // Many sweeps later, the open connection is still there.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pool.idle.lock().unwrap().len(), 1);
    assert!(pool.sweeping.load(Ordering::Acquire));
    for idle in pool.idle.lock().unwrap().iter_mut() {
        idle.since = Instant::now()
            .checked_sub(POOL_IDLE_TIMEOUT + Duration::from_secs(1))
            .unwrap();
    }
    idle_becomes(&pool, 0).await;
    // The next connection put back starts a sweeper again.
    text(pool.send(post(&url, "/b"), false).await.unwrap()).await;
    assert!(pool.sweeping.load(Ordering::Acquire));
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn the_sweeper_ends_with_its_pool() {
    let (url, _) = server(|_| Reply::Answer(OK)).await;
    let pool = swept_pool(&url);
    text(pool.send(post(&url, "/a"), false).await.unwrap()).await;
    let weak = Arc::downgrade(&pool);
    drop(pool);
    // The sweeper held no strong reference while it slept: the pool, and its connection,
    // are gone at once.
    assert!(weak.upgrade().is_none());
}
