//! The table a function's `MemorySize` is chosen by, as AWS Lambda Power Tuning draws one:
//! for each memory size (and its CPU share), each function's warm latency, its cold start,
//! and what a million requests cost; and the chart of both (target/bench/memory.svg, copied to
//! docs/memory.svg by `make bench-report`).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use testkit::cpu::{CpuQuota, MEMORY_SIZES};
use testkit::proxy::FaultProxy;

use crate::*;

/// Prices in us-east-1 as of 2026-12-02: what each cost column is made of. The AWS pricing
/// pages render their rate tables in the browser, so the figures were checked against
/// copies that carry them (named below); they change, and the date says when they held.
pub(crate) mod prices {
    /// AWS Lambda pricing (aws.amazon.com/lambda/pricing), Arm, the first 7.5 billion
    /// GB-seconds a month: $0.0000133334 per GB-second, duration "rounded up to the nearest
    /// 1 ms" (the page), init included for a custom runtime. The figure as cloudchipr.com's
    /// "AWS Lambda Pricing Breakdown" (2025) and the Price List API (us-east-1, 2026-09-13,
    /// quoted in a public project's notes) give it.
    pub const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
    /// The same page: $0.20 per million requests, either architecture. (Power Tuning's cost
    /// leaves it out, alexcasalboni/aws-lambda-power-tuning lambda/utils.js `computePrice`;
    /// it is the same at every size, and included here because a bill has it.)
    pub const LAMBDA_PER_MILLION: f64 = 0.20;
    /// Amazon API Gateway pricing (aws.amazon.com/api-gateway/pricing), REST APIs: $3.50 per
    /// million requests for the first 333 million a month (awsforengineers.com, "AWS API
    /// Gateway Pricing Explained", 2025-05-19; HTTP APIs, which this template does not use,
    /// $1.00).
    pub const API_GATEWAY_REST_PER_MILLION: f64 = 3.50;
    /// Amazon DynamoDB pricing, on-demand (aws.amazon.com/dynamodb/pricing/on-demand), after
    /// the 50% reduction of November 1, 2024 (AWS Database Blog, "New – Amazon DynamoDB lowers
    /// pricing for on-demand throughput and global tables"): $0.125 per million read request
    /// units and $0.625 per million write request units.
    pub const DYNAMODB_READ_UNIT_PER_MILLION: f64 = 0.125;
    pub const DYNAMODB_WRITE_UNIT_PER_MILLION: f64 = 0.625;
}

/// The request units one benchmarked request consumes, `(read, write)`: a strongly
/// consistent read of an item under 4 KB is one read unit, a write under 1 KB one write
/// unit, and a transaction's items cost two each (DynamoDB developer guide, read/write
/// capacity mode and transactions).
pub(crate) fn request_units(function: &str) -> (f64, f64) {
    match operation(function) {
        // One consistent GetItem of the user.
        Some("get") => (1.0, 0.0),
        // One conditional UpdateItem, or one DeleteItem.
        Some("update" | "delete") => (0.0, 1.0),
        // A right password: the claim's GetItem, then a two-item TransactWriteItems.
        Some("signin") => (1.0, 4.0),
        _ => (0.0, 0.0),
    }
}

/// What a million requests cost on Lambda, billed `billed` each at `memory_mb`.
fn lambda_cost(billed: Duration, memory_mb: u32) -> f64 {
    let billed_ms = (billed.as_secs_f64() * 1000.0).ceil();
    let gb_seconds = billed_ms / 1000.0 * f64::from(memory_mb) / 1024.0;
    gb_seconds * 1e6 * prices::LAMBDA_ARM_GB_SECOND + prices::LAMBDA_PER_MILLION
}

/// One function at one memory size.
struct Point {
    function: &'static str,
    memory_mb: u32,
    p50: Duration,
    p99: Duration,
    cold: Duration,
    lambda_cost: f64,
}

