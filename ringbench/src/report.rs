//! Aggregation over rounds, the printed table and the JSON report.

use crate::verdict::Verdict;
use ringbench::perf::Availability;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The figures of one run of one (workload, impl).
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub ops_per_s: Option<f64>,
    pub bytes_per_s: Option<f64>,
    pub p50_ns: Option<f64>,
    pub p99_ns: Option<f64>,
    pub p999_ns: Option<f64>,
    pub cache_references: Option<u64>,
    pub cache_misses: Option<u64>,
    pub miss_rate: Option<f64>,
    pub l1d_miss_per_op: Option<f64>,
    /// The producer's nanoseconds per event (`observer_effect`,
    /// `lane_event`; per producer for `scaling`).
    pub ns_per_op: Option<f64>,
    /// Operations the latency figures cover.
    pub ops: u64,
    /// See `workloads::latency::Latency::anomalies`.
    pub anomalies: u64,
    /// The largest value the latency figures cover (`clock_accuracy`).
    pub max_ns: Option<f64>,
    /// Operations left out of the figures (`clock_accuracy`: interrupted
    /// calls).
    pub left_out: Option<f64>,
}

/// The figure a workload compares its impls by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Operations per second, higher is better.
    Ops,
    /// Payload bytes per second, higher is better.
    Bytes,
    /// Median latency, lower is better.
    P50,
    /// 99th percentile latency, lower is better.
    P99,
    /// Not compared (the timer floor).
    None,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Ops => "ops_per_s",
            Metric::Bytes => "bytes_per_s",
            Metric::P50 => "p50_ns",
            Metric::P99 => "p99_ns",
            Metric::None => "none",
        }
    }

    /// This figure of a row (its median over rounds).
    pub fn of_row(self, r: &Row) -> Option<f64> {
        match self {
            Metric::Ops => r.ops_per_s,
            Metric::Bytes => r.bytes_per_s,
            Metric::P50 => r.p50_ns,
            Metric::P99 => r.p99_ns,
            Metric::None => None,
        }
    }

    pub fn of(self, s: &Sample) -> Option<f64> {
        match self {
            Metric::Ops => s.ops_per_s,
            Metric::Bytes => s.bytes_per_s,
            Metric::P50 => s.p50_ns,
            Metric::P99 => s.p99_ns,
            Metric::None => None,
        }
    }

    /// How many times better `base` is than `other` (>1: base is better).
    pub fn advantage(self, base: f64, other: f64) -> Option<f64> {
        let r = match self {
            Metric::Ops | Metric::Bytes => base / other,
            Metric::P50 | Metric::P99 => other / base,
            Metric::None => return None,
        };
        r.is_finite().then_some(r)
    }
}

/// Median of the values (mean of the middle two for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// One row of the report: medians over the rounds.
pub struct Row {
    pub workload: &'static str,
    pub imp: &'static str,
    pub metric: Metric,
    static_note: &'static str,
    /// Why there is no figure (the first error).
    pub missing: Option<&'static str>,
    pub samples: Vec<Option<Sample>>,
    pub runs: usize,
    pub ops_per_s: Option<f64>,
    pub bytes_per_s: Option<f64>,
    pub p50_ns: Option<f64>,
    pub p99_ns: Option<f64>,
    pub p999_ns: Option<f64>,
    pub miss_rate: Option<f64>,
    pub l1d_miss_per_op: Option<f64>,
    pub ns_per_op: Option<f64>,
    /// The largest `max_ns` of any round.
    pub max_ns: Option<f64>,
    /// The median `left_out` over the rounds.
    pub left_out: Option<f64>,
    /// Median over rounds of tracering's advantage over this impl.
    pub advantage: Option<f64>,
    pub per_round: Vec<f64>,
    /// The round each `per_round` ratio comes from.
    per_round_at: Vec<usize>,
    /// Rows of the same workload whose ns/event this row's is compared with.
    bases: Vec<&'static str>,
    /// This row's ns/event against each base's, round by round.
    pub costs: Vec<Cost>,
    /// Anomalies over the runs (see [`Sample::anomalies`]).
    pub anomalies: u64,
    /// Operations over the runs.
    pub ops: u64,
}

/// A row's cost against a base row of the same workload: the median over
/// rounds of (this row's ns/event) / (the base's ns/event) within a round.
/// >1: this row costs the producer more.
pub struct Cost {
    pub base: &'static str,
    pub ratio: Option<f64>,
    pub per_round: Vec<f64>,
}

/// Hop probe at or above this is not fast (ns).
pub const HOP_FAST_BELOW_NS: f64 = 40.0;
/// Hop probe above this is slow (ns).
pub const HOP_SLOW_ABOVE_NS: f64 = 150.0;

/// The class of a round by its core-to-core hop probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HopClass {
    /// Below [`HOP_FAST_BELOW_NS`].
    Fast,
    /// Between the two bounds.
    Mid,
    /// Above [`HOP_SLOW_ABOVE_NS`].
    Slow,
    /// The probe failed (no two cores to pin to).
    Unknown,
}

impl HopClass {
    pub const ALL: [HopClass; 4] = [
        HopClass::Fast,
        HopClass::Mid,
        HopClass::Slow,
        HopClass::Unknown,
    ];

    pub fn of(hop: Option<f64>) -> HopClass {
        match hop {
            Some(h) if h.is_finite() && h < HOP_FAST_BELOW_NS => HopClass::Fast,
            Some(h) if h.is_finite() && h > HOP_SLOW_ABOVE_NS => HopClass::Slow,
            Some(h) if h.is_finite() => HopClass::Mid,
            _ => HopClass::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HopClass::Fast => "fast",
            HopClass::Mid => "mid",
            HopClass::Slow => "slow",
            HopClass::Unknown => "unknown",
        }
    }
}

