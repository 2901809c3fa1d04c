#if canImport(BackgroundTasks) && os(iOS)
import BackgroundTasks
import Foundation

/// Runs `sync()` in the background from two kinds of task: a `BGAppRefreshTask` (short, about
/// 30 s, granted through the day, enough for the records themselves) and a `BGProcessingTask`
/// requiring network (longer, mostly when the phone is idle, for the photos left over).
///
/// Info.plist needs both identifiers (`taskIdentifier`, `refreshIdentifier`) in
/// `BGTaskSchedulerPermittedIdentifiers` **and** `fetch` and `processing` in
/// `UIBackgroundModes` (without them `schedule()` returns iOS's "not permitted" error and no
/// background sync ever runs). Call `register(engine:)` before the app finishes launching and
/// `schedule()` after recording something and when entering the background.
public enum BackgroundSync {
    public static let taskIdentifier = "org.gridworker.sync"
    public static let refreshIdentifier = "org.gridworker.sync.refresh"

    /// Registers the launch handlers. `engine` is asked for at run time: nil when nobody is
    /// logged in.
    public static func register(engine: @escaping @Sendable () -> SyncEngine?) {
        for identifier in [taskIdentifier, refreshIdentifier] {
            BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
                handle(task, engine: engine())
            }
        }
    }

    /// Asks for runs as soon as the system allows. Returns iOS's first refusal (a missing
    /// Info.plist entry, too many pending requests) instead of dropping it.
    @discardableResult
    public static func schedule(earliestIn seconds: TimeInterval = 60) -> Error? {
        let processing = BGProcessingTaskRequest(identifier: taskIdentifier)
        processing.requiresNetworkConnectivity = true
        processing.requiresExternalPower = false
        processing.earliestBeginDate = Date(timeIntervalSinceNow: seconds)
        let refresh = BGAppRefreshTaskRequest(identifier: refreshIdentifier)
        refresh.earliestBeginDate = Date(timeIntervalSinceNow: seconds)
        var refused: Error?
        for request in [processing, refresh] as [BGTaskRequest] {
            do {
                try BGTaskScheduler.shared.submit(request)
            } catch {
                refused = refused ?? error
            }
        }
        return refused
    }

    /// `setTaskCompleted` exactly once, from the expiration handler or the run's end.
    private final class Completion: @unchecked Sendable {
        private let lock = NSLock()
        private var done = false
        private let task: BGTask
        init(_ task: BGTask) { self.task = task }
        func complete(success: Bool) {
            lock.lock()
            defer { lock.unlock() }
            if done { return }
            done = true
            task.setTaskCompleted(success: success)
        }
    }

    private static func handle(_ task: BGTask, engine: SyncEngine?) {
        guard let engine else {
            task.setTaskCompleted(success: true)
            return
        }
        let completion = Completion(task)
        // Expiry: stop the run itself (cancelling the Swift Task alone does not) and tell iOS
        // at once, not when the run reaches its next request boundary (iOS ends apps that are
        // late and gives them less background time later). Committed work stays consistent;
        // the next run goes on from it.
        task.expirationHandler = {
            engine.cancel()
            schedule(earliestIn: 15 * 60)
            completion.complete(success: false)
        }
        Task {
            do {
                _ = try await engine.sync()
                completion.complete(success: true)
            } catch GridWorkerError.Authentication, GridWorkerError.UpdateRequired, GridWorkerError.Locked {
                // The worker must log in again, the app must be updated, or the app opened the
                // store with a key that is not its key: no background run can help.
                completion.complete(success: false)
            } catch GridWorkerError.Storage(_, let needsRecovery) where needsRecovery {
                // A damaged store waits for recoverStore in the app.
                completion.complete(success: false)
            } catch {
                schedule(earliestIn: 15 * 60)
                completion.complete(success: false)
            }
        }
    }
}
#endif
