//! Aggregation over rounds, the printed table and the JSON report.

use ringbench::perf::Availability;
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
    fn name(self) -> &'static str {
        match self {
            Metric::Ops => "ops_per_s",
            Metric::Bytes => "bytes_per_s",
            Metric::P50 => "p50_ns",
            Metric::P99 => "p99_ns",
            Metric::None => "none",
        }
    }

    fn of(self, s: &Sample) -> Option<f64> {
        match self {
            Metric::Ops => s.ops_per_s,
            Metric::Bytes => s.bytes_per_s,
            Metric::P50 => s.p50_ns,
            Metric::P99 => s.p99_ns,
            Metric::None => None,
        }
    }

    /// How many times better `base` is than `other` (>1: base is better).
    fn advantage(self, base: f64, other: f64) -> Option<f64> {
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
    samples: Vec<Option<Sample>>,
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
    anomalies: u64,
    ops: u64,
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

/// The issue's target for the flight rings: a flight write costs the
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
        Some(x) => format!("{:.2} M{unit}", x / 1e6),
    }
}

/// The printed report.
pub fn table(m: &Machine, c: &Availability, run: &RunInfo, rows: &[Row], hops: &[f64]) -> String {
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
        "\nringbench {} — {} — {} rounds × {:.2} s per run, {:.1} s in all",
        run.mode, run.date_utc, run.rounds, run.run_secs, run.total_secs
    );
    let _ = writeln!(
        out,
        "machine: {} × {} ({}), backend {}, pinned {}, hop {} ns{}",
        m.cpus,
        m.cpu_model.as_deref().unwrap_or("unknown CPU"),
        m.arch,
        m.backend,
        m.pinned,
        fmt_ns(m.hop_ns),
        hop_range
    );
    let _ = writeln!(
        out,
        "counters: hardware={}{}",
        c.hardware,
        c.reason
            .as_deref()
            .map_or(String::new(), |r| format!(" ({r})"))
    );
    let _ = writeln!(
        out,
        "\n{:<20} {:<27} {:>12} {:>12} {:>7} {:>7} {:>8} {:>8} {:>8} {:>6} {:>8} {:>7} {:>4}",
        "workload",
        "impl",
        "ops/s",
        "bytes/s",
        "ns/ev",
        "drop%",
        "p50 ns",
        "p99 ns",
        "p999 ns",
        "miss%",
        "L1Dm/op",
        "tr.adv",
        "runs"
    );
    let mut last = "";
    for r in rows {
        if r.workload != last && !last.is_empty() {
            out.push('\n');
        }
        last = r.workload;
        let adv = match (r.imp == "tracering", r.advantage) {
            (true, _) if r.metric != Metric::None => "base".to_string(),
            (_, Some(a)) => format!("{a:.2}x"),
            _ => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<20} {:<27} {:>12} {:>12} {:>7} {:>7} {:>8} {:>8} {:>8} {:>6} {:>8} {:>7} {:>4}",
            r.workload,
            r.imp,
            fmt_rate(r.ops_per_s, "/s"),
            fmt_rate(r.bytes_per_s, "B/s"),
            r.ns_per_op.map_or("-".into(), |x| format!("{x:.2}")),
            r.drop_percent().map_or("-".into(), |x| format!("{x:.3}")),
            fmt_ns(r.p50_ns),
            fmt_ns(r.p99_ns),
            fmt_ns(r.p999_ns),
            r.miss_rate
                .map_or("-".into(), |x| format!("{:.2}", x * 100.0)),
            r.l1d_miss_per_op.map_or("-".into(), |x| format!("{x:.3}")),
            adv,
            r.runs
        );
    }
    let _ = writeln!(
        out,
        "\ndrop%: events full rings dropped, in percent of those written (pipeline rows).\n\
         tr.adv: median over rounds of tracering's advantage within the round on the\n\
         workload's main figure (ops/s; bytes/s for records; p99 for write_latency;\n\
         p50 for visibility_latency). >1: tracering is better.\n\
         ns/ev: the producer's own ns per event (per producer for scaling); the\n\
         notes give each row's ns/ev against its base rows, as the median over\n\
         rounds of the ratio within the round (>1: the producer pays more)."
    );
    out.push_str(&class_table(rows, &run.round_hops));
    let notes: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.note()
                .map(|n| format!("  {} / {}: {n}", r.workload, r.imp))
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "notes:\n{}", notes.join("\n"));
    }
    out
}

