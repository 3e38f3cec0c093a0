//! Profiling aid for the spawn-overhead scenario: `SPAWNER=tokio|lifecycle`, 1M tasks, 5 times.
use std::time::Instant;

fn main() {
    let which = std::env::var("SPAWNER").unwrap_or_default();
    for _ in 0..5 {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mode = which.clone();
        let took = rt.block_on(async move {
            let which = mode;
            tokio::spawn(async move {
                let started = Instant::now();
                if which == "lifecycle" {
                    let lc = lifecycle::Sequence::new(lifecycle::Config::new());
                    let hs: Vec<_> = (0..1_000_000usize)
                        .map(|i| lc.spawn(async move { std::hint::black_box(i) }))
                        .collect();
                    for h in hs {
                        let _ = h.await;
                    }
                } else {
                    let hs: Vec<_> = (0..1_000_000usize)
                        .map(|i| tokio::spawn(async move { std::hint::black_box(i) }))
                        .collect();
                    for h in hs {
                        let _ = h.await;
                    }
                }
                started.elapsed()
            })
            .await
            .unwrap()
        });
        println!("{took:?}");
    }
}
