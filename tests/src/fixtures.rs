//! What many tests start from: the founding notice and its campaign over
//! 禹州市, a unit's ledger, findings and review steps, milestones, the drill
//! clock, the 河南 division table, and a wait that polls instead of sleeping.

use serde_json::{Value, json};

use crate::stack::Stack;

/// A tiny valid PNG (1×1), for evidence uploads.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// Waits (polling, never a fixed sleep) until `check` answers `Some`; panics
/// naming `what` after 60 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 60 s");
}

/// A milestone's tally by kind: (owed, on_time, late, missing, pending).
pub fn tally(milestones: &[Value], kind: &str) -> (u64, u64, u64, u64, u64) {
    let m = milestones
        .iter()
        .find(|m| m["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} milestone"));
    let n = |field: &str| m["tally"][field].as_u64().expect("a count");
    (
        n("owed"),
        n("on_time"),
        n("late"),
        n("missing"),
        n("pending"),
    )
}

/// The division table of all 河南 (55,164 rows) as CSV bytes.
pub fn henan_csv() -> Vec<u8> {
    use std::io::Read as _;
    let gz = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/divisions/henan-41.csv.gz"
    ))
    .expect("data/divisions/henan-41.csv.gz");
    let mut csv = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut csv)
        .expect("gunzip");
    csv
}

/// A notice of one problem (人居环境整治), valid as it stands: tests change
/// a field to see it refused.
pub fn small_notice(doc_number: &str) -> Value {
    json!({
        "doc_number": doc_number,
        "title": "关于开展人居环境整治回头看的通知",
        "issuer": "禹州市巩固拓展脱贫攻坚成果领导小组",
        "issued_on": "2023-09-01",
        "area": "411081",
        "aspects": [{ "seq": 1, "name": "工作落实方面" }],
        "problems": [{
            "seq": 1, "aspect_seq": 1,
            "title": "村庄人居环境整治有待加强",
            "manifestation": "有的地方垃圾乱丢乱放。",
            "measures": [{ "seq": 1, "text": "开展集中清理。" }, { "seq": 2, "text": "建立长效管护机制。" }],
            "responsible_units": [{ "code": "411081D003", "lead": true }, { "code": "411081", "scope": "townships" }],
            "deadline": { "due_on": "2023-10-31", "continuing": false }
        }]
    })
}

impl Stack {
    /// The seeded founding notice (禹巩固脱贫组〔2023〕5号).
    pub async fn founding_notice(&self, token: &str) -> Value {
        let (status, body) = self.json(self.get("/api/v1/documents", token)).await;
        assert_eq!(status, 200, "{body}");
        body["items"]
            .as_array()
            .expect("a list of documents")
            .iter()
            .find(|doc| doc["doc_number"] == "禹巩固脱贫组〔2023〕5号")
            .cloned()
            .expect("the founding notice is seeded")
    }

    /// Starts the founding notice's campaign over 禹州市 as the admin.
    pub async fn yuzhou_campaign(&self) -> Value {
        let admin = self.admin().await;
        let notice = self.founding_notice(&admin).await;
        let (status, campaign) = self
            .json(
                self.post("/api/v1/campaigns", &admin)
                    .json(&json!({ "document_id": notice["id"], "area": "411081" })),
            )
            .await;
        assert_eq!(status, 201, "{campaign}");
        campaign
    }

    /// The ledger of `unit` in a campaign, whole.
    pub async fn ledger(&self, token: &str, campaign: &Value, unit: &str) -> Value {
        let path = format!(
            "/api/v1/ledgers?campaign={}&unit={unit}",
            campaign["id"].as_str().expect("campaign id")
        );
        let (status, list) = self.json(self.get(&path, token)).await;
        assert_eq!(status, 200, "{list}");
        let id = list["items"]
            .as_array()
            .and_then(|items| items.iter().find(|l| l["unit"]["code"] == unit))
            .and_then(|l| l["id"].as_str())
            .unwrap_or_else(|| panic!("no ledger of {unit} in {list}"))
            .to_owned();
        let (status, ledger) = self
            .json(self.get(&format!("/api/v1/ledgers/{id}"), token))
            .await;
        assert_eq!(status, 200, "{ledger}");
        ledger
    }

    /// Adds a finding to a section (by index) of a ledger; answers it.
    pub async fn add_finding(
        &self,
        token: &str,
        ledger: &Value,
        section: usize,
        body: Value,
    ) -> Value {
        let path = format!(
            "/api/v1/ledgers/{}/problems/{}/findings",
            ledger["id"].as_str().expect("ledger id"),
            ledger["sections"][section]["problem_id"]
                .as_str()
                .expect("problem id")
        );
        let (status, finding) = self.json(self.post(&path, token).json(&body)).await;
        assert_eq!(status, 201, "{finding}");
        finding
    }

    /// Takes a review step (start, submit, verify, close, reject, reopen).
    pub async fn act(
        &self,
        token: &str,
        finding: &Value,
        action: &str,
        reason: Option<&str>,
    ) -> (u16, Value) {
        let path = format!(
            "/api/v1/findings/{}/{action}",
            finding["id"].as_str().expect("finding id")
        );
        let mut request = self.post(&path, token);
        if let Some(reason) = reason {
            request = request.json(&json!({ "reason": reason }));
        }
        self.json(request).await
    }

    /// Answers every section of a ledger that has none: 经排查无此类问题.
    pub async fn answer_the_rest(&self, token: &str, ledger: &Value) {
        let path = format!(
            "/api/v1/ledgers/{}",
            ledger["id"].as_str().expect("ledger id")
        );
        let (_, ledger) = self.json(self.get(&path, token)).await;
        for section in ledger["sections"].as_array().expect("sections") {
            if section["state"] != "unanswered" {
                continue;
            }
            let path = format!(
                "/api/v1/ledgers/{}/problems/{}/no-findings",
                ledger["id"].as_str().expect("ledger id"),
                section["problem_id"].as_str().expect("problem id")
            );
            let (status, body) = self
                .json(
                    self.post(&path, token)
                        .json(&json!({ "note": "经排查，无此类问题" })),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    }

    /// A campaign's milestones with their tallies.
    pub async fn milestones(&self, token: &str, campaign: &Value) -> Vec<Value> {
        let path = format!(
            "/api/v1/campaigns/{}/milestones",
            campaign["id"].as_str().expect("campaign id")
        );
        let (status, body) = self.json(self.get(&path, token)).await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().expect("milestones").clone()
    }

    /// Waits until the scheduler has the campaign and all its ledgers.
    pub async fn scheduled(&self, token: &str, campaign: &Value) {
        let ledgers = campaign["ledger_count"].as_u64().expect("ledger count");
        eventually("the scheduler hears of the campaign", || async {
            let path = format!(
                "/api/v1/campaigns/{}/milestones",
                campaign["id"].as_str().expect("campaign id")
            );
            let (status, body) = self.json(self.get(&path, token)).await;
            let owed = body["items"]
                .as_array()
                .and_then(|items| items.iter().find(|m| m["kind"] == "rectified"))
                .and_then(|m| m["tally"]["owed"].as_u64());
            (status == 200 && owed == Some(ledgers)).then_some(())
        })
        .await;
    }

    /// Sets the drill clock of every service (as the city office).
    pub async fn set_clock(&self, token: &str, now: &str) {
        let (status, body) = self
            .json(
                self.client
                    .put(self.url("/api/v1/admin/clock"))
                    .bearer_auth(token)
                    .json(&serde_json::json!({ "now": now })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}
