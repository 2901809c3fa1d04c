package org.gridworker.android

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import org.gridworker.core.ChangeKind
import org.gridworker.core.ChangeObserver
import org.gridworker.core.GridWorkerInterface

/**
 * The kinds of data that changed, as a cold `Flow`: each collector registers its own
 * observer, and cancelling the collector stops it and releases the native handle. Emissions
 * come after the write committed; a slow collector gets the latest (conflated). Re-query the
 * screen's data on each emission (and once at the start: nothing is emitted for the state
 * already there).
 *
 * ```kotlin
 * worker.changes(ChangeKind.CHECK_INS, ChangeKind.SYNC_COUNTS)
 *     .onStart { emit(emptyList()) }
 *     .map { withContext(Dispatchers.IO) { worker.checkinsPage(null, 50) } }
 *     .collect { page -> adapter.submit(page.items) }
 * ```
 *
 * Plain JVM (coroutines only), so it runs in the JVM tests.
 */
fun GridWorkerInterface.changes(vararg kinds: ChangeKind): Flow<List<ChangeKind>> = callbackFlow {
    val handle = observe(
        kinds.toList(),
        object : ChangeObserver {
            override fun onChange(kinds: List<ChangeKind>) {
                trySend(kinds)
            }
        },
    )
    awaitClose {
        handle.stop()
        handle.close()
    }
}.buffer(Channel.CONFLATED)
