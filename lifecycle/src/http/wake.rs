//! A future polled only when it woke its task itself: what a connection's task waits for
//! beside the connection (the stop token, the header-read clock) costs nothing at each of the
//! connection's own wake-ups.
//!
//! Polled at every wake-up, a token's `cancelled()` takes two locks that every connection of the
//! serve loop shares (the token's and its `Notify`'s), and a `Sleep` touches the timer: per
//! request, on every worker, on the same cache lines. Behind [`OnItsWake`], a wake-up that
//! came from the socket costs one load of the future's own flag.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::lock::lock;

/// Whether the future woke since it was last polled, and the task to wake then.
struct Flag {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(task) = lock(&self.task).as_ref() {
            task.wake_by_ref();
        }
    }
}

pin_project_lite::pin_project! {
    /// `F`, polled (with a waker of its own) only on its first poll, after it woke, after a
    /// change of the task's waker, and after [`OnItsWake::again`].
    pub(super) struct OnItsWake<F> {
        #[pin]
        future: F,
        flag: Arc<Flag>,
        waker: Waker,
        // The task's waker `flag` holds, kept here to notice a change without the lock.
        task: Option<Waker>,
    }
}

impl<F: Future> OnItsWake<F> {
    pub(super) fn new(future: F) -> Self {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        Self {
            future,
            waker: Waker::from(Arc::clone(&flag)),
            flag,
            task: None,
        }
    }

    /// The future, to change it (a `Sleep`'s deadline): call [`again`](Self::again) after, so
    /// that the next poll sees the change.
    pub(super) fn future(self: Pin<&mut Self>) -> Pin<&mut F> {
        self.project().future
    }

    /// Polls the future at the next poll, woken or not.
    pub(super) fn again(self: Pin<&mut Self>) {
        self.flag.woken.store(true, Ordering::Release);
    }

    /// Polls the future if it woke since the last poll; `Pending` otherwise.
    pub(super) fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !this
            .task
            .as_ref()
            .is_some_and(|task| task.will_wake(cx.waker()))
        {
            *this.task = Some(cx.waker().clone());
            *lock(&this.flag.task) = Some(cx.waker().clone());
            // A wake-up may have gone to the task's former waker: look.
            this.flag.woken.store(true, Ordering::Release);
        }
        // Cleared before the poll: a wake-up during it sets the flag again.
        if !this.flag.woken.load(Ordering::Relaxed)
            || !this.flag.woken.swap(false, Ordering::AcqRel)
        {
            return Poll::Pending;
        }
        this.future.poll(&mut Context::from_waker(this.waker))
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;

    /// How many times the inner future was polled.
    struct Counting<F> {
        inner: Pin<Box<F>>,
        polls: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl<F: Future> Future for Counting<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            self.inner.as_mut().poll(cx)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_token_is_polled_once_then_only_when_it_wakes_the_task() {
        let token = CancellationToken::new();
        let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let cancelled = Counting {
            inner: Box::pin(token.clone().cancelled_owned()),
            polls: Arc::clone(&polls),
        };
        let mut stop = std::pin::pin!(OnItsWake::new(cancelled));
        let mut tick = std::pin::pin!(tokio::time::interval(Duration::from_millis(10)));
        let canceller = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(95)).await;
            canceller.cancel();
        });
        // The task wakes every 10 ms for the interval; the token is looked at twice: first, and
        // when it is cancelled.
        let mut wakes = 0;
        poll_fn(|cx| {
            while tick.as_mut().poll_tick(cx).is_ready() {
                wakes += 1;
            }
            stop.as_mut().poll(cx)
        })
        .await;
        assert!(wakes >= 9, "{wakes}");
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_reset_after_again_fires_at_its_new_deadline() {
        let start = tokio::time::Instant::now();
        let mut sleep = std::pin::pin!(OnItsWake::new(tokio::time::sleep(Duration::from_secs(1))));
        poll_fn(|cx| {
            let _ = sleep.as_mut().poll(cx);
            Poll::Ready(())
        })
        .await;
        sleep
            .as_mut()
            .future()
            .reset(start + Duration::from_secs(3));
        sleep.as_mut().again();
        poll_fn(|cx| sleep.as_mut().poll(cx)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }
}
