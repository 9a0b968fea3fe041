#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The manual's Python (requests) and curl examples, verbatim from `tests/manual/`, with only
//! the base URL, the integration id and the API key changed, against the demo bot.

use std::path::PathBuf;
use std::process::Command;

use e2e::Platform;

fn manual(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("manual")
        .join(file);
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn the_python_example_runs_as_written() {
    let p = Platform::start().await;
    let i = p.demo_integration("Python", false).await;
    let script = manual("python_example.py")
        .replace(
            "https://your-instance.intalos.de/api/integrations/api",
            &p.api_base_url,
        )
        .replace("INTEGRATION_ID = 31", &format!("INTEGRATION_ID = {}", i.id))
        .replace("your_api_key_here", &i.key);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "python failed: {stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "Bot: Welcome to Demo Pizza! 🍕",
            "Bot: Hi Hello!! What would you like to do?",
            "Bot: Which pizza would you like?",
        ],
        "{stderr}"
    );
    p.stop().await;
}

#[tokio::test]
async fn the_curl_examples_run_as_written() {
    let p = Platform::start().await;
    let i = p.demo_integration("Curl", false).await;
    let script = manual("curl_examples.sh")
        .replace(
            "https://your-instance.intalos.de/api/integrations/api/31",
            &format!("{}/{}", p.api_base_url, i.id),
        )
        .replace("your_api_key_here", &i.key)
        // Print each answer's status on its own line after its body.
        .replace("curl -X POST", "curl -sS -w '\\n%{http_code}\\n' -X POST");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .output()
            .expect("bash runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    let answers: Vec<serde_json::Value> = [lines[0], lines[2], lines[4]]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        [lines[1], lines[3], lines[5]],
        ["200", "200", "200"],
        "{stdout}"
    );
    assert_eq!(answers[0]["session_id"], "user-123");
    assert_eq!(answers[0]["message"]["text"], "Welcome to Demo Pizza! 🍕");
    assert_eq!(answers[1]["message"]["type"], "buttons");
    assert_eq!(
        answers[1]["message"]["options"][0]["id"],
        "component_id_xyz"
    );
    assert_eq!(answers[2]["message"]["type"], "list");
    assert_eq!(answers[2]["state"], "choose_pizza");
    p.stop().await;
}