/// Warm requests at each size: fewer for the sign-in (an Argon2id hash each).
fn warm_count(function: &str) -> usize {
    if function == "login" {
        setting("BENCH_MEMORY_LOGINS", 20)
    } else {
        setting("BENCH_MEMORY_WARM", 300)
    }
}

pub(crate) fn memory_table(bench: &mut Bench, proxy: &Arc<FaultProxy>, runs: usize, report: &mut String) {
    let mut points = Vec::new();
    let functions: Vec<&'static str> = FUNCTIONS
        .iter()
        .chain(&SIGN_IN_FUNCTIONS)
        .map(|(name, _)| *name)
        .collect();
    for memory_mb in MEMORY_SIZES {
        let (counting, share) = match (CpuQuota::unlimited(), CpuQuota::lambda(memory_mb)) {
            (Ok(counting), Ok(share)) => (counting, share),
            (Err(reason), _) | (_, Err(reason)) => {
                let _ = writeln!(report, "\n**cgroups unavailable ({reason}): no memory table.**");
                return;
            }
        };
        let label = format!("{memory_mb} MB: {}", share.describe());
        let setting = Setting::new(
            Duration::from_millis(1),
            proxy,
            label,
            Some(counting),
            Some(share),
        );
        for &function in &functions {
            let warm = bench.warm(function, &setting, warm_count(function));
            let cold = bench.cold(function, &setting, runs);
            let p50 = median(&warm.latencies);
            points.push(Point {
                function,
                memory_mb,
                p50,
                p99: percentile(&warm.latencies, 0.99),
                cold: median(&cold.total),
                lambda_cost: lambda_cost(p50, memory_mb),
            });
        }
        eprintln!("memory table: {memory_mb} MB measured");
    }
    let _ = writeln!(
        report,
        "\n## Memory size: latency and cost (TLS, 1 ms RTT, init at a whole CPU, invocations at the size's share)\n\nAs AWS Lambda Power Tuning draws it: for each memory size, each function's warm p50 and p99 ({} requests; the sign-in {}), its cold start (spawn to first 200, median of {runs}), and what a million warm requests cost. Lambda bills the invocation's duration rounded up to the millisecond times the memory ($ {:.10} per GB-second, Arm) plus $ {:.2} per million requests; the billed duration here is the p50 latency as the harness sees it (it includes the Runtime API's round trip, a few hundred microseconds). API Gateway (REST, $ {:.2} per million) and DynamoDB on-demand ($ {} per million read units, $ {} per million write units) are the same at every size, so they are columns of their own. Prices: us-east-1, the AWS pricing pages as of 2026-12-02 (`tests/src/bin/bench/memory.rs` names each). The CPU share at 256 MB and up is a 10 ms period's; at 128 MB 1 ms per 13.8 ms.\n\n![latency and cost against memory](docs/memory.svg)\n\n| function | memory | warm p50 | warm p99 | cold start | Lambda $/M | API Gateway $/M | DynamoDB $/M | total $/M |\n|---|---|---|---|---|---|---|---|---|",
        setting("BENCH_MEMORY_WARM", 300),
        setting("BENCH_MEMORY_LOGINS", 20),
        prices::LAMBDA_ARM_GB_SECOND,
        prices::LAMBDA_PER_MILLION,
        prices::API_GATEWAY_REST_PER_MILLION,
        prices::DYNAMODB_READ_UNIT_PER_MILLION,
        prices::DYNAMODB_WRITE_UNIT_PER_MILLION,
    );
    for function in &functions {
        let (reads, writes) = request_units(function);
        let dynamodb =
            reads * prices::DYNAMODB_READ_UNIT_PER_MILLION + writes * prices::DYNAMODB_WRITE_UNIT_PER_MILLION;
        for point in points.iter().filter(|point| point.function == *function) {
            let _ = writeln!(
                report,
                "| {function} | {} MB | {} | {} | {} | {:.2} | {:.2} | {:.3} | {:.2} |",
                point.memory_mb,
                ms(point.p50),
                ms(point.p99),
                ms(point.cold),
                point.lambda_cost,
                prices::API_GATEWAY_REST_PER_MILLION,
                dynamodb,
                point.lambda_cost + prices::API_GATEWAY_REST_PER_MILLION + dynamodb,
            );
        }
    }
    let chart = chart(&points, &functions);
    let dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    std::fs::write(dir.join("memory.svg"), chart).expect("target/bench/memory.svg is writable");
}

