//! Turning deadlines, milestones and re-checks into reminders, and
//! reminders into requests to the notifier.
//!
//! Planning is idempotent: every item has a key that names what it is about,
//! the rule and the day, and a key is planned once whoever plans it. On a
//! working day, from the campaign's `remind_at`, each campaign's new items
//! are grouped per unit (a digest when a unit has many) and stored as
//! reminders in one transaction. Sending claims reminders with
//! `FOR UPDATE SKIP LOCKED` under a lease, so that several instances send
//! each one once and the claims of an instance that died are taken over
//! when its lease ends; the notifier keeps each reminder id once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use serde_json::json;
use sqlx::PgPool;
use tonic::transport::Channel;
use uuid::Uuid;
use zhenggai_common::clock::{Clock, shanghai};
use zhenggai_common::identity::ServiceIdentity;
use zhenggai_proto::notifier::v1 as notifier_pb;
use zhenggai_proto::notifier::v1::notifier_service_client::NotifierServiceClient;

use crate::domain::calendar::WorkdayCalendar;
use crate::domain::rules::{Nudge, ReminderRules, nudges};
use crate::error::{Result, SchedulerError};
use crate::storage::{self, CampaignRow, Lease, ReminderRow};

/// Reminders planned at once beyond which the queue's statistics are renewed.
const RESTATE_AFTER: usize = 5_000;

/// A missed milestone is announced within this many working days after it.
const MISSED_NOTICE_WITHIN: u32 = 3;

/// How an instance plans and sends.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This instance's name in claims.
    pub instance: String,
    pub tick: Duration,
    pub lease: Duration,
    /// Reminders per request to the notifier.
    pub batch: usize,
    /// Batches in flight at once.
    pub senders: usize,
}

pub struct Reminders {
    pub pool: PgPool,
    pub clock: Clock,
    pub notifier: Channel,
    pub identity: ServiceIdentity,
    pub settings: Settings,
    /// Rung to plan and send now; counts what changed since the last plan.
    pub wake: Arc<Replan>,
    /// Per campaign, the day and the generation of changes it was last
    /// planned with: planning again with neither moved finds nothing new.
    pub planned: std::sync::Mutex<HashMap<Uuid, (NaiveDate, u64)>>,
}

/// Wakes the planner, and counts the changes to what it reads (findings and
/// ledgers as events are applied, rules, milestones, the calendar, re-checks).
/// Every writer of those calls [`Replan::changed`] after its commit; the
/// planner skips a campaign it planned today with no change since, instead of
/// deriving every pending item again to find each one planned already.
#[derive(Debug, Default)]
pub struct Replan {
    notify: tokio::sync::Notify,
    generation: std::sync::atomic::AtomicU64,
}

impl Replan {
    /// Something the planner reads changed (and is committed).
    pub fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Wakes the waiters without a change (events arrived, not applied yet).
    pub fn ring(&self) {
        self.notify.notify_waiters();
    }

