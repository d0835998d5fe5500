//! The gRPC adapter: checks who may do what, converts messages to domain
//! types at the boundary and back, and runs each change in one transaction
//! with its history event and outbox entry.

mod campaigns;
mod convert;
mod evidence;
mod findings;
mod forms;

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::PgPool;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use uuid::Uuid;
use zhenggai_common::clock::Clock;
use zhenggai_common::grpc::{caller, page_limit, paged};
use zhenggai_common::memo::Memo;
use zhenggai_common::{Caller, UnitCode};
use zhenggai_proto::catalogue::v1::catalogue_service_client::CatalogueServiceClient;
use zhenggai_proto::ledger::v1 as pb;

use crate::domain::history::Event;
use crate::error::{LedgerError, Result};
use crate::storage::{self, LedgerRow};

#[derive(Clone)]
pub(crate) struct LedgerApi {
    pool: PgPool,
    clock: Clock,
    catalogue: Channel,
    evidence_limit: u64,
    /// Each campaign's problems by seq. They never change once the campaign
    /// is made (its problems are written in the transaction that makes it),
    /// so every ledger read need not ask the database for them again.
    problems: Arc<Memo<Uuid, Arc<ProblemsBySeq>>>,
}

/// A campaign's problems by seq (序号1).
pub(crate) type ProblemsBySeq = HashMap<i16, storage::CampaignProblem>;

/// Campaigns whose problems are kept at once (see [`Memo`]).
const CACHED_CAMPAIGNS: usize = 256;

impl LedgerApi {
    pub(crate) fn new(pool: PgPool, clock: Clock, catalogue: Channel, evidence_limit: u64) -> Self {
        Self {
            pool,
            clock,
            catalogue,
            evidence_limit,
            problems: Arc::new(Memo::new(CACHED_CAMPAIGNS)),
        }
    }

    fn catalogue(&self) -> CatalogueServiceClient<Channel> {
        CatalogueServiceClient::new(self.catalogue.clone())
            .max_decoding_message_size(zhenggai_common::grpc::MAX_MESSAGE_BYTES)
    }
}

fn uuid(field: &str, text: &str) -> Result<Uuid> {
    Uuid::parse_str(text)
        .map_err(|_| LedgerError::invalid(format!("{field}: {text:?} is not a UUID")))
}

/// A path id: malformed ids are simply not found, like ids of things elsewhere.
fn id_of(what: &str, text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| LedgerError::NotFound(format!("{what} {text}")))
}

/// The bearer token the caller came with, to ask a peer on its behalf.
fn token<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}

/// The start of a history event written by `caller`.
fn event_by(caller: &Caller, kind: &str, at: chrono::DateTime<chrono::Utc>) -> Event {
    Event {
        ledger_id: Uuid::nil(),
        seq: 0,
        at_micros: at.timestamp_micros(),
        kind: kind.to_owned(),
        finding_id: None,
        actor: caller.username.clone(),
        actor_unit: caller.unit.to_string(),
        actor_role: caller.role.as_str().to_owned(),
        reason: String::new(),
        from_state: String::new(),
        to_state: String::new(),
        details: serde_json::json!({}),
    }
}

impl LedgerApi {
    /// A ledger the caller may see; anything else is not found.
    async fn visible_ledger(&self, caller: &Caller, id: Uuid) -> Result<LedgerRow> {
        self.visible_ledger_on(&self.pool, caller, id).await
    }

    /// [`Self::visible_ledger`] on a connection the request already holds.
    async fn visible_ledger_on(
        &self,
        db: impl sqlx::PgExecutor<'_>,
        caller: &Caller,
        id: Uuid,
    ) -> Result<LedgerRow> {
        storage::get_ledger(db, id)
            .await?
            .filter(|ledger| caller.sees(&ledger.unit_code))
            .ok_or_else(|| LedgerError::NotFound(format!("ledger {id}")))
    }

    /// Locks a ledger the caller may see, for a change.
    async fn lock_visible_ledger(
        &self,
        tx: &mut sqlx::PgConnection,
        caller: &Caller,
        id: Uuid,
    ) -> Result<LedgerRow> {
        storage::lock_ledger(tx, id)
            .await?
            .filter(|ledger| caller.sees(&ledger.unit_code))
            .ok_or_else(|| LedgerError::NotFound(format!("ledger {id}")))
    }

