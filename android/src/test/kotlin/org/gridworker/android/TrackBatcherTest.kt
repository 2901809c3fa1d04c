package org.gridworker.android

import java.time.LocalDate
import org.gridworker.core.LocationFix
import org.gridworker.core.PatrolState
import org.gridworker.core.TestSupport
import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.time.Instant

/** The Android track adapter's batching, against the real core: one call per batch, bad fixes dropped alone. */
class TrackBatcherTest {
    private val start: Instant = Instant.parse("2026-11-23T02:00:00Z")

    private fun fix(s: Int): LocationFix =
        TestSupport.fix(LAT, LON - 0.004 + 1.4 * s / (111_195.0 * Math.cos(Math.toRadians(LAT))), accuracy = 6.0)
            .copy(fixTime = start.plusSeconds(s.toLong()), monotonicMs = 5_000_000L + s * 1000L)

    @Test
    fun callbacksGoInBatchesAndARefusedFixCostsOnlyItself() {
        val (w, _) = TestSupport.openSeeded()
        w.use { worker ->
            var calls = 0
            var clock = 0L
            val batcher = TrackBatcher(
                send = { calls++; worker.addTrackFixes(it) },
                maxFixes = 30,
                maxAgeMs = 10_000,
                nowMs = { clock },
            )
            // Off patrol: the fixes are dropped, the callback does not throw.
            repeat(30) { batcher.add(fix(it)) }
            assertEquals(30L, batcher.dropped)
            assertTrue(worker.startPatrol() is PatrolState.OnPatrol)
            for (s in 100 until 400) {
                clock = s * 100L
                // One fix from another provider arrives with an old time: the core refuses it.
                batcher.add(if (s == 255) fix(10) else fix(s))
            }
            assertEquals(0, batcher.pending)
            assertEquals(299L, batcher.stored)
            assertEquals(31L, batcher.dropped)
            // 300 fixes in 10 batches, plus one resend of the batch that held the bad fix.
            assertEquals(1 + 10 + 1, calls)
            // A slow stream flushes by age.
            clock = 500_000L
            batcher.add(fix(500))
            clock = 511_000L
            batcher.add(fix(511))
            assertEquals(0, batcher.pending)
            batcher.add(fix(512))
            worker.pausePatrol()
            batcher.flush()
            assertEquals(0, batcher.pending)
            assertEquals(301L, batcher.stored)
            val s = worker.trackSummary(LocalDate.of(2026, 11, 23))
            assertTrue("${s.patrolS}", s.patrolS > 290.0)
        }
    }

    @Test
    fun aFailingCoreIsNotCalledOnEveryFixAndNothingEscapesTheCallback() {
        var calls = 0
        var failing = true
        var clock = 0L
        val sent = ArrayList<LocationFix>()
        val batcher = TrackBatcher(
            send = {
                calls++
                // What the bindings raise for a panic in the core: not a GridWorkerException.
                if (failing) throw org.gridworker.core.InternalException("boom")
                sent.addAll(it)
                it.size
            },
            maxFixes = 5,
            maxAgeMs = 10_000,
            maxBuffered = 50,
            nowMs = { clock },
        )
        for (s in 0 until 100) {
            clock = s * 1_000L
            batcher.add(fix(s))
        }
        // Fix 5 fills a batch (call 1); then one try per 10 s, not one per fix.
        assertEquals(10, calls)
        assertEquals(10L, batcher.failedFlushes)
        assertEquals(50, batcher.pending)
        assertEquals(50L, batcher.dropped)
        failing = false
        batcher.flush()
        assertEquals(0, batcher.pending)
        assertEquals(50L, batcher.stored)
        // The newest 50 were kept, in order.
        assertEquals((50 until 100).map { fix(it).fixTime }, sent.map { it.fixTime })
    }
}
