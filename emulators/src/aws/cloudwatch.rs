//! CloudWatch (Smithy RPCv2 CBOR): metric alarms. Member names and types follow
//! aws-sdk-cloudwatch's `protocol_serde` (`Period`/`EvaluationPeriods` integers, `Threshold` a
//! double, lists as arrays).

use serde_json::{Value, json};

use super::seed::Alarm;
use super::{Failure, Store, page};

const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const OPERATORS: [&str; 7] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];

pub(crate) fn handle(store: &mut Store, operation: &str, input: &Value) -> Result<Value, Failure> {
    match operation {
        "DescribeAlarms" => describe(store, input),
        "PutMetricAlarm" => put(store, input),
        "DeleteAlarms" => delete(store, input),
        other => Err(Failure::new(
            400,
            "UnknownOperationException",
            format!("operation {other} is not emulated"),
        )),
    }
}

fn validation(message: impl Into<String>) -> Failure {
    Failure::new(400, "ValidationError", message)
}

fn names(input: &Value) -> Vec<String> {
    input
        .get("AlarmNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn describe(store: &Store, input: &Value) -> Result<Value, Failure> {
    let wanted = names(input);
    let prefix = input.get("AlarmNamePrefix").and_then(Value::as_str);
    let mut alarms: Vec<&Alarm> = store
        .seed
        .alarms
        .iter()
        .filter(|a| wanted.is_empty() || wanted.contains(&a.alarm_name))
        .filter(|a| prefix.is_none_or(|p| a.alarm_name.starts_with(p)))
        .collect();
    alarms.sort_by(|a, b| a.alarm_name.cmp(&b.alarm_name));
    let limit = input
        .get("MaxRecords")
        .and_then(Value::as_u64)
        .map(|n| n as usize);
    if limit.is_some_and(|n| !(1..=100).contains(&n)) {
        return Err(validation("MaxRecords must be between 1 and 100"));
    }
    let token = input.get("NextToken").and_then(Value::as_str);
    let (items, next) = page(&alarms, token, limit, store.seed.page_size)
        .map_err(|()| Failure::new(400, "InvalidNextToken", "The next token is invalid."))?;
    let region = &store.seed.region;
    let account = &store.seed.account_id;
    let metric_alarms: Vec<Value> = items
        .iter()
        .map(|a| {
            let mut v = json!({
                "AlarmName": a.alarm_name,
                "AlarmArn": format!("arn:aws:cloudwatch:{region}:{account}:alarm:{}", a.alarm_name),
                "ActionsEnabled": true,
                "OKActions": [],
                "AlarmActions": a.alarm_actions,
                "InsufficientDataActions": [],
                "StateValue": "INSUFFICIENT_DATA",
                "StateReason": "Unchecked: Initial alarm creation",
                "MetricName": a.metric_name,
                "Namespace": a.namespace,
                "Statistic": a.statistic,
                "Dimensions": [],
                "Period": a.period,
                "EvaluationPeriods": a.evaluation_periods,
                "Threshold": a.threshold,
                "ComparisonOperator": a.comparison_operator,
            });
            if let Some(t) = &a.treat_missing_data {
                v["TreatMissingData"] = json!(t);
            }
            v
        })
        .collect();
    let mut out = json!({"MetricAlarms": metric_alarms, "CompositeAlarms": []});
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

fn put(store: &mut Store, input: &Value) -> Result<Value, Failure> {
    let s = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_string);
    let int = |k: &str| {
        input
            .get(k)
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
    };
    let name = s("AlarmName").filter(|n| !n.is_empty() && n.len() <= 255);
    let Some(name) = name else {
        return Err(validation("AlarmName is required (1 to 255 characters)"));
    };
    let Some(evaluation_periods) = int("EvaluationPeriods").filter(|n| *n >= 1) else {
        return Err(validation("EvaluationPeriods must be at least 1"));
    };
    let Some(comparison_operator) = s("ComparisonOperator") else {
        return Err(validation("ComparisonOperator is required"));
    };
    if !OPERATORS.contains(&comparison_operator.as_str()) {
        return Err(validation(format!(
            "ComparisonOperator {comparison_operator} is not valid"
        )));
    }
    let statistic = s("Statistic").unwrap_or_default();
    if !statistic.is_empty() && !STATISTICS.contains(&statistic.as_str()) {
        return Err(validation(format!("Statistic {statistic} is not valid")));
    }
    let period = int("Period").unwrap_or_default();
    if period != 0 && period != 10 && period != 30 && period % 60 != 0 {
        return Err(validation("Period must be 10, 30 or a multiple of 60"));
    }
    let treat = s("TreatMissingData");
    if treat
        .as_deref()
        .is_some_and(|t| !["breaching", "notBreaching", "ignore", "missing"].contains(&t))
    {
        return Err(validation("TreatMissingData is not valid"));
    }
    let alarm = Alarm {
        alarm_name: name.clone(),
        namespace: s("Namespace").unwrap_or_default(),
        metric_name: s("MetricName").unwrap_or_default(),
        statistic,
        period,
        evaluation_periods,
        threshold: input
            .get("Threshold")
            .and_then(Value::as_f64)
            .unwrap_or_default(),
        comparison_operator,
        alarm_actions: input
            .get("AlarmActions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        treat_missing_data: treat,
    };
    match store.seed.alarms.iter_mut().find(|a| a.alarm_name == name) {
        Some(existing) => *existing = alarm,
        None => store.seed.alarms.push(alarm),
    }
    Ok(json!({}))
}

fn delete(store: &mut Store, input: &Value) -> Result<Value, Failure> {
    let wanted = names(input);
    if let Some(missing) = wanted
        .iter()
        .find(|n| !store.seed.alarms.iter().any(|a| &a.alarm_name == *n))
    {
        return Err(Failure::new(
            404,
            "ResourceNotFound",
            format!("Alarm {missing} does not exist"),
        ));
    }
    store
        .seed
        .alarms
        .retain(|a| !wanted.contains(&a.alarm_name));
    Ok(json!({}))
}
