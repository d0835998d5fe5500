//! Households (户主: name, 身份证号, phone) and the finding fields they come
//! with, as the API and the ledger take them: any text, three lines to a
//! household. What is accepted masks without showing the hidden part, and
//! reads back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zhenggai_ledger::domain::finding::{FindingDraft, FindingFields};
use zhenggai_ledger::domain::household::{Household, HouseholdDraft, mask_phone};

fuzz_target!(|text: &str| {
    let lines: Vec<&str> = text.split('\n').collect();
    let drafts: Vec<HouseholdDraft> = lines
        .chunks(3)
        .map(|chunk| HouseholdDraft {
            name: chunk.first().copied().unwrap_or_default().to_owned(),
            id_number: chunk.get(1).copied().unwrap_or_default().to_owned(),
            phone: chunk.get(2).copied().unwrap_or_default().to_owned(),
        })
        .collect();
    for draft in &drafts {
        let phone = mask_phone(&draft.phone);
        assert_eq!(phone.chars().count(), draft.phone.chars().count());
        let Ok(household) = Household::try_from(draft.clone()) else {
            continue;
        };
        let count = household.name.chars().count();
        assert!((1..=50).contains(&count), "{household:?}");
        let masked = household.masked();
        // 张*有, 张*, *: the first and the last character at most.
        let name: Vec<char> = masked.name.chars().collect();
        assert_eq!(name.len(), count);
        let hidden = match count {
            1 => &name[..],
            2 => &name[1..],
            _ => &name[1..count - 1],
        };
        assert!(hidden.iter().all(|c| *c == '*'), "{name:?}");
        // 138****5678: the first three and the last four, the rest hidden.
        let clear: Vec<char> = household.phone.chars().collect();
        let phone: Vec<char> = masked.phone.chars().collect();
        assert_eq!(phone.len(), clear.len());
        let stars = phone.iter().filter(|c| **c == '*').count();
        if clear.len() <= 7 {
            assert_eq!(stars, clear.len(), "{phone:?}");
        } else {
            assert_eq!(stars, clear.len() - 7, "{phone:?}");
            assert_eq!(phone[..3], clear[..3]);
            assert_eq!(phone[phone.len() - 4..], clear[clear.len() - 4..]);
        }
        assert_eq!(Household::try_from(household.clear()), Ok(household));
    }

    // The same text as every field of a finding, the households with it.
    let mut fields = lines.iter().copied();
    let mut next = || fields.next().unwrap_or_default().to_owned();
    let draft = FindingDraft {
        due_on: next(),
        kind: next(),
        description: text.to_owned(),
        measures: next(),
        responsible: next(),
        result: text.to_owned(),
        standing_mechanism: next(),
        households: drafts,
    };
    if let Ok(fields) = FindingFields::try_from(draft) {
        if let Some(due) = fields.due_on {
            assert!((2000..=2100).contains(&chrono::Datelike::year(&due)));
        }
        let again = FindingDraft {
            description: fields.description.clone(),
            measures: fields.measures.clone(),
            due_on: fields.due_on.map(|d| d.to_string()).unwrap_or_default(),
            kind: fields.kind.as_str().to_owned(),
            responsible: fields.responsible.clone(),
            result: fields.result.clone(),
            standing_mechanism: fields.standing_mechanism.clone(),
            households: fields.households.iter().map(Household::clear).collect(),
        };
        assert_eq!(FindingFields::try_from(again), Ok(fields));
    }
});
