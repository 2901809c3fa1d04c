import CoreLocation
import Foundation

/// Records the patrol track from Core Location: a `CLLocationManagerDelegate` that converts
/// each fix (`CLLocation.toLocationFix`) and hands them to the core in batches
/// (`addTrackFixes`): one FFI call and one transaction every `maxFixes` fixes or `maxAge`
/// seconds, never one per fix.
///
/// ```swift
/// let recorder = TrackRecorder(worker: worker)
/// _ = try worker.startPatrol(); recorder.start()
/// recorder.stop(); _ = try worker.stopPatrol()   // stop() flushes the last fixes first
/// ```
///
/// Needs "When In Use" location permission and the `location` background mode to keep
/// recording with the screen off. The same rules as the Android `TrackBatcher` (which the
/// JVM tests cover): a fix the core refuses (`InvalidInput` naming `fixes[i]`) is dropped and
/// the rest sent again; fixes off patrol (`InvalidState`) are dropped; any other failure keeps
/// the buffer, up to `maxBuffered` fixes, for the next flush.
/// Not compiled in this repository (no Swift toolchain here).
public final class TrackRecorder: NSObject, CLLocationManagerDelegate {
    private let worker: GridWorkerInterface
    private let manager: CLLocationManager
    private let maxFixes: Int
    private let maxAge: TimeInterval
    private let maxBuffered: Int
    private var buffer: [LocationFix] = []
    private var oldest: Date?

    public private(set) var stored: Int = 0
    public private(set) var dropped: Int = 0

    public init(
        worker: GridWorkerInterface,
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
        manager.allowsBackgroundLocationUpdates = true
        manager.startUpdatingLocation()
    }

    /// Stops the updates and sends the buffered fixes.
    public func stop() {
        manager.stopUpdatingLocation()
        flush()
    }

    public func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        for location in locations {
            if buffer.isEmpty { oldest = Date() }
            buffer.append(location.toLocationFix())
        }
        if buffer.count >= maxFixes || Date().timeIntervalSince(oldest ?? Date()) >= maxAge {
            flush()
        }
    }

    public func locationManager(_ manager: CLLocationManager, didFailWithError error: Error) {
        // A temporary failure (kCLErrorLocationUnknown) is a gap in the track, nothing more.
    }

    /// Sends what is buffered; call it also when the app goes to the background.
    public func flush() {
        while !buffer.isEmpty {
            let batch = Array(buffer.prefix(3600))
            do {
                stored += Int(try worker.addTrackFixes(fixes: batch))
                buffer.removeFirst(batch.count)
            } catch GridWorkerError.InvalidInput(let field, _, _) {
                if let i = Self.fixIndex(field), i < batch.count {
                    buffer.remove(at: i)
                    dropped += 1
                } else {
                    buffer.removeFirst(batch.count)
                    dropped += batch.count
                }
            } catch GridWorkerError.InvalidState {
                dropped += buffer.count
                buffer.removeAll()
            } catch {
                if buffer.count > maxBuffered {
                    dropped += buffer.count - maxBuffered
                    buffer.removeFirst(buffer.count - maxBuffered)
                }
                return
            }
        }
    }

    /// `i` of a field named `fixes[i]...`.
    static func fixIndex(_ field: String) -> Int? {
        guard field.hasPrefix("fixes["), let end = field.firstIndex(of: "]") else { return nil }
        return Int(field[field.index(field.startIndex, offsetBy: 6)..<end])
    }
}
