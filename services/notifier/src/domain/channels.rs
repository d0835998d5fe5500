//! How a unit is reached besides the inbox: email addresses, generic JSON
//! webhooks (signed), 企业微信 group robots and an SMS gateway.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A secret as it is shown: never in clear.
pub const MASKED_SECRET: &str = "********";
const MAX_TARGETS: usize = 10;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WecomRobot {
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SmsGateway {
    pub url: String,
    /// A JSON body; its strings may hold `{phone}`, `{text}`, `{title}`.
    pub body_template: Value,
    pub phones: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Channels {
    pub email: Vec<String>,
    pub webhooks: Vec<Webhook>,
    pub wecom: Vec<WecomRobot>,
    pub sms: Vec<SmsGateway>,
}

fn url_fault(field: &str, url: &str) -> Option<String> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2_000
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (!ok).then(|| format!("{field}: {url:?} is not an http(s) URL"))
}

impl Channels {
    /// Every fault, listed at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut faults = Vec::new();
        for (name, n) in [
            ("email", self.email.len()),
            ("webhooks", self.webhooks.len()),
            ("wecom", self.wecom.len()),
            ("sms", self.sms.len()),
        ] {
            if n > MAX_TARGETS {
                faults.push(format!("{name}: at most {MAX_TARGETS}"));
            }
        }
        for (i, address) in self.email.iter().enumerate() {
            let parts: Vec<&str> = address.split('@').collect();
            let ok = parts.len() == 2
                && !parts[0].is_empty()
                && parts[1].contains('.')
                && address.len() <= 254
                && !address.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ','
                });
            if !ok {
                faults.push(format!("email[{i}]: {address:?} is not an email address"));
            }
        }
        for (i, hook) in self.webhooks.iter().enumerate() {
            faults.extend(url_fault(&format!("webhooks[{i}].url"), &hook.url));
            if hook.secret.chars().count() < 16 {
                faults.push(format!("webhooks[{i}].secret: at least 16 characters"));
            }
        }
        for (i, robot) in self.wecom.iter().enumerate() {
            faults.extend(url_fault(&format!("wecom[{i}].url"), &robot.url));
        }
        for (i, sms) in self.sms.iter().enumerate() {
            faults.extend(url_fault(&format!("sms[{i}].url"), &sms.url));
            if !sms.body_template.is_object() || !sms.body_template.to_string().contains("{text}") {
                faults.push(format!(
                    "sms[{i}].body_template: a JSON object with {{text}} in a string"
                ));
            }
            if sms.phones.is_empty() || sms.phones.len() > 50 {
                faults.push(format!("sms[{i}].phones: 1 to 50 numbers"));
            }
            for (j, phone) in sms.phones.iter().enumerate() {
                let digits = phone.trim_start_matches('+');
                if !(5..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    faults.push(format!("sms[{i}].phones[{j}]: not a phone number"));
                }
            }
        }
        if faults.is_empty() {
            Ok(())
        } else {
            Err(faults)
        }
    }

    /// A secret sent back masked (as it was shown) keeps the one stored
    /// for the same URL.
    pub fn keep_secrets(&mut self, stored: &Channels) {
        for hook in &mut self.webhooks {
            if hook.secret == MASKED_SECRET
                && let Some(old) = stored.webhooks.iter().find(|old| old.url == hook.url)
            {
                hook.secret = old.secret.clone();
            }
        }
    }

    /// As shown to users: secrets masked, phones partly.
    pub fn masked(&self) -> Channels {
        let mut shown = self.clone();
        for hook in &mut shown.webhooks {
            hook.secret = MASKED_SECRET.to_owned();
        }
        for sms in &mut shown.sms {
            sms.phones = sms.phones.iter().map(|p| mask_phone(p)).collect();
        }
        shown
    }

    /// One delivery target per address, URL and phone: (channel, target).
    pub fn targets(&self) -> Vec<(&'static str, Value)> {
        let mut targets = Vec::new();
        for address in &self.email {
            targets.push(("email", serde_json::json!({ "address": address })));
        }
        for hook in &self.webhooks {
            targets.push((
                "webhook",
                serde_json::json!({ "url": hook.url, "secret": hook.secret }),
            ));
        }
        for robot in &self.wecom {
            targets.push(("wecom", serde_json::json!({ "url": robot.url })));
        }
        for sms in &self.sms {
            for phone in &sms.phones {
                targets.push((
                    "sms",
                    serde_json::json!({ "url": sms.url, "body_template": sms.body_template, "phone": phone }),
                ));
            }
        }
        targets
    }
}

/// 138****5678
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let keep_end = 4;
    let keep_start = 3;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_start || i >= chars.len() - keep_end {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// A delivery's target as users see it.
pub fn shown_target(channel: &str, target: &Value) -> String {
    let text = |field: &str| {
        target
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    match channel {
        "email" => text("address"),
        "sms" => mask_phone(&text("phone")),
        // Robot keys and gateway queries are credentials: the host only.
        _ => {
            let url = text("url");
            url.split('?').next().unwrap_or_default().to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn faults_are_listed_and_secrets_never_shown() {
        let channels = Channels {
            email: vec!["office@yuzhou.gov.cn".into(), "bad\r\nBcc: x@y.z".into()],
            webhooks: vec![Webhook {
                url: "ftp://x".into(),
                secret: "short".into(),
            }],
            wecom: vec![WecomRobot {
                url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k".into(),
            }],
            sms: vec![SmsGateway {
                url: "https://sms.example/send".into(),
                body_template: json!({ "to": "{phone}" }),
                phones: vec!["13812345678".into(), "12a".into()],
            }],
        };
        let faults = channels.validate().unwrap_err();
        assert_eq!(faults.len(), 5, "{faults:?}");
        let good = Channels {
            webhooks: vec![Webhook {
                url: "https://hook.example/x".into(),
                secret: "0123456789abcdef".into(),
            }],
            sms: vec![SmsGateway {
                url: "https://sms.example/send".into(),
                body_template: json!({ "to": "{phone}", "content": "{text}" }),
                phones: vec!["13812345678".into()],
            }],
            ..Default::default()
        };
        assert_eq!(good.validate(), Ok(()));
        let shown = good.masked();
        assert_eq!(shown.webhooks[0].secret, MASKED_SECRET);
        assert_eq!(shown.sms[0].phones[0], "138****5678");
        let mut back = shown.clone();
        back.keep_secrets(&good);
        assert_eq!(back.webhooks[0].secret, "0123456789abcdef");
        assert_eq!(good.targets().len(), 2);
    }
}
