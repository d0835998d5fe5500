//! Delivering accepted notifications to their channels.
//!
//! Workers claim due deliveries from PostgreSQL (`FOR UPDATE SKIP LOCKED`,
//! under a lease), send them with at most `workers` in flight, and record
//! every attempt (a batch's attempts in one transaction). A failed attempt is retried with exponential backoff and
//! jitter until `max_attempts`, then the delivery is failed, where
//! `GET /api/v1/notifications/{id}/deliveries` shows it. A notifier killed
//! mid-delivery repeats at most the attempts it had in flight: their leases
//! end and they are claimed again. Deliveries wait out their
//! notification's quiet hours; each channel target is paced by its rate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use lettre::AsyncTransport as _;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::{Mutex, Notify};
use zhenggai_common::clock::{Clock, shanghai};
use zhenggai_common::egress::EgressPolicy;

use crate::domain::template::{Message, fill_template, render, wecom_body};
use crate::storage::{self, Claimed, Outcome};

/// How an instance delivers.
#[derive(Debug, Clone)]
pub struct Settings {
    pub instance: String,
    pub tick: Duration,
    pub lease: Duration,
    pub batch: i64,
    pub workers: usize,
    pub max_attempts: i32,
    pub retry_base: Duration,
    /// Per channel: the least time between two sends to one target.
    pub spacing: HashMap<String, Duration>,
    pub smtp_from: String,
    /// Which addresses a unit's URLs may reach (see `zhenggai_common::egress`).
    pub egress: EgressPolicy,
}

/// Parses `email=10/s,webhook=50/s,wecom=20/min,sms=10/s`.
pub fn parse_rates(text: &str) -> Result<HashMap<String, Duration>, String> {
    let mut spacing = HashMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (channel, rate) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected channel=N/s or channel=N/min"))?;
        let (count, per) = rate
            .split_once('/')
            .ok_or_else(|| format!("{part:?}: expected N/s or N/min"))?;
        let count: f64 = count
            .parse()
            .ok()
            .filter(|n: &f64| *n > 0.0)
            .ok_or_else(|| format!("{part:?}: the count must be a positive number"))?;
        let period = match per {
            "s" => 1.0,
            "min" => 60.0,
            other => return Err(format!("{part:?}: {other:?} is not s or min")),
        };
        spacing.insert(channel.to_owned(), Duration::from_secs_f64(period / count));
    }
    Ok(spacing)
}

/// Spaces the sends to each channel target by its channel's rate.
pub struct Pacer {
    spacing: HashMap<String, Duration>,
    /// When each target may be sent to next.
    next: Mutex<HashMap<String, tokio::time::Instant>>,
}

