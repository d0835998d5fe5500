//! The official forms over HTTP: 附件2 and 附件1 as workbooks
//! (`/ledgers/{id}/export.xlsx`, `/campaigns/{id}/export.xlsx`), the import of
//! a filled 附件2 (`/ledgers/{id}/import`), and the hand-in (上报) of a
//! complete ledger with its report (`/ledgers/{id}/hand-in`, `/hand-ins`).

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zhenggai_common::grpc::outgoing;
use zhenggai_common::{ErrorCode, UnitCode};

use chrono::NaiveDate;
use zhenggai_proto::catalogue::v1 as catalogue;
use zhenggai_proto::ledger::v1 as pb;

use crate::AppState;
use crate::api::ledgers::LedgerSummary;
use crate::auth::Authenticated;
use crate::error::RowError;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::forms::layout::{self, LEDGER_HEADERS};
use crate::forms::read::{self, KnownProblem, Unreadable, column_letter};
use crate::forms::text::{self, deadline_text};
use crate::forms::{
    Answer, FindingRow, HOUSEHOLDS_PREFIX, LedgerSheet, Notice, ProblemRow, sheet_name,
};
use crate::upload::{content_disposition, stream_file, with_upload};

/// `/ledgers/{id}/export.xlsx`, `/campaigns/{id}/export.xlsx`, `/ledgers/{id}/hand-ins`.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_ledger))
        .routes(routes!(export_campaign))
        .routes(routes!(list_hand_ins))
}