/// The text section of tracering's advantage per hop class.
fn class_table(rows: &[Row], round_hops: &[Option<f64>]) -> String {
    let mut out = String::new();
    if rows.iter().all(|r| r.advantage.is_none()) {
        return out;
    }
    let n = rounds_by_class(round_hops);
    let _ = writeln!(
        out,
        "\ntr.adv by hop class of the round (fast < {HOP_FAST_BELOW_NS:.0} ns, slow > {HOP_SLOW_ABOVE_NS:.0} ns, \
         unknown: no probe);\nrounds: fast {}, mid {}, slow {}, unknown {}; each cell: median (rounds)",
        n[0], n[1], n[2], n[3]
    );
    let _ = writeln!(
        out,
        "{:<20} {:<27} {:>12} {:>12} {:>12} {:>12}",
        "workload", "impl", "fast", "mid", "slow", "unknown"
    );
    for r in rows.iter().filter(|r| r.advantage.is_some()) {
        let cells = r
            .advantage_by_class(round_hops)
            .map(|(a, k)| a.map_or("-".to_string(), |a| format!("{a:.2}x ({k})")));
        let _ = writeln!(
            out,
            "{:<20} {:<27} {:>12} {:>12} {:>12} {:>12}",
            r.workload, r.imp, cells[0], cells[1], cells[2], cells[3]
        );
    }
    out
}

