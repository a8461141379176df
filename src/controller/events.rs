//! Kubernetes Events through kube's [`Recorder`], with its memory bounded.
//!
//! A `Recorder` keeps every Event it sent for six minutes, so that a repeat within them is
//! counted into the same Event's `series` instead of creating another; it prunes that cache only
//! when it sends the next Event. A fleet's first round sends an Event per policy, and then the
//! cache holds them all until the next transition anywhere: at 1,000 policies that was 5.9 MiB
//! of hash table (a third of the operator's heap). Here a fresh `Recorder` takes over every
//! [`PER_RECORDER`] Events; a repeat on either side of the change becomes a new Event rather
//! than a count (Perimeter sends Events on transitions only, so repeats are rare).

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, Recorder, Reporter};

/// Events sent through one `Recorder` before a fresh one takes over.
pub const PER_RECORDER: usize = 256;

pub struct Events {
    client: Client,
    reporter: Reporter,
    /// The recorder in use, how many Events it sent, and how many recorders came before it.
    current: std::sync::Mutex<(Recorder, usize, u64)>,
}

impl Events {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        let recorder = Recorder::new(client.clone(), reporter.clone());
        Self {
            client,
            reporter,
            current: std::sync::Mutex::new((recorder, 0, 0)),
        }
    }

    /// The recorder for the next Event, and its generation (0 for the first).
    fn next(&self) -> (Recorder, u64) {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.1 >= PER_RECORDER {
            *current = (
                Recorder::new(self.client.clone(), self.reporter.clone()),
                0,
                current.2 + 1,
            );
        }
        current.1 += 1;
        (current.0.clone(), current.2)
    }

    /// Sends `event` about `reference` (see [`Recorder::publish`]).
    pub async fn publish(
        &self,
        event: &Event,
        reference: &ObjectReference,
    ) -> Result<(), kube::Error> {
        self.next().0.publish(event, reference).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_recorder_takes_over_every_per_recorder_events() {
        let (service, _handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        let events = Events::new(
            Client::new(service, "default"),
            Reporter {
                controller: "perimeter".into(),
                instance: None,
            },
        );
        let generations: Vec<u64> = (0..PER_RECORDER * 2 + 1).map(|_| events.next().1).collect();
        assert!(generations[..PER_RECORDER].iter().all(|&g| g == 0));
        assert!(
            generations[PER_RECORDER..PER_RECORDER * 2]
                .iter()
                .all(|&g| g == 1)
        );
        assert_eq!(generations[PER_RECORDER * 2], 2);
    }
}
