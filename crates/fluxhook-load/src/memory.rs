//! `memory`: bodies exactly at the limit, `concurrency` at once, against a
//! verified (or, for reference, plain) server; its peak RSS growth against `concurrency × limit`, and
//! what it keeps once the requests are over.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::cli::{MemoryArgs, client_secret};
use crate::client::{self, Limits};
use crate::compare::ValidDeliveries;
use crate::payload::{row_body, row_body_padded_outside};
use crate::process::{ServeCommand, Server};
use crate::report::{self, RunContext};

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    context: RunContext,
    mode: &'static str,
    padding_outside_record: bool,
    concurrency: usize,
    limit_bytes: u64,
    requests: u64,
    seconds: f64,
    /// Answers other than 204, and requests with no answer.
    wrong_answers: u64,
    /// Server RSS after warm-up, before the load.
    baseline_rss_kib: u64,
    /// Server peak RSS (`VmHWM`, reset at the baseline) during the load.
    peak_rss_kib: u64,
    /// `peak - baseline`.
    growth_kib: i64,
    /// `concurrency × limit + slack`.
    bound_kib: u64,
    slack_kib: u64,
    growth_within_bound: bool,
    /// Server RSS `pause_seconds` after the load ended (connections closed).
    rss_after_kib: u64,
    pause_seconds: f64,
    /// `after - baseline`.
    kept_kib: i64,
    /// Whether `kept <= slack`.
    nothing_kept: bool,
    server_warnings: u64,
}

pub(crate) fn run(args: MemoryArgs) -> anyhow::Result<ExitCode> {
    if args.concurrency == 0 || args.requests == 0 || args.limit == 0 {
        bail!("--concurrency, --requests and --limit must be at least 1");
    }
    let positive = args.duration > 0.0 && args.duration.is_finite();
    if !positive || args.pause.is_nan() || args.pause < 0.0 {
        bail!("--duration must be positive and --pause not negative");
    }
    let size = usize::try_from(args.limit).context("--limit does not fit in memory")?;
    client::runtime()?.block_on(measure(args, size))
}

async fn measure(args: MemoryArgs, size: usize) -> anyhow::Result<ExitCode> {
    let mut context = RunContext::start(args.placement.server_cpus.as_deref());
    let secret = client_secret()?;
    let server = Server::spawn(&ServeCommand {
        args: vec![
            "--mode".into(),
            args.mode.as_str().into(),
            "--limit".into(),
            args.limit.to_string(),
            // Room for every body at once, twice over: this measures what
            // the server keeps, not when its budget answers 503.
            "--body-budget".into(),
            (args.concurrency as u64)
                .saturating_mul(args.limit)
                .saturating_mul(2)
                .to_string(),
        ],
        cpus: args.placement.server_cpus.clone(),
        log: args.placement.server_log.clone(),
        secret: secret.clone(),
    })?;
    // Warm-up with small bodies on as many connections: threads, per
    // connection buffers and the allocator are set up before the baseline.
    let small = Arc::new(ValidDeliveries::new(server.addr, &secret, 1024)?);
    let warm = Limits {
        concurrency: args.concurrency,
        requests: 4 * args.concurrency as u64,
        duration: Duration::from_secs(30),
        rate: None,
    };
    client::drive(server.addr, small.clone(), warm).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = server.mem()?;
    server.reset_peak()?;

    let make = if args.pad_outside_record {
        row_body_padded_outside
    } else {
        row_body
    };
    let at_limit = Arc::new(ValidDeliveries::of(server.addr, &secret, size, make)?);
    let limits = Limits {
        concurrency: args.concurrency,
        requests: args.requests,
        duration: Duration::from_secs_f64(args.duration),
        rate: None,
    };
    let run = client::drive(server.addr, at_limit.clone(), limits).await?;
    let peak = server.mem()?;
    tokio::time::sleep(Duration::from_secs_f64(args.pause)).await;
    let after = server.mem()?;
    context.finish();
    let logs = server.stop();
    if let Some(first) = at_limit.first_wrong().or_else(|| small.first_wrong()) {
        eprintln!("first wrong answer: {first}");
    }

    let slack_kib = args.slack_mib * 1024;
    let bound_kib = (args.concurrency as u64).saturating_mul(args.limit) / 1024 + slack_kib;
    let growth = report::delta(peak.peak_kib, baseline.rss_kib);
    let kept = report::delta(after.rss_kib, baseline.rss_kib);
    let report = Report {
        context,
        mode: args.mode.as_str(),
        padding_outside_record: args.pad_outside_record,
        concurrency: args.concurrency,
        limit_bytes: args.limit,
        requests: run.answered,
        seconds: run.elapsed.as_secs_f64(),
        wrong_answers: at_limit.wrong() + small.wrong(),
        baseline_rss_kib: baseline.rss_kib,
        peak_rss_kib: peak.peak_kib,
        growth_kib: growth,
        bound_kib,
        slack_kib,
        growth_within_bound: growth <= i64::try_from(bound_kib).unwrap_or(i64::MAX),
        rss_after_kib: after.rss_kib,
        pause_seconds: args.pause,
        kept_kib: kept,
        nothing_kept: kept <= i64::try_from(slack_kib).unwrap_or(i64::MAX),
        server_warnings: logs.total_warnings(),
    };
    if args.placement.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report));
    }
    Ok(if report.wrong_answers > 0 || report.server_warnings > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn text(r: &Report) -> String {
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let per_request = if r.concurrency > 0 {
        r.growth_kib as f64 / r.concurrency as f64 / 1024.0
    } else {
        0.0
    };
    let rows = vec![
        vec!["requests at the limit".into(), r.requests.to_string()],
        vec!["seconds".into(), format!("{:.2}", r.seconds)],
        vec!["wrong answers".into(), r.wrong_answers.to_string()],
        vec!["baseline RSS".into(), report::mib(r.baseline_rss_kib)],
        vec!["peak RSS (VmHWM)".into(), report::mib(r.peak_rss_kib)],
        vec![
            "growth".into(),
            format!(
                "{} ({per_request:.2} MiB per connection)",
                report::mib_delta(r.growth_kib)
            ),
        ],
        vec![
            "bound: concurrency × limit + slack".into(),
            format!(
                "{} ({})",
                report::mib(r.bound_kib),
                verdict(r.growth_within_bound)
            ),
        ],
        vec![
            format!("RSS {:.1} s after the load", r.pause_seconds),
            report::mib(r.rss_after_kib),
        ],
        vec![
            "kept after the load".into(),
            format!(
                "{} (at most {}: {})",
                report::mib_delta(r.kept_kib),
                report::mib(r.slack_kib),
                verdict(r.nothing_kept)
            ),
        ],
        vec![
            "server WARN/ERROR lines".into(),
            r.server_warnings.to_string(),
        ],
    ];
    format!(
        "memory: {} server, {} connections, bodies of exactly {} bytes (the limit)\n{}\n\n{}",
        r.mode,
        r.concurrency,
        r.limit_bytes,
        r.context.line(),
        report::table(&rows)
    )
}
