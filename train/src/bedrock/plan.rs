//! The plan: every pre-flight check, the estimate and the exact CreateModelCustomizationJob request, before anything is uploaded.

use super::*;

/// Everything [`submit`] will do, computed without touching the network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The CreateModelCustomizationJob request body as sent (camelCase JSON).
    pub request: Value,
    /// The same request for the aws crate.
    #[serde(skip)]
    pub spec: CustomizationJobSpec,
    /// The cost estimate.
    pub estimate: CostEstimate,
    /// Local files to upload, and `s3://` ones used as they are.
    pub data: Vec<DataFile>,
    /// Hash of the request and the data (the `clientRequestToken` is derived from it).
    pub config_hash: String,
}

impl Plan {
    /// Pretty JSON of request, estimate and data, deterministic (for `--dry-run` output and
    /// snapshots).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&json!({
            "request": self.request,
            "estimate": self.estimate,
            "data": self.data.iter().map(|d| json!({
                "file": d.path.file_name().map(|f| f.to_string_lossy().into_owned()),
                "uri": d.uri,
                "sha256": d.sha256,
                "records": d.records,
                "tokens": d.tokens,
            })).collect::<Vec<_>>(),
            "config_hash": self.config_hash,
        }))
        .unwrap_or_default()
    }
}

/// Runs every pre-flight check and, when all pass, returns the exact request, the cost
/// estimate and the files to upload. Reads the local data files; sends nothing.
pub fn plan(settings: &BedrockTrainSettings) -> Result<Plan> {
    let mut problems = settings.problems();
    let model = settings.base_model();
    let shape = model.map(|m| match settings.customization_type {
        CustomizationType::ReinforcementFineTuning => Target::Bedrock(BedrockFormat::Rft),
        _ => Target::Bedrock(m.format),
    });
    let prefix: Option<S3Uri> = settings
        .data_s3_prefix
        .as_deref()
        .and_then(|p| p.parse().ok());

    let mut data = Vec::new();
    let files = [
        (Split::Train, Some(&settings.train_file)),
        (Split::Validation, settings.validation_file.as_ref()),
    ];
    for (split, file) in files {
        let Some(file) = file.filter(|f| !f.is_empty()) else {
            continue;
        };
        if is_s3(file) {
            data.push(DataFile {
                path: PathBuf::new(),
                uri: file.clone(),
                sha256: hex::encode(Sha256::digest(file.as_bytes())),
                records: None,
                tokens: None,
            });
            continue;
        }
        let path = PathBuf::from(file);
        let Some(shape) = shape else {
            // Unknown base model: the format is unknown too; that problem is listed already.
            continue;
        };
        if let Some((sha, records, tokens)) = check_data(&path, shape, split, &mut problems) {
            let name = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("{}.jsonl", split.name()));
            data.push(DataFile {
                uri: prefix
                    .as_ref()
                    .map(|p| p.join(&name).to_string())
                    .unwrap_or_default(),
                path,
                sha256: sha,
                records: Some(records),
                tokens: Some(tokens),
            });
        }
    }
    // Distillation trains on prompts only; the other types need the target's record shapes,
    // which `check_data` verified. Continued pre-training needs `{"input"}` records.
    if settings.customization_type == CustomizationType::ContinuedPreTraining
        && model.is_some_and(|m| m.format != BedrockFormat::TitanText)
    {
        problems.push(
            "CONTINUED_PRE_TRAINING data ({\"input\"} records) is only written for Titan Text"
                .into(),
        );
    }
    let prices = settings.prices();
    if let Err(p) = &prices
        && model.is_some()
    {
        problems.push(p.clone());
    }
    let (Some(model), Ok(prices)) = (model.filter(|_| problems.is_empty()), prices) else {
        return Err(TrainError::Preflight(problems));
    };

    let train_uri = data.first().map(|d| d.uri.clone()).unwrap_or_default();
    let validation: Vec<String> = data.iter().skip(1).map(|d| d.uri.clone()).collect();
    let hyper: BTreeMap<String, String> = settings
        .hyperparameters
        .iter()
        .map(|(k, v)| (k.clone(), v.to_api_string()))
        .collect();
    let mut spec = CustomizationJobSpec {
        job_name: settings.name.clone(),
        custom_model_name: settings.custom_model_name(),
        role_arn: settings.role_arn.clone(),
        base_model: settings.base_model_id.clone(),
        kind: settings.customization_type.kind(),
        training_s3_uri: train_uri,
        validation_s3_uris: validation,
        output_s3_uri: settings.output_s3_uri.clone(),
        hyper_parameters: hyper,
        teacher_model: settings.teacher_model_id.clone(),
        teacher_max_response_length: settings.teacher_max_response_length,
        rft: settings.rft.clone(),
        kms_key_id: settings.kms_key_id.clone(),
        tags: settings.job_tags.clone(),
        model_tags: settings.model_tags.clone(),
        vpc: settings.vpc.clone(),
        client_request_token: None,
    };
    let mut hasher = Sha256::new();
    hasher.update(request_json(&spec, settings.customization_type).to_string());
    for d in &data {
        hasher.update(b"\0");
        hasher.update(d.sha256.as_bytes());
    }
    let config_hash = hex::encode(hasher.finalize());
    // IdempotencyToken: [a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?
    spec.client_request_token = Some(format!("tb-{}", &config_hash[..48]));

    let train_tokens = data.first().and_then(|d| d.tokens);
    let epochs = settings.epochs(model);
    let price = prices.train_per_1k_tokens;
    let storage = prices.storage_per_month;
    let training_usd = train_tokens.map(|t| t as f64 * epochs / 1000.0 * price);
    let estimate = CostEstimate {
        token_counter: match settings.customization_type {
            CustomizationType::ReinforcementFineTuning => "characters / 4 of the prompts only, so a lower bound: an RFT job also bills the answers it samples (training_sample_per_prompt per prompt) and its grader Lambda's calls".into(),
            _ => "characters / 4 (no tokenizer for Bedrock base models)".into(),
        },
        train_tokens,
        epochs,
        train_per_1k_tokens: price,
        training_usd,
        storage_per_month_usd: storage,
        total_first_month_usd: training_usd.map(|t| t + storage),
        price_source: prices.source,
    };
    if let Some(limit) = settings.max_cost_usd {
        match estimate.total_first_month_usd {
            Some(e) if e > limit => {
                return Err(TrainError::CostLimit { estimate: e, limit });
            }
            None => {
                return Err(TrainError::Preflight(vec![
                    "max_cost_usd is set but the cost of s3:// training data cannot be estimated\nhint: give the local prepared train_file".into(),
                ]));
            }
            _ => {}
        }
    }
    Ok(Plan {
        request: request_json(&spec, settings.customization_type),
        spec,
        estimate,
        data,
        config_hash,
    })
}