impl Pacer {
    pub fn new(spacing: HashMap<String, Duration>) -> Self {
        Self {
            spacing,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for the target's next slot under its channel's rate.
    pub async fn wait(&self, channel: &str, target: String) {
        let Some(spacing) = self.spacing.get(channel).copied() else {
            return;
        };
        let slot = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let slot = next
                .get(&target)
                .copied()
                .filter(|t| *t > now)
                .unwrap_or(now);
            next.insert(target, slot + spacing);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// What a delivery log shows for any failure to reach a target.
const UNREACHABLE: &str = "not delivered: the target could not be reached";
/// What it shows for an address the egress policy refuses.
const NOT_ALLOWED: &str =
    "not delivered: the address is an internal one that ZG_CHANNEL_ALLOW does not admit";

pub struct Deliverer {
    pub pool: PgPool,
    pub clock: Clock,
    pub settings: Settings,
    pub http: reqwest::Client,
    pub smtp: Option<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>,
    /// Rung when notifications are accepted.
    pub wake: Arc<Notify>,
    pacer: Pacer,
}

impl Deliverer {
    pub fn new(
        pool: PgPool,
        clock: Clock,
        settings: Settings,
        smtp: Option<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        // A unit's URL reaches only what the egress policy admits: names are
        // resolved through it (so the address connected to is the one
        // checked), redirects are not followed (a public URL cannot bounce a
        // request inside), and no proxy resolves names on our behalf.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .dns_resolver(settings.egress.resolver())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        let settings_spacing = settings.spacing.clone();
        Ok(Self {
            pool,
            clock,
            settings,
            http,
            smtp,
            wake,
            pacer: Pacer::new(settings_spacing),
        })
    }

    pub async fn run(self: Arc<Self>) {
        loop {
            match self.deliver_due().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "deliveries not claimed"),
            }
            let _ = tokio::time::timeout(self.settings.tick, self.wake.notified()).await;
        }
    }

    /// Claims one batch and delivers it; answers how many were claimed.
    pub async fn deliver_due(self: &Arc<Self>) -> crate::error::Result<usize> {
        let claimed = storage::claim_deliveries(
            &self.pool,
            &self.settings.instance,
            self.settings.lease.as_millis() as i64,
            self.clock.now(),
            self.settings.batch,
        )
        .await?;
        let count = claimed.len();
        let results: Vec<(Claimed, Outcome, i32)> = futures::stream::iter(claimed)
            .map(|delivery| {
                let this = self.clone();
                async move { this.deliver(delivery).await }
            })
            .buffer_unordered(self.settings.workers)
            .collect()
            .await;
        // One transaction for the batch: a notifier killed before it
        // commits sends this batch again, and no more.
        if let Err(error) =
            storage::record_attempts(&self.pool, &self.settings.instance, &results).await
        {
            // The leases end and the deliveries are tried again.
            tracing::warn!(%error, deliveries = count, "attempts not recorded");
        }
        Ok(count)
    }

    async fn deliver(&self, delivery: Claimed) -> (Claimed, Outcome, i32) {
        let key = format!(
            "{}:{}",
            delivery.channel,
            delivery
                .target
                .get("url")
                .or(delivery.target.get("address"))
                .unwrap_or(&Value::Null)
        );
        self.pacer.wait(&delivery.channel, key).await;
        let started = Instant::now();
        let result = self.send(&delivery).await;
        let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
        let outcome = match result {
            Ok(()) => {
                metrics::counter!("zg_deliveries_total", "channel" => delivery.channel.clone(), "outcome" => "delivered").increment(1);
                Outcome::Delivered
            }
            Err(error) => {
                metrics::counter!("zg_deliveries_total", "channel" => delivery.channel.clone(), "outcome" => "failed").increment(1);
                tracing::info!(delivery = %delivery.id, channel = delivery.channel, attempt = delivery.attempts, %error, "delivery attempt failed");
                if delivery.attempts >= self.settings.max_attempts {
                    Outcome::Failed(error)
                } else {
                    Outcome::Retry(self.backoff(delivery.attempts), error)
                }
            }
        };
        (delivery, outcome, duration_ms)
    }

    /// base · 2^(attempt−1), at most an hour, with up to 25% jitter.
    fn backoff(&self, attempt: i32) -> Duration {
        let exp = self.settings.retry_base.as_secs_f64() * 2f64.powi((attempt - 1).clamp(0, 20));
        let jitter = 1.0 + rand::random::<f64>() * 0.25;
        Duration::from_secs_f64((exp * jitter).min(3_600.0))
    }

    async fn send(&self, delivery: &Claimed) -> Result<(), String> {
        let message = render(&delivery.event, &delivery.variables);
        let text = |field: &str| {
            delivery
                .target
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        if delivery.channel != "email" {
            // An address literal never reaches the guarded resolver: judge it
            // here (a URL saved before the policy, or edited in the database).
            self.settings
                .egress
                .check_url(&text("url"))
                .map_err(|refused| {
                    metrics::counter!("zg_egress_refused_total").increment(1);
                    tracing::warn!(delivery = %delivery.id, %refused, "delivery refused by the egress policy");
                    NOT_ALLOWED.to_owned()
                })?;
        }
        match delivery.channel.as_str() {
            "email" => self.email(&text("address"), &message).await,
            "webhook" => {
                let body = json!({
                    "id": delivery.notification_id,
                    "event": delivery.event,
                    "unit": delivery.unit,
                    "title": message.title,
                    "text": message.text,
                    "variables": delivery.variables,
                    "occurred_at": delivery.occurred_at.with_timezone(&shanghai()).to_rfc3339(),
                });
                let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
                let signature = sign(text("secret").as_bytes(), &body);
                let request = self
                    .http
                    .post(text("url"))
                    .header("content-type", "application/json")
                    .header(
                        "x-zhenggai-notification",
                        delivery.notification_id.to_string(),
                    )
                    .header("x-zhenggai-delivery", delivery.id.to_string())
                    .header("x-zhenggai-signature", format!("sha256={signature}"))
                    .body(body);
                self.post(request).await.map(|_| ())
            }
            "wecom" => {
                let request = self.http.post(text("url")).json(&wecom_body(&message));
                let answer = self.post(request).await?;
                // The robot answers 200 with its own error code.
                match serde_json::from_slice::<Value>(&answer)
                    .ok()
                    .and_then(|v| v.get("errcode").and_then(Value::as_i64))
                {
                    Some(0) | None => Ok(()),
                    Some(code) => Err(format!("企业微信 errcode {code}")),
                }
            }
            "sms" => {
                let template = delivery
                    .target
                    .get("body_template")
                    .cloned()
                    .unwrap_or(Value::Null);
                let body = fill_template(
                    &template,
                    &[
                        ("phone", &text("phone")),
                        ("title", &message.title),
                        ("text", &message.text),
                    ],
                );
                self.post(self.http.post(text("url")).json(&body))
                    .await
                    .map(|_| ())
            }
            other => Err(format!("unknown channel {other}")),
        }
    }

    /// Posts and reads the answer. What went wrong on the way is told to
    /// clients in one sentence (whether a port was closed, filtered or slow
    /// is nobody's business but the operator's, whose log has it).
    async fn post(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, String> {
        let response = request.send().await.map_err(|error| {
            let (timeout, connect) = (error.is_timeout(), error.is_connect());
            tracing::info!(error = %error.without_url(), timeout, connect, "target not reached");
            UNREACHABLE.to_owned()
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|error| {
            tracing::info!(error = %error.without_url(), "answer broken off");
            UNREACHABLE.to_owned()
        })?;
        if status.is_success() {
            Ok(body.to_vec())
        } else {
            Err(format!("HTTP {}", status.as_u16()))
        }
    }

    async fn email(&self, to: &str, message: &Message) -> Result<(), String> {
        let Some(smtp) = &self.smtp else {
            return Err("no mail server configured (ZG_SMTP_URL)".to_owned());
        };
        let from = self
            .settings
            .smtp_from
            .parse()
            .map_err(|_| "ZG_SMTP_FROM is not an address".to_owned())?;
        let to = to.parse().map_err(|_| "not an email address".to_owned())?;
        let email = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(format!("{}{}", message.title, subject_of(&message.text)))
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(message.text.clone())
            .map_err(|e| format!("message not built: {e}"))?;
        smtp.send(email).await.map(|_| ()).map_err(|e| {
            format!(
                "SMTP: {}",
                e.status()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "failed".into())
            )
        })
    }
}

/// The first clause of a text, short enough for a subject line.
fn subject_of(text: &str) -> String {
    text.split(['：', '，', '。'])
        .next()
        .unwrap_or_default()
        .chars()
        .take(40)
        .collect()
}

/// HMAC-SHA256 of `body` under `key`, in lowercase hex.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    aws_lc_rs::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_per_channel() {
        let spacing = parse_rates("email=10/s, wecom=20/min").unwrap();
        assert_eq!(spacing["email"], Duration::from_millis(100));
        assert_eq!(spacing["wecom"], Duration::from_secs(3));
        assert!(parse_rates("sms=fast").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn each_target_is_paced_by_its_channel_rate() {
        let pacer = Pacer::new(parse_rates("wecom=20/min,webhook=10/s").unwrap());
        let started = tokio::time::Instant::now();
        for _ in 0..4 {
            pacer.wait("wecom", "robot-a".into()).await;
        }
        // Four sends to one robot at 20 a minute: three gaps of 3 s.
        assert_eq!(started.elapsed(), Duration::from_secs(9));
        // Another robot has its own pace; a channel without a rate waits not.
        let other = tokio::time::Instant::now();
        pacer.wait("wecom", "robot-b".into()).await;
        pacer.wait("email", "x".into()).await;
        pacer.wait("email", "x".into()).await;
        assert_eq!(other.elapsed(), Duration::ZERO);
    }

    #[test]
    fn signatures_are_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
