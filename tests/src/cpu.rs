//! A CPU share like Lambda's, and an exact count of the CPU a process used.
//!
//! A 128 MB function gets about 7.2% of a vCPU (Lambda gives CPU in proportion to memory, one
//! full vCPU at 1,769 MB: Lambda developer guide, configuration-memory). Emulated with the
//! cgroup v1 CPU controller (CFS bandwidth) where this machine allows it (root, cgroup v1
//! `cpu` mounted). The period is 10 ms where the share allows it; the kernel refuses a quota
//! under 1 ms ("The minimum quota allowed for the quota or period is 1ms", the kernel's
//! scheduler/sched-bwc documentation; writing 720 to `cpu.cfs_quota_us` here is EINVAL), so
//! 7.2% is 1 ms of every 13.8 ms rather than 0.72 ms of every 10 ms.
//!
//! A group of the `cpuacct` controller beside it counts the nanoseconds of CPU its processes
//! used (`cpuacct.usage`, threads that have exited included), so the bench can report CPU
//! time as well as wall time: the figure a quota turns into waiting.

use std::path::PathBuf;
use std::time::Duration;

/// Where the cgroup v1 controllers are mounted.
const CPU_CONTROLLER: &str = "/sys/fs/cgroup/cpu";
const CPUACCT_CONTROLLER: &str = "/sys/fs/cgroup/cpuacct";
/// The CFS period where the quota it gives is at least the kernel's minimum.
const PERIOD: Duration = Duration::from_millis(10);
/// The kernel's smallest quota.
const MIN_QUOTA: Duration = Duration::from_millis(1);

/// A cgroup whose processes share `fraction` of one CPU (or any amount, unlimited), with the
/// CPU they use counted; removed when dropped.
pub struct CpuQuota {
    /// The `cpu` controller's group (the quota) and the `cpuacct` controller's (the count).
    cpu: PathBuf,
    cpuacct: PathBuf,
    fraction: Option<f64>,
    period: Duration,
}

impl CpuQuota {
    /// Lambda's share at `memory_mb` (1,769 MB = one vCPU).
    pub fn lambda(memory_mb: u32) -> Result<Self, String> {
        Self::new(Some(f64::from(memory_mb) / 1769.0))
    }

    /// No limit, only the count of CPU used (the bench's whole-CPU setting).
    pub fn unlimited() -> Result<Self, String> {
        Self::new(None)
    }

    /// A new cgroup limited to `fraction` of a CPU, or why it cannot be made here.
    fn new(fraction: Option<f64>) -> Result<Self, String> {
        for controller in [CPU_CONTROLLER, CPUACCT_CONTROLLER] {
            if !PathBuf::from(controller).join("cgroup.procs").exists() {
                return Err(format!("no cgroup v1 controller at {controller}"));
            }
        }
        let name = format!("testkit-{}-{}", std::process::id(), crate::free_port());
        let mut quota = Self {
            cpu: PathBuf::from(CPU_CONTROLLER).join(&name),
            cpuacct: PathBuf::from(CPUACCT_CONTROLLER).join(&name),
            fraction,
            period: PERIOD,
        };
        for dir in quota.dirs() {
            std::fs::create_dir(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        }
        if let Some(fraction) = fraction {
            let (period, share) = period_and_quota(fraction);
            quota.period = period;
            quota.write("cpu.cfs_period_us", &period.as_micros().to_string())?;
            quota.write("cpu.cfs_quota_us", &share.as_micros().to_string())?;
        }
        Ok(quota)
    }

    fn dirs(&self) -> [&PathBuf; 2] {
        [&self.cpu, &self.cpuacct]
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        let path = self.cpu.join(file);
        std::fs::write(&path, value).map_err(|error| format!("cannot set {}: {error}", path.display()))
    }

    /// The files a process writes `0` to, to join the groups (itself, in cgroup v1).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs().iter().map(|dir| dir.join("cgroup.procs")).collect()
    }

    /// The CPU the group's processes have used so far, exited ones included.
    pub fn cpu_used(&self) -> Duration {
        let usage = std::fs::read_to_string(self.cpuacct.join("cpuacct.usage")).unwrap_or_default();
        Duration::from_nanos(usage.trim().parse().unwrap_or(0))
    }

    /// `"7.2% CPU"`, or `"whole CPU"` without a limit.
    pub fn describe(&self) -> String {
        match self.fraction {
            Some(fraction) => format!("{:.1}% CPU", fraction * 100.0),
            None => "whole CPU".into(),
        }
    }

    /// The CFS period in use (10 ms, longer where the share needs it).
    pub fn period(&self) -> Duration {
        self.period
    }

    pub fn is_limited(&self) -> bool {
        self.fraction.is_some()
    }
}

/// The period and quota giving `fraction` of a CPU: a 10 ms period where the quota is at least
/// the kernel's 1 ms, else a 1 ms quota over the period that makes the share.
fn period_and_quota(fraction: f64) -> (Duration, Duration) {
    let quota = PERIOD.mul_f64(fraction);
    if quota >= MIN_QUOTA {
        (PERIOD, quota)
    } else {
        (MIN_QUOTA.div_f64(fraction), MIN_QUOTA)
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        // Only an empty group can be removed; its processes have been stopped by then.
        for dir in self.dirs() {
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_128_mb_share_is_one_millisecond_per_13_8() {
        let (period, quota) = period_and_quota(128.0 / 1769.0);
        assert_eq!(quota, MIN_QUOTA);
        assert_eq!(period.as_micros(), 13_820);
        let (period, quota) = period_and_quota(1024.0 / 1769.0);
        assert_eq!(period, PERIOD);
        assert_eq!(quota.as_micros(), 5_788);
    }
}
