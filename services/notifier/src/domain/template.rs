//! The Chinese texts of every event, rendered from its variables.
//!
//! Variables are data, never markup: the plain text is built from them
//! as they are; for a 企业微信 markdown message every character markdown or
//! its HTML would read is escaped; JSON bodies are built as values and
//! serialized, so no variable can leave its string.

use serde_json::Value;

/// A notification as its readers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The bracketed label and what it is about, e.g. 【逾期提醒】.
    pub title: String,
    pub text: String,
}

fn var(vars: &Value, name: &str) -> String {
    match vars.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "immediate" => "立行立改",
        "deadline" => "限期整改",
        "long_term" => "长期整改",
        _ => "整改",
    }
}

/// "禹州市…的第3项问题第2条"
fn what(vars: &Value) -> String {
    let campaign = var(vars, "campaign");
    let seq = var(vars, "problem_seq");
    let row = var(vars, "seq");
    let mut text = String::new();
    if !campaign.is_empty() {
        text.push_str(&format!("「{campaign}」"));
    }
    if !seq.is_empty() {
        text.push_str(&format!("第{seq}项问题"));
    }
    if !row.is_empty() {
        text.push_str(&format!("第{row}条整改"));
    }
    if text.is_empty() {
        text.push_str("整改事项");
    }
    text
}

fn workdays(vars: &Value) -> i64 {
    vars.get("workdays").and_then(Value::as_i64).unwrap_or(0)
}

/// The title and text of `event` with `vars`.
pub fn render(event: &str, vars: &Value) -> Message {
    let unit = var(vars, "unit_name");
    let unit = if unit.is_empty() {
        var(vars, "unit")
    } else {
        unit
    };
    let due = var(vars, "due_on");
    let kind = kind_label(&var(vars, "kind"));
    let (title, text) = match event {
        "due_soon" => (
            "【临期提醒】",
            format!(
                "{unit}：{}（{kind}）将于{due}到期，还有{}个工作日，请抓紧整改。",
                what(vars),
                workdays(vars)
            ),
        ),
        "due_today" => (
            "【到期提醒】",
            format!(
                "{unit}：{}（{kind}）今日到期（{due}），请按时完成并提交整改结果。",
                what(vars)
            ),
        ),
        "overdue" => (
            "【逾期提醒】",
            format!(
                "{unit}：{}（{kind}）已逾期{}个工作日（整改时限{due}），请立即整改。",
                what(vars),
                -workdays(vars)
            ),
        ),
        "escalated" => (
            "【逾期督办】",
            format!(
                "{unit}的{}已逾期{}个工作日（整改时限{due}），请督促整改。",
                what(vars),
                -workdays(vars)
            ),
        ),
        "awaiting_review" => (
            "【待审核】",
            format!("{unit}已提交{}的整改结果，请审核。", what(vars)),
        ),
        "rejected" => (
            "【退回整改】",
            format!(
                "{unit}：{}的整改结果未通过审核，已退回，请继续整改。",
                what(vars)
            ),
        ),
        "closed" => ("【已销号】", format!("{unit}：{}已销号。", what(vars))),
        "reopened" => (
            "【问题反弹】",
            format!("{unit}：{}已重新打开，请重新整改。", what(vars)),
        ),
        "milestone_owed" => {
            let title = var(vars, "title");
            let text = match workdays(vars) {
                n if n > 0 => {
                    format!("{unit}：时间节点「{title}」将于{due}到期，还有{n}个工作日，尚未完成。")
                }
                0 => format!("{unit}：时间节点「{title}」今日到期（{due}），尚未完成。"),
                _ => format!("{unit}：时间节点「{title}」已于{due}到期，尚未完成，请尽快补报。"),
            };
            ("【时间节点】", text)
        }
        "recheck_due" => (
            "【回头看】",
            format!(
                "{unit}：{}已销号，第{}次回头看已到期（{due}），请复核并记录结果。",
                what(vars),
                var(vars, "round")
            ),
        ),
        "digest" => {
            let items = vars
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut text = format!("今日共有{}项整改提醒：", items.len());
            for item in &items {
                let event = item.get("event").and_then(Value::as_str).unwrap_or("");
                text.push('\n');
                text.push_str("· ");
                text.push_str(&render(event, item).text);
            }
            ("【整改日报】", text)
        }
        other => ("【整改通知】", format!("{unit}：{}（{other}）", what(vars))),
    };
    Message {
        title: title.to_owned(),
        text,
    }
}

/// Escapes what 企业微信 markdown (and the HTML it allows) would read.
pub fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '>' | '<' | '!' | '~' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    out
}

/// The 企业微信 group-robot body: the title bold, the text escaped.
pub fn wecom_body(message: &Message) -> Value {
    serde_json::json!({
        "msgtype": "markdown",
        "markdown": {
            "content": format!("**{}**\n{}", markdown_escape(&message.title), markdown_escape(&message.text)),
        },
    })
}

/// Fills a JSON body template: every string in it has `{phone}`, `{text}`
/// and `{title}` replaced; the values stay inside their strings.
pub fn fill_template(template: &Value, fields: &[(&str, &str)]) -> Value {
    match template {
        Value::String(s) => {
            let mut out = s.clone();
            for (name, value) in fields {
                out = out.replace(&format!("{{{name}}}"), value);
            }
            Value::String(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| fill_template(v, fields)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_template(v, fields)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_event_has_its_chinese_text() {
        let vars = json!({
            "unit": "411081114204", "unit_name": "土门口村委会", "campaign": "巩固脱贫成果整改",
            "problem_seq": 4, "seq": 1, "kind": "deadline", "due_on": "2023-07-20", "workdays": -3,
        });
        let m = render("overdue", &vars);
        assert_eq!(m.title, "【逾期提醒】");
        assert_eq!(
            m.text,
            "土门口村委会：「巩固脱贫成果整改」第4项问题第1条整改（限期整改）已逾期3个工作日（整改时限2023-07-20），请立即整改。"
        );
        for event in [
            "due_soon",
            "due_today",
            "escalated",
            "awaiting_review",
            "rejected",
            "closed",
            "reopened",
            "milestone_owed",
            "recheck_due",
        ] {
            let m = render(event, &vars);
            assert!(
                m.title.starts_with('【') && m.text.contains("土门口村委会"),
                "{event}: {m:?}"
            );
        }
        let digest = render(
            "digest",
            &json!({ "items": [
                { "event": "due_soon", "unit_name": "甲村", "workdays": 3, "due_on": "2023-07-20" },
                { "event": "overdue", "unit_name": "甲村", "workdays": -1, "due_on": "2023-07-14" },
            ]}),
        );
        assert_eq!(digest.text.lines().count(), 3, "{}", digest.text);
    }

    #[test]
    fn variables_cannot_inject_markup_or_json() {
        let vars = json!({ "unit_name": "**坏**[点我](http://evil)<script>", "problem_seq": 1 });
        let m = render("closed", &vars);
        let body = wecom_body(&m);
        let content = body["markdown"]["content"].as_str().unwrap();
        assert!(
            content.contains("\\*\\*坏\\*\\*\\[点我\\]\\(http://evil\\)\\<script\\>"),
            "{content}"
        );
        let sms = fill_template(
            &json!({ "to": "{phone}", "content": "{title}{text}" }),
            &[
                ("phone", "138\",\"x\":\"y"),
                ("text", "a\"}"),
                ("title", "t"),
            ],
        );
        assert_eq!(sms.as_object().unwrap().len(), 2);
        assert_eq!(sms["to"], "138\",\"x\":\"y");
        assert_eq!(sms["content"], "ta\"}");
    }
}
