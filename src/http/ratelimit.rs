//! A token bucket shared by every call to one provider account.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(requests_per_minute: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: f64::from(requests_per_minute.max(1)) / 60.0,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Holds every caller for `wait` from now (a provider's `Retry-After`): the bucket is
    /// emptied so that the next token is `wait` away. A shorter hold never cuts a longer one.
    pub async fn pause(&self, wait: Duration) {
        let mut state = self.state.lock().await;
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        let refilled =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *tokens = refilled.min(1.0 - wait.as_secs_f64() * self.per_second);
        *last = now;
    }

    /// How long until `calls` requests (at most the burst) could be sent at once, without
    /// taking any: zero when the bucket holds them now. A caller already waiting in
    /// [`RateLimiter::acquire`] means the bucket is empty: then at least the time of `calls`
    /// tokens. What the operator checks before a sync, so that a sync which would wait on its
    /// account's limit waits in the queue rather than in one of the controller's slots.
    pub fn wait_for(&self, calls: u32) -> Duration {
        let need = f64::from(calls.max(1)).min(self.burst);
        let Ok(state) = self.state.try_lock() else {
            return Duration::from_secs_f64(need / self.per_second);
        };
        let (tokens, last) = *state;
        let now = Instant::now();
        let available =
            (tokens + now.duration_since(last).as_secs_f64() * self.per_second).min(self.burst);
        if available >= need {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((need - available) / self.per_second)
        }
    }

    /// Waits until one request may be sent. Callers queue on the mutex, so the
    /// order of waiting callers is preserved.
    pub async fn acquire(&self) {
        let mut state = self.state.lock().await;
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - *tokens) / self.per_second);
            tokio::time::sleep(wait).await;
            *tokens = 1.0;
            *last = Instant::now();
        }
        *tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_paces() {
        let limiter = RateLimiter::new(60, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(1),
            "the burst is free"
        );
        limiter.acquire().await;
        limiter.acquire().await;
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1999) && elapsed < Duration::from_millis(2100),
            "then one per second: {elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_says_how_long_until_the_calls_are_free_without_taking_any() {
        let limiter = RateLimiter::new(60, 3);
        assert_eq!(limiter.wait_for(3), Duration::ZERO, "the burst is free");
        assert_eq!(
            limiter.wait_for(3),
            Duration::ZERO,
            "and asking took nothing"
        );
        assert_eq!(
            limiter.wait_for(10),
            Duration::ZERO,
            "at most the burst is asked"
        );
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(limiter.wait_for(1), Duration::ZERO);
        assert_eq!(limiter.wait_for(2), Duration::from_secs(1));
        limiter.acquire().await;
        assert_eq!(limiter.wait_for(1), Duration::from_secs(1));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(limiter.wait_for(1), Duration::from_millis(500));
        limiter.pause(Duration::from_secs(30)).await;
        let paused = limiter.wait_for(1);
        assert!(
            paused > Duration::from_secs(29) && paused <= Duration::from_secs(30),
            "a Retry-After holds it too: {paused:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_caller_and_is_never_shortened() {
        let limiter = RateLimiter::new(600, 5);
        let start = Instant::now();
        limiter.pause(Duration::from_secs(60)).await;
        limiter.pause(Duration::from_secs(1)).await;
        limiter.acquire().await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(60) && waited < Duration::from_millis(60_100),
            "{waited:?}"
        );
        // Then the normal pace (10 a second), not a burst.
        limiter.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(60_099),
            "{:?}",
            start.elapsed()
        );
    }
}
