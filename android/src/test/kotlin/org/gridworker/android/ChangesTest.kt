package org.gridworker.android

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import org.gridworker.core.ChangeKind
import org.gridworker.core.ChangeObserver
import org.gridworker.core.TestSupport
import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/** Issue 16, item 2: observers fire after commit, off the caller's thread, coalesced, until stopped; the Flow releases its handle. */
class ChangesTest {
    @Test
    fun observersFireAfterCommitCoalescedUntilStopped() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val calls = Collections.synchronizedList(mutableListOf<List<ChangeKind>>())
            val seen = Collections.synchronizedList(mutableListOf<Int>())
            val threads = Collections.synchronizedSet(mutableSetOf<String>())
            val first = CountDownLatch(1)
            // Set during the burst: the observer is held there, as a slow screen would be.
            val hold = java.util.concurrent.atomic.AtomicReference<CountDownLatch?>(null)
            val handle = it.observe(listOf(ChangeKind.CHECK_INS), object : ChangeObserver {
                override fun onChange(kinds: List<ChangeKind>) {
                    calls.add(kinds)
                    threads += Thread.currentThread().name
                    // Called after the commit: the new check-in is there to read.
                    seen.add(it.listCheckins(0, 100).size)
                    first.countDown()
                    hold.get()?.await(10, TimeUnit.SECONDS)
                }
            })
            assertEquals(1, it.observerCount())
            it.checkIn("p-kt-1", TestSupport.fix(LAT, LON))
            assertTrue(first.await(5, TimeUnit.SECONDS))
            assertEquals(listOf(ChangeKind.CHECK_INS), calls[0])
            assertEquals("calls $calls seen $seen", 1, seen[0])
            assertFalse(Thread.currentThread().name in threads)

            // A visit is not a check-in: no call for it.
            val before = calls.size
            it.recordVisit("h-kt-1", org.gridworker.core.VisitKind.ROUTINE, "", TestSupport.fix(LAT, LON))
            Thread.sleep(300)
            assertEquals(before, calls.size)

            // A burst of records while the observer is busy with the first of them becomes
            // one more call, however long the burst takes (a wall-clock bound on the calls
            // failed on a loaded machine: the notifier coalesces within 30 ms).
            val burst = calls.size
            val gate = CountDownLatch(1)
            hold.set(gate)
            for (i in 0 until 40) {
                it.recordVisit("h-kt-2", org.gridworker.core.VisitKind.ROUTINE, "$i", TestSupport.fix(LAT, LON))
                it.checkIn(if (i % 2 == 0) "p-kt-1" else "p-kt-2", TestSupport.fix(LAT, LON))
            }
            hold.set(null)
            gate.countDown()
            // Until the calls stop (at most 10 s).
            var last = -1
            val until = System.nanoTime() + 10_000_000_000L
            while (calls.size != last && System.nanoTime() < until) {
                last = calls.size
                Thread.sleep(300)
            }
            assertTrue("${calls.size - burst} calls for 40 check-ins", calls.size - burst in 1..2)

            handle.stop()
            assertFalse(handle.isActive())
            assertEquals(0, it.observerCount())
            val stopped = calls.size
            it.checkIn("p-kt-2", TestSupport.fix(LAT + 0.001, LON + 0.001))
            Thread.sleep(300)
            assertEquals(stopped, calls.size)
            handle.close()
        }
    }

    @Test
    fun aCancelledFlowCollectorReleasesItsObserver() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            runBlocking {
                val got = async(Dispatchers.Default) {
                    withTimeout(5_000) { it.changes(ChangeKind.VISITS).first() }
                }
                // Let the collector register before the write.
                while (it.observerCount() == 0) yield()
                it.recordVisit("h-kt-1", org.gridworker.core.VisitKind.ROUTINE, "", TestSupport.fix(LAT, LON))
                assertEquals(listOf(ChangeKind.VISITS), got.await())
            }
            // first() cancelled the collector: its observer is stopped.
            assertEquals(0, it.observerCount())
        }
    }
}
