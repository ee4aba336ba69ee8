//! Learning noise from calibration pairs: two answers of the *primary* stack to the
//! same request, compared with `compare::Options::calibration`; the paths where they
//! differ become [`NoiseModel`] noise (see [`super::noise`] for why, and why only two
//! successful answers teach anything). Apart from the model so that the model — which
//! the comparator reads — does not depend on the comparator.

use crate::shadow::canon::Canon;
use crate::shadow::compare::{compare_canon, Comparison, Options};
use crate::shadow::noise::{CalibrationAnswer, CalibrationError, NoiseModel};
use crate::shadow::outcome::Outcome;
use std::collections::BTreeSet;

/// The answer as a tree, when it is a successful one.
fn successful(
    which: &'static str,
    a: Result<CalibrationAnswer<'_>, String>,
    opts: &Options<'_>,
) -> Result<Canon, CalibrationError> {
    let a = a.map_err(|detail| CalibrationError::Failed { which, detail })?;
    let canon =
        Canon::from_input(a.input, &opts.limits).map_err(|e| CalibrationError::Unreadable {
            which,
            detail: e.to_string(),
        })?;
    if let Some(f) = canon.fault() {
        return Err(CalibrationError::Fault {
            which,
            code: f.code.clone(),
        });
    }
    if !(200..300).contains(&a.status) {
        return Err(CalibrationError::Status {
            which,
            status: a.status,
        });
    }
    Ok(canon)
}

impl NoiseModel {
    /// Learns from a comparison of two *primary* answers to the same request (made with
    /// `Options::calibration`, so no path is cut off). Returns false, learning nothing,
    /// when the pair was not compared as trees (an error or a not-compared outcome).
    /// A pair in which one side faulted is not learned either (see the module header).
    pub fn learn(&mut self, c: &Comparison) -> bool {
        if !c.outcome.compared()
            || matches!(
                c.outcome,
                Outcome::FaultMismatch { .. } | Outcome::FaultCodeDiff { .. }
            )
        {
            return false;
        }
        // A path counts once per pair, however many list items differ there.
        let paths: BTreeSet<&str> = c
            .diffs
            .iter()
            .chain(&c.noise)
            .map(|d| d.path.as_str())
            .collect();
        self.learn_paths(paths);
        true
    }

    /// Compares two primary answers with `Options::calibration` and learns from them.
    pub fn learn_pair(&mut self, first: &Canon, second: &Canon, opts: &Options<'_>) -> bool {
        let opts = Options {
            noise: None,
            unified: false,
            ..*opts
        };
        self.learn(&compare_canon(first, second, &opts))
    }

    /// Learns from a calibration pair when both answers are successful SOAP answers
    /// (2xx, well-formed, not a fault); otherwise counts it in [`NoiseModel::errors`]
    /// and says why. `served` is the answer the client got, `again` the calibration
    /// call's (`Err` with the reason when that call failed).
    pub fn calibrate(
        &mut self,
        served: Result<CalibrationAnswer<'_>, String>,
        again: Result<CalibrationAnswer<'_>, String>,
        opts: &Options<'_>,
    ) -> Result<(), CalibrationError> {
        let pair = successful("served", served, opts)
            .and_then(|a| Ok((a, successful("calibration", again, opts)?)));
        match pair {
            Ok((a, b)) => {
                // Two successful answers are always compared as trees.
                self.learn_pair(&a, &b, opts);
                Ok(())
            }
            Err(e) => {
                self.record_error();
                Err(e)
            }
        }
    }
}
