//! The notifier service: inbox, email and webhooks, with every delivery attempt recorded.
//!
//! This is the service's frame (configuration, database, migrations, health,
//! reflection, metrics, identity checks, graceful shutdown); its capabilities
//! arrive with their own issues. `main` only wires; [`run`] is what tests
//! start on port 0.

use std::future::Future;
use std::net::SocketAddr;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};
use zhenggai_common::config::ServiceConfig;
use zhenggai_proto::notifier::v1 as pb;

pub const SERVICE_NAME: &str = "zhenggai.notifier.v1.NotifierService";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The notifier's configuration, read once from the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "zhenggai-notifier",
    version,
    about = "The zhenggai notifier service"
)]
pub struct Config {
    /// Address for gRPC (and /metrics, /healthz).
    #[arg(long, env = "ZG_NOTIFIER_ADDR", default_value = "0.0.0.0:50054")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub service: ServiceConfig,
}

struct NotifierApi {
    pool: PgPool,
}

#[tonic::async_trait]
impl pb::notifier_service_server::NotifierService for NotifierApi {
    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        zhenggai_common::grpc::caller(&request)?;
        let (service, version, schema_version) =
            zhenggai_common::grpc::describe(SERVICE_NAME, &self.pool).await?;
        Ok(Response::new(pb::DescribeResponse {
            service,
            version,
            schema_version,
        }))
    }

    async fn ingest_ledger_events(
        &self,
        request: Request<zhenggai_proto::ledger::v1::IngestLedgerEventsRequest>,
    ) -> Result<Response<zhenggai_proto::ledger::v1::IngestLedgerEventsResponse>, Status> {
        zhenggai_common::grpc::peer(&request)?;
        let events = request.into_inner().events;
        Ok(Response::new(
            zhenggai_common::received::record(&self.pool, events).await?,
        ))
    }

    async fn notify(
        &self,
        request: Request<pb::NotifyRequest>,
    ) -> Result<Response<pb::NotifyResponse>, Status> {
        let peer = zhenggai_common::grpc::peer(&request)?.service.clone();
        let notifications = request.into_inner().notifications;
        Ok(Response::new(
            accept(&self.pool, &peer, notifications).await?,
        ))
    }
}

/// Stores the requests whose keys are new, in one statement; a key seen
/// before (in this request or an earlier one) only counts a repeat.
async fn accept(
    pool: &PgPool,
    peer: &str,
    notifications: Vec<pb::Notification>,
) -> Result<pb::NotifyResponse, Status> {
    use zhenggai_common::ErrorCode;
    let invalid = |i: usize, what: &str| {
        ErrorCode::InvalidArgument.status(format!("notifications[{i}].{what} is not valid"))
    };
    let time = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&chrono::Utc))
    };
    let total = notifications.len() as u32;
    let mut seen = std::collections::HashSet::new();
    let (mut ids, mut keys, mut events, mut units) = (vec![], vec![], vec![], vec![]);
    let (mut variables, mut quiet, mut occurred) = (vec![], vec![], vec![]);
    for (i, n) in notifications.into_iter().enumerate() {
        if n.dedupe_key.is_empty() || n.dedupe_key.len() > 200 {
            return Err(invalid(i, "dedupe_key"));
        }
        if n.event.is_empty() || n.unit.is_empty() {
            return Err(invalid(i, "event or unit"));
        }
        let vars = serde_json::from_str::<serde_json::Value>(&n.variables_json)
            .ok()
            .filter(serde_json::Value::is_object)
            .ok_or_else(|| invalid(i, "variables_json"))?;
        let quiet_until = match n.quiet_until.as_str() {
            "" => None,
            text => Some(time(text).map_err(|_| invalid(i, "quiet_until"))?),
        };
        let occurred_at = time(&n.occurred_at).map_err(|_| invalid(i, "occurred_at"))?;
        if !seen.insert(n.dedupe_key.clone()) {
            continue;
        }
        ids.push(uuid::Uuid::now_v7());
        keys.push(n.dedupe_key);
        events.push(n.event);
        units.push(n.unit);
        variables.push(vars);
        quiet.push(quiet_until);
        occurred.push(occurred_at);
    }
    let inserted: Vec<bool> = sqlx::query_scalar(
        "INSERT INTO notifications (id, dedupe_key, event, unit, variables, quiet_until, occurred_at, requested_by)
         SELECT *, $8 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[],
                                  $6::timestamptz[], $7::timestamptz[])
         ON CONFLICT (dedupe_key) DO UPDATE SET repeats = notifications.repeats + 1
         RETURNING xmax = 0",
    )
    .bind(&ids)
    .bind(&keys)
    .bind(&events)
    .bind(&units)
    .bind(&variables)
    .bind(&quiet)
    .bind(&occurred)
    .bind(peer)
    .fetch_all(pool)
    .await
    .map_err(|error| {
        let code = zhenggai_common::error::database_error(&error);
        code.status(code.title())
    })?;
    let accepted = inserted.iter().filter(|new| **new).count() as u32;
    Ok(pb::NotifyResponse {
        accepted,
        duplicates: total - accepted,
    })
}

/// Connects to the database, migrates, and serves on `listener` until
/// `shutdown` resolves; requests in flight finish first.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    zhenggai_common::grpc::run_service(
        SERVICE_NAME,
        &config.service,
        "zhenggai_notifier",
        &MIGRATOR,
        listener,
        shutdown,
        |pool, _clock| async move {
            let api = pb::notifier_service_server::NotifierServiceServer::new(NotifierApi { pool });
            Ok(tonic::service::Routes::new(api))
        },
    )
    .await
}
