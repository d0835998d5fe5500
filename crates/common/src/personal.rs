//! Household personal data (户主姓名, 身份证号, illnesses, incomes): shown
//! masked to every reader without clearance, never written to logs.

/// Masks a personal name: 潘振有 → 潘*有, 张三 → 张*, 欧阳娜娜 → 欧**娜.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".to_owned(),
        2 => format!("{}*", chars[0]),
        n => {
            let mut masked = String::with_capacity(name.len());
            masked.push(chars[0]);
            masked.extend(std::iter::repeat_n('*', n - 2));
            masked.push(chars[n - 1]);
            masked
        }
    }
}

/// Masks every occurrence of the given names in a text.
pub fn mask_names_in(text: &str, names: &[String]) -> String {
    let mut masked = text.to_owned();
    // Longer names first, so that a name inside another is not half-masked.
    let mut names: Vec<&String> = names.iter().filter(|name| !name.is_empty()).collect();
    names.sort_by_key(|name| std::cmp::Reverse(name.chars().count()));
    for name in names {
        if masked.contains(name.as_str()) {
            masked = masked.replace(name.as_str(), &mask_name(name));
        }
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_first_and_last_character() {
        assert_eq!(mask_name("潘振有"), "潘*有");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧**娜");
    }

    #[test]
    fn every_occurrence_in_a_text_is_masked() {
        let names = vec!["潘振有".to_owned(), "潘河彦".to_owned()];
        assert_eq!(
            mask_names_in("脱贫户潘振有、潘河彦 2 户反映，潘振有家中", &names),
            "脱贫户潘*有、潘*彦 2 户反映，潘*有家中"
        );
    }
}
