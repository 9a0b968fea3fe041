//! A process's memory as the kernel counts it (`/proc/<pid>/status`), and a sampler that keeps
//! each process's peak resident set over a phase.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Resident set now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Highest resident set since the process started (`VmHWM`), KiB.
    pub hwm_kib: u64,
    pub threads: u64,
}

impl Usage {
    pub fn read(pid: u32) -> Option<Usage> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        Some(Usage {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
            threads: field("Threads:")?,
        })
    }

    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }

    pub fn hwm_mib(&self) -> f64 {
        self.hwm_kib as f64 / 1024.0
    }
}

/// Samples every 100 ms until stopped; keeps each process's highest `VmRSS`.
pub struct Sampler {
    peaks: Arc<Mutex<Vec<u64>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn snapshot(processes: &[(String, u32)]) -> Vec<Option<Usage>> {
        processes.iter().map(|(_, pid)| Usage::read(*pid)).collect()
    }

    pub fn start(processes: &[(String, u32)]) -> Sampler {
        let pids: Vec<u32> = processes.iter().map(|(_, pid)| *pid).collect();
        let peaks = Arc::new(Mutex::new(vec![0_u64; pids.len()]));
        let (stop, mut stopped) = watch::channel(false);
        let kept = peaks.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                if let Ok(mut peaks) = kept.lock() {
                    for (peak, pid) in peaks.iter_mut().zip(&pids) {
                        if let Some(usage) = Usage::read(*pid) {
                            *peak = (*peak).max(usage.rss_kib);
                        }
                    }
                }
                tokio::select! {
                    _ = stopped.wait_for(|stop| *stop) => return,
                    _ = tick.tick() => {}
                }
            }
        });
        Sampler { peaks, stop, task }
    }

    /// Stops sampling; each process's highest `VmRSS` seen, KiB.
    pub async fn stop(self) -> Vec<u64> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.peaks.lock().map(|p| p.clone()).unwrap_or_default()
    }
}
