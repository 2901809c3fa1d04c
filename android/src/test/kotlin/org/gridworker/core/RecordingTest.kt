package org.gridworker.core

import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.gridworker.core.TestSupport.fix
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

/** Recording each kind of item through the generated Kotlin API, against a real store. */
class RecordingTest {
    @Test
    fun checkInAcceptedThenDuplicateWithinCooldown() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val r = it.checkIn("p-kt-1", fix(LAT, LON))
            assertFalse(r.duplicate)
            assertEquals(CheckInOutcome.ACCEPTED, r.checkIn.outcome)
            assertTrue(r.checkIn.distanceM < 1.0)
            val again = it.checkIn("p-kt-1", fix(LAT, LON))
            assertTrue(again.duplicate)
            assertEquals(r.checkIn.id, again.checkIn.id)
            val listed = it.listCheckins(0u, 10u)
            assertEquals(1, listed.size)
            assertEquals(SyncState.Pending, listed[0].sync)
            assertEquals(1uL, it.syncCounts().pending.checkins)
        }
    }
}
