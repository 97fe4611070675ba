//! Swagger 2.0 → OpenAPI 3.0 conversion, so the rest of the compiler sees one shape.
//!
//! Owns: `definitions`/`parameters`/`responses`/`securityDefinitions` → `components`, local
//! `$ref` rewriting, `in: body` and `in: formData` parameters → `requestBody` (with `consumes`;
//! formData becomes `multipart/form-data` when it has a file or the operation consumes
//! multipart, else `application/x-www-form-urlencoded`), `collectionFormat` → `style`/`explode`
//! (csv → form/simple explode=false, ssv → spaceDelimited, pipes → pipeDelimited, tsv →
//! tabDelimited, multi → form explode=true), responses with `produces`, and
//! `schemes`/`host`/`basePath` → `servers`. Schema keywords themselves (`type: file`,
//! `x-nullable`) are handled by [`crate::schema`].

use serde_json::{Map, Value, json};

use crate::SpecError;

const SCHEMA_KEYS: [&str; 17] = [
    "type",
    "format",
    "items",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
    "x-nullable",
];

/// Converts a Swagger 2.0 document to an equivalent OpenAPI 3.0 one.
pub(crate) fn convert(doc: &Value) -> Result<Value, SpecError> {
    let src = doc
        .as_object()
        .ok_or_else(|| SpecError::NotOpenApi("the document root is not an object".into()))?;
    let mut out = Map::new();
    out.insert("openapi".into(), "3.0.3".into());
    for k in ["info", "tags", "externalDocs", "security"] {
        if let Some(v) = src.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(url) = base_url(src) {
        out.insert("servers".into(), json!([{ "url": url }]));
    }
    let global_consumes = media_list(src.get("consumes"));
    let global_produces = media_list(src.get("produces"));

    let mut components = Map::new();
    if let Some(defs) = src.get("definitions") {
        components.insert("schemas".into(), defs.clone());
    }
    if let Some(params) = src.get("parameters").and_then(Value::as_object) {
        let mut m = Map::new();
        for (k, p) in params {
            let inn = p.get("in").and_then(Value::as_str).unwrap_or_default();
            if inn != "body" && inn != "formData" {
                m.insert(k.clone(), convert_param(p));
            }
        }
        components.insert("parameters".into(), Value::Object(m));
    }
    if let Some(resps) = src.get("responses").and_then(Value::as_object) {
        let mut m = Map::new();
        for (k, r) in resps {
            m.insert(k.clone(), convert_response(r, &global_produces));
        }
        components.insert("responses".into(), Value::Object(m));
    }
    if let Some(sec) = src.get("securityDefinitions").and_then(Value::as_object) {
        let mut m = Map::new();
        for (k, s) in sec {
            m.insert(k.clone(), convert_security(s));
        }
        components.insert("securitySchemes".into(), Value::Object(m));
    }
    out.insert("components".into(), Value::Object(components));

    if let Some(paths) = src.get("paths").and_then(Value::as_object) {
        let mut pm = Map::new();
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                pm.insert(path.clone(), item.clone());
                continue;
            };
            let shared: Vec<Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .map(|ps| ps.iter().map(|p| deref_param(src, p)).collect())
                .unwrap_or_default();
            let mut new_item = Map::new();
            for (k, v) in item {
                match k.as_str() {
                    "get" | "put" | "post" | "delete" | "options" | "head" | "patch" => {
                        new_item.insert(
                            k.clone(),
                            convert_op(src, v, &shared, &global_consumes, &global_produces),
                        );
                    }
                    "parameters" => {}
                    _ => {
                        new_item.insert(k.clone(), v.clone());
                    }
                }
            }
            pm.insert(path.clone(), Value::Object(new_item));
        }
        out.insert("paths".into(), Value::Object(pm));
    }
    let mut out = Value::Object(out);
    rewrite_refs(&mut out);
    Ok(out)
}

fn base_url(src: &Map<String, Value>) -> Option<String> {
    let base_path = src
        .get("basePath")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim_end_matches('/');
    match src.get("host").and_then(Value::as_str) {
        Some(host) => {
            let scheme = src
                .get("schemes")
                .and_then(Value::as_array)
                .and_then(|s| {
                    s.iter()
                        .filter_map(Value::as_str)
                        .find(|s| *s == "https")
                        .or_else(|| s.first().and_then(Value::as_str))
                })
                .unwrap_or("https");
            Some(format!("{scheme}://{host}{base_path}"))
        }
        None if !base_path.is_empty() => Some(base_path.to_owned()),
        None => None,
    }
}

fn media_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Inlines `#/parameters/X` (body and formData parameters cannot stay references in 3.0).
fn deref_param(src: &Map<String, Value>, p: &Value) -> Value {
    if let Some(r) = p.get("$ref").and_then(Value::as_str)
        && let Some(name) = r.strip_prefix("#/parameters/")
        && let Some(target) = src.get("parameters").and_then(|ps| ps.get(name))
    {
        let inn = target.get("in").and_then(Value::as_str).unwrap_or_default();
        if inn == "body" || inn == "formData" {
            return target.clone();
        }
    }
    p.clone()
}

