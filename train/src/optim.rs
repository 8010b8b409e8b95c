//! AdamW, the learning-rate schedule, and gradient bookkeeping (accumulation over
//! micro-batches, global-norm clipping).
//!
//! AdamW is PyTorch's `torch.optim.AdamW` (Loshchilov & Hutter 2019, decoupled weight
//! decay), step by step as its single-tensor implementation computes it:
//!
//! ```text
//! p ← p · (1 − lr·λ)
//! m ← β₁·m + (1 − β₁)·g
//! v ← β₂·v + (1 − β₂)·g²
//! p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
//! ```
//!
//! As in Hugging Face's Trainer, one-dimensional parameters (norm gains, biases) get no
//! weight decay.
//!
//! Parameters are named by their module path (`model.layers.0.self_attn.q_proj.lora.lora_a`);
//! gradients and optimizer state are kept flat (`[numel]`) under those names, which is also
//! how checkpoints store them.

use std::collections::BTreeMap;
use std::f64::consts::PI;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;

use crate::settings::Schedule;

/// Flat tensors by parameter path.
pub type Named = BTreeMap<String, Tensor<1>>;

/// The module path of the parameter being visited.
#[derive(Default)]
struct PathStack(Vec<String>);

impl PathStack {
    fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }

    fn exit(&mut self) {
        self.0.pop();
    }

    fn path(&self) -> String {
        self.0.join(".")
    }
}

/// Gradients of every trainable parameter of `module` in `grads`, flat and without autodiff.
pub fn gradients<M: Module>(module: &M, grads: &Gradients) -> Named {
    collect(module, Some(grads))
}

/// Every trainable parameter of `module`, flat and without autodiff.
pub fn trainable<M: Module>(module: &M) -> Named {
    collect(module, None)
}

/// The trainable parameters of `module` by path: their values, or with `grads` their
/// gradients (parameters without one are left out).
fn collect<M: Module>(module: &M, grads: Option<&Gradients>) -> Named {
    struct Collect<'a> {
        path: PathStack,
        grads: Option<&'a Gradients>,
        out: Named,
    }
    impl ModuleVisitor for Collect<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            if !value.is_require_grad() {
                return;
            }
            let wanted = match self.grads {
                Some(grads) => value.grad(grads),
                None => Some(value.inner()),
            };
            if let Some(t) = wanted {
                self.out.insert(self.path.path(), t.flatten(0, D - 1));
            }
        }
    }
    let mut c = Collect {
        path: PathStack::default(),
        grads,
        out: Named::new(),
    };
    module.visit(&mut c);
    c.out
}

/// Replaces trainable parameters by the flat values in `values` (by path), as fresh
/// gradient-tracking leaves; parameters not in `values` are left alone.
pub fn assign<M: Module>(module: M, values: &Named) -> M {
    struct Assign<'a> {
        path: PathStack,
        values: &'a Named,
    }
    impl ModuleMapper for Assign<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some(new) = self.values.get(&self.path.path()) else {
                return param;
            };
            param.map(|old| {
                let shape = old.shape();
                let require_grad = old.is_require_grad();
                Tensor::from_inner(new.clone().reshape(shape)).set_require_grad(require_grad)
            })
        }
    }
    module.map(&mut Assign {
        path: PathStack::default(),
        values,
    })
}

/// Adds `grads` into `sum` (gradient accumulation).
pub fn accumulate(sum: &mut Named, grads: Named) {
    for (name, g) in grads {
        let total = match sum.remove(&name) {
            Some(s) => s + g,
            None => g,
        };
        sum.insert(name, total);
    }
}

/// The L2 norm of all gradients together.
pub fn global_norm(grads: &Named) -> f64 {
    grads
        .values()
        .map(|g| f64::from(g.clone().square().sum().into_scalar::<f32>()))
        .sum::<f64>()
        .sqrt()
}

