//! Compute as a budget: critic evaluations (forward and backward) per sample. Step 0 costs one
//! (the starting samples' logits), each flow step two (a logit and its gradient), each DRS or
//! MH-GAN step one (a proposal's logit). `dgflow eval --budget` and the page's "reject or refine"
//! view both spend a budget through these rules, so methods compare at equal compute.

use super::settings::{FlowConfig, Keep, Limits, Method};
use crate::error::{Error, Result};

/// The steps a method runs to spend about `budget` critic evaluations per sample.
pub fn steps_for_budget(method: Method, budget: usize) -> usize {
    if method.selects() { budget.saturating_sub(1) } else { budget.saturating_sub(1) / 2 }
}

/// What `steps` of a method cost per sample: the budget [`steps_for_budget`] spends in full.
pub fn budget_for(method: Method, steps: usize) -> usize {
    1 + if method.selects() { steps } else { 2 * steps }
}

/// Refuses a budget that buys no step of a flow.
pub fn check_budget(budget: usize) -> Result<()> {
    if budget < 3 {
        return Err(Error::parameter(
            "budget",
            budget,
            "expected at least 3 critic evaluations per sample: step 0 costs 1, each flow step 2 (DGflow's 25 steps cost 51)",
        ));
    }
    Ok(())
}

/// The largest budget whose runs fit `limits`: DRS and MH-GAN take a step per evaluation.
pub fn max_budget(limits: &Limits) -> usize {
    1 + 2 * (limits.max_steps / 2)
}

/// One run of a comparison at matched compute: its settings, and how many of its steps make
/// one step of the comparison (each comparison step spends two evaluations per sample).
#[derive(Debug, Clone, PartialEq)]
pub struct Contender {
    pub config: FlowConfig,
    pub stride: usize,
}

/// "Reject or refine": `flow` (a method that moves samples; DGflow-KL where `flow` names DRS or
/// MH-GAN) beside DRS and MH-GAN, all from `flow`'s seed, batch and so the same starting
/// samples, each running the steps `budget` pays for. A comparison step k has cost every
/// contender 1 + 2k evaluations per sample: the flow's step k, the selection methods' step 2k
/// (the steps each keeps samples of).
pub fn reject_or_refine(
    flow: &FlowConfig,
    budget: usize,
    limits: &Limits,
) -> Result<[Contender; 3]> {
    check_budget(budget)?;
    let most = max_budget(limits);
    if budget > most {
        return Err(Error::parameter(
            "budget",
            budget,
            format!(
                "expected at most {most} critic evaluations per sample here: DRS and MH-GAN spend one per step, and a run keeps at most {} steps",
                limits.max_steps
            ),
        ));
    }
    let method = if flow.method.selects() { Method::DgflowKl } else { flow.method };
    let steps = steps_for_budget(method, budget);
    let refine = FlowConfig { method, steps, keep: Keep::All, ..flow.clone() };
    let select = |method| Contender {
        config: FlowConfig { method, steps: 2 * steps, keep: Keep::Every(2), ..flow.clone() },
        stride: 2,
    };
    Ok([Contender { config: refine, stride: 1 }, select(Method::Drs), select(Method::MhGan)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contender_has_spent_the_same_at_each_comparison_step() {
        let flow = FlowConfig { seed: 7, batch: 5, ..FlowConfig::default() };
        let runs = reject_or_refine(&flow, 51, &Limits::PAGE).unwrap();
        let methods: Vec<Method> = runs.iter().map(|r| r.config.method).collect();
        assert_eq!(methods, [Method::DgflowKl, Method::Drs, Method::MhGan]);
        for run in &runs {
            assert_eq!((run.config.seed, run.config.batch), (7, 5), "the same starting samples");
            for k in 0..=25 {
                let step = k * run.stride;
                assert_eq!(
                    budget_for(run.config.method, step),
                    1 + 2 * k,
                    "{:?} step {step}",
                    run.config.method
                );
                assert_eq!(steps_for_budget(run.config.method, 1 + 2 * k), step);
                assert!(run.config.keeps(step), "{:?} keeps step {step}", run.config.method);
            }
            assert_eq!(run.config.steps, 25 * run.stride);
            run.config.validate_within(crate::sample::SampleKind::Image, &Limits::PAGE).unwrap();
        }
        // An even budget buys no half step: both kinds stop at 51.
        assert_eq!(reject_or_refine(&flow, 52, &Limits::PAGE).unwrap()[1].config.steps, 50);
    }

    #[test]
    fn a_selection_method_asked_to_refine_is_replaced_by_dgflow_and_flows_are_kept() {
        for (asked, ran) in [
            (Method::Drs, Method::DgflowKl),
            (Method::MhGan, Method::DgflowKl),
            (Method::DgflowLogD, Method::DgflowLogD),
            (Method::Dot, Method::Dot),
        ] {
            let flow = FlowConfig { method: asked, ..FlowConfig::default() };
            assert_eq!(reject_or_refine(&flow, 11, &Limits::PAGE).unwrap()[0].config.method, ran);
        }
    }

    #[test]
    fn budgets_that_buy_nothing_or_too_much_are_refused_by_name() {
        let flow = FlowConfig::default();
        for budget in [0, 2] {
            let e = reject_or_refine(&flow, budget, &Limits::PAGE).unwrap_err().to_string();
            assert!(e.contains("budget") && e.contains("at least 3"), "{e}");
        }
        assert_eq!(max_budget(&Limits::PAGE), 201);
        assert!(reject_or_refine(&flow, 201, &Limits::PAGE).is_ok());
        let e = reject_or_refine(&flow, 202, &Limits::PAGE).unwrap_err().to_string();
        assert!(e.contains("budget") && e.contains("at most 201"), "{e}");
    }
}