/// `/ledgers/{id}/import`, `/ledgers/{id}/hand-in`: files streamed in.
pub(crate) fn uploads() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_ledger))
        .routes(routes!(hand_in))
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A campaign's notice and problems as the forms show them (masked as the
/// catalogue masks them for the caller).
struct Campaign {
    id: String,
    area: String,
    notice: Notice,
    problems: Vec<ProblemRow>,
    /// The lead responsible unit (牵头单位) of each problem.
    leads: HashMap<u32, String>,
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// 整改时限 as 附件1 words it: 7月20日前取得阶段性成效，持续推进。
fn notice_deadline(deadline: Option<&catalogue::Deadline>) -> String {
    let Some(deadline) = deadline else {
        return String::new();
    };
    match (date(&deadline.due_on), deadline.continuing) {
        (Some(due), true) => format!(
            "{}月{}日前取得阶段性成效，持续推进。",
            chrono::Datelike::month(&due),
            chrono::Datelike::day(&due)
        ),
        (Some(due), false) => format!("{}前", text::date_text(due)),
        (None, true) => "持续推进".to_owned(),
        (None, false) => String::new(),
    }
}

/// A campaign and the notice it carries out.
async fn campaign_notice(
    state: &AppState,
    token: &str,
    id: &str,
) -> ApiResult<(pb::Campaign, catalogue::Document)> {
    let campaign = state
        .ledger()
        .get_campaign(outgoing(
            pb::GetCampaignRequest { id: id.to_owned() },
            token,
        ))
        .await?
        .into_inner();
    let document = state
        .catalogue()
        .get_document(outgoing(
            catalogue::GetDocumentRequest {
                id: campaign.document_id.clone(),
            },
            token,
        ))
        .await?
        .into_inner();
    Ok((campaign, document))
}

async fn campaign(state: &AppState, token: &str, id: &str) -> ApiResult<Campaign> {
    let (campaign, document) = campaign_notice(state, token, id).await?;
    let mut problems = state
        .catalogue()
        .list_problems(outgoing(
            catalogue::ListProblemsRequest {
                document_id: campaign.document_id.clone(),
            },
            token,
        ))
        .await?
        .into_inner()
        .items;
    problems.sort_by_key(|p| p.seq);
    let issued_on = date(&document.issued_on).unwrap_or_default();
    let leads = problems
        .iter()
        .filter_map(|p| {
            let lead = p.responsible_units.iter().find(|u| u.lead)?;
            Some((p.seq, lead.code.clone()))
        })
        .collect();
    Ok(Campaign {
        id: campaign.id,
        area: campaign.area,
        notice: Notice::new(&document.title, issued_on),
        problems: problems
            .into_iter()
            .map(|p| {
                let aspect = p.aspect.unwrap_or_default();
                ProblemRow {
                    seq: p.seq,
                    aspect_seq: aspect.seq,
                    aspect_name: aspect.name,
                    title: p.title,
                    manifestation: p.manifestation,
                    measures: p.measures.into_iter().map(|m| m.text).collect(),
                    deadline: notice_deadline(p.deadline.as_ref()),
                    responsible: p.responsible_text,
                }
            })
            .collect(),
        leads,
    })
}

/// How the titles name units: a village with its township (浅井镇土门口村),
/// anything else by its own name.
async fn unit_titles(
    state: &AppState,
    token: &str,
    units: &[pb::UnitRef],
) -> ApiResult<HashMap<String, String>> {
    let known: HashMap<&str, &str> = units
        .iter()
        .map(|u| (u.code.as_str(), u.name.as_str()))
        .collect();
    let parent = |u: &pb::UnitRef| {
        UnitCode::try_from(u.code.as_str())
            .ok()
            .and_then(|code| code.parent())
            .map(String::from)
    };
    let missing: Vec<String> = units
        .iter()
        .filter(|u| u.level == "village")
        .filter_map(parent)
        .filter(|code| !known.contains_key(code.as_str()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut names: HashMap<String, String> = HashMap::new();
    if !missing.is_empty() {
        let answer = state
            .catalogue()
            .get_units(outgoing(
                catalogue::GetUnitsRequest { codes: missing },
                token,
            ))
            .await?
            .into_inner();
        names.extend(answer.items.into_iter().map(|u| (u.code, u.name)));
    }
    Ok(units
        .iter()
        .map(|u| {
            let township = (u.level == "village")
                .then(|| parent(u))
                .flatten()
                .and_then(|code| {
                    known
                        .get(code.as_str())
                        .map(|n| n.to_string())
                        .or_else(|| names.get(&code).cloned())
                })
                .unwrap_or_default();
            (u.code.clone(), format!("{township}{}", u.name))
        })
        .collect())
}

/// The households a finding names, on the line under its description.
fn households_line(households: &[pb::Household]) -> Option<String> {
    if households.is_empty() {
        return None;
    }
    let named: Vec<String> = households
        .iter()
        .map(|h| {
            let details: Vec<&str> = [h.id_number.as_str(), h.phone.as_str()]
                .into_iter()
                .filter(|d| !d.is_empty())
                .collect();
            if details.is_empty() {
                h.name.clone()
            } else {
                format!("{}（{}）", h.name, details.join("，"))
            }
        })
        .collect();
    Some(format!("{HOUSEHOLDS_PREFIX}{}", named.join("、")))
}

fn ledger_sheet(ledger: &pb::Ledger, unit_title: String) -> LedgerSheet {
    let answers = ledger
        .sections
        .iter()
        .map(|section| {
            let answer = match section.state.as_str() {
                "no_findings" => Answer::NoFindings(
                    Some(section.no_findings_note.clone())
                        .filter(|note| !text::says_no_findings(note))
                        .unwrap_or_default(),
                ),
                "findings" => Answer::Findings(
                    section
                        .findings
                        .iter()
                        .map(|f| FindingRow {
                            seq: f.seq,
                            description: match households_line(&f.households) {
                                Some(line) => format!("{}\n{line}", f.description),
                                None => f.description.clone(),
                            },
                            measures: f.measures.clone(),
                            deadline: deadline_text(&f.kind, date(&f.due_on)),
                            responsible: f.responsible.clone(),
                            result: f.result.clone(),
                            written_off: f.written_off,
                        })
                        .collect(),
                ),
                _ => Answer::Unanswered,
            };
            (section.problem_seq, answer)
        })
        .collect();
    LedgerSheet {
        unit_title,
        answers,
    }
}

fn workbook_response(
    mut workbook: rust_xlsxwriter::Workbook,
    file_name: &str,
) -> ApiResult<Response> {
    let bytes = workbook.save_to_buffer().map_err(internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, XLSX.to_owned()),
            (header::CONTENT_DISPOSITION, content_disposition(file_name)),
        ],
        bytes,
    )
        .into_response())
}

