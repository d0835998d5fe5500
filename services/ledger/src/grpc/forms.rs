//! What the official forms need: whole ledgers of a subtree (附件2), the
//! per-problem summary (附件1), the import of a filled 附件2 and the hand-in
//! (上报) of a complete ledger with its report.

use std::collections::HashMap;

use uuid::Uuid;
use zhenggai_common::Caller;
use zhenggai_proto::ledger::v1 as pb;

use super::evidence::{file_names, receive_file};
use super::findings::{
    changed_fields, fields_details, record_finding_change, record_section_change, require_owner,
};
use super::{LedgerApi, Stream, convert, convert_findings, event_by, id_of, uuid, whole_ledger};
use crate::domain::finding::FindingDraft;
use crate::domain::import::{self, FindingFacts, ImportRow, SectionFacts, Step};
use crate::domain::{FindingState, SectionState};
use crate::error::{LedgerError, Result};
use crate::storage::{self, HandInRow};

/// Ledgers assembled per round of queries when a subtree is exported.
const EXPORT_BATCH: usize = 200;
/// The most rows one import takes.
pub(super) const MAX_IMPORT_ROWS: usize = 5_000;

fn hand_in(row: HandInRow) -> pb::HandIn {
    pb::HandIn {
        id: row.id.to_string(),
        ledger_id: row.ledger_id.to_string(),
        milestone_id: row
            .milestone_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        note: row.note,
        file_name: row.file_name,
        content_type: row.content_type,
        size: row.size as u64,
        sha256: crate::domain::history::hex(&row.sha256),
        handed_in_by: row.handed_in_by,
        handed_in_at: convert::rfc3339(row.handed_in_at),
        history_seq: row.history_seq as u64,
        findings: row.findings as u32,
        closed: row.closed as u32,
    }
}