/// The CreateModelCustomizationJob body for `spec`, as the SDK serialises it.
pub(super) fn request_json(spec: &CustomizationJobSpec, kind: CustomizationType) -> Value {
    let mut r = json!({
        "jobName": spec.job_name,
        "customModelName": spec.custom_model_name,
        "roleArn": spec.role_arn,
        "baseModelIdentifier": spec.base_model,
        "customizationType": kind.api_name(),
        "trainingDataConfig": { "s3Uri": spec.training_s3_uri },
        "outputDataConfig": { "s3Uri": spec.output_s3_uri },
    });
    if !spec.validation_s3_uris.is_empty() {
        r["validationDataConfig"] = json!({
            "validators": spec.validation_s3_uris.iter().map(|u| json!({ "s3Uri": u })).collect::<Vec<_>>()
        });
    }
    if !spec.hyper_parameters.is_empty() {
        r["hyperParameters"] = json!(spec.hyper_parameters);
    }
    if let Some(t) = &spec.teacher_model {
        let mut teacher = json!({ "teacherModelIdentifier": t });
        if let Some(n) = spec.teacher_max_response_length {
            teacher["maxResponseLengthForInference"] = json!(n);
        }
        r["customizationConfig"] =
            json!({ "distillationConfig": { "teacherModelConfig": teacher } });
    }
    if let Some(rft) = &spec.rft {
        let hp: serde_json::Map<String, Value> = [
            ("epochCount", rft.epoch_count.map(Value::from)),
            ("batchSize", rft.batch_size.map(Value::from)),
            ("learningRate", rft.learning_rate.map(Value::from)),
            ("maxPromptLength", rft.max_prompt_length.map(Value::from)),
            (
                "trainingSamplePerPrompt",
                rft.training_sample_per_prompt.map(Value::from),
            ),
            (
                "inferenceMaxTokens",
                rft.inference_max_tokens.map(Value::from),
            ),
            (
                "reasoningEffort",
                rft.reasoning_effort.clone().map(Value::from),
            ),
            ("evalInterval", rft.eval_interval.map(Value::from)),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), v?)))
        .collect();
        r["customizationConfig"] = json!({ "rftConfig": {
            "graderConfig": { "lambdaGrader": { "lambdaArn": rft.grader_lambda_arn } },
            "hyperParameters": hp,
        }});
    }
    if let Some(k) = &spec.kms_key_id {
        r["customModelKmsKeyId"] = json!(k);
    }
    let tag_list = |tags: &BTreeMap<String, String>| {
        json!(
            tags.iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect::<Vec<_>>()
        )
    };
    if !spec.tags.is_empty() {
        r["jobTags"] = tag_list(&spec.tags);
    }
    if !spec.model_tags.is_empty() {
        r["customModelTags"] = tag_list(&spec.model_tags);
    }
    if let Some(vpc) = &spec.vpc {
        r["vpcConfig"] = json!({
            "subnetIds": vpc.subnet_ids,
            "securityGroupIds": vpc.security_group_ids,
        });
    }
    if let Some(t) = &spec.client_request_token {
        r["clientRequestToken"] = json!(t);
    }
    r
}