/// Rounds of each class, in [`HopClass::ALL`] order.
pub fn rounds_by_class(round_hops: &[Option<f64>]) -> [usize; 4] {
    let mut n = [0; 4];
    for h in round_hops {
        n[HopClass::of(*h) as usize] += 1;
    }
    n
}

impl Row {
    pub fn new(
        workload: &'static str,
        imp: &'static str,
        metric: Metric,
        note: &'static str,
        results: &[Result<Sample, &'static str>],
    ) -> Row {
        let samples: Vec<Option<Sample>> =
            results.iter().map(|r| r.as_ref().ok().cloned()).collect();
        let got: Vec<&Sample> = samples.iter().flatten().collect();
        let med = |f: fn(&Sample) -> Option<f64>| {
            let v: Vec<f64> = got.iter().filter_map(|s| f(s)).collect();
            median(&v)
        };
        Row {
            workload,
            imp,
            metric,
            static_note: note,
            missing: results.iter().find_map(|r| r.as_ref().err().copied()),
            runs: got.len(),
            ops_per_s: med(|s| s.ops_per_s),
            bytes_per_s: med(|s| s.bytes_per_s),
            p50_ns: med(|s| s.p50_ns),
            p99_ns: med(|s| s.p99_ns),
            p999_ns: med(|s| s.p999_ns),
            miss_rate: med(|s| s.miss_rate),
            l1d_miss_per_op: med(|s| s.l1d_miss_per_op),
            ns_per_op: med(|s| s.ns_per_op),
            max_ns: got.iter().filter_map(|s| s.max_ns).reduce(f64::max),
            left_out: med(|s| s.left_out),
            advantage: None,
            per_round: Vec::new(),
            per_round_at: Vec::new(),
            bases: Vec::new(),
            costs: Vec::new(),
            anomalies: got.iter().map(|s| s.anomalies).sum(),
            ops: got.iter().map(|s| s.ops).sum(),
            samples,
        }
    }

    /// Events dropped by full rings, in percent of those written, for the
    /// pipeline workloads (where a row's anomalies are its drops); `None`
    /// elsewhere or when the row counts no writes.
    pub fn drop_percent(&self) -> Option<f64> {
        const PIPELINE: [&str; 4] = [
            "registry_drain",
            "scaling",
            "tracing_layer",
            "drain_capacity",
        ];
        (PIPELINE.contains(&self.workload) && self.ops > 0)
            .then(|| self.anomalies as f64 * 100.0 / self.ops as f64)
    }

    /// Compares this row's ns/event with these rows' (see [`with_costs`]).
    pub fn with_bases(mut self, bases: &[&'static str]) -> Row {
        self.bases = bases.to_vec();
        self
    }

    /// Tracering's advantage over this row per hop class of the round, in
    /// [`HopClass::ALL`] order: (median over those rounds, rounds).
    pub fn advantage_by_class(&self, round_hops: &[Option<f64>]) -> [(Option<f64>, usize); 4] {
        let mut per: [Vec<f64>; 4] = Default::default();
        for (r, &round) in self.per_round.iter().zip(&self.per_round_at) {
            per[HopClass::of(round_hops.get(round).copied().flatten()) as usize].push(*r);
        }
        per.map(|v| (median(&v), v.len()))
    }

    /// The producer count of a `registry_drain` row ("tracering-4p": 4).
    fn producers(&self) -> Option<u32> {
        if self.workload != "registry_drain" {
            return None;
        }
        self.imp.rsplit('-').next()?.strip_suffix('p')?.parse().ok()
    }

    /// What to say beside the row, if anything.
    pub fn note(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        if !self.static_note.is_empty() {
            parts.push(self.static_note.to_string());
        }
        if self.runs == 0 {
            parts.push(self.missing.unwrap_or("no figure").to_string());
        }
        if let (Some(p), Some(ops)) = (self.producers(), self.ops_per_s) {
            parts.push(format!("{:.1} ns/event per producer", p as f64 * 1e9 / ops));
        }
        if let (Some(max), "clock_accuracy") = (self.max_ns, self.workload) {
            parts.push(format!(
                "error (stamp vs precise reads around the call): p50 {:.0} ns, p99 {:.0} ns, max {max:.0} ns; {} of {} events out of order; {:.0} interrupted calls left out (median per round)",
                self.p50_ns.unwrap_or(f64::NAN),
                self.p99_ns.unwrap_or(f64::NAN),
                self.anomalies,
                self.ops,
                self.left_out.unwrap_or(f64::NAN)
            ));
        }
        if let Some(ns) = self.ns_per_op {
            parts.push(match self.workload {
                "clock_cost" if self.imp.starts_with("coarse-ticker") => format!(
                    "{ns:.0} ns of CPU per refresh at {:.0} refreshes/s: {:.1}% of a core",
                    self.ops_per_s.unwrap_or(f64::NAN),
                    ns * self.ops_per_s.unwrap_or(f64::NAN) / 1e7
                ),
                "clock_cost" => format!("{ns:.2} ns per read"),
                "scaling" => format!("{ns:.2} ns/event per producer (each on its own clock)"),
                "flight" => format!("{ns:.2} ns/write (writer)"),
                _ => format!("{ns:.2} ns/event (producer)"),
            });
        }
        for c in &self.costs {
            if let Some(r) = c.ratio {
                parts.push(format!("{r:.2}x the ns/event of {}", c.base));
                if self.workload == "flight" {
                    parts.push(flight_target(self.imp, c));
                }
            }
        }
        if self.workload == "flight" && self.ops > 0 {
            parts.push(format!(
                "the reader took {} snapshots over the runs and found {} writes torn",
                self.ops, self.anomalies
            ));
        }
        if self.workload == "tracing_layer" && self.imp.starts_with("tracering") {
            parts.push(format!(
                "{} events dropped by full rings over the runs ({:.3}% of the {} timed)",
                self.anomalies,
                self.anomalies as f64 * 100.0 / self.ops.max(1) as f64,
                self.ops
            ));
        }
        if self.anomalies > 0 {
            match self.workload {
                "observer_effect" | "lane_event" => parts.push(format!(
                    "{} writes met a full ring and were retried, in {} events",
                    self.anomalies, self.ops
                )),
                "scaling" => parts.push(format!(
                    "{} of {} calls dropped by a full ring ({:.2}%)",
                    self.anomalies,
                    self.ops,
                    self.anomalies as f64 * 100.0 / self.ops.max(1) as f64
                )),
                "write_latency" => parts.push(format!(
                    "{} push attempts met a full ring in {} writes",
                    self.anomalies, self.ops
                )),
                "visibility_latency" => parts.push(format!(
                    "{} of {} reads stamped before their write (TSC skew; counted as 0)",
                    self.anomalies, self.ops
                )),
                _ => {}
            }
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// The target for the flight rings: a flight write costs the
/// writer at most this many times a normal-mode write.
pub const FLIGHT_TARGET: f64 = 1.10;

/// Whether a `flight` row's cost against `c` meets [`FLIGHT_TARGET`]: only
/// a flight row without a reader against its normal row is held to it, and
/// by the median over rounds of the ratio; the per-round ratios follow.
fn flight_target(imp: &str, c: &Cost) -> String {
    let per: Vec<String> = c.per_round.iter().map(|r| format!("{r:.3}")).collect();
    let per = format!("per round [{}]", per.join(", "));
    let Some(r) = c.ratio else {
        return per;
    };
    if imp.contains("+reader") || !c.base.ends_with("-normal") {
        return format!("{per} (informational: not held to the 1.10x target)");
    }
    let extra = (r - 1.0) * 100.0;
    if r <= FLIGHT_TARGET {
        format!("{per}; target \u{2264}{FLIGHT_TARGET:.2}\u{d7}: met ({extra:+.1}% vs +10%)")
    } else {
        format!(
            "{per}; target \u{2264}{FLIGHT_TARGET:.2}\u{d7}: missed by {:.1}% ({extra:+.1}% vs +10%)",
            (r / FLIGHT_TARGET - 1.0) * 100.0
        )
    }
}

/// Fills in each row's advantage of `base` over it, round by round.
pub fn with_ratios(mut rows: Vec<Row>, base: &str) -> Vec<Row> {
    for i in 0..rows.len() {
        let Some(b) = rows
            .iter()
            .position(|r| r.workload == rows[i].workload && r.imp == base)
        else {
            continue;
        };
        if b == i {
            continue;
        }
        let metric = rows[i].metric;
        let (per_round_at, per_round): (Vec<usize>, Vec<f64>) = rows[b]
            .samples
            .iter()
            .zip(&rows[i].samples)
            .enumerate()
            .filter_map(|(round, (bs, os))| {
                let (bs, os) = (bs.as_ref()?, os.as_ref()?);
                Some((round, metric.advantage(metric.of(bs)?, metric.of(os)?)?))
            })
            .unzip();
        rows[i].advantage = median(&per_round);
        rows[i].per_round = per_round;
        rows[i].per_round_at = per_round_at;
    }
    rows
}

/// Fills in each row's [`Cost`] against each of its bases.
pub fn with_costs(mut rows: Vec<Row>) -> Vec<Row> {
    for i in 0..rows.len() {
        let mut costs = Vec::new();
        for &base in &rows[i].bases {
            let Some(b) = rows
                .iter()
                .position(|r| r.workload == rows[i].workload && r.imp == base)
            else {
                continue;
            };
            let per_round: Vec<f64> = rows[b]
                .samples
                .iter()
                .zip(&rows[i].samples)
                .filter_map(|(bs, os)| {
                    let r = os.as_ref()?.ns_per_op? / bs.as_ref()?.ns_per_op?;
                    r.is_finite().then_some(r)
                })
                .collect();
            costs.push(Cost {
                base,
                ratio: median(&per_round),
                per_round,
            });
        }
        rows[i].costs = costs;
    }
    rows
}

/// The `machine` section.
pub struct Machine {
    pub arch: &'static str,
    pub cpus: usize,
    pub cpu_model: Option<String>,
    pub backend: &'static str,
    pub pinned: bool,
    pub hop_ns: Option<f64>,
}

impl Machine {
    pub fn detect(pinned: bool, hop_ns: Option<f64>) -> Machine {
        Machine {
            arch: std::env::consts::ARCH,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: cpu_model(),
            backend: tracering::__private::backend(),
            pinned,
            hop_ns,
        }
    }
}

/// The CPU's name from /proc/cpuinfo (x86 "model name"; Arm has none).
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        matches!(k.trim(), "model name" | "Model" | "cpu model")
            .then(|| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

/// How the run was made.
pub struct RunInfo {
    pub date_utc: String,
    pub mode: &'static str,
    pub rounds: usize,
    pub run_secs: f64,
    pub total_secs: f64,
    /// The `scaling` workload's cores (drain first), empty if unpinned.
    pub scaling_cores: Vec<usize>,
    /// Each round's hop probe (`None`: it failed).
    pub round_hops: Vec<Option<f64>>,
    /// Each row's mean wall time per run, seconds (the rows' order).
    pub row_secs: Vec<f64>,
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub fn fmt_ns(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

fn fmt_rate(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "-".into(),
        Some(x) if x >= 1e9 => format!("{:.2} G{unit}", x / 1e9),
        Some(x) if x >= 1e6 => format!("{:.2} M{unit}", x / 1e6),
        Some(x) if x >= 1e3 => format!("{:.2} k{unit}", x / 1e3),
        Some(x) => format!("{x:.0} {unit}"),
    }
}

/// A latency at or above this is flagged: a thread was most likely
/// preempted, not slowed by the ring (1 ms).
pub const PREEMPTED_NS: f64 = 1e6;

/// A latency round whose p50 is at or above this had a thread descheduled
/// for much of it (10 µs: a hop is tens of ns).
pub const DESCHEDULED_P50_NS: f64 = 1e4;

/// A latency with its unit: `417 ns`, `249.2 µs`, `1.53 ms!` (the `!`
/// flags [`PREEMPTED_NS`]).
pub fn fmt_latency(v: f64) -> String {
    if v >= PREEMPTED_NS {
        format!("{:.2} ms!", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} \u{b5}s", v / 1e3)
    } else {
        format!("{v:.1} ns")
    }
}

/// The counters' state in one sentence.
pub fn counters_line(c: &Availability) -> String {
    match (&c.reason, c.hardware) {
        (None, _) => "perf counters: cache-references, cache-misses, L1-dcache-load-misses".into(),
        (Some(r), true) => format!("perf counters: some are unavailable ({r})"),
        (Some(r), false) => format!("perf counters are unavailable: {r}"),
    }
}

/// A column's cell of a row (`None`: the row has no figure there).
type Cell = Box<dyn Fn(&Row) -> Option<String>>;

/// One column of a workload's table.
struct Col {
    head: String,
    cell: Cell,
}

fn col(head: impl Into<String>, cell: impl Fn(&Row) -> Option<String> + 'static) -> Col {
    Col {
        head: head.into(),
        cell: Box::new(cell),
    }
}

/// The columns a workload may have, with units that fit it; a column is
/// printed only where some row of the workload has a figure in it.
fn columns(workload: &str, counters: bool) -> Vec<Col> {
    let (ops, per) = match workload {
        "flight" => ("writes/s", "ns/write"),
        "clock_cost" => ("reads/s", "ns/read"),
        "record_mixed_cross" => ("records/s", "ns/record"),
        "clock_accuracy" => ("events/s", "ns/event"),
        _ => ("events/s", "ns/event"),
    };
    let mut v = vec![
        col(ops, move |r| r.ops_per_s.map(|x| fmt_rate(Some(x), ""))),
        col("bytes/s", |r| r.bytes_per_s.map(|x| fmt_rate(Some(x), "B"))),
        col(per, |r| r.ns_per_op.map(|x| format!("{x:.2}"))),
        col("drop %", |r| r.drop_percent().map(|x| format!("{x:.3}"))),
    ];
    let lat = |f: fn(&Row) -> Option<f64>| move |r: &Row| f(r).map(fmt_latency);
    if workload == "clock_accuracy" {
        v.extend([
            col("error p50", lat(|r| r.p50_ns)),
            col("error p99", lat(|r| r.p99_ns)),
            col("error p999", lat(|r| r.p999_ns)),
            col("error max", lat(|r| r.max_ns)),
            col("out of order", |r| {
                (r.runs > 0).then(|| format!("{} of {}", r.anomalies, r.ops))
            }),
        ]);
    } else {
        v.extend([
            col("p50", lat(|r| r.p50_ns)),
            col("p99", lat(|r| r.p99_ns)),
            col("p999", lat(|r| r.p999_ns)),
        ]);
    }
    if counters {
        v.extend([
            col("miss %", |r| {
                r.miss_rate.map(|x| format!("{:.2}", x * 100.0))
            }),
            col("L1D miss/op", |r| {
                r.l1d_miss_per_op.map(|x| format!("{x:.3}"))
            }),
        ]);
    }
    v.extend([
        col("vs base (ns/ev ratio)", |r| {
            let parts: Vec<String> = r
                .costs
                .iter()
                .filter_map(|c| Some(format!("{:.2}\u{d7} {}", c.ratio?, c.base)))
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }),
        col("tr.adv", |r| match (r.imp == "tracering", r.advantage) {
            (true, _) if r.metric != Metric::None && r.runs > 0 => Some("base".into()),
            (_, Some(a)) => Some(format!("{a:.2}\u{d7}")),
            _ => None,
        }),
        col("runs", |r| {
            let all = r.samples.len();
            Some(if r.runs == all {
                r.runs.to_string()
            } else {
                format!("{}/{all}", r.runs)
            })
        }),
    ]);
    v
}

/// What a workload's figures mean, in one line.
fn legend(workload: &str) -> &'static str {
    match workload {
        "event32_cross" | "event32_batch_cross" | "event32_chunk_cross" | "false_sharing" => {
            "32-byte events, producer and consumer on two cores; tr.adv: tracering / impl, events/s"
        }
        "record_mixed_cross" => "variable-length records; tr.adv: tracering / impl, payload bytes/s",
        "write_latency" => "producer ns per write (blocks of 16); tr.adv: impl p99 / tracering p99",
        "visibility_latency" => {
            "one-way write-to-read latency; tr.adv: impl p50 / tracering p50, per round"
        }
        "registry_drain" => "all producers into one drain (NullSink), every producer on one core",
        "observer_effect" | "lane_event" => {
            "the producer's own ns per event; vs base: per-round ratio of ns/event (>1 costs more)"
        }
        "clock_cost" => "cost of one clock read; the coarse ticker's rows: refreshes/s and CPU ns per refresh",
        "clock_accuracy" => "error of each stamp against precise reads around the call",
        "flight" => "the writer's ns per write; vs base: per-round ratio (goal: flight ≤ 1.10× normal)",
        "scaling" => "delivered events/s; ns/event per producer, each producer on its own core",
        "tracing_layer" => {
            "ns per event of the traced threads' CPU time (span enter, info!, exit); vs base: / tracering's"
        }
        "drain_capacity" => "the drain alone, lanes pre-filled; ns/event of the drain's wall time; bytes/s of the file",
        _ => "",
    }
}

/// Prints rows as a table with the given headers, left-aligning the
/// first column.
fn grid(out: &mut String, head: &[String], cells: &[Vec<String>]) {
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in cells {
        for (k, c) in row.iter().enumerate() {
            w[k] = w[k].max(c.chars().count());
        }
    }
    let line = |out: &mut String, row: &[String]| {
        let mut l = String::new();
        for (k, c) in row.iter().enumerate() {
            let pad = w[k] - c.chars().count();
            if k == 0 {
                l.push_str(c);
                l.push_str(&" ".repeat(pad));
            } else {
                l.push_str("  ");
                l.push_str(&" ".repeat(pad));
                l.push_str(c);
            }
        }
        let _ = writeln!(out, "  {}", l.trim_end());
    };
    line(out, head);
    for row in cells {
        line(out, row);
    }
}

/// The verdict table.
fn verdict_table(out: &mut String, verdicts: &[Verdict]) {
    if verdicts.is_empty() {
        let _ = writeln!(
            out,
            "\nverdict: no goal's rows ran in this run (see docs/TUNING.md, \"Goals\")"
        );
        return;
    }
    let met = verdicts.iter().filter(|v| v.met).count();
    let _ = writeln!(
        out,
        "\nverdict: {met} of {} goals met (goals: docs/TUNING.md, \"Goals\"; ratios are per round \
         within this run, * marks an absolute figure, which moves with the machine)",
        verdicts.len()
    );
    let head: Vec<String> = ["figure", "goal", "measured", "verdict"]
        .map(String::from)
        .to_vec();
    let cells: Vec<Vec<String>> = verdicts
        .iter()
        .map(|v| {
            vec![
                format!("{}{}", v.figure, if v.absolute { " *" } else { "" }),
                v.goal.clone(),
                v.measured.clone(),
                v.verdict.clone(),
            ]
        })
        .collect();
    grid(out, &head, &cells);
}

/// Where a latency workload's `tr.adv` (the median of per-round ratios)
/// and the ratio of its columns (each impl's median over rounds) disagree
/// by more than 2×, the rounds differ by orders of magnitude: says so, and
/// prints each round's figure.
fn latency_explanation(out: &mut String, rows: &[&Row]) {
    let Some(base) = rows.iter().find(|r| r.imp == "tracering") else {
        return;
    };
    for r in rows.iter().filter(|r| r.imp != "tracering") {
        let (Some(adv), Some(b), Some(o)) =
            (r.advantage, r.metric.of_row(base), r.metric.of_row(r))
        else {
            continue;
        };
        let cols = r.metric.advantage(b, o).unwrap_or(f64::NAN);
        if (cols / adv).is_finite() && (0.5..=2.0).contains(&(cols / adv)) {
            continue;
        }
        let desched = |row: &Row| {
            row.samples
                .iter()
                .flatten()
                .filter(|s| s.p50_ns.is_some_and(|p| p >= DESCHEDULED_P50_NS))
                .count()
        };
        let _ = writeln!(
            out,
            "  why tr.adv {adv:.2}\u{d7} while the columns give {cols:.2}\u{d7}: tr.adv compares the impls within\n  \
             each round (median of the per-round ratios); a column is each impl's own median over\n  \
             rounds. The rounds differ by orders of magnitude here: a {} over {} means a thread was\n  \
             descheduled for much of the run ({} of tracering's rounds, {} of {}'s), so the columns\n  \
             compare different machine states and tr.adv is the figure to read. Per round:",
            r.metric.name().trim_end_matches("_ns"),
            fmt_latency(DESCHEDULED_P50_NS),
            desched(base),
            desched(r),
            r.imp
        );
        for row in [*base, *r] {
            let per: Vec<String> = row
                .samples
                .iter()
                .map(|s| {
                    s.as_ref()
                        .and_then(|s| r.metric.of(s))
                        .map_or("-".into(), fmt_latency)
                })
                .collect();
            let _ = writeln!(out, "    {:<10} {}", row.imp, per.join(", "));
        }
    }
}

/// The printed report: the run, the verdict, then one table per workload
/// with only the columns it has figures in.
pub fn table(
    m: &Machine,
    c: &Availability,
    run: &RunInfo,
    rows: &[Row],
    hops: &[f64],
    verdicts: &[Verdict],
    all_notes: bool,
) -> String {
    let mut out = String::new();
    let hop_range = match (
        hops.iter().copied().reduce(f64::min),
        hops.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => format!(" (probes {lo:.0}..{hi:.0})"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "\nringbench {} mode \u{2014} {} \u{2014} {} rounds \u{d7} {:.2} s per run, {:.1} s in all",
        run.mode, run.date_utc, run.rounds, run.run_secs, run.total_secs
    );
    let _ = writeln!(
        out,
        "machine: {} \u{d7} {} ({}), backend {}, pinned {}, hop {} ns{}",
        m.cpus,
        m.cpu_model.as_deref().unwrap_or("unknown CPU"),
        m.arch,
        m.backend,
        m.pinned,
        fmt_ns(m.hop_ns),
        hop_range
    );
    let _ = write!(out, "{}", counters_line(c));
    if !c.hardware {
        let _ = write!(out, "; the cache-miss columns are left out");
    }
    out.push('\n');
    verdict_table(&mut out, verdicts);

    let mut start = 0;
    while start < rows.len() {
        let w = rows[start].workload;
        let group: Vec<&Row> = rows[start..]
            .iter()
            .take_while(|r| r.workload == w)
            .collect();
        start += group.len();
        let cols: Vec<Col> = columns(w, c.hardware)
            .into_iter()
            .filter(|col| group.iter().any(|r| (col.cell)(r).is_some()))
            .collect();
        match legend(w) {
            "" => {
                let _ = writeln!(out, "\n{w}");
            }
            l => {
                let _ = writeln!(out, "\n{w}: {l}");
            }
        }
        let mut head = vec!["impl".to_string()];
        head.extend(cols.iter().map(|c| c.head.clone()));
        let cells: Vec<Vec<String>> = group
            .iter()
            .map(|r| {
                let mut row = vec![r.imp.to_string()];
                row.extend(
                    cols.iter()
                        .map(|c| (c.cell)(r).unwrap_or_else(|| "-".into())),
                );
                row
            })
            .collect();
        let flagged = cells.iter().flatten().any(|c| c.ends_with("ms!"));
        grid(&mut out, &head, &cells);
        if flagged {
            let _ = writeln!(
                out,
                "  !: {} or more: most likely a thread was preempted (descheduled by the kernel \
                 or the hypervisor on this shared machine), not slowed by the ring",
                fmt_latency(PREEMPTED_NS).trim_end_matches('!')
            );
        }
        if matches!(group[0].metric, Metric::P50 | Metric::P99) {
            latency_explanation(&mut out, &group);
        }
        for r in group.iter().filter(|r| r.runs == 0) {
            let _ = writeln!(
                out,
                "  {}: no figure: {}",
                r.imp,
                r.missing.unwrap_or("no run gave one")
            );
        }
    }
    out.push_str(&class_table(rows, &run.round_hops));
    if all_notes {
        let notes: Vec<String> = rows
            .iter()
            .filter_map(|r| {
                r.note()
                    .map(|n| format!("  {} / {}: {n}", r.workload, r.imp))
            })
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "\nnotes:\n{}", notes.join("\n"));
        }
    } else {
        let _ = writeln!(
            out,
            "\nEach row's note (what it runs, its counts, its per-round ratios): --notes, or the \
             JSON report (--json PATH)."
        );
    }
    out
}

/// The text section of tracering's advantage per hop class: only when
/// the rounds fell in more than one class (else it repeats `tr.adv`), and
/// only the classes that had rounds.
fn class_table(rows: &[Row], round_hops: &[Option<f64>]) -> String {
    let mut out = String::new();
    if rows.iter().all(|r| r.advantage.is_none()) {
        return out;
    }
    let n = rounds_by_class(round_hops);
    let used: Vec<usize> = (0..4).filter(|&k| n[k] > 0).collect();
    if used.len() < 2 {
        if let Some(&k) = used.first() {
            let _ = writeln!(
                out,
                "\nhop classes: every round's core-to-core probe was {} (fast < {HOP_FAST_BELOW_NS:.0} ns, \
                 slow > {HOP_SLOW_ABOVE_NS:.0} ns), so tr.adv is that class's figure",
                HopClass::ALL[k].name()
            );
        }
        return out;
    }
    let _ = writeln!(
        out,
        "\ntr.adv by hop class of the round (fast < {HOP_FAST_BELOW_NS:.0} ns, slow > {HOP_SLOW_ABOVE_NS:.0} ns, \
         unknown: no probe); each cell: median (rounds)"
    );
    let mut head = vec!["workload".to_string(), "impl".to_string()];
    head.extend(
        used.iter()
            .map(|&k| format!("{} ({})", HopClass::ALL[k].name(), n[k])),
    );
    let cells: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| r.advantage.is_some())
        .map(|r| {
            let by = r.advantage_by_class(round_hops);
            let mut row = vec![r.workload.to_string(), r.imp.to_string()];
            row.extend(used.iter().map(|&k| {
                let (a, c) = by[k];
                a.map_or("-".to_string(), |a| format!("{a:.2}\u{d7} ({c})"))
            }));
            row
        })
        .collect();
    grid(&mut out, &head, &cells);
    out
}

/// A figure rounded to `decimals`, or null.
fn num(v: Option<f64>, decimals: i32) -> Value {
    v.filter(|x| x.is_finite())
        .map(|x| {
            let p = 10f64.powi(decimals);
            (x * p).round() / p
        })
        .map_or(Value::Null, Value::from)
}

/// The JSON report: the schema of the issue (`machine`, `counters`,
/// `results`), plus `run`, `verdict`, `ratios`, `hop_classes`, `costs`,
/// `notes` and `hop_probes_ns`.
pub fn json(
    m: &Machine,
    c: &Availability,
    run: &RunInfo,
    rows: &[Row],
    hops: &[f64],
    verdicts: &[Verdict],
) -> Value {
    let results: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "workload": r.workload,
                "impl": r.imp,
                "ops_per_s": num(r.ops_per_s, 0),
                "bytes_per_s": num(r.bytes_per_s, 0),
                "p50_ns": num(r.p50_ns, 2),
                "p99_ns": num(r.p99_ns, 2),
                "p999_ns": num(r.p999_ns, 2),
                "cache_miss_rate": num(r.miss_rate, 5),
                "runs": r.runs,
            })
        })
        .collect();
    let ratios: Vec<Value> = rows
        .iter()
        .filter(|r| r.advantage.is_some())
        .map(|r| {
            json!({
                "workload": r.workload,
                "impl": r.imp,
                "metric": r.metric.name(),
                "tracering_advantage": num(r.advantage, 3),
                "per_round": r.per_round.iter().map(|x| num(Some(*x), 3)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let costs: Vec<Value> = rows
        .iter()
        .filter(|r| r.ns_per_op.is_some())
        .map(|r| {
            let vs: Vec<Value> = r
                .costs
                .iter()
                .map(|c| {
                    json!({
                        "base": c.base,
                        "ratio": num(c.ratio, 3),
                        "per_round": c.per_round.iter().map(|x| num(Some(*x), 3)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({
                "workload": r.workload,
                "impl": r.imp,
                "ns_per_event": num(r.ns_per_op, 3),
                "vs": vs,
            })
        })
        .collect();
    let notes: Vec<Value> = rows
        .iter()
        .filter_map(|r| {
            let n = r.note()?;
            Some(json!({"workload": r.workload, "impl": r.imp, "note": n}))
        })
        .collect();
    let verdict: Vec<Value> = verdicts
        .iter()
        .map(|v| {
            json!({
                "figure": v.figure,
                "goal": if v.at_most { "at_most" } else { "at_least" },
                "limit": v.limit,
                "measured": num(Some(v.value), 4),
                "met": v.met,
                "verdict": v.verdict,
                "absolute": v.absolute,
            })
        })
        .collect();
    json!({
        "machine": {
            "arch": m.arch,
            "cpus": m.cpus,
            "cpu_model": m.cpu_model,
            "backend": m.backend,
            "pinned": m.pinned,
            "hop_ns": num(m.hop_ns, 1),
        },
        "counters": {"hardware": c.hardware, "reason": c.reason},
        "results": results,
        "run": {
            "date_utc": run.date_utc,
            "mode": run.mode,
            "rounds": run.rounds,
            "run_secs": num(Some(run.run_secs), 3),
            "total_secs": num(Some(run.total_secs), 1),
            "scaling_cores": run.scaling_cores,
            "row_secs": run.row_secs.iter().map(|x| num(Some(*x), 3)).collect::<Vec<_>>(),
        },
        "verdict": verdict,
        "ratios": ratios,
        "hop_classes": json_classes(rows, &run.round_hops),
        "costs": costs,
        "notes": notes,
        "hop_probes_ns": hops.iter().map(|h| num(Some(*h), 1)).collect::<Vec<_>>(),
    })
}

/// The `hop_classes` section: the bounds, each round's class, and
/// tracering's advantage per class for every row that has one.
fn json_classes(rows: &[Row], round_hops: &[Option<f64>]) -> Value {
    let n = rounds_by_class(round_hops);
    let counts: serde_json::Map<String, Value> = HopClass::ALL
        .iter()
        .map(|c| (c.name().to_string(), Value::from(n[*c as usize])))
        .collect();
    let adv: Vec<Value> = rows
        .iter()
        .filter(|r| r.advantage.is_some())
        .map(|r| {
            let by = r.advantage_by_class(round_hops);
            let mut o = serde_json::Map::new();
            o.insert("workload".into(), r.workload.into());
            o.insert("impl".into(), r.imp.into());
            for c in HopClass::ALL {
                let (a, k) = by[c as usize];
                o.insert(
                    c.name().into(),
                    json!({"tracering_advantage": num(a, 3), "rounds": k}),
                );
            }
            Value::Object(o)
        })
        .collect();
    json!({
        "fast_below_ns": HOP_FAST_BELOW_NS,
        "slow_above_ns": HOP_SLOW_ABOVE_NS,
        "rounds": counts,
        "per_round": round_hops.iter().map(|h| HopClass::of(*h).name()).collect::<Vec<_>>(),
        "advantage": adv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_dates() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_782), (2024, 2, 29));
        assert_eq!(num(Some(1.23456), 2), json!(1.23));
        assert_eq!(num(Some(f64::NAN), 2), Value::Null);
        assert_eq!(fmt_latency(417.0), "417.0 ns");
        assert_eq!(fmt_latency(249_215.0), "249.2 \u{b5}s");
        assert_eq!(fmt_latency(2_500_000.0), "2.50 ms!");
    }

    #[test]
    fn ratios_are_per_round() {
        let s = |ops: f64| -> Result<Sample, &'static str> {
            Ok(Sample {
                ops_per_s: Some(ops),
                ..Sample::default()
            })
        };
        let rows = vec![
            Row::new(
                "w",
                "tracering",
                Metric::Ops,
                "",
                &[s(10.0), s(40.0), s(20.0)],
            ),
            Row::new("w", "peer", Metric::Ops, "", &[s(5.0), s(40.0), s(5.0)]),
        ];
        let rows = with_ratios(rows, "tracering");
        assert_eq!(rows[1].per_round, vec![2.0, 1.0, 4.0]);
        assert_eq!(rows[1].advantage, Some(2.0));
        assert_eq!(rows[0].advantage, None);
    }

    #[test]
    fn hop_classes_split_the_rounds() {
        assert_eq!(HopClass::of(Some(39.9)), HopClass::Fast);
        assert_eq!(HopClass::of(Some(40.0)), HopClass::Mid);
        assert_eq!(HopClass::of(Some(150.0)), HopClass::Mid);
        assert_eq!(HopClass::of(Some(150.1)), HopClass::Slow);
        assert_eq!(HopClass::of(None), HopClass::Unknown);
        assert_eq!(HopClass::of(Some(f64::NAN)), HopClass::Unknown);
        let s = |ops: Option<f64>| -> Result<Sample, &'static str> {
            ops.map(|o| Sample {
                ops_per_s: Some(o),
                ..Sample::default()
            })
            .ok_or("failed")
        };
        // Round 1 of the peer failed: its ratio is missing, not shifted.
        let rows = vec![
            Row::new(
                "w",
                "tracering",
                Metric::Ops,
                "",
                &[s(Some(10.0)), s(Some(10.0)), s(Some(30.0)), s(Some(8.0))],
            ),
            Row::new(
                "w",
                "peer",
                Metric::Ops,
                "",
                &[s(Some(5.0)), s(None), s(Some(10.0)), s(Some(8.0))],
            ),
        ];
        let rows = with_ratios(rows, "tracering");
        let hops = [Some(30.0), Some(20.0), Some(35.0), None];
        assert_eq!(rounds_by_class(&hops), [3, 0, 0, 1]);
        let by = rows[1].advantage_by_class(&hops);
        assert_eq!(by[0], (Some(2.5), 2));
        assert_eq!(by[1], (None, 0));
        assert_eq!(by[3], (Some(1.0), 1));
        let text = class_table(&rows, &hops);
        assert!(text.contains("2.50\u{d7} (2)"), "{text}");
        let json = json_classes(&rows, &hops);
        assert_eq!(
            json["per_round"],
            json!(["fast", "fast", "fast", "unknown"]),
            "{json}"
        );
    }

    #[test]
    fn costs_are_per_round_ratios_of_ns() {
        let s = |ns: f64| -> Result<Sample, &'static str> {
            Ok(Sample {
                ns_per_op: Some(ns),
                ..Sample::default()
            })
        };
        let rows = vec![
            Row::new("o", "alone", Metric::Ops, "", &[s(2.0), s(4.0), s(2.0)]),
            Row::new("o", "watched", Metric::Ops, "", &[s(3.0), s(4.0), s(5.0)])
                .with_bases(&["alone", "absent"]),
        ];
        let rows = with_costs(rows);
        assert!(rows[0].costs.is_empty());
        assert_eq!(rows[1].costs.len(), 1);
        assert_eq!(rows[1].costs[0].per_round, vec![1.5, 1.0, 2.5]);
        assert_eq!(rows[1].costs[0].ratio, Some(1.5));
        assert!(rows[1]
            .note()
            .unwrap()
            .contains("1.50x the ns/event of alone"));
    }

    #[test]
    fn tables_fit_their_workload_and_explain_preempted_rounds() {
        // The case: 9 rounds; in 2 both impls ran undisturbed, in 3
        // both were descheduled, in 4 only rtrb was.
        let lat = |p50: f64| -> Result<Sample, &'static str> {
            Ok(Sample {
                p50_ns: Some(p50),
                p99_ns: Some(p50 * 4.0),
                p999_ns: Some(p50 * 5.0),
                ..Sample::default()
            })
        };
        let tr: Vec<_> = [417.0, 417.0, 4e5, 4e5, 4e5, 417.0, 417.0, 417.0, 417.0]
            .map(lat)
            .to_vec();
        let rtrb: Vec<_> = [375.0, 375.0, 3.6e5, 3.6e5, 3.6e5, 249_215.0, 3e5, 3e5, 3e5]
            .map(lat)
            .to_vec();
        let rows = vec![
            Row::new("visibility_latency", "tracering", Metric::P50, "", &tr),
            Row::new("visibility_latency", "rtrb", Metric::P50, "", &rtrb),
        ];
        let rows = with_ratios(rows, "tracering");
        assert!((rows[1].advantage.unwrap() - 0.9).abs() < 1e-9);
        let m = Machine {
            arch: "x86_64",
            cpus: 2,
            cpu_model: None,
            backend: "x86_64",
            pinned: true,
            hop_ns: Some(30.0),
        };
        let c = Availability {
            hardware: false,
            reason: Some("no PMU".into()),
        };
        let run = RunInfo {
            date_utc: utc_now(),
            mode: "default",
            rounds: 9,
            run_secs: 0.1,
            total_secs: 1.0,
            scaling_cores: vec![],
            round_hops: vec![Some(30.0); 9],
            row_secs: vec![0.1, 0.1],
        };
        let text = table(&m, &c, &run, &rows, &[30.0], &[], false);
        assert!(
            text.contains("perf counters are unavailable: no PMU"),
            "{text}"
        );
        assert!(!text.contains("miss %") && !text.contains("L1D"), "{text}");
        // Only the columns the rows fill, latencies with their units.
        let head = text
            .lines()
            .find(|l| l.trim_start().starts_with("impl"))
            .unwrap();
        let cols: Vec<&str> = head.split_whitespace().collect();
        assert_eq!(
            cols,
            ["impl", "p50", "p99", "p999", "tr.adv", "runs"],
            "{text}"
        );
        assert!(text.contains("417.0 ns"), "{text}");
        assert!(text.contains("1.20 ms!"), "{text}");
        assert!(
            text.contains("most likely a thread was preempted"),
            "{text}"
        );
        // tr.adv and the columns disagree: said, with every round.
        assert!(text.contains("why tr.adv 0.90\u{d7}"), "{text}");
        assert!(text.contains("249.2 \u{b5}s"), "{text}");
        // The verdict comes before the first workload's table.
        let v = text.find("verdict").unwrap();
        assert!(v < text.find("visibility_latency:").unwrap(), "{text}");
        let json = json(&m, &c, &run, &rows, &[30.0], &[]);
        assert_eq!(json["results"][0]["p50_ns"], json!(417.0));
        assert_eq!(json["counters"]["hardware"], json!(false));
    }
}
