package org.gridworker.android

import java.io.File
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.SecretKeySpec

/**
 * A wrapping key kept in a file that several processes share, standing in for an
 * AndroidKeyStore alias: creating a key replaces whatever key the alias held. [createDelayMs]
 * widens the window in which a second process also finds no key.
 */
internal class FileWrappingKey(private val file: File, private val createDelayMs: Long = 0) : WrappingKeyProvider {
    override fun get(create: Boolean): SecretKey? {
        if (file.exists()) return SecretKeySpec(file.readBytes(), "AES")
        if (!create) return null
        Thread.sleep(createDelayMs)
        val key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
        file.writeBytes(key.encoded)
        return key
    }

    override fun destroy() {
        file.delete()
    }
}

internal fun hex(bytes: ByteArray) = bytes.joinToString("") { "%02x".format(it) }

/**
 * The second process of StoreKeyTest's race (args: key directory, wrapping key file, start
 * time in epoch ms): waits for the start time, asks for the store's secret, prints it in hex.
 */
fun main(args: Array<String>) {
    val (dir, keyFile, startAt) = args
    while (System.currentTimeMillis() < startAt.toLong()) Thread.sleep(1)
    println(hex(SealedKeyStore(File(dir), FileWrappingKey(File(keyFile), createDelayMs = 300)).current()))
}
