//! Evidence uploads and downloads, streamed in both directions.

use futures::StreamExt as _;
use uuid::Uuid;
use zhenggai_common::Caller;
use zhenggai_proto::ledger::v1 as pb;

use super::{LedgerApi, Stream, convert, event_by, id_of};
use crate::domain::evidence::{SNIFF_BYTES, safe_file_name, sniff};
use crate::error::{LedgerError, Result};
use crate::storage;

/// Bytes per stored chunk.
const CHUNK_BYTES: usize = 256 * 1024;
/// Bytes per chunk message sent back on download.
const SEND_BYTES: usize = 64 * 1024;

/// A file received chunk by chunk into `tx`.
pub(super) struct ReceivedFile {
    pub size: u64,
    /// Sniffed from the first bytes.
    pub content_type: &'static str,
    pub sha256: Vec<u8>,
}

/// Receives the bytes after a stream's header: they go into chunk rows of
/// `tx` as they arrive; the type is sniffed from the first bytes; past
/// `limit` the caller drops the transaction and nothing is kept. `chunk`
/// takes a message's bytes (`None` for anything but a chunk).
pub(super) async fn receive_file<M>(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    limit: u64,
    stream: &mut tonic::Streaming<M>,
    chunk: impl Fn(M) -> Option<Vec<u8>>,
) -> Result<ReceivedFile> {
    let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buffer: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
    let mut content_type: Option<&'static str> = None;
    let mut size: u64 = 0;
    let mut n = 0;
    loop {
        let message = stream.message().await?;
        let last = message.is_none();
        if let Some(message) = message {
            let bytes = chunk(message)
                .ok_or_else(|| LedgerError::invalid("only the first message may carry a header"))?;
            size += bytes.len() as u64;
            if size > limit {
                return Err(LedgerError::TooLarge(format!(
                    "files are limited to {limit} bytes"
                )));
            }
            digest.update(&bytes);
            buffer.extend_from_slice(&bytes);
        }
        if content_type.is_none() && (buffer.len() >= SNIFF_BYTES || last) {
            content_type = Some(sniff(&buffer).ok_or_else(|| {
                LedgerError::UnsupportedType(
                    "files must be a photo (JPEG, PNG, GIF, WebP, HEIC), a PDF, an office file (Word, Excel, PowerPoint, WPS) or OFD".into(),
                )
            })?);
        }
        while buffer.len() >= CHUNK_BYTES || (last && !buffer.is_empty()) {
            let rest = buffer.split_off(buffer.len().min(CHUNK_BYTES));
            storage::insert_chunk(&mut *tx, id, n, &buffer).await?;
            buffer = rest;
            n += 1;
        }
        if last {
            break;
        }
    }
    if size == 0 {
        return Err(LedgerError::invalid("the file is empty"));
    }
    Ok(ReceivedFile {
        size,
        content_type: content_type.unwrap_or("application/octet-stream"),
        sha256: digest.finish().as_ref().to_vec(),
    })
}

/// A kept file's name and claimed type, made safe to store and send back.
pub(super) fn file_names(file_name: &str, declared_type: &str) -> (String, String) {
    let declared: String = declared_type
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    (safe_file_name(file_name), declared)
}

