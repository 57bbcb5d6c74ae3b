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
    /// Operations the latency figures cover.
    pub ops: u64,
    /// See `workloads::latency::Latency::anomalies`.
    pub anomalies: u64,
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
    /// Median over rounds of tracering's advantage over this impl.
    pub advantage: Option<f64>,
    pub per_round: Vec<f64>,
    anomalies: u64,
    ops: u64,
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
            advantage: None,
            per_round: Vec::new(),
            anomalies: got.iter().map(|s| s.anomalies).sum(),
            ops: got.iter().map(|s| s.ops).sum(),
            samples,
        }
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
        if self.anomalies > 0 {
            match self.workload {
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
        let per_round: Vec<f64> = rows[b]
            .samples
            .iter()
            .zip(&rows[i].samples)
            .filter_map(|(bs, os)| {
                let (bs, os) = (bs.as_ref()?, os.as_ref()?);
                metric.advantage(metric.of(bs)?, metric.of(os)?)
            })
            .collect();
        rows[i].advantage = median(&per_round);
        rows[i].per_round = per_round;
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
            backend: tracering::backend(),
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
        "\n{:<20} {:<19} {:>12} {:>12} {:>8} {:>8} {:>8} {:>6} {:>8} {:>7} {:>4}",
        "workload",
        "impl",
        "ops/s",
        "bytes/s",
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
            "{:<20} {:<19} {:>12} {:>12} {:>8} {:>8} {:>8} {:>6} {:>8} {:>7} {:>4}",
            r.workload,
            r.imp,
            fmt_rate(r.ops_per_s, "/s"),
            fmt_rate(r.bytes_per_s, "B/s"),
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
        "\ntr.adv: median over rounds of tracering's advantage within the round on the\n\
         workload's main figure (ops/s; bytes/s for records; p99 for write_latency;\n\
         p50 for visibility_latency). >1: tracering is better."
    );
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
/// `results`), plus `run`, `ratios`, `notes` and `hop_probes_ns`.
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
        "  \"run\": {{\"date_utc\": {}, \"mode\": {}, \"rounds\": {}, \"run_secs\": {}, \"total_secs\": {}}},",
        jstr(&run.date_utc),
        jstr(run.mode),
        run.rounds,
        jnum(Some(run.run_secs), 3),
        jnum(Some(run.total_secs), 1)
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
}