/// Scales gradients so their global norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)`, applied only when below 1).
pub fn clip(grads: &mut Named, norm: f64, max_norm: f64) {
    if max_norm <= 0.0 {
        return;
    }
    let factor = max_norm / (norm + 1e-6);
    if factor < 1.0 {
        for g in grads.values_mut() {
            *g = g.clone().mul_scalar(factor);
        }
    }
}

/// AdamW's settings and per-parameter state.
#[derive(Debug, Clone)]
pub struct AdamW {
    /// β₁, β₂.
    pub betas: (f64, f64),
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay λ.
    pub weight_decay: f64,
    /// Steps taken (t).
    pub step: u64,
    /// First moments by parameter path.
    pub m: Named,
    /// Second moments by parameter path.
    pub v: Named,
}

impl AdamW {
    /// A fresh optimizer.
    pub fn new(betas: (f64, f64), eps: f64, weight_decay: f64) -> Self {
        AdamW {
            betas,
            eps,
            weight_decay,
            step: 0,
            m: Named::new(),
            v: Named::new(),
        }
    }

    /// One step at learning rate `lr`: returns the new values of the parameters that have a
    /// gradient. `params[name]` is flat; `decay[name]` says whether weight decay applies.
    pub fn step(
        &mut self,
        params: &Named,
        grads: &Named,
        decay: &dyn Fn(&str) -> bool,
        lr: f64,
    ) -> Named {
        self.step += 1;
        let (b1, b2) = self.betas;
        let t = self.step as i32;
        let bias1 = 1.0 - b1.powi(t);
        let bias2_sqrt = (1.0 - b2.powi(t)).sqrt();
        let mut out = Named::new();
        for (name, g) in grads {
            let Some(p) = params.get(name) else { continue };
            let zeros = || g.zeros_like();
            let m = self.m.remove(name).unwrap_or_else(zeros);
            let v = self.v.remove(name).unwrap_or_else(zeros);
            let m = m.mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1);
            let v = v.mul_scalar(b2) + g.clone().square().mul_scalar(1.0 - b2);
            let mut p = p.clone();
            if self.weight_decay > 0.0 && decay(name) {
                p = p.mul_scalar(1.0 - lr * self.weight_decay);
            }
            let denom = v.clone().sqrt().div_scalar(bias2_sqrt).add_scalar(self.eps);
            let p = p - (m.clone() / denom).mul_scalar(lr / bias1);
            self.m.insert(name.clone(), m);
            self.v.insert(name.clone(), v);
            out.insert(name.clone(), p);
        }
        out
    }
}

