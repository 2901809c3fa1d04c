package org.gridworker.android

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.nio.file.Files
import java.nio.file.attribute.PosixFilePermission
import java.util.concurrent.TimeUnit
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/** A software AES-256 key standing in for the AndroidKeyStore entry. */
private class SoftwareWrappingKey : WrappingKeyProvider {
    var key: SecretKey? = null
    var destroyed = 0

    override fun get(create: Boolean): SecretKey? {
        if (key == null && create) key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
        return key
    }

    override fun destroy() {
        key = null
        destroyed++
    }
}

private class FakeLocked : Exception("locked")

/** A store that opens only with its key, as the core does (`Locked` otherwise, nothing changed). */
private class FakeStore(var key: ByteArray) {
    var opens = 0
    fun open(k: ByteArray): String {
        if (!k.contentEquals(key)) throw FakeLocked()
        opens++
        return "handle"
    }
}

private val isLocked: (Exception) -> Boolean = { it is FakeLocked }

/** SealedKeyStore: the pure-JVM half of StoreKeys (the AndroidKeyStore half is not run here). */
class StoreKeyTest {
    private val dir: File = Files.createTempDirectory("gw-key").toFile().resolve("keys")
    private val wrapping = SoftwareWrappingKey()

    private fun fresh() = SealedKeyStore(dir, wrapping) // as after a restart: no cache
    private fun current() = File(dir, SealedKeyStore.CURRENT_FILE)
    private fun pending() = File(dir, SealedKeyStore.PENDING_FILE)

    /**
     * Two processes (the app and a service in a process of its own) asking for the secret at
     * once on a new phone: one secret, sealed by the one wrapping key left under the alias.
     * Without the lock each created a wrapping key and a secret, the second key replaced the
     * first, and whichever sealed file was renamed last could be unreadable for good.
     */
    @Test
    fun twoProcessesCreatingTheSecretAtOnceCreateOne() {
        val keyFile = File(dir.parentFile, "wrapping.key")
        val java = File(System.getProperty("java.home"), "bin/java").path
        val startAt = System.currentTimeMillis() + 3_000
        val children = (1..2).map {
            ProcessBuilder(
                java, "-cp", System.getProperty("java.class.path"), "org.gridworker.android.KeyRaceChildKt",
                dir.path, keyFile.path, startAt.toString(),
            ).redirectErrorStream(true).start()
        }
        val secrets = children.map { p ->
            assertTrue("child did not end", p.waitFor(60, TimeUnit.SECONDS))
            val out = p.inputStream.bufferedReader().readText().trim()
            assertEquals(out, 0, p.exitValue())
            out
        }
        assertEquals(64, secrets[0].length)
        assertEquals(secrets[0], secrets[1])
        assertEquals(secrets[0], hex(SealedKeyStore(dir, FileWrappingKey(keyFile)).current()))
        assertEquals(listOf(SealedKeyStore.CURRENT_FILE), dir.list()!!.toList())
    }

    @Test
    fun createsOnceThenReadsTheSameSecret() {
        val a = fresh().current()
        assertEquals(32, a.size)
        assertArrayEquals(a, fresh().current())
        assertEquals(61, current().length().toInt())
        assertEquals(listOf(SealedKeyStore.CURRENT_FILE), dir.list()!!.toList())
        assertFalse(a.contentEquals(SealedKeyStore(Files.createTempDirectory("gw-key2").toFile(), wrapping).current()))
    }

    @Test
    fun fileAndDirectoryAreOwnerOnly() {
        fresh().current()
        val others = setOf(
            PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE,
        )
        assertTrue(Files.getPosixFilePermissions(current().toPath()).intersect(others).isEmpty())
        assertTrue(Files.getPosixFilePermissions(dir.toPath()).intersect(others).isEmpty())
    }

    @Test
    fun alteredByteIsCorruptAndNothingIsReplaced() {
        fresh().current()
        for (at in listOf(0, 5, 20, 60)) { // version, IV, ciphertext, tag
            val original = current().readBytes()
            val altered = original.copyOf().also { it[at] = (it[at].toInt() xor 1).toByte() }
            current().writeBytes(altered)
            repeat(2) {
                val e = assertThrows(StoreKeyException.Corrupt::class.java) { fresh().current() }
                assertEquals(KeySlot.CURRENT, e.slot)
            }
            assertArrayEquals(altered, current().readBytes())
            assertEquals(listOf(SealedKeyStore.CURRENT_FILE), dir.list()!!.toList())
            current().writeBytes(original)
        }
        fresh().current()
    }

    @Test
    fun truncatedOrEmptyIsCorrupt() {
        fresh().current()
        val original = current().readBytes()
        for (cut in listOf(original.copyOf(30), ByteArray(0), original + 0.toByte())) {
            current().writeBytes(cut)
            assertThrows(StoreKeyException.Corrupt::class.java) { fresh().current() }
            assertArrayEquals(cut, current().readBytes())
        }
    }

    @Test
    fun anotherWrappingKeyIsCorruptAndAMissingOneIsWrappingKeyMissing() {
        fresh().current()
        val blob = current().readBytes()
        wrapping.key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
        assertThrows(StoreKeyException.Corrupt::class.java) { fresh().current() }
        wrapping.key = null
        val e = assertThrows(StoreKeyException.WrappingKeyMissing::class.java) { fresh().current() }
        assertEquals(KeySlot.CURRENT, e.slot)
        assertArrayEquals(blob, current().readBytes())
        assertNull(wrapping.key) // no new wrapping key either
    }

