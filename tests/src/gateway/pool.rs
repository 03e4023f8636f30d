//! Each function's instances, kept as Lambda keeps them, and swapped for new ones after a rebuild without failing or holding up a request.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::runtime_api::{NoAnswer, Outcome, RuntimeApi};

use super::*;

/// Why API Gateway answers 502 instead of the function.
#[derive(Debug)]
pub enum IntegrationError {
    /// The function reported an error (Runtime API `/error`).
    Function(String),
    /// No answer: it timed out (then it was stopped), crashed or failed its init.
    NoAnswer(NoAnswer),
    /// An answer that is not a proxy response.
    Malformed(String),
    /// The instance could not be run at all.
    Local(String),
}

impl fmt::Display for IntegrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Function(error) => write!(f, "function error: {error}"),
            Self::NoAnswer(NoAnswer::TimedOut(limit)) => {
                write!(f, "task timed out after {:.2} seconds", limit.as_secs_f64())
            }
            Self::NoAnswer(no_answer) => no_answer.fmt(f),
            Self::Malformed(reason) => write!(f, "malformed Lambda proxy response: {reason}"),
            Self::Local(reason) => f.write_str(reason),
        }
    }
}

/// Every function's instances.
pub struct Functions {
    pools: BTreeMap<String, Arc<Pool>>,
}

impl Functions {
    /// Pools for the template's functions, whose binaries are in `bin_dir`, each up to
    /// `limit` instances. Instances get the template's plain variables, except those this
    /// process's environment sets (`make run`'s DynamoDB Local endpoint over the template's
    /// empty one); everything else they inherit.
    pub fn new(api: &Api, bin_dir: &Path, limit: usize) -> Self {
        Self::with_settings(api, bin_dir, limit, &[], |name| std::env::var_os(name).is_some())
    }

    /// [`new`](Self::new) with `settings` over the template's variables, and the process's
    /// environment left to the instances as it is (a test's own store and table).
    pub fn with_settings_of_their_own(
        api: &Api,
        bin_dir: &Path,
        limit: usize,
        settings: &[(String, String)],
    ) -> Self {
        Self::with_settings(api, bin_dir, limit, settings, |name| {
            settings.iter().any(|(set, _)| set == name)
        })
    }

    fn with_settings(
        api: &Api,
        bin_dir: &Path,
        limit: usize,
        settings: &[(String, String)],
        overridden: impl Fn(&str) -> bool,
    ) -> Self {
        let environment: Arc<[(String, String)]> = api
            .environment
            .iter()
            .filter(|(name, _)| !overridden(name))
            .chain(settings)
            .cloned()
            .collect();
        let pools = api
            .timeouts
            .iter()
            .map(|(binary, timeout)| {
                let pool = Pool {
                    binary: bin_dir.join(binary),
                    timeout: *timeout,
                    environment: Arc::clone(&environment),
                    limit: limit.max(1),
                    instances: Mutex::default(),
                    changed: Condvar::new(),
                };
                (binary.clone(), Arc::new(pool))
            })
            .collect();
        Self { pools }
    }

    pub fn pool(&self, function: &str) -> Option<Arc<Pool>> {
        self.pools.get(function).cloned()
    }

    pub fn pools(&self) -> impl Iterator<Item = &Pool> {
        self.pools.values().map(|pool| &**pool)
    }

    /// Starts one instance of each function, all at once; the errors of those that failed.
    pub fn warm(&self) -> Vec<(String, IntegrationError)> {
        std::thread::scope(|scope| {
            let starts: Vec<_> = self
                .pools
                .iter()
                .map(|(name, pool)| (name, scope.spawn(|| pool.warm())))
                .collect();
            starts
                .into_iter()
                .filter_map(|(name, start)| {
                    let result = start
                        .join()
                        .unwrap_or_else(|_| Err(IntegrationError::Local("the start panicked".into())));
                    result.err().map(|error| (name.clone(), error))
                })
                .collect()
        })
    }

    /// New binaries: idle instances stop now, busy ones once they have answered; every
    /// invocation from now on gets an instance of the new binary.
    pub fn reload(&self) {
        for pool in self.pools.values() {
            pool.reload();
        }
    }
}

/// One function's instances, as Lambda keeps them: an idle one serves the next invocation;
/// with none idle a new one starts (a cold start), up to `limit`; past that the invocation
/// waits for one to be free.
pub struct Pool {
    binary: PathBuf,
    timeout: Duration,
    environment: Arc<[(String, String)]>,
    limit: usize,
    instances: Mutex<Instances>,
    /// Signalled when an instance becomes idle or goes away.
    changed: Condvar,
}