impl LedgerApi {
    pub(super) async fn export_ledgers(
        &self,
        caller: &Caller,
        request: pb::ExportLedgersRequest,
    ) -> Result<Stream<pb::Ledger>> {
        let (campaign, unit) = self
            .campaign_scope(caller, &request.campaign_id, &request.unit)
            .await?;
        let ledgers = storage::ledgers_under(&self.pool, campaign.id, &unit).await?;
        let problems = self.problems_by_seq(campaign.id).await?;
        let (sink, source) = tokio::sync::mpsc::channel(EXPORT_BATCH);
        let api = self.clone();
        let caller = caller.clone();
        tokio::spawn(async move {
            for batch in ledgers.chunks(EXPORT_BATCH) {
                let answer = api.export_batch(&caller, batch, &problems).await;
                let failed = answer.is_err();
                let items = match answer {
                    Ok(items) => items.into_iter().map(Ok).collect(),
                    Err(error) => vec![Err(tonic::Status::from(error))],
                };
                for item in items {
                    if sink.send(item).await.is_err() {
                        return;
                    }
                }
                if failed {
                    return;
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(
            source,
        )))
    }

    /// Whole ledgers of a batch: two queries, one record of clear reads.
    async fn export_batch(
        &self,
        caller: &Caller,
        batch: &[storage::LedgerRow],
        problems: &HashMap<i16, storage::CampaignProblem>,
    ) -> Result<Vec<pb::Ledger>> {
        let ids: Vec<Uuid> = batch.iter().map(|l| l.id).collect();
        let mut sections = storage::sections_of(&self.pool, &ids).await?;
        let mut findings = storage::findings_of(&self.pool, &ids).await?;
        self.record_clear_reads(caller, findings.values().flatten())
            .await?;
        Ok(batch
            .iter()
            .map(|ledger| {
                let own = findings.remove(&ledger.id).unwrap_or_default();
                let own = convert_findings(caller, ledger, own, problems);
                let sections = sections.remove(&ledger.id).unwrap_or_default();
                whole_ledger(ledger, sections, own, problems)
            })
            .collect())
    }

    pub(super) async fn problem_summary(
        &self,
        caller: &Caller,
        token: &str,
        request: pb::ExportLedgersRequest,
    ) -> Result<pb::ProblemSummary> {
        let (campaign, unit) = self
            .campaign_scope(caller, &request.campaign_id, &request.unit)
            .await?;
        let problems = self.problems_by_seq(campaign.id).await?;
        let tallies = storage::problem_summary(&self.pool, campaign.id, &unit).await?;
        let names = self
            .unit_names(campaign.id, token, vec![unit.to_string()])
            .await?;
        let count = |t: &storage::ProblemTallyRow, state: FindingState| {
            t.states.get(state.as_str()).copied().unwrap_or_default() as u32
        };
        Ok(pb::ProblemSummary {
            unit: names.into_iter().next(),
            problems: tallies
                .iter()
                .map(|t| pb::ProblemTally {
                    problem_seq: t.problem_seq as u32,
                    problem_id: problems
                        .get(&t.problem_seq)
                        .map(|p| p.problem_id.to_string())
                        .unwrap_or_default(),
                    ledgers: t.ledgers as u32,
                    unanswered: t.unanswered as u32,
                    no_findings: t.no_findings as u32,
                    with_findings: t.with_findings as u32,
                    findings: t.states.values().sum::<i64>() as u32,
                    open: count(t, FindingState::Open),
                    in_progress: count(t, FindingState::InProgress),
                    submitted: count(t, FindingState::Submitted),
                    verified: count(t, FindingState::Verified),
                    closed: count(t, FindingState::Closed),
                })
                .collect(),
        })
    }

    /// Plans every row against the ledger under its lock, then writes all
    /// the steps, each with its history event and outbox entry, in the same
    /// transaction; or writes nothing and lists the faults.
    pub(super) async fn import_ledger(
        &self,
        caller: &Caller,
        request: pb::ImportLedgerRequest,
    ) -> Result<pb::ImportLedgerResponse> {
        let ledger_id = id_of("ledger", &request.ledger_id)?;
        if request.rows.len() > MAX_IMPORT_ROWS {
            return Err(LedgerError::TooLarge(format!(
                "an import takes at most {MAX_IMPORT_ROWS} rows"
            )));
        }
        let rows: Vec<ImportRow> = request
            .rows
            .into_iter()
            .map(|r| {
                let fields = r.fields.unwrap_or_default();
                ImportRow {
                    row: r.row,
                    problem_seq: i16::try_from(r.problem_seq).unwrap_or(i16::MAX),
                    finding_seq: (r.finding_seq > 0)
                        .then(|| i32::try_from(r.finding_seq).unwrap_or(i32::MAX)),
                    no_findings: r.no_findings,
                    note: r.note,
                    draft: FindingDraft {
                        description: fields.description,
                        measures: fields.measures,
                        due_on: fields.due_on,
                        kind: fields.kind,
                        responsible: fields.responsible,
                        result: fields.result,
                        standing_mechanism: String::new(),
                        households: Vec::new(),
                    },
                }
            })
            .collect();
        let source = serde_json::json!({
            "source": "import",
            "file_name": request.source_name.chars().take(200).collect::<String>(),
            "sha256": request.source_sha256.chars().take(64).collect::<String>(),
        });

        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut ledger = self.lock_visible_ledger(&mut tx, caller, ledger_id).await?;
        require_owner(caller, &ledger)?;
        let sections = storage::sections(&mut *tx, ledger.id).await?;
        let findings = storage::findings_of_ledger(&mut *tx, ledger.id).await?;
        let section_facts: Vec<SectionFacts> = sections
            .iter()
            .map(|s| SectionFacts {
                problem_seq: s.problem_seq,
                state: s.state,
            })
            .collect();
        let finding_facts: Vec<FindingFacts> = findings
            .iter()
            .map(|f| FindingFacts {
                id: f.id,
                problem_seq: f.problem_seq,
                seq: f.seq,
                state: f.state,
                fields: f.fields.clone(),
            })
            .collect();
        let steps = match import::plan(&rows, &section_facts, &finding_facts) {
            Ok(steps) => steps,
            Err(faults) => {
                tx.rollback().await?;
                return Ok(pb::ImportLedgerResponse {
                    faults: faults
                        .into_iter()
                        .map(|f| pb::RowFault {
                            row: f.row,
                            field: f.field.to_owned(),
                            reason: f.reason,
                        })
                        .collect(),
                    ledger: Some(convert::ledger_summary(&ledger)),
                    ..Default::default()
                });
            }
        };

        let mut answer = pb::ImportLedgerResponse::default();
        if request.dry_run {
            tx.rollback().await?;
            for step in &steps {
                match step {
                    Step::Unchanged { .. } => answer.unchanged += 1,
                    Step::Create { .. } => answer.created += 1,
                    Step::Update { .. } => answer.updated += 1,
                    Step::DeclareNoFindings { .. } => answer.declared_no_findings += 1,
                }
            }
            answer.ledger = Some(convert::ledger_summary(&ledger));
            return Ok(answer);
        }
        let mut section_state: HashMap<i16, SectionState> =
            sections.iter().map(|s| (s.problem_seq, s.state)).collect();
        for step in steps {
            match step {
                Step::Unchanged { .. } => answer.unchanged += 1,
                Step::Create {
                    row,
                    problem_seq,
                    seq,
                    fields,
                } => {
                    let id = Uuid::now_v7();
                    storage::insert_finding(
                        &mut tx,
                        id,
                        &ledger,
                        problem_seq,
                        Some(seq),
                        &fields,
                        &caller.username,
                        now,
                    )
                    .await?;
                    if section_state.get(&problem_seq) == Some(&SectionState::Unanswered) {
                        storage::set_section(
                            &mut tx,
                            &mut ledger,
                            problem_seq,
                            SectionState::Unanswered,
                            SectionState::Findings,
                            "",
                        )
                        .await?;
                        section_state.insert(problem_seq, SectionState::Findings);
                    }
                    let mut event = event_by(caller, "finding_created", now);
                    event.to_state = FindingState::Open.as_str().to_owned();
                    event.details = serde_json::json!({
                        "problem_seq": problem_seq, "seq": seq, "version": 1,
                        "fields": fields_details(&fields), "import": source, "row": row,
                    });
                    record_finding_change(&mut tx, &mut ledger, id, event, caller, "created")
                        .await?;
                    answer.created += 1;
                }
                Step::Update { row, id, fields } => {
                    let changed = findings
                        .iter()
                        .find(|f| f.id == id)
                        .map(|f| changed_fields(&f.fields, &fields))
                        .unwrap_or_default();
                    let version = storage::update_fields(&mut tx, id, &fields, now).await?;
                    let mut event = event_by(caller, "finding_updated", now);
                    event.details = serde_json::json!({
                        "version": version, "changed": changed, "import": source, "row": row,
                    });
                    record_finding_change(&mut tx, &mut ledger, id, event, caller, "updated")
                        .await?;
                    answer.updated += 1;
                }
                Step::DeclareNoFindings {
                    problem_seq, note, ..
                } => {
                    let before = section_state
                        .get(&problem_seq)
                        .copied()
                        .unwrap_or(SectionState::Unanswered);
                    let event = event_by(caller, "no_findings_declared", now);
                    record_section_change(
                        &mut tx,
                        &mut ledger,
                        problem_seq,
                        before,
                        SectionState::NoFindings,
                        &note,
                        event,
                    )
                    .await?;
                    section_state.insert(problem_seq, SectionState::NoFindings);
                    answer.declared_no_findings += 1;
                }
            }
        }
        let ledger = if answer.created + answer.updated + answer.declared_no_findings == 0 {
            tx.rollback().await?;
            ledger
        } else {
            tx.commit().await?;
            // The counters the inserts kept are the table's, not the row's in hand.
            storage::get_ledger(&self.pool, ledger.id)
                .await?
                .ok_or_else(|| LedgerError::NotFound(format!("ledger {ledger_id}")))?
        };
        tracing::info!(
            ledger = %ledger_id, created = answer.created, updated = answer.updated,
            unchanged = answer.unchanged, declared = answer.declared_no_findings, "ledger imported"
        );
        answer.ledger = Some(convert::ledger_summary(&ledger));
        Ok(answer)
    }

    /// 上报: the report's bytes go into the transaction as they arrive; the
    /// ledger is locked at the end, checked complete again, and the hand-in
    /// is recorded in its history and told to the scheduler (milestones).
    pub(super) async fn hand_in_ledger(
        &self,
        caller: &Caller,
        mut stream: tonic::Streaming<pb::HandInRequest>,
    ) -> Result<pb::HandIn> {
        use pb::hand_in_request::Part;
        let header = match stream.message().await? {
            Some(pb::HandInRequest {
                part: Some(Part::Header(header)),
            }) => header,
            _ => {
                return Err(LedgerError::invalid(
                    "the first message must name the ledger and the report",
                ));
            }
        };
        let ledger_id = id_of("ledger", &header.ledger_id)?;
        let milestone_id = match header.milestone_id.as_str() {
            "" => None,
            text => Some(uuid("milestone_id", text)?),
        };
        let mut faults = Vec::new();
        let note = crate::domain::finding::text("note", &header.note, false, &mut faults);
        if !faults.is_empty() {
            return Err(LedgerError::Invalid(faults));
        }
        let ledger = self.visible_ledger(caller, ledger_id).await?;
        require_owner(caller, &ledger)?;
        let incomplete = |ledger: &storage::LedgerRow| {
            LedgerError::Conflict(format!(
                "the ledger is not complete: {} of {} problems answered; answer every problem (findings or 经排查，无此类问题) before handing it in",
                ledger.sections_answered, ledger.sections
            ))
        };
        if !ledger.complete() {
            return Err(incomplete(&ledger));
        }
        let (file_name, declared_type) = file_names(&header.file_name, &header.declared_type);

        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let file =
            receive_file(
                &mut tx,
                id,
                self.evidence_limit,
                &mut stream,
                |message| match message.part {
                    Some(Part::Chunk(bytes)) => Some(bytes),
                    _ => None,
                },
            )
            .await?;
        let now = self.clock.now();
        let mut ledger = storage::lock_ledger(&mut tx, ledger_id)
            .await?
            .ok_or_else(|| LedgerError::NotFound(format!("ledger {ledger_id}")))?;
        if !ledger.complete() {
            return Err(incomplete(&ledger));
        }
        let mut event = event_by(caller, "ledger_handed_in", now);
        event.details = serde_json::json!({
            "hand_in_id": id, "milestone_id": milestone_id, "note": note,
            "report": { "file_name": file_name, "content_type": file.content_type, "size": file.size,
                        "sha256": crate::domain::history::hex(&file.sha256) },
            "findings": ledger.findings, "closed": ledger.closed,
        });
        let stored = storage::append_event(&mut tx, &mut ledger, event).await?;
        let row = HandInRow {
            id,
            ledger_id,
            milestone_id,
            note,
            file_name,
            declared_type,
            content_type: file.content_type.to_owned(),
            size: file.size as i64,
            sha256: file.sha256,
            findings: ledger.findings,
            closed: ledger.closed,
            history_seq: stored.event.seq,
            handed_in_by: caller.username.clone(),
            handed_in_at: now,
        };
        storage::insert_hand_in(&mut tx, &row).await?;
        storage::enqueue(
            &mut tx,
            "ledger.handed_in",
            &serde_json::json!({
                "hand_in_id": id, "ledger_id": ledger.id, "campaign_id": ledger.campaign_id,
                "unit": ledger.unit_code.as_str(), "unit_name": ledger.unit_name,
                "unit_level": ledger.unit_level, "milestone_id": milestone_id,
                "actor": caller.username, "at": now,
            }),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(ledger = %ledger_id, hand_in = %id, size = file.size, "ledger handed in");
        Ok(hand_in(row))
    }

    pub(super) async fn list_hand_ins(
        &self,
        caller: &Caller,
        ledger_id: &str,
    ) -> Result<pb::ListHandInsResponse> {
        let id = id_of("ledger", ledger_id)?;
        self.visible_ledger(caller, id).await?;
        Ok(pb::ListHandInsResponse {
            items: storage::list_hand_ins(&self.pool, id)
                .await?
                .into_iter()
                .map(hand_in)
                .collect(),
        })
    }
}
