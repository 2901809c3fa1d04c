package org.gridworker.core

import kotlinx.coroutines.runBlocking
import org.gridworker.core.TestSupport.fix
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File
import java.time.Duration

/** A record whose photo cannot be sent is quarantined, visible, repairable and discardable. */
class QuarantineTest {
    private fun options() = defaultSyncOptions().copy(
        allowHttp = true,
        maxAttempts = 2,
        baseBackoff = Duration.ofMillis(20),
        maxBackoff = Duration.ofMillis(50),
        requestTimeout = Duration.ofSeconds(10),
    )

    @Test
    fun missingPhotoQuarantinesOnlyItsReportThenRepairAndDiscard() {
        ReferenceServer().use { server ->
            GridWorker.open(TestSupport.config(TestSupport.tempDir(), serverUrl = server.url)).use { w ->
                SyncEngine(w, options(), StaticTokens("tok-1")).use { engine ->
                    runBlocking { engine.sync() }
                    val point = w.nearbyPoints(Position(45.30, 130.95), 1).first().point
                    val here = fix(point.position.lat, point.position.lon)
                    val original = TestSupport.photo("manhole-leak.jpg")
                    val report = w.fileReport("leaking_manhole", "井盖渗水", listOf(PhotoInput(original, null)), here, null)
                    w.checkIn(point.id, here)
                    val sha = report.photos[0].sha256
                    File(w.photoPath(sha)!!).delete()

                    val run = runBlocking { engine.sync() }
                    assertEquals(1L, run.pushed)
                    assertEquals(1, run.quarantined.size)
                    assertEquals(report.id, run.quarantined[0].recordId)
                    assertEquals(QuarantineReason.PhotoMissing(sha), run.quarantined[0].reason)
                    assertEquals(1L, w.syncCounts().quarantined.reports)
                    assertEquals(
                        SyncState.Quarantined(QuarantineReason.PhotoMissing(sha)),
                        w.listReports(0, 10).first { it.report.id == report.id }.sync,
                    )
                    assertEquals(listOf(report.id), w.quarantinedRecords().map { it.recordId })

                    // Re-filing without its only photo is refused; the original bytes repair it.
                    try {
                        w.refileWithoutQuarantinedPhoto(report.id)
                        fail("a report needs a photo")
                    } catch (e: GridWorkerException.InvalidInput) {
                        assertEquals("photos", e.field)
                    }
                    w.repairQuarantinedPhoto(report.id, PhotoInput(original, null))
                    assertEquals(SyncState.Pending, w.listReports(0, 10).first { it.report.id == report.id }.sync)
                    assertEquals(1L, runBlocking { engine.sync() }.pushed)
                    assertEquals(0L, w.syncCounts().quarantined.reports)

                    // A second report, its photo altered, is discarded with its file.
                    // (Another photo: bytes appended to the first one's file would be stripped
                    // with its metadata, leaving the same photo.)
                    val other = TestSupport.photo("illegal-construction.jpg")
                    val second = w.fileReport("leaking_manhole", "又一处", listOf(PhotoInput(other, null)), here, null)
                    val stored = File(w.photoPath(second.photos[0].sha256)!!)
                    stored.writeBytes(stored.readBytes().copyOf(100))
                    val again = runBlocking { engine.sync() }
                    assertTrue(again.quarantined[0].reason is QuarantineReason.PhotoAltered)
                    w.discardQuarantined(second.id)
                    assertTrue(!stored.exists())
                    assertTrue(w.quarantinedRecords().isEmpty())
                    try {
                        w.discardQuarantined(second.id)
                        fail("nothing left to discard")
                    } catch (e: GridWorkerException) {
                        // typed: the record is no longer quarantined
                    }
                }
            }
        }
    }
}
