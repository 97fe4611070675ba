//! Test support: a real HTTP backend on 127.0.0.1:0 that records the raw request target,
//! headers and body it received, and a builder for hand-made `Operation`s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::response::Response;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use toolgate_core::context::CallContext;
use toolgate_core::error::ToolError;
use toolgate_http::{HttpBackend, HttpSourceOptions};
use toolgate_openapi::ir::{
    Annotations, Body, BodyMode, ComponentKind, HttpMethod, Operation, Param, ParamLocation,
    ParamStyle, SecurityScheme,
};
use url::Url;

/// One request as the backend saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The raw request target (path and query) as sent on the wire.
    pub target: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the backend answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn json(v: Value) -> Self {
        Reply::with(200, "application/json", v.to_string().into_bytes())
    }
    pub fn with(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: vec![],
            body: vec![],
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct ServerState {
    responder: Responder,
    requests: Mutex<Vec<Recorded>>,
}

/// A running recording backend.
pub struct Server {
    pub addr: std::net::SocketAddr,
    state: Arc<ServerState>,
}

impl Server {
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).unwrap()
    }
    pub fn url_with(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
    pub fn last(&self) -> Recorded {
        self.requests()
            .last()
            .cloned()
            .expect("the backend received no request")
    }
}

async fn handle(State(state): State<Arc<ServerState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let rec = Recorded {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts.headers,
        body: body.to_vec(),
    };
    let reply = (state.responder)(&rec);
    state.requests.lock().unwrap().push(rec);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut builder = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    builder.body(AxumBody::from(reply.body)).unwrap()
}

/// Starts a backend answering with `responder`.
pub async fn server(responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Server {
    let state = Arc::new(ServerState {
        responder: Arc::new(responder),
        requests: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(state.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server { addr, state }
}

/// A backend that answers every request with `{"ok":true}`.
pub async fn ok_server() -> Server {
    server(|_| Reply::json(json!({"ok": true}))).await
}

/// Builder for hand-made operations.
pub struct OpB(pub Operation);

pub fn op(name: &str, method: HttpMethod, path: &str) -> OpB {
    OpB(Operation {
        name: name.into(),
        kind: ComponentKind::Tool,
        operation_id: None,
        method,
        path: path.into(),
        pointer: "#/paths".into(),
        server_url: None,
        title: None,
        description: format!("{method} {path}"),
        tags: vec![],
        deprecated: false,
        params: vec![],
        body: None,
        input_schema: json!({"type": "object", "properties": {}})
            .as_object()
            .unwrap()
            .clone(),
        output_schema: None,
        output_wrap: None,
        annotations: Annotations::default(),
        security: vec![],
    })
}

pub fn get(path: &str) -> OpB {
    op("t", HttpMethod::Get, path)
}

impl OpB {
    fn props(&mut self) -> &mut serde_json::Map<String, Value> {
        self.0
            .input_schema
            .get_mut("properties")
            .unwrap()
            .as_object_mut()
            .unwrap()
    }

    /// Sets the schema of property `name` (adds it).
    pub fn prop(mut self, name: &str, schema: Value) -> Self {
        self.props().insert(name.into(), schema);
        self
    }

    pub fn required(mut self, name: &str) -> Self {
        let req = self
            .0
            .input_schema
            .entry("required")
            .or_insert_with(|| json!([]));
        req.as_array_mut().unwrap().push(json!(name));
        self
    }

    pub fn param(
        self,
        location: ParamLocation,
        name: &str,
        style: ParamStyle,
        explode: bool,
    ) -> Self {
        self.param_full(Param {
            arg: name.into(),
            name: name.into(),
            location,
            required: location == ParamLocation::Path,
            style,
            explode,
            allow_reserved: false,
            content_type: None,
        })
    }

    pub fn path(self, name: &str) -> Self {
        self.param(ParamLocation::Path, name, ParamStyle::Simple, false)
    }
    pub fn query(self, name: &str) -> Self {
        self.param(ParamLocation::Query, name, ParamStyle::Form, true)
    }
    pub fn header(self, name: &str) -> Self {
        self.param(ParamLocation::Header, name, ParamStyle::Simple, false)
    }

    pub fn param_full(mut self, p: Param) -> Self {
        let arg = p.arg.clone();
        if !self.props().contains_key(&arg) {
            self.props().insert(arg.clone(), json!({}));
        }
        let required = p.required;
        self.0.params.push(p);
        if required { self.required(&arg) } else { self }
    }

    /// A Properties-mode body with the given `(arg, prop)` fields.
    pub fn body_props(mut self, content_type: &str, fields: &[&str]) -> Self {
        for f in fields {
            if !self.props().contains_key(*f) {
                self.props().insert((*f).into(), json!({}));
            }
        }
        self.0.body = Some(Body {
            content_type: content_type.into(),
            required: false,
            mode: BodyMode::Properties {
                fields: fields
                    .iter()
                    .map(|f| (f.to_string(), f.to_string()))
                    .collect(),
            },
            file_fields: vec![],
            part_content_types: vec![],
        });
        self
    }

    /// A Whole-mode body from argument `body`.
    pub fn body_whole(mut self, content_type: &str) -> Self {
        if !self.props().contains_key("body") {
            self.props().insert("body".into(), json!({}));
        }
        self.0.body = Some(Body {
            content_type: content_type.into(),
            required: true,
            mode: BodyMode::Whole { arg: "body".into() },
            file_fields: vec![],
            part_content_types: vec![],
        });
        self
    }

    pub fn files(mut self, fields: &[&str], part_types: &[(&str, &str)]) -> Self {
        let b = self.0.body.as_mut().unwrap();
        b.file_fields = fields.iter().map(|f| f.to_string()).collect();
        b.part_content_types = part_types
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        self
    }

    pub fn output(mut self, wrap: Option<&str>) -> Self {
        self.0.output_schema = Some(json!({"type": "object"}).as_object().unwrap().clone());
        self.0.output_wrap = wrap.map(str::to_owned);
        self
    }

    pub fn security(mut self, alts: &[&[&str]]) -> Self {
        self.0.security = alts
            .iter()
            .map(|a| a.iter().map(|s| s.to_string()).collect())
            .collect();
        self
    }

    pub fn named(mut self, name: &str) -> Self {
        self.0.name = name.into();
        self
    }

    pub fn build(self) -> Arc<Operation> {
        Arc::new(self.0)
    }
}

pub fn backend(server: &Server, options: HttpSourceOptions) -> HttpBackend {
    HttpBackend::new(server.url(), vec![], options).unwrap()
}

pub fn backend_with(
    server: &Server,
    schemes: Vec<SecurityScheme>,
    options: HttpSourceOptions,
) -> HttpBackend {
    HttpBackend::new(server.url(), schemes, options).unwrap()
}

pub async fn call(
    backend: &HttpBackend,
    op: &Arc<Operation>,
    args: Value,
) -> Result<CallToolResult, ToolError> {
    call_ctx(backend, op, args, &CallContext::in_process()).await
}

pub async fn call_ctx(
    backend: &HttpBackend,
    op: &Arc<Operation>,
    args: Value,
    ctx: &CallContext,
) -> Result<CallToolResult, ToolError> {
    let handler = backend.tool_handler(op.clone());
    handler
        .call(
            ctx,
            args.as_object().cloned().expect("arguments are an object"),
        )
        .await
}

/// The text of the first content block.
pub fn text(result: &CallToolResult) -> String {
    result.content[0]
        .as_text()
        .expect("text content")
        .text
        .clone()
}
