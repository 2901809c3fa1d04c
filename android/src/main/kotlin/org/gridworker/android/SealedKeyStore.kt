package org.gridworker.android

import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import java.nio.channels.FileChannel
import java.nio.file.Files
import java.nio.file.StandardCopyOption
import java.nio.file.StandardOpenOption
import java.security.GeneralSecurityException
import java.security.ProviderException
import java.security.SecureRandom
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

// Plain JVM on purpose (java.io, java.nio, javax.crypto only; no Android, no bindings) so that
// scripts/test-kotlin.sh compiles and tests it. The Android wiring is StoreKeys.kt.

/** The key that seals the store's secret: on Android an AndroidKeyStore AES-256-GCM key. */
interface WrappingKeyProvider {
    /** The wrapping key; when there is none, a new one if [create], else null. */
    fun get(create: Boolean): SecretKey?

    /** Deletes the wrapping key; does nothing when there is none. */
    fun destroy()
}

/** Which sealed secret: the store's key, or the next one during a rotation. */
enum class KeySlot { CURRENT, PENDING }

/** A secret to try opening the store with, in the order [SealedKeyStore.candidates] gives. */
class KeyCandidate(val slot: KeySlot, val secret: ByteArray)

/**
 * Why the store's secret could not be read or written. Messages name the slot and the
 * reason only, never key bytes.
 *
 * [Corrupt] and [WrappingKeyMissing] mean the secret is gone: the encrypted store cannot be
 * opened, and records it holds that were not synced yet are lost unless the sealed file
 * comes back. The helper never replaces such a secret with a new one by itself. The app
 * tells the worker that the data on this phone cannot be opened and to contact support,
 * leaves every file where it is, and only on an explicit decision (the worker with the
 * supervisor, knowing unsynced work is lost) calls `StoreKeys.wipe` and starts afresh
 * with a sync from the server. [Unavailable] changed nothing: try again later.
 */
sealed class StoreKeyException(message: String, cause: Throwable? = null) : Exception(message, cause) {
    /** The sealed file is truncated, of an unknown version, or fails authentication
     *  (altered, or sealed by another wrapping key). It is left as found. */
    class Corrupt(val slot: KeySlot, reason: String, cause: Throwable? = null) :
        StoreKeyException("sealed $slot store key unreadable: $reason", cause)

    /** The sealed file is there but its wrapping key is not (Keystore entry deleted or reset). */
    class WrappingKeyMissing(val slot: KeySlot) :
        StoreKeyException("sealed $slot store key present but its wrapping key is missing")

    /** Storage or keystore failure; nothing was changed. */
    class Unavailable(reason: String, cause: Throwable? = null) : StoreKeyException(reason, cause)
}

/**
 * The store's 32-byte secret, random, sealed with AES-256-GCM by [wrapping] and kept in
 * [dir] (Android: under `noBackupFilesDir`). Unsealed once, then cached in memory. Blob:
 * version byte, 12-byte IV, ciphertext + 16-byte tag; written through a temp file, fsync and
 * rename, so a crash leaves the old file or the new one. One instance per directory in a
 * process (its lock and cache are what keep rotations consistent). Between processes (a
 * service in a process of its own), every change of the files is made under an exclusive
 * lock on an empty file beside [dir] (`<dir>.lock`; [dir] holds the sealed files alone): two
 * processes starting at once create one secret, not one each under one wrapping key alias,
 * where the second wrapping key would replace the first.
 *
 * Rotation: [beginRotation] seals a new secret as PENDING; the app re-encrypts the store
 * (`rekeyStore`); [commitRotation] makes PENDING the CURRENT one (an atomic rename). After a
 * crash anywhere in between, [candidates] gives PENDING then CURRENT: open with the first,
 * the second on `Locked`, then commit (PENDING opened) or [abortRotation] (CURRENT opened).
 * [openWith] and [rotate] do exactly that.
 */
