//! The estimate of a job's cost from the pricing table.

use super::*;

/// The customization prices of one job ([`BedrockTrainSettings::prices`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prices {
    /// USD per 1,000 training tokens.
    pub train_per_1k_tokens: f64,
    /// USD per month to store the custom model.
    pub storage_per_month: f64,
    /// USD per model unit per hour of provisioned throughput, if known.
    pub provisioned_per_hour: Option<f64>,
    /// Where they come from.
    pub source: String,
}

/// The cost estimate shown before submitting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostEstimate {
    /// How tokens were counted.
    pub token_counter: String,
    /// Training tokens in one pass over the training file; `None` for `s3://` data.
    pub train_tokens: Option<u64>,
    /// Epochs (`epochCount`, or the model's default).
    pub epochs: f64,
    /// USD per 1,000 training tokens used.
    pub train_per_1k_tokens: f64,
    /// Training dollars (tokens × epochs × price).
    pub training_usd: Option<f64>,
    /// Dollars per month to store the custom model.
    pub storage_per_month_usd: f64,
    /// Training plus one month of storage.
    pub total_first_month_usd: Option<f64>,
    /// Where the prices come from.
    pub price_source: String,
}
