package org.gridworker.android

import org.gridworker.core.GridWorkerException
import org.gridworker.core.LocationFix

/**
 * Buffers the fixes of a location stream and hands them to the core in batches
 * ([org.gridworker.core.GridWorkerInterface.addTrackFixes]): one FFI call and one transaction
 * every [maxFixes] fixes or [maxAgeMs] of buffering, never one per fix.
 *
 * Plain JVM (no android.* import), so it runs in the JVM tests; [PatrolLocationListener]
 * feeds it from `LocationManager`. Not thread-safe by design: call it from the one thread
 * (looper) the location callbacks arrive on.
 *
 * What the core refuses is handled here, so a callback never throws:
 * - a fix the core refuses (`InvalidInput` naming `fixes[i]`: a time not after the one
 *   before, a coordinate out of range) is dropped and the rest of the batch sent again;
 * - fixes while the worker is not on patrol (`InvalidState`) are dropped: the session is
 *   what decides whether a walk is recorded;
 * - any other failure (the store is locked, damaged, full; an `InternalException` from a
 *   bug in the core) keeps the buffer, up to [maxBuffered] fixes (the oldest go first), and
 *   the next automatic flush waits [maxAgeMs] instead of calling the failing core on every
 *   fix; an explicit [flush] always tries.
 *
 * @param send the core call, usually `worker::addTrackFixes`.
 */
class TrackBatcher(
    private val send: (List<LocationFix>) -> Int,
    private val maxFixes: Int = 30,
    private val maxAgeMs: Long = 10_000,
    private val maxBuffered: Int = 3_600,
    private val nowMs: () -> Long = System::currentTimeMillis,
) {
    private val buffer = ArrayList<LocationFix>()
    private var oldestAtMs = 0L
    private var retryAtMs = Long.MIN_VALUE

    /** Fixes the core stored, fixes dropped (refused or off patrol), failed flushes. */
    var stored = 0L
        private set
    var dropped = 0L
        private set
    var failedFlushes = 0L
        private set

    /** Fixes waiting in the buffer. */
    val pending: Int get() = buffer.size

    /** Adds one fix; flushes when the batch is full or old enough. */
    fun add(fix: LocationFix) {
        val now = nowMs()
        if (buffer.isEmpty()) oldestAtMs = now
        buffer.add(fix)
        if (now < retryAtMs) {
            trim()
        } else if (buffer.size >= maxFixes || now - oldestAtMs >= maxAgeMs) {
            flush()
        }
    }

    /** Adds the fixes of a batched callback (Android 12's `onLocationChanged(List)`). */
    fun addAll(fixes: List<LocationFix>) = fixes.forEach(::add)

    /**
     * Sends what is buffered. Call it when the patrol pauses or stops, and when the app goes
     * to the background, so the last seconds are not left in memory.
     */
    fun flush() {
        // Each refusal removes one fix, so this ends.
        while (buffer.isNotEmpty()) {
            val batch = buffer.take(MAX_BATCH)
            try {
                stored += send(batch).toLong()
                buffer.subList(0, batch.size).clear()
            } catch (e: GridWorkerException.InvalidInput) {
                val i = FIX_INDEX.find(e.field)?.groupValues?.get(1)?.toIntOrNull()
                if (i == null || i >= batch.size) {
                    // A refusal of the batch as a whole (too long a span): it cannot go.
                    dropped += batch.size
                    buffer.subList(0, batch.size).clear()
                } else {
                    dropped++
                    buffer.removeAt(i)
                }
            } catch (e: GridWorkerException.InvalidState) {
                dropped += buffer.size
                buffer.clear()
            } catch (e: Exception) {
                // GridWorkerException, or the bindings' InternalException: a location
                // callback must never throw.
                failedFlushes++
                retryAtMs = nowMs() + maxAgeMs
                trim()
                return
            }
        }
        retryAtMs = Long.MIN_VALUE
    }

    private fun trim() {
        while (buffer.size > maxBuffered) {
            buffer.removeAt(0)
            dropped++
        }
    }

    private companion object {
        /** The core's batch limit (`block::MAX_FIXES`). */
        const val MAX_BATCH = 3_600
        val FIX_INDEX = Regex("""^fixes\[(\d+)]""")
    }
}
