//! Conversions between protobuf messages and domain types.

use zhenggai_common::Caller;
use zhenggai_proto::catalogue::v1 as pb;

use crate::domain::document::{
    AspectDraft, DeadlineDraft, MeasureDraft, ProblemDraft, ResponsibleDraft,
};
use crate::domain::{Document, DocumentDraft, Problem, Unit};

pub(super) fn draft_from_request(request: pb::PublishDocumentRequest) -> DocumentDraft {
    DocumentDraft {
        doc_number: request.doc_number,
        title: request.title,
        issuer: request.issuer,
        issued_on: request.issued_on,
        area: request.area,
        editorial_notes: request.editorial_notes,
        personal_names: request.personal_names,
        aspects: request
            .aspects
            .into_iter()
            .map(|a| AspectDraft {
                seq: a.seq,
                name: a.name,
            })
            .collect(),
        problems: request
            .problems
            .into_iter()
            .map(|p| ProblemDraft {
                seq: p.seq,
                aspect_seq: p.aspect_seq,
                title: p.title,
                manifestation: p.manifestation,
                measures: p
                    .measures
                    .into_iter()
                    .map(|m| MeasureDraft {
                        seq: m.seq,
                        text: m.text,
                    })
                    .collect(),
                responsible_units: p
                    .responsible_units
                    .into_iter()
                    .map(|r| ResponsibleDraft {
                        code: r.code,
                        lead: r.lead,
                        scope: r.scope,
                    })
                    .collect(),
                responsible_text: p.responsible_text,
                deadline: p
                    .deadline
                    .map(|d| DeadlineDraft {
                        due_on: d.due_on,
                        continuing: d.continuing,
                    })
                    .unwrap_or_default(),
            })
            .collect(),
    }
}

pub(super) fn unit(unit: Unit) -> pb::Unit {
    pb::Unit {
        code: unit.code.into(),
        name: unit.name,
        level: unit.level.as_str().to_owned(),
        parent_code: unit.parent_code.map(String::from).unwrap_or_default(),
    }
}

/// A notice as this caller may see it: household names masked without clearance.
pub(super) fn document(doc: Document, caller: &Caller) -> pb::Document {
    let doc = if caller.clearance { doc } else { doc.masked() };
    pb::Document {
        id: doc.id.to_string(),
        doc_number: doc.doc_number,
        title: doc.title,
        issuer: doc.issuer,
        issued_on: doc.issued_on.to_string(),
        area: doc.area.into(),
        aspects: doc
            .aspects
            .into_iter()
            .map(|a| pb::Aspect {
                seq: a.seq,
                name: a.name,
            })
            .collect(),
        problem_count: doc.problem_count,
        editorial_notes: doc.editorial_notes,
        published_at: doc
            .published_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// A problem as this caller may see it: household names masked without clearance.
pub(super) fn problem(problem: Problem, caller: &Caller) -> pb::Problem {
    let problem = if caller.clearance {
        problem
    } else {
        problem.masked()
    };
    pb::Problem {
        id: problem.id.to_string(),
        document_id: problem.document_id.to_string(),
        seq: problem.seq,
        title: problem.title,
        manifestation: problem.manifestation,
        aspect: Some(pb::Aspect {
            seq: problem.aspect.seq,
            name: problem.aspect.name,
        }),
        measures: problem
            .measures
            .into_iter()
            .map(|m| pb::Measure {
                seq: m.seq,
                text: m.text,
            })
            .collect(),
        responsible_units: problem
            .responsible_units
            .into_iter()
            .map(|r| pb::ResponsibleUnit {
                code: r.code.into(),
                name: r.name,
                lead: r.lead,
            })
            .collect(),
        deadline: Some(pb::Deadline {
            due_on: problem.due_on.map(|d| d.to_string()).unwrap_or_default(),
            continuing: problem.continuing,
        }),
        responsible_text: problem.responsible_text,
    }
}
