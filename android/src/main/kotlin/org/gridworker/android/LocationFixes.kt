package org.gridworker.android

import android.location.Location
import android.location.LocationManager
import android.os.Build
import org.gridworker.core.Crs
import org.gridworker.core.LocationFix
import org.gridworker.core.Provider
import java.time.Instant

/**
 * Converts a platform fix for the core, keeping everything the validation policy judges:
 * accuracy, the mock flag, the fix's own time and the monotonic clock at the fix.
 *
 * Android's `Location` is WGS-84 whatever the provider. A fix from a Chinese map SDK (AMap,
 * Tencent: GCJ-02; Baidu: BD-09) must pass its own system as [crs].
 */
fun Location.toLocationFix(crs: Crs = Crs.WGS84): LocationFix = LocationFix(
    lat = latitude,
    lon = longitude,
    // A fix without accuracy is treated as the worst the core accepts, so it is flagged.
    accuracyM = if (hasAccuracy()) accuracy.toDouble() else 50_000.0,
    altitudeM = if (hasAltitude()) altitude else null,
    speedMps = if (hasSpeed()) speed.toDouble() else null,
    bearingDeg = if (hasBearing()) bearing.toDouble() else null,
    provider = when (provider) {
        LocationManager.GPS_PROVIDER -> Provider.GPS
        LocationManager.NETWORK_PROVIDER -> Provider.NETWORK
        LocationManager.FUSED_PROVIDER, "fused" -> Provider.FUSED
        else -> Provider.OTHER
    },
    crs = crs,
    isMock = isMockFix(),
    fixTime = Instant.ofEpochMilli(time),
    // elapsedRealtimeNanos is the boot-time clock: unaffected by the user setting the time.
    monotonicMs = elapsedRealtimeNanos / 1_000_000,
)

@Suppress("DEPRECATION")
private fun Location.isMockFix(): Boolean =
    if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) isMock else isFromMockProvider