fn param_schema(p: &Map<String, Value>) -> Value {
    let mut s = Map::new();
    for k in SCHEMA_KEYS {
        if let Some(v) = p.get(k) {
            s.insert(k.into(), v.clone());
        }
    }
    if s.get("type").and_then(Value::as_str) == Some("file") {
        s.insert("type".into(), "string".into());
        s.insert("format".into(), "binary".into());
    }
    Value::Object(s)
}

fn convert_param(p: &Value) -> Value {
    let Some(pm) = p.as_object() else {
        return p.clone();
    };
    if pm.contains_key("$ref") {
        return p.clone();
    }
    let mut out = Map::new();
    for k in ["name", "in", "description", "required", "allowEmptyValue"] {
        if let Some(v) = pm.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    for (k, v) in pm {
        if k.starts_with("x-") {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert("schema".into(), param_schema(pm));
    let inn = pm.get("in").and_then(Value::as_str).unwrap_or_default();
    if pm.get("type").and_then(Value::as_str) == Some("array") {
        let fmt = pm
            .get("collectionFormat")
            .and_then(Value::as_str)
            .unwrap_or("csv");
        let (style, explode) = match fmt {
            "ssv" => ("spaceDelimited", false),
            "pipes" => ("pipeDelimited", false),
            "tsv" => ("tabDelimited", false),
            "multi" => ("form", true),
            _ if inn == "path" || inn == "header" => ("simple", false),
            _ => ("form", false),
        };
        out.insert("style".into(), style.into());
        out.insert("explode".into(), explode.into());
    }
    Value::Object(out)
}

fn convert_response(r: &Value, produces: &[String]) -> Value {
    let Some(rm) = r.as_object() else {
        return r.clone();
    };
    if rm.contains_key("$ref") {
        return r.clone();
    }
    let mut out = Map::new();
    out.insert(
        "description".into(),
        rm.get("description").cloned().unwrap_or_else(|| "".into()),
    );
    if let Some(schema) = rm.get("schema") {
        let mut content = Map::new();
        let types: Vec<String> = if produces.is_empty() {
            vec!["application/json".to_owned()]
        } else {
            produces.to_vec()
        };
        for mt in types {
            content.insert(mt, json!({ "schema": schema }));
        }
        out.insert("content".into(), Value::Object(content));
    }
    if let Some(h) = rm.get("headers").and_then(Value::as_object) {
        let mut hm = Map::new();
        for (k, hv) in h {
            let mut hd = Map::new();
            if let Some(d) = hv.get("description") {
                hd.insert("description".into(), d.clone());
            }
            if let Some(o) = hv.as_object() {
                hd.insert("schema".into(), param_schema(o));
            }
            hm.insert(k.clone(), Value::Object(hd));
        }
        out.insert("headers".into(), Value::Object(hm));
    }
    Value::Object(out)
}

fn convert_security(s: &Value) -> Value {
    let get = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or_default();
    match get("type") {
        "basic" => json!({"type": "http", "scheme": "basic"}),
        "apiKey" => json!({"type": "apiKey", "name": get("name"), "in": get("in")}),
        "oauth2" => {
            let flow = match get("flow") {
                "implicit" => "implicit",
                "password" => "password",
                "application" => "clientCredentials",
                _ => "authorizationCode",
            };
            let mut f = Map::new();
            for k in ["authorizationUrl", "tokenUrl"] {
                if let Some(v) = s.get(k) {
                    f.insert(k.into(), v.clone());
                }
            }
            f.insert(
                "scopes".into(),
                s.get("scopes").cloned().unwrap_or_else(|| json!({})),
            );
            json!({"type": "oauth2", "flows": { flow: f }})
        }
        _ => s.clone(),
    }
}

fn convert_op(
    src: &Map<String, Value>,
    op: &Value,
    shared: &[Value],
    global_consumes: &[String],
    global_produces: &[String],
) -> Value {
    let Some(om) = op.as_object() else {
        return op.clone();
    };
    let consumes = match om.get("consumes") {
        Some(c) => media_list(Some(c)),
        None => global_consumes.to_vec(),
    };
    let produces = match om.get("produces") {
        Some(p) => media_list(Some(p)),
        None => global_produces.to_vec(),
    };
    // Merge path-level and operation-level parameters (operation wins on name+in).
    let mut params: Vec<Value> = shared.to_vec();
    for p in om
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let p = deref_param(src, p);
        let key = |v: &Value| {
            (
                v.get("name").cloned(),
                v.get("in").cloned(),
                v.get("$ref").cloned(),
            )
        };
        match params.iter_mut().find(|q| key(q) == key(&p)) {
            Some(slot) => *slot = p,
            None => params.push(p),
        }
    }
    let mut out = Map::new();
    for (k, v) in om {
        match k.as_str() {
            "parameters" | "responses" | "consumes" | "produces" | "schemes" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let mut new_params = Vec::new();
    let mut form_props = Map::new();
    let mut form_required = Vec::new();
    let mut has_file = false;
    let mut body = None;
    for p in &params {
        match p.get("in").and_then(Value::as_str) {
            Some("body") => {
                let mut content = Map::new();
                let schema = p.get("schema").cloned().unwrap_or_else(|| json!({}));
                let types: Vec<String> = consumes
                    .iter()
                    .filter(|c| !c.contains("form"))
                    .cloned()
                    .collect();
                let types = if types.is_empty() {
                    vec!["application/json".to_owned()]
                } else {
                    types
                };
                for mt in types {
                    content.insert(mt, json!({ "schema": schema }));
                }
                let mut rb = Map::new();
                if let Some(d) = p.get("description") {
                    rb.insert("description".into(), d.clone());
                }
                rb.insert(
                    "required".into(),
                    p.get("required").cloned().unwrap_or(Value::Bool(false)),
                );
                rb.insert("content".into(), Value::Object(content));
                body = Some(Value::Object(rb));
            }
            Some("formData") => {
                let Some(pm) = p.as_object() else { continue };
                let Some(name) = pm.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let mut s = param_schema(pm);
                if let Some(d) = pm.get("description") {
                    s["description"] = d.clone();
                }
                if pm.get("type").and_then(Value::as_str) == Some("file") {
                    has_file = true;
                }
                if pm.get("required") == Some(&Value::Bool(true)) {
                    form_required.push(Value::String(name.to_owned()));
                }
                form_props.insert(name.to_owned(), s);
            }
            _ => new_params.push(convert_param(p)),
        }
    }
    if body.is_none() && !form_props.is_empty() {
        let mt = if has_file
            || consumes
                .iter()
                .any(|c| c.starts_with("multipart/form-data"))
        {
            "multipart/form-data"
        } else {
            "application/x-www-form-urlencoded"
        };
        let mut schema = json!({"type": "object", "properties": form_props});
        if !form_required.is_empty() {
            schema["required"] = Value::Array(form_required.clone());
        }
        body = Some(json!({
            "required": !form_required.is_empty(),
            "content": { mt: { "schema": schema } },
        }));
    }
    if !new_params.is_empty() {
        out.insert("parameters".into(), Value::Array(new_params));
    }
    if let Some(b) = body {
        out.insert("requestBody".into(), b);
    }
    if let Some(resps) = om.get("responses").and_then(Value::as_object) {
        let mut m = Map::new();
        for (code, r) in resps {
            m.insert(code.clone(), convert_response(r, &produces));
        }
        out.insert("responses".into(), Value::Object(m));
    }
    Value::Object(out)
}

/// Rewrites local 2.0 `$ref`s to their 3.0 component locations.
fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if k == "$ref"
                    && let Value::String(s) = val
                {
                    // `#definitions/X` (no leading `/`, see `refs::decode_fragment`).
                    if let Some(rest) = s.strip_prefix('#')
                        && !rest.starts_with('/')
                        && rest.contains('/')
                    {
                        *s = format!("#/{rest}");
                    }
                    for (from, to) in [
                        ("#/definitions/", "#/components/schemas/"),
                        ("#/parameters/", "#/components/parameters/"),
                        ("#/responses/", "#/components/responses/"),
                    ] {
                        if let Some(rest) = s.strip_prefix(from) {
                            *s = format!("{to}{rest}");
                            break;
                        }
                    }
                } else {
                    rewrite_refs(val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_formats_map_to_styles() {
        let p = |fmt: &str, inn: &str| {
            convert_param(
                &json!({"name": "x", "in": inn, "type": "array", "items": {"type": "string"}, "collectionFormat": fmt}),
            )
        };
        assert_eq!(p("csv", "query")["style"], "form");
        assert_eq!(p("csv", "query")["explode"], false);
        assert_eq!(p("multi", "query")["explode"], true);
        assert_eq!(p("ssv", "query")["style"], "spaceDelimited");
        assert_eq!(p("pipes", "query")["style"], "pipeDelimited");
        assert_eq!(p("tsv", "query")["style"], "tabDelimited");
        assert_eq!(p("csv", "path")["style"], "simple");
    }

    #[test]
    fn base_url_from_host_and_base_path() {
        let d =
            json!({"host": "api.example.com", "basePath": "/v1/", "schemes": ["http", "https"]});
        assert_eq!(
            base_url(d.as_object().unwrap()).as_deref(),
            Some("https://api.example.com/v1")
        );
        let d = json!({"basePath": "/v1"});
        assert_eq!(base_url(d.as_object().unwrap()).as_deref(), Some("/v1"));
    }
}
