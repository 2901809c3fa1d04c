package org.gridworker.core

import java.time.LocalDate
import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.gridworker.core.TestSupport.fix
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.time.Instant

/**
 * Hostile values at the boundary: every one must come back as a typed exception, leave the
 * store unchanged, and never take the JVM down.
 */
class BadInputTest {
    private val huge = "界".repeat(3_000_000) // 9 MB of UTF-8
    private val longAscii = "x".repeat(100_000)

    private inline fun <reified E : Throwable> fails(crossinline block: () -> Unit): E =
        assertThrows(E::class.java) { block() }

    private fun invalid(field: String, block: () -> Unit) {
        val e = fails<GridWorkerException.InvalidInput> { block() }
        assertTrue("field ${e.field} should start with $field (${e.reason})", e.field.startsWith(field))
        // Item 6 of issue 16: every refusal here names a typed root an app can match.
        assertTrue("${e.field} has no InputField of its own", e.input != InputField.OTHER)
    }

    @Test
    fun nonFiniteAndOutOfRangeFixes() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            invalid("fix.lat") { it.checkIn("p-kt-1", fix(Double.NaN, LON)) }
            invalid("fix.lat") { it.checkIn("p-kt-1", fix(91.0, LON)) }
            invalid("fix.lon") { it.checkIn("p-kt-1", fix(LAT, Double.POSITIVE_INFINITY)) }
            invalid("fix.lon") { it.checkIn("p-kt-1", fix(LAT, -180.5)) }
            invalid("fix.accuracy_m") { it.checkIn("p-kt-1", fix(LAT, LON, accuracy = Double.NaN)) }
            invalid("fix.accuracy_m") { it.checkIn("p-kt-1", fix(LAT, LON, accuracy = -1.0)) }
            invalid("fix.altitude_m") { it.checkIn("p-kt-1", fix(LAT, LON).copy(altitudeM = Double.NEGATIVE_INFINITY)) }
            invalid("fix.speed_mps") { it.checkIn("p-kt-1", fix(LAT, LON).copy(speedMps = Double.NaN)) }
            invalid("fix.bearing_deg") { it.checkIn("p-kt-1", fix(LAT, LON).copy(bearingDeg = 720.0)) }
            invalid("fix.monotonic_ms") { it.checkIn("p-kt-1", fix(LAT, LON).copy(monotonicMs = Long.MIN_VALUE)) }
            invalid("fix.fix_time") { it.checkIn("p-kt-1", fix(LAT, LON).copy(fixTime = Instant.MAX)) }
            invalid("fix.fix_time") { it.checkIn("p-kt-1", fix(LAT, LON).copy(fixTime = Instant.MIN)) }
            invalid("position.lat") { it.nearbyPoints(Position(Double.NaN, LON), 5) }
            invalid("position.lon") { it.gridAt(Position(LAT, Double.NaN)) }
            invalid("coordinate.lat") { toWgs84(Coordinate(Double.NaN, LON, Crs.GCJ02)) }
            invalid("position.lon") { fromWgs84(Position(LAT, 1e300), Crs.BD09) }
            assertEquals(0L, it.syncCounts().pending.checkins)
        }
    }

    @Test
    fun emptyHugeAndNulStrings() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val f = fix(LAT, LON)
            invalid("point_id") { it.checkIn("", f) }
            invalid("point_id") { it.checkIn("   ", f) }
            invalid("point_id") { it.checkIn(huge, f) }
            invalid("household_id") { it.recordVisit("", VisitKind.ROUTINE, "", f) }
            invalid("note") { it.recordVisit("h-kt-1", VisitKind.ROUTINE, huge, f) }
            invalid("note") { it.recordVisit("h-kt-1", VisitKind.ROUTINE, "a\u0000b", f) }
            invalid("category") { it.createReportDraft("", "d") }
            invalid("category") { it.createReportDraft(longAscii, "d") }
            invalid("description") { it.createReportDraft("other", huge) }
            invalid("report_id") { it.report("") }
            invalid("task_id") { it.acknowledgeTask(longAscii) }
            invalid("sha256") { it.photoPath("") }
            // LocalDate cannot hold a bad date; years outside 1-9999 are the days the core refuses.
            invalid("day") { it.progressDay(LocalDate.of(10_000, 1, 1)) }
            invalid("day") { it.trackSummary(LocalDate.MIN) }
            invalid("week") { it.progressWeek(IsoWeek(2026, 60)) }
            invalid("week") { it.progressWeek(IsoWeek(2026, -1)) }
            invalid("week") { it.progressWeek(IsoWeek(Int.MIN_VALUE, 1)) }
            // Counts are Int/Long (issue 16 item 5): below zero is the caller's mistake.
            invalid("limit") { it.checkinsPage(null, -1) }
            invalid("limit") { it.searchHouseholds("x", null, Int.MIN_VALUE) }
            invalid("limit") { it.nearbyPoints(Position(LAT, LON), -5) }
            invalid("offset") { it.listVisits(-1, 10) }
            invalid("resident_count") { it.updateHousehold("h-kt-1", HouseholdUpdate(residentCount = -1), null) }
            // A lone surrogate is not valid UTF-16: either refused on the Kotlin side or
            // stored as a replacement character, never a crash.
            try {
                it.createReportDraft("other", "\uD800")
            } catch (e: Exception) {
                assertTrue(e.toString(), e is GridWorkerException || e is java.nio.charset.CharacterCodingException || e is IllegalArgumentException)
            }
            assertEquals(0L, it.syncCounts().pending.visits)
        }
    }

    @Test
    fun invalidPathsAndFiles() {
        val (w, dir) = TestSupport.openSeeded()
        w.use {
            val f = fix(LAT, LON)
            val cat = "dumped_waste"
            invalid("photos[0]") { it.fileReport(cat, "d", listOf(PhotoInput("/no/such/file.jpg", null)), f, null) }
            invalid("photos[0]") { it.fileReport(cat, "d", listOf(PhotoInput("", null)), f, null) }
            invalid("photos[0]") { it.fileReport(cat, "d", listOf(PhotoInput("bad\u0000path.jpg", null)), f, null) }
            invalid("photos[0]") { it.fileReport(cat, "d", listOf(PhotoInput(dir.path, null)), f, null) }
            invalid("photos[0]") { it.fileReport(cat, "d", listOf(PhotoInput(TestSupport.photo("not-an-image.jpg"), null)), f, null) }
            invalid("photos[0]") { it.fileReport(cat, "d", listOf(PhotoInput(huge, null)), f, null) }
            invalid("photos[0].captured_at") {
                it.fileReport(cat, "d", listOf(PhotoInput(TestSupport.photo("manhole-leak.jpg"), Instant.MAX)), f, null)
            }
            invalid("photos") { it.fileReport(cat, "d", listOf(), f, null) }
            val ten = List(10) { _ -> PhotoInput(TestSupport.photo("manhole-leak.jpg"), null) }
            invalid("photos") { it.fileReport(cat, "d", ten, f, null) }
            invalid("attach_to") { it.fileReport(cat, "d", ten.take(1), f, "") }
            assertEquals(0L, it.syncCounts().pending.reports)
            assertEquals(0, it.listReports(0, 100).size)
        }
        invalid("data_dir") { wipeDataDir("") }
        invalid("data_dir") { wipeDataDir("a\u0000b") }
    }

    @Test
    fun badConfigurations() {
        val dir = TestSupport.tempDir()
        val good = TestSupport.config(dir)
        invalid("config.worker_id") { GridWorker.open(good.copy(workerId = "")) }
        invalid("config.device_id") { GridWorker.open(good.copy(deviceId = longAscii)) }
        invalid("config.data_dir") { GridWorker.open(good.copy(dataDir = "")) }
        invalid("config.data_dir") { GridWorker.open(good.copy(dataDir = "x\u0000y")) }
        invalid("config.utc_offset_minutes") {
            GridWorker.open(good.copy(timeZone = null, utcOffsetMinutes = Int.MAX_VALUE))
        }
        invalid("config.time_zone") { GridWorker.open(good.copy(timeZone = "Mars/Olympus_Mons")) }
        invalid("config.time_zone") { GridWorker.open(good.copy(timeZone = "")) }
        invalid("policy.checkin_radius_m") {
            GridWorker.open(good.copy(policyOverride = defaultPolicy().copy(checkinRadiusM = Double.NaN)))
        }
        invalid("policy.max_fix_age_s") {
            GridWorker.open(good.copy(policyOverride = defaultPolicy().copy(maxFixAgeS = -1)))
        }
        val file = File(dir, "plain-file").apply { writeText("x") }
        invalid("config.data_dir") { GridWorker.open(good.copy(dataDir = file.path)) }
        // A directory the process cannot create is the device's storage failing.
        fails<GridWorkerException.Storage> { GridWorker.open(good.copy(dataDir = "/proc/gridworker-cannot-exist/store")) }
    }

    @Test
    fun corruptDatabaseIsStorageErrorLeftUntouchedUntilRecovered() {
        val dir = TestSupport.tempDir()
        val store = File(dir, "store").apply { mkdirs() }
        val garbage = ByteArray(8192) { (it * 31).toByte() }
        File(store, "gridworker.db").writeBytes(garbage)
        val e = fails<GridWorkerException.Storage> { GridWorker.open(TestSupport.config(dir)) }
        assertTrue(e.reason, e.needsRecovery && e.reason.contains("recover"))
        assertTrue(File(store, "gridworker.db").readBytes().contentEquals(garbage))
        val report = recoverStore(store.path)
        assertTrue(File(report.keptAt!!).readBytes().contentEquals(garbage))
        GridWorker.open(TestSupport.config(dir)).use { assertEquals(0, it.listCheckins(0, 10).size) }
    }

    @Test
    fun unknownIdsAreNotFound() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val f = fix(LAT, LON)
            val e = fails<GridWorkerException.NotFound> { it.checkIn("p-nope", f) }
            assertEquals("p-nope", e.id)
            assertEquals(NotFoundKind.INSPECTION_POINT, e.kind)
            val kinds = listOf(
                fails<GridWorkerException.NotFound> { it.recordVisit("h-nope", VisitKind.CARE_VISIT, "", f) },
                fails<GridWorkerException.NotFound> { it.report("r-nope") },
                fails<GridWorkerException.NotFound> { it.addPhotoToDraft("r-nope", PhotoInput(TestSupport.photo("manhole-leak.jpg"), null)) },
                fails<GridWorkerException.NotFound> { it.submitReport("r-nope", f, null) },
                fails<GridWorkerException.NotFound> { it.deleteDraft("r-nope") },
                fails<GridWorkerException.NotFound> { it.acknowledgeTask("t-nope") },
                fails<GridWorkerException.NotFound> { it.completeTask("t-nope", "", listOf(), f) },
            ).map { x -> x.kind }
            assertEquals(
                listOf(NotFoundKind.HOUSEHOLD) + List(4) { NotFoundKind.REPORT } + List(2) { NotFoundKind.TASK },
                kinds,
            )
        }
    }

    @Test
    fun wrongStateIsInvalidState() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val photo = PhotoInput(TestSupport.photo("manhole-leak.jpg"), null)
            val filed = it.fileReport("leaking_manhole", "井盖渗水", listOf(photo), fix(LAT, LON), null)
            val e = fails<GridWorkerException.InvalidState> { it.addPhotoToDraft(filed.id, photo) }
            assertEquals("queued", e.state)
            fails<GridWorkerException.InvalidState> { it.submitReport(filed.id, fix(LAT, LON), null) }
            fails<GridWorkerException.InvalidState> { it.deleteDraft(filed.id) }
            // An empty draft cannot be submitted.
            val draft = it.createReportDraft("other", "")
            invalid("photos") { it.submitReport(draft.id, fix(LAT, LON), null) }
        }
    }

    @Test
    fun closedObjectsThrowInsteadOfCrashing() {
        val (w, dir) = TestSupport.openSeeded()
        val engine = SyncEngine(w, defaultSyncOptions().copy(allowHttp = true), StaticTokens("t"))
        val handle = engine.addListener(object : SyncListener {
            override fun onProgress(progress: SyncProgress) {}
        })
        handle.close()
        assertThrows(IllegalStateException::class.java) { handle.detach() }
        engine.close()
        assertThrows(IllegalStateException::class.java) { engine.cancel() }
        w.close()
        w.close() // closing twice is harmless
        assertThrows(IllegalStateException::class.java) { w.checkIn("p-kt-1", fix(LAT, LON)) }
        assertThrows(IllegalStateException::class.java) { w.listCheckins(0, 1) }
        // Once every reference is gone the directory can be wiped and reopened.
        wipeDataDir(File(dir, "store").path)
        GridWorker.open(TestSupport.config(dir)).use { assertEquals(0, it.listCheckins(0, 10).size) }
    }

    @Test
    fun hostileSyncOptionsAreRefused() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val tokens = StaticTokens("t")
            invalid("sync_options.batch_max_mutations") {
                SyncEngine(it, defaultSyncOptions().copy(batchMaxMutations = 0), tokens)
            }
            invalid("sync_options.max_attempts") { SyncEngine(it, defaultSyncOptions().copy(maxAttempts = 0), tokens) }
            invalid("sync_options.max_attempts") { SyncEngine(it, defaultSyncOptions().copy(maxAttempts = -1), tokens) }
            invalid("sync_options.photo_chunk_bytes") {
                SyncEngine(it, defaultSyncOptions().copy(photoChunkBytes = -65_536), tokens)
            }
            // Durations that would overflow the engine's timers.
            val forever = java.time.Duration.ofSeconds(Long.MAX_VALUE / 2)
            invalid("sync_options.request_timeout") {
                SyncEngine(it, defaultSyncOptions().copy(requestTimeout = forever), tokens)
            }
            invalid("sync_options.max_backoff") { SyncEngine(it, defaultSyncOptions().copy(maxBackoff = forever), tokens) }
            // A hostile server cannot hold a run longer than its deadline, nor page forever.
            invalid("sync_options.run_deadline") { SyncEngine(it, defaultSyncOptions().copy(runDeadline = forever), tokens) }
            invalid("sync_options.max_pull_pages") { SyncEngine(it, defaultSyncOptions().copy(maxPullPages = 0), tokens) }
            invalid("sync_options.synced_retention") {
                SyncEngine(it, defaultSyncOptions().copy(syncedRetention = java.time.Duration.ZERO), tokens)
            }
            // http:// needs the explicit QA switch.
            GridWorker.open(TestSupport.config(TestSupport.tempDir(), serverUrl = "http://127.0.0.1:1")).use { plain ->
                invalid("") { SyncEngine(plain, defaultSyncOptions(), tokens) }
            }
        }
    }
}

/** A token provider that always returns the same token. */
class StaticTokens(private val token: String) : AccessTokenProvider {
    override fun accessToken(forceRefresh: Boolean): String = token
}
