package org.gridworker.core

import java.time.LocalDate
import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.time.Instant

/** Issue 13 through the Kotlin API: a patrol session, batches of fixes, the day's summary. */
class TrackTest {
    /** 10:00 in the district (UTC+8): the walk stays inside one local day. */
    private val start: Instant = Instant.parse("2026-11-23T02:00:00Z")

    /** `n` fixes walking east at 1.4 m/s from second `from` of the walk, as a location callback buffer. */
    private fun batch(from: Int, n: Int): List<LocationFix> = (from until from + n).map { s ->
        val east = 1.4 * s + ((s * 13) % 7) - 3.0
        TestSupport.fix(LAT, LON - 0.004 + east / (111_195.0 * Math.cos(Math.toRadians(LAT))), accuracy = 6.0)
            .copy(fixTime = start.plusSeconds(s.toLong()), monotonicMs = 5_000_000L + s * 1000L)
    }

    @Test
    fun aPatrolTakesBatchesRefusesABadFixAndSumsUpTheDay() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            assertEquals(PatrolState.OffDuty, it.patrolState())
            assertThrows(GridWorkerException.InvalidState::class.java) { it.addTrackFixes(batch(0, 5)) }
            assertTrue(it.startPatrol() is PatrolState.OnPatrol)
            var stored = 0
            for (s in 0 until 600 step 5) stored += it.addTrackFixes(batch(s, 5))
            assertEquals(600, stored)

            val bad = batch(600, 5).toMutableList()
            bad[3] = bad[3].copy(lat = 95.0)
            val e = assertThrows(GridWorkerException.InvalidInput::class.java) { it.addTrackFixes(bad) }
            assertTrue(e.field, e.field.startsWith("fixes[3]"))
            assertEquals(InputField.FIXES, e.input)

            assertTrue(it.pausePatrol() is PatrolState.Paused)
            assertThrows(GridWorkerException.InvalidState::class.java) { it.addTrackFixes(batch(700, 5)) }
            assertEquals(PatrolState.OffDuty, it.stopPatrol())

            val s = it.trackSummary(LocalDate.of(2026, 11, 23))
            val truth = 1.4 * 599
            assertTrue("${s.distanceM} m of $truth", Math.abs(s.distanceM / truth - 1.0) < 0.1)
            assertTrue(s.patrolS > 590.0)

            // The map's view: the same figures and a simplified line, far fewer points than fixes.
            val day = it.trackDay(LocalDate.of(2026, 11, 23))
            assertEquals(s, day.summary)
            val points = day.line.sumOf { piece -> piece.size }
            assertTrue("$points points", points in 2 until 100)
            // The day's progress carries the track too.
            val p = it.progressDay(LocalDate.of(2026, 11, 23))
            assertEquals(s.distanceM, p.trackDistanceM, 1e-9)
            assertEquals(s.patrolS, p.patrolS, 1e-9)
        }
    }
}
