//! Prices of Amazon Bedrock model customization: the `[[customization]]` entries of the
//! versioned, user-editable pricing table (`configs/pricing.toml`).
//!
//! The table as a whole is eval's (`tunebench_eval::pricing`: token prices of candidates),
//! which loads and checks every entry; train reads only this section for the cost estimate it
//! shows before submitting a job. The type lives here, in the lowest crate both depend on, so
//! there is one definition and one set of checks.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// What customizing one base model costs, in one region where prices differ by region.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomizationPrice {
    /// Base model id as sent in `baseModelIdentifier`, e.g. `amazon.titan-text-lite-v1:0:4k`.
    pub base_model: String,
    /// AWS region; `None` matches any region.
    #[serde(default)]
    pub region: Option<String>,
    /// Dollars per 1,000 training tokens (tokens × epochs are billed).
    pub train_per_1k_tokens: f64,
    /// Dollars per month to store one custom model.
    pub storage_per_month: f64,
    /// Dollars per model unit per hour of provisioned throughput for a custom model of this
    /// base model (no commitment).
    #[serde(default)]
    pub provisioned_per_hour: Option<f64>,
}

impl CustomizationPrice {
    /// Every price finite and ≥ 0; the error names the entry.
    pub fn check(&self) -> std::result::Result<(), String> {
        let prices = [
            Some(self.train_per_1k_tokens),
            Some(self.storage_per_month),
            self.provisioned_per_hour,
        ];
        if prices
            .into_iter()
            .flatten()
            .all(|p| p.is_finite() && p >= 0.0)
        {
            Ok(())
        } else {
            Err(format!(
                "customization `{}`: prices must be ≥ 0",
                self.base_model
            ))
        }
    }
}

/// The entry of `candidates` for `region`: an exact region match first, then a region-less
/// entry; with no region asked for, the first entry. Shared by the token and the
/// customization price lookups.
pub fn for_region<'a, T>(
    candidates: impl Iterator<Item = &'a T> + Clone,
    region: Option<&str>,
    region_of: impl Fn(&T) -> Option<&str>,
) -> Option<&'a T> {
    candidates
        .clone()
        .find(|c| region.is_some() && region_of(c) == region)
        .or_else(|| candidates.clone().find(|c| region_of(c).is_none()))
        .or_else(|| candidates.clone().next().filter(|_| region.is_none()))
}

/// The customization section of a pricing table. Other sections are left to eval's loader.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct CustomizationPrices {
    /// The file it was read from.
    #[serde(skip)]
    pub path: PathBuf,
    /// Format version of the table (1).
    pub version: u32,
    /// When the prices were last checked (`YYYY-MM-DD`).
    pub updated: String,
    /// One entry per base model (and region).
    #[serde(default)]
    pub customization: Vec<CustomizationPrice>,
}

impl CustomizationPrices {
    /// Reads and checks the `[[customization]]` entries of a pricing table.
    pub fn load(path: &Path) -> Result<CustomizationPrices> {
        let bad = |reason: String| Error::Pricing {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut prices: CustomizationPrices =
            toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if prices.version != 1 {
            return Err(bad(format!(
                "field `version`: {} is not a version this tunebench reads (1)",
                prices.version
            )));
        }
        for c in &prices.customization {
            c.check().map_err(bad)?;
        }
        prices.path = path.to_path_buf();
        Ok(prices)
    }

    /// The entry for `base_model` in `region`.
    pub fn find(&self, base_model: &str, region: Option<&str>) -> Option<&CustomizationPrice> {
        for_region(
            self.customization
                .iter()
                .filter(move |c| c.base_model == base_model),
            region,
            |c| c.region.as_deref(),
        )
    }
}
