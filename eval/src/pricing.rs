//! Dollars and latency: the pricing table (`configs/pricing.toml`), the price of one
//! candidate, the cost of one response, the `--dry-run` estimate, and latency percentiles.
//!
//! Token prices are per 1,000 tokens, as the AWS and OpenAI pricing pages list them (OpenAI
//! lists per 1M: divide by 1,000). A Bedrock candidate is priced by how it is bought: batch
//! inference, a service tier (flex, priority), the latency-optimized profile, or standard
//! on-demand; prompt-cache reads and writes have their own rates. A way of buying the table
//! has no price for leaves the candidate unpriced, with a warning ([`Quote::warnings`]) that
//! `--dry-run` and the eval print, never a silent 0. Local models and provisioned throughput cost by the hour;
//! the runner charges each answer the wall time since the previous answer, so a run's answers
//! add up to its wall time × the hourly rate.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tunebench_aws::pricing::{CustomizationPrice, for_region};

use tunebench_aws::{LatencyProfile, ServiceTier};

use crate::candidate::{BedrockMode, BedrockSettings, CandidateSettings};
use crate::error::{EvalError, Result};
use crate::types::{ExampleRequest, ResponseRecord};

/// The pricing table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// Format version of the table (1).
    pub version: u32,
    /// When the prices were last checked (`YYYY-MM-DD`); reports print it.
    pub updated: String,
    /// Token-priced models (Bedrock, OpenAI).
    #[serde(default, rename = "model")]
    pub models: Vec<ModelPrice>,
    /// Local models.
    #[serde(default)]
    pub local: LocalPrice,
    /// Bedrock model customization (training, storage, provisioned throughput of custom
    /// models); read by `tunebench train bedrock`, checked here with the rest of the table.
    #[serde(default)]
    pub customization: Vec<CustomizationPrice>,
}

/// Prices of one model, in one region where the provider prices by region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Model id as sent to the API (Bedrock model id, OpenAI model name).
    pub id: String,
    /// `bedrock` or `openai` (informational).
    #[serde(default)]
    pub provider: Option<String>,
    /// AWS region; `None` matches any region.
    #[serde(default)]
    pub region: Option<String>,
    /// On-demand dollars per 1,000 input tokens.
    pub input_per_1k: f64,
    /// On-demand dollars per 1,000 output tokens.
    pub output_per_1k: f64,
    /// Batch inference dollars per 1,000 input tokens.
    #[serde(default)]
    pub batch_input_per_1k: Option<f64>,
    /// Batch inference dollars per 1,000 output tokens.
    #[serde(default)]
    pub batch_output_per_1k: Option<f64>,
    /// Provisioned throughput, dollars per model unit per hour (no commitment).
    #[serde(default)]
    pub provisioned_per_hour: Option<f64>,
    /// Flex service tier (Bedrock `serviceTier = flex`).
    #[serde(default)]
    pub flex: Option<TokenPrice>,
    /// Priority service tier (Bedrock `serviceTier = priority`).
    #[serde(default)]
    pub priority: Option<TokenPrice>,
    /// Latency-optimized inference (Bedrock `performanceConfig.latency = optimized`).
    #[serde(default)]
    pub optimized: Option<TokenPrice>,
    /// Dollars per 1,000 input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_per_1k: Option<f64>,
    /// Dollars per 1,000 input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write_per_1k: Option<f64>,
}

/// Per-token prices of one way of buying a model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenPrice {
    /// Dollars per 1,000 input tokens.
    pub input_per_1k: f64,
    /// Dollars per 1,000 output tokens.
    pub output_per_1k: f64,
}

/// What local inference costs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalPrice {
    /// Dollars per hour of the machine that runs local models (0: free).
    #[serde(default)]
    pub usd_per_hour: f64,
}

/// How a model is bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Per token, on demand.
    #[default]
    OnDemand,
    /// Per token, at batch inference rates.
    Batch,
    /// Per token, in the flex service tier.
    Flex,
    /// Per token, in the priority service tier.
    Priority,
    /// Per token, latency-optimized.
    Optimized,
    /// By the hour (provisioned throughput, one model unit).
    Provisioned,
}

