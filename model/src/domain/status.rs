//! The one table of report status transitions: which moves the back office makes (the
//! reference server's admin API checks them) and, from it, which status changes a device
//! accepts from the pull feed.
//!
//! `draft` and `queued` belong to the device: a report is a draft until the worker files it
//! and queued until the server acknowledges it. No change from a server may move a report
//! into either (a hostile server could otherwise make `delete_draft` remove a report whose
//! mutation is still pending, or `submit_report` queue it twice), nor touch a draft.

use super::ReportStatus;

/// One step of the closed loop (受理 → 交办 → 办结 → 评价; "unsatisfied" reopens).
pub const STEPS: &[(ReportStatus, ReportStatus)] = &[
    (ReportStatus::Submitted, ReportStatus::Accepted),
    (ReportStatus::Accepted, ReportStatus::Dispatched),
    (ReportStatus::Dispatched, ReportStatus::Resolved),
    (ReportStatus::Resolved, ReportStatus::Closed),
    (ReportStatus::Resolved, ReportStatus::Reopened),
    (ReportStatus::Reopened, ReportStatus::Dispatched),
    (ReportStatus::Submitted, ReportStatus::Closed),
    (ReportStatus::Accepted, ReportStatus::Closed),
];

/// Whether the back office may move a report `from → to` in one step.
pub fn step_allowed(from: ReportStatus, to: ReportStatus) -> bool {
    STEPS.contains(&(from, to))
}

/// Statuses only the device sets.
pub fn device_owned(s: ReportStatus) -> bool {
    matches!(s, ReportStatus::Draft | ReportStatus::Queued)
}

/// Whether a status pulled from the server may replace `from` on the device.
///
/// The feed carries only the latest status of each report, so intermediate steps may be
/// skipped: any status reachable from `from` through [`STEPS`] is accepted, and the same
/// status again (a re-sent change carrying a new note). A queued report counts as submitted
/// (the server may have stored it before its acknowledgement reached the device).
pub fn server_may_set(from: ReportStatus, to: ReportStatus) -> bool {
    if device_owned(to) || from == ReportStatus::Draft {
        return false;
    }
    let from = if from == ReportStatus::Queued {
        ReportStatus::Submitted
    } else {
        from
    };
    if from == to {
        return true;
    }
    // Breadth-first over a table of eight edges: no allocation worth avoiding.
    let mut seen = vec![from];
    let mut i = 0;
    while let Some(&at) = seen.get(i) {
        for &(a, b) in STEPS {
            if a == at && !seen.contains(&b) {
                if b == to {
                    return true;
                }
                seen.push(b);
            }
        }
        i += 1;
    }
    false
}

/// Whether a report first learnt from the server (another worker's, for the duplicate
/// hint) may carry `status`: anything but a device-owned status.
pub fn server_may_insert(status: ReportStatus) -> bool {
    !device_owned(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReportStatus::*;

    const ALL: [ReportStatus; 8] = [
        Draft, Queued, Submitted, Accepted, Dispatched, Resolved, Closed, Reopened,
    ];

    #[test]
    fn nothing_moves_into_or_out_of_device_owned_states() {
        for from in ALL {
            assert!(!server_may_set(from, Draft));
            assert!(!server_may_set(from, Queued));
            assert!(!server_may_set(Draft, from));
        }
    }

    #[test]
    fn the_loop_and_skipped_steps_are_accepted_backwards_moves_are_not() {
        assert!(server_may_set(Queued, Accepted));
        assert!(server_may_set(Submitted, Closed));
        assert!(server_may_set(Accepted, Resolved));
        assert!(server_may_set(Resolved, Reopened));
        assert!(server_may_set(Reopened, Closed));
        assert!(server_may_set(Closed, Closed));
        assert!(!server_may_set(Closed, Accepted));
        assert!(!server_may_set(Dispatched, Submitted));
        for (a, b) in STEPS {
            assert!(step_allowed(*a, *b));
            assert!(server_may_set(*a, *b));
        }
    }
}