impl LedgerApi {
    /// Receives a file: the bytes go into chunk rows of one transaction as
    /// they arrive; the type is sniffed from the first bytes; past the limit
    /// the transaction is dropped and nothing is kept. The ledger is locked
    /// only at the end, to record the evidence and its digest in the history.
    pub(super) async fn upload_evidence(
        &self,
        caller: &Caller,
        mut stream: tonic::Streaming<pb::UploadEvidenceRequest>,
    ) -> Result<pb::Evidence> {
        use pb::upload_evidence_request::Part;
        let header = match stream.message().await? {
            Some(pb::UploadEvidenceRequest {
                part: Some(Part::Header(header)),
            }) => header,
            _ => {
                return Err(LedgerError::invalid(
                    "the first message must name the finding and the file",
                ));
            }
        };
        let finding_id = id_of("finding", &header.finding_id)?;
        let (finding, ledger) = self.visible_finding(caller, finding_id).await?;
        super::findings::require_owner(caller, &ledger)?;
        if !finding.state.is_editable() {
            return Err(LedgerError::Conflict(format!(
                "a {} finding takes no more evidence: what was submitted stays as it was",
                finding.state
            )));
        }
        let (file_name, declared_type) = file_names(&header.file_name, &header.declared_type);

        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await?;
        let file =
            receive_file(
                &mut tx,
                id,
                self.evidence_limit,
                &mut stream,
                |message| match message.part {
                    Some(Part::Chunk(bytes)) => Some(bytes),
                    _ => None,
                },
            )
            .await?;
        let (size, content_type, sha256) = (file.size, file.content_type, file.sha256);

        let now = self.clock.now();
        let mut ledger = storage::lock_ledger(&mut tx, ledger.id)
            .await?
            .ok_or_else(|| LedgerError::NotFound(format!("finding {finding_id}")))?;
        let finding = storage::lock_finding(&mut tx, finding_id)
            .await?
            .ok_or_else(|| LedgerError::NotFound(format!("finding {finding_id}")))?;
        if !finding.state.is_editable() {
            return Err(LedgerError::Conflict(format!(
                "the finding was {} meanwhile",
                finding.state
            )));
        }
        let row = storage::EvidenceRow {
            id,
            finding_id,
            file_name,
            declared_type,
            content_type: content_type.to_owned(),
            size: size as i64,
            sha256,
            uploaded_by: caller.username.clone(),
            uploaded_at: now,
        };
        storage::insert_evidence(&mut tx, &row).await?;
        let mut event = event_by(caller, "evidence_added", now);
        event.finding_id = Some(finding_id);
        event.details = serde_json::json!({
            "evidence_id": id, "file_name": row.file_name, "content_type": row.content_type,
            "size": size, "sha256": crate::domain::history::hex(&row.sha256),
        });
        storage::append_event(&mut tx, &mut ledger, event).await?;
        tx.commit().await?;
        tracing::info!(finding = %finding_id, evidence = %id, size, content_type, "evidence kept");
        Ok(convert::evidence(row))
    }

    pub(super) async fn download_evidence(
        &self,
        caller: &Caller,
        request: pb::DownloadEvidenceRequest,
    ) -> Result<Stream<pb::DownloadEvidenceResponse>> {
        use pb::download_evidence_response::Part;
        let finding_id = id_of("finding", &request.finding_id)?;
        let evidence_id = id_of("evidence", &request.evidence_id)?;
        self.visible_finding(caller, finding_id).await?;
        let evidence = storage::get_evidence(&self.pool, finding_id, evidence_id)
            .await?
            .ok_or_else(|| LedgerError::NotFound(format!("evidence {evidence_id}")))?;
        let (sink, source) = tokio::sync::mpsc::channel(2);
        let pool = self.pool.clone();
        tokio::spawn(async move { storage::stream_chunks(&pool, evidence_id, sink).await });
        let head = futures::stream::once(std::future::ready(Ok(pb::DownloadEvidenceResponse {
            part: Some(Part::Evidence(convert::evidence(evidence))),
        })));
        let chunks = tokio_stream::wrappers::ReceiverStream::new(source).flat_map(|chunk| {
            let messages: Vec<Result<pb::DownloadEvidenceResponse, tonic::Status>> = match chunk {
                Ok(bytes) => bytes
                    .chunks(SEND_BYTES)
                    .map(|piece| {
                        Ok(pb::DownloadEvidenceResponse {
                            part: Some(Part::Chunk(piece.to_vec())),
                        })
                    })
                    .collect(),
                Err(error) => vec![Err(error.into())],
            };
            futures::stream::iter(messages)
        });
        Ok(Box::pin(head.chain(chunks)))
    }
}
