//! Medians, ranges and the Markdown they are written as.

use std::fmt::Write;
use std::time::Duration;

/// Samples of one contender in one scenario.
#[derive(Clone, Debug, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    pub fn push_ms(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1e3);
    }
    pub fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
    pub fn min(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }
    pub fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// Runs every variant `runs` times, interleaved (so drift in the machine's load hits all alike),
/// and makes one row of samples per variant.
pub fn interleaved<T: Copy>(
    variants: &[(&str, T)],
    runs: usize,
    mut run: impl FnMut(T) -> std::time::Duration,
) -> Vec<Row> {
    let mut samples = vec![Samples::default(); variants.len()];
    for _ in 0..runs {
        for (i, (_, variant)) in variants.iter().enumerate() {
            samples[i].push_ms(run(*variant));
        }
    }
    variants
        .iter()
        .zip(samples)
        .map(|((name, _), samples)| Row {
            name: (*name).to_owned(),
            samples,
            extra: vec![],
        })
        .collect()
}

/// A row: contender, samples, and extra columns.
pub struct Row {
    pub name: String,
    pub samples: Samples,
    pub extra: Vec<String>,
}

/// A Markdown table with median, min–max, n, and the ratio of medians against `base`.
pub fn table(out: &mut String, unit: &str, base: Option<&str>, extra_heads: &[&str], rows: &[Row]) {
    let base_median = base
        .and_then(|b| rows.iter().find(|r| r.name == b))
        .map(|r| r.samples.median());
    let _ = write!(
        out,
        "| contender | median ({unit}) | min–max ({unit}) | runs |"
    );
    if let Some(base) = base {
        let _ = write!(out, " ratio to {base} |");
    }
    for head in extra_heads {
        let _ = write!(out, " {head} |");
    }
    out.push('\n');
    let columns = 4 + usize::from(base.is_some()) + extra_heads.len();
    out.push_str(&"|---".repeat(columns));
    out.push_str("|\n");
    for row in rows {
        let s = &row.samples;
        let _ = write!(
            out,
            "| {} | {} | {}–{} | {} |",
            row.name,
            fmt(s.median()),
            fmt(s.min()),
            fmt(s.max()),
            s.0.len()
        );
        if let Some(base) = base_median {
            let _ = write!(out, " {:.2}× |", s.median() / base);
        }
        for cell in &row.extra {
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out.push('\n');
}

pub fn fmt(value: f64) -> String {
    if !value.is_finite() {
        "–".to_owned()
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}
