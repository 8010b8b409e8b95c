//! Building the metrics and the answer extraction a suite file asks for, and checking that
//! its scoring settings fit together.

use super::*;

/// Checks `[choices]` and `loglikelihood` against each other and the metrics.
pub(super) fn check_scoring(file: &SuiteFile, metrics: &[Metric], path: &Path) -> Result<()> {
    let at = |field: &str| Location::file(path).field(field);
    if let Some(c) = &file.choices {
        if file.loglikelihood {
            return Err(ScoreError::input(
                at("loglikelihood"),
                "a suite is either multiple choice ([choices]) or loglikelihood, not both",
            ));
        }
        let sources = usize::from(c.field.is_some())
            + usize::from(c.list.is_some())
            + usize::from(c.from_references);
        if sources != 1 {
            return Err(ScoreError::input(
                at("choices"),
                "give exactly one of `field`, `list` or `from_references = true`",
            ));
        }
        if c.list
            .as_ref()
            .is_some_and(|l| l.is_empty() || l.iter().any(String::is_empty))
        {
            return Err(ScoreError::input(
                at("choices.list"),
                "needs at least one choice, none of them empty",
            ));
        }
    }
    for (i, m) in metrics.iter().enumerate() {
        let ll = m.kind == MetricKind::Loglikelihood;
        if ll != file.loglikelihood {
            return Err(ScoreError::input(
                at(&format!("metrics[{i}].kind")),
                if ll {
                    "kind loglikelihood needs `loglikelihood = true` (the reference's likelihood is scored instead of generating)"
                } else {
                    "a `loglikelihood = true` suite answers with likelihoods, which only kind loglikelihood scores"
                },
            ));
        }
    }
    Ok(())
}

pub(super) fn extraction(spec: &ExtractSpec, path: &Path) -> Result<Extraction> {
    let at = |field: &str| Location::file(path).field(format!("extract.{field}"));
    let needs = |field: &str, value: &Option<String>| -> Result<String> {
        value
            .clone()
            .ok_or_else(|| ScoreError::input(at(field), "missing for this kind"))
    };
    let unused = |field: &str, value: &Option<String>| -> Result<()> {
        match value {
            Some(_) => Err(ScoreError::input(
                at(field),
                "does not apply to this extract kind",
            )),
            None => Ok(()),
        }
    };
    let extractor = match spec.kind {
        ExtractKind::None => {
            unused("pattern", &spec.pattern)?;
            unused("path", &spec.path)?;
            None
        }
        ExtractKind::Regex => {
            unused("path", &spec.path)?;
            let p = needs("pattern", &spec.pattern)?;
            let re = Regex::new(&p)
                .map_err(|e| ScoreError::input(at("pattern"), format!("bad regex: {e}")))?;
            Some(Extractor::Regex(re))
        }
        ExtractKind::LastNumber | ExtractKind::FirstLine => {
            unused("pattern", &spec.pattern)?;
            unused("path", &spec.path)?;
            Some(if spec.kind == ExtractKind::LastNumber {
                Extractor::LastNumber
            } else {
                Extractor::FirstLine
            })
        }
        ExtractKind::JsonPath => {
            unused("pattern", &spec.pattern)?;
            let p = needs("path", &spec.path)?;
            let jp =
                JsonPath::parse(&p).map_err(|e| ScoreError::input(at("path"), e.to_string()))?;
            Some(Extractor::JsonPath(jp))
        }
    };
    Ok(Extraction {
        extractor,
        apply_to_reference: spec.apply_to_reference,
    })
}

