//! Starting a campaign (the fan-out) and its dashboard.

use std::collections::BTreeSet;

use uuid::Uuid;
use zhenggai_common::grpc::outgoing;
use zhenggai_common::{Caller, Role, UnitCode};
use zhenggai_proto::catalogue::v1 as catalogue;
use zhenggai_proto::ledger::v1 as pb;

use super::{LedgerApi, convert, id_of, uuid};
use crate::domain::LedgerPlan;
use crate::domain::campaign::plan_ledgers;
use crate::error::{LedgerError, Result};
use crate::storage;

/// Ledgers written per statement in a campaign's fan-out.
const FANOUT_CHUNK: usize = 20_000;

/// A city or county strictly inside the area: no ledger of its own, but a
/// row of the area's dashboard.
fn holds_no_ledger(area: &UnitCode, unit: &LedgerPlan) -> bool {
    matches!(unit.level.as_str(), "province" | "city" | "county") && &unit.code != area
}

impl LedgerApi {
    /// A campaign the caller may see: its area is in the caller's subtree,
    /// or covers the caller's unit.
    pub(super) async fn visible_campaign(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<storage::Campaign> {
        storage::get_campaign(&self.pool, id)
            .await?
            .filter(|c| caller.sees(&c.area) || caller.unit.is_within(&c.area))
            .ok_or_else(|| LedgerError::NotFound(format!("campaign {id}")))
    }

    /// A visible campaign and the subtree a roll-up or a form covers: the
    /// unit asked for (within the campaign and the caller's sight), or the
    /// campaign's area when the caller sees it, else the caller's own scope.
    pub(super) async fn campaign_scope(
        &self,
        caller: &Caller,
        campaign_id: &str,
        unit: &str,
    ) -> Result<(storage::Campaign, UnitCode)> {
        let id = id_of("campaign", campaign_id)?;
        let campaign = self.visible_campaign(caller, id).await?;
        let unit = match unit {
            "" if caller.sees(&campaign.area) => campaign.area.clone(),
            "" => caller.scope(),
            text => UnitCode::try_from(text)
                .ok()
                .filter(|code| caller.sees(code) && code.is_within(&campaign.area))
                .ok_or_else(|| LedgerError::NotFound(format!("unit {text}")))?,
        };
        Ok((campaign, unit))
    }

    pub(super) async fn create_campaign(
        &self,
        caller: &Caller,
        token: &str,
        request: pb::CreateCampaignRequest,
    ) -> Result<pb::Campaign> {
        if caller.role != Role::CityAdmin {
            return Err(LedgerError::PermissionDenied(
                "only the city office (city_admin) may start a campaign".into(),
            ));
        }
        let mut faults = Vec::new();
        let document_id = uuid("document_id", &request.document_id)
            .map_err(|e| faults.push(e.to_string()))
            .ok();
        let area = UnitCode::try_from(request.area.as_str())
            .map_err(|e| faults.push(format!("area: {e}")))
            .ok();
        let title = request.title.trim().to_owned();
        if title.chars().count() > 500 || title.chars().any(char::is_control) {
            faults.push("title: at most 500 characters, no control characters".into());
        }
        let (Some(document_id), Some(area)) = (document_id, area) else {
            return Err(LedgerError::Invalid(faults));
        };
        if !faults.is_empty() {
            return Err(LedgerError::Invalid(faults));
        }
        if !caller.sees(&area) {
            return Err(LedgerError::PermissionDenied(format!(
                "area {area} lies outside your unit {}",
                caller.unit
            )));
        }
        let mut catalogue = self.catalogue();
        let document = catalogue
            .get_document(outgoing(
                catalogue::GetDocumentRequest {
                    id: document_id.to_string(),
                },
                token,
            ))
            .await?
            .into_inner();
        let document_area = UnitCode::try_from(document.area.as_str())
            .map_err(|e| LedgerError::Peer(tonic::Status::internal(e.to_string())))?;
        if !area.is_within(&document_area) {
            return Err(LedgerError::invalid(format!(
                "area: {area} lies outside the area {document_area} that notice {} governs",
                document.doc_number
            )));
        }
        if storage::campaign_exists(&self.pool, document_id, &area).await? {
            return Err(LedgerError::AlreadyExists(format!(
                "a campaign for notice {} over {area} exists already",
                document.doc_number
            )));
        }
        let problems = catalogue
            .list_problems(outgoing(
                catalogue::ListProblemsRequest {
                    document_id: document_id.to_string(),
                },
                token,
            ))
            .await?
            .into_inner()
            .items;
        let responsible: BTreeSet<UnitCode> = problems
            .iter()
            .flat_map(|p| &p.responsible_units)
            .filter_map(|r| UnitCode::try_from(r.code.as_str()).ok())
            .collect();
        let area_name = catalogue
            .get_units(outgoing(
                catalogue::GetUnitsRequest {
                    codes: vec![area.to_string()],
                },
                token,
            ))
            .await?
            .into_inner()
            .items
            .into_iter()
            .find(|u| u.code == area.as_str())
            .map(|u| u.name)
            .ok_or_else(|| LedgerError::NotFound(format!("unit {area}")))?;
        let campaign_problems: Vec<storage::CampaignProblem> = problems
            .iter()
            .map(|p| {
                let aspect = p.aspect.clone().unwrap_or_default();
                Ok(storage::CampaignProblem {
                    seq: i16::try_from(p.seq)
                        .map_err(|_| LedgerError::invalid("problem seq out of range"))?,
                    problem_id: uuid("problem", &p.id)?,
                    title: p.title.clone(),
                    aspect_seq: i16::try_from(aspect.seq).unwrap_or_default(),
                    aspect_name: aspect.name,
                })
            })
            .collect::<Result<_>>()?;
        if campaign_problems.is_empty() {
            return Err(LedgerError::Conflict(format!(
                "notice {} lists no problems",
                document.doc_number
            )));
        }
        let new = storage::NewCampaign {
            id: Uuid::now_v7(),
            document_id,
            doc_number: document.doc_number.clone(),
            area: area.clone(),
            area_name,
            title: if title.is_empty() {
                document.title.clone()
            } else {
                title
            },
            created_by: caller.username.clone(),
        };
        let started = std::time::Instant::now();
        let mut tx = self.pool.begin().await?;
        storage::insert_campaign(&mut tx, &new, &campaign_problems).await?;
        // The area's units arrive in code order, in batches; their ledgers are
        // written a chunk at a time, so a campaign over the nation (662k
        // ledgers) holds one chunk in memory, not the whole directory.
        let mut stream = catalogue
            .stream_units(outgoing(
                catalogue::StreamUnitsRequest {
                    root: area.to_string(),
                    levels: Vec::new(),
                },
                token,
            ))
            .await?
            .into_inner();
        let sections_each = campaign_problems.len();
        let (mut chunk, mut ledgers, mut between) = (Vec::new(), 0u64, Vec::new());
        while let Some(batch) = stream.message().await? {
            let units: Vec<LedgerPlan> = batch
                .items
                .into_iter()
                .filter_map(|u| {
                    Some(LedgerPlan {
                        code: UnitCode::try_from(u.code).ok()?,
                        name: u.name,
                        level: u.level,
                    })
                })
                .collect();
            between.extend(units.iter().filter(|u| holds_no_ledger(&area, u)).cloned());
            chunk.extend(plan_ledgers(&area, units, &responsible));
            if chunk.len() >= FANOUT_CHUNK {
                ledgers += storage::insert_ledgers(&mut tx, new.id, sections_each, &chunk).await?;
                chunk.clear();
            }
        }
        ledgers += storage::insert_ledgers(&mut tx, new.id, sections_each, &chunk).await?;
        storage::insert_campaign_units(&mut tx, new.id, &between).await?;
        let ledgers = i32::try_from(ledgers)
            .map_err(|_| LedgerError::invalid("more ledgers than one campaign can hold"))?;
        let sections = storage::insert_sections(&mut tx, new.id, ledgers).await?;
        let deadlines: Vec<serde_json::Value> = problems
            .iter()
            .map(|p| {
                let deadline = p.deadline.clone().unwrap_or_default();
                serde_json::json!({
                    "problem_id": p.id, "problem_seq": p.seq,
                    "due_on": deadline.due_on, "continuing": deadline.continuing,
                })
            })
            .collect();
        storage::enqueue(
            &mut tx,
            "campaign.created",
            &serde_json::json!({
                "campaign_id": new.id, "document_id": document_id, "area": area.as_str(),
                "title": new.title, "ledgers": ledgers, "sections": sections, "problems": deadlines,
            }),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(campaign = %new.id, %area, ledgers, sections, elapsed_ms = started.elapsed().as_millis() as u64, "campaign started");
        let campaign = storage::get_campaign(&self.pool, new.id)
            .await?
            .ok_or_else(|| LedgerError::NotFound(format!("campaign {}", new.id)))?;
        Ok(convert::campaign(campaign))
    }

    pub(super) async fn dashboard(
        &self,
        caller: &Caller,
        token: &str,
        request: pb::GetDashboardRequest,
    ) -> Result<pb::Dashboard> {
        let (campaign, unit) = self
            .campaign_scope(caller, &request.campaign_id, &request.unit)
            .await?;
        let id = campaign.id;
        let today = self.clock.today();
        let rows = storage::dashboard(&self.pool, id, &unit, today).await?;
        let mut total = storage::Tally::default();
        for (_, tally) in &rows {
            total += tally;
        }
        let mut codes: Vec<String> = rows.iter().map(|(code, _)| code.clone()).collect();
        codes.push(unit.to_string());
        let names = self.unit_names(id, token, codes).await?;
        let name_of = |code: &str| {
            names
                .iter()
                .find(|u| u.code == code)
                .cloned()
                .unwrap_or_else(|| convert::unit_ref(code, "", ""))
        };
        Ok(pb::Dashboard {
            campaign_id: id.to_string(),
            unit: Some(name_of(unit.as_str())),
            total: Some(convert::tally(&total)),
            children: rows
                .iter()
                .map(|(code, t)| pb::DashboardRow {
                    unit: Some(name_of(code)),
                    tally: Some(convert::tally(t)),
                })
                .collect(),
            as_of: today.to_string(),
        })
    }

    /// Names of units: from the campaign's own ledgers where they have one,
    /// from the directory for the rest (cities and counties above townships).
    pub(super) async fn unit_names(
        &self,
        campaign: Uuid,
        token: &str,
        codes: Vec<String>,
    ) -> Result<Vec<pb::UnitRef>> {
        let mut known: Vec<pb::UnitRef> = storage::ledger_units(&self.pool, campaign, &codes)
            .await?
            .into_iter()
            .map(|(code, name, level)| pb::UnitRef { code, name, level })
            .collect();
        let missing: Vec<String> = codes
            .into_iter()
            .filter(|code| !known.iter().any(|u| &u.code == code))
            .collect();
        if !missing.is_empty() {
            let answer = self
                .catalogue()
                .get_units(outgoing(
                    catalogue::GetUnitsRequest { codes: missing },
                    token,
                ))
                .await?
                .into_inner();
            known.extend(
                answer
                    .items
                    .into_iter()
                    .map(|u| convert::unit_ref(&u.code, &u.name, &u.level)),
            );
        }
        Ok(known)
    }
}
