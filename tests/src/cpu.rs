//! A CPU quota like Lambda's: a 128 MB function gets about 7.2% of a vCPU (Lambda gives CPU
//! in proportion to memory, one full vCPU at 1,769 MB: Lambda developer guide,
//! configuration-memory). Emulated with the cgroup v1 CPU controller (CFS bandwidth) over a
//! 10 ms period, where this machine allows it (root, cgroup v1 `cpu` mounted).

use std::path::PathBuf;
use std::time::Duration;

/// Where the cgroup v1 CPU controller is mounted.
const CPU_CONTROLLER: &str = "/sys/fs/cgroup/cpu";
/// The CFS period: the quota is given per 10 ms.
const PERIOD: Duration = Duration::from_millis(10);

/// A cgroup whose processes share `fraction` of one CPU; removed when dropped.
pub struct CpuQuota {
    dir: PathBuf,
    fraction: f64,
}

impl CpuQuota {
    /// Lambda's share at `memory_mb` (1,769 MB = one vCPU).
    pub fn lambda(memory_mb: u32) -> Result<Self, String> {
        Self::new(f64::from(memory_mb) / 1769.0)
    }

    /// A new cgroup limited to `fraction` of a CPU, or why it cannot be made here.
    pub fn new(fraction: f64) -> Result<Self, String> {
        let root = PathBuf::from(CPU_CONTROLLER);
        if !root.join("cpu.cfs_quota_us").exists() {
            return Err(format!("no cgroup v1 CPU controller at {CPU_CONTROLLER}"));
        }
        let dir = root.join(format!("testkit-{}-{}", std::process::id(), crate::free_port()));
        std::fs::create_dir(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let quota = Self { dir, fraction };
        let period_us = PERIOD.as_micros();
        // Whole microseconds; the kernel's minimum quota is 1 ms, so at least that.
        let quota_us = ((period_us as f64 * fraction).round() as u128).max(1000);
        quota.write("cpu.cfs_period_us", &period_us.to_string())?;
        quota.write("cpu.cfs_quota_us", &quota_us.to_string())?;
        Ok(quota)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        std::fs::write(self.dir.join(file), value)
            .map_err(|error| format!("cannot set {file} of {}: {error}", self.dir.display()))
    }

    /// The file a process writes its pid to, to join the group.
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// The share of a CPU, as a percentage.
    pub fn percent(&self) -> f64 {
        self.fraction * 100.0
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        // Only an empty group can be removed; its processes have been stopped by then.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
