//! A filled 附件2 whose sheet is any text: the bytes become the sheet part
//! (`xl/worksheets/sheet1.xml`) of an otherwise sound workbook, so that the
//! fuzzer reaches the cell reader and the row logic instead of stopping at
//! the archive's checksums, as `workbook_import` mostly does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|sheet: &[u8]| zhenggai_fuzz::import(&zhenggai_fuzz::with_sheet(sheet)));
