//! SVG charts drawn with plotters: quality vs cost with the Pareto frontier, per-metric bars
//! with confidence intervals, latency, training and validation loss curves, and score trends
//! across runs. Each function returns one `<svg>` element as text, for inlining in HTML.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use tunebench_scoring::compare::Comparison;

use crate::error::{ReportError, Result};
use crate::load::{LossPoint, TrainingCurve};
use crate::summary::RunSummary;

const SIZE: (u32, u32) = (720, 380);
const FONT: &str = "sans-serif";

/// Series colours (colour-blind safe, Okabe–Ito).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Draws on a fresh SVG canvas and returns its text.
fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    Ok(out)
}

fn plot_error<E: std::fmt::Debug>(e: E) -> ReportError {
    ReportError::Chart(format!("{e:?}"))
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A captioned chart over `x` × `y` in the house style.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, 'b>> {
    ChartBuilder::on(root)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(plot_error)
}

/// Draws the mesh with `labels[i]` under x = i (categorical x axis) and `y_desc` on y.
fn categorical_mesh(chart: &mut Chart<'_, '_>, labels: &[String], y_desc: &str) -> Result<()> {
    let name = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len())
        .x_label_formatter(&name)
        .y_desc(y_desc)
        .draw()
        .map_err(plot_error)
}

/// Draws the legend of the labelled series.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)
}

/// `(lo, hi)` widened so that a single value or flat series still gets a visible range.
fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = (hi - lo).max(1e-9);
    let (lo, hi) = (lo - span * pad, hi + span * pad);
    if (hi - lo) < 1e-6 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// Score against dollars per candidate, the Pareto frontier joined by a line.
///
/// # Errors
/// [`ReportError::Chart`] when drawing fails.
pub fn quality_vs_cost(suite: &Comparison) -> Result<String> {
    let points: Vec<(String, f64, f64)> = suite
        .candidates
        .iter()
        .map(|c| (c.name.clone(), c.cost_usd, c.score.value))
        .collect();
    let max_cost = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let x_hi = if max_cost > 0.0 { max_cost * 1.25 } else { 1.0 };
    svg(|root| {
        let caption = format!("{}: score vs cost (Pareto frontier)", suite.suite);
        let mut chart = frame(root, &caption, 0.0..x_hi, 0.0..1.05)?;
        chart
            .configure_mesh()
            .x_desc("cost (US$)")
            .y_desc("score")
            .draw()
            .map_err(plot_error)?;
        let mut frontier: Vec<(f64, f64)> = suite
            .pareto_cost
            .iter()
            .filter_map(|n| points.iter().find(|p| &p.0 == n).map(|p| (p.1, p.2)))
            .collect();
        frontier.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(frontier, color(5).stroke_width(2)))
            .map_err(plot_error)?
            .label("Pareto frontier")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color(5)));
        for (i, (name, cost, score)) in points.iter().enumerate() {
            chart
                .draw_series([EmptyElement::at((*cost, *score))
                    + Circle::new((0, 0), 6, color(i).filled())
                    + Text::new(name.clone(), (9, -14), (FONT, 14))])
                .map_err(plot_error)?;
        }
        legend(&mut chart)?;
        Ok(())
    })
}

