//! End-to-end tests: the real server on `127.0.0.1:0`, driven with reqwest, and the OpenAPI
//! document checked against what the server actually does.

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

struct Api {
    base: String,
    http: Client,
    doc: Value,
}

impl Api {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(todo_api::serve(listener));
        Self {
            base: format!("http://{addr}"),
            http: Client::new(),
            doc: todo_api::openapi(),
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends and returns status and JSON body (`Null` when the body is empty).
    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{status}: body is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.req(Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.req(Method::POST, path).json(&body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.req(Method::PATCH, path).json(&body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.req(Method::DELETE, path)).await
    }

    async fn user(&self, name: &str) -> String {
        let (status, user) = self
            .post(
                "/api/v1/users",
                json!({ "name": name, "email": format!("{name}@example.com") }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        user["id"].as_str().unwrap().to_owned()
    }

    async fn task(&self, user: &str, body: Value) -> Value {
        let (status, task) = self
            .post(&format!("/api/v1/users/{user}/tasks"), body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{task}");
        self.conforms("Task", &task);
        task
    }

    /// Asserts `value` matches the named schema of the document, with a real JSON Schema
    /// 2020-12 validator. Every object schema of the copy validated against refuses
    /// properties it does not list, so the document cannot silently fall behind the code.
    fn conforms(&self, schema: &str, value: &Value) {
        let mut components = self.doc["components"].clone();
        close_objects(&mut components);
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": format!("#/components/schemas/{schema}"),
            "components": components,
        });
        let validator = jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("the document's `{schema}` schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "response does not match the OpenAPI document's `{schema}`:\n{}\n{value:#}",
            errors.join("\n")
        );
    }
}

/// Adds `additionalProperties: false` to every object schema that lists its properties and
/// says nothing about others.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn detail(body: &Value) -> &str {
    body["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("error body without a string detail: {body}"))
}

const MISSING: &str = "00000000-0000-4000-8000-000000000000";

#[tokio::test]
async fn users_are_created_listed_and_fetched() {
    let api = Api::start().await;

    let (status, users) = api.get("/api/v1/users").await;
    assert_eq!((status, users), (StatusCode::OK, json!([])));

    let (status, ada) = api
        .post(
            "/api/v1/users",
            json!({ "name": " Ada ", "email": "ada@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    api.conforms("User", &ada);
    assert_eq!(ada["name"], "Ada", "names are trimmed");
    assert_eq!(ada["email"], "ada@example.com");
    assert!(ada["created_at"].as_str().unwrap().ends_with('Z'));
    let id = ada["id"].as_str().unwrap();

    let (status, got) = api.get(&format!("/api/v1/users/{id}")).await;
    assert_eq!((status, &got), (StatusCode::OK, &ada));

    api.user("grace").await;
    let (status, users) = api.get("/api/v1/users").await;
    assert_eq!(status, StatusCode::OK);
    api.conforms("User", &users[0]);
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada", "grace"], "oldest first");
}

#[tokio::test]
async fn user_errors_are_404_and_422_with_detail() {
    let api = Api::start().await;

    let (status, body) = api.get(&format!("/api/v1/users/{MISSING}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(detail(&body).contains(MISSING), "{body}");

    let (status, body) = api.get("/api/v1/users/not-a-uuid").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail(&body).contains("user_id"), "{body}");

    let cases = [
        (
            json!({ "name": "Ada", "email": "ada.example.com" }),
            "email",
        ),
        (json!({ "name": "   ", "email": "ada@example.com" }), "name"),
        (json!({ "name": "Ada" }), "email"),
        (json!({ "name": "Ada", "email": 3 }), "email"),
        (
            json!({ "name": "Ada", "email": "a@b", "admin": true }),
            "admin",
        ),
    ];
    for (body, field) in cases {
        let (status, err) = api.post("/api/v1/users", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(detail(&err).contains(field), "{body} -> {err}");
    }

    // Malformed JSON and a missing content type are 422 too, as in FastAPI.
    let (status, err) = api
        .send(
            api.req(Method::POST, "/api/v1/users")
                .header("content-type", "application/json")
                .body("{nope"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    detail(&err);
    let (status, err) = api
        .send(api.req(Method::POST, "/api/v1/users").body("{}"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    detail(&err);

    let (status, users) = api.get("/api/v1/users").await;
    assert_eq!(
        (status, users),
        (StatusCode::OK, json!([])),
        "nothing created"
    );
}

#[tokio::test]
async fn task_lifecycle_create_get_patch_complete_delete() {
    let api = Api::start().await;
    let user = api.user("ada").await;

    let minimal = api.task(&user, json!({ "title": "Buy milk" })).await;
    assert_eq!(minimal["status"], "pending");
    assert_eq!(minimal["priority"], "medium");
    assert_eq!(minimal["tags"], json!([]));
    assert_eq!(minimal["description"], Value::Null);
    assert_eq!(minimal["due_date"], Value::Null);
    assert_eq!(minimal["completed_at"], Value::Null);
    assert_eq!(minimal["user_id"], user.as_str());

    let full = api
        .task(
            &user,
            json!({
                "title": "File taxes",
                "description": "before the deadline",
                "due_date": "2030-04-15",
                "priority": "high",
                "tags": ["home", "money"],
            }),
        )
        .await;
    assert_eq!(full["priority"], "high");
    assert_eq!(full["tags"], json!(["home", "money"]));
    assert_eq!(full["due_date"], "2030-04-15");
    let path = format!("/api/v1/tasks/{}", full["id"].as_str().unwrap());

    let (status, got) = api.get(&path).await;
    assert_eq!((status, &got), (StatusCode::OK, &full));

    let (status, patched) = api
        .patch(
            &path,
            json!({ "title": "File taxes now", "description": null, "tags": ["money"], "priority": "low" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    api.conforms("Task", &patched);
    assert_eq!(patched["title"], "File taxes now");
    assert_eq!(patched["description"], Value::Null, "null clears");
    assert_eq!(patched["due_date"], "2030-04-15", "absent is untouched");
    assert_eq!(patched["tags"], json!(["money"]));
    assert_eq!(patched["priority"], "low");

    let (status, unchanged) = api.patch(&path, json!({})).await;
    assert_eq!((status, &unchanged), (StatusCode::OK, &patched));

    let (status, done) = api.post(&format!("{path}/complete"), json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    api.conforms("Task", &done);
    assert_eq!(done["status"], "completed");
    let completed_at = done["completed_at"].as_str().expect("completed_at set");
    let (status, again) = api
        .send(api.req(Method::POST, &format!("{path}/complete")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again["completed_at"], completed_at,
        "completing is idempotent"
    );

    let (status, body) = api.delete(&path).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = api.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    detail(&body);
    let (status, _) = api.delete(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.patch(&path, json!({ "title": "x" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.post(&format!("{path}/complete"), json!(null)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn task_errors_are_404_and_422_with_detail() {
    let api = Api::start().await;
    let user = api.user("ada").await;
    let tasks = format!("/api/v1/users/{user}/tasks");

    let (status, body) = api
        .post(
            &format!("/api/v1/users/{MISSING}/tasks"),
            json!({ "title": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown user in the path");
    assert!(detail(&body).contains(MISSING));

    let cases = [
        (json!({ "title": "" }), "title"),
        (json!({ "title": "  " }), "title"),
        (json!({}), "title"),
        (json!({ "title": "x", "priority": "urgent" }), "urgent"),
        (
            json!({ "title": "x", "due_date": "2030-02-30" }),
            "due_date",
        ),
        (json!({ "title": "x", "tags": "home" }), "tags"),
        (json!({ "title": "x", "tags": [""] }), "tags[0]"),
        (json!({ "title": "x", "status": "completed" }), "status"),
    ];
    for (body, needle) in cases {
        let (status, err) = api.post(&tasks, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(detail(&err).contains(needle), "{body} -> {err}");
    }

    let task = api.task(&user, json!({ "title": "keep me" })).await;
    let path = format!("/api/v1/tasks/{}", task["id"].as_str().unwrap());
    for body in [
        json!({ "title": "" }),
        json!({ "title": null }),
        json!({ "tags": null }),
        json!({ "priority": null }),
        json!({ "due_date": "soon" }),
        json!({ "status": "completed" }),
    ] {
        let (status, err) = api.patch(&path, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {err}");
        detail(&err);
    }
    let (_, after) = api.get(&path).await;
    assert_eq!(after, task, "a rejected patch changes nothing");

    for bad in ["/api/v1/tasks/nope", "/api/v1/tasks/nope/complete"] {
        let method = if bad.ends_with("complete") {
            Method::POST
        } else {
            Method::GET
        };
        let (status, err) = api.send(api.req(method, bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(detail(&err).contains("task_id"));
    }
}

#[tokio::test]
async fn list_tasks_filters_by_user_status_and_every_tag_and_pages() {
    let api = Api::start().await;
    let ada = api.user("ada").await;
    let bob = api.user("bob").await;
    let a1 = api
        .task(&ada, json!({ "title": "a1", "tags": ["home", "urgent"] }))
        .await;
    let a2 = api
        .task(&ada, json!({ "title": "a2", "tags": ["home"] }))
        .await;
    let b1 = api
        .task(
            &bob,
            json!({ "title": "b1", "tags": ["urgent", "home", "work"] }),
        )
        .await;
    api.post(
        &format!("/api/v1/tasks/{}/complete", a2["id"].as_str().unwrap()),
        json!(null),
    )
    .await;

    let titles = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |query: Vec<(&'static str, String)>| {
        let req = api.req(Method::GET, "/api/v1/tasks").query(&query);
        api.send(req)
    };

    let (status, page) = list(vec![]).await;
    assert_eq!(status, StatusCode::OK);
    api.conforms("TaskPage", &page);
    assert_eq!(titles(&page), ["a1", "a2", "b1"]);
    assert_eq!(page["total"], 3);

    let (_, page) = list(vec![("user_id", ada.clone())]).await;
    assert_eq!(titles(&page), ["a1", "a2"]);
    let (_, page) = list(vec![("status", "completed".into())]).await;
    assert_eq!(titles(&page), ["a2"]);
    let (_, page) = list(vec![("status", "pending".into()), ("user_id", ada.clone())]).await;
    assert_eq!(titles(&page), ["a1"]);

    // Repeated `tag` parameters: a task must carry all of them.
    let (_, page) = list(vec![("tag", "home".into())]).await;
    assert_eq!(titles(&page), ["a1", "a2", "b1"]);
    let (_, page) = list(vec![("tag", "home".into()), ("tag", "urgent".into())]).await;
    assert_eq!(titles(&page), ["a1", "b1"]);
    let (_, page) = list(vec![("tag", "urgent".into()), ("tag", "work".into())]).await;
    assert_eq!(titles(&page), ["b1"]);
    let (status, page) = api.get("/api/v1/tasks?tag=home&tag=urgent&tag=nope").await;
    assert_eq!(
        (status, page),
        (StatusCode::OK, json!({ "items": [], "total": 0 }))
    );

    let (_, page) = list(vec![("limit", "1".into()), ("offset", "1".into())]).await;
    assert_eq!(titles(&page), ["a2"]);
    assert_eq!(page["total"], 3, "total counts before paging");
    let (_, page) = list(vec![("offset", "10".into())]).await;
    assert_eq!((titles(&page).len(), page["total"].clone()), (0, json!(3)));
    let (_, page) = list(vec![("limit", "500".into())]).await;
    assert_eq!(page["total"], 3);

    for (key, value) in [
        ("limit", "0"),
        ("limit", "501"),
        ("limit", "ten"),
        ("offset", "-1"),
        ("status", "done"),
        ("user_id", "nope"),
        ("user_id", MISSING),
    ] {
        let (status, err) = list(vec![(key, value.into())]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{key}={value}");
        assert!(detail(&err).contains(key), "{key}={value} -> {err}");
    }
    let _ = (a1, b1);
}

#[tokio::test]
async fn healthz_openapi_and_unknown_routes() {
    let api = Api::start().await;
    assert_eq!(
        api.get("/healthz").await,
        (StatusCode::OK, json!({ "status": "ok" }))
    );
    assert_eq!(
        api.get("/openapi.json").await,
        (StatusCode::OK, api.doc.clone())
    );
    assert_eq!(
        api.get("/api/v1/nope").await,
        (StatusCode::NOT_FOUND, json!({ "detail": "Not Found" }))
    );
    assert_eq!(
        api.send(api.req(Method::PUT, "/api/v1/users")).await,
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "detail": "Method Not Allowed" })
        )
    );
}

#[test]
fn openapi_document_is_3_1_and_every_ref_resolves() {
    let doc = todo_api::openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20, "expected many $refs, found {}", refs.len());
    for r in refs {
        assert!(r.starts_with("#/components/"), "non-local $ref {r}");
        assert!(resolve(&doc, &r).is_some(), "dangling $ref {r}");
    }

    let mut ids = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let id = op["operationId"].as_str().unwrap();
            ids.push(id.to_owned());
            for key in ["summary", "description"] {
                assert!(op[key].is_string(), "{method} {path}: no {key}");
            }
            let tags = op["tags"].as_array().unwrap();
            assert!(
                tags == &[json!("users")] || tags == &[json!("tasks")],
                "{id}: tags {tags:?}"
            );
            // Every `{param}` in the path is declared once, at path or operation level.
            let declared: Vec<String> = item["parameters"]
                .as_array()
                .into_iter()
                .chain(op["parameters"].as_array())
                .flatten()
                .map(|p| {
                    let p = match p.get("$ref") {
                        Some(r) => resolve(&doc, r.as_str().unwrap()).unwrap(),
                        None => p,
                    };
                    format!(
                        "{}:{}",
                        p["in"].as_str().unwrap(),
                        p["name"].as_str().unwrap()
                    )
                })
                .collect();
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                let n = declared
                    .iter()
                    .filter(|d| **d == format!("path:{name}"))
                    .count();
                assert_eq!(n, 1, "{id}: path parameter {name} declared {n} times");
            }
        }
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "duplicate operationId in {ids:?}");
    assert_eq!(ids.len(), 9);
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Every documented operation is routed (no fallback 404, no 405) and answers with a status the
/// document lists for it, even when sent an unknown id and an empty body.
#[tokio::test]
async fn every_documented_route_is_served_with_a_documented_status() {
    let api = Api::start().await;
    let doc = api.doc.clone();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{user_id}", MISSING)
            .replace("{task_id}", MISSING);
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req = api.req(m, &concrete);
            if op.get("requestBody").is_some() {
                req = req.json(&json!({}));
            }
            let (status, body) = api.send(req).await;
            let where_ = format!("{method} {path} -> {status} {body}");
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{where_}");
            assert_ne!(body, json!({ "detail": "Not Found" }), "unrouted: {where_}");
            assert!(
                op["responses"].get(status.as_str()).is_some(),
                "undocumented status: {where_}"
            );
        }
    }
}