    /// A campaign's problems by seq, from the cache when it has them.
    async fn problems_by_seq(&self, campaign_id: Uuid) -> Result<Arc<ProblemsBySeq>> {
        if let Some(problems) = self.problems.get(&campaign_id, |_| true) {
            return Ok(problems);
        }
        let problems: Arc<ProblemsBySeq> = Arc::new(
            storage::campaign_problems(&self.pool, campaign_id)
                .await?
                .into_iter()
                .map(|p| (p.seq, p))
                .collect(),
        );
        // A campaign not made yet has no problems: nothing worth keeping.
        if !problems.is_empty() {
            self.problems
                .insert(campaign_id, problems.clone(), |_| true);
        }
        Ok(problems)
    }

    /// One finding as `caller` may see it.
    async fn finding_for(
        &self,
        caller: &Caller,
        finding: storage::FindingRow,
        ledger: &LedgerRow,
    ) -> Result<pb::Finding> {
        let problems = self.problems_by_seq(ledger.campaign_id).await?;
        let mut answer = self
            .findings_for(caller, ledger, vec![finding], &problems)
            .await?;
        answer
            .pop()
            .ok_or_else(|| LedgerError::NotFound("finding".into()))
    }

    /// Converts findings for `caller`, recording the reads of household data
    /// in clear.
    async fn findings_for(
        &self,
        caller: &Caller,
        ledger: &LedgerRow,
        findings: Vec<storage::FindingRow>,
        problems: &HashMap<i16, storage::CampaignProblem>,
    ) -> Result<Vec<pb::Finding>> {
        self.record_clear_reads(caller, &findings).await?;
        Ok(convert_findings(caller, ledger, findings, problems))
    }

    /// Records the reads of household data in clear that showing these
    /// findings to `caller` makes.
    async fn record_clear_reads<'a>(
        &self,
        caller: &Caller,
        findings: impl IntoIterator<Item = &'a storage::FindingRow>,
    ) -> Result<()> {
        if caller.clearance {
            let clear: Vec<Uuid> = findings
                .into_iter()
                .filter(|f| !f.fields.households.is_empty())
                .map(|f| f.id)
                .collect();
            storage::record_clear_reads(&self.pool, caller, &clear).await?;
        }
        Ok(())
    }
}

/// Findings as `caller` may see them (the reads are recorded by the caller).
fn convert_findings(
    caller: &Caller,
    ledger: &LedgerRow,
    findings: Vec<storage::FindingRow>,
    problems: &HashMap<i16, storage::CampaignProblem>,
) -> Vec<pb::Finding> {
    findings
        .into_iter()
        .map(|f| {
            let problem_id = problems
                .get(&f.problem_seq)
                .map(|p| p.problem_id.to_string())
                .unwrap_or_default();
            convert::finding(f, problem_id, ledger, caller)
        })
        .collect()
}

/// A whole ledger: each section with its findings (in problem order).
fn whole_ledger(
    ledger: &LedgerRow,
    sections: Vec<storage::SectionRow>,
    findings: Vec<pb::Finding>,
    problems: &HashMap<i16, storage::CampaignProblem>,
) -> pb::Ledger {
    let mut findings = findings.into_iter().peekable();
    let sections = sections
        .into_iter()
        .map(|section| {
            let problem = problems.get(&section.problem_seq);
            let mut own = Vec::new();
            while let Some(f) = findings.next_if(|f| f.problem_seq == section.problem_seq as u32) {
                own.push(f);
            }
            convert::section(
                ledger.id,
                section.problem_seq,
                problem,
                section.state,
                section.note,
                own,
            )
        })
        .collect();
    pb::Ledger {
        summary: Some(convert::ledger_summary(ledger)),
        sections,
    }
}

fn visible_unit(caller: &Caller, text: &str) -> Result<UnitCode> {
    UnitCode::try_from(text)
        .ok()
        .filter(|code| caller.sees(code))
        .ok_or_else(|| LedgerError::NotFound(format!("unit {text}")))
}

