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

    /// What was sent back masked (as it was shown) keeps what is stored
    /// for the target it was shown for: a webhook's secret, a URL's
    /// credentials, an SMS template's constants. A target is the one shown
    /// when its masked form is the same.
    pub fn keep_secrets(&mut self, stored: &Channels) {
        for hook in &mut self.webhooks {
            if let Some(old) = stored
                .webhooks
                .iter()
                .find(|old| mask_url(&old.url) == hook.url || old.url == hook.url)
            {
                if hook.url == mask_url(&old.url) {
                    hook.url = old.url.clone();
                }
                if hook.secret == MASKED_SECRET {
                    hook.secret = old.secret.clone();
                }
            }
        }
        for robot in &mut self.wecom {
            if let Some(old) = stored
                .wecom
                .iter()
                .find(|old| mask_url(&old.url) == robot.url)
            {
                robot.url = old.url.clone();
            }
        }
        for sms in &mut self.sms {
            if let Some(old) = stored
                .sms
                .iter()
                .find(|old| mask_url(&old.url) == sms.url || old.url == sms.url)
            {
                if sms.url == mask_url(&old.url) {
                    sms.url = old.url.clone();
                }
                sms.body_template = keep_constants(&sms.body_template, &old.body_template);
                // A phone sent back as it was shown (138****5678) is the
                // stored one it masks.
                for phone in &mut sms.phones {
                    if let Some(stored) = old.phones.iter().find(|p| mask_phone(p) == *phone) {
                        phone.clone_from(stored);
                    }
                }
            }
        }
    }

    /// As shown to users: secrets masked (a webhook's secret, the query and
    /// password of every URL, e.g. a 企业微信 robot's `key`, and the
    /// constants of an SMS template, which hold the gateway's account), phones
    /// partly. Nobody reads them back in clear; send the mask to keep one.
    pub fn masked(&self) -> Channels {
        let mut shown = self.clone();
        for hook in &mut shown.webhooks {
            hook.url = mask_url(&hook.url);
            hook.secret = MASKED_SECRET.to_owned();
        }
        for robot in &mut shown.wecom {
            robot.url = mask_url(&robot.url);
        }
        for sms in &mut shown.sms {
            sms.url = mask_url(&sms.url);
            sms.body_template = mask_constants(&sms.body_template);
            sms.phones = sms.phones.iter().map(|p| mask_phone(p)).collect();
        }
        shown
    }

    /// Every URL a delivery would go to, named by its field.
    pub fn urls(&self) -> Vec<(String, &str)> {
        let webhooks = self.webhooks.iter().enumerate();
        let wecom = self.wecom.iter().enumerate();
        let sms = self.sms.iter().enumerate();
        webhooks
            .map(|(i, hook)| (format!("webhooks[{i}].url"), hook.url.as_str()))
            .chain(wecom.map(|(i, robot)| (format!("wecom[{i}].url"), robot.url.as_str())))
            .chain(sms.map(|(i, sms)| (format!("sms[{i}].url"), sms.url.as_str())))
            .collect()
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

/// A URL with its password and every query value masked:
/// `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=********`.
pub fn mask_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    // user:password@ in the authority.
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((user_info, host)) => {
                    let user = user_info.split(':').next().unwrap_or_default();
                    format!("{scheme}://{user}:{MASKED_SECRET}@{host}{path}")
                }
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    match query {
        Some(query) => {
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) => format!("{name}={MASKED_SECRET}"),
                    None => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", masked.join("&"))
        }
        None => base,
    }
}

/// An SMS template's strings that are constants (no `{phone}`, `{title}`,
/// `{text}`) masked: they hold the gateway's account and key.
fn mask_constants(template: &Value) -> Value {
    match template {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, value)| (name.clone(), mask_constants(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask_constants).collect()),
        Value::String(text) if !is_placeholder_text(text) => Value::String(MASKED_SECRET.into()),
        other => other.clone(),
    }
}

fn is_placeholder_text(text: &str) -> bool {
    ["{phone}", "{title}", "{text}"]
        .iter()
        .any(|placeholder| text.contains(placeholder))
}

/// A template sent back: each masked constant takes the stored value at the
/// same place.
fn keep_constants(sent: &Value, stored: &Value) -> Value {
    match (sent, stored) {
        (Value::Object(fields), Value::Object(old)) => Value::Object(
            fields
                .iter()
                .map(|(name, value)| {
                    let kept = match old.get(name) {
                        Some(old) => keep_constants(value, old),
                        None => value.clone(),
                    };
                    (name.clone(), kept)
                })
                .collect(),
        ),
        (Value::Array(items), Value::Array(old)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, value)| match old.get(i) {
                    Some(old) => keep_constants(value, old),
                    None => value.clone(),
                })
                .collect(),
        ),
        (Value::String(text), old) if text == MASKED_SECRET => old.clone(),
        (value, _) => value.clone(),
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

    #[test]
    fn credentials_in_urls_and_templates_are_masked_and_kept() {
        let stored = Channels {
            wecom: vec![WecomRobot {
                url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-key-1".into(),
            }],
            sms: vec![SmsGateway {
                url: "https://gw:pa55@sms.gov.internal/send?appid=7&token=t0k".into(),
                body_template: json!({ "account": "yuzhou", "key": "k3y", "to": "{phone}", "content": "【禹州】{text}" }),
                phones: vec!["13812345678".into()],
            }],
            ..Default::default()
        };
        let shown = stored.masked();
        assert_eq!(
            shown.wecom[0].url,
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=********"
        );
        assert_eq!(
            shown.sms[0].url,
            "https://gw:********@sms.gov.internal/send?appid=********&token=********"
        );
        assert_eq!(
            shown.sms[0].body_template,
            json!({ "account": "********", "key": "********", "to": "{phone}", "content": "【禹州】{text}" })
        );
        let text = serde_json::to_string(&shown).unwrap();
        for secret in ["robot-key-1", "pa55", "t0k", "k3y", "yuzhou\""] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
        // Sent back as shown, everything stored is kept; a changed field wins.
        let mut back = shown.clone();
        back.sms[0].body_template["content"] = json!("【禹州市】{text}");
        back.keep_secrets(&stored);
        assert_eq!(back.wecom, stored.wecom);
        assert_eq!(back.sms[0].url, stored.sms[0].url);
        assert_eq!(back.sms[0].body_template["key"], "k3y");
        assert_eq!(back.sms[0].body_template["content"], "【禹州市】{text}");
        assert_eq!(back.sms[0].phones, stored.sms[0].phones);
        // A new robot key replaces the old one.
        let mut replaced = shown;
        replaced.wecom[0].url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=new".into();
        replaced.keep_secrets(&stored);
        assert!(replaced.wecom[0].url.ends_with("key=new"));
    }
}
