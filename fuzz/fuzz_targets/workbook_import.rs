//! A filled 附件2 as uploaded: any bytes at all (another file, a damaged
//! or encrypted archive, a zip bomb, a workbook typed by hand) through the
//! archive check and the reader, as the import handler runs them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| zhenggai_fuzz::import(bytes));
