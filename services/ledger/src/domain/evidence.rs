//! Evidence (佐证材料): photos, PDFs and office files. The type is judged by
//! the bytes, never by the name or the header the client sent.

/// How many leading bytes [`sniff`] needs to decide.
pub const SNIFF_BYTES: usize = 4096;

/// The content type of a file from its first bytes, if it is a kind we keep.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"\xFF\xD8\xFF") {
        Some("image/jpeg")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if head.len() >= 12
        && &head[4..8] == b"ftyp"
        && matches!(&head[8..12], b"heic" | b"heix" | b"mif1" | b"msf1")
    {
        Some("image/heic")
    } else if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        // OLE2: .doc, .xls, .ppt and WPS's .wps/.et/.dps.
        Some("application/x-ole-storage")
    } else if starts(b"PK\x03\x04") {
        zip_kind(head)
    } else {
        None
    }
}

/// Office Open XML (and OFD) files are zip archives; their first entries name
/// what they are.
fn zip_kind(head: &[u8]) -> Option<&'static str> {
    let has = |needle: &[u8]| head.windows(needle.len()).any(|window| window == needle);
    if has(b"word/") {
        Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    } else if has(b"xl/") {
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    } else if has(b"ppt/") {
        Some("application/vnd.openxmlformats-officedocument.presentationml.presentation")
    } else if has(b"OFD.xml") {
        Some("application/ofd")
    } else if has(b"[Content_Types].xml") || has(b"docProps/") {
        Some("application/vnd.openxmlformats-officedocument")
    } else {
        None
    }
}

/// A file name that is safe to store and to send back in a
/// `Content-Disposition`: the last path component, no control characters,
/// no leading dots, at most 200 characters; `evidence` when nothing is left.
pub fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '|' | ':' | '*' | '?'))
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_owned();
    if cleaned.is_empty() {
        "evidence".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Some("image/jpeg"));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(
            sniff(b"PK\x03\x04....[Content_Types].xml....word/document.xml")
                .map(|t| t.contains("wordprocessing")),
            Some(true)
        );
        assert_eq!(sniff(b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b"MZ\x90\0"), None);
        assert_eq!(sniff(b"PK\x03\x04 just a zip"), None);
    }

    #[test]
    fn file_names_cannot_climb_out() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(safe_file_name("照片 1.jpg"), "照片 1.jpg");
        assert_eq!(safe_file_name("a\"b\r\n.pdf"), "ab.pdf");
        assert_eq!(safe_file_name("../.."), "evidence");
        assert_eq!(safe_file_name(".htaccess"), "htaccess");
    }
}
