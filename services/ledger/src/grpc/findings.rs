//! Filling a ledger and reviewing its findings.

use uuid::Uuid;
use zhenggai_common::{Caller, UnitCode};
use zhenggai_proto::ledger::v1 as pb;

use super::{LedgerApi, convert, event_by, id_of, uuid};
use crate::domain::campaign::standing;
use crate::domain::finding::{self, FindingDraft, ReviewFacts, transition};
use crate::domain::household::{Household, HouseholdDraft};
use crate::domain::{Action, FindingFields, FindingState, SectionState};
use crate::error::{LedgerError, Result};
use crate::storage::{self, FindingRow, LedgerRow};

fn drafts(households: Vec<pb::Household>) -> Vec<HouseholdDraft> {
    households
        .into_iter()
        .map(|h| HouseholdDraft {
            name: h.name,
            id_number: h.id_number,
            phone: h.phone,
        })
        .collect()
}

/// What the history keeps of households: how many and a digest, never the
/// data itself (the history cannot be deleted; personal data must be).
fn households_digest(households: &[Household]) -> serde_json::Value {
    let mut text = String::new();
    for h in households {
        let clear = h.clear();
        text.push_str(&format!(
            "{}\u{1f}{}\u{1f}{}\u{1e}",
            clear.name, clear.id_number, clear.phone
        ));
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    serde_json::json!({ "count": households.len(), "sha256": crate::domain::history::hex(digest.as_ref()) })
}

/// The fields as the history records them.
pub(super) fn fields_details(fields: &FindingFields) -> serde_json::Value {
    serde_json::json!({
        "description": fields.description,
        "measures": fields.measures,
        "due_on": fields.due_on.map(|d| d.to_string()),
        "kind": fields.kind.as_str(),
        "responsible": fields.responsible,
        "result": fields.result,
        "standing_mechanism": fields.standing_mechanism,
        "households": households_digest(&fields.households),
    })
}

/// The fields that differ, as the history records them (new values).
pub(super) fn changed_fields(
    old: &FindingFields,
    new: &FindingFields,
) -> serde_json::Map<String, serde_json::Value> {
    let before = fields_details(old);
    fields_details(new)
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, value)| before.get(key.as_str()) != Some(value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Whose review a finding awaits (待审核): the unit above verifies a
/// submitted finding, the city office above writes a verified one off.
fn awaiting(finding: &FindingRow, ledger: &LedgerRow) -> serde_json::Value {
    let parent = ledger.unit_code.parent();
    let (unit, action) = match finding.state {
        FindingState::Submitted => (parent, "verify"),
        FindingState::Verified if ledger.unit_level == "village" => {
            (parent.and_then(|township| township.parent()), "close")
        }
        FindingState::Verified => (parent, "close"),
        _ => return serde_json::Value::Null,
    };
    serde_json::json!({ "unit": unit.map(String::from), "action": action })
}

/// What the other services hear of a finding (no personal data).
fn finding_payload(
    finding: &FindingRow,
    ledger: &LedgerRow,
    event: &str,
    actor: &Caller,
    at: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    serde_json::json!({
        "awaiting": awaiting(finding, ledger),
        "event": event,
        "finding_id": finding.id,
        "ledger_id": ledger.id,
        "campaign_id": ledger.campaign_id,
        "unit": ledger.unit_code.as_str(),
        "unit_name": ledger.unit_name,
        "unit_level": ledger.unit_level,
        "problem_seq": finding.problem_seq,
        "seq": finding.seq,
        "state": finding.state.as_str(),
        "kind": finding.fields.kind.as_str(),
        "due_on": finding.fields.due_on.map(|d| d.to_string()),
        "written_off": finding.written_off,
        "version": finding.version,
        "actor": actor.username,
        "actor_unit": actor.unit.as_str(),
        "complete": ledger.complete(),
        "at": at,
    })
}

/// The version an update names must be the finding's (If-Match).
fn check_version(expected: u64, finding: &FindingRow) -> Result<()> {
    if expected == finding.version as u64 {
        Ok(())
    } else {
        Err(LedgerError::StaleVersion {
            expected,
            current: finding.version as u64,
        })
    }
}

pub(super) fn require_owner(caller: &Caller, ledger: &LedgerRow) -> Result<()> {
    if standing(caller, &ledger.unit_code, &ledger.unit_level).owner {
        Ok(())
    } else {
        Err(LedgerError::PermissionDenied(format!(
            "only {} ({}) fills its own ledger",
            ledger.unit_name, ledger.unit_code
        )))
    }
}

/// Records a change of a finding in `tx`: the history event, then the
/// outbox entry with the finding as it now stands, which it answers.
pub(super) async fn record_finding_change(
    tx: &mut sqlx::PgConnection,
    ledger: &mut LedgerRow,
    id: Uuid,
    mut event: crate::domain::history::Event,
    caller: &Caller,
    what: &str,
) -> Result<FindingRow> {
    event.finding_id = Some(id);
    let at = chrono::DateTime::from_timestamp_micros(event.at_micros).unwrap_or_default();
    storage::append_event(&mut *tx, ledger, event).await?;
    let finding = storage::lock_finding(&mut *tx, id)
        .await?
        .ok_or_else(|| LedgerError::NotFound(format!("finding {id}")))?;
    storage::enqueue(
        &mut *tx,
        "finding.changed",
        &finding_payload(&finding, ledger, what, caller, at),
    )
    .await?;
    Ok(finding)
}

/// Declares a section free of findings (经排查无此类问题) or withdraws the
/// declaration, in `tx`: the section, the history event `event` (its states
/// and details filled in here) and the outbox entry.
pub(super) async fn record_section_change(
    tx: &mut sqlx::PgConnection,
    ledger: &mut LedgerRow,
    problem_seq: i16,
    before: SectionState,
    state: SectionState,
    note: &str,
    mut event: crate::domain::history::Event,
) -> Result<()> {
    storage::set_section(&mut *tx, ledger, problem_seq, before, state, note).await?;
    let at = chrono::DateTime::from_timestamp_micros(event.at_micros).unwrap_or_default();
    event.from_state = before.as_str().to_owned();
    event.to_state = state.as_str().to_owned();
    event.details = serde_json::json!({ "problem_seq": problem_seq, "note": note });
    storage::append_event(&mut *tx, ledger, event).await?;
    storage::enqueue(
        &mut *tx,
        "section.changed",
        &serde_json::json!({
            "ledger_id": ledger.id, "campaign_id": ledger.campaign_id, "unit": ledger.unit_code.as_str(),
            "problem_seq": problem_seq, "state": state.as_str(), "complete": ledger.complete(),
            "at": at,
        }),
    )
    .await
}

impl LedgerApi {
    /// A finding in a ledger the caller may see, with its ledger.
    pub(super) async fn visible_finding(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<(FindingRow, LedgerRow)> {
        let not_found = || LedgerError::NotFound(format!("finding {id}"));
        let finding = storage::get_finding(&self.pool, id)
            .await?
            .filter(|f| caller.sees(&f.unit_code))
            .ok_or_else(not_found)?;
        let ledger = storage::get_ledger(&self.pool, finding.ledger_id)
            .await?
            .ok_or_else(not_found)?;
        Ok((finding, ledger))
    }

    /// Locks a visible finding's ledger, then reads the finding: every change
    /// of a ledger's findings goes through the ledger's lock.
    async fn lock_visible_finding(
        &self,
        tx: &mut sqlx::PgConnection,
        caller: &Caller,
        id: Uuid,
    ) -> Result<(FindingRow, LedgerRow)> {
        let not_found = || LedgerError::NotFound(format!("finding {id}"));
        let ledger_id = storage::ledger_of_finding(&mut *tx, id)
            .await?
            .ok_or_else(not_found)?;
        let ledger = storage::lock_ledger(tx, ledger_id)
            .await?
            .filter(|l| caller.sees(&l.unit_code))
            .ok_or_else(not_found)?;
        let finding = storage::lock_finding(tx, id).await?.ok_or_else(not_found)?;
        Ok((finding, ledger))
    }

    /// The campaign's problem that a section of `ledger` answers.
    async fn section_problem(
        &self,
        ledger: &LedgerRow,
        problem_id: &str,
    ) -> Result<storage::CampaignProblem> {
        let problem = id_of("problem", problem_id)?;
        self.problems_by_seq(ledger.campaign_id)
            .await?
            .values()
            .find(|p| p.problem_id == problem)
            .cloned()
            .ok_or_else(|| LedgerError::NotFound(format!("problem {problem_id} in this ledger")))
    }

    /// Ends every change of a finding alike: the history event, the outbox
    /// entry with the finding as it now stands, the commit, the answer.
    async fn commit_finding_change(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        mut ledger: LedgerRow,
        id: Uuid,
        event: crate::domain::history::Event,
        caller: &Caller,
        what: &str,
    ) -> Result<pb::Finding> {
        let finding = record_finding_change(&mut tx, &mut ledger, id, event, caller, what).await?;
        tx.commit().await?;
        self.finding_for(caller, finding, &ledger).await
    }

    pub(super) async fn create_finding(
        &self,
        caller: &Caller,
        request: pb::CreateFindingRequest,
    ) -> Result<pb::Finding> {
        let ledger_id = id_of("ledger", &request.ledger_id)?;
        let request_key = request_key(&request.request_key)?;
        if let Some(key) = request_key
            && let Some(id) = storage::created_by_request(&self.pool, key).await?
        {
            // The first request committed; its answer was lost on the way.
            let (finding, ledger) = self.visible_finding(caller, id).await?;
            return self.finding_for(caller, finding, &ledger).await;
        }
        let fields = request.fields.unwrap_or_default();
        let draft = FindingDraft {
            description: fields.description,
            measures: fields.measures,
            due_on: fields.due_on,
            kind: fields.kind,
            responsible: fields.responsible,
            result: fields.result,
            standing_mechanism: fields.standing_mechanism,
            households: drafts(fields.households),
        };
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut ledger = self.lock_visible_ledger(&mut tx, caller, ledger_id).await?;
        let problem_seq = self
            .section_problem(&ledger, &request.problem_id)
            .await?
            .seq;
        require_owner(caller, &ledger)?;
        let fields = FindingFields::try_from(draft).map_err(LedgerError::Invalid)?;
        let section = storage::section(&mut tx, ledger.id, problem_seq)
            .await?
            .ok_or_else(|| {
                LedgerError::NotFound(format!("problem {} in this ledger", request.problem_id))
            })?;
        if section.state == SectionState::NoFindings {
            return Err(LedgerError::Conflict(
                "this section is declared free of findings (经排查无此类问题): withdraw the declaration first".into(),
            ));
        }
        let id = Uuid::now_v7();
        let seq = storage::insert_finding(
            &mut tx,
            id,
            &ledger,
            problem_seq,
            None,
            &fields,
            &caller.username,
            now,
        )
        .await?;
        if section.state == SectionState::Unanswered {
            storage::set_section(
                &mut tx,
                &mut ledger,
                problem_seq,
                section.state,
                SectionState::Findings,
                "",
            )
            .await?;
        }
        if let Some(key) = request_key {
            storage::record_create_request(&mut tx, key, id).await?;
        }
        let mut event = event_by(caller, "finding_created", now);
        event.to_state = FindingState::Open.as_str().to_owned();
        event.details = serde_json::json!({ "problem_seq": problem_seq, "seq": seq, "version": 1, "fields": fields_details(&fields) });
        self.commit_finding_change(tx, ledger, id, event, caller, "created")
            .await
    }

    /// Declares a section free of findings (`note` set) or withdraws the
    /// declaration (`note` none).
    pub(super) async fn answer_without_findings(
        &self,
        caller: &Caller,
        ledger_id: &str,
        problem_id: &str,
        note: Option<&str>,
    ) -> Result<pb::Section> {
        let ledger_id = id_of("ledger", ledger_id)?;
        let note = match note {
            Some(note) => {
                let mut faults = Vec::new();
                let note = finding::text("note", note, true, &mut faults);
                if !faults.is_empty() {
                    return Err(LedgerError::Invalid(faults));
                }
                Some(note)
            }
            None => None,
        };
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut ledger = self.lock_visible_ledger(&mut tx, caller, ledger_id).await?;
        let problem = self.section_problem(&ledger, problem_id).await?;
        let problem_seq = problem.seq;
        require_owner(caller, &ledger)?;
        let section = storage::section(&mut tx, ledger.id, problem_seq)
            .await?
            .ok_or_else(|| LedgerError::NotFound(format!("problem {problem_id} in this ledger")))?;
        let (state, kind) = match (&note, section.state) {
            (Some(_), SectionState::Findings) => {
                return Err(LedgerError::Conflict(format!(
                    "this section has {} finding(s): it cannot be declared free of findings",
                    section.findings
                )));
            }
            (Some(_), _) => (SectionState::NoFindings, "no_findings_declared"),
            (None, SectionState::NoFindings) => (SectionState::Unanswered, "no_findings_withdrawn"),
            (None, _) => {
                return Err(LedgerError::Conflict(
                    "this section is not declared free of findings".into(),
                ));
            }
        };
        let note = note.unwrap_or_default();
        let event = event_by(caller, kind, now);
        record_section_change(
            &mut tx,
            &mut ledger,
            problem_seq,
            section.state,
            state,
            &note,
            event,
        )
        .await?;
        tx.commit().await?;
        Ok(convert::section(
            ledger.id,
            problem_seq,
            Some(&problem),
            state,
            note,
            Vec::new(),
        ))
    }

    pub(super) async fn update_finding(
        &self,
        caller: &Caller,
        request: pb::UpdateFindingRequest,
    ) -> Result<pb::Finding> {
        let id = id_of("finding", &request.id)?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let (finding, ledger) = self.lock_visible_finding(&mut tx, caller, id).await?;
        require_owner(caller, &ledger)?;
        if request.expected_version == 0 {
            return Err(LedgerError::VersionRequired);
        }
        check_version(request.expected_version, &finding)?;
        if !finding.state.is_editable() {
            return Err(LedgerError::Conflict(format!(
                "a {} finding cannot be changed: what was submitted stays as it was (a reviewer may reject it back)",
                finding.state
            )));
        }
        let old = &finding.fields;
        let draft = FindingDraft {
            description: request
                .description
                .unwrap_or_else(|| old.description.clone()),
            measures: request.measures.unwrap_or_else(|| old.measures.clone()),
            due_on: request
                .due_on
                .unwrap_or_else(|| old.due_on.map(|d| d.to_string()).unwrap_or_default()),
            kind: request.kind.unwrap_or_else(|| old.kind.as_str().to_owned()),
            responsible: request
                .responsible
                .unwrap_or_else(|| old.responsible.clone()),
            result: request.result.unwrap_or_else(|| old.result.clone()),
            standing_mechanism: request
                .standing_mechanism
                .unwrap_or_else(|| old.standing_mechanism.clone()),
            households: match request.households {
                Some(list) => drafts(list.items),
                None => old.households.iter().map(Household::clear).collect(),
            },
        };
        let fields = FindingFields::try_from(draft).map_err(LedgerError::Invalid)?;
        if &fields == old {
            tx.rollback().await?;
            return self.finding_for(caller, finding, &ledger).await;
        }
        let changed = changed_fields(old, &fields);
        let version = storage::update_fields(&mut tx, id, &fields, now).await?;
        let mut event = event_by(caller, "finding_updated", now);
        event.details = serde_json::json!({ "version": version, "changed": changed });
        self.commit_finding_change(tx, ledger, id, event, caller, "updated")
            .await
    }

    pub(super) async fn transition(
        &self,
        caller: &Caller,
        request: pb::TransitionFindingRequest,
    ) -> Result<pb::Finding> {
        let id = id_of("finding", &request.id)?;
        let action: Action = request.action.parse().map_err(LedgerError::invalid)?;
        self.move_finding(
            caller,
            id,
            action,
            &request.reason,
            request.expected_version,
            None,
        )
        .await
    }

    /// A failed re-check (回头看) reopens a closed finding in the name of the
    /// user who recorded it. The scheduler, a peer, vouches for that user and
    /// for the city office's mandate to reopen.
    pub(super) async fn reopen_after_recheck(
        &self,
        request: pb::ReopenAfterRecheckRequest,
    ) -> Result<pb::Finding> {
        let id = id_of("finding", &request.finding_id)?;
        let recheck = uuid("recheck_id", &request.recheck_id)?;
        let role = request
            .actor_role
            .parse()
            .map_err(|_| LedgerError::invalid("actor_role: not a role"))?;
        let unit = UnitCode::try_from(request.actor_unit.as_str())
            .map_err(|_| LedgerError::invalid("actor_unit: not a unit code"))?;
        let actor = Caller {
            user_id: Uuid::nil(),
            username: request.actor,
            role,
            unit,
            token_id: Uuid::nil(),
            generation: 0,
            clearance: false,
            expires_at: 0,
        };
        let mandate = crate::domain::finding::Standing {
            owner: false,
            verifier: false,
            city_office: true,
        };
        let reason = format!("回头看未通过：{}", request.reason.trim());
        self.move_finding(
            &actor,
            id,
            Action::Reopen,
            &reason,
            0,
            Some((mandate, recheck)),
        )
        .await
    }

    /// Takes one review step. `recheck` stands in for the caller's own
    /// standing when a re-check reopens the finding.
    async fn move_finding(
        &self,
        caller: &Caller,
        id: Uuid,
        action: Action,
        reason: &str,
        expected_version: u64,
        recheck: Option<(crate::domain::finding::Standing, Uuid)>,
    ) -> Result<pb::Finding> {
        let mut faults = Vec::new();
        let reason = finding::text("reason", reason, false, &mut faults);
        if !faults.is_empty() {
            return Err(LedgerError::Invalid(faults));
        }
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let (finding, ledger) = self.lock_visible_finding(&mut tx, caller, id).await?;
        if expected_version != 0 {
            check_version(expected_version, &finding)?;
        }
        let facts = ReviewFacts {
            state: finding.state,
            kind: finding.fields.kind,
            result: &finding.fields.result,
            standing_mechanism: &finding.fields.standing_mechanism,
        };
        let standing = match recheck {
            Some((mandate, _)) => mandate,
            None => standing(caller, &ledger.unit_code, &ledger.unit_level),
        };
        let to = transition(facts, action, standing, &reason)?;
        let version = storage::set_state(&mut tx, &finding, to, now).await?;
        let mut event = event_by(caller, action.event_kind(), now);
        event.reason = reason;
        event.from_state = finding.state.as_str().to_owned();
        event.to_state = to.as_str().to_owned();
        event.details =
            serde_json::json!({ "version": version, "written_off": to == FindingState::Closed });
        if let Some((_, recheck)) = recheck {
            event.details["recheck_id"] = serde_json::json!(recheck);
        }
        tracing::info!(finding = %id, action = action.as_str(), to = to.as_str(), "finding moved");
        self.commit_finding_change(tx, ledger, id, event, caller, action.as_str())
            .await
    }
}

/// A create request's key: none when empty; at most 300 characters.
fn request_key(key: &str) -> Result<Option<&str>> {
    match key.chars().count() {
        0 => Ok(None),
        1..=300 => Ok(Some(key)),
        _ => Err(LedgerError::Invalid(vec![
            "request_key must be at most 300 characters".into(),
        ])),
    }
}
