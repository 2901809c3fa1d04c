package org.gridworker.core

import java.time.LocalDate
import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import java.time.Duration
import java.time.Instant
import java.util.concurrent.atomic.AtomicReference

/** Issue 16, item 7: the app's tests set the core's wall clock, and a replayed day is judged as it would be live. */
class ClockTest {
    private class SettableClock(start: Instant) : WallClock {
        val at = AtomicReference(start)
        override fun now(): Instant = at.get()
        fun advance(d: Duration) { at.updateAndGet { it.plus(d) } }
    }

    private val start: Instant = Instant.parse("2024-11-12T01:00:00Z")

    /** A fix taken at `t`, the monotonic clock moving with it. */
    private fun fixAt(t: Instant) =
        TestSupport.fix(LAT, LON).copy(fixTime = t, monotonicMs = 5_000_000L + (t.toEpochMilli() - start.toEpochMilli()))

    @Test
    fun aReplayedMorningIsJudgedByTheClockTheTestSets() {
        val clock = SettableClock(start)
        GridWorker.openWithClock(TestSupport.config(TestSupport.tempDir()), clock).use { w ->
            TestSupport.seed(w)
            val first = w.checkIn("p-kt-1", fixAt(clock.now()))
            assertEquals(CheckInOutcome.ACCEPTED, first.checkIn.outcome)
            assertEquals(clock.now(), first.checkIn.recordedAt)
            // Five minutes later, the same point: within the 600 s cooldown.
            clock.advance(Duration.ofMinutes(5))
            assertTrue(w.checkIn("p-kt-1", fixAt(clock.now())).duplicate)
            // Eleven more: a new check-in.
            clock.advance(Duration.ofMinutes(11))
            assertFalse(w.checkIn("p-kt-1", fixAt(clock.now())).duplicate)
            // Days are the test clock's (09:16 in Jixi, 2024-11-12).
            assertEquals(LocalDate.of(2024, 11, 12), w.progressDay(null).fromDay)
            // A fix an hour older than the clock is judged stale, as live.
            val stale = w.checkIn("p-kt-2", fixAt(clock.now().minus(Duration.ofHours(1))))
            assertEquals(CheckInOutcome.FLAGGED, stale.checkIn.outcome)
        }
    }

    @Test
    fun aClockThatThrowsIsIgnoredForTheSystemClock() {
        val broken = object : WallClock {
            override fun now(): Instant = throw GridWorkerException.Other("test clock broken")
        }
        GridWorker.openWithClock(TestSupport.config(TestSupport.tempDir()), broken).use { w ->
            TestSupport.seed(w)
            val before = Instant.now().minusSeconds(1)
            val r = w.checkIn("p-kt-1", TestSupport.fix(LAT, LON))
            assertTrue(r.checkIn.recordedAt.isAfter(before))
        }
    }

    /** Issue 16, item 5: a fix needs only what every platform gives; the optional fields default. */
    @Test
    fun aFixNeedsOnlyWhatEveryPlatformGives() {
        val clock = SettableClock(start)
        GridWorker.openWithClock(TestSupport.config(TestSupport.tempDir()), clock).use { w ->
            TestSupport.seed(w)
            val fix = LocationFix(
                lat = LAT, lon = LON, accuracyM = 6.0, provider = Provider.GPS, crs = Crs.WGS84,
                fixTime = start, monotonicMs = 5_000_000L,
            )
            assertEquals(null, fix.altitudeM)
            assertFalse(fix.isMock)
            assertEquals(CheckInOutcome.ACCEPTED, w.checkIn("p-kt-1", fix).checkIn.outcome)
        }
    }
}
