//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`:
//! real 附件2 workbooks from the crate's own layout writer (blank and
//! filled), the damaged and foreign files an upload meets, and the texts
//! cadres type. Run it after the layout changes:
//!
//! ```sh
//! cargo run -p zhenggai-fuzz --example seed_corpus
//! ```
//!
//! Seeds are small on purpose: the fuzzer's inputs are at most as long as
//! the longest seed.

use std::fs;
use std::io::{Cursor, Write};
use std::path::Path;

use zhenggai_fuzz::{blank_ledger, filled_ledger, sheet_of, with_sheet, workbook};
use zhenggai_ledger::domain::household::IdNumber;

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let blank = workbook(&blank_ledger());
    let filled = workbook(&filled_ledger());

    let mut damaged = filled.clone();
    // A byte of the first part's data flipped: its checksum no longer holds.
    damaged[100] ^= 0xFF;
    let mut encrypted = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0".to_vec();
    encrypted.extend("EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes));
    let mut foreign = zip::ZipWriter::new(Cursor::new(Vec::new()));
    foreign
        .start_file(
            "word/document.xml",
            zip::write::SimpleFileOptions::default(),
        )
        .and_then(|()| Ok(foreign.write_all(b"<w:document/>")?))
        .map_err(std::io::Error::other)?;
    let foreign = foreign
        .finish()
        .map_err(std::io::Error::other)?
        .into_inner();
    let truncated = filled[..filled.len() / 2].to_vec();
    write(
        &corpus.join("workbook_import"),
        &[
            ("blank.xlsx", blank.clone()),
            ("filled.xlsx", filled.clone()),
            ("hand-typed.xlsx", with_sheet(HAND_TYPED.as_bytes())),
            ("damaged-checksum.xlsx", damaged),
            ("truncated.xlsx", truncated),
            ("empty", Vec::new()),
            (
                "old-format.xls",
                b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 old xls".to_vec(),
            ),
            ("encrypted.xlsx", encrypted),
            ("word.docx", foreign),
            ("text.txt", "序号1,方面,具体问题\n".as_bytes().to_vec()),
        ],
    )?;
    write(
        &corpus.join("workbook_sheet"),
        &[
            ("blank.xml", sheet_of(&blank)),
            ("filled.xml", sheet_of(&filled)),
            ("hand-typed.xml", HAND_TYPED.as_bytes().to_vec()),
            ("empty.xml", Vec::new()),
        ],
    )?;

    write_texts(
        &corpus.join("form_text"),
        &[
            "7月20日",
            "3月1日",
            "7月20号",
            "2023年7月20日",
            "２０２３年７月２０日前",
            "２０２３．７．２０",
            "2023.7.20",
            "2023-07-20",
            "2023/7/5",
            "20230720",
            "2023年2月30日",
            "立行立改",
            "立行立改（2023年7月10日）",
            "长期整改",
            "长期整改（2023年12月31日）",
            "7月20日前取得阶段性成效，持续推进。",
            "下个月",
            "经排查，无此类问题",
            "经排查,无此类问题。",
            "无此类问题",
            "1. 干部业务能力和责任意识还需加强。",
            "２．个别帮扶人员或部门工作作风不实，\n存在懈怠问题。",
            "个别帮扶人员或部门工作作风不实",
            "9. 不存在",
            "３",
            "12.",
            "4294967296",
            "关于印发《国家、省2022年度巩固拓展脱贫攻坚成果同乡村振兴有效衔接考核评估反馈问题对照整改方案》的通知",
            "浅井镇土门口村",
            "'a/b:c[1]*?'",
            "ＡＢ１２，\u{3000}",
        ],
    )?;

    let valid: Vec<String> = [
        "41108119850715001",
        "41108120000229123",
        "11010519000101000",
        "41108121001231999",
    ]
    .iter()
    .map(|first17| format!("{first17}{}", IdNumber::check_digit(first17.as_bytes())))
    .collect();
    let mut ids: Vec<&str> = vec![
        "11010519491231002X",
        "11010519491231002x",
        "１１０１０５１９４９１２３１００２Ｘ",
        " 11010519491231002X\n",
        "110105194912310021",
        "110105194913310028",
        "1101051949123100",
        "1101**********002X",
    ];
    ids.extend(valid.iter().map(String::as_str));
    write_texts(&corpus.join("id_number"), &ids)?;

    let households = [
        "张三有\n11010519491231002X\n138-1234-5678".to_owned(),
        format!(
            "潘振有\n\n13812345678\n潘河彦\n{}\n+86 138 1234 5678",
            valid[0]
        ),
        "欧阳娜娜\n１１０１０５１９４９１２３１００２ｘ\n0374-1234567".to_owned(),
        "张\n110105194912310021\n12345".to_owned(),
        "2023-07-20\ndeadline\n入户核实\n村委会\n".to_owned(),
        "\n长期整改\n建立长效机制\n村委会\n每月回头看".to_owned(),
        "2023-7-20\nimmediate\n\n\n".to_owned(),
    ];
    write_texts(
        &corpus.join("households"),
        &households.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;

    write_texts(
        &corpus.join("division_csv"),
        &[
            DIVISIONS,
            &format!("\u{feff}{DIVISIONS}"),
            "code,name,level,parent_code\n411081114204,x,province,\n411081114205,y,village,411081\n411081D020,z,department,4110\n",
            "code,name,level,parent_code\n411081114204,土门口村,village,411081114\n411081114204,土门口村,village,411081114\n4110811142,x,village,411081114\n411081114205,,village,411081114\n",
            "code,name,level,parent_code\n\"41\",\"河南\n 省\",province,\n41,河南省\n",
            "a,b,c,d\n",
            "code,name,level,parent_code\n",
        ],
    )?;
    Ok(())
}

/// A small division table: every level, a department.
const DIVISIONS: &str = "code,name,level,parent_code
41,河南省,province,
4110,许昌市,city,41
411081,禹州市,county,4110
411081114,浅井镇,township,411081
411081114204,土门口村委会,village,411081114
411081D001,市委组织部,department,411081
";

/// A sheet as cadres leave it: typed into WPS, inline strings, the header
/// row lower down and its columns moved, full-width digits, a date as an
/// Excel serial, households on a last line, a row under no problem, a
/// stray cell on Excel's last row (1048576: a digit or two more and it is
/// past it).
const HAND_TYPED: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="3"><c r="B3" t="inlineStr"><is><t>序号1</t></is></c><c r="C3" t="inlineStr"><is><t>方面</t></is></c><c r="D3" t="inlineStr"><is><t>具体问题</t></is></c><c r="E3" t="inlineStr"><is><t>问题表现</t></is></c><c r="F3" t="inlineStr"><is><t>序号２</t></is></c><c r="G3" t="inlineStr"><is><t>对照排查发现具体问题描述</t></is></c><c r="H3" t="inlineStr"><is><t>对照排查发现问题整改措施</t></is></c><c r="I3" t="inlineStr"><is><t>整改时限</t></is></c><c r="J3" t="inlineStr"><is><t>责任单位</t></is></c><c r="K3" t="inlineStr"><is><t>整改结果</t></is></c><c r="L3" t="inlineStr"><is><t>是否销号</t></is></c></row>
<row r="4"><c r="D4" t="inlineStr"><is><t>１．干部业务能力和责任意识还需加强</t></is></c><c r="F4"><v>1</v></c><c r="G4" t="inlineStr"><is><t>村干部政策不熟
涉及农户：张*有</t></is></c><c r="H4" t="inlineStr"><is><t>集中培训</t></is></c><c r="I4"><v>45127</v></c><c r="J4" t="inlineStr"><is><t>村委会</t></is></c><c r="L4" t="inlineStr"><is><t>否</t></is></c></row>
<row r="5"><c r="F5" t="inlineStr"><is><t>２</t></is></c><c r="G5" t="inlineStr"><is><t>驻村干部不在岗</t></is></c><c r="H5" t="inlineStr"><is><t>严格考勤</t></is></c><c r="I5" t="inlineStr"><is><t>立行立改（7月10日）</t></is></c><c r="J5" t="inlineStr"><is><t>村委会</t></is></c><c r="L5" t="b"><v>1</v></c></row>
<row r="7"><c r="D7" t="inlineStr"><is><t>安全饮水政策落实不够到位</t></is></c><c r="G7" t="inlineStr"><is><t>经排查,无此类问题。</t></is></c><c r="H7" t="inlineStr"><is><t>已逐户核查</t></is></c></row>
<row r="8"><c r="D8" t="inlineStr"><is><t>9. 不存在</t></is></c><c r="G8" t="inlineStr"><is><t>某问题</t></is></c><c r="I8" t="inlineStr"><is><t>下个月</t></is></c><c r="L8" t="inlineStr"><is><t>也许</t></is></c></row>
<row r="9"><c r="G9" t="inlineStr"><is><t>无主的一行</t></is></c></row>
<row r="1048576"><c r="G1048576" t="inlineStr"><is><t>最后一行</t></is></c></row>
</sheetData></worksheet>
"#;

fn write(dir: &Path, files: &[(&str, Vec<u8>)]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    for (name, bytes) in files {
        fs::write(dir.join(name), bytes)?;
    }
    println!("{}: {} seeds", dir.display(), files.len());
    Ok(())
}

/// Texts as numbered seeds, `seed-00`, `seed-01`, …
fn write_texts(dir: &Path, texts: &[&str]) -> std::io::Result<()> {
    let names: Vec<String> = (0..texts.len()).map(|i| format!("seed-{i:02}")).collect();
    let files: Vec<(&str, Vec<u8>)> = names
        .iter()
        .zip(texts)
        .map(|(name, text)| (name.as_str(), text.as_bytes().to_vec()))
        .collect();
    write(dir, &files)
}
