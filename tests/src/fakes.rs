//! Real protocol fakes of what lies outside the product: an SMTP server
//! that keeps what it receives, and an HTTP receiver for webhooks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

/// A mail as the sink received it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed.
    pub data: String,
}

/// An SMTP server on loopback speaking enough of RFC 5321 for a client
/// without TLS or authentication.
#[derive(Clone)]
pub struct SmtpSink {
    pub address: SocketAddr,
    pub mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP");
        let address = listener.local_addr().expect("address");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = mails.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = serve_smtp(socket, kept).await;
                });
            }
        });
        Self { address, mails }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("mails").clone()
    }
}

async fn serve_smtp(
    socket: tokio::net::TcpStream,
    kept: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP\r\n").await?;
    let mut mail = Mail::default();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => {
                write
                    .write_all(b"250-sink.test\r\n250 8BITMIME\r\n")
                    .await?
            }
            "MAIL" => {
                mail = Mail::default();
                mail.from = command[10..].trim().to_owned();
                write.write_all(b"250 OK\r\n").await?
            }
            "RCPT" => {
                mail.to.push(command[8..].trim().to_owned());
                write.write_all(b"250 OK\r\n").await?
            }
            "DATA" => {
                write.write_all(b"354 go on\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                mail.data = data;
                kept.lock().expect("mails").push(std::mem::take(&mut mail));
                write.write_all(b"250 kept\r\n").await?
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            "RSET" | "NOOP" => write.write_all(b"250 OK\r\n").await?,
            _ => write.write_all(b"502 not here\r\n").await?,
        }
    }
}

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: serde_json::Value,
    pub raw: Vec<u8>,
}

/// An HTTP receiver on loopback: `/flaky…` paths fail twice then succeed,
/// `/dead…` always fail, `/slow…` take 20 ms, `/wecom…` answer as the
/// 企业微信 robot does, `/redirect…` send the client on to `/landed` (302),
/// the rest answer 200.
#[derive(Clone)]
pub struct Receiver {
    pub address: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let address = listener.local_addr().expect("address");
        let received = Arc::new(Mutex::new(Vec::<Received>::new()));
        let kept = received.clone();
        let calls = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                let calls = calls.clone();
                async move {
                    let path = uri.path().to_owned();
                    let seen = {
                        let mut calls = calls.lock().expect("calls");
                        let n = calls.entry(path.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    kept.lock().expect("received").push(Received {
                        path: path.clone(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                            })
                            .collect(),
                        body: serde_json::from_slice(&body).unwrap_or_default(),
                        raw: body.to_vec(),
                    });
                    if path.starts_with("/slow") {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    let status =
                        if path.starts_with("/dead") || (path.starts_with("/flaky") && seen <= 2) {
                            500
                        } else if path.starts_with("/redirect") {
                            302
                        } else {
                            200
                        };
                    let body = if path.starts_with("/wecom") {
                        r#"{"errcode":0,"errmsg":"ok"}"#
                    } else {
                        "{}"
                    };
                    (
                        axum::http::StatusCode::from_u16(status).expect("status"),
                        [(axum::http::header::LOCATION, "/landed")],
                        body,
                    )
                }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { address, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("received").clone()
    }
}
