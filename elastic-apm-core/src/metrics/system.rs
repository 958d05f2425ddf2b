//! System, process and cgroup metrics (`metrics.md`), read from `/proc` and cgroupfs.
//!
//! Linux only: elsewhere [`System::sample`] adds nothing (a documented gap). Every
//! file is read under a root directory, `/` in production and a fixture in tests.

use std::path::{Path, PathBuf};

/// cgroup v1's "no limit" (`memory.limit_in_bytes`), which the spec says not to send:
/// `0x7ffffffffffff000` with 4 KiB pages, `0x7fffffffffff0000` with 64 KiB pages; any
/// limit this large means none.
const CGROUP_V1_UNLIMITED: u64 = 0x7fff_ffff_ff00_0000;

/// Cumulative CPU ticks from `/proc/stat` and `/proc/self/stat`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuTicks {
    total: u64,
    idle: u64,
    process: u64,
}

/// Where the process's cgroup memory files are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CgroupMemory {
    /// `memory.limit_in_bytes` and `memory.usage_in_bytes` in this directory.
    V1(PathBuf),
    /// `memory.max` and `memory.current` in this directory.
    V2(PathBuf),
}

/// Reads system and process metrics; keeps the previous CPU reading for the deltas.
#[derive(Debug)]
pub(crate) struct System {
    /// Whether there is a `/proc` to read (Linux, or a test's fixture).
    enabled: bool,
    root: PathBuf,
    cgroup: Option<CgroupMemory>,
    last: Option<CpuTicks>,
}

impl System {
    /// Reads under `/`, and primes the CPU counters so the first report has a value.
    pub(crate) fn new() -> Self {
        Self::under(PathBuf::from("/"))
    }

    pub(crate) fn under(root: PathBuf) -> Self {
        let enabled = cfg!(target_os = "linux") || root != Path::new("/");
        let cgroup = enabled.then(|| discover_cgroup(&root)).flatten();
        let mut system = System {
            enabled,
            root,
            cgroup,
            last: None,
        };
        if enabled {
            system.last = system.cpu_ticks();
        }
        system
    }

    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(path)).ok()
    }

    fn cpu_ticks(&self) -> Option<CpuTicks> {
        let stat = self.read("proc/stat")?;
        let cpu = stat.lines().find(|l| l.starts_with("cpu "))?;
        let ticks: Vec<u64> = cpu
            .split_ascii_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let total = ticks.iter().take(8).fold(0u64, |a, &t| a.saturating_add(t));
        let idle = ticks
            .get(3)
            .copied()
            .unwrap_or(0)
            .saturating_add(ticks.get(4).copied().unwrap_or(0));
        let own = self.read("proc/self/stat")?;
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let fields: Vec<&str> = own
            .get(own.rfind(')')? + 1..)?
            .split_ascii_whitespace()
            .collect();
        // utime and stime are fields 14 and 15; the slice starts at field 3.
        let process = fields
            .get(11)?
            .parse::<u64>()
            .ok()?
            .saturating_add(fields.get(12)?.parse::<u64>().ok()?);
        Some(CpuTicks {
            total,
            idle,
            process,
        })
    }

    /// Adds the samples available now to `out`.
    pub(crate) fn sample(&mut self, out: &mut Vec<(&'static str, f64)>) {
        if !self.enabled {
            return;
        }
        if let Some(now) = self.cpu_ticks() {
            if let Some(last) = self.last {
                let total = now.total.saturating_sub(last.total);
                if total > 0 {
                    let idle = now.idle.saturating_sub(last.idle).min(total);
                    let busy = (total - idle) as f64 / total as f64;
                    let process = now.process.saturating_sub(last.process) as f64 / total as f64;
                    out.push(("system.cpu.total.norm.pct", busy));
                    out.push(("system.process.cpu.total.norm.pct", process.min(1.0)));
                }
            }
            self.last = Some(now);
        }
        if let Some(meminfo) = self.read("proc/meminfo") {
            let kb = |key: &str| field_kb(&meminfo, key);
            if let Some(total) = kb("MemTotal:") {
                out.push(("system.memory.total", total as f64));
            }
            // Kernels before 3.14 have no MemAvailable: estimate it as the others do.
            let available = kb("MemAvailable:").or_else(|| {
                Some(
                    kb("MemFree:")?
                        .saturating_add(kb("Buffers:").unwrap_or(0))
                        .saturating_add(kb("Cached:").unwrap_or(0)),
                )
            });
            if let Some(available) = available {
                out.push(("system.memory.actual.free", available as f64));
            }
        }
        if let Some(status) = self.read("proc/self/status") {
            if let Some(size) = field_kb(&status, "VmSize:") {
                out.push(("system.process.memory.size", size as f64));
            }
            if let Some(rss) = field_kb(&status, "VmRSS:") {
                out.push(("system.process.memory.rss.bytes", rss as f64));
            }
        }
        let (limit, usage) = match &self.cgroup {
            Some(CgroupMemory::V1(dir)) => (
                read_u64(&dir.join("memory.limit_in_bytes")).filter(|&l| l < CGROUP_V1_UNLIMITED),
                read_u64(&dir.join("memory.usage_in_bytes")),
            ),
            // `max` (no limit) does not parse, which leaves the limit out, as the spec asks.
            Some(CgroupMemory::V2(dir)) => (
                read_u64(&dir.join("memory.max")),
                read_u64(&dir.join("memory.current")),
            ),
            None => (None, None),
        };
        if let Some(limit) = limit {
            out.push(("system.process.cgroup.memory.mem.limit.bytes", limit as f64));
        }
        if let Some(usage) = usage {
            out.push(("system.process.cgroup.memory.mem.usage.bytes", usage as f64));
        }
    }
}

