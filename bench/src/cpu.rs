//! CPU time spent by the benchmark's own process, RabbitMQ and PostgreSQL over a phase, as the
//! kernel counts it (`/proc/<pid>/stat`). On two shared cores a throughput ratio is a ratio of
//! CPU per message, so the benches print where that CPU went beside each figure.

use std::time::Duration;

/// Cumulative CPU of each party at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuReading {
    this_process: Duration,
    rabbitmq: Duration,
    postgres: Duration,
}

/// CPU each party spent between two readings, per message.
#[derive(Debug, Clone, Copy)]
pub struct CpuPerMessage {
    pub this_process: Duration,
    pub rabbitmq: Duration,
    pub postgres: Duration,
}

impl CpuReading {
    /// Reads `/proc` now. Processes that cannot be read (gone, other users) count as zero.
    pub fn now() -> CpuReading {
        let mut reading = CpuReading {
            this_process: ticks_of(std::process::id()).map_or(Duration::ZERO, |t| t.own),
            ..CpuReading::default()
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return reading;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Some(ticks) = ticks_of(pid) else { continue };
            match ticks.command.as_str() {
                // PostgreSQL's backends end with their connections; what they spent moves to
                // the postmaster's children's time, so both are counted.
                "postgres" => reading.postgres += ticks.own + ticks.children,
                "beam.smp" => reading.rabbitmq += ticks.own,
                _ => {}
            }
        }
        reading
    }

    /// What each party spent since `earlier`, divided over `messages`.
    pub fn per_message_since(&self, earlier: &CpuReading, messages: usize) -> CpuPerMessage {
        let n = messages.max(1) as u32;
        CpuPerMessage {
            this_process: self.this_process.saturating_sub(earlier.this_process) / n,
            rabbitmq: self.rabbitmq.saturating_sub(earlier.rabbitmq) / n,
            postgres: self.postgres.saturating_sub(earlier.postgres) / n,
        }
    }
}

impl std::fmt::Display for CpuPerMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        write!(
            f,
            "CPU per message: this process {:.0} µs, RabbitMQ {:.0} µs, PostgreSQL {:.0} µs, total {:.0} µs",
            us(self.this_process),
            us(self.rabbitmq),
            us(self.postgres),
            us(self.this_process + self.rabbitmq + self.postgres)
        )
    }
}

struct Ticks {
    command: String,
    own: Duration,
    children: Duration,
}

/// Fields 14–17 of `/proc/<pid>/stat` (utime, stime, cutime, cstime), after the command name,
/// which is in parentheses and may itself hold spaces or parentheses.
fn ticks_of(pid: u32) -> Option<Ticks> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let command = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<u64> = stat
        .get(close + 2..)?
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    // After the command: state is field 3, so utime (14) is index 11 here.
    let tick = |index: usize| fields.get(index).copied().unwrap_or(0);
    let to_duration = |ticks: u64| Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second());
    Some(Ticks {
        command,
        own: to_duration(tick(11) + tick(12)),
        children: to_duration(tick(13) + tick(14)),
    })
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on.
fn clock_ticks_per_second() -> f64 {
    100.0
}
