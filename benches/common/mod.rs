//! Helpers shared by the criterion benches (each bench is its own crate and includes
//! this with `mod common;`).

use std::time::Instant;

/// Median ns per call of each of `fs`, measured in interleaved rounds so every
/// contender sees the same background noise (the machines are shared and noisy; the
/// ratios from one run are what the benches report).
pub(crate) fn interleaved_medians(
    fs: &mut [&mut dyn FnMut()],
    iters: u32,
    rounds: usize,
) -> Vec<f64> {
    let mut samples = vec![Vec::with_capacity(rounds); fs.len()];
    for _ in 0..rounds {
        for (k, f) in fs.iter_mut().enumerate() {
            #[allow(clippy::disallowed_methods)] // a bench measures real time
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            samples[k].push(t.elapsed().as_nanos() as f64 / f64::from(iters));
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(|a, b| a.total_cmp(b));
            s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
        })
        .collect()
}
