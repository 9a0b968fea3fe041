//! `test run|show|list|cancel`: the Integration Test Runner from the terminal and from CI.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::TestCommand;
use crate::error::CliError;
use crate::render::{cell, clean, time, Table};
use crate::{Ctx, Outcome};

pub async fn run(ctx: &mut Ctx<'_>, command: TestCommand) -> Result<Outcome, CliError> {
    match command {
        TestCommand::Run {
            paths,
            bot,
            saved,
            version,
            draft,
            channel,
            junit,
            timeout,
        } => {
            // Saved scenarios alone need no file.
            let files = if paths.is_empty() {
                Vec::new()
            } else {
                scenario_files(&paths)?
            };
            let scenarios: Vec<Value> = files
                .iter()
                .map(|path| {
                    let yaml = std::fs::read_to_string(path).map_err(|err| {
                        CliError::usage(format!("cannot read {}: {err}", path.display()))
                    })?;
                    Ok(json!({"name": path.display().to_string(), "yaml": yaml}))
                })
                .collect::<Result<_, CliError>>()?;
            let mut body =
                json!({"scenarios": scenarios, "scenario_ids": saved, "channel": channel});
            if let Some(version) = version {
                body["version"] = json!(version);
            }
            if draft {
                body["draft"] = json!(true);
            }
            let started = ctx
                .client
                .post(&format!("/v1/bots/{bot}/test-runs"), &body)
                .await?;
            let id = cell(&started["id"]);
            let deadline = Instant::now() + Duration::from_secs(timeout);
            let run = loop {
                let run = ctx.client.get(&format!("/v1/test-runs/{id}")).await?;
                if run["status"] != "running" {
                    break run;
                }
                if Instant::now() >= deadline {
                    ctx.client
                        .post(&format!("/v1/test-runs/{id}/cancel"), &json!({}))
                        .await?;
                    return Err(CliError::usage(format!(
                        "test run {id} did not finish within {timeout} s; cancelled"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            if let Some(path) = junit {
                write_file(&path, &junit_xml(&run))?;
            }
            if !ctx.printed_json(&run)? {
                write_timeline(ctx.out, &run)?;
            }
            Ok(if run["status"] == "passed" {
                Outcome::Done
            } else {
                Outcome::Failed
            })
        }
        TestCommand::Show { run_id } => {
            let run = ctx.client.get(&format!("/v1/test-runs/{run_id}")).await?;
            if !ctx.printed_json(&run)? {
                write_timeline(ctx.out, &run)?;
            }
            Ok(Outcome::Done)
        }
        TestCommand::List { bot } => {
            let list = ctx.client.get(&format!("/v1/bots/{bot}/test-runs")).await?;
            if !ctx.printed_json(&list)? {
                let mut table = Table::new(&["ID", "STATUS", "PASSED", "STARTED", "FINISHED"]);
                for run in list["runs"].as_array().into_iter().flatten() {
                    let summary = &run["summary"];
                    let passed = if summary.is_object() {
                        format!("{}/{}", cell(&summary["passed"]), cell(&summary["total"]))
                    } else {
                        "-".to_owned()
                    };
                    table.row(vec![
                        cell(&run["id"]),
                        cell(&run["status"]),
                        passed,
                        time(&run["created_at"]),
                        time(&run["finished_at"]),
                    ]);
                }
                write!(ctx.out, "{}", table.render_indented(""))?;
            }
            Ok(Outcome::Done)
        }
        TestCommand::Record {
            integration,
            conversation,
            output,
        } => {
            let recording = ctx
                .client
                .get(&format!(
                    "/v1/integrations/{integration}/conversations/{}/scenario",
                    path_segment(&conversation)
                ))
                .await?;
            if ctx.printed_json(&recording)? {
                if let Some(path) = &output {
                    write_file(path, recording["yaml"].as_str().unwrap_or_default())?;
                }
                return Ok(Outcome::Done);
            }
            let mut said = vec![format!(
                "Recorded {} turn(s) on {}{}{}.",
                cell(&recording["turns"]),
                cell(&recording["channel"]),
                recording["bot_version"]
                    .as_i64()
                    .map(|v| format!(", bot version {v} (run it with --version {v})"))
                    .unwrap_or_default(),
                if recording["finished"] == true {
                    ""
                } else {
                    "; the conversation had not finished"
                }
            )];
            said.extend(
                recording["notes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|note| format!("note: {}", cell(note))),
            );
            let yaml = recording["yaml"].as_str().unwrap_or_default();
            match &output {
                Some(path) => {
                    write_file(path, yaml)?;
                    said.push(format!("Written to {}.", path.display()));
                    for line in said {
                        writeln!(ctx.out, "{line}")?;
                    }
                }
                // The scenario on stdout, what is said about it as YAML comments after it (the
                // output stays a scenario file).
                None => {
                    write!(ctx.out, "{yaml}")?;
                    for line in said {
                        writeln!(ctx.out, "# {line}")?;
                    }
                }
            }
            Ok(Outcome::Done)
        }
        TestCommand::Cancel { run_id } => {
            let run = ctx
                .client
                .post(&format!("/v1/test-runs/{run_id}/cancel"), &json!({}))
                .await?;
            if !ctx.printed_json(&run)? {
                writeln!(ctx.out, "Cancelling test run {run_id}.")?;
            }
            Ok(Outcome::Done)
        }
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|err| CliError::usage(format!("cannot write {}: {err}", path.display())))
}

/// `text` as one URL path segment: characters outside the unreserved set are escaped (a
/// session id is made of `A-Z a-z 0-9 . _ ~ : @ -`, a wa_id of digits).
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'~' | b':' | b'@' | b'-' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Files as given, and every `*.yaml`/`*.yml` of a directory, sorted.
fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|err| CliError::usage(format!("cannot read {}: {err}", path.display())))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| is_scenario(p))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    if files.is_empty() {
        return Err(CliError::usage("no scenario files found"));
    }
    Ok(files)
}

fn is_scenario(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext == "yaml" || ext == "yml")
}

fn text_of(message: &Value) -> String {
    clean(message["text"].as_str().unwrap_or_default())
}

/// The run as people read it: per scenario and channel its turns, the components they entered
/// with their messages and variable changes, and every failed expectation.
fn write_timeline(out: &mut dyn Write, run: &Value) -> std::io::Result<()> {
    writeln!(
        out,
        "Test run {}: {}",
        cell(&run["id"]),
        cell(&run["status"])
    )?;
    let result = &run["result"];
    for channel_run in result["runs"].as_array().into_iter().flatten() {
        let mark = if channel_run["status"] == "passed" {
            "✓"
        } else {
            "✗"
        };
        writeln!(
            out,
            "\n{mark} {} [{}] {} ({:.1} ms, sandbox removed: {} rows)",
            cell(&channel_run["scenario"]),
            cell(&channel_run["channel"]),
            cell(&channel_run["status"]),
            channel_run["duration_ms"].as_f64().unwrap_or_default(),
            cleanup_total(&channel_run["cleanup"]),
        )?;
        for turn in channel_run["turns"].as_array().into_iter().flatten() {
            let input = match &turn["input"] {
                Value::Null => turn["skipped"]
                    .as_str()
                    .map_or("(the user says nothing)".to_owned(), |why| {
                        format!("(skipped: {why})")
                    }),
                input => clean(&input.to_string()),
            };
            writeln!(out, "  turn {}: {input}", cell(&turn["turn"]))?;
            for component in turn["components"].as_array().into_iter().flatten() {
                let waits = if component["waits_for_input"] == true {
                    ", waits"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "    → {} ({}, {}{waits}) {:.2} ms",
                    cell(&component["id"]),
                    cell(&component["type"]),
                    cell(&component["event"]),
                    component["duration_ms"].as_f64().unwrap_or_default(),
                )?;
                for message in component["messages"].as_array().into_iter().flatten() {
                    writeln!(out, "        💬 {}", text_of(message))?;
                }
                write_delta(out, &component["variables"])?;
                if let Some(detail) = component["detail"].as_str() {
                    writeln!(out, "        ({})", clean(detail))?;
                }
                for check in component["limit_checks"].as_array().into_iter().flatten() {
                    writeln!(out, "        ⚠ {}", cell(check))?;
                }
            }
            for delivery in turn["whatsapp"].as_array().into_iter().flatten() {
                if delivery["outcome"] != "sent" {
                    writeln!(
                        out,
                        "    WhatsApp: {} ({})",
                        cell(&delivery["outcome"]),
                        cell(&delivery["detail"])
                    )?;
                }
            }
            for check in turn["checks"].as_array().into_iter().flatten() {
                write_check(out, check)?;
            }
        }
        for check in channel_run["checks"].as_array().into_iter().flatten() {
            write_check(out, check)?;
        }
        for error in channel_run["errors"].as_array().into_iter().flatten() {
            writeln!(
                out,
                "  error at {}: {}",
                cell(&error["component"]),
                cell(&error["message"])
            )?;
        }
        if let Some(stopped) = channel_run["stopped"].as_str() {
            writeln!(out, "  stopped: {}", clean(stopped))?;
        }
    }
    let coverage = &result["coverage"];
    if coverage.is_object() {
        writeln!(
            out,
            "\nCoverage: components {}/{}, edges {}/{}",
            cell(&coverage["components_visited"]),
            cell(&coverage["components_total"]),
            cell(&coverage["edges_visited"]),
            cell(&coverage["edges_total"]),
        )?;
        let never: Vec<String> = coverage["components_never_visited"]
            .as_array()
            .into_iter()
            .flatten()
            .map(cell)
            .collect();
        if !never.is_empty() {
            writeln!(out, "  never visited: {}", never.join(", "))?;
        }
    }
    let summary = &result["summary"];
    writeln!(
        out,
        "\n{} passed, {} failed",
        summary["passed"].as_u64().unwrap_or(0),
        summary["total"].as_u64().unwrap_or(0) - summary["passed"].as_u64().unwrap_or(0)
    )
}

fn write_delta(out: &mut dyn Write, delta: &Value) -> std::io::Result<()> {
    for (name, value) in delta["added"].as_object().into_iter().flatten() {
        writeln!(out, "        + {name} = {}", clean(&value.to_string()))?;
    }
    for (name, change) in delta["changed"].as_object().into_iter().flatten() {
        writeln!(
            out,
            "        ~ {name}: {} → {}",
            clean(&change["from"].to_string()),
            clean(&change["to"].to_string())
        )?;
    }
    for name in delta["removed"].as_array().into_iter().flatten() {
        writeln!(out, "        - {}", cell(name))?;
    }
    Ok(())
}

fn write_check(out: &mut dyn Write, check: &Value) -> std::io::Result<()> {
    if check["passed"] == true {
        return Ok(());
    }
    writeln!(
        out,
        "  ✗ {}:\n      - expected {}\n      + actual   {}",
        cell(&check["what"]),
        clean(check["expected"].as_str().unwrap_or_default()),
        clean(check["actual"].as_str().unwrap_or_default()),
    )
}

fn cleanup_total(cleanup: &Value) -> u64 {
    cleanup
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, v)| v.as_u64())
        .sum()
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A JUnit report: one test case per scenario and channel, failures with their diffs.
fn junit_xml(run: &Value) -> String {
    let runs: Vec<&Value> = run["result"]["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let failures = runs.iter().filter(|r| r["status"] != "passed").count();
    let mut xml_out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"botctl test run {}\" tests=\"{}\" failures=\"{failures}\">\n",
        cell(&run["id"]),
        runs.len()
    );
    for channel_run in runs {
        let name = format!(
            "{} [{}]",
            cell(&channel_run["scenario"]),
            cell(&channel_run["channel"])
        );
        let seconds = channel_run["duration_ms"].as_f64().unwrap_or_default() / 1000.0;
        xml_out.push_str(&format!(
            "  <testcase classname=\"bot {}\" name=\"{}\" time=\"{seconds:.3}\"",
            cell(&channel_run["bot_id"]),
            xml(&name)
        ));
        if channel_run["status"] == "passed" {
            xml_out.push_str("/>\n");
            continue;
        }
        let mut details = Vec::new();
        for turn in channel_run["turns"].as_array().into_iter().flatten() {
            for check in turn["checks"].as_array().into_iter().flatten() {
                if check["passed"] != true {
                    details.push(format!(
                        "turn {}: {}: expected {}, actual {}",
                        cell(&turn["turn"]),
                        cell(&check["what"]),
                        cell(&check["expected"]),
                        cell(&check["actual"])
                    ));
                }
            }
        }
        for check in channel_run["checks"].as_array().into_iter().flatten() {
            if check["passed"] != true {
                details.push(format!(
                    "{}: expected {}, actual {}",
                    cell(&check["what"]),
                    cell(&check["expected"]),
                    cell(&check["actual"])
                ));
            }
        }
        if let Some(stopped) = channel_run["stopped"].as_str() {
            details.push(stopped.to_owned());
        }
        xml_out.push_str(&format!(
            ">\n    <failure message=\"{}\">{}</failure>\n  </testcase>\n",
            xml(&cell(&channel_run["status"])),
            xml(&details.join("\n"))
        ));
    }
    xml_out.push_str("</testsuite>\n");
    xml_out
}
