package org.gridworker.core

import java.io.File
import java.nio.file.Files
import java.time.Instant

/** Shared fixtures of the JVM tests: temp stores, fixes and a tiny district near Jixi. */
object TestSupport {
    /** Repository root (set by scripts/test-kotlin.sh). */
    val repo: File = File(System.getProperty("gridworker.repo") ?: ".").absoluteFile

    fun photo(name: String): String = File(repo, "fixtures/photos/$name").path

    fun tempDir(prefix: String = "gw-kt"): File = Files.createTempDirectory(prefix).toFile()

    fun config(
        dir: File,
        serverUrl: String = "https://127.0.0.1:1",
        worker: String = "w-0001",
        key: ByteArray? = null,
    ) = WorkerConfig(
        dataDir = File(dir, "store").path,
        serverUrl = serverUrl,
        workerId = worker,
        deviceId = "dev-kotlin",
        policyOverride = null,
        timeZone = "Asia/Shanghai",
        key = key,
    )

    /** A test key (an app takes its key from the Android Keystore helper). */
    fun testKey(fill: Int): ByteArray = ByteArray(32) { fill.toByte() }

    /** A fresh GPS fix in WGS-84, good accuracy, taken now. */
    fun fix(lat: Double, lon: Double, accuracy: Double = 8.0, mock: Boolean = false) = LocationFix(
        lat = lat,
        lon = lon,
        accuracyM = accuracy,
        altitudeM = null,
        speedMps = null,
        bearingDeg = null,
        provider = Provider.GPS,
        crs = Crs.WGS84,
        isMock = mock,
        fixTime = Instant.now(),
        monotonicMs = System.nanoTime() / 1_000_000,
    )

    const val LAT = 45.300
    const val LON = 130.950

    /** One grid of about 300 m around (LAT, LON) with two points and two households. */
    fun seed(worker: GridWorker) {
        val d = 0.0015
        val grid = Grid(
            code = "g-kt",
            name = "测试网格",
            boundary = listOf(
                Position(LAT - d, LON - d), Position(LAT - d, LON + d),
                Position(LAT + d, LON + d), Position(LAT + d, LON - d),
            ),
        )
        val points = listOf(
            InspectionPoint("p-kt-1", "g-kt", "1号楼楼道", Position(LAT, LON), 50.0),
            InspectionPoint("p-kt-2", "g-kt", "锅炉房", Position(LAT + 0.001, LON + 0.001), 0.0),
        )
        val households = listOf(
            Household("h-kt-1", "g-kt", "1号楼", "测试地址 1号楼 1单元 101", Position(LAT + 0.0001, LON), listOf()),
            Household("h-kt-2", "g-kt", "2号楼", "测试地址 2号楼 1单元 101", Position(LAT + 0.0005, LON), listOf("低保")),
        )
        worker.importReference(listOf(grid), points, households, listOf("g-kt"))
    }

    /** Opens a seeded store in a new temp dir. */
    fun openSeeded(): Pair<GridWorker, File> {
        val dir = tempDir()
        val w = GridWorker.open(config(dir))
        seed(w)
        return w to dir
    }
}
