//! The gateway's own behaviour: login, lockout, tokens, problem documents,
//! OpenAPI, and the services' gRPC frame.

use serde_json::{Value, json};
use zhenggai_system_tests::{ADMIN_PASSWORD, Stack};

fn assert_problem(body: &Value, status: u16, code: &str) {
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_locks_an_account_after_five_failures() {
    let stack = Stack::start().await;
    stack.user("lockme", "village", "411081114204").await;

    let (status, body) = stack.try_login("lockme", "wrong-password").await;
    assert_eq!(status, 401);
    assert_problem(&body, 401, "invalid_credentials");
    let (status, _) = stack.try_login("nobody", "wrong-password").await;
    assert_eq!(status, 401, "an unknown name answers like a wrong password");

    for _ in 0..3 {
        assert_eq!(stack.try_login("lockme", "wrong-password").await.0, 401);
    }
    let (status, body) = stack.try_login("lockme", "wrong-password").await;
    assert_eq!(status, 429, "the fifth failure locks: {body}");
    assert_problem(&body, 429, "too_many_requests");
    let (status, _) = stack.try_login("lockme", "Village-pass1").await;
    assert_eq!(status, 429, "locked even with the right password");

    // Other accounts are not affected.
    assert_eq!(stack.try_login("admin", ADMIN_PASSWORD).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_cannot_slip_past_the_lockout() {
    let stack = Stack::start().await;
    stack.user("guessme", "village", "411081114204").await;
    let guesses = (0..20).map(|i| {
        let stack = &stack;
        async move {
            stack
                .try_login("guessme", &format!("Wrong-guess{i}"))
                .await
                .0
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, locked), (4, 16), "{statuses:?}");
    assert_eq!(stack.try_login("guessme", "Village-pass1").await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_required_checked_and_revocable() {
    let stack = Stack::start().await;
    let (status, body) = stack
        .json(stack.client.get(stack.url("/api/v1/documents")))
        .await;
    assert_eq!(status, 401);
    assert_problem(&body, 401, "unauthenticated");

    let (status, _) = stack.json(stack.get("/api/v1/me", "not-a-token")).await;
    assert_eq!(status, 401);

    // A token signed by another key is refused.
    let (other_private, _) = zhenggai_common::identity::generate_key_pair().unwrap();
    let signer =
        zhenggai_common::identity::TokenSigner::from_pem(other_private.as_bytes()).unwrap();
    let now = chrono_now();
    let forged = signer
        .sign(&zhenggai_common::identity::Claims {
            iss: "zhenggai".into(),
            aud: "zhenggai".into(),
            sub: uuid::Uuid::new_v4(),
            name: "admin".into(),
            role: zhenggai_common::Role::CityAdmin,
            unit: zhenggai_common::UnitCode::try_from("411081").unwrap(),
            jti: uuid::Uuid::new_v4(),
            generation: 0,
            clearance: false,
            iat: now,
            nbf: now,
            exp: now + 600,
        })
        .unwrap();
    assert_eq!(stack.json(stack.get("/api/v1/me", &forged)).await.0, 401);

    let token = stack.admin().await;
    assert_eq!(stack.json(stack.get("/api/v1/me", &token)).await.0, 200);
    let response = stack
        .post("/api/v1/auth/logout", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        stack.json(stack.get("/api/v1/me", &token)).await.0,
        401,
        "logout revokes the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_out_of_time_or_for_another_audience_are_refused() {
    let stack = Stack::start().await;
    let token = stack.admin().await;
    let (_, me) = stack.json(stack.get("/api/v1/me", &token)).await;
    let now = chrono_now();
    let valid = zhenggai_common::identity::Claims {
        iss: "zhenggai".into(),
        aud: "zhenggai".into(),
        sub: me["id"].as_str().unwrap().parse().unwrap(),
        name: "admin".into(),
        role: zhenggai_common::Role::CityAdmin,
        unit: zhenggai_common::UnitCode::try_from("411081").unwrap(),
        jti: uuid::Uuid::new_v4(),
        generation: 0,
        clearance: false,
        iat: now,
        nbf: now,
        exp: now + 600,
    };
    assert_eq!(
        stack
            .json(stack.get("/api/v1/me", &stack.sign(&valid)))
            .await
            .0,
        200,
        "the control case"
    );
    let cases = [
        (
            "expired",
            zhenggai_common::identity::Claims {
                exp: now - 60,
                iat: now - 700,
                nbf: now - 700,
                ..valid.clone()
            },
        ),
        (
            "not yet valid",
            zhenggai_common::identity::Claims {
                nbf: now + 300,
                ..valid.clone()
            },
        ),
        (
            "another audience",
            zhenggai_common::identity::Claims {
                aud: "elsewhere".into(),
                ..valid.clone()
            },
        ),
        (
            "another issuer",
            zhenggai_common::identity::Claims {
                iss: "elsewhere".into(),
                ..valid.clone()
            },
        ),
        (
            "an old generation",
            zhenggai_common::identity::Claims {
                generation: -1,
                ..valid.clone()
            },
        ),
    ];
    for (what, claims) in cases {
        let (status, body) = stack
            .json(stack.get("/api/v1/me", &stack.sign(&claims)))
            .await;
        assert_eq!(status, 401, "{what}: {body}");
    }
    // An unsigned token (alg none) with valid claims.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(serde_json::to_vec(&valid).unwrap())
    );
    assert_eq!(stack.json(stack.get("/api/v1/me", &unsigned)).await.0, 401);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_follows_the_policy_and_ends_old_tokens() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;
    let (_, me) = stack.json(stack.get("/api/v1/me", &admin)).await;
    let id = me["id"].as_str().unwrap();

    let (status, body) = stack
        .json(
            stack
                .post(&format!("/api/v1/users/{id}/password"), &admin)
                .json(&json!({"current_password": ADMIN_PASSWORD, "new_password": "short"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().contains("at least 8"),
        "{body}"
    );

    let (status, _) = stack
        .json(
            stack
                .post(&format!("/api/v1/users/{id}/password"), &admin)
                .json(&json!({"current_password": "wrong", "new_password": "Another-pass2"})),
        )
        .await;
    assert_eq!(status, 401);

    // Tokens are stamped to the second; let the change fall in a later second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = stack
        .json(
            stack
                .post(&format!("/api/v1/users/{id}/password"), &admin)
                .json(
                    &json!({"current_password": ADMIN_PASSWORD, "new_password": "Another-pass2"}),
                ),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        stack.json(stack.get("/api/v1/me", &admin)).await.0,
        401,
        "the old token ends with the old password"
    );
    assert_eq!(stack.try_login("admin", ADMIN_PASSWORD).await.0, 401);
    assert_eq!(stack.try_login("admin", "Another-pass2").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_problem_documents() {
    let stack = Stack::start().await;
    let admin = stack.admin().await;

    let response = stack
        .client
        .post(stack.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"username\": \"admin\", ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_problem(&body, 400, "malformed_body");
    assert_eq!(body["request_id"], request_id.as_str());

    let (status, body) = stack
        .json(
            stack
                .client
                .post(stack.url("/api/v1/auth/login"))
                .json(&json!({"username": "admin", "password": ADMIN_PASSWORD, "admin": true})),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused");
    assert_problem(&body, 400, "malformed_body");
    assert!(body["detail"].as_str().unwrap().contains("admin"), "{body}");

    let (status, body) = stack
        .json(
            stack
                .post("/api/v1/users", &admin)
                .json(&json!({"username": 5, "password": [], "role": "x", "unit": "1"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_problem(&body, 400, "malformed_body");

    let (status, body) = stack
        .json(
            stack
                .post("/api/v1/documents", &admin)
                .header("content-type", "application/json")
                .body(vec![b'['; 2 * 1024 * 1024]),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_problem(&body, 413, "payload_too_large");

    let (status, body) = stack.json(stack.get("/api/v1/nothing-here", &admin)).await;
    assert_eq!(status, 404);
    assert_problem(&body, 404, "not_found");
    let (status, body) = stack
        .json(stack.get("/api/v1/documents/not-a-uuid", &admin))
        .await;
    assert_eq!(status, 404);
    assert_problem(&body, 404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_docs_health_and_metrics_are_served() {
    let stack = Stack::start().await;
    let (status, doc) = stack
        .json(stack.client.get(stack.url("/api/v1/openapi.json")))
        .await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/auth/login",
        "/api/v1/documents/{id}/problems",
        "/api/v1/units/{code}",
        "/api/v1/users/{id}/password",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    let page = stack.client.get(stack.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.text().await.unwrap().contains("swagger"),
        "the page is served from the binary"
    );

    let response = stack
        .client
        .get(stack.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert!(response.headers().contains_key("x-request-id"));
    let metrics = stack
        .client
        .get(stack.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("zg_http_requests_total"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_need_an_identity_and_services_are_discoverable() {
    use zhenggai_proto::catalogue::v1::{
        GetUnitRequest, catalogue_service_client::CatalogueServiceClient,
    };
    let stack = Stack::start().await;

    let mut catalogue = CatalogueServiceClient::connect(format!("http://{}", stack.catalogue))
        .await
        .unwrap();
    let status = catalogue
        .get_unit(GetUnitRequest {
            code: "411081".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(
        status.metadata().get("zg-error-code").unwrap(),
        "unauthenticated"
    );

    let mut with_bad = tonic::Request::new(GetUnitRequest {
        code: "411081".into(),
    });
    with_bad
        .metadata_mut()
        .insert("authorization", "Bearer forged".parse().unwrap());
    assert_eq!(
        catalogue.get_unit(with_bad).await.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );

    // With the token the gateway minted, the same call goes through.
    let token = stack.admin().await;
    let unit = get_unit(&mut catalogue, "411081", &token).await.unwrap();
    assert_eq!(unit.get_ref().name, "禹州市");

    // The service checks the subtree itself: a village's token reads its own
    // unit over gRPC, and a neighbour's is not found.
    let village = stack.user("grpc-village", "village", "411081114204").await;
    let own = get_unit(&mut catalogue, "411081114204", &village)
        .await
        .unwrap();
    assert_eq!(own.get_ref().level, "village");
    let foreign = get_unit(&mut catalogue, "411081114205", &village)
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), tonic::Code::NotFound);

    for (address, service) in [
        (stack.catalogue, "zhenggai.catalogue.v1.CatalogueService"),
        (stack.ledger, "zhenggai.ledger.v1.LedgerService"),
        (stack.scheduler, "zhenggai.scheduler.v1.SchedulerService"),
        (stack.notifier, "zhenggai.notifier.v1.NotifierService"),
    ] {
        assert!(stack.health(address).await, "{service} reports SERVING");
        let services = reflected_services(address).await;
        assert!(
            services.contains(&service.to_owned()),
            "{service} is listed by reflection: {services:?}"
        );
        assert!(services.contains(&"grpc.health.v1.Health".to_owned()));
    }

    // The frame services answer Describe with the schema they run.
    let mut ledger =
        zhenggai_proto::ledger::v1::ledger_service_client::LedgerServiceClient::connect(format!(
            "http://{}",
            stack.ledger
        ))
        .await
        .unwrap();
    let describe = ledger
        .describe(zhenggai_common::grpc::outgoing(
            zhenggai_proto::ledger::v1::DescribeRequest {},
            &token,
        ))
        .await
        .unwrap();
    assert!(describe.get_ref().schema_version > 0);
    assert_eq!(
        ledger
            .describe(zhenggai_proto::ledger::v1::DescribeRequest {})
            .await
            .unwrap_err()
            .code(),
        tonic::Code::Unauthenticated
    );
}

/// Calls the catalogue's GetUnit directly, on behalf of a token's holder.
async fn get_unit(
    catalogue: &mut zhenggai_proto::catalogue::v1::catalogue_service_client::CatalogueServiceClient<
        tonic::transport::Channel,
    >,
    code: &str,
    token: &str,
) -> Result<tonic::Response<zhenggai_proto::catalogue::v1::Unit>, tonic::Status> {
    let request = zhenggai_proto::catalogue::v1::GetUnitRequest { code: code.into() };
    catalogue
        .get_unit(zhenggai_common::grpc::outgoing(request, token))
        .await
}

async fn reflected_services(address: std::net::SocketAddr) -> Vec<String> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}