/// The price of one candidate as the runner applies it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "per", rename_all = "snake_case")]
pub enum CandidatePrice {
    /// Per token.
    Tokens {
        /// Dollars per 1,000 input tokens.
        input_per_1k: f64,
        /// Dollars per 1,000 output tokens.
        output_per_1k: f64,
        /// Dollars per 1,000 input tokens read from the prompt cache (`None`: not in the
        /// table; such tokens count 0 and the quote warns).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_read_per_1k: Option<f64>,
        /// Dollars per 1,000 input tokens written to the prompt cache.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_write_per_1k: Option<f64>,
    },
    /// By wall time.
    Hourly {
        /// Dollars per hour.
        usd_per_hour: f64,
    },
    /// Not in the pricing table: costs count as 0 and reports say "unpriced".
    #[default]
    Unpriced,
}

impl CandidatePrice {
    /// Dollars for one call's tokens (0 for hourly and unpriced candidates, whose cost is
    /// time-based or unknown).
    pub fn token_cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        match *self {
            CandidatePrice::Tokens {
                input_per_1k,
                output_per_1k,
                ..
            } => {
                (input_tokens as f64 * input_per_1k + output_tokens as f64 * output_per_1k) / 1000.0
            }
            _ => 0.0,
        }
    }

    /// Per-token prices, without prompt-cache rates.
    pub const fn tokens(input_per_1k: f64, output_per_1k: f64) -> CandidatePrice {
        CandidatePrice::Tokens {
            input_per_1k,
            output_per_1k,
            cache_read_per_1k: None,
            cache_write_per_1k: None,
        }
    }

    /// Dollars for one answer's tokens: input and output, and prompt-cache reads and writes
    /// (0 where the table has no cache rate: the quote warned about it).
    pub fn answer_cost(
        &self,
        input_tokens: u64,
        output_tokens: u64,
        cache_read_tokens: u64,
        cache_write_tokens: u64,
    ) -> f64 {
        let cache = match *self {
            CandidatePrice::Tokens {
                cache_read_per_1k,
                cache_write_per_1k,
                ..
            } => {
                (cache_read_tokens as f64 * cache_read_per_1k.unwrap_or(0.0)
                    + cache_write_tokens as f64 * cache_write_per_1k.unwrap_or(0.0))
                    / 1000.0
            }
            _ => 0.0,
        };
        self.token_cost(input_tokens, output_tokens) + cache
    }

    /// Dollars for `seconds` of wall time (0 unless hourly).
    pub fn time_cost(&self, seconds: f64) -> f64 {
        match *self {
            CandidatePrice::Hourly { usd_per_hour } => usd_per_hour * seconds / 3600.0,
            _ => 0.0,
        }
    }
}

impl Pricing {
    /// Loads and checks a pricing table.
    pub fn load(path: impl AsRef<Path>) -> Result<Pricing> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a pricing table; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Pricing> {
        let bad = |reason: String| EvalError::Pricing {
            path: PathBuf::from(path),
            reason,
        };
        let pricing: Pricing = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if pricing.version != 1 {
            return Err(bad(format!(
                "field `version`: {} is not a version this tunebench reads (1)",
                pricing.version
            )));
        }
        for m in &pricing.models {
            let tiers = [m.flex, m.priority, m.optimized];
            let prices = [
                Some(m.input_per_1k),
                Some(m.output_per_1k),
                m.batch_input_per_1k,
                m.batch_output_per_1k,
                m.provisioned_per_hour,
                m.cache_read_per_1k,
                m.cache_write_per_1k,
            ]
            .into_iter()
            .chain(
                tiers
                    .iter()
                    .flatten()
                    .flat_map(|t| [Some(t.input_per_1k), Some(t.output_per_1k)]),
            );
            if prices.flatten().any(|p| !(p.is_finite() && p >= 0.0)) {
                return Err(bad(format!("model `{}`: prices must be ≥ 0", m.id)));
            }
        }
        for c in &pricing.customization {
            c.check().map_err(bad)?;
        }
        if !(pricing.local.usd_per_hour.is_finite() && pricing.local.usd_per_hour >= 0.0) {
            return Err(bad("field `local.usd_per_hour` must be ≥ 0".into()));
        }
        Ok(pricing)
    }

