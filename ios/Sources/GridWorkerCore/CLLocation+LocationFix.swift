import CoreLocation
import Foundation

public extension CLLocation {
    /// Converts a Core Location fix for the core, keeping what the validation policy judges:
    /// accuracy, the simulated flag (iOS 15+), the fix's own time and the monotonic clock at
    /// the fix.
    ///
    /// `CLLocation` is WGS-84; a coordinate from a Chinese map SDK (AMap, Tencent: GCJ-02;
    /// Baidu: BD-09) must pass its own system as `crs`.
    func toLocationFix(crs: Crs = .wgs84) -> LocationFix {
        var simulated = false
        if #available(iOS 15.0, *) {
            simulated = sourceInformation?.isSimulatedBySoftware ?? false
        }
        // Darwin's CLOCK_MONOTONIC is not changed by the user setting the clock and, unlike
        // systemUptime (mach_absolute_time), goes on counting while the phone sleeps, as
        // Android's elapsedRealtimeNanos does: with uptime, a check-in after the phone slept
        // in a pocket for a minute showed a clock jump. The fix's age is taken from the same
        // wall clock its timestamp came from.
        let age = max(0, Date().timeIntervalSince(timestamp))
        let monotonic = max(0, Self.monotonicNow() - age)
        return LocationFix(
            lat: coordinate.latitude,
            lon: coordinate.longitude,
            // Negative accuracy means "invalid": treat it as the worst accepted, so it is flagged.
            accuracyM: horizontalAccuracy >= 0 ? horizontalAccuracy : 50_000,
            altitudeM: verticalAccuracy >= 0 ? altitude : nil,
            speedMps: speed >= 0 ? speed : nil,
            bearingDeg: course >= 0 ? course : nil,
            // Core Location blends GNSS, Wi-Fi and cell and does not say which one won.
            provider: .fused,
            crs: crs,
            isMock: simulated,
            fixTime: timestamp,
            monotonicMs: Int64(monotonic * 1000)
        )
    }

    /// Seconds on the clock `monotonicMs` is read from (counts sleep, not clock changes).
    static func monotonicNow() -> TimeInterval {
        TimeInterval(clock_gettime_nsec_np(CLOCK_MONOTONIC)) / 1e9
    }
}