fn internal(error: rust_xlsxwriter::XlsxError) -> ApiError {
    tracing::error!(%error, "workbook not written");
    ApiError::new(ErrorCode::Internal, "the workbook could not be written")
}

/// The unit a whole ledger belongs to.
fn unit_of(ledger: &pb::Ledger) -> Option<&pb::UnitRef> {
    ledger.summary.as_ref().and_then(|s| s.unit.as_ref())
}

/// Every ledger of the campaign in a subtree, whole, in unit-code order.
async fn export_ledgers(
    state: &AppState,
    token: &str,
    campaign_id: &str,
    unit: &str,
) -> ApiResult<Vec<pb::Ledger>> {
    let mut stream = state
        .ledger()
        .export_ledgers(outgoing(
            pb::ExportLedgersRequest {
                campaign_id: campaign_id.to_owned(),
                unit: unit.to_owned(),
            },
            token,
        ))
        .await?
        .into_inner();
    let mut ledgers = Vec::new();
    while let Some(ledger) = stream.message().await? {
        ledgers.push(ledger);
    }
    Ok(ledgers)
}

/// The 附件2 workbook of a ledger (整改台账), as the notice prescribes it:
/// A3 landscape, the header row on every page. An unanswered ledger is the
/// blank template with its unit's name in the title.
#[utoipa::path(get, path = "/api/v1/ledgers/{id}/export.xlsx", tag = "forms", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "附件2 as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              (status = 404, body = ProblemDetails)))]
pub async fn export_ledger(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let ledger = state
        .ledger()
        .get_ledger(outgoing(pb::GetLedgerRequest { id }, &auth.token))
        .await?
        .into_inner();
    let summary = ledger.summary.clone().unwrap_or_default();
    let campaign = campaign(&state, &auth.token, &summary.campaign_id).await?;
    let unit = summary.unit.clone().unwrap_or_default();
    let titles = unit_titles(&state, &auth.token, std::slice::from_ref(&unit)).await?;
    let title = titles.get(&unit.code).cloned().unwrap_or(unit.name.clone());
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet
        .set_name(sheet_name(&title, &mut HashSet::new()))
        .map_err(internal)?;
    layout::write_ledger(
        sheet,
        &campaign.notice,
        &campaign.problems,
        &ledger_sheet(&ledger, title.clone()),
    )
    .map_err(internal)?;
    workbook_response(workbook, &format!("{title}整改台账.xlsx"))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CampaignExportQuery {
    /// Export this unit's subtree: a summary sheet (附件1 over the subtree)
    /// and a 附件2 sheet for each of its ledgers (a township: itself and
    /// every village).
    pub unit: Option<String>,
}

/// What a ledger says of one problem, for 附件1's 整改结果: its results,
/// else its measures while it works on them, else its no-findings answer.
fn own_text(ledger: &pb::Ledger, problem_seq: u32) -> String {
    let Some(section) = ledger
        .sections
        .iter()
        .find(|s| s.problem_seq == problem_seq)
    else {
        return String::new();
    };
    let results: Vec<&str> = section
        .findings
        .iter()
        .map(|f| f.result.trim())
        .filter(|r| !r.is_empty())
        .collect();
    if !results.is_empty() {
        return results.join("；");
    }
    if !section.findings.is_empty() {
        let measures: Vec<&str> = section.findings.iter().map(|f| f.measures.trim()).collect();
        return format!("整改中：{}", measures.join("；"));
    }
    if section.state == "no_findings" {
        return text::NO_FINDINGS.to_owned();
    }
    String::new()
}

/// 整改结果 of 附件1: the figures of the subtree, then the lead unit's own words.
fn result_text(tally: &pb::ProblemTally, lead: Option<(&str, String)>) -> String {
    let mut text = format!(
        "对照排查单位{}个：发现问题的{}个",
        tally.ledgers, tally.with_findings
    );
    if tally.findings > 0 {
        text.push_str(&format!(
            "，共{}条（已销号{}条，已审核待销号{}条，待审核{}条，整改中{}条）",
            tally.findings,
            tally.closed,
            tally.verified,
            tally.submitted,
            tally.open + tally.in_progress
        ));
    }
    text.push_str(&format!(
        "；经排查无此类问题的{}个；尚未填报的{}个。",
        tally.no_findings, tally.unanswered
    ));
    if let Some((name, own)) = lead
        && !own.is_empty()
    {
        text.push_str(&format!("\n{name}：{own}"));
    }
    text
}

/// 附件1, the city ledger: one row per problem, 整改结果 summarised from the
/// ledgers. With `?unit=` it covers that subtree instead, with a 附件2 sheet
/// for every ledger in it.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/export.xlsx", tag = "forms", security(("bearer" = [])),
    params(("id" = String, Path), CampaignExportQuery),
    responses((status = 200, description = "附件1 (and, with unit, 附件2 sheets) as an Excel workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
              (status = 404, body = ProblemDetails)))]