    /// The entry for `model_id` in `region`: an exact region match first, then a
    /// region-less entry.
    pub fn find(&self, model_id: &str, region: Option<&str>) -> Option<&ModelPrice> {
        for_region(
            self.models.iter().filter(move |m| m.id == model_id),
            region,
            |m| m.region.as_deref(),
        )
    }

    /// The price of `model_id` bought in `mode`, if the table has it (token prices carry
    /// the model's prompt-cache rates).
    pub fn lookup(
        &self,
        model_id: &str,
        region: Option<&str>,
        mode: Mode,
    ) -> Option<CandidatePrice> {
        let m = self.find(model_id, region)?;
        let tokens = |p: TokenPrice| CandidatePrice::Tokens {
            input_per_1k: p.input_per_1k,
            output_per_1k: p.output_per_1k,
            cache_read_per_1k: m.cache_read_per_1k,
            cache_write_per_1k: m.cache_write_per_1k,
        };
        match mode {
            Mode::OnDemand => Some(tokens(TokenPrice {
                input_per_1k: m.input_per_1k,
                output_per_1k: m.output_per_1k,
            })),
            Mode::Batch => Some(tokens(TokenPrice {
                input_per_1k: m.batch_input_per_1k?,
                output_per_1k: m.batch_output_per_1k?,
            })),
            Mode::Flex => m.flex.map(tokens),
            Mode::Priority => m.priority.map(tokens),
            Mode::Optimized => m.optimized.map(tokens),
            Mode::Provisioned => Some(CandidatePrice::Hourly {
                usd_per_hour: m.provisioned_per_hour?,
            }),
        }
    }

    /// The price of a configured candidate (`Unpriced` when the table lacks it; see
    /// [`Pricing::quote`] for why).
    pub fn for_candidate(&self, settings: &CandidateSettings) -> CandidatePrice {
        self.quote(settings).price
    }

    /// The price of a configured candidate bought as its settings say, and what the table
    /// cannot price of it.
    pub fn quote(&self, settings: &CandidateSettings) -> Quote {
        match settings {
            CandidateSettings::Openai(s) => Quote::found(
                self.lookup(&s.model, None, Mode::OnDemand),
                &s.name,
                &s.model,
                "",
            ),
            CandidateSettings::Bedrock(s) => self.quote_bedrock(s),
            CandidateSettings::Local(_) => Quote {
                price: CandidatePrice::Hourly {
                    usd_per_hour: self.local.usd_per_hour,
                },
                warnings: Vec::new(),
            },
            CandidateSettings::Responses(_) | CandidateSettings::Registry(_) => Quote {
                price: CandidatePrice::Unpriced,
                warnings: Vec::new(),
            },
        }
    }

    fn quote_bedrock(&self, s: &BedrockSettings) -> Quote {
        let (mode, how) = bedrock_mode(s);
        if s.service_tier == Some(ServiceTier::Reserved) {
            return Quote {
                price: CandidatePrice::Unpriced,
                warnings: vec![format!(
                    "candidate `{}`: the reserved tier is billed by its commitment, not per token; its calls are reported unpriced",
                    s.name
                )],
            };
        }
        let region = s.region.as_deref();
        let mut quote = Quote::found(
            self.lookup(&s.model_id, region, mode),
            &s.name,
            &s.model_id,
            how,
        );
        if s.cache_prompt
            && let CandidatePrice::Tokens {
                cache_read_per_1k,
                cache_write_per_1k,
                ..
            } = quote.price
        {
            for (rate, field) in [
                (cache_read_per_1k, "cache_read_per_1k"),
                (cache_write_per_1k, "cache_write_per_1k"),
            ] {
                if rate.is_none() {
                    quote.warnings.push(format!(
                        "candidate `{}`: cache_prompt is on but the pricing table has no {field} for `{}`; those tokens are counted but not priced",
                        s.name, s.model_id
                    ));
                }
            }
        }
        quote
    }
}

