package org.gridworker.core

import com.sun.net.httpserver.HttpServer
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.gridworker.core.TestSupport.fix
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.time.Duration
import java.util.Collections
import java.util.concurrent.atomic.AtomicInteger

/** `sync()` against the reference server on 127.0.0.1 and against misbehaving servers. */
class SyncTest {
    private fun options() = defaultSyncOptions().copy(
        allowHttp = true,
        maxAttempts = 2,
        baseBackoff = Duration.ofMillis(20),
        maxBackoff = Duration.ofMillis(50),
        requestTimeout = Duration.ofSeconds(10),
    )

    private class Phases : SyncListener {
        val seen: MutableList<SyncProgress> = Collections.synchronizedList(mutableListOf())
        override fun onProgress(progress: SyncProgress) {
            seen += progress
        }
        fun phases() = synchronized(seen) { seen.map { it.phase }.distinct() }
    }

    /** Counts refreshes; hands out [stale] until asked to refresh, then [fresh]. */
    private class RefreshingTokens(val stale: String, val fresh: String) : AccessTokenProvider {
        val refreshes = AtomicInteger()
        @Volatile var current = stale
        override fun accessToken(forceRefresh: Boolean): String {
            if (forceRefresh) {
                refreshes.incrementAndGet()
                current = fresh
            }
            return current
        }
    }

    private fun openFor(server: String, worker: String = "w-0001"): GridWorker =
        GridWorker.open(TestSupport.config(TestSupport.tempDir(), serverUrl = server, worker = worker))

    @Test
    fun endToEndPullRecordPushWithProgress() {
        ReferenceServer().use { server ->
            openFor(server.url).use { w ->
                SyncEngine(w, options(), StaticTokens("tok-1")).use { engine ->
                    val listener = Phases()
                    val handle = engine.addListener(listener)
                    // First run: nothing to push, the district's reference data comes down.
                    val first = runBlocking { engine.sync() }
                    assertTrue("pulled ${first.pulledChanges}", first.pulledChanges > 0L)
                    assertTrue(listener.phases().containsAll(listOf(SyncPhase.HANDSHAKE, SyncPhase.PULL, SyncPhase.DONE)))
                    assertNotNull(w.syncCounts().lastSync)

                    val due = w.progressDay(null)
                    assertTrue("points due ${due.pointsDue}", due.pointsDue > 0)
                    val all = w.nearbyPoints(Position(45.30, 130.95), 500)
                    val point = all.first { it.point.id in due.missedPointIds }.point
                    val grid = w.gridAt(point.position)
                    assertNotNull(grid)

                    val checkIn = w.checkIn(point.id, fix(point.position.lat, point.position.lon))
                    assertEquals(CheckInOutcome.ACCEPTED, checkIn.checkIn.outcome)
                    val report = w.fileReport(
                        "leaking_manhole", "井盖渗水", listOf(PhotoInput(TestSupport.photo("manhole-leak.jpg"), null)),
                        fix(point.position.lat, point.position.lon), null,
                    )
                    assertEquals(ReportStatus.QUEUED, report.status)
                    assertEquals(2L, w.syncCounts().pending.checkins + w.syncCounts().pending.reports)

                    listener.seen.clear()
                    val second = runBlocking { engine.sync() }
                    assertEquals(2L, second.pushed)
                    assertEquals(1L, second.photosUploaded)
                    assertTrue(listener.phases().containsAll(listOf(SyncPhase.PHOTOS, SyncPhase.PUSH, SyncPhase.DONE)))
                    val counts = w.syncCounts()
                    assertEquals(0L, counts.pending.checkins + counts.pending.reports + counts.pending.photos)
                    assertEquals(SyncState.Synced, w.listCheckins(0, 10)[0].sync)
                    assertEquals(ReportStatus.SUBMITTED, w.report(report.id).status)
                    assertEquals(1, due.missedPointIds.size - w.progressDay(null).missedPointIds.size)

                    // The back office accepts the report: the status comes down on the next run.
                    assertEquals(200, server.transition(report.id, "accepted"))
                    runBlocking { engine.sync() }
                    assertEquals(ReportStatus.ACCEPTED, w.report(report.id).status)

                    // A detached listener hears nothing more.
                    handle.detach()
                    assertFalse(handle.isAttached())
                    listener.seen.clear()
                    runBlocking { engine.sync() }
                    assertTrue(listener.seen.isEmpty())
                    handle.close()
                }
            }
        }
    }

