//! Rolling restart: two `http_server` instances behind nginx under a steady wrk load; each is
//! stopped with SIGTERM and started again in turn. Counts what wrk saw fail.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc::{send, Proc};

/// One rolling-restart run's figures.
pub struct RollingRun {
    pub requests: u64,
    pub socket_errors: u64,
    pub non_2xx: u64,
    pub restart_ms: Vec<f64>,
    pub exit_codes: Vec<i32>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn get_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200")
}

fn start_app(bin: &Path, port: u16, state: &Path) -> Proc {
    let env = [
        ("PORT", port.to_string()),
        ("STATE_DIR", state.display().to_string()),
        ("LIFECYCLE_DRAIN_DELAY", "1s".to_owned()),
        ("LIFECYCLE_GRACE", "10s".to_owned()),
    ];
    Proc::start(bin, &env, "listening on")
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master must live to take its worker processes down with it.
        send(self.0.id() as i32, libc::SIGTERM);
        let _ = self.0.wait();
    }
}

fn start_nginx(dir: &Path, port: u16, upstreams: [u16; 2]) -> Nginx {
    let d = dir.display();
    let conf = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nuser root;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           upstream app {{\n    server 127.0.0.1:{a} max_fails=0;\n    server 127.0.0.1:{b} max_fails=0;\n    keepalive 64;\n  }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://app;\n\
               proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
               proxy_next_upstream error timeout http_502 http_503 http_504;\n      proxy_connect_timeout 1s;\n    }}\n  }}\n}}\n",
        a = upstreams[0],
        b = upstreams[1],
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
    let child = Command::new("nginx")
        .args([
            "-p",
            &d.to_string(),
            "-c",
            &dir.join("nginx.conf").display().to_string(),
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx (apt-get install nginx-light)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !get_ok(port) {
        assert!(
            Instant::now() < deadline,
            "nginx did not answer; see {d}/error.log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx(child)
}

fn parse_wrk(output: &str) -> (u64, u64, u64) {
    let number_after = |line: &str, key: &str| -> u64 {
        line.split(key)
            .nth(1)
            .and_then(|rest| {
                rest.trim_start()
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let mut requests = 0;
    let mut socket_errors = 0;
    let mut non_2xx = 0;
    for line in output.lines() {
        let line = line.trim();
        if line.contains("requests in") {
            requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        } else if line.starts_with("Socket errors:") {
            socket_errors = ["connect", "read", "write", "timeout"]
                .iter()
                .map(|key| number_after(line, key))
                .sum();
        } else if line.starts_with("Non-2xx or 3xx responses:") {
            non_2xx = number_after(line, "responses:");
        }
    }
    (requests, socket_errors, non_2xx)
}

pub fn run_once(bin: &Path, scratch: &Path, seconds: u64) -> RollingRun {
    let dir = scratch.join(format!("rolling-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["a", "b", "nginx"] {
        std::fs::create_dir_all(dir.join(sub)).expect("scratch dirs");
    }
    let ports = [free_port(), free_port()];
    let nginx_port = free_port();
    let mut apps = [
        start_app(bin, ports[0], &dir.join("a")),
        start_app(bin, ports[1], &dir.join("b")),
    ];
    let _nginx = start_nginx(&dir.join("nginx"), nginx_port, ports);

    let wrk = Command::new("wrk")
        .args([
            "-t2",
            "-c32",
            &format!("-d{seconds}s"),
            &format!("http://127.0.0.1:{nginx_port}/work?ms=5"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wrk (apt-get install wrk)");
    let started = Instant::now();
    let mut restart_ms = Vec::new();
    let mut exit_codes = Vec::new();
    for (i, at) in [seconds / 5, seconds / 2].into_iter().enumerate() {
        let when = started + Duration::from_secs(at);
        std::thread::sleep(when.saturating_duration_since(Instant::now()));
        let t0 = Instant::now();
        send(apps[i].pid(), libc::SIGTERM);
        let status = apps[i].wait().expect("instance exits");
        exit_codes.push(status.code().unwrap_or(-1));
        let sub = if i == 0 { "a" } else { "b" };
        apps[i] = start_app(bin, ports[i], &dir.join(sub));
        restart_ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let output = wrk.wait_with_output().expect("wrk output");
    let text = String::from_utf8_lossy(&output.stdout);
    let (requests, socket_errors, non_2xx) = parse_wrk(&text);
    let _ = std::fs::remove_dir_all(&dir);
    RollingRun {
        requests,
        socket_errors,
        non_2xx,
        restart_ms,
        exit_codes,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_wrk_summary() {
        let out = "  12345 requests in 20.00s, 1.2MB read\n  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 7\n";
        assert_eq!(super::parse_wrk(out), (12345, 10, 7));
    }
}
