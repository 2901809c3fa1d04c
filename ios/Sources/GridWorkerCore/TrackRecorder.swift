import CoreLocation
import Foundation

/// Records the patrol track from Core Location: a `CLLocationManagerDelegate` that converts
/// each fix (`CLLocation.toLocationFix`) and hands them to the core in batches
/// (`addTrackFixes`): one FFI call and one transaction every `maxFixes` fixes or `maxAge`
/// seconds, never one per fix.
///
/// ```swift
/// let recorder = TrackRecorder(worker: worker)     // on the main thread (Core Location
/// _ = try worker.startPatrol(); recorder.start()   // calls back on the creating run loop)
/// recorder.stop(); _ = try worker.stopPatrol()     // stop() stores the last fixes first
/// ```
///
/// Needs "When In Use" location permission, and the `location` background mode to keep
/// recording with the screen off (without it, recording stops in the background instead of
/// raising Core Location's exception). The same rules as the Android `TrackBatcher` (which
/// the JVM tests cover): a fix the core refuses (`InvalidInput` naming `fixes[i]`) is dropped
/// and the rest sent again; fixes off patrol (`InvalidState`) are dropped; any other failure
/// keeps the buffer, up to `maxBuffered` fixes, and the next automatic flush waits `maxAge`.
/// The store calls run on a serial queue of the recorder's own, never on the main thread.
/// Not compiled in this repository (no Swift toolchain here).
public final class TrackRecorder: NSObject, CLLocationManagerDelegate, @unchecked Sendable {
    private let worker: GridWorkerProtocol
    private let manager: CLLocationManager
    private let maxFixes: Int
    private let maxAge: TimeInterval
    private let maxBuffered: Int
    /// Owns `buffer`, `oldest`, `retryAt` and the counters.
    private let queue = DispatchQueue(label: "org.gridworker.track")
    private var buffer: [LocationFix] = []
    private var oldest: Date?
    private var retryAt: Date?
    private var storedCount = 0
    private var droppedCount = 0

    public var stored: Int { queue.sync { storedCount } }
    public var dropped: Int { queue.sync { droppedCount } }

    public init(
        worker: GridWorkerProtocol,
        manager: CLLocationManager = CLLocationManager(),
        maxFixes: Int = 30,
        maxAge: TimeInterval = 10,
        maxBuffered: Int = 3600
    ) {
        self.worker = worker
        self.manager = manager
        self.maxFixes = maxFixes
        self.maxAge = maxAge
        self.maxBuffered = maxBuffered
        super.init()
        manager.delegate = self
        manager.desiredAccuracy = kCLLocationAccuracyBest
        manager.distanceFilter = kCLDistanceFilterNone
        manager.activityType = .fitness
        manager.pausesLocationUpdatesAutomatically = false
    }

    public func start() {
        // Setting this without the `location` background mode raises an exception.
        let modes = Bundle.main.object(forInfoDictionaryKey: "UIBackgroundModes") as? [String] ?? []
        if modes.contains("location") {
            manager.allowsBackgroundLocationUpdates = true
        }
        manager.startUpdatingLocation()
    }

    /// Stops the updates and stores the buffered fixes before it returns.
    public func stop() {
        manager.stopUpdatingLocation()
        queue.sync { sendBuffered() }
    }

    public func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        let fixes = locations.map { $0.toLocationFix() }
        queue.async { self.add(fixes) }
    }

    public func locationManager(_ manager: CLLocationManager, didFailWithError error: Error) {
        // A temporary failure (kCLErrorLocationUnknown) is a gap in the track, nothing more.
    }

    /// Sends what is buffered; call it also when the app goes to the background.
    public func flush() {
        queue.sync { sendBuffered() }
    }

    private func add(_ fixes: [LocationFix]) {
        let now = Date()
        if buffer.isEmpty { oldest = now }
        buffer.append(contentsOf: fixes)
        if let retryAt, now < retryAt {
            trim()
        } else if buffer.count >= maxFixes || now.timeIntervalSince(oldest ?? now) >= maxAge {
            sendBuffered()
        }
    }

    private func sendBuffered() {
        while !buffer.isEmpty {
            let batch = Array(buffer.prefix(3600))
            do {
                storedCount += Int(try worker.addTrackFixes(fixes: batch))
                buffer.removeFirst(batch.count)
            } catch GridWorkerError.InvalidInput(let field, _, _) {
                if let i = Self.fixIndex(field), i < batch.count {
                    buffer.remove(at: i)
                    droppedCount += 1
                } else {
                    buffer.removeFirst(batch.count)
                    droppedCount += batch.count
                }
            } catch GridWorkerError.InvalidState {
                droppedCount += buffer.count
                buffer.removeAll()
            } catch {
                // The store is locked, damaged or full: keep the newest fixes and do not call
                // the failing core again on every fix.
                retryAt = Date().addingTimeInterval(maxAge)
                trim()
                return
            }
        }
        retryAt = nil
    }

    private func trim() {
        if buffer.count > maxBuffered {
            droppedCount += buffer.count - maxBuffered
            buffer.removeFirst(buffer.count - maxBuffered)
        }
    }

    /// `i` of a field named `fixes[i]...`.
    static func fixIndex(_ field: String) -> Int? {
        guard field.hasPrefix("fixes["), let end = field.firstIndex(of: "]") else { return nil }
        return Int(field[field.index(field.startIndex, offsetBy: 6)..<end])
    }
}