    pub async fn notified(&self) {
        self.notify.notified().await
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A message to one unit: one reminder, or a digest of several.
#[derive(Debug, Clone)]
struct NewReminder {
    id: Uuid,
    recipient: String,
    event: String,
    variables: serde_json::Value,
}

/// One thing to remind a unit of, before grouping.
#[derive(Debug, Clone)]
struct Item {
    key: String,
    recipient: String,
    event: &'static str,
    variables: serde_json::Value,
}

impl Reminders {
    /// This instance's hold on the reminders it plans or claims.
    fn lease(&self) -> Lease<'_> {
        Lease {
            instance: &self.settings.instance,
            ms: self.settings.lease.as_millis() as i64,
        }
    }

    pub async fn run(self) {
        loop {
            let planned = self.plan().await.unwrap_or_else(|error| {
                tracing::warn!(%error, "reminders not planned");
                Vec::new()
            });
            if let Err(error) = self.send(planned).await {
                tracing::warn!(%error, "reminders not sent");
            }
            let _ = tokio::time::timeout(self.settings.tick, self.wake.notified()).await;
        }
    }

    /// Plans what every campaign owes its units now; answers the reminders
    /// planned, which this instance holds (claimed under its lease) to send.
    pub async fn plan(&self) -> Result<Vec<ReminderRow>> {
        // Read before what it counts: a change committed meanwhile moves it
        // past what this plan records, so the next plan looks again.
        let generation = self.wake.generation();
        let calendar = storage::workday_calendar(&self.pool).await?;
        let now = self.clock.now();
        let today = now.with_timezone(&shanghai()).date_naive();
        let mut planned = Vec::new();
        for campaign in storage::all_campaigns(&self.pool).await? {
            let seen = self
                .planned
                .lock()
                .ok()
                .and_then(|memo| memo.get(&campaign.id).copied());
            if seen == Some((today, generation)) {
                continue;
            }
            if let Some(reminders) = self.plan_campaign(&calendar, &campaign, now).await? {
                planned.extend(reminders);
                if let Ok(mut memo) = self.planned.lock() {
                    memo.insert(campaign.id, (today, generation));
                }
            }
        }
        Ok(planned)
    }

    async fn plan_campaign(
        &self,
        calendar: &WorkdayCalendar,
        campaign: &CampaignRow,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<ReminderRow>>> {
        let rules = &campaign.rules;
        let local = now.with_timezone(&shanghai());
        let today = local.date_naive();
        match calendar.is_workday(today) {
            Ok(true) if local.time() >= rules.remind_at => {}
            Ok(_) => return Ok(None),
            Err(missing) => {
                tracing::warn!(%missing, "no reminders today");
                return Ok(None);
            }
        }
        let mut tx = self.pool.begin().await?;
        let ours: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('plan:' || $1::text))")
                .bind(campaign.id)
                .fetch_one(&mut *tx)
                .await?;
        if !ours {
            // Another instance is planning it: not planned here.
            return Ok(None);
        }
        let mut items = Vec::new();

        // Deadlines: the nudges of each distinct due date, then its findings.
        let mut due_dates: HashMap<NaiveDate, Vec<Nudge>> = HashMap::new();
        for due_on in storage::pending_due_dates(&self.pool, campaign.id).await? {
            let earned = nudges(calendar, rules, today, due_on)?;
            if !earned.is_empty() {
                due_dates.insert(due_on, earned);
            }
        }
        let dates: Vec<NaiveDate> = due_dates.keys().copied().collect();
        for finding in storage::pending_findings(&mut tx, campaign.id, &dates).await? {
            for nudge in &due_dates[&finding.due_on] {
                let (recipient, suffix, to) = match nudge {
                    Nudge::DueSoon(n) => (Some(finding.unit_code.clone()), n.to_string(), None),
                    Nudge::DueToday => (Some(finding.unit_code.clone()), String::new(), None),
                    Nudge::Overdue(_) => (Some(finding.unit_code.clone()), today.to_string(), None),
                    Nudge::EscalatedToParent(_) => {
                        (finding.parent_code.clone(), "parent".into(), Some("parent"))
                    }
                    Nudge::EscalatedToCity(_) => (
                        Some(campaign.area.as_str().to_owned()),
                        "city".into(),
                        Some("city"),
                    ),
                };
                let Some(recipient) = recipient else { continue };
                items.push(Item {
                    key: format!(
                        "deadline:{}:{}:{}:{suffix}",
                        finding.id,
                        nudge.event(),
                        finding.due_on
                    ),
                    recipient,
                    event: nudge.event(),
                    variables: json!({
                        "finding_id": finding.id, "ledger_id": finding.ledger_id,
                        "campaign_id": campaign.id, "campaign": campaign.title,
                        "unit": finding.unit_code, "unit_name": finding.unit_name,
                        "problem_seq": finding.problem_seq, "seq": finding.seq,
                        "kind": finding.kind, "due_on": finding.due_on,
                        "workdays": nudge.workdays(), "escalated_to": to,
                    }),
                });
            }
        }

        // Milestones: the units that still owe one.
        let mut milestone_nudges = HashMap::new();
        for (id, due_on) in storage::dated_milestones(&mut tx, campaign.id).await? {
            match nudges(calendar, rules, today, due_on)?.first() {
                // A milestone missed long ago (a campaign started late, a
                // date moved back) is shown by its tally, not announced.
                Some(Nudge::Overdue(late)) if *late > MISSED_NOTICE_WITHIN => {}
                Some(nudge) => {
                    milestone_nudges.insert(id, *nudge);
                }
                None => {}
            }
        }
        let ids: Vec<Uuid> = milestone_nudges.keys().copied().collect();
        for owing in storage::owing_ledgers(&mut tx, campaign.id, &ids).await? {
            let nudge = milestone_nudges[&owing.milestone_id];
            // Reminded before and on the day; told once when it is missed.
            let suffix = match nudge {
                Nudge::DueSoon(n) => n.to_string(),
                Nudge::DueToday => "today".into(),
                _ => "missed".into(),
            };
            items.push(Item {
                key: format!(
                    "milestone:{}:{}:{}:{suffix}",
                    owing.milestone_id, owing.ledger_id, owing.due_on
                ),
                recipient: owing.unit_code.clone(),
                event: "milestone_owed",
                variables: json!({
                    "milestone_id": owing.milestone_id, "title": owing.title,
                    "campaign_id": campaign.id, "campaign": campaign.title,
                    "ledger_id": owing.ledger_id, "unit": owing.unit_code,
                    "unit_name": owing.unit_name, "due_on": owing.due_on,
                    "workdays": nudge.workdays().max(-1),
                }),
            });
        }

        // 回头看: re-checks that fell due.
        for recheck in storage::due_rechecks(&mut tx, campaign.id, today).await? {
            items.push(Item {
                key: format!("recheck:{}", recheck.id),
                recipient: recheck.unit_code.clone(),
                event: "recheck_due",
                variables: json!({
                    "recheck_id": recheck.id, "finding_id": recheck.finding_id,
                    "ledger_id": recheck.ledger_id, "campaign_id": campaign.id,
                    "campaign": campaign.title, "unit": recheck.unit_code,
                    "unit_name": recheck.unit_name, "problem_seq": recheck.problem_seq,
                    "seq": recheck.seq, "round": recheck.round, "due_on": recheck.due_on,
                }),
            });
        }

        if items.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let keys: Vec<String> = items.iter().map(|i| i.key.clone()).collect();
        let new: HashSet<String> = storage::claim_item_keys(&mut tx, &keys)
            .await?
            .into_iter()
            .collect();
        items.retain(|item| new.contains(&item.key));
        let reminders = group(items, rules, today);
        let quiet_until = quiet_until(rules, now);
        let reminders: Vec<ReminderRow> = reminders
            .into_iter()
            .map(|r| ReminderRow {
                id: r.id,
                recipient: r.recipient,
                event: r.event,
                variables: r.variables.to_string(),
                quiet_until,
                planned_for: now,
            })
            .collect();
        // Written as claimed by this instance, which sends them next without
        // claiming them again; if it dies first, its lease runs out and
        // another instance claims them.
        storage::insert_reminders(&mut tx, campaign.id, &reminders, self.lease()).await?;
        tx.commit().await?;
        if reminders.len() >= RESTATE_AFTER {
            // Many rows at once: until autovacuum comes by, the planner would
            // think the queue tiny and sort all of it for every claim (150 ms
            // per claim at 100k, instead of 17 by the index).
            storage::restate_reminders(&self.pool).await?;
        }
        if !reminders.is_empty() {
            tracing::info!(campaign = %campaign.id, reminders = reminders.len(), quiet = quiet_until.is_some(), "reminders planned");
        }
        Ok(Some(reminders))
    }

    /// Sends the reminders just `planned` (held already), then every one
    /// nobody holds, a batch at a time over `senders` concurrent streams;
    /// answers how many the notifier acknowledged.
    pub async fn send(&self, planned: Vec<ReminderRow>) -> Result<usize> {
        let mut held = std::collections::VecDeque::new();
        let mut planned = planned.into_iter().peekable();
        while planned.peek().is_some() {
            held.push_back(planned.by_ref().take(self.settings.batch.max(1)).collect());
        }
        let held = Held {
            batches: std::sync::Mutex::new(held),
            // Half the lease: it started when planning did, a moment ago.
            until: std::time::Instant::now() + self.settings.lease / 2,
        };
        let streams = (0..self.settings.senders.max(1)).map(|_| self.drain(&held));
        let mut sent = 0;
        for outcome in futures::future::join_all(streams).await {
            sent += outcome?;
        }
        Ok(sent)
    }

    /// One stream of sends and acknowledgements: the batches held first,
    /// then claims, until nothing is left.
    async fn drain(&self, held: &Held) -> Result<usize> {
        let mut sent = 0;
        loop {
            // Past the lease, what is still held is anybody's: claimed anew.
            let next = (std::time::Instant::now() < held.until)
                .then(|| held.batches.lock().ok()?.pop_front())
                .flatten();
            let batch = match next {
                Some(batch) => batch,
                None => {
                    storage::claim_reminders(&self.pool, self.lease(), self.settings.batch as i64)
                        .await?
                }
            };
            if batch.is_empty() {
                return Ok(sent);
            }
            let ids: Vec<Uuid> = batch.iter().map(|r| r.id).collect();
            let notifications = batch
                .into_iter()
                .map(|r| notifier_pb::Notification {
                    dedupe_key: format!("reminder:{}", r.id),
                    event: r.event,
                    unit: r.recipient,
                    variables_json: r.variables,
                    quiet_until: r
                        .quiet_until
                        .map(|t| t.with_timezone(&shanghai()).to_rfc3339())
                        .unwrap_or_default(),
                    occurred_at: r.planned_for.with_timezone(&shanghai()).to_rfc3339(),
                })
                .collect();
            let token = self
                .identity
                .token()
                .map_err(|error| SchedulerError::Conflict(format!("service token: {error}")))?;
            let request = zhenggai_common::grpc::outgoing(
                notifier_pb::NotifyRequest { notifications },
                &token,
            );
            match NotifierServiceClient::new(self.notifier.clone())
                .notify(request)
                .await
            {
                Ok(_) => {
                    storage::mark_sent(&self.pool, &self.settings.instance, &ids).await?;
                    metrics::counter!("zg_reminders_sent_total").increment(ids.len() as u64);
                    sent += ids.len();
                }
                Err(status) => {
                    storage::release(&self.pool, &self.settings.instance, &ids, 2_000).await?;
                    return Err(status.into());
                }
            }
        }
    }
}

/// Batches of reminders this instance planned and holds, and until when.
struct Held {
    batches: std::sync::Mutex<std::collections::VecDeque<Vec<ReminderRow>>>,
    until: std::time::Instant,
}

/// One reminder per item, or one digest for a unit with many.
fn group(items: Vec<Item>, rules: &ReminderRules, today: NaiveDate) -> Vec<NewReminder> {
    let mut by_unit: HashMap<String, Vec<Item>> = HashMap::new();
    for item in items {
        by_unit
            .entry(item.recipient.clone())
            .or_default()
            .push(item);
    }
    let mut reminders = Vec::new();
    for (recipient, items) in by_unit {
        if items.len() >= rules.digest_threshold as usize {
            let count = items.len();
            let listed: Vec<serde_json::Value> = items
                .into_iter()
                .map(|item| {
                    let mut entry = item.variables;
                    entry["event"] = json!(item.event);
                    entry
                })
                .collect();
            reminders.push(NewReminder {
                id: Uuid::now_v7(),
                recipient,
                event: "digest".into(),
                variables: json!({ "day": today, "count": count, "items": listed }),
            });
        } else {
            reminders.extend(items.into_iter().map(|item| NewReminder {
                id: Uuid::now_v7(),
                recipient: item.recipient,
                event: item.event.into(),
                variables: item.variables,
            }));
        }
    }
    reminders
}

/// In the quiet hours, when they end: until then only the inbox hears.
fn quiet_until(rules: &ReminderRules, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&shanghai());
    if !rules.in_quiet_hours(local.time()) {
        return None;
    }
    let day = if local.time() >= rules.quiet_until {
        local.date_naive().succ_opt()?
    } else {
        local.date_naive()
    };
    shanghai()
        .from_local_datetime(&day.and_time(rules.quiet_until))
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_end_at_eight_the_next_morning() {
        let rules = ReminderRules::default();
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert_eq!(
            quiet_until(&rules, at("2023-07-17T21:30:00+08:00")),
            Some(at("2023-07-18T08:00:00+08:00"))
        );
        assert_eq!(
            quiet_until(&rules, at("2023-07-18T06:00:00+08:00")),
            Some(at("2023-07-18T08:00:00+08:00"))
        );
        assert_eq!(quiet_until(&rules, at("2023-07-18T09:00:00+08:00")), None);
    }

    #[test]
    fn a_unit_with_many_items_gets_one_digest() {
        let rules = ReminderRules::default();
        let item = |unit: &str, n: usize| Item {
            key: format!("k{unit}{n}"),
            recipient: unit.into(),
            event: "overdue",
            variables: json!({ "n": n }),
        };
        let mut items: Vec<Item> = (0..7).map(|n| item("a", n)).collect();
        items.extend((0..2).map(|n| item("b", n)));
        let day = NaiveDate::from_ymd_opt(2023, 7, 21).unwrap();
        let reminders = group(items, &rules, day);
        let to_a: Vec<_> = reminders.iter().filter(|r| r.recipient == "a").collect();
        assert_eq!(to_a.len(), 1);
        assert_eq!(to_a[0].event, "digest");
        assert_eq!(to_a[0].variables["count"], 7);
        assert_eq!(reminders.iter().filter(|r| r.recipient == "b").count(), 2);
    }
}
