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
/// The memory sizes the bench's memory table measures (Lambda's smallest, doublings, and
/// one full vCPU), and so the sizes template.yaml chooses among.
pub const MEMORY_SIZES: [u32; 5] = [128, 256, 512, 1024, 1769];
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
    /// The CPU time per period (with `fraction`).
    quota: Duration,
}

impl CpuQuota {
    /// Lambda's share at `memory_mb` (1,769 MB = one vCPU), over a 10 ms period, or the
    /// shortest the kernel allows for the share (13.8 ms at 128 MB).
    pub fn lambda(memory_mb: u32) -> Result<Self, String> {
        Self::new(Some(lambda_share(memory_mb)))
    }

    /// Lambda's share at `memory_mb` over `period` (the kernel's default is 100 ms). Lambda
    /// does not document its scheduler's period, so the bench shows what depends on it.
    pub fn lambda_over(memory_mb: u32, period: Duration) -> Result<Self, String> {
        let fraction = lambda_share(memory_mb);
        Self::with(Some((fraction, period, period.mul_f64(fraction))))
    }

    /// A new group with the same share: a fresh execution environment's, its quota unspent
    /// (the old one's processes may have spent this period's).
    pub fn renewed(&self) -> Result<Self, String> {
        Self::with(self.fraction.map(|fraction| (fraction, self.period, self.quota)))
    }

    /// The `cpu` controller's `cgroup.procs` alone: where a process moves to take up this
    /// share, its CPU still counted where it was (see `Launch::invocation_cgroups`).
    pub fn share_procs_file(&self) -> PathBuf {
        self.cpu.join("cgroup.procs")
    }

    /// Whether process `pid` runs under this group's quota now.
    pub fn holds(&self, pid: u32) -> bool {
        std::fs::read_to_string(self.share_procs_file())
            .is_ok_and(|procs| procs.lines().any(|line| line.trim() == pid.to_string()))
    }

    /// How many periods the quota has held the group back so far (`cpu.stat`'s `nr_throttled`).
    pub fn throttled_periods(&self) -> u64 {
        std::fs::read_to_string(self.cpu.join("cpu.stat"))
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("nr_throttled "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0)
    }

    /// No limit, only the count of CPU used (the bench's whole-CPU setting).
    pub fn unlimited() -> Result<Self, String> {
        Self::new(None)
    }

    /// A new cgroup limited to `fraction` of a CPU, or why it cannot be made here.
    fn new(fraction: Option<f64>) -> Result<Self, String> {
        Self::with(fraction.map(|fraction| {
            let (period, quota) = period_and_quota(fraction);
            (fraction, period, quota)
        }))
    }

    /// A new cgroup with `(fraction, period, quota)`, or unlimited.
    fn with(share: Option<(f64, Duration, Duration)>) -> Result<Self, String> {
        for controller in [CPU_CONTROLLER, CPUACCT_CONTROLLER] {
            if !PathBuf::from(controller).join("cgroup.procs").exists() {
                return Err(format!("no cgroup v1 controller at {controller}"));
            }
        }
        // Unique in this process (a bench makes hundreds), and across processes by the pid.
        static GROUPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let number = GROUPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("testkit-{}-{number}", std::process::id());
        let (fraction, period, quota) = match share {
            Some((fraction, period, quota)) => (Some(fraction), period, quota),
            None => (None, PERIOD, PERIOD),
        };
        let (cpu, cpuacct) = (
            PathBuf::from(CPU_CONTROLLER).join(&name),
            PathBuf::from(CPUACCT_CONTROLLER).join(&name),
        );
        std::fs::create_dir(&cpu).map_err(|error| format!("cannot create {}: {error}", cpu.display()))?;
        if let Err(error) = std::fs::create_dir(&cpuacct) {
            let _ = std::fs::remove_dir(&cpu);
            return Err(format!("cannot create {}: {error}", cpuacct.display()));
        }
        // Only now owned (and removed when dropped): both groups are this one's.
        let group = Self {
            cpu,
            cpuacct,
            fraction,
            period,
            quota,
        };
        if fraction.is_some() {
            group.write("cpu.cfs_period_us", &period.as_micros().to_string())?;
            group.write("cpu.cfs_quota_us", &quota.as_micros().to_string())?;
        }
        Ok(group)
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

/// Readies the kernel for moving a process between cgroups, so that the next move (a
/// bootstrap joining its groups at spawn, or taking up its share at its first `next`) is not
/// charged to the function. A move takes a lock whose writer, after some 30 to 60 ms without
/// one, waits for an RCU grace period: 6 to 8 ms here, against 0.1 ms for a move soon after
/// another. This one moves this process to the `cpu` group it is already in, and pays that.
pub fn prime_cgroup_moves() {
    // This process's own `cpu` group, read once (a bench spawns hundreds of processes).
    static OWN_PROCS: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let own = OWN_PROCS.get_or_init(|| {
        let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        groups.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            controllers
                .split(',')
                .any(|c| c == "cpu")
                .then(|| PathBuf::from(format!("{CPU_CONTROLLER}{path}")).join("cgroup.procs"))
        })
    });
    if let Some(procs) = own {
        let _ = std::fs::write(procs, std::process::id().to_string());
    }
}

/// The fraction of a CPU Lambda gives `memory_mb` ("At 1,769 MB, a function has the
/// equivalent of one vCPU", Lambda Developer Guide, configuration-memory).
fn lambda_share(memory_mb: u32) -> f64 {
    f64::from(memory_mb) / 1769.0
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