    @Test
    fun dispatchedTaskAcknowledgedAndCompleted() {
        ReferenceServer().use { server ->
            openFor(server.url).use { w ->
                SyncEngine(w, options(), StaticTokens("tok-1")).use { engine ->
                    runBlocking { engine.sync() }
                    assertEquals(201, server.createTask("w-0001", "t-kt-1", "查看井盖"))
                    runBlocking { engine.sync() }
                    val tasks = w.listTasks(0, 10)
                    assertEquals(listOf("t-kt-1"), tasks.map { it.id })
                    assertEquals(TaskStatus.DISPATCHED, tasks[0].status)
                    assertEquals(TaskStatus.ACKNOWLEDGED, w.acknowledgeTask("t-kt-1").status)
                    val done = w.completeTask("t-kt-1", "已处理", listOf(PhotoInput(TestSupport.photo("dumped-waste.jpg"), null)),
                        fix(45.30, 130.95))
                    assertEquals("t-kt-1", done.taskId)
                    assertEquals(TaskStatus.COMPLETED, w.listTasks(0, 10)[0].status)
                    val e = runCatching { w.acknowledgeTask("t-kt-1") }.exceptionOrNull()
                    assertTrue("$e", e is GridWorkerException.InvalidState)
                    val report = runBlocking { engine.sync() }
                    assertEquals(2L, report.pushed)
                    assertEquals(0L, w.syncCounts().pending.tasks)
                }
            }
        }
    }

    @Test
    fun tokenRefreshedOnceOn401() {
        ReferenceServer(listOf("w-0001" to "fresh")).use { server ->
            openFor(server.url).use { w ->
                val tokens = RefreshingTokens(stale = "expired", fresh = "fresh")
                SyncEngine(w, options(), tokens).use { engine ->
                    val r = runBlocking { engine.sync() }
                    assertTrue(r.pulledChanges > 0L)
                    assertEquals(1, tokens.refreshes.get())
                    runBlocking { engine.sync() }
                    assertEquals(1, tokens.refreshes.get())
                }
            }
        }
    }

    @Test
    fun authenticationAndUpdateRequired() {
        ReferenceServer(listOf("w-0001" to "good")).use { server ->
            openFor(server.url).use { w ->
                // Refused even after the refresh.
                SyncEngine(w, options(), RefreshingTokens("bad", "still-bad")).use { engine ->
                    val e = runCatching { runBlocking { engine.sync() } }.exceptionOrNull()
                    assertTrue("$e", e is GridWorkerException.Authentication)
                }
                // The app's own login failing is the app's error, passed through.
                val failing = object : AccessTokenProvider {
                    override fun accessToken(forceRefresh: Boolean): String =
                        throw GridWorkerException.Authentication("login expired")
                }
                SyncEngine(w, options(), failing).use { engine ->
                    val e = runCatching { runBlocking { engine.sync() } }.exceptionOrNull()
                    assertTrue("$e", e is GridWorkerException.Authentication)
                }
                // A provider throwing anything else cannot crash the run either.
                val buggy = object : AccessTokenProvider {
                    override fun accessToken(forceRefresh: Boolean): String = throw IllegalStateException("bug")
                }
                SyncEngine(w, options(), buggy).use { engine ->
                    val e = runCatching { runBlocking { engine.sync() } }.exceptionOrNull()
                    assertTrue("$e", e is GridWorkerException)
                }
            }
        }
        ReferenceServer(minProtocol = 99).use { server ->
            openFor(server.url).use { w ->
                SyncEngine(w, options(), StaticTokens("tok-1")).use { engine ->
                    val e = runCatching { runBlocking { engine.sync() } }.exceptionOrNull()
                    assertTrue("$e", e is GridWorkerException.UpdateRequired)
                }
            }
        }
    }

