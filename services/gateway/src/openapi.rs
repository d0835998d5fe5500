//! The OpenAPI document (`/api/v1/openapi.json`) and its page (`/docs`),
//! served from the binary: nothing is fetched from a CDN.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// What the document says besides its paths, which come from the router
/// ([`crate::api::router`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "zhenggai 整改台账 API", version = "1", description = "Rectification ledgers (整改台账) of local governments. Errors are RFC 9457 problem documents with a stable `code`."),
    components(schemas(crate::error::ProblemDetails)),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "catalogue"), (name = "directory"),
         (name = "campaigns"), (name = "ledgers"), (name = "findings"), (name = "evidence"),
         (name = "calendar"), (name = "schedule"), (name = "notifications"), (name = "forms"), (name = "admin"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The page at `/docs` and the document at `/api/v1/openapi.json`, made of
/// `paths`, the router's own description of its routes.
pub fn swagger_ui<S: Clone + Send + Sync + 'static>(
    paths: utoipa::openapi::OpenApi,
) -> axum::Router<S> {
    utoipa_swagger_ui::SwaggerUi::new("/docs")
        .url("/api/v1/openapi.json", document(paths))
        .into()
}

/// The document, with what every operation shares written out once here
/// rather than on each handler: errors are `application/problem+json`; any
/// operation may answer 400 (a malformed query or body), a secured one 401
/// and 403, one with parameters 404, one with an Idempotency-Key 409 and
/// 422, and any may answer 503 or 504 when a store or peer is away.
pub fn document(paths: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut whole = ApiDoc::openapi();
    whole.merge(paths);
    let mut document = serde_json::to_value(&whole).unwrap_or_default();
    if let Some(paths) = document
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
    {
        for operation in paths
            .values_mut()
            .filter_map(serde_json::Value::as_object_mut)
            .flat_map(|item| item.values_mut())
            .filter_map(serde_json::Value::as_object_mut)
        {
            share_errors(operation);
        }
    }
    serde_json::from_value(document).unwrap_or(whole)
}

/// The whole document, as `/api/v1/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    document(crate::api::router(usize::MAX, usize::MAX).into_openapi())
}

fn share_errors(operation: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::{Value, json};
    let problem = || json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/ProblemDetails" } } });
    let parameters: Vec<String> = operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|parameter| parameter.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|schemes| !schemes.is_empty());
    // A raw upload is judged by its bytes, whatever type the client names.
    if let Some(content) = operation
        .get_mut("requestBody")
        .and_then(|body| body.get_mut("content"))
        .and_then(Value::as_object_mut)
        && let Some(raw) = content
            .get("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            .cloned()
    {
        content.entry("application/octet-stream").or_insert(raw);
    }
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        let is_problem = content
            .get("application/json")
            .and_then(|json| json.pointer("/schema/$ref"))
            .is_some_and(|reference| reference == "#/components/schemas/ProblemDetails");
        if is_problem && let Some(schema) = content.remove("application/json") {
            content.insert("application/problem+json".to_owned(), schema);
        }
    }
    let mut shared = vec![
        ("400", "Malformed or invalid request"),
        ("503", "A store or service is unavailable; retry"),
        ("504", "The request took too long"),
    ];
    if secured {
        shared.push(("401", "No valid token"));
        shared.push(("403", "The caller's role may not do this"));
    }
    if !parameters.is_empty() {
        shared.push((
            "404",
            "What the request names is not there, or not the caller's to see",
        ));
    }
    if parameters.iter().any(|name| name == "Idempotency-Key") {
        shared.push((
            "409",
            "A request with this Idempotency-Key is still running; retry",
        ));
        shared.push(("422", "This Idempotency-Key was used with another request"));
    }
    for (status, description) in shared {
        responses
            .entry(status)
            .or_insert_with(|| json!({ "description": description, "content": problem() }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two types with one schema name overwrite each other silently; the
    /// notice's problem and the error document once did.
    #[test]
    fn same_named_types_keep_their_own_schemas() {
        let document = serde_json::to_value(openapi()).expect("a JSON document");
        let has = |schema: &str, property: &str| {
            document
                .pointer(&format!(
                    "/components/schemas/{schema}/properties/{property}"
                ))
                .is_some()
        };
        assert!(has("ProblemDetails", "code"));
        assert!(has("NoticeProblem", "manifestation"));
        assert!(has("Deadline", "finding_id"));
        assert!(has("ProblemDeadline", "continuing"));
    }

    #[test]
    fn errors_are_problem_documents_and_shared_statuses_are_written_out() {
        let document = serde_json::to_value(openapi()).expect("a JSON document");
        let finding = &document["paths"]["/api/v1/findings/{id}"]["get"]["responses"];
        assert!(finding["404"]["content"]["application/problem+json"].is_object());
        assert!(finding["404"]["content"]["application/json"].is_null());
        for status in ["400", "401", "403", "503", "504"] {
            assert!(finding[status].is_object(), "{status}");
        }
        let create = &document["paths"]["/api/v1/ledgers/{id}/problems/{problem_id}/findings"]["post"]
            ["responses"];
        assert!(create["422"].is_object(), "Idempotency-Key reused");
    }
}
