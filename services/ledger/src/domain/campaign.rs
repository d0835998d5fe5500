//! Campaigns (整改行动): which units get a ledger, and how a caller stands to
//! a ledger's unit.

use std::collections::BTreeSet;
use std::str::FromStr;

use zhenggai_common::{Caller, Role, UnitCode};

use super::finding::Standing;

/// A unit that gets a ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPlan {
    pub code: UnitCode,
    pub name: String,
    pub level: String,
}

/// The ledgers of a campaign over `area`: every township and village in it,
/// every department the notice names as responsible (within the area), and
/// the area itself (its office answers for the whole, 附件1). `units` is the
/// area's directory subtree; the answer is in code order, without repeats.
pub fn plan_ledgers(
    area: &UnitCode,
    units: impl IntoIterator<Item = LedgerPlan>,
    responsible: &BTreeSet<UnitCode>,
) -> Vec<LedgerPlan> {
    let mut plan: Vec<LedgerPlan> = units
        .into_iter()
        .filter(|unit| unit.code.is_within(area))
        .filter(|unit| match unit.level.as_str() {
            "township" | "village" => true,
            "department" => responsible.contains(&unit.code),
            _ => &unit.code == area,
        })
        .collect();
    plan.sort_by(|a, b| a.code.cmp(&b.code));
    plan.dedup_by(|a, b| a.code == b.code);
    plan
}

/// How a section of a ledger is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionState {
    Unanswered,
    /// 经排查无此类问题
    NoFindings,
    Findings,
}

impl SectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unanswered => "unanswered",
            Self::NoFindings => "no_findings",
            Self::Findings => "findings",
        }
    }
}

impl FromStr for SectionState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "unanswered" => Ok(Self::Unanswered),
            "no_findings" => Ok(Self::NoFindings),
            "findings" => Ok(Self::Findings),
            other => Err(format!("{other:?} is not a section state")),
        }
    }
}

/// How `caller` stands to the ledger of `unit` (at `level`): its owner, its
/// verifier (the township for its villages, a city office above for the
/// rest), a city office above it. Nobody reviews their own unit's work.
pub fn standing(caller: &Caller, unit: &UnitCode, level: &str) -> Standing {
    let own = &caller.unit == unit;
    let owner = own
        && matches!(
            caller.role,
            Role::Village | Role::Township | Role::Department | Role::CityAdmin
        );
    let city_office = !own && caller.role == Role::CityAdmin && unit.is_within(&caller.unit);
    let verifier = if level == "village" {
        !own && caller.role == Role::Township && unit.parent().as_ref() == Some(&caller.unit)
    } else {
        city_office
    };
    Standing {
        owner,
        verifier,
        city_office,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(code: &str, level: &str) -> LedgerPlan {
        LedgerPlan {
            code: UnitCode::try_from(code).unwrap(),
            name: code.to_owned(),
            level: level.to_owned(),
        }
    }

    fn caller(role: Role, unit: &str) -> Caller {
        Caller {
            user_id: uuid::Uuid::nil(),
            username: "u".into(),
            role,
            unit: UnitCode::try_from(unit).unwrap(),
            token_id: uuid::Uuid::nil(),
            generation: 0,
            clearance: false,
            expires_at: 0,
        }
    }

    #[test]
    fn the_area_its_townships_villages_and_named_departments_get_ledgers() {
        let area = UnitCode::try_from("411081").unwrap();
        let named: BTreeSet<UnitCode> = [UnitCode::try_from("411081D003").unwrap()].into();
        let plan = plan_ledgers(
            &area,
            [
                unit("4110", "city"),
                unit("411081", "county"),
                unit("411081114", "township"),
                unit("411081114204", "village"),
                unit("411081D003", "department"),
                unit("411081D004", "department"),
                unit("411002001", "township"),
            ],
            &named,
        );
        let codes: Vec<&str> = plan.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["411081", "411081114", "411081114204", "411081D003"]);
    }

    #[test]
    fn the_unit_above_reviews_and_nobody_reviews_itself() {
        let village = UnitCode::try_from("411081114204").unwrap();
        let township = UnitCode::try_from("411081114").unwrap();
        let own = standing(&caller(Role::Village, "411081114204"), &village, "village");
        assert!(own.owner && !own.verifier && !own.city_office);
        let above = standing(&caller(Role::Township, "411081114"), &village, "village");
        assert!(above.verifier && !above.owner);
        let other_township = standing(&caller(Role::Township, "411081115"), &village, "village");
        assert!(!other_township.verifier);
        let city = standing(&caller(Role::CityAdmin, "411081"), &township, "township");
        assert!(city.verifier && city.city_office);
        let city_on_itself = standing(
            &caller(Role::CityAdmin, "411081"),
            &UnitCode::try_from("411081").unwrap(),
            "county",
        );
        assert!(city_on_itself.owner && !city_on_itself.verifier && !city_on_itself.city_office);
        let city_on_village = standing(&caller(Role::CityAdmin, "411081"), &village, "village");
        assert!(!city_on_village.verifier && city_on_village.city_office);
        let supervisor = standing(&caller(Role::Supervisor, "411081"), &village, "village");
        assert_eq!(
            supervisor,
            Standing {
                owner: false,
                verifier: false,
                city_office: false
            }
        );
    }
}
