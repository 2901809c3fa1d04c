package org.gridworker.android

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.gridworker.core.ChangeKind
import org.gridworker.core.CheckInOutcome
import org.gridworker.core.GridWorker
import org.gridworker.core.GridWorkerException
import org.gridworker.core.PhotoInput
import org.gridworker.core.Position
import org.gridworker.core.ReferenceServer
import org.gridworker.core.StaticTokens
import org.gridworker.core.SyncEngine
import org.gridworker.core.TestSupport
import org.gridworker.core.VisitKind
import org.gridworker.core.WorkerConfig
import org.gridworker.core.defaultSyncOptions
import org.gridworker.core.wipeDataDir
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.time.Duration
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/** A software AES key in place of the AndroidKeyStore entry `StoreKeys` uses on a phone. */
private class TestWrappingKey : WrappingKeyProvider {
    var key: SecretKey? = null
    override fun get(create: Boolean): SecretKey? {
        if (key == null && create) key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
        return key
    }
    override fun destroy() {
        key = null
    }
}

/**
 * The "Build your first screens" walk-through of android/README.md, step by step, against the
 * real core and the reference server: if a step of the README stops working, this fails.
 * Android-only pieces (the Keystore, WorkManager, `Location`) are stood in for as noted.
 */
class FirstScreensTest {
    @Test
    fun aWorkersFirstScreensFromOpenToWipe() {
        ReferenceServer().use { server ->
            val root = TestSupport.tempDir("gw-first")
            // 1. Open with the key. On a phone: StoreKeys.openWorker(context, config).
            val keys = SealedKeyStore(File(root, "keys"), TestWrappingKey())
            val config = WorkerConfig(
                dataDir = File(root, "store").path,
                serverUrl = server.url,
                workerId = "w-0001",
                deviceId = "dev-first-screens",
                policyOverride = null,
                utcOffsetMinutes = 480,
            )
            val worker = keys.openWith({ it is GridWorkerException.Locked }) {
                GridWorker.open(config.copy(key = it))
            }
            // 2. The first sync brings the worker's grids, points, households and catalog.
            val options = defaultSyncOptions().copy(
                allowHttp = true, // a local test server only; phones talk HTTPS
                requestTimeout = Duration.ofSeconds(10),
            )
            val engine = SyncEngine(worker, options, StaticTokens("tok-1"))
            runBlocking { engine.syncNow() }
            val grid = worker.workerGrids().first()
            val categories = worker.reportCatalog().categories
            assertTrue(categories.isNotEmpty())

            runBlocking {
                // 3. Lists observe their kinds and re-query when told (here: the next change).
                val checkInsChanged = async(Dispatchers.Default) {
                    withTimeout(10_000) { worker.changes(ChangeKind.CHECK_INS).first() }
                }
                // The collector registers its observer when it starts; a screen queries its
                // first page after that, as this test checks in after it.
                withTimeout(5_000) { while (worker.observerCount() == 0) delay(10) }
                // 4. Check-in screen: the points near the fix, then a check-in at the nearest.
                // On a phone the fix is location.toLocationFix(Crs.WGS84) (LocationFixes.kt).
                val point = worker.pointsPage(grid, null, 50).items.first()
                val here = TestSupport.fix(point.position.lat, point.position.lon)
                val near = worker.nearbyPoints(Position(here.lat, here.lon), 5)
                val result = worker.checkIn(near.first().point.id, here)
                assertEquals(CheckInOutcome.ACCEPTED, result.checkIn.outcome)
                assertEquals(listOf(ChangeKind.CHECK_INS), checkInsChanged.await())
                assertEquals(result.checkIn.id, worker.checkinsPage(null, 20).items.first().checkIn.id)
            }

            // 5. Visit screen: find the household as the worker types, open it, record the visit.
            val household = worker.householdsPage(grid, null, 1).items.first()
            val hits = worker.searchHouseholds(household.address, null, 20).items
            assertTrue(hits.any { it.household.id == household.id })
            val detail = worker.householdDetail(household.id)
            assertTrue(detail.residents.all { it.masked })
            val atDoor = TestSupport.fix(household.position.lat, household.position.lon)
            val visit = worker.recordVisit(household.id, VisitKind.ROUTINE, "入户走访，一切正常", atDoor)

            // 6. Report with photos: a category of the district's catalog, photos by path.
            val report = worker.fileReport(
                categories.first().code,
                "井盖破损，有积水",
                listOf(PhotoInput(TestSupport.photo("manhole-leak.jpg"), null)),
                atDoor,
                null,
            )
            assertEquals(1, report.photos.size)
            assertEquals(1L, worker.syncCounts().pending.reports)

            // 7. Sync now (the button); in the background SyncWorker runs the same sync().
            val sent = runBlocking { engine.syncNow() }
            assertEquals(3L, sent.pushed) // the check-in, the visit, the report
            assertEquals(1L, sent.photosUploaded)
            val counts = worker.syncCounts()
            assertEquals(0L, counts.pending.checkins + counts.pending.visits + counts.pending.reports)
            assertNotNull(counts.lastSync)
            assertEquals(visit.id, worker.visitsPage(null, 20).items.first().visit.id)

            // 8. Log out and wipe: close the handles, delete the data, destroy the key.
            // On a phone: SyncWorker.cancelAll(context), then StoreKeys.wipe(context, dataDir).
            engine.close()
            worker.close()
            wipeDataDir(config.dataDir)
            keys.destroy()
            assertFalse(File(config.dataDir).exists() && File(config.dataDir).list()!!.isNotEmpty())
            assertFalse(File(root, "keys").exists() && File(root, "keys").list()!!.isNotEmpty())
        }
    }
}
