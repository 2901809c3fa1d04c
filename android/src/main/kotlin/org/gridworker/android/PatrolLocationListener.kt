package org.gridworker.android

import android.annotation.SuppressLint
import android.location.Location
import android.location.LocationListener
import android.location.LocationManager
import android.os.Looper
import org.gridworker.core.GridWorkerInterface

/**
 * Records the patrol track from `LocationManager` (not Play Services: most phones sold in
 * China have none): GNSS fixes once a second, converted by [toLocationFix] and handed to
 * the core in batches by a [TrackBatcher].
 *
 * ```kotlin
 * val recorder = PatrolLocationListener(worker, locationManager)
 * worker.startPatrol(); recorder.start()          // in a foreground service (type "location")
 * recorder.stop(); worker.stopPatrol()            // stop() flushes the last fixes first
 * ```
 *
 * Needs `ACCESS_FINE_LOCATION` (and `ACCESS_BACKGROUND_LOCATION` or a foreground service of
 * type `location` to keep recording with the screen off). Written for app teams' machines:
 * this repository compiles only [TrackBatcher] (plain JVM) and tests it against the core.
 */
class PatrolLocationListener(
    worker: GridWorkerInterface,
    private val locationManager: LocationManager,
    private val intervalMs: Long = 1_000,
) : LocationListener {
    private val batcher = TrackBatcher(send = worker::addTrackFixes)

    @SuppressLint("MissingPermission")
    fun start(looper: Looper = Looper.getMainLooper()) {
        locationManager.requestLocationUpdates(
            LocationManager.GPS_PROVIDER, intervalMs, 0f, this, looper,
        )
    }

    /** Stops the updates and sends the buffered fixes. */
    fun stop() {
        locationManager.removeUpdates(this)
        batcher.flush()
    }

    override fun onLocationChanged(location: Location) = batcher.add(location.toLocationFix())

    // Android 12+ delivers fixes collected while the app was throttled in one call.
    override fun onLocationChanged(locations: MutableList<Location>) =
        batcher.addAll(locations.map { it.toLocationFix() })

    // Providers going on and off are the OS's business: gaps show in the track summary.
    override fun onProviderEnabled(provider: String) {}
    override fun onProviderDisabled(provider: String) {}
}
