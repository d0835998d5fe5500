//! 身份证号 as typed (full-width digits, a lower-case x, spaces around):
//! whatever is accepted is 18 characters with a right check digit, masks
//! to its region and last four only, and reads back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zhenggai_ledger::domain::household::IdNumber;

fuzz_target!(|text: &str| {
    let Ok(id) = IdNumber::try_from(text) else {
        return;
    };
    let clear = id.as_str();
    assert_eq!(clear.len(), 18, "{id:?}");
    assert_eq!(clear.chars().count(), 18, "{id:?}");
    assert!(clear[..17].bytes().all(|b| b.is_ascii_digit()), "{id:?}");
    assert_eq!(
        IdNumber::check_digit(&clear.as_bytes()[..17]),
        clear.chars().last().unwrap(),
        "{id:?}"
    );
    let masked = id.masked();
    assert_eq!(masked.chars().count(), 18, "{masked}");
    assert_eq!(&masked[..4], &clear[..4]);
    assert_eq!(&masked[14..], &clear[14..]);
    assert_eq!(&masked[4..14], "**********");
    // The birth date and the sequence number are never shown, nor the whole.
    let middle = &clear[4..14];
    assert!(!masked.contains(middle), "{masked}");
    let debug = format!("{id:?}");
    assert!(!debug.contains(middle) && !debug.contains(clear), "{debug}");
    assert_eq!(IdNumber::try_from(clear), Ok(id.clone()));
    assert!(IdNumber::try_from(masked.as_str()).is_err(), "{masked}");
});