/// Learning rate at optimizer step `step` (0-based) of `total`, as transformers'
/// `get_{cosine,linear,constant}_schedule_with_warmup` compute it: `peak · step / warmup`
/// during warmup, then the decay of `schedule` to 0 at `total`.
pub fn learning_rate(
    peak: f64,
    schedule: Schedule,
    warmup: usize,
    total: usize,
    step: usize,
) -> f64 {
    if step < warmup {
        return peak * step as f64 / warmup.max(1) as f64;
    }
    let progress = (step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64;
    match schedule {
        Schedule::Constant => peak,
        Schedule::Linear => peak * (1.0 - progress).max(0.0),
        Schedule::Cosine => peak * 0.5 * (1.0 + (PI * progress.min(1.0)).cos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(values: &[f32]) -> Tensor<1> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [values.len()]),
            &Device::flex(),
        )
    }

    fn host(t: &Tensor<1>) -> Vec<f32> {
        t.clone().try_into_vec_as::<f32>().unwrap()
    }

    /// Two AdamW steps, expected values worked out from the formulas in PyTorch's
    /// documentation (torch.optim.AdamW, "Algorithm") with lr 0.1, β (0.9, 0.999), ε 1e-8,
    /// λ 0.01, p₀ = [1, -2], g₁ = [0.5, -1], g₂ = [0.1, 0.2]:
    /// step 1: p ← p(1 − 0.001) = [0.999, -1.998]; m = [0.05, -0.1]; v = [2.5e-4, 1e-3];
    ///   m̂ = m / 0.1 = [0.5, -1]; v̂ = v / 0.001 = [0.25, 1]; p ← p − 0.1 · m̂ / (√v̂ + ε)
    ///   = [0.999 − 0.1·0.5/0.5, −1.998 + 0.1·1/1] = [0.899, −1.898] (ε changes the 9th digit).
    /// step 2: p ← p(0.999) = [0.898101, −1.896102]; m = 0.9·m + 0.1·g = [0.055, −0.07];
    ///   v = 0.999·v + 0.001·g² = [2.5975e-4, 1.039e-3]; m̂ = m / 0.19; v̂ = v / 0.001999;
    ///   p ← p − 0.1 · m̂ / (√v̂ + ε).
    #[test]
    fn adamw_matches_pytorch_formulas() {
        let mut opt = AdamW::new((0.9, 0.999), 1e-8, 0.01);
        let mut params = Named::from([("w".to_string(), t(&[1.0, -2.0]))]);
        let decay = |_: &str| true;
        for g in [[0.5f32, -1.0], [0.1, 0.2]] {
            let grads = Named::from([("w".to_string(), t(&g))]);
            params = opt.step(&params, &grads, &decay, 0.1);
            if opt.step == 1 {
                let p = host(&params["w"]);
                assert!(
                    (p[0] - 0.899).abs() < 1e-6 && (p[1] + 1.898).abs() < 1e-6,
                    "{p:?}"
                );
            }
        }
        let step2 = |p: f64, m: f64, v: f64| {
            let (mh, vh) = (m / 0.19, v / (1.0 - 0.999f64.powi(2)));
            p * 0.999 - 0.1 * mh / (vh.sqrt() + 1e-8)
        };
        let expected = [
            step2(0.899, 0.055, 2.5975e-4),
            step2(-1.898, -0.07, 1.039e-3),
        ];
        let p = host(&params["w"]);
        for (ours, theirs) in p.iter().zip(expected) {
            assert!(
                (f64::from(*ours) - theirs).abs() < 2e-6,
                "{ours} vs {theirs}"
            );
        }
    }

    #[test]
    fn no_decay_where_excluded() {
        let mut opt = AdamW::new((0.9, 0.999), 1e-8, 0.5);
        let params = Named::from([("norm".to_string(), t(&[1.0]))]);
        let grads = Named::from([("norm".to_string(), t(&[0.0]))]);
        let p = opt.step(&params, &grads, &|_| false, 0.1);
        assert_eq!(host(&p["norm"]), vec![1.0]);
    }

    #[test]
    fn clipping_follows_pytorch() {
        let mut g = Named::from([("a".to_string(), t(&[3.0])), ("b".to_string(), t(&[4.0]))]);
        let norm = global_norm(&g);
        assert!((norm - 5.0).abs() < 1e-9);
        clip(&mut g, norm, 1.0);
        let f = 1.0 / (5.0 + 1e-6);
        assert!((f64::from(host(&g["a"])[0]) - 3.0 * f).abs() < 1e-6);
        clip(&mut g, 1.0, 10.0); // below the limit: unchanged
        assert!((f64::from(host(&g["b"])[0]) - 4.0 * f).abs() < 1e-6);
    }

    #[test]
    fn schedules() {
        let lr = |s, step| learning_rate(1.0, s, 10, 110, step);
        assert_eq!(lr(Schedule::Cosine, 0), 0.0);
        assert!((lr(Schedule::Cosine, 5) - 0.5).abs() < 1e-12);
        assert!((lr(Schedule::Cosine, 10) - 1.0).abs() < 1e-12);
        assert!((lr(Schedule::Cosine, 60) - 0.5).abs() < 1e-12);
        assert!(lr(Schedule::Cosine, 110).abs() < 1e-12);
        assert!((lr(Schedule::Linear, 60) - 0.5).abs() < 1e-12);
        assert_eq!(lr(Schedule::Constant, 100), 1.0);
    }
}