pub(super) fn metrics(specs: &[MetricSpec], path: &Path, base: &Path) -> Result<Vec<Metric>> {
    if specs.is_empty() {
        return Err(ScoreError::input(
            Location::file(path).field("metrics"),
            "a suite needs at least one metric",
        ));
    }
    let mut out: Vec<Metric> = Vec::with_capacity(specs.len());
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = |field: &str| Location::file(path).field(format!("metrics[{i}].{field}"));
        let kind = spec.kind;
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| kind.as_str().to_owned());
        if let Some(j) = names.insert(name.clone(), i) {
            return Err(ScoreError::input(
                at("name"),
                format!(
                    "metric name {name:?} is also used by metrics[{j}]\nhint: give one of them a `name`"
                ),
            ));
        }
        if name == "score" {
            return Err(ScoreError::input(
                at("name"),
                "\"score\" is the aggregate's name; pick another",
            ));
        }
        let weight = spec.weight.unwrap_or(1.0);
        if !weight.is_finite() || weight < 0.0 {
            return Err(ScoreError::input(
                at("weight"),
                format!("must be a finite number >= 0, got {weight}"),
            ));
        }
        let only = |field: &str, present: bool, kinds: &[MetricKind]| -> Result<()> {
            if present && !kinds.contains(&kind) {
                let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                return Err(ScoreError::input(
                    at(field),
                    format!(
                        "does not apply to kind {}; only to {}",
                        kind.as_str(),
                        names.join(", ")
                    ),
                ));
            }
            Ok(())
        };
        use MetricKind as K;
        only(
            "normalize",
            spec.normalize.is_some(),
            &[K::ExactMatch, K::Contains, K::Accuracy],
        )?;
        only("pattern", spec.pattern.is_some(), &[K::Regex, K::Judge])?;
        only("judge", spec.judge.is_some(), &[K::Judge])?;
        only("rubric", spec.rubric.is_some(), &[K::Judge])?;
        only("scale", spec.scale.is_some(), &[K::Judge])?;
        only("max_tokens", spec.max_tokens.is_some(), &[K::Judge])?;
        only("grader", spec.grader.is_some(), &[K::Grader])?;
        only("entry", spec.entry.is_some(), &[K::Grader])?;
        if kind == K::Grader && spec.grader.is_none() {
            return Err(ScoreError::input(
                at("grader"),
                "missing for kind grader\nhint: `grader = \"<a [[eval.graders]] name>\"`",
            ));
        }
        only("abs_tol", spec.abs_tol.is_some(), &[K::Numeric])?;
        only("rel_tol", spec.rel_tol.is_some(), &[K::Numeric])?;
        only("schema", spec.schema.is_some(), &[K::JsonSchema])?;

        let pattern = match (kind, &spec.pattern) {
            (K::Regex, None) => {
                return Err(ScoreError::input(at("pattern"), "missing for kind regex"));
            }
            (_, Some(p)) => Some(
                Regex::new(p)
                    .map_err(|e| ScoreError::input(at("pattern"), format!("bad regex: {e}")))?,
            ),
            (_, None) => None,
        };
        let judge = match kind {
            K::Judge => {
                let (Some(judge), Some(rubric)) = (&spec.judge, &spec.rubric) else {
                    return Err(ScoreError::input(
                        at(if spec.judge.is_none() {
                            "judge"
                        } else {
                            "rubric"
                        }),
                        "missing for kind judge\nhint: `judge = \"<a [[eval.judges]] name>\"` and `rubric = \"... {{ prompt }} ... {{ response }} ... {{ reference }} ...\"`",
                    ));
                };
                JudgeSpec::check_rubric(rubric, at("rubric"))?;
                let scale = JudgeScale::parse(spec.scale.as_deref().unwrap_or("1-5"))
                    .map_err(|e| ScoreError::input(at("scale"), e))?;
                Some(JudgeSpec {
                    judge: judge.clone(),
                    rubric: rubric.clone(),
                    scale,
                    pattern: pattern.clone(),
                    max_tokens: spec.max_tokens.unwrap_or(256),
                })
            }
            _ => None,
        };
        let mut tolerance = NumericTolerance::default();
        for (field, value, slot) in [
            ("abs_tol", spec.abs_tol, &mut tolerance.abs),
            ("rel_tol", spec.rel_tol, &mut tolerance.rel),
        ] {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    return Err(ScoreError::input(
                        at(field),
                        format!("must be a finite number >= 0, got {v}"),
                    ));
                }
                *slot = v;
            }
        }
        let schema = match (kind, &spec.schema) {
            (K::JsonSchema, None) => {
                return Err(ScoreError::input(
                    at("schema"),
                    "missing for kind json_schema (a JSON Schema file, relative to the suite)",
                ));
            }
            (_, Some(file)) => {
                let file = base.join(file);
                let text = std::fs::read_to_string(&file).map_err(|e| ScoreError::io(&file, e))?;
                let value: Value = serde_json::from_str(&text).map_err(|e| {
                    ScoreError::input(Location::line(&file, e.line()), format!("not JSON: {e}"))
                })?;
                Some(
                    JsonSchema::compile(&value)
                        .map_err(|source| ScoreError::Schema { path: file, source })?,
                )
            }
            (_, None) => None,
        };
        out.push(Metric {
            name,
            kind,
            weight,
            normalize: spec.normalize.unwrap_or_default().options(),
            pattern,
            tolerance,
            schema,
            judge,
            grader: spec.grader.clone(),
            grader_entry: spec.entry.clone(),
        });
    }
    if out.iter().map(|m| m.weight).sum::<f64>() <= 0.0 {
        return Err(ScoreError::input(
            Location::file(path).field("metrics"),
            "the metric weights add up to 0",
        ));
    }
    Ok(out)
}