pub async fn export_campaign(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    Query(query): Query<CampaignExportQuery>,
) -> ApiResult<Response> {
    let token = &auth.token;
    let campaign = campaign(&state, token, &id).await?;
    let unit = query.unit.clone().unwrap_or_default();
    let summary = state
        .ledger()
        .get_problem_summary(outgoing(
            pb::ExportLedgersRequest {
                campaign_id: campaign.id.clone(),
                unit: unit.clone(),
            },
            token,
        ))
        .await?
        .into_inner();
    let root = summary.unit.clone().unwrap_or_default();
    let ledgers = match query.unit {
        Some(_) => export_ledgers(&state, token, &campaign.id, &root.code).await?,
        None => Vec::new(),
    };
    // Whose own words stand beside the figures: the subtree's own ledger, or
    // for the whole area each problem's lead unit (where the caller sees it).
    let mut own: HashMap<String, pb::Ledger> = HashMap::new();
    if query.unit.is_none() && root.code == campaign.area {
        let leads: HashSet<&String> = campaign.leads.values().collect();
        for code in leads {
            if let Ok(found) = export_ledgers(&state, token, &campaign.id, code).await
                && let Some(ledger) = found
                    .into_iter()
                    .find(|l| unit_of(l).is_some_and(|u| &u.code == code))
            {
                own.insert(code.clone(), ledger);
            }
        }
    }
    let units: Vec<pb::UnitRef> = ledgers
        .iter()
        .filter_map(|l| unit_of(l).cloned())
        .chain(std::iter::once(root.clone()))
        .collect();
    let titles = unit_titles(&state, token, &units).await?;
    let root_title = titles.get(&root.code).cloned().unwrap_or(root.name.clone());
    let root_ledger = ledgers
        .iter()
        .find(|l| unit_of(l).is_some_and(|u| u.code == root.code));
    let results: HashMap<u32, String> = summary
        .problems
        .iter()
        .map(|tally| {
            let lead = match root_ledger {
                Some(ledger) => Some((root.name.as_str(), own_text(ledger, tally.problem_seq))),
                None => campaign
                    .leads
                    .get(&tally.problem_seq)
                    .and_then(|code| own.get(code))
                    .map(|ledger| {
                        let name = unit_of(ledger).map(|u| u.name.as_str()).unwrap_or_default();
                        (name, own_text(ledger, tally.problem_seq))
                    }),
            };
            (tally.problem_seq, result_text(tally, lead))
        })
        .collect();

    let mut workbook = rust_xlsxwriter::Workbook::new();
    let mut taken = HashSet::new();
    let sheet = workbook.add_worksheet();
    sheet
        .set_name(sheet_name(
            if query.unit.is_some() {
                "汇总"
            } else {
                &root_title
            },
            &mut taken,
        ))
        .map_err(internal)?;
    layout::write_summary(
        sheet,
        &campaign.notice,
        &root_title,
        &campaign.problems,
        &results,
    )
    .map_err(internal)?;
    for ledger in &ledgers {
        let unit = unit_of(ledger).cloned().unwrap_or_default();
        let title = titles.get(&unit.code).cloned().unwrap_or(unit.name.clone());
        let sheet = workbook.add_worksheet();
        sheet
            .set_name(sheet_name(&unit.name, &mut taken))
            .map_err(internal)?;
        layout::write_ledger(
            sheet,
            &campaign.notice,
            &campaign.problems,
            &ledger_sheet(ledger, title),
        )
        .map_err(internal)?;
    }
    workbook_response(workbook, &format!("{root_title}整改台账.xlsx"))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The file's name, for a raw (non-multipart) upload.
    pub file_name: Option<String>,
    /// Only say what the import would do (or what is wrong); change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// 序号2 rows with content that were read.
    pub rows_read: u32,
    pub created: u32,
    pub updated: u32,
    /// Rows equal to what was stored (importing a file twice changes nothing).
    pub unchanged: u32,
    /// Problems answered 经排查，无此类问题.
    pub declared_no_findings: u32,
    /// True when nothing was written (`?dry_run=true`).
    pub dry_run: bool,
    pub ledger: LedgerSummary,
}