/// A `Key:   123 kB` line of `/proc/meminfo` or `/proc/self/status`, in bytes.
fn field_kb(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Joins an absolute path from `/proc` under `root`.
fn under(root: &Path, absolute: &str) -> PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

/// Finds the memory cgroup directory: the process's cgroup (`/proc/self/cgroup`) under
/// the matching mount (`/proc/self/mountinfo`), v1's memory controller first (hybrid
/// hosts mount v2 without it), else v2's unified hierarchy. Falls back to
/// `/sys/fs/cgroup/memory`, as the spec says; `None` when no memory files are there.
pub(crate) fn discover_cgroup(root: &Path) -> Option<CgroupMemory> {
    let read = |p: &str| std::fs::read_to_string(under(root, p)).ok();
    let cgroups = read("/proc/self/cgroup").unwrap_or_default();
    let mountinfo = read("/proc/self/mountinfo").unwrap_or_default();
    let mut v1_path = None;
    let mut v2_path = None;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "memory") {
            v1_path = Some(path);
        } else if id == "0" && controllers.is_empty() {
            v2_path = Some(path);
        }
    }
    let mut v1_mount = None;
    let mut v2_mount = None;
    for line in mountinfo.lines() {
        // id parent major:minor root mount-point options [optional...] - type source super-options
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let (Some(&mount_root), Some(&mount_point)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        let right: Vec<&str> = right.split(' ').collect();
        match right.first() {
            Some(&"cgroup")
                if right
                    .get(2)
                    .is_some_and(|o| o.split(',').any(|o| o == "memory")) =>
            {
                v1_mount = Some((mount_root, mount_point));
            }
            Some(&"cgroup2") => v2_mount = Some((mount_root, mount_point)),
            _ => {}
        }
    }
    let in_mount = |(mount_root, mount_point): (&str, &str), path: &str| {
        // The cgroup path is relative to the hierarchy's root; the mount shows the part
        // of it under `mount_root` (a container sees only its own cgroup).
        let relative = Path::new(path)
            .strip_prefix(mount_root)
            .unwrap_or(Path::new(path));
        under(root, mount_point).join(relative.strip_prefix("/").unwrap_or(relative))
    };
    if let Some(path) = v1_path {
        let mount = v1_mount.unwrap_or(("/", "/sys/fs/cgroup/memory"));
        for dir in [in_mount(mount, path), under(root, mount.1)] {
            if dir.join("memory.usage_in_bytes").is_file() {
                return Some(CgroupMemory::V1(dir));
            }
        }
    }
    if let (Some(path), Some(mount)) = (v2_path, v2_mount) {
        let dir = in_mount(mount, path);
        if dir.join("memory.current").is_file() {
            return Some(CgroupMemory::V2(dir));
        }
    }
    let fallback = under(root, "/sys/fs/cgroup/memory");
    fallback
        .join("memory.usage_in_bytes")
        .is_file()
        .then_some(CgroupMemory::V1(fallback))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake root directory, removed when dropped.
    struct Root(PathBuf);

    impl Root {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A fake root with the given files.
    fn fixture(files: &[(&str, &str)]) -> Root {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            Root(std::env::temp_dir().join(format!("elastic-apm-root-{}-{n}", std::process::id())));
        for (path, text) in files {
            let path = dir.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn samples(system: &mut System) -> Vec<(&'static str, f64)> {
        let mut out = Vec::new();
        system.sample(&mut out);
        out
    }

    fn get(samples: &[(&'static str, f64)], name: &str) -> Option<f64> {
        samples.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    const V1_DOCKER: &[(&str, &str)] = &[
        (
            "/proc/self/cgroup",
            "12:memory:/docker/5042cfbb4ab3\n11:cpu,cpuacct:/docker/5042cfbb4ab3\n",
        ),
        (
            "/proc/self/mountinfo",
            "436 431 0:33 /docker/5042cfbb4ab3 /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:22 - cgroup memory rw,memory\n",
        ),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "1073741824\n",
        ),
        ("/sys/fs/cgroup/memory/memory.usage_in_bytes", "52428800\n"),
    ];

    #[test]
    fn cgroup_v1_in_a_container_reads_its_own_mount() {
        let root = fixture(V1_DOCKER);
        assert_eq!(
            discover_cgroup(root.path()),
            Some(CgroupMemory::V1(root.path().join("sys/fs/cgroup/memory")))
        );
        let s = samples(&mut System::under(root.path().to_owned()));
        assert_eq!(
            get(&s, "system.process.cgroup.memory.mem.limit.bytes"),
            Some(1073741824.0)
        );
        assert_eq!(
            get(&s, "system.process.cgroup.memory.mem.usage.bytes"),
            Some(52428800.0)
        );
    }

    #[test]
    fn cgroup_v1_on_a_host_joins_the_path_under_the_mount() {
        let root = fixture(&[
            ("/proc/self/cgroup", "4:memory:/process_api/0aec\n0::/\n"),
            (
                "/proc/self/mountinfo",
                "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
            ),
            (
                "/sys/fs/cgroup/memory/process_api/0aec/memory.limit_in_bytes",
                "9223372036854771712\n",
            ),
            (
                "/sys/fs/cgroup/memory/process_api/0aec/memory.usage_in_bytes",
                "3862528\n",
            ),
        ]);
        let s = samples(&mut System::under(root.path().to_owned()));
        // 0x7ffffffffffff000: no limit, so no limit metric.
        assert_eq!(
            get(&s, "system.process.cgroup.memory.mem.limit.bytes"),
            None
        );
        assert_eq!(
            get(&s, "system.process.cgroup.memory.mem.usage.bytes"),
            Some(3862528.0)
        );
    }

    #[test]
    fn cgroup_v2_reads_memory_max_and_current() {
        let files = |max: &'static str| {
            fixture(&[
                ("/proc/self/cgroup", "0::/system.slice/shop.service\n"),
                (
                    "/proc/self/mountinfo",
                    "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
                ),
                ("/sys/fs/cgroup/system.slice/shop.service/memory.max", max),
                (
                    "/sys/fs/cgroup/system.slice/shop.service/memory.current",
                    "7340032\n",
                ),
            ])
        };
        let limited = files("536870912\n");
        let s = samples(&mut System::under(limited.path().to_owned()));
        assert_eq!(
            get(&s, "system.process.cgroup.memory.mem.limit.bytes"),
            Some(536870912.0)
        );
        assert_eq!(
            get(&s, "system.process.cgroup.memory.mem.usage.bytes"),
            Some(7340032.0)
        );
        let unlimited = files("max\n");
        let s = samples(&mut System::under(unlimited.path().to_owned()));
        assert_eq!(
            get(&s, "system.process.cgroup.memory.mem.limit.bytes"),
            None
        );
        assert_eq!(
            get(&s, "system.process.cgroup.memory.mem.usage.bytes"),
            Some(7340032.0)
        );
    }

    #[test]
    fn no_cgroup_files_no_cgroup_metrics() {
        let root = fixture(&[("/proc/self/cgroup", "0::/\n")]);
        assert_eq!(discover_cgroup(root.path()), None);
    }

    #[test]
    fn cpu_and_memory_from_proc() {
        let root = fixture(&[
            (
                "/proc/stat",
                "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n",
            ),
            (
                "/proc/self/stat",
                "42 (my (odd) app) S 1 2 3 4 5 6 7 8 9 10 20 30 0 0\n",
            ),
            (
                "/proc/meminfo",
                "MemTotal:       16000 kB\nMemFree:         1000 kB\nMemAvailable:    8000 kB\n",
            ),
            (
                "/proc/self/status",
                "Name:\tapp\nVmSize:\t  2048 kB\nVmRSS:\t   512 kB\n",
            ),
        ]);
        let mut system = System::under(root.path().to_owned());
        // One second later: 1000 more ticks, 600 of them idle, 50 the process's.
        std::fs::write(
            root.path().join("proc/stat"),
            "cpu  300 0 300 1200 200 0 0 0 0 0\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("proc/self/stat"),
            "42 (my (odd) app) S 1 2 3 4 5 6 7 8 9 10 50 50 0 0\n",
        )
        .unwrap();
        let s = samples(&mut system);
        assert_eq!(get(&s, "system.cpu.total.norm.pct"), Some(0.4));
        assert_eq!(get(&s, "system.process.cpu.total.norm.pct"), Some(0.05));
        assert_eq!(get(&s, "system.memory.total"), Some(16000.0 * 1024.0));
        assert_eq!(get(&s, "system.memory.actual.free"), Some(8000.0 * 1024.0));
        assert_eq!(get(&s, "system.process.memory.size"), Some(2048.0 * 1024.0));
        assert_eq!(
            get(&s, "system.process.memory.rss.bytes"),
            Some(512.0 * 1024.0)
        );
    }

    #[test]
    fn without_mem_available_free_buffers_and_cached_are_used() {
        let root = fixture(&[(
            "/proc/meminfo",
            "MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n",
        )]);
        let s = samples(&mut System::under(root.path().to_owned()));
        assert_eq!(get(&s, "system.memory.actual.free"), Some(35.0 * 1024.0));
        assert_eq!(get(&s, "system.cpu.total.norm.pct"), None);
    }
}