class SealedKeyStore(
    private val dir: File,
    private val wrapping: WrappingKeyProvider,
    private val random: SecureRandom = SecureRandom(),
) {
    private val cache = HashMap<KeySlot, ByteArray>()

    private fun lockFile() = File(dir.absoluteFile.parentFile, dir.name + ".lock")

    private fun file(slot: KeySlot) = File(dir, if (slot == KeySlot.CURRENT) CURRENT_FILE else PENDING_FILE)

    /** The store's secret, created on first use. Never replaces one it cannot read. */
    @Synchronized
    fun current(): ByteArray {
        load(KeySlot.CURRENT)?.let { return it.copyOf() }
        return acrossProcesses {
            // Another process may have created it while this one waited for the lock.
            load(KeySlot.CURRENT)?.let { return@acrossProcesses it.copyOf() }
            if (file(KeySlot.PENDING).exists()) {
                // The store may be under the pending secret: a new current one would lock it out.
                throw StoreKeyException.Corrupt(KeySlot.CURRENT, "missing while a rotation is pending")
            }
            val secret = newSecret()
            seal(KeySlot.CURRENT, secret)
            secret.copyOf()
        }
    }

    /** The pending secret, or null when no rotation is under way. */
    @Synchronized
    fun pending(): ByteArray? = load(KeySlot.PENDING)?.copyOf()

    /**
     * Seals a new secret as PENDING and returns it (read back from disk first, so the store is
     * never re-encrypted under a secret that cannot be unsealed). Refused while a rotation is
     * pending: finish it with [openWith] (or [candidates]) first, since the store may already
     * be under that pending secret.
     */
    @Synchronized
    fun beginRotation(): ByteArray {
        current()
        return acrossProcesses {
            check(!file(KeySlot.PENDING).exists()) { "a store key rotation is pending: open the store first" }
            val secret = newSecret()
            seal(KeySlot.PENDING, secret)
            cache.remove(KeySlot.PENDING)
            val back = load(KeySlot.PENDING)
            if (back == null || !back.contentEquals(secret)) {
                throw StoreKeyException.Corrupt(KeySlot.PENDING, "does not read back")
            }
            secret.copyOf()
        }
    }

    /** PENDING becomes CURRENT (atomic rename). Call once `rekeyStore` returned. No-op without a pending secret. */
    @Synchronized
    fun commitRotation() {
        val pending = file(KeySlot.PENDING)
        if (!pending.exists()) return
        acrossProcesses {
            if (!pending.exists()) return@acrossProcesses
            io("cannot commit the store key rotation") {
                Files.move(pending.toPath(), file(KeySlot.CURRENT).toPath(), StandardCopyOption.ATOMIC_MOVE)
                // The rename is done: the cache follows it before the directory sync, which
                // may still fail (the rename then stands, durable or not).
                cache.remove(KeySlot.CURRENT)?.fill(0)
                cache.remove(KeySlot.PENDING)?.let { cache[KeySlot.CURRENT] = it }
                syncDir()
            }
        }
    }

    /** Drops the pending secret. Only when the store opened with CURRENT (or rekeying never started). */
    @Synchronized
    fun abortRotation() {
        val pending = file(KeySlot.PENDING)
        if (pending.exists()) {
            acrossProcesses {
                io("cannot drop the pending store key") {
                    if (pending.exists() && !pending.delete()) throw IOException("delete failed")
                    syncDir()
                }
            }
        }
        cache.remove(KeySlot.PENDING)?.fill(0)
    }

    /**
     * The secrets to open the store with, in order: PENDING (if a rotation was interrupted)
     * then CURRENT (created on first use). When PENDING exists without CURRENT, PENDING alone.
     */
    @Synchronized
    fun candidates(): List<KeyCandidate> {
        val pending = load(KeySlot.PENDING)?.let { KeyCandidate(KeySlot.PENDING, it.copyOf()) }
        if (pending != null && !file(KeySlot.CURRENT).exists()) return listOf(pending)
        return listOfNotNull(pending, KeyCandidate(KeySlot.CURRENT, current()))
    }

    /**
     * Opens the store with [open], trying the candidates in order and moving to the next one
     * only when [isLocked] says the store refused the key (`GridWorkerException.Locked`), then
     * finishes an interrupted rotation: committed when PENDING opened it, dropped when
     * CURRENT did. A damaged PENDING file does not stop CURRENT from being tried; if CURRENT
     * is refused too, that damage is what is thrown. Commit/abort failures are not thrown
     * (the handle is open and valid): the next open finishes the rotation.
     */
    @Synchronized
    fun <T> openWith(isLocked: (Exception) -> Boolean, open: (ByteArray) -> T): T {
        var pendingDamage: StoreKeyException.Corrupt? = null
        val pending = try {
            load(KeySlot.PENDING)
        } catch (e: StoreKeyException.Corrupt) {
            pendingDamage = e
            null
        }
        var locked: Exception? = null
        if (pending != null) {
            try {
                return open(pending.copyOf()).also { quietly { commitRotation() } }
            } catch (e: Exception) {
                if (!isLocked(e)) throw e
                locked = e
            }
        }
        val rotating = pending != null || pendingDamage != null
        if (rotating && !file(KeySlot.CURRENT).exists()) throw pendingDamage ?: locked!!
        try {
            return open(current()).also { if (rotating) quietly { abortRotation() } }
        } catch (e: Exception) {
            if (pendingDamage != null && isLocked(e)) throw pendingDamage.apply { addSuppressed(e) }
            throw e
        }
    }

    /**
     * Re-encrypts the store under a new secret: [rekey] gets (old, new) and must call
     * `rekeyStore(config with key = old, new)` with every handle on the store closed. If it
     * throws, the pending secret is kept (the store may be under either key) and the next
     * [openWith] settles it. Refused while a rotation is pending (call [openWith] first).
     */
    @Synchronized
    fun rotate(rekey: (old: ByteArray, new: ByteArray) -> Unit) {
        val old = current()
        val new = beginRotation()
        rekey(old, new)
        commitRotation()
    }

    /**
     * Crypto-shredding: deletes the sealed files, then the wrapping key. Files first: a
     * sealed file left behind without its wrapping key would make the next [current] fail
     * with [StoreKeyException.WrappingKeyMissing] instead of starting afresh. Both steps are
     * attempted; the first failure is thrown after (call again).
     */
    @Synchronized
    fun destroy() {
        acrossProcesses { destroyLocked() }
    }

    private fun destroyLocked() {
        var failure: StoreKeyException? = null
        for (name in listOf(PENDING_FILE, CURRENT_FILE, "$PENDING_FILE.tmp", "$CURRENT_FILE.tmp")) {
            val f = File(dir, name)
            if (f.exists() && !f.delete()) failure = failure ?: StoreKeyException.Unavailable("cannot delete a sealed store key file")
        }
        quietly { io("cannot sync the key directory") { syncDir() } }
        try {
            keystore { wrapping.destroy() }
        } catch (e: StoreKeyException) {
            failure = failure ?: e
        }
        cache.values.forEach { it.fill(0) }
        cache.clear()
        failure?.let { throw it }
    }

    /**
     * Runs [body] holding an exclusive lock on `<dir>.lock` (fcntl through FileChannel: held
     * per process and dropped by the kernel when the process dies). Threads of this process
     * are kept apart by the instance's monitor, which every caller holds already.
     */
    private inline fun <R> acrossProcesses(body: () -> R): R {
        val channel = io("cannot lock the key directory") {
            if (!dir.isDirectory && !dir.mkdirs()) throw IOException("cannot create the key directory")
            ownerOnly(dir, directory = true)
            FileChannel.open(lockFile().toPath(), StandardOpenOption.CREATE, StandardOpenOption.WRITE)
        }
        try {
            io("cannot lock the key directory") { channel.lock() }
            return body()
        } finally {
            // Closing the channel lets go of its lock.
            try {
                channel.close()
            } catch (ignored: IOException) {
            }
        }
    }

    private fun newSecret() = ByteArray(SECRET_BYTES).also(random::nextBytes)

    private fun load(slot: KeySlot): ByteArray? {
        cache[slot]?.let { return it }
        val f = file(slot)
        if (!f.exists()) return null
        val blob = io("cannot read the sealed store key") { f.readBytes() }
        if (blob.size != BLOB_BYTES) throw StoreKeyException.Corrupt(slot, "length ${blob.size}")
        if (blob[0] != VERSION) throw StoreKeyException.Corrupt(slot, "unknown version ${blob[0]}")
        val key = keystore { wrapping.get(create = false) } ?: throw StoreKeyException.WrappingKeyMissing(slot)
        val secret = try {
            Cipher.getInstance(TRANSFORMATION).run {
                init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BITS, blob, 1, IV_BYTES))
                updateAAD(AAD)
                doFinal(blob, 1 + IV_BYTES, blob.size - 1 - IV_BYTES)
            }
        } catch (e: AEADBadTagException) {
            throw StoreKeyException.Corrupt(slot, "authentication failed", e)
        } catch (e: GeneralSecurityException) {
            throw StoreKeyException.Unavailable("cannot unseal the store key", e)
        } catch (e: ProviderException) {
            throw StoreKeyException.Unavailable("cannot unseal the store key", e)
        }
        if (secret.size != SECRET_BYTES) throw StoreKeyException.Corrupt(slot, "wrong secret length")
        cache[slot] = secret
        return secret
    }

    private fun seal(slot: KeySlot, secret: ByteArray) {
        val blob = keystore {
            val key = wrapping.get(create = true) ?: throw GeneralSecurityException("no wrapping key")
            // The cipher picks the IV: AndroidKeyStore refuses caller IVs (randomized encryption).
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.ENCRYPT_MODE, key)
            val iv = cipher.iv
            if (iv == null || iv.size != IV_BYTES) throw GeneralSecurityException("unexpected IV length")
            cipher.updateAAD(AAD)
            byteArrayOf(VERSION) + iv + cipher.doFinal(secret)
        }
        writeAtomically(file(slot), blob)
        cache[slot]?.fill(0)
        cache[slot] = secret.copyOf()
    }

    private fun writeAtomically(target: File, bytes: ByteArray) {
        val tmp = File(dir, target.name + ".tmp")
        io("cannot write the sealed store key") {
            if (!dir.isDirectory && !dir.mkdirs()) throw IOException("cannot create the key directory")
            ownerOnly(dir, directory = true)
            tmp.delete()
            try {
                FileOutputStream(tmp).use { out ->
                    ownerOnly(tmp, directory = false)
                    out.write(bytes)
                    out.fd.sync()
                }
                Files.move(tmp.toPath(), target.toPath(), StandardCopyOption.ATOMIC_MOVE)
            } finally {
                tmp.delete()
            }
            syncDir()
        }
    }

    // The rename is durable only once the directory is synced too.
    private fun syncDir() {
        FileChannel.open(dir.toPath(), StandardOpenOption.READ).use { it.force(true) }
    }

    private fun ownerOnly(f: File, directory: Boolean) {
        f.setReadable(false, false); f.setReadable(true, true)
        f.setWritable(false, false); f.setWritable(true, true)
        f.setExecutable(false, false)
        if (directory) f.setExecutable(true, true)
    }

    private inline fun <R> io(reason: String, body: () -> R): R =
        try {
            body()
        } catch (e: IOException) {
            throw StoreKeyException.Unavailable(reason, e)
        }

    // Keystore calls throw checked and runtime (ProviderException) errors for transient trouble.
    private inline fun <R> keystore(body: () -> R): R =
        try {
            body()
        } catch (e: GeneralSecurityException) {
            throw StoreKeyException.Unavailable("keystore failure", e)
        } catch (e: ProviderException) {
            throw StoreKeyException.Unavailable("keystore failure", e)
        } catch (e: IOException) {
            throw StoreKeyException.Unavailable("keystore failure", e)
        }

    private inline fun quietly(body: () -> Unit) {
        try {
            body()
        } catch (ignored: StoreKeyException) {
            // Best effort: the caller's result stands and the next open retries.
        }
    }

    companion object {
        const val SECRET_BYTES = 32
        const val CURRENT_FILE = "store-key.current"
        const val PENDING_FILE = "store-key.pending"
        private const val VERSION: Byte = 1
        private const val IV_BYTES = 12
        private const val TAG_BITS = 128
        private const val BLOB_BYTES = 1 + IV_BYTES + SECRET_BYTES + TAG_BITS / 8
        private const val TRANSFORMATION = "AES/GCM/NoPadding"

        // Binds the blob to its purpose and format version (not to its slot: commit renames it).
        private val AAD = byteArrayOf(VERSION) + "org.gridworker.store-key".toByteArray()
    }
}
