//! GuardDuty: the region's detector — read and written.

use super::Aws;
use super::client::from_raw;
use super::model;
use super::sections::{GUARD_DUTY, Part};
use crate::core::{Change, Item, State};
use crate::error::{Category, ProviderError};
use crate::providers::aws::api::GuardDuty;
use crate::providers::{Observation, Target};

impl Aws {
    /// The region's detector, when the policy declares one.
    pub(super) async fn observe_detector(
        &self,
        region: &str,
        desired: &State,
        obs: &mut Observation,
    ) -> Result<(), ProviderError> {
        if desired.section(GUARD_DUTY).is_some() {
            let items = self.detector(region).await?.into_iter().collect();
            obs.state.push(Part::GuardDuty.section(items));
        }
        Ok(())
    }

    async fn detector(&self, region: &str) -> Result<Option<Item>, ProviderError> {
        let gd = self.guardduty(region);
        let mut pages = gd.list_detectors().into_paginator().send();
        let mut id = None;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("ListDetectors", false, &e))?;
            if let Some(first) = page.detector_ids().first() {
                id = Some(first.clone());
                break;
            }
        }
        let Some(id) = id else { return Ok(None) };
        let got = gd
            .get_detector()
            .detector_id(&id)
            .send()
            .await
            .map_err(|e| self.err("GetDetector", false, &e))?;
        let enabled = got.status().is_some_and(|s| s.as_str() == "ENABLED");
        Ok(Some(
            Item::new(model::DETECTOR)
                .field("enabled", enabled)
                .opt_field(
                    "findingPublishingFrequency",
                    got.finding_publishing_frequency()
                        .map(|f| f.as_str().to_string()),
                )
                .with_handle(id),
        ))
    }

    pub(super) async fn write_detector(
        &self,
        region: &str,
        target: &Target,
        observed: &State,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let item = target
            .desired
            .section(GUARD_DUTY)
            .and_then(|s| s.items.first())
            .ok_or_else(|| {
                ProviderError::new(
                    Category::InvalidSpec,
                    "UpdateDetector",
                    "no detector declared",
                )
            })?;
        let want: GuardDuty = from_raw(item, "UpdateDetector")?;
        let frequency = want.finding_publishing_frequency.map(|f| f.as_str().into());
        let gd = self.guardduty(region);
        let handle = observed
            .section(GUARD_DUTY)
            .and_then(|s| s.items.first())
            .and_then(|i| i.handle.clone());
        match (change, handle) {
            (Change::Update { .. }, Some(id)) => {
                gd.update_detector()
                    .detector_id(id)
                    .enable(want.enabled)
                    .set_finding_publishing_frequency(frequency)
                    .send()
                    .await
                    .map_err(|e| self.err("UpdateDetector", true, &e))?;
            }
            (Change::Create { .. } | Change::Update { .. }, _) => {
                gd.create_detector()
                    .enable(want.enabled)
                    .set_finding_publishing_frequency(frequency)
                    .send()
                    .await
                    .map_err(|e| self.err("CreateDetector", true, &e))?;
            }
            _ => {}
        }
        Ok(())
    }
}
