//! The customizable Bedrock base models tunebench knows: model id, data format (the datasets
//! crate's target), the customization types and Regions offered, and documented
//! hyperparameters with their ranges. Prices are not here: they change, so they live in the
//! user-editable pricing table (`configs/pricing.toml`, `[[customization]]`).
//!
//! Sources (checked 2026-11 through the docs search of this project):
//! - hyperparameters: Amazon Bedrock User Guide, "Custom model hyperparameters",
//!   <https://docs.aws.amazon.com/bedrock/latest/userguide/custom-models-hp.html> and its
//!   per-family pages `cm-hp-titan-text.html`, `cm-hp-nova-mm.html`, `cm-hp-meta-llama31.html`,
//!   `cm-hp-meta-llama32.html`, `cm-hp-anth-claude-3.html`, `cm-hp-cohere-command.html`;
//! - model ids and Regions: "Supported models and Regions for fine-tuning and continued
//!   pre-training", <https://docs.aws.amazon.com/bedrock/latest/userguide/custom-model-supported.html>;
//!
//! Anything not found in those pages is marked `// unverified`.

use tunebench_datasets::targets::BedrockFormat;

/// Integer or float hyperparameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpKind {
    /// Whole number.
    Int,
    /// Real number.
    Float,
}

/// One documented hyperparameter of a base model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyperparameter {
    /// API name, e.g. `epochCount`.
    pub name: &'static str,
    /// Integer or float.
    pub kind: HpKind,
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
    /// The service's default.
    pub default: f64,
}

/// Customization types a base model is offered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offers {
    /// `FINE_TUNING`.
    pub fine_tuning: bool,
    /// `CONTINUED_PRE_TRAINING`.
    pub continued_pre_training: bool,
    /// `DISTILLATION` (as the student).
    pub distillation: bool,
    /// `REINFORCEMENT_FINE_TUNING`.
    pub reinforcement_fine_tuning: bool,
}

/// One customizable base model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaseModel {
    /// Model id for `baseModelIdentifier` (the customizable variant, with its context suffix).
    pub id: &'static str,
    /// Human name.
    pub name: &'static str,
    /// Data format (the datasets crate's target).
    pub format: BedrockFormat,
    /// Regions that offer customization of this model.
    pub regions: &'static [&'static str],
    /// Customization types offered.
    pub offers: Offers,
    /// Documented hyperparameters.
    pub hyperparameters: &'static [Hyperparameter],
}

const fn hp(name: &'static str, kind: HpKind, min: f64, max: f64, default: f64) -> Hyperparameter {
    Hyperparameter {
        name,
        kind,
        min,
        max,
        default,
    }
}

use HpKind::{Float, Int};

/// Titan Text G1 Express / Lite ("cm-hp-titan-text.html", second table).
const TITAN_EXPRESS_LITE_HP: &[Hyperparameter] = &[
    hp("epochCount", Int, 1.0, 10.0, 5.0),
    hp("batchSize", Int, 1.0, 64.0, 1.0),
    hp("learningRate", Float, 0.0, 1.0, 1e-5),
    hp("learningRateWarmupSteps", Int, 0.0, 250.0, 5.0),
];
/// Titan Text Premier ("cm-hp-titan-text.html", first table).
const TITAN_PREMIER_HP: &[Hyperparameter] = &[
    hp("epochCount", Int, 1.0, 5.0, 2.0),
    hp("batchSize", Int, 1.0, 1.0, 1.0),
    hp("learningRate", Float, 1e-7, 1e-5, 1e-6),
    hp("learningRateWarmupSteps", Int, 0.0, 20.0, 5.0),
];
/// Llama 3.1 and 3.2 ("cm-hp-meta-llama31.html", "cm-hp-meta-llama32.html").
const LLAMA_HP: &[Hyperparameter] = &[
    hp("epochCount", Int, 1.0, 10.0, 5.0),
    hp("batchSize", Int, 1.0, 1.0, 1.0),
    hp("learningRate", Float, 5e-6, 0.1, 1e-4),
];
/// Nova Micro / Lite / Pro ("cm-hp-nova-mm.html"; the Nova User Guide's older page says 20
/// for the warmup maximum, the Bedrock page 100: the Bedrock page is used).
const NOVA_HP: &[Hyperparameter] = &[
    hp("epochCount", Int, 1.0, 5.0, 2.0),
    hp("learningRate", Float, 1e-6, 1e-4, 1e-5),
    hp("learningRateWarmupSteps", Int, 0.0, 100.0, 10.0),
];
/// Claude 3 Haiku ("cm-hp-anth-claude-3.html").
const CLAUDE3_HP: &[Hyperparameter] = &[
    hp("epochCount", Int, 1.0, 10.0, 2.0),
    hp("batchSize", Int, 4.0, 256.0, 32.0),
    hp("learningRateMultiplier", Float, 0.1, 2.0, 1.0),
    hp("earlyStoppingThreshold", Float, 0.0, 0.1, 0.001),
    hp("earlyStoppingPatience", Int, 1.0, 10.0, 2.0),
];
/// Cohere Command ("cm-hp-cohere-command.html": batchSize max 8 for Command).
const COHERE_COMMAND_HP: &[Hyperparameter] = &[
    hp("epochCount", Int, 1.0, 100.0, 1.0),
    hp("batchSize", Int, 8.0, 8.0, 8.0),
    hp("learningRate", Float, 5e-6, 0.1, 1e-5),
    hp("earlyStoppingThreshold", Float, 0.0, 0.1, 0.01),
    hp("earlyStoppingPatience", Int, 1.0, 10.0, 6.0),
    hp("evalPercentage", Float, 5.0, 50.0, 20.0),
];
/// Cohere Command Light (same page: batchSize max 32 for Light).
const COHERE_LIGHT_HP: &[Hyperparameter] = &[
    hp("epochCount", Int, 1.0, 100.0, 1.0),
    hp("batchSize", Int, 8.0, 32.0, 8.0),
    hp("learningRate", Float, 5e-6, 0.1, 1e-5),
    hp("earlyStoppingThreshold", Float, 0.0, 0.1, 0.01),
    hp("earlyStoppingPatience", Int, 1.0, 10.0, 6.0),
    hp("evalPercentage", Float, 5.0, 50.0, 20.0),
];

