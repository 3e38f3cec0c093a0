//! Scenarios on whole processes: idle shutdown latency, and the drain of 10,000 requests.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::proc::Proc;
use crate::stats::{Row, Samples};

/// A contender binary and how to configure it.
pub struct Contender {
    pub name: &'static str,
    pub bin: PathBuf,
    pub env: Vec<(&'static str, String)>,
}

/// Idle shutdown latency: SIGTERM to reaped process, idle service, `runs` times each,
/// interleaved so that drift in the machine's load hits every contender alike.
pub fn idle(contenders: &[Contender], runs: usize, slow_runs: usize) -> Vec<Row> {
    let mut samples: Vec<Samples> = vec![Samples::default(); contenders.len()];
    for run in 0..runs {
        for (i, contender) in contenders.iter().enumerate() {
            // The seed orchestration sleeps the whole grace period: fewer runs say as much.
            if contender.name.starts_with("seed") && run >= slow_runs {
                continue;
            }
            let mut proc = Proc::start(&contender.bin, &contender.env, "ready ");
            std::thread::sleep(Duration::from_millis(50)); // let start-up settle
            let (took, status) = proc.signal_and_time_exit(libc::SIGTERM);
            assert!(
                status.code().is_some() || contender.name == "floor",
                "{}: {status:?}",
                contender.name
            );
            samples[i].push_ms(took);
        }
    }
    contenders
        .iter()
        .zip(samples)
        .map(|(c, samples)| Row {
            name: c.name.to_owned(),
            samples,
            extra: vec![],
        })
        .collect()
}

/// One request: connect and send (holding a permit of `gate`, so connections open in waves the
/// accept backlog can take), then read to EOF. Returns whether the answer was `200` and when it
/// ended.
async fn request(
    addr: Arc<str>,
    path: Arc<str>,
    gate: Arc<tokio::sync::Semaphore>,
) -> (bool, Instant) {
    let attempt = async {
        let permit = gate.acquire().await.expect("open semaphore");
        let mut stream = TcpStream::connect(&*addr).await?;
        let head = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        drop(permit);
        let mut answer = Vec::with_capacity(256);
        stream.read_to_end(&mut answer).await?;
        Ok::<bool, std::io::Error>(answer.starts_with(b"HTTP/1.1 200"))
    };
    let ok = match attempt.await {
        Ok(ok) => ok,
        Err(err) => {
            if std::env::var_os("BENCH_DEBUG").is_some() {
                eprintln!("request failed: {err}");
            }
            false
        }
    };
    (ok, Instant::now())
}

async fn inflight(addr: &str) -> usize {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return 0;
    };
    let head = "GET /inflight HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer
        .rsplit("\r\n\r\n")
        .next()
        .and_then(|body| body.trim().parse().ok())
        .unwrap_or(0)
}

/// Per run of the drain scenario.
pub struct DrainRun {
    pub failed: usize,
    pub exit_after_last_response: Duration,
    pub exit_after_signal: Duration,
    pub all_in_flight: bool,
}

/// Drain: `requests` in flight, each with 200 ms left when SIGTERM arrives. Counts failures and
/// times the exit past the last response.
///
/// The requests are held by the server until every one is in flight (polled, bounded), then
/// released to answer 200 ms later, and SIGTERM follows at once.
pub fn drain_once(
    rt: &tokio::runtime::Runtime,
    contender: &Contender,
    requests: usize,
) -> DrainRun {
    let mut proc = Proc::start(&contender.bin, &contender.env, "ready ");
    let addr: Arc<str> = proc.addr.clone().into();
    let pid = proc.pid();
    let (results, signalled, all_in_flight) = rt.block_on(async {
        let path: Arc<str> = "/work?held=1".into();
        let gate = Arc::new(tokio::sync::Semaphore::new(128));
        let tasks: Vec<_> = (0..requests)
            .map(|_| tokio::spawn(request(addr.clone(), path.clone(), gate.clone())))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut all_in_flight = false;
        while Instant::now() < deadline {
            if inflight(&addr).await >= requests {
                all_in_flight = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if std::env::var_os("BENCH_DEBUG").is_some() {
            eprintln!(
                "{}: in flight before SIGTERM: {}",
                contender.name,
                inflight(&addr).await
            );
        }
        let at = lifecycle_bench::unix_ms() + 200;
        let released = request(
            addr.clone(),
            format!("/release?at={at}").into(),
            gate.clone(),
        )
        .await;
        assert!(released.0, "{}: /release failed", contender.name);
        crate::proc::send(pid, libc::SIGTERM);
        let signalled = Instant::now();
        let mut results = Vec::with_capacity(requests);
        for task in tasks {
            results.push(task.await.unwrap_or((false, Instant::now())));
        }
        (results, signalled, all_in_flight)
    });
    let status = proc.wait();
    let exited = Instant::now();
    assert!(status.is_some(), "{} did not exit", contender.name);
    let failed = results.iter().filter(|(ok, _)| !ok).count();
    let last = results.iter().map(|(_, at)| *at).max().unwrap_or(signalled);
    DrainRun {
        failed,
        exit_after_last_response: exited.saturating_duration_since(last),
        exit_after_signal: exited - signalled,
        all_in_flight,
    }
}

pub fn drain(contenders: &[Contender], runs: usize, requests: usize) -> Vec<Row> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let mut collected: Vec<(Samples, Samples, usize, usize)> =
        (0..contenders.len()).map(|_| Default::default()).collect();
    for _ in 0..runs {
        for (i, contender) in contenders.iter().enumerate() {
            let run = drain_once(&rt, contender, requests);
            let entry = &mut collected[i];
            entry.0.push_ms(run.exit_after_last_response);
            entry.1.push_ms(run.exit_after_signal);
            entry.2 += run.failed;
            entry.3 += usize::from(!run.all_in_flight);
        }
    }
    contenders
        .iter()
        .zip(collected)
        .map(|(c, (past_last, after_signal, failed, short))| Row {
            name: c.name.to_owned(),
            extra: vec![
                format!("{failed} of {}", runs * requests),
                format!("{}", crate::stats::fmt(after_signal.median())),
                if short == 0 {
                    "all".to_owned()
                } else {
                    format!("{short} runs short")
                },
            ],
            samples: past_last,
        })
        .collect()
}
