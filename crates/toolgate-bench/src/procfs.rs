//! CPU time and memory of a process, read from Linux `/proc` (absent elsewhere).

/// Clock ticks per second of `utime`/`stime` (`getconf CLK_TCK`; 100 on every Linux
/// configuration in practical use).
const CLK_TCK: f64 = 100.0;

/// User + system CPU seconds `pid` has used so far.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the
    // last ')'. There, index 0 is field 3 (state); utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / CLK_TCK)
}

/// A `kB` line of `/proc/<pid>/status`, e.g. `VmRSS` or `VmHWM` (peak RSS).
pub(crate) fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process_on_linux() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some());
        assert!(status_kb(pid, "VmRSS").unwrap() > 0);
        assert!(status_kb(pid, "VmHWM").unwrap() > 0);
        assert!(status_kb(pid, "NoSuchKey").is_none());
    }
}
