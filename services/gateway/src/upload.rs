//! Files that arrive in a request (evidence, a hand-in report, a workbook)
//! and leave in an answer: streamed chunk by chunk to the ledger, never held
//! whole, with the size limit enforced as they arrive.

use axum::extract::Request;
use axum::http::header;
use futures::StreamExt as _;
use zhenggai_common::ErrorCode;

use crate::error::{ApiError, ApiResult};

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("files here are limited to {limit} bytes"),
    )
}

/// What a client said of a file it uploads.
pub(crate) struct Upload {
    pub file_name: String,
    pub declared_type: String,
}

/// The chunks of an uploaded file, as they arrive.
pub(crate) type Chunks<'a> = futures::stream::BoxStream<'a, ApiResult<axum::body::Bytes>>;

/// Hands an uploaded file to `send` chunk by chunk, whether it came as
/// `multipart/form-data` (field `file`) or as the raw body (its name in
/// `?file_name=`). A declared length over `limit` is refused at once.
pub(crate) async fn with_upload<R>(
    request: Request,
    file_name: Option<String>,
    limit: u64,
    send: impl for<'a> FnOnce(Upload, Chunks<'a>) -> futures::future::BoxFuture<'a, ApiResult<R>>,
) -> ApiResult<R> {
    use axum::extract::FromRequest as _;
    let declared_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit + 64 * 1024) {
        return Err(too_large(limit));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = axum::extract::Multipart::from_request(request, &())
            .await
            .map_err(|error| ApiError::new(ErrorCode::MalformedBody, error.body_text()))?;
        let field = loop {
            match multipart.next_field().await {
                Ok(Some(field)) if field.name() == Some("file") || field.file_name().is_some() => {
                    break field;
                }
                Ok(Some(_)) => continue,
                Ok(None) => return Err(ApiError::invalid("the form has no file field")),
                Err(error) => {
                    return Err(ApiError::new(ErrorCode::MalformedBody, error.body_text()));
                }
            }
        };
        let upload = Upload {
            file_name: field.file_name().unwrap_or_default().to_owned(),
            declared_type: field.content_type().unwrap_or_default().to_owned(),
        };
        let chunks = field.map(|chunk| {
            chunk.map_err(|error| ApiError::new(ErrorCode::MalformedBody, error.body_text()))
        });
        send(upload, Box::pin(chunks)).await
    } else {
        let chunks = request.into_body().into_data_stream().map(|chunk| {
            chunk.map_err(|error| ApiError::new(ErrorCode::MalformedBody, error.to_string()))
        });
        let upload = Upload {
            file_name: file_name.unwrap_or_default(),
            declared_type: content_type,
        };
        send(upload, Box::pin(chunks)).await
    }
}

/// Feeds a file to a client-streaming call: `header` first, then the chunks
/// (wrapped by `chunk`) in pieces of 64 KiB. On a broken or oversize body
/// the call is dropped unfinished, so the service keeps nothing.
pub(crate) async fn stream_file<M, R, F>(
    header: M,
    chunk: fn(Vec<u8>) -> M,
    chunks: Chunks<'_>,
    limit: u64,
    call: impl FnOnce(tokio_stream::wrappers::ReceiverStream<M>) -> F,
) -> ApiResult<R>
where
    M: Send + 'static,
    F: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
{
    let (sink, source) = tokio::sync::mpsc::channel::<M>(4);
    let call = call(tokio_stream::wrappers::ReceiverStream::new(source));
    let feed = async move {
        let mut chunks = chunks;
        if sink.send(header).await.is_err() {
            return Ok(());
        }
        let mut size = 0_u64;
        while let Some(bytes) = chunks.next().await {
            let bytes = bytes?;
            size += bytes.len() as u64;
            if size > limit {
                return Err(too_large(limit));
            }
            for piece in bytes.chunks(64 * 1024) {
                if sink.send(chunk(piece.to_vec())).await.is_err() {
                    // The service answered early (a refusal); its answer tells why.
                    return Ok(());
                }
            }
        }
        Ok(())
    };
    tokio::pin!(call);
    tokio::pin!(feed);
    let mut fed = false;
    loop {
        tokio::select! {
            answer = &mut call => return Ok(answer?.into_inner()),
            result = &mut feed, if !fed => {
                // On an error the call is dropped unfinished: the service
                // sees a broken stream and rolls the upload back.
                result?;
                fed = true;
            }
        }
    }
}

/// `attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266/8187).
pub(crate) fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}
