package org.gridworker.core

import java.time.LocalDate
import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.gridworker.core.TestSupport.fix
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.time.Instant
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

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
            val listed = it.listCheckins(0, 10)
            assertEquals(1, listed.size)
            assertEquals(SyncState.Pending, listed[0].sync)
            assertEquals(1L, it.syncCounts().pending.checkins)
        }
    }

    @Test
    fun badFixesAreRecordedAndFlagged() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            // Mock, inaccurate and 400 m away: kept, with every reason.
            val r = it.checkIn("p-kt-2", fix(LAT - 0.003, LON, accuracy = 300.0, mock = true))
            assertEquals(CheckInOutcome.FLAGGED, r.checkIn.outcome)
            assertTrue(r.checkIn.flags.containsAll(listOf(Flag.MOCK_LOCATION, Flag.INACCURATE, Flag.OUTSIDE_RADIUS)))
            // A GCJ-02 fix from a map SDK is converted before judging: the same spot passes.
            val gcj = toWgs84(Coordinate(LAT, LON, Crs.WGS84)).let { fromWgs84(it, Crs.GCJ02) }
            assertTrue(Math.abs(gcj.lat - LAT) > 1e-4 || Math.abs(gcj.lon - LON) > 1e-4)
            val back = toWgs84(gcj)
            assertEquals(LAT, back.lat, 1e-7)
            assertEquals(LON, back.lon, 1e-7)
            val ok = it.checkIn("p-kt-1", fix(gcj.lat, gcj.lon).copy(crs = Crs.GCJ02))
            assertTrue(ok.checkIn.distanceM < 1.0)
            assertEquals(Crs.GCJ02, ok.checkIn.fix.crs)
        }
    }

    @Test
    fun visitsOfEveryKind() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            for (kind in VisitKind.values()) {
                val v = it.recordVisit("h-kt-2", kind, "走访记录 $kind", fix(LAT + 0.0005, LON))
                assertEquals(kind, v.kind)
                assertTrue(v.flags.isEmpty())
            }
            val far = it.recordVisit("h-kt-1", VisitKind.CARE_VISIT, "", fix(LAT + 0.01, LON + 0.01))
            assertTrue(far.flags.contains(Flag.FAR_FROM_HOUSEHOLD))
            assertTrue(far.flags.contains(Flag.OUTSIDE_WORKER_GRIDS))
            val page1 = it.listVisits(0, 4)
            val page2 = it.listVisits(4, 4)
            assertEquals(4, page1.size)
            assertEquals(VisitKind.values().size + 1 - 4, page2.size)
            assertTrue((page1 + page2).map { v -> v.visit.id }.toSet().size == VisitKind.values().size + 1)
        }
    }

    @Test
    fun draftLifecycleAndOneStepReport() {
        val (w, dir) = TestSupport.openSeeded()
        w.use {
            val taken = Instant.parse("2026-01-15T02:00:00Z")
            val draft = it.createReportDraft("dumped_waste", "建筑垃圾")
            assertEquals(ReportStatus.DRAFT, draft.status)
            assertNull(draft.position)
            val src = File(TestSupport.photo("dumped-waste.jpg"))
            val before = src.readBytes()
            val p1 = it.addPhotoToDraft(draft.id, PhotoInput(src.path, taken))
            assertEquals(MediaType.JPEG, p1.mediaType)
            assertEquals(taken, p1.capturedAt)
            assertTrue(before.contentEquals(src.readBytes())) // caller's file untouched
            val stored = it.photoPath(p1.sha256)
            assertNotNull(stored)
            assertTrue(File(stored!!).exists())
            it.addPhotoToDraft(draft.id, PhotoInput(TestSupport.photo("dumped-waste-2.jpg"), null))
            assertEquals(1L, it.syncCounts().drafts)
            val submitted = it.submitReport(draft.id, fix(LAT, LON), null)
            assertEquals(ReportStatus.QUEUED, submitted.status)
            assertEquals(2, submitted.photos.size)
            assertNotNull(submitted.position)

            // The duplicate hint finds it; the new report attaches to it.
            val dups = it.duplicateCandidates("dumped_waste", fix(LAT + 0.0001, LON))
            assertEquals(listOf(draft.id), dups.map { d -> d.report.id })
            val attached = it.fileReport("dumped_waste", "又倒了", listOf(PhotoInput(TestSupport.photo("dumped-waste.jpg"), null)),
                fix(LAT + 0.0001, LON), draft.id)
            assertEquals(draft.id, attached.attachTo)

            // A deleted draft takes its own photos with it.
            val other = it.createReportDraft("illegal_construction", "")
            val p3 = it.addPhotoToDraft(other.id, PhotoInput(TestSupport.photo("illegal-construction.jpg"), null))
            it.deleteDraft(other.id)
            assertNull(it.photoPath(p3.sha256))
            val reports = it.listReports(0, 10)
            assertEquals(2, reports.size)
            assertTrue(reports.all { r -> r.sync == SyncState.Pending && r.report.own })
            assertEquals(2L, it.syncCounts().pending.reports)
            assertTrue(it.collectPhotos() >= 0L)
            assertEquals(File(dir, "store").path, it.dataDir())
        }
    }

    @Test
    fun nearbyGridProgressAndPolicy() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val near = it.nearbyPoints(Position(LAT, LON), 10)
            assertEquals(listOf("p-kt-1", "p-kt-2"), near.map { n -> n.point.id })
            assertEquals("g-kt", it.gridAt(Position(LAT, LON))?.code)
            assertNull(it.gridAt(Position(LAT + 1, LON)))
            assertEquals(2, it.progressDay(null).missed)
            it.checkIn("p-kt-1", fix(LAT, LON))
            val day = it.progressDay(null)
            assertEquals(1, day.checkedAccepted)
            assertEquals(50.0, day.coveragePercent, 1e-9)
            assertEquals(listOf("p-kt-2"), day.missedPointIds)
            val week = it.progressWeek(null)
            assertEquals(1, week.checkedAccepted)
            assertEquals(0, it.progressDay(LocalDate.of(2020, 1, 1)).checkedAccepted)
            assertEquals(LocalDate.of(2026, 11, 23), it.progressWeek(IsoWeek(2026, 48)).fromDay)
            assertEquals(defaultPolicy(), it.policy())
        }
        // A QA override of the policy is in force at once.
        val dir = TestSupport.tempDir()
        val strict = defaultPolicy().copy(maxAccuracyM = 5.0)
        GridWorker.open(TestSupport.config(dir).copy(policyOverride = strict)).use {
            TestSupport.seed(it)
            assertEquals(strict, it.policy())
            val r = it.checkIn("p-kt-1", fix(LAT, LON, accuracy = 8.0))
            assertEquals(listOf(Flag.INACCURATE), r.checkIn.flags)
        }
    }

    @Test
    fun reopenKeepsEverythingAndWipeErasesIt() {
        val (w, dir) = TestSupport.openSeeded()
        w.use { it.recordVisit("h-kt-1", VisitKind.ROUTINE, "", fix(LAT, LON)) }
        GridWorker.open(TestSupport.config(dir)).use { assertEquals(1, it.listVisits(0, 10).size) }
        wipeDataDir(File(dir, "store").path)
        GridWorker.open(TestSupport.config(dir)).use { assertEquals(0, it.listVisits(0, 10).size) }
    }

    @Test
    fun severalThreadsRecordAtOnce() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val threads = 8
            val each = 25
            val pool = Executors.newFixedThreadPool(threads)
            val start = CountDownLatch(1)
            val futures = (0 until threads).map { t ->
                pool.submit<List<String>> {
                    start.await()
                    (0 until each).map { i ->
                        when (i % 3) {
                            0 -> it.recordVisit("h-kt-1", VisitKind.ROUTINE, "t$t-$i", fix(LAT, LON)).id
                            1 -> it.createReportDraft("other", "t$t-$i").id
                            else -> it.listVisits(0, 5).size.toString().also { _ -> it.syncCounts() }
                        }
                    }
                }
            }
            start.countDown()
            val results = futures.map { f -> f.get(60, TimeUnit.SECONDS) }
            pool.shutdown()
            val visits = (0 until each).count { i -> i % 3 == 0 } * threads
            val drafts = (0 until each).count { i -> i % 3 == 1 } * threads
            assertEquals(visits.toLong(), it.syncCounts().pending.visits)
            assertEquals(drafts.toLong(), it.syncCounts().drafts)
            val listed = (0 until 10).flatMap { p -> it.listVisits((p * 50).toInt(), 50) }
            assertEquals(visits, listed.size)
            assertEquals(visits, listed.map { v -> v.visit.id }.toSet().size)
            assertEquals(threads * each, results.sumOf { r -> r.size })
        }
    }
}
