//! The one clock every service reads. Dates are days in Asia/Shanghai
//! (UTC+8 all year: China keeps no daylight saving time since 1991).
//!
//! Outside a drill (演练) the clock is the machine's. In a drill deployment
//! (`ZG_DRILL=1`) the city office may set it: the clock then runs on from the
//! time it was set to, as an offset from the machine's clock. The offset is
//! kept in each service's database (so a restart keeps it and every replica
//! on one database follows it) and `PUT /api/v1/admin/clock` sets it in every
//! service at once, so the 2023 campaign can be replayed in minutes.
//!
//! Tokens, leases and timeouts are not domain time: they keep the machine's
//! clock even in a drill.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use zhenggai_proto::clock::v1 as pb;

use crate::error::ErrorCode;
use crate::identity::Role;

/// Asia/Shanghai, the zone of every date in zhenggai (整改时限, milestones).
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Where a service reads the time from. Cheap to clone; every clone reads
/// the same time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    drill: bool,
    offset_ms: AtomicI64,
}

/// Setting the clock outside a drill deployment.
#[derive(Debug, thiserror::Error)]
#[error(
    "this deployment does not run drills: its clock is the machine's (set ZG_DRILL=1 to drill)"
)]
pub struct NotADrill;

impl Clock {
    /// The machine's clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that can be set, starting at the machine's time.
    pub fn drill() -> Self {
        Self {
            inner: Arc::new(Inner {
                drill: true,
                offset_ms: AtomicI64::new(0),
            }),
        }
    }

    /// True when this clock may be set (a drill, 演练).
    pub fn is_drill(&self) -> bool {
        self.inner.drill
    }

    /// The time every deadline, reminder and history event of the service reads.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms())
    }

    /// Today in Asia/Shanghai.
    pub fn today(&self) -> NaiveDate {
        self.now().with_timezone(&shanghai()).date_naive()
    }

    /// How far the clock stands ahead of the machine's.
    pub fn offset_ms(&self) -> i64 {
        self.inner.offset_ms.load(Ordering::Relaxed)
    }

    /// Sets the clock to `now`; it runs on from there. Answers the offset.
    pub fn set(&self, now: DateTime<Utc>) -> Result<i64, NotADrill> {
        let offset = offset_for(now);
        self.set_offset(offset)?;
        Ok(offset)
    }

    fn set_offset(&self, offset_ms: i64) -> Result<(), NotADrill> {
        if !self.inner.drill {
            return Err(NotADrill);
        }
        self.inner.offset_ms.store(offset_ms, Ordering::Relaxed);
        Ok(())
    }
}

/// How far ahead of the machine's clock `now` stands.
fn offset_for(now: DateTime<Utc>) -> i64 {
    (now - Utc::now()).num_milliseconds()
}

/// The drill offset kept in a service's own database.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS drill_clock (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    offset_ms bigint NOT NULL,
    set_by    text NOT NULL,
    set_at    timestamptz NOT NULL DEFAULT now()
)";

/// The clock a service runs with: the machine's, or in a drill the one kept
/// in its database, which a task follows so that replicas agree.
pub async fn start(pool: &PgPool, drill: bool) -> anyhow::Result<Clock> {
    if !drill {
        return Ok(Clock::system());
    }
    sqlx::query(CREATE_TABLE).execute(pool).await?;
    let clock = Clock::drill();
    if let Some(offset) = stored_offset(pool).await? {
        clock.set_offset(offset)?;
    }
    tracing::warn!(now = %clock.now(), "drill: the clock can be set (ZG_DRILL)");
    let following = clock.clone();
    let pool = pool.clone();
    tokio::spawn(async move {
        while !pool.is_closed() {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Ok(Some(offset)) = stored_offset(&pool).await {
                let _ = following.set_offset(offset);
            }
        }
    });
    Ok(clock)
}

async fn stored_offset(pool: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT offset_ms FROM drill_clock")
        .fetch_optional(pool)
        .await
}

/// `zhenggai.clock.v1.ClockService`, the same in every service.
pub struct ClockApi {
    service: &'static str,
    clock: Clock,
    pool: PgPool,
}

impl ClockApi {
    /// Serves the clock over gRPC (`zhenggai.clock.v1.ClockService`), so the gateway can set it in every service.
    pub fn server(
        service: &'static str,
        clock: Clock,
        pool: PgPool,
    ) -> pb::clock_service_server::ClockServiceServer<Self> {
        pb::clock_service_server::ClockServiceServer::new(Self {
            service,
            clock,
            pool,
        })
    }

    fn reading(&self) -> pb::ClockReading {
        pb::ClockReading {
            now: self.clock.now().with_timezone(&shanghai()).to_rfc3339(),
            drill: self.clock.is_drill(),
            service: self.service.to_owned(),
            offset_ms: self.clock.offset_ms(),
        }
    }
}

#[tonic::async_trait]
impl pb::clock_service_server::ClockService for ClockApi {
    async fn get_clock(
        &self,
        request: Request<pb::GetClockRequest>,
    ) -> Result<Response<pb::ClockReading>, Status> {
        if crate::grpc::caller(&request).is_err() {
            crate::grpc::peer(&request)?;
        }
        Ok(Response::new(self.reading()))
    }

    async fn set_clock(
        &self,
        request: Request<pb::SetClockRequest>,
    ) -> Result<Response<pb::ClockReading>, Status> {
        let caller = crate::grpc::caller(&request)?;
        if caller.role != Role::CityAdmin {
            return Err(
                ErrorCode::PermissionDenied.status("only the city office sets the drill clock")
            );
        }
        let by = caller.username.clone();
        let now = DateTime::parse_from_rfc3339(&request.get_ref().now).map_err(|_| {
            ErrorCode::InvalidArgument.status(format!(
                "now: {:?} is not an RFC 3339 time with offset (e.g. 2023-07-19T09:00:00+08:00)",
                request.get_ref().now
            ))
        })?;
        if !self.clock.is_drill() {
            return Err(ErrorCode::Conflict.status(NotADrill.to_string()));
        }
        let offset = offset_for(now.with_timezone(&Utc));
        sqlx::query(
            "INSERT INTO drill_clock (offset_ms, set_by) VALUES ($1, $2)
             ON CONFLICT (singleton) DO UPDATE SET offset_ms = $1, set_by = $2, set_at = now()",
        )
        .bind(offset)
        .bind(&by)
        .execute(&self.pool)
        .await
        .map_err(|error| {
            let code = crate::error::database_error(&error);
            code.status(code.title())
        })?;
        self.clock
            .set_offset(offset)
            .map_err(|error| ErrorCode::Conflict.status(error.to_string()))?;
        tracing::warn!(service = self.service, now = %now, by, "drill clock set");
        Ok(Response::new(self.reading()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_turns_at_midnight_in_beijing() {
        let late_utc = DateTime::parse_from_rfc3339("2023-07-19T16:30:00Z")
            .unwrap()
            .with_timezone(&shanghai());
        assert_eq!(late_utc.date_naive().to_string(), "2023-07-20");
    }

    #[test]
    fn only_a_drill_clock_can_be_set_and_it_runs_on_from_there() {
        let target = DateTime::parse_from_rfc3339("2023-07-17T09:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        assert!(Clock::system().set(target).is_err());
        let clock = Clock::drill();
        let copy = clock.clone();
        clock.set(target).unwrap();
        let read = copy.now();
        assert!(read >= target && read - target < chrono::Duration::seconds(5));
        assert_eq!(copy.today().to_string(), "2023-07-17");
    }
}
