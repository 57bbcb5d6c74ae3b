//! The verdict: each performance goal of the crate that one run can
//! measure, the figure it got, and whether the goal was met (or missed by
//! how much). The goals are those of docs/TUNING.md ("Goals"); every one
//! that compares two things is a ratio within the run (per round where both
//! are rows of one workload), since on a shared machine only those hold
//! still. The few absolute goals say so.

use crate::report::Row;

/// Where a goal's figure comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// tracering's advantage over a row (median over rounds, ×).
    Advantage(&'static str, &'static str),
    /// tracering's figure over a row's, for latencies (1 / advantage, ×).
    LatencyRatio(&'static str, &'static str),
    /// A row's ns/event over a base row's (median over rounds, ×).
    Cost(&'static str, &'static str, &'static str),
    /// A row's ns/event over a row of another workload (medians, ×).
    CrossCost((&'static str, &'static str), (&'static str, &'static str)),
    /// A row's ns/event.
    NsPerOp(&'static str, &'static str),
    /// A row's p99 (ns).
    P99(&'static str, &'static str),
    /// A row's largest value (ns).
    Max(&'static str, &'static str),
    /// A row's anomalies (count).
    Anomalies(&'static str, &'static str),
    /// A row's drop% (percent).
    DropPercent(&'static str, &'static str),
}

/// How a figure is printed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Unit {
    Times,
    Ns,
    Count,
    Percent,
}

fn show(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Times => format!("{v:.2}\u{d7}"),
        Unit::Ns if v >= 1e6 => format!("{:.2} ms", v / 1e6),
        Unit::Ns if v >= 1e4 => format!("{:.1} \u{b5}s", v / 1e3),
        Unit::Ns => format!("{v:.1} ns"),
        Unit::Count => format!("{v:.0}"),
        Unit::Percent => format!("{v:.2}%"),
    }
}

/// One goal.
struct Goal {
    figure: &'static str,
    source: Source,
    /// `true`: the figure must be at most `limit`; else at least.
    at_most: bool,
    limit: f64,
    unit: Unit,
    /// An absolute figure: it moves with the machine's state.
    absolute: bool,
}

const fn at_most(figure: &'static str, source: Source, limit: f64, unit: Unit) -> Goal {
    Goal {
        figure,
        source,
        at_most: true,
        limit,
        unit,
        absolute: !matches!(unit, Unit::Times),
    }
}

const fn at_least(figure: &'static str, source: Source, limit: f64) -> Goal {
    Goal {
        figure,
        source,
        at_most: false,
        limit,
        unit: Unit::Times,
        absolute: false,
    }
}

