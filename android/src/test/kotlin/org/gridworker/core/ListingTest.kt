package org.gridworker.core

import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.time.Duration
import java.time.Instant
import java.util.concurrent.atomic.AtomicReference

/** Issue 16, item 1: screens list by keyset pages that stay right while records are added. */
class ListingTest {
    private val start: Instant = Instant.parse("2026-11-23T01:00:00Z")

    private class SettableClock(start: Instant) : WallClock {
        val at = AtomicReference(start)
        override fun now(): Instant = at.get()
    }

    @Test
    fun keysetPagesDoNotShiftWhenCheckInsAreAddedBetweenThem() {
        val clock = SettableClock(start)
        GridWorker.openWithClock(TestSupport.config(TestSupport.tempDir()), clock).use { w ->
            TestSupport.seed(w)
            var n = 0
            fun checkIn() {
                // Eleven minutes apart: past the cooldown, alternating points.
                clock.at.set(start.plus(Duration.ofMinutes(11L * n)))
                val t = clock.now()
                val p = if (n % 2 == 0) "p-kt-1" else "p-kt-2"
                val pos = if (n % 2 == 0) Position(LAT, LON) else Position(LAT + 0.001, LON + 0.001)
                w.checkIn(p, TestSupport.fix(pos.lat, pos.lon).copy(fixTime = t, monotonicMs = 5_000_000L + n * 660_000L))
                n++
            }
            repeat(25) { checkIn() }
            val first = w.checkinsPage(null, 10)
            assertEquals(10, first.items.size)
            // Three more arrive while the worker looks at the first page.
            repeat(3) { checkIn() }
            val second = w.checkinsPage(first.next, 10)
            val third = w.checkinsPage(second.next, 10)
            assertEquals(5, third.items.size)
            assertNull(third.next)
            val seen = (first.items + second.items + third.items).map { it.checkIn.id }
            assertEquals("every one of the first 25 once", 25, seen.toSet().size)
            val times = (first.items + second.items + third.items).map { it.checkIn.recordedAt }
            assertEquals(times.sortedDescending(), times)
            // A fresh first page starts with the new ones.
            assertEquals(3, w.checkinsPage(null, 10).items.takeWhile { it.checkIn.id !in seen }.size)
            assertThrows(GridWorkerException.InvalidInput::class.java) { w.checkinsPage("not a cursor", 10) }
        }
    }

    @Test
    fun gridsPointsAndHouseholdsComeInPagesById() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            assertEquals(listOf("g-kt"), it.grids().map { g -> g.code })
            assertEquals(listOf("g-kt"), it.workerGrids())
            val p1 = it.pointsPage("g-kt", null, 1)
            val p2 = it.pointsPage("g-kt", p1.next, 1)
            assertEquals(listOf("p-kt-1", "p-kt-2"), (p1.items + p2.items).map { p -> p.id })
            assertTrue(it.pointsPage("g-kt", p2.next, 1).items.isEmpty())
            val h = it.householdsPage("g-kt", null, 10)
            assertEquals(listOf("h-kt-1", "h-kt-2"), h.items.map { x -> x.id })
            assertNull(h.next)
            assertTrue(it.householdsPage("no-such-grid", null, 10).items.isEmpty())
        }
    }
}
