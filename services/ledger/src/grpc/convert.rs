//! Conversions between the ledger's rows and its protobuf messages. Household
//! data leaves here masked unless the caller holds clearance.

use zhenggai_common::Caller;
use zhenggai_proto::ledger::v1 as pb;

use crate::domain::SectionState;
use crate::domain::history::hex;
use crate::domain::household::HouseholdDraft;
use crate::storage::{
    Campaign, CampaignProblem, EvidenceRow, FindingRow, LedgerRow, StoredEvent, Tally,
};

pub(super) fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&zhenggai_common::clock::shanghai())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

pub(super) fn campaign(c: Campaign) -> pb::Campaign {
    pb::Campaign {
        id: c.id.to_string(),
        document_id: c.document_id.to_string(),
        area: c.area.to_string(),
        title: c.title,
        doc_number: c.doc_number,
        ledger_count: u32::try_from(c.ledger_count).unwrap_or_default(),
        section_count: u64::try_from(c.section_count).unwrap_or_default(),
        problem_count: u32::try_from(c.problem_count).unwrap_or_default(),
        created_at: rfc3339(c.created_at),
        created_by: c.created_by,
    }
}

pub(super) fn unit_ref(code: &str, name: &str, level: &str) -> pb::UnitRef {
    pb::UnitRef {
        code: code.to_owned(),
        name: name.to_owned(),
        level: level.to_owned(),
    }
}

pub(super) fn ledger_summary(l: &LedgerRow) -> pb::LedgerSummary {
    pb::LedgerSummary {
        id: l.id.to_string(),
        campaign_id: l.campaign_id.to_string(),
        unit: Some(unit_ref(l.unit_code.as_str(), &l.unit_name, &l.unit_level)),
        sections: l.sections as u32,
        sections_answered: l.sections_answered as u32,
        complete: l.complete(),
        findings: l.findings as u32,
        closed: l.closed as u32,
        version: l.version as u64,
    }
}

fn household(h: HouseholdDraft) -> pb::Household {
    pb::Household {
        name: h.name,
        id_number: h.id_number,
        phone: h.phone,
    }
}

/// A finding as `caller` may see it.
pub(super) fn finding(
    f: FindingRow,
    problem_id: String,
    ledger: &LedgerRow,
    caller: &Caller,
) -> pb::Finding {
    let masked = !caller.clearance;
    let households = f
        .fields
        .households
        .iter()
        .map(|h| household(if masked { h.masked() } else { h.clear() }))
        .collect();
    pb::Finding {
        id: f.id.to_string(),
        ledger_id: f.ledger_id.to_string(),
        problem_id,
        problem_seq: f.problem_seq as u32,
        seq: f.seq as u32,
        description: f.fields.description,
        measures: f.fields.measures,
        due_on: f.fields.due_on.map(|d| d.to_string()).unwrap_or_default(),
        kind: f.fields.kind.as_str().to_owned(),
        responsible: f.fields.responsible,
        result: f.fields.result,
        state: f.state.as_str().to_owned(),
        written_off: f.written_off,
        version: f.version as u64,
        standing_mechanism: f.fields.standing_mechanism,
        households,
        households_masked: masked && !f.fields.households.is_empty(),
        unit: Some(unit_ref(
            ledger.unit_code.as_str(),
            &ledger.unit_name,
            &ledger.unit_level,
        )),
        campaign_id: f.campaign_id.to_string(),
        created_at: rfc3339(f.created_at),
        updated_at: rfc3339(f.updated_at),
        evidence_count: f.evidence_count as u32,
    }
}

pub(super) fn event(stored: StoredEvent) -> pb::HistoryEvent {
    let e = stored.event;
    let mut details = String::new();
    crate::domain::history::canonical(&e.details, &mut details);
    pb::HistoryEvent {
        seq: e.seq as u64,
        at: chrono::DateTime::from_timestamp_micros(e.at_micros)
            .map(rfc3339)
            .unwrap_or_default(),
        kind: e.kind,
        finding_id: e.finding_id.map(|id| id.to_string()).unwrap_or_default(),
        actor: e.actor,
        actor_unit: e.actor_unit,
        actor_role: e.actor_role,
        reason: e.reason,
        from_state: e.from_state,
        to_state: e.to_state,
        details_json: details,
        prev_digest: hex(&stored.prev_digest),
        digest: hex(&stored.digest),
    }
}

pub(super) fn evidence(e: EvidenceRow) -> pb::Evidence {
    pb::Evidence {
        id: e.id.to_string(),
        finding_id: e.finding_id.to_string(),
        file_name: e.file_name,
        content_type: e.content_type,
        size: e.size as u64,
        sha256: hex(&e.sha256),
        uploaded_by: e.uploaded_by,
        uploaded_at: rfc3339(e.uploaded_at),
    }
}

pub(super) fn tally(t: &Tally) -> pb::Tally {
    let n = |v: i64| u64::try_from(v).unwrap_or_default();
    pb::Tally {
        ledgers: t.ledgers as u32,
        ledgers_complete: t.ledgers_complete as u32,
        sections: n(t.sections),
        sections_answered: n(t.sections_answered),
        findings: n(t.findings),
        open: n(t.open),
        in_progress: n(t.in_progress),
        submitted: n(t.submitted),
        verified: n(t.verified),
        closed: n(t.closed),
        overdue: n(t.overdue),
        written_off_rate: if t.findings > 0 {
            t.closed as f64 / t.findings as f64
        } else {
            0.0
        },
    }
}

/// A section of a ledger: the problem it answers, how, and its findings.
pub(super) fn section(
    ledger_id: uuid::Uuid,
    problem_seq: i16,
    problem: Option<&CampaignProblem>,
    state: SectionState,
    note: String,
    findings: Vec<pb::Finding>,
) -> pb::Section {
    pb::Section {
        ledger_id: ledger_id.to_string(),
        problem_id: problem
            .map(|p| p.problem_id.to_string())
            .unwrap_or_default(),
        problem_seq: problem_seq as u32,
        state: state.as_str().to_owned(),
        no_findings_note: note,
        findings,
        problem_title: problem.map(|p| p.title.clone()).unwrap_or_default(),
        aspect_seq: problem.map(|p| p.aspect_seq as u32).unwrap_or_default(),
        aspect_name: problem.map(|p| p.aspect_name.clone()).unwrap_or_default(),
    }
}