/// One group of bars per metric (the aggregate score first), a bar per candidate with its
/// 95% interval as a whisker.
///
/// # Errors
/// [`ReportError::Chart`] when drawing fails.
pub fn metric_bars(suite: &Comparison) -> Result<String> {
    let mut metrics: Vec<String> = vec!["score".into()];
    if let Some(c) = suite.candidates.first() {
        metrics.extend(c.metrics.iter().map(|m| m.name.clone()));
    }
    let n = suite.candidates.len().max(1) as f64;
    let width = 0.8 / n;
    let hi = suite
        .candidates
        .iter()
        .flat_map(|c| metrics.iter().filter_map(|m| c.metric(m)))
        .map(|e| e.upper.max(e.value))
        .fold(1.0, f64::max);
    svg(|root| {
        let caption = format!("{}: metrics with 95% intervals", suite.suite);
        let x = -0.5..(metrics.len() as f64 - 0.5);
        let mut chart = frame(root, &caption, x, 0.0..hi * 1.05)?;
        categorical_mesh(&mut chart, &metrics, "value")?;
        for (ci, c) in suite.candidates.iter().enumerate() {
            let col = color(ci);
            let mut bars = Vec::new();
            let mut whiskers = Vec::new();
            for (mi, m) in metrics.iter().enumerate() {
                let Some(e) = c.metric(m) else { continue };
                let x0 = mi as f64 - 0.4 + width * ci as f64;
                let x1 = x0 + width * 0.9;
                let xm = (x0 + x1) / 2.0;
                bars.push(Rectangle::new([(x0, 0.0), (x1, e.value)], col.filled()));
                whiskers.push(PathElement::new(
                    vec![(xm, e.lower), (xm, e.upper)],
                    BLACK.stroke_width(2),
                ));
            }
            chart
                .draw_series(bars)
                .map_err(plot_error)?
                .label(c.name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
            chart.draw_series(whiskers).map_err(plot_error)?;
        }
        legend(&mut chart)?;
        Ok(())
    })
}

/// Median latency bars with the 95th percentile as a whisker; `None` when no candidate has
/// latency figures (e.g. recorded responses only).
///
/// # Errors
/// [`ReportError::Chart`] when drawing fails.
pub fn latency(suite: &Comparison) -> Result<Option<String>> {
    let rows: Vec<(String, f64, f64)> = suite
        .candidates
        .iter()
        .filter_map(|c| {
            let p50 = c.latency_p50_ms?;
            Some((c.name.clone(), p50, c.latency_p95_ms.unwrap_or(p50)))
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let hi = rows.iter().map(|r| r.2.max(r.1)).fold(1.0, f64::max) * 1.1;
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    svg(|root| {
        let caption = format!("{}: latency p50 (bar) and p95 (whisker)", suite.suite);
        let mut chart = frame(root, &caption, -0.5..(rows.len() as f64 - 0.5), 0.0..hi)?;
        categorical_mesh(&mut chart, &names, "ms")?;
        for (i, (_, p50, p95)) in rows.iter().enumerate() {
            let x = i as f64;
            chart
                .draw_series([Rectangle::new(
                    [(x - 0.3, 0.0), (x + 0.3, *p50)],
                    color(i).filled(),
                )])
                .map_err(plot_error)?;
            chart
                .draw_series([PathElement::new(
                    vec![(x, *p50), (x, *p95)],
                    BLACK.stroke_width(2),
                )])
                .map_err(plot_error)?;
        }
        Ok(())
    })
    .map(Some)
}

/// Training loss (line) and validation loss (line with points) per job over steps; `None`
/// without losses (no training jobs, or reinforcement fine-tuning jobs only).
///
/// # Errors
/// [`ReportError::Chart`] when drawing fails.
pub fn loss_curves(jobs: &[TrainingCurve]) -> Result<Option<String>> {
    curves(jobs, "training and validation loss", "loss", |p| {
        (p.train_loss, p.val_loss)
    })
}

/// Mean training reward (line) and mean validation reward (line with points) per
/// reinforcement fine-tuning job over steps; `None` without rewards.
///
/// # Errors
/// [`ReportError::Chart`] when drawing fails.
pub fn reward_curves(jobs: &[TrainingCurve]) -> Result<Option<String>> {
    curves(jobs, "training and validation reward", "mean reward", |p| {
        (p.train_reward, p.val_reward)
    })
}

/// One line per job for the training value and one with points for the validation value
/// that `pick` reads from each step; `None` when no step has either.
fn curves(
    jobs: &[TrainingCurve],
    title: &str,
    y_desc: &str,
    pick: fn(&LossPoint) -> (Option<f64>, Option<f64>),
) -> Result<Option<String>> {
    let values = || {
        jobs.iter()
            .flat_map(|j| j.points.iter())
            .flat_map(|p| {
                let (train, val) = pick(p);
                [train, val]
            })
            .flatten()
            .filter(|v| v.is_finite())
    };
    if values().next().is_none() {
        return Ok(None);
    }
    let lo = values().fold(f64::INFINITY, f64::min);
    let hi = values().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = padded(lo.min(0.0), hi, 0.05);
    let max_step = jobs
        .iter()
        .flat_map(|j| j.points.iter().map(|p| p.step))
        .max()
        .unwrap_or(1)
        .max(1);
    svg(|root| {
        let mut chart = frame(root, title, 0.0..max_step as f64, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(y_desc)
            .draw()
            .map_err(plot_error)?;
        for (i, job) in jobs.iter().enumerate() {
            let col = color(i);
            let train: Vec<(f64, f64)> = job
                .points
                .iter()
                .filter_map(|p| Some((p.step as f64, pick(p).0?)))
                .collect();
            let val: Vec<(f64, f64)> = job
                .points
                .iter()
                .filter_map(|p| Some((p.step as f64, pick(p).1?)))
                .collect();
            if !train.is_empty() {
                chart
                    .draw_series(LineSeries::new(train, col.stroke_width(1)))
                    .map_err(plot_error)?
                    .label(format!("{} train", job.name))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col));
            }
            if !val.is_empty() {
                let dark = RGBColor(col.0 / 2, col.1 / 2, col.2 / 2);
                chart
                    .draw_series(LineSeries::new(val, dark.stroke_width(3)).point_size(4))
                    .map_err(plot_error)?
                    .label(format!("{} validation", job.name))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], dark.stroke_width(3))
                    });
            }
        }
        legend(&mut chart)?;
        Ok(())
    })
    .map(Some)
}

/// Each candidate's aggregate score on `suite` across `runs` (oldest first, as given);
/// `None` with fewer than two runs holding the suite.
///
/// # Errors
/// [`ReportError::Chart`] when drawing fails.
pub fn trend(runs: &[RunSummary], suite: &str) -> Result<Option<String>> {
    let runs: Vec<&RunSummary> = runs
        .iter()
        .filter(|r| r.suites.iter().any(|s| s.suite == suite))
        .collect();
    if runs.len() < 2 {
        return Ok(None);
    }
    let mut names: Vec<String> = Vec::new();
    for r in &runs {
        for s in r.suites.iter().filter(|s| s.suite == suite) {
            for c in &s.candidates {
                if !names.contains(&c.name) {
                    names.push(c.name.clone());
                }
            }
        }
    }
    let ids: Vec<String> = runs.iter().map(|r| r.run_id.clone()).collect();
    svg(|root| {
        let caption = format!("{suite}: score across runs");
        let mut chart = frame(root, &caption, -0.25..(runs.len() as f64 - 0.75), 0.0..1.05)?;
        categorical_mesh(&mut chart, &ids, "score")?;
        for (ci, name) in names.iter().enumerate() {
            let col = color(ci);
            let series: Vec<(f64, f64)> = runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    let s = r.suite(suite)?;
                    Some((i as f64, s.candidate(name)?.score.value))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(series, col.stroke_width(2)).point_size(4))
                .map_err(plot_error)?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col));
        }
        legend(&mut chart)?;
        Ok(())
    })
    .map(Some)
}