fn jstr(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn jnum(v: Option<f64>, decimals: i32) -> String {
    match v {
        Some(x) if x.is_finite() => {
            let p = 10f64.powi(decimals);
            format!("{}", (x * p).round() / p)
        }
        _ => "null".into(),
    }
}

fn jopt_str(v: Option<&str>) -> String {
    v.map_or("null".into(), jstr)
}

/// The JSON report: the schema of the issue (`machine`, `counters`,
/// `results`), plus `run`, `ratios`, `hop_classes`, `costs`, `notes` and
/// `hop_probes_ns`.
pub fn json(
    m: &Machine,
    c: &Availability,
    run: &RunInfo,
    rows: &[Row],
    hops: &[f64],
    notes: &[(String, String, String)],
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{{");
    let _ = writeln!(
        o,
        "  \"machine\": {{\"arch\": {}, \"cpus\": {}, \"cpu_model\": {}, \"backend\": {}, \"pinned\": {}, \"hop_ns\": {}}},",
        jstr(m.arch),
        m.cpus,
        jopt_str(m.cpu_model.as_deref()),
        jstr(m.backend),
        m.pinned,
        jnum(m.hop_ns, 1)
    );
    let _ = writeln!(
        o,
        "  \"counters\": {{\"hardware\": {}, \"reason\": {}}},",
        c.hardware,
        jopt_str(c.reason.as_deref())
    );
    let _ = writeln!(o, "  \"results\": [");
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            o,
            "    {{\"workload\": {}, \"impl\": {}, \"ops_per_s\": {}, \"bytes_per_s\": {}, \"p50_ns\": {}, \"p99_ns\": {}, \"p999_ns\": {}, \"cache_miss_rate\": {}, \"runs\": {}}}{}",
            jstr(r.workload),
            jstr(r.imp),
            jnum(r.ops_per_s, 0),
            jnum(r.bytes_per_s, 0),
            jnum(r.p50_ns, 2),
            jnum(r.p99_ns, 2),
            jnum(r.p999_ns, 2),
            jnum(r.miss_rate, 5),
            r.runs,
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    let _ = writeln!(o, "  ],");
    let _ = writeln!(
        o,
        "  \"run\": {{\"date_utc\": {}, \"mode\": {}, \"rounds\": {}, \"run_secs\": {}, \"total_secs\": {}, \"scaling_cores\": [{}]}},",
        jstr(&run.date_utc),
        jstr(run.mode),
        run.rounds,
        jnum(Some(run.run_secs), 3),
        jnum(Some(run.total_secs), 1),
        run.scaling_cores
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let ratios: Vec<String> = rows
        .iter()
        .filter(|r| r.advantage.is_some())
        .map(|r| {
            let per: Vec<String> = r.per_round.iter().map(|x| jnum(Some(*x), 3)).collect();
            format!(
                "    {{\"workload\": {}, \"impl\": {}, \"metric\": {}, \"tracering_advantage\": {}, \"per_round\": [{}]}}",
                jstr(r.workload),
                jstr(r.imp),
                jstr(r.metric.name()),
                jnum(r.advantage, 3),
                per.join(", ")
            )
        })
        .collect();
    let _ = writeln!(o, "  \"ratios\": [\n{}\n  ],", ratios.join(",\n"));
    o.push_str(&json_classes(rows, &run.round_hops));
    let costs: Vec<String> = rows
        .iter()
        .filter(|r| r.ns_per_op.is_some())
        .map(|r| {
            let vs: Vec<String> = r
                .costs
                .iter()
                .map(|c| {
                    let per: Vec<String> = c.per_round.iter().map(|x| jnum(Some(*x), 3)).collect();
                    format!(
                        "{{\"base\": {}, \"ratio\": {}, \"per_round\": [{}]}}",
                        jstr(c.base),
                        jnum(c.ratio, 3),
                        per.join(", ")
                    )
                })
                .collect();
            format!(
                "    {{\"workload\": {}, \"impl\": {}, \"ns_per_event\": {}, \"vs\": [{}]}}",
                jstr(r.workload),
                jstr(r.imp),
                jnum(r.ns_per_op, 3),
                vs.join(", ")
            )
        })
        .collect();
    let _ = writeln!(o, "  \"costs\": [\n{}\n  ],", costs.join(",\n"));
    let notes: Vec<String> = notes
        .iter()
        .map(|(w, i, n)| {
            format!(
                "    {{\"workload\": {}, \"impl\": {}, \"note\": {}}}",
                jstr(w),
                jstr(i),
                jstr(n)
            )
        })
        .collect();
    let _ = writeln!(o, "  \"notes\": [\n{}\n  ],", notes.join(",\n"));
    let hops: Vec<String> = hops.iter().map(|h| jnum(Some(*h), 1)).collect();
    let _ = writeln!(o, "  \"hop_probes_ns\": [{}]", hops.join(", "));
    let _ = writeln!(o, "}}");
    o
}

/// The `hop_classes` section: the bounds, each round's class, and
/// tracering's advantage per class for every row that has one.
fn json_classes(rows: &[Row], round_hops: &[Option<f64>]) -> String {
    let n = rounds_by_class(round_hops);
    let counts: Vec<String> = HopClass::ALL
        .iter()
        .map(|c| format!("{}: {}", jstr(c.name()), n[*c as usize]))
        .collect();
    let classes: Vec<String> = round_hops
        .iter()
        .map(|h| jstr(HopClass::of(*h).name()))
        .collect();
    let adv: Vec<String> = rows
        .iter()
        .filter(|r| r.advantage.is_some())
        .map(|r| {
            let by = r.advantage_by_class(round_hops);
            let cells: Vec<String> = HopClass::ALL
                .iter()
                .map(|c| {
                    let (a, k) = by[*c as usize];
                    format!(
                        "{}: {{\"tracering_advantage\": {}, \"rounds\": {}}}",
                        jstr(c.name()),
                        jnum(a, 3),
                        k
                    )
                })
                .collect();
            format!(
                "      {{\"workload\": {}, \"impl\": {}, {}}}",
                jstr(r.workload),
                jstr(r.imp),
                cells.join(", ")
            )
        })
        .collect();
    format!(
        "  \"hop_classes\": {{\"fast_below_ns\": {}, \"slow_above_ns\": {}, \"rounds\": {{{}}}, \"per_round\": [{}], \"advantage\": [\n{}\n  ]}},\n",
        HOP_FAST_BELOW_NS,
        HOP_SLOW_ABOVE_NS,
        counts.join(", "),
        classes.join(", "),
        adv.join(",\n")
    )
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
        assert_eq!(jstr("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(jnum(Some(1.23456), 2), "1.23");
        assert_eq!(jnum(Some(f64::NAN), 2), "null");
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
        assert!(text.contains("2.50x (2)"), "{text}");
        let json = json_classes(&rows, &hops);
        assert!(
            json.contains("\"per_round\": [\"fast\", \"fast\", \"fast\", \"unknown\"]"),
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
}
