#if canImport(BackgroundTasks) && os(iOS)
import BackgroundTasks
import Foundation

/// Runs `sync()` from a `BGProcessingTask` that requires network connectivity.
///
/// Info.plist needs `BackgroundSync.taskIdentifier` in `BGTaskSchedulerPermittedIdentifiers`
/// **and** `processing` in `UIBackgroundModes` (without it `schedule()` returns iOS's "not
/// permitted" error and no background sync ever runs). Call `register(engine:)` before the
/// app finishes launching and `schedule()` after recording something and when entering the
/// background.
public enum BackgroundSync {
    public static let taskIdentifier = "org.gridworker.sync"

    /// Registers the launch handler. `engine` is asked for at run time: nil when nobody is
    /// logged in.
    public static func register(engine: @escaping @Sendable () -> SyncEngine?) {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: taskIdentifier, using: nil) { task in
            guard let task = task as? BGProcessingTask else { return }
            handle(task, engine: engine())
        }
    }

    /// Asks for a run as soon as the system allows, with network. Returns iOS's refusal
    /// (a missing Info.plist entry, too many pending requests) instead of dropping it.
    @discardableResult
    public static func schedule(earliestIn seconds: TimeInterval = 60) -> Error? {
        let request = BGProcessingTaskRequest(identifier: taskIdentifier)
        request.requiresNetworkConnectivity = true
        request.requiresExternalPower = false
        request.earliestBeginDate = Date(timeIntervalSinceNow: seconds)
        do {
            try BGTaskScheduler.shared.submit(request)
            return nil
        } catch {
            return error
        }
    }

    /// `setTaskCompleted` exactly once, from the expiration handler or the run's end.
    private final class Completion: @unchecked Sendable {
        private let lock = NSLock()
        private var done = false
        private let task: BGProcessingTask
        init(_ task: BGProcessingTask) { self.task = task }
        func complete(success: Bool) {
            lock.lock()
            defer { lock.unlock() }
            if done { return }
            done = true
            task.setTaskCompleted(success: success)
        }
    }

    private static func handle(_ task: BGProcessingTask, engine: SyncEngine?) {
        guard let engine else {
            task.setTaskCompleted(success: true)
            return
        }
        let completion = Completion(task)
        // Expiry: stop the run itself (cancelling the Swift Task alone does not) and tell iOS
        // at once, not when the run reaches its next request boundary (iOS ends apps that are
        // late and gives them less background time later). Committed work stays consistent.
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