/// The goals, in the order of the workloads. docs/TUNING.md ("Goals")
/// says where each comes from.
const GOALS: &[Goal] = &[
    at_least(
        "event32_cross: tracering / rtrb, events/s",
        Source::Advantage("event32_cross", "rtrb"),
        1.30,
    ),
    at_least(
        "event32_batch_cross: tracering / rtrb, events/s",
        Source::Advantage("event32_batch_cross", "rtrb"),
        1.00,
    ),
    at_least(
        "event32_chunk_cross: tracering / rtrb, events/s",
        Source::Advantage("event32_chunk_cross", "rtrb"),
        1.00,
    ),
    at_most(
        "write_latency: tracering p99 per write",
        Source::P99("write_latency", "tracering"),
        25.0,
        Unit::Ns,
    ),
    at_most(
        "visibility_latency: tracering p50 / rtrb p50",
        Source::LatencyRatio("visibility_latency", "rtrb"),
        1.50,
        Unit::Times,
    ),
    at_most(
        "observer_effect: Lane::event, default drain / no drain",
        Source::Cost(
            "observer_effect",
            "tracering-default-drain",
            "tracering-lane-no-drain",
        ),
        1.25,
        Unit::Times,
    ),
    at_most(
        "lane_event: Lane::event (precise) / push + ticks",
        Source::Cost("lane_event", "lane-event", "push-plus-ticks"),
        1.10,
        Unit::Times,
    ),
    at_most(
        "lane_event: Lane::event (coarse) / bare push",
        Source::Cost("lane_event", "lane-event-coarse", "bare-push"),
        2.00,
        Unit::Times,
    ),
    at_most(
        "lane_event: coarse, drain running / bare push",
        Source::Cost("lane_event", "lane-event-coarse-drain", "bare-push"),
        2.50,
        Unit::Times,
    ),
    at_most(
        "clock_accuracy: coarse stamps out of order",
        Source::Anomalies("clock_accuracy", "coarse"),
        0.0,
        Unit::Count,
    ),
    at_most(
        "clock_accuracy: coarse error p99 (2 x 10 us period)",
        Source::P99("clock_accuracy", "coarse"),
        20_000.0,
        Unit::Ns,
    ),
    at_most(
        "clock_accuracy: coarse error max (2 x 10 us period)",
        Source::Max("clock_accuracy", "coarse"),
        20_000.0,
        Unit::Ns,
    ),
    at_least(
        "tracing_layer: tracing-chrome / tracering, 1 thread",
        Source::Cost("tracing_layer", "tracing-chrome-1t", "tracering-1t"),
        5.0,
    ),
    at_least(
        "tracing_layer: tracing-chrome / tracering, 4 threads",
        Source::Cost("tracing_layer", "tracing-chrome-4t", "tracering-4t"),
        5.0,
    ),
    at_most(
        "tracing_layer: tracering ns/event, 1 thread",
        Source::NsPerOp("tracing_layer", "tracering-1t"),
        30.0,
        Unit::Ns,
    ),
    at_most(
        "tracing_layer: FileSink under Drop, dropped, 1 thread",
        Source::DropPercent("tracing_layer", "tracering-file-drop-1t"),
        0.0,
        Unit::Percent,
    ),
    at_most(
        "drain_capacity: drain into file / traced thread, ns/ev",
        Source::CrossCost(
            ("drain_capacity", "file-1l"),
            ("tracing_layer", "tracering-file-drop-1t"),
        ),
        0.50,
        Unit::Times,
    ),
    at_most(
        "flight: 32-byte flight write / SPSC write",
        Source::Cost("flight", "event32-flight", "event32-normal"),
        1.10,
        Unit::Times,
    ),
    at_most(
        "flight: record flight write / SPSC write",
        Source::Cost("flight", "record-flight", "record-normal"),
        1.10,
        Unit::Times,
    ),
];

/// One line of the verdict.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// What is measured.
    pub figure: &'static str,
    /// The goal, as printed (`<= 1.10×`).
    pub goal: String,
    /// The measured figure, as printed.
    pub measured: String,
    /// The measured figure.
    pub value: f64,
    /// The goal's bound.
    pub limit: f64,
    /// `true`: the figure must be at most `limit`; else at least.
    pub at_most: bool,
    /// Whether the goal was met.
    pub met: bool,
    /// `met`, or `missed by 12%`.
    pub verdict: String,
    /// An absolute figure (it moves with the machine's state).
    pub absolute: bool,
}

fn row<'a>(rows: &'a [Row], w: &str, imp: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.workload == w && r.imp == imp && r.runs > 0)
}

fn value(rows: &[Row], s: Source) -> Option<f64> {
    match s {
        Source::Advantage(w, i) => row(rows, w, i)?.advantage,
        Source::LatencyRatio(w, i) => row(rows, w, i)?.advantage.map(|a| 1.0 / a),
        Source::Cost(w, i, b) => row(rows, w, i)?.costs.iter().find(|c| c.base == b)?.ratio,
        Source::CrossCost((w, i), (bw, bi)) => {
            Some(row(rows, w, i)?.ns_per_op? / row(rows, bw, bi)?.ns_per_op?)
        }
        Source::NsPerOp(w, i) => row(rows, w, i)?.ns_per_op,
        Source::P99(w, i) => row(rows, w, i)?.p99_ns,
        Source::Max(w, i) => row(rows, w, i)?.max_ns,
        Source::Anomalies(w, i) => Some(row(rows, w, i)?.anomalies as f64),
        Source::DropPercent(w, i) => row(rows, w, i)?.drop_percent(),
    }
    .filter(|v| v.is_finite())
}