#[derive(Default)]
struct Instances {
    idle: Vec<Instance>,
    /// Idle, busy and starting.
    count: usize,
    /// Bumped on each reload: instances of an older one are not reused.
    generation: u64,
    /// Instances of this generation started so far (cold starts of the current binary).
    started: usize,
}

struct Instance {
    api: RuntimeApi,
    generation: u64,
}

impl Pool {
    /// The binary's name, also its crate's.
    pub fn name(&self) -> &str {
        self.binary
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("function")
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// How many instances of the current binary have been started (cold starts) since the
    /// last reload. Instances started for an invocation that came before it do not count.
    pub fn starts_since_reload(&self) -> usize {
        self.lock().started
    }

    /// Runs one invocation and returns the function's response document. Blocks (it waits
    /// for the function): call it off the async runtime.
    pub fn invoke(&self, event: &str) -> Result<String, IntegrationError> {
        let mut lease = self.lease();
        let instance = match lease.instance.take() {
            Some(instance) => instance,
            None => self.start(lease.generation)?,
        };
        let outcome = instance.api.try_invoke(event, self.timeout);
        // Lambda keeps an instance whose invocation reported an error, not one that did not answer.
        lease.broken = outcome.is_err();
        lease.instance = Some(instance);
        match outcome {
            Ok(Outcome::Response(document)) => Ok(document),
            Ok(Outcome::Error(error)) => Err(IntegrationError::Function(error)),
            Err(no_answer) => Err(IntegrationError::NoAnswer(no_answer)),
        }
    }

    /// Makes sure one instance has started (and left idle).
    fn warm(&self) -> Result<(), IntegrationError> {
        let mut lease = self.lease();
        if lease.instance.is_none() {
            lease.instance = Some(self.start(lease.generation)?);
        }
        Ok(())
    }

    /// An idle instance, else the right to start one, else waits for either.
    fn lease(&self) -> Lease<'_> {
        let mut instances = self.lock();
        loop {
            let generation = instances.generation;
            if let Some(instance) = instances.idle.pop() {
                return Lease::new(self, Some(instance), generation);
            }
            if instances.count < self.limit {
                instances.count += 1;
                return Lease::new(self, None, generation);
            }
            instances = self
                .changed
                .wait(instances)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// A cold start: a Runtime API endpoint with a new process of the binary behind it,
    /// through its init. The function's stdout (its logs) is this process's stdout.
    fn start(&self, generation: u64) -> Result<Instance, IntegrationError> {
        {
            let mut instances = self.lock();
            if instances.generation == generation {
                instances.started += 1;
            }
        }
        let mut api = RuntimeApi::start();
        api.spawn_function(&self.binary, &self.environment, Stdio::inherit());
        api.try_wait_for_init(INIT_LIMIT)
            .map_err(IntegrationError::NoAnswer)?;
        Ok(Instance { api, generation })
    }

    fn reload(&self) {
        let retired = {
            let mut instances = self.lock();
            instances.generation += 1;
            instances.started = 0;
            let idle = std::mem::take(&mut instances.idle);
            instances.count -= idle.len();
            idle
        };
        self.changed.notify_all();
        // Dropping a RuntimeApi stops its process (and waits for it): outside the lock.
        drop(retired);
    }

    fn lock(&self) -> MutexGuard<'_, Instances> {
        self.instances.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An instance (or the right to start one) taken from a pool for one invocation. When
/// dropped, even by a panic, the instance goes back to the idle ones, or is stopped if it
/// is broken or of an older generation.
struct Lease<'a> {
    pool: &'a Pool,
    instance: Option<Instance>,
    generation: u64,
    broken: bool,
}

impl<'a> Lease<'a> {
    fn new(pool: &'a Pool, instance: Option<Instance>, generation: u64) -> Self {
        Self {
            pool,
            instance,
            generation,
            broken: false,
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let instance = self.instance.take();
        let retired = {
            let mut instances = self.pool.lock();
            match instance {
                Some(instance) if !self.broken && instance.generation == instances.generation => {
                    instances.idle.push(instance);
                    None
                }
                other => {
                    instances.count -= 1;
                    other
                }
            }
        };
        self.pool.changed.notify_all();
        drop(retired);
    }
}