/// Two panels: warm p50 and p99 (log scale) and Lambda's cost per million requests (log
/// scale), each against memory, one colour per function.
fn chart(points: &[Point], functions: &[&str]) -> String {
    const COLORS: [&str; 7] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    ];
    let (width, height, margin) = (440.0, 300.0, 50.0);
    let x = |memory: u32| {
        let (lo, hi) = ((128f64).ln(), (1769f64).ln());
        margin + (f64::from(memory).ln() - lo) / (hi - lo) * (width - 2.0 * margin)
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        width * 2.0,
        height + 90.0
    );
    type Series = (fn(&Point) -> f64, &'static str);
    let p50: Series = (|point| point.p50.as_secs_f64() * 1000.0, "");
    let p99: Series = (
        |point| point.p99.as_secs_f64() * 1000.0,
        " stroke-dasharray=\"5,3\"",
    );
    let cost: Series = (|point| point.lambda_cost, "");
    let panels: [(&str, Vec<Series>); 2] = [
        ("warm p50 (solid) and p99 (dashed), ms, log", vec![p50, p99]),
        ("Lambda $ per million requests (log)", vec![cost]),
    ];
    for (panel, (title, series)) in panels.iter().enumerate() {
        let left = panel as f64 * width;
        let values: Vec<f64> = series
            .iter()
            .flat_map(|(value, _)| points.iter().map(value))
            .filter(|v| *v > 0.0)
            .collect();
        let lo = values
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .max(1e-3)
            .ln();
        let hi = values.iter().copied().fold(0.0, f64::max).max(1e-3).ln() + 1e-9;
        let y = |v: f64| {
            height - margin - (v.max(1e-3).ln() - lo) / (hi - lo).max(1e-9) * (height - 2.0 * margin)
        };
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"20\" font-size=\"13\">{title}</text>\n<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
            left + margin,
            left + margin,
            height - margin,
            left + width - margin,
            height - margin,
            left + margin,
            margin,
            left + margin,
            height - margin
        );
        for memory in MEMORY_SIZES {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{memory}</text>",
                left + x(memory),
                height - margin + 15.0
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">memory (MB)</text>",
            left + width / 2.0,
            height - margin + 30.0
        );
        for (label, v) in [("min", lo.exp()), ("max", hi.exp())] {
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><!-- {label} -->",
                left + margin - 4.0,
                y(v) + 4.0,
                if v >= 10.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.2}")
                }
            );
        }
        for (index, function) in functions.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            for (value, dash) in series {
                let line: Vec<String> = points
                    .iter()
                    .filter(|point| point.function == *function)
                    .map(|point| format!("{:.1},{:.1}", left + x(point.memory_mb), y(value(point))))
                    .collect();
                let _ = writeln!(
                    svg,
                    "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                    line.join(" ")
                );
            }
        }
    }
    for (index, function) in functions.iter().enumerate() {
        let (column, row) = (index % 4, index / 4);
        let (lx, ly) = (margin + column as f64 * 200.0, height + 40.0 + row as f64 * 18.0);
        let color = COLORS[index % COLORS.len()];
        let _ = writeln!(
            svg,
            "<rect x=\"{lx}\" y=\"{}\" width=\"14\" height=\"4\" fill=\"{color}\"/><text x=\"{}\" y=\"{ly}\">{function}</text>",
            ly - 4.0,
            lx + 18.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
