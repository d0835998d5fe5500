//! Households a finding names (户主): name, 身份证号, phone. Personal data:
//! masked for every reader without clearance, never logged, never written
//! into the immutable history (which keeps only a count and a digest).

use std::fmt;

use zhenggai_common::personal::mask_name;

/// A resident identity number (公民身份号码) whose check digit is right
/// (GB 11643-1999: ISO 7064 MOD 11-2) and whose birth date is a real day.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

impl IdNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// 4110**********1234: region prefix and the last four.
    pub fn masked(&self) -> String {
        format!("{}**********{}", &self.0[..4], &self.0[14..])
    }

    /// The check character the first 17 digits call for.
    pub fn check_digit(first17: &[u8]) -> char {
        let sum: u32 = first17
            .iter()
            .zip(WEIGHTS)
            .map(|(digit, weight)| u32::from(digit - b'0') * weight)
            .sum();
        CHECK[(sum % 11) as usize] as char
    }
}

// Never print a number in clear by accident (logs, panics, Debug).
impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl TryFrom<&str> for IdNumber {
    type Error = String;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        // Full-width digits and a lower-case x are common when typed in WPS.
        let normal: String = text
            .trim()
            .chars()
            .map(|c| match c {
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
                'x' | 'ｘ' | 'Ｘ' => 'X',
                other => other,
            })
            .collect();
        let bytes = normal.as_bytes();
        if bytes.len() != 18
            || !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
        {
            return Err("must be 18 characters: 17 digits and a digit or X".into());
        }
        let birth = chrono::NaiveDate::parse_from_str(&normal[6..14], "%Y%m%d");
        if !birth.is_ok_and(|date| (1900..=2100).contains(&chrono::Datelike::year(&date))) {
            return Err("its digits 7 to 14 are not a birth date".into());
        }
        if Self::check_digit(&bytes[..17]) != bytes[17] as char {
            return Err("its check digit is wrong (GB 11643)".into());
        }
        Ok(Self(normal))
    }
}

/// A household as it arrives, unchecked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HouseholdDraft {
    pub name: String,
    pub id_number: String,
    pub phone: String,
}

/// A household, checked: a name, and optionally an ID number and a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Household {
    pub name: String,
    pub id_number: Option<IdNumber>,
    pub phone: String,
}

impl Household {
    /// What a reader without clearance sees: 张*有, 4110**********1234, 138****5678.
    pub fn masked(&self) -> HouseholdDraft {
        HouseholdDraft {
            name: mask_name(&self.name),
            id_number: self
                .id_number
                .as_ref()
                .map(IdNumber::masked)
                .unwrap_or_default(),
            phone: mask_phone(&self.phone),
        }
    }

    pub fn clear(&self) -> HouseholdDraft {
        HouseholdDraft {
            name: self.name.clone(),
            id_number: self
                .id_number
                .as_ref()
                .map(|id| id.as_str().to_owned())
                .unwrap_or_default(),
            phone: self.phone.clone(),
        }
    }
}

/// 138****5678: the first three and the last four digits.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let mut masked: String = chars[..3].iter().collect();
    masked.extend(std::iter::repeat_n('*', chars.len() - 7));
    masked.extend(&chars[chars.len() - 4..]);
    masked
}

impl TryFrom<HouseholdDraft> for Household {
    type Error = Vec<String>;

    fn try_from(draft: HouseholdDraft) -> Result<Self, Self::Error> {
        let mut faults = Vec::new();
        let name = draft.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 50 || name.chars().any(char::is_control) {
            faults.push("name: 1 to 50 characters, no control characters".to_owned());
        }
        let id_number = match draft.id_number.trim() {
            "" => None,
            text => IdNumber::try_from(text)
                .map_err(|error| faults.push(format!("id_number: {error}")))
                .ok(),
        };
        let phone: String = draft
            .phone
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if !phone.is_empty()
            && (!(7..=15).contains(&phone.len())
                || !phone
                    .trim_start_matches('+')
                    .bytes()
                    .all(|b| b.is_ascii_digit()))
        {
            faults.push("phone: 7 to 15 digits".to_owned());
        }
        if faults.is_empty() {
            Ok(Self {
                name,
                id_number,
                phone,
            })
        } else {
            Err(faults)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_are_checked_by_their_check_digit() {
        // The GB 11643 example number.
        assert!(IdNumber::try_from("11010519491231002X").is_ok());
        assert!(IdNumber::try_from("11010519491231002x").is_ok());
        assert!(IdNumber::try_from("110105194912310021").is_err());
        assert!(IdNumber::try_from("110105194913310028").is_err());
        assert!(IdNumber::try_from("1101051949123100").is_err());
        assert!(IdNumber::try_from("１１０１０５１９４９１２３１００２Ｘ").is_ok());
    }

    #[test]
    fn masks_keep_only_what_identifies_nobody() {
        let id = IdNumber::try_from("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "1101**********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(1101**********002X)");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        let household = Household::try_from(HouseholdDraft {
            name: "张三有".into(),
            id_number: "11010519491231002X".into(),
            phone: "138-1234-5678".into(),
        })
        .unwrap();
        let masked = household.masked();
        assert_eq!(masked.name, "张*有");
        assert_eq!(masked.phone, "138****5678");
    }
}
