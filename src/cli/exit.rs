/// rampart's exit codes, documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; hosts compliant; nothing pending.
    Ok = 0,
    /// Drift found, or changes pending under `plan --detailed-exitcode`.
    Drift = 1,
    /// Usage or input error; nothing was applied.
    Input = 2,
    /// At least one host was unreachable or failed; the others completed.
    HostFailed = 3,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The more serious of two outcomes (host failure > input error >
    /// drift > ok), for commands that combine several checks.
    pub fn worst(self, other: Exit) -> Exit {
        if other.code() > self.code() {
            other
        } else {
            self
        }
    }
}
