package org.gridworker.core

import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.gridworker.core.TestSupport.fix
import org.gridworker.core.TestSupport.testKey
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/** Encryption at rest through the Kotlin API: a keyed store, Locked for a missing or wrong key, rekey. */
class EncryptionTest {
    private val note = "独居老人 低保 kotlin-encryption-note"

    private fun allBytes(dir: File): List<Pair<File, ByteArray>> =
        dir.walkTopDown().filter { it.isFile }.map { it to it.readBytes() }.toList()

    private fun sha256(b: ByteArray): String =
        java.security.MessageDigest.getInstance("SHA-256").digest(b).joinToString("") { "%02x".format(it) }

    private fun ByteArray.containsBytes(needle: ByteArray): Boolean =
        (0..size - needle.size).any { i -> needle.indices.all { this[i + it] == needle[it] } }

    /** A store under [key] with one visit carrying [note] and one report with a photo. */
    private fun keyedStore(key: ByteArray): File {
        val dir = TestSupport.tempDir()
        GridWorker.open(TestSupport.config(dir, key = key)).use {
            TestSupport.seed(it)
            it.recordVisit("h-kt-1", VisitKind.ROUTINE, note, fix(LAT + 0.0001, LON))
            it.fileReport(
                "dumped_waste", "楼道堆物", listOf(PhotoInput(TestSupport.photo("dumped-waste.jpg"), null)),
                fix(LAT, LON), null,
            )
        }
        return dir
    }

    @Test
    fun keyedStoreHoldsNothingReadableAndReadsBackWithItsKey() {
        val key = testKey(0x11)
        val dir = keyedStore(key)
        val jpeg = File(TestSupport.photo("dumped-waste.jpg")).readBytes()
        for ((f, bytes) in allBytes(File(dir, "store"))) {
            assertFalse(f.path, bytes.containsBytes(note.toByteArray()))
            assertFalse(f.path, bytes.containsBytes("SQLite format 3".toByteArray()))
            assertFalse(f.path, bytes.size >= 3 && bytes[0] == 0xFF.toByte() && bytes[1] == 0xD8.toByte())
        }
        GridWorker.open(TestSupport.config(dir, key = key)).use {
            assertEquals(note, it.listVisits(0, 10).single().visit.note)
            val report = it.listReports(0, 10).single().report
            // What the store holds and sends: the photo without its EXIF, whose original is
            // the gallery file.
            val photo = report.photos.single()
            val stored = it.photoBytes(photo.sha256)!!
            assertEquals(photo.sha256, sha256(stored))
            assertEquals(sha256(jpeg), photo.originalSha256)
            assertTrue(stored[0] == 0xFF.toByte() && stored[1] == 0xD8.toByte())
            assertFalse(stored.containsBytes("Exif".toByteArray()))
            // A sealed store hands out no plain file paths.
            assertThrows(GridWorkerException.InvalidState::class.java) {
                it.photoPath(report.photos.single().sha256)
            }
        }
    }

    @Test
    fun missingOrWrongKeyIsLockedAndChangesNothing() {
        val key = testKey(0x22)
        val dir = keyedStore(key)
        val store = File(dir, "store")
        val before = allBytes(store).map { (f, b) -> f.path to b.toList() }.toMap()
        val missing = assertThrows(GridWorkerException.Locked::class.java) {
            GridWorker.open(TestSupport.config(dir))
        }
        assertEquals(LockReason.KEY_MISSING, missing.reason)
        val wrong = assertThrows(GridWorkerException.Locked::class.java) {
            GridWorker.open(TestSupport.config(dir, key = testKey(0x23)))
        }
        assertEquals(LockReason.WRONG_KEY, wrong.reason)
        // The error names no key bytes.
        assertFalse(wrong.message!!.contains("2323"))
        assertThrows(GridWorkerException.Locked::class.java) { recoverStore(store.path, testKey(0x23)) }
        assertEquals(before, allBytes(store).map { (f, b) -> f.path to b.toList() }.toMap())
        GridWorker.open(TestSupport.config(dir, key = key)).use {
            assertEquals(1, it.listVisits(0, 10).size)
        }
    }

    @Test
    fun aKeyMustBe32Bytes() {
        val dir = TestSupport.tempDir()
        for (bad in listOf(ByteArray(0), ByteArray(31), ByteArray(33))) {
            val e = assertThrows(GridWorkerException.InvalidInput::class.java) {
                GridWorker.open(TestSupport.config(dir, key = bad))
            }
            assertEquals("config.key", e.field)
        }
        assertFalse(File(dir, "store/gridworker.db").exists())
    }

    @Test
    fun rekeyMovesTheStoreToTheNewKeyAndRefusesWhileOpen() {
        val oldKey = testKey(0x33)
        val newKey = testKey(0x34)
        val dir = keyedStore(oldKey)
        GridWorker.open(TestSupport.config(dir, key = oldKey)).use {
            val e = assertThrows(GridWorkerException.InvalidState::class.java) {
                rekeyStore(TestSupport.config(dir, key = oldKey), newKey)
            }
            assertEquals("data_dir", e.what)
        }
        rekeyStore(TestSupport.config(dir, key = oldKey), newKey)
        assertThrows(GridWorkerException.Locked::class.java) {
            GridWorker.open(TestSupport.config(dir, key = oldKey))
        }
        GridWorker.open(TestSupport.config(dir, key = newKey)).use {
            assertEquals(note, it.listVisits(0, 10).single().visit.note)
            val sha = it.listReports(0, 10).single().report.photos.single().sha256
            assertTrue(it.photoBytes(sha)!!.isNotEmpty())
        }
    }

    @Test
    fun plainStoreIsEncryptedOnTheFirstOpenWithAKey() {
        val dir = TestSupport.tempDir()
        GridWorker.open(TestSupport.config(dir)).use {
            TestSupport.seed(it)
            it.recordVisit("h-kt-1", VisitKind.ROUTINE, note, fix(LAT + 0.0001, LON))
        }
        val key = testKey(0x44)
        GridWorker.open(TestSupport.config(dir, key = key)).use {
            assertEquals(1, it.listVisits(0, 10).size)
            assertEquals(1L, it.syncCounts().pending.visits)
        }
        assertThrows(GridWorkerException.Locked::class.java) { GridWorker.open(TestSupport.config(dir)) }
        for ((f, bytes) in allBytes(File(dir, "store"))) {
            assertFalse(f.path, bytes.containsBytes(note.toByteArray()))
        }
    }
}