/// How a Bedrock candidate is bought, and the words for it in warnings.
fn bedrock_mode(s: &BedrockSettings) -> (Mode, &'static str) {
    if s.mode == BedrockMode::Batch {
        return (
            Mode::Batch,
            " at the batch rate (batch_input_per_1k / batch_output_per_1k)",
        );
    }
    match (s.service_tier, s.latency) {
        (Some(ServiceTier::Flex), _) => (Mode::Flex, " in the flex tier ([model.flex])"),
        (Some(ServiceTier::Priority), _) => {
            (Mode::Priority, " in the priority tier ([model.priority])")
        }
        (_, Some(LatencyProfile::Optimized)) => {
            (Mode::Optimized, " latency-optimized ([model.optimized])")
        }
        _ => (Mode::OnDemand, ""),
    }
}

/// A candidate's price and what the table could not price.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// The price the runner applies.
    pub price: CandidatePrice,
    /// One line per thing left unpriced (printed by `--dry-run` and the eval).
    pub warnings: Vec<String>,
}

impl Quote {
    fn found(price: Option<CandidatePrice>, name: &str, model: &str, how: &str) -> Quote {
        match price {
            Some(price) => Quote {
                price,
                warnings: Vec::new(),
            },
            None => Quote {
                price: CandidatePrice::Unpriced,
                warnings: vec![format!(
                    "candidate `{name}`: the pricing table has no price for `{model}`{how}; its calls are reported unpriced\nhint: add it to the pricing table from the provider's pricing page"
                )],
            },
        }
    }
}

/// What a run would cost at most, for `--dry-run`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostEstimate {
    /// Requests counted.
    pub requests: u64,
    /// Estimated input tokens: the tokenizer's count when one was given, else characters / 4
    /// (the usual rule of thumb for English; code and other languages run higher).
    pub input_tokens: u64,
    /// Output tokens if every answer ran to `max_tokens` (an upper bound).
    pub max_output_tokens: u64,
    /// Dollars at those counts; `None` for hourly or unpriced candidates, whose cost depends
    /// on wall time or is unknown.
    pub max_cost_usd: Option<f64>,
    /// What counted `input_tokens`: `chars/4` (the rule of thumb) or the model's own counter
    /// (`Bedrock CountTokens`).
    pub counter: String,
}

/// Input tokens counted by the model's own counter, one count per request.
#[derive(Debug, Clone, Copy)]
pub struct Counted<'a> {
    /// The counter's name, for the estimate.
    pub counter: &'static str,
    /// Input tokens per request, in request order.
    pub input_tokens: &'a [u64],
}

/// Estimates the cost of sending `requests` at `price`. This is an **estimate**: input
/// tokens are approximate (characters / 4, chat formatting overhead ignored) unless `counted`
/// gives the model's own counts, and outputs are assumed to use all of `max_tokens`. Leave
/// out requests the cache already answers before calling it to estimate a resumed run.
pub fn estimate(
    requests: &[ExampleRequest],
    price: &CandidatePrice,
    counted: Option<Counted<'_>>,
) -> CostEstimate {
    let input: u64 = match counted {
        Some(c) => c.input_tokens.iter().sum(),
        None => requests
            .iter()
            .flat_map(|r| {
                r.request
                    .system
                    .iter()
                    .map(String::as_str)
                    .chain(r.request.messages.iter().map(|m| m.content.as_str()))
            })
            .map(|t| (t.chars().count() as u64).div_ceil(4))
            .sum(),
    };
    let output: u64 = requests
        .iter()
        .map(|r| u64::from(r.request.sampling.max_tokens))
        .sum();
    let max_cost_usd = match price {
        CandidatePrice::Tokens { .. } => Some(price.token_cost(input, output)),
        _ => None,
    };
    CostEstimate {
        requests: requests.len() as u64,
        input_tokens: input,
        max_output_tokens: output,
        max_cost_usd,
        counter: counted.map_or("chars/4", |c| c.counter).to_string(),
    }
}

