//! A fixed number of requests, for profiling a server per request (callgrind counts
//! instructions, which a timed load such as wrk cannot hold fixed):
//!
//! `req_load <addr> <connections> <requests> keepalive|close`
//!
//! `keepalive`: `<connections>` connections, each sending its share of the requests one after
//! the other; `close`: `<connections>` clients, each opening a new connection per request
//! (`Connection: close`). Every request is `GET /`, and every answer must be a 200; prints the
//! count and the rate.
use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads one response from `stream` into `buf` (which may hold the start of the next) and
/// returns whether it was a 200 and whether the server will close the connection.
async fn response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            while buf.len() < total {
                read_more(stream, buf).await?;
            }
            let ok = head.starts_with("http/1.1 200");
            buf.drain(..total);
            return Ok(ok);
        }
        read_more(stream, buf).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

async fn client(addr: SocketAddr, requests: usize, keepalive: bool) -> std::io::Result<usize> {
    let mut ok = 0;
    let mut buf = Vec::new();
    if keepalive {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        for _ in 0..requests {
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await?;
            ok += usize::from(response(&mut stream, &mut buf).await?);
        }
    } else {
        for _ in 0..requests {
            let mut stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await?;
            ok += usize::from(response(&mut stream, &mut buf).await?);
            buf.clear();
        }
    }
    Ok(ok)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: req_load <addr> <connections> <requests> keepalive|close";
    let [_, addr, connections, requests, mode] = &args[..] else {
        eprintln!("{usage}");
        std::process::exit(64);
    };
    let (Ok(addr), Ok(connections), Ok(requests)) = (
        addr.parse::<SocketAddr>(),
        connections.parse::<usize>(),
        requests.parse::<usize>(),
    ) else {
        eprintln!("{usage}");
        std::process::exit(64);
    };
    let keepalive = match mode.as_str() {
        "keepalive" => true,
        "close" => false,
        _ => {
            eprintln!("{usage}");
            std::process::exit(64);
        }
    };
    let started = Instant::now();
    let clients: Vec<_> = (0..connections)
        .map(|i| {
            let share = requests / connections + usize::from(i < requests % connections);
            tokio::spawn(client(addr, share, keepalive))
        })
        .collect();
    let mut ok = 0;
    for client in clients {
        match client.await {
            Ok(Ok(n)) => ok += n,
            Ok(Err(err)) => eprintln!("client failed: {err}"),
            Err(err) => eprintln!("client panicked: {err}"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{ok} of {requests} answered 200 in {secs:.2} s ({:.0}/s)",
        ok as f64 / secs
    );
    if ok != requests {
        std::process::exit(1);
    }
}
