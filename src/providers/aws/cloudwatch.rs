//! CloudWatch: metric alarms — read and written.

use super::Aws;
use super::client::from_raw;
use super::model::{self, AlarmObs};
use super::sections::{ALARMS, Part};
use crate::core::{Change, State};
use crate::error::{Category, ProviderError};
use crate::providers::aws::api::Alarm;
use crate::providers::{Observation, Target};

impl Aws {
    /// The region's metric alarms, when the policy declares any.
    pub(super) async fn observe_alarms(
        &self,
        region: &str,
        desired: &State,
        obs: &mut Observation,
    ) -> Result<(), ProviderError> {
        if desired.section(ALARMS).is_none() {
            return Ok(());
        }
        let op = "DescribeAlarms";
        let mut pages = self
            .cloudwatch(region)
            .describe_alarms()
            .into_paginator()
            .send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            for a in page.metric_alarms() {
                items.push(model::observed_alarm(&AlarmObs {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    namespace: a.namespace().unwrap_or_default().to_string(),
                    metric_name: a.metric_name().unwrap_or_default().to_string(),
                    statistic: a.statistic().map(|s| s.as_str()).unwrap_or("").to_string(),
                    period: a.period().unwrap_or_default(),
                    evaluation_periods: a.evaluation_periods().unwrap_or_default(),
                    threshold: a.threshold().unwrap_or_default(),
                    comparison_operator: a
                        .comparison_operator()
                        .map(|c| c.as_str())
                        .unwrap_or("")
                        .to_string(),
                    alarm_actions: a.alarm_actions().to_vec(),
                    treat_missing_data: a.treat_missing_data().map(str::to_string),
                }));
            }
        }
        obs.state.push(Part::Alarms.section(items));
        Ok(())
    }

    pub(super) async fn write_alarm(
        &self,
        region: &str,
        target: &Target,
        change: &Change,
    ) -> Result<(), ProviderError> {
        let cw = self.cloudwatch(region);
        match change {
            Change::Create { key, .. } | Change::Update { key, .. } => {
                let item = target
                    .desired
                    .section(ALARMS)
                    .and_then(|s| s.get(key))
                    .ok_or_else(|| {
                        ProviderError::new(
                            Category::InvalidSpec,
                            "PutMetricAlarm",
                            "undeclared alarm",
                        )
                    })?;
                let a: Alarm = from_raw(item, "PutMetricAlarm")?;
                cw.put_metric_alarm()
                    .alarm_name(&a.name)
                    .namespace(&a.namespace)
                    .metric_name(&a.metric_name)
                    .statistic(a.statistic.as_str().into())
                    .period(a.period)
                    .evaluation_periods(a.evaluation_periods)
                    .threshold(a.threshold)
                    .comparison_operator(a.comparison_operator.as_str().into())
                    .set_alarm_actions(a.alarm_actions.clone())
                    .set_treat_missing_data(a.treat_missing_data.clone())
                    .send()
                    .await
                    .map_err(|e| self.err("PutMetricAlarm", true, &e))?;
            }
            Change::Delete { key, .. } => {
                cw.delete_alarms()
                    .alarm_names(key)
                    .send()
                    .await
                    .map_err(|e| self.err("DeleteAlarms", true, &e))?;
            }
            Change::Reorder { .. } => {}
        }
        Ok(())
    }
}
