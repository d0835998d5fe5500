//! The unit directory (单位名录): provinces down to villages, plus the
//! departments (市直行业部门) under their government.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use zhenggai_common::UnitCode;

/// Where a unit stands in the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// 全国: the root above the provinces, which the bureau's table leaves out.
    Nation,
    Province,
    City,
    County,
    /// 乡镇/街道
    Township,
    /// 村/社区
    Village,
    /// 市直行业部门
    Department,
}

impl Level {
    pub const ALL: [Level; 7] = [
        Self::Nation,
        Self::Province,
        Self::City,
        Self::County,
        Self::Township,
        Self::Village,
        Self::Department,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nation => "nation",
            Self::Province => "province",
            Self::City => "city",
            Self::County => "county",
            Self::Township => "township",
            Self::Village => "village",
            Self::Department => "department",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|level| level.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not a level: expected nation, province, city, county, township, village or department"))
    }
}

/// One entry of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub code: UnitCode,
    pub name: String,
    pub level: Level,
    pub parent_code: Option<UnitCode>,
}

/// A validated division table, ready to be written in one batch.
#[derive(Debug, Default)]
pub struct UnitTable {
    pub units: Vec<Unit>,
}

/// The most row errors one answer lists.
const MAX_REPORTED_ERRORS: usize = 50;