type Stream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::ledger_service_server::LedgerService for LedgerApi {
    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        caller(&request)?;
        let (service, version, schema_version) =
            zhenggai_common::grpc::describe(crate::SERVICE_NAME, &self.pool).await?;
        Ok(Response::new(pb::DescribeResponse {
            service,
            version,
            schema_version,
        }))
    }

    async fn create_campaign(
        &self,
        request: Request<pb::CreateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let caller = caller(&request)?.clone();
        let token = token(&request);
        Ok(Response::new(
            self.create_campaign(&caller, &token, request.into_inner())
                .await?,
        ))
    }

    async fn get_campaign(
        &self,
        request: Request<pb::GetCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let caller = caller(&request)?.clone();
        let id = id_of("campaign", &request.get_ref().id)?;
        let campaign = self.visible_campaign(&caller, id).await?;
        Ok(Response::new(convert::campaign(campaign)))
    }

    async fn list_campaigns(
        &self,
        request: Request<pb::ListCampaignsRequest>,
    ) -> Result<Response<pb::ListCampaignsResponse>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        let limit = page_limit(request.limit);
        let after = match request.cursor.as_str() {
            "" => None,
            cursor => Some(uuid("cursor", cursor)?),
        };
        let rows =
            storage::list_campaigns(&self.pool, &caller.scope(), &caller.unit, after, limit + 1)
                .await?;
        Ok(Response::new(paged(
            rows,
            limit,
            |c| c.id.to_string(),
            convert::campaign,
            |items, next_cursor| pb::ListCampaignsResponse { items, next_cursor },
        )))
    }

    async fn get_dashboard(
        &self,
        request: Request<pb::GetDashboardRequest>,
    ) -> Result<Response<pb::Dashboard>, Status> {
        let caller = caller(&request)?.clone();
        let token = token(&request);
        Ok(Response::new(
            self.dashboard(&caller, &token, request.into_inner())
                .await?,
        ))
    }

    async fn list_ledgers(
        &self,
        request: Request<pb::ListLedgersRequest>,
    ) -> Result<Response<pb::ListLedgersResponse>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        let campaign = match request.campaign_id.as_str() {
            "" => None,
            text => Some(uuid("campaign", text)?),
        };
        let prefix = match request.unit.as_str() {
            "" => caller.scope(),
            text => visible_unit(&caller, text)?,
        };
        let after = match request.cursor.split_once(':') {
            Some((campaign, code)) => Some((uuid("cursor", campaign)?, code.to_owned())),
            None if request.cursor.is_empty() => None,
            None => return Err(LedgerError::invalid("cursor: not a cursor this list gave").into()),
        };
        let limit = page_limit(request.limit);
        let rows = storage::list_ledgers(&self.pool, campaign, &prefix, after, limit + 1).await?;
        Ok(Response::new(paged(
            rows,
            limit,
            |l| format!("{}:{}", l.campaign_id, l.unit_code),
            |l| convert::ledger_summary(&l),
            |items, next_cursor| pb::ListLedgersResponse { items, next_cursor },
        )))
    }

    async fn get_ledger(
        &self,
        request: Request<pb::GetLedgerRequest>,
    ) -> Result<Response<pb::Ledger>, Status> {
        let caller = caller(&request)?.clone();
        let id = id_of("ledger", &request.get_ref().id)?;
        // One connection for the three reads: each trip back to the pool
        // costs a round trip of its own.
        let mut db = self.pool.acquire().await.map_err(LedgerError::from)?;
        let ledger = self.visible_ledger_on(&mut *db, &caller, id).await?;
        let problems = self.problems_by_seq(ledger.campaign_id).await?;
        let sections = storage::sections(&mut *db, id).await?;
        let findings = storage::findings_of_ledger(&mut *db, id).await?;
        drop(db);
        let findings = self
            .findings_for(&caller, &ledger, findings, &problems)
            .await?;
        Ok(Response::new(whole_ledger(
            &ledger, sections, findings, &problems,
        )))
    }

    async fn verify_ledger(
        &self,
        request: Request<pb::GetLedgerRequest>,
    ) -> Result<Response<pb::VerifyLedgerResponse>, Status> {
        let caller = caller(&request)?.clone();
        let id = id_of("ledger", &request.get_ref().id)?;
        let ledger = self.visible_ledger(&caller, id).await?;
        let events = storage::ledger_events(&self.pool, id).await?;
        let report = crate::domain::history::verify(
            id,
            events
                .iter()
                .map(|e| (&e.event, e.prev_digest.as_slice(), e.digest.as_slice())),
        );
        let head_matches = ledger
            .head_digest
            .as_deref()
            .is_none_or(|head| head == report.head);
        let (first_bad_seq, problem) = match report.broken_at {
            Some((seq, problem)) => (seq as u64, format!("event {seq}: {problem}")),
            None if (report.events as i64) < ledger.head_seq => (
                report.events + 1,
                format!(
                    "event {}: missing (the ledger records {} events)",
                    report.events + 1,
                    ledger.head_seq
                ),
            ),
            None if !head_matches => (
                report.events,
                format!(
                    "event {}: does not match the ledger's recorded head",
                    report.events
                ),
            ),
            None => (0, String::new()),
        };
        if first_bad_seq != 0 {
            tracing::warn!(ledger = %id, first_bad_seq, "ledger history does not verify");
        }
        Ok(Response::new(pb::VerifyLedgerResponse {
            intact: first_bad_seq == 0,
            events: report.events,
            first_bad_seq,
            problem,
            head_digest: crate::domain::history::hex(&report.head),
        }))
    }

    async fn get_ledger_history(
        &self,
        request: Request<pb::GetLedgerRequest>,
    ) -> Result<Response<pb::HistoryResponse>, Status> {
        let caller = caller(&request)?.clone();
        let id = id_of("ledger", &request.get_ref().id)?;
        self.visible_ledger(&caller, id).await?;
        let events = storage::ledger_events(&self.pool, id).await?;
        Ok(Response::new(pb::HistoryResponse {
            items: events.into_iter().map(convert::event).collect(),
        }))
    }

    async fn create_finding(
        &self,
        request: Request<pb::CreateFindingRequest>,
    ) -> Result<Response<pb::Finding>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.create_finding(&caller, request.into_inner()).await?,
        ))
    }

    async fn declare_no_findings(
        &self,
        request: Request<pb::DeclareNoFindingsRequest>,
    ) -> Result<Response<pb::Section>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        Ok(Response::new(
            self.answer_without_findings(
                &caller,
                &request.ledger_id,
                &request.problem_id,
                Some(&request.note),
            )
            .await?,
        ))
    }

    async fn withdraw_no_findings(
        &self,
        request: Request<pb::SectionRef>,
    ) -> Result<Response<pb::Section>, Status> {
        let caller = caller(&request)?.clone();
        let request = request.into_inner();
        Ok(Response::new(
            self.answer_without_findings(&caller, &request.ledger_id, &request.problem_id, None)
                .await?,
        ))
    }

    async fn get_finding(
        &self,
        request: Request<pb::GetFindingRequest>,
    ) -> Result<Response<pb::Finding>, Status> {
        let caller = caller(&request)?.clone();
        let id = id_of("finding", &request.get_ref().id)?;
        let (finding, ledger) = self.visible_finding(&caller, id).await?;
        Ok(Response::new(
            self.finding_for(&caller, finding, &ledger).await?,
        ))
    }

    async fn update_finding(
        &self,
        request: Request<pb::UpdateFindingRequest>,
    ) -> Result<Response<pb::Finding>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.update_finding(&caller, request.into_inner()).await?,
        ))
    }

    async fn transition_finding(
        &self,
        request: Request<pb::TransitionFindingRequest>,
    ) -> Result<Response<pb::Finding>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.transition(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_finding_history(
        &self,
        request: Request<pb::GetFindingRequest>,
    ) -> Result<Response<pb::HistoryResponse>, Status> {
        let caller = caller(&request)?.clone();
        let id = id_of("finding", &request.get_ref().id)?;
        self.visible_finding(&caller, id).await?;
        let events = storage::finding_events(&self.pool, id).await?;
        Ok(Response::new(pb::HistoryResponse {
            items: events.into_iter().map(convert::event).collect(),
        }))
    }

    async fn upload_evidence(
        &self,
        request: Request<tonic::Streaming<pb::UploadEvidenceRequest>>,
    ) -> Result<Response<pb::Evidence>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.upload_evidence(&caller, request.into_inner()).await?,
        ))
    }

    async fn list_evidence(
        &self,
        request: Request<pb::GetFindingRequest>,
    ) -> Result<Response<pb::ListEvidenceResponse>, Status> {
        let caller = caller(&request)?.clone();
        let id = id_of("finding", &request.get_ref().id)?;
        self.visible_finding(&caller, id).await?;
        let items = storage::list_evidence(&self.pool, id).await?;
        Ok(Response::new(pb::ListEvidenceResponse {
            items: items.into_iter().map(convert::evidence).collect(),
        }))
    }

    type StreamCampaignLedgersStream = Stream<pb::CampaignLedgerBatch>;

    async fn stream_campaign_ledgers(
        &self,
        request: Request<pb::StreamCampaignLedgersRequest>,
    ) -> Result<Response<Self::StreamCampaignLedgersStream>, Status> {
        zhenggai_common::grpc::peer(&request)?;
        let id = id_of("campaign", &request.get_ref().campaign_id)?;
        storage::get_campaign(&self.pool, id)
            .await?
            .ok_or_else(|| LedgerError::NotFound(format!("campaign {id}")))?;
        let (sink, batches) = tokio::sync::mpsc::channel(2);
        let pool = self.pool.clone();
        tokio::spawn(async move { storage::stream_campaign_ledgers(&pool, id, 5_000, sink).await });
        use futures::StreamExt as _;
        let stream = tokio_stream::wrappers::ReceiverStream::new(batches).map(|batch| {
            let ledgers = batch.map_err(Status::from)?;
            Ok(pb::CampaignLedgerBatch {
                ledgers: ledgers
                    .into_iter()
                    .map(|(id, code, name, level, complete)| pb::CampaignLedger {
                        ledger_id: id.to_string(),
                        unit: Some(pb::UnitRef { code, name, level }),
                        complete,
                    })
                    .collect(),
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn reopen_after_recheck(
        &self,
        request: Request<pb::ReopenAfterRecheckRequest>,
    ) -> Result<Response<pb::Finding>, Status> {
        zhenggai_common::grpc::peer(&request)?;
        Ok(Response::new(
            self.reopen_after_recheck(request.into_inner()).await?,
        ))
    }

    type ExportLedgersStream = Stream<pb::Ledger>;

    async fn export_ledgers(
        &self,
        request: Request<pb::ExportLedgersRequest>,
    ) -> Result<Response<Self::ExportLedgersStream>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.export_ledgers(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_problem_summary(
        &self,
        request: Request<pb::ExportLedgersRequest>,
    ) -> Result<Response<pb::ProblemSummary>, Status> {
        let caller = caller(&request)?.clone();
        let token = token(&request);
        Ok(Response::new(
            self.problem_summary(&caller, &token, request.into_inner())
                .await?,
        ))
    }

    async fn import_ledger(
        &self,
        request: Request<pb::ImportLedgerRequest>,
    ) -> Result<Response<pb::ImportLedgerResponse>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.import_ledger(&caller, request.into_inner()).await?,
        ))
    }

    async fn hand_in_ledger(
        &self,
        request: Request<tonic::Streaming<pb::HandInRequest>>,
    ) -> Result<Response<pb::HandIn>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.hand_in_ledger(&caller, request.into_inner()).await?,
        ))
    }

    async fn list_hand_ins(
        &self,
        request: Request<pb::GetLedgerRequest>,
    ) -> Result<Response<pb::ListHandInsResponse>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.list_hand_ins(&caller, &request.get_ref().id).await?,
        ))
    }

    type DownloadEvidenceStream = Stream<pb::DownloadEvidenceResponse>;

    async fn download_evidence(
        &self,
        request: Request<pb::DownloadEvidenceRequest>,
    ) -> Result<Response<Self::DownloadEvidenceStream>, Status> {
        let caller = caller(&request)?.clone();
        Ok(Response::new(
            self.download_evidence(&caller, request.into_inner())
                .await?,
        ))
    }
}
