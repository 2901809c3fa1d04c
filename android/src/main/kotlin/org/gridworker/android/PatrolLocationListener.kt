package org.gridworker.android

import android.annotation.SuppressLint
import android.location.Location
import android.location.LocationListener
import android.location.LocationManager
import android.os.Bundle
import android.os.Handler
import android.os.HandlerThread
import android.os.Looper
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
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
 * this repository tests [TrackBatcher] (plain JVM) against the core and type-checks this
 * listener against API stubs (android/src/apiStubs), never runs it.
 */
class PatrolLocationListener(
    worker: GridWorkerInterface,
    private val locationManager: LocationManager,
    private val intervalMs: Long = 1_000,
) : LocationListener {
    private val batcher = TrackBatcher(send = worker::addTrackFixes)
    private var handler: Handler? = null
    private var ownThread: HandlerThread? = null

    /**
     * Starts the updates. They arrive on [looper], by default a thread of the listener's own:
     * each batch is a store transaction with an fsync, not work for the main thread.
     */
    @SuppressLint("MissingPermission")
    fun start(looper: Looper? = null) {
        val l = looper ?: HandlerThread("gridworker-track").also { it.start(); ownThread = it }.looper
        handler = Handler(l)
        locationManager.requestLocationUpdates(
            LocationManager.GPS_PROVIDER, intervalMs, 0f, this, l,
        )
    }

    /**
     * Stops the updates and sends the buffered fixes before it returns (so a `stopPatrol()`
     * right after finds them stored). The batcher is not thread-safe: the flush runs on the
     * callbacks' thread, after any callback already queued there.
     */
    fun stop() {
        locationManager.removeUpdates(this)
        val h = handler
        if (h == null || h.looper.isCurrentThread) {
            batcher.flush()
        } else {
            val done = CountDownLatch(1)
            if (h.post { try { batcher.flush() } finally { done.countDown() } }) {
                done.await(FLUSH_WAIT_MS, TimeUnit.MILLISECONDS)
            }
        }
        ownThread?.quitSafely()
        ownThread = null
        handler = null
    }

    override fun onLocationChanged(location: Location) = batcher.add(location.toLocationFix())

    // Android 12+ delivers fixes collected while the app was throttled in one call.
    override fun onLocationChanged(locations: MutableList<Location>) =
        batcher.addAll(locations.map { it.toLocationFix() })

    // Providers going on and off are the OS's business: gaps show in the track summary.
    override fun onProviderEnabled(provider: String) {}
    override fun onProviderDisabled(provider: String) {}

    // Abstract in LocationListener before API 29 (a default method since): without it, a
    // GNSS status change on Android 8 or 9 ends the app with AbstractMethodError.
    @Deprecated("Called by Android 8 and 9 only")
    override fun onStatusChanged(provider: String?, status: Int, extras: Bundle?) {}

    private companion object {
        const val FLUSH_WAIT_MS = 2_000L
    }
}