impl UnitTable {
    /// Parses the `code,name,level,parent_code` CSV of the statistics bureau
    /// export. Every row is checked; the errors name the row (1-based, the
    /// header being row 1) and say what is wrong.
    pub fn parse_csv(bytes: &[u8]) -> Result<Self, Vec<String>> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| vec!["the file is not UTF-8 text".to_owned()])?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .map_err(|error| vec![format!("row 1: {error}")])?
            .clone();
        let expected = ["code", "name", "level", "parent_code"];
        if header.iter().map(str::trim).collect::<Vec<_>>() != expected {
            return Err(vec![format!(
                "row 1: the header must be {}",
                expected.join(",")
            )]);
        }
        let mut errors = Vec::new();
        let mut units = Vec::new();
        let mut seen = HashSet::new();
        for (index, record) in reader.records().enumerate() {
            let row = index + 2;
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    errors.push(format!("row {row}: {error}"));
                    continue;
                }
            };
            match Self::parse_row(&record) {
                Ok(unit) => {
                    if !seen.insert(unit.code.clone()) {
                        errors.push(format!("row {row}: code {} appears twice", unit.code));
                    }
                    units.push(unit);
                }
                Err(reason) => errors.push(format!("row {row}: {reason}")),
            }
        }
        if units.is_empty() && errors.is_empty() {
            errors.push("the file has no rows".to_owned());
        }
        if errors.is_empty() {
            Ok(Self { units })
        } else {
            let total = errors.len();
            errors.truncate(MAX_REPORTED_ERRORS);
            if total > MAX_REPORTED_ERRORS {
                errors.push(format!("… and {} more", total - MAX_REPORTED_ERRORS));
            }
            Err(errors)
        }
    }

    fn parse_row(record: &csv::StringRecord) -> Result<Unit, String> {
        let field = |i: usize| record.get(i).map(str::trim).unwrap_or_default();
        let code = UnitCode::try_from(field(0)).map_err(|error| error.to_string())?;
        let name = field(1);
        if name.is_empty() {
            return Err("name is empty".to_owned());
        }
        let level: Level = field(2).parse()?;
        let parent_code = match field(3) {
            // The bureau's table leaves a province's parent empty: the nation.
            "" if code.as_str().len() == 2 && !code.is_nation() => Some(UnitCode::nation()),
            "" => None,
            text => {
                Some(UnitCode::try_from(text).map_err(|error| format!("parent_code: {error}"))?)
            }
        };
        // The code says where a unit stands: its level by its length, its
        // parent by its prefix. Rows that disagree are refused, so an import
        // cannot turn a village into a province or move it elsewhere.
        let expected_level = if code.is_department() {
            Level::Department
        } else {
            match code.as_str().len() {
                _ if code.is_nation() => Level::Nation,
                2 => Level::Province,
                4 => Level::City,
                6 => Level::County,
                9 => Level::Township,
                _ => Level::Village,
            }
        };
        if level != expected_level {
            return Err(format!(
                "code {code} is a {expected_level} code, not a {level}"
            ));
        }
        if parent_code != code.parent() {
            return Err(match code.parent() {
                Some(parent) => format!("the parent_code of {code} must be {parent}"),
                None => format!("a {level} has no parent_code"),
            });
        }
        if name.chars().any(char::is_control) {
            return Err("name contains control characters".to_owned());
        }
        Ok(Unit {
            code,
            name: name.to_owned(),
            level,
            parent_code,
        })
    }

    /// Parent codes that the table names but does not contain (the nation
    /// aside: the directory always holds it).
    pub fn outside_parents(&self) -> Vec<String> {
        let own: HashSet<&str> = self.units.iter().map(|unit| unit.code.as_str()).collect();
        let mut outside: Vec<String> = self
            .units
            .iter()
            .filter_map(|unit| unit.parent_code.as_ref())
            .filter(|parent| !parent.is_nation() && !own.contains(parent.as_str()))
            .map(|parent| parent.as_str().to_owned())
            .collect();
        outside.sort();
        outside.dedup();
        outside
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_xuchang_table_parses_whole() {
        let table = UnitTable::parse_csv(include_bytes!("../../data/xuchang-4110.csv")).unwrap();
        assert_eq!(table.units.len(), 2619);
        assert!(table.outside_parents().is_empty());
        let townships_of_yuzhou = table
            .units
            .iter()
            .filter(|unit| {
                unit.level == Level::Township
                    && unit.parent_code.as_ref().map(UnitCode::as_str) == Some("411081")
            })
            .count();
        assert_eq!(townships_of_yuzhou, 26);
        let henan = &table.units[0];
        assert_eq!((henan.code.as_str(), henan.level), ("41", Level::Province));
        assert_eq!(henan.parent_code, Some(UnitCode::nation()));
    }

    #[test]
    fn the_nation_stands_above_the_provinces() {
        let csv = "code,name,level,parent_code\n00,全国,nation,\n11,北京市,province,00\n41,河南省,province,\n";
        let table = UnitTable::parse_csv(csv.as_bytes()).unwrap();
        let levels: Vec<_> = table
            .units
            .iter()
            .map(|u| (u.level, u.parent_code.clone()))
            .collect();
        assert_eq!(
            levels,
            [
                (Level::Nation, None),
                (Level::Province, Some(UnitCode::nation())),
                (Level::Province, Some(UnitCode::nation())),
            ]
        );
        let wrong = "code,name,level,parent_code\n00,全国,province,\n";
        assert!(UnitTable::parse_csv(wrong.as_bytes()).is_err());
    }

    #[test]
    fn every_bad_row_is_reported_with_its_number() {
        let csv = "code,name,level,parent_code\n411081114204,土门口村,village,411081114\n4110811142,x,village,411081114\n411081114205,,village,411081114\n411081114206,y,hamlet,411081114\n411082114207,z,village,411081114\n";
        let errors = UnitTable::parse_csv(csv.as_bytes()).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("row 3:"));
        assert!(errors[1].starts_with("row 4:") && errors[1].contains("name"));
        assert!(errors[2].starts_with("row 5:") && errors[2].contains("hamlet"));
        assert!(errors[3].starts_with("row 6:") && errors[3].contains("must be 411082114"));
    }

    #[test]
    fn a_row_cannot_move_or_promote_a_unit() {
        let csv = "code,name,level,parent_code\n411081114204,x,province,\n411081114205,y,village,411081\n411081D020,z,department,4110\n";
        let errors = UnitTable::parse_csv(csv.as_bytes()).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].contains("is a village code, not a province"),
            "{errors:?}"
        );
        assert!(errors[1].contains("must be 411081114"), "{errors:?}");
        assert!(errors[2].contains("must be 411081"), "{errors:?}");
    }

    #[test]
    fn a_wrong_header_is_refused() {
        assert!(UnitTable::parse_csv(b"a,b,c,d\n").unwrap_err()[0].contains("header"));
    }
}