const FT: Offers = Offers {
    fine_tuning: true,
    continued_pre_training: false,
    distillation: false,
    reinforcement_fine_tuning: false,
};
const FT_CPT: Offers = Offers {
    fine_tuning: true,
    continued_pre_training: true,
    distillation: false,
    reinforcement_fine_tuning: false,
};
// unverified: distillation student support (Nova, Llama 3.1/3.2 small models, Claude 3 Haiku
// per the Bedrock "Model distillation" page as remembered, not re-read here).
const FT_DIST: Offers = Offers {
    fine_tuning: true,
    continued_pre_training: false,
    distillation: true,
    reinforcement_fine_tuning: false,
};
// AWS release notes (December 2025, as summarised by a third party; not re-read here): RFT
// on Bedrock starts with Amazon Nova 2 Lite, `amazon.nova-lite-v2:0:256k`, in us-east-1.
const RFT_ONLY: Offers = Offers {
    fine_tuning: false,
    continued_pre_training: false,
    distillation: false,
    reinforcement_fine_tuning: true,
};

const US_EAST_1: &[&str] = &["us-east-1"];
const US_WEST_2: &[&str] = &["us-west-2"];
const BOTH: &[&str] = &["us-east-1", "us-west-2"];

/// Every customizable base model tunebench knows.
pub const BASE_MODELS: &[BaseModel] = &[
    BaseModel {
        id: "amazon.titan-text-express-v1:0:8k",
        name: "Amazon Titan Text G1 - Express",
        format: BedrockFormat::TitanText,
        regions: BOTH,
        offers: FT_CPT,
        hyperparameters: TITAN_EXPRESS_LITE_HP,
    },
    BaseModel {
        id: "amazon.titan-text-lite-v1:0:4k",
        name: "Amazon Titan Text G1 - Lite",
        format: BedrockFormat::TitanText,
        regions: BOTH, // unverified: us-west-2 (listed as supported; table row not seen)
        offers: FT_CPT,
        hyperparameters: TITAN_EXPRESS_LITE_HP,
    },
    BaseModel {
        id: "amazon.titan-text-premier-v1:0:32k", // unverified: id suffix
        name: "Amazon Titan Text G1 - Premier",
        format: BedrockFormat::TitanText,
        regions: US_EAST_1, // unverified
        offers: FT,
        hyperparameters: TITAN_PREMIER_HP,
    },
    BaseModel {
        id: "meta.llama3-1-8b-instruct-v1:0:128k",
        name: "Meta Llama 3.1 8B Instruct",
        format: BedrockFormat::Llama31,
        regions: US_WEST_2,
        offers: FT_DIST,
        hyperparameters: LLAMA_HP,
    },
    BaseModel {
        id: "meta.llama3-1-70b-instruct-v1:0:128k",
        name: "Meta Llama 3.1 70B Instruct",
        format: BedrockFormat::Llama31,
        regions: US_WEST_2,
        offers: FT_DIST,
        hyperparameters: LLAMA_HP,
    },
    BaseModel {
        id: "meta.llama3-2-1b-instruct-v1:0:128k",
        name: "Meta Llama 3.2 1B Instruct",
        format: BedrockFormat::Llama32,
        regions: US_WEST_2,
        offers: FT_DIST,
        hyperparameters: LLAMA_HP,
    },
    BaseModel {
        id: "meta.llama3-2-3b-instruct-v1:0:128k",
        name: "Meta Llama 3.2 3B Instruct",
        format: BedrockFormat::Llama32,
        regions: US_WEST_2,
        offers: FT_DIST,
        hyperparameters: LLAMA_HP,
    },
    BaseModel {
        id: "meta.llama3-2-11b-instruct-v1:0:128k",
        name: "Meta Llama 3.2 11B Instruct",
        format: BedrockFormat::Llama32,
        regions: US_WEST_2,
        offers: FT,
        hyperparameters: LLAMA_HP,
    },
    BaseModel {
        id: "meta.llama3-2-90b-instruct-v1:0:128k",
        name: "Meta Llama 3.2 90B Instruct",
        format: BedrockFormat::Llama32,
        regions: US_WEST_2,
        offers: FT,
        hyperparameters: LLAMA_HP,
    },
    BaseModel {
        id: "amazon.nova-micro-v1:0:128k",
        name: "Amazon Nova Micro",
        format: BedrockFormat::Nova,
        regions: US_EAST_1,
        offers: FT_DIST,
        hyperparameters: NOVA_HP,
    },
    BaseModel {
        id: "amazon.nova-lite-v1:0:300k",
        name: "Amazon Nova Lite",
        format: BedrockFormat::Nova,
        regions: US_EAST_1,
        offers: FT_DIST,
        hyperparameters: NOVA_HP,
    },
    BaseModel {
        id: "amazon.nova-pro-v1:0:300k",
        name: "Amazon Nova Pro",
        format: BedrockFormat::Nova,
        regions: US_EAST_1,
        offers: FT_DIST,
        hyperparameters: NOVA_HP,
    },
    BaseModel {
        // Its SFT and distillation offers and their hyperparameters are not in this table
        // yet; RFT takes its hyperparameters in `rftConfig`, not here.
        id: "amazon.nova-lite-v2:0:256k",
        name: "Amazon Nova 2 Lite",
        format: BedrockFormat::Nova,
        regions: US_EAST_1,
        offers: RFT_ONLY,
        hyperparameters: &[],
    },
    BaseModel {
        id: "anthropic.claude-3-haiku-20240307-v1:0:200k",
        name: "Anthropic Claude 3 Haiku",
        format: BedrockFormat::Claude3Haiku,
        regions: US_WEST_2,
        offers: FT,
        hyperparameters: CLAUDE3_HP,
    },
    BaseModel {
        id: "cohere.command-text-v14:7:4k", // unverified: id
        name: "Cohere Command",
        format: BedrockFormat::Cohere,
        regions: US_EAST_1, // unverified
        offers: FT,
        hyperparameters: COHERE_COMMAND_HP,
    },
    BaseModel {
        id: "cohere.command-light-text-v14:7:4k", // unverified: id
        name: "Cohere Command Light",
        format: BedrockFormat::Cohere,
        regions: US_EAST_1, // unverified
        offers: FT,
        hyperparameters: COHERE_LIGHT_HP,
    },
];