/// Why a file is no workbook we can read, as the client hears it.
fn unreadable(reason: Unreadable) -> ApiError {
    match reason {
        Unreadable::NotWorkbook(reason) => ApiError::new(ErrorCode::UnsupportedMediaType, reason),
        Unreadable::Encrypted => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the workbook is encrypted (password-protected): remove the password and upload it again",
        ),
        Unreadable::TooLarge(reason) => ApiError::new(ErrorCode::PayloadTooLarge, reason),
    }
}

/// The column (letter and header) a ledger's fault concerns.
fn fault_column(field: &str, columns: &[u32; 11]) -> (String, String) {
    let index = match field {
        "problem" => 2,
        "finding_seq" => 4,
        "description" | "no_findings" => 5,
        "measures" => 6,
        "due_on" | "kind" => 7,
        "responsible" => 8,
        "result" => 9,
        _ => return (String::new(), String::new()),
    };
    (
        column_letter(columns[index]),
        LEDGER_HEADERS[index].to_owned(),
    )
}

fn header_of(letter: &str, columns: &[u32; 11]) -> String {
    columns
        .iter()
        .position(|col| column_letter(*col) == letter)
        .map(|index| LEDGER_HEADERS[index].to_owned())
        .unwrap_or_default()
}

/// Import a filled 附件2 workbook (one exported here, or the template typed
/// into in WPS or Excel) as `multipart/form-data` (field `file`) or the raw
/// body. Problems are matched by number and title; findings are created or
/// updated; rows equal to what is stored change nothing. Any bad row → 422
/// listing every bad row, and nothing is imported. Not a workbook, encrypted
/// → 415; larger than the limit or unpacking too large → 413.
#[utoipa::path(post, path = "/api/v1/ledgers/{id}/import", tag = "forms", security(("bearer" = [])),
    params(("id" = String, Path), ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    responses((status = 200, body = ImportReport), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails),
              (status = 413, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)))]