    @Test
    fun cancelStopsARunThatIsStuck() {
        // A server that accepts connections and never answers.
        ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress()).use { silent ->
            val reached = java.util.concurrent.CountDownLatch(1)
            val accepted = Thread {
                val held = mutableListOf<java.net.Socket>()
                try {
                    while (true) {
                        held += silent.accept()
                        reached.countDown()
                    }
                } catch (_: Exception) {
                    held.forEach { it.close() }
                }
            }.apply { isDaemon = true; start() }
            openFor("http://127.0.0.1:${silent.localPort}").use { w ->
                val opts = options().copy(requestTimeout = Duration.ofSeconds(60), maxAttempts = 8)
                SyncEngine(w, opts, StaticTokens("t")).use { engine ->
                    val started = System.nanoTime()
                    val e = runBlocking {
                        val run = async(Dispatchers.Default) { runCatching { engine.sync() }.exceptionOrNull() }
                        // Cancel once the run is stuck on the server (a cancel before the run
                        // started has nothing to stop; a fixed delay lost that race under load).
                        withTimeout(10_000) { while (reached.count > 0L) delay(10) }
                        engine.cancel()
                        withTimeout(10_000) { run.await() }
                    }
                    assertTrue("$e", e is GridWorkerException.Cancelled)
                    assertTrue(System.nanoTime() - started < 30_000_000_000L)
                }
            }
            accepted.interrupt()
        }
    }

    @Test
    fun networkErrorsOfflineAndLogging() {
        val port = ServerSocket(0).use { it.localPort } // closed again: connection refused
        val records: MutableList<LogRecord> = Collections.synchronizedList(mutableListOf())
        setLogger(object : Logger {
            override fun log(record: LogRecord) {
                records += record
            }
        }, LogLevel.DEBUG)
        try {
            openFor("http://127.0.0.1:$port").use { w ->
                w.checkIn("p-none", fix(45.3, 130.95)).let { fail("no reference data yet") }
            }
        } catch (e: GridWorkerException.NotFound) {
            // expected: the store has no points before the first sync
        }
        try {
            openFor("http://127.0.0.1:$port").use { w ->
                SyncEngine(w, options(), StaticTokens("t")).use { engine ->
                    val e = runCatching { runBlocking { engine.sync() } }.exceptionOrNull()
                    assertTrue("$e", e is GridWorkerException.Network)
                    assertTrue("core log records reach the app logger",
                        synchronized(records) { records.any { it.target.startsWith("gridworker_core") && it.level == LogLevel.DEBUG } })
                    // Offline: fails at once without touching the network.
                    engine.setNetwork(NetworkKind.NONE)
                    val offline = runCatching { runBlocking { engine.sync() } }.exceptionOrNull()
                    assertTrue("$offline", offline is GridWorkerException.Network)
                    engine.setNetwork(NetworkKind.WIFI)
                }
            }
        } finally {
            clearLogger()
        }
        val before = records.size
        openFor("http://127.0.0.1:$port").use { w ->
            SyncEngine(w, options(), StaticTokens("t")).use { runCatching { runBlocking { it.sync() } } }
        }
        assertEquals("nothing forwarded after clearLogger", before, records.size)
    }

    /** A 200 with an HTML body (a captive portal) is the network's doing: retry later. */
    @Test
    fun captivePortalIsNetwork() {
        val e = syncAgainstCanned("<html>captive portal</html>")
        assertTrue("$e", e is GridWorkerException.Network)
    }

    /** JSON that does not follow the protocol is the server's fault, not the network's. */
    @Test
    fun protocolViolationIsOther() {
        val e = syncAgainstCanned("""{"unexpected": true}""")
        assertTrue("$e", e is GridWorkerException.Other)
    }

    private fun syncAgainstCanned(reply: String): Throwable? {
        val http = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
        http.createContext("/") { ex ->
            val body = reply.toByteArray()
            ex.responseHeaders.add("Content-Type", "application/json")
            ex.sendResponseHeaders(200, body.size.toLong())
            ex.responseBody.use { it.write(body) }
        }
        http.start()
        try {
            return openFor("http://127.0.0.1:${http.address.port}").use { w ->
                SyncEngine(w, options(), StaticTokens("t")).use { engine ->
                    runCatching { runBlocking { engine.sync() } }.exceptionOrNull()
                }
            }
        } finally {
            http.stop(0)
        }
    }

    @Test
    fun concurrentSyncCallsShareOneRun() {
        ReferenceServer().use { server ->
            openFor(server.url).use { w ->
                SyncEngine(w, options(), StaticTokens("tok-1")).use { engine ->
                    val results = runBlocking {
                        (1..4).map { async(Dispatchers.Default) { engine.sync() } }.map { it.await() }
                    }
                    assertEquals(4, results.size)
                    assertTrue(results.all { it.pulledChanges == results[0].pulledChanges })
                }
            }
        }
    }

    /** A re-login: the engine keeps its token until told, then asks the provider again (not a forced refresh). */
    @Test
    fun invalidateTokenMakesTheNextRequestAskTheProviderAgain() {
        ReferenceServer().use { server ->
            openFor(server.url).use { w ->
                val asked = Collections.synchronizedList(mutableListOf<Boolean>())
                val tokens = object : AccessTokenProvider {
                    override fun accessToken(forceRefresh: Boolean): String {
                        asked += forceRefresh
                        return "tok-1"
                    }
                }
                SyncEngine(w, options(), tokens).use { engine ->
                    runBlocking { engine.sync() }
                    runBlocking { engine.sync() }
                    assertEquals("asked once for the engine's life so far", listOf(false), asked.toList())
                    engine.invalidateToken()
                    runBlocking { engine.sync() }
                    assertEquals(listOf(false, false), asked.toList())
                }
            }
        }
    }

    /** Issue 16, item 3: state between events, retries visible, the outcome on DONE, and a button that answers fast. */
    @Test
    fun aSyncNowButtonAnswersWithinSecondsAndShowsItsRetriesAndOutcome() {
        openFor("http://127.0.0.1:9").use { w ->
            // The default background budget (8 attempts within 300 s), only HTTP allowed.
            SyncEngine(w, defaultSyncOptions().copy(allowHttp = true), StaticTokens("tok-1")).use { engine ->
                assertEquals(SyncEngineState.Idle, engine.currentState())
                val events = Collections.synchronizedList(mutableListOf<SyncProgress>())
                val states = Collections.synchronizedList(mutableListOf<SyncEngineState>())
                val handle = engine.addListener(object : SyncListener {
                    override fun onProgress(progress: SyncProgress) {
                        events += progress
                        if (progress.retry != null) states += engine.currentState()
                    }
                })
                val started = System.nanoTime()
                try {
                    runBlocking { engine.syncNow() }
                    fail("the server is down")
                } catch (e: GridWorkerException.Network) {
                }
                val seconds = (System.nanoTime() - started) / 1e9
                assertTrue("a button press waited $seconds s", seconds < 15.0)
                val retries = events.mapNotNull { it.retry }
                assertEquals(listOf(1, 2), retries.map { it.attempt })
                assertTrue(retries.all { it.maxAttempts == 3 && it.delay > Duration.ZERO })
                assertTrue(states.all { it is SyncEngineState.WaitingToRetry })
                val done = events.last()
                assertEquals(SyncPhase.DONE, done.phase)
                assertEquals(false, done.outcome?.succeeded)
                assertEquals("network", done.outcome?.error)
                assertEquals(SyncEngineState.Idle, engine.currentState())
                engine.setNetwork(NetworkKind.NONE)
                assertEquals(SyncEngineState.Offline, engine.currentState())
                handle.close()
            }
        }
        ReferenceServer().use { server ->
            openFor(server.url).use { w ->
                SyncEngine(w, options(), StaticTokens("tok-1")).use { engine ->
                    runBlocking { engine.sync() }
                    val p = w.nearbyPoints(Position(45.30, 130.95), 1).first().point
                    w.checkIn(p.id, fix(p.position.lat, p.position.lon))
                    val done = Collections.synchronizedList(mutableListOf<SyncOutcome>())
                    engine.addListener(object : SyncListener {
                        override fun onProgress(progress: SyncProgress) {
                            progress.outcome?.let { done += it }
                        }
                    }).use {
                        runBlocking { engine.syncNow() }
                    }
                    assertEquals(1, done.size)
                    assertTrue(done[0].succeeded)
                    assertEquals(1L, done[0].pushed)
                    assertEquals(null, done[0].error)
                }
            }
        }
    }

    /** Issue 16, item 9: the worker evaluates a resolved report; the server applies it (its transition table answers for it). */
    @Test
    fun evaluatingAResolvedReportReopensThenClosesItOnTheServer() {
        ReferenceServer().use { server ->
            openFor(server.url).use { w ->
                SyncEngine(w, options(), StaticTokens("tok-1")).use { engine ->
                    runBlocking { engine.sync() }
                    val p = w.nearbyPoints(Position(45.30, 130.95), 1).first().point
                    val report = w.fileReport(
                        "leaking_manhole", "井盖渗水", listOf(PhotoInput(TestSupport.photo("manhole-leak.jpg"), null)),
                        fix(p.position.lat, p.position.lon), null,
                    )
                    try {
                        w.evaluateReport(report.id, true, "")
                        fail("a queued report is not evaluated")
                    } catch (e: GridWorkerException.InvalidState) {
                    }
                    runBlocking { engine.sync() }
                    for (to in listOf("accepted", "dispatched", "resolved")) assertEquals(200, server.transition(report.id, to))
                    runBlocking { engine.sync() }
                    assertEquals(ReportStatus.RESOLVED, w.report(report.id).status)

                    val reopened = w.evaluateReport(report.id, false, "井盖仍在渗水")
                    assertEquals(ReportStatus.REOPENED, reopened.status)
                    assertEquals("井盖仍在渗水", reopened.progress.evaluation)
                    assertEquals(1L, runBlocking { engine.sync() }.pushed)
                    // Only a reopened report may be dispatched again: the server applied it.
                    assertEquals(200, server.transition(report.id, "dispatched"))
                    assertEquals(200, server.transition(report.id, "resolved"))
                    runBlocking { engine.sync() }

                    assertEquals(ReportStatus.CLOSED, w.evaluateReport(report.id, true, "").status)
                    runBlocking { engine.sync() }
                    // Closed on the server: nothing moves it any more.
                    assertEquals(409, server.transition(report.id, "reopened"))
                    assertEquals(ReportStatus.CLOSED, w.report(report.id).status)
                }
            }
        }
    }

    /** Issue 16, item 8: one engine per worker; closing it frees the worker for a new one. */
    @Test
    fun aSecondEngineOnTheSameWorkerIsRefusedUntilTheFirstIsClosed() {
        openFor("http://127.0.0.1:9").use { w ->
            val first = SyncEngine(w, options(), StaticTokens("tok-1"))
            val e = runCatching { SyncEngine(w, options(), StaticTokens("tok-1")) }.exceptionOrNull()
            assertTrue("$e", e is GridWorkerException.InvalidState)
            first.close()
            SyncEngine(w, options(), StaticTokens("tok-1")).use { assertEquals(SyncEngineState.Idle, it.currentState()) }
        }
    }

    /** Issue 16, item 1: the report screen's pickers come from the district's catalog, and only its categories are filed. */
    @Test
    fun theReportCatalogComesWithTheReferenceDataAndBoundsTheCategories() {
        ReferenceServer().use { server ->
            openFor(server.url).use { w ->
                assertTrue(w.reportCatalog().categories.isEmpty())
                SyncEngine(w, options(), StaticTokens("tok-1")).use { engine -> runBlocking { engine.sync() } }
                val catalog = w.reportCatalog()
                assertTrue(catalog.categories.any { it.code == "leaking_manhole" && it.name == "井盖/窨井渗漏" })
                assertTrue(catalog.departments.any { it.code == "water" })
                val e = runCatching { w.createReportDraft("made_up", "") }.exceptionOrNull()
                assertTrue("$e", e is GridWorkerException.InvalidInput && e.field == "category")
                assertEquals(ReportStatus.DRAFT, w.createReportDraft("leaking_manhole", "").status)
            }
        }
    }
}