/// The base model with this id. A foundation-model ARN or an id without its context suffix
/// (`amazon.titan-text-lite-v1`) also matches.
pub fn find(id: &str) -> Option<&'static BaseModel> {
    let id = id.rsplit('/').next().unwrap_or(id);
    BASE_MODELS.iter().find(|m| {
        m.id == id || (m.id.starts_with(id) && m.id[id.len()..].starts_with(':') && !id.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ranges_ordered() {
        for (i, m) in BASE_MODELS.iter().enumerate() {
            assert!(
                BASE_MODELS[i + 1..].iter().all(|o| o.id != m.id),
                "{}",
                m.id
            );
            for h in m.hyperparameters {
                assert!(
                    h.min <= h.default && h.default <= h.max,
                    "{} {}",
                    m.id,
                    h.name
                );
            }
            // An RFT-only model takes its hyperparameters in `rftConfig`, not from this table.
            let rft_only = m.offers.reinforcement_fine_tuning
                && !(m.offers.fine_tuning
                    || m.offers.continued_pre_training
                    || m.offers.distillation);
            assert!(
                rft_only || m.hyperparameters.iter().any(|h| h.name == "epochCount"),
                "{}",
                m.id
            );
        }
    }

    #[test]
    fn shipped_pricing_table_prices_every_base_model() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/pricing.toml");
        let table = tunebench_aws::pricing::CustomizationPrices::load(&path).unwrap();
        // RFT is not billed per training token (the sampled answers and the grader calls count
        // too), and its prices are not in the table: its jobs give train_price_per_1k_tokens
        // and storage_price_per_month themselves.
        for m in BASE_MODELS
            .iter()
            .filter(|m| m.offers.fine_tuning || m.offers.continued_pre_training)
        {
            for r in m.regions {
                assert!(table.find(m.id, Some(r)).is_some(), "{} in {r}", m.id);
            }
        }
    }

    #[test]
    fn find_accepts_arns_and_unsuffixed_ids() {
        assert_eq!(
            find("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-lite-v1:0:4k")
                .map(|m| m.name),
            Some("Amazon Titan Text G1 - Lite")
        );
        assert!(find("amazon.titan-text-lite-v1").is_some());
        assert!(find("amazon.titan-text").is_none());
        assert!(find("nope.model-v1").is_none());
    }
}