pub async fn import_ledger(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    Query(query): Query<ImportQuery>,
    request: Request,
) -> ApiResult<Json<ImportReport>> {
    let limit = state.config.workbook_limit_bytes;
    let (upload, bytes) = with_upload(
        request,
        query.file_name.clone(),
        limit,
        move |upload, mut chunks| {
            Box::pin(async move {
                use futures::StreamExt as _;
                let mut bytes = Vec::new();
                while let Some(chunk) = chunks.next().await {
                    bytes.extend_from_slice(&chunk?);
                    if bytes.len() as u64 > limit {
                        return Err(ApiError::new(
                            ErrorCode::PayloadTooLarge,
                            format!("a workbook is limited to {limit} bytes"),
                        ));
                    }
                }
                Ok((upload, bytes))
            })
        },
    )
    .await?;
    // The archive is judged first, before anyone is asked anything.
    let bytes = tokio::task::spawn_blocking(move || read::check_archive(&bytes).map(|()| bytes))
        .await
        .map_err(|_| ApiError::new(ErrorCode::Internal, "the workbook could not be read"))?
        .map_err(unreadable)?;
    let ledger = state
        .ledger()
        .get_ledger(outgoing(
            pb::GetLedgerRequest { id: id.clone() },
            &auth.token,
        ))
        .await?
        .into_inner();
    let summary = ledger.summary.clone().unwrap_or_default();
    let (_, document) = campaign_notice(&state, &auth.token, &summary.campaign_id).await?;
    let issued_on = date(&document.issued_on).unwrap_or_default();
    let problems: Vec<KnownProblem> = ledger
        .sections
        .iter()
        .map(|s| KnownProblem {
            seq: s.problem_seq,
            title: s.problem_title.clone(),
        })
        .collect();
    let digest: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let filled =
        tokio::task::spawn_blocking(move || read::read_ledger(&bytes, &problems, issued_on))
            .await
            .map_err(|_| ApiError::new(ErrorCode::Internal, "the workbook could not be read"))?
            .map_err(unreadable)?;

    let mut faults: Vec<RowError> = filled
        .faults
        .iter()
        .map(|f| RowError {
            row: f.row,
            header: header_of(&f.column, &filled.columns),
            column: f.column.clone(),
            reason: f.reason.clone(),
        })
        .collect();
    // 是否销号 is the review's to say, never the form's.
    let closed: HashSet<(u32, u32)> = ledger
        .sections
        .iter()
        .flat_map(|s| s.findings.iter())
        .filter(|f| f.written_off)
        .map(|f| (f.problem_seq, f.seq))
        .collect();
    for row in &filled.rows {
        if row.written_off == Some(true)
            && !row
                .finding_seq
                .is_some_and(|seq| closed.contains(&(row.problem_seq, seq)))
        {
            faults.push(RowError {
                row: row.row,
                column: column_letter(filled.columns[10]),
                header: LEDGER_HEADERS[10].to_owned(),
                reason: "是否销号 is 是 only once the city office has written the finding off (销号); leave it 否 or empty".into(),
            });
        }
    }
    let rows: Vec<pb::ImportRow> = filled
        .rows
        .iter()
        .map(|r| pb::ImportRow {
            row: r.row,
            problem_seq: r.problem_seq,
            finding_seq: r.finding_seq.unwrap_or(0),
            no_findings: r.no_findings,
            note: r.note.clone(),
            fields: Some(pb::FindingFields {
                description: r.description.clone(),
                measures: r.measures.clone(),
                due_on: r.due_on.clone(),
                kind: r.kind.clone(),
                responsible: r.responsible.clone(),
                result: r.result.clone(),
                ..Default::default()
            }),
        })
        .collect();
    let rows_read = rows.len() as u32;
    let answer = state
        .ledger()
        .import_ledger(outgoing(
            pb::ImportLedgerRequest {
                ledger_id: id,
                rows,
                source_name: upload.file_name,
                source_sha256: digest,
                // With faults of its own the file is only checked, to list
                // the ledger's faults beside them.
                dry_run: query.dry_run || !faults.is_empty(),
            },
            &auth.token,
        ))
        .await?
        .into_inner();
    faults.extend(answer.faults.iter().map(|f| {
        let (column, header) = fault_column(&f.field, &filled.columns);
        RowError {
            row: f.row,
            column,
            header,
            reason: f.reason.clone(),
        }
    }));
    if !faults.is_empty() {
        faults.sort_by(|a, b| (a.row, &a.column).cmp(&(b.row, &b.column)));
        return Err(ApiError::rows(
            format!(
                "{} row(s) cannot be imported; nothing was imported",
                faults.len()
            ),
            faults,
        ));
    }
    Ok(Json(ImportReport {
        rows_read,
        created: answer.created,
        updated: answer.updated,
        unchanged: answer.unchanged,
        declared_no_findings: answer.declared_no_findings,
        dry_run: query.dry_run,
        ledger: answer.ledger.unwrap_or_default().into(),
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HandInQuery {
    /// The report's file name, for a raw (non-multipart) upload.
    pub file_name: Option<String>,
    /// The milestone (时间节点) this hand-in answers.
    pub milestone: Option<String>,
    /// A word to the reviewers.
    pub note: Option<String>,
}

/// A hand-in (上报) of a ledger with its 整改报告.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandIn {
    pub id: String,
    pub ledger_id: String,
    pub milestone_id: Option<String>,
    pub note: String,
    /// The report (整改报告): name, type judged from its bytes, size, hex SHA-256.
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub handed_in_by: String,
    /// RFC 3339
    pub handed_in_at: String,
    /// The ledger history event that records it.
    pub history_seq: u64,
    /// Findings and closed findings when it was handed in.
    pub findings: u32,
    pub closed: u32,
}

impl From<pb::HandIn> for HandIn {
    fn from(h: pb::HandIn) -> Self {
        Self {
            id: h.id,
            ledger_id: h.ledger_id,
            milestone_id: Some(h.milestone_id).filter(|m| !m.is_empty()),
            note: h.note,
            file_name: h.file_name,
            content_type: h.content_type,
            size: h.size,
            sha256: h.sha256,
            handed_in_by: h.handed_in_by,
            handed_in_at: h.handed_in_at,
            history_seq: h.history_seq,
            findings: h.findings,
            closed: h.closed,
        }
    }
}

/// 上报: hand in the complete ledger with its 整改报告 (PDF, Word, WPS, OFD or
/// a scan), as `multipart/form-data` (field `file`) or the raw body. The
/// hand-in is recorded in the ledger's history and counted by the
/// hand-in milestone (on time, late). An incomplete ledger → 409.
#[utoipa::path(post, path = "/api/v1/ledgers/{id}/hand-in", tag = "forms", security(("bearer" = [])),
    params(("id" = String, Path), HandInQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = HandIn), (status = 400, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails),
              (status = 409, body = ProblemDetails), (status = 413, body = ProblemDetails), (status = 415, body = ProblemDetails)))]
