//! The division table a city admin uploads (`code,name,level,parent_code`,
//! the statistics bureau's export): any bytes. What is accepted is a
//! consistent tree; what is refused says why in a bounded list.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use zhenggai_catalogue::domain::unit::UnitTable;

fuzz_target!(|bytes: &[u8]| {
    match UnitTable::parse_csv(bytes) {
        Ok(table) => {
            assert!(!table.units.is_empty());
            let mut codes = HashSet::new();
            for unit in &table.units {
                assert!(codes.insert(unit.code.clone()), "{unit:?}");
                assert_eq!(unit.parent_code, unit.code.parent(), "{unit:?}");
                assert!(!unit.name.is_empty() && unit.name.trim() == unit.name);
                assert!(!unit.name.chars().any(char::is_control));
            }
            let outside = table.outside_parents();
            assert!(outside.windows(2).all(|pair| pair[0] < pair[1]));
        }
        Err(errors) => {
            assert!((1..=51).contains(&errors.len()), "{}", errors.len());
        }
    }
});
