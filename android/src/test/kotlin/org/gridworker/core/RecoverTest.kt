package org.gridworker.core

import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.gridworker.core.TestSupport.fix
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/** A damaged store is refused until `recoverStore`; wiping refuses while a handle is open. */
class RecoverTest {
    @Test
    fun emptiedDatabaseIsStorageNeedingRecoveryThenRecovered() {
        val (w, dir) = TestSupport.openSeeded()
        w.use { it.checkIn("p-kt-1", fix(LAT, LON)) }
        val store = File(dir, "store")
        File(store, "gridworker.db").writeBytes(ByteArray(0))
        repeat(2) {
            val e = assertThrows(GridWorkerException.Storage::class.java) { GridWorker.open(TestSupport.config(dir)) }
            assertTrue(e.reason, e.needsRecovery)
        }
        val report = recoverStore(store.path)
        assertFalse(report.wasHealthy)
        assertEquals(0L, report.recovered)
        assertNotNull(report.keptAt)
        GridWorker.open(TestSupport.config(dir)).use { assertEquals(0, it.listCheckins(0, 10).size) }
    }

    @Test
    fun healthyStoreIsLeftAsItIsWithItsCount() {
        val (w, dir) = TestSupport.openSeeded()
        w.use {
            it.checkIn("p-kt-1", fix(LAT, LON))
            it.checkIn("p-kt-2", fix(LAT + 0.001, LON + 0.001))
        }
        val report = recoverStore(File(dir, "store").path)
        assertTrue(report.wasHealthy)
        assertEquals(2L, report.recovered)
        assertEquals(0L, report.lost)
    }

    @Test
    fun wipeRefusesWhileOpenThenErasesTheStore() {
        val (w, dir) = TestSupport.openSeeded()
        val store = File(dir, "store")
        w.use {
            val e = assertThrows(GridWorkerException.InvalidState::class.java) { wipeDataDir(store.path) }
            assertEquals("data_dir", e.what)
            // Nothing was deleted under the open handle.
            it.checkIn("p-kt-1", fix(LAT, LON))
        }
        wipeDataDir(store.path)
        assertEquals(listOf<String>(), store.list()!!.toList())
    }
}
