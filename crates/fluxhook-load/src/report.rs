//! What every report shares: the machine it ran on and number formatting.

use serde::Serialize;

/// The machine and how busy it was.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    /// `model name` from `/proc/cpuinfo`.
    pub(crate) cpu: String,
    /// CPUs of the machine.
    pub(crate) cpus: usize,
    /// `/proc/loadavg`: 1, 5 and 15 minute load averages.
    pub(crate) load_average: [f64; 3],
}

impl Machine {
    pub(crate) fn read() -> Self {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = info
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        // Every CPU of the machine, not only those this process may use
        // (under `taskset` that is one).
        let cpus = match info.lines().filter(|l| l.starts_with("processor")).count() {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Self {
            cpu,
            cpus,
            load_average: load_average(),
        }
    }
}

/// The 1, 5 and 15 minute load averages (zeros when unknown).
pub(crate) fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

fn load_text(l: [f64; 3]) -> String {
    format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
}

/// Where and when a run happened: the head of every report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunContext {
    /// The command line.
    pub(crate) command: String,
    /// The machine, and its load average at the start.
    pub(crate) machine: Machine,
    /// The load average at the end (the run's own load included).
    pub(crate) load_average_after: [f64; 3],
    /// The `taskset` CPU list of the servers, if pinned.
    pub(crate) server_cpus: Option<String>,
}

impl RunContext {
    /// Reads the machine at the start of a run.
    pub(crate) fn start(server_cpus: Option<&str>) -> Self {
        let machine = Machine::read();
        Self {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            load_average_after: machine.load_average,
            machine,
            server_cpus: server_cpus.map(str::to_owned),
        }
    }

    /// Reads the load average at the end of the run.
    pub(crate) fn finish(&mut self) {
        self.load_average_after = load_average();
    }

    /// The report line naming the machine, how busy it was at the start and
    /// at the end, and where the servers ran.
    pub(crate) fn line(&self) -> String {
        format!(
            "machine: {}, {} CPUs, load average {} (after: {}), server CPUs {}",
            self.machine.cpu,
            self.machine.cpus,
            load_text(self.machine.load_average),
            load_text(self.load_average_after),
            self.server_cpus.as_deref().unwrap_or("any")
        )
    }
}

/// Prints a report: one JSON document with `json`, else its text.
///
/// # Errors
///
/// When it cannot be serialized.
pub(crate) fn emit<R: Serialize>(
    json: bool,
    report: &R,
    text: fn(&R) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", text(report));
    }
    Ok(())
}

/// The exit code of a run: 0 when it passed, 1 when not.
pub(crate) fn exit_code(passed: bool) -> std::process::ExitCode {
    if passed {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// The last line of a report: `PASS`, or `FAIL:` and why.
pub(crate) fn verdict(failures: &[String]) -> String {
    if failures.is_empty() {
        "PASS\n".to_owned()
    } else {
        format!("FAIL: {}\n", failures.join("; "))
    }
}

/// A row of cells from text.
pub(crate) fn cells(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| (*t).to_owned()).collect()
}

/// KiB as MiB with one decimal.
pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A signed KiB difference as MiB.
pub(crate) fn mib_delta(kib: i64) -> String {
    format!("{:+.1} MiB", kib as f64 / 1024.0)
}

/// Microseconds as milliseconds with three decimals.
pub(crate) fn ms(micros: u64) -> String {
    format!("{:.3} ms", micros as f64 / 1000.0)
}

/// Prints rows of cells as aligned columns (first column left, the rest right).
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 0 {
                line.push_str(&format!("{cell:<w$}", w = widths[c]));
            } else {
                line.push_str(&format!("  {cell:>w$}", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Difference of two KiB counts.
pub(crate) fn delta(after: u64, before: u64) -> i64 {
    i64::try_from(after).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(&[
            vec!["a".into(), "1".into(), "22".into()],
            vec!["long name".into(), "333".into(), "4".into()],
        ]);
        assert_eq!(t, "a            1  22\nlong name  333   4\n");
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&[]), "PASS\n");
        assert_eq!(verdict(&["a".into(), "b".into()]), "FAIL: a; b\n");
        assert_eq!(cells(&["x", ""]), ["x".to_owned(), String::new()]);
    }

    #[test]
    fn formats() {
        assert_eq!(mib(1536), "1.5 MiB");
        assert_eq!(mib_delta(-1024), "-1.0 MiB");
        assert_eq!(ms(1500), "1.500 ms");
        assert_eq!(delta(1, 3), -2);
    }
}
