#if canImport(BackgroundTasks) && os(iOS)
import BackgroundTasks
import Foundation

/// Runs `sync()` from a `BGProcessingTask` that requires network connectivity.
///
/// Add `BackgroundSync.taskIdentifier` to `BGTaskSchedulerPermittedIdentifiers` in
/// Info.plist, call `register(engine:)` before the app finishes launching and `schedule()`
/// after recording something and when entering the background.
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

    /// Asks for a run as soon as the system allows, with network.
    public static func schedule(earliestIn seconds: TimeInterval = 60) {
        let request = BGProcessingTaskRequest(identifier: taskIdentifier)
        request.requiresNetworkConnectivity = true
        request.requiresExternalPower = false
        request.earliestBeginDate = Date(timeIntervalSinceNow: seconds)
        try? BGTaskScheduler.shared.submit(request)
    }

    private static func handle(_ task: BGProcessingTask, engine: SyncEngine?) {
        guard let engine else {
            task.setTaskCompleted(success: true)
            return
        }
        // Expiry: stop the run itself (cancelling the Swift Task alone does not) and let
        // sync() return .Cancelled; committed work stays consistent.
        task.expirationHandler = { engine.cancel() }
        Task {
            do {
                _ = try await engine.sync()
                task.setTaskCompleted(success: true)
            } catch GridWorkerError.Authentication {
                // The worker must log in again; do not reschedule.
                task.setTaskCompleted(success: false)
            } catch {
                schedule(earliestIn: 15 * 60)
                task.setTaskCompleted(success: false)
            }
        }
    }
}
#endif
