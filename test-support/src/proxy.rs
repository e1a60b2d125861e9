//! A tiny HTTP/1.1 proxy on 127.0.0.1 that forwards each request to the server and can lose the
//! answer: the server has done the work, the client never hears of it (the kernel here has no
//! netem, so faults are injected at the application level).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which answers to lose.
#[derive(Debug, Default)]
pub struct Faults {
    /// Answers to `POST /api/v1/sync/push` still to drop.
    pub drop_push_answers: AtomicU32,
    /// Push answers dropped so far.
    pub dropped: AtomicU32,
    /// Push requests forwarded so far.
    pub pushes_forwarded: AtomicU32,
    /// Answers to `PUT /api/v1/photos/…` (a photo chunk) still to drop.
    pub drop_chunk_answers: AtomicU32,
    /// Chunk answers dropped so far.
    pub dropped_chunks: AtomicU32,
}

/// Takes one from `budget` if any is left.
fn take(budget: &AtomicU32) -> bool {
    budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

pub struct Proxy {
    pub addr: SocketAddr,
    pub faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let faults = Arc::new(Faults::default());
        let shared = faults.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let faults = shared.clone();
                tokio::spawn(async move {
                    let _ = serve_connection(client, upstream, faults).await;
                });
            }
        });
        Proxy { addr, faults, task }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// One HTTP message: the head (through the blank line) and the body.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Message {
    fn first_line(&self) -> String {
        let end = self
            .head
            .iter()
            .position(|b| *b == b'\r')
            .unwrap_or(self.head.len());
        String::from_utf8_lossy(&self.head[..end]).into_owned()
    }
}

/// Reads one message with a `Content-Length` or chunked body; `None` at a clean end of stream.
async fn read_message(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<Option<Message>> {
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head: Vec<u8> = buffer.drain(..head_end).collect();
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let header = |name: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_owned())
        })
    };
    let body = if let Some(length) = header("content-length") {
        let length: usize = length.parse().unwrap_or(0);
        while buffer.len() < length {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        buffer.drain(..length).collect()
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        // Keep the chunked framing as is; the message ends with the zero-length chunk.
        loop {
            if let Some(i) = buffer.windows(5).position(|w| w == b"0\r\n\r\n") {
                break buffer.drain(..i + 5).collect();
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
    } else {
        Vec::new()
    };
    Ok(Some(Message { head, body }))
}

async fn serve_connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    faults: Arc<Faults>,
) -> std::io::Result<()> {
    let mut client_buffer = Vec::new();
    while let Some(request) = read_message(&mut client, &mut client_buffer).await? {
        let line = request.first_line();
        let is_push = line.starts_with("POST /api/v1/sync/push");
        let is_chunk = line.starts_with("PUT /api/v1/photos/");
        let mut server = TcpStream::connect(upstream).await?;
        server.write_all(&request.head).await?;
        server.write_all(&request.body).await?;
        let mut server_buffer = Vec::new();
        let Some(response) = read_message(&mut server, &mut server_buffer).await? else {
            return Ok(());
        };
        if is_push {
            faults.pushes_forwarded.fetch_add(1, Ordering::SeqCst);
            if take(&faults.drop_push_answers) {
                // The server committed and answered; the phone sees the connection die.
                faults.dropped.fetch_add(1, Ordering::SeqCst);
                return Ok(());
            }
        }
        if is_chunk && take(&faults.drop_chunk_answers) {
            // The chunk is stored; its acknowledgement is lost.
            faults.dropped_chunks.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
        client.write_all(&response.head).await?;
        client.write_all(&response.body).await?;
    }
    Ok(())
}
