//! Scopes on paused Tokio time: a scope stops alone and its siblings and the service go on;
//! join returns the failures of the scope and its children in the order they came, waits for
//! scopes made while it waits, and refuses a join from inside (an async or a blocking task's);
//! abort names what it cut; names are paths in the report; failures go up by default and stay
//! local in a scope that keeps them; a scope in a stage stops in that stage's turn; the deadline
//! names a stuck task by path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lifecycle::exit::{EXIT_ABORTED, EXIT_APP_FAILED, EXIT_OK};
use lifecycle::tasks::JoinError;
use lifecycle::Trigger;
use lifecycle::{Config, Sequence, State};
use tokio::time::{sleep, Instant};
use tracing::instrument::WithSubscriber;

const MS: Duration = Duration::from_millis(1);

/// What happened, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn note(&self, what: impl Into<String>) {
        self.0.lock().unwrap().push(what.into());
    }
    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test(start_paused = true)]
async fn a_local_shutdown_stops_the_scope_and_leaves_its_siblings_and_the_service_running() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let log = Log::default();
    let pool = lc.scope("pool");
    let (w1, w2) = (pool.scope("w1"), pool.scope("w2"));
    for worker in [&w1, &w2] {
        let (token, log, path) = (worker.token(), log.clone(), worker.path().to_owned());
        worker.task("job").spawn(async move {
            token.cancelled().await;
            log.note(format!("{path} stopped"));
        });
    }

    w1.shutdown();
    assert_eq!(w1.join().await, Ok(()));
    sleep(Duration::from_secs(60)).await;
    assert_eq!(log.entries(), ["pool/w1 stopped"]);
    assert_eq!((w1.running(), w2.running(), pool.running()), (0, 1, 1));
    assert!(!w2.token().is_cancelled());
    assert!(!lc.token().is_cancelled());
    assert_eq!(lc.state(), State::Starting); // not triggered

    // The drain stops the sibling with everything else.
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(log.entries(), ["pool/w1 stopped", "pool/w2 stopped"]);
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn join_returns_the_failures_of_the_scope_and_its_children_in_the_order_they_came() {
    let lc = Sequence::new(Config::new()).handle();
    let batch = lc.scope("batch");
    let parts = batch.scope("parts");
    // Spawned in another order than they fail: the order is the failures'.
    parts.task("late").spawn(async {
        sleep(30 * MS).await;
        Err::<(), _>("third")
    });
    batch.task("b").spawn(async {
        sleep(20 * MS).await;
        Err::<(), _>("second")
    });
    batch.task("ok").spawn(async { sleep(5 * MS).await });
    parts.task("a").spawn(async {
        sleep(10 * MS).await;
        if true {
            panic!("first");
        }
    });
    let started = Instant::now();
    let Err(JoinError::Failed(failures)) = batch.join().await else {
        panic!("the join should return the failures");
    };
    assert_eq!(started.elapsed(), 30 * MS); // waited for every task, the child's included
    let tasks: Vec<_> = failures.iter().map(|f| f.task.as_str()).collect();
    assert_eq!(tasks, ["batch/parts/a", "batch/b", "batch/parts/late"]);
    assert!(failures[0].first.is_panic());
    assert!(!failures[1].first.is_panic());
    // Taken: a second join has nothing to return.
    assert_eq!(batch.join().await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn abort_cuts_the_scope_and_its_children_now_and_names_each_task_by_path() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let upstream = lc.scope("upstream");
    upstream.task("reader").spawn(std::future::pending::<()>());
    upstream
        .scope("eu-1")
        .task("writer")
        .spawn(std::future::pending::<()>());
    let done = upstream.task("done").spawn(async {});
    done.await.unwrap();
    let sibling = lc.scope("other");
    sibling.task("keeps").spawn(std::future::pending::<()>());

    let mut cut: Vec<_> = upstream
        .abort()
        .await
        .into_iter()
        .map(|task| (task.name, task.stopped))
        .collect();
    cut.sort();
    assert_eq!(
        cut,
        [
            ("upstream/eu-1/writer".to_owned(), true),
            ("upstream/reader".to_owned(), true)
        ]
    );
    assert_eq!(upstream.running(), 0);
    assert_eq!(sibling.running(), 1);
    assert!(upstream.token().is_cancelled());
    assert!(!lc.token().is_cancelled());
    sibling.abort().await;
    // The deadline's list is the deadline's: what a scope's abort cut is not in it.
    let report = sequence.run_without_signals(async {}).await;
    assert!(report.tasks_aborted.is_empty());
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn a_task_in_nested_scopes_is_named_by_its_path_in_the_report() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let eu = lc.scope("upstream").scope("eu-1");
    eu.task("reader")
        .spawn(async { Err::<(), _>("connection reset") });
    let at = line!() + 1;
    eu.spawn(async { Err::<(), _>("unnamed") });
    let report = sequence.run_without_signals(async {}).await;
    let tasks: Vec<_> = report
        .task_failures
        .iter()
        .map(|f| f.task.clone())
        .collect();
    assert_eq!(
        tasks,
        [
            "upstream/eu-1/reader".to_owned(),
            format!("upstream/eu-1/task spawned at lifecycle/tests/scopes.rs:{at}")
        ]
    );
    let text = report.to_string();
    assert!(
        text.contains("task `upstream/eu-1/reader` failed: connection reset"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_critical_failure_in_a_scope_goes_up_by_default_and_shuts_the_service_down() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    lc.scope("pool")
        .scope("w1")
        .task("job")
        .critical()
        .spawn(async { Err::<(), _>("disk full") });
    let handle = lc.clone();
    // Bounded: were the failure not sent up, nothing would trigger the shutdown.
    let main =
        async move { tokio::time::timeout(Duration::from_secs(60), handle.cancelled()).await };
    let report = sequence.run_without_signals(main).await;
    assert!(
        matches!(&report.trigger, Trigger::TaskFailed { task, .. } if task == "pool/w1/job"),
        "{:?}",
        report.trigger
    );
    assert_eq!(report.task_failures[0].task, "pool/w1/job");
    assert_eq!(report.code(), EXIT_APP_FAILED);
}

#[tokio::test(start_paused = true)]
async fn a_scope_that_keeps_failures_shuts_itself_down_and_hands_them_to_its_join() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let upstream = lc.scope("upstream").keep_failures();
    let stopped = Arc::new(AtomicBool::new(false));
    let (token, flag) = (upstream.token(), Arc::clone(&stopped));
    upstream.task("reader").spawn(async move {
        token.cancelled().await;
        flag.store(true, Ordering::SeqCst);
    });
    upstream
        .scope("eu-1")
        .task("heartbeat")
        .critical()
        .spawn(async {
            sleep(10 * MS).await;
            Err::<(), _>("no pong")
        });
    let other = lc.scope("other");

    // Bounded: were the failure not kept, nothing would stop the reader.
    let joined = tokio::time::timeout(Duration::from_secs(60), upstream.join()).await;
    let Ok(Err(JoinError::Failed(failures))) = joined else {
        panic!("the join should return the heartbeat's failure: {joined:?}");
    };
    assert_eq!(failures[0].task, "upstream/eu-1/heartbeat");
    assert!(failures[0].kept && failures[0].critical);
    assert!(stopped.load(Ordering::SeqCst)); // the keeper was shut down...
    assert!(!other.token().is_cancelled()); // ...not its sibling
    assert_eq!(lc.state(), State::Starting); // not triggered // ...nor the service

    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(report.trigger, Trigger::MainReturned);
    assert!(
        report.task_failures.is_empty(),
        "{:?}",
        report.task_failures
    );
    assert_eq!(report.task_failures_handled, 1);
    assert_eq!(report.code(), EXIT_OK);
    let text = report.to_string();
    assert!(
        text.contains("handled       1 task failures (kept by scopes, taken by their join)"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_kept_failure_that_no_join_took_is_in_the_report() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let upstream = lc.scope("upstream").keep_failures();
    upstream
        .task("heartbeat")
        .critical()
        .spawn(async { Err::<(), _>("no pong") });
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(report.task_failures.len(), 1);
    let failure = &report.task_failures[0];
    assert_eq!(failure.task, "upstream/heartbeat");
    assert!(failure.kept);
    assert_eq!(report.task_failures_handled, 0);
    // It shut its scope down, not the service: the code says what the service did.
    assert_eq!(report.code(), EXIT_OK);
    let text = report.to_string();
    assert!(
        text.contains("kept critical task (no join took it) `upstream/heartbeat` failed: no pong"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_scope_in_a_stage_stops_in_that_stages_turn() {
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(10)));
    let lc = sequence.handle();
    let log = Log::default();
    let writers = lc.stage(1).scope("writers");
    let http = lc.stage(0).scope("http");
    let unstaged = lc.scope("workers");
    for (scope, takes) in [(&writers, 30), (&http, 20), (&unstaged, 10)] {
        let (token, log, path) = (scope.token(), log.clone(), scope.path().to_owned());
        scope.task("t").spawn(async move {
            token.cancelled().await;
            log.note(format!("{path} cancelled"));
            sleep(takes * MS).await;
            log.note(format!("{path} done"));
        });
    }
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(
        log.entries(),
        [
            "workers cancelled",
            "workers done",
            "http cancelled",
            "http done",
            "writers cancelled",
            "writers done"
        ]
    );
    let stages: Vec<_> = report.stages.iter().map(|s| (s.stage, s.took)).collect();
    assert_eq!(
        stages,
        [(None, 10 * MS), (Some(0), 20 * MS), (Some(1), 30 * MS)]
    );
    assert_eq!(report.code(), EXIT_OK);
}

#[tokio::test(start_paused = true)]
async fn the_grace_deadline_names_a_stuck_task_by_its_path() {
    let sequence = Sequence::new(Config::new().with_grace(Duration::from_secs(1)));
    let lc = sequence.handle();
    lc.scope("upstream")
        .scope("eu-1")
        .task("reader")
        .spawn(std::future::pending::<()>());
    lc.stage(2)
        .scope("flush")
        .task("writer")
        .spawn(std::future::pending::<()>());
    let report = sequence.run_without_signals(async {}).await;
    let mut names: Vec<_> = report
        .tasks_aborted
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["flush/writer", "upstream/eu-1/reader"]);
    assert_eq!(report.code(), EXIT_ABORTED);
    let text = report.to_string();
    assert!(text.contains("upstream/eu-1/reader"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_task_joining_its_own_scope_gets_from_inside_instead_of_waiting_for_itself() {
    let lc = Sequence::new(Config::new()).handle();
    let upstream = lc.scope("upstream");
    let scope = upstream.clone();
    let (send, joined) = tokio::sync::oneshot::channel();
    upstream.scope("eu-1").task("manager").spawn(async move {
        let _ = send.send(scope.join().await);
    });
    let joined = tokio::time::timeout(Duration::from_secs(1), joined)
        .await
        .expect("the join from inside returned at once")
        .unwrap();
    assert_eq!(
        joined,
        Err(JoinError::FromInside {
            task: "upstream/eu-1/manager".to_owned()
        })
    );
    // From outside, the same scope joins.
    assert_eq!(upstream.join().await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_join_waits_for_a_scope_made_while_it_waits() {
    let lc = Sequence::new(Config::new()).handle();
    let pool = lc.scope("pool");
    let finished = Arc::new(AtomicBool::new(false));
    let (inner, flag) = (pool.clone(), Arc::clone(&finished));
    pool.task("grower").spawn(async move {
        sleep(10 * MS).await;
        inner.scope("w9").task("job").spawn(async move {
            sleep(100 * MS).await;
            flag.store(true, Ordering::SeqCst);
        });
    });
    let started = Instant::now();
    assert_eq!(pool.join().await, Ok(()));
    assert_eq!(started.elapsed(), 110 * MS);
    assert!(finished.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn the_failures_of_many_finished_scopes_nobody_holds_reach_their_parents_join() {
    let lc = Sequence::new(Config::new()).handle();
    let jobs = lc.scope("jobs").keep_failures();
    // A scope per job, its handle dropped: the parent's list of children is compacted as it
    // grows, and what the dropped ones kept must still reach the parent's join.
    for job in 0..200 {
        let scope = jobs.scope(&format!("job-{}", job % 2));
        let handle = scope.task("run").spawn(async move {
            if job % 2 == 1 {
                Err::<(), _>(format!("job {job} failed"))
            } else {
                Ok(())
            }
        });
        handle.await.unwrap().ok();
    }
    let Err(JoinError::Failed(failures)) = jobs.join().await else {
        panic!("the join should return the failures");
    };
    let counts: Vec<_> = failures
        .iter()
        .map(|f| (f.task.as_str(), f.count))
        .collect();
    assert_eq!(counts, [("jobs/job-1/run", 100)]);
    assert_eq!(failures[0].first.to_string(), "job 1 failed");
    assert_eq!(failures[0].last.to_string(), "job 199 failed");
}

#[tokio::test(start_paused = true)]
async fn kept_failures_beyond_the_reports_cap_are_counted_not_lost() {
    let sequence = Sequence::new(Config::new());
    let lc = sequence.handle();
    let jobs = lc.scope("jobs").keep_failures();
    for job in 0..150 {
        jobs.task(format!("job-{job}"))
            .spawn(async { Err::<(), _>("failed") });
    }
    let report = sequence.run_without_signals(async {}).await;
    assert_eq!(report.task_failures.len(), 100);
    assert!(report.task_failures.iter().all(|f| f.kept));
    assert_eq!(report.task_failures_other, 50);
    assert_eq!(report.code(), EXIT_OK);
}

#[test]
fn a_scope_moves_into_any_task_and_its_join_error_into_any_error_box() {
    fn is_shareable<T: Clone + Send + Sync + 'static>() {}
    fn is_error<T: std::error::Error + Send + Sync + 'static>() {}
    is_shareable::<lifecycle::Scope>();
    is_error::<JoinError>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocking_task_joining_its_own_scope_gets_from_inside_instead_of_waiting_for_itself() {
    // Real time: a running blocking task holds paused time still. Before C5 covered blocking
    // tasks this join waited for itself; the 5 s bound only keeps the test from hanging then.
    let lc = Sequence::new(Config::new()).handle();
    let upstream = lc.scope("upstream");
    let scope = upstream.clone();
    let runtime = tokio::runtime::Handle::current();
    let started = std::time::Instant::now();
    let joined = upstream
        .scope("eu-1")
        .task("loader")
        .spawn_blocking(move || {
            Ok::<_, std::io::Error>(runtime.block_on(async {
                tokio::select! {
                    joined = scope.join() => Some(joined),
                    () = sleep(Duration::from_secs(5)) => None,
                }
            }))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        joined,
        Some(Err(JoinError::FromInside {
            task: "upstream/eu-1/loader".to_owned()
        }))
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // From outside, the same scope joins.
    assert_eq!(upstream.join().await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_join_error_prints_its_failure_and_each_cause_once() {
    let lc = Sequence::new(Config::new()).handle();
    let import = lc.scope("import");
    import.task("loader").spawn(async {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no file `rows.csv`");
        Err::<(), _>(Reading(missing))
    });
    let err = import.join().await.unwrap_err();
    assert_eq!(err.to_string(), "task `import/loader` failed: reading rows");
    let chained = "task `import/loader` failed: reading rows: no file `rows.csv`";
    assert_eq!(format!("{err:#}"), chained);
    // What `anyhow`'s `{:#}` prints: the message, then every `source()`.
    let mut walked = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(error) = cause {
        walked = format!("{walked}: {error}");
        cause = error.source();
    }
    assert_eq!(walked, chained);
}

/// An error with a cause.
#[derive(Debug)]
struct Reading(std::io::Error);

impl std::fmt::Display for Reading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reading rows")
    }
}

impl std::error::Error for Reading {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn an_async_task_joining_its_own_scope_at_once_gets_from_inside_though_spawned_off_the_runtime() {
    // Real time, two workers: spawned from a thread that is not a worker, a task can start on a
    // worker before its spawner has listed it. Its join then found no task of the scope running
    // here and waited for itself (before the fix: "24 of 300 timed out"); the 200 ms bound only
    // keeps the test from hanging then.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lc = runtime.block_on(async { Sequence::new(Config::new()).handle() });
    let spawners: Vec<_> = (0..300)
        .map(|i| {
            let scope = lc.scope(&format!("s{i}"));
            let handle = runtime.handle().clone();
            std::thread::spawn(move || {
                let _inside = handle.enter();
                let own = scope.clone();
                // A subscriber that keeps nothing: the 300 joins' error lines stay off the output.
                let quiet = tracing::Dispatch::new(Quiet);
                let task = scope.task("t").spawn(
                    async move {
                        let joined = tokio::time::timeout(200 * MS, own.join()).await;
                        Ok::<_, std::io::Error>(joined)
                    }
                    .with_subscriber(quiet),
                );
                (i, task)
            })
        })
        .collect();
    let outcomes = runtime.block_on(async {
        let mut outcomes = Vec::new();
        for spawner in spawners {
            let (i, task) = spawner.join().unwrap();
            outcomes.push((i, task.await.unwrap().unwrap()));
        }
        outcomes
    });
    let timed_out = outcomes
        .iter()
        .filter(|(_, joined)| joined.is_err())
        .count();
    assert_eq!(timed_out, 0, "{timed_out} of 300 timed out");
    for (i, joined) in outcomes {
        assert_eq!(
            joined,
            Ok(Err(JoinError::FromInside {
                task: format!("s{i}/t")
            }))
        );
    }
}

/// A `tracing` subscriber that records nothing.
struct Quiet;

impl tracing::Subscriber for Quiet {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
