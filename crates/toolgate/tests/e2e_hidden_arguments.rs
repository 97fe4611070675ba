//! Hidden argument values (`tools.arguments`) on an OpenAPI source: the model never sees them
//! (they leave the served input schema), every call carries them (a fixed value wins over
//! whatever the model passes; a default fills in when it passes nothing), on the fast path
//! and on rmcp's path alike; and a configuration naming an unknown tool, an unknown argument
//! or a value that does not fit the argument's schema fails with the option's path, never the
//! value.

mod common;

use std::collections::HashMap;

use common::clients::{LegacyClient, MODERN_META, modern_post};
use serde_json::{Value, json};
use toolgate::config::SessionModeConfig;

/// Creates a user and `tasks` tasks for it directly on the Todo API: the user's id.
async fn user_with_tasks(api: &str, name: &str, tasks: usize) -> String {
    let http = reqwest::Client::new();
    let user: Value = http
        .post(format!("{api}/api/v1/users"))
        .json(&json!({"name": name, "email": format!("{name}@example.com")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    for i in 0..tasks {
        let status = http
            .post(format!("{api}/api/v1/users/{id}/tasks"))
            .json(&json!({"title": format!("{name} {i}")}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 201);
    }
    id
}

/// The structured page of a `list_tasks` answer (a JSON-RPC response).
fn page(answer: &Value) -> &Value {
    let result = &answer["result"];
    assert!(
        result.is_object() && result["isError"] != true,
        "not a success: {answer}"
    );
    &result["structuredContent"]
}

fn owners(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["user_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn hidden_values_are_invisible_to_the_model_and_sent_on_every_path() {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    tokio::spawn(todo_api::serve(api));
    let base = format!("http://{api_addr}");
    let tenant = user_with_tasks(&base, "tenant", 3).await;
    let other = user_with_tasks(&base, "other", 2).await;

    let mut config = common::todo_config(api_addr, SessionModeConfig::Stateful);
    common::openapi(&mut config.sources[0]).tools.arguments = serde_json::from_value(json!({
        "list_tasks": {"fixed": {"user_id": tenant}, "defaults": {"limit": 2}}
    }))
    .unwrap();
    let (url, watched) = common::serve_config_with_gateway(config).await;

    // The model's view: neither argument is in the schema.
    let (_, list) = modern_post(
        &url,
        "tools/list",
        None,
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{{MODERN_META}}}}}"#),
    )
    .await;
    let tools: HashMap<&str, &Value> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t))
        .collect();
    let schema = &tools["list_tasks"]["inputSchema"];
    let properties = schema["properties"].as_object().unwrap();
    assert!(!properties.contains_key("user_id"), "{schema}");
    assert!(!properties.contains_key("limit"), "{schema}");
    assert!(properties.contains_key("status"), "{schema}");
    // Other tools keep theirs.
    assert!(
        tools["create_task"]["inputSchema"]["properties"]
            .as_object()
            .unwrap()
            .contains_key("user_id")
    );

    let modern = |id: u64, arguments: Value| {
        let url = url.clone();
        async move {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"list_tasks","arguments":{arguments},{MODERN_META}}}}}"#
            );
            modern_post(&url, "tools/call", Some("list_tasks"), body)
                .await
                .1
        }
    };
    // The fast path: the fixed owner and the default page size.
    let answer = modern(2, json!({})).await;
    let p = page(&answer);
    assert_eq!(p["total"], 3, "{answer}");
    assert_eq!(owners(p), vec![tenant.clone(); 2]);
    // A model that guesses the hidden argument cannot override a fixed value; it may pass a
    // value where there is only a default.
    let answer = modern(3, json!({"user_id": other, "limit": 3})).await;
    let p = page(&answer);
    assert_eq!(owners(p), vec![tenant.clone(); 3], "{answer}");
    assert!(watched.fast_path_calls() >= 2, "the fast path served them");

    // rmcp's path (a session, and `_meta` the fast path never takes): the same.
    let fast_before = watched.fast_path_calls();
    let legacy = LegacyClient::connect(&url).await;
    let (status, answer) = legacy
        .post(&format!(
            r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"list_tasks","arguments":{{"user_id":"{other}"}},"_meta":{{"progressToken":4}}}}}}"#
        ))
        .await;
    assert_eq!(status, 200, "{answer}");
    let p = page(&answer);
    assert_eq!(owners(p), vec![tenant.clone(); 2], "{answer}");
    assert_eq!(
        watched.fast_path_calls(),
        fast_before,
        "rmcp's path served it"
    );
}

/// Assembles `yaml` (a `sources` entry over the Todo API's spec with the given `tools:`
/// block): the error text.
async fn assembly_error(tools: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("todo.json"),
        serde_json::to_vec(&todo_api::openapi()).unwrap(),
    )
    .unwrap();
    let text = format!(
        "sources:\n  - name: todo\n    spec: todo.json\n    base_url: http://127.0.0.1:9\n    tools:\n{tools}"
    );
    let env: std::collections::BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let config = toolgate::config::load(&text, "<test>", &env).unwrap_or_else(|e| panic!("{e}"));
    match toolgate::run::assemble(&config, dir.path()).await {
        Ok(_) => panic!("assembled a configuration with bad hidden arguments:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn bad_hidden_arguments_fail_with_their_path_and_never_their_value() {
    let text = assembly_error(
        "      arguments:\n        list_taks:\n          fixed: { user_id: x }\n",
        &[],
    )
    .await;
    assert!(
        text.contains("tools.arguments.list_taks: no tool of this source is named `list_taks` (did you mean `list_tasks`?)"),
        "{text}"
    );

    let text = assembly_error(
        "      arguments:\n        list_tasks:\n          defaults: { limt: 5 }\n",
        &[],
    )
    .await;
    assert!(
        text.contains("tools.arguments.list_tasks.defaults.limt: tool `list_tasks` has no argument `limt`; did you mean `limit`? its arguments: limit, offset, status, tag, user_id"),
        "{text}"
    );

    // A value from the environment that does not fit (not a UUID is fine for a string, but
    // `limit` must be an integer of at least 1): refused without quoting it.
    let text = assembly_error(
        "      arguments:\n        list_tasks:\n          fixed: { limit: \"${TENANT_LIMIT}\" }\n",
        &[("TENANT_LIMIT", "canary-s3cr3t")],
    )
    .await;
    assert!(
        text.contains(
            "tools.arguments.list_tasks.fixed.limit: the value does not match the argument's schema"
        ),
        "{text}"
    );
    assert!(!text.contains("canary-s3cr3t"), "{text}");
}