pub async fn hand_in(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    Query(query): Query<HandInQuery>,
    request: Request,
) -> ApiResult<(StatusCode, Json<HandIn>)> {
    use pb::hand_in_request::Part;
    let limit = state.config.evidence_limit_bytes;
    let HandInQuery {
        file_name,
        milestone,
        note,
    } = query;
    let answer = with_upload(request, file_name, limit, move |upload, chunks| {
        Box::pin(async move {
            let header = Part::Header(pb::HandInHeader {
                ledger_id: id,
                file_name: upload.file_name,
                declared_type: upload.declared_type,
                milestone_id: milestone.unwrap_or_default(),
                note: note.unwrap_or_default(),
            });
            let wrap = |part| pb::HandInRequest { part: Some(part) };
            let mut ledger = state.ledger();
            stream_file(
                wrap(header),
                |bytes| pb::HandInRequest {
                    part: Some(Part::Chunk(bytes)),
                },
                chunks,
                limit,
                |messages| ledger.hand_in_ledger(outgoing(messages, &auth.token)),
            )
            .await
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(answer.into())))
}

/// The hand-ins of a ledger, oldest first (the first is what the milestone counts).
#[utoipa::path(get, path = "/api/v1/ledgers/{id}/hand-ins", tag = "forms", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = super::Page<HandIn>), (status = 404, body = ProblemDetails)))]
pub async fn list_hand_ins(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<super::Page<HandIn>>> {
    let answer = state
        .ledger()
        .list_hand_ins(outgoing(pb::GetLedgerRequest { id }, &auth.token))
        .await?
        .into_inner();
    Ok(Json(super::Page::of(answer.items, String::new())))
}