/// Totals and latency of one candidate's responses.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Accounting {
    /// Responses.
    pub responses: u64,
    /// Responses with an answer.
    pub answered: u64,
    /// Responses with an error.
    pub errors: u64,
    /// Answers from the cache.
    pub cached: u64,
    /// Input tokens of the answers.
    pub input_tokens: u64,
    /// Output tokens of the answers.
    pub output_tokens: u64,
    /// Dollars spent in this run (cache hits cost 0).
    pub cost_usd: f64,
    /// Median call latency of the answers, ms (`None` without answers).
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile call latency, ms.
    pub latency_p95_ms: Option<f64>,
}

impl Accounting {
    /// Adds up `records`. Latency percentiles cover every answer, cached ones at their
    /// original latency, so a cached rerun reports the same latencies as the first run.
    pub fn of(records: &[ResponseRecord]) -> Accounting {
        let mut a = Accounting::default();
        let mut latencies = Vec::new();
        for r in records {
            a.responses += 1;
            a.cost_usd += r.cost_usd;
            if r.error.is_some() {
                a.errors += 1;
                continue;
            }
            a.answered += 1;
            a.cached += u64::from(r.cached);
            a.input_tokens += r.input_tokens;
            a.output_tokens += r.output_tokens;
            latencies.push(r.latency_ms);
        }
        a.latency_p50_ms = percentile(&mut latencies, 50.0);
        a.latency_p95_ms = percentile(&mut latencies, 95.0);
        a
    }
}

/// The `q`th percentile (0–100) with linear interpolation between closest ranks (numpy's
/// default); sorts `values`. `None` when empty; NaNs sort last.
pub fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let pos = (q.clamp(0.0, 100.0) / 100.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(values[lo] + (values[hi] - values[lo]) * frac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ChatRequest, Message, Role, Sampling};

    #[test]
    fn shipped_pricing_table_loads() -> Result<()> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/pricing.toml");
        let p = Pricing::load(&path)?;
        assert_eq!(p.version, 1);
        assert!(
            p.lookup("gpt-4o-mini", None, Mode::OnDemand).is_some(),
            "gpt-4o-mini missing"
        );
        assert!(
            p.lookup(
                "anthropic.claude-3-haiku-20240307-v1:0",
                Some("us-east-1"),
                Mode::Batch
            )
            .is_some()
        );
        Ok(())
    }

    #[test]
    fn region_specific_entries_win() -> Result<()> {
        let p = Pricing::parse(
            r#"
version = 1
updated = "2025-01-01"
[[model]]
id = "m"
input_per_1k = 1.0
output_per_1k = 2.0
[[model]]
id = "m"
region = "eu-west-1"
input_per_1k = 3.0
output_per_1k = 4.0
[local]
usd_per_hour = 0.5
"#,
            Path::new("p.toml"),
        )?;
        let eu = p.lookup("m", Some("eu-west-1"), Mode::OnDemand);
        assert_eq!(eu, Some(CandidatePrice::tokens(3.0, 4.0)));
        let other = p.lookup("m", Some("us-east-1"), Mode::OnDemand);
        assert_eq!(other.map(|c| c.token_cost(1000, 500)), Some(2.0));
        assert_eq!(p.lookup("m", None, Mode::Batch), None);
        assert!(Pricing::parse("version = 2\nupdated = \"x\"", Path::new("p.toml")).is_err());
        Ok(())
    }

    #[test]
    fn estimate_uses_chars_over_four_and_max_tokens() {
        let req = ExampleRequest {
            id: "a".into(),
            request: ChatRequest {
                system: Some("abcd".into()),
                messages: vec![Message {
                    role: Role::User,
                    content: "abcdefgh".into(),
                }],
                sampling: Sampling {
                    max_tokens: 100,
                    ..Sampling::default()
                },
                scoring: None,
            },
        };
        let price = CandidatePrice::tokens(1.0, 10.0);
        let e = estimate(&[req.clone(), req], &price, None);
        assert_eq!(e.input_tokens, 6);
        assert_eq!(e.max_output_tokens, 200);
        assert_eq!(e.max_cost_usd, Some((6.0 + 2000.0) / 1000.0));
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(percentile(&mut v, 50.0), Some(2.5));
        assert!((percentile(&mut v, 95.0).unwrap_or(0.0) - 3.85).abs() < 1e-9);
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}