/// The verdict on every goal whose rows ran.
pub fn judge(rows: &[Row]) -> Vec<Verdict> {
    GOALS
        .iter()
        .filter_map(|g| {
            let v = value(rows, g.source)?;
            let met = if g.at_most {
                v <= g.limit
            } else {
                v >= g.limit
            };
            let verdict = if met {
                "met".to_string()
            } else if g.limit == 0.0 {
                format!("missed: {}", show(v, g.unit))
            } else {
                let by = if g.at_most {
                    v / g.limit - 1.0
                } else {
                    1.0 - v / g.limit
                };
                if by < 0.1 {
                    format!("missed by {:.1}%", by * 100.0)
                } else if by <= 1.0 {
                    format!("missed by {:.0}%", by * 100.0)
                } else {
                    format!("missed: {:.1}\u{d7} the goal", v / g.limit)
                }
            };
            Some(Verdict {
                figure: g.figure,
                goal: format!(
                    "{} {}",
                    if g.at_most { "\u{2264}" } else { "\u{2265}" },
                    show(g.limit, g.unit)
                ),
                measured: show(v, g.unit),
                value: v,
                limit: g.limit,
                at_most: g.at_most,
                met,
                verdict,
                absolute: g.absolute,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{with_costs, with_ratios, Metric, Sample};

    fn ops(v: f64) -> Result<Sample, &'static str> {
        Ok(Sample {
            ops_per_s: Some(v),
            ..Sample::default()
        })
    }

    fn ns(v: f64) -> Result<Sample, &'static str> {
        Ok(Sample {
            ns_per_op: Some(v),
            ..Sample::default()
        })
    }

    #[test]
    fn goals_are_met_or_missed_by_how_much() {
        let rows = vec![
            Row::new("event32_cross", "tracering", Metric::Ops, "", &[ops(10.0)]),
            Row::new("event32_cross", "rtrb", Metric::Ops, "", &[ops(10.0)]),
            Row::new("flight", "event32-normal", Metric::Ops, "", &[ns(2.0)]),
            Row::new("flight", "event32-flight", Metric::Ops, "", &[ns(2.1)])
                .with_bases(&["event32-normal"]),
            Row::new("flight", "record-normal", Metric::Ops, "", &[ns(2.0)]),
            Row::new("flight", "record-flight", Metric::Ops, "", &[ns(2.4)])
                .with_bases(&["record-normal"]),
        ];
        let rows = with_costs(with_ratios(rows, "tracering"));
        let v = judge(&rows);
        // Only the goals whose rows ran.
        assert_eq!(v.len(), 3, "{v:?}");
        assert_eq!(v[0].figure, "event32_cross: tracering / rtrb, events/s");
        assert!(!v[0].met);
        assert_eq!(v[0].verdict, "missed by 23%");
        assert_eq!(v[0].goal, "\u{2265} 1.30\u{d7}");
        assert!(v[1].met, "{:?}", v[1]);
        assert_eq!(v[1].measured, "1.05\u{d7}");
        assert!(!v[2].met);
        assert_eq!(v[2].verdict, "missed by 9.1%");
    }

    #[test]
    fn figures_show_with_units() {
        assert_eq!(show(11.94, Unit::Ns), "11.9 ns");
        assert_eq!(show(13_600.0, Unit::Ns), "13.6 \u{b5}s");
        assert_eq!(show(1_640_000.0, Unit::Ns), "1.64 ms");
        assert_eq!(show(0.0, Unit::Count), "0");
    }
}