    @Test
    fun rotationBeginCandidatesCommit() {
        val keys = fresh()
        val old = keys.current()
        val new = keys.beginRotation()
        assertFalse(old.contentEquals(new))
        assertThrows(IllegalStateException::class.java) { keys.beginRotation() }
        // As after a crash before commit: pending first, then current.
        val c = fresh().candidates()
        assertEquals(listOf(KeySlot.PENDING, KeySlot.CURRENT), c.map { it.slot })
        assertArrayEquals(new, c[0].secret)
        assertArrayEquals(old, c[1].secret)
        keys.commitRotation()
        assertFalse(pending().exists())
        assertArrayEquals(new, keys.current())
        assertArrayEquals(new, fresh().current())
        assertEquals(listOf(KeySlot.CURRENT), fresh().candidates().map { it.slot })
        keys.commitRotation() // again: nothing to do
        assertArrayEquals(new, fresh().current())
    }

    @Test
    fun rotationAbortKeepsTheOldSecret() {
        val keys = fresh()
        val old = keys.current()
        keys.beginRotation()
        fresh().abortRotation()
        assertFalse(pending().exists())
        assertArrayEquals(old, fresh().current())
        assertNull(fresh().pending())
    }

    @Test
    fun rotateReEncryptsAndCommits() {
        val keys = fresh()
        val store = FakeStore(keys.current())
        keys.rotate { old, new ->
            assertArrayEquals(store.key, old)
            store.key = new.copyOf()
        }
        assertFalse(pending().exists())
        assertArrayEquals(store.key, fresh().current())
    }

    @Test
    fun crashAfterRekeyOpensWithPendingAndCommits() {
        val keys = fresh()
        val store = FakeStore(keys.current())
        val new = keys.beginRotation()
        store.key = new.copyOf() // rekeyStore returned, then the app was killed
        assertEquals("handle", fresh().openWith(isLocked) { store.open(it) })
        assertFalse(pending().exists())
        assertArrayEquals(new, fresh().current())
    }

    @Test
    fun crashBeforeRekeyOpensWithCurrentAndDropsPending() {
        val keys = fresh()
        val old = keys.current()
        val store = FakeStore(old)
        keys.beginRotation() // killed before rekeyStore finished: the store kept the old key
        assertEquals("handle", fresh().openWith(isLocked) { store.open(it) })
        assertFalse(pending().exists())
        assertArrayEquals(old, fresh().current())
    }

    @Test
    fun failedRekeyKeepsBothUntilTheNextOpen() {
        val keys = fresh()
        val store = FakeStore(keys.current())
        assertThrows(IllegalStateException::class.java) {
            keys.rotate { _, new ->
                store.key = new.copyOf() // re-encrypted, then the call failed
                throw IllegalStateException("boom")
            }
        }
        assertTrue(pending().exists() && current().exists())
        fresh().openWith(isLocked) { store.open(it) }
        assertArrayEquals(store.key, fresh().current())
        assertFalse(pending().exists())
    }

    @Test
    fun lockedByBothChangesNothing() {
        val keys = fresh()
        keys.current()
        keys.beginRotation()
        val before = dir.listFiles()!!.associate { it.name to it.readBytes().toList() }
        val store = FakeStore(ByteArray(32) { 9 })
        assertThrows(FakeLocked::class.java) { fresh().openWith(isLocked) { store.open(it) } }
        assertEquals(before, dir.listFiles()!!.associate { it.name to it.readBytes().toList() })
        assertEquals(0, store.opens)
    }

    @Test
    fun damagedPendingStillTriesCurrent() {
        val keys = fresh()
        val old = keys.current()
        keys.beginRotation()
        pending().writeBytes(pending().readBytes().copyOf(10))
        // Store still under the old key: it opens and the unusable pending file is dropped.
        fresh().openWith(isLocked) { FakeStore(old).open(it) }
        assertFalse(pending().exists())
        // Had the store been under the lost pending key, the damage is what the app sees.
        fresh().beginRotation()
        pending().writeBytes(ByteArray(5))
        assertThrows(StoreKeyException.Corrupt::class.java) {
            fresh().openWith(isLocked) { FakeStore(ByteArray(32)).open(it) }
        }
    }

    @Test
    fun pendingWithoutCurrentIsTheOnlyCandidateAndNoNewSecretIsMade() {
        val keys = fresh()
        keys.current()
        val new = keys.beginRotation()
        current().delete()
        val c = fresh().candidates()
        assertEquals(listOf(KeySlot.PENDING), c.map { it.slot })
        assertArrayEquals(new, c[0].secret)
        assertThrows(StoreKeyException.Corrupt::class.java) { fresh().current() }
        fresh().openWith(isLocked) { FakeStore(new).open(it) }
        assertArrayEquals(new, fresh().current())
    }

    @Test
    fun nonLockedFailureIsThrownAsIs() {
        val keys = fresh()
        keys.current()
        assertThrows(IllegalArgumentException::class.java) {
            keys.openWith(isLocked) { throw IllegalArgumentException("storage") }
        }
    }

    @Test
    fun destroyShredsFilesAndWrappingKey() {
        val keys = fresh()
        val old = keys.current()
        keys.beginRotation()
        keys.destroy()
        assertEquals(listOf<String>(), dir.list()!!.toList())
        assertEquals(1, wrapping.destroyed)
        assertNull(wrapping.key)
        // A fresh start, not an error.
        assertFalse(old.contentEquals(fresh().current()))
        fresh().destroy()
        fresh().destroy() // nothing left: still fine
    }
}
