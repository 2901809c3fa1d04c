package org.gridworker.android

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import org.gridworker.core.GridWorker
import org.gridworker.core.GridWorkerException
import org.gridworker.core.RecoveryReport
import org.gridworker.core.WorkerConfig
import org.gridworker.core.recoverStore
import org.gridworker.core.rekeyStore
import org.gridworker.core.wipeDataDir
import java.io.File
import java.security.KeyStore
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/**
 * The store's encryption key on Android: a random 32-byte secret sealed by an
 * AndroidKeyStore AES-256-GCM key and kept under `noBackupFilesDir` (see [SealedKeyStore]).
 * Not backed up on purpose: the Keystore key never leaves this phone, so a restored blob
 * could not be unsealed anyway. Use these functions instead of building `WorkerConfig.key`
 * by hand; every `Locked` or [StoreKeyException] is for the app to show, never a reason to
 * wipe or recover by itself (unsynced records would be lost).
 */
object StoreKeys {
    const val ALIAS = "gridworker.store-key.v1"
    private const val DIR = "gridworker-store-key"

    @Volatile
    private var instance: SealedKeyStore? = null

    /** The one [SealedKeyStore] of the app (one lock and cache for every caller). */
    fun keys(context: Context): SealedKeyStore =
        instance ?: synchronized(this) {
            instance ?: SealedKeyStore(
                File(context.applicationContext.noBackupFilesDir, DIR),
                AndroidKeystoreWrappingKey(ALIAS),
            ).also { instance = it }
        }

    /**
     * Opens the worker's store with its key, creating the key on first use (a plain store of
     * the previous release is then encrypted in place) and finishing a rotation a crash
     * interrupted. `config.key` is ignored.
     */
    fun openWorker(context: Context, config: WorkerConfig): GridWorker =
        keys(context).openWith(isLocked) { GridWorker.open(config.copy(key = it)) }

    /**
     * Re-encrypts the store under a new secret. Close every `GridWorker` and `SyncEngine` on
     * the directory (and cancel `SyncWorker`) first. Keeps both secrets until `rekeyStore`
     * returns; a crash or an error leaves the rotation pending for the next [openWorker].
     */
    fun rotate(context: Context, config: WorkerConfig) {
        openWorker(context, config).close() // settles an earlier rotation first
        keys(context).rotate { old, new -> rekeyStore(config.copy(key = old), new) }
    }

    /** `recoverStore` for a store that fails with `Storage(needsRecovery = true)`, with the right key. */
    fun recover(context: Context, dataDir: String): RecoveryReport =
        keys(context).openWith(isLocked) { recoverStore(dataDir, it) }

    /**
     * Erases the worker's data: `wipeDataDir`, then the key material (crypto-shredding, so
     * what flash storage keeps of deleted files stays unreadable). In this order because a
     * failing `wipeDataDir` (a handle still open: close every `GridWorker`/`SyncEngine`
     * first) must leave the key, or the records still on disk would be lost without having
     * been wiped on purpose. If destroying the key then fails, the data is already deleted:
     * call again (both steps do nothing the second time).
     */
    fun wipe(context: Context, dataDir: String) {
        wipeDataDir(dataDir)
        keys(context).destroy()
    }

    private val isLocked: (Exception) -> Boolean = { it is GridWorkerException.Locked }
}

/**
 * No user authentication: `SyncWorker` must unseal the key while the phone is locked. The
 * files it guards are in credential-encrypted storage, readable after the first unlock.
 */
private class AndroidKeystoreWrappingKey(private val alias: String) : WrappingKeyProvider {
    private fun keyStore(): KeyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }

    override fun get(create: Boolean): SecretKey? {
        (keyStore().getKey(alias, null) as? SecretKey)?.let { return it }
        if (!create) return null
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setKeySize(256)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setUserAuthenticationRequired(false)
            .build()
        return KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
            .apply { init(spec) }
            .generateKey()
    }

    override fun destroy() {
        val ks = keyStore()
        // deleteEntry of an absent alias throws on some Android versions.
        if (ks.containsAlias(alias)) ks.deleteEntry(alias)
    }
}
